//! Removing the network, in dependency order: NAT gateways and their addresses, the S3
//! endpoint, route tables, the internet gateway, subnets, the security group, the VPC.

use super::*;

impl Aws {
    /// Remove the network in dependency order. An existing VPC keeps everything but the
    /// security group streamctl made in it. Duplicate VPCs left by older versions go too.
    pub(in crate::aws::cloud) async fn destroy_network(
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

    pub(super) async fn destroy_vpc(
        &self,
        d: &Desired,
        vpc: &str,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
        // In dependency order: each kind waits for the ones before it to go.
        self.destroy_security_groups(d, vpc, execute, out).await?;
        self.destroy_endpoints(d, vpc, execute, out).await?;
        self.destroy_nat_gateways(d, vpc, execute, out).await?;
        self.destroy_route_tables(d, vpc, execute, out).await?;
        self.destroy_internet_gateways(d, vpc, execute, out).await?;
        self.destroy_subnets(d, vpc, execute, out).await?;
        if execute {
            self.mutate("EC2", "DeleteVpc", vpc)?;
            gone_ok(
                self.ec2.delete_vpc().vpc_id(vpc).send().await,
                "EC2",
                "DeleteVpc",
                vpc,
            )?;
        }
        gone(execute, "vpc", vpc.to_string(), out);
        Ok(())
    }

    /// Security groups of duplicate VPCs (the primary's went first).
    async fn destroy_security_groups(
        &self,
        d: &Desired,
        vpc: &str,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
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
            gone(execute, "security-group", id, out);
        }
        Ok(())
    }

    /// The VPC's S3 gateway endpoints that streamctl made.
    async fn destroy_endpoints(
        &self,
        d: &Desired,
        vpc: &str,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
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
                gone(execute, "s3-endpoint", e, out);
            }
        }
        Ok(())
    }

    /// NAT gateways, waited out (their addresses and subnets wait for them).
    async fn destroy_nat_gateways(
        &self,
        d: &Desired,
        vpc: &str,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
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
            gone(execute, "nat-gateway", format!("{az} {id}"), out);
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
        Ok(())
    }

    /// streamctl's route tables (not the main one), disassociated first.
    async fn destroy_route_tables(
        &self,
        _d: &Desired,
        vpc: &str,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
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
            gone(execute, "route-table", format!("{} {}", t.name, t.id), out);
        }
        Ok(())
    }

    /// The internet gateway of this VPC (or detached), detached then deleted.
    async fn destroy_internet_gateways(
        &self,
        d: &Desired,
        vpc: &str,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
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
            gone(execute, "internet-gateway", id, out);
        }
        Ok(())
    }

    /// The cluster's subnets in the VPC.
    async fn destroy_subnets(
        &self,
        d: &Desired,
        vpc: &str,
        execute: bool,
        out: &mut Vec<Removal>,
    ) -> Result<(), CloudError> {
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
                execute,
                "subnet",
                format!("{} {id}", s.availability_zone().unwrap_or_default()),
                out,
            );
        }
        Ok(())
    }
}

/// A removal done (or, without `execute`, one that would be).
fn gone(execute: bool, kind: &'static str, name: String, out: &mut Vec<Removal>) {
    out.push(Removal {
        kind,
        name,
        outcome: verb(execute, "deleted"),
    })
}
