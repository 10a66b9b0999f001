//! Reading the network: the cluster's VPC (found by its Name tag), subnets, routing (route
//! tables, internet and NAT gateways, addresses, the S3 endpoint) and the security group.

use super::*;

impl Aws {
    /// The cluster's VPCs named `name` (created ones): all of them, the one to use first.
    pub(super) async fn our_vpcs(&self, d: &Desired) -> Result<Vec<String>, CloudError> {
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

    pub(in crate::aws::cloud) async fn read_network(
        &self,
        d: &Desired,
        a: &mut Actual,
    ) -> Result<(), CloudError> {
        self.read_network_parts(d, a, Need::ALL).await
    }

    /// Read the VPC and the parts of its network `need` names (applying one change needs a
    /// few; a full read is a dozen calls).
    pub(super) async fn read_network_parts(
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

    pub(super) async fn read_subnets(
        &self,
        d: &Desired,
        vpc: &str,
        a: &mut Actual,
    ) -> Result<(), CloudError> {
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
    pub(super) async fn read_routing(
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

    pub(super) async fn read_security_group(
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
    pub(super) async fn route_tables(&self, vpc: &str) -> Result<Vec<Table>, CloudError> {
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
    pub(super) async fn s3_endpoints(
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
    pub(super) async fn internet_gateways(
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
    pub(super) async fn nat_gateways(
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
    pub(super) async fn addresses(
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
}
