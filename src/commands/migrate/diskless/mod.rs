//! `streamctl migrate diskless`: flags → [`Settings`] (checked before any I/O) → one step of
//! the [`workflow`] → print. Read both clusters → preflight and a pure copy plan → show it →
//! create target topics, copy (journaled offset map) → verify; `--verify`, `--cutover`,
//! `--cancel`, `--status`.

use super::super::progress::BarProgress;
use super::super::source::{client_properties, security};
use super::super::{confirm, print, Context};
use crate::cli::{CopyEngineArg, KafkaSecurity, MigrateDisklessArgs};
use crate::connect::rest::{RestConnect, RestOptions};
use crate::connect::ConnectApi;
use crate::error::{Error, ExitCode, Result};
use crate::kafka::admin::KafkaAdmin;
use crate::kafka::quotas::AdminQuotas;
use crate::kafka::records::RdCluster;
use crate::kafka::security::Security;
use crate::kafka::KafkaError;
use crate::migrate::connect::engine::Quotas;
use crate::migrate::diskless::report::Report;
use crate::migrate::diskless::workflow::{
    self, Connections, Endpoint, Engine, Follow, Migration, Settings, Side, Step,
};
use crate::output;
use crate::units::parse_rate;
use regex::Regex;
use show::{human_plan, human_report, PlanReport};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod show;

/// The Connect REST API's CA and credentials: a file, else the environment; never a flag's
/// value (it would show in the process list).
fn rest_options(a: &MigrateDisklessArgs) -> Result<RestOptions> {
    let basic_auth =
        match &a.connect_credentials_file {
            Some(f) => Some(
                RestOptions::credentials_file(&super::super::read_file(f)?).map_err(|m| {
                    Error::usage(
                        format!("--connect-credentials-file {}: {m}", f.display()),
                        "write one line: user:password",
                    )
                })?,
            ),
            None => match (
                std::env::var("STREAMCTL_CONNECT_USERNAME"),
                std::env::var("STREAMCTL_CONNECT_PASSWORD"),
            ) {
                (Ok(u), Ok(p)) => Some((u, p)),
                (Ok(_), Err(_)) | (Err(_), Ok(_)) => return Err(Error::usage(
                    "only one of STREAMCTL_CONNECT_USERNAME and STREAMCTL_CONNECT_PASSWORD is set",
                    "set both, or use --connect-credentials-file",
                )),
                _ => None,
            },
        };
    Ok(RestOptions {
        ca_file: a.connect_ca_file.clone(),
        basic_auth,
    })
}

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
    if step == Step::Cutover {
        // A follower holds the journal: it cuts over, this command asks and waits.
        if let Some(pid) = workflow::holder(&settings.journal)? {
            if !a.yes
                && !confirm(
                    &format!(
                        "ask the follower (PID {pid}) to cut over and translate the groups matching {}?",
                        a.groups.as_deref().unwrap_or_default()
                    ),
                    "refusing to cut over without confirmation: stdin is not a terminal",
                )?
            {
                eprintln!("nothing changed");
                return Ok(ExitCode::Ok);
            }
            let r = workflow::cutover_by_holder(&settings, &pid)?;
            print(&output::render(ctx.format, &r, || human_report(&r))?)?;
            return Ok(if r.verified_ok() {
                ExitCode::Ok
            } else {
                ExitCode::CheckFailed
            });
        }
    }
    let mut m = Migration::open(settings, step)?;
    // Served until the command returns.
    let served = super::super::progress::serve_metrics(
        a.metrics.metrics_addr.as_deref(),
        &a.metrics.metrics_linger,
        "migrate-diskless",
    )?;
    let metrics = served.as_ref().map(|s| s.metrics());
    let api = match (m.engine, m.connect_url()) {
        (Engine::Connect, Some(url)) => Some(
            RestConnect::new(url, &rest_options(a)?)
                .map_err(|e| Error::usage(e.to_string(), e.hint()))?,
        ),
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
        Step::Verify => m.verify(
            &src,
            &tgt,
            &BarProgress::offsets(ctx, "verifying").with_metrics(metrics),
        )?,
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
                &BarProgress::offsets(ctx, "cutover").with_metrics(metrics),
            )?
        }
        Step::Copy | Step::EmitConfig => {
            match copy(ctx, a, &mut m, &conns, api, &src, &tgt, step, metrics)? {
                Some(r) => r,
                None => return Ok(ExitCode::Ok),
            }
        }
    };
    print(&output::render(ctx.format, &r, || human_report(&r))?)?;
    Ok(if r.verified_ok() {
        ExitCode::Ok
    } else {
        ExitCode::CheckFailed
    })
}

/// Plan the copy (or the connector, for `--emit-config`), show it, confirm, copy and verify
/// (`None`: stopped after the plan).
#[allow(clippy::too_many_arguments)]
fn copy(
    ctx: &Context,
    a: &MigrateDisklessArgs,
    m: &mut Migration,
    conns: &Live,
    api: Option<&dyn ConnectApi>,
    src: &RdCluster,
    tgt: &RdCluster,
    step: Step,
    metrics: Option<&std::sync::Arc<crate::metrics::Metrics>>,
) -> Result<Option<Report>> {
    let spinner = ctx.progress.spinner("reading both clusters");
    let planned = m.plan(conns, api, tgt);
    spinner.finish_and_clear();
    let planned = planned?;
    if step == Step::EmitConfig && planned.problems.is_empty() {
        let c = planned.connect.as_ref().expect("connect engine");
        let json = serde_json::to_string_pretty(&c.config).expect("a string map");
        print(&format!("{json}\n"))?;
        return Ok(None);
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
        return Ok(None);
    }
    let question = m.copy_question(planned.plan.as_ref().expect("no problems: planned"));
    if !a.yes
        && !confirm(
            &question,
            "refusing to copy without confirmation: stdin is not a terminal",
        )?
    {
        eprintln!("nothing changed");
        return Ok(None);
    }
    let copying = BarProgress::offsets(ctx, "copying").with_metrics(metrics);
    let verifying = BarProgress::offsets(ctx, "verifying").with_metrics(metrics);
    Ok(Some(m.copy(
        conns,
        api,
        planned,
        src,
        tgt,
        (&copying, &verifying),
    )?))
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
        follow: if a.follow {
            Some(Follow {
                interval: duration("--follow-interval", &a.follow_interval)?,
                sync_groups: a
                    .sync_groups
                    .as_deref()
                    .map(|g| regex("--sync-groups", g))
                    .transpose()?,
                sync_interval: duration("--sync-interval", &a.sync_interval)?,
                allow_compacted: a.allow_compacted,
            })
        } else {
            None
        },
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
