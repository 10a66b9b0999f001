//! `streamctl migrate tiered`: read the cluster → preflight and a pure wave plan → show it →
//! apply wave by wave (journaled) → verify; `--status` and `--rollback`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::super::progress::BarProgress;
use super::super::{print, Context};
use crate::cli::MigrateTieredArgs;
use crate::error::{Error, ExitCode, Result};
use crate::execute::runner::ExecOptions;
use crate::kafka::ClusterAdmin;
use crate::migrate::tiered::journal::TierJournal;
use crate::migrate::tiered::plan::{LocalRetention, Problem, TierOptions, TierPlan, WaveSize};
use crate::migrate::tiered::rollback::RollbackStep;
use crate::migrate::tiered::run::{TierReport, TierRunOptions};
use crate::migrate::tiered::{plan as tiered, rollback as tier_rollback, run as tiered_run};
use crate::output::{self, table};
use crate::units::{human_bytes, human_duration, parse_bytes, parse_rate};

/// `--dry-run` / preflight output. Stable field names.
#[derive(Debug, Serialize)]
struct PlanReport<'a> {
    dry_run: bool,
    problems: &'a [Problem],
    plan: Option<&'a TierPlan>,
}

/// A flag's value parsed by `parse`, above zero; errors name the flag and give an example.
fn positive(
    flag: &str,
    text: &str,
    parse: fn(&str) -> std::result::Result<u64, String>,
    example: &str,
) -> Result<u64> {
    match parse(text) {
        Err(m) => Err(Error::usage(
            format!("{flag}: {m}"),
            format!("e.g. {example}"),
        )),
        Ok(0) => Err(Error::usage(
            format!("{flag} must be above zero"),
            format!("e.g. {example}"),
        )),
        Ok(v) => Ok(v),
    }
}

fn rate(flag: &str, text: &str) -> Result<u64> {
    positive(flag, text, parse_rate, "50MiB/s")
}

fn size(flag: &str, text: &str) -> Result<u64> {
    positive(flag, text, parse_bytes, "100MiB")
}

fn duration(flag: &str, text: &str) -> Result<u64> {
    positive(
        flag,
        text,
        |t| crate::spec::duration::parse(t).map(|d| d.as_ms()),
        "4h, 30m or 7d",
    )
}

/// Every flag checked (and rejected with its name) before any connection.
fn options(a: &MigrateTieredArgs) -> Result<TierOptions> {
    let local_retention = match (&a.local_retention, &a.local_retention_bytes) {
        (Some(d), _) => LocalRetention::Ms(duration("--local-retention", d)?),
        (None, Some(b)) => LocalRetention::Bytes(size("--local-retention-bytes", b)?),
        // (only --status and --rollback come without one; neither uses it)
        (None, None) => LocalRetention::Ms(4 * 3_600_000),
    };
    let wave = match (a.wave_topics, &a.wave_bytes) {
        (Some(0), _) => {
            return Err(Error::usage(
                "--wave-topics must be at least 1",
                "e.g. --wave-topics 5",
            ))
        }
        (Some(n), _) => WaveSize::Topics(n),
        (None, Some(b)) => WaveSize::Bytes(size("--wave-bytes", b)?),
        (None, None) => WaveSize::Topics(10),
    };
    if a.max_concurrent_moves_per_broker == 0 {
        return Err(Error::usage(
            "--max-concurrent-moves-per-broker must be at least 1",
            "the default is 2",
        ));
    }
    Ok(TierOptions {
        local_retention,
        tier_throttle: rate("--tier-throttle", &a.tier_throttle)?,
        wave,
        set_segment_bytes: a
            .set_segment_bytes
            .as_deref()
            .map(|s| size("--set-segment-bytes", s))
            .transpose()?,
        drain_brokers: a.drain_brokers.iter().copied().collect(),
        throttle: Some(rate("--throttle", &a.throttle)?),
    })
}

