//! `streamctl assess` (pure): what a live cluster does, measured over a sample window, sized
//! into its successors (classic, KIP-405 tiered, diskless) with the seeds' models, next to the
//! cluster as it stands; and the migration steps with their flags and predicted durations.
//!
//! The command reads the cluster into [`Observed`] (two readings of every topic, a window
//! apart); [`assess`] turns that into an [`Assessment`]; [`successor_spec`] writes a successor
//! as a `cluster.yaml` that `streamctl validate` accepts.

pub mod read;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::assign::tolerance::ToleranceReport;
use crate::assign::PartitionAssignment;
use crate::sizing::catalog::Catalog;
use crate::sizing::models::{
    estimate, BrokerResources, ConsumerGroups, DisklessParams, StorageModel, ThroughputInput,
    DAY_SECS, MIB,
};
use crate::sizing::recommend::{recommend, Layout, RecommendOptions, Recommendation, Workload};
use crate::spec::{
    AvailabilityZones, ClusterSpec, ConsumerGroupsSpec, Distribution, Flavor, Network, NodeGroup,
    ObjectStore, PickAzs, Role, WorkloadSpec,
};

/// One reading of a topic: summed over its partitions, the bytes of one replica (the largest,
/// as DescribeLogDirs reports them), the log start offsets and the log end offsets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reading {
    pub bytes: u64,
    pub log_start: i64,
    pub log_end: i64,
}

/// A topic as read at both ends of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicSample {
    pub topic: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// Its configs in effect (retention.ms, retention.bytes, cleanup.policy, segment.bytes,
    /// remote.storage.enable, local.retention.ms, min.insync.replicas, ...).
    pub configs: BTreeMap<String, String>,
    pub start: Reading,
    pub end: Reading,
}

/// A consumer group: members now, and its lag summed over what it has committed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSample {
    pub group: String,
    pub members: usize,
    pub lag_records: i64,
    pub topics: Vec<String>,
}

/// A broker: rack, bytes it holds, its disk (when the broker reports it), whether it has
/// remote storage (KIP-405) enabled, and the intervals that pace tiering on it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerSample {
    pub id: i32,
    pub rack: Option<String>,
    pub bytes: u64,
    pub disk_total_bytes: Option<u64>,
    pub remote_storage: bool,
    /// `remote.log.manager.task.interval.ms`: how often a leader's copy task looks for closed
    /// segments to upload (None: the broker did not say; Kafka's default is 30 s).
    pub remote_task_interval_ms: Option<u64>,
    /// `log.retention.check.interval.ms`: how often local retention deletes uploaded segments
    /// (None: the broker did not say; Kafka's default is 5 min).
    pub retention_check_interval_ms: Option<u64>,
}

/// Everything `assess` read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub bootstrap: String,
    pub window_secs: f64,
    pub brokers: Vec<BrokerSample>,
    pub topics: Vec<TopicSample>,
    pub groups: Vec<GroupSample>,
    pub az_tolerance: ToleranceReport,
    /// The selected topics' partitions at the end of the window: replicas (the first, the
    /// preferred leader, is the one that uploads once tiered) and sizes.
    pub partitions: Vec<PartitionAssignment>,
}

/// What the assessment is asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AssessOptions {
    /// The current brokers' instance type, for the current cluster's throughput limit.
    pub instance_type: Option<String>,
    /// The current brokers' data volume throughput, MB/s (gp3 baseline 125, seed 001 assumes 250).
    pub volume_throughput_mbps: f64,
    /// How long segments stay on broker disks in the tiered successor (capped at the retention).
    pub local_retention_secs: u64,
    /// Retention to size for where a topic keeps everything (retention.ms = -1, no byte limit).
    pub unlimited_retention_secs: u64,
    pub recommend: RecommendOptions,
    /// The successors' name stem and region (specs written with `--write-dir`).
    pub name: String,
    pub region: String,
}

