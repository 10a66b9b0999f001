//! Classic → KIP-405 tiered storage, planned (pure): preflight checks, waves, the bytes each
//! wave uploads and its time at the tier throttle, local bytes per broker before and after, and
//! when a partition counts as tiered.
//!
//! Why waves: every closed segment of a topic is uploaded as soon as `remote.storage.enable` is
//! set, so turning a whole cluster on at once is one long upload burst competing with producers
//! for disk and network (seed 003). Waves bound the burst, and the KIP-956 copy quota bounds
//! each broker's rate inside a wave. Waves go smallest first: the first one is a quick canary.

use crate::assign::{self, Cluster, PlanOptions};
use crate::execute::scheduler::{bound_secs, Move};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub const REMOTE_ENABLE: &str = "remote.storage.enable";

pub const LOCAL_RETENTION_MS: &str = "local.retention.ms";

pub const LOCAL_RETENTION_BYTES: &str = "local.retention.bytes";

pub const RETENTION_MS: &str = "retention.ms";

pub const RETENTION_BYTES: &str = "retention.bytes";

pub const SEGMENT_BYTES: &str = "segment.bytes";

pub const CLEANUP_POLICY: &str = "cleanup.policy";

pub const COPY_DISABLE: &str = "remote.log.copy.disable";

pub const DELETE_ON_DISABLE: &str = "remote.log.delete.on.disable";

/// KIP-956: bytes per second a broker may upload to the remote store.
pub const COPY_QUOTA: &str = "remote.log.manager.copy.max.bytes.per.second";

/// Static broker config: the broker runs a remote log manager.
pub const SYSTEM_ENABLE: &str = "remote.log.storage.system.enable";

/// Seed 003: segments of about 100 MiB upload from page cache and keep rebalances short.
pub const RECOMMENDED_SEGMENT_BYTES: u64 = 100 << 20;

/// Kafka's default segment.bytes, for topics that do not say.
const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;

/// How much each partition keeps on local disk once tiered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalRetention {
    /// `local.retention.ms`
    Ms(u64),
    /// `local.retention.bytes` (per partition)
    Bytes(u64),
}

impl LocalRetention {
    /// The topic config that carries it, and its value.
    pub fn config(self) -> (&'static str, String) {
        match self {
            Self::Ms(ms) => (LOCAL_RETENTION_MS, ms.to_string()),
            Self::Bytes(b) => (LOCAL_RETENTION_BYTES, b.to_string()),
        }
    }
}

/// How waves are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaveSize {
    /// At most this many topics per wave.
    Topics(usize),
    /// At most this many bytes uploaded per wave (a larger topic is a wave of its own).
    Bytes(u64),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierOptions {
    pub local_retention: LocalRetention,
    /// KIP-956 copy quota per broker, bytes/s, for the migration's duration.
    pub tier_throttle: u64,
    pub wave: WaveSize,
    /// Set `segment.bytes` on the migrated topics (new segments only).
    pub set_segment_bytes: Option<u64>,
    /// Brokers to drain once every wave is tiered.
    pub drain_brokers: BTreeSet<i32>,
    /// Replication throttle per broker for the drain, bytes/s.
    pub throttle: Option<u64>,
}

/// One partition as read before any change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub leader: Option<i32>,
    /// Bytes of its local log (the largest of its replicas').
    pub local_bytes: u64,
    pub log_start: i64,
    pub log_end: i64,
    /// With a time-based local retention: the first offset at or after now − retention
    /// (-1: no record that new), to price what stays local.
    pub offset_at_cutoff: Option<i64>,
}

impl PartitionState {
    /// Average bytes per record (for turning offset lags into bytes).
    pub fn bytes_per_record(&self) -> f64 {
        let n = (self.log_end - self.log_start).max(0);
        if n == 0 {
            0.0
        } else {
            self.local_bytes as f64 / n as f64
        }
    }
}

/// A broker as read before any change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerState {
    pub id: i32,
    pub rack: Option<String>,
    /// `remote.log.storage.system.enable` (None: the broker did not say).
    pub tiered: Option<bool>,
    /// Usable bytes of its log dirs (None: the broker did not say).
    pub usable_bytes: Option<u64>,
}

