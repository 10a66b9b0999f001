//! streamctl: size, provision and rebalance Apache Kafka and Kafka-compatible clusters on AWS,
//! and migrate them to tiered or diskless storage.
//!
//! Every command has the same shape: read state through a trait → pure plan → show the plan →
//! apply through a trait → verify. `docs/architecture.md` walks the tree file by file.
//!
//! * Pure core (no async, no I/O, no clap): [`spec`] (cluster.yaml), [`sizing`] (models, cost,
//!   layout search), [`assign`] (the replica planner), [`provision`]'s desired state and diff,
//!   the `plan`/`map` files of [`migrate`], [`execute::scheduler`].
//! * Driving work on live systems, through traits: [`execute`] (reassignments), [`migrate`]
//!   (tiered, diskless, the Connect engine), [`provision::apply`] (AWS), sharing [`run`]
//!   (progress events, journal storage).
//! * Adapters, one real implementation each: [`kafka`] (admin plane over the protocol, data
//!   plane over librdkafka, client properties), [`connect`] (Kafka Connect REST), [`aws`] (SDK,
//!   retries, the real `Cloud`), [`metrics`] (the Prometheus endpoint of long commands).
//! * Wiring: [`cli`] (clap definitions only), [`commands`] (one module per subcommand),
//!   [`output`] (tables, JSON/YAML), [`error`] and [`exit`] (one error, documented exit codes),
//!   [`render`] (config templates), [`units`].

pub mod assess;
pub mod assign;
pub mod aws;
pub mod cli;
pub mod commands;
pub mod connect;
pub mod error;
pub mod execute;
pub mod exit;
pub mod kafka;
pub mod metrics;
pub mod migrate;
pub mod output;
pub mod provision;
pub mod render;
pub mod run;
pub mod sizing;
pub mod spec;
pub mod units;
