//! EC2 instances: availability zones and images, launch templates, the nodes themselves, and
//! duplicates. RunInstances and CreateLaunchTemplate carry deterministic client tokens (a repeat
//! AWS already acted on returns the first result) and go through [`RetryPolicy::create`]: after a
//! lost response the node is looked up by its tags before it is launched again (the local
//! emulator ignores client tokens, so the lookup is what keeps it to one node there).
//!
//! [`RetryPolicy::create`]: crate::aws::retry::RetryPolicy::create

use aws_sdk_ec2::types as ec2t;
use base64::Engine;

use super::{err, filter, gone_ok, missing, tag_filter, tag_value, verb, Aws};
use crate::aws::retry::client_token;
use crate::provision::cloud::CloudError;
use crate::provision::cloud::Removal;
use crate::provision::desired::{Desired, DATA_DEVICE, ROOT_DEVICE};
use crate::provision::diff::{keep_of, Actual, ActualInstance, ActualLaunchTemplate, Change};
use crate::provision::{TAG_CLUSTER, TAG_GROUP, TAG_INDEX, TAG_MANAGED};
use crate::sizing::gp3::Gp3;

/// Instance states that count as a node.
const LIVE: &[&str] = &["pending", "running", "stopping", "stopped"];
/// Tag the node's user-data sets on itself (`ok`, or `failed: why`).
pub const TAG_BOOT: &str = "streamctl:boot";

/// One instance as DescribeInstances shows it.
struct Found {
    id: String,
    tags: Vec<ec2t::Tag>,
    az: String,
    state: String,
    launch_time: String,
    data_volume: Option<String>,
}

/// RunInstances' answer while a new instance profile propagates.
fn profile_not_ready(e: &CloudError) -> bool {
    matches!(e, CloudError::Call { code: Some(c), message, .. } if c == "InvalidParameterValue" && message.contains("iamInstanceProfile"))
}

