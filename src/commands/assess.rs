//! `streamctl assess --bootstrap-server … [--sample 60s] [--write-dir DIR]`: read a live cluster
//! twice a sample window apart (read-only), size its successors from what it really does, and
//! write their specs and the migration commands. Read → assess (pure) → show → write.

use std::path::Path;
use std::time::{Duration, Instant};

use super::source::{connect, security};
use super::{print, Context};
use crate::assess::{self, read, AssessOptions, Assessment, Observed};
use crate::assign::tolerance;
use crate::cli::AssessArgs;
use crate::error::{Error, ExitCode, Result};
use crate::kafka::records::RdCluster;
use crate::output::{self, table};
use crate::sizing::catalog::Catalog;
use crate::sizing::recommend::RecommendOptions;
use crate::units::{human_bytes, human_duration};

pub fn run(ctx: &Context, a: &AssessArgs) -> Result<ExitCode> {
    // Every flag checked before any connection.
    let re =
        match &a.topics {
            Some(t) => Some(regex::Regex::new(t).map_err(|e| {
                Error::usage(format!("--topics: {e}"), "write a regular expression")
            })?),
            None => None,
        };
    let window = duration("--sample", &a.sample)?;
    if window.is_zero() {
        return Err(Error::usage(
            "--sample must be longer than zero",
            "measure over a minute or more (--sample 60s) while producers run",
        ));
    }
    let local = duration("--local-retention", &a.local_retention)?;
    if !(a.headroom > 0.0 && a.headroom <= 1.0) {
        return Err(Error::usage(
            format!("--headroom must be in (0, 1], got {}", a.headroom),
            "0.8 plans for 80 % of the sustained limit (seed 001)",
        ));
    }
    if let Some(d) = &a.write_dir {
        if d.is_file() {
            return Err(Error::usage(
                format!("--write-dir {} is a file", d.display()),
                "give a directory (created if missing)",
            ));
        }
    }
    let catalog = Catalog::embedded();
    if let Some(t) = a
        .instance_type
        .as_deref()
        .filter(|t| catalog.get(t).is_none())
    {
        return Err(Error::usage(
            format!("--instance-type {t} is not in the catalog"),
            "see `streamctl size catalog` for the types streamctl knows",
        ));
    }
    let opts = AssessOptions {
        instance_type: a.instance_type.clone(),
        volume_throughput_mbps: a.volume_throughput,
        local_retention_secs: local.as_secs().max(1),
        recommend: RecommendOptions {
            families: a.families.clone(),
            headroom: a.headroom,
            az_failure_tolerant: a.az_failure_tolerant,
            ..Default::default()
        },
        name: a.name.clone(),
        region: a.region.clone(),
        ..Default::default()
    };
    let observed = observe(ctx, a, re.as_ref(), window)?;
    let report = assess::assess(&observed, &opts, &catalog);
    if let Some(dir) = &a.write_dir {
        write_dir(dir, &observed, &report, &opts)?;
    }
    print(&output::render(ctx.format, &report, || human(&report))?)?;
    Ok(ExitCode::Ok)
}

fn duration(flag: &str, text: &str) -> Result<Duration> {
    crate::spec::duration::parse(text)
        .map(|d| Duration::from_millis(d.as_ms()))
        .map_err(|m| Error::usage(format!("{flag}: {m}"), "e.g. 60s, 10m or 4h"))
}

/// Read the cluster at both ends of the window, then its configs and consumer groups.
fn observe(
    ctx: &Context,
    a: &AssessArgs,
    re: Option<&regex::Regex>,
    window: Duration,
) -> Result<Observed> {
    let rt = ctx.runtime()?;
    let mut admin = rt.block_on(connect(&a.bootstrap_server, &a.security))?;
    let first = rt.block_on(read::reading(&mut admin, re))?;
    let t0 = Instant::now();
    let spinner = ctx
        .progress
        .spinner(&format!("sampling ingress for {}", a.sample));
    std::thread::sleep(window);
    spinner.finish_and_clear();
    let last = rt.block_on(read::reading(&mut admin, re))?;
    // Each reading ends with the offsets: the window is the time between the two ends.
    let window_secs = t0.elapsed().as_secs_f64();
    let (configs, remote) = rt.block_on(read::configs(&mut admin, &last.cluster))?;
    let data = RdCluster::connect(&a.bootstrap_server, &security(&a.security)?)?;
    let ends = read::ends(&data, &last.cluster)?;
    let groups = read::groups(&data, &ends)?;
    let min_isr: std::collections::BTreeMap<String, usize> = configs
        .iter()
        .filter_map(|(t, c)| Some((t.clone(), c.get("min.insync.replicas")?.parse().ok()?)))
        .collect();
    let az_tolerance = tolerance::check_with(&last.cluster, 2, &min_isr);
    let (topics, brokers) = read::samples(&first, &last, &configs, &remote);
    Ok(Observed {
        bootstrap: a.bootstrap_server.clone(),
        window_secs,
        brokers,
        topics,
        groups,
        az_tolerance,
        partitions: last.cluster.partitions,
    })
}

