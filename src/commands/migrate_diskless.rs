//! `streamctl migrate diskless`: read both clusters → preflight and a pure copy plan → show it →
//! create target topics, copy (journaled offset map) → verify; `--verify`, `--cutover`,
//! `--status`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::migrate_connect;
use super::progress::BarProgress;
use super::{print, Context};
use crate::cli::{CopyEngineArg, KafkaSecurity, MigrateDisklessArgs};
use crate::error::{Error, ExitCode, Result};
use crate::kafka::records::{DataCluster, RdCluster};
use crate::kafka::{offset_spec, ClusterAdmin, KafkaError};
use crate::migrate::connect::engine::{self as connect_run, ConnectEngine, ConnectOptions};
use crate::migrate::connect::plan::{self as connect, ConnectorInput};
use crate::migrate::diskless::copy::CopyEngine;
use crate::migrate::diskless::copy::{CopyOptions, CopyStats};
use crate::migrate::diskless::cutover::CutoverOptions;
use crate::migrate::diskless::journal::ConnectRecord;
use crate::migrate::diskless::journal::{Cutover, DisklessJournal};
use crate::migrate::diskless::plan::{CopyPlan, PreflightInput, Problem, SourceTopic, TargetTopic};
use crate::migrate::diskless::verify::VerifyReport;
use crate::migrate::diskless::{copy, cutover, plan, verify};
use crate::output::{self, table};
use crate::units::{human_bytes, human_duration, parse_rate};

/// `--dry-run` / preflight output. Stable field names.
#[derive(Debug, Serialize)]
struct PlanReport<'a> {
    dry_run: bool,
    problems: &'a [Problem],
    plan: Option<&'a CopyPlan>,
    /// `--engine connect`: the Connect cluster and the connector streamctl will run.
    #[serde(skip_serializing_if = "Option::is_none")]
    connect: Option<&'a ConnectPlan>,
}

