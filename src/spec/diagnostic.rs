//! One finding about a spec (an error or a warning), located in the file. Field names are a
//! stable contract (`validate --output json`).

use serde::Serialize;
use std::fmt;

/// A 1-based position in the spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a spec. Field names are a stable contract (`validate --output json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Dotted path of the offending key, e.g. `node_groups[0].data_volume.iops`.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    pub location: Option<Location>,
}

impl Diagnostic {
    pub fn error(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            path: path.into(),
            message: message.into(),
            hint: None,
            location: None,
        }
    }
    pub fn warning(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(path, message)
        }
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:col: error: path: message` (and a `hint:` line), the format editors jump to.
    pub fn render(&self, file: &str) -> String {
        let loc = match self.location {
            Some(l) => format!("{file}:{}:{}", l.line, l.column),
            None => file.to_string(),
        };
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let path = if self.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.path)
        };
        let mut s = format!("{loc}: {sev}: {path}{}", self.message);
        if let Some(h) = &self.hint {
            s.push_str(&format!("\n  hint: {h}"));
        }
        s
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}
