//! `migrate diskless --engine connect`, the pure parts: the MirrorMaker 2 source connector's
//! config, the client id its source consumers use (the quota's entity), how a total rate is split
//! into Kafka's per-broker quotas, when the copy has caught up, what to do with a failed task, and
//! how the verifier recognises a replay (MirrorMaker 2 without exactly-once copies again from its
//! last committed offset after a worker dies). No I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::migrate::diskless::plan::Problem;

pub const MIRROR_SOURCE: &str = "org.apache.kafka.connect.mirror.MirrorSourceConnector";
const BYTES: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";
/// The aliases in the connector config (MirrorMaker 2 puts them in client ids and offsets).
pub const SOURCE_ALIAS: &str = "source";
pub const TARGET_ALIAS: &str = "target";

/// What the connector config is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorInput {
    pub name: String,
    pub source_bootstrap: String,
    pub target_bootstrap: String,
    /// Topic → partitions (tasks are sized to the partitions).
    pub topics: BTreeMap<String, i32>,
    /// Client properties for the source (security.protocol, sasl.*, ssl.*), from
    /// `--source-command-config`.
    pub source_client: BTreeMap<String, String>,
    pub target_client: BTreeMap<String, String>,
    /// The transactional producer (exactly-once, KIP-618) when the workers and target allow it.
    pub exactly_once: bool,
    /// Per-broker fetch quota in bytes/s (sizes the fetches so throttling stays smooth).
    pub per_broker_quota: Option<u64>,
    /// The Connect cluster's cap on tasks (`--connect-max-tasks`).
    pub max_tasks: u32,
}

/// Regex metacharacters escaped: MirrorMaker 2's `topics` is a comma-separated list of regexes.
/// MirrorMaker 2's `topics`: each name as a literal regular expression, comma-separated.
pub fn topics_value<'a>(names: impl IntoIterator<Item = &'a String>) -> String {
    names
        .into_iter()
        .map(|t| literal(t))
        .collect::<Vec<_>>()
        .join(",")
}

fn literal(topic: &str) -> String {
    let mut out = String::new();
    for c in topic.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The MirrorSourceConnector's config: the selected topics by exact name, an identity replication
/// policy (target topics keep their names; streamctl created them), tasks sized to partitions,
/// heartbeats, checkpoints, offset syncs, config and ACL sync off (streamctl verifies and
/// translates itself), byte-for-byte converters, committed reads on the source, and the producer
/// pointed at the target (the workers' own cluster holds only their internal topics).
pub fn connector_config(i: &ConnectorInput) -> BTreeMap<String, String> {
    let partitions: i64 = i.topics.values().map(|&n| n as i64).sum();
    let tasks = partitions.clamp(1, i.max_tasks.max(1) as i64);
    let mut c: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        c.insert(k.to_string(), v);
    };
    put("name", i.name.clone());
    put("connector.class", MIRROR_SOURCE.into());
    put("source.cluster.alias", SOURCE_ALIAS.into());
    put("target.cluster.alias", TARGET_ALIAS.into());
    put(
        "source.cluster.bootstrap.servers",
        i.source_bootstrap.clone(),
    );
    put(
        "target.cluster.bootstrap.servers",
        i.target_bootstrap.clone(),
    );
    put(
        "producer.override.bootstrap.servers",
        i.target_bootstrap.clone(),
    );
    put("topics", topics_value(i.topics.keys()));
    put(
        "replication.policy.class",
        "org.apache.kafka.connect.mirror.IdentityReplicationPolicy".into(),
    );
    put("tasks.max", tasks.to_string());
    for k in [
        "sync.topic.configs.enabled",
        "sync.topic.acls.enabled",
        "emit.offset-syncs.enabled",
        "emit.heartbeats.enabled",
        "emit.checkpoints.enabled",
        "refresh.groups.enabled",
        "refresh.topics.enabled",
    ] {
        put(k, "false".into());
    }
    for k in ["key.converter", "value.converter", "header.converter"] {
        put(k, BYTES.into());
    }
    put("source.consumer.isolation.level", "read_committed".into());
    // A diskless broker writes each produced batch to object storage: big batches (as the
    // built-in copier sends) instead of the producer's 16 KiB, a little linger to fill them.
    put("producer.override.batch.size", (1024 * 1024).to_string());
    put("producer.override.linger.ms", "100".into());
    put(
        "producer.override.max.request.size",
        (8 * 1024 * 1024).to_string(),
    );
    put(
        "exactly.once.support",
        if i.exactly_once {
            "required"
        } else {
            "requested"
        }
        .into(),
    );
    if let Some(q) = i.per_broker_quota {
        // Kafka throttles after the response that went over the quota, so each fetch may
        // overshoot by its own size: a quarter second of quota per fetch keeps the rate even.
        let fetch = (q / 4).clamp(64 * 1024, 50 * 1024 * 1024);
        put("source.consumer.fetch.max.bytes", fetch.to_string());
        put(
            "source.consumer.max.partition.fetch.bytes",
            fetch.min(1024 * 1024).to_string(),
        );
    }
    for (k, v) in &i.source_client {
        put(&format!("source.cluster.{k}"), v.clone());
    }
    for (k, v) in &i.target_client {
        put(&format!("target.cluster.{k}"), v.clone());
        put(&format!("producer.override.{k}"), v.clone());
    }
    c
}

