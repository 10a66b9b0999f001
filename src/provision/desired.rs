//! The desired state of a cluster's AWS resources, computed from the spec (pure).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{TAG_AZ, TAG_CLUSTER, TAG_GROUP, TAG_INDEX, TAG_MANAGED, TAG_NODE_ID, TAG_ROLE};
use crate::render::{self, RenderError};
use crate::sizing::gp3::Gp3;
use crate::spec::{ClusterSpec, Egress, Encryption, Flavor, Role};

/// Everything `provision` manages for one cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    pub cluster: String,
    pub region: String,
    pub azs: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub bucket: Option<Bucket>,
    pub iam: Option<Iam>,
    pub network: Network,
    pub launch_templates: Vec<LaunchTemplate>,
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bucket {
    pub name: String,
    pub region: String,
    /// Abort incomplete multipart uploads after this many days (empty filter: whole bucket).
    pub abort_multipart_days: u32,
    /// Expire objects after this many days (only when the spec asks; always > retention).
    pub expiration_days: Option<u32>,
    pub encryption: BucketEncryption,
    /// Always BucketOwnerEnforced (ACLs off).
    pub ownership: String,
    /// The deny-non-TLS bucket policy, as JSON text.
    pub policy: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "algorithm", rename_all = "kebab-case")]
