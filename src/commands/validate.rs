//! `streamctl validate -f cluster.yaml`.

use serde::Serialize;

use super::{print, read_file, Context};
use crate::cli::ValidateArgs;
use crate::error::{ExitCode, Result};
use crate::output::{self, Format};
use crate::spec::{self, Diagnostic, Severity};

/// `validate --output json`. Stable field names.
#[derive(Debug, Serialize)]
pub struct ValidateReport {
    pub file: String,
    pub valid: bool,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub summary: Option<Summary>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub name: String,
    pub flavor: &'static str,
    pub region: String,
    pub availability_zones: usize,
    pub brokers: u32,
    pub node_groups: usize,
}

pub fn run(ctx: &Context, args: &ValidateArgs) -> Result<ExitCode> {
    let file = args.file.display().to_string();
    let text = read_file(&args.file)?;
    match spec::parse(&text, &file) {
        Ok((s, warnings)) => {
            let report = ValidateReport {
                file: file.clone(),
                valid: true,
                errors: vec![],
                warnings,
                summary: Some(Summary {
                    name: s.name.clone(),
                    flavor: s.flavor.as_str(),
                    region: s.region.clone(),
                    availability_zones: s.availability_zones.count(),
                    brokers: s.broker_count(),
                    node_groups: s.node_groups.len(),
                }),
            };
            print(&output::render(ctx.format, &report, || human(&report))?)?;
            Ok(ExitCode::Ok)
        }
        Err(e) => {
            if ctx.format != Format::Table {
                let (errors, warnings) = e
                    .diagnostics()
                    .into_iter()
                    .partition(|d| d.severity == Severity::Error);
                let report = ValidateReport {
                    file,
                    valid: false,
                    errors,
                    warnings,
                    summary: None,
                };
                print(&output::render(ctx.format, &report, String::new)?)?;
            }
            Err(e.into())
        }
    }
}

fn human(r: &ValidateReport) -> String {
    let mut s = String::new();
    for w in &r.warnings {
        s.push_str(&w.render(&r.file));
        s.push('\n');
    }
    if let Some(sum) = &r.summary {
        s.push_str(&format!(
            "{}: valid {} cluster `{}` in {} ({} AZs, {} brokers, {} node groups){}",
            r.file,
            sum.flavor,
            sum.name,
            sum.region,
            sum.availability_zones,
            sum.brokers,
            sum.node_groups,
            if r.warnings.is_empty() {
                String::new()
            } else {
                format!(", {} warning(s)", r.warnings.len())
            }
        ));
    }
    s
}
