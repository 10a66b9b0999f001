//! The real [`Cloud`]: S3, IAM and EC2 calls for `provision`, `destroy` and `inventory`.
//! Every mutating call is counted (the report says how many were made) and every error names
//! the call and the resource.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_ec2::types as ec2t;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_s3::types as s3t;
use base64::Engine;

use super::AwsError;
use crate::infra::cloud::{Cloud, Removal};
use crate::infra::desired::{BucketEncryption, Desired, Rule, DATA_DEVICE, ROOT_DEVICE};
use crate::infra::diff::{Actual, ActualBucket, ActualInstance, ActualLaunchTemplate, Change};
use crate::infra::{TAG_AZ, TAG_CLUSTER, TAG_GROUP, TAG_INDEX};
use crate::sizing::gp3::Gp3;

/// The AWS adapter for infrastructure.
pub struct Aws {
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    ec2: aws_sdk_ec2::Client,
    mutations: AtomicU64,
    /// Test hook (`STREAMCTL_FAULT_AFTER_MUTATIONS`): fail the call after this many mutations,
    /// to prove that an interrupted run converges when re-run.
    fault_after: Option<u64>,
}

impl Aws {
    pub fn new(config: &aws_config::SdkConfig, force_path_style: bool) -> Self {
        let s3_conf = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(force_path_style)
            .build();
        Self {
            s3: aws_sdk_s3::Client::from_conf(s3_conf),
            iam: aws_sdk_iam::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            mutations: AtomicU64::new(0),
            fault_after: std::env::var("STREAMCTL_FAULT_AFTER_MUTATIONS")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }

    /// Count a mutating call before making it (and inject the test fault).
    fn mutate(
        &self,
        service: &'static str,
        operation: &'static str,
        resource: &str,
    ) -> Result<(), AwsError> {
        let n = self.mutations.fetch_add(1, Ordering::SeqCst);
        if self.fault_after.is_some_and(|f| n >= f) {
            return Err(AwsError::Call {
                service,
                operation,
                resource: resource.to_string(),
                code: Some("InjectedFault".into()),
                message: "STREAMCTL_FAULT_AFTER_MUTATIONS stopped the run here".into(),
            });
        }
        Ok(())
    }
}

fn err<'a, E>(
    service: &'static str,
    operation: &'static str,
    resource: &'a str,
) -> impl FnOnce(E) -> AwsError + 'a
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| AwsError::call(service, operation, resource.to_string(), e)
}

/// The error code of an SDK error, if any.
fn code<E: ProvideErrorMetadata>(e: &E) -> Option<&str> {
    e.code()
}

fn ec2_tags(kind: ec2t::ResourceType, tags: &BTreeMap<String, String>) -> ec2t::TagSpecification {
    ec2t::TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| ec2t::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .build()
}

fn tag_filter(key: &str, value: &str) -> ec2t::Filter {
    ec2t::Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

fn tag_value<'a>(tags: &'a [ec2t::Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// IAM returns policy documents URL-encoded.
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                }
                Err(_) => {
                    out.push(b'%');
                    i += 1;
                }
            },
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rule_from(p: &ec2t::IpPermission, own: &str) -> Vec<Rule> {
    let (from, to) = (p.from_port().unwrap_or(-1), p.to_port().unwrap_or(-1));
    let mut out = Vec::new();
    for r in p.ip_ranges() {
        out.push(Rule {
            from_port: from,
            to_port: to,
            source: r.cidr_ip().unwrap_or_default().to_string(),
            description: r.description().unwrap_or_default().to_string(),
        });
    }
    for g in p.user_id_group_pairs() {
        let source = if g.group_id() == Some(own) {
            "self".to_string()
        } else {
            g.group_id().unwrap_or_default().to_string()
        };
        out.push(Rule {
            from_port: from,
            to_port: to,
            source,
            description: g.description().unwrap_or_default().to_string(),
        });
    }
    out
}

fn permission(r: &Rule, sg: &str) -> ec2t::IpPermission {
    let b = ec2t::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(r.from_port)
        .to_port(r.to_port);
    if r.source == "self" {
        b.user_id_group_pairs(
            ec2t::UserIdGroupPair::builder()
                .group_id(sg)
                .description(&r.description)
                .build(),
        )
        .build()
    } else {
        b.ip_ranges(
            ec2t::IpRange::builder()
                .cidr_ip(&r.source)
                .description(&r.description)
                .build(),
        )
        .build()
    }
}