impl Default for AssessOptions {
    fn default() -> Self {
        Self {
            instance_type: None,
            volume_throughput_mbps: crate::sizing::models::DEFAULT_VOLUME_THROUGHPUT_MBPS,
            local_retention_secs: 4 * 3600,
            unlimited_retention_secs: 30 * DAY_SECS,
            recommend: RecommendOptions::default(),
            name: "assessed".into(),
            region: "us-east-1".into(),
        }
    }
}

/// One topic in the report. Stable field names (`--output json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopicRow {
    pub topic: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// Bytes of one replica of every partition at the end of the window.
    pub bytes: u64,
    pub bytes_per_sec: f64,
    pub records_per_sec: f64,
    /// `log-size` (the log grew by what was written) or `records-x-mean-size` (segments were
    /// deleted or compacted in the window, so the records written times the mean record size).
    pub measured_by: &'static str,
    /// The retention the sizing uses, seconds (`None`: the topic keeps everything).
    pub retention_secs: Option<u64>,
    pub cleanup_policy: String,
    pub segment_bytes: Option<u64>,
    /// `remote.storage.enable=true` already.
    pub tiered: bool,
}

/// A consumer group in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupRow {
    pub group: String,
    pub members: usize,
    pub lag_records: i64,
    /// `tip` (within a minute of the end: served from page cache) or `lagging` (reads disk).
    pub reads: &'static str,
}

/// The cluster as it stands, against the same model as its successors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Current {
    pub brokers: u32,
    pub azs: u32,
    pub instance_type: Option<String>,
    pub bytes: u64,
    pub disk_total_bytes: Option<u64>,
    pub disk_utilisation: Option<f64>,
    /// The classic model's limit for these brokers (with `--instance-type`), MB/s.
    pub sustained_limit_mbps: Option<f64>,
    pub recommended_mbps: Option<f64>,
    /// Measured ingress over the recommended rate (1.0 = at the headroom target).
    pub load: Option<f64>,
    /// `over-provisioned`, `about-right`, `under-provisioned` or `unknown` (no instance type).
    pub verdict: &'static str,
}

/// One migration step with its flags filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// `tiered` or `diskless`.
    pub successor: &'static str,
    pub what: String,
    pub command: String,
    /// Bytes the step moves and the rate it moves them at.
    pub bytes: u64,
    pub throttle_bytes_per_sec: u64,
    pub predicted_secs: f64,
    /// How `predicted_secs` was reckoned.
    pub predicted_how: String,
}

/// Which brokers can tier today.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TieredReadiness {
    pub ready: bool,
    pub brokers_enabled: Vec<i32>,
    pub brokers_not_enabled: Vec<i32>,
}

/// `assess --output json`. Stable field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub bootstrap: String,
    pub window_secs: f64,
    pub ingress_bytes_per_sec: f64,
    pub ingress_records_per_sec: f64,
    pub topics: Vec<TopicRow>,
    pub groups: Vec<GroupRow>,
    /// The workload the successors are sized for (absent when nothing was written in the window).
    pub workload: Option<Workload>,
    pub current: Current,
    pub successors: Option<Recommendation>,
    pub az_tolerance: ToleranceReport,
    pub tiered_readiness: TieredReadiness,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

/// A topic's rates over the window: bytes/s, records/s, and how the bytes were measured.
fn rates(t: &TopicSample, secs: f64) -> (f64, f64, &'static str) {
    let secs = secs.max(1e-3);
    let records = (t.end.log_end - t.start.log_end).max(0) as f64;
    let rps = records / secs;
    let grew = t.end.bytes as i64 - t.start.bytes as i64;
    if t.end.log_start == t.start.log_start && grew >= 0 {
        (grew as f64 / secs, rps, "log-size")
    } else {
        let held = (t.end.log_end - t.end.log_start).max(1) as f64;
        (rps * t.end.bytes as f64 / held, rps, "records-x-mean-size")
    }
}

fn config_i64(t: &TopicSample, key: &str) -> Option<i64> {
    t.configs.get(key).and_then(|v| v.trim().parse().ok())
}

