//! What can stop a diskless migration, for both copy engines.

use super::plan::Problem;
use crate::exit::ExitCode;
use crate::kafka::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum DisklessError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Connect(#[from] crate::connect::ConnectError),
    #[error("cannot read the journal {path}: {source}")]
    ReadJournal {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write the journal {path}: {source}")]
    Journal {
        path: String,
        source: std::io::Error,
    },
    /// The target or the source is not what the journal says; nothing was written after it.
    #[error("{message}")]
    Inconsistent { message: String, hint: String },
    /// Refused before any change: a flag that does not fit the journal or the clusters, or the
    /// cutover's preconditions.
    #[error("{}", .0.iter().map(|p| p.message.clone()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Problem>),
    #[error("stopped by a signal; the journal is saved: run the same command to resume")]
    Interrupted,
    #[error("{0}")]
    Timeout(String),
    /// A copy that made no progress for the stall time, with what the engine saw.
    #[error("{message}")]
    Stalled { message: String, hint: String },
    /// Another streamctl process (the follower a cutover was asked of) failed or refused, with
    /// its exit code.
    #[error("{message}")]
    Remote {
        message: String,
        hint: String,
        exit: i32,
    },
}

impl DisklessError {
    /// Refused before any change, for one reason.
    pub fn refused(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Refused(vec![Problem {
            topic: None,
            message: message.into(),
            hint: hint.into(),
        }])
    }

    /// Refused before any change: bad input (2); anything else failed on the way (1).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Refused(_) | Self::ReadJournal { .. } => ExitCode::BadInput,
            Self::Kafka(k) => k.exit_code(),
            Self::Connect(c) => c.exit_code(),
            Self::Remote { exit, .. } => ExitCode::from_code(*exit),
            _ => ExitCode::Failed,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::Kafka(k) => k.hint(),
            Self::Connect(c) => c.hint(),
            Self::ReadJournal { .. } => "check the path and that the file is readable (a journal streamctl wrote)".into(),
            Self::Journal { .. } => "check that the journal's directory exists and is writable; run the same command again to resume".into(),
            Self::Refused(problems) => problems
                .iter()
                .map(|p| p.hint.clone())
                .collect::<Vec<_>>()
                .join("; "),
            Self::Inconsistent { hint, .. }
            | Self::Stalled { hint, .. }
            | Self::Remote { hint, .. } => hint.clone(),
            Self::Interrupted => "run the same command again: it resumes from the journal".into(),
            Self::Timeout(_) => "check both clusters (brokers up? topic readable?); run the same command again to resume".into(),
        }
    }

    pub(crate) fn inconsistent(message: String, hint: &str) -> Self {
        Self::Inconsistent {
            message,
            hint: hint.into(),
        }
    }
}
