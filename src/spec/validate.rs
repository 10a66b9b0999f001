//! Semantic checks of a parsed spec: impossible topologies and settings that lose data are
//! errors; settings that contradict the seeds' guidance are warnings.

use std::collections::BTreeSet;

use super::diagnostic::Diagnostic;
use super::{AvailabilityZones, ClusterSpec, Egress, Encryption, Flavor, NodeGroup, Role};
use crate::sizing::catalog::Catalog;

/// Every finding, errors and warnings, without locations (the parser adds them).
pub fn validate(spec: &ClusterSpec) -> Vec<Diagnostic> {
    let mut d = Vec::new();
    name(spec, &mut d);
    region_and_azs(spec, &mut d);
    workload(spec, &mut d);
    node_groups(spec, &mut d);
    object_store(spec, &mut d);
    network(spec, &mut d);
    artifact(spec, &mut d);
    tags(spec, &mut d);
    d
}

fn artifact(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    let Some(a) = &spec.kafka_artifact else {
        return;
    };
    if !(a.url.starts_with("s3://") || a.url.starts_with("https://")) {
        d.push(
            Diagnostic::error(
                "kafka_artifact.url",
                format!("`{}`: not an s3:// or https:// URL", a.url),
            )
            .hint("e.g. s3://my-artifacts/kafka_2.13-4.1.0.tgz"),
        );
    }
    if a.url.contains(['\'', '"', '`', '$', ' ', '\\', '\n']) {
        d.push(Diagnostic::error(
            "kafka_artifact.url",
            "quotes, spaces, `$` and backslashes are not allowed (it goes into a shell script)",
        ));
    }
    if a.sha256.len() != 64
        || !a
            .sha256
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        d.push(
            Diagnostic::error(
                "kafka_artifact.sha256",
                "must be 64 lower-case hex digits (the archive's SHA-256)",
            )
            .hint("sha256sum kafka_2.13-4.1.0.tgz"),
        );
    }
    if spec.flavor == Flavor::Diskless {
        d.push(Diagnostic::warning(
            "kafka_artifact",
            "diskless clusters run Bufstream, not Apache Kafka: the artifact is not used",
        ));
    }
}

fn name(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    let ok = !spec.name.is_empty()
        && spec.name.len() <= 40
        && spec
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !spec.name.starts_with('-')
        && !spec.name.ends_with('-');
    if !ok {
        d.push(
            Diagnostic::error("name", format!("`{}` is not a valid cluster name", spec.name))
                .hint("use 1-40 lower-case letters, digits and inner hyphens; it becomes part of AWS resource names and tags"),
        );
    }
}

fn region_and_azs(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    let parts: Vec<&str> = spec.region.split('-').collect();
    let region_ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
    if !region_ok {
        d.push(
            Diagnostic::error(
                "region",
                format!("`{}` is not an AWS region name", spec.region),
            )
            .hint("e.g. us-east-1, eu-west-1"),
        );
    }
    if let AvailabilityZones::Named(azs) = &spec.availability_zones {
        let distinct: BTreeSet<&String> = azs.iter().collect();
        if azs.len() != 3 || distinct.len() != 3 {
            d.push(
                Diagnostic::error(
                    "availability_zones",
                    format!("a cluster spans exactly three distinct availability zones, got {}", distinct.len()),
                )
                .hint("with two AZs, losing one takes half the cluster and min.insync.replicas=2 with RF 3 cannot hold; list three, or write `auto`"),
            );
        }
        for (i, az) in azs.iter().enumerate() {
            let suffix = az.strip_prefix(spec.region.as_str());
            if !suffix.is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase())) {
                d.push(
                    Diagnostic::error(
                        format!("availability_zones[{i}]"),
                        format!("`{az}` is not an AZ of region {}", spec.region),
                    )
                    .hint(format!(
                        "AZ names are the region plus a letter, e.g. {}a",
                        spec.region
                    )),
                );
            }
        }
    }
}