/// The connector part of a plan.
#[derive(Debug, Clone, Serialize)]
struct ConnectPlan {
    url: String,
    version: String,
    connector: String,
    exactly_once: bool,
    /// Each task's source consumer has its own client id (`source->target|NAME-i|replication-consumer`);
    /// the throttle is split over the tasks and their leaders (about this much per broker).
    per_broker_quota: Option<u64>,
    leaders: usize,
    warnings: Vec<String>,
    /// Secrets masked.
    config: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct PartitionRow {
    topic: String,
    partition: i32,
    source_start: i64,
    caught_up_to: i64,
    target_next: i64,
    records: i64,
    bytes: u64,
    verified: bool,
}

#[derive(Debug, Serialize)]
struct TopicRow {
    topic: String,
    partitions: usize,
    records: i64,
    bytes: u64,
    verified: bool,
}

/// The report of a run, `--verify`, `--cutover` or `--status`. Stable field names.
#[derive(Debug, Serialize)]
struct Report {
    source: String,
    target: String,
    runs: u32,
    topics: Vec<TopicRow>,
    partitions: Vec<PartitionRow>,
    /// This run's copy (absent for --status / --verify).
    copy: Option<CopyStats>,
    throttle_bytes_per_sec: Option<u64>,
    /// Payload bytes per second of this run's copy.
    achieved_bytes_per_sec: Option<f64>,
    verify: Option<VerifyReport>,
    cutover: Option<Cutover>,
    /// `--engine connect`: the connector, and target records superseded by replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    connect: Option<ConnectRow>,
    next_steps: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ConnectRow {
    url: String,
    connector: String,
    exactly_once: bool,
    deleted: bool,
    /// A quota streamctl set and has not restored yet (a run was interrupted).
    quota_pending: bool,
    duplicate_records: i64,
}

fn report(
    j: &DisklessJournal,
    copy: Option<CopyStats>,
    throttle: Option<u64>,
    verify: Option<VerifyReport>,
) -> Report {
    let partitions: Vec<PartitionRow> = j
        .partitions
        .iter()
        .map(|p| PartitionRow {
            topic: p.topic.clone(),
            partition: p.partition,
            source_start: p.start,
            caught_up_to: p.caught_up_to,
            target_next: p.target_next(),
            records: p.map.records(),
            bytes: p.bytes,
            verified: p.is_verified(),
        })
        .collect();
    let mut topics: BTreeMap<String, TopicRow> = BTreeMap::new();
    for p in &partitions {
        let t = topics.entry(p.topic.clone()).or_insert(TopicRow {
            topic: p.topic.clone(),
            partitions: 0,
            records: 0,
            bytes: 0,
            verified: true,
        });
        t.partitions += 1;
        t.records += p.records;
        t.bytes += p.bytes;
        t.verified &= p.verified;
    }
    let achieved = copy
        .as_ref()
        .filter(|c| c.seconds > 0.0 && c.bytes > 0)
        .map(|c| c.bytes as f64 / c.seconds);
    let all_verified = partitions.iter().all(|p| p.verified);
    let mut next_steps = Vec::new();
    match &j.cutover {
        Some(c) if c.done_ms.is_some() => {
            next_steps.push("consumers: point the translated groups at the target (bootstrap.servers) and start them; they resume after their last consumed record".into());
            next_steps.push(
                "producers: point them at the target; the source topics are no longer copied"
                    .into(),
            );
            next_steps.push("rollback until consumers move: start them on the source again (nothing on the source changed)".into());
        }
        _ if all_verified => {
            next_steps.push(
                "keep the copy current: run the same command again (it copies only what is new)"
                    .into(),
            );
            next_steps.push("cut over: stop producers and consumers on the source, then `--cutover --groups REGEX`".into());
        }
        _ => next_steps.push(
            "run the same command again to finish the copy, or `--verify` to see what differs"
                .into(),
        ),
    }
    let connect = j.connect.as_ref().map(|c| ConnectRow {
        url: c.url.clone(),
        connector: c.connector.clone(),
        exactly_once: c.exactly_once,
        deleted: c.deleted,
        quota_pending: !c.quotas.is_empty(),
        duplicate_records: j
            .partitions
            .iter()
            .flat_map(|p| &p.duplicates)
            .map(|d| d.target_to - d.target_from)
            .sum(),
    });
    Report {
        connect,
        source: j.source.clone(),
        target: j.target.clone(),
        runs: j.runs,
        topics: topics.into_values().collect(),
        partitions,
        copy,
        throttle_bytes_per_sec: throttle,
        achieved_bytes_per_sec: achieved,
        verify,
        cutover: j.cutover.clone(),
        next_steps,
    }
}

fn human_report(r: &Report) -> String {
    let mut out = format!(
        "source {} → target {} (runs: {})\n",
        r.source, r.target, r.runs
    );
    out += &table(
        &["topic", "partitions", "records", "bytes", "verified"],
        r.topics
            .iter()
            .map(|t| {
                vec![
                    t.topic.clone(),
                    t.partitions.to_string(),
                    t.records.to_string(),
                    human_bytes(t.bytes),
                    if t.verified { "yes" } else { "no" }.into(),
                ]
            })
            .collect(),
    );
    if let Some(c) = &r.copy {
        out += &format!(
            "\nthis run: {} records, {} in {}",
            c.records,
            human_bytes(c.bytes),
            human_duration(c.seconds)
        );
        if let Some(a) = r.achieved_bytes_per_sec {
            out += &format!(" ({}/s", human_bytes(a as u64));
            if let Some(t) = r.throttle_bytes_per_sec {
                out += &format!(", {:.2} × the throttle", a / t as f64);
            }
            out += ")";
        }
        if c.recovered > 0 {
            out += &format!(
                "; {} records the target stored before a crash were checked and adopted",
                c.recovered
            );
        }
        out += "\n";
    }
    if let Some(c) = &r.connect {
        out += &format!(
            "\nengine: Kafka Connect {} connector {} ({}){}{}\n",
            c.url,
            c.connector,
            if c.exactly_once {
                "exactly-once"
            } else {
                "at-least-once"
            },
            if c.deleted { ", deleted" } else { "" },
            if c.quota_pending {
                ", source quota still set: run again or --cancel"
            } else {
                ""
            },
        );
        if c.duplicate_records > 0 {
            out += &format!(
                "  {} target records are repeats from a replay after a worker failure; groups are translated past them\n",
                c.duplicate_records
            );
        }
    }
    if let Some(v) = &r.verify {
        out += &format!(
            "\nverify: {} partitions, {} records compared, {}\n",
            v.partitions.len(),
            v.partitions.iter().map(|p| p.records).sum::<u64>(),
            if v.ok {
                "both sides equal".to_string()
            } else {
                format!("{} difference(s)", v.differences.len())
            }
        );
        for d in &v.differences {
            out += &format!(
                "  {}-{} source {:?} target {:?}: {}\n",
                d.topic, d.partition, d.source_offset, d.target_offset, d.what
            );
        }
    }
    if let Some(c) = &r.cutover {
        out += &format!("\ncutover: {:?}\n", c.phase);
        let rows = c
            .groups
            .iter()
            .flat_map(|g| {
                g.offsets.iter().map(move |o| {
                    vec![
                        g.group.clone(),
                        format!("{}-{}", o.topic, o.partition),
                        o.source.to_string(),
                        o.target.to_string(),
                        if g.committed { "yes" } else { "no" }.into(),
                    ]
                })
            })
            .collect();
        out += &table(
            &[
                "group",
                "partition",
                "source offset",
                "target offset",
                "committed",
            ],
            rows,
        );
    }
    out += "\nnext:\n";
    for s in &r.next_steps {
        out += &format!("  - {s}\n");
    }
    out
}

fn human_plan(r: &PlanReport) -> String {
    let mut out = String::new();
    if !r.problems.is_empty() {
        out += "preflight problems (nothing was changed):\n";
        for p in r.problems {
            out += &format!(
                "  - {}{}\n    hint: {}\n",
                p.topic
                    .as_deref()
                    .map(|t| format!("[{t}] "))
                    .unwrap_or_default(),
                p.message,
                p.hint
            );
        }
    }
    if let Some(plan) = r.plan {
        out += &table(
            &[
                "topic",
                "partitions",
                "bytes",
                "offsets",
                "target topic",
                "configs carried",
            ],
            plan.topics
                .iter()
                .map(|t| {
                    vec![
                        t.topic.clone(),
                        t.partitions.to_string(),
                        human_bytes(t.bytes),
                        t.offsets.to_string(),
                        if t.create { "create" } else { "exists" }.into(),
                        t.configs
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]
                })
                .collect(),
        );
        out += &format!(
            "\n{} partitions, {} to copy{}\n",
            plan.partitions,
            human_bytes(plan.bytes),
            match (plan.throttle_bytes_per_sec, plan.predicted_seconds) {
                (Some(t), Some(s)) =>
                    format!(" at {}/s: about {}", human_bytes(t), human_duration(s)),
                _ => ", unthrottled".into(),
            }
        );
        for w in &plan.warnings {
            out += &format!("warning: {w}\n");
        }
        if plan.topics.iter().any(|t| t.compacted) {
            out += "note: compacted topics are copied as their compacted view\n";
        }
    }
    if let Some(c) = r.connect {
        out += &format!(
            "\nengine: Kafka Connect {} (Kafka {}), connector {} ({}), tasks {}\n",
            c.url,
            c.version,
            c.connector,
            if c.exactly_once {
                "exactly-once"
            } else {
                "at-least-once"
            },
            c.config.get("tasks.max").map_or("?", String::as_str)
        );
        if let Some(q) = c.per_broker_quota {
            out += &format!(
                "throttle: consumer_byte_rate on the source for each task's client id (source->target|{}-N|replication-consumer), about {}/s on each of the {} leading brokers, split by bytes and restored afterwards\n",
                c.connector,
                human_bytes(q),
                c.leaders
            );
        }
        for w in &c.warnings {
            out += &format!("warning: {w}\n");
        }
    }
    out
}

fn security(path: &Option<std::path::PathBuf>) -> Result<crate::kafka::security::Security> {
    super::source::security(&KafkaSecurity {
        command_config: path.clone(),
    })
}

fn duration(flag: &str, text: &str) -> Result<Duration> {
    crate::spec::duration::parse(text)
        .map(|d| Duration::from_millis(d.as_ms()))
        .map_err(|m| Error::usage(format!("{flag}: {m}"), "e.g. 10m or 2h"))
}

fn regex(flag: &str, text: &str) -> Result<Regex> {
    Regex::new(text).map_err(|e| {
        Error::usage(
            format!("{flag}: {e}"),
            "write a regular expression, e.g. '^orders\\.'",
        )
    })
}

/// Read the selected source topics (sizes, offsets, configs) and what the target has.
async fn read_input(
    src: &mut impl ClusterAdmin,
    tgt: &mut impl ClusterAdmin,
    tgt_data: &dyn DataCluster,
    topics: &Regex,
    journaled: BTreeSet<String>,
    allow_compacted: bool,
) -> std::result::Result<PreflightInput, KafkaError> {
    let cluster = src.snapshot().await?;
    let mut by_topic: BTreeMap<String, (i32, u64)> = BTreeMap::new();
    let mut parts = Vec::new();
    for p in &cluster.partitions {
        if p.topic.starts_with("__") || p.topic.starts_with('_') && p.topic.ends_with("_state") {
            continue;
        }
        if !topics.is_match(&p.topic) {
            continue;
        }
        let e = by_topic.entry(p.topic.clone()).or_default();
        e.0 += 1;
        e.1 += p.size_bytes.unwrap_or(0);
        parts.push((p.topic.clone(), p.partition));
    }
    let low = src.list_offsets(&parts, offset_spec::EARLIEST).await?;
    let high = src.list_offsets(&parts, offset_spec::LATEST).await?;
    let mut sources = Vec::new();
    for (name, (n, bytes)) in by_topic {
        let offsets = (0..n)
            .map(|p| {
                let k = (name.clone(), p);
                high.get(&k).copied().unwrap_or(0) - low.get(&k).copied().unwrap_or(0)
            })
            .sum();
        let configs = src.dynamic_configs(None, Some(&name)).await?;
        sources.push(SourceTopic {
            name,
            partitions: n,
            bytes,
            offsets,
            configs,
        });
    }
    let existing = tgt_data.topics()?;
    let mut target_topics = BTreeMap::new();
    for t in &sources {
        if let Some(&n) = existing.get(&t.name) {
            let mut records = 0;
            for p in 0..n {
                let (lo, hi) = tgt_data.watermarks(&t.name, p)?;
                records += hi - lo;
            }
            target_topics.insert(
                t.name.clone(),
                TargetTopic {
                    partitions: n,
                    records,
                },
            );
        }
    }
    Ok(PreflightInput {
        topics: sources,
        target_topics,
        target_apis: tgt.api_keys().await?,
        journaled,
        allow_compacted,
    })
}

/// Stop flag set by Ctrl-C / SIGTERM: the copy stops reading, waits for acknowledgements and
/// saves the journal.
fn stop_on_signal(rt: &tokio::runtime::Runtime) -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    #[cfg(unix)]
    {
        let flag = stop.clone();
        rt.spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut s) = signal(SignalKind::terminate()) {
                s.recv().await;
                flag.store(true, Ordering::Relaxed);
            }
        });
    }
    stop
}

