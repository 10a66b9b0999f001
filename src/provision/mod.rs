//! Infrastructure as desired state (pure): what a cluster spec asks AWS to hold, what AWS holds,
//! and the plan between them. The async apply lives in `apply.rs` over the [`cloud::Cloud`]
//! trait; the AWS adapter implements it in `crate::aws`.

pub mod apply;
pub mod cloud;
pub mod desired;
pub mod diff;

pub use desired::{desired_state, Desired};
pub use diff::{diff, Action, Actual, Change};

/// Tag keys streamctl sets on everything it creates (and finds things by).
pub const TAG_CLUSTER: &str = "streamctl:cluster";
pub const TAG_MANAGED: &str = "streamctl:managed-by";
pub const TAG_GROUP: &str = "streamctl:group";
pub const TAG_ROLE: &str = "streamctl:role";
pub const TAG_AZ: &str = "streamctl:az";
pub const TAG_INDEX: &str = "streamctl:index";
pub const TAG_NODE_ID: &str = "streamctl:node-id";
