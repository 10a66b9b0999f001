//! The real [`ClusterAdmin`]: Kafka protocol requests over plaintext TCP.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{alter_client_quotas_request, describe_client_quotas_request};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterPartitionReassignmentsRequest, BrokerId,
    CreatePartitionsRequest, CreateTopicsRequest, DescribeClientQuotasRequest,
    DescribeClusterRequest, DescribeConfigsRequest, DescribeLogDirsRequest, ElectLeadersRequest,
    FindCoordinatorRequest, IncrementalAlterConfigsRequest, InitProducerIdRequest,
    ListOffsetsRequest, ListPartitionReassignmentsRequest, MetadataRequest, MetadataResponse,
    TopicName, TransactionalId,
};
use kafka_protocol::protocol::{Request, StrBytes};

use super::security::Security;
use super::wire::Connection;
use super::{ClusterAdmin, ConfigOp, DiskSpace, KafkaError, Ongoing, PartitionStates};
use crate::assign::{Broker, Cluster, PartitionAssignment};

const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// One value per partition of a Metadata response, by (topic, partition).
fn per_partition(
    m: &MetadataResponse,
    f: impl Fn(&kafka_protocol::messages::metadata_response::MetadataResponsePartition) -> Vec<i32>,
) -> BTreeMap<(String, i32), Vec<i32>> {
    let mut out = BTreeMap::new();
    for t in &m.topics {
        let Some(name) = t.name.as_ref().map(|n| s(&n.0)) else {
            continue;
        };
        for p in &t.partitions {
            out.insert((name.clone(), p.partition_index), f(p));
        }
    }
    out
}

/// The config resource a call addresses: a broker by id, or a topic by name.
fn resource(
    broker: Option<i32>,
    topic: Option<&str>,
    call: &str,
) -> Result<(i8, String), KafkaError> {
    match (broker, topic) {
        (Some(b), _) => Ok((RESOURCE_BROKER, b.to_string())),
        (None, Some(t)) => Ok((RESOURCE_TOPIC, t.to_string())),
        (None, None) => Err(KafkaError::Config(format!(
            "{call} needs a broker or a topic"
        ))),
    }
}

/// Admin client for one cluster.
pub struct KafkaAdmin {
    bootstrap: Vec<String>,
    security: Security,
    /// A connection to any broker (re-opened to another one when it breaks).
    any: Option<Connection>,
    by_broker: HashMap<i32, Connection>,
    addresses: BTreeMap<i32, String>,
    /// Every address a broker was ever listed at (a stopped broker leaves the metadata).
    seen: BTreeMap<i32, String>,
}

fn s(x: &StrBytes) -> String {
    x.as_str().to_string()
}

