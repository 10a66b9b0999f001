//! The AWS adapter: SDK configuration (region, profile, endpoint override) and one module per
//! service. Each adapter turns SDK errors into [`CloudError`] (the provisioning seam's error), which names the call and the resource
//! and carries a hint.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};

use crate::provision::cloud::CloudError;

pub mod cloud;
pub mod ec2;
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
impl CloudError {
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
}