impl Aws {
    async fn read_bucket(&self, name: &str) -> Result<Option<ActualBucket>, AwsError> {
        match self.s3.head_bucket().bucket(name).send().await {
            Ok(_) => {}
            Err(e) => {
                let svc = e.into_service_error();
                if svc.is_not_found() {
                    return Ok(None);
                }
                return Err(AwsError::call("S3", "HeadBucket", name, svc));
            }
        }
        let mut b = ActualBucket::default();
        match self
            .s3
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send()
            .await
        {
            Ok(r) => {
                let rules = r.rules();
                let abort = rules
                    .iter()
                    .find_map(|x| {
                        x.abort_incomplete_multipart_upload()
                            .and_then(|a| a.days_after_initiation())
                    })
                    .map(|d| d as u32);
                let exp = rules
                    .iter()
                    .find_map(|x| x.expiration().and_then(|e| e.days()))
                    .map(|d| d as u32);
                b.lifecycle = Some((abort, exp, rules.len()));
            }
            Err(e) if code(&e) == Some("NoSuchLifecycleConfiguration") => {}
            Err(e) => {
                return Err(AwsError::call(
                    "S3",
                    "GetBucketLifecycleConfiguration",
                    name,
                    e,
                ))
            }
        }
        match self.s3.get_public_access_block().bucket(name).send().await {
            Ok(r) => {
                if let Some(c) = r.public_access_block_configuration() {
                    b.public_access_block = Some([
                        c.block_public_acls().unwrap_or(false),
                        c.ignore_public_acls().unwrap_or(false),
                        c.block_public_policy().unwrap_or(false),
                        c.restrict_public_buckets().unwrap_or(false),
                    ]);
                }
            }
            Err(e) if code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => {}
            Err(e) => return Err(AwsError::call("S3", "GetPublicAccessBlock", name, e)),
        }
        match self.s3.get_bucket_encryption().bucket(name).send().await {
            Ok(r) => {
                b.encryption = r
                    .server_side_encryption_configuration()
                    .and_then(|c| c.rules().first())
                    .and_then(|r| r.apply_server_side_encryption_by_default())
                    .map(|d| match d.sse_algorithm() {
                        s3t::ServerSideEncryption::AwsKms => BucketEncryption::SseKms {
                            key_id: d.kms_master_key_id().unwrap_or_default().to_string(),
                        },
                        _ => BucketEncryption::SseS3,
                    });
            }
            Err(e) if code(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => {}
            Err(e) => return Err(AwsError::call("S3", "GetBucketEncryption", name, e)),
        }
        match self
            .s3
            .get_bucket_ownership_controls()
            .bucket(name)
            .send()
            .await
        {
            Ok(r) => {
                b.ownership = r
                    .ownership_controls()
                    .and_then(|c| c.rules().first())
                    .map(|r| r.object_ownership().as_str().to_string());
            }
            Err(e) if code(&e) == Some("OwnershipControlsNotFoundError") => {}
            Err(e) => return Err(AwsError::call("S3", "GetBucketOwnershipControls", name, e)),
        }
        match self.s3.get_bucket_tagging().bucket(name).send().await {
            Ok(r) => {
                b.tags = r
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            }
            Err(e) if code(&e) == Some("NoSuchTagSet") => {}
            Err(e) => return Err(AwsError::call("S3", "GetBucketTagging", name, e)),
        }
        match self.s3.get_bucket_policy().bucket(name).send().await {
            Ok(r) => b.policy = r.policy().map(str::to_string),
            Err(e) if code(&e) == Some("NoSuchBucketPolicy") => {}
            Err(e) => return Err(AwsError::call("S3", "GetBucketPolicy", name, e)),
        }
        Ok(Some(b))
    }

    async fn apply_bucket(&self, d: &Desired, c: &Change) -> Result<(), AwsError> {
        let b = d
            .bucket
            .as_ref()
            .expect("bucket changes come from a bucket");
        let n = b.name.as_str();
        match c.kind {
            "s3-bucket" => {
                self.mutate("S3", "CreateBucket", n)?;
                let mut req = self
                    .s3
                    .create_bucket()
                    .bucket(n)
                    .object_ownership(s3t::ObjectOwnership::BucketOwnerEnforced);
                if b.region != "us-east-1" {
                    req = req.create_bucket_configuration(
                        s3t::CreateBucketConfiguration::builder()
                            .location_constraint(s3t::BucketLocationConstraint::from(
                                b.region.as_str(),
                            ))
                            .build(),
                    );
                }
                match req.send().await {
                    Ok(_) => Ok(()),
                    // Ours already (a re-run after a crash between create and read): converge.
                    Err(e) if code(&e) == Some("BucketAlreadyOwnedByYou") => Ok(()),
                    Err(e) => Err(AwsError::call("S3", "CreateBucket", n, e)),
                }
            }
            "s3-public-access-block" => {
                self.mutate("S3", "PutPublicAccessBlock", n)?;
                let conf = s3t::PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build();
                self.s3
                    .put_public_access_block()
                    .bucket(n)
                    .public_access_block_configuration(conf)
                    .send()
                    .await
                    .map_err(err("S3", "PutPublicAccessBlock", n))?;
                Ok(())
            }
            "s3-encryption" => {
                self.mutate("S3", "PutBucketEncryption", n)?;
                let default = match &b.encryption {
                    BucketEncryption::SseS3 => s3t::ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(s3t::ServerSideEncryption::Aes256)
                        .build(),
                    BucketEncryption::SseKms { key_id } => {
                        s3t::ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(s3t::ServerSideEncryption::AwsKms)
                            .kms_master_key_id(key_id)
                            .build()
                    }
                }
                .expect("algorithm is set");
                let rule = s3t::ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(default)
                    .bucket_key_enabled(matches!(b.encryption, BucketEncryption::SseKms { .. }))
                    .build();
                let conf = s3t::ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .expect("rules are set");
                self.s3
                    .put_bucket_encryption()
                    .bucket(n)
                    .server_side_encryption_configuration(conf)
                    .send()
                    .await
                    .map_err(err("S3", "PutBucketEncryption", n))?;
                Ok(())
            }
            "s3-ownership" => {
                self.mutate("S3", "PutBucketOwnershipControls", n)?;
                let rule = s3t::OwnershipControlsRule::builder()
                    .object_ownership(s3t::ObjectOwnership::BucketOwnerEnforced)
                    .build()
                    .expect("set");
                let conf = s3t::OwnershipControls::builder()
                    .rules(rule)
                    .build()
                    .expect("set");
                self.s3
                    .put_bucket_ownership_controls()
                    .bucket(n)
                    .ownership_controls(conf)
                    .send()
                    .await
                    .map_err(err("S3", "PutBucketOwnershipControls", n))?;
                Ok(())
            }
            "s3-lifecycle" => {
                self.mutate("S3", "PutBucketLifecycleConfiguration", n)?;
                let mut rule = s3t::LifecycleRule::builder()
                    .id("streamctl")
                    .status(s3t::ExpirationStatus::Enabled)
                    .filter(s3t::LifecycleRuleFilter::builder().prefix("").build())
                    .abort_incomplete_multipart_upload(
                        s3t::AbortIncompleteMultipartUpload::builder()
                            .days_after_initiation(b.abort_multipart_days as i32)
                            .build(),
                    );
                if let Some(days) = b.expiration_days {
                    rule = rule.expiration(
                        s3t::LifecycleExpiration::builder()
                            .days(days as i32)
                            .build(),
                    );
                }
                let conf = s3t::BucketLifecycleConfiguration::builder()
                    .rules(rule.build().expect("status set"))
                    .build()
                    .expect("rules set");
                self.s3
                    .put_bucket_lifecycle_configuration()
                    .bucket(n)
                    .lifecycle_configuration(conf)
                    .send()
                    .await
                    .map_err(err("S3", "PutBucketLifecycleConfiguration", n))?;
                Ok(())
            }
            "s3-tags" => {
                self.mutate("S3", "PutBucketTagging", n)?;
                let tags: Vec<s3t::Tag> = b
                    .tags
                    .iter()
                    .map(|(k, v)| s3t::Tag::builder().key(k).value(v).build().expect("set"))
                    .collect();
                self.s3
                    .put_bucket_tagging()
                    .bucket(n)
                    .tagging(
                        s3t::Tagging::builder()
                            .set_tag_set(Some(tags))
                            .build()
                            .expect("set"),
                    )
                    .send()
                    .await
                    .map_err(err("S3", "PutBucketTagging", n))?;
                Ok(())
            }
            "s3-policy" => {
                self.mutate("S3", "PutBucketPolicy", n)?;
                let p = b.policy.as_deref().expect("policy change needs a policy");
                self.s3
                    .put_bucket_policy()
                    .bucket(n)
                    .policy(p)
                    .send()
                    .await
                    .map_err(err("S3", "PutBucketPolicy", n))?;
                Ok(())
            }
            other => unreachable!("not a bucket change: {other}"),
        }
    }

    async fn apply_iam(&self, d: &Desired, c: &Change) -> Result<(), AwsError> {
        let i = d.iam.as_ref().expect("IAM changes come from IAM");
        let role = i.role_name.as_str();
        let tags: Vec<aws_sdk_iam::types::Tag> = i
            .tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("set")
            })
            .collect();
        match (c.kind, c.action) {
            ("iam-role", crate::infra::Action::Create) => {
                self.mutate("IAM", "CreateRole", role)?;
                match self
                    .iam
                    .create_role()
                    .role_name(role)
                    .assume_role_policy_document(&i.trust_policy)
                    .description(format!("streamctl brokers of {}", d.cluster))
                    .set_tags(Some(tags))
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if code(&e) == Some("EntityAlreadyExists") => Ok(()),
                    Err(e) => Err(AwsError::call("IAM", "CreateRole", role, e)),
                }
            }
            ("iam-role", _) => {
                self.mutate("IAM", "UpdateAssumeRolePolicy", role)?;
                self.iam
                    .update_assume_role_policy()
                    .role_name(role)
                    .policy_document(&i.trust_policy)
                    .send()
                    .await
                    .map_err(err("IAM", "UpdateAssumeRolePolicy", role))?;
                Ok(())
            }
            ("iam-role-policy", _) => {
                self.mutate("IAM", "PutRolePolicy", role)?;
                self.iam
                    .put_role_policy()
                    .role_name(role)
                    .policy_name(&i.policy_name)
                    .policy_document(&i.policy)
                    .send()
                    .await
                    .map_err(err("IAM", "PutRolePolicy", role))?;
                Ok(())
            }
            ("iam-instance-profile", action) => {
                let p = i.instance_profile_name.as_str();
                if action == crate::infra::Action::Create {
                    self.mutate("IAM", "CreateInstanceProfile", p)?;
                    match self
                        .iam
                        .create_instance_profile()
                        .instance_profile_name(p)
                        .set_tags(Some(tags))
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if code(&e) == Some("EntityAlreadyExists") => {}
                        Err(e) => return Err(AwsError::call("IAM", "CreateInstanceProfile", p, e)),
                    }
                }
                // Make the profile hold exactly our role.
                let current = self
                    .iam
                    .get_instance_profile()
                    .instance_profile_name(p)
                    .send()
                    .await
                    .map_err(err("IAM", "GetInstanceProfile", p))?;
                let roles: Vec<String> = current
                    .instance_profile()
                    .map(|ip| {
                        ip.roles()
                            .iter()
                            .map(|r| r.role_name().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                for r in roles.iter().filter(|r| *r != role) {
                    self.mutate("IAM", "RemoveRoleFromInstanceProfile", p)?;
                    self.iam
                        .remove_role_from_instance_profile()
                        .instance_profile_name(p)
                        .role_name(r)
                        .send()
                        .await
                        .map_err(err("IAM", "RemoveRoleFromInstanceProfile", p))?;
                }
                if !roles.iter().any(|r| r == role) {
                    self.mutate("IAM", "AddRoleToInstanceProfile", p)?;
                    self.iam
                        .add_role_to_instance_profile()
                        .instance_profile_name(p)
                        .role_name(role)
                        .send()
                        .await
                        .map_err(err("IAM", "AddRoleToInstanceProfile", p))?;
                }
                Ok(())
            }
            (other, _) => unreachable!("not an IAM change: {other}"),
        }
    }

