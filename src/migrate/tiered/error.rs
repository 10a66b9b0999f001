//! What can stop a tiered migration (or its rollback).

use crate::execute::runner::ExecError;
use crate::exit::ExitCode;
use crate::kafka::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum TierError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("cannot write the journal {path}: {source}")]
    Journal {
        path: String,
        source: std::io::Error,
    },
    #[error("wave {wave} made no progress for {secs} s; not yet tiered: {partitions}")]
    Stalled {
        wave: usize,
        secs: u64,
        partitions: String,
    },
    #[error("{0}")]
    Plan(String),
    /// The cluster refused a change; nothing after it was made.
    #[error("{message}")]
    Refused { message: String, hint: String },
}

impl TierError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Exec(e) => e.exit_code(),
            Self::Kafka(k) => k.exit_code(),
            _ => ExitCode::Failed,
        }
    }

    /// What the user can do about it. A broker refusing a change mid-run is not fatal to the
    /// migration: the journal holds where it stands (quotas included).
    pub fn hint(&self) -> String {
        match self {
            Self::Kafka(k) | Self::Exec(ExecError::Kafka(k))
                if k.is_unreachable() || matches!(k, KafkaError::Auth { .. }) =>
            {
                k.hint()
            }
            Self::Exec(ExecError::Kafka(k)) => k.hint(),
            Self::Kafka(_) => "the journal holds the migration: fix the cause and run the same command again to resume, or --rollback (it also restores the copy quotas)".into(),
            Self::Journal { .. } => "check that the journal's directory exists and is writable; run the same command again to resume".into(),
            Self::Stalled { .. } => "check the brokers' logs for RemoteLogManager errors (remote store reachable? quota too low?), then run the same command again: it resumes the wave".into(),
            Self::Refused { hint, .. } => hint.clone(),
            Self::Exec(_) | Self::Plan(_) => "run the same command again to resume; --status shows the journal".into(),
        }
    }
}
