//! The seam between the pure plan and AWS: one trait, one real implementation
//! (`crate::aws::Aws`). Tests run it against the local emulator.

use super::desired::Desired;
use super::diff::{Actual, Change};
use crate::aws::AwsError;

/// What a destroy found and did, per resource.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removal {
    pub kind: &'static str,
    pub name: String,
    /// `deleted`, `kept` (data without --delete-data), `absent`, or `would delete` (plan).
    pub outcome: String,
}

#[allow(async_fn_in_trait)]
pub trait Cloud {
    /// Three AZs of the region that offer every one of `instance_types`, in name order.
    async fn pick_azs(&self, instance_types: &[String]) -> Result<Vec<String>, AwsError>;
    /// The newest Amazon Linux 2023 x86_64 image of the region.
    async fn latest_image(&self) -> Result<String, AwsError>;
    /// Check the instance types exist (DescribeInstanceTypes).
    async fn check_instance_types(&self, instance_types: &[String]) -> Result<(), AwsError>;
    /// What exists for this cluster, found by names and tags.
    async fn read(&self, desired: &Desired) -> Result<Actual, AwsError>;
    /// Make one planned change. `actual` is current as of the start of its phase.
    async fn apply(
        &self,
        desired: &Desired,
        actual: &Actual,
        change: &Change,
    ) -> Result<(), AwsError>;
    /// Remove what streamctl created for the cluster (plan only when `execute` is false).
    async fn destroy(
        &self,
        desired: &Desired,
        delete_data: bool,
        execute: bool,
    ) -> Result<Vec<Removal>, AwsError>;
    /// `provision --prune-duplicates`: terminate extra instances that share a node id (only
    /// streamctl-launched ones whose data volume came with them); plan only when `execute` is
    /// false.
    async fn prune_duplicates(
        &self,
        desired: &Desired,
        actual: &Actual,
        execute: bool,
    ) -> Result<Vec<Removal>, AwsError>;
    /// Mutating calls made so far.
    fn mutating_calls(&self) -> u64;
}
