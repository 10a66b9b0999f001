//! `streamctl reassign --az-aware` (offline planning from a snapshot or Kafka assignment file).

use std::path::Path;

use regex::Regex;
use serde::Serialize;
use tracing::info;

use super::progress::BarProgress;
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
    if a.execute || a.verify || a.cancel {
        return execute(ctx, a, topics, max_move_bytes, throttle);
    }
    let mut cluster = load_cluster(ctx, &a.source)?;
    apply_capacities(a, &mut cluster)?;
    let opts = PlanOptions {
        remove_brokers: a.remove_brokers.iter().copied().collect(),
        topics,
        max_moves: a.max_moves,
        max_move_bytes,
        throttle_bytes_per_sec: throttle,
        balance: balance_of(a)?.0,
        byte_tolerance: balance_of(a)?.1,
        max_disk_utilisation: Some(a.max_disk_utilisation),
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
    if let Some(b) = &s.byte_balance {
        out.push_str(&format!(
            "bytes: every broker within ±{:.0} % of its AZ's mean: max/mean {:.2} → {:.2}, min/mean {:.2} → {:.2}; {} moved, lower bound {}\n",
            b.tolerance * 100.0,
            b.max_over_mean_before,
            b.max_over_mean_after,
            b.min_over_mean_before,
            b.min_over_mean_after,
            human_bytes(s.bytes_moved),
            human_bytes(b.lower_bound_bytes)
        ));
    }
    if s.topic_spread_violations_before + s.topic_spread_violations_after > 0 {
        out.push_str(&format!(
            "topic spread: {} replicas above ceil(topic replicas / brokers) + 1 on a broker before, {} after\n",
            s.topic_spread_violations_before, s.topic_spread_violations_after
        ));
    }
    if s.budget_limited {
        out.push_str(
            "budget: the move budget left some moves out; run again after this plan completes\n",
        );
    }
    let rows: Vec<Vec<String>> = s
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
                match (b.utilisation_before, b.utilisation_after) {
                    (Some(x), Some(y)) => format!("{:.0} % → {:.0} %", x * 100.0, y * 100.0),
                    _ => "-".into(),
                },
            ]
        })
        .collect();
    // The disk column only where some broker's disk size is known.
    let sized = s.brokers.iter().any(|b| b.capacity_bytes.is_some());
    let header = [
        "broker",
        "rack",
        "replicas",
        "leaders",
        "bytes",
        "in",
        "out",
        "disk used",
    ];
    let rows = rows
        .into_iter()
        .map(|mut r| {
            if !sized {
                r.pop();
            }
            r
        })
        .collect();
    out.push_str(&table(&header[..if sized { 8 } else { 7 }], rows));
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

