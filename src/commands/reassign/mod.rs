//! `streamctl reassign --az-aware`: settings → plan offline (from a snapshot or Kafka assignment
//! file) or run live (`--execute`, `--verify`, `--cancel`) → print.

use std::path::Path;

use serde::Serialize;
use tracing::info;

use super::progress::BarProgress;
use super::source::load_cluster;
use super::{print, Context};
use crate::assign::snapshot::to_kafka_json;
use crate::assign::{self, Cluster, Plan, Summary};
use crate::cli::ReassignArgs;
use crate::error::{Error, ExitCode, Result};
use crate::execute::journal::{Journal, Phase};
use crate::output;
use settings::{Mode, Settings};

mod live;
mod settings;
mod show;

pub use settings::parse_throttle_file;

/// `reassign --output json`: the summary's fields at the top level, plus where files went.
#[derive(Debug, Serialize)]
struct ReassignReport<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    plan_out: Option<String>,
    rollback_out: Option<String>,
}

pub fn run(ctx: &Context, a: &ReassignArgs) -> Result<ExitCode> {
    let s = Settings::from_args(a)?;
    if s.mode != Mode::Plan {
        let bootstrap = a
            .source
            .bootstrap_server
            .clone()
            .expect("clap requires --bootstrap-server");
        return execute(ctx, a, &s, &bootstrap);
    }
    let mut cluster = load_cluster(ctx, &a.source)?;
    s.apply_capacities(&mut cluster)?;
    let plan = assign::plan(&cluster, &s.plan)?;
    info!(
        moved = plan.summary.replicas_moved,
        bound = plan.summary.lower_bound_moves,
        "planned"
    );
    if let Some(path) = &s.plan_out {
        write(path, &plan_json(&cluster, &plan, false))?;
    }
    if let Some(path) = &s.rollback_out {
        write(path, &plan_json(&cluster, &plan, true))?;
    }
    let report = ReassignReport {
        summary: &plan.summary,
        plan_out: s.plan_out.as_ref().map(|p| p.display().to_string()),
        rollback_out: s.rollback_out.as_ref().map(|p| p.display().to_string()),
    };
    print(&output::render(ctx.format, &report, || {
        show::human(&report)
    })?)?;
    Ok(ExitCode::Ok)
}

/// `--execute`, `--verify`, `--cancel` against a live cluster.
fn execute(ctx: &Context, a: &ReassignArgs, s: &Settings, bootstrap: &str) -> Result<ExitCode> {
    let existing = Journal::load(&s.journal).map_err(|source| Error::ReadFile {
        path: s.journal.display().to_string(),
        source,
    })?;
    let served = super::progress::serve_metrics(
        a.metrics.metrics_addr.as_deref(),
        &a.metrics.metrics_linger,
        "reassign",
    )?;
    let progress =
        BarProgress::new(ctx, "moving").with_metrics(served.as_ref().map(|s| s.metrics()));
    let rt = ctx.runtime()?;
    let report = rt.block_on(async {
        let mut admin = super::source::connect(bootstrap, &a.source.security).await?;
        live::run(&mut admin, s, bootstrap, existing, &progress).await
    })?;
    print(&output::render(ctx.format, &report, || {
        show::human_exec(&report)
    })?)?;
    if !report.cleanup_pending.is_empty() {
        return Ok(ExitCode::CleanupPending);
    }
    // Scripts branch on it: the cluster does not (yet) match the plan.
    if !report.verified && report.phase != Phase::Cancelled {
        return Ok(ExitCode::CheckFailed);
    }
    Ok(ExitCode::Ok)
}

/// The plan (new replicas) or the rollback (current replicas) of the changed partitions, in
/// kafka-reassign-partitions JSON, ordered by topic and partition.
pub fn plan_json(cluster: &Cluster, plan: &Plan, rollback: bool) -> String {
    let mut rows: Vec<(&str, i32, &[i32])> = plan
        .changes
        .iter()
        .map(|(i, r)| {
            let p = &cluster.partitions[*i];
            (
                p.topic.as_str(),
                p.partition,
                if rollback {
                    p.replicas.as_slice()
                } else {
                    r.as_slice()
                },
            )
        })
        .collect();
    rows.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    to_kafka_json(&rows)
}

pub(super) fn write(path: &Path, text: &str) -> Result<()> {
    // Write then rename, so a reader never sees half a plan.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| Error::WriteFile {
            path: path.display().to_string(),
            source,
        })
}