/// The config with secrets masked (for `--dry-run`, logs and the journal).
pub fn masked(config: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    config
        .iter()
        .map(|(k, v)| {
            let secret = k.contains("password") || k.ends_with("sasl.jaas.config");
            (
                k.clone(),
                if secret { "********".into() } else { v.clone() },
            )
        })
        .collect()
}

/// The client id of one task's source consumer. MirrorMaker 2 labels its clients
/// `{source}->{target}|{name}|{role}` (MirrorConnectorConfig.addClientId), and a task's name is the
/// connector's plus `-{task.index}`: every task has its own client id, so the quota is set per
/// task.
pub fn task_client_id(connector: &str, task_index: i32) -> String {
    format!("{SOURCE_ALIAS}->{TARGET_ALIAS}|{connector}-{task_index}|replication-consumer")
}

/// A task's partitions from its `task.assigned.partitions` (`topic-partition,...`).
pub fn assigned_partitions(value: &str) -> Vec<(String, i32)> {
    value
        .split(',')
        .filter_map(|tp| {
            let (t, p) = tp.trim().rsplit_once('-')?;
            Some((t.to_string(), p.parse().ok()?))
        })
        .collect()
}

/// One task's quota: its client id, the brokers it reads from, and the bytes/s on each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskQuota {
    pub client_id: String,
    pub brokers: usize,
    pub bytes_per_sec: u64,
}

/// Kafka measures a client's fetch rate over `quota.window.num` × `quota.window.size.seconds`
/// (11 × 1 s by default) and never over less than the last (11 − 1) windows. A fetch whose
/// response would take the client over its quota is answered empty, with a throttle time, and its
/// bytes are not counted (KafkaApis.handleFetchRequest); so a response larger than what the quota
/// lets through in those 10 s is never served and the client is held for good. A response holds
/// at least one whole record batch, up to the topic's `max.message.bytes`.
pub const QUOTA_MIN_WINDOW_SECONDS: u64 = 10;

/// Kafka's default `max.message.bytes` (the largest batch a topic accepts, and so the largest
/// first batch a fetch response may have to carry).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 1_048_588;

/// The lowest per-broker quota that still lets one response of `max_batch` bytes through a quota
/// window (see [`QUOTA_MIN_WINDOW_SECONDS`]).
pub fn quota_floor(max_batch: u64) -> u64 {
    max_batch.div_ceil(QUOTA_MIN_WINDOW_SECONDS)
}

