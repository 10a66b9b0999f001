//! What `migrate tiered` prints: its plan, rollback and report documents (stable fields for
//! `--output json|yaml`) and their tables.

use crate::migrate::tiered::plan::{Problem, TierPlan};
use crate::migrate::tiered::rollback::RollbackStep;
use crate::migrate::tiered::run::TierReport;
use crate::output::table;
use crate::units::{human_bytes, human_duration};
use serde::Serialize;
use std::collections::BTreeMap;

/// `--dry-run` / preflight output. Stable field names.
#[derive(Debug, Serialize)]
pub(super) struct PlanReport<'a> {
    pub(super) dry_run: bool,
    pub(super) problems: &'a [Problem],
    pub(super) plan: Option<&'a TierPlan>,
}

/// `--rollback`'s plan and result. Stable field names.
#[derive(Serialize)]
pub(super) struct RollbackReport<'a> {
    pub(super) steps: &'a [RollbackStep],
    pub(super) delete_remote_data: bool,
    pub(super) applied: bool,
    pub(super) quotas_restored: usize,
}

pub(super) fn human_rollback(r: &RollbackReport) -> String {
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

pub(super) fn human_plan(r: &PlanReport) -> String {
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

pub(super) fn human_report(r: &TierReport) -> String {
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
