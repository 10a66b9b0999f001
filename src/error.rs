//! The error type every command returns, and the exit codes it maps to (`docs/exit-codes.md`).

use crate::assign::snapshot::FormatError;
use crate::assign::PlanError;
use crate::execute::runner::ExecError;
use crate::kafka::KafkaError;
use crate::migrate::diskless::error::DisklessError;
use crate::migrate::tiered::error::TierError;
use crate::provision::cloud::CloudError;
use crate::sizing::models::ModelError;
use crate::sizing::recommend::RecommendError;
use crate::spec::SpecError;

pub use crate::exit::ExitCode;

/// Everything that can go wrong in a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("the sizing model cannot answer: {0}")]
    Model(#[from] ModelError),
    #[error("cannot recommend a layout: {0}")]
    Recommend(#[from] RecommendError),
    #[error("cannot read {path}: {source}")]
    Format {
        path: String,
        #[source]
        source: FormatError,
    },
    #[error("cannot plan the reassignment: {0}")]
    Plan(#[from] PlanError),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A flag or argument is wrong in a way clap cannot see.
    #[error("{message}")]
    Usage { message: String, hint: String },
    #[error(transparent)]
    Cloud(#[from] CloudError),
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Tier(#[from] TierError),
    #[error(transparent)]
    Diskless(#[from] DisklessError),
    /// A migration step failed; the journal holds where it stands.
    #[error("{message}")]
    Migrate { message: String, hint: String },
    /// A check found problems; the report was already printed.
    #[error("{0}")]
    CheckFailed(String),
    #[error("cannot encode the output: {0}")]
    Encode(String),
}

impl Error {
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Usage {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Spec(_)
            | Self::Model(_)
            | Self::Recommend(_)
            | Self::Usage { .. }
            | Self::ReadFile { .. }
            | Self::Format { .. }
            | Self::Plan(_) => ExitCode::BadInput,
            Self::CheckFailed(_) => ExitCode::CheckFailed,
            Self::Exec(e) => e.exit_code(),
            Self::Tier(e) => e.exit_code(),
            Self::Diskless(e) => e.exit_code(),
            Self::Kafka(k) => k.exit_code(),
            Self::Cloud(_) | Self::Migrate { .. } | Self::WriteFile { .. } | Self::Encode(_) => {
                ExitCode::Failed
            }
        }
    }

    /// What the user can do about it. Spec errors carry their hints per finding.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Spec(_) => None,
            Self::Model(ModelError::ReplicationAboveBrokers { rf, .. }) => Some(format!(
                "use at least {rf} brokers, or a lower --replication-factor"
            )),
            Self::Model(ModelError::RemoteWithoutTier(_)) => {
                Some("add --storage tiered, or drop --remote-consumer-groups".into())
            }
            Self::Model(_) => {
                Some("check the flags against `streamctl size throughput --help`".into())
            }
            Self::Recommend(RecommendError::UnknownFamily(_)) => Some(
                "known families: m5, m6i, m6in, m7i, r6i (`streamctl size catalog` lists them)"
                    .into(),
            ),
            Self::Recommend(_) => {
                Some("check the flags against `streamctl size recommend --help`".into())
            }
            Self::ReadFile { .. } => Some("check the path and that the file is readable".into()),
            Self::Format { .. } => {
                Some("docs/reassign.md describes the snapshot and Kafka assignment formats".into())
            }
            Self::Plan(PlanError::MissingRack(_)) => Some(
                "every broker needs its AZ: set broker.rack, or pass --broker-racks ID=RACK,..."
                    .into(),
            ),
            Self::Plan(PlanError::UnknownBroker { broker, .. }) => Some(format!(
                "list broker {broker} with its rack, or drain it with --remove-brokers {broker}"
            )),
            Self::Plan(PlanError::OfflineBroker(b)) => Some(format!(
                "wait until broker {b} is back, or drain it with --remove-brokers {b} (its replicas are copied from the others)"
            )),
            Self::Plan(PlanError::Infeasible { .. }) => Some(
                "add brokers (in more AZs), drain fewer, or lower the topic's replication factor"
                    .into(),
            ),
            Self::Plan(PlanError::OverCapacity { .. }) => Some(
                "try --balance bytes (it evens out utilisation), drain fewer brokers, add brokers or bigger disks, or tier the topics first (streamctl migrate tiered)".into(),
            ),
            Self::Plan(_) => Some("fix the input; nothing was changed".into()),
            Self::WriteFile { .. } => {
                Some("check that the directory exists and is writable".into())
            }
            Self::Usage { hint, .. } | Self::Migrate { hint, .. } => Some(hint.clone()),
            Self::Cloud(e) => Some(e.hint()),
            Self::Kafka(e) => Some(e.hint()),
            Self::CheckFailed(_) => None,
            Self::Exec(e) => Some(e.hint()),
            Self::Tier(e) => Some(e.hint()),
            Self::Diskless(e) => Some(e.hint()),
            Self::Encode(_) => Some("this is a bug; please report it with the command line".into()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