fn workload(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    let w = &spec.workload;
    if !(w.ingress_mbps > 0.0 && w.ingress_mbps.is_finite()) {
        d.push(Diagnostic::error(
            "workload.ingress_mbps",
            format!(
                "ingress must be a positive MB/s figure, got {}",
                w.ingress_mbps
            ),
        ));
    }
    if w.replication_factor == 0 {
        d.push(Diagnostic::error(
            "workload.replication_factor",
            "replication factor must be at least 1",
        ));
    }
    if w.min_insync_replicas == 0 || w.min_insync_replicas > w.replication_factor {
        d.push(
            Diagnostic::error(
                "workload.min_insync_replicas",
                format!(
                    "min.insync.replicas {} must be between 1 and the replication factor {}",
                    w.min_insync_replicas, w.replication_factor
                ),
            )
            .hint("seed 004's design: RF 3, min.insync.replicas 2, acks=all"),
        );
    } else if w.min_insync_replicas == w.replication_factor && w.replication_factor > 1 {
        d.push(
            Diagnostic::warning(
                "workload.min_insync_replicas",
                format!("min.insync.replicas equals the replication factor ({}): losing any one broker stops acks=all producers", w.replication_factor),
            )
            .hint("use min.insync.replicas = RF - 1 (RF 3 / min ISR 2)"),
        );
    }
    if spec.flavor != Flavor::Diskless && w.replication_factor < 3 && w.replication_factor > 0 {
        d.push(
            Diagnostic::warning(
                "workload.replication_factor",
                format!(
                    "replication factor {} cannot survive the loss of an AZ with acks=all",
                    w.replication_factor
                ),
            )
            .hint("RF 3 with one replica per AZ keeps every partition online when an AZ fails"),
        );
    }
    if w.retention.as_ms() == 0 {
        d.push(Diagnostic::error(
            "workload.retention",
            "retention must be longer than zero",
        ));
    }
    match (spec.flavor, w.local_retention) {
        (Flavor::Tiered, None) => d.push(
            Diagnostic::error(
                "workload",
                "a tiered cluster needs `local_retention` (how long segments stay on broker disks)",
            )
            .hint("e.g. local_retention: 4h (seed 002's example)"),
        ),
        (Flavor::Tiered, Some(l)) if l >= w.retention => d.push(
            Diagnostic::error(
                "workload.local_retention",
                format!(
                    "local retention {l} is not shorter than retention {}",
                    w.retention
                ),
            )
            .hint(
                "local retention is the part of retention kept on broker disks; it must be shorter",
            ),
        ),
        (Flavor::Classic | Flavor::Diskless, Some(_)) => d.push(
            Diagnostic::error(
                "workload.local_retention",
                format!(
                    "local_retention only applies to the tiered flavor (this spec is {})",
                    spec.flavor.as_str()
                ),
            )
            .hint("remove it, or set flavor: tiered"),
        ),
        _ => {}
    }
    if spec.flavor != Flavor::Tiered && w.consumer_groups.remote > 0 {
        d.push(Diagnostic::error(
            "workload.consumer_groups.remote",
            "remote consumer groups read from a remote tier, which only the tiered flavor has",
        ));
    }
}

fn node_groups(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    let catalog = Catalog::embedded();
    let azs = spec.availability_zones.count().max(1) as u32;
    let mut names = BTreeSet::new();
    for (i, g) in spec.node_groups.iter().enumerate() {
        let at = |k: &str| format!("node_groups[{i}].{k}");
        if !names.insert(g.name.as_str()) {
            d.push(Diagnostic::error(
                at("name"),
                format!("node group name `{}` is used twice", g.name),
            ));
        }
        group_role_and_count(spec, g, azs, &at, d);
        group_instance_type(&catalog, g, &at, d);
        group_volumes(g, &at, d);
    }
    cluster_roles(spec, d);
}

/// A group's role belongs to the flavor; brokers spread evenly over the AZs; quorums are odd.
fn group_role_and_count(
    spec: &ClusterSpec,
    g: &NodeGroup,
    azs: u32,
    at: &dyn Fn(&str) -> String,
    d: &mut Vec<Diagnostic>,
) {
    let allowed: &[Role] = match spec.flavor {
        Flavor::Classic | Flavor::Tiered => &[Role::Broker, Role::Controller],
        Flavor::Diskless => &[Role::Bufstream, Role::Etcd],
    };
    if !allowed.contains(&g.role) {
        let names: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        d.push(
            Diagnostic::error(
                at("role"),
                format!(
                    "role `{}` does not belong in a {} cluster",
                    g.role.as_str(),
                    spec.flavor.as_str()
                ),
            )
            .hint(format!("use one of: {}", names.join(", "))),
        );
    }
    if g.count == 0 {
        d.push(Diagnostic::error(at("count"), "count must be at least 1"));
    } else if matches!(g.role, Role::Broker | Role::Bufstream)
        && !g.count.is_multiple_of(azs)
        && !g.allow_uneven
    {
        d.push(
            Diagnostic::error(
                at("count"),
                format!("{} brokers cannot be spread evenly over {azs} AZs", g.count),
            )
            .hint(format!(
                "use a multiple of {azs} (e.g. {}), or set allow_uneven: true",
                g.count.div_ceil(azs) * azs
            )),
        );
    }
    if matches!(g.role, Role::Controller | Role::Etcd) && g.count.is_multiple_of(2) {
        d.push(
            Diagnostic::error(
                at("count"),
                format!(
                    "a {} quorum of {} nodes tolerates no more failures than {}",
                    g.role.as_str(),
                    g.count,
                    g.count - 1
                ),
            )
            .hint("use 3 (one per AZ) or 5"),
        );
    }
}