impl Aws {
    pub(super) async fn pick_azs_offering(
        &self,
        instance_types: &[String],
    ) -> Result<Vec<String>, CloudError> {
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
            return Err(CloudError::Call {
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

    pub(super) async fn newest_al2023(&self) -> Result<String, CloudError> {
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
        images.last().map(|(_, id)| id.to_string()).ok_or_else(|| CloudError::Call {
            service: "EC2",
            operation: "DescribeImages",
            resource: "al2023-ami-2023.*-x86_64".into(),
            code: Some("NoImage".into()),
            message: "no Amazon Linux 2023 image found in this region; set node_groups[].image_id or --image-id".into(),
        })
    }

    pub(super) async fn instance_types_exist(
        &self,
        instance_types: &[String],
    ) -> Result<(), CloudError> {
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
                return Err(CloudError::Call {
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

    fn launch_template_data(
        &self,
        lt: &crate::provision::desired::LaunchTemplate,
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

    pub(super) async fn apply_launch_template(
        &self,
        d: &Desired,
        a: &Actual,
        c: &Change,
    ) -> Result<(), CloudError> {
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
            None => self.newest_al2023().await?,
        };
        let data = self.launch_template_data(lt, &image, &sg);
        // The same request data gives the same token: a repeat is a no-op in AWS.
        let generation = format!("{image}/{sg}/{:?}", lt);
        match a.launch_templates.get(&lt.name) {
            None => {
                let token = client_token(
                    &d.cluster,
                    &format!("launch-template {}", lt.name),
                    &generation,
                );
                self.policy
                    .create(
                        &self.log,
                        || {
                            let data = data.clone();
                            let token = token.clone();
                            async move {
                                create_once!(
                                    self,
                                    "CreateLaunchTemplate",
                                    &lt.name,
                                    &["InvalidLaunchTemplateName.AlreadyExistsException"],
                                    self.ec2
                                        .create_launch_template()
                                        .launch_template_name(&lt.name)
                                        .launch_template_data(data)
                                        .client_token(token)
                                        .tag_specifications(self.ec2_tags(
                                            ec2t::ResourceType::LaunchTemplate,
                                            &lt.tags
                                        ),)
                                )
                                .map(|_| ())
                            }
                        },
                        || async {
                            Ok(self
                                .launch_template_id(&d.cluster, &lt.name)
                                .await?
                                .map(|_| ()))
                        },
                    )
                    .await?;
            }
            Some(x) => {
                self.mutate("EC2", "CreateLaunchTemplateVersion", &lt.name)?;
                let v = self
                    .ec2
                    .create_launch_template_version()
                    .launch_template_id(&x.id)
                    .launch_template_data(data)
                    .client_token(client_token(
                        &d.cluster,
                        &format!("launch-template-version {} {}", lt.name, x.version),
                        &generation,
                    ))
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

    /// A launch template of the cluster, by name.
    async fn launch_template_id(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<String>, CloudError> {
        let r = self
            .ec2
            .describe_launch_templates()
            .filters(tag_filter(TAG_CLUSTER, cluster))
            .filters(filter("launch-template-name", name))
            .send()
            .await
            .map_err(err("EC2", "DescribeLaunchTemplates", name))?;
        Ok(r.launch_templates()
            .first()
            .and_then(|t| t.launch_template_id())
            .map(str::to_string))
    }

    pub(super) async fn apply_instance(
        &self,
        d: &Desired,
        a: &Actual,
        c: &Change,
    ) -> Result<(), CloudError> {
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
        // The generation: the template version and how many earlier instances of this node
        // AWS still lists as terminated, so a deliberate replacement gets a new token.
        let gone = self
            .find_instances(
                &d.cluster,
                &["shutting-down", "terminated"],
                Some((&i.group, i.index)),
            )
            .await?
            .len();
        let token = client_token(
            &d.cluster,
            &format!("instance {}", i.name),
            &format!("{}/{}/{gone}", lt.id, lt.version),
        );
        let user_data = base64::engine::general_purpose::STANDARD.encode(&i.user_data);
        // A new instance profile takes a few seconds to propagate in real AWS; until then
        // RunInstances rejects it. Retry that one error, bounded (about a minute).
        let mut delay = std::time::Duration::from_secs(2);
        for attempt in 0.. {
            let r = self
                .policy
                .create(
                    &self.log,
                    || {
                        let (token, user_data, subnet) =
                            (token.clone(), user_data.clone(), subnet.clone());
                        async move {
                            create_once!(
                                self,
                                "RunInstances",
                                &i.name,
                                &[],
                                self.ec2
                                    .run_instances()
                                    .launch_template(
                                        ec2t::LaunchTemplateSpecification::builder()
                                            .launch_template_id(&lt.id)
                                            .version("$Default")
                                            .build(),
                                    )
                                    .subnet_id(subnet)
                                    .min_count(1)
                                    .max_count(1)
                                    .client_token(token)
                                    .user_data(user_data)
                                    .tag_specifications(
                                        self.ec2_tags(ec2t::ResourceType::Instance, &i.tags),
                                    )
                            )
                            .map(|_| ())
                        }
                    },
                    || async {
                        Ok((!self
                            .find_instances(&d.cluster, LIVE, Some((&i.group, i.index)))
                            .await?
                            .is_empty())
                        .then_some(()))
                    },
                )
                .await;
            match r {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 6 && profile_not_ready(&e) => {
                    tracing::info!(instance = %i.name, "instance profile not visible to EC2 yet; retrying in {delay:?}");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    /// The cluster's instances in `states` (optionally one node: group and index).
    async fn find_instances(
        &self,
        cluster: &str,
        states: &[&str],
        node: Option<(&str, u32)>,
    ) -> Result<Vec<Found>, CloudError> {
        let mut out = Vec::new();
        let mut req = self
            .ec2
            .describe_instances()
            .filters(tag_filter(TAG_CLUSTER, cluster))
            .filters(
                ec2t::Filter::builder()
                    .name("instance-state-name")
                    .set_values(Some(states.iter().map(|s| s.to_string()).collect()))
                    .build(),
            );
        if let Some((g, i)) = node {
            req = req
                .filters(tag_filter(TAG_GROUP, g))
                .filters(tag_filter(TAG_INDEX, &i.to_string()));
        }
        let mut pages = req.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(err("EC2", "DescribeInstances", cluster))?;
            for r in page.reservations() {
                for inst in r.instances() {
                    out.push(Found {
                        id: inst.instance_id().unwrap_or_default().to_string(),
                        tags: inst.tags().to_vec(),
                        az: inst
                            .placement()
                            .and_then(|p| p.availability_zone())
                            .unwrap_or_default()
                            .to_string(),
                        state: inst
                            .state()
                            .and_then(|s| s.name())
                            .map(|n| n.as_str().to_string())
                            .unwrap_or_default(),
                        launch_time: inst
                            .launch_time()
                            .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
                            .unwrap_or_default(),
                        data_volume: inst
                            .block_device_mappings()
                            .iter()
                            .find(|m| m.device_name() == Some(DATA_DEVICE))
                            .and_then(|m| m.ebs())
                            .and_then(|e| e.volume_id())
                            .map(str::to_string),
                    });
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn read_launch_templates(
        &self,
        d: &Desired,
        a: &mut Actual,
    ) -> Result<(), CloudError> {
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
        Ok(())
    }

    pub(super) async fn read_instances(
        &self,
        d: &Desired,
        a: &mut Actual,
    ) -> Result<(), CloudError> {
        for f in self.find_instances(&d.cluster, LIVE, None).await? {
            let (Some(group), Some(index)) = (
                tag_value(&f.tags, TAG_GROUP),
                tag_value(&f.tags, TAG_INDEX).and_then(|i| i.parse().ok()),
            ) else {
                continue;
            };
            a.instances.push(ActualInstance {
                id: f.id.clone(),
                group: group.to_string(),
                index,
                az: f.az.clone(),
                state: f.state.clone(),
                launch_time: f.launch_time.clone(),
                boot: tag_value(&f.tags, TAG_BOOT).map(str::to_string),
            });
        }
        a.instances
            .sort_by(|x, y| (&x.group, x.index, &x.id).cmp(&(&y.group, y.index, &y.id)));
        Ok(())
    }

    pub(super) async fn destroy_instances(
        &self,
        d: &Desired,
        delete_data: bool,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
        // Instances first (everything else depends on them).
        let instances = self.find_instances(&d.cluster, LIVE, None).await?;
        if execute && !instances.is_empty() {
            let ids: Vec<String> = instances.iter().map(|i| i.id.clone()).collect();
            self.mutate("EC2", "TerminateInstances", &d.cluster)?;
            self.ec2
                .terminate_instances()
                .set_instance_ids(Some(ids.clone()))
                .send()
                .await
                .map_err(err("EC2", "TerminateInstances", &d.cluster))?;
            for _ in 0..120 {
                if self
                    .find_instances(
                        &d.cluster,
                        &["pending", "running", "stopping", "stopped", "shutting-down"],
                        None,
                    )
                    .await?
                    .is_empty()
                {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
        for f in &instances {
            out.push(Removal {
                kind: "instance",
                name: format!(
                    "{} {}",
                    f.id,
                    tag_value(&f.tags, "Name").unwrap_or_default()
                ),
                outcome: verb(execute, "deleted"),
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
                    gone_ok(
                        self.ec2.delete_volume().volume_id(&id).send().await,
                        "EC2",
                        "DeleteVolume",
                        &id,
                    )?;
                }
                out.push(Removal {
                    kind: "volume",
                    name: id,
                    outcome: verb(execute, "deleted"),
                });
            } else {
                out.push(Removal {
                    kind: "volume",
                    name: id,
                    outcome: "kept (holds data; add --delete-data)".into(),
                });
            }
        }
        Ok(())
    }

    pub(super) async fn destroy_launch_templates(
        &self,
        actual: &Actual,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
        for (name, lt) in &actual.launch_templates {
            if execute {
                self.mutate("EC2", "DeleteLaunchTemplate", name)?;
                gone_ok(
                    self.ec2
                        .delete_launch_template()
                        .launch_template_id(&lt.id)
                        .send()
                        .await,
                    "EC2",
                    "DeleteLaunchTemplate",
                    name,
                )?;
            }
            out.push(Removal {
                kind: "launch-template",
                name: name.clone(),
                outcome: verb(execute, "deleted"),
            });
        }
        Ok(())
    }

    /// `provision --prune-duplicates`: of instances sharing one node id, keep the oldest and
    /// terminate the others, only when streamctl launched them (`streamctl:managed-by`) and their
    /// data volume came with them (created at launch, so it holds no earlier broker's data).
    /// Their data volumes are kept either way (`DeleteOnTermination=false`).
    pub(super) async fn prune_duplicate_instances(
        &self,
        d: &Desired,
        actual: &Actual,
        execute: bool,
    ) -> Result<Vec<Removal>, CloudError> {
        let mut out = Vec::new();
        let mut doomed = Vec::new();
        for i in &d.instances {
            let same: Vec<&ActualInstance> = actual
                .instances
                .iter()
                .filter(|x| x.group == i.group && x.index == i.index)
                .collect();
            if same.len() < 2 {
                continue;
            }
            let keep = keep_of(&same);
            let found = self
                .find_instances(&d.cluster, LIVE, Some((&i.group, i.index)))
                .await?;
            for f in found.iter().filter(|f| f.id != keep.id) {
                let name = format!(
                    "{} {} (node id {}, duplicate of {})",
                    f.id, i.name, i.node_id, keep.id
                );
                if tag_value(&f.tags, TAG_MANAGED) != Some("streamctl") {
                    out.push(Removal {
                        kind: "instance",
                        name,
                        outcome: "kept (not launched by streamctl)".into(),
                    });
                    continue;
                }
                if let Some(v) = &f.data_volume {
                    if !self.volume_created_with(v, &f.launch_time).await? {
                        out.push(Removal {
                            kind: "instance",
                            name,
                            outcome: format!("kept (its data volume {v} is older than the instance: it may hold a broker's data)"),
                        });
                        continue;
                    }
                }
                let kept = f
                    .data_volume
                    .as_deref()
                    .map(|v| format!("; data volume {v} kept"))
                    .unwrap_or_default();
                out.push(Removal {
                    kind: "instance",
                    name,
                    outcome: format!(
                        "{}{kept}",
                        if execute {
                            "terminated"
                        } else {
                            "would terminate"
                        }
                    ),
                });
                doomed.push(f.id.clone());
            }
        }
        if execute && !doomed.is_empty() {
            self.mutate("EC2", "TerminateInstances", &d.cluster)?;
            self.ec2
                .terminate_instances()
                .set_instance_ids(Some(doomed))
                .send()
                .await
                .map_err(err("EC2", "TerminateInstances", &d.cluster))?;
        }
        Ok(out)
    }

    /// Whether a volume was created within ten minutes of `launch_time` (from the launch
    /// template, not re-attached).
    async fn volume_created_with(
        &self,
        volume: &str,
        launch_time: &str,
    ) -> Result<bool, CloudError> {
        use aws_smithy_types::date_time::{DateTime, Format};
        let r = self
            .ec2
            .describe_volumes()
            .volume_ids(volume)
            .send()
            .await
            .map_err(err("EC2", "DescribeVolumes", volume))?;
        let created = r
            .volumes()
            .first()
            .and_then(|v| v.create_time())
            .map(|t| t.secs());
        let launched = DateTime::from_str(launch_time, Format::DateTime)
            .ok()
            .map(|t| t.secs());
        Ok(matches!((created, launched), (Some(c), Some(l)) if c >= l - 600))
    }
}