fn load(path: &Path) -> Result<Option<DisklessJournal>> {
    DisklessJournal::load(path).map_err(|source| Error::ReadFile {
        path: path.display().to_string(),
        source,
    })
}

pub fn run(ctx: &Context, a: &MigrateDisklessArgs) -> Result<ExitCode> {
    let path = a.journal.clone();
    let existing = load(&path)?;
    if a.status {
        let Some(j) = existing else {
            return Err(Error::usage(
                format!("no migration journal at {}", path.display()),
                "give --journal the file the migration wrote",
            ));
        };
        let r = report(&j, None, None, None);
        print(&output::render(ctx.format, &r, || human_report(&r))?)?;
        return Ok(ExitCode::Ok);
    }
    // Every flag checked before any connection.
    let journal_engine = existing.as_ref().map(|j| {
        if j.connect.is_some() {
            CopyEngineArg::Connect
        } else {
            CopyEngineArg::Builtin
        }
    });
    let engine = match (a.engine, journal_engine) {
        (Some(e), Some(je)) if e != je => {
            return Err(Error::usage(
                format!(
                    "{} records a migration copied by the {} engine, not {}",
                    path.display(),
                    engine_name(je),
                    engine_name(e)
                ),
                "keep the engine of the journal (the offset map is built differently), or start another --journal into new target topics",
            ))
        }
        (Some(e), _) | (None, Some(e)) => e,
        (None, None) => CopyEngineArg::Builtin,
    };
    let connect_url = a.connect_url.clone().or_else(|| {
        existing
            .as_ref()
            .and_then(|j| j.connect.as_ref().map(|c| c.url.clone()))
    });
    // The Connect REST client, built (and its URL checked) before any connection.
    let mut api = None;
    if engine == CopyEngineArg::Connect {
        let Some(url) = connect_url.as_deref() else {
            return Err(Error::usage(
                "--engine connect needs --connect-url",
                "give one Connect worker's REST URL, e.g. --connect-url http://connect:8083",
            ));
        };
        api = Some(migrate_connect::rest(url)?);
        if let Err(m) = connect::valid_name(&a.connector) {
            return Err(Error::usage(
                format!("--connector {:?}: {m}", a.connector),
                "e.g. --connector streamctl-migrate-orders",
            ));
        }
    } else if a.cancel || a.emit_config {
        return Err(Error::usage(
            "--cancel and --emit-config apply to --engine connect",
            "the built-in copier stops with Ctrl-C and resumes from its journal",
        ));
    }
    let source = a.source_bootstrap.clone().expect("clap requires it");
    let target = a.target_bootstrap.clone().expect("clap requires it");
    let topics = a
        .topics
        .as_deref()
        .map(|t| regex("--topics", t))
        .transpose()?;
    let groups = a
        .groups
        .as_deref()
        .map(|g| regex("--groups", g))
        .transpose()?;
    let throttle = match a.throttle.as_deref() {
        None => None,
        Some(t) => match parse_rate(t) {
            Ok(0) => {
                return Err(Error::usage(
                    "--throttle must be above zero",
                    "e.g. 100MiB/s",
                ))
            }
            Ok(v) => Some(v),
            Err(m) => return Err(Error::usage(format!("--throttle: {m}"), "e.g. 100MiB/s")),
        },
    };
    let wait = duration("--wait-timeout", &a.wait_timeout)?;
    let stall = duration("--stall-timeout", &a.stall_timeout)?;
    let src_sec = security(&a.source_command_config)?;
    let tgt_sec = security(&a.target_command_config)?;
    if let Some(j) = &existing {
        if j.source != source || j.target != target {
            return Err(Error::usage(
                format!(
                    "{} holds the migration {} → {}, not {source} → {target}",
                    path.display(),
                    j.source,
                    j.target
                ),
                "use the same bootstraps, or another --journal",
            ));
        }
    }
    if (a.verify || a.cutover || a.cancel) && existing.is_none() {
        return Err(Error::usage(
            format!("no migration journal at {}: nothing was copied yet", path.display()),
            "copy first (the same command without --verify/--cutover), or give --journal the file the copy wrote",
        ));
    }
    let rt = ctx.runtime()?;
    let stop = stop_on_signal(&rt);
    let src = RdCluster::connect(&source, &src_sec)?;
    let tgt = RdCluster::connect(&target, &tgt_sec)?;
    let copy_opts = CopyOptions {
        throttle,
        max_in_flight: a.max_partitions_in_flight as usize,
        stop,
        stall,
    };

    if a.cancel {
        let mut j = existing.expect("checked");
        let api = api.as_ref().expect("checked");
        let mut quotas = migrate_connect::AdminQuotas {
            rt: &rt,
            admin: rt.block_on(super::source::connect(
                &source,
                &KafkaSecurity {
                    command_config: a.source_command_config.clone(),
                },
            ))?,
        };
        connect_run::cancel(&mut j, &path, api, &mut quotas)?;
        let r = report(&j, None, None, None);
        print(&output::render(ctx.format, &r, || human_report(&r))?)?;
        return Ok(ExitCode::Ok);
    }
    if a.verify {
        let mut j = existing.expect("checked");
        let progress = BarProgress::offsets(ctx, "verifying");
        let v = if engine == CopyEngineArg::Connect {
            connect_run::build_and_verify(&mut j, &path, &src, &tgt, None, stall)
        } else {
            verify::verify(&mut j, &path, &src, &tgt, stall, &progress)
        }?;
        let ok = v.ok;
        let r = report(&j, None, throttle, Some(v));
        print(&output::render(ctx.format, &r, || human_report(&r))?)?;
        return Ok(if ok {
            ExitCode::Ok
        } else {
            ExitCode::CheckFailed
        });
    }
    if a.cutover {
        let mut j = existing.expect("checked");
        let opts = CutoverOptions {
            groups: groups.expect("clap requires --groups"),
            wait_for_producers_stopped: a.wait_for_producers_stopped,
            wait,
            poll: Duration::from_millis(500),
        };
        if !a.yes
            && !super::confirm(
                &format!(
                    "cut over {} topic(s) and translate the groups matching {}?",
                    j.topics().len(),
                    opts.groups.as_str()
                ),
                "refusing to cut over without confirmation: stdin is not a terminal",
            )?
        {
            eprintln!("nothing changed");
            return Ok(ExitCode::Ok);
        }
        j.runs += 1;
        let progress = BarProgress::offsets(ctx, "cutover");
        let c = if engine == CopyEngineArg::Connect {
            let api = api.as_ref().expect("checked");
            let (mut quotas, copts) = connect_setup(
                &rt,
                a,
                &source,
                &target,
                &j,
                throttle,
                stall,
                copy_opts.stop.clone(),
            )?;
            let mut engine = ConnectEngine::new(&src, &tgt, api, &mut quotas, copts);
            cutover::cutover(&mut j, &path, &src, &tgt, &mut engine, &opts, &progress)
        } else {
            let mut engine = copy::BuiltIn {
                src: &src,
                tgt: &tgt,
                opts: copy_opts,
            };
            cutover::cutover(&mut j, &path, &src, &tgt, &mut engine, &opts, &progress)
        }?;
        let r = report(&j, Some(c.tail), throttle, Some(c.verify));
        print(&output::render(ctx.format, &r, || human_report(&r))?)?;
        return Ok(ExitCode::Ok);
    }

    // Copy: preflight over both clusters, plan, confirm, create topics, copy, verify.
    let topics = match topics {
        Some(t) => t,
        None => regex(
            "--topics",
            &existing.as_ref().expect("clap requires --topics").topics,
        )?,
    };
    let journaled: BTreeSet<String> = existing
        .as_ref()
        .map(|j| j.topics().into_iter().collect())
        .unwrap_or_default();
    let (plan, problems, connect_plan) = rt.block_on(async {
        let mut sa = super::source::connect(
            &source,
            &KafkaSecurity {
                command_config: a.source_command_config.clone(),
            },
        )
        .await?;
        let mut ta = super::source::connect(
            &target,
            &KafkaSecurity {
                command_config: a.target_command_config.clone(),
            },
        )
        .await?;
        let spinner = ctx.progress.spinner("reading both clusters");
        let input = read_input(
            &mut sa,
            &mut ta,
            &tgt,
            &topics,
            journaled,
            a.allow_compacted,
        )
        .await;
        spinner.finish_and_clear();
        let input = input?;
        let (plan, mut problems) = match plan::preflight(&input, throttle) {
            Ok(p) => (Some(p), Vec::new()),
            Err(problems) => (None, problems),
        };
        let mut connect_plan = None;
        if engine == CopyEngineArg::Connect {
            let topics: BTreeMap<String, i32> = input
                .topics
                .iter()
                .map(|t| (t.name.clone(), t.partitions))
                .collect();
            let leaders = migrate_connect::leaders(&sa.snapshot().await?, &topics);
            let per_broker = throttle.map(|t| connect::per_broker_quota(t, leaders));
            if let Some(t) = throttle {
                let max_batch = input
                    .topics
                    .iter()
                    .map(|t| connect::max_batch(&t.configs))
                    .max()
                    .unwrap_or(connect::DEFAULT_MAX_MESSAGE_BYTES);
                problems.extend(connect::throttle_problem(
                    t,
                    &topics,
                    a.connect_max_tasks,
                    leaders,
                    max_batch,
                ));
            }
            let name = existing
                .as_ref()
                .and_then(|j| j.connect.as_ref().map(|c| c.connector.clone()))
                .unwrap_or_else(|| a.connector.clone());
            let mut ci = ConnectorInput {
                name: name.clone(),
                source_bootstrap: source.clone(),
                target_bootstrap: target.clone(),
                topics,
                source_client: migrate_connect::client_properties(&a.source_command_config)?,
                target_client: migrate_connect::client_properties(&a.target_command_config)?,
                exactly_once: false,
                per_broker_quota: per_broker,
                max_tasks: a.connect_max_tasks,
            };
            let tx = ta.accepts_transactions().await.unwrap_or(false);
            let api = api.as_ref().expect("checked");
            let facts = tokio::task::block_in_place(|| migrate_connect::facts(api, &ci, tx));
            match facts {
                Ok(f) => {
                    problems.extend(migrate_connect::problems(&f));
                    ci.exactly_once = f.workers_exactly_once && f.target_transactions;
                    connect_plan = Some(ConnectPlan {
                        url: f.url.clone(),
                        version: f.version.clone(),
                        connector: name.clone(),
                        exactly_once: ci.exactly_once,
                        per_broker_quota: per_broker,
                        leaders,
                        warnings: migrate_connect::at_least_once_warning(&f)
                            .into_iter()
                            .collect(),
                        config: connect::masked(&connect::connector_config(&ci)),
                    });
                }
                Err(e) => problems.push(Problem {
                    topic: None,
                    message: e.to_string(),
                    hint: e.hint(),
                }),
            }
        }
        Ok::<_, Error>((plan, problems, connect_plan))
    })?;
    if a.emit_config && problems.is_empty() {
        let c = connect_plan.as_ref().expect("connect engine");
        print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&c.config).expect("a string map")
        ))?;
        return Ok(ExitCode::Ok);
    }
    let shown = PlanReport {
        dry_run: a.dry_run,
        problems: &problems,
        plan: plan.as_ref(),
        connect: connect_plan.as_ref(),
    };
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
        return Ok(ExitCode::Ok);
    }
    if !a.yes
        && !super::confirm(
            &format!(
                "copy {} partition(s) of {} topic(s) to {target}?",
                plan.partitions,
                plan.topics.len()
            ),
            "refusing to copy without confirmation: stdin is not a terminal",
        )?
    {
        eprintln!("nothing changed");
        return Ok(ExitCode::Ok);
    }
    let mut j = existing.unwrap_or_else(|| {
        DisklessJournal::new(&source, &target, a.topics.as_deref().unwrap_or(""))
    });
    if let Some(t) = &a.topics {
        j.topics = t.clone();
    }
    // Target topics: created with the source's partition counts and the configs it accepts.
    rt.block_on(async {
        let mut ta = super::source::connect(&target, &KafkaSecurity {
            command_config: a.target_command_config.clone(),
        })
        .await?;
        for t in plan.topics.iter().filter(|t| t.create) {
            match ta.create_topic(&t.topic, t.partitions, &t.configs).await {
                Ok(()) => {}
                Err(KafkaError::Api { code: 40, .. }) if !t.configs.is_empty() => {
                    tracing::warn!(topic = %t.topic, configs = ?t.configs, "the target refused these topic configs; creating the topic with its defaults");
                    ta.create_topic(&t.topic, t.partitions, &BTreeMap::new()).await?;
                }
                Err(KafkaError::Api { code: 36, .. }) => {}
                Err(e) => return Err(Error::Kafka(e)),
            }
        }
        Ok::<_, Error>(())
    })?;
    let want: Vec<(String, i32)> = plan
        .topics
        .iter()
        .map(|t| (t.topic.clone(), t.partitions))
        .collect();
    wait_for_topics(&tgt, &want)?;
    copy::add_partitions(&mut j, &src, &tgt, &want)?;
    j.runs += 1;
    j.save(&path).map_err(|source| Error::WriteFile {
        path: path.display().to_string(),
        source,
    })?;
    let progress = BarProgress::offsets(ctx, "copying");
    let (stats, v) = if engine == CopyEngineArg::Connect {
        let cp = connect_plan.expect("planned");
        match j.connect.as_mut() {
            Some(c) => {
                c.deleted = false;
                c.exactly_once = cp.exactly_once;
            }
            None => {
                j.connect = Some(ConnectRecord {
                    url: cp.url.clone(),
                    connector: cp.connector.clone(),
                    exactly_once: cp.exactly_once,
                    quotas: BTreeMap::new(),
                    deleted: false,
                })
            }
        }
        let api = api.as_ref().expect("checked");
        let (mut quotas, copts) = connect_setup(
            &rt,
            a,
            &source,
            &target,
            &j,
            throttle,
            stall,
            copy_opts.stop.clone(),
        )?;
        let mut engine = ConnectEngine::new(&src, &tgt, api, &mut quotas, copts);
        let stats = engine.copy(&mut j, &path, &progress)?;
        let v = engine.verify(&mut j, &path, &progress)?;
        (stats, v)
    } else {
        let stats = copy::copy(&mut j, &path, &src, &tgt, &copy_opts, &progress)?;
        let progress = BarProgress::offsets(ctx, "verifying");
        let v = verify::verify(&mut j, &path, &src, &tgt, stall, &progress)?;
        (stats, v)
    };
    let ok = v.ok;
    let r = report(&j, Some(stats), throttle, Some(v));
    print(&output::render(ctx.format, &r, || human_report(&r))?)?;
    Ok(if ok {
        ExitCode::Ok
    } else {
        ExitCode::CheckFailed
    })
}

