//! What the planner is asked for: [`PlanOptions`] and the balance modes.

use regex::Regex;
use serde::Serialize;
use std::collections::BTreeSet;

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Brokers to drain: no replica may stay on them.
    pub remove_brokers: BTreeSet<i32>,
    /// Only partitions of matching topics move (and count for balance).
    pub topics: Option<Regex>,
    /// At most this many replica moves.
    pub max_moves: Option<u64>,
    /// At most this many bytes moved.
    pub max_move_bytes: Option<u64>,
    /// Replication throttle per broker, bytes/s, for the time estimate.
    pub throttle_bytes_per_sec: Option<f64>,
    /// What the balance phase evens out (forced moves and the AZ rule come first either way).
    pub balance: Balance,
    /// With [`Balance::Bytes`]: each broker's bytes end within this fraction of its AZ's mean
    /// (0: the default, 5 %).
    pub byte_tolerance: f64,
    /// No broker with a known capacity is planned above this share of it (hard).
    pub max_disk_utilisation: Option<f64>,
}

/// What a plan balances across brokers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Replica counts (the fewest replica moves; small partitions move first).
    #[default]
    Replicas,
    /// Bytes on each broker within a band around its AZ's mean (the fewest bytes moved), each
    /// topic spread over the brokers.
    Bytes,
    /// Bytes within the band first, then replica counts evened inside each AZ by moves that keep
    /// every broker in its band (and the plan within 1.10 × the bytes bound).
    Both,
    /// `Both` when every partition in scope has a size (live snapshots, snapshots with
    /// `size_bytes`), else `Replicas` (Kafka's assignment JSON carries no sizes). The CLI's
    /// default; the summary says which was chosen and why.
    Auto,
}

impl Balance {
    pub fn as_str(self) -> &'static str {
        match self {
            Balance::Replicas => "replicas",
            Balance::Bytes => "bytes",
            Balance::Both => "both",
            Balance::Auto => "auto",
        }
    }
}

/// The default band for [`Balance::Bytes`]: ±5 % of the AZ's mean.
pub const DEFAULT_BYTE_TOLERANCE: f64 = 0.05;
