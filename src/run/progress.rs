//! Progress of a long step as typed events: the step says what it is doing ([`Stage`]) and how
//! far it is; the reporter (an indicatif bar, or plain log lines) decides how to show it.

use std::fmt;

/// What a long step is doing right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Partition moves in flight per broker (`reassign --execute`, the tiered drain).
    Moving {
        per_broker: Vec<(i32, usize)>,
        /// The slowest move's state, e.g. "waiting for 3 partitions".
        status: String,
    },
    /// Every move finished.
    MovesComplete,
    /// A tiering wave's uploads.
    Tiering {
        wave: usize,
        waves: usize,
        tiered: usize,
        partitions: usize,
    },
    /// The built-in copier at work (or stopping after a signal).
    Copying { stopping: bool },
    /// The Connect engine's connector at work.
    ConnectorCopying,
    /// Partitions read back and compared.
    Verifying,
    /// A cutover waiting for the source's groups (and producers) to stop.
    WaitingForSource {
        active: Vec<String>,
        producers_writing: bool,
    },
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Moving { per_broker, status } => {
                let brokers: Vec<String> = per_broker
                    .iter()
                    .map(|(b, n)| format!("b{b}:{n}"))
                    .collect();
                write!(f, "[{}] {status}", brokers.join(" "))
            }
            Self::MovesComplete => f.write_str("all moves complete"),
            Self::Tiering {
                wave,
                waves,
                tiered,
                partitions,
            } => write!(
                f,
                "wave {wave}/{waves}: {tiered} of {partitions} partitions tiered"
            ),
            Self::Copying { stopping: true } => f.write_str("stopping"),
            Self::Copying { stopping: false } => f.write_str("partitions copying"),
            Self::ConnectorCopying => f.write_str("partitions copying (Kafka Connect)"),
            Self::Verifying => f.write_str("partitions verified"),
            Self::WaitingForSource {
                active,
                producers_writing,
            } => write!(
                f,
                "waiting for the source to stop: {}{}",
                active.join(", "),
                if *producers_writing {
                    " (producers still writing)"
                } else {
                    ""
                }
            ),
        }
    }
}

/// Figures a long step publishes as it goes, beyond `done of total`: what `--metrics-addr`
/// serves. A reporter without metrics ignores them.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// Partition moves (`reassign --execute`, the tiered drain): by state, their bytes, the
    /// throttle and how many throttle settings are in force.
    Moves {
        pending: u64,
        in_flight: u64,
        done: u64,
        bytes_total: u64,
        bytes_done: u64,
        throttle_bytes_per_sec: u64,
        throttle_settings: u64,
    },
    /// `migrate tiered`: the wave, partitions tiered, bytes uploaded against the tier throttle.
    Tiering {
        wave: u64,
        waves: u64,
        partitions_tiered: u64,
        partitions: u64,
        upload_bytes_done: u64,
        upload_bytes_total: u64,
        upload_bytes_per_sec: f64,
        tier_throttle_bytes_per_sec: u64,
    },
    /// `migrate diskless`: one partition's copy. `copied_to` is the next source offset to copy,
    /// `source_end` the source's high watermark as last read, `verified_to` where verification
    /// reached; the lag in seconds is by the last copied record's timestamp.
    PartitionCopy {
        topic: String,
        partition: i32,
        copied_to: i64,
        source_end: i64,
        verified_to: i64,
        lag_records: u64,
        lag_bytes: u64,
        lag_seconds: f64,
    },
    /// `migrate diskless`: the whole copy so far.
    Copy {
        records: u64,
        bytes: u64,
        bytes_per_sec: f64,
        throttle_bytes_per_sec: Option<u64>,
        partitions_verified: u64,
        partitions: u64,
    },
    /// `migrate diskless`: one consumer group's offset sync.
    GroupSync {
        group: String,
        /// Partitions translated and committed on the target.
        translated: u64,
        committed: u64,
        /// Records between the group's committed offsets on the source and the ends.
        source_lag_records: u64,
    },
    /// `migrate diskless --follow`: one topic change the topic sync made or found (`kind`:
    /// config, partitions, deleted-on-source).
    TopicChange {
        topic: String,
        kind: String,
        applied: bool,
    },
}

/// Where a long step reports how far it is.
pub trait Progress {
    /// `done` of `total` (bytes, offsets or partitions, as the step counts), `in_flight` items
    /// being worked on, and what the step is doing.
    fn update(&self, done: u64, total: u64, in_flight: usize, stage: &Stage);
    fn finish(&self);
    /// Figures for metrics (see [`Observation`]); ignored unless the reporter serves metrics.
    fn observe(&self, _figures: &Observation) {}
}

/// A reporter that shows nothing (tests, and steps run inside another).
pub struct Quiet;

impl Progress for Quiet {
    fn update(&self, _: u64, _: u64, _: usize, _: &Stage) {}
    fn finish(&self) {}
}
