//! `streamctl migrate diskless`: flags → [`Settings`] (checked before any I/O) → one step of
//! the [`workflow`] → print. Read both clusters → preflight and a pure copy plan → show it →
//! create target topics, copy (journaled offset map) → verify; `--verify`, `--cutover`,
//! `--cancel`, `--status`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::super::progress::BarProgress;
use super::super::source::{client_properties, security};
use super::super::{confirm, print, Context};
use crate::cli::{CopyEngineArg, KafkaSecurity, MigrateDisklessArgs};
use crate::connect::rest::RestConnect;
use crate::connect::ConnectApi;
use crate::error::{Error, ExitCode, Result};
use crate::kafka::admin::KafkaAdmin;
use crate::kafka::quotas::AdminQuotas;
use crate::kafka::records::RdCluster;
use crate::kafka::security::Security;
use crate::kafka::KafkaError;
use crate::migrate::connect::engine::Quotas;
use crate::migrate::diskless::plan::{CopyPlan, Problem};
use crate::migrate::diskless::report::Report;
use crate::migrate::diskless::workflow::{
    self, ConnectPlan, Connections, Endpoint, Engine, Migration, Settings, Side, Step,
};
use crate::output::{self, table};
use crate::units::{human_bytes, human_duration, parse_rate};

pub fn run(ctx: &Context, a: &MigrateDisklessArgs) -> Result<ExitCode> {
    if a.status {
        let r = workflow::status(&a.journal)?;
        print(&output::render(ctx.format, &r, || human_report(&r))?)?;
        return Ok(ExitCode::Ok);
    }
    let step = if a.cancel {
        Step::Cancel
    } else if a.verify {
        Step::Verify
    } else if a.cutover {
        Step::Cutover
    } else if a.emit_config {
        Step::EmitConfig
    } else {
        Step::Copy
    };
    let rt = ctx.runtime()?;
    let (settings, security) = settings(a, stop_on_signal(&rt))?;
    let mut m = Migration::open(settings, step)?;
    let api = match (m.engine, m.connect_url()) {
        (Engine::Connect, Some(url)) => {
            Some(RestConnect::new(url).map_err(|e| Error::usage(e.to_string(), e.hint()))?)
        }
        _ => None,
    };
    let api = api.as_ref().map(|a| a as &dyn ConnectApi);
    let src = RdCluster::connect(&m.settings.source.bootstrap, &security.0)?;
    let tgt = RdCluster::connect(&m.settings.target.bootstrap, &security.1)?;
    let conns = Live {
        rt: &rt,
        source: (&m.settings.source.bootstrap.clone(), &security.0),
        target: (&m.settings.target.bootstrap.clone(), &security.1),
    };
    let r = match step {
        Step::Cancel => m.cancel(&conns, api.expect("--engine connect"))?,
        Step::Verify => m.verify(&src, &tgt, &BarProgress::offsets(ctx, "verifying"))?,
        Step::Cutover => {
            if !a.yes
                && !confirm(
                    &m.cutover_question(),
                    "refusing to cut over without confirmation: stdin is not a terminal",
                )?
            {
                eprintln!("nothing changed");
                return Ok(ExitCode::Ok);
            }
            m.cutover(
                &conns,
                api,
                &src,
                &tgt,
                &BarProgress::offsets(ctx, "cutover"),
            )?
        }
        Step::Copy | Step::EmitConfig => {
            let spinner = ctx.progress.spinner("reading both clusters");
            let planned = m.plan(&conns, api, &tgt);
            spinner.finish_and_clear();
            let planned = planned?;
            if step == Step::EmitConfig && planned.problems.is_empty() {
                let c = planned.connect.as_ref().expect("connect engine");
                let json = serde_json::to_string_pretty(&c.config).expect("a string map");
                print(&format!("{json}\n"))?;
                return Ok(ExitCode::Ok);
            }
            let shown = PlanReport {
                dry_run: a.dry_run,
                problems: &planned.problems,
                plan: planned.plan.as_ref(),
                connect: planned.connect.as_ref(),
            };
            if a.dry_run || !planned.problems.is_empty() || ctx.format == output::Format::Table {
                print(&output::render(ctx.format, &shown, || human_plan(&shown))?)?;
            }
            if !planned.problems.is_empty() {
                return Err(Error::usage(
                    format!(
                        "{} preflight problem(s); nothing was changed",
                        planned.problems.len()
                    ),
                    "fix what the list above says, then run again",
                ));
            }
            if a.dry_run {
                return Ok(ExitCode::Ok);
            }
            let question = m.copy_question(planned.plan.as_ref().expect("no problems: planned"));
            if !a.yes
                && !confirm(
                    &question,
                    "refusing to copy without confirmation: stdin is not a terminal",
                )?
            {
                eprintln!("nothing changed");
                return Ok(ExitCode::Ok);
            }
            let copying = BarProgress::offsets(ctx, "copying");
            let verifying = BarProgress::offsets(ctx, "verifying");
            m.copy(&conns, api, planned, &src, &tgt, (&copying, &verifying))?
        }
    };
    print(&output::render(ctx.format, &r, || human_report(&r))?)?;
    Ok(if r.verified_ok() {
        ExitCode::Ok
    } else {
        ExitCode::CheckFailed
    })
}

