//! The Kafka adapter: the admin plane speaks the Kafka protocol directly (`kafka-protocol`
//! crate, `wire.rs`), because librdkafka lacks the reassignment, leader election, log-dir and
//! incremental-config APIs. [`ClusterAdmin`] is the only seam the commands use; the planner never
//! sees it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::assign::Cluster;

pub mod admin;
pub mod oauth;
pub mod quotas;
pub mod records;
pub mod security;
pub mod wire;

/// A failed Kafka interaction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KafkaError {
    #[error("cannot reach broker {address}: {message}")]
    Connect { address: String, message: String },
    #[error("{api} with {address} failed: {message}")]
    Protocol {
        address: String,
        api: &'static str,
        message: String,
    },
    #[error("broker {address} does not support API {api}: {message}")]
    Unsupported {
        address: String,
        api: i16,
        message: String,
    },
    #[error("{api} on {resource} failed: {name} ({code}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Api {
        api: &'static str,
        resource: String,
        code: i16,
        name: &'static str,
        message: Option<String>,
    },
    /// Reading or writing records (librdkafka) failed.
    #[error("{api} with {address} failed: {message}")]
    Data {
        address: String,
        api: &'static str,
        message: String,
    },
    #[error("no broker of {0} answered")]
    NoBroker(String),
    /// One broker a call must reach (its own configs, its log dirs, a leader) is down.
    #[error("broker {id} ({address}) is not reachable: {message}")]
    BrokerDown {
        id: i32,
        address: String,
        message: String,
    },
    #[error("{0}")]
    Config(String),
    /// TLS or SASL refused: which plane (`admin plane`, `record copier`), which broker, why, and
    /// what to fix.
    #[error("{plane}: cannot authenticate to {address}: {message}")]
    Auth {
        plane: &'static str,
        address: String,
        message: String,
        hint: String,
    },
}

/// What to fix for a TLS failure, from the TLS library's words (rustls' or OpenSSL's through
/// librdkafka).
pub fn tls_hint(message: &str) -> String {
    let m = message.to_ascii_lowercase();
    if m.contains("unknownissuer")
        || m.contains("unknown issuer")
        || m.contains("unable to get local issuer")
        || m.contains("self-signed certificate in certificate chain")
        || m.contains("self signed certificate in certificate chain")
    {
        "the broker's certificate is not signed by a CA in ssl.truststore.location / ssl.ca.location (PEM): point it at the CA that signed the brokers' certificates".into()
    } else if m.contains("notvalidforname")
        || m.contains("not valid for name")
        || m.contains("hostname mismatch")
        || m.contains("host name")
        || m.contains("ip address mismatch")
    {
        "the broker's certificate does not name the host you connect to: use a host name from the certificate in the bootstrap servers and in the brokers' advertised listeners (for a test cluster only: ssl.endpoint.identification.algorithm=)".into()
    } else if m.contains("certificaterequired")
        || m.contains("certificate required")
        || m.contains("handshakefailure")
        || m.contains("handshake failure")
        || m.contains("bad certificate")
        || m.contains("badcertificate")
    {
        "the broker requires a client certificate it trusts (mutual TLS): set ssl.keystore.location (PEM key and chain) or ssl.certificate.location and ssl.key.location, signed by a CA the broker trusts".into()
    } else if m.contains("expired") {
        "a certificate in the chain has expired: renew it (and check the clock of this host)".into()
    } else {
        "check the TLS settings (ssl.truststore.location, client certificate) against the listener's; is the listener TLS at all (security.protocol=SSL/SASL_SSL against a PLAINTEXT port fails like this)?".into()
    }
}

impl KafkaError {
    /// A TLS or SASL failure of this plane with this broker, with what to fix.
    pub fn auth(plane: &'static str, address: &str, message: String, hint: String) -> Self {
        Self::Auth {
            plane,
            address: address.to_string(),
            message,
            hint,
        }
    }

