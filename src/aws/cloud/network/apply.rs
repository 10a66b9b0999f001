//! Making one planned network change: each create goes through the retry policy's create-once
//! path (a lost response is looked up by its Name tag before the create is sent again).

use super::*;

impl Aws {
    /// Apply one network change against the network as it is now (earlier changes of this
    /// chain created ids it needs).
    pub(in crate::aws::cloud) async fn apply_network(
        &self,
        d: &Desired,
        c: &Change,
    ) -> Result<(), CloudError> {
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
            "subnet" | "public-subnet" => self.create_subnet(d, &a, c).await,
            "internet-gateway" => self.attach_internet_gateway(d, &a, &c.name).await,
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
            "s3-endpoint" => self.converge_s3_endpoint(d, &a, &c.name).await,
            "security-group" => self.converge_security_group(d, &a).await,
            other => unreachable!("not a network change: {other}"),
        }
    }

    /// A private or public subnet in the AZ the change names.
    async fn create_subnet(&self, d: &Desired, a: &Actual, c: &Change) -> Result<(), CloudError> {
        let n = &d.network;
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
                    create_once!(
                        self,
                        "CreateSubnet",
                        &c.name,
                        &["InvalidSubnet.Conflict"],
                        self.ec2
                            .create_subnet()
                            .vpc_id(vpc)
                            .cidr_block(cidr)
                            .availability_zone(az)
                            .tag_specifications(self.ec2_tags(ec2t::ResourceType::Subnet, &tags),)
                    )
                    .map(|_| ())
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

    /// The internet gateway, created when missing, attached to the VPC.
    async fn attach_internet_gateway(
        &self,
        d: &Desired,
        a: &Actual,
        name: &str,
    ) -> Result<(), CloudError> {
        let vpc = a
            .vpc_id
            .as_deref()
            .ok_or_else(|| missing("internet gateway", name, "the VPC"))?;
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
                Err(e) => return Err(CloudError::call("EC2", "AttachInternetGateway", &id, e)),
            }
        }
        Ok(())
    }

    /// The S3 gateway endpoint, created or attached to the private route tables it lacks.
    async fn converge_s3_endpoint(
        &self,
        d: &Desired,
        a: &Actual,
        name: &str,
    ) -> Result<(), CloudError> {
        let n = &d.network;
        let vpc = a
            .vpc_id
            .as_deref()
            .ok_or_else(|| missing("S3 endpoint", name, "the VPC"))?;
        let want: Vec<String> = d
            .azs
            .iter()
            .filter_map(|az| a.route_tables.get(&n.private_route_table(az)))
            .map(|t| t.id.clone())
            .collect();
        if want.len() != d.azs.len() {
            return Err(missing("S3 endpoint", name, "the private route tables"));
        }
        match &a.s3_endpoint {
            None => self.create_s3_endpoint(d, vpc, name, &want).await,
            Some((id, have)) => {
                let add: Vec<String> = want.iter().filter(|w| !have.contains(w)).cloned().collect();
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

    pub(super) async fn create_vpc(&self, d: &Desired) -> Result<(), CloudError> {
        let n = &d.network;
        let id = self
            .policy
            .create(
                &self.log,
                || async {
                    create_once!(
                        self,
                        "CreateVpc",
                        &n.vpc_name,
                        &[],
                        self.ec2
                            .create_vpc()
                            .cidr_block(&n.vpc_cidr)
                            .tag_specifications(self.ec2_tags(ec2t::ResourceType::Vpc, &n.tags))
                    )
                    .map(|r| {
                        r.vpc()
                            .and_then(|v| v.vpc_id())
                            .unwrap_or_default()
                            .to_string()
                    })
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

    pub(super) async fn create_internet_gateway(&self, d: &Desired) -> Result<String, CloudError> {
        let n = &d.network;
        self.policy
            .create(
                &self.log,
                || async {
                    create_once!(
                        self,
                        "CreateInternetGateway",
                        &n.vpc_name,
                        &[],
                        self.ec2.create_internet_gateway().tag_specifications(
                            self.ec2_tags(ec2t::ResourceType::InternetGateway, &n.tags),
                        )
                    )
                    .map(|r| {
                        r.internet_gateway()
                            .and_then(|g| g.internet_gateway_id())
                            .unwrap_or_default()
                            .to_string()
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

    pub(super) async fn create_nat_gateway(
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
                            create_once!(
                                self,
                                "AllocateAddress",
                                name,
                                &[],
                                self.ec2
                                    .allocate_address()
                                    .domain(ec2t::DomainType::Vpc)
                                    .tag_specifications(
                                        self.ec2_tags(ec2t::ResourceType::ElasticIp, &tags),
                                    )
                            )
                            .map(|r| r.allocation_id().unwrap_or_default().to_string())
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
                        create_once!(
                            self,
                            "CreateNatGateway",
                            name,
                            &[],
                            self.ec2
                                .create_nat_gateway()
                                .subnet_id(subnet)
                                .allocation_id(&eip)
                                .client_token(token)
                                .tag_specifications(
                                    self.ec2_tags(ec2t::ResourceType::Natgateway, &tags),
                                )
                        )
                        .map(|_| ())
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
    pub(super) async fn converge_route_table(
        &self,
        d: &Desired,
        a: &Actual,
        name: &str,
    ) -> Result<(), CloudError> {
        let vpc = a
            .vpc_id
            .as_deref()
            .ok_or_else(|| missing("route table", name, "the VPC"))?;
        let (target, subnets) = route_table_wants(d, a, name)?;
        let (id, current, associated) = self.ensure_route_table(d, a, vpc, name).await?;
        self.set_default_route(&id, target.as_ref(), current.as_ref())
            .await?;
        self.associate(vpc, &id, &subnets, &associated).await
    }

    /// The route table found under `name`, else created: (id, its default route's target,
    /// its subnets).
    async fn ensure_route_table(
        &self,
        d: &Desired,
        a: &Actual,
        vpc: &str,
        name: &str,
    ) -> Result<(String, Option<String>, Vec<String>), CloudError> {
        let n = &d.network;
        let mut tags = n.tags.clone();
        tags.insert("Name".into(), name.to_string());
        Ok(match a.route_tables.get(name) {
            Some(t) => (t.id.clone(), t.default_target.clone(), t.subnets.clone()),
            None => {
                let id = self
                    .policy
                    .create(
                        &self.log,
                        || async {
                            create_once!(
                                self,
                                "CreateRouteTable",
                                name,
                                &[],
                                self.ec2
                                    .create_route_table()
                                    .vpc_id(vpc)
                                    .tag_specifications(
                                        self.ec2_tags(ec2t::ResourceType::RouteTable, &tags),
                                    )
                            )
                            .map(|r| {
                                r.route_table()
                                    .and_then(|t| t.route_table_id())
                                    .unwrap_or_default()
                                    .to_string()
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
        })
    }

    /// Point 0.0.0.0/0 at `target` ((NAT?, id); None: no default route), from `current`.
    async fn set_default_route(
        &self,
        id: &str,
        target: Option<&(bool, String)>,
        current: Option<&String>,
    ) -> Result<(), CloudError> {
        match (target, current) {
            (Some((_, t)), Some(c)) if t == c => {}
            (Some((nat, t)), cur) => {
                let op = if cur.is_some() {
                    "ReplaceRoute"
                } else {
                    "CreateRoute"
                };
                self.mutate("EC2", op, id)?;
                let (nat_id, gateway_id) = if *nat {
                    (Some(t.clone()), None)
                } else {
                    (None, Some(t.clone()))
                };
                let r = if cur.is_some() {
                    self.ec2
                        .replace_route()
                        .route_table_id(id)
                        .destination_cidr_block("0.0.0.0/0")
                        .set_nat_gateway_id(nat_id)
                        .set_gateway_id(gateway_id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(coded(op, id))
                } else {
                    self.ec2
                        .create_route()
                        .route_table_id(id)
                        .destination_cidr_block("0.0.0.0/0")
                        .set_nat_gateway_id(nat_id)
                        .set_gateway_id(gateway_id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(coded(op, id))
                };
                match r {
                    Ok(()) => {}
                    // A retry after a lost response: the route is there.
                    Err((Some(c), _)) if c == "RouteAlreadyExists" => {}
                    Err((_, e)) => return Err(e),
                }
            }
            (None, Some(_)) => {
                self.mutate("EC2", "DeleteRoute", id)?;
                gone_ok(
                    self.ec2
                        .delete_route()
                        .route_table_id(id)
                        .destination_cidr_block("0.0.0.0/0")
                        .send()
                        .await,
                    "EC2",
                    "DeleteRoute",
                    id,
                )?;
            }
            (None, None) => {}
        }
        Ok(())
    }

    /// Associate `subnets` with the route table `id` (moving a subnet explicitly associated
    /// elsewhere).
    async fn associate(
        &self,
        vpc: &str,
        id: &str,
        subnets: &[String],
        associated: &[String],
    ) -> Result<(), CloudError> {
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
                        .route_table_id(id)
                        .send()
                        .await
                        .map_err(err("EC2", "ReplaceRouteTableAssociation", s))?;
                }
                None => {
                    self.mutate("EC2", "AssociateRouteTable", s)?;
                    match self
                        .ec2
                        .associate_route_table()
                        .route_table_id(id)
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

    pub(super) async fn create_s3_endpoint(
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
                        create_once!(
                            self,
                            "CreateVpcEndpoint",
                            name,
                            &["RouteAlreadyExists"],
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
                        )
                        .map(|_| ())
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

    pub(super) async fn converge_security_group(
        &self,
        d: &Desired,
        a: &Actual,
    ) -> Result<(), CloudError> {
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
                            create_once!(
                                self,
                                "CreateSecurityGroup",
                                &sg.name,
                                &["InvalidGroup.Duplicate"],
                                self.ec2
                                    .create_security_group()
                                    .group_name(&sg.name)
                                    .description(&sg.description)
                                    .vpc_id(vpc)
                                    .tag_specifications(
                                        self.ec2_tags(ec2t::ResourceType::SecurityGroup, &tags),
                                    )
                            )
                            .map(|r| r.group_id().unwrap_or_default().to_string())
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
}

/// A route table's default route target ((NAT?, id), None: no default route) and its subnets.
type Wants = (Option<(bool, String)>, Vec<String>);

/// What the route table `name` should hold: its default route's target ((NAT?, id), None: no
/// default route) and its subnets.
fn route_table_wants(d: &Desired, a: &Actual, name: &str) -> Result<Wants, CloudError> {
    let n = &d.network;
    let public = name == n.public_route_table();
    Ok(if public {
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
    })
}