/// The instance type: in the catalog (else a warning, or an error when it is no type name),
/// and 1 vCPU : 4 GiB for Bufstream.
fn group_instance_type(
    catalog: &Catalog,
    g: &NodeGroup,
    at: &dyn Fn(&str) -> String,
    d: &mut Vec<Diagnostic>,
) {
    match catalog.get(&g.instance_type) {
        None => {
            let well_formed = g
                .instance_type
                .split_once('.')
                .is_some_and(|(f, s)| !f.is_empty() && !s.is_empty());
            if well_formed {
                d.push(
                    Diagnostic::warning(at("instance_type"), format!("`{}` is not in the embedded catalog; sizing cannot check it", g.instance_type))
                        .hint("the catalog covers m5, m6i, m6in, m7i and r6i; provision validates the type with DescribeInstanceTypes"),
                );
            } else {
                d.push(
                    Diagnostic::error(
                        at("instance_type"),
                        format!("`{}` is not an EC2 instance type name", g.instance_type),
                    )
                    .hint("e.g. m6in.xlarge"),
                );
            }
        }
        Some(t) if g.role == Role::Bufstream && t.memory_per_vcpu() < 4.0 => d.push(
            Diagnostic::error(
                at("instance_type"),
                format!(
                    "{} has {} GiB per vCPU; Bufstream needs 1 vCPU : 4 GiB",
                    t.name,
                    t.memory_per_vcpu()
                ),
            )
            .hint("seed 000 recommends m6in"),
        ),
        Some(_) => {}
    }
}

/// The gp3 data volume within AWS's limits (and present where the role keeps data); the root
/// volume at least 8 GiB.
fn group_volumes(g: &NodeGroup, at: &dyn Fn(&str) -> String, d: &mut Vec<Diagnostic>) {
    if let Some(v) = &g.data_volume {
        for (field, msg) in v.problems() {
            d.push(
                Diagnostic::error(at(&format!("data_volume.{field}")), msg)
                    .hint("gp3 limits (since Sept 2025): 1 GiB-64 TiB, 3,000-80,000 IOPS (500 per GiB), 125-2,000 MiB/s (0.25 MiB/s per IOPS)"),
            );
        }
        if g.role == Role::Bufstream {
            d.push(Diagnostic::warning(
                at("data_volume"),
                "Bufstream brokers keep no data on local disk; this volume would be unused",
            ));
        }
    } else if matches!(g.role, Role::Broker | Role::Controller | Role::Etcd) {
        d.push(
            Diagnostic::error(
                at("data_volume"),
                format!("{} nodes need a gp3 data volume", g.role.as_str()),
            )
            .hint("e.g. data_volume: {size_gib: 500, iops: 3000, throughput_mibps: 250}"),
        );
    }
    if g.root_volume_gib < 8 {
        d.push(Diagnostic::error(
            at("root_volume_gib"),
            "root volumes need at least 8 GiB",
        ));
    }
}