/// Everything the plan needs, read through the admin trait.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TierInput {
    /// The whole cluster (all topics), with partition sizes: the drain plans over it.
    pub cluster: Cluster,
    pub brokers: Vec<BrokerState>,
    /// The selected topics' configs (all of them, as DescribeConfigs answers).
    pub topic_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The selected topics' partitions.
    pub partitions: Vec<PartitionState>,
    /// Reassignments running now (`topic-partition`).
    pub ongoing_reassignments: Vec<String>,
}

/// A problem that stops the migration before any change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub what: String,
    pub hint: String,
}

/// The segment size a topic uses.
pub fn segment_bytes(configs: &BTreeMap<String, String>) -> u64 {
    configs
        .get(SEGMENT_BYTES)
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_SEGMENT_BYTES)
}

fn config_i64(configs: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    configs.get(key).and_then(|v| v.parse().ok())
}

pub fn is_tiered(configs: &BTreeMap<String, String>) -> bool {
    configs.get(REMOTE_ENABLE).is_some_and(|v| v == "true")
}

/// Every reason not to start, all at once (empty: go).
pub fn preflight(input: &TierInput, opts: &TierOptions) -> Vec<Problem> {
    let mut out = Vec::new();
    if input.topic_configs.is_empty() {
        out.push(Problem {
            what: "no topic matches --topics".into(),
            hint: "list topics with `streamctl snapshot` and write a regular expression that matches them".into(),
        });
    }
    // Brokers that host a selected topic but run no remote log manager.
    let hosting: BTreeSet<i32> = input
        .partitions
        .iter()
        .flat_map(|p| p.replicas.iter().copied())
        .collect();
    let lacking: Vec<i32> = input
        .brokers
        .iter()
        .filter(|b| hosting.contains(&b.id) && b.tiered != Some(true))
        .map(|b| b.id)
        .collect();
    if !lacking.is_empty() {
        out.push(Problem {
            what: format!(
                "broker(s) {lacking:?} host selected topics but do not have tiered storage enabled ({SYSTEM_ENABLE} is not true)"
            ),
            hint: format!(
                "roll those brokers (and the KRaft controllers, which validate topic configs) with {SYSTEM_ENABLE}=true and a remote storage manager: `streamctl render` writes that server.properties for a tiered spec"
            ),
        });
    }
    for (topic, cfg) in &input.topic_configs {
        let policy = cfg
            .get(CLEANUP_POLICY)
            .map(String::as_str)
            .unwrap_or("delete");
        if policy.split(',').any(|p| p.trim() == "compact") {
            out.push(Problem {
                what: format!("topic {topic} is compacted (cleanup.policy={policy}): KIP-405 tiers only delete-policy topics"),
                hint: "leave compacted topics out of --topics (they stay on local disk)".into(),
            });
            continue;
        }
        match opts.local_retention {
            LocalRetention::Ms(ms) => {
                let r = config_i64(cfg, RETENTION_MS).unwrap_or(604_800_000);
                if r >= 0 && ms as i64 >= r {
                    out.push(Problem {
                        what: format!("topic {topic}: --local-retention ({ms} ms) is not below its retention.ms ({r})"),
                        hint: "local retention must be shorter than the topic's retention, or nothing would ever leave local disk".into(),
                    });
                }
            }
            LocalRetention::Bytes(b) => {
                let r = config_i64(cfg, RETENTION_BYTES).unwrap_or(-1);
                if r >= 0 && b as i64 >= r {
                    out.push(Problem {
                        what: format!("topic {topic}: --local-retention-bytes ({b}) is not below its retention.bytes ({r})"),
                        hint: "local retention must be smaller than the topic's retention".into(),
                    });
                }
            }
        }
    }
    if !input.ongoing_reassignments.is_empty() {
        let some: Vec<&str> = input
            .ongoing_reassignments
            .iter()
            .take(5)
            .map(String::as_str)
            .collect();
        out.push(Problem {
            what: format!(
                "{} reassignment(s) are running ({})",
                input.ongoing_reassignments.len(),
                some.join(", ")
            ),
            hint: "wait for them (`streamctl reassign --verify`, kafka-reassign-partitions.sh --list) before migrating".into(),
        });
    }
    let known: BTreeSet<i32> = input.brokers.iter().map(|b| b.id).collect();
    let unknown: Vec<i32> = opts
        .drain_brokers
        .iter()
        .filter(|b| !known.contains(b))
        .copied()
        .collect();
    if !unknown.is_empty() {
        out.push(Problem {
            what: format!("--drain-brokers {unknown:?}: no such broker"),
            hint: "name brokers by their node.id (`streamctl snapshot` lists them)".into(),
        });
    }
    out
}

