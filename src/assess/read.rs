//! Reading a live cluster for `assess`: the admin plane (brokers, racks, disks, partition sizes,
//! topic and broker configs, log start and end offsets) at both ends of the window, and the
//! data plane (consumer groups, their members and committed offsets).

use std::collections::BTreeMap;

use super::{BrokerSample, GroupSample, Reading, TopicSample};
use crate::assign::Cluster;
use crate::kafka::records::DataCluster;
use crate::kafka::{offset_spec, ClusterAdmin, KafkaError};

/// One reading of the cluster: its snapshot and each selected topic's summed sizes and offsets.
pub struct Snapshot {
    pub cluster: Cluster,
    pub topics: BTreeMap<String, Reading>,
}

/// Whether `assess` looks at a topic: not an internal one (`__consumer_offsets`,
/// `__remote_log_metadata`, ...), and matching `--topics` when given.
pub fn selected(topic: &str, re: Option<&regex::Regex>) -> bool {
    !topic.starts_with("__") && re.is_none_or(|r| r.is_match(topic))
}

/// Read the cluster once: sizes by DescribeLogDirs (each partition's largest replica, local
/// bytes for tiered topics), offsets by ListOffsets.
pub async fn reading(
    admin: &mut impl ClusterAdmin,
    re: Option<&regex::Regex>,
) -> Result<Snapshot, KafkaError> {
    let mut cluster = admin.snapshot().await?;
    cluster.partitions.retain(|p| selected(&p.topic, re));
    let parts: Vec<(String, i32)> = cluster
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    let low = admin.list_offsets(&parts, offset_spec::EARLIEST).await?;
    let high = admin.list_offsets(&parts, offset_spec::LATEST).await?;
    let mut topics: BTreeMap<String, Reading> = BTreeMap::new();
    for p in &cluster.partitions {
        let k = (p.topic.clone(), p.partition);
        let r = topics.entry(p.topic.clone()).or_default();
        r.bytes += p.size_bytes.or(p.local_size_bytes).unwrap_or(0);
        r.log_start += low.get(&k).copied().unwrap_or(0).max(0);
        r.log_end += high.get(&k).copied().unwrap_or(0).max(0);
    }
    Ok(Snapshot { cluster, topics })
}

/// What `assess` reads of a broker's configs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerConfigs {
    /// `remote.log.storage.system.enable=true`.
    pub remote_storage: bool,
    /// `remote.log.manager.task.interval.ms`.
    pub remote_task_interval_ms: Option<u64>,
    /// `log.retention.check.interval.ms`.
    pub retention_check_interval_ms: Option<u64>,
}

/// Each topic's configs in effect, and what each broker says about tiering.
pub async fn configs(
    admin: &mut impl ClusterAdmin,
    cluster: &Cluster,
) -> Result<
    (
        BTreeMap<String, BTreeMap<String, String>>,
        BTreeMap<i32, BrokerConfigs>,
    ),
    KafkaError,
> {
    let mut topics = BTreeMap::new();
    for p in &cluster.partitions {
        if !topics.contains_key(&p.topic) {
            let c = admin.describe_configs(None, Some(&p.topic)).await?;
            topics.insert(p.topic.clone(), c);
        }
    }
    let mut brokers = BTreeMap::new();
    for b in cluster.brokers.iter().filter(|b| !b.offline) {
        let c = admin.describe_configs(Some(b.id), None).await?;
        let ms = |k: &str| c.get(k).and_then(|v| v.parse::<u64>().ok());
        brokers.insert(
            b.id,
            BrokerConfigs {
                remote_storage: c
                    .get("remote.log.storage.system.enable")
                    .is_some_and(|v| v == "true"),
                remote_task_interval_ms: ms("remote.log.manager.task.interval.ms"),
                retention_check_interval_ms: ms("log.retention.check.interval.ms"),
            },
        );
    }
    Ok((topics, brokers))
}

/// Consumer groups with a committed offset on the selected partitions: members, lag (against
/// the ends of the last reading) and the topics they read.
pub fn groups(
    data: &dyn DataCluster,
    ends: &BTreeMap<(String, i32), i64>,
) -> Result<Vec<GroupSample>, KafkaError> {
    let parts: Vec<(String, i32)> = ends.keys().cloned().collect();
    let mut out = Vec::new();
    for g in data.groups()? {
        let committed = data.committed(&g, &parts)?;
        if committed.is_empty() {
            continue;
        }
        let members = data.group(&g)?.map_or(0, |i| i.members);
        let lag = committed
            .iter()
            .map(|(k, &c)| (ends.get(k).copied().unwrap_or(c) - c).max(0))
            .sum();
        let mut topics: Vec<String> = committed.keys().map(|k| k.0.clone()).collect();
        topics.dedup();
        out.push(GroupSample {
            group: g,
            members,
            lag_records: lag,
            topics,
        });
    }
    Ok(out)
}

/// Per partition, its log end offset as the data plane sees it now.
pub fn ends(
    data: &dyn DataCluster,
    cluster: &Cluster,
) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
    let mut out = BTreeMap::new();
    for p in &cluster.partitions {
        out.insert(
            (p.topic.clone(), p.partition),
            data.watermarks(&p.topic, p.partition)?.1,
        );
    }
    Ok(out)
}

/// The topics of two readings as samples, and the brokers of the last one.
pub fn samples(
    first: &Snapshot,
    last: &Snapshot,
    configs: &BTreeMap<String, BTreeMap<String, String>>,
    broker_configs: &BTreeMap<i32, BrokerConfigs>,
) -> (Vec<TopicSample>, Vec<BrokerSample>) {
    let mut shape: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
    for p in &last.cluster.partitions {
        let s = shape.entry(&p.topic).or_default();
        s.0 += 1;
        s.1 = s.1.max(p.replicas.len() as u32);
    }
    let topics = last
        .topics
        .iter()
        .map(|(t, end)| {
            let (partitions, rf) = shape.get(t.as_str()).copied().unwrap_or_default();
            TopicSample {
                topic: t.clone(),
                partitions,
                replication_factor: rf,
                configs: configs.get(t).cloned().unwrap_or_default(),
                // A topic created in the window starts from nothing.
                start: first.topics.get(t).copied().unwrap_or_default(),
                end: *end,
            }
        })
        .collect();
    let mut held: BTreeMap<i32, u64> = BTreeMap::new();
    for p in &last.cluster.partitions {
        let size = p.size_bytes.or(p.local_size_bytes).unwrap_or(0);
        for b in &p.replicas {
            *held.entry(*b).or_default() += size;
        }
    }
    let brokers = last
        .cluster
        .brokers
        .iter()
        .map(|b| {
            let c = broker_configs.get(&b.id).copied().unwrap_or_default();
            BrokerSample {
                id: b.id,
                rack: b.rack.clone(),
                bytes: held.get(&b.id).copied().unwrap_or(0),
                disk_total_bytes: b.capacity_bytes,
                remote_storage: c.remote_storage,
                remote_task_interval_ms: c.remote_task_interval_ms,
                retention_check_interval_ms: c.retention_check_interval_ms,
            }
        })
        .collect();
    (topics, brokers)
}