/// The cluster has its broker and quorum groups, enough brokers for its replication factor
/// and, for diskless, the recommended six.
fn cluster_roles(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    let brokers = spec.broker_count();
    let (broker_role, quorum_role) = match spec.flavor {
        Flavor::Classic | Flavor::Tiered => (Role::Broker, Role::Controller),
        Flavor::Diskless => (Role::Bufstream, Role::Etcd),
    };
    if spec.groups(broker_role).next().is_none() {
        d.push(Diagnostic::error(
            "node_groups",
            format!(
                "a {} cluster needs a node group with role `{}`",
                spec.flavor.as_str(),
                broker_role.as_str()
            ),
        ));
    }
    if spec.groups(quorum_role).next().is_none() {
        d.push(
            Diagnostic::error(
                "node_groups",
                format!(
                    "a {} cluster needs a `{}` node group (its metadata quorum)",
                    spec.flavor.as_str(),
                    quorum_role.as_str()
                ),
            )
            .hint("three nodes, one per AZ, on gp3"),
        );
    }
    let rf = spec.workload.replication_factor;
    if spec.flavor != Flavor::Diskless && brokers > 0 && rf > brokers {
        d.push(
            Diagnostic::error(
                "workload.replication_factor",
                format!(
                    "replication factor {rf} needs at least {rf} brokers, the spec has {brokers}"
                ),
            )
            .hint("add brokers or lower the replication factor"),
        );
    }
    if spec.flavor == Flavor::Diskless
        && brokers > 0
        && brokers < crate::sizing::recommend::DISKLESS_MIN_BROKERS
    {
        d.push(
            Diagnostic::warning(
                "node_groups",
                format!("{brokers} Bufstream brokers: seed 000 recommends at least 6 over 3 AZs"),
            )
            .hint("with 2 per AZ a restarting broker does not push clients across zones"),
        );
    }
}

fn object_store(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    let Some(os) = &spec.object_store else {
        if spec.flavor != Flavor::Classic {
            d.push(
                Diagnostic::error(
                    "object_store",
                    format!(
                        "a {} cluster needs an object_store bucket",
                        spec.flavor.as_str()
                    ),
                )
                .hint("add object_store: {bucket: NAME}"),
            );
        }
        return;
    };
    if spec.flavor == Flavor::Classic {
        d.push(Diagnostic::warning("object_store", "a classic cluster does not use an object store; the bucket would be created but unused"));
    }
    if let Err(why) = check_bucket_name(&os.bucket) {
        d.push(
            Diagnostic::error("object_store.bucket", format!("`{}` is not a valid S3 bucket name: {why}", os.bucket))
                .hint("3-63 characters of lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"),
        );
    }
    match (os.encryption, &os.kms_key_id) {
        (Encryption::SseKms, None) => d.push(
            Diagnostic::error(
                "object_store.kms_key_id",
                "encryption: sse-kms needs kms_key_id",
            )
            .hint("a key id, alias/NAME or key ARN"),
        ),
        (Encryption::SseS3, Some(_)) => d.push(Diagnostic::error(
            "object_store.kms_key_id",
            "kms_key_id is only used with encryption: sse-kms",
        )),
        _ => {}
    }
    let retention = spec.workload.retention;
    if let Some(days) = os.abort_incomplete_multipart_days {
        if days == 0 {
            d.push(Diagnostic::error(
                "object_store.abort_incomplete_multipart_days",
                "must be at least 1 day",
            ));
        } else if u64::from(days) > retention.days_ceil().min(7) {
            d.push(
                Diagnostic::warning("object_store.abort_incomplete_multipart_days", format!("{days} days keeps failed uploads longer than seed 000's maximum of min(7 days, retention)"))
                    .hint(format!("use {} or less", retention.days_ceil().clamp(1, 7))),
            );
        }
    }
    if let Some(exp) = os.expiration_days {
        if u64::from(exp) <= retention.days_ceil() {
            d.push(
                Diagnostic::error("object_store.expiration_days", format!("an expiry of {exp} day(s) is not longer than the topic retention ({retention}): S3 would delete live data"))
                    .hint(format!("remove expiration_days (the brokers delete expired segments themselves) or set it above {}", retention.days_ceil())),
            );
        }
    }
}

/// S3 bucket naming rules (general purpose buckets).
pub fn check_bucket_name(name: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&name.len()) {
        return Err("length must be 3-63");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err("only lower-case letters, digits, dots and hyphens are allowed");
    }
    let first_last_ok =
        |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !first_last_ok(name.chars().next()) || !first_last_ok(name.chars().last()) {
        return Err("must start and end with a letter or digit");
    }
    if name.contains("..") {
        return Err("two adjacent dots are not allowed");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("must not look like an IP address");
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return Err("uses a prefix or suffix S3 reserves");
    }
    Ok(())
}

