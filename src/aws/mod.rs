//! The AWS adapter: SDK configuration (region, profile, endpoint override) and one module per
//! service. Each adapter turns SDK errors into [`AwsError`], which names the call and the resource
//! and carries a hint.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};

pub mod ec2;
pub mod infra;
pub mod retry;

/// Where and as whom to reach AWS (global flags `--region`, `--profile`, `--endpoint-url`).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Endpoint override (a local emulator such as moto, or an S3-compatible store).
    pub endpoint_url: Option<String>,
    /// Attempts and total wait per call (`--max-attempts`, `--max-retry-wait`).
    pub retry: retry::RetryPolicy,
}

/// Load the SDK configuration the standard way (environment, profile, IMDS) with our overrides.
pub async fn load_config(settings: &AwsSettings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(r) = &settings.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if let Some(p) = &settings.profile {
        loader = loader.profile_name(p);
    }
    if let Some(e) = &settings.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    loader
        .retry_config(settings.retry.sdk_retry())
        .timeout_config(settings.retry.sdk_timeouts())
        .load()
        .await
}

/// Whether the configuration resolves to credentials at all (no call to AWS is made).
pub async fn has_credentials(config: &SdkConfig) -> bool {
    use aws_credential_types::provider::ProvideCredentials;
    match config.credentials_provider() {
        Some(p) => p.provide_credentials().await.is_ok(),
        None => false,
    }
}

/// A failed AWS call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AwsError {
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

impl AwsError {
    /// Build from any SDK error.
    pub fn call<E>(
        service: &'static str,
        operation: &'static str,
        resource: impl Into<String>,
        err: E,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = err.code().map(str::to_string);
        let message = match err.message() {
            Some(m) => format!("{}: {m}", code.as_deref().unwrap_or("error")),
            None => DisplayErrorContext(&err).to_string(),
        };
        Self::Call {
            service,
            operation,
            resource: resource.into(),
            code,
            message,
        }
    }

    /// What to do about it.
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
                Some(c) if retry::is_throttling(c) => "AWS kept throttling past the retry budget: raise --max-attempts / --max-retry-wait, or re-run later; the command converges".into(),
                _ => "check --region and --endpoint-url, and re-run with -v for the full error".into(),
            },
        }
    }
}
