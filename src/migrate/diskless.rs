//! The pure parts of `migrate diskless` (no async, no I/O): preflight, the copy plan and its
//! predicted time, the exact source→target offset map, the record digest the verifier compares,
//! the copy's token bucket, and consumer-group translation.
//!
//! A diskless target assigns its own offsets (dense from where the topic stands), so offsets
//! cannot be preserved. The map is built only from what the target acknowledged, batch by
//! batch; source offsets may have gaps (transaction markers, aborted records, compaction) and the
//! map never assumes they do not.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::kafka::Record;

/// A problem found before any change (all are reported at once; exit 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The topic it concerns, or `None` for the target as a whole.
    pub topic: Option<String>,
    pub message: String,
    pub hint: String,
}

fn problem(topic: Option<&str>, message: String, hint: impl Into<String>) -> Problem {
    Problem {
        topic: topic.map(str::to_string),
        message,
        hint: hint.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The offset map

/// Source offsets `source..source+len` went to target offsets `target..target+len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub source: i64,
    pub target: i64,
    pub len: i64,
}

/// One partition's exact map, as runs of consecutive offsets on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetMap {
    pub runs: Vec<Run>,
}

/// An acknowledgement that does not extend the map (the map is never changed by it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("source offset {from} acknowledged after {last}: records out of order")]
    SourceOrder { from: i64, last: i64 },
    #[error("the target stored source offset {from} at {target}, expected {expected}: something else writes to the target partition")]
    TargetGap {
        from: i64,
        target: i64,
        expected: i64,
    },
}

impl OffsetMap {
    /// Records mapped.
    pub fn records(&self) -> i64 {
        self.runs.iter().map(|r| r.len).sum()
    }

    /// The source offset after the last mapped record.
    pub fn source_next(&self) -> Option<i64> {
        self.runs.last().map(|r| r.source + r.len)
    }

    /// The target offset after the last mapped record.
    pub fn target_next(&self) -> Option<i64> {
        self.runs.last().map(|r| r.target + r.len)
    }

    /// Record that the target stored the record read at `source` at `target`. Targets must be
    /// dense (the next one each time): the copy is the target partition's only writer.
    pub fn push(&mut self, source: i64, target: i64) -> Result<(), MapError> {
        match self.runs.last_mut() {
            None => {
                self.runs.push(Run {
                    source,
                    target,
                    len: 1,
                });
                Ok(())
            }
            Some(last) => {
                let (next_s, next_t) = (last.source + last.len, last.target + last.len);
                if source < next_s {
                    return Err(MapError::SourceOrder {
                        from: source,
                        last: next_s - 1,
                    });
                }
                if target != next_t {
                    return Err(MapError::TargetGap {
                        from: source,
                        target,
                        expected: next_t,
                    });
                }
                if source == next_s {
                    last.len += 1;
                } else {
                    self.runs.push(Run {
                        source,
                        target,
                        len: 1,
                    });
                }
                Ok(())
            }
        }
    }

    /// The target offset of the record read at `source`, if it was copied.
    pub fn target_of(&self, source: i64) -> Option<i64> {
        let i = self.runs.partition_point(|r| r.source + r.len <= source);
        let r = self.runs.get(i)?;
        (source >= r.source).then(|| r.target + (source - r.source))
    }

    /// A consumer position translated: the target offset of the first copied record at or after
    /// `source` (the next unconsumed record), or the target's next offset when every copied
    /// record lies before it. `None` for an empty map (nothing copied: the caller knows the
    /// target's start).
    pub fn translate(&self, source: i64) -> Option<i64> {
        let i = self.runs.partition_point(|r| r.source + r.len <= source);
        match self.runs.get(i) {
            Some(r) if source >= r.source => Some(r.target + (source - r.source)),
            Some(r) => Some(r.target),
            None => self.target_next(),
        }
    }