/// Split a total rate over the tasks by their share of this run's bytes. Kafka enforces a
/// client-id quota on each broker separately, so a task reading from `k` leaders gets its share
/// divided by `k`: the sum over every (task, broker) pair is the total, never more.
///
/// Every (task, broker) pair first gets `floor` ([`quota_floor`]): a task with a small share (a
/// small partition beside large ones) would otherwise get a quota no fetch response fits in, and
/// Kafka would hold it forever. The rest of the rate is split by share. When the rate cannot give
/// every pair its floor, the split is by share alone ([`floor_needed`] lets preflight refuse that
/// first).
pub fn task_quotas(
    connector: &str,
    tasks: &[(i32, Vec<(String, i32)>)],
    leader: &BTreeMap<(String, i32), i32>,
    bytes: &BTreeMap<(String, i32), u64>,
    rate: u64,
    floor: u64,
) -> Vec<TaskQuota> {
    let total: u64 = bytes.values().sum();
    let brokers: Vec<usize> = tasks.iter().map(|(_, p)| task_brokers(p, leader)).collect();
    let pairs: u64 = brokers.iter().map(|&b| b as u64).sum();
    let floor = if floor.saturating_mul(pairs) <= rate {
        floor
    } else {
        0
    };
    let spare = rate - floor * pairs;
    tasks
        .iter()
        .zip(&brokers)
        .map(|((index, parts), &k)| {
            let mine: u64 = parts.iter().filter_map(|p| bytes.get(p)).sum();
            let share = if total == 0 {
                1.0 / tasks.len().max(1) as f64
            } else {
                mine as f64 / total as f64
            };
            let task_rate = ((spare as f64 * share) as u64).max(1);
            TaskQuota {
                client_id: task_client_id(connector, *index),
                brokers: k,
                bytes_per_sec: floor + per_broker_quota(task_rate, k),
            }
        })
        .collect()
}