pub fn run(ctx: &Context, a: &MigrateTieredArgs) -> Result<ExitCode> {
    let path = a.journal.clone();
    let existing = TierJournal::load(&path).map_err(|source| Error::ReadFile {
        path: path.display().to_string(),
        source,
    })?;
    if a.status {
        let Some(j) = existing else {
            return Err(Error::usage(
                format!("no migration journal at {}", path.display()),
                "give --journal the file the migration wrote",
            ));
        };
        let r = tiered_run::report(&j, 0, Vec::new());
        print(&output::render(ctx.format, &r, || human_report(&r))?)?;
        return Ok(ExitCode::Ok);
    }
    let bootstrap = a
        .bootstrap_server
        .clone()
        .expect("clap requires --bootstrap-server");
    let topics = match &a.topics {
        Some(t) => Some(Regex::new(t).map_err(|e| {
            Error::usage(
                format!("--topics: {e}"),
                "write a regular expression, e.g. '^logs\\.'",
            )
        })?),
        None => None,
    };
    let opts = options(a)?;
    let stall = Duration::from_millis(duration("--stall-timeout", &a.stall_timeout)?);
    let run_opts = TierRunOptions {
        poll: Duration::from_millis(a.poll_ms),
        stall,
        drain: ExecOptions {
            max_per_broker: a.max_concurrent_moves_per_broker,
            additional: false,
            min_isr_guard: None,
            poll: Duration::from_millis(a.poll_ms),
        },
    };
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let mut admin = super::super::source::connect(&bootstrap, &a.security).await?;
        if a.rollback {
            return rollback(ctx, a, &mut admin, existing, topics.as_ref(), &path).await;
        }
        let mut j = match existing {
            Some(j) if j.unfinished() => {
                if j.bootstrap != bootstrap {
                    return Err(Error::usage(
                        format!("{} holds an unfinished migration of {}", path.display(), j.bootstrap),
                        "finish it, or use another --journal",
                    ));
                }
                if a.dry_run {
                    let r = tiered_run::report(&j, 0, Vec::new());
                    print(&output::render(ctx.format, &r, || {
                        format!("an unfinished migration is in {}; running the command without --dry-run resumes it\n{}", path.display(), human_report(&r))
                    })?)?;
                    return Ok(ExitCode::Ok);
                }
                tracing::warn!("resuming the unfinished migration in {} (run {})", path.display(), j.runs + 1);
                j
            }
            _ => {
                let topics = topics.expect("clap requires --topics");
                let spinner = ctx.progress.spinner("reading the cluster");
                let input = tiered_run::read_input(&mut admin, &topics, opts.local_retention).await;
                spinner.finish_and_clear();
                let input = input?;
                let mut problems = tiered::preflight(&input, &opts);
                let plan = if problems.is_empty() {
                    match tiered::plan(&input, &opts) {
                        Ok(p) => {
                            problems.extend(p.disk_problems.iter().cloned());
                            problems.extend(tiered_run::validate_plan(&mut admin, &p, &opts).await?);
                            Some(p)
                        }
                        Err(m) => {
                            problems.push(Problem { what: m, hint: "drain fewer brokers, or add brokers in the AZs that lose them".into() });
                            None
                        }
                    }
                } else {
                    None
                };
                let shown = PlanReport { dry_run: a.dry_run, problems: &problems, plan: plan.as_ref() };
                // One JSON/YAML document per run: the plan when it stops here, else the report.
                if a.dry_run || !problems.is_empty() || ctx.format == output::Format::Table {
                    print(&output::render(ctx.format, &shown, || human_plan(&shown))?)?;
                }
                if !problems.is_empty() {
                    return Err(Error::usage(
                        format!("{} preflight problem(s); nothing was changed", problems.len()),
                        "fix what the list above says, then run again",
                    ));
                }
                let plan = plan.expect("no problems: planned");
                if a.dry_run {
                    return Ok(ExitCode::Ok);
                }
                if plan.waves.is_empty() && opts.drain_brokers.is_empty() {
                    eprintln!("nothing to do: every selected topic is tiered already");
                    return Ok(ExitCode::Ok);
                }
                if !a.yes && !super::super::confirm(&format!("tier {} topic(s) in {} wave(s)?", plan.waves.iter().map(|w| w.topics.len()).sum::<usize>(), plan.waves.len()), "refusing to change the cluster without confirmation: stdin is not a terminal")? {
                    eprintln!("nothing changed");
                    return Ok(ExitCode::Ok);
                }
                let j = TierJournal::new(&plan, &opts, &bootstrap, a.topics.as_deref().unwrap_or(""));
                j.save(&path).map_err(|source| Error::WriteFile { path: path.display().to_string(), source })?;
                j
            }
        };
        let progress = BarProgress::new(ctx, "tiering");
        let r = tiered_run::run(&mut admin, &mut j, &path, &run_opts, &progress).await?;
        print(&output::render(ctx.format, &r, || human_report(&r))?)?;
        Ok(if r.configs_verified { ExitCode::Ok } else { ExitCode::CheckFailed })
    })
}

