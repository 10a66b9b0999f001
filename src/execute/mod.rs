//! Executing a reassignment plan on a live cluster: a pure scheduler, a crash-safe journal, and
//! the async runner that drives the [`crate::kafka::ClusterAdmin`] trait.

pub mod journal;
pub mod runner;
pub mod scheduler;
pub mod simulate;
