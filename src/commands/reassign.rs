//! `streamctl reassign --az-aware` (offline planning from a snapshot or Kafka assignment file).

use std::path::Path;

use regex::Regex;
use serde::Serialize;
use tracing::info;

use super::source::load_cluster;
use super::{print, Context};
use crate::assign::snapshot::to_kafka_json;
use crate::assign::{self, Cluster, Plan, PlanOptions, Summary};
use crate::cli::ReassignArgs;
use crate::error::{Error, ExitCode, Result};
use crate::output::{self, table};
use crate::units::{human_bytes, human_duration, parse_bytes, parse_rate};

/// `reassign --output json`: the summary's fields at the top level, plus where files went.
#[derive(Debug, Serialize)]
struct ReassignReport<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    plan_out: Option<String>,
    rollback_out: Option<String>,
}

pub fn run(ctx: &Context, a: &ReassignArgs) -> Result<ExitCode> {
    let topics = match &a.topics {
        Some(t) => Some(Regex::new(t).map_err(|e| {
            Error::usage(
                format!("--topics: {e}"),
                "write a regular expression, e.g. '^orders\\.'",
            )
        })?),
        None => None,
    };
    let max_move_bytes = match &a.max_move_bytes {
        Some(s) => Some(
            parse_bytes(s)
                .map_err(|m| Error::usage(format!("--max-move-bytes: {m}"), "e.g. 500GiB"))?,
        ),
        None => None,
    };
    let throttle = match &a.throttle {
        Some(s) => {
            let r = parse_rate(s)
                .map_err(|m| Error::usage(format!("--throttle: {m}"), "e.g. 50MiB/s"))?;
            if r == 0 {
                return Err(Error::usage(
                    "--throttle must be above zero",
                    "e.g. 50MiB/s",
                ));
            }
            Some(r as f64)
        }
        None => None,
    };
    let cluster = load_cluster(ctx, &a.source)?;
    let opts = PlanOptions {
        remove_brokers: a.remove_brokers.iter().copied().collect(),
        topics,
        max_moves: a.max_moves,
        max_move_bytes,
        throttle_bytes_per_sec: throttle,
    };
    let plan = assign::plan(&cluster, &opts)?;
    info!(
        moved = plan.summary.replicas_moved,
        bound = plan.summary.lower_bound_moves,
        "planned"
    );
    if let Some(path) = &a.plan_out {
        write(path, &plan_json(&cluster, &plan, false))?;
    }
    if let Some(path) = &a.rollback_out {
        write(path, &plan_json(&cluster, &plan, true))?;
    }
    let report = ReassignReport {
        summary: &plan.summary,
        plan_out: a.plan_out.as_ref().map(|p| p.display().to_string()),
        rollback_out: a.rollback_out.as_ref().map(|p| p.display().to_string()),
    };
    print(&output::render(ctx.format, &report, || human(&report))?)?;
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

fn write(path: &Path, text: &str) -> Result<()> {
    // Write then rename, so a reader never sees half a plan.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| Error::WriteFile {
            path: path.display().to_string(),
            source,
        })
}

fn human(r: &ReassignReport) -> String {
    let s = r.summary;
    let mut out = String::new();
    if s.partitions_changed == 0 {
        out.push_str("nothing to do: every partition is spread over AZs and brokers and leaders are balanced\n");
    } else {
        out.push_str(&format!(
            "plan: {} replica moves (lower bound {}), {} to copy, {} partitions changed, {} leader changes\n",
            s.replicas_moved,
            s.lower_bound_moves,
            human_bytes(s.bytes_moved),
            s.partitions_changed,
            s.leader_changes
        ));
    }
    out.push_str(&format!(
        "AZ violations: {} before, {} after",
        s.az_violations_before, s.az_violations_after
    ));
    if let (Some(secs), Some(t)) = (s.estimated_seconds, s.throttle_bytes_per_sec) {
        out.push_str(&format!(
            "; about {} at {}/s per broker",
            human_duration(secs),
            human_bytes(t as u64)
        ));
    }
    out.push('\n');
    if s.budget_limited {
        out.push_str(
            "budget: the move budget left some moves out; run again after this plan completes\n",
        );
    }
    let rows = s
        .brokers
        .iter()
        .map(|b| {
            vec![
                format!("{}{}", b.id, if b.removed { " (drain)" } else { "" }),
                b.rack.clone().unwrap_or_default(),
                format!("{} → {}", b.replicas_before, b.replicas_after),
                format!("{} → {}", b.leaders_before, b.leaders_after),
                format!(
                    "{} → {}",
                    human_bytes(b.bytes_before),
                    human_bytes(b.bytes_after)
                ),
                human_bytes(b.bytes_in),
                human_bytes(b.bytes_out),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "broker", "rack", "replicas", "leaders", "bytes", "in", "out",
        ],
        rows,
    ));
    out.push('\n');
    let rows = s
        .azs
        .iter()
        .map(|z| {
            vec![
                z.rack.clone(),
                z.brokers.to_string(),
                format!("{} → {}", z.replicas_before, z.replicas_after),
                format!("{} → {}", z.leaders_before, z.leaders_after),
                format!(
                    "{} → {}",
                    human_bytes(z.bytes_before),
                    human_bytes(z.bytes_after)
                ),
            ]
        })
        .collect();
    out.push_str(&table(
        &["AZ", "brokers", "replicas", "leaders", "bytes"],
        rows,
    ));
    if let Some(p) = &r.plan_out {
        out.push_str(&format!("\nplan written to {p} (kafka-reassign-partitions.sh --execute --reassignment-json-file {p})"));
    }
    if let Some(p) = &r.rollback_out {
        out.push_str(&format!("\nrollback written to {p}"));
    }
    out
}