/// The retention a topic's bytes are kept for, seconds (`None`: everything is kept).
fn retention_secs(t: &TopicSample, bytes_per_sec: f64) -> Option<u64> {
    let compact_only = t
        .configs
        .get("cleanup.policy")
        .is_some_and(|p| p.contains("compact") && !p.contains("delete"));
    if compact_only {
        // A compacted log holds its keys' latest values: about what it holds now.
        return (bytes_per_sec > 0.0).then(|| (t.end.bytes as f64 / bytes_per_sec) as u64);
    }
    let by_time = config_i64(t, "retention.ms")
        .filter(|&ms| ms >= 0)
        .map(|ms| ms as u64 / 1000);
    let by_bytes = config_i64(t, "retention.bytes")
        .filter(|&b| b >= 0 && bytes_per_sec > 0.0)
        .map(|b| (b as f64 * t.partitions as f64 / bytes_per_sec) as u64);
    match (by_time, by_bytes) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Assess what was observed (pure).
pub fn assess(o: &Observed, opts: &AssessOptions, catalog: &Catalog) -> Assessment {
    let mut notes = Vec::new();
    let mut topics = Vec::new();
    let (mut ingress, mut records) = (0.0f64, 0.0f64);
    // Retention weighted by each topic's ingress: the bytes on disk at steady state.
    let (mut held_secs, mut unlimited) = (0.0f64, Vec::new());
    let mut rf = 0u32;
    for t in &o.topics {
        let (bps, rps, how) = rates(t, o.window_secs);
        let retention = retention_secs(t, bps);
        ingress += bps;
        records += rps;
        if bps > 0.0 {
            rf = rf.max(t.replication_factor);
            let r = retention.unwrap_or_else(|| {
                unlimited.push(t.topic.clone());
                opts.unlimited_retention_secs
            });
            held_secs += bps * r as f64;
        }
        topics.push(TopicRow {
            topic: t.topic.clone(),
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            bytes: t.end.bytes,
            bytes_per_sec: bps,
            records_per_sec: rps,
            measured_by: how,
            retention_secs: retention,
            cleanup_policy: t
                .configs
                .get("cleanup.policy")
                .cloned()
                .unwrap_or_else(|| "delete".into()),
            segment_bytes: config_i64(t, "segment.bytes").map(|v| v.max(0) as u64),
            tiered: t
                .configs
                .get("remote.storage.enable")
                .is_some_and(|v| v == "true"),
        });
    }
    if !unlimited.is_empty() {
        notes.push(format!(
            "{} keep everything (retention.ms=-1, no byte limit): sized at {} days of their ingress",
            unlimited.join(", "),
            opts.unlimited_retention_secs / DAY_SECS
        ));
    }
    let groups = group_rows(o, &topics);
    let azs = racks(o).max(1);
    let consumers = ConsumerGroups {
        tip: groups.iter().filter(|g| g.reads == "tip").count() as u32,
        lagging: groups.iter().filter(|g| g.reads == "lagging").count() as u32,
        remote: 0,
    };
    let workload = (ingress > 0.0).then(|| {
        let retention = (held_secs / ingress).ceil().max(1.0) as u64;
        Workload {
            ingress_mbps: ingress / MIB,
            consumers,
            replication_factor: rf.max(1),
            retention_secs: retention,
            local_retention_secs: Some(opts.local_retention_secs.min(retention)),
            azs,
        }
    });
    if workload.is_none() {
        notes.push(format!(
            "nothing was written in the {:.0} s window: no successor is sized (sample longer, or while producers run)",
            o.window_secs
        ));
    }
    let successors = workload
        .as_ref()
        .and_then(|w| match recommend(catalog, w, &opts.recommend) {
            Ok(r) => Some(r),
            Err(e) => {
                notes.push(format!("sizing the successors failed: {e}"));
                None
            }
        });
    let current = current(o, opts, catalog, workload.as_ref(), &mut notes);
    let steps = steps(o, &topics, ingress, successors.as_ref());
    let enabled: Vec<i32> = o
        .brokers
        .iter()
        .filter(|b| b.remote_storage)
        .map(|b| b.id)
        .collect();
    let not: Vec<i32> = o
        .brokers
        .iter()
        .filter(|b| !b.remote_storage)
        .map(|b| b.id)
        .collect();
    Assessment {
        bootstrap: o.bootstrap.clone(),
        window_secs: o.window_secs,
        ingress_bytes_per_sec: ingress,
        ingress_records_per_sec: records,
        topics,
        groups,
        workload,
        current,
        successors,
        az_tolerance: o.az_tolerance.clone(),
        tiered_readiness: TieredReadiness {
            ready: !enabled.is_empty() && not.is_empty(),
            brokers_enabled: enabled,
            brokers_not_enabled: not,
        },
        steps,
        notes,
    }
}

/// Distinct racks of the brokers.
fn racks(o: &Observed) -> u32 {
    let r: std::collections::BTreeSet<&str> =
        o.brokers.iter().filter_map(|b| b.rack.as_deref()).collect();
    r.len() as u32
}

/// Groups as readers: at the tip when less than a minute of their topics' records behind.
fn group_rows(o: &Observed, topics: &[TopicRow]) -> Vec<GroupRow> {
    let rate: BTreeMap<&str, f64> = topics
        .iter()
        .map(|t| (t.topic.as_str(), t.records_per_sec))
        .collect();
    o.groups
        .iter()
        .map(|g| {
            let per_sec: f64 = g.topics.iter().filter_map(|t| rate.get(t.as_str())).sum();
            let minute = (per_sec * 60.0).max(1_000.0);
            GroupRow {
                group: g.group.clone(),
                members: g.members,
                lag_records: g.lag_records,
                reads: if (g.lag_records as f64) <= minute {
                    "tip"
                } else {
                    "lagging"
                },
            }
        })
        .collect()
}

/// The cluster as it stands: its disks, and with `--instance-type` its classic limit.
fn current(
    o: &Observed,
    opts: &AssessOptions,
    catalog: &Catalog,
    w: Option<&Workload>,
    notes: &mut Vec<String>,
) -> Current {
    let brokers = o.brokers.len() as u32;
    let bytes: u64 = o.brokers.iter().map(|b| b.bytes).sum();
    let total: Option<u64> = o
        .brokers
        .iter()
        .map(|b| b.disk_total_bytes)
        .sum::<Option<u64>>();
    let mut c = Current {
        brokers,
        azs: racks(o),
        instance_type: opts.instance_type.clone(),
        bytes,
        disk_total_bytes: total,
        disk_utilisation: total.filter(|&t| t > 0).map(|t| bytes as f64 / t as f64),
        sustained_limit_mbps: None,
        recommended_mbps: None,
        load: None,
        verdict: "unknown",
    };
    let Some(name) = &opts.instance_type else {
        notes.push(
            "the current cluster's throughput limit needs --instance-type (its brokers' EC2 type)"
                .into(),
        );
        return c;
    };
    let Some(t) = catalog.get(name) else {
        notes.push(format!(
            "--instance-type {name} is not in the catalog (`streamctl size catalog`)"
        ));
        return c;
    };
    let rf = w.map_or(3, |w| w.replication_factor).min(brokers.max(1));
    let input = ThroughputInput {
        model: StorageModel::Classic,
        brokers: brokers.max(1),
        replication_factor: rf.max(1),
        consumers: w.map(|w| w.consumers).unwrap_or_default(),
        resources: BrokerResources {
            volume_throughput_mbps: opts.volume_throughput_mbps,
            ebs_baseline_mbps: t.ebs_baseline_mbps,
            network_baseline_mbps: t.network_baseline_mbps,
            vcpus: t.vcpus,
        },
        headroom: opts.recommend.headroom,
        diskless: DisklessParams::default(),
    };
    match estimate(&input) {
        Ok(e) => {
            c.sustained_limit_mbps = Some(e.sustained_limit_mbps);
            c.recommended_mbps = Some(e.recommended_mbps);
            if let Some(w) = w {
                let load = w.ingress_mbps / e.recommended_mbps;
                c.load = Some(load);
                c.verdict = if load > 1.0 {
                    "under-provisioned"
                } else if load < 0.25 {
                    "over-provisioned"
                } else {
                    "about-right"
                };
            }
        }
        Err(e) => notes.push(format!("the current cluster's limit: {e}")),
    }
    c
}

/// A throttle for moving `bytes` while `ingress` keeps arriving: twice the ingress (so the
/// backlog shrinks at the ingress rate), at least 1 MiB/s.
fn throttle_for(ingress: f64) -> u64 {
    ((2.0 * ingress).max(MIB) / MIB).ceil() as u64 * MIB as u64
}

/// The migration steps, flags filled in, with their predicted durations.
fn steps(
    o: &Observed,
    topics: &[TopicRow],
    ingress: f64,
    successors: Option<&Recommendation>,
) -> Vec<Step> {
    let mut out = Vec::new();
    let Some(r) = successors else {
        return out;
    };
    let names: Vec<&str> = topics
        .iter()
        .filter(|t| !t.topic.starts_with("__") && t.cleanup_policy.contains("delete"))
        .map(|t| t.topic.as_str())
        .collect();
    if names.is_empty() {
        return out;
    }
    let regex = format!(
        "^({})$",
        // Topic names are ASCII letters, digits, `.`, `_` and `-`: only the dot is special.
        names
            .iter()
            .map(|n| n.replace('.', "\\."))
            .collect::<Vec<_>>()
            .join("|")
    );
    let bytes: u64 = topics
        .iter()
        .filter(|t| names.contains(&t.topic.as_str()))
        .map(|t| t.bytes)
        .sum();
    let throttle = throttle_for(ingress);
    let rate = |t: u64| format!("{}MiB/s", t / MIB as u64);
    let local = r
        .workload
        .local_retention_secs
        .unwrap_or(r.workload.retention_secs);
    let tier = tiering(o, topics, &names, throttle, local);
    out.push(Step {
        successor: "tiered",
        what: "enable tiering in throttled waves and shrink local retention (uploads every closed segment to the remote tier); \
               with RETIRE set to the ids of the brokers the successor replaces (comma-separated), then drain them: only their local bytes move"
            .into(),
        command: format!(
            "streamctl migrate tiered --bootstrap-server {} --topics '{regex}' --local-retention {} --tier-throttle {} --yes \
             ${{RETIRE:+--drain-brokers \"$RETIRE\" --throttle {}}}",
            o.bootstrap,
            crate::spec::Duration::from_secs(local),
            rate(throttle),
            rate(throttle)
        ),
        bytes: tier.upload_bytes,
        throttle_bytes_per_sec: throttle,
        predicted_secs: tier.secs,
        predicted_how: tier.how,
    });
    out.push(Step {
        successor: "diskless",
        what: "copy every record to the diskless target (then verify) while producers keep writing; cut over with --cutover --groups".into(),
        command: format!(
            "streamctl migrate diskless --source-bootstrap {} --target-bootstrap TARGET --topics '{regex}' --throttle {} --yes",
            o.bootstrap,
            rate(throttle)
        ),
        bytes,
        throttle_bytes_per_sec: throttle,
        predicted_secs: bytes as f64 / throttle as f64,
        predicted_how: "every byte of the selected topics at the throttle".into(),
    });
    out
}

/// Kafka's defaults where a broker does not say: `remote.log.manager.task.interval.ms` and
/// `log.retention.check.interval.ms`.
const DEFAULT_REMOTE_TASK_INTERVAL_MS: u64 = 30_000;
const DEFAULT_RETENTION_CHECK_INTERVAL_MS: u64 = 300_000;

/// What tiering uploads and how long it takes.
struct Tiering {
    upload_bytes: u64,
    secs: f64,
    how: String,
}

/// The tiering step, priced the way it runs: the waves `migrate tiered` cuts (its own planner:
/// smallest topics first, ten per wave), one after another. The tier throttle is a quota per
/// broker and only leaders upload, so a wave takes its busiest leader's closed segments over the
/// throttle less the ingress that leader takes meanwhile (new segments close while it uploads).
/// Each wave adds one copy-task interval (uploads start on the leader's next copy task) and,
/// where local retention will delete (a topic holds more than its ingress over the local
/// retention plus an active segment per partition), one local retention check.
fn tiering(
    o: &Observed,
    rows: &[TopicRow],
    names: &[&str],
    throttle: u64,
    local_secs: u64,
) -> Tiering {
    use crate::migrate::tiered::plan::{
        segment_bytes, waves, LocalRetention, PartitionState, TierInput, TierOptions, WaveSize,
        DEFAULT_WAVE_TOPICS,
    };
    let topic_configs: BTreeMap<String, BTreeMap<String, String>> = o
        .topics
        .iter()
        .filter(|t| names.contains(&t.topic.as_str()))
        .map(|t| (t.topic.clone(), t.configs.clone()))
        .collect();
    let partitions: Vec<PartitionState> = o
        .partitions
        .iter()
        .filter(|p| topic_configs.contains_key(&p.topic))
        .map(|p| PartitionState {
            topic: p.topic.clone(),
            partition: p.partition,
            replicas: p.replicas.clone(),
            leader: p.replicas.first().copied(),
            local_bytes: p.size_bytes.or(p.local_size_bytes).unwrap_or(0),
            log_start: 0,
            log_end: 0,
            offset_at_cutoff: None,
        })
        .collect();
    let input = TierInput {
        partitions,
        topic_configs,
        ..Default::default()
    };
    let opts = TierOptions {
        local_retention: LocalRetention::Ms(local_secs.saturating_mul(1000)),
        tier_throttle: throttle,
        wave: WaveSize::Topics(DEFAULT_WAVE_TOPICS),
        set_segment_bytes: None,
        drain_brokers: Default::default(),
        throttle: None,
    };
    let waves = waves(&input, &opts);
    let by_name: BTreeMap<&str, &TopicRow> = rows.iter().map(|r| (r.topic.as_str(), r)).collect();
    let row = |t: &str| by_name.get(t).copied();
    // The ingress each leader takes, by topic: the topic's ingress evenly over its partitions.
    let mut leads: BTreeMap<(&str, i32), f64> = BTreeMap::new();
    for p in &input.partitions {
        let per = row(&p.topic).map_or(0.0, |r| r.bytes_per_sec / r.partitions.max(1) as f64);
        *leads
            .entry((p.topic.as_str(), p.leader.unwrap_or(-1)))
            .or_default() += per;
    }
    let interval = |f: fn(&BrokerSample) -> Option<u64>, default: u64| {
        o.brokers
            .iter()
            .map(|b| f(b).unwrap_or(default))
            .max()
            .unwrap_or(default) as f64
            / 1000.0
    };
    let task = interval(
        |b| b.remote_task_interval_ms,
        DEFAULT_REMOTE_TASK_INTERVAL_MS,
    );
    let check = interval(
        |b| b.retention_check_interval_ms,
        DEFAULT_RETENTION_CHECK_INTERVAL_MS,
    );
    let (mut secs, mut checks) = (0.0, 0usize);
    for w in &waves {
        let upload = w
            .upload_by_broker
            .iter()
            .map(|(&b, &x)| {
                let inflow: f64 = w
                    .topics
                    .iter()
                    .map(|t| leads.get(&(t.as_str(), b)).copied().unwrap_or(0.0))
                    .sum();
                // A throttle at or below what arrives never catches up: priced at a tenth.
                x as f64 / (throttle as f64 - inflow).max(throttle as f64 / 10.0)
            })
            .fold(0.0, f64::max);
        let deletes = w.topics.iter().any(|t| {
            row(t).is_some_and(|r| {
                let seg = segment_bytes(&input.topic_configs[t]);
                r.bytes as f64
                    > r.bytes_per_sec * local_secs as f64 + (r.partitions as u64 * seg) as f64
            })
        });
        if deletes {
            checks += 1;
        }
        secs += upload + task + if deletes { check } else { 0.0 };
    }
    Tiering {
        upload_bytes: waves.iter().map(|w| w.upload_bytes).sum(),
        secs,
        how: format!(
            "{} wave(s), each at its busiest leader's closed segments over {}/s less the ingress it leads, \
             plus {task:.1} s for the copy task to run; {checks} local retention check(s) of {check:.1} s",
            waves.len(),
            crate::units::human_bytes(throttle)
        ),
    }
}

/// A successor as a cluster spec: the layout's brokers (and volumes), three metadata nodes,
/// the object store for tiered and diskless.
pub fn successor_spec(
    layout: &Layout,
    w: &Workload,
    opts: &AssessOptions,
    min_insync: u32,
) -> ClusterSpec {
    let flavor = match layout.model {
        StorageModel::Classic => Flavor::Classic,
        StorageModel::Tiered => Flavor::Tiered,
        StorageModel::Diskless => Flavor::Diskless,
    };
    let name = format!("{}-{}", opts.name, flavor.as_str());
    let meta = crate::sizing::gp3::Gp3::fitting(50, 125);
    let (broker_role, meta_role, meta_name) = match flavor {
        Flavor::Diskless => (Role::Bufstream, Role::Etcd, "etcd"),
        _ => (Role::Broker, Role::Controller, "controllers"),
    };
    let rf = w.replication_factor;
    ClusterSpec {
        name: name.clone(),
        region: opts.region.clone(),
        availability_zones: AvailabilityZones::Pick(PickAzs::Auto),
        flavor,
        distribution: Distribution::Apache,
        workload: WorkloadSpec {
            ingress_mbps: (w.ingress_mbps * 100.0).ceil() / 100.0,
            consumer_groups: ConsumerGroupsSpec {
                tip: w.consumers.tip,
                lagging: w.consumers.lagging,
                remote: w.consumers.remote,
            },
            replication_factor: rf,
            min_insync_replicas: min_insync.clamp(1, rf.max(1)),
            retention: crate::spec::Duration::from_secs(w.retention_secs),
            local_retention: (flavor == Flavor::Tiered).then(|| {
                crate::spec::Duration::from_secs(w.local_retention_secs.unwrap_or(w.retention_secs))
            }),
        },
        node_groups: vec![
            NodeGroup {
                name: if flavor == Flavor::Diskless {
                    "bufstream".into()
                } else {
                    "brokers".into()
                },
                role: broker_role,
                instance_type: layout.instance_type.clone(),
                count: layout.brokers,
                data_volume: layout.volume,
                root_volume_gib: 20,
                allow_uneven: false,
                image_id: None,
            },
            NodeGroup {
                name: meta_name.into(),
                role: meta_role,
                instance_type: opts.recommend.metadata_instance_type.clone(),
                count: 3,
                data_volume: Some(meta),
                root_volume_gib: 20,
                allow_uneven: false,
                image_id: None,
            },
        ],
        object_store: (flavor != Flavor::Classic).then(|| ObjectStore {
            bucket: format!("{name}-data"),
            encryption: Default::default(),
            kms_key_id: None,
            abort_incomplete_multipart_days: None,
            expiration_days: None,
            deny_insecure_transport: true,
            endpoint_url: None,
        }),
        network: Network {
            vpc_cidr: Some("10.40.0.0/16".into()),
            ..Default::default()
        },
        kafka_artifact: None,
        tags: [("assessed-from".to_string(), "streamctl-assess".to_string())]
            .into_iter()
            .collect(),
    }
}

/// The highest min.insync.replicas among the topics (2 where none says).
pub fn min_insync(o: &Observed) -> u32 {
    o.topics
        .iter()
        .filter_map(|t| config_i64(t, "min.insync.replicas"))
        .map(|m| m.clamp(1, 1_000) as u32)
        .max()
        .unwrap_or(2)
}

#[cfg(test)]
mod tests;
