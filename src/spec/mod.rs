//! The cluster spec (`cluster.yaml`): types, parsing with located errors, and validation (pure:
//! parsing takes the text, never a path).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod diagnostic;
pub mod duration;
mod locate;
mod parse;
mod validate;

pub use diagnostic::{Diagnostic, Location, Severity};
pub use duration::Duration;
pub use parse::{check, parse, parse_syntax, SpecError};
pub use validate::validate;

use crate::sizing::gp3::Gp3;
use crate::sizing::models::ConsumerGroups;

/// A whole cluster: what `provision`, `render` and `size` read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// Lower-case letters, digits and hyphens; used in resource names and tags.
    pub name: String,
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// Three AZ names, or `auto` to pick three that offer every instance type.
    pub availability_zones: AvailabilityZones,
    pub flavor: Flavor,
    /// Which Kafka distribution renders configs (tiered: `apache` KIP-405 or `confluent`).
    #[serde(default)]
    pub distribution: Distribution,
    pub workload: WorkloadSpec,
    pub node_groups: Vec<NodeGroup>,
    /// Required for tiered and diskless flavors.
    #[serde(default)]
    pub object_store: Option<ObjectStore>,
    #[serde(default)]
    pub network: Network,
    /// Optional: the Kafka archive nodes install (with its SHA-256).
    #[serde(default)]
    pub kafka_artifact: Option<KafkaArtifact>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AvailabilityZones {
    /// `auto` / `pick-three`.
    Pick(PickAzs),
    Named(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PickAzs {
    #[serde(rename = "auto", alias = "pick-three")]
    Auto,
}

impl AvailabilityZones {
    /// How many AZs the cluster spans (`auto` picks three).
    pub fn count(&self) -> usize {
        match self {
            Self::Pick(_) => 3,
            Self::Named(v) => v.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flavor {
    Classic,
    Tiered,
    Diskless,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Tiered => "tiered",
            Self::Diskless => "diskless",
        }
    }
    pub fn storage_model(self) -> crate::sizing::StorageModel {
        match self {
            Self::Classic => crate::sizing::StorageModel::Classic,
            Self::Tiered => crate::sizing::StorageModel::Tiered,
            Self::Diskless => crate::sizing::StorageModel::Diskless,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    #[default]
    Apache,
    Confluent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// Sustained producer ingress, MB/s.
    pub ingress_mbps: f64,
    #[serde(default)]
    pub consumer_groups: ConsumerGroupsSpec,
    #[serde(default = "default_rf")]
    pub replication_factor: u32,
    #[serde(default = "default_min_isr")]
    pub min_insync_replicas: u32,
    /// Topic retention, e.g. `7d`.
    pub retention: Duration,
    /// Tiered only: how long closed segments stay on broker volumes, e.g. `4h`.
    #[serde(default)]
    pub local_retention: Option<Duration>,
}

fn default_rf() -> u32 {
    3
}
fn default_min_isr() -> u32 {
    2
}

/// Consumer groups by where they read (each reads the full ingress rate).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerGroupsSpec {
    #[serde(default)]
    pub tip: u32,
    #[serde(default)]
    pub lagging: u32,
    #[serde(default)]
    pub remote: u32,
}

impl From<ConsumerGroupsSpec> for ConsumerGroups {
    fn from(c: ConsumerGroupsSpec) -> Self {
        ConsumerGroups {
            tip: c.tip,
            lagging: c.lagging,
            remote: c.remote,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Kafka broker (classic, tiered).
    Broker,
    /// KRaft controller quorum (classic, tiered).
    Controller,
    /// etcd metadata quorum (diskless / Bufstream).
    Etcd,
    /// Bufstream broker (diskless).
    Bufstream,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broker => "broker",
            Self::Controller => "controller",
            Self::Etcd => "etcd",
            Self::Bufstream => "bufstream",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    pub name: String,
    pub role: Role,
    pub instance_type: String,
    pub count: u32,
    /// The gp3 data volume (brokers, controllers, etcd). Diskless brokers have none.
    #[serde(default)]
    pub data_volume: Option<Gp3>,
    /// Root volume size, GiB (gp3, encrypted).
    #[serde(default = "default_root_gib")]
    pub root_volume_gib: u64,
    /// Accept a count that is not a multiple of the AZ count.
    #[serde(default)]
    pub allow_uneven: bool,
    /// AMI to launch; default: the newest Amazon Linux 2023 x86_64 image in the region.
    #[serde(default)]
    pub image_id: Option<String>,
}

fn default_root_gib() -> u64 {
    20
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectStore {
    pub bucket: String,
    #[serde(default)]
    pub encryption: Encryption,
    /// Required with `encryption: sse-kms`.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Days after which incomplete multipart uploads are aborted (default: min(7, retention days)).
    #[serde(default)]
    pub abort_incomplete_multipart_days: Option<u32>,
    /// Expire objects after this many days. Must be longer than the longest topic retention.
    #[serde(default)]
    pub expiration_days: Option<u32>,
    /// Bucket policy denying requests without TLS (`aws:SecureTransport`).
    #[serde(default = "yes")]
    pub deny_insecure_transport: bool,
    /// S3-compatible endpoint for brokers (e.g. an on-premises object store, seed 003).
    #[serde(default)]
    pub endpoint_url: Option<String>,
}

fn yes() -> bool {
    true
}

impl ObjectStore {
    /// The abort-incomplete-multipart window: the spec's, or min(7, retention in days) (seed 000).
    pub fn abort_days(&self, retention: Duration) -> u32 {
        self.abort_incomplete_multipart_days
            .unwrap_or_else(|| retention.days_ceil().clamp(1, 7) as u32)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encryption {
    #[default]
    SseS3,
    SseKms,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Use this VPC (with `subnets`), or leave empty to create one.
    #[serde(default)]
    pub vpc_id: Option<String>,
    /// AZ name -> existing subnet id.
    #[serde(default)]
    pub subnets: BTreeMap<String, String>,
    /// CIDR for a created VPC.
    #[serde(default)]
    pub vpc_cidr: Option<String>,
    /// Where clients connect from.
    #[serde(default)]
    pub client_cidrs: Vec<String>,
    /// How nodes in a created VPC reach the internet (package mirrors, AWS APIs): a NAT gateway
    /// per AZ (default: an AZ outage cannot take egress away from the other AZs, and no traffic
    /// crosses AZs to reach a NAT), one NAT gateway, or none (an isolated VPC: nodes reach only
    /// S3, through the gateway endpoint).
    #[serde(default)]
    pub egress: Egress,
}

/// Egress for a created VPC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Egress {
    #[default]
    NatPerAz,
    NatSingle,
    None,
}

impl Egress {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NatPerAz => "nat-per-az",
            Self::NatSingle => "nat-single",
            Self::None => "none",
        }
    }
}

/// A Kafka distribution archive user-data downloads and verifies (instead of relying on one
/// baked into the image under `/opt/kafka`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaArtifact {
    /// `s3://bucket/key.tgz` (fetched through the VPC's S3 gateway endpoint) or `https://...`.
    pub url: String,
    /// Lower-case hex SHA-256 of the archive; a mismatch stops the node's boot.
    pub sha256: String,
}

impl ClusterSpec {
    pub fn groups(&self, role: Role) -> impl Iterator<Item = &NodeGroup> {
        self.node_groups.iter().filter(move |g| g.role == role)
    }

    /// Brokers that hold partitions (Kafka brokers or Bufstream brokers).
    pub fn broker_count(&self) -> u32 {
        self.node_groups
            .iter()
            .filter(|g| matches!(g.role, Role::Broker | Role::Bufstream))
            .map(|g| g.count)
            .sum()
    }
}

/// One node of the cluster: what provisioning launches and rendering configures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub group: String,
    pub role: Role,
    pub index: u32,
    /// KRaft node.id (brokers and Bufstream 1.., controllers and etcd 1001..).
    pub node_id: u32,
    pub az: String,
    /// `streamctl-<cluster>-<group>-<index>`.
    pub name: String,
}

impl ClusterSpec {
    /// Every node, group by group in spec order; node `i` of a group sits in AZ `i mod #AZ`.
    pub fn nodes(&self, azs: &[String]) -> Vec<Node> {
        let mut out = Vec::new();
        let (mut data_id, mut meta_id) = (1u32, 1001u32);
        for g in &self.node_groups {
            for index in 0..g.count {
                let counter = if matches!(g.role, Role::Broker | Role::Bufstream) {
                    &mut data_id
                } else {
                    &mut meta_id
                };
                out.push(Node {
                    group: g.name.clone(),
                    role: g.role,
                    index,
                    node_id: *counter,
                    az: azs[index as usize % azs.len()].clone(),
                    name: format!("streamctl-{}-{}-{index}", self.name, g.name),
                });
                *counter += 1;
            }
        }
        out
    }
}