/// The flags, parsed and checked before any connection; the two sides' connection security.
fn settings(
    a: &MigrateDisklessArgs,
    stop: Arc<AtomicBool>,
) -> Result<(Settings, (Security, Security))> {
    if let Some(name) = a
        .engine
        .filter(|e| *e == CopyEngineArg::Connect)
        .map(|_| &a.connector)
    {
        if let Err(m) = crate::migrate::connect::plan::valid_name(name) {
            return Err(Error::usage(
                format!("--connector {name:?}: {m}"),
                "e.g. --connector streamctl-migrate-orders",
            ));
        }
    }
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
    let side = |bootstrap: &Option<String>,
                config: &Option<std::path::PathBuf>|
     -> Result<(Endpoint, Security)> {
        let sec = security(&KafkaSecurity {
            command_config: config.clone(),
        })?;
        Ok((
            Endpoint {
                bootstrap: bootstrap.clone().expect("clap requires it"),
                client: client_properties(config)?,
            },
            sec,
        ))
    };
    let (source, src_sec) = side(&a.source_bootstrap, &a.source_command_config)?;
    let (target, tgt_sec) = side(&a.target_bootstrap, &a.target_command_config)?;
    let settings = Settings {
        journal: a.journal.clone(),
        source,
        target,
        engine: a.engine.map(|e| match e {
            CopyEngineArg::Builtin => Engine::Builtin,
            CopyEngineArg::Connect => Engine::Connect,
        }),
        connect_url: a.connect_url.clone(),
        connector: a.connector.clone(),
        connect_max_tasks: a.connect_max_tasks,
        topics: a
            .topics
            .as_deref()
            .map(|t| regex("--topics", t))
            .transpose()?,
        groups: a
            .groups
            .as_deref()
            .map(|g| regex("--groups", g))
            .transpose()?,
        throttle,
        max_in_flight: a.max_partitions_in_flight as usize,
        allow_compacted: a.allow_compacted,
        wait: duration("--wait-timeout", &a.wait_timeout)?,
        stall: duration("--stall-timeout", &a.stall_timeout)?,
        wait_for_producers_stopped: a.wait_for_producers_stopped,
        stop,
    };
    Ok((settings, (src_sec, tgt_sec)))
}

/// The real admin connections, made when a step needs them.
struct Live<'r> {
    rt: &'r tokio::runtime::Runtime,
    source: (&'r String, &'r Security),
    target: (&'r String, &'r Security),
}

impl Connections for Live<'_> {
    type Admin = KafkaAdmin;
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
    fn admin(&self, side: Side) -> std::result::Result<KafkaAdmin, KafkaError> {
        let (bootstrap, sec) = match side {
            Side::Source => self.source,
            Side::Target => self.target,
        };
        self.rt.block_on(KafkaAdmin::connect(bootstrap, sec))
    }
    fn quotas(&self) -> std::result::Result<Box<dyn Quotas + '_>, KafkaError> {
        Ok(Box::new(AdminQuotas {
            rt: self.rt,
            admin: self.admin(Side::Source)?,
        }))
    }
}

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