fn network(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    let n = &spec.network;
    match (&n.vpc_id, n.subnets.is_empty()) {
        (Some(_), true) => d.push(
            Diagnostic::error(
                "network.subnets",
                "an existing vpc_id needs one subnet per AZ",
            )
            .hint("subnets: {us-east-1a: subnet-..., ...}"),
        ),
        (None, false) => d.push(Diagnostic::error(
            "network.vpc_id",
            "subnets were given without the vpc_id they belong to",
        )),
        _ => {}
    }
    if let (Some(_), AvailabilityZones::Named(azs)) = (&n.vpc_id, &spec.availability_zones) {
        for az in azs {
            if !n.subnets.contains_key(az) {
                d.push(Diagnostic::error(
                    "network.subnets",
                    format!("no subnet given for AZ {az}"),
                ));
            }
        }
    }
    if n.vpc_id.is_some() && n.egress != Egress::default() {
        d.push(Diagnostic::warning(
            "network.egress",
            "egress is for a VPC streamctl creates; an existing VPC keeps its own routes",
        ));
    }
    if n.vpc_id.is_some() && n.vpc_cidr.is_some() {
        d.push(Diagnostic::error(
            "network.vpc_cidr",
            "vpc_cidr is for a VPC streamctl creates; it cannot be combined with vpc_id",
        ));
    }
    if let Some(c) = &n.vpc_cidr {
        if let Err(why) = check_cidr(c) {
            d.push(Diagnostic::error(
                "network.vpc_cidr",
                format!("`{c}`: {why}"),
            ));
        } else if !c
            .split_once('/')
            .and_then(|(_, l)| l.parse::<u8>().ok())
            .is_some_and(|l| (16..=24).contains(&l))
        {
            d.push(
                Diagnostic::error("network.vpc_cidr", format!("`{c}`: a VPC CIDR must be /16 to /24"))
                    .hint("streamctl carves one subnet per AZ out of it (a /20 from a /16); e.g. 10.40.0.0/16"),
            );
        }
    }
    for (i, c) in n.client_cidrs.iter().enumerate() {
        if let Err(why) = check_cidr(c) {
            d.push(
                Diagnostic::error(
                    format!("network.client_cidrs[{i}]"),
                    format!("`{c}`: {why}"),
                )
                .hint("e.g. 10.0.0.0/8"),
            );
        } else if c.ends_with("/0") {
            d.push(Diagnostic::warning(
                format!("network.client_cidrs[{i}]"),
                "opens the Kafka ports to the whole internet",
            ));
        }
    }
}

/// IPv4 CIDR syntax.
pub fn check_cidr(c: &str) -> Result<(), &'static str> {
    let (addr, len) = c.split_once('/').ok_or("not a CIDR block (a.b.c.d/len)")?;
    let len: u8 = len.parse().map_err(|_| "prefix length is not a number")?;
    if len > 32 {
        return Err("prefix length must be 0-32");
    }
    addr.parse::<std::net::Ipv4Addr>()
        .map_err(|_| "not an IPv4 address")?;
    Ok(())
}

fn tags(spec: &ClusterSpec, d: &mut Vec<Diagnostic>) {
    for k in spec.tags.keys() {
        if k.starts_with("aws:") || k.starts_with("streamctl:") {
            d.push(
                Diagnostic::error(format!("tags.{k}"), format!("tag key `{k}` uses a reserved prefix"))
                    .hint("`aws:` belongs to AWS and `streamctl:` to the tags streamctl sets to find its resources"),
            );
        }
        if k.is_empty() || k.len() > 128 {
            d.push(Diagnostic::error(
                format!("tags.{k}"),
                "tag keys must be 1-128 characters",
            ));
        }
    }
    if spec.tags.len() > 40 {
        d.push(Diagnostic::error(
            "tags",
            "at most 40 user tags (AWS allows 50 and streamctl sets its own)",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(check_bucket_name("orders-tier").is_ok());
        assert!(check_bucket_name("Orders").is_err());
        assert!(check_bucket_name("ab").is_err());
        assert!(check_bucket_name("a..b").is_err());
        assert!(check_bucket_name("192.168.1.1").is_err());
        assert!(check_bucket_name("-abc").is_err());
    }

    #[test]
    fn cidrs() {
        assert!(check_cidr("10.0.0.0/16").is_ok());
        assert!(check_cidr("10.0.0.0").is_err());
        assert!(check_cidr("10.0.0.0/33").is_err());
        assert!(check_cidr("10.0.0/8").is_err());
    }
}
