//! The seam between the pure plan and AWS: one trait, one real implementation
//! (`crate::aws::Aws`). Tests run it against the local emulator.

use super::desired::Desired;
use super::diff::{Actual, Change};

/// A cloud call that failed: which call, on which resource, the provider's code and message.
/// The adapter builds it from its SDK's errors; the hint says what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CloudError {
    #[error("{service} {operation} on {resource} failed: {message}")]
    Call {
        service: &'static str,
        operation: &'static str,
        resource: String,
        /// The AWS error code, e.g. `AccessDenied`, when the service sent one.
        code: Option<String>,
        message: String,
    },
    #[error("no AWS credentials were found for {0}")]
    NoCredentials(&'static str),
}

impl CloudError {
    /// What the user can do about it.
    pub fn hint(&self) -> String {
        match self {
            Self::NoCredentials(_) => {
                "set AWS_PROFILE / --profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; for a local emulator any non-empty keys work".into()
            }
            Self::Call { service, operation, code, .. } => match code.as_deref() {
                Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation") => {
                    format!("the caller lacks permission {}:{operation}; grant it or use another --profile", service.to_lowercase())
                }
                Some("InvalidClientTokenId" | "AuthFailure" | "ExpiredToken" | "SignatureDoesNotMatch") => {
                    "the credentials were rejected: refresh them (aws sso login) or check --profile".into()
                }
                Some("BucketAlreadyExists") => "the bucket name is taken by another account: choose another object_store.bucket".into(),
                Some(c) if is_throttling(c) => "AWS kept throttling past the retry budget: raise --max-attempts / --max-retry-wait, or re-run later; the command converges".into(),
                _ => "check --region and --endpoint-url, and re-run with -v for the full error".into(),
            },
        }
    }

    /// Whether the provider throttled the call (the retry budget was spent on it).
    pub fn is_throttling(&self) -> bool {
        matches!(self, Self::Call { code: Some(c), .. } if is_throttling(c))
    }
}

/// Error codes AWS services use for throttling (the SDK's own list plus S3's and EC2's).
pub const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// Whether an AWS error code means "throttled".
pub fn is_throttling(code: &str) -> bool {
    THROTTLING_CODES.contains(&code)
}

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
    async fn pick_azs(&self, instance_types: &[String]) -> Result<Vec<String>, CloudError>;
    /// The newest Amazon Linux 2023 x86_64 image of the region.
    async fn latest_image(&self) -> Result<String, CloudError>;
    /// Check the instance types exist (DescribeInstanceTypes).
    async fn check_instance_types(&self, instance_types: &[String]) -> Result<(), CloudError>;
    /// What exists for this cluster, found by names and tags.
    async fn read(&self, desired: &Desired) -> Result<Actual, CloudError>;
    /// Make one planned change. `actual` is current as of the start of its phase.
    async fn apply(
        &self,
        desired: &Desired,
        actual: &Actual,
        change: &Change,
    ) -> Result<(), CloudError>;
    /// Remove what streamctl created for the cluster (plan only when `execute` is false).
    async fn destroy(
        &self,
        desired: &Desired,
        delete_data: bool,
        execute: bool,
    ) -> Result<Vec<Removal>, CloudError>;
    /// `provision --prune-duplicates`: terminate extra instances that share a node id (only
    /// streamctl-launched ones whose data volume came with them); plan only when `execute` is
    /// false.
    async fn prune_duplicates(
        &self,
        desired: &Desired,
        actual: &Actual,
        execute: bool,
    ) -> Result<Vec<Removal>, CloudError>;
    /// Mutating calls made so far.
    fn mutating_calls(&self) -> u64;
}
