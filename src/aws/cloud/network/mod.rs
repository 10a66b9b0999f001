//! The network: VPC, private (node) and public (NAT) subnets per AZ, internet gateway, NAT
//! gateways with their addresses, route tables, the S3 gateway endpoint, and the security group.
//!
//! EC2 does not deduplicate most of these creates (CreateVpc, CreateSubnet, CreateRouteTable,
//! CreateInternetGateway, AllocateAddress, CreateSecurityGroup), so every create goes through
//! [`RetryPolicy::create`]: after a lost response the resource is looked up by its `Name` tag
//! before it is created again. CreateNatGateway and CreateVpcEndpoint also carry deterministic
//! client tokens.
//!
//! Reading is in `read.rs`, changes in `apply.rs`, removal in `destroy.rs`; the helpers and the
//! adapter's own views of route tables live here.
//!
//! [`RetryPolicy::create`]: crate::aws::retry::RetryPolicy::create

use std::collections::BTreeMap;

use aws_sdk_ec2::types as ec2t;

use super::{code, err, filter, gone_ok, missing, tag_filter, tag_value, verb, Aws};
use crate::aws::retry::client_token;
use crate::provision::cloud::CloudError;
use crate::provision::cloud::Removal;
use crate::provision::desired::{Desired, Rule};
use crate::provision::diff::{Actual, ActualRouteTable, Change};
use crate::provision::{TAG_AZ, TAG_CLUSTER};

/// Tag saying whether a subnet is `private` (nodes) or `public` (NAT gateways).
pub const TAG_TIER: &str = "streamctl:tier";

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

mod apply;
mod destroy;
mod read;

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
