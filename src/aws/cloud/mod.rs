//! The real [`Cloud`]: S3, IAM and EC2 calls for `provision`, `destroy` and `inventory`, one
//! module per service (`s3`, `iam`, `network`, `instances`) over one client set. Retries and
//! the lookup after a lost create follow one policy (`crate::aws::retry`). Every mutating call is
//! counted (the report says how many were made) and every error names the call and the resource.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types as ec2t;

use super::retry::{Notices, RetryLog, RetryPolicy, TransportErrors};
use crate::provision::cloud::CloudError;
use crate::provision::cloud::{Cloud, Removal};
use crate::provision::desired::Desired;
use crate::provision::diff::{Actual, Change};

/// One attempt at an EC2 call that is not idempotent (a create): counted against the mutation
/// budget, sent once with the SDK's own retries off (the retry policy retries, after looking the
/// resource up by its Name tag), its error classified for the policy (`retryable` codes beside
/// the throttling ones). Evaluates to `Result<Output, Attempt>`.
macro_rules! create_once {
    ($aws:expr, $op:literal, $resource:expr, $retryable:expr, $call:expr $(,)?) => {{
        $aws.mutate("EC2", $op, $resource)
            .map_err(|error| $crate::aws::retry::Attempt {
                outcome: $crate::aws::retry::Outcome::Final,
                error,
            })?;
        $call
            .customize()
            .config_override($crate::aws::cloud::ec2_once())
            .send()
            .await
            .map_err(|e| {
                $crate::aws::retry::Attempt::from_sdk("EC2", $op, $resource, $retryable, e)
            })
    }};
}

mod iam;
mod instances;
mod network;
mod s3;

/// Tag on everything an EC2 create of this run makes (`streamctl:run`): after a lost response
/// the lookup asks for it.
pub const TAG_RUN: &str = "streamctl:run";

/// The AWS adapter for infrastructure.
pub struct Aws {
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    ec2: aws_sdk_ec2::Client,
    policy: RetryPolicy,
    log: Arc<RetryLog>,
    /// This run's marker (tagged on EC2 creates).
    run: String,
    mutations: AtomicU64,
    /// Test hook (`STREAMCTL_FAULT_AFTER_MUTATIONS`): fail the call after this many mutations,
    /// to prove that an interrupted run converges when re-run.
    fault_after: Option<u64>,
}

impl Aws {
    /// `config` carries the SDK retry and timeout settings (`crate::aws::load_config`).
    pub fn new(
        config: &aws_config::SdkConfig,
        force_path_style: bool,
        policy: RetryPolicy,
    ) -> Self {
        let log = Arc::new(RetryLog::default());
        let s3_conf = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(force_path_style)
            .interceptor(Notices(log.clone()))
            .retry_classifier(TransportErrors)
            .build();
        let iam_conf = aws_sdk_iam::config::Builder::from(config)
            .interceptor(Notices(log.clone()))
            .retry_classifier(TransportErrors)
            .build();
        let ec2_conf = aws_sdk_ec2::config::Builder::from(config)
            .interceptor(Notices(log.clone()))
            .retry_classifier(TransportErrors)
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            iam: aws_sdk_iam::Client::from_conf(iam_conf),
            ec2: aws_sdk_ec2::Client::from_conf(ec2_conf),
            policy,
            log,
            run: super::retry::run_marker(),
            mutations: AtomicU64::new(0),
            fault_after: std::env::var("STREAMCTL_FAULT_AFTER_MUTATIONS")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }

    /// Failed attempts so far (the progress line and the report read it).
    pub fn retry_log(&self) -> Arc<RetryLog> {
        self.log.clone()
    }

    /// Count a mutating call before making it (and inject the test fault).
    fn mutate(
        &self,
        service: &'static str,
        operation: &'static str,
        resource: &str,
    ) -> Result<(), CloudError> {
        let n = self.mutations.fetch_add(1, Ordering::SeqCst);
        if self.fault_after.is_some_and(|f| n >= f) {
            return Err(CloudError::Call {
                service,
                operation,
                resource: resource.to_string(),
                code: Some("InjectedFault".into()),
                message: "STREAMCTL_FAULT_AFTER_MUTATIONS stopped the run here".into(),
            });
        }
        Ok(())
    }

    /// Tags for an EC2 create: the resource's own plus this run's marker.
    fn ec2_tags(
        &self,
        kind: ec2t::ResourceType,
        tags: &BTreeMap<String, String>,
    ) -> ec2t::TagSpecification {
        let mut tags = tags.clone();
        tags.insert(TAG_RUN.into(), self.run.clone());
        ec2t::TagSpecification::builder()
            .resource_type(kind)
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| ec2t::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .build()
    }
}