    /// Refused credentials or TLS: exit 6 (retrying does not help); anything else: 1.
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            Self::Auth { .. } => crate::exit::ExitCode::AuthFailed,
            _ => crate::exit::ExitCode::Failed,
        }
    }

    pub fn api(
        api: &'static str,
        resource: impl Into<String>,
        code: i16,
        message: Option<String>,
    ) -> Self {
        Self::Api {
            api,
            resource: resource.into(),
            code,
            name: error_name(code),
            message,
        }
    }

    /// The cluster or one broker could not be reached (worth retrying while a broker restarts).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::NoBroker(_) | Self::BrokerDown { .. }
        )
    }

    pub fn hint(&self) -> String {
        match self {
            Self::Connect { .. } | Self::NoBroker(_) => "check --bootstrap-server (host:port of a listener this host can reach) and that the cluster is up".into(),
            Self::BrokerDown { id, .. } => format!("broker {id} is down or unreachable: wait for it to return and run the same command again, drain it with `--remove-brokers {id}`, or `--cancel` the run"),
            Self::Data { .. } => "a record read or write failed: check both clusters are up and reachable, then run the same command again (it resumes from the journal)".into(),
            Self::Protocol { .. } | Self::Unsupported { .. } => "streamctl needs Kafka 2.4 or newer (KIP-455 reassignments); re-run with -vv for details".into(),
            Self::Api { code: 31, .. } => "the principal lacks ALTER on the cluster: grant it, or use --command-config with an admin identity".into(),
            Self::Api { code: 60, .. } => "a reassignment is already running for these partitions: `streamctl reassign --verify`, or wait".into(),
            Self::Api { .. } => "see the Kafka error code; nothing else was changed by this call".into(),
            Self::Config(_) => "fix --command-config or the security flags".into(),
            Self::Auth { hint, .. } => hint.clone(),
        }
    }
}

/// Kafka error codes streamctl meets, by name.
pub fn error_name(code: i16) -> &'static str {
    match code {
        0 => "NONE",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        5 => "LEADER_NOT_AVAILABLE",
        6 => "NOT_LEADER_OR_FOLLOWER",
        7 => "REQUEST_TIMED_OUT",
        25 => "UNKNOWN_MEMBER_ID",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        31 => "CLUSTER_AUTHORIZATION_FAILED",
        33 => "UNSUPPORTED_VERSION",
        36 => "TOPIC_ALREADY_EXISTS",
        38 => "INVALID_REPLICATION_FACTOR",
        39 => "INVALID_REPLICA_ASSIGNMENT",
        40 => "INVALID_CONFIG",
        41 => "NOT_CONTROLLER",
        42 => "INVALID_REQUEST",
        56 => "KAFKA_STORAGE_ERROR",
        60 => "REASSIGNMENT_IN_PROGRESS",
        80 => "PREFERRED_LEADER_NOT_AVAILABLE",
        83 => "ELIGIBLE_LEADERS_NOT_AVAILABLE",
        84 => "ELECTION_NOT_NEEDED",
        85 => "NO_REASSIGNMENT_IN_PROGRESS",
        _ => "KAFKA_ERROR",
    }
}

/// One record as the copy sees it: everything a consumer can observe except the offset it gets
/// on the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// CreateTime (or LogAppendTime) in ms; `None` when the broker gave none.
    pub timestamp: Option<i64>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// In order, duplicates kept; `None` is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl Record {
    /// Bytes the record carries (key, value, header keys and values): what the throttle counts.
    pub fn payload_bytes(&self) -> u64 {
        let h: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        (self.key.as_ref().map_or(0, Vec::len) + self.value.as_ref().map_or(0, Vec::len) + h) as u64
    }
}

/// A reassignment the cluster is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ongoing {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// One look at some topics' partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionStates {
    /// Brokers registered (alive) now.
    pub live_brokers: BTreeSet<i32>,
    /// Replica lists by (topic, partition).
    pub replicas: BTreeMap<(String, i32), Vec<i32>>,
    /// In-sync replicas by (topic, partition).
    pub in_sync: BTreeMap<(String, i32), Vec<i32>>,
    /// The current leader by (topic, partition); absent when it has none.
    pub leaders: BTreeMap<(String, i32), i32>,
}

/// ListOffsets timestamps with a meaning (KIP-405 / KIP-1005 add the last two; a time in ms since
/// the epoch asks for the first offset at or after it).
pub mod offset_spec {
    pub const LATEST: i64 = -1;
    pub const EARLIEST: i64 = -2;
    /// The first offset still on the broker's local disk (tiered topics).
    pub const EARLIEST_LOCAL: i64 = -4;
    /// The last offset copied to the remote store (-1 when nothing is).
    pub const LATEST_TIERED: i64 = -5;
}

/// A broker's log directories, summed (KIP-827).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskSpace {
    pub total_bytes: u64,
    pub usable_bytes: u64,
}

/// One config change: `None` deletes the key (IncrementalAlterConfigs DELETE).
pub type ConfigOp = (String, Option<String>);

