//! The network: VPC, private (node) and public (NAT) subnets per AZ, internet gateway, NAT
//! gateways with their addresses, route tables, the S3 gateway endpoint, and the security group.
//!
//! EC2 does not deduplicate most of these creates (CreateVpc, CreateSubnet, CreateRouteTable,
//! CreateInternetGateway, AllocateAddress, CreateSecurityGroup), so every create goes through
//! [`RetryPolicy::create`]: after a lost response the resource is looked up by its `Name` tag
//! before it is created again. CreateNatGateway and CreateVpcEndpoint also carry deterministic
//! client tokens.
//!
//! [`RetryPolicy::create`]: crate::aws::retry::RetryPolicy::create

use std::collections::BTreeMap;

use aws_sdk_ec2::types as ec2t;

use super::{code, ec2_once, err, filter, gone_ok, missing, tag_filter, tag_value, verb, Aws};
use crate::aws::retry::{client_token, Attempt, Outcome};
use crate::provision::cloud::CloudError;
use crate::provision::cloud::Removal;
use crate::provision::desired::{Desired, Rule};
use crate::provision::diff::{Actual, ActualRouteTable, Change};
use crate::provision::{TAG_AZ, TAG_CLUSTER};

/// Tag saying whether a subnet is `private` (nodes) or `public` (NAT gateways).
pub const TAG_TIER: &str = "streamctl:tier";

/// A mutate-count failure as a create attempt.
fn fatal(e: CloudError) -> Attempt {
    Attempt {
        outcome: Outcome::Final,
        error: e,
    }
}

fn id_of<T>(items: &[T], id: impl Fn(&T) -> Option<&str>) -> Option<String> {
    items.iter().find_map(|x| id(x).map(str::to_string))
}

/// An EC2 error with its code kept beside it (for the codes a retry may meet).
fn coded<'a, E>(
    op: &'static str,
    id: &'a str,
) -> impl FnOnce(E) -> (Option<String>, CloudError) + 'a
where
    E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    move |e| {
        (
            code(&e).map(str::to_string),
            CloudError::call("EC2", op, id, e),
        )
    }
}