/// Bytes a partition keeps locally once tiered and its retention has run: what local retention
/// keeps plus the active segment (never uploaded, never deleted).
pub fn target_local_bytes(p: &PartitionState, retention: LocalRetention, segment: u64) -> u64 {
    let kept = match retention {
        LocalRetention::Bytes(b) => b,
        LocalRetention::Ms(_) => match p.offset_at_cutoff {
            Some(o) if o >= 0 => {
                ((p.log_end - o.max(p.log_start)).max(0) as f64 * p.bytes_per_record()) as u64
            }
            Some(_) => 0,
            None => p.local_bytes,
        },
    };
    p.local_bytes.min(kept.saturating_add(segment))
}

/// Bytes a partition uploads when tiering starts: every closed segment (the active one, about
/// the remainder of a segment, stays).
pub fn upload_bytes(p: &PartitionState, segment: u64) -> u64 {
    p.local_bytes - p.local_bytes % segment.max(1)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wave {
    pub index: usize,
    pub topics: Vec<String>,
    pub partitions: usize,
    pub upload_bytes: u64,
    /// The busiest leader's upload bytes ÷ the tier throttle.
    pub predicted_seconds: f64,
    /// Upload bytes by leader broker.
    pub upload_by_broker: BTreeMap<i32, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerLocal {
    pub id: i32,
    pub rack: Option<String>,
    pub local_bytes_before: u64,
    pub local_bytes_after: u64,
    pub drained: bool,
}

/// The drain after tiering, priced by local bytes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DrainEstimate {
    pub brokers: Vec<i32>,
    pub partitions: u64,
    pub bytes_moved: u64,
    /// What the same drain would copy before tiering (all bytes).
    pub bytes_moved_untiered: u64,
    pub predicted_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierPlan {
    pub waves: Vec<Wave>,
    /// Selected topics already tiered (left as they are).
    pub already_tiered: Vec<String>,
    pub upload_bytes: u64,
    pub predicted_seconds: f64,
    pub tier_throttle_bytes_per_sec: u64,
    pub brokers: Vec<BrokerLocal>,
    /// Topic configs each wave sets (topic, key, value).
    pub configs: Vec<(String, String, String)>,
    /// Advice that does not stop the migration (segment size, disk).
    pub advice: Vec<String>,
    pub drain: Option<DrainEstimate>,
    /// Brokers without the disk the plan needs (stop the migration like preflight problems).
    pub disk_problems: Vec<Problem>,
}

/// The configs a migrated topic gets.
pub fn topic_ops(opts: &TierOptions) -> Vec<(String, String)> {
    let mut ops = vec![(REMOTE_ENABLE.to_string(), "true".to_string())];
    let (k, v) = opts.local_retention.config();
    ops.push((k.to_string(), v));
    if let Some(s) = opts.set_segment_bytes {
        ops.push((SEGMENT_BYTES.to_string(), s.to_string()));
    }
    ops
}

/// Topics per wave when neither `--wave-topics` nor `--wave-bytes` is given.
pub const DEFAULT_WAVE_TOPICS: usize = 10;

/// The waves alone (what [`plan`] cuts), for a prediction made before the migration's own
/// reading (`assess`): only the partitions and topic configs of `input` are used.
pub fn waves(input: &TierInput, opts: &TierOptions) -> Vec<Wave> {
    cut_waves(&topics_to_tier(input).0, opts)
}

/// Cut the waves and price them. Call after [`preflight`] found nothing.
pub fn plan(input: &TierInput, opts: &TierOptions) -> Result<TierPlan, String> {
    let (todo, already) = topics_to_tier(input);
    let waves = cut_waves(&todo, opts);
    let after_cluster = tiered_cluster(input, opts, &already);
    let per_broker = |c: &Cluster| {
        let mut m: BTreeMap<i32, u64> = BTreeMap::new();
        for p in &c.partitions {
            for &r in &p.replicas {
                *m.entry(r).or_default() += p.move_bytes();
            }
        }
        m
    };
    let before = per_broker(&input.cluster);
    let after = per_broker(&after_cluster);
    let mut disk_problems = Vec::new();
    let drain = drain_estimate(input, &after_cluster, opts, &mut disk_problems)?;
    let advice = segment_advice(input, opts, &todo);
    let mut configs = Vec::new();
    for w in &waves {
        for t in &w.topics {
            for (k, v) in topic_ops(opts) {
                configs.push((t.clone(), k, v));
            }
        }
    }
    let brokers = input
        .brokers
        .iter()
        .map(|b| BrokerLocal {
            id: b.id,
            rack: b.rack.clone(),
            local_bytes_before: before.get(&b.id).copied().unwrap_or(0),
            local_bytes_after: if opts.drain_brokers.contains(&b.id) {
                0
            } else {
                after.get(&b.id).copied().unwrap_or(0)
            },
            drained: opts.drain_brokers.contains(&b.id),
        })
        .collect();
    Ok(TierPlan {
        upload_bytes: waves.iter().map(|w| w.upload_bytes).sum(),
        predicted_seconds: waves.iter().map(|w| w.predicted_seconds).sum(),
        tier_throttle_bytes_per_sec: opts.tier_throttle,
        waves,
        already_tiered: already,
        brokers,
        configs,
        advice,
        drain,
        disk_problems,
    })
}

/// A topic to tier: its upload bytes, by leader, and its partition count.
struct Todo<'a> {
    topic: &'a str,
    upload: u64,
    by_leader: BTreeMap<i32, u64>,
    partitions: usize,
}

/// The topics still to tier (with what each uploads, by leader), and those tiered already.
fn topics_to_tier(input: &TierInput) -> (Vec<Todo<'_>>, Vec<String>) {
    let mut by_topic: BTreeMap<&str, Vec<&PartitionState>> = BTreeMap::new();
    for p in &input.partitions {
        by_topic.entry(p.topic.as_str()).or_default().push(p);
    }
    let mut already = Vec::new();
    let mut todo: Vec<Todo> = Vec::new();
    for (topic, cfg) in &input.topic_configs {
        if is_tiered(cfg) {
            already.push(topic.clone());
            continue;
        }
        let seg = segment_bytes(cfg);
        let mut by_leader: BTreeMap<i32, u64> = BTreeMap::new();
        let parts = by_topic.get(topic.as_str()).cloned().unwrap_or_default();
        for p in &parts {
            let l = p.leader.or(p.replicas.first().copied()).unwrap_or(-1);
            *by_leader.entry(l).or_default() += upload_bytes(p, seg);
        }
        todo.push(Todo {
            topic,
            upload: by_leader.values().sum(),
            by_leader,
            partitions: parts.len(),
        });
    }
    // Smallest first (a quick canary), then by name.
    todo.sort_by(|a, b| (a.upload, a.topic).cmp(&(b.upload, b.topic)));
    (todo, already)
}

/// Waves of topics, smallest first (a quick canary), each at most `--wave-topics` topics or
/// `--wave-bytes` of uploads, priced at the tier throttle (the busiest leader sets a wave's time).
fn cut_waves(todo: &[Todo], opts: &TierOptions) -> Vec<Wave> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut acc = 0u64;
    for (i, t) in todo.iter().enumerate() {
        let start_new = match (groups.last(), opts.wave) {
            (None, _) => true,
            (Some(g), WaveSize::Topics(n)) => g.len() >= n.max(1),
            (Some(_), WaveSize::Bytes(b)) => acc > 0 && acc + t.upload > b,
        };
        if start_new {
            groups.push(Vec::new());
            acc = 0;
        }
        groups.last_mut().expect("pushed").push(i);
        acc += t.upload;
    }
    let rate = opts.tier_throttle.max(1) as f64;
    groups
        .iter()
        .enumerate()
        .map(|(index, g)| {
            let mut by_broker: BTreeMap<i32, u64> = BTreeMap::new();
            for &i in g {
                for (b, x) in &todo[i].by_leader {
                    *by_broker.entry(*b).or_default() += x;
                }
            }
            Wave {
                index: index + 1,
                topics: g.iter().map(|&i| todo[i].topic.to_string()).collect(),
                partitions: g.iter().map(|&i| todo[i].partitions).sum(),
                upload_bytes: by_broker.values().sum(),
                predicted_seconds: by_broker
                    .values()
                    .map(|&x| x as f64 / rate)
                    .fold(0.0, f64::max),
                upload_by_broker: by_broker,
            }
        })
        .collect()
}