impl KafkaAdmin {
    /// Connect to the first bootstrap server that answers.
    pub async fn connect(bootstrap: &str, security: &Security) -> Result<Self, KafkaError> {
        let list: Vec<String> = bootstrap
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect();
        let mut last = KafkaError::NoBroker(bootstrap.to_string());
        for addr in &list {
            match Connection::open(addr, security).await {
                Ok(c) => {
                    let mut admin = Self {
                        bootstrap: list.clone(),
                        security: security.clone(),
                        any: Some(c),
                        by_broker: HashMap::new(),
                        addresses: BTreeMap::new(),
                        seen: BTreeMap::new(),
                    };
                    admin.metadata(Some(&[])).await?;
                    return Ok(admin);
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "bootstrap server did not answer");
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Metadata for every topic (`None`) or only these.
    async fn metadata(
        &mut self,
        topics: Option<&[String]>,
    ) -> Result<MetadataResponse, KafkaError> {
        let topics = topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect()
        });
        let m = self
            .call_any(MetadataRequest::default().with_topics(topics))
            .await?;
        self.addresses = m
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", s(&b.host), b.port)))
            .collect();
        self.seen
            .extend(self.addresses.iter().map(|(k, v)| (*k, v.clone())));
        Ok(m)
    }

    async fn broker(&mut self, id: i32) -> Result<&mut Connection, KafkaError> {
        if !self.by_broker.contains_key(&id) {
            let Some(addr) = self.addresses.get(&id).cloned() else {
                return Err(KafkaError::BrokerDown {
                    id,
                    address: self
                        .seen
                        .get(&id)
                        .cloned()
                        .unwrap_or_else(|| "address unknown".into()),
                    message: "not in the cluster metadata (stopped or fenced)".into(),
                });
            };
            let c = Connection::open(&addr, &self.security)
                .await
                .map_err(|e| match e {
                    KafkaError::Connect { address, message } => KafkaError::BrokerDown {
                        id,
                        address,
                        message,
                    },
                    other => other,
                })?;
            self.by_broker.insert(id, c);
        }
        Ok(self.by_broker.get_mut(&id).expect("inserted"))
    }

    /// Partition sizes on one broker: (topic, partition) -> bytes (current log dir, not future),
    /// for every partition (`None`) or only these.
    async fn log_dir_sizes(
        &mut self,
        id: i32,
        only: Option<&[(String, i32)]>,
    ) -> Result<HashMap<(String, i32), u64>, KafkaError> {
        let topics = only.map(|ps| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (t, p) in ps {
                by_topic.entry(t.as_str()).or_default().push(*p);
            }
            by_topic
                .into_iter()
                .map(|(t, ps)| {
                    DescribableLogDirTopic::default()
                        .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(ps)
                })
                .collect()
        });
        let r = self
            .call_broker(id, DescribeLogDirsRequest::default().with_topics(topics))
            .await?;
        let mut out = HashMap::new();
        for dir in &r.results {
            if dir.error_code != 0 {
                continue;
            }
            for t in &dir.topics {
                for p in &t.partitions {
                    if !p.is_future_key {
                        out.insert(
                            (s(&t.name.0), p.partition_index),
                            p.partition_size.max(0) as u64,
                        );
                    }
                }
            }
        }
        Ok(out)
    }