/// The SDK configuration of one create call: no SDK retries ([`RetryPolicy::create`] retries it,
/// looking the resource up first after a lost response).
fn ec2_once() -> aws_sdk_ec2::config::Builder {
    aws_sdk_ec2::config::Builder::default().retry_config(aws_config::retry::RetryConfig::disabled())
}

fn err<'a, E>(
    service: &'static str,
    operation: &'static str,
    resource: &'a str,
) -> impl FnOnce(E) -> CloudError + 'a
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| CloudError::call(service, operation, resource.to_string(), e)
}

/// A delete or detach whose target is already gone (a retry after a lost response, or someone
/// else removed it) has done its job.
fn gone_ok<T, E>(
    r: Result<T, E>,
    service: &'static str,
    operation: &'static str,
    resource: &str,
) -> Result<(), CloudError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match r {
        Ok(_) => Ok(()),
        Err(e)
            if e.code().is_some_and(|c| {
                c.contains("NotFound") || c == "NoSuchEntity" || c == "Gateway.NotAttached"
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(CloudError::call(
            service,
            operation,
            resource.to_string(),
            e,
        )),
    }
}

/// The error code of an SDK error, if any.
fn code<E: ProvideErrorMetadata>(e: &E) -> Option<&str> {
    e.code()
}

fn tag_filter(key: &str, value: &str) -> ec2t::Filter {
    ec2t::Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

fn filter(name: &str, value: &str) -> ec2t::Filter {
    ec2t::Filter::builder().name(name).values(value).build()
}

fn tag_value<'a>(tags: &'a [ec2t::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn missing(what: &str, name: &str, needs: &str) -> CloudError {
    CloudError::Call {
        service: "streamctl",
        operation: "Apply",
        resource: name.to_string(),
        code: Some("DependencyMissing".into()),
        message: format!("{what} {name} needs {needs}, which is not there yet; re-run to converge"),
    }
}

impl Cloud for Aws {
    async fn pick_azs(&self, instance_types: &[String]) -> Result<Vec<String>, CloudError> {
        self.pick_azs_offering(instance_types).await
    }

    async fn latest_image(&self) -> Result<String, CloudError> {
        self.newest_al2023().await
    }

    async fn check_instance_types(&self, instance_types: &[String]) -> Result<(), CloudError> {
        self.instance_types_exist(instance_types).await
    }

    async fn read(&self, d: &Desired) -> Result<Actual, CloudError> {
        let mut a = Actual::default();
        if let Some(b) = &d.bucket {
            a.bucket = self.read_bucket(&b.name).await?;
        }
        if let Some(i) = &d.iam {
            self.read_iam(i, &mut a).await?;
        }
        self.read_network(d, &mut a).await?;
        self.read_launch_templates(d, &mut a).await?;
        self.read_instances(d, &mut a).await?;
        Ok(a)
    }

    async fn apply(&self, d: &Desired, a: &Actual, c: &Change) -> Result<(), CloudError> {
        if c.kind.starts_with("s3-") && c.kind != "s3-endpoint" {
            self.apply_bucket(d, c).await
        } else if c.kind.starts_with("iam-") {
            self.apply_iam(d, c).await
        } else if c.kind == "launch-template" {
            self.apply_launch_template(d, a, c).await
        } else if c.kind == "instance" {
            self.apply_instance(d, a, c).await
        } else {
            self.apply_network(d, c).await
        }
    }

    /// In dependency order: instances (and, with `delete_data`, their kept volumes), launch
    /// templates, the network (security group, endpoint, NAT gateways and their addresses, route
    /// tables, internet gateway, subnets, VPC), IAM, then the bucket.
    async fn destroy(
        &self,
        d: &Desired,
        delete_data: bool,
        execute: bool,
    ) -> Result<Vec<Removal>, CloudError> {
        let mut out = Vec::new();
        self.destroy_instances(d, delete_data, execute, &mut out)
            .await?;
        let actual = self.read(d).await?;
        self.destroy_launch_templates(&actual, execute, &mut out)
            .await?;
        self.destroy_network(d, &actual, execute, &mut out).await?;
        if let Some(i) = &d.iam {
            self.destroy_iam(i, &actual, execute, &mut out).await?;
        }
        if let (Some(b), Some(_)) = (&d.bucket, &actual.bucket) {
            self.destroy_bucket(&b.name, delete_data, execute, &mut out)
                .await?;
        }
        Ok(out)
    }

    async fn prune_duplicates(
        &self,
        d: &Desired,
        actual: &Actual,
        execute: bool,
    ) -> Result<Vec<Removal>, CloudError> {
        self.prune_duplicate_instances(d, actual, execute).await
    }

    fn mutating_calls(&self) -> u64 {
        self.mutations.load(Ordering::SeqCst)
    }
}

/// The verb of a removal: done, or planned.
fn verb(execute: bool, done: &str) -> String {
    if execute {
        done.to_string()
    } else {
        "would delete".to_string()
    }
}