/// The cluster after tiering: every replica of a migrated partition shrunk to its local target.
fn tiered_cluster(input: &TierInput, opts: &TierOptions, already: &[String]) -> Cluster {
    let mut after_cluster = input.cluster.clone();
    let targets: BTreeMap<(&str, i32), u64> = input
        .partitions
        .iter()
        .filter(|p| !already.contains(&p.topic))
        .map(|p| {
            let seg = segment_bytes(&input.topic_configs[&p.topic]);
            (
                (p.topic.as_str(), p.partition),
                target_local_bytes(p, opts.local_retention, seg),
            )
        })
        .collect();
    for p in &mut after_cluster.partitions {
        if let Some(&t) = targets.get(&(p.topic.as_str(), p.partition)) {
            p.local_size_bytes = Some(t);
        }
    }
    after_cluster
}

/// The drain's size and time after tiering (and before, for comparison); a receiving broker
/// without room for what it receives is a disk problem.
fn drain_estimate(
    input: &TierInput,
    after_cluster: &Cluster,
    opts: &TierOptions,
    disk_problems: &mut Vec<Problem>,
) -> Result<Option<DrainEstimate>, String> {
    Ok(if opts.drain_brokers.is_empty() {
        None
    } else {
        let moves = drain_plan(after_cluster, &opts.drain_brokers)?;
        let untiered = drain_plan(&input.cluster, &opts.drain_brokers)?;
        // The brokers that receive the drained replicas need the room for them.
        let mut incoming: BTreeMap<i32, u64> = BTreeMap::new();
        for m in &moves {
            for b in m.adding() {
                *incoming.entry(b).or_default() += m.bytes;
            }
        }
        for (id, bytes_in) in incoming {
            let usable = input
                .brokers
                .iter()
                .find(|b| b.id == id)
                .and_then(|b| b.usable_bytes);
            if let Some(usable) = usable.filter(|&u| bytes_in > u) {
                disk_problems.push(Problem {
                    what: format!(
                        "broker {id} would receive {bytes_in} bytes in the drain but has {usable} usable"
                    ),
                    hint: "drain fewer brokers, add brokers, or lower --local-retention first"
                        .into(),
                });
            }
        }
        Some(DrainEstimate {
            brokers: opts.drain_brokers.iter().copied().collect(),
            partitions: moves.len() as u64,
            bytes_moved: moves.iter().map(Move::copy_bytes).sum(),
            bytes_moved_untiered: untiered.iter().map(Move::copy_bytes).sum(),
            predicted_seconds: opts
                .throttle
                .map(|t| bound_secs(moves.iter(), |_| t as f64)),
        })
    })
}