/// What commands need from a Kafka cluster's admin plane.
#[allow(async_fn_in_trait)]
pub trait ClusterAdmin {
    /// Brokers with racks, assignments and partition sizes (DescribeLogDirs), as the planner's
    /// snapshot. Tiered topics (remote.storage.enable=true) report their local bytes.
    async fn snapshot(&mut self) -> Result<Cluster, KafkaError>;
    /// Live brokers, replicas and in-sync replicas of these topics' partitions, from one Metadata
    /// request scoped to them, so a poll costs the same on a cluster of any size.
    async fn partitions(&mut self, topics: &[String]) -> Result<PartitionStates, KafkaError>;
    /// Bytes these partitions' replicas hold on `broker` now (DescribeLogDirs scoped to them): how
    /// far a new replica has copied. Partitions the broker does not host are absent.
    async fn replica_bytes(
        &mut self,
        broker: i32,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), u64>, KafkaError>;
    /// Start (Some) or cancel (None) reassignments; per-partition errors are returned.
    async fn alter_reassignments(
        &mut self,
        moves: &[(String, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<(String, i32, KafkaError)>, KafkaError>;
    async fn list_reassignments(&mut self) -> Result<Vec<Ongoing>, KafkaError>;
    /// Configs of a broker (`Some(id)`) or a topic.
    async fn describe_configs(
        &mut self,
        broker: Option<i32>,
        topic: Option<&str>,
    ) -> Result<BTreeMap<String, String>, KafkaError>;
    /// Only the configs set dynamically on exactly this broker or topic (what IncrementalAlterConfigs
    /// changes and what cleanup must restore), not defaults or static files.
    async fn dynamic_configs(
        &mut self,
        broker: Option<i32>,
        topic: Option<&str>,
    ) -> Result<BTreeMap<String, String>, KafkaError>;
    /// IncrementalAlterConfigs SET / DELETE on a broker or a topic (never a full AlterConfigs).
    async fn alter_configs(
        &mut self,
        broker: Option<i32>,
        topic: Option<&str>,
        ops: &[ConfigOp],
    ) -> Result<(), KafkaError>;
    /// Ask the cluster whether it would accept these topic config changes (IncrementalAlterConfigs
    /// with validate-only): nothing changes; the error is the one the change would get.
    async fn validate_configs(&mut self, topic: &str, ops: &[ConfigOp]) -> Result<(), KafkaError>;
    /// Preferred leader election for these partitions.
    async fn elect_preferred(&mut self, partitions: &[(String, i32)]) -> Result<(), KafkaError>;
    /// The offset of each partition at `timestamp` ([`offset_spec`] or a time), asked of its
    /// leader. A partition without a leader, or whose leader does not answer, is absent; an
    /// offset of -1 means "none" (e.g. nothing tiered yet, or no record at or after the time).
    async fn list_offsets(
        &mut self,
        partitions: &[(String, i32)],
        timestamp: i64,
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError>;
    /// Total and usable bytes of a broker's log dirs; `None` where the broker does not say
    /// (before Kafka 3.3).
    async fn disk_space(&mut self, broker: i32) -> Result<Option<DiskSpace>, KafkaError>;
    /// The last address a broker was seen at (for messages about a broker that is down).
    fn broker_address(&self, broker: i32) -> Option<String>;
    /// The API keys the cluster offers (ApiVersions of the broker answering).
    async fn api_keys(&mut self) -> Result<BTreeSet<i16>, KafkaError> {
        Err(KafkaError::Config("ApiVersions not available".into()))
    }
    /// The client-id quota entity's values (`consumer_byte_rate`, ...); empty when none is set.
    async fn client_quota(
        &mut self,
        _client_id: &str,
    ) -> Result<BTreeMap<String, f64>, KafkaError> {
        Err(KafkaError::Config(
            "DescribeClientQuotas not available".into(),
        ))
    }
    /// Set (`Some`) or remove (`None`) one quota value of a client-id entity.
    async fn set_client_quota(
        &mut self,
        _client_id: &str,
        _key: &str,
        _value: Option<f64>,
    ) -> Result<(), KafkaError> {
        Err(KafkaError::Config("AlterClientQuotas not available".into()))
    }
    /// Whether the cluster accepts transactional producers (an InitProducerId with a transactional
    /// id that the broker does not refuse as unsupported or unauthorised).
    async fn accepts_transactions(&mut self) -> Result<bool, KafkaError> {
        Err(KafkaError::Config("InitProducerId not available".into()))
    }
    /// Create a topic with the broker's default replication factor and these configs.
    async fn create_topic(
        &mut self,
        _topic: &str,
        _partitions: i32,
        _configs: &BTreeMap<String, String>,
    ) -> Result<(), KafkaError> {
        Err(KafkaError::Config("CreateTopics not available".into()))
    }
    /// Grow a topic to `total` partitions (CreatePartitions; the brokers place the new ones).
    async fn create_partitions(&mut self, _topic: &str, _total: i32) -> Result<(), KafkaError> {
        Err(KafkaError::Config("CreatePartitions not available".into()))
    }
}
