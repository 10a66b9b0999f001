//! `migrate tiered`: turn a classic cluster's topics over to KIP-405 tiered storage in waves,
//! under the KIP-956 copy quota, optionally drain brokers afterwards, and roll back.
//!
//! * [`plan`]: preflight, waves, local bytes before and after, progress (pure).
//! * [`journal`]: what a run has done, saved after every step.
//! * [`run`]: drives the waves and the drain over [`crate::kafka::ClusterAdmin`].
//! * [`error`]: what stops a run.
//! * [`rollback`]: what a rollback changes, read and applied.

pub mod error;
pub mod journal;
pub mod plan;
pub mod rollback;
pub mod run;