/// Advice on segments above 100 MiB (uploads read whole segments).
fn segment_advice(input: &TierInput, opts: &TierOptions, todo: &[Todo]) -> Vec<String> {
    let mut advice = Vec::new();
    let big: Vec<&str> = todo
        .iter()
        .map(|t| t.topic)
        .filter(|t| segment_bytes(&input.topic_configs[*t]) > RECOMMENDED_SEGMENT_BYTES)
        .collect();
    if !big.is_empty() && opts.set_segment_bytes.is_none() {
        advice.push(format!(
            "{} topic(s) use segments above 100 MiB ({}): each upload then reads a whole large segment, mostly from disk rather than page cache, and closes in bursts; --set-segment-bytes 100MiB sets 100 MiB segments (seed 003) for new segments",
            big.len(),
            big.iter().take(5).copied().collect::<Vec<_>>().join(", ")
        ));
    }
    advice
}

/// The drain, planned: every replica on a drained broker is replaced by the broker the AZ-aware
/// planner picks for it (same AZ first), and nothing else moves — no rebalancing on the side, so
/// a drain costs exactly its drained replicas' local bytes. The leader keeps its place unless it
/// is drained (its replacement takes it).
pub fn drain_plan(cluster: &Cluster, drain: &BTreeSet<i32>) -> Result<Vec<Move>, String> {
    let sub = Cluster {
        brokers: cluster.brokers.clone(),
        partitions: cluster
            .partitions
            .iter()
            .filter(|p| p.replicas.iter().any(|r| drain.contains(r)))
            .cloned()
            .collect(),
    };
    let popts = PlanOptions {
        remove_brokers: drain.clone(),
        ..Default::default()
    };
    let plan =
        assign::plan(&sub, &popts).map_err(|e| format!("the drain cannot be planned: {e}"))?;
    let rack: BTreeMap<i32, Option<&str>> = cluster
        .brokers
        .iter()
        .map(|b| (b.id, b.rack.as_deref()))
        .collect();
    let mut moves = Vec::new();
    for (i, planned) in &plan.changes {
        let p = &sub.partitions[*i];
        let mut added: Vec<i32> = planned
            .iter()
            .filter(|b| !p.replicas.contains(b))
            .copied()
            .collect();
        let mut to = Vec::with_capacity(p.replicas.len());
        for &r in &p.replicas {
            if !drain.contains(&r) {
                to.push(r);
                continue;
            }
            // The replacement in the same AZ if the planner chose one, else any it chose.
            let pick = added
                .iter()
                .position(|b| rack.get(b) == rack.get(&r))
                .or(if added.is_empty() { None } else { Some(0) })
                .ok_or_else(|| {
                    format!(
                        "the drain cannot be planned: no broker takes {}-{}'s replica on broker {r}",
                        p.topic, p.partition
                    )
                })?;
            to.push(added.remove(pick));
        }
        moves.push(Move {
            topic: p.topic.clone(),
            partition: p.partition,
            from: p.replicas.clone(),
            to,
            bytes: p.move_bytes(),
        });
    }
    moves.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    Ok(moves)
}