/// `--write-dir`: the assessment, one validated spec per successor, a script per migration.
fn write_dir(dir: &Path, o: &Observed, r: &Assessment, opts: &AssessOptions) -> Result<()> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| Error::WriteFile {
            path: path.display().to_string(),
            source,
        })
    };
    std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
        path: dir.display().to_string(),
        source,
    })?;
    let json = serde_json::to_string_pretty(r).map_err(|e| Error::Encode(e.to_string()))?;
    write("assessment.json", &json)?;
    if let (Some(w), Some(s)) = (&r.workload, &r.successors) {
        let mut done = Vec::new();
        for l in &s.layouts {
            if done.contains(&l.model) {
                continue;
            }
            done.push(l.model);
            let spec = assess::successor_spec(l, w, opts, assess::min_insync(o));
            let text = serde_yaml_ng::to_string(&spec).map_err(|e| Error::Encode(e.to_string()))?;
            let name = format!("cluster-{}.yaml", l.model.as_str());
            // What is written must be what `streamctl validate` accepts.
            let (parsed, _) = crate::spec::parse(&text, &name)?;
            if let Some(d) = crate::spec::validate(&parsed)
                .into_iter()
                .find(|d| d.severity == crate::spec::Severity::Error)
            {
                return Err(Error::Encode(format!(
                    "the {} successor's spec does not validate: {d:?}",
                    l.model.as_str()
                )));
            }
            let head = format!(
                "# The {} successor of {}, sized by `streamctl assess` from {:.2} MiB/s measured over {:.0} s.\n",
                l.model.as_str(),
                o.bootstrap,
                w.ingress_mbps,
                o.window_secs
            );
            write(&name, &(head + &text))?;
        }
    }
    for s in &r.steps {
        let script = format!(
            "#!/bin/sh\n# {}\n# {} at {}/s: about {} (predicted by `streamctl assess`).\nset -eu\n{}\n",
            s.what,
            human_bytes(s.bytes),
            human_bytes(s.throttle_bytes_per_sec),
            human_duration(s.predicted_secs),
            s.command
        );
        write(&format!("migrate-{}.sh", s.successor), &script)?;
    }
    Ok(())
}

/// The readable report.
fn human(r: &Assessment) -> String {
    let mut out = format!(
        "{}: sampled {:.0} s; ingress {}/s, {:.0} records/s\n\n",
        r.bootstrap,
        r.window_secs,
        human_bytes(r.ingress_bytes_per_sec as u64),
        r.ingress_records_per_sec
    );
    out += &table(
        &[
            "topic",
            "parts",
            "RF",
            "bytes",
            "in/s",
            "records/s",
            "retention",
            "tiered",
        ],
        r.topics
            .iter()
            .map(|t| {
                vec![
                    t.topic.clone(),
                    t.partitions.to_string(),
                    t.replication_factor.to_string(),
                    human_bytes(t.bytes),
                    human_bytes(t.bytes_per_sec as u64),
                    format!("{:.0}", t.records_per_sec),
                    t.retention_secs
                        .map_or("forever".into(), |s| human_duration(s as f64)),
                    if t.tiered { "yes" } else { "no" }.into(),
                ]
            })
            .collect(),
    );
    if !r.groups.is_empty() {
        out += "\n";
        out += &table(
            &["group", "members", "lag", "reads"],
            r.groups
                .iter()
                .map(|g| {
                    vec![
                        g.group.clone(),
                        g.members.to_string(),
                        g.lag_records.to_string(),
                        g.reads.into(),
                    ]
                })
                .collect(),
        );
    }
    let c = &r.current;
    out += &format!(
        "\ncurrent: {} brokers in {} AZs, {} held{}; {}\n",
        c.brokers,
        c.azs,
        human_bytes(c.bytes),
        c.disk_utilisation.map_or(String::new(), |u| format!(
            " ({:.0} % of their disks)",
            u * 100.0
        )),
        match (c.recommended_mbps, c.load) {
            (Some(m), Some(l)) => format!(
                "{} carries {m:.0} MB/s at the headroom target; measured load {:.0} % of it: {}",
                c.instance_type.as_deref().unwrap_or("?"),
                l * 100.0,
                c.verdict
            ),
            _ => "limit unknown (give --instance-type)".into(),
        }
    );
    if let Some(s) = &r.successors {
        out += "\nsuccessors (cheapest layout per model):\n";
        out += &table(
            &[
                "model",
                "instance",
                "brokers",
                "volume",
                "limit MB/s",
                "use",
                "USD/month",
            ],
            s.layouts
                .iter()
                .map(|l| {
                    vec![
                        l.model.as_str().into(),
                        l.instance_type.clone(),
                        l.brokers.to_string(),
                        l.volume.map_or("-".into(), |v| {
                            format!("{} GiB {} MiB/s", v.size_gib, v.throughput_mibps)
                        }),
                        format!("{:.0}", l.sustained_limit_mbps),
                        format!("{:.0} %", l.utilization * 100.0),
                        format!("{:.0}", l.monthly_cost.total_usd),
                    ]
                })
                .collect(),
        );
    }
    for s in &r.steps {
        out += &format!(
            "\n{}: {} at {}/s, about {}\n  {}\n",
            s.successor,
            human_bytes(s.bytes),
            human_bytes(s.throttle_bytes_per_sec),
            human_duration(s.predicted_secs),
            s.command
        );
    }
    out += &format!(
        "\nAZ loss: {}; tiered storage: {}\n",
        if r.az_tolerance.ok {
            "every partition survives losing any one AZ"
        } else {
            "some partitions go offline or below min ISR (run `streamctl check az-tolerance`)"
        },
        if r.tiered_readiness.ready {
            "every broker has remote.log.storage.system.enable".to_string()
        } else if r.tiered_readiness.brokers_enabled.is_empty() {
            "no broker has remote.log.storage.system.enable yet".to_string()
        } else {
            format!(
                "brokers {:?} lack remote.log.storage.system.enable",
                r.tiered_readiness.brokers_not_enabled
            )
        }
    );
    for n in &r.notes {
        out += &format!("note: {n}\n");
    }
    out
}
