//! The report of a run, `--verify`, `--cutover`, `--cancel` or `--status`, built from the
//! journal (pure). Stable field names: scripts read it with `--output json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::copy::CopyStats;
use super::journal::{Cutover, DisklessJournal};
use super::verify::VerifyReport;

#[derive(Debug, Serialize, Deserialize)]
pub struct PartitionRow {
    pub topic: String,
    pub partition: i32,
    pub source_start: i64,
    pub caught_up_to: i64,
    pub target_next: i64,
    pub records: i64,
    pub bytes: u64,
    pub verified: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TopicRow {
    pub topic: String,
    pub partitions: usize,
    pub records: i64,
    pub bytes: u64,
    pub verified: bool,
}

/// The report of a run, `--verify`, `--cutover` or `--status`. Stable field names.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub source: String,
    pub target: String,
    pub runs: u32,
    pub topics: Vec<TopicRow>,
    pub partitions: Vec<PartitionRow>,
    /// This run's copy (absent for --status / --verify).
    pub copy: Option<CopyStats>,
    pub throttle_bytes_per_sec: Option<u64>,
    /// Payload bytes per second of this run's copy.
    pub achieved_bytes_per_sec: Option<f64>,
    pub verify: Option<VerifyReport>,
    pub cutover: Option<Cutover>,
    /// `--engine connect`: the connector, and target records superseded by replays.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectRow>,
    /// `--follow --sync-groups`: each group's last sync.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_synced: Vec<super::sync::GroupSync>,
    /// `--follow`: what the topic sync changed on the target or found on the source (configs,
    /// partitions, deletions), in order, over every run of the journal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topic_changes: Vec<super::topics::TopicChange>,
    pub next_steps: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectRow {
    pub url: String,
    pub connector: String,
    pub exactly_once: bool,
    pub deleted: bool,
    /// A quota streamctl set and has not restored yet (a run was interrupted).
    pub quota_pending: bool,
    pub duplicate_records: i64,
}

pub fn report(
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
        groups_synced: Vec::new(),
        topic_changes: j.topic_changes.clone(),
        next_steps,
    }
}

impl Report {
    /// Whether what was verified matched (true when nothing was verified in this step).
    pub fn verified_ok(&self) -> bool {
        self.verify.as_ref().is_none_or(|v| v.ok)
    }
}