    /// A copier that replays (at-least-once: after a crash it copies again from its last committed
    /// offset) stored source offset `source` a second time, at `target`. From `source` on, the map
    /// points at the new copies, so a translated consumer reads every record once, in order, after
    /// its position. Returns the target offsets the superseded first copies occupy.
    pub fn replay(&mut self, source: i64, target: i64) -> Result<(i64, i64), MapError> {
        let first = self.target_of(source).ok_or(MapError::SourceOrder {
            from: source,
            last: self.source_next().unwrap_or(source) - 1,
        })?;
        let next_t = self.target_next().unwrap_or(target);
        if target < next_t {
            return Err(MapError::TargetGap {
                from: source,
                target,
                expected: next_t,
            });
        }
        let i = self.runs.partition_point(|r| r.source + r.len <= source);
        let keep = source - self.runs[i].source;
        self.runs.truncate(i + 1);
        if keep == 0 {
            self.runs.pop();
        } else {
            self.runs[i].len = keep;
        }
        self.runs.push(Run {
            source,
            target,
            len: 1,
        });
        Ok((first, target))
    }

    /// Extend the map with the next record, allowing a gap on the target side (superseded copies
    /// lie between); source order is still required.
    pub fn push_after_gap(&mut self, source: i64, target: i64) -> Result<(), MapError> {
        match self.runs.last() {
            Some(l) if target > l.target + l.len => {
                if source < l.source + l.len {
                    return Err(MapError::SourceOrder {
                        from: source,
                        last: l.source + l.len - 1,
                    });
                }
                self.runs.push(Run {
                    source,
                    target,
                    len: 1,
                });
                Ok(())
            }
            _ => self.push(source, target),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Digests and verification

/// SHA-256 over a record's key, value, headers (in order, nulls distinct from empty) and
/// timestamp — what a consumer can observe apart from the offset.
pub fn record_digest(r: &Record) -> [u8; 32] {
    fn field(h: &mut Sha256, v: Option<&[u8]>) {
        match v {
            None => h.update([0u8]),
            Some(b) => {
                h.update([1u8]);
                h.update((b.len() as u64).to_be_bytes());
                h.update(b);
            }
        }
    }
    let mut h = Sha256::new();
    h.update(r.timestamp.unwrap_or(-1).to_be_bytes());
    field(&mut h, r.key.as_deref());
    field(&mut h, r.value.as_deref());
    h.update((r.headers.len() as u64).to_be_bytes());
    for (k, v) in &r.headers {
        field(&mut h, Some(k.as_bytes()));
        field(&mut h, v.as_deref());
    }
    h.finalize().into()
}

/// A running hash over record digests: `chain' = SHA-256(chain || digest)`, so a verification
/// can continue where the last one stopped.
pub fn chain(prev: &str, digest: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(digest);
    hex(&h.finalize())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

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

/// One difference the verifier found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub topic: String,
    pub partition: i32,
    pub source_offset: Option<i64>,
    pub target_offset: Option<i64>,
    pub what: String,
}

/// Compare one source record with the target record found in step with it.
pub fn compare(
    map: &OffsetMap,
    source: Option<&Record>,
    target: Option<&Record>,
) -> Option<Difference> {
    let (t, p) = source
        .or(target)
        .map(|r| (r.topic.clone(), r.partition))
        .unwrap_or_default();
    let diff = |what: String| {
        Some(Difference {
            topic: t.clone(),
            partition: p,
            source_offset: source.map(|r| r.offset),
            target_offset: target.map(|r| r.offset),
            what,
        })
    };
    match (source, target) {
        (None, None) => None,
        (Some(s), None) => diff(format!(
            "source offset {} has no copy on the target",
            s.offset
        )),
        (None, Some(r)) => diff(format!(
            "target offset {} has no source record (extra on the target)",
            r.offset
        )),
        (Some(s), Some(r)) => {
            if map.target_of(s.offset) != Some(r.offset) {
                return diff(format!(
                    "the map puts source offset {} at {:?}, the target has the next record at {}",
                    s.offset,
                    map.target_of(s.offset),
                    r.offset
                ));
            }
            if record_digest(s) != record_digest(r) {
                let mut what = Vec::new();
                if s.key != r.key {
                    what.push("key");
                }
                if s.value != r.value {
                    what.push("value");
                }
                if s.headers != r.headers {
                    what.push("headers");
                }
                if s.timestamp != r.timestamp {
                    what.push("timestamp");
                }
                return diff(format!("{} differ", what.join(", ")));
            }
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Throttle

/// A token bucket over bytes: `take` returns how long to wait before the bytes may go. Debt is
/// allowed (a record larger than the burst goes, then the bucket waits it off), so the rate over
/// any window longer than the burst stays at or below `rate`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: f64,
}

impl TokenBucket {
    /// `rate` bytes per second; the burst is a twentieth of a second of it (at least 16 KiB).
    pub fn new(rate: u64) -> Self {
        let burst = (rate as f64 / 20.0).max(16_384.0);
        Self {
            rate: rate as f64,
            burst,
            tokens: 0.0,
            last: 0.0,
        }
    }

    /// Take `bytes` at time `now` (seconds since the copy started); the wait before sending.
    pub fn take(&mut self, now: f64, bytes: u64) -> f64 {
        self.tokens = (self.tokens + (now - self.last).max(0.0) * self.rate).min(self.burst);
        self.last = now.max(self.last);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            0.0
        } else {
            -self.tokens / self.rate
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Preflight and plan

/// A source topic as read before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTopic {
    pub name: String,
    pub partitions: i32,
    /// Bytes on disk (leader replicas), for the estimate.
    pub bytes: u64,
    /// Records by offset range (high - low watermarks summed; markers and aborted records count).
    pub offsets: i64,
    /// Topic configs set on the source (dynamic), some of which the target topic gets.
    pub configs: BTreeMap<String, String>,
}

impl SourceTopic {
    pub fn compacted(&self) -> bool {
        self.configs
            .get("cleanup.policy")
            .is_some_and(|p| p.contains("compact"))
    }
}

/// A target topic that already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTopic {
    pub partitions: i32,
    /// Records in it now (high watermarks summed).
    pub records: i64,
}

/// Kafka APIs the copy needs on the target, with what fails without each.
pub const TARGET_APIS: &[(i16, &str, &str)] = &[
    (0, "Produce", "the copy cannot write"),
    (1, "Fetch", "the verifier cannot read the copy back"),
    (
        2,
        "ListOffsets",
        "the copy cannot find where the target stands after a crash",
    ),
    (3, "Metadata", "no client can find the partitions"),
    (
        22,
        "InitProducerId",
        "no idempotent producer: retries could duplicate records",
    ),
    (
        8,
        "OffsetCommit",
        "cutover cannot translate consumer groups",
    ),
    (
        9,
        "OffsetFetch",
        "cutover cannot read translated offsets back",
    ),
    (
        15,
        "DescribeGroups",
        "cutover cannot see whether a target group is active",
    ),
    (
        19,
        "CreateTopics",
        "target topics must be created by hand first",
    ),
];

/// Configs the target topic gets from the source (when set there); others stay the target's.
pub const CARRIED_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "message.timestamp.type",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightInput {
    pub topics: Vec<SourceTopic>,
    /// Existing target topics by name.
    pub target_topics: BTreeMap<String, TargetTopic>,
    /// API keys the target offers.
    pub target_apis: BTreeSet<i16>,
    /// Topics a journal of this migration already copies (their target data is ours).
    pub journaled: BTreeSet<String>,
    pub allow_compacted: bool,
}

/// What one topic's copy will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicPlan {
    pub topic: String,
    pub partitions: i32,
    pub bytes: u64,
    pub offsets: i64,
    /// Created on the target by the copy (false: exists, checked).
    pub create: bool,
    /// Configs given to a created target topic.
    pub configs: BTreeMap<String, String>,
    pub compacted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyPlan {
    pub topics: Vec<TopicPlan>,
    pub partitions: usize,
    pub bytes: u64,
    pub offsets: i64,
    pub throttle_bytes_per_sec: Option<u64>,
    /// At the throttle; `None` unthrottled.
    pub predicted_seconds: Option<f64>,
    /// Target APIs missing that the copy can live without, with what fails.
    pub warnings: Vec<String>,
}

/// Check everything before any change; the plan, or every problem found.
pub fn preflight(input: &PreflightInput, throttle: Option<u64>) -> Result<CopyPlan, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if input.topics.is_empty() {
        problems.push(problem(
            None,
            "no source topic matches --topics".into(),
            "check the regular expression against the source's topic names (internal topics never match)",
        ));
    }
    for (key, name, without) in TARGET_APIS {
        if !input.target_apis.contains(key) {
            // Without these three the copy itself cannot work; the rest degrade one step.
            if matches!(key, 0 | 1 | 2 | 3 | 22) {
                problems.push(problem(
                    None,
                    format!("the target does not offer {name} (API {key}): {without}"),
                    "point --target-bootstrap at a Kafka-compatible broker that supports it",
                ));
            } else {
                warnings.push(format!("the target does not offer {name}: {without}"));
            }
        }
    }
    let mut topics = Vec::new();
    for t in &input.topics {
        let compacted = t.compacted();
        if compacted && !input.allow_compacted {
            problems.push(problem(
                Some(&t.name),
                format!("{} is compacted (cleanup.policy={}): the copy would be its compacted view, not its history", t.name, t.configs["cleanup.policy"]),
                "pass --allow-compacted to copy what is readable now (older values of a key that compaction removed are not copied), or leave the topic out of --topics",
            ));
        }
        let create = match input.target_topics.get(&t.name) {
            None => {
                if !input.target_apis.contains(&19) {
                    problems.push(problem(
                        Some(&t.name),
                        format!(
                            "{} does not exist on the target and the target cannot create topics",
                            t.name
                        ),
                        format!(
                            "create it on the target with {} partitions first",
                            t.partitions
                        ),
                    ));
                }
                true
            }
            Some(tt) => {
                if tt.partitions != t.partitions {
                    problems.push(problem(
                        Some(&t.name),
                        format!(
                            "{} has {} partitions on the target and {} on the source: partition i is copied to partition i",
                            t.name, tt.partitions, t.partitions
                        ),
                        "delete the target topic or create it with the source's partition count",
                    ));
                }
                if tt.records > 0 && !input.journaled.contains(&t.name) {
                    problems.push(problem(
                        Some(&t.name),
                        format!("{} already holds {} records on the target that this migration did not write", t.name, tt.records),
                        "copy into an empty topic (delete it on the target), or give --journal the migration that wrote them",
                    ));
                }
                false
            }
        };
        let configs = t
            .configs
            .iter()
            .filter(|(k, _)| CARRIED_CONFIGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        topics.push(TopicPlan {
            topic: t.name.clone(),
            partitions: t.partitions,
            bytes: t.bytes,
            offsets: t.offsets,
            create,
            configs,
            compacted,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let bytes = topics.iter().map(|t| t.bytes).sum();
    Ok(CopyPlan {
        partitions: topics.iter().map(|t| t.partitions as usize).sum(),
        offsets: topics.iter().map(|t| t.offsets).sum(),
        bytes,
        throttle_bytes_per_sec: throttle,
        predicted_seconds: throttle.map(|r| bytes as f64 / r as f64),
        topics,
        warnings,
    })
}

// ---------------------------------------------------------------------------------------------
// Group translation

/// A group's offsets translated for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translated {
    pub topic: String,
    pub partition: i32,
    pub source: i64,
    pub target: i64,
}

/// What translation needs of a partition: its map, where the target topic began (for an empty
/// map) and the source position up to which the copy is known complete.
#[derive(Debug, Clone, Copy)]
pub struct PartitionView<'a> {
    pub map: &'a OffsetMap,
    pub target_base: i64,
    pub caught_up_to: i64,
}

/// Translate one group's committed source offsets. A committed offset beyond what was copied is
/// refused (the copy must catch up first), so no consumer skips a record.
pub fn translate_group(
    group: &str,
    committed: &BTreeMap<(String, i32), i64>,
    parts: &BTreeMap<(String, i32), PartitionView<'_>>,
) -> Result<Vec<Translated>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for ((t, p), &c) in committed {
        let Some(v) = parts.get(&(t.clone(), *p)) else {
            continue;
        };
        if c > v.caught_up_to {
            problems.push(problem(
                Some(t),
                format!("group {group} committed offset {c} on {t}-{p}, but the copy is complete only up to {}", v.caught_up_to),
                "stop the group's consumers and producers, then run --cutover again (it copies the tail first)",
            ));
            continue;
        }
        let target = v.map.translate(c).unwrap_or(v.target_base);
        out.push(Translated {
            topic: t.clone(),
            partition: *p,
            source: c,
            target,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: i64, value: &[u8]) -> Record {
        Record {
            topic: "t".into(),
            partition: 0,
            offset,
            timestamp: Some(1_000),
            key: Some(b"k".to_vec()),
            value: Some(value.to_vec()),
            headers: vec![("h".into(), None)],
        }
    }

    #[test]
    fn a_replay_points_the_map_at_the_second_copies() {
        // Source 0..10 copied at target 0..10; a restarted copier replays from source 6 at 10.
        let mut m = OffsetMap::default();
        for o in 0..10 {
            m.push(o, o).unwrap();
        }
        assert_eq!(m.replay(6, 10).unwrap(), (6, 10));
        for o in 7..12 {
            m.push(o, o + 4).unwrap();
        }
        assert_eq!(m.target_of(5), Some(5));
        assert_eq!(m.target_of(6), Some(10));
        assert_eq!(m.target_of(9), Some(13));
        // A consumer that committed 8 resumes at the second copy of 8: no record twice.
        assert_eq!(m.translate(8), Some(12));
        assert_eq!(m.records(), 12);
        // A replay from the very first record of a run drops that run.
        assert_eq!(m.replay(0, 16).unwrap(), (0, 16));
        assert_eq!(m.runs.len(), 1);
        // A replay of a record never mapped, or into the past of the target, is refused.
        assert!(m.replay(40, 17).is_err());
        assert!(m.replay(0, 3).is_err());
        // After a gap on the target the next record starts a new run.
        let mut m = OffsetMap::default();
        m.push(0, 0).unwrap();
        m.push_after_gap(1, 5).unwrap();
        assert_eq!(m.translate(1), Some(5));
        assert!(m.push_after_gap(0, 9).is_err());
    }

    #[test]
    fn map_keeps_runs_and_translates_across_gaps() {
        let mut m = OffsetMap::default();
        // Source 10,11,12 then a marker at 13, aborted 14..16, then 17,18.
        for (s, t) in [(10, 0), (11, 1), (12, 2), (17, 3), (18, 4)] {
            m.push(s, t).unwrap();
        }
        assert_eq!(m.runs.len(), 2);
        assert_eq!(m.records(), 5);
        assert_eq!(m.target_of(11), Some(1));
        assert_eq!(m.target_of(13), None);
        assert_eq!(m.target_of(18), Some(4));
        // Committed positions: the next unconsumed record.
        assert_eq!(m.translate(10), Some(0));
        assert_eq!(m.translate(13), Some(3));
        assert_eq!(m.translate(15), Some(3));
        assert_eq!(m.translate(18), Some(4));
        assert_eq!(m.translate(19), Some(5));
        assert_eq!(m.translate(0), Some(0));
        assert_eq!(OffsetMap::default().translate(5), None);
    }

    proptest::proptest! {
        /// Any set of copied source offsets (gaps anywhere): the map finds each record's target,
        /// and a position translates to the first copied record at or after it, as a linear
        /// search over the pairs would.
        #[test]
        fn map_agrees_with_a_linear_search(
            gaps in proptest::collection::vec(1i64..6, 0..300),
            base in 0i64..1_000,
            probes in proptest::collection::vec(0i64..3_000, 1..50),
        ) {
            let mut pairs = Vec::new();
            let mut s = base;
            for (t, g) in gaps.iter().enumerate() {
                pairs.push((s, t as i64));
                s += g;
            }
            let mut m = OffsetMap::default();
            for (s, t) in &pairs {
                m.push(*s, *t).unwrap();
            }
            proptest::prop_assert_eq!(m.records() as usize, pairs.len());
            for &p in &probes {
                let exact = pairs.iter().find(|(s, _)| *s == p).map(|(_, t)| *t);
                proptest::prop_assert_eq!(m.target_of(p), exact);
                let next = pairs
                    .iter()
                    .find(|(s, _)| *s >= p)
                    .map(|(_, t)| *t)
                    .or(if pairs.is_empty() { None } else { Some(pairs.len() as i64) });
                proptest::prop_assert_eq!(m.translate(p), next);
            }
        }
    }

    #[test]
    fn map_refuses_a_target_gap_or_reordering() {
        let mut m = OffsetMap::default();
        m.push(0, 0).unwrap();
        assert!(matches!(
            m.push(1, 2),
            Err(MapError::TargetGap { expected: 1, .. })
        ));
        assert!(matches!(m.push(0, 1), Err(MapError::SourceOrder { .. })));
        assert_eq!(m.records(), 1);
    }

    #[test]
    fn digest_sees_every_field_and_null_headers() {
        let a = rec(0, b"v");
        let mut b = a.clone();
        b.offset = 99;
        assert_eq!(
            record_digest(&a),
            record_digest(&b),
            "offset is not content"
        );
        b.headers = vec![("h".into(), Some(Vec::new()))];
        assert_ne!(record_digest(&a), record_digest(&b), "null vs empty header");
        let mut c = a.clone();
        c.timestamp = Some(1_001);
        assert_ne!(record_digest(&a), record_digest(&c));
        let mut m = OffsetMap::default();
        m.push(0, 0).unwrap();
        let mut t = a.clone();
        t.offset = 0;
        assert_eq!(compare(&m, Some(&a), Some(&t)), None);
        let d = compare(&m, Some(&a), Some(&c)).unwrap();
        assert_eq!(d.what, "timestamp differ");
        assert!(compare(&m, Some(&a), None).is_some());
    }

    #[test]
    fn token_bucket_holds_the_rate() {
        let mut b = TokenBucket::new(1_000_000);
        let mut now = 0.0;
        for _ in 0..1_000 {
            now += b.take(now, 10_000);
        }
        // 10 MB at 1 MB/s: about 10 s (the first burst is not free: the bucket starts empty).
        assert!((9.9..=10.1).contains(&now), "{now}");
    }

    fn topic(name: &str, parts: i32, compact: bool) -> SourceTopic {
        let mut configs = BTreeMap::new();
        if compact {
            configs.insert("cleanup.policy".into(), "compact".into());
        }
        configs.insert("retention.ms".into(), "86400000".into());
        configs.insert("segment.bytes".into(), "1048576".into());
        SourceTopic {
            name: name.into(),
            partitions: parts,
            bytes: 1_000_000,
            offsets: 1_000,
            configs,
        }
    }

    #[test]
    fn preflight_lists_every_problem_at_once() {
        let input = PreflightInput {
            topics: vec![
                topic("a", 3, false),
                topic("c", 2, true),
                topic("d", 4, false),
            ],
            target_topics: BTreeMap::from([(
                "d".to_string(),
                TargetTopic {
                    partitions: 2,
                    records: 5,
                },
            )]),
            target_apis: [0, 1, 2, 3, 22, 8, 9, 19].into_iter().collect(),
            journaled: BTreeSet::new(),
            allow_compacted: false,
        };
        let p = preflight(&input, None).unwrap_err();
        let msgs: Vec<_> = p.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(p.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("compacted"));
        assert!(msgs[1].contains("2 partitions on the target and 4"));
        assert!(msgs[2].contains("5 records"));
        let ok = PreflightInput {
            allow_compacted: true,
            target_topics: BTreeMap::new(),
            ..input
        };
        let plan = preflight(&ok, Some(500_000)).unwrap();
        assert_eq!(plan.partitions, 9);
        assert_eq!(plan.predicted_seconds, Some(6.0));
        assert_eq!(plan.warnings.len(), 1, "DescribeGroups missing");
        assert_eq!(
            plan.topics[0].configs.keys().collect::<Vec<_>>(),
            ["retention.ms"]
        );
    }

    #[test]
    fn translation_refuses_what_is_not_copied_yet() {
        let mut m = OffsetMap::default();
        for s in 0..10 {
            m.push(s + 5, s).unwrap();
        }
        let parts = BTreeMap::from([(
            ("t".to_string(), 0),
            PartitionView {
                map: &m,
                target_base: 0,
                caught_up_to: 15,
            },
        )]);
        let ok = translate_group("g", &BTreeMap::from([(("t".into(), 0), 8)]), &parts).unwrap();
        assert_eq!(ok[0].target, 3);
        let end = translate_group("g", &BTreeMap::from([(("t".into(), 0), 15)]), &parts).unwrap();
        assert_eq!(end[0].target, 10);
        let err = translate_group("g", &BTreeMap::from([(("t".into(), 0), 16)]), &parts);
        assert!(err.unwrap_err()[0]
            .message
            .contains("complete only up to 15"));
    }
}
