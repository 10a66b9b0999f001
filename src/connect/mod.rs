//! The Kafka Connect adapter: the worker REST API behind [`ConnectApi`] (one real adapter,
//! [`rest::RestConnect`], HTTP or HTTPS with basic auth, blocking like the record plane). The migration
//! planner never sees it; `migrate::connect` builds the connector config it sends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod rest;

/// A failed Connect REST interaction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach the Kafka Connect REST API at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("Kafka Connect {method} {path} answered {status}: {message}")]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    /// The TLS handshake with the REST API failed.
    #[error("TLS with the Kafka Connect REST API at {url} failed: {message}")]
    Tls { url: String, message: String },
    /// The REST API refused the request (401/403): no, wrong or insufficient credentials.
    #[error("Kafka Connect at {url} refused the request ({status}): {}", if *with_credentials { "the credentials were not accepted" } else { "it requires credentials" })]
    Auth {
        url: String,
        status: u16,
        with_credentials: bool,
    },
    #[error("{0}")]
    Config(String),
}

impl ConnectError {
    /// Refused TLS or credentials: exit 6; anything else: 1.
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            Self::Tls { .. } | Self::Auth { .. } => crate::exit::ExitCode::AuthFailed,
            Self::Config(_) => crate::exit::ExitCode::BadInput,
            _ => crate::exit::ExitCode::Failed,
        }
    }

    pub fn hint(&self) -> String {
        match self {
            Self::Tls { message, .. } => format!("{} (the CA comes from --connect-ca-file, else the system's roots)", crate::kafka::tls_hint(message).replace("ssl.truststore.location / ssl.ca.location (PEM)", "--connect-ca-file")),
            Self::Connect { .. } => "check --connect-url (http://host:8083 or https://host:8443) and that a worker is running (GET / answers with its version)".into(),
            Self::Auth { .. } => "give the REST user and password with --connect-credentials-file FILE (a line user:password) or STREAMCTL_CONNECT_USERNAME and STREAMCTL_CONNECT_PASSWORD".into(),
            Self::Api { status: 409, .. } => "the Connect cluster is rebalancing; run the same command again in a few seconds".into(),
            Self::Api { .. } => "read the message above; the worker's log has the details".into(),
            Self::Config(_) => "use an http:// or https:// URL of one Connect worker".into(),
        }
    }
}

/// `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub version: String,
    #[serde(default)]
    pub commit: String,
    #[serde(default)]
    pub kafka_cluster_id: String,
}

/// `GET /connector-plugins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plugin {
    pub class: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub version: String,
}

/// One task's state in `GET /connectors/{name}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState {
    pub id: i32,
    pub state: String,
    #[serde(default)]
    pub worker_id: String,
    #[serde(default)]
    pub trace: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorState {
    pub state: String,
    #[serde(default)]
    pub worker_id: String,
    #[serde(default)]
    pub trace: Option<String>,
}

/// `GET /connectors/{name}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub name: String,
    pub connector: ConnectorState,
    #[serde(default)]
    pub tasks: Vec<TaskState>,
}

/// One source partition's committed offset (`GET /connectors/{name}/offsets`, KIP-875), as the
/// MirrorSourceConnector writes it: the last source offset it copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceOffset {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// One task of a connector (`GET /connectors/{name}/tasks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskConfig {
    pub id: i32,
    pub config: BTreeMap<String, String>,
}

/// The worker REST API streamctl uses. Each call is one request to one worker (a follower
/// forwards writes to the leader).
pub trait ConnectApi {
    fn url(&self) -> &str;
    fn info(&self) -> Result<WorkerInfo, ConnectError>;
    fn plugins(&self) -> Result<Vec<Plugin>, ConnectError>;
    /// `PUT /connector-plugins/{class}/config/validate`: per config key, the errors.
    fn validate(
        &self,
        class: &str,
        config: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Vec<String>>, ConnectError>;
    /// The connector's config, `None` when it does not exist.
    fn config(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, ConnectError>;
    fn tasks(&self, name: &str) -> Result<Vec<TaskConfig>, ConnectError>;
    /// Create or update (`PUT /connectors/{name}/config`, idempotent).
    fn put_config(&self, name: &str, config: &BTreeMap<String, String>)
        -> Result<(), ConnectError>;
    fn status(&self, name: &str) -> Result<Option<Status>, ConnectError>;
    fn pause(&self, name: &str) -> Result<(), ConnectError>;
    fn resume(&self, name: &str) -> Result<(), ConnectError>;
    fn restart_task(&self, name: &str, task: i32) -> Result<(), ConnectError>;
    /// Restart the connector and its tasks (`POST /connectors/{name}/restart?includeTasks=true`):
    /// a MirrorMaker 2 source connector reads its topics' partitions again when it starts.
    fn restart(&self, name: &str) -> Result<(), ConnectError>;
    /// Delete the connector (its tasks stop; the copied data stays).
    fn delete(&self, name: &str) -> Result<(), ConnectError>;
    fn offsets(&self, name: &str) -> Result<Vec<SourceOffset>, ConnectError>;
}