/// The S3 service name of a region's endpoints.
fn s3_service(region: &str) -> String {
    format!("com.amazonaws.{region}.s3")
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
    /// The cluster's VPCs named `name` (created ones): all of them, the one to use first.
    async fn our_vpcs(&self, d: &Desired) -> Result<Vec<String>, CloudError> {
        let n = &d.network;
        let r = self
            .ec2
            .describe_vpcs()
            .filters(tag_filter(TAG_CLUSTER, &d.cluster))
            .filters(tag_filter("Name", &n.vpc_name))
            .send()
            .await
            .map_err(err("EC2", "DescribeVpcs", &n.vpc_name))?;
        let mut vpcs: Vec<String> = r
            .vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect();
        vpcs.sort();
        if vpcs.len() > 1 {
            // Use the one that holds the cluster's subnets (the others were left by lost
            // responses): most subnets first, then the lowest id.
            let s = self
                .ec2
                .describe_subnets()
                .filters(tag_filter(TAG_CLUSTER, &d.cluster))
                .send()
                .await
                .map_err(err("EC2", "DescribeSubnets", &d.cluster))?;
            let count = |v: &String| {
                s.subnets()
                    .iter()
                    .filter(|x| x.vpc_id() == Some(v.as_str()))
                    .count()
            };
            vpcs.sort_by_key(|v| std::cmp::Reverse(count(v)));
        }
        Ok(vpcs)
    }

    pub(super) async fn read_network(&self, d: &Desired, a: &mut Actual) -> Result<(), CloudError> {
        self.read_network_parts(d, a, Need::ALL).await
    }

    /// Read the VPC and the parts of its network `need` names (applying one change needs a
    /// few; a full read is a dozen calls).
    async fn read_network_parts(
        &self,
        d: &Desired,
        a: &mut Actual,
        need: Need,
    ) -> Result<(), CloudError> {
        let n = &d.network;
        match &n.existing_vpc {
            Some(id) => match self.ec2.describe_vpcs().vpc_ids(id).send().await {
                Ok(r) => {
                    a.vpc_id = r
                        .vpcs()
                        .first()
                        .and_then(|v| v.vpc_id())
                        .map(str::to_string)
                }
                Err(e) if code(&e) == Some("InvalidVpcID.NotFound") => {}
                Err(e) => return Err(CloudError::call("EC2", "DescribeVpcs", id, e)),
            },
            None => {
                let vpcs = self.our_vpcs(d).await?;
                if vpcs.len() > 1 {
                    a.duplicates
                        .push(("vpc".into(), n.vpc_name.clone(), vpcs.clone()));
                }
                a.vpc_id = vpcs.into_iter().next();
            }
        }
        let Some(vpc) = a.vpc_id.clone() else {
            return Ok(());
        };
        if need.subnets {
            self.read_subnets(d, &vpc, a).await?;
        }
        if need.tables || need.endpoint || n.existing_vpc.is_some() {
            self.read_routing(d, &vpc, a, need).await?;
        }
        if need.security_group {
            self.read_security_group(d, &vpc, a).await?;
        }
        Ok(())
    }

    async fn read_subnets(&self, d: &Desired, vpc: &str, a: &mut Actual) -> Result<(), CloudError> {
        let n = &d.network;
        let r = self
            .ec2
            .describe_subnets()
            .filters(filter("vpc-id", vpc))
            .send()
            .await
            .map_err(err("EC2", "DescribeSubnets", vpc))?;
        for s in r.subnets() {
            let az = s.availability_zone().unwrap_or_default().to_string();
            let id = s.subnet_id().unwrap_or_default().to_string();
            let cidr = s.cidr_block().unwrap_or_default().to_string();
            if n.existing_vpc.is_some() {
                if n.existing_subnets.get(&az) == Some(&id) && d.azs.contains(&az) {
                    a.subnets.insert(az, (id, cidr));
                }
                continue;
            }
            if tag_value(s.tags(), TAG_CLUSTER) != Some(d.cluster.as_str()) || !d.azs.contains(&az)
            {
                continue;
            }
            if tag_value(s.tags(), TAG_TIER) == Some("public") {
                a.public_subnets.insert(az, (id, cidr));
            } else {
                a.subnets.insert(az, (id, cidr));
            }
        }
        Ok(())
    }

    /// Route tables, the S3 endpoint, the internet gateway and the NAT gateways.
    async fn read_routing(
        &self,
        d: &Desired,
        vpc: &str,
        a: &mut Actual,
        need: Need,
    ) -> Result<(), CloudError> {
        let n = &d.network;
        let vpc = vpc.to_string();
        let tables = if need.tables || n.existing_vpc.is_some() {
            self.route_tables(&vpc).await?
        } else {
            vec![]
        };
        let endpoints = if need.endpoint {
            self.s3_endpoints(&vpc, &d.region).await?
        } else {
            vec![]
        };
        if n.existing_vpc.is_some() {
            if !need.endpoint {
                return Ok(());
            }
            // Which route table each of the spec's subnets uses (its own, else the main one),
            // and whether an S3 gateway endpoint is on it.
            let main = tables.iter().find(|t| t.main).map(|t| t.id.clone());
            let covered: Vec<&String> = endpoints.iter().flat_map(|e| &e.1).collect();
            for (az, (subnet, _)) in &a.subnets {
                let rt = tables
                    .iter()
                    .find(|t| t.subnets.contains(subnet))
                    .map(|t| t.id.clone())
                    .or_else(|| main.clone())
                    .unwrap_or_default();
                if !covered.contains(&&rt) {
                    a.subnets_without_s3_endpoint
                        .push((az.clone(), subnet.clone(), rt));
                }
            }
        } else {
            let mut by_name: BTreeMap<String, Vec<Table>> = BTreeMap::new();
            for t in tables.into_iter().filter(|t| t.ours) {
                by_name.entry(t.name.clone()).or_default().push(t);
            }
            for (name, mut ts) in by_name {
                ts.sort_by(|x, y| y.subnets.len().cmp(&x.subnets.len()).then(x.id.cmp(&y.id)));
                if ts.len() > 1 {
                    a.duplicates.push((
                        "route-table".into(),
                        name.clone(),
                        ts.iter().map(|t| t.id.clone()).collect(),
                    ));
                }
                let t = ts.remove(0);
                a.route_tables.insert(
                    name,
                    ActualRouteTable {
                        id: t.id,
                        default_target: t.default_target,
                        subnets: t.subnets,
                    },
                );
            }
            let ours: Vec<&(String, Vec<String>, bool)> =
                endpoints.iter().filter(|e| e.2).collect();
            if ours.len() > 1 {
                a.duplicates.push((
                    "s3-endpoint".into(),
                    format!("{}-s3", n.vpc_name),
                    ours.iter().map(|e| e.0.clone()).collect(),
                ));
            }
            a.s3_endpoint = ours.first().map(|e| (e.0.clone(), e.1.clone()));
            if !need.tables {
                return Ok(());
            }
            let igws = self.internet_gateways(d).await?;
            if igws.len() > 1 {
                a.duplicates.push((
                    "internet-gateway".into(),
                    n.vpc_name.clone(),
                    igws.iter().map(|g| g.0.clone()).collect(),
                ));
            }
            a.internet_gateway = igws
                .iter()
                .find(|g| g.1.as_deref() == Some(vpc.as_str()))
                .or(igws.first())
                .map(|g| (g.0.clone(), g.1.as_deref() == Some(vpc.as_str())));
            let nats = self.nat_gateways(d, &vpc).await?;
            let mut by_az: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (az, id) in nats {
                by_az.entry(az).or_default().push(id);
            }
            for (az, ids) in by_az {
                if ids.len() > 1 {
                    a.duplicates.push((
                        "nat-gateway".into(),
                        format!("{}-nat-{az}", n.vpc_name),
                        ids.clone(),
                    ));
                }
                a.nat_gateways.insert(az, ids[0].clone());
            }
        }
        Ok(())
    }

    async fn read_security_group(
        &self,
        d: &Desired,
        vpc: &str,
        a: &mut Actual,
    ) -> Result<(), CloudError> {
        let n = &d.network;
        let vpc = vpc.to_string();
        let r = self
            .ec2
            .describe_security_groups()
            .filters(filter("vpc-id", &vpc))
            .filters(filter("group-name", &n.security_group.name))
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
        Ok(())
    }

    /// The VPC's route tables.
    async fn route_tables(&self, vpc: &str) -> Result<Vec<Table>, CloudError> {
        let r = self
            .ec2
            .describe_route_tables()
            .filters(filter("vpc-id", vpc))
            .send()
            .await
            .map_err(err("EC2", "DescribeRouteTables", vpc))?;
        Ok(r.route_tables()
            .iter()
            .map(|t| Table {
                id: t.route_table_id().unwrap_or_default().to_string(),
                name: tag_value(t.tags(), "Name").unwrap_or_default().to_string(),
                ours: tag_value(t.tags(), TAG_CLUSTER).is_some(),
                main: t.associations().iter().any(|x| x.main() == Some(true)),
                default_target: t
                    .routes()
                    .iter()
                    .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
                    .and_then(|r| r.nat_gateway_id().or(r.gateway_id()))
                    .map(str::to_string),
                subnets: t
                    .associations()
                    .iter()
                    .filter_map(|x| x.subnet_id().map(str::to_string))
                    .collect(),
                associations: t
                    .associations()
                    .iter()
                    .filter(|x| x.main() != Some(true))
                    .filter_map(|x| {
                        Some((
                            x.route_table_association_id()?.to_string(),
                            x.subnet_id().map(str::to_string),
                        ))
                    })
                    .collect(),
            })
            .collect())
    }

    /// The VPC's S3 gateway endpoints: (id, route tables, tagged as the cluster's).
    async fn s3_endpoints(
        &self,
        vpc: &str,
        region: &str,
    ) -> Result<Vec<(String, Vec<String>, bool)>, CloudError> {
        let r = self
            .ec2
            .describe_vpc_endpoints()
            .filters(filter("vpc-id", vpc))
            .filters(filter("service-name", &s3_service(region)))
            .send()
            .await
            .map_err(err("EC2", "DescribeVpcEndpoints", vpc))?;
        let mut out: Vec<(String, Vec<String>, bool)> = r
            .vpc_endpoints()
            .iter()
            .filter(|e| e.vpc_endpoint_type() == Some(&ec2t::VpcEndpointType::Gateway))
            .filter(|e| {
                !matches!(
                    e.state(),
                    Some(ec2t::State::Deleted | ec2t::State::Deleting | ec2t::State::Failed)
                )
            })
            .map(|e| {
                (
                    e.vpc_endpoint_id().unwrap_or_default().to_string(),
                    e.route_table_ids().to_vec(),
                    tag_value(e.tags(), TAG_CLUSTER).is_some(),
                )
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The cluster's internet gateways: (id, attached VPC).
    async fn internet_gateways(
        &self,
        d: &Desired,
    ) -> Result<Vec<(String, Option<String>)>, CloudError> {
        let r = self
            .ec2
            .describe_internet_gateways()
            .filters(tag_filter(TAG_CLUSTER, &d.cluster))
            .filters(tag_filter("Name", &d.network.vpc_name))
            .send()
            .await
            .map_err(err("EC2", "DescribeInternetGateways", &d.network.vpc_name))?;
        let mut out: Vec<(String, Option<String>)> = r
            .internet_gateways()
            .iter()
            .map(|g| {
                (
                    g.internet_gateway_id().unwrap_or_default().to_string(),
                    g.attachments()
                        .iter()
                        .find_map(|x| x.vpc_id().map(str::to_string)),
                )
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The cluster's live NAT gateways in the VPC: (AZ, id), oldest id first.
    async fn nat_gateways(
        &self,
        d: &Desired,
        vpc: &str,
    ) -> Result<Vec<(String, String)>, CloudError> {
        let r = self
            .ec2
            .describe_nat_gateways()
            .filter(filter("vpc-id", vpc))
            .filter(tag_filter(TAG_CLUSTER, &d.cluster))
            .filter(
                ec2t::Filter::builder()
                    .name("state")
                    .values("pending")
                    .values("available")
                    .build(),
            )
            .send()
            .await
            .map_err(err("EC2", "DescribeNatGateways", vpc))?;
        let mut out: Vec<(String, String)> = r
            .nat_gateways()
            .iter()
            .filter(|g| {
                matches!(
                    g.state(),
                    Some(ec2t::NatGatewayState::Pending | ec2t::NatGatewayState::Available)
                )
            })
            .filter_map(|g| {
                Some((
                    tag_value(g.tags(), TAG_AZ)?.to_string(),
                    g.nat_gateway_id()?.to_string(),
                ))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// The cluster's Elastic IPs named `name` (allocation ids).
    async fn addresses(
        &self,
        cluster: &str,
        name: Option<&str>,
    ) -> Result<Vec<String>, CloudError> {
        let mut req = self
            .ec2
            .describe_addresses()
            .filters(tag_filter(TAG_CLUSTER, cluster));
        if let Some(n) = name {
            req = req.filters(tag_filter("Name", n));
        }
        let r = req
            .send()
            .await
            .map_err(err("EC2", "DescribeAddresses", cluster))?;
        let mut out: Vec<String> = r
            .addresses()
            .iter()
            .filter_map(|x| x.allocation_id().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Apply one network change against the network as it is now (earlier changes of this
    /// chain created ids it needs).
    pub(super) async fn apply_network(&self, d: &Desired, c: &Change) -> Result<(), CloudError> {
        let n = &d.network;
        let mut a = Actual::default();
        let need = match c.kind {
            "vpc" => Need::NONE,
            "subnet" | "public-subnet" | "internet-gateway" => Need::NONE,
            "nat-gateway" => Need {
                subnets: true,
                ..Need::NONE
            },
            "route-table" => Need {
                subnets: true,
                tables: true,
                ..Need::NONE
            },
            "s3-endpoint" => Need {
                tables: true,
                endpoint: true,
                ..Need::NONE
            },
            _ => Need {
                security_group: true,
                ..Need::NONE
            },
        };
        if c.kind == "vpc" {
            return self.create_vpc(d).await;
        }
        self.read_network_parts(d, &mut a, need).await?;
        if c.kind == "internet-gateway" {
            a.internet_gateway = self
                .internet_gateways(d)
                .await?
                .first()
                .map(|g| (g.0.clone(), g.1.is_some()));
        }
        match c.kind {
            "vpc" => self.create_vpc(d).await,
            "subnet" | "public-subnet" => {
                let vpc = a
                    .vpc_id
                    .as_deref()
                    .ok_or_else(|| missing("subnet", &c.name, "the VPC"))?;
                let public = c.kind == "public-subnet";
                let az = c.name.split_whitespace().next().unwrap_or_default();
                let cidr = if public {
                    &n.public_subnet_cidrs[az]
                } else {
                    &n.subnet_cidrs[az]
                };
                let tier = if public { "public" } else { "private" };
                let mut tags = n.tags.clone();
                tags.insert("Name".into(), format!("{}-{tier}-{az}", n.vpc_name));
                tags.insert(TAG_AZ.into(), az.to_string());
                tags.insert(TAG_TIER.into(), tier.into());
                self.policy
                    .create(
                        &self.log,
                        || async {
                            self.mutate("EC2", "CreateSubnet", &c.name).map_err(fatal)?;
                            self.ec2
                                .create_subnet()
                                .vpc_id(vpc)
                                .cidr_block(cidr)
                                .availability_zone(az)
                                .tag_specifications(
                                    self.ec2_tags(ec2t::ResourceType::Subnet, &tags),
                                )
                                .customize()
                                .config_override(ec2_once())
                                .send()
                                .await
                                .map(|_| ())
                                .map_err(|e| {
                                    Attempt::from_sdk(
                                        "EC2",
                                        "CreateSubnet",
                                        &c.name,
                                        &["InvalidSubnet.Conflict"],
                                        e,
                                    )
                                })
                        },
                        || async {
                            let r = self
                                .ec2
                                .describe_subnets()
                                .filters(filter("vpc-id", vpc))
                                .filters(filter("cidr-block", cidr))
                                .filters(tag_filter(TAG_CLUSTER, &d.cluster))
                                .send()
                                .await
                                .map_err(err("EC2", "DescribeSubnets", &c.name))?;
                            Ok((!r.subnets().is_empty()).then_some(()))
                        },
                    )
                    .await
            }
            "internet-gateway" => {
                let vpc = a
                    .vpc_id
                    .as_deref()
                    .ok_or_else(|| missing("internet gateway", &c.name, "the VPC"))?;
                let (id, attached) = match &a.internet_gateway {
                    Some(g) => g.clone(),
                    None => (self.create_internet_gateway(d).await?, false),
                };
                if !attached {
                    self.mutate("EC2", "AttachInternetGateway", &id)?;
                    match self
                        .ec2
                        .attach_internet_gateway()
                        .internet_gateway_id(&id)
                        .vpc_id(vpc)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        // A retry after a lost response: attached already.
                        Err(e) if code(&e) == Some("Resource.AlreadyAssociated") => {}
                        Err(e) => {
                            return Err(CloudError::call("EC2", "AttachInternetGateway", &id, e))
                        }
                    }
                }
                Ok(())
            }
            "nat-gateway" => {
                let az = c
                    .name
                    .rsplit_once("-nat-")
                    .map(|x| x.1)
                    .unwrap_or_default()
                    .to_string();
                let subnet = a
                    .public_subnets
                    .get(&az)
                    .map(|s| s.0.clone())
                    .ok_or_else(|| missing("NAT gateway", &c.name, "its public subnet"))?;
                self.create_nat_gateway(d, &c.name, &az, &subnet).await
            }
            "route-table" => self.converge_route_table(d, &a, &c.name).await,
            "s3-endpoint" => {
                let vpc = a
                    .vpc_id
                    .as_deref()
                    .ok_or_else(|| missing("S3 endpoint", &c.name, "the VPC"))?;
                let want: Vec<String> = d
                    .azs
                    .iter()
                    .filter_map(|az| a.route_tables.get(&n.private_route_table(az)))
                    .map(|t| t.id.clone())
                    .collect();
                if want.len() != d.azs.len() {
                    return Err(missing("S3 endpoint", &c.name, "the private route tables"));
                }
                match &a.s3_endpoint {
                    None => self.create_s3_endpoint(d, vpc, &c.name, &want).await,
                    Some((id, have)) => {
                        let add: Vec<String> =
                            want.iter().filter(|w| !have.contains(w)).cloned().collect();
                        if add.is_empty() {
                            return Ok(());
                        }
                        self.mutate("EC2", "ModifyVpcEndpoint", id)?;
                        self.ec2
                            .modify_vpc_endpoint()
                            .vpc_endpoint_id(id)
                            .set_add_route_table_ids(Some(add))
                            .send()
                            .await
                            .map_err(err("EC2", "ModifyVpcEndpoint", id))?;
                        Ok(())
                    }
                }
            }
            "security-group" => self.converge_security_group(d, &a).await,
            other => unreachable!("not a network change: {other}"),
        }
    }

    async fn create_vpc(&self, d: &Desired) -> Result<(), CloudError> {
        let n = &d.network;
        let id = self
            .policy
            .create(
                &self.log,
                || async {
                    self.mutate("EC2", "CreateVpc", &n.vpc_name)
                        .map_err(fatal)?;
                    self.ec2
                        .create_vpc()
                        .cidr_block(&n.vpc_cidr)
                        .tag_specifications(self.ec2_tags(ec2t::ResourceType::Vpc, &n.tags))
                        .customize()
                        .config_override(ec2_once())
                        .send()
                        .await
                        .map(|r| {
                            r.vpc()
                                .and_then(|v| v.vpc_id())
                                .unwrap_or_default()
                                .to_string()
                        })
                        .map_err(|e| Attempt::from_sdk("EC2", "CreateVpc", &n.vpc_name, &[], e))
                },
                || async { Ok(self.our_vpcs(d).await?.into_iter().next()) },
            )
            .await?;
        // Brokers advertise DNS names.
        self.mutate("EC2", "ModifyVpcAttribute", &id)?;
        self.ec2
            .modify_vpc_attribute()
            .vpc_id(&id)
            .enable_dns_hostnames(ec2t::AttributeBooleanValue::builder().value(true).build())
            .send()
            .await
            .map_err(err("EC2", "ModifyVpcAttribute", &id))?;
        Ok(())
    }

    async fn create_internet_gateway(&self, d: &Desired) -> Result<String, CloudError> {
        let n = &d.network;
        self.policy
            .create(
                &self.log,
                || async {
                    self.mutate("EC2", "CreateInternetGateway", &n.vpc_name)
                        .map_err(fatal)?;
                    self.ec2
                        .create_internet_gateway()
                        .tag_specifications(
                            self.ec2_tags(ec2t::ResourceType::InternetGateway, &n.tags),
                        )
                        .customize()
                        .config_override(ec2_once())
                        .send()
                        .await
                        .map(|r| {
                            r.internet_gateway()
                                .and_then(|g| g.internet_gateway_id())
                                .unwrap_or_default()
                                .to_string()
                        })
                        .map_err(|e| {
                            Attempt::from_sdk("EC2", "CreateInternetGateway", &n.vpc_name, &[], e)
                        })
                },
                || async {
                    Ok(self
                        .internet_gateways(d)
                        .await?
                        .into_iter()
                        .next()
                        .map(|g| g.0))
                },
            )
            .await
    }

    async fn create_nat_gateway(
        &self,
        d: &Desired,
        name: &str,
        az: &str,
        subnet: &str,
    ) -> Result<(), CloudError> {
        let n = &d.network;
        let mut tags = n.tags.clone();
        tags.insert("Name".into(), name.to_string());
        tags.insert(TAG_AZ.into(), az.to_string());
        // Its address: reuse one an interrupted run allocated, else allocate.
        let eip = match self
            .addresses(&d.cluster, Some(name))
            .await?
            .into_iter()
            .next()
        {
            Some(e) => e,
            None => {
                self.policy
                    .create(
                        &self.log,
                        || async {
                            self.mutate("EC2", "AllocateAddress", name).map_err(fatal)?;
                            self.ec2
                                .allocate_address()
                                .domain(ec2t::DomainType::Vpc)
                                .tag_specifications(
                                    self.ec2_tags(ec2t::ResourceType::ElasticIp, &tags),
                                )
                                .customize()
                                .config_override(ec2_once())
                                .send()
                                .await
                                .map(|r| r.allocation_id().unwrap_or_default().to_string())
                                .map_err(|e| {
                                    Attempt::from_sdk("EC2", "AllocateAddress", name, &[], e)
                                })
                        },
                        || async {
                            Ok(self
                                .addresses(&d.cluster, Some(name))
                                .await?
                                .into_iter()
                                .next())
                        },
                    )
                    .await?
            }
        };
        let token = client_token(
            &d.cluster,
            &format!("nat-gateway {name}"),
            &format!("{subnet}/{eip}"),
        );
        self.policy
            .create(
                &self.log,
                || {
                    let token = token.clone();
                    async {
                        self.mutate("EC2", "CreateNatGateway", name)
                            .map_err(fatal)?;
                        self.ec2
                            .create_nat_gateway()
                            .subnet_id(subnet)
                            .allocation_id(&eip)
                            .client_token(token)
                            .tag_specifications(
                                self.ec2_tags(ec2t::ResourceType::Natgateway, &tags),
                            )
                            .customize()
                            .config_override(ec2_once())
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| Attempt::from_sdk("EC2", "CreateNatGateway", name, &[], e))
                    }
                },
                || async {
                    let vpc = self
                        .our_vpcs(d)
                        .await?
                        .into_iter()
                        .next()
                        .unwrap_or_default();
                    Ok(self
                        .nat_gateways(d, &vpc)
                        .await?
                        .iter()
                        .any(|(x, _)| x == az)
                        .then_some(()))
                },
            )
            .await
    }

    /// Create the route table if needed, then make its default route and associations right.
    async fn converge_route_table(
        &self,
        d: &Desired,
        a: &Actual,
        name: &str,
    ) -> Result<(), CloudError> {
        let n = &d.network;
        let vpc = a
            .vpc_id
            .as_deref()
            .ok_or_else(|| missing("route table", name, "the VPC"))?;
        let public = name == n.public_route_table();
        let (target, subnets): (Option<(bool, String)>, Vec<String>) = if public {
            let igw = a
                .internet_gateway
                .as_ref()
                .map(|g| g.0.clone())
                .ok_or_else(|| missing("route table", name, "the internet gateway"))?;
            (
                Some((false, igw)),
                a.public_subnets.values().map(|s| s.0.clone()).collect(),
            )
        } else {
            let az = d
                .azs
                .iter()
                .find(|az| n.private_route_table(az) == name)
                .expect("planned from the desired state");
            let target = match n.nat_for(az) {
                Some(nat_az) => Some((
                    true,
                    a.nat_gateways
                        .get(nat_az)
                        .cloned()
                        .ok_or_else(|| missing("route table", name, "its NAT gateway"))?,
                )),
                None => None,
            };
            let subnet = a
                .subnets
                .get(az)
                .map(|s| s.0.clone())
                .ok_or_else(|| missing("route table", name, "its subnet"))?;
            (target, vec![subnet])
        };
        let mut tags = n.tags.clone();
        tags.insert("Name".into(), name.to_string());
        let (id, current, associated) = match a.route_tables.get(name) {
            Some(t) => (t.id.clone(), t.default_target.clone(), t.subnets.clone()),
            None => {
                let id = self
                    .policy
                    .create(
                        &self.log,
                        || async {
                            self.mutate("EC2", "CreateRouteTable", name)
                                .map_err(fatal)?;
                            self.ec2
                                .create_route_table()
                                .vpc_id(vpc)
                                .tag_specifications(
                                    self.ec2_tags(ec2t::ResourceType::RouteTable, &tags),
                                )
                                .customize()
                                .config_override(ec2_once())
                                .send()
                                .await
                                .map(|r| {
                                    r.route_table()
                                        .and_then(|t| t.route_table_id())
                                        .unwrap_or_default()
                                        .to_string()
                                })
                                .map_err(|e| {
                                    Attempt::from_sdk("EC2", "CreateRouteTable", name, &[], e)
                                })
                        },
                        || async {
                            Ok(id_of(&self.route_tables(vpc).await?, |t| {
                                (t.name == name && t.ours).then_some(t.id.as_str())
                            }))
                        },
                    )
                    .await?;
                (id, None, vec![])
            }
        };
        match (&target, &current) {
            (Some((_, t)), Some(c)) if t == c => {}
            (Some((nat, t)), cur) => {
                let op = if cur.is_some() {
                    "ReplaceRoute"
                } else {
                    "CreateRoute"
                };
                self.mutate("EC2", op, &id)?;
                let (nat_id, gateway_id) = if *nat {
                    (Some(t.clone()), None)
                } else {
                    (None, Some(t.clone()))
                };
                let r = if cur.is_some() {
                    self.ec2
                        .replace_route()
                        .route_table_id(&id)
                        .destination_cidr_block("0.0.0.0/0")
                        .set_nat_gateway_id(nat_id)
                        .set_gateway_id(gateway_id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(coded(op, &id))
                } else {
                    self.ec2
                        .create_route()
                        .route_table_id(&id)
                        .destination_cidr_block("0.0.0.0/0")
                        .set_nat_gateway_id(nat_id)
                        .set_gateway_id(gateway_id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(coded(op, &id))
                };
                match r {
                    Ok(()) => {}
                    // A retry after a lost response: the route is there.
                    Err((Some(c), _)) if c == "RouteAlreadyExists" => {}
                    Err((_, e)) => return Err(e),
                }
            }
            (None, Some(_)) => {
                self.mutate("EC2", "DeleteRoute", &id)?;
                gone_ok(
                    self.ec2
                        .delete_route()
                        .route_table_id(&id)
                        .destination_cidr_block("0.0.0.0/0")
                        .send()
                        .await,
                    "EC2",
                    "DeleteRoute",
                    &id,
                )?;
            }
            (None, None) => {}
        }
        for s in subnets.iter().filter(|s| !associated.contains(s)) {
            // A subnet explicitly associated elsewhere is moved; otherwise associated.
            let elsewhere = self
                .route_tables(vpc)
                .await?
                .into_iter()
                .filter(|t| t.id != id && t.subnets.contains(s))
                .flat_map(|t| t.associations_of(s))
                .next();
            match elsewhere {
                Some(assoc) => {
                    self.mutate("EC2", "ReplaceRouteTableAssociation", s)?;
                    self.ec2
                        .replace_route_table_association()
                        .association_id(assoc)
                        .route_table_id(&id)
                        .send()
                        .await
                        .map_err(err("EC2", "ReplaceRouteTableAssociation", s))?;
                }
                None => {
                    self.mutate("EC2", "AssociateRouteTable", s)?;
                    match self
                        .ec2
                        .associate_route_table()
                        .route_table_id(&id)
                        .subnet_id(s)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if code(&e) == Some("Resource.AlreadyAssociated") => {}
                        Err(e) => return Err(CloudError::call("EC2", "AssociateRouteTable", s, e)),
                    }
                }
            }
        }
        Ok(())
    }

    async fn create_s3_endpoint(
        &self,
        d: &Desired,
        vpc: &str,
        name: &str,
        route_tables: &[String],
    ) -> Result<(), CloudError> {
        let mut tags = d.network.tags.clone();
        tags.insert("Name".into(), name.to_string());
        let token = client_token(&d.cluster, &format!("s3-endpoint {name}"), vpc);
        self.policy
            .create(
                &self.log,
                || {
                    let token = token.clone();
                    async {
                        self.mutate("EC2", "CreateVpcEndpoint", name)
                            .map_err(fatal)?;
                        self.ec2
                            .create_vpc_endpoint()
                            .vpc_id(vpc)
                            .service_name(s3_service(&d.region))
                            .vpc_endpoint_type(ec2t::VpcEndpointType::Gateway)
                            .set_route_table_ids(Some(route_tables.to_vec()))
                            .client_token(token)
                            .tag_specifications(
                                self.ec2_tags(ec2t::ResourceType::VpcEndpoint, &tags),
                            )
                            .customize()
                            .config_override(ec2_once())
                            .send()
                            .await
                            .map(|_| ())
                            .map_err(|e| {
                                Attempt::from_sdk(
                                    "EC2",
                                    "CreateVpcEndpoint",
                                    name,
                                    &["RouteAlreadyExists"],
                                    e,
                                )
                            })
                    }
                },
                || async {
                    Ok(self
                        .s3_endpoints(vpc, &d.region)
                        .await?
                        .iter()
                        .any(|e| e.2)
                        .then_some(()))
                },
            )
            .await
    }

    async fn converge_security_group(&self, d: &Desired, a: &Actual) -> Result<(), CloudError> {
        let n = &d.network;
        let sg = &n.security_group;
        let vpc = a
            .vpc_id
            .as_deref()
            .ok_or_else(|| missing("security group", &sg.name, "the VPC"))?;
        let (id, have) = match &a.security_group {
            Some((id, rules)) => (id.clone(), rules.clone()),
            None => {
                let mut tags = n.tags.clone();
                tags.insert("Name".into(), sg.name.clone());
                let lookup = || async {
                    let r = self
                        .ec2
                        .describe_security_groups()
                        .filters(filter("vpc-id", vpc))
                        .filters(filter("group-name", &sg.name))
                        .send()
                        .await
                        .map_err(err("EC2", "DescribeSecurityGroups", &sg.name))?;
                    Ok(r.security_groups()
                        .first()
                        .and_then(|g| g.group_id())
                        .map(str::to_string))
                };
                let id = self
                    .policy
                    .create(
                        &self.log,
                        || async {
                            self.mutate("EC2", "CreateSecurityGroup", &sg.name)
                                .map_err(fatal)?;
                            self.ec2
                                .create_security_group()
                                .group_name(&sg.name)
                                .description(&sg.description)
                                .vpc_id(vpc)
                                .tag_specifications(
                                    self.ec2_tags(ec2t::ResourceType::SecurityGroup, &tags),
                                )
                                .customize()
                                .config_override(ec2_once())
                                .send()
                                .await
                                .map(|r| r.group_id().unwrap_or_default().to_string())
                                .map_err(|e| {
                                    Attempt::from_sdk(
                                        "EC2",
                                        "CreateSecurityGroup",
                                        &sg.name,
                                        &["InvalidGroup.Duplicate"],
                                        e,
                                    )
                                })
                        },
                        lookup,
                    )
                    .await?;
                // A group found after a lost create may already have rules.
                let mut now = Actual::default();
                let need = Need {
                    security_group: true,
                    ..Need::NONE
                };
                self.read_network_parts(d, &mut now, need).await?;
                let have = now.security_group.map(|s| s.1).unwrap_or_default();
                (id, have)
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
                    w.from_port == r.from_port && w.to_port == r.to_port && w.source == r.source
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
            match self
                .ec2
                .authorize_security_group_ingress()
                .group_id(&id)
                .set_ip_permissions(Some(add))
                .send()
                .await
            {
                Ok(_) => {}
                // A retry after a lost response finds the rules there.
                Err(e) if code(&e) == Some("InvalidPermission.Duplicate") => {}
                Err(e) => {
                    return Err(CloudError::call(
                        "EC2",
                        "AuthorizeSecurityGroupIngress",
                        &id,
                        e,
                    ))
                }
            }
        }
        Ok(())
    }

    /// Remove the network in dependency order. An existing VPC keeps everything but the
    /// security group streamctl made in it. Duplicate VPCs left by older versions go too.
    pub(super) async fn destroy_network(
        &self,
        d: &Desired,
        actual: &Actual,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
        if let Some((id, _)) = &actual.security_group {
            if execute {
                self.mutate("EC2", "DeleteSecurityGroup", id)?;
                match self.ec2.delete_security_group().group_id(id).send().await {
                    Ok(_) => {}
                    Err(e) if code(&e) == Some("InvalidGroup.NotFound") => {}
                    Err(e) => return Err(CloudError::call("EC2", "DeleteSecurityGroup", id, e)),
                }
            }
            out.push(Removal {
                kind: "security-group",
                name: d.network.security_group.name.clone(),
                outcome: verb(execute, "deleted"),
            });
        }
        if d.network.existing_vpc.is_some() {
            return Ok(());
        }
        for vpc in self.our_vpcs(d).await? {
            self.destroy_vpc(d, &vpc, execute, out).await?;
        }
        // Addresses of NAT gateways, once the gateways are gone.
        for eip in self.addresses(&d.cluster, None).await? {
            if execute {
                self.mutate("EC2", "ReleaseAddress", &eip)?;
                match self.ec2.release_address().allocation_id(&eip).send().await {
                    Ok(_) => {}
                    Err(e) if code(&e) == Some("InvalidAllocationID.NotFound") => {}
                    Err(e) => return Err(CloudError::call("EC2", "ReleaseAddress", &eip, e)),
                }
            }
            out.push(Removal {
                kind: "elastic-ip",
                name: eip,
                outcome: verb(execute, "deleted"),
            });
        }
        Ok(())
    }

    async fn destroy_vpc(
        &self,
        d: &Desired,
        vpc: &str,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
        let gone = |kind: &'static str, name: String, out: &mut Vec<Removal>| {
            out.push(Removal {
                kind,
                name,
                outcome: verb(execute, "deleted"),
            })
        };
        // Security groups of duplicate VPCs (the primary's went first).
        let sgs = self
            .ec2
            .describe_security_groups()
            .filters(filter("vpc-id", vpc))
            .filters(filter("group-name", &d.network.security_group.name))
            .send()
            .await
            .map_err(err("EC2", "DescribeSecurityGroups", vpc))?;
        for g in sgs.security_groups() {
            let id = g.group_id().unwrap_or_default().to_string();
            if execute {
                self.mutate("EC2", "DeleteSecurityGroup", &id)?;
                gone_ok(
                    self.ec2.delete_security_group().group_id(&id).send().await,
                    "EC2",
                    "DeleteSecurityGroup",
                    &id,
                )?;
            }
            gone("security-group", id, out);
        }
        let endpoints: Vec<String> = self
            .s3_endpoints(vpc, &d.region)
            .await?
            .into_iter()
            .filter(|e| e.2)
            .map(|e| e.0)
            .collect();
        if !endpoints.is_empty() {
            if execute {
                self.mutate("EC2", "DeleteVpcEndpoints", vpc)?;
                self.ec2
                    .delete_vpc_endpoints()
                    .set_vpc_endpoint_ids(Some(endpoints.clone()))
                    .send()
                    .await
                    .map_err(err("EC2", "DeleteVpcEndpoints", vpc))?;
            }
            for e in endpoints {
                gone("s3-endpoint", e, out);
            }
        }
        let nats = self.nat_gateways(d, vpc).await?;
        for (az, id) in &nats {
            if execute {
                self.mutate("EC2", "DeleteNatGateway", id)?;
                gone_ok(
                    self.ec2
                        .delete_nat_gateway()
                        .nat_gateway_id(id)
                        .send()
                        .await,
                    "EC2",
                    "DeleteNatGateway",
                    id,
                )?;
            }
            gone("nat-gateway", format!("{az} {id}"), out);
        }
        if execute && !nats.is_empty() {
            // NAT gateways take a minute to delete; their addresses and subnets wait for it.
            for _ in 0..150 {
                if self.nat_gateways(d, vpc).await?.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        }
        for t in self
            .route_tables(vpc)
            .await?
            .into_iter()
            .filter(|t| t.ours && !t.main)
        {
            if execute {
                for (assoc, _) in &t.associations {
                    self.mutate("EC2", "DisassociateRouteTable", assoc)?;
                    match self
                        .ec2
                        .disassociate_route_table()
                        .association_id(assoc)
                        .send()
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if code(&e) == Some("InvalidAssociationID.NotFound") => {}
                        Err(e) => {
                            return Err(CloudError::call("EC2", "DisassociateRouteTable", assoc, e))
                        }
                    }
                }
                self.mutate("EC2", "DeleteRouteTable", &t.id)?;
                gone_ok(
                    self.ec2
                        .delete_route_table()
                        .route_table_id(&t.id)
                        .send()
                        .await,
                    "EC2",
                    "DeleteRouteTable",
                    &t.id,
                )?;
            }
            gone("route-table", format!("{} {}", t.name, t.id), out);
        }
        for (id, attached) in self.internet_gateways(d).await? {
            if attached.as_deref().is_some_and(|v| v != vpc) {
                continue;
            }
            if execute {
                if attached.is_some() {
                    self.mutate("EC2", "DetachInternetGateway", &id)?;
                    gone_ok(
                        self.ec2
                            .detach_internet_gateway()
                            .internet_gateway_id(&id)
                            .vpc_id(vpc)
                            .send()
                            .await,
                        "EC2",
                        "DetachInternetGateway",
                        &id,
                    )?;
                }
                self.mutate("EC2", "DeleteInternetGateway", &id)?;
                gone_ok(
                    self.ec2
                        .delete_internet_gateway()
                        .internet_gateway_id(&id)
                        .send()
                        .await,
                    "EC2",
                    "DeleteInternetGateway",
                    &id,
                )?;
            }
            gone("internet-gateway", id, out);
        }
        let subnets = self
            .ec2
            .describe_subnets()
            .filters(filter("vpc-id", vpc))
            .filters(tag_filter(TAG_CLUSTER, &d.cluster))
            .send()
            .await
            .map_err(err("EC2", "DescribeSubnets", vpc))?;
        for s in subnets.subnets() {
            let id = s.subnet_id().unwrap_or_default().to_string();
            if execute {
                self.mutate("EC2", "DeleteSubnet", &id)?;
                gone_ok(
                    self.ec2.delete_subnet().subnet_id(&id).send().await,
                    "EC2",
                    "DeleteSubnet",
                    &id,
                )?;
            }
            gone(
                "subnet",
                format!("{} {id}", s.availability_zone().unwrap_or_default()),
                out,
            );
        }
        if execute {
            self.mutate("EC2", "DeleteVpc", vpc)?;
            gone_ok(
                self.ec2.delete_vpc().vpc_id(vpc).send().await,
                "EC2",
                "DeleteVpc",
                vpc,
            )?;
        }
        gone("vpc", vpc.to_string(), out);
        Ok(())
    }
}

/// Which parts of the network a read needs (the VPC always).
#[derive(Debug, Clone, Copy)]
struct Need {
    subnets: bool,
    /// Route tables, internet gateway, NAT gateways.
    tables: bool,
    endpoint: bool,
    security_group: bool,
}

impl Need {
    const ALL: Need = Need {
        subnets: true,
        tables: true,
        endpoint: true,
        security_group: true,
    };
    const NONE: Need = Need {
        subnets: false,
        tables: false,
        endpoint: false,
        security_group: false,
    };
}

/// A route table as the adapter sees it.
struct Table {
    id: String,
    name: String,
    ours: bool,
    main: bool,
    default_target: Option<String>,
    subnets: Vec<String>,
    /// Explicit (non-main) associations: (association id, subnet).
    associations: Vec<(String, Option<String>)>,
}

impl Table {
    /// The association ids that tie `subnet` to this table.
    fn associations_of(&self, subnet: &str) -> Vec<String> {
        self.associations
            .iter()
            .filter(|(_, s)| s.as_deref() == Some(subnet))
            .map(|(a, _)| a.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
