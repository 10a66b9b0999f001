//! streamctl: size, provision and rebalance Apache Kafka and Kafka-compatible clusters on AWS.
//!
//! Every command has the same shape: read state through a trait → pure plan → show the plan →
//! apply through a trait → verify.
//!
//! * Pure core (no async, no I/O, no clap): [`spec`] (cluster.yaml types, located errors,
//!   validation), [`sizing`] (catalog, throughput models, cost, layout search).
//! * Adapters (async, one real implementation each): [`aws`] (SDK configuration, EC2).
//! * Wiring: [`cli`] (clap definitions only), [`commands`] (one module per subcommand),
//!   [`output`] (tables, JSON/YAML, progress), [`error`] (error type and exit codes).

pub mod assign;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod connect;
pub mod error;
pub mod execute;
pub mod exit;
pub mod kafka;
pub mod migrate;
pub mod output;
pub mod provision;
pub mod render;
pub mod run;
pub mod sizing;
pub mod spec;
pub mod units;
