//! `streamctl check az-tolerance`.

use super::source::load_cluster;
use super::{print, Context};
use crate::assign::tolerance;
use crate::cli::{AzToleranceArgs, CheckCommand};
use crate::error::{Error, ExitCode, Result};
use crate::output::{self, table};

pub fn run(ctx: &Context, cmd: CheckCommand) -> Result<ExitCode> {
    match cmd {
        CheckCommand::AzTolerance(a) => az_tolerance(ctx, &a),
    }
}

fn az_tolerance(ctx: &Context, a: &AzToleranceArgs) -> Result<ExitCode> {
    if a.min_insync == Some(0) {
        return Err(Error::usage(
            "--min-insync must be at least 1",
            "use the topics' min.insync.replicas, usually 2",
        ));
    }
    let cluster = load_cluster(ctx, &a.source)?;
    // On a live cluster each topic's own min.insync.replicas counts (unless --min-insync says).
    let mut per_topic = std::collections::BTreeMap::new();
    if let (Some(b), None) = (&a.source.bootstrap_server, a.min_insync) {
        let topics: std::collections::BTreeSet<String> =
            cluster.partitions.iter().map(|p| p.topic.clone()).collect();
        let rt = ctx.runtime()?;
        per_topic = rt.block_on(async {
            use crate::kafka::ClusterAdmin;
            let mut admin = super::source::connect(b, &a.source.security).await?;
            let mut m = std::collections::BTreeMap::new();
            for t in topics {
                if let Some(v) = admin
                    .describe_configs(None, Some(&t))
                    .await?
                    .get("min.insync.replicas")
                    .and_then(|v| v.parse().ok())
                {
                    m.insert(t, v);
                }
            }
            Ok::<_, Error>(m)
        })?;
    }
    let report = tolerance::check_with(&cluster, a.min_insync.unwrap_or(2), &per_topic);
    print(&output::render(ctx.format, &report, || {
        let rows = report
            .azs
            .iter()
            .map(|z| {
                vec![
                    z.rack.clone(),
                    z.offline.to_string(),
                    z.below_min_isr.to_string(),
                    z.below_min_isr_examples
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" "),
                ]
            })
            .collect();
        format!(
            "if one AZ is lost ({} partitions, min.insync.replicas {}):\n{}\n{}",
            report.partitions,
            report.min_insync_replicas,
            table(&["AZ lost", "offline", "below min ISR", "examples"], rows),
            if report.ok {
                "ok: every partition survives the loss of any one AZ with min.insync.replicas in sync".to_string()
            } else {
                "FAILED: some partitions would stop accepting acks=all writes; run `streamctl reassign --az-aware` to spread them".to_string()
            }
        )
    })?)?;
    if report.ok {
        Ok(ExitCode::Ok)
    } else {
        Err(Error::CheckFailed(
            "some partitions do not survive the loss of one AZ".into(),
        ))
    }
}
