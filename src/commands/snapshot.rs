//! `streamctl snapshot --bootstrap-server ... > snapshot.json`.

use regex::Regex;

use super::source::connect;
use super::{print, Context};
use crate::cli::SnapshotArgs;
use crate::error::{Error, ExitCode, Result};
use crate::kafka::ClusterAdmin;
use crate::output::{self, Format};

pub fn run(ctx: &Context, a: &SnapshotArgs) -> Result<ExitCode> {
    let topics =
        match &a.topics {
            Some(t) => Some(Regex::new(t).map_err(|e| {
                Error::usage(format!("--topics: {e}"), "write a regular expression")
            })?),
            None => None,
        };
    let rt = ctx.runtime()?;
    let mut cluster = rt.block_on(async {
        let mut admin = connect(&a.bootstrap_server, &a.security).await?;
        Ok::<_, Error>(admin.snapshot().await?)
    })?;
    if let Some(re) = &topics {
        cluster.partitions.retain(|p| re.is_match(&p.topic));
    }
    // The snapshot is a file format: JSON unless YAML is asked for explicitly.
    let format = if ctx.format == Format::Yaml {
        Format::Yaml
    } else {
        Format::Json
    };
    print(&output::render(format, &cluster, String::new)?)?;
    Ok(ExitCode::Ok)
}