    async fn apply_network(&self, d: &Desired, a: &Actual, c: &Change) -> Result<(), AwsError> {
        let n = &d.network;
        match c.kind {
            "vpc" => {
                self.mutate("EC2", "CreateVpc", &n.vpc_name)?;
                let r = self
                    .ec2
                    .create_vpc()
                    .cidr_block(&n.vpc_cidr)
                    .tag_specifications(ec2_tags(ec2t::ResourceType::Vpc, &n.tags))
                    .send()
                    .await
                    .map_err(err("EC2", "CreateVpc", &n.vpc_name))?;
                let id = r
                    .vpc()
                    .and_then(|v| v.vpc_id())
                    .unwrap_or_default()
                    .to_string();
                // Brokers advertise DNS names.
                self.mutate("EC2", "ModifyVpcAttribute", &id)?;
                self.ec2
                    .modify_vpc_attribute()
                    .vpc_id(&id)
                    .enable_dns_hostnames(
                        ec2t::AttributeBooleanValue::builder().value(true).build(),
                    )
                    .send()
                    .await
                    .map_err(err("EC2", "ModifyVpcAttribute", &id))?;
                Ok(())
            }
            "subnet" => {
                let vpc = a
                    .vpc_id
                    .as_deref()
                    .ok_or_else(|| missing("subnet", &c.name, "the VPC"))?;
                let az = c.name.split_whitespace().next().unwrap_or_default();
                let cidr = &n.subnet_cidrs[az];
                let mut tags = n.tags.clone();
                tags.insert("Name".into(), format!("{}-{az}", n.vpc_name));
                tags.insert(TAG_AZ.into(), az.to_string());
                self.mutate("EC2", "CreateSubnet", &c.name)?;
                self.ec2
                    .create_subnet()
                    .vpc_id(vpc)
                    .cidr_block(cidr)
                    .availability_zone(az)
                    .tag_specifications(ec2_tags(ec2t::ResourceType::Subnet, &tags))
                    .send()
                    .await
                    .map_err(err("EC2", "CreateSubnet", &c.name))?;
                Ok(())
            }
            "security-group" => {
                let sg = &n.security_group;
                let vpc = a
                    .vpc_id
                    .as_deref()
                    .ok_or_else(|| missing("security group", &sg.name, "the VPC"))?;
                let (id, have) = match &a.security_group {
                    Some((id, rules)) => (id.clone(), rules.clone()),
                    None => {
                        self.mutate("EC2", "CreateSecurityGroup", &sg.name)?;
                        let mut tags = n.tags.clone();
                        tags.insert("Name".into(), sg.name.clone());
                        let r = self
                            .ec2
                            .create_security_group()
                            .group_name(&sg.name)
                            .description(&sg.description)
                            .vpc_id(vpc)
                            .tag_specifications(ec2_tags(ec2t::ResourceType::SecurityGroup, &tags))
                            .send()
                            .await
                            .map_err(err("EC2", "CreateSecurityGroup", &sg.name))?;
                        (r.group_id().unwrap_or_default().to_string(), vec![])
                    }
                };
                let add: Vec<ec2t::IpPermission> = sg
                    .rules
                    .iter()
                    .filter(|r| !have.contains(r))
                    .map(|r| permission(r, &id))
                    .collect();
                let remove: Vec<ec2t::IpPermission> = have
                    .iter()
                    .filter(|r| {
                        !sg.rules.iter().any(|w| {
                            w.from_port == r.from_port
                                && w.to_port == r.to_port
                                && w.source == r.source
                        })
                    })
                    .map(|r| permission(r, &id))
                    .collect();
                if !remove.is_empty() {
                    self.mutate("EC2", "RevokeSecurityGroupIngress", &id)?;
                    self.ec2
                        .revoke_security_group_ingress()
                        .group_id(&id)
                        .set_ip_permissions(Some(remove))
                        .send()
                        .await
                        .map_err(err("EC2", "RevokeSecurityGroupIngress", &id))?;
                }
                if !add.is_empty() {
                    self.mutate("EC2", "AuthorizeSecurityGroupIngress", &id)?;
                    self.ec2
                        .authorize_security_group_ingress()
                        .group_id(&id)
                        .set_ip_permissions(Some(add))
                        .send()
                        .await
                        .map_err(err("EC2", "AuthorizeSecurityGroupIngress", &id))?;
                }
                Ok(())
            }
            other => unreachable!("not a network change: {other}"),
        }
    }