/// `--rollback`: read-only tiering (or, with --delete-remote-data --yes, tiering off).
async fn rollback<A: ClusterAdmin>(
    ctx: &Context,
    a: &MigrateTieredArgs,
    admin: &mut A,
    journal: Option<TierJournal>,
    topics: Option<&Regex>,
    path: &Path,
) -> Result<ExitCode> {
    if journal.is_none() && topics.is_none() {
        return Err(Error::usage(
            format!("no migration journal at {} and no --topics", path.display()),
            "give --journal the migration's journal, or --topics for the tiered topics to roll back",
        ));
    }
    let steps = tier_rollback::read(admin, journal.as_ref(), topics, a.delete_remote_data).await?;
    let mut shown = RollbackReport {
        steps: &steps,
        delete_remote_data: a.delete_remote_data,
        applied: false,
        quotas_restored: 0,
    };
    if a.delete_remote_data && !a.yes {
        print(&output::render(ctx.format, &shown, || {
            human_rollback(&shown)
        })?)?;
        return Err(Error::usage(
            "--delete-remote-data deletes the remote copies: records only in the remote store become unreadable",
            "read the offsets above; re-run with --yes to delete them, or drop --delete-remote-data for a read-only rollback that keeps every record",
        ));
    }
    if !a.yes {
        print(&output::render(ctx.format, &shown, || {
            human_rollback(&shown)
        })?)?;
        if !super::super::confirm(
            &format!("roll back {} topic(s)?", steps.len()),
            "refusing to change the cluster without confirmation: stdin is not a terminal",
        )? {
            eprintln!("nothing changed");
            return Ok(ExitCode::Ok);
        }
    }
    let mut journal = journal;
    shown.quotas_restored = tier_rollback::apply(admin, journal.as_mut(), path, &steps).await?;
    shown.applied = true;
    print(&output::render(ctx.format, &shown, || {
        human_rollback(&shown)
    })?)?;
    Ok(ExitCode::Ok)
}

/// `--rollback`'s plan and result. Stable field names.
#[derive(Serialize)]
struct RollbackReport<'a> {
    steps: &'a [RollbackStep],
    delete_remote_data: bool,
    applied: bool,
    quotas_restored: usize,
}

fn human_rollback(r: &RollbackReport) -> String {
    let rows = r
        .steps
        .iter()
        .map(|s| {
            vec![
                s.topic.clone(),
                s.ops
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("(delete)")))
                    .collect::<Vec<_>>()
                    .join(" "),
                s.note.clone(),
            ]
        })
        .collect();
    let mut out = table(&["topic", "changes", "what it means"], rows);
    for s in r.steps {
        for (p, from, to) in &s.unreadable {
            out.push_str(&format!(
                "\n{}-{p}: offsets {from}..{} become unreadable",
                s.topic,
                to - 1
            ));
        }
    }
    out.push_str(&format!(
        "\n{}",
        if r.applied {
            format!(
                "rolled back; {} copy quota setting(s) restored",
                r.quotas_restored
            )
        } else {
            "not applied".into()
        }
    ));
    out
}

