//! The execution journal: a local JSON file that records the plan, what was submitted and which
//! throttles were set, written atomically after every change, so a run killed at any point
//! resumes without moving anything twice or leaving a throttle behind.

use std::path::Path;

use crate::run::store::{load_json, now_ms, save_json};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::scheduler::Move;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MoveState {
    Pending,
    Submitted,
    Done,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalMove {
    #[serde(flatten)]
    pub mv: Move,
    pub state: MoveState,
    /// Index of the step being (or to be) submitted.
    pub step: usize,
    pub steps: Vec<Vec<i32>>,
}

/// A config key streamctl set; `previous` is restored on cleanup (None: the key is deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    pub broker: Option<i32>,
    pub topic: Option<String>,
    pub key: String,
    pub value: String,
    pub previous: Option<String>,
    /// A broker throttle not set yet because the broker was offline (draining a dead broker must
    /// not wait for it); set, after reading `previous`, as soon as the broker is back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deferred: bool,
    /// Recorded (with its previous value) but its broker was down when a resumed run set the
    /// throttles again: set as soon as the broker is back (the previous value stays).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reapply: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Running,
    Finishing,
    Complete,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub format: u32,
    /// SHA-256 of the plan (targets), to recognise a re-run of the same command.
    pub plan_id: String,
    pub bootstrap: String,
    pub throttle_bytes_per_sec: u64,
    /// Per-broker throttles overriding the default (`--throttle-file`).
    #[serde(default)]
    pub broker_throttles: std::collections::BTreeMap<i32, u64>,
    /// When the first run started, milliseconds since the epoch.
    pub started_unix_ms: u64,
    /// When the first move was submitted and when the last one finished (ms since the epoch).
    #[serde(default)]
    pub first_submit_ms: Option<u64>,
    #[serde(default)]
    pub last_done_ms: Option<u64>,
    pub phase: Phase,
    pub moves: Vec<JournalMove>,
    pub throttles: Vec<Throttle>,
    pub runs: u32,
    /// Broker settings that slow throttled moves (see `runner::fetch_advice`).
    #[serde(default)]
    pub advice: Vec<String>,
    /// Where each broker of the plan was last seen (host:port), to name a broker that is down
    /// when a later run cannot see it in the metadata.
    #[serde(default)]
    pub addresses: std::collections::BTreeMap<i32, String>,
}

pub fn plan_id(moves: &[Move]) -> String {
    let mut h = Sha256::new();
    for m in moves {
        h.update(format!("{}:{}:{:?}\n", m.topic, m.partition, m.to));
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl Journal {
    pub fn new(moves: Vec<Move>, bootstrap: &str, throttle: u64, one_at_a_time: bool) -> Self {
        Self {
            format: 1,
            plan_id: plan_id(&moves),
            bootstrap: bootstrap.to_string(),
            throttle_bytes_per_sec: throttle,
            broker_throttles: Default::default(),
            started_unix_ms: now_ms(),
            first_submit_ms: None,
            last_done_ms: None,
            phase: Phase::Running,
            moves: moves
                .into_iter()
                .map(|mv| {
                    let steps = mv.steps(one_at_a_time);
                    JournalMove {
                        mv,
                        state: MoveState::Pending,
                        step: 0,
                        steps,
                    }
                })
                .collect(),
            throttles: Vec::new(),
            runs: 0,
            advice: Vec::new(),
            addresses: Default::default(),
        }
    }

    pub fn load(path: &Path) -> std::io::Result<Option<Journal>> {
        load_json(path)
    }

    /// Write atomically (temp file, fsync, rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        save_json(path, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_identifies_plans() {
        let m = Move {
            topic: "t".into(),
            partition: 0,
            from: vec![1, 2],
            to: vec![3, 2],
            bytes: 5,
        };
        let j = Journal::new(vec![m.clone()], "b:9092", 100, false);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.json");
        j.save(&p).unwrap();
        assert_eq!(Journal::load(&p).unwrap().unwrap(), j);
        let other = Move {
            to: vec![2, 3],
            ..m
        };
        assert_ne!(plan_id(&[other]), j.plan_id);
        assert!(Journal::load(&dir.path().join("none.json"))
            .unwrap()
            .is_none());
    }
}
