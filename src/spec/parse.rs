//! Parsing `cluster.yaml` into a [`ClusterSpec`] with errors that name the file, line, column and
//! key, and carry a hint.

use super::diagnostic::{Diagnostic, Location, Severity};
use super::locate::Positions;
use super::ClusterSpec;

/// Why a spec cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    /// The YAML did not parse or did not match the schema (unknown key, wrong type, ...).
    #[error("{}", .0.render(.1))]
    Syntax(Box<Diagnostic>, String),
    /// The spec parsed but describes something impossible or dangerous.
    #[error("{}", render_all(.0, .1))]
    Invalid(Vec<Diagnostic>, String),
}

fn render_all(d: &[Diagnostic], file: &str) -> String {
    let errors = d.iter().filter(|d| d.severity == Severity::Error).count();
    let mut s = format!("{file}: {errors} error(s) in the cluster spec");
    for x in d {
        s.push('\n');
        s.push_str(&x.render(file));
    }
    s
}

impl SpecError {
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            Self::Syntax(d, _) => vec![(**d).clone()],
            Self::Invalid(d, _) => d.clone(),
        }
    }
}

/// Parse and validate a spec. `file` only names the source in messages. Returns the spec and its
/// warnings; any error-severity finding is an `Err`.
pub fn parse(text: &str, file: &str) -> Result<(ClusterSpec, Vec<Diagnostic>), SpecError> {
    let spec = parse_syntax(text, file)?;
    let warnings = check(&spec, text, file)?;
    Ok((spec, warnings))
}

/// Parse without the semantic checks (for callers that adjust the spec first, then [`check`]).
pub fn parse_syntax(text: &str, file: &str) -> Result<ClusterSpec, SpecError> {
    let de = serde_yaml_ng::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de)
        .map_err(|e| SpecError::Syntax(Box::new(syntax_diagnostic(text, e)), file.to_string()))
}

/// The semantic checks, located in `text`. Returns the warnings; any error is an `Err`.
pub fn check(spec: &ClusterSpec, text: &str, file: &str) -> Result<Vec<Diagnostic>, SpecError> {
    let positions = Positions::of(text);
    let mut diags = super::validate(spec);
    for d in &mut diags {
        if d.location.is_none() {
            d.location = positions
                .find(&d.path)
                .map(|(line, column)| Location { line, column });
        }
    }
    diags.sort_by_key(|d| (d.severity, d.location.map(|l| (l.line, l.column))));
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(SpecError::Invalid(diags, file.to_string()));
    }
    Ok(diags)
}

fn syntax_diagnostic(
    text: &str,
    e: serde_path_to_error::Error<serde_yaml_ng::Error>,
) -> Diagnostic {
    let path = clean_path(&e.path().to_string());
    let inner = e.inner();
    let message = strip_path_prefix(&strip_location(&inner.to_string()));
    let location = inner
        .location()
        .map(|l| Location {
            line: l.line(),
            column: l.column(),
        })
        .or_else(|| {
            Positions::of(text)
                .find(&path)
                .map(|(line, column)| Location { line, column })
        });
    let hint = if message.starts_with("unknown field") {
        Some("remove the key or fix its spelling; `streamctl validate --help` points to docs/spec.md for every key".to_string())
    } else if message.starts_with("missing field") {
        Some("add the key; docs/examples/ has a complete spec for each flavor".to_string())
    } else if message.contains("unknown variant") {
        Some("use one of the listed values".to_string())
    } else if message.contains("did not match any variant of untagged enum AvailabilityZones") {
        return Diagnostic::error(
            path,
            "availability_zones must be a list of three AZ names or `auto`",
        )
        .hint("e.g. availability_zones: [us-east-1a, us-east-1b, us-east-1c]")
        .located(location);
    } else {
        Some("check the YAML syntax and value types against docs/spec.md".to_string())
    };
    Diagnostic {
        severity: Severity::Error,
        path,
        message,
        hint,
        location,
    }
}

impl Diagnostic {
    fn located(mut self, location: Option<Location>) -> Self {
        self.location = location;
        self
    }
}

/// serde_path_to_error prints `.` for the root and `?` for unknown positions.
fn clean_path(p: &str) -> String {
    if p == "." || p == "?" {
        String::new()
    } else {
        p.to_string()
    }
}

/// serde_yaml prefixes the parent path (`workload: unknown field ...`); we print the full path.
fn strip_path_prefix(msg: &str) -> String {
    match msg.split_once(": ") {
        Some((prefix, rest)) if !prefix.contains(' ') && !prefix.is_empty() => rest.to_string(),
        _ => msg.to_string(),
    }
}

/// serde_yaml appends " at line L column C"; we print the location ourselves.
fn strip_location(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
