//! The diskless migration's journal: per partition the exact offset map (from what the target
//! acknowledged), how far the copy is known complete, what is verified, and the cutover's state
//! and translated groups. Written atomically (a temporary file renamed over it) every second of a
//! copy and after every step; what the target stored after the last write is recovered from the
//! target itself on the next run (see [`super::copy::reconcile`]).

use super::error::DisklessError;
use super::map::{OffsetMap, Translated};
use crate::run::store::{load_json, now_ms, save_json};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// What has been verified of a partition: both sides read in step up to these offsets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// Source offsets below this are verified.
    pub source_end: i64,
    /// Target offsets below this are verified.
    pub target_end: i64,
    pub records: u64,
    pub source_hash: String,
    pub target_hash: String,
}

pub(crate) fn save(j: &DisklessJournal, path: &Path) -> Result<(), DisklessError> {
    j.save(path).map_err(|source| DisklessError::Journal {
        path: path.display().to_string(),
        source,
    })
}

pub const KIND: &str = "migrate-diskless";

/// One partition's copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub topic: String,
    pub partition: i32,
    /// The source offset the copy started at (the log start on the first run).
    pub start: i64,
    /// The target's next offset when the copy began (0 for a new topic).
    pub target_base: i64,
    /// Source records before this offset are copied or were not readable (markers, aborted).
    pub caught_up_to: i64,
    pub map: OffsetMap,
    /// Payload bytes copied (key, value, headers).
    pub bytes: u64,
    #[serde(default)]
    pub verified: Option<Verified>,
    /// Target records superseded by a replay (`--engine connect` without exactly-once, after a
    /// worker failure): the map points at the later copies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicates: Vec<Duplicate>,
    /// The topic was deleted on the source while the copy followed it: no longer copied or
    /// verified; its target copy is kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub source_deleted: bool,
}

/// Target offsets `target_from..target_to` hold first copies of source records from
/// `source_from` on, copied again later (a replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Duplicate {
    pub source_from: i64,
    pub target_from: i64,
    pub target_to: i64,
}

/// `--engine connect`: the connector streamctl runs and the quotas it set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectRecord {
    pub url: String,
    pub connector: String,
    pub exactly_once: bool,
    /// Per task client id, the quota streamctl set and is yet to restore (empty when nothing is
    /// set).
    #[serde(default)]
    pub quotas: BTreeMap<String, QuotaRecord>,
    /// The connector was deleted (after cutover or `--cancel`).
    #[serde(default)]
    pub deleted: bool,
}

/// `consumer_byte_rate` on the source for one task's client id: what streamctl set, and
/// what was there before (restored afterwards; `None`: no quota, removed afterwards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaRecord {
    pub set: f64,
    pub previous: Option<f64>,
}

impl PartitionRecord {
    /// What is verified of the partition: the last verification, or nothing yet (both sides
    /// from where the copy began).
    pub fn verified_so_far(&self) -> Verified {
        self.verified.clone().unwrap_or(Verified {
            source_end: self.start,
            target_end: self.target_base,
            records: 0,
            source_hash: String::new(),
            target_hash: String::new(),
        })
    }

    /// The source offset to read next.
    pub fn next(&self) -> i64 {
        self.map
            .source_next()
            .unwrap_or(self.start)
            .max(self.caught_up_to)
    }

    /// The target's next offset according to the map.
    pub fn target_next(&self) -> i64 {
        self.map.target_next().unwrap_or(self.target_base)
    }

    /// Verified up to where the copy is complete.
    pub fn is_verified(&self) -> bool {
        let records = self.map.records() as u64;
        self.verified
            .as_ref()
            .is_some_and(|v| v.source_end >= self.caught_up_to && v.records == records)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CutoverPhase {
    /// Waiting for the groups' consumers (and producers) to stop on the source.
    WaitingForSource,
    /// Copying the tail and verifying it.
    CopyingTail,
    /// Offsets translated (recorded here), not yet committed on the target: the rollback point.
    Translated,
    /// Committed on the target and read back.
    Committed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub group: String,
    pub offsets: Vec<Translated>,
    #[serde(default)]
    pub committed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cutover {
    pub phase: CutoverPhase,
    pub groups_regex: String,
    pub started_ms: u64,
    #[serde(default)]
    pub groups: Vec<GroupRecord>,
    #[serde(default)]
    pub done_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisklessJournal {
    pub format: u32,
    pub kind: String,
    pub source: String,
    pub target: String,
    pub topics: String,
    pub created_ms: u64,
    /// Copy runs so far (a resumed run adds one).
    pub runs: u32,
    pub partitions: Vec<PartitionRecord>,
    /// Copy time and bytes summed over runs (for the achieved rate).
    #[serde(default)]
    pub copy_seconds: f64,
    #[serde(default)]
    pub copy_bytes: u64,
    #[serde(default)]
    pub cutover: Option<Cutover>,
    /// Present when the copy runs on Kafka Connect (`--engine connect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectRecord>,
    /// Per topic, the carried configs (see `plan::CARRIED_CONFIGS`) set on the source as last
    /// seen: a follower applies to the target what changes on the source after this.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub carried: BTreeMap<String, BTreeMap<String, String>>,
    /// What the topic sync of `--follow` changed or found (configs, partitions, deletions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topic_changes: Vec<super::topics::TopicChange>,
}

impl DisklessJournal {
    pub fn new(source: &str, target: &str, topics: &str) -> Self {
        Self {
            format: 1,
            kind: KIND.into(),
            source: source.into(),
            target: target.into(),
            topics: topics.into(),
            created_ms: now_ms(),
            runs: 0,
            partitions: Vec::new(),
            copy_seconds: 0.0,
            copy_bytes: 0,
            cutover: None,
            connect: None,
            carried: BTreeMap::new(),
            topic_changes: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        let j: Option<Self> = load_json(path)?;
        match j {
            Some(j) if j.kind != KIND => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is a {} journal, not {KIND}", path.display(), j.kind),
            )),
            other => Ok(other),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        save_json(path, self)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionRecord> {
        self.partitions
            .iter()
            .find(|p| p.topic == topic && p.partition == partition)
    }

    pub fn topics(&self) -> Vec<String> {
        let mut t: Vec<String> = self.partitions.iter().map(|p| p.topic.clone()).collect();
        t.dedup();
        t
    }

    /// Records and bytes copied per topic.
    pub fn per_topic(&self) -> BTreeMap<String, (i64, u64)> {
        let mut out: BTreeMap<String, (i64, u64)> = BTreeMap::new();
        for p in &self.partitions {
            let e = out.entry(p.topic.clone()).or_default();
            e.0 += p.map.records();
            e.1 += p.bytes;
        }
        out
    }
}