fn engine_name(e: CopyEngineArg) -> &'static str {
    match e {
        CopyEngineArg::Builtin => "builtin",
        CopyEngineArg::Connect => "connect",
    }
}

/// The connector config and the source quotas for a run or a cutover of `--engine connect`.
#[allow(clippy::too_many_arguments)]
fn connect_setup<'r>(
    rt: &'r tokio::runtime::Runtime,
    a: &MigrateDisklessArgs,
    source: &str,
    target: &str,
    j: &DisklessJournal,
    throttle: Option<u64>,
    stall: Duration,
    stop: Arc<AtomicBool>,
) -> Result<(migrate_connect::AdminQuotas<'r>, ConnectOptions)> {
    let c = j.connect.as_ref().expect("a connect migration");
    let mut admin = rt.block_on(super::source::connect(
        source,
        &KafkaSecurity {
            command_config: a.source_command_config.clone(),
        },
    ))?;
    let mut topics: BTreeMap<String, i32> = BTreeMap::new();
    for p in &j.partitions {
        let n = topics.entry(p.topic.clone()).or_default();
        *n = (*n).max(p.partition + 1);
    }
    let cluster = rt.block_on(admin.snapshot())?;
    let leaders = migrate_connect::leaders(&cluster, &topics);
    let per_broker = throttle.map(|t| connect::per_broker_quota(t, leaders));
    let leader = cluster
        .partitions
        .iter()
        .filter(|p| topics.contains_key(&p.topic))
        .filter_map(|p| Some(((p.topic.clone(), p.partition), *p.replicas.first()?)))
        .collect();
    let sizes = cluster
        .partitions
        .iter()
        .filter(|p| topics.contains_key(&p.topic))
        .map(|p| ((p.topic.clone(), p.partition), p.size_bytes.unwrap_or(0)))
        .collect();
    // The largest batch a copied topic accepts: no task's quota may be below one per window.
    let mut max_batch = 0u64;
    for t in topics.keys() {
        let cfg = rt.block_on(admin.describe_configs(None, Some(t)))?;
        max_batch = max_batch.max(connect::max_batch(&cfg));
    }
    let config = connect::connector_config(&ConnectorInput {
        name: c.connector.clone(),
        source_bootstrap: source.to_string(),
        target_bootstrap: target.to_string(),
        topics,
        source_client: migrate_connect::client_properties(&a.source_command_config)?,
        target_client: migrate_connect::client_properties(&a.target_command_config)?,
        exactly_once: c.exactly_once,
        per_broker_quota: per_broker,
        max_tasks: a.connect_max_tasks,
    });
    Ok((
        migrate_connect::AdminQuotas { rt, admin },
        ConnectOptions {
            config,
            throttle,
            leader,
            sizes,
            quota_floor: connect::quota_floor(max_batch),
            stall,
            poll: Duration::from_millis(500),
            stop,
        },
    ))
}

/// Created topics appear in the target's metadata with every partition.
fn wait_for_topics(tgt: &dyn DataCluster, want: &[(String, i32)]) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let have = tgt.topics()?;
        let missing: Vec<&str> = want
            .iter()
            .filter(|(t, n)| have.get(t) != Some(n))
            .map(|(t, _)| t.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Migrate {
                message: format!(
                    "the target does not list these topics after creating them: {}",
                    missing.join(", ")
                ),
                hint: "check the target's logs; run the same command again".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
