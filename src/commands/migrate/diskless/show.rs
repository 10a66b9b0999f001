//! What `migrate diskless` prints: its plan and report documents (stable fields for
//! `--output json|yaml`) and their tables.

use crate::migrate::diskless::plan::{CopyPlan, Problem};
use crate::migrate::diskless::report::Report;
use crate::migrate::diskless::workflow::ConnectPlan;
use crate::output::table;
use crate::units::{human_bytes, human_duration};
use serde::Serialize;

/// `--dry-run` / preflight output. Stable field names.
#[derive(Debug, Serialize)]
pub(super) struct PlanReport<'a> {
    pub(super) dry_run: bool,
    pub(super) problems: &'a [Problem],
    pub(super) plan: Option<&'a CopyPlan>,
    /// `--engine connect`: the Connect cluster and the connector streamctl will run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) connect: Option<&'a ConnectPlan>,
}

pub(super) fn human_report(r: &Report) -> String {
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
    if !r.groups_synced.is_empty() {
        out += "\ngroups synced (last sync):\n";
        out += &table(
            &[
                "group",
                "state",
                "translated",
                "committed",
                "behind on source",
            ],
            r.groups_synced
                .iter()
                .map(|g| {
                    vec![
                        g.group.clone(),
                        format!("{:?}", g.state),
                        g.translated.to_string(),
                        g.committed.to_string(),
                        g.source_lag_records.to_string(),
                    ]
                })
                .collect(),
        );
    }
    if !r.topic_changes.is_empty() {
        out += "\ntopic changes while following:\n";
        out += &table(
            &[
                "topic",
                "change",
                "key",
                "target before",
                "target after",
                "result",
            ],
            r.topic_changes
                .iter()
                .map(|c| {
                    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                    vec![
                        c.topic.clone(),
                        c.kind.as_str().into(),
                        or_dash(&c.key),
                        or_dash(&c.before),
                        or_dash(&c.after),
                        match (&c.error, &c.hint) {
                            (Some(e), Some(h)) => format!("refused: {e}; hint: {h}"),
                            (Some(e), None) => format!("refused: {e}"),
                            _ => "applied".into(),
                        },
                    ]
                })
                .collect(),
        );
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

pub(super) fn human_plan(r: &PlanReport) -> String {
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