    fn launch_template_data(
        &self,
        lt: &crate::infra::desired::LaunchTemplate,
        image: &str,
        sg: &str,
    ) -> ec2t::RequestLaunchTemplateData {
        let root = ec2t::LaunchTemplateBlockDeviceMappingRequest::builder()
            .device_name(ROOT_DEVICE)
            .ebs(
                ec2t::LaunchTemplateEbsBlockDeviceRequest::builder()
                    .volume_type(ec2t::VolumeType::Gp3)
                    .volume_size(lt.root_volume_gib as i32)
                    .encrypted(true)
                    .delete_on_termination(true)
                    .build(),
            )
            .build();
        let mut devices = vec![root];
        if let Some(v) = &lt.data_volume {
            devices.push(
                ec2t::LaunchTemplateBlockDeviceMappingRequest::builder()
                    .device_name(DATA_DEVICE)
                    .ebs(
                        ec2t::LaunchTemplateEbsBlockDeviceRequest::builder()
                            .volume_type(ec2t::VolumeType::Gp3)
                            .volume_size(v.size_gib as i32)
                            .iops(v.iops as i32)
                            .throughput(v.throughput_mibps as i32)
                            .encrypted(true)
                            // Broker data outlives the instance (seed 004): a replacement
                            // re-attaches it; `destroy --delete-data` removes it.
                            .delete_on_termination(false)
                            .build(),
                    )
                    .build(),
            );
        }
        let mut data = ec2t::RequestLaunchTemplateData::builder()
            .instance_type(ec2t::InstanceType::from(lt.instance_type.as_str()))
            .image_id(image)
            .ebs_optimized(true)
            .set_block_device_mappings(Some(devices))
            .security_group_ids(sg)
            .metadata_options(
                ec2t::LaunchTemplateInstanceMetadataOptionsRequest::builder()
                    .http_tokens(ec2t::LaunchTemplateHttpTokensState::Required)
                    .http_endpoint(ec2t::LaunchTemplateInstanceMetadataEndpointState::Enabled)
                    .http_put_response_hop_limit(lt.imds_hop_limit)
                    .build(),
            )
            .tag_specifications(
                ec2t::LaunchTemplateTagSpecificationRequest::builder()
                    .resource_type(ec2t::ResourceType::Volume)
                    .set_tags(Some(
                        lt.tags
                            .iter()
                            .map(|(k, v)| ec2t::Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .build(),
            );
        if let Some(p) = &lt.instance_profile {
            data = data.iam_instance_profile(
                ec2t::LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                    .name(p)
                    .build(),
            );
        }
        data.build()
    }

    async fn apply_launch_template(
        &self,
        d: &Desired,
        a: &Actual,
        c: &Change,
    ) -> Result<(), AwsError> {
        let lt = d
            .launch_templates
            .iter()
            .find(|l| l.name == c.name)
            .expect("planned from the desired state");
        let sg = a
            .security_group
            .as_ref()
            .map(|s| s.0.clone())
            .ok_or_else(|| missing("launch template", &lt.name, "the security group"))?;
        let image = match &lt.image_id {
            Some(i) => i.clone(),
            None => self.latest_image().await?,
        };
        let data = self.launch_template_data(lt, &image, &sg);
        match a.launch_templates.get(&lt.name) {
            None => {
                self.mutate("EC2", "CreateLaunchTemplate", &lt.name)?;
                self.ec2
                    .create_launch_template()
                    .launch_template_name(&lt.name)
                    .launch_template_data(data)
                    .tag_specifications(ec2_tags(ec2t::ResourceType::LaunchTemplate, &lt.tags))
                    .send()
                    .await
                    .map_err(err("EC2", "CreateLaunchTemplate", &lt.name))?;
            }
            Some(x) => {
                self.mutate("EC2", "CreateLaunchTemplateVersion", &lt.name)?;
                let v = self
                    .ec2
                    .create_launch_template_version()
                    .launch_template_id(&x.id)
                    .launch_template_data(data)
                    .send()
                    .await
                    .map_err(err("EC2", "CreateLaunchTemplateVersion", &lt.name))?;
                let n = v
                    .launch_template_version()
                    .and_then(|v| v.version_number())
                    .unwrap_or(x.version + 1);
                self.mutate("EC2", "ModifyLaunchTemplate", &lt.name)?;
                self.ec2
                    .modify_launch_template()
                    .launch_template_id(&x.id)
                    .default_version(n.to_string())
                    .send()
                    .await
                    .map_err(err("EC2", "ModifyLaunchTemplate", &lt.name))?;
            }
        }
        Ok(())
    }

    async fn apply_instance(&self, d: &Desired, a: &Actual, c: &Change) -> Result<(), AwsError> {
        let i = d
            .instances
            .iter()
            .find(|i| i.name == c.name)
            .expect("planned from the desired state");
        let lt = a
            .launch_templates
            .get(&i.launch_template)
            .ok_or_else(|| missing("instance", &i.name, "its launch template"))?;
        let subnet = match &d.network.existing_vpc {
            Some(_) => d.network.existing_subnets.get(&i.az).cloned(),
            None => a.subnets.get(&i.az).map(|s| s.0.clone()),
        }
        .ok_or_else(|| missing("instance", &i.name, "a subnet in its AZ"))?;
        // A new instance profile takes a few seconds to propagate in real AWS; until then
        // RunInstances rejects it. Retry that one error, bounded (about a minute).
        let mut delay = std::time::Duration::from_secs(2);
        for attempt in 0.. {
            self.mutate("EC2", "RunInstances", &i.name)?;
            let r = self
                .ec2
                .run_instances()
                .launch_template(
                    ec2t::LaunchTemplateSpecification::builder()
                        .launch_template_id(&lt.id)
                        .version("$Default")
                        .build(),
                )
                .subnet_id(&subnet)
                .min_count(1)
                .max_count(1)
                .user_data(base64::engine::general_purpose::STANDARD.encode(&i.user_data))
                .tag_specifications(ec2_tags(ec2t::ResourceType::Instance, &i.tags))
                .send()
                .await;
            match r {
                Ok(_) => return Ok(()),
                Err(e) if attempt < 6 && profile_not_ready(&e) => {
                    tracing::info!(instance = %i.name, "instance profile not visible to EC2 yet; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(AwsError::call("EC2", "RunInstances", &i.name, e)),
            }
        }
        unreachable!("the loop returns")
    }

    async fn instances(
        &self,
        cluster: &str,
        states: &[&str],
    ) -> Result<Vec<(String, Vec<ec2t::Tag>, String, String)>, AwsError> {
        let mut out = Vec::new();
        let mut pages = self
            .ec2
            .describe_instances()
            .filters(tag_filter(TAG_CLUSTER, cluster))
            .filters(
                ec2t::Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(states.iter().map(|s| s.to_string()).collect()))
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(err("EC2", "DescribeInstances", cluster))?;
            for r in page.reservations() {
                for inst in r.instances() {
                    out.push((
                        inst.instance_id().unwrap_or_default().to_string(),
                        inst.tags().to_vec(),
                        inst.placement()
                            .and_then(|p| p.availability_zone())
                            .unwrap_or_default()
                            .to_string(),
                        inst.state()
                            .and_then(|s| s.name())
                            .map(|n| n.as_str().to_string())
                            .unwrap_or_default(),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// RunInstances' answer while a new instance profile propagates.
fn profile_not_ready<E: ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("InvalidParameterValue")
        && e.message()
            .is_some_and(|m| m.contains("iamInstanceProfile"))
}

impl Aws {
    /// One page (up to 1,000) of a bucket's object versions and delete markers, and whether
    /// there are more.
    async fn object_versions(
        &self,
        bucket: &str,
    ) -> Result<(Vec<s3t::ObjectIdentifier>, bool), AwsError> {
        let listed = self
            .s3
            .list_object_versions()
            .bucket(bucket)
            .max_keys(1000)
            .send()
            .await
            .map_err(err("S3", "ListObjectVersions", bucket))?;
        let id = |key: Option<&str>, version: Option<&str>| {
            s3t::ObjectIdentifier::builder()
                .key(key.unwrap_or_default())
                .set_version_id(version.map(str::to_string))
                .build()
                .expect("key set")
        };
        let mut out: Vec<s3t::ObjectIdentifier> = listed
            .versions()
            .iter()
            .map(|v| id(v.key(), v.version_id()))
            .collect();
        out.extend(
            listed
                .delete_markers()
                .iter()
                .map(|m| id(m.key(), m.version_id())),
        );
        Ok((out, listed.is_truncated() == Some(true)))
    }
}

fn missing(what: &str, name: &str, needs: &str) -> AwsError {
    AwsError::Call {
        service: "streamctl",
        operation: "Apply",
        resource: name.to_string(),
        code: Some("DependencyMissing".into()),
        message: format!("{what} {name} needs {needs}, which is not there yet; re-run to converge"),
    }
}

const LIVE: &[&str] = &["pending", "running", "stopping", "stopped"];

impl Cloud for Aws {
    async fn pick_azs(&self, instance_types: &[String]) -> Result<Vec<String>, AwsError> {
        let r = self
            .ec2
            .describe_availability_zones()
            .filters(
                ec2t::Filter::builder()
                    .name("state")
                    .values("available")
                    .build(),
            )
            .send()
            .await
            .map_err(err("EC2", "DescribeAvailabilityZones", "region"))?;
        let mut azs: Vec<String> = r
            .availability_zones()
            .iter()
            .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect();
        for t in instance_types {
            let offered = self
                .ec2
                .describe_instance_type_offerings()
                .location_type(ec2t::LocationType::AvailabilityZone)
                .filters(
                    ec2t::Filter::builder()
                        .name("instance-type")
                        .values(t)
                        .build(),
                )
                .send()
                .await
                .map_err(err("EC2", "DescribeInstanceTypeOfferings", t))?;
            let here: Vec<String> = offered
                .instance_type_offerings()
                .iter()
                .filter_map(|o| o.location().map(str::to_string))
                .collect();
            azs.retain(|z| here.contains(z));
        }
        azs.sort();
        if azs.len() < 3 {
            return Err(AwsError::Call {
                service: "EC2",
                operation: "DescribeInstanceTypeOfferings",
                resource: instance_types.join(","),
                code: Some("NotEnoughZones".into()),
                message: format!(
                    "only {} AZs offer every instance type ({})",
                    azs.len(),
                    azs.join(", ")
                ),
            });
        }
        azs.truncate(3);
        Ok(azs)
    }

    async fn latest_image(&self) -> Result<String, AwsError> {
        let r = self
            .ec2
            .describe_images()
            .owners("amazon")
            .filters(
                ec2t::Filter::builder()
                    .name("name")
                    .values("al2023-ami-2023.*-x86_64")
                    .build(),
            )
            .filters(
                ec2t::Filter::builder()
                    .name("architecture")
                    .values("x86_64")
                    .build(),
            )
            .send()
            .await
            .map_err(err("EC2", "DescribeImages", "al2023-ami-2023.*-x86_64"))?;
        let mut images: Vec<(&str, &str)> = r
            .images()
            .iter()
            .filter_map(|i| Some((i.creation_date().unwrap_or(""), i.image_id()?)))
            .collect();
        images.sort();
        images.last().map(|(_, id)| id.to_string()).ok_or_else(|| AwsError::Call {
            service: "EC2",
            operation: "DescribeImages",
            resource: "al2023-ami-2023.*-x86_64".into(),
            code: Some("NoImage".into()),
            message: "no Amazon Linux 2023 image found in this region; set node_groups[].image_id or --image-id".into(),
        })
    }

    async fn check_instance_types(&self, instance_types: &[String]) -> Result<(), AwsError> {
        let r = self
            .ec2
            .describe_instance_types()
            .set_instance_types(Some(
                instance_types
                    .iter()
                    .map(|t| ec2t::InstanceType::from(t.as_str()))
                    .collect(),
            ))
            .send()
            .await
            .map_err(err(
                "EC2",
                "DescribeInstanceTypes",
                &instance_types.join(","),
            ))?;
        let found: Vec<&str> = r
            .instance_types()
            .iter()
            .filter_map(|t| t.instance_type().map(|x| x.as_str()))
            .collect();
        for t in instance_types {
            if !found.contains(&t.as_str()) {
                return Err(AwsError::Call {
                    service: "EC2",
                    operation: "DescribeInstanceTypes",
                    resource: t.clone(),
                    code: Some("InvalidInstanceType".into()),
                    message: format!("{t} is not an instance type in this region"),
                });
            }
        }
        Ok(())
    }

    async fn read(&self, d: &Desired) -> Result<Actual, AwsError> {
        let mut a = Actual::default();
        if let Some(b) = &d.bucket {
            a.bucket = self.read_bucket(&b.name).await?;
        }
        if let Some(i) = &d.iam {
            match self.iam.get_role().role_name(&i.role_name).send().await {
                Ok(r) => {
                    a.role_trust_policy = r
                        .role()
                        .and_then(|r| r.assume_role_policy_document())
                        .map(url_decode)
                }
                Err(e) if code(&e) == Some("NoSuchEntity") => {}
                Err(e) => return Err(AwsError::call("IAM", "GetRole", &i.role_name, e)),
            }
            if a.role_trust_policy.is_some() {
                match self
                    .iam
                    .get_role_policy()
                    .role_name(&i.role_name)
                    .policy_name(&i.policy_name)
                    .send()
                    .await
                {
                    Ok(r) => a.role_policy = Some(url_decode(r.policy_document())),
                    Err(e) if code(&e) == Some("NoSuchEntity") => {}
                    Err(e) => return Err(AwsError::call("IAM", "GetRolePolicy", &i.role_name, e)),
                }
            }
            match self
                .iam
                .get_instance_profile()
                .instance_profile_name(&i.instance_profile_name)
                .send()
                .await
            {
                Ok(r) => {
                    a.instance_profile_roles = Some(
                        r.instance_profile()
                            .map(|p| {
                                p.roles()
                                    .iter()
                                    .map(|r| r.role_name().to_string())
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                }
                Err(e) if code(&e) == Some("NoSuchEntity") => {}
                Err(e) => {
                    return Err(AwsError::call(
                        "IAM",
                        "GetInstanceProfile",
                        &i.instance_profile_name,
                        e,
                    ))
                }
            }
        }
        let n = &d.network;
        let vpcs = match &n.existing_vpc {
            Some(id) => self.ec2.describe_vpcs().vpc_ids(id).send().await,
            None => {
                self.ec2
                    .describe_vpcs()
                    .filters(tag_filter(TAG_CLUSTER, &d.cluster))
                    .filters(tag_filter("Name", &n.vpc_name))
                    .send()
                    .await
            }
        };
        match vpcs {
            Ok(r) => {
                a.vpc_id = r
                    .vpcs()
                    .first()
                    .and_then(|v| v.vpc_id())
                    .map(str::to_string)
            }
            Err(e) if code(&e) == Some("InvalidVpcID.NotFound") => {}
            Err(e) => return Err(AwsError::call("EC2", "DescribeVpcs", &n.vpc_name, e)),
        }
        if let Some(vpc) = &a.vpc_id {
            let r = self
                .ec2
                .describe_subnets()
                .filters(ec2t::Filter::builder().name("vpc-id").values(vpc).build())
                .send()
                .await
                .map_err(err("EC2", "DescribeSubnets", vpc))?;
            for s in r.subnets() {
                let az = s.availability_zone().unwrap_or_default().to_string();
                let id = s.subnet_id().unwrap_or_default().to_string();
                let ours = n.existing_vpc.is_some()
                    || tag_value(s.tags(), TAG_CLUSTER) == Some(d.cluster.as_str());
                if ours && d.azs.contains(&az) {
                    if n.existing_vpc.is_some() && n.existing_subnets.get(&az) != Some(&id) {
                        continue;
                    }
                    a.subnets
                        .insert(az, (id, s.cidr_block().unwrap_or_default().to_string()));
                }
            }
            let r = self
                .ec2
                .describe_security_groups()
                .filters(ec2t::Filter::builder().name("vpc-id").values(vpc).build())
                .filters(
                    ec2t::Filter::builder()
                        .name("group-name")
                        .values(&n.security_group.name)
                        .build(),
                )
                .send()
                .await
                .map_err(err("EC2", "DescribeSecurityGroups", &n.security_group.name))?;
            if let Some(g) = r.security_groups().first() {
                let id = g.group_id().unwrap_or_default().to_string();
                let mut rules: Vec<Rule> = g
                    .ip_permissions()
                    .iter()
                    .flat_map(|p| rule_from(p, &id))
                    .collect();
                rules.sort();
                a.security_group = Some((id, rules));
            }
        }
        let r = self
            .ec2
            .describe_launch_templates()
            .filters(tag_filter(TAG_CLUSTER, &d.cluster))
            .send()
            .await
            .map_err(err("EC2", "DescribeLaunchTemplates", &d.cluster))?;
        for t in r.launch_templates() {
            let (Some(id), Some(name)) = (t.launch_template_id(), t.launch_template_name()) else {
                continue;
            };
            let v = self
                .ec2
                .describe_launch_template_versions()
                .launch_template_id(id)
                .versions("$Default")
                .send()
                .await
                .map_err(err("EC2", "DescribeLaunchTemplateVersions", name))?;
            let mut x = ActualLaunchTemplate {
                id: id.to_string(),
                version: t.default_version_number().unwrap_or(1),
                ..Default::default()
            };
            if let Some(data) = v
                .launch_template_versions()
                .first()
                .and_then(|v| v.launch_template_data())
            {
                x.instance_type = data.instance_type().map(|t| t.as_str().to_string());
                x.image_id = data.image_id().map(str::to_string);
                x.http_tokens_required = data.metadata_options().and_then(|m| m.http_tokens())
                    == Some(&ec2t::LaunchTemplateHttpTokensState::Required);
                x.hop_limit = data
                    .metadata_options()
                    .and_then(|m| m.http_put_response_hop_limit());
                x.instance_profile = data
                    .iam_instance_profile()
                    .and_then(|p| p.name())
                    .map(str::to_string);
                x.security_groups = data.security_group_ids().to_vec();
                for bdm in data.block_device_mappings() {
                    let Some(ebs) = bdm.ebs() else { continue };
                    match bdm.device_name() {
                        Some(ROOT_DEVICE) => {
                            x.root_volume_gib = ebs.volume_size().map(|s| s as u64)
                        }
                        Some(DATA_DEVICE) => {
                            x.data_encrypted = ebs.encrypted().unwrap_or(false);
                            x.data_volume = Some(Gp3 {
                                size_gib: ebs.volume_size().unwrap_or(0) as u64,
                                iops: ebs.iops().unwrap_or(0) as u64,
                                throughput_mibps: ebs.throughput().unwrap_or(0) as u64,
                            });
                        }
                        _ => {}
                    }
                }
            }
            a.launch_templates.insert(name.to_string(), x);
        }
        for (id, tags, az, state) in self.instances(&d.cluster, LIVE).await? {
            let (Some(group), Some(index)) = (
                tag_value(&tags, TAG_GROUP),
                tag_value(&tags, TAG_INDEX).and_then(|i| i.parse().ok()),
            ) else {
                continue;
            };
            a.instances.push(ActualInstance {
                id,
                group: group.to_string(),
                index,
                az,
                state,
            });
        }
        a.instances
            .sort_by(|x, y| (&x.group, x.index, &x.id).cmp(&(&y.group, y.index, &y.id)));
        Ok(a)
    }

    async fn apply(&self, d: &Desired, a: &Actual, c: &Change) -> Result<(), AwsError> {
        if c.kind.starts_with("s3-") {
            self.apply_bucket(d, c).await
        } else if c.kind.starts_with("iam-") {
            self.apply_iam(d, c).await
        } else if c.kind == "launch-template" {
            self.apply_launch_template(d, a, c).await
        } else if c.kind == "instance" {
            self.apply_instance(d, a, c).await
        } else {
            self.apply_network(d, a, c).await
        }
    }

    async fn destroy(
        &self,
        d: &Desired,
        delete_data: bool,
        execute: bool,
    ) -> Result<Vec<Removal>, AwsError> {
        let mut out = Vec::new();
        let verb = |done: &str| {
            if execute {
                done.to_string()
            } else {
                "would delete".to_string()
            }
        };
        // Instances first (everything else depends on them).
        let instances = self.instances(&d.cluster, LIVE).await?;
        if execute && !instances.is_empty() {
            let ids: Vec<String> = instances.iter().map(|i| i.0.clone()).collect();
            self.mutate("EC2", "TerminateInstances", &d.cluster)?;
            self.ec2
                .terminate_instances()
                .set_instance_ids(Some(ids.clone()))
                .send()
                .await
                .map_err(err("EC2", "TerminateInstances", &d.cluster))?;
            for _ in 0..120 {
                if self
                    .instances(
                        &d.cluster,
                        &["pending", "running", "stopping", "stopped", "shutting-down"],
                    )
                    .await?
                    .is_empty()
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
        for (id, tags, _, _) in &instances {
            out.push(Removal {
                kind: "instance",
                name: format!("{id} {}", tag_value(tags, "Name").unwrap_or_default()),
                outcome: verb("deleted"),
            });
        }
        // Data volumes kept by DeleteOnTermination=false.
        let vols = self
            .ec2
            .describe_volumes()
            .filters(tag_filter(TAG_CLUSTER, &d.cluster))
            .filters(
                ec2t::Filter::builder()
                    .name("status")
                    .values("available")
                    .build(),
            )
            .send()
            .await
            .map_err(err("EC2", "DescribeVolumes", &d.cluster))?;
        for v in vols.volumes() {
            let id = v.volume_id().unwrap_or_default().to_string();
            if delete_data {
                if execute {
                    self.mutate("EC2", "DeleteVolume", &id)?;
                    self.ec2
                        .delete_volume()
                        .volume_id(&id)
                        .send()
                        .await
                        .map_err(err("EC2", "DeleteVolume", &id))?;
                }
                out.push(Removal {
                    kind: "volume",
                    name: id,
                    outcome: verb("deleted"),
                });
            } else {
                out.push(Removal {
                    kind: "volume",
                    name: id,
                    outcome: "kept (holds data; add --delete-data)".into(),
                });
            }
        }
        let actual = self.read(d).await?;
        for (name, lt) in &actual.launch_templates {
            if execute {
                self.mutate("EC2", "DeleteLaunchTemplate", name)?;
                self.ec2
                    .delete_launch_template()
                    .launch_template_id(&lt.id)
                    .send()
                    .await
                    .map_err(err("EC2", "DeleteLaunchTemplate", name))?;
            }
            out.push(Removal {
                kind: "launch-template",
                name: name.clone(),
                outcome: verb("deleted"),
            });
        }
        if let Some((id, _)) = &actual.security_group {
            if execute {
                self.mutate("EC2", "DeleteSecurityGroup", id)?;
                self.ec2
                    .delete_security_group()
                    .group_id(id)
                    .send()
                    .await
                    .map_err(err("EC2", "DeleteSecurityGroup", id))?;
            }
            out.push(Removal {
                kind: "security-group",
                name: d.network.security_group.name.clone(),
                outcome: verb("deleted"),
            });
        }
        if d.network.existing_vpc.is_none() {
            for (az, (id, _)) in &actual.subnets {
                if execute {
                    self.mutate("EC2", "DeleteSubnet", id)?;
                    self.ec2
                        .delete_subnet()
                        .subnet_id(id)
                        .send()
                        .await
                        .map_err(err("EC2", "DeleteSubnet", id))?;
                }
                out.push(Removal {
                    kind: "subnet",
                    name: format!("{az} {id}"),
                    outcome: verb("deleted"),
                });
            }
            if let Some(vpc) = &actual.vpc_id {
                if execute {
                    self.mutate("EC2", "DeleteVpc", vpc)?;
                    self.ec2.delete_vpc().vpc_id(vpc).send().await.map_err(err(
                        "EC2",
                        "DeleteVpc",
                        vpc,
                    ))?;
                }
                out.push(Removal {
                    kind: "vpc",
                    name: vpc.clone(),
                    outcome: verb("deleted"),
                });
            }
        }
        if let Some(i) = &d.iam {
            if let Some(roles) = &actual.instance_profile_roles {
                if execute {
                    for r in roles {
                        self.mutate(
                            "IAM",
                            "RemoveRoleFromInstanceProfile",
                            &i.instance_profile_name,
                        )?;
                        self.iam
                            .remove_role_from_instance_profile()
                            .instance_profile_name(&i.instance_profile_name)
                            .role_name(r)
                            .send()
                            .await
                            .map_err(err(
                                "IAM",
                                "RemoveRoleFromInstanceProfile",
                                &i.instance_profile_name,
                            ))?;
                    }
                    self.mutate("IAM", "DeleteInstanceProfile", &i.instance_profile_name)?;
                    self.iam
                        .delete_instance_profile()
                        .instance_profile_name(&i.instance_profile_name)
                        .send()
                        .await
                        .map_err(err(
                            "IAM",
                            "DeleteInstanceProfile",
                            &i.instance_profile_name,
                        ))?;
                }
                out.push(Removal {
                    kind: "iam-instance-profile",
                    name: i.instance_profile_name.clone(),
                    outcome: verb("deleted"),
                });
            }
            if actual.role_trust_policy.is_some() {
                if execute {
                    if actual.role_policy.is_some() {
                        self.mutate("IAM", "DeleteRolePolicy", &i.role_name)?;
                        self.iam
                            .delete_role_policy()
                            .role_name(&i.role_name)
                            .policy_name(&i.policy_name)
                            .send()
                            .await
                            .map_err(err("IAM", "DeleteRolePolicy", &i.role_name))?;
                    }
                    self.mutate("IAM", "DeleteRole", &i.role_name)?;
                    self.iam
                        .delete_role()
                        .role_name(&i.role_name)
                        .send()
                        .await
                        .map_err(err("IAM", "DeleteRole", &i.role_name))?;
                }
                out.push(Removal {
                    kind: "iam-role",
                    name: i.role_name.clone(),
                    outcome: verb("deleted"),
                });
            }
        }
        if let (Some(b), Some(_)) = (&d.bucket, &actual.bucket) {
            let (mut batch, truncated) = self.object_versions(&b.name).await?;
            if (!batch.is_empty() || truncated) && !delete_data {
                out.push(Removal {
                    kind: "s3-bucket",
                    name: b.name.clone(),
                    outcome: "kept (not empty; add --delete-data to delete its objects)".into(),
                });
            } else {
                if execute {
                    // Delete every object version and delete marker, a page at a time.
                    while !batch.is_empty() {
                        self.mutate("S3", "DeleteObjects", &b.name)?;
                        let delete = s3t::Delete::builder()
                            .set_objects(Some(std::mem::take(&mut batch)))
                            .quiet(true)
                            .build()
                            .expect("objects set");
                        self.s3
                            .delete_objects()
                            .bucket(&b.name)
                            .delete(delete)
                            .send()
                            .await
                            .map_err(err("S3", "DeleteObjects", &b.name))?;
                        batch = self.object_versions(&b.name).await?.0;
                    }
                    self.mutate("S3", "DeleteBucket", &b.name)?;
                    self.s3
                        .delete_bucket()
                        .bucket(&b.name)
                        .send()
                        .await
                        .map_err(err("S3", "DeleteBucket", &b.name))?;
                }
                out.push(Removal {
                    kind: "s3-bucket",
                    name: b.name.clone(),
                    outcome: verb("deleted"),
                });
            }
        }
        Ok(out)
    }

    fn mutating_calls(&self) -> u64 {
        self.mutations.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_documents_are_url_decoded() {
        assert_eq!(
            url_decode("%7B%22a%22%3A%20%22b%2Fc%22%7D"),
            r#"{"a": "b/c"}"#
        );
        assert_eq!(url_decode("plain"), "plain");
        assert_eq!(url_decode("50%"), "50%");
    }

    #[test]
    fn rules_round_trip_through_permissions() {
        let r = Rule {
            from_port: 2379,
            to_port: 2380,
            source: "self".into(),
            description: "etcd".into(),
        };
        assert_eq!(rule_from(&permission(&r, "sg-1"), "sg-1"), vec![r.clone()]);
        let c = Rule {
            from_port: 9092,
            to_port: 9092,
            source: "10.0.0.0/8".into(),
            description: "clients".into(),
        };
        assert_eq!(rule_from(&permission(&c, "sg-1"), "sg-1"), vec![c]);
    }
}
