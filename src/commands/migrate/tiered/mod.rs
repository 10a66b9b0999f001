//! `streamctl migrate tiered`: read the cluster → preflight and a pure wave plan → show it →
//! apply wave by wave (journaled) → verify; `--status` and `--rollback`.

use super::super::progress::BarProgress;
use super::super::{confirm, print, Context};
use crate::cli::MigrateTieredArgs;
use crate::error::{Error, ExitCode, Result};
use crate::execute::runner::ExecOptions;
use crate::kafka::ClusterAdmin;
use crate::migrate::tiered::journal::TierJournal;
use crate::migrate::tiered::plan::{LocalRetention, TierOptions, WaveSize, DEFAULT_WAVE_TOPICS};
use crate::migrate::tiered::run::TierRunOptions;
use crate::migrate::tiered::{rollback as tier_rollback, run as tiered_run};
use crate::output;
use crate::units::{parse_bytes, parse_rate};
use regex::Regex;
use show::{human_plan, human_report, human_rollback, PlanReport, RollbackReport};
use std::path::Path;
use std::time::Duration;

mod show;

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
        (None, None) => WaveSize::Topics(DEFAULT_WAVE_TOPICS),
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
    let served = super::super::progress::serve_metrics(
        a.metrics.metrics_addr.as_deref(),
        &a.metrics.metrics_linger,
        "migrate-tiered",
    )?;
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
                match start(ctx, a, &mut admin, &topics, &opts, &bootstrap).await? {
                    Some(j) => j,
                    None => return Ok(ExitCode::Ok),
                }
            }
        };
        let progress = BarProgress::new(ctx, "tiering").with_metrics(served.as_ref().map(|s| s.metrics()));
        let r = tiered_run::run(&mut admin, &mut j, &path, &run_opts, &progress).await?;
        print(&output::render(ctx.format, &r, || human_report(&r))?)?;
        Ok(if r.configs_verified { ExitCode::Ok } else { ExitCode::CheckFailed })
    })
}

/// A new migration: read → preflight and plan → show → confirm → the journal it runs from
/// (`None`: nothing to run, the plan shown was all).
async fn start<A: ClusterAdmin>(
    ctx: &Context,
    a: &MigrateTieredArgs,
    admin: &mut A,
    topics: &Regex,
    opts: &TierOptions,
    bootstrap: &str,
) -> Result<Option<TierJournal>> {
    let spinner = ctx.progress.spinner("reading the cluster");
    let planned = tiered_run::plan(admin, topics, opts).await;
    spinner.finish_and_clear();
    let (plan, problems) = planned?;
    let shown = PlanReport {
        dry_run: a.dry_run,
        problems: &problems,
        plan: plan.as_ref(),
    };
    // One JSON/YAML document per run: the plan when it stops here, else the report.
    if a.dry_run || !problems.is_empty() || ctx.format == output::Format::Table {
        print(&output::render(ctx.format, &shown, || human_plan(&shown))?)?;
    }
    if !problems.is_empty() {
        return Err(Error::usage(
            format!(
                "{} preflight problem(s); nothing was changed",
                problems.len()
            ),
            "fix what the list above says, then run again",
        ));
    }
    let plan = plan.expect("no problems: planned");
    if a.dry_run {
        return Ok(None);
    }
    if plan.waves.is_empty() && opts.drain_brokers.is_empty() {
        eprintln!("nothing to do: every selected topic is tiered already");
        return Ok(None);
    }
    let topics_n: usize = plan.waves.iter().map(|w| w.topics.len()).sum();
    if !a.yes
        && !confirm(
            &format!("tier {topics_n} topic(s) in {} wave(s)?", plan.waves.len()),
            "refusing to change the cluster without confirmation: stdin is not a terminal",
        )?
    {
        eprintln!("nothing changed");
        return Ok(None);
    }
    let j = TierJournal::new(&plan, opts, bootstrap, a.topics.as_deref().unwrap_or(""));
    let path = &a.journal;
    j.save(path).map_err(|source| Error::WriteFile {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Some(j))
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
        if !confirm(
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