/// The largest batch a topic with these configs accepts (`max.message.bytes`, else Kafka's
/// default).
pub fn max_batch(configs: &BTreeMap<String, String>) -> u64 {
    configs
        .get("max.message.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_MESSAGE_BYTES)
}

/// A throttle too low for the connector's tasks to fetch at all (see [`floor_needed`]), refused
/// before anything changes.
pub fn throttle_problem(
    throttle: u64,
    topics: &BTreeMap<String, i32>,
    max_tasks: u32,
    leaders: usize,
    max_batch: u64,
) -> Option<Problem> {
    let partitions: usize = topics.values().map(|&n| n.max(0) as usize).sum();
    let tasks = partitions.clamp(1, max_tasks.max(1) as usize);
    let need = floor_needed(partitions, tasks, leaders, quota_floor(max_batch));
    (throttle < need).then(|| Problem {
        topic: None,
        message: format!(
            "--throttle {throttle} B/s is below {need} B/s: {tasks} task(s) reading from up to {leaders} leader(s) each need one batch of up to {max_batch} bytes per {QUOTA_MIN_WINDOW_SECONDS} s quota window, or Kafka holds them"
        ),
        hint: "raise --throttle, or lower --connect-max-tasks (fewer tasks share the rate)".into(),
    })
}

/// How many brokers lead a task's partitions (at least one): its quota holds on each.
pub fn task_brokers(parts: &[(String, i32)], leader: &BTreeMap<(String, i32), i32>) -> usize {
    parts
        .iter()
        .filter_map(|k| leader.get(k).copied())
        .collect::<BTreeSet<i32>>()
        .len()
        .max(1)
}

/// The least total rate at which `tasks` tasks over `partitions` partitions led by `leaders`
/// brokers each get [`quota_floor`] on every broker they may read from (a task reads its
/// `ceil(partitions / tasks)` partitions from at most that many leaders).
pub fn floor_needed(partitions: usize, tasks: usize, leaders: usize, floor: u64) -> u64 {
    let tasks = tasks.clamp(1, partitions.max(1));
    let per_task = partitions.div_ceil(tasks).min(leaders.max(1));
    floor * (tasks * per_task) as u64
}

/// Kafka enforces a client quota per broker. A total of `rate` over the brokers leading the copied
/// partitions is `rate / leaders` on each (never above the total; uneven leaders make it slower,
/// never faster).
pub fn per_broker_quota(rate: u64, leaders: usize) -> u64 {
    (rate / leaders.max(1) as u64).max(1)
}

/// Before a new connector's tasks exist (their partitions are unknown), each of its `tasks`
/// client ids gets the share that keeps the total within the rate whatever it reads: the rate
/// over the tasks and over every leader (a task reads from at most all of them).
pub fn initial_task_quota(rate: u64, tasks: usize, leaders: usize) -> u64 {
    per_broker_quota((rate / tasks.max(1) as u64).max(1), leaders)
}

/// Kafka enforces a fetch quota `q` over a sliding window of `quota.window.num` ×
/// `quota.window.size.seconds` (11 × 1 s by default): a client may move about `11 s · q` in any
/// such window, so after a quiet spell (and at its start: a new client's window counts as 10 s
/// long) it may catch up that far at once. Over a run of `T` seconds it can move up to about
/// `q · (T + 11 s)`; whether it does depends on how fast the rest of the pipeline is (on the test
/// cluster the same 20 s run came out anywhere between 0.82 and 1.19 × a quota set at 95 % of the
/// throttle).
pub const QUOTA_WINDOW_SECONDS: f64 = 11.0;

/// The share of the throttle that keeps a run of `bytes` at `rate` (`T = bytes / rate`) within the
/// throttle whatever the catch-up: `T / (T + 11 s)`. A long copy gets almost the plain split (an
/// hour's copy 99.7 %); a short one runs between this share and the throttle, never above it.
pub fn run_scale(rate: u64, bytes: u64) -> f64 {
    let t = bytes as f64 / rate.max(1) as f64;
    if t <= 0.0 {
        return 1.0;
    }
    t / (t + QUOTA_WINDOW_SECONDS)
}

/// A connector name Connect accepts in a URL path and streamctl can find again.
pub fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 200 {
        return Err("1 to 200 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    {
        return Err("letters, digits, '-', '.' and '_' only".into());
    }
    Ok(())
}

/// Where each partition's copy must reach this run: the offset of the last record below the run's
/// end (`None`: nothing readable to copy).
pub type Goals = BTreeMap<(String, i32), Option<i64>>;

/// Partitions the connector has not yet copied up to their goal, with how far it is (its
/// committed offsets are the last source offset copied).
pub fn behind(goals: &Goals, committed: &BTreeMap<(String, i32), i64>) -> Vec<(String, i32)> {
    goals
        .iter()
        .filter(|(k, goal)| match goal {
            None => false,
            Some(g) => committed.get(*k).is_none_or(|c| c < g),
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// What to do about the connector's tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskAction {
    Restart(i32),
    /// Failed again after its restart: stop and report the trace.
    Give(i32, String),
}

/// A failed task is restarted once per run; failing again is reported with its trace.
pub fn task_actions(
    failed: &[(i32, Option<String>)],
    restarted: &BTreeSet<i32>,
) -> Vec<TaskAction> {
    failed
        .iter()
        .map(|(id, trace)| {
            if restarted.contains(id) {
                TaskAction::Give(*id, trace.clone().unwrap_or_default())
            } else {
                TaskAction::Restart(*id)
            }
        })
        .collect()
}

/// What preflight learned about the Connect cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectFacts {
    pub url: String,
    pub version: String,
    pub plugin: bool,
    /// The workers run exactly-once source support (`exactly.once.source.support=enabled`).
    pub workers_exactly_once: bool,
    /// The target accepts transactional producers.
    pub target_transactions: bool,
    /// Config keys the workers reject, with their messages.
    pub invalid: BTreeMap<String, Vec<String>>,
}

fn version_at_least(v: &str, major: u32, minor: u32) -> bool {
    let mut it = v
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let a: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let b: u32 = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    (a, b) >= (major, minor)
}

/// Problems with the Connect cluster (all listed at once; nothing changed).
pub fn connect_problems(f: &ConnectFacts) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut add = |message: String, hint: &str| {
        out.push(Problem {
            topic: None,
            message,
            hint: hint.into(),
        })
    };
    if !version_at_least(&f.version, 3, 6) {
        add(
            format!("the Connect workers at {} run Kafka {}; the connector offsets API (KIP-875) needs 3.6 or later", f.url, f.version),
            "upgrade the Connect cluster, or use the built-in engine (--engine builtin)",
        );
    }
    if !f.plugin {
        add(
            format!("the Connect workers at {} have no {MIRROR_SOURCE} plugin", f.url),
            "put connect-mirror and connect-mirror-client (the brokers' version) on the workers' plugin.path and restart them",
        );
    }
    if f.workers_exactly_once && !f.target_transactions {
        add(
            format!("the Connect workers at {} run exactly-once source support, which writes through transactions, and the target does not accept transactional producers", f.url),
            "run the copy on a Connect cluster with exactly.once.source.support=disabled (the verifier then recognises replays after a worker failure), or use --engine builtin",
        );
    }
    for (k, errors) in &f.invalid {
        if k == "exactly.once.support" {
            continue;
        }
        add(
            format!("the Connect workers reject the connector config {k}: {}", errors.join("; ")),
            "check the workers' connector.client.config.override.policy (streamctl needs All to point the producer at the target)",
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Replays

/// The target record at hand (digest `digest`) is not the record expected next (`history[expected]`,
/// or a new source record when `expected == history.len()`). MirrorMaker 2 without exactly-once
/// copies again from its last committed offset after a task dies, so the record should repeat an
/// earlier one: the latest `j < expected` in `history` (the records of this verification pass, in
/// order) with the same digest. The matcher then expects `history[j + 1]`. Greedy on purpose: a
/// source with identical records may be aligned to another identical copy, which keeps every
/// record's copy equal to it and the map in target order; a target record that repeats nothing
/// is a difference.
pub fn replay_start(history: &[[u8; 32]], expected: usize, digest: &[u8; 32]) -> Option<usize> {
    (0..expected.min(history.len()))
        .rev()
        .find(|&j| history[j] == *digest)
}

/// Brokers that are preferred leaders of the selected partitions (the quota is split over them).
pub fn leaders(cluster: &crate::assign::Cluster, topics: &BTreeMap<String, i32>) -> usize {
    cluster
        .partitions
        .iter()
        .filter(|p| topics.contains_key(&p.topic))
        .filter_map(|p| p.replicas.first().copied())
        .collect::<BTreeSet<i32>>()
        .len()
}

/// The warning a plan shows for an at-least-once connector.
pub fn at_least_once_warning(f: &ConnectFacts) -> Option<String> {
    (!(f.workers_exactly_once && f.target_transactions)).then(|| {
        format!(
            "the connector runs at-least-once ({}): after a worker failure it copies some records again; the verifier recognises the repeats and maps every record to its last copy, and the repeated copies stay in the target topic",
            if f.target_transactions {
                "the workers run without exactly.once.source.support"
            } else {
                "the target does not accept transactional producers"
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn input() -> ConnectorInput {
        ConnectorInput {
            name: "streamctl-orders".into(),
            source_bootstrap: "src:9092".into(),
            target_bootstrap: "dst:9092".into(),
            topics: [("orders.v1".to_string(), 12), ("payments".to_string(), 6)].into(),
            source_client: [
                (
                    "security.protocol".to_string(),
                    "SASL_PLAINTEXT".to_string(),
                ),
                ("sasl.jaas.config".to_string(), "secret".to_string()),
            ]
            .into(),
            target_client: BTreeMap::new(),
            exactly_once: false,
            per_broker_quota: Some(10 * 1024 * 1024),
            max_tasks: 8,
        }
    }

    #[test]
    fn the_connector_config_copies_names_bytes_and_nothing_else() {
        let c = connector_config(&input());
        assert_eq!(c["topics"], "orders\\.v1,payments");
        assert_eq!(c["tasks.max"], "8");
        assert_eq!(
            c["replication.policy.class"],
            "org.apache.kafka.connect.mirror.IdentityReplicationPolicy"
        );
        assert_eq!(c["producer.override.bootstrap.servers"], "dst:9092");
        assert_eq!(c["source.consumer.isolation.level"], "read_committed");
        assert_eq!(c["emit.checkpoints.enabled"], "false");
        assert_eq!(c["header.converter"], BYTES);
        assert_eq!(c["exactly.once.support"], "requested");
        assert_eq!(
            c["source.consumer.fetch.max.bytes"],
            (2560 * 1024).to_string()
        );
        assert_eq!(
            c["source.consumer.max.partition.fetch.bytes"],
            (1024 * 1024).to_string()
        );
        assert_eq!(c["source.cluster.security.protocol"], "SASL_PLAINTEXT");
        assert_eq!(masked(&c)["source.cluster.sasl.jaas.config"], "********");
        let mut i = input();
        i.exactly_once = true;
        i.per_broker_quota = None;
        i.max_tasks = 100;
        let c = connector_config(&i);
        assert_eq!(c["exactly.once.support"], "required");
        assert_eq!(c["tasks.max"], "18");
        assert!(!c.contains_key("source.consumer.fetch.max.bytes"));
        insta::assert_json_snapshot!("connector_config", connector_config(&input()));
    }

    #[test]
    fn quotas_split_over_leaders_and_never_exceed_the_total() {
        assert_eq!(per_broker_quota(6_000_000, 3), 2_000_000);
        assert_eq!(per_broker_quota(10, 0), 10);
        assert_eq!(per_broker_quota(1, 7), 1);
        assert_eq!(
            task_client_id("m", 2),
            "source->target|m-2|replication-consumer"
        );
        assert_eq!(
            assigned_partitions("a-b-0, c-12,bad"),
            vec![("a-b".to_string(), 0), ("c".to_string(), 12)]
        );
        // Task 0 reads 3/4 of the bytes from two leaders, task 1 a quarter from one.
        let k = |t: &str, p: i32| (t.to_string(), p);
        let leader = BTreeMap::from([(k("a", 0), 1), (k("a", 1), 2), (k("a", 2), 2)]);
        let bytes = BTreeMap::from([
            (k("a", 0), 500_000_000),
            (k("a", 1), 250_000_000),
            (k("a", 2), 250_000_000),
        ]);
        let q = task_quotas(
            "m",
            &[(0, vec![k("a", 0), k("a", 1)]), (1, vec![k("a", 2)])],
            &leader,
            &bytes,
            1_000_000,
            0,
        );
        assert_eq!((q[0].brokers, q[1].brokers), (2, 1));
        assert_eq!((q[0].bytes_per_sec, q[1].bytes_per_sec), (375_000, 250_000));
        let sum: u64 = q.iter().map(|t| t.bytes_per_sec * t.brokers as u64).sum();
        assert!(sum <= 1_000_000);
        // 100 MB at 1 MB/s takes 100 s: 100/111 of the quota; an hour's copy 99.7 %.
        assert!((run_scale(1_000_000, 100_000_000) - 100.0 / 111.0).abs() < 1e-9);
        assert!(run_scale(1_000_000, 3_600_000_000) > 0.996);
        assert_eq!(run_scale(1_000_000, 0), 1.0);
        // Before the tasks exist: 2 tasks over 2 leaders, a quarter each.
        assert_eq!(initial_task_quota(1_000_000, 2, 2), 250_000);
    }

    #[test]
    fn a_small_partitions_task_still_gets_a_quota_a_batch_fits_in() {
        // The live test's shape: three tasks over 8 MB partitions, two over 40 KB ones, one
        // leader each, 1.32 MB/s in all.
        let k = |t: &str, p: i32| (t.to_string(), p);
        let parts = [k("a", 0), k("a", 1), k("a", 2), k("b", 0), k("b", 1)];
        let leader: BTreeMap<_, _> = parts.iter().cloned().zip(1..).collect();
        let bytes: BTreeMap<_, _> = parts
            .iter()
            .cloned()
            .zip([8_000_000, 8_000_000, 8_000_000, 40_000, 40_000])
            .collect();
        let tasks: Vec<(i32, Vec<(String, i32)>)> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| (i as i32, vec![p.clone()]))
            .collect();
        let floor = quota_floor(DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(floor, 104_859);
        let by_share = task_quotas("m", &tasks, &leader, &bytes, 1_320_000, 0);
        // By share alone a small task gets 2 KB/s: 22 KB in a window, less than one batch.
        assert!(by_share[3].bytes_per_sec * QUOTA_MIN_WINDOW_SECONDS < 100_000);
        let q = task_quotas("m", &tasks, &leader, &bytes, 1_320_000, floor);
        assert!(q.iter().all(|t| t.bytes_per_sec >= floor), "{q:?}");
        assert!(q[0].bytes_per_sec > 3 * q[3].bytes_per_sec, "{q:?}");
        let sum: u64 = q.iter().map(|t| t.bytes_per_sec * t.brokers as u64).sum();
        assert!(sum <= 1_320_000, "{sum}");
        // Too low a rate for every floor: by share (preflight refuses that case first).
        assert_eq!(
            task_quotas("m", &tasks, &leader, &bytes, 400_000, floor),
            task_quotas("m", &tasks, &leader, &bytes, 400_000, 0)
        );
        // 5 tasks over 5 partitions on 5 leaders need 5 floors; 2 tasks over 5 partitions on 2
        // leaders 4; one task over 6 partitions on 3 leaders 3.
        assert_eq!(floor_needed(5, 5, 5, floor), 5 * floor);
        assert_eq!(floor_needed(5, 2, 2, floor), 4 * floor);
        assert_eq!(floor_needed(6, 1, 3, floor), 3 * floor);
        let topics = BTreeMap::from([("a".to_string(), 3), ("b".to_string(), 2)]);
        let p = throttle_problem(400_000, &topics, 8, 5, DEFAULT_MAX_MESSAGE_BYTES).unwrap();
        assert!(p.message.contains("5 task(s)"), "{}", p.message);
        assert!(p.hint.contains("--connect-max-tasks"));
        assert!(throttle_problem(400_000, &topics, 2, 2, 100_000).is_none());
        assert_eq!(max_batch(&BTreeMap::new()), DEFAULT_MAX_MESSAGE_BYTES);
    }

    #[test]
    fn caught_up_when_every_goal_is_committed() {
        let goals: Goals = [
            (("a".to_string(), 0), Some(99)),
            (("a".to_string(), 1), None),
            (("b".to_string(), 0), Some(5)),
        ]
        .into();
        let mut committed = BTreeMap::from([(("a".to_string(), 0), 99)]);
        assert_eq!(behind(&goals, &committed), vec![("b".to_string(), 0)]);
        committed.insert(("b".into(), 0), 4);
        assert_eq!(behind(&goals, &committed), vec![("b".to_string(), 0)]);
        committed.insert(("b".into(), 0), 7);
        assert!(behind(&goals, &committed).is_empty());
    }

    #[test]
    fn a_task_is_restarted_once_then_reported() {
        let restarted = BTreeSet::from([1]);
        assert_eq!(
            task_actions(&[(0, None), (1, Some("boom".into()))], &restarted),
            vec![TaskAction::Restart(0), TaskAction::Give(1, "boom".into())]
        );
    }

    #[test]
    fn connect_problems_are_listed_together() {
        let f = ConnectFacts {
            url: "http://w:8083".into(),
            version: "3.5.1".into(),
            plugin: false,
            workers_exactly_once: true,
            target_transactions: false,
            invalid: [
                (
                    "producer.override.bootstrap.servers".to_string(),
                    vec!["not allowed".to_string()],
                ),
                ("exactly.once.support".to_string(), vec!["x".to_string()]),
            ]
            .into(),
        };
        let p = connect_problems(&f);
        assert_eq!(p.len(), 4, "{p:?}");
        let ok = ConnectFacts {
            version: "4.1.1".into(),
            plugin: true,
            workers_exactly_once: false,
            invalid: BTreeMap::new(),
            ..f
        };
        assert!(connect_problems(&ok).is_empty());
        assert!(valid_name("streamctl-a.b_c").is_ok());
        assert!(valid_name("a/b").is_err());
    }

    fn d(x: u8) -> [u8; 32] {
        [x; 32]
    }

    #[test]
    fn a_replay_restarts_at_the_latest_equal_record() {
        let h: Vec<_> = [1, 2, 3, 2, 3, 4].map(d).to_vec();
        assert_eq!(replay_start(&h, 6, &d(2)), Some(3));
        assert_eq!(replay_start(&h, 3, &d(2)), Some(1));
        assert_eq!(replay_start(&h, 6, &d(9)), None);
        assert_eq!(replay_start(&h, 1, &d(1)), Some(0));
        assert_eq!(replay_start(&h, 0, &d(1)), None);
    }

    proptest! {
        /// Whatever replays a copier makes (suffix repeats from any earlier record), reading the
        /// target against the source with `replay_start` rebuilds a map in which every source record
        /// points at a copy of itself, in target order, and the last target record is mapped.
        #[test]
        fn replays_are_always_recognised(
            source in proptest::collection::vec(0u8..4, 1..40),
            cuts in proptest::collection::vec((0usize..40, 0usize..40), 0..4),
        ) {
            // Build the target: copy up to `at`, crash, replay from `back` records earlier.
            let mut target: Vec<usize> = Vec::new(); // source index of each target record
            let mut next = 0usize;
            for (at, back) in cuts {
                let at = at.min(source.len());
                while next < at { target.push(next); next += 1; }
                next = next.saturating_sub(back % (next + 1));
            }
            while next < source.len() { target.push(next); next += 1; }
            // Match as the verifier does.
            let digest = |i: usize| d(source[i]);
            let mut hist: Vec<[u8; 32]> = Vec::new();
            let mut map: Vec<usize> = Vec::new(); // target index of each source index
            let mut e = 0usize;
            for (t, &ti) in target.iter().enumerate() {
                let x = digest(ti);
                if e < hist.len() && hist[e] == x {
                    map[e] = t;
                    e += 1;
                } else if e == hist.len() && e < source.len() && digest(e) == x {
                    hist.push(x);
                    map.push(t);
                    e += 1;
                } else {
                    let j = replay_start(&hist, e, &x).expect("a replay");
                    map.truncate(hist.len());
                    map[j] = t;
                    e = j + 1;
                }
            }
            prop_assert_eq!(e, hist.len());
            prop_assert_eq!(hist.len(), source.len());
            // Each source record points at a copy of itself, in target order, and the last
            // target record is mapped (a translated consumer never lands before a copy it needs).
            for (s, &t0) in map.iter().enumerate() {
                prop_assert_eq!(source[target[t0]], source[s]);
                if s > 0 { prop_assert!(map[s - 1] < t0); }
            }
            prop_assert_eq!(map.last().copied(), Some(target.len() - 1));
        }
    }
}