    /// Send to any broker; a broken connection is replaced by one to another broker, once.
    async fn call_any<R: Request + Clone>(&mut self, req: R) -> Result<R::Response, KafkaError> {
        let mut last = None;
        for _ in 0..2 {
            if self.any.is_none() {
                self.any = Some(self.reconnect().await?);
            }
            let c = self.any.as_mut().expect("just connected");
            match c.send(req.clone()).await {
                Ok(r) => return Ok(r),
                Err(e @ KafkaError::Connect { .. }) => {
                    tracing::warn!(error = %e, "connection lost; trying another broker");
                    self.any = None;
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("two failed attempts"))
    }

    /// Send to one broker; a broken connection (the broker restarted) is re-opened once.
    async fn call_broker<R: Request + Clone>(
        &mut self,
        id: i32,
        req: R,
    ) -> Result<R::Response, KafkaError> {
        let r = self.broker(id).await?.send(req.clone()).await;
        let r = match r {
            Err(KafkaError::Connect { .. }) => {
                self.by_broker.remove(&id);
                let r = self.broker(id).await?.send(req).await;
                if r.is_err() {
                    self.by_broker.remove(&id);
                }
                r
            }
            other => other,
        };
        // A connection that broke twice: this broker is down, say which.
        r.map_err(|e| match e {
            KafkaError::Connect { address, message } => KafkaError::BrokerDown {
                id,
                address,
                message,
            },
            other => other,
        })
    }

    /// A connection to the first broker that answers: known brokers first, then bootstrap.
    async fn reconnect(&self) -> Result<Connection, KafkaError> {
        let mut last = KafkaError::NoBroker(self.bootstrap.join(","));
        for addr in self.addresses.values().chain(self.bootstrap.iter()) {
            match Connection::open(addr, &self.security).await {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn configs(
        &mut self,
        broker: Option<i32>,
        topic: Option<&str>,
        dynamic_only: bool,
    ) -> Result<BTreeMap<String, String>, KafkaError> {
        let (kind, name) = resource(broker, topic, "describe_configs")?;
        let res = DescribeConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_string(name.clone()))
            .with_configuration_keys(None);
        let req = DescribeConfigsRequest::default().with_resources(vec![res]);
        let r = match broker {
            Some(b) => self.call_broker(b, req).await?,
            None => self.call_any(req).await?,
        };
        let mut out = BTreeMap::new();
        for x in &r.results {
            if x.error_code != 0 {
                return Err(KafkaError::api(
                    "DescribeConfigs",
                    &name,
                    x.error_code,
                    x.error_message.as_ref().map(s),
                ));
            }
            for c in &x.configs {
                // TOPIC_CONFIG (1) on a topic, DYNAMIC_BROKER_CONFIG (2) on a broker.
                if let Some(v) = &c.value {
                    if !dynamic_only || matches!(c.config_source, 1 | 2) {
                        out.insert(s(&c.name), s(v));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Brokers registered with the controller but fenced (not running), with their racks
    /// (DescribeCluster v2, KIP-1073); none on clusters too old to say.
    async fn fenced_brokers(&mut self) -> Result<Vec<Broker>, KafkaError> {
        let r = match self
            .call_any(DescribeClusterRequest::default().with_include_fenced_brokers(true))
            .await
        {
            Ok(r) => r,
            // Before Kafka 4.0 the request has no IncludeFencedBrokers field.
            Err(KafkaError::Protocol { .. }) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(r.brokers
            .iter()
            .filter(|b| b.is_fenced)
            .map(|b| Broker {
                id: b.broker_id.0,
                rack: b.rack.as_ref().map(s),
                offline: true,
                capacity_bytes: None,
            })
            .collect())
    }

    /// IncrementalAlterConfigs SET / DELETE; with `validate_only` the cluster checks and changes
    /// nothing.
    async fn incremental_alter(
        &mut self,
        broker: Option<i32>,
        topic: Option<&str>,
        ops: &[ConfigOp],
        validate_only: bool,
    ) -> Result<(), KafkaError> {
        let (kind, name) = resource(broker, topic, "alter_configs")?;

        let configs = ops
            .iter()
            .map(|(k, v)| {
                AlterableConfig::default()
                    .with_name(StrBytes::from_string(k.clone()))
                    .with_config_operation(if v.is_some() { 0 } else { 1 })
                    .with_value(v.as_ref().map(|v| StrBytes::from_string(v.clone())))
            })
            .collect();
        let res = AlterConfigsResource::default()
            .with_resource_type(kind)
            .with_resource_name(StrBytes::from_string(name.clone()))
            .with_configs(configs);
        let req = IncrementalAlterConfigsRequest::default()
            .with_resources(vec![res])
            .with_validate_only(validate_only);
        // A broker's own dynamic config goes to that broker (it forwards in KRaft mode).
        let r = match broker {
            Some(b) => self.call_broker(b, req).await?,
            None => self.call_any(req).await?,
        };
        for x in &r.responses {
            if x.error_code != 0 {
                return Err(KafkaError::api(
                    "IncrementalAlterConfigs",
                    &name,
                    x.error_code,
                    x.error_message.as_ref().map(s),
                ));
            }
        }
        Ok(())
    }

    pub fn bootstrap(&self) -> &[String] {
        &self.bootstrap
    }
}

impl ClusterAdmin for KafkaAdmin {
    async fn snapshot(&mut self) -> Result<Cluster, KafkaError> {
        let m = self.metadata(None).await?;
        let mut brokers: Vec<Broker> = m
            .brokers
            .iter()
            .map(|b| Broker {
                id: b.node_id.0,
                rack: b.rack.as_ref().map(s),
                offline: false,
                capacity_bytes: None,
            })
            .collect();
        let live = brokers.clone();
        // (a broker fenced a moment ago may still be in this metadata: listed once, as live)
        for f in self.fenced_brokers().await? {
            if !brokers.iter().any(|b| b.id == f.id) {
                brokers.push(f);
            }
        }
        let mut sizes: HashMap<(String, i32), u64> = HashMap::new();
        for b in &live {
            // A broker going down as we ask (still in the metadata, no longer listening) is
            // skipped: the sizes come from the partitions' other replicas.
            let found = match self.log_dir_sizes(b.id, None).await {
                Err(e @ (KafkaError::Connect { .. } | KafkaError::BrokerDown { .. })) => {
                    tracing::warn!(broker = b.id, error = %e, "no partition sizes from this broker");
                    continue;
                }
                r => r?,
            };
            for (k, v) in found {
                let e = sizes.entry(k).or_default();
                *e = (*e).max(v);
            }
        }
        // Disk sizes (KIP-827) for utilisation-aware planning; a broker that does not say has none.
        for b in brokers.iter_mut().filter(|b| !b.offline) {
            if let Ok(Some(d)) = self.disk_space(b.id).await {
                b.capacity_bytes = Some(d.total_bytes);
            }
        }
        let mut partitions = Vec::new();
        let mut tiered: HashMap<String, bool> = HashMap::new();
        for t in &m.topics {
            let Some(name) = t.name.as_ref().map(|n| s(&n.0)) else {
                continue;
            };
            if t.error_code != 0 {
                return Err(KafkaError::api("Metadata", &name, t.error_code, None));
            }
            let remote = match tiered.get(&name) {
                Some(x) => *x,
                None => {
                    let cfg = self.describe_configs(None, Some(&name)).await?;
                    let x = cfg
                        .get("remote.storage.enable")
                        .is_some_and(|v| v == "true");
                    tiered.insert(name.clone(), x);
                    x
                }
            };
            for p in &t.partitions {
                let size = sizes.get(&(name.clone(), p.partition_index)).copied();
                partitions.push(PartitionAssignment {
                    topic: name.clone(),
                    partition: p.partition_index,
                    replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                    size_bytes: if remote { None } else { size },
                    local_size_bytes: if remote { size } else { None },
                });
            }
        }
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        brokers.sort_by_key(|b| b.id);
        Ok(Cluster {
            brokers,
            partitions,
        })
    }

    async fn partitions(&mut self, topics: &[String]) -> Result<PartitionStates, KafkaError> {
        let m = self.metadata(Some(topics)).await?;
        Ok(PartitionStates {
            live_brokers: m.brokers.iter().map(|b| b.node_id.0).collect(),
            replicas: per_partition(&m, |p| p.replica_nodes.iter().map(|b| b.0).collect()),
            in_sync: per_partition(&m, |p| p.isr_nodes.iter().map(|b| b.0).collect()),
            leaders: per_partition(&m, |p| vec![p.leader_id.0])
                .into_iter()
                .filter_map(|(k, v)| v.first().copied().filter(|&l| l >= 0).map(|l| (k, l)))
                .collect(),
        })
    }

    async fn replica_bytes(
        &mut self,
        broker: i32,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), u64>, KafkaError> {
        Ok(self
            .log_dir_sizes(broker, Some(partitions))
            .await?
            .into_iter()
            .collect())
    }

    async fn alter_reassignments(
        &mut self,
        moves: &[(String, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<(String, i32, KafkaError)>, KafkaError> {
        let mut by_topic: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for (t, p, r) in moves {
            by_topic.entry(t.as_str()).or_default().push(
                ReassignablePartition::default()
                    .with_partition_index(*p)
                    .with_replicas(r.as_ref().map(|r| r.iter().map(|&b| BrokerId(b)).collect())),
            );
        }
        let topics = by_topic
            .into_iter()
            .map(|(t, ps)| {
                ReassignableTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect();
        let req = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(60_000)
            .with_allow_replication_factor_change(true)
            .with_topics(topics);
        let r = self.call_any(req).await?;
        if r.error_code != 0 {
            return Err(KafkaError::api(
                "AlterPartitionReassignments",
                "cluster",
                r.error_code,
                r.error_message.as_ref().map(s),
            ));
        }
        let mut errors = Vec::new();
        for t in &r.responses {
            for p in &t.partitions {
                if p.error_code != 0 {
                    let name = s(&t.name.0);
                    errors.push((
                        name.clone(),
                        p.partition_index,
                        KafkaError::api(
                            "AlterPartitionReassignments",
                            format!("{name}-{}", p.partition_index),
                            p.error_code,
                            p.error_message.as_ref().map(s),
                        ),
                    ));
                }
            }
        }
        Ok(errors)
    }

    async fn list_reassignments(&mut self) -> Result<Vec<Ongoing>, KafkaError> {
        let r = self
            .call_any(
                ListPartitionReassignmentsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(None),
            )
            .await?;
        if r.error_code != 0 {
            return Err(KafkaError::api(
                "ListPartitionReassignments",
                "cluster",
                r.error_code,
                r.error_message.as_ref().map(s),
            ));
        }
        let mut out = Vec::new();
        for t in &r.topics {
            for p in &t.partitions {
                out.push(Ongoing {
                    topic: s(&t.name.0),
                    partition: p.partition_index,
                    replicas: p.replicas.iter().map(|b| b.0).collect(),
                    adding: p.adding_replicas.iter().map(|b| b.0).collect(),
                    removing: p.removing_replicas.iter().map(|b| b.0).collect(),
                });
            }
        }
        out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Ok(out)
    }

    async fn describe_configs(
        &mut self,
        broker: Option<i32>,
        topic: Option<&str>,
    ) -> Result<BTreeMap<String, String>, KafkaError> {
        self.configs(broker, topic, false).await
    }

    async fn dynamic_configs(
        &mut self,
        broker: Option<i32>,
        topic: Option<&str>,
    ) -> Result<BTreeMap<String, String>, KafkaError> {
        self.configs(broker, topic, true).await
    }

    async fn alter_configs(
        &mut self,
        broker: Option<i32>,
        topic: Option<&str>,
        ops: &[ConfigOp],
    ) -> Result<(), KafkaError> {
        self.incremental_alter(broker, topic, ops, false).await
    }

    async fn validate_configs(&mut self, topic: &str, ops: &[ConfigOp]) -> Result<(), KafkaError> {
        self.incremental_alter(None, Some(topic), ops, true).await
    }

    async fn elect_preferred(&mut self, partitions: &[(String, i32)]) -> Result<(), KafkaError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for (t, p) in partitions {
            by_topic.entry(t).or_default().push(*p);
        }
        let tps = by_topic
            .into_iter()
            .map(|(t, ps)| {
                TopicPartitions::default()
                    .with_topic(TopicName(StrBytes::from_string(t.to_string())))
                    .with_partitions(ps)
            })
            .collect();
        let r = self
            .call_any(
                ElectLeadersRequest::default()
                    .with_election_type(0)
                    .with_timeout_ms(60_000)
                    .with_topic_partitions(Some(tps)),
            )
            .await?;
        if r.error_code != 0 {
            return Err(KafkaError::api(
                "ElectLeaders",
                "cluster",
                r.error_code,
                None,
            ));
        }
        for t in &r.replica_election_results {
            for p in &t.partition_result {
                // ELECTION_NOT_NEEDED: the preferred leader already leads.
                // PREFERRED_LEADER_NOT_AVAILABLE / ELIGIBLE_LEADERS_NOT_AVAILABLE: it is down or
                // out of sync; it leads again once back (auto.leader.rebalance.enable), or on
                // the next run.
                if matches!(p.error_code, 80 | 83) {
                    tracing::warn!(
                        partition = %format!("{}-{}", s(&t.topic.0), p.partition_id),
                        "preferred leader not available now; it is elected when it is back"
                    );
                    continue;
                }
                if p.error_code != 0 && p.error_code != 84 {
                    return Err(KafkaError::api(
                        "ElectLeaders",
                        format!("{}-{}", s(&t.topic.0), p.partition_id),
                        p.error_code,
                        p.error_message.as_ref().map(s),
                    ));
                }
            }
        }
        Ok(())
    }

    async fn list_offsets(
        &mut self,
        partitions: &[(String, i32)],
        timestamp: i64,
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
        let mut topics: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
        topics.sort();
        topics.dedup();
        let leaders = self.partitions(&topics).await?.leaders;
        let mut by_leader: BTreeMap<i32, BTreeMap<&str, Vec<i32>>> = BTreeMap::new();
        for (t, p) in partitions {
            if let Some(&l) = leaders.get(&(t.clone(), *p)) {
                by_leader
                    .entry(l)
                    .or_default()
                    .entry(t.as_str())
                    .or_default()
                    .push(*p);
            }
        }
        let mut out = BTreeMap::new();
        for (leader, by_topic) in by_leader {
            let topics = by_topic
                .into_iter()
                .map(|(t, ps)| {
                    ListOffsetsTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.to_string())))
                        .with_partitions(
                            ps.into_iter()
                                .map(|p| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(p)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(timestamp)
                                })
                                .collect(),
                        )
                })
                .collect();
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(0)
                .with_topics(topics);
            let r = match self.call_broker(leader, req).await {
                Ok(r) => r,
                // A leader going away: its partitions are absent from this answer.
                Err(e @ (KafkaError::Connect { .. } | KafkaError::BrokerDown { .. })) => {
                    tracing::debug!(broker = leader, error = %e, "no offsets from this leader");
                    continue;
                }
                Err(e) => return Err(e),
            };
            for t in &r.topics {
                for p in &t.partitions {
                    match p.error_code {
                        0 => {
                            out.insert((s(&t.name.0), p.partition_index), p.offset);
                        }
                        // Leadership moved or not yet known: absent, asked again next time.
                        6 | 74 | 75 => {}
                        code => {
                            return Err(KafkaError::api(
                                "ListOffsets",
                                format!("{}-{}", s(&t.name.0), p.partition_index),
                                code,
                                None,
                            ))
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn broker_address(&self, broker: i32) -> Option<String> {
        self.seen.get(&broker).cloned()
    }

    async fn api_keys(&mut self) -> Result<BTreeSet<i16>, KafkaError> {
        if self.any.is_none() {
            self.any = Some(self.reconnect().await?);
        }
        Ok(self.any.as_ref().expect("connected").api_keys())
    }

    async fn create_topic(
        &mut self,
        topic: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), KafkaError> {
        let t = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_num_partitions(partitions)
            .with_replication_factor(-1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(Some(StrBytes::from_string(v.clone())))
                    })
                    .collect(),
            );
        let r = self
            .call_any(
                CreateTopicsRequest::default()
                    .with_topics(vec![t])
                    .with_timeout_ms(30_000),
            )
            .await?;
        for t in &r.topics {
            if t.error_code != 0 {
                return Err(KafkaError::api(
                    "CreateTopics",
                    s(&t.name.0),
                    t.error_code,
                    t.error_message.as_ref().map(s),
                ));
            }
        }
        Ok(())
    }

    async fn create_partitions(&mut self, topic: &str, total: i32) -> Result<(), KafkaError> {
        let t = CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_count(total)
            .with_assignments(None);
        let r = self
            .call_any(
                CreatePartitionsRequest::default()
                    .with_topics(vec![t])
                    .with_timeout_ms(30_000),
            )
            .await?;
        for t in &r.results {
            if t.error_code != 0 {
                return Err(KafkaError::api(
                    "CreatePartitions",
                    s(&t.name.0),
                    t.error_code,
                    t.error_message.as_ref().map(s),
                ));
            }
        }
        Ok(())
    }

    async fn client_quota(&mut self, client_id: &str) -> Result<BTreeMap<String, f64>, KafkaError> {
        let r = self
            .call_any(
                DescribeClientQuotasRequest::default()
                    .with_components(vec![
                        describe_client_quotas_request::ComponentData::default()
                            .with_entity_type(StrBytes::from_static_str("client-id"))
                            .with_match_type(0)
                            .with_match(Some(StrBytes::from_string(client_id.to_string()))),
                    ])
                    .with_strict(true),
            )
            .await?;
        if r.error_code != 0 {
            return Err(KafkaError::api(
                "DescribeClientQuotas",
                format!("client-id {client_id}"),
                r.error_code,
                r.error_message.as_ref().map(s),
            ));
        }
        let mut out = BTreeMap::new();
        for e in r.entries.unwrap_or_default() {
            for v in e.values {
                out.insert(s(&v.key), v.value);
            }
        }
        Ok(out)
    }

    async fn set_client_quota(
        &mut self,
        client_id: &str,
        key: &str,
        value: Option<f64>,
    ) -> Result<(), KafkaError> {
        let entry = alter_client_quotas_request::EntryData::default()
            .with_entity(vec![alter_client_quotas_request::EntityData::default()
                .with_entity_type(StrBytes::from_static_str("client-id"))
                .with_entity_name(Some(StrBytes::from_string(
                    client_id.to_string(),
                )))])
            .with_ops(vec![alter_client_quotas_request::OpData::default()
                .with_key(StrBytes::from_string(key.to_string()))
                .with_value(value.unwrap_or(0.0))
                .with_remove(value.is_none())]);
        let r = self
            .call_any(AlterClientQuotasRequest::default().with_entries(vec![entry]))
            .await?;
        for e in &r.entries {
            if e.error_code != 0 {
                return Err(KafkaError::api(
                    "AlterClientQuotas",
                    format!("client-id {client_id}"),
                    e.error_code,
                    e.error_message.as_ref().map(s),
                ));
            }
        }
        Ok(())
    }

    async fn accepts_transactions(&mut self) -> Result<bool, KafkaError> {
        let id = format!("streamctl-probe-{}", std::process::id());
        // The transaction coordinator first (Kafka answers NOT_COORDINATOR elsewhere); a cluster
        // without transactions may not know the coordinator type at all.
        let found = self
            .call_any(
                FindCoordinatorRequest::default()
                    .with_key(StrBytes::from_string(id.clone()))
                    .with_key_type(1)
                    .with_coordinator_keys(vec![StrBytes::from_string(id.clone())]),
            )
            .await;
        let coordinator = match found {
            Ok(r) => r
                .coordinators
                .first()
                .filter(|c| c.error_code == 0)
                .map(|c| c.node_id.0)
                .or((r.error_code == 0 && r.node_id.0 >= 0).then_some(r.node_id.0)),
            Err(_) => None,
        };
        let req = InitProducerIdRequest::default()
            .with_transactional_id(Some(TransactionalId(StrBytes::from_string(id))))
            .with_transaction_timeout_ms(10_000);
        let r = match coordinator {
            Some(node) => self.call_broker(node, req).await?,
            None => self.call_any(req).await?,
        };
        // 53 TRANSACTIONAL_ID_AUTHORIZATION_FAILED (also what a broker without transactions
        // answers), 35 UNSUPPORTED_VERSION, 42 INVALID_REQUEST: no transactions for us.
        Ok(!matches!(r.error_code, 53 | 35 | 42))
    }

    async fn disk_space(&mut self, broker: i32) -> Result<Option<DiskSpace>, KafkaError> {
        // No partitions asked for: only the log dirs themselves.
        let r = self
            .call_broker(
                broker,
                DescribeLogDirsRequest::default().with_topics(Some(Vec::new())),
            )
            .await?;
        let dirs: Vec<_> = r
            .results
            .iter()
            .filter(|d| d.error_code == 0 && d.total_bytes >= 0)
            .collect();
        if dirs.is_empty() {
            return Ok(None);
        }
        Ok(Some(DiskSpace {
            total_bytes: dirs.iter().map(|d| d.total_bytes as u64).sum(),
            usable_bytes: dirs.iter().map(|d| d.usable_bytes.max(0) as u64).sum(),
        }))
    }
}