pub enum BucketEncryption {
    SseS3,
    SseKms { key_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Iam {
    pub role_name: String,
    pub trust_policy: String,
    pub policy_name: String,
    pub policy: String,
    pub instance_profile_name: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    /// An existing VPC to use, or `None` to create one.
    pub existing_vpc: Option<String>,
    /// AZ -> existing subnet id (with an existing VPC).
    pub existing_subnets: BTreeMap<String, String>,
    /// Name and CIDR of a VPC to create.
    pub vpc_name: String,
    pub vpc_cidr: String,
    /// AZ -> private (node) subnet CIDR (created VPC).
    pub subnet_cidrs: BTreeMap<String, String>,
    /// AZ -> public subnet CIDR, for the NAT gateways (created VPC with NAT egress; else empty).
    pub public_subnet_cidrs: BTreeMap<String, String>,
    pub egress: Egress,
    /// AZs that get a NAT gateway (each private route table sends 0.0.0.0/0 to its own AZ's,
    /// or to the single one).
    pub nat_azs: Vec<String>,
    /// An S3 gateway endpoint on every private route table (whenever the cluster has a bucket or
    /// fetches its software from S3).
    pub s3_endpoint: bool,
    /// What the cluster's S3 traffic would cost a month through a NAT gateway (drift reports
    /// for an existing VPC without an endpoint say it).
    pub s3_via_nat_usd_month: f64,
    pub security_group: SecurityGroup,
    pub tags: BTreeMap<String, String>,
}

impl Network {
    /// Route table names: the public one (NAT egress) and one private per AZ.
    pub fn public_route_table(&self) -> String {
        format!("{}-public", self.vpc_name)
    }
    pub fn private_route_table(&self, az: &str) -> String {
        format!("{}-private-{az}", self.vpc_name)
    }
    /// The NAT gateway a private route table in `az` uses.
    pub fn nat_for(&self, az: &str) -> Option<&str> {
        match self.egress {
            Egress::None => None,
            Egress::NatSingle => self.nat_azs.first().map(String::as_str),
            Egress::NatPerAz => self.nat_azs.iter().find(|a| *a == az).map(String::as_str),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityGroup {
    pub name: String,
    pub description: String,
    pub rules: Vec<Rule>,
}

/// One ingress rule: TCP ports from CIDRs or from the group itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rule {
    pub from_port: i32,
    pub to_port: i32,
    /// A CIDR, or `self` for members of the group.
    pub source: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LaunchTemplate {
    pub name: String,
    pub group: String,
    pub role: String,
    pub instance_type: String,
    /// `None`: resolved from the region (newest Amazon Linux 2023) at apply time.
    pub image_id: Option<String>,
    pub root_volume_gib: u64,
    pub data_volume: Option<Gp3>,
    /// IMDSv2 required; hop limit 2 so containers on the node reach it too.
    pub imds_hop_limit: i32,
    pub instance_profile: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    pub name: String,
    pub group: String,
    pub launch_template: String,
    pub index: u32,
    pub node_id: u32,
    pub az: String,
    pub user_data: String,
    pub tags: BTreeMap<String, String>,
}

/// Device name of the data volume in launch templates.
pub const DATA_DEVICE: &str = "/dev/sdf";
/// Root device of Amazon Linux AMIs.
pub const ROOT_DEVICE: &str = "/dev/xvda";

/// Reasons the desired state cannot be built (beyond spec validation).
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    #[error("{0}")]
    Render(#[from] RenderError),
    #[error("the VPC CIDR {0} cannot be split into one subnet per AZ (use a /16 to /24)")]
    Cidr(String),
}

/// Build the desired state. `azs` are the three AZs (resolved when the spec says `auto`).
pub fn desired_state(spec: &ClusterSpec, azs: &[String]) -> Result<Desired, DesiredError> {
    let cluster = spec.name.clone();
    let mut tags: BTreeMap<String, String> = spec.tags.clone();
    tags.insert(TAG_CLUSTER.into(), cluster.clone());
    tags.insert(TAG_MANAGED.into(), "streamctl".into());
    let bucket = bucket(spec, &tags);
    let iam = iam(spec, &tags)?;
    let network = network(spec, azs, &tags)?;
    let (launch_templates, instances) = nodes(spec, azs, &tags, iam.as_ref())?;
    Ok(Desired {
        cluster,
        region: spec.region.clone(),
        azs: azs.to_vec(),
        tags,
        bucket,
        iam,
        network,
        launch_templates,
        instances,
    })
}

/// The cluster's tags with a `Name`.
fn named(tags: &BTreeMap<String, String>, name: &str) -> BTreeMap<String, String> {
    let mut t = tags.clone();
    t.insert("Name".into(), name.to_string());
    t
}

/// The object-store bucket, when the flavor has one.
fn bucket(spec: &ClusterSpec, tags: &BTreeMap<String, String>) -> Option<Bucket> {
    let retention = spec.workload.retention;
    spec.object_store.as_ref().map(|os| {
        let policy = os.deny_insecure_transport.then(|| {
            render::render(
                "deny-insecure-transport.json",
                minijinja::context! { bucket => os.bucket },
            )
            .expect("embedded policy renders")
        });
        Bucket {
            name: os.bucket.clone(),
            region: spec.region.clone(),
            abort_multipart_days: os.abort_days(retention),
            expiration_days: os.expiration_days,
            encryption: match (os.encryption, &os.kms_key_id) {
                (Encryption::SseKms, Some(k)) => BucketEncryption::SseKms { key_id: k.clone() },
                _ => BucketEncryption::SseS3,
            },
            ownership: "BucketOwnerEnforced".into(),
            policy,
            tags: tags.clone(),
        }
    })
}

/// The brokers' role: the five object-store actions on the bucket, nothing else.
fn iam(spec: &ClusterSpec, tags: &BTreeMap<String, String>) -> Result<Option<Iam>, DesiredError> {
    let cluster = &spec.name;
    Ok(match &spec.object_store {
        Some(os) => Some(Iam {
            role_name: format!("streamctl-{cluster}-broker"),
            trust_policy: render::render("ec2-assume-role.json", minijinja::context! {})?,
            policy_name: "object-store".into(),
            policy: render::render(
                "broker-object-store.json",
                minijinja::context! { bucket => os.bucket },
            )?,
            instance_profile_name: format!("streamctl-{cluster}-broker"),
            tags: tags.clone(),
        }),
        None => None,
    })
}

/// The VPC, subnets, egress, S3 endpoint and security group (or the spec's existing VPC).
fn network(
    spec: &ClusterSpec,
    azs: &[String],
    tags: &BTreeMap<String, String>,
) -> Result<Network, DesiredError> {
    let cluster = &spec.name;
    let vpc_cidr = spec
        .network
        .vpc_cidr
        .clone()
        .unwrap_or_else(|| "10.0.0.0/16".into());
    let subnet_cidrs =
        split_cidr(&vpc_cidr, 16).ok_or_else(|| DesiredError::Cidr(vpc_cidr.clone()))?;
    if azs.len() > 8 {
        return Err(DesiredError::Cidr(vpc_cidr.clone()));
    }
    // Private subnets take the first slots (as before), public ones the upper half.
    let private_cidrs: Vec<String> = subnet_cidrs[..azs.len()].to_vec();
    let public_cidrs: Vec<String> = subnet_cidrs[8..8 + azs.len()].to_vec();
    let egress = if spec.network.vpc_id.is_some() {
        Egress::None
    } else {
        spec.network.egress
    };
    let nat_azs: Vec<String> = match egress {
        Egress::NatPerAz => azs.to_vec(),
        Egress::NatSingle => azs.iter().take(1).cloned().collect(),
        Egress::None => vec![],
    };
    let s3_from_artifact = spec
        .kafka_artifact
        .as_ref()
        .is_some_and(|a| a.url.starts_with("s3://"));
    let s3_endpoint = spec.object_store.is_some() || s3_from_artifact;
    let s3_via_nat_usd_month = s3_via_nat_usd_month(spec, azs);
    let rules = security_rules(spec);
    Ok(Network {
        existing_vpc: spec.network.vpc_id.clone(),
        existing_subnets: spec.network.subnets.clone(),
        vpc_name: format!("streamctl-{cluster}"),
        vpc_cidr,
        subnet_cidrs: azs.iter().cloned().zip(private_cidrs).collect(),
        public_subnet_cidrs: if nat_azs.is_empty() {
            BTreeMap::new()
        } else {
            azs.iter().cloned().zip(public_cidrs).collect()
        },
        egress,
        nat_azs,
        s3_endpoint,
        s3_via_nat_usd_month,
        security_group: SecurityGroup {
            name: format!("streamctl-{cluster}"),
            description: format!("streamctl cluster {cluster}"),
            rules,
        },
        tags: named(tags, &format!("streamctl-{cluster}")),
    })
}

/// What S3 traffic through a NAT gateway would cost a month (the reason for the endpoint).
fn s3_via_nat_usd_month(spec: &ClusterSpec, azs: &[String]) -> f64 {
    use crate::sizing::cost::{s3_bytes_per_sec, PriceList};
    let model = match spec.flavor {
        Flavor::Classic => crate::sizing::models::StorageModel::Classic,
        Flavor::Tiered => crate::sizing::models::StorageModel::Tiered,
        Flavor::Diskless => crate::sizing::models::StorageModel::Diskless,
    };
    let groups = crate::sizing::models::ConsumerGroups::from(spec.workload.consumer_groups);
    PriceList::default().nat_processing_month(s3_bytes_per_sec(
        model,
        spec.workload.ingress_mbps * crate::sizing::models::MIB,
        groups.remote,
        groups.total(),
        azs.len() as u32,
    ))
}

/// The nodes' security group rules: clients on 9092, the cluster's own ports from itself.
fn security_rules(spec: &ClusterSpec) -> Vec<Rule> {
    let mut rules = Vec::new();
    let kafka_port = 9092;
    for c in &spec.network.client_cidrs {
        rules.push(Rule {
            from_port: kafka_port,
            to_port: kafka_port,
            source: c.clone(),
            description: "clients".into(),
        });
    }
    match spec.flavor {
        Flavor::Classic | Flavor::Tiered => {
            rules.push(Rule {
                from_port: 9092,
                to_port: 9093,
                source: "self".into(),
                description: "inter-broker and KRaft controller".into(),
            });
        }
        Flavor::Diskless => {
            rules.push(Rule {
                from_port: 9092,
                to_port: 9092,
                source: "self".into(),
                description: "Bufstream brokers".into(),
            });
            rules.push(Rule {
                from_port: 2379,
                to_port: 2380,
                source: "self".into(),
                description: "etcd client and peer".into(),
            });
        }
    }
    rules.sort();
    rules
}

/// A launch template per node group and an instance per node, with the user-data `render`
/// writes.
fn nodes(
    spec: &ClusterSpec,
    azs: &[String],
    tags: &BTreeMap<String, String>,
    iam: Option<&Iam>,
) -> Result<(Vec<LaunchTemplate>, Vec<Instance>), DesiredError> {
    let cluster = &spec.name;
    let mut launch_templates = Vec::new();
    let mut instances = Vec::new();
    let nodes = spec.nodes(azs);
    // User-data is what `streamctl render` writes for each node: one renderer, one truth.
    let rendered = render::configs::render_cluster(
        spec,
        &render::configs::RenderOptions {
            azs: Some(azs.to_vec()),
            ..Default::default()
        },
    )?;
    for g in &spec.node_groups {
        let lt_name = format!("streamctl-{cluster}-{}", g.name);
        let mut lt_tags = named(tags, &lt_name);
        lt_tags.insert(TAG_GROUP.into(), g.name.clone());
        lt_tags.insert(TAG_ROLE.into(), g.role.as_str().into());
        let needs_bucket = matches!(g.role, Role::Broker | Role::Bufstream) && iam.is_some();
        launch_templates.push(LaunchTemplate {
            name: lt_name.clone(),
            group: g.name.clone(),
            role: g.role.as_str().into(),
            instance_type: g.instance_type.clone(),
            image_id: g.image_id.clone(),
            root_volume_gib: g.root_volume_gib,
            data_volume: g.data_volume,
            imds_hop_limit: 2,
            instance_profile: if needs_bucket {
                iam.map(|i| i.instance_profile_name.clone())
            } else {
                None
            },
            tags: lt_tags,
        });
        for n in nodes.iter().filter(|n| n.group == g.name) {
            let user_data = rendered
                .files
                .get(&format!("user-data/{}.sh", n.name))
                .cloned()
                .expect("render writes every node's user-data");
            let mut t = named(tags, &n.name);
            t.insert(TAG_GROUP.into(), g.name.clone());
            t.insert(TAG_ROLE.into(), g.role.as_str().into());
            t.insert(TAG_AZ.into(), n.az.clone());
            t.insert(TAG_INDEX.into(), n.index.to_string());
            t.insert(TAG_NODE_ID.into(), n.node_id.to_string());
            instances.push(Instance {
                name: n.name.clone(),
                group: g.name.clone(),
                launch_template: lt_name.clone(),
                index: n.index,
                node_id: n.node_id,
                az: n.az.clone(),
                user_data,
                tags: t,
            });
        }
    }
    Ok((launch_templates, instances))
}

/// Split an IPv4 CIDR into `n` equal subnets 4 bits longer (16 slots; the first `n` are used).
pub fn split_cidr(cidr: &str, n: usize) -> Option<Vec<String>> {
    let (addr, len) = cidr.split_once('/')?;
    let len: u32 = len.parse().ok()?;
    if !(16..=24).contains(&len) || n > 16 {
        return None;
    }
    let base = u32::from(addr.parse::<std::net::Ipv4Addr>().ok()?) & (u32::MAX << (32 - len));
    let sub = len + 4;
    Some(
        (0..n as u32)
            .map(|i| {
                format!(
                    "{}/{sub}",
                    std::net::Ipv4Addr::from(base + (i << (32 - sub)))
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(file: &str) -> ClusterSpec {
        let text = std::fs::read_to_string(format!(
            "{}/docs/examples/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        crate::spec::parse(&text, file).unwrap().0
    }

    fn azs() -> Vec<String> {
        ["us-east-1a", "us-east-1b", "us-east-1c"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn tiered_cluster_has_bucket_iam_and_spread_brokers() {
        let d = desired_state(&spec("tiered.yaml"), &azs()).unwrap();
        let b = d.bucket.as_ref().unwrap();
        assert_eq!(b.abort_multipart_days, 7);
        assert_eq!(b.expiration_days, None);
        assert!(b.policy.as_ref().unwrap().contains("aws:SecureTransport"));
        let iam = d.iam.as_ref().unwrap();
        assert!(iam.policy.contains("arn:aws:s3:::clicks-tiered-segments/*"));
        let brokers: Vec<_> = d
            .instances
            .iter()
            .filter(|i| i.group == "brokers")
            .collect();
        assert_eq!(brokers.len(), 6);
        let per_az = |az: &str| brokers.iter().filter(|i| i.az == az).count();
        assert_eq!(
            (
                per_az("us-east-1a"),
                per_az("us-east-1b"),
                per_az("us-east-1c")
            ),
            (2, 2, 2)
        );
        assert!(brokers[1].user_data.contains("broker.rack=us-east-1b"));
        assert!(brokers[1].user_data.contains("node.id=2"));
        let ctrl = d
            .instances
            .iter()
            .find(|i| i.group == "controllers")
            .unwrap();
        assert_eq!(ctrl.node_id, 1001);
        assert!(ctrl.user_data.contains("process.roles=controller"));
        assert!(!ctrl.user_data.contains("broker.rack"));
        let lt = &d.launch_templates[0];
        assert_eq!(lt.imds_hop_limit, 2);
        assert_eq!(
            lt.instance_profile.as_deref(),
            Some("streamctl-clicks-tiered-broker")
        );
        assert_eq!(
            d.launch_templates[1].instance_profile, None,
            "controllers need no bucket access"
        );
        assert_eq!(d.instances[0].tags[TAG_CLUSTER], "clicks-tiered");
    }

    #[test]
    fn classic_cluster_has_no_bucket_or_iam() {
        let d = desired_state(&spec("classic.yaml"), &azs()).unwrap();
        assert!(d.bucket.is_none() && d.iam.is_none());
        assert_eq!(d.network.subnet_cidrs["us-east-1c"], "10.40.32.0/20");
    }

    #[test]
    fn diskless_cluster_opens_etcd_ports() {
        let d = desired_state(&spec("diskless.yaml"), &azs()).unwrap();
        assert!(d
            .network
            .security_group
            .rules
            .iter()
            .any(|r| r.from_port == 2379 && r.to_port == 2380 && r.source == "self"));
        assert!(d
            .instances
            .iter()
            .any(|i| i.user_data.contains("BUFSTREAM_ZONE=us-east-1a")));
    }

    #[test]
    fn cidr_split() {
        assert_eq!(
            split_cidr("10.0.0.0/16", 3).unwrap(),
            vec!["10.0.0.0/20", "10.0.16.0/20", "10.0.32.0/20"]
        );
        assert_eq!(
            split_cidr("192.168.4.0/24", 2).unwrap(),
            vec!["192.168.4.0/28", "192.168.4.16/28"]
        );
        assert!(split_cidr("10.0.0.0/8", 3).is_none());
    }

    #[test]
    fn rendering_is_deterministic() {
        let a = desired_state(&spec("diskless.yaml"), &azs()).unwrap();
        let b = desired_state(&spec("diskless.yaml"), &azs()).unwrap();
        assert_eq!(a, b);
    }
}
