//! Rack (AZ)-aware replica assignment (pure): the snapshot model, the planner, its lower bound,
//! leader ordering and the AZ-tolerance check. No I/O: callers parse files into [`Cluster`].
//!
//! * [`cluster`]: the input model; [`snapshot`]: its file formats.
//! * [`options`]: what a plan is asked for.
//! * [`planner`]: orchestrates a plan: [`work`] (the working state every pass shares),
//!   [`counts`] (targets, forced moves, count balance, budget), [`bytes`] (byte balance and its
//!   bound), [`spread`] (the per-topic spread rule, repaired after balance), [`leaders`]
//!   (preferred leaders), [`summary`] (what the plan achieves).
//! * [`flow`]: the min-cost flow both balances use; [`tolerance`]: `check az-tolerance`.
//!
//! Files import only downward: cluster and options at the bottom, planner at the top.

pub mod bytes;
pub mod cluster;
pub mod counts;
pub mod flow;
pub mod leaders;
pub mod options;
pub mod planner;
pub mod snapshot;
pub mod spread;
pub mod summary;
pub mod tolerance;
pub mod work;

pub use cluster::{Broker, Cluster, PartitionAssignment};
pub use options::{Balance, PlanOptions, DEFAULT_BYTE_TOLERANCE};
pub use planner::{plan, Plan, PlanError};
pub use summary::Summary;