fn human_plan(r: &PlanReport) -> String {
    let mut out = String::new();
    if !r.problems.is_empty() {
        out.push_str("preflight found problems; nothing was changed:\n");
        for p in r.problems {
            out.push_str(&format!("  - {}\n    hint: {}\n", p.what, p.hint));
        }
        return out;
    }
    let Some(p) = r.plan else { return out };
    out.push_str(&format!(
        "plan: {} wave(s), {} to upload at {}/s per broker, about {}{}\n",
        p.waves.len(),
        human_bytes(p.upload_bytes),
        human_bytes(p.tier_throttle_bytes_per_sec),
        human_duration(p.predicted_seconds),
        if p.already_tiered.is_empty() {
            String::new()
        } else {
            format!("; already tiered: {}", p.already_tiered.join(", "))
        }
    ));
    let rows = p
        .waves
        .iter()
        .map(|w| {
            vec![
                w.index.to_string(),
                w.topics.join(", "),
                w.partitions.to_string(),
                human_bytes(w.upload_bytes),
                human_duration(w.predicted_seconds),
            ]
        })
        .collect();
    out.push_str(&table(
        &["wave", "topics", "partitions", "upload", "time"],
        rows,
    ));
    out.push('\n');
    let rows = p
        .brokers
        .iter()
        .map(|b| {
            vec![
                format!("{}{}", b.id, if b.drained { " (drain)" } else { "" }),
                b.rack.clone().unwrap_or_default(),
                format!(
                    "{} → {}",
                    human_bytes(b.local_bytes_before),
                    human_bytes(b.local_bytes_after)
                ),
            ]
        })
        .collect();
    out.push_str(&table(&["broker", "rack", "local bytes"], rows));
    if let Some(d) = &p.drain {
        out.push_str(&format!(
            "\ndrain brokers {:?}: {} partitions, {} to copy after tiering ({} before it){}",
            d.brokers,
            d.partitions,
            human_bytes(d.bytes_moved),
            human_bytes(d.bytes_moved_untiered),
            d.predicted_seconds
                .map(|s| format!(", about {}", human_duration(s)))
                .unwrap_or_default()
        ));
    }
    let configs: BTreeMap<&str, Vec<String>> =
        p.configs.iter().fold(BTreeMap::new(), |mut m, (t, k, v)| {
            m.entry(t.as_str())
                .or_insert_with(Vec::new)
                .push(format!("{k}={v}"));
            m
        });
    if let Some(ops) = configs.values().next() {
        out.push_str(&format!("\neach topic gets: {}", ops.join(" ")));
    }
    for a in &p.advice {
        out.push_str(&format!("\nnote: {a}"));
    }
    if r.dry_run {
        out.push_str(
            "\ndry run: nothing changed; run without --dry-run (and --yes in scripts) to migrate",
        );
    }
    out
}

