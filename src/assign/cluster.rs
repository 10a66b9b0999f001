//! The planner's only input about the world: brokers with their racks (AZs) and capacities,
//! partitions with their replicas and sizes. Parsed from files by [`super::snapshot`] or read
//! from a live cluster by the Kafka adapter.

use serde::{Deserialize, Serialize};

/// A broker and its rack (the AZ it runs in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    pub id: i32,
    pub rack: Option<String>,
    /// Registered but not running (fenced): a live snapshot lists it so a dead broker can be
    /// drained with --remove-brokers; it can take no new replica.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// Bytes its log dirs can hold (KIP-827 total bytes on live snapshots, or
    /// `--broker-capacity`): with it, byte balance evens out utilisation and no broker is planned
    /// above `--max-disk-utilisation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
}

/// One partition's current assignment. The first replica is the preferred leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionAssignment {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    /// Total bytes of one replica (what a move copies for a classic topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// Bytes on the broker's local disk for a tiered topic (what a move copies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_size_bytes: Option<u64>,
}

impl PartitionAssignment {
    /// Bytes a move of one replica copies: local bytes for tiered partitions, else all bytes.
    pub fn move_bytes(&self) -> u64 {
        self.local_size_bytes.or(self.size_bytes).unwrap_or(0)
    }
}

/// A cluster snapshot: the planner's only input about the world.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub brokers: Vec<Broker>,
    pub partitions: Vec<PartitionAssignment>,
}
