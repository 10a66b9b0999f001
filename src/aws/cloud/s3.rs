//! S3: the cluster's bucket and its settings (public access block, encryption, ownership,
//! lifecycle, tags, policy). Bucket names are global keys, so a create AWS already made answers
//! "already owned by you" and converges; the SDK's retries cover every call here.

use aws_sdk_s3::types as s3t;

use super::{code, err, verb, Aws};
use crate::provision::cloud::CloudError;
use crate::provision::cloud::Removal;
use crate::provision::desired::{Bucket, BucketEncryption, Desired};
use crate::provision::diff::{ActualBucket, Change};

impl Aws {
    pub(super) async fn read_bucket(&self, name: &str) -> Result<Option<ActualBucket>, CloudError> {
        match self.s3.head_bucket().bucket(name).send().await {
            Ok(_) => {}
            Err(e) => {
                let svc = e.into_service_error();
                if svc.is_not_found() {
                    return Ok(None);
                }
                return Err(CloudError::call("S3", "HeadBucket", name, svc));
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
                return Err(CloudError::call(
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
            Err(e) => return Err(CloudError::call("S3", "GetPublicAccessBlock", name, e)),
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
            Err(e) => return Err(CloudError::call("S3", "GetBucketEncryption", name, e)),
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
            Err(e) => {
                return Err(CloudError::call(
                    "S3",
                    "GetBucketOwnershipControls",
                    name,
                    e,
                ))
            }
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
            Err(e) => return Err(CloudError::call("S3", "GetBucketTagging", name, e)),
        }
        match self.s3.get_bucket_policy().bucket(name).send().await {
            Ok(r) => b.policy = r.policy().map(str::to_string),
            Err(e) if code(&e) == Some("NoSuchBucketPolicy") => {}
            Err(e) => return Err(CloudError::call("S3", "GetBucketPolicy", name, e)),
        }
        Ok(Some(b))
    }

    pub(super) async fn apply_bucket(&self, d: &Desired, c: &Change) -> Result<(), CloudError> {
        let b = d
            .bucket
            .as_ref()
            .expect("bucket changes come from a bucket");
        let n = b.name.as_str();
        match c.kind {
            "s3-bucket" => self.create_bucket(b).await,
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
                let conf = encryption(&b.encryption);
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
                let conf = lifecycle(b);
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

    /// CreateBucket (owner-enforced), converging on a bucket this account already owns.
    async fn create_bucket(&self, b: &Bucket) -> Result<(), CloudError> {
        let n = b.name.as_str();
        self.mutate("S3", "CreateBucket", n)?;
        let mut req = self
            .s3
            .create_bucket()
            .bucket(n)
            .object_ownership(s3t::ObjectOwnership::BucketOwnerEnforced);
        if b.region != "us-east-1" {
            req = req.create_bucket_configuration(
                s3t::CreateBucketConfiguration::builder()
                    .location_constraint(s3t::BucketLocationConstraint::from(b.region.as_str()))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            // Ours already (a re-run after a crash between create and read): converge.
            Err(e) if code(&e) == Some("BucketAlreadyOwnedByYou") => Ok(()),
            // A retry after a lost response may hear "already exists": the bucket is
            // ours when this account can read it (another account's answers 403).
            Err(e) if code(&e) == Some("BucketAlreadyExists") => {
                match self.s3.head_bucket().bucket(n).send().await {
                    Ok(_) => Ok(()),
                    Err(_) => Err(CloudError::call("S3", "CreateBucket", n, e)),
                }
            }
            Err(e) => Err(CloudError::call("S3", "CreateBucket", n, e)),
        }
    }

    /// One page (up to 1,000) of a bucket's object versions and delete markers, and whether
    /// there are more.
    async fn object_versions(
        &self,
        bucket: &str,
    ) -> Result<(Vec<s3t::ObjectIdentifier>, bool), CloudError> {
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

    pub(super) async fn destroy_bucket(
        &self,
        bucket: &str,
        delete_data: bool,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
        let b = bucket;
        let (mut batch, truncated) = self.object_versions(b).await?;
        if (!batch.is_empty() || truncated) && !delete_data {
            out.push(Removal {
                kind: "s3-bucket",
                name: b.to_string(),
                outcome: "kept (not empty; add --delete-data to delete its objects)".into(),
            });
        } else {
            if execute {
                // Delete every object version and delete marker, a page at a time.
                while !batch.is_empty() {
                    self.mutate("S3", "DeleteObjects", b)?;
                    let delete = s3t::Delete::builder()
                        .set_objects(Some(std::mem::take(&mut batch)))
                        .quiet(true)
                        .build()
                        .expect("objects set");
                    self.s3
                        .delete_objects()
                        .bucket(b)
                        .delete(delete)
                        .send()
                        .await
                        .map_err(err("S3", "DeleteObjects", b))?;
                    batch = self.object_versions(b).await?.0;
                }
                self.mutate("S3", "DeleteBucket", b)?;
                match self.s3.delete_bucket().bucket(b).send().await {
                    Ok(_) => {}
                    // A retry after a lost response finds it gone.
                    Err(e) if code(&e) == Some("NoSuchBucket") => {}
                    Err(e) => return Err(CloudError::call("S3", "DeleteBucket", b, e)),
                }
            }
            out.push(Removal {
                kind: "s3-bucket",
                name: b.to_string(),
                outcome: verb(execute, "deleted"),
            });
        }
        Ok(())
    }
}

/// Default encryption: SSE-S3, or SSE-KMS with a bucket key.
fn encryption(encryption: &BucketEncryption) -> s3t::ServerSideEncryptionConfiguration {
    let default = match encryption {
        BucketEncryption::SseS3 => s3t::ServerSideEncryptionByDefault::builder()
            .sse_algorithm(s3t::ServerSideEncryption::Aes256)
            .build(),
        BucketEncryption::SseKms { key_id } => s3t::ServerSideEncryptionByDefault::builder()
            .sse_algorithm(s3t::ServerSideEncryption::AwsKms)
            .kms_master_key_id(key_id)
            .build(),
    }
    .expect("algorithm is set");
    let rule = s3t::ServerSideEncryptionRule::builder()
        .apply_server_side_encryption_by_default(default)
        .bucket_key_enabled(matches!(encryption, BucketEncryption::SseKms { .. }))
        .build();
    s3t::ServerSideEncryptionConfiguration::builder()
        .rules(rule)
        .build()
        .expect("rules are set")
}

/// One rule on every object: abort incomplete multipart uploads, and expire when the spec asks.
fn lifecycle(b: &Bucket) -> s3t::BucketLifecycleConfiguration {
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
    s3t::BucketLifecycleConfiguration::builder()
        .rules(rule.build().expect("status set"))
        .build()
        .expect("rules set")
}