fn human_report(r: &TierReport) -> String {
    let rows = r
        .waves
        .iter()
        .map(|w| {
            vec![
                w.index.to_string(),
                w.topics.join(", "),
                format!("{:?}", w.state).to_lowercase(),
                human_bytes(w.uploaded_bytes),
                w.max_broker_upload_bytes_per_sec
                    .map(|x| format!("{}/s", human_bytes(x as u64)))
                    .unwrap_or_default(),
                format!(
                    "{} / {}",
                    w.duration_seconds
                        .map(human_duration)
                        .unwrap_or_else(|| "-".into()),
                    human_duration(w.predicted_seconds)
                ),
                format!(
                    "{} → {}",
                    human_bytes(w.local_bytes_before),
                    human_bytes(w.local_bytes_after)
                ),
            ]
        })
        .collect();
    let mut out = format!(
        "{:?}: tier throttle {}/s per broker\n",
        r.phase,
        human_bytes(r.tier_throttle_bytes_per_sec)
    );
    out.push_str(&table(
        &[
            "wave",
            "topics",
            "state",
            "uploaded",
            "max broker rate",
            "took / predicted",
            "local bytes",
        ],
        rows,
    ));
    if r.brokers.iter().any(|b| b.local_bytes_after.is_some()) {
        let rows = r
            .brokers
            .iter()
            .map(|b| {
                vec![
                    b.id.to_string(),
                    human_bytes(b.local_bytes_before),
                    human_bytes(b.predicted_local_bytes_after),
                    b.local_bytes_after.map(human_bytes).unwrap_or_default(),
                ]
            })
            .collect();
        out.push('\n');
        out.push_str(&table(
            &["broker", "local before", "planned after", "after"],
            rows,
        ));
    }
    if let Some(d) = &r.drain {
        out.push_str(&format!(
            "\ndrain {:?}: {} moved (planned {}), {} (predicted {}){}",
            d.brokers,
            human_bytes(d.bytes_moved.unwrap_or(0)),
            human_bytes(d.planned_bytes),
            d.moving_seconds
                .map(human_duration)
                .unwrap_or_else(|| "-".into()),
            d.predicted_seconds
                .map(human_duration)
                .unwrap_or_else(|| "-".into()),
            if d.verified { ", verified" } else { "" }
        ));
    }
    out.push_str(&format!(
        "\n{} copy quota setting(s) restored, {} outstanding; {}",
        r.quotas_restored,
        r.quotas_outstanding,
        if r.configs_verified {
            "topic configs verified".to_string()
        } else {
            format!("config mismatches: {}", r.config_mismatches.join("; "))
        }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::tiered::plan::{BrokerLocal, DrainEstimate, Wave};

    #[test]
    fn the_plan_table_shows_waves_brokers_the_drain_and_advice() {
        let plan = TierPlan {
            waves: vec![
                Wave {
                    index: 1,
                    topics: vec!["logs.small".into()],
                    partitions: 3,
                    upload_bytes: 3 << 30,
                    predicted_seconds: 20.5,
                    upload_by_broker: [(1, 1 << 30), (2, 1 << 30), (3, 1 << 30)].into(),
                },
                Wave {
                    index: 2,
                    topics: vec!["logs.big".into(), "logs.mid".into()],
                    partitions: 12,
                    upload_bytes: 60 << 30,
                    predicted_seconds: 410.0,
                    upload_by_broker: [(1, 20 << 30), (2, 20 << 30), (3, 20 << 30)].into(),
                },
            ],
            already_tiered: vec!["logs.old".into()],
            upload_bytes: 63 << 30,
            predicted_seconds: 430.5,
            tier_throttle_bytes_per_sec: 50 << 20,
            brokers: (1..=3)
                .map(|id| BrokerLocal {
                    id,
                    rack: Some(format!("us-east-1{}", ["a", "b", "c"][id as usize - 1])),
                    local_bytes_before: 21 << 30,
                    local_bytes_after: if id == 1 { 0 } else { 2 << 30 },
                    drained: id == 1,
                })
                .collect(),
            configs: vec![
                (
                    "logs.small".into(),
                    "remote.storage.enable".into(),
                    "true".into(),
                ),
                (
                    "logs.small".into(),
                    "local.retention.ms".into(),
                    "14400000".into(),
                ),
            ],
            advice: vec!["2 topic(s) use segments above 100 MiB".into()],
            drain: Some(DrainEstimate {
                brokers: vec![1],
                partitions: 15,
                bytes_moved: 2 << 30,
                bytes_moved_untiered: 21 << 30,
                predicted_seconds: Some(41.0),
            }),
            disk_problems: vec![],
        };
        let r = PlanReport {
            dry_run: true,
            problems: &[],
            plan: Some(&plan),
        };
        insta::assert_snapshot!(human_plan(&r));
        let problems = [Problem {
            what: "topic state is compacted".into(),
            hint: "leave it out".into(),
        }];
        let r = PlanReport {
            dry_run: false,
            problems: &problems,
            plan: None,
        };
        assert_eq!(
            human_plan(&r),
            "preflight found problems; nothing was changed:\n  - topic state is compacted\n    hint: leave it out\n"
        );
    }
}
