//! What can stop a diskless migration, for both copy engines.

use super::plan::Problem;
use crate::kafka::KafkaError;

#[derive(Debug, thiserror::Error)]
pub enum DisklessError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Connect(#[from] crate::connect::ConnectError),
    #[error("cannot write the journal {path}: {source}")]
    Journal {
        path: String,
        source: std::io::Error,
    },
    /// The target or the source is not what the journal says; nothing was written after it.
    #[error("{message}")]
    Inconsistent { message: String, hint: String },
    /// Refused before any change (cutover preconditions).
    #[error("{}", .0.iter().map(|p| p.message.clone()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Problem>),
    #[error("stopped by a signal; the journal is saved: run the same command to resume")]
    Interrupted,
    #[error("{0}")]
    Timeout(String),
    /// A copy that made no progress for the stall time, with what the engine saw.
    #[error("{message}")]
    Stalled { message: String, hint: String },
}

impl DisklessError {
    pub(crate) fn inconsistent(message: String, hint: &str) -> Self {
        Self::Inconsistent {
            message,
            hint: hint.into(),
        }
    }
}