/// `--execute`, `--verify`, `--cancel` against a live cluster.
fn execute(
    ctx: &Context,
    a: &ReassignArgs,
    topics: Option<Regex>,
    max_move_bytes: Option<u64>,
    throttle: Option<f64>,
) -> Result<ExitCode> {
    use crate::execute::journal::{Journal, Phase};
    use crate::execute::runner::{self, ExecOptions};
    use crate::execute::scheduler::Move;
    use crate::kafka::ClusterAdmin;

    let bootstrap = a
        .source
        .bootstrap_server
        .clone()
        .expect("clap requires --bootstrap-server");
    if a.max_concurrent_moves_per_broker == 0 {
        return Err(Error::usage(
            "--max-concurrent-moves-per-broker must be at least 1",
            "the default is 2",
        ));
    }
    let path = a.journal.clone();
    let existing = Journal::load(&path).map_err(|source| Error::ReadFile {
        path: path.display().to_string(),
        source,
    })?;
    let progress = BarProgress::new(ctx, "moving");
    // A reviewed plan file is read (and rejected, with line and column) before any connection.
    let plan_targets = match &a.plan_file {
        Some(f) => Some(
            crate::assign::snapshot::parse_kafka_assignment(
                &super::read_file(f)?,
                &Default::default(),
            )
            .map_err(|source| Error::Format {
                path: f.display().to_string(),
                source,
            })?,
        ),
        None => None,
    };
    let rt = ctx.runtime()?;
    let report = rt.block_on(async {
        let mut admin = super::source::connect(&bootstrap, &a.source.security).await?;
        if a.cancel || a.verify {
            let Some(mut j) = existing else {
                return Err(Error::usage(format!("no journal at {}", path.display()), "give --journal the file the execution wrote"));
            };
            // Cancelled earlier with throttle settings left on a broker that was down: clean up.
            if j.phase == Phase::Cancelled && !j.throttles.is_empty() {
                return runner::cancel(&mut admin, &mut j, &path, &progress).await.map_err(Error::from);
            }
            if a.cancel {
                if matches!(j.phase, Phase::Complete | Phase::Cancelled) {
                    return Err(Error::usage(format!("the execution in {} already ended ({:?})", path.display(), j.phase), "nothing to cancel"));
                }
                return runner::cancel(&mut admin, &mut j, &path, &progress).await.map_err(Error::from);
            }
            // Verify: compare, and finish when every move has landed.
            let current = admin.partitions(&runner::topics_of(&j)).await?.replicas;
            let landed = j.moves.iter().all(|m| current.get(&(m.mv.topic.clone(), m.mv.partition)) == Some(&m.mv.to));
            let ongoing = !admin.list_reassignments().await?.is_empty();
            if landed && !ongoing && j.phase != Phase::Cancelled {
                if j.phase == Phase::Running {
                    for m in &mut j.moves {
                        m.state = crate::execute::journal::MoveState::Done;
                    }
                    j.phase = Phase::Finishing;
                }
                return runner::finish(&mut admin, &mut j, &path, &progress).await.map_err(Error::from);
            }
            let mismatched = j.moves.iter().filter(|m| current.get(&(m.mv.topic.clone(), m.mv.partition)) != Some(&m.mv.to)).map(|m| format!("{}-{}", m.mv.topic, m.mv.partition)).collect();
            return Ok(runner::report(&j, 0, mismatched));
        }
        let Some(throttle) = throttle else {
            return Err(Error::usage("--execute needs --throttle", "e.g. --throttle 50MiB/s: unthrottled moves can saturate brokers and starve clients"));
        };
        let mut j = match existing {
            Some(j) if matches!(j.phase, Phase::Running | Phase::Finishing) => {
                if j.bootstrap != bootstrap {
                    return Err(Error::usage(
                        format!("{} holds an unfinished run for {}", path.display(), j.bootstrap),
                        "finish or --cancel it, or use another --journal",
                    ));
                }
                if let (Some(f), Some(targets)) = (&a.plan_file, &plan_targets) {
                    // Resuming is for the same plan: every move recorded must be one of the file's.
                    let wanted: std::collections::BTreeSet<(&str, i32, &[i32])> =
                        targets.partitions.iter().map(|p| (p.topic.as_str(), p.partition, p.replicas.as_slice())).collect();
                    if let Some(m) = j.moves.iter().find(|m| !wanted.contains(&(m.mv.topic.as_str(), m.mv.partition, m.mv.to.as_slice()))) {
                        return Err(Error::usage(
                            format!("{} holds an unfinished run of another plan ({}-{} to {:?} is not in {})", path.display(), m.mv.topic, m.mv.partition, m.mv.to, f.display()),
                            "finish it (run it again without --plan-file, or --verify) or --cancel it, or use another --journal",
                        ));
                    }
                }
                tracing::warn!("resuming the unfinished execution in {} (run {})", path.display(), j.runs + 1);
                j
            }
            _ => {
                let mut cluster = admin.snapshot().await?;
                apply_capacities(a, &mut cluster)?;
                let moves: Vec<Move> = if let (Some(f), Some(targets)) = (&a.plan_file, &plan_targets) {
                    // A reviewed plan: exactly these targets, checked against the cluster as it is.
                    crate::execute::scheduler::moves_to_targets(&cluster, &targets.partitions).map_err(|m| {
                        Error::usage(
                            format!("{} does not fit the cluster: {m}", f.display()),
                            "plan again against the cluster as it is now (--plan-out), review, then --execute --plan-file",
                        )
                    })?
                } else {
                    let opts = PlanOptions {
                        remove_brokers: a.remove_brokers.iter().copied().collect(),
                        topics,
                        max_moves: a.max_moves,
                        max_move_bytes,
                        throttle_bytes_per_sec: Some(throttle),
                        balance: balance_of(a)?.0,
                        byte_tolerance: balance_of(a)?.1,
                        max_disk_utilisation: Some(a.max_disk_utilisation),
                    };
                    let plan = assign::plan(&cluster, &opts)?;
                    if let Some(p) = &a.plan_out {
                        write(p, &plan_json(&cluster, &plan, false))?;
                    }
                    if let Some(p) = &a.rollback_out {
                        write(p, &plan_json(&cluster, &plan, true))?;
                    }
                    plan.changes
                        .iter()
                        .map(|(i, r)| {
                            let p = &cluster.partitions[*i];
                            Move { topic: p.topic.clone(), partition: p.partition, from: p.replicas.clone(), to: r.clone(), bytes: p.move_bytes() }
                        })
                        .collect()
                };
                let mut j = Journal::new(moves, &bootstrap, throttle as u64, a.one_replica_at_a_time);
                if let Some(f) = &a.throttle_file {
                    j.broker_throttles = parse_throttle_file(&super::read_file(f)?).map_err(|m| Error::usage(format!("{}: {m}", f.display()), "write BROKER_ID=RATE lines, e.g. 4=20MiB/s"))?;
                }
                j
            }
        };
        let opts = ExecOptions {
            max_per_broker: a.max_concurrent_moves_per_broker,
            additional: a.additional,
            min_isr_guard: a.respect_min_isr.then_some(a.min_insync),
            poll: std::time::Duration::from_millis(a.poll_ms.max(50)),
        };
        runner::execute(&mut admin, &mut j, &path, &opts, &progress).await.map_err(Error::from)
    })?;
    print(&output::render(ctx.format, &report, || {
        format!(
            "{:?}: {} partitions, {} replicas moved ({}), in {} (bound {} at {}/s per broker); {} throttle settings removed; {}",
            report.phase,
            report.partitions,
            report.replicas_moved,
            human_bytes(report.bytes_moved),
            human_duration(report.duration_seconds),
            human_duration(report.bound_seconds),
            human_bytes(report.throttle_bytes_per_sec),
            report.throttles_removed,
            if report.verified { "verified: every partition matches the plan".to_string() } else { format!("{} partition(s) not yet at the plan: {}", report.mismatched.len(), report.mismatched.iter().take(5).cloned().collect::<Vec<_>>().join(" ")) }
        ) + &report.advice.iter().map(|a| format!("\nnote: {a}")).collect::<String>()
            + &report.cleanup_pending.iter().map(|p| format!("\nstill set (broker not reachable; the next run, --verify or --cancel removes them): {p}")).collect::<String>()
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

/// `--broker-capacity` lines set the disk size of the brokers they name.
fn apply_capacities(a: &ReassignArgs, cluster: &mut Cluster) -> Result<()> {
    let Some(f) = &a.broker_capacity else {
        return Ok(());
    };
    let sizes =
        parse_sized_lines(&super::read_file(f)?, crate::units::parse_bytes).map_err(|m| {
            Error::usage(
                format!("{}: {m}", f.display()),
                "write BROKER_ID=SIZE lines, e.g. 4=2TiB",
            )
        })?;
    for (id, size) in sizes {
        let Some(b) = cluster.brokers.iter_mut().find(|b| b.id == id) else {
            return Err(Error::usage(
                format!("{}: broker {id} is not in the cluster", f.display()),
                "name brokers by their node.id",
            ));
        };
        b.capacity_bytes = Some(size);
    }
    Ok(())
}

/// `--balance` and `--byte-tolerance`, checked.
fn balance_of(a: &ReassignArgs) -> Result<(assign::Balance, f64)> {
    if !(a.byte_tolerance > 0.0 && a.byte_tolerance < 1.0) {
        return Err(Error::usage(
            format!(
                "--byte-tolerance {} is not between 0 and 1",
                a.byte_tolerance
            ),
            "a fraction of the AZ mean, e.g. 0.05 for ±5 %",
        ));
    }
    Ok(match a.balance {
        crate::cli::BalanceArg::Replicas => (assign::Balance::Replicas, a.byte_tolerance),
        crate::cli::BalanceArg::Bytes => (assign::Balance::Bytes, a.byte_tolerance),
        crate::cli::BalanceArg::Both => (assign::Balance::Both, a.byte_tolerance),
    })
}

/// `BROKER_ID=RATE` lines (`#` comments) for `--throttle-file`.
pub fn parse_throttle_file(text: &str) -> Result<std::collections::BTreeMap<i32, u64>, String> {
    parse_sized_lines(text, parse_rate)
}

/// `BROKER_ID=VALUE` lines (`#` comments), each value parsed by `parse` and above zero.
fn parse_sized_lines(
    text: &str,
    parse: fn(&str) -> std::result::Result<u64, String>,
) -> Result<std::collections::BTreeMap<i32, u64>, String> {
    let mut out = std::collections::BTreeMap::new();
    for line in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
    {
        let (b, r) = line
            .split_once('=')
            .ok_or_else(|| format!("`{line}` is not BROKER_ID=VALUE"))?;
        let b: i32 = b
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a broker id", b.trim()))?;
        let r = parse(r).map_err(|m| format!("broker {b}: {m}"))?;
        if r == 0 {
            return Err(format!("broker {b}: 0 is not a usable value"));
        }
        out.insert(b, r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_files() {
        let m = parse_throttle_file("# per broker\n1=10MiB/s\n4 = 20MB/s\n").unwrap();
        assert_eq!(m[&1], 10 << 20);
        assert_eq!(m[&4], 20_000_000);
        assert!(parse_throttle_file("x=1").is_err());
        assert!(parse_throttle_file("1=0").is_err());
    }
}
