//! The tiered migration's journal: one JSON file for the whole migration (waves and their
//! baselines, every topic config and broker quota set with the value it replaced, the drain's own
//! execution journal), written atomically before every change, so `kill -9` anywhere resumes
//! with no finished wave redone and no quota left behind. Same family as
//! [`crate::execute::journal`]: its config records and atomic writes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::execute::journal::Throttle;
use crate::migrate::tiered::plan::{Baseline, TierOptions, TierPlan};
use crate::run::store::{load_json, now_ms, save_json};

pub const KIND: &str = "migrate-tiered";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TierPhase {
    Tiering,
    Draining,
    Complete,
    RolledBack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaveState {
    Pending,
    Tiering,
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveRecord {
    pub index: usize,
    pub topics: Vec<String>,
    pub state: WaveState,
    pub planned_upload_bytes: u64,
    pub predicted_seconds: f64,
    #[serde(default)]
    pub started_ms: Option<u64>,
    #[serde(default)]
    pub done_ms: Option<u64>,
    /// Each partition when the wave started (offsets, bytes, targets).
    #[serde(default)]
    pub baselines: Vec<Baseline>,
    /// Estimated from offsets when the wave finished.
    #[serde(default)]
    pub uploaded_bytes: u64,
    #[serde(default)]
    pub uploaded_by_broker: std::collections::BTreeMap<i32, u64>,
    #[serde(default)]
    pub local_bytes_after: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// The reassignment journal of the drain (`reassign --verify --journal` reads it too).
    pub journal: PathBuf,
    pub brokers: Vec<i32>,
    pub planned_bytes: u64,
    pub predicted_seconds: Option<f64>,
    #[serde(default)]
    pub moving_seconds: Option<f64>,
    #[serde(default)]
    pub bytes_moved: Option<u64>,
    #[serde(default)]
    pub verified: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TierJournal {
    pub format: u32,
    pub kind: String,
    /// SHA-256 of the waves and options, to recognise a re-run of the same command.
    pub plan_id: String,
    pub bootstrap: String,
    pub topics: String,
    pub options: TierOptions,
    pub started_unix_ms: u64,
    pub phase: TierPhase,
    pub waves: Vec<WaveRecord>,
    /// Topic configs set, with the values they replaced. They are the migration's result and
    /// stay; `--rollback` and the report read them.
    pub configs: Vec<Throttle>,
    /// Broker copy quotas set for the migration; restored (or deleted) when tiering ends.
    pub quotas: Vec<Throttle>,
    #[serde(default)]
    pub drain: Option<DrainRecord>,
    pub runs: u32,
    /// Local bytes per broker when planned, as the plan predicts them after, and as measured
    /// when the migration ended.
    #[serde(default)]
    pub brokers: Vec<BrokerBytes>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerBytes {
    pub id: i32,
    pub local_bytes_before: u64,
    pub predicted_local_bytes_after: u64,
    #[serde(default)]
    pub local_bytes_after: Option<u64>,
}

pub fn plan_id(plan: &TierPlan, opts: &TierOptions) -> String {
    let mut h = Sha256::new();
    for w in &plan.waves {
        h.update(format!("{}:{:?}\n", w.index, w.topics));
    }
    h.update(serde_json::to_string(opts).expect("options serialise"));
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl TierJournal {
    pub fn new(plan: &TierPlan, opts: &TierOptions, bootstrap: &str, topics: &str) -> Self {
        Self {
            format: 1,
            kind: KIND.into(),
            plan_id: plan_id(plan, opts),
            bootstrap: bootstrap.into(),
            topics: topics.into(),
            options: opts.clone(),
            started_unix_ms: now_ms(),
            phase: TierPhase::Tiering,
            waves: plan
                .waves
                .iter()
                .map(|w| WaveRecord {
                    index: w.index,
                    topics: w.topics.clone(),
                    state: WaveState::Pending,
                    planned_upload_bytes: w.upload_bytes,
                    predicted_seconds: w.predicted_seconds,
                    started_ms: None,
                    done_ms: None,
                    baselines: Vec::new(),
                    uploaded_bytes: 0,
                    uploaded_by_broker: Default::default(),
                    local_bytes_after: 0,
                })
                .collect(),
            configs: Vec::new(),
            quotas: Vec::new(),
            drain: None,
            runs: 0,
            brokers: plan
                .brokers
                .iter()
                .map(|b| BrokerBytes {
                    id: b.id,
                    local_bytes_before: b.local_bytes_before,
                    predicted_local_bytes_after: b.local_bytes_after,
                    local_bytes_after: None,
                })
                .collect(),
        }
    }

    /// Unfinished: a run of the same command resumes it.
    pub fn unfinished(&self) -> bool {
        matches!(self.phase, TierPhase::Tiering | TierPhase::Draining)
    }

    /// Where the drain's reassignment journal lives, beside this one.
    pub fn drain_journal_path(path: &Path) -> PathBuf {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| "migrate-tiered".into());
        path.with_file_name(format!("{name}.drain.json"))
    }

    pub fn load(path: &Path) -> std::io::Result<Option<Self>> {
        let j: Option<Self> = load_json(path)?;
        match j {
            Some(j) if j.kind != KIND => Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is a {} journal, not a {KIND} one",
                    path.display(),
                    j.kind
                ),
            )),
            other => Ok(other),
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        save_json(path, self)
    }
}
