//! `streamctl render -f cluster.yaml --out-dir DIR`.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::warn;

use super::{print, read_file, Context};
use crate::cli::RenderArgs;
use crate::error::{Error, ExitCode, Result};
use crate::output::{self, table};
use crate::render::configs::{render_cluster, RenderOptions};
use crate::spec::{self, duration};

/// `render --output json`. Stable field names.
#[derive(Debug, Serialize)]
pub struct RenderReport {
    pub out_dir: String,
    pub files: Vec<RenderedFile>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct RenderedFile {
    pub path: String,
    pub sha256: String,
    pub bytes: usize,
}

pub fn run(ctx: &Context, a: &RenderArgs) -> Result<ExitCode> {
    let file = a.file.display().to_string();
    let (spec, spec_warnings) = spec::parse(&read_file(&a.file)?, &file)?;
    if !a.azs.is_empty() && a.azs.len() != 3 {
        return Err(Error::usage(
            format!("--azs names {} AZs", a.azs.len()),
            "name three, e.g. --azs us-east-1a,us-east-1b,us-east-1d",
        ));
    }
    let opts = RenderOptions {
        host_template: a.host_template.clone(),
        listen_host: a.listen_host.clone(),
        base_port: a.base_port,
        distinct_ports: a.distinct_ports,
        data_dir: a.data_dir.clone(),
        azs: (!a.azs.is_empty()).then(|| a.azs.clone()),
        intake_delay_max: match &a.intake_delay_max {
            Some(t) => Some(
                duration::parse(t)
                    .map_err(|m| Error::usage(format!("--intake-delay-max: {m}"), "e.g. 90ms"))?,
            ),
            None => None,
        },
    };
    let rendered = render_cluster(&spec, &opts).map_err(|e| Error::Encode(e.to_string()))?;
    let mut warnings: Vec<String> = spec_warnings.iter().map(|w| w.render(&file)).collect();
    warnings.extend(rendered.warnings.iter().cloned());
    for w in &warnings {
        warn!("{w}");
    }
    let mut files = Vec::new();
    for (path, text) in &rendered.files {
        let target = a.out_dir.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
                path: dir.display().to_string(),
                source,
            })?;
        }
        // Unchanged files are left alone (their mtime too), so re-rendering is a no-op.
        if std::fs::read_to_string(&target).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&target, text).map_err(|source| Error::WriteFile {
                path: target.display().to_string(),
                source,
            })?;
        }
        let digest = Sha256::digest(text.as_bytes());
        files.push(RenderedFile {
            path: path.clone(),
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            bytes: text.len(),
        });
    }
    let report = RenderReport {
        out_dir: a.out_dir.display().to_string(),
        files,
        warnings,
    };
    print(&output::render(ctx.format, &report, || {
        let rows = report
            .files
            .iter()
            .map(|f| {
                vec![
                    f.path.clone(),
                    f.bytes.to_string(),
                    f.sha256[..12].to_string(),
                ]
            })
            .collect();
        format!(
            "{}\n{} files in {}",
            table(&["file", "bytes", "sha256"], rows),
            report.files.len(),
            report.out_dir
        )
    })?)?;
    Ok(ExitCode::Ok)
}