/// Where one partition stands while its wave runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PartitionProgress {
    /// Records not yet in the remote store.
    pub lag_records: i64,
    /// The same in bytes (estimated from the partition's average record size).
    pub lag_bytes: u64,
    /// Bytes uploaded since the wave started (estimated the same way).
    pub uploaded_bytes: u64,
    pub local_bytes: u64,
    pub target_local_bytes: u64,
    pub done: bool,
}

/// A partition as recorded when its wave started (journaled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub topic: String,
    pub partition: i32,
    pub leader: Option<i32>,
    pub local_bytes: u64,
    pub log_start: i64,
    pub log_end: i64,
    pub latest_tiered: i64,
    pub bytes_per_record: f64,
    pub segment_bytes: u64,
    pub target_local_bytes: u64,
    pub upload_bytes: u64,
}

/// How far the remote store may trail the log end and still count as tiered: the active segment
/// (never uploaded), with room for records a little larger than the average.
pub const LAG_SEGMENTS: f64 = 1.5;

/// A partition is tiered when the remote store trails the log end by no more than the active
/// segment and local retention has brought its local bytes down to the target.
pub fn progress(
    b: &Baseline,
    latest_tiered: i64,
    log_end: i64,
    local_bytes: u64,
) -> PartitionProgress {
    let lag = (log_end - (latest_tiered + 1)).max(0);
    let lag_bytes = (lag as f64 * b.bytes_per_record) as u64;
    let from = (b.latest_tiered + 1).max(b.log_start);
    let uploaded = (((latest_tiered + 1) - from).max(0) as f64 * b.bytes_per_record) as u64;
    let done = lag_bytes as f64 <= LAG_SEGMENTS * b.segment_bytes as f64
        && local_bytes <= b.target_local_bytes.max(b.segment_bytes);
    PartitionProgress {
        lag_records: lag,
        lag_bytes,
        uploaded_bytes: uploaded,
        local_bytes,
        target_local_bytes: b.target_local_bytes,
        done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assign::{Broker, PartitionAssignment};

    fn part(topic: &str, partition: i32, replicas: &[i32], bytes: u64) -> PartitionState {
        PartitionState {
            topic: topic.into(),
            partition,
            replicas: replicas.to_vec(),
            leader: replicas.first().copied(),
            local_bytes: bytes,
            log_start: 0,
            log_end: (bytes / 1000) as i64,
            offset_at_cutoff: None,
        }
    }

    /// A topic for [`input`]: name, bytes per partition, configs.
    type TopicSpec<'a> = (&'a str, u64, &'a [(&'a str, &'a str)]);

    fn input(topics: &[TopicSpec]) -> TierInput {
        let mut i = TierInput::default();
        for b in 1..=6 {
            let rack = ["a", "b", "c"][(b as usize - 1) % 3];
            i.cluster.brokers.push(Broker {
                id: b,
                rack: Some(rack.into()),
                offline: false,
                capacity_bytes: None,
            });
            i.brokers.push(BrokerState {
                id: b,
                rack: Some(rack.into()),
                tiered: Some(true),
                usable_bytes: None,
            });
        }
        for (t, bytes, cfg) in topics {
            let mut c: BTreeMap<String, String> = cfg
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            c.entry(SEGMENT_BYTES.into())
                .or_insert_with(|| (1u64 << 20).to_string());
            i.topic_configs.insert(t.to_string(), c);
            for p in 0..3 {
                let replicas = [[1, 2, 3], [2, 3, 4], [3, 4, 5]][p as usize];
                i.partitions.push(part(t, p, &replicas, *bytes));
                i.cluster.partitions.push(PartitionAssignment {
                    topic: t.to_string(),
                    partition: p,
                    replicas: replicas.to_vec(),
                    size_bytes: Some(*bytes),
                    local_size_bytes: None,
                });
            }
        }
        i
    }

    fn opts() -> TierOptions {
        TierOptions {
            local_retention: LocalRetention::Bytes(1 << 20),
            tier_throttle: 1 << 20,
            wave: WaveSize::Topics(1),
            set_segment_bytes: None,
            drain_brokers: BTreeSet::new(),
            throttle: None,
        }
    }

    #[test]
    fn preflight_names_every_problem_at_once() {
        let mut i = input(&[
            ("logs", 10 << 20, &[]),
            ("state", 1 << 20, &[(CLEANUP_POLICY, "compact")]),
            ("short", 1 << 20, &[(RETENTION_BYTES, "1000")]),
        ]);
        i.brokers[2].tiered = Some(false);
        i.ongoing_reassignments.push("x-0".into());
        let mut o = opts();
        o.drain_brokers.insert(42);
        let p = preflight(&i, &o);
        let text: Vec<&str> = p.iter().map(|p| p.what.as_str()).collect();
        assert_eq!(p.len(), 5, "{text:#?}");
        assert!(text[0].contains("broker(s) [3]"));
        assert!(text.iter().any(|t| t.contains("topic state is compacted")));
        assert!(text.iter().any(|t| t.contains("topic short")));
        assert!(text.iter().any(|t| t.contains("reassignment")));
        assert!(text.iter().any(|t| t.contains("[42]")));
        assert!(preflight(&input(&[("logs", 1, &[])]), &opts()).is_empty());
    }

    #[test]
    fn time_retention_must_be_below_topic_retention() {
        let i = input(&[("t", 1, &[(RETENTION_MS, "3600000")])]);
        let mut o = opts();
        o.local_retention = LocalRetention::Ms(3_600_000);
        assert_eq!(preflight(&i, &o).len(), 1);
        o.local_retention = LocalRetention::Ms(60_000);
        assert!(preflight(&i, &o).is_empty());
    }

    #[test]
    fn waves_go_smallest_first_and_respect_their_size() {
        let i = input(&[
            ("big", 30 << 20, &[]),
            ("small", 3 << 20, &[]),
            ("mid", 10 << 20, &[]),
            ("done", 1, &[(REMOTE_ENABLE, "true")]),
        ]);
        let p = plan(&i, &opts()).unwrap();
        let order: Vec<&str> = p.waves.iter().map(|w| w.topics[0].as_str()).collect();
        assert_eq!(order, ["small", "mid", "big"]);
        assert_eq!(p.already_tiered, ["done"]);
        // 3 partitions of 3 MiB, 1 MiB segments: all closed segments upload (3 MiB each, the
        // whole partition here as it is an exact multiple); leaders 1, 2, 3 each upload one.
        assert_eq!(p.waves[0].upload_bytes, 9 << 20);
        assert!((p.waves[0].predicted_seconds - 3.0).abs() < 1e-9);
        let mut o = opts();
        o.wave = WaveSize::Bytes(40 << 20);
        let p = plan(&i, &o).unwrap();
        assert_eq!(p.waves.len(), 2, "9+30 MiB fit in one, 90 MiB alone");
        assert_eq!(p.waves[0].topics, ["small", "mid"]);
        o.wave = WaveSize::Topics(10);
        assert_eq!(plan(&i, &o).unwrap().waves.len(), 1);
    }

    #[test]
    fn local_bytes_fall_to_retention_plus_the_active_segment() {
        let i = input(&[("t", 10 << 20, &[])]);
        let p = plan(&i, &opts()).unwrap();
        let b1 = p.brokers.iter().find(|b| b.id == 1).unwrap();
        assert_eq!(b1.local_bytes_before, 10 << 20);
        assert_eq!(b1.local_bytes_after, 2 << 20);
        // Time-based: what is newer than the cutoff, plus a segment.
        let mut q = part("t", 0, &[1], 10_000_000);
        q.offset_at_cutoff = Some(9_000);
        assert_eq!(
            target_local_bytes(&q, LocalRetention::Ms(1), 1_000_000),
            2_000_000
        );
        q.offset_at_cutoff = Some(-1);
        assert_eq!(
            target_local_bytes(&q, LocalRetention::Ms(1), 1_000_000),
            1_000_000
        );
    }

    #[test]
    fn a_drain_after_tiering_moves_local_bytes_only() {
        let i = input(&[("t", 50 << 20, &[])]);
        let mut o = opts();
        o.drain_brokers = [1, 2].into();
        o.throttle = Some(1 << 20);
        let d = plan(&i, &o).unwrap().drain.unwrap();
        assert!(d.bytes_moved < d.bytes_moved_untiered / 10, "{d:?}");
        // Exactly the drained replicas move: 3 replicas on brokers 1 and 2, at 2 MiB local each.
        assert_eq!(d.bytes_moved, 3 * (2 << 20), "{d:?}");
        let moves = drain_plan(&i.cluster, &o.drain_brokers).unwrap();
        for m in &moves {
            let kept: Vec<i32> = m
                .from
                .iter()
                .copied()
                .filter(|b| ![1, 2].contains(b))
                .collect();
            assert!(
                kept.iter().all(|b| m.to.contains(b)),
                "{m:?} moved a replica it did not have to"
            );
            assert!(m.to.iter().all(|b| ![1, 2].contains(b)), "{m:?}");
        }
        assert!(d.predicted_seconds.unwrap() > 0.0);
    }

    #[test]
    fn progress_needs_both_the_upload_and_the_local_cleanup() {
        let b = Baseline {
            topic: "t".into(),
            partition: 0,
            leader: Some(1),
            local_bytes: 10_000_000,
            log_start: 0,
            log_end: 10_000,
            latest_tiered: -1,
            bytes_per_record: 1000.0,
            segment_bytes: 1_000_000,
            target_local_bytes: 2_000_000,
            upload_bytes: 9_000_000,
        };
        let p = progress(&b, 4_999, 10_000, 10_000_000);
        assert_eq!(p.uploaded_bytes, 5_000_000);
        assert!(!p.done);
        assert!(
            !progress(&b, 9_499, 10_000, 10_000_000).done,
            "uploaded, not cleaned up"
        );
        assert!(progress(&b, 9_499, 10_000, 1_500_000).done);
        assert!(
            !progress(&b, 7_000, 10_000, 1_500_000).done,
            "cleaned, still lagging"
        );
    }
}
