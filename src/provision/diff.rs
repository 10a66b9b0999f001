//! What AWS holds ([`Actual`], read by the adapter) and the plan from it to [`Desired`] (pure).

use std::collections::BTreeMap;

use serde::Serialize;

use super::desired::{Bucket, BucketEncryption, Desired, Iam, LaunchTemplate, Rule, SecurityGroup};
use crate::sizing::gp3::Gp3;

/// What the adapter found, by the names and tags streamctl uses.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Actual {
    pub bucket: Option<ActualBucket>,
    pub role_trust_policy: Option<String>,
    pub role_policy: Option<String>,
    /// Instance profile found, with the roles it holds.
    pub instance_profile_roles: Option<Vec<String>>,
    pub vpc_id: Option<String>,
    /// AZ -> (subnet id, CIDR): the private (node) subnets.
    pub subnets: BTreeMap<String, (String, String)>,
    /// AZ -> (subnet id, CIDR): the public subnets of the NAT gateways.
    pub public_subnets: BTreeMap<String, (String, String)>,
    /// (id, attached to the VPC).
    pub internet_gateway: Option<(String, bool)>,
    /// AZ -> NAT gateway id (pending or available ones only).
    pub nat_gateways: BTreeMap<String, String>,
    /// Name -> route table.
    pub route_tables: BTreeMap<String, ActualRouteTable>,
    /// (endpoint id, route table ids) of the VPC's S3 gateway endpoint.
    pub s3_endpoint: Option<(String, Vec<String>)>,
    /// Existing VPC: (AZ, subnet, route table) whose route table has no S3 gateway endpoint.
    pub subnets_without_s3_endpoint: Vec<(String, String, String)>,
    pub security_group: Option<(String, Vec<Rule>)>,
    pub launch_templates: BTreeMap<String, ActualLaunchTemplate>,
    pub instances: Vec<ActualInstance>,
    /// Resources found more than once under one name (left by lost responses of older
    /// versions, or made by hand): (kind, name, ids; the first is the one streamctl uses).
    pub duplicates: Vec<(String, String, Vec<String>)>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActualRouteTable {
    pub id: String,
    /// Target of the 0.0.0.0/0 route (an igw-/nat- id), if any.
    pub default_target: Option<String>,
    /// Subnets explicitly associated.
    pub subnets: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActualBucket {
    /// (abort-incomplete-multipart days, expiration days, number of rules)
    pub lifecycle: Option<(Option<u32>, Option<u32>, usize)>,
    pub public_access_block: Option<[bool; 4]>,
    pub encryption: Option<BucketEncryption>,
    pub ownership: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub policy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ActualLaunchTemplate {
    pub id: String,
    pub version: i64,
    pub instance_type: Option<String>,
    pub image_id: Option<String>,
    pub root_volume_gib: Option<u64>,
    pub data_volume: Option<Gp3>,
    pub data_encrypted: bool,
    pub http_tokens_required: bool,
    pub hop_limit: Option<i32>,
    pub instance_profile: Option<String>,
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActualInstance {
    pub id: String,
    pub group: String,
    pub index: u32,
    pub az: String,
    pub state: String,
    /// RFC 3339 launch time (duplicates keep the oldest).
    pub launch_time: String,
    /// Boot status the node's user-data tagged (`streamctl:boot`), if any.
    pub boot: Option<String>,
}

/// What a plan does to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    NoOp,
    /// Differs in a way streamctl will not change by itself (it would delete or move data).
    Drift,
}

/// One line of a plan. `kind` names the AWS resource (and the call family that fixes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    /// What differs, `field: now -> wanted`.
    pub details: Vec<String>,
}

impl Change {
    fn new(
        kind: &'static str,
        name: impl Into<String>,
        action: Action,
        details: Vec<String>,
    ) -> Self {
        Self {
            kind,
            name: name.into(),
            action,
            details,
        }
    }
}

/// Compare two JSON policy documents, ignoring formatting and one-element lists.
pub fn same_policy(a: &str, b: &str) -> bool {
    fn norm(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Array(mut xs) if xs.len() == 1 => norm(xs.remove(0)),
            Value::Array(xs) => Value::Array(xs.into_iter().map(norm).collect()),
            Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, norm(v))).collect()),
            other => other,
        }
    }
    match (serde_json::from_str(a), serde_json::from_str(b)) {
        (Ok(x), Ok(y)) => norm(x) == norm(y),
        _ => a == b,
    }
}

fn field<T: PartialEq + std::fmt::Debug>(
    details: &mut Vec<String>,
    name: &str,
    now: Option<&T>,
    want: &T,
) {
    if now != Some(want) {
        details.push(match now {
            Some(n) => format!("{name}: {n:?} -> {want:?}"),
            None => format!("{name}: (none) -> {want:?}"),
        });
    }
}

fn one(kind: &'static str, name: &str, exists: bool, details: Vec<String>) -> Change {
    let action = if !exists {
        Action::Create
    } else if details.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    };
    Change::new(kind, name, action, details)
}

/// The plan: one change per resource, in dependency order.
pub fn diff(d: &Desired, a: &Actual) -> Vec<Change> {
    let mut out = Vec::new();
    if let Some(b) = &d.bucket {
        bucket(b, a.bucket.as_ref(), &mut out);
    }
    if let Some(i) = &d.iam {
        iam(i, a, &mut out);
    }
    network(d, a, &mut out);
    out.push(security_group(&d.network.security_group, a));
    for lt in &d.launch_templates {
        out.push(launch_template(lt, a.launch_templates.get(&lt.name)));
    }
    instances(d, a, &mut out);
    out
}

/// The bucket and each of its settings, as separate changes so the plan shows which one drifted.
fn bucket(b: &Bucket, ab: Option<&ActualBucket>, out: &mut Vec<Change>) {
    let exists = ab.is_some();
    out.push(Change::new(
        "s3-bucket",
        &b.name,
        if exists { Action::NoOp } else { Action::Create },
        vec![],
    ));
    let mut det = vec![];
    field(
        &mut det,
        "block_public_access",
        ab.and_then(|x| x.public_access_block.as_ref()),
        &[true; 4],
    );
    out.push(one("s3-public-access-block", &b.name, exists, det));
    let mut det = vec![];
    field(
        &mut det,
        "default_encryption",
        ab.and_then(|x| x.encryption.as_ref()),
        &b.encryption,
    );
    out.push(one("s3-encryption", &b.name, exists, det));
    let mut det = vec![];
    field(
        &mut det,
        "object_ownership",
        ab.and_then(|x| x.ownership.as_ref()),
        &b.ownership,
    );
    out.push(one("s3-ownership", &b.name, exists, det));
    let mut det = vec![];
    field(
        &mut det,
        "lifecycle (abort multipart days, expiration days, rules)",
        ab.and_then(|x| x.lifecycle.as_ref()),
        &(Some(b.abort_multipart_days), b.expiration_days, 1),
    );
    out.push(one("s3-lifecycle", &b.name, exists, det));
    let mut det = vec![];
    let tags_now = ab.map(|x| &x.tags);
    if tags_now != Some(&b.tags) {
        det.push(format!(
            "tags: {} -> {}",
            tags_now.map_or(0, |t| t.len()),
            b.tags.len()
        ));
    }
    out.push(one("s3-tags", &b.name, exists, det));
    if let Some(p) = &b.policy {
        let now = ab.and_then(|x| x.policy.as_deref());
        let det = if now.is_some_and(|n| same_policy(n, p)) {
            vec![]
        } else {
            vec![format!(
                "policy: {} -> deny non-TLS",
                if now.is_some() { "other" } else { "(none)" }
            )]
        };
        out.push(one("s3-policy", &b.name, exists, det));
    }
}

/// The role, its inline policy and the instance profile.
fn iam(i: &Iam, a: &Actual, out: &mut Vec<Change>) {
    let det = match &a.role_trust_policy {
        Some(t) if !same_policy(t, &i.trust_policy) => vec!["trust policy differs".to_string()],
        _ => vec![],
    };
    out.push(one(
        "iam-role",
        &i.role_name,
        a.role_trust_policy.is_some(),
        det,
    ));
    let det = match &a.role_policy {
        Some(p) if !same_policy(p, &i.policy) => {
            vec!["policy: -> exactly the five object-store actions".to_string()]
        }
        _ => vec![],
    };
    out.push(one(
        "iam-role-policy",
        &i.role_name,
        a.role_policy.is_some(),
        det,
    ));
    let det = match &a.instance_profile_roles {
        Some(r) if r != &vec![i.role_name.clone()] => {
            vec![format!("roles: {r:?} -> [{:?}]", i.role_name)]
        }
        _ => vec![],
    };
    out.push(one(
        "iam-instance-profile",
        &i.instance_profile_name,
        a.instance_profile_roles.is_some(),
        det,
    ));
}

/// The nodes' security group: rules to add and rules found that the spec does not hold.
fn security_group(sg: &SecurityGroup, a: &Actual) -> Change {
    let det = match &a.security_group {
        Some((_, rules)) => {
            let mut det = vec![];
            for r in sg.rules.iter().filter(|r| !rules.contains(r)) {
                det.push(format!(
                    "add tcp {}-{} from {} ({})",
                    r.from_port, r.to_port, r.source, r.description
                ));
            }
            for r in rules.iter().filter(|r| {
                !sg.rules.iter().any(|w| {
                    w.from_port == r.from_port && w.to_port == r.to_port && w.source == r.source
                })
            }) {
                det.push(format!(
                    "remove tcp {}-{} from {}",
                    r.from_port, r.to_port, r.source
                ));
            }
            det
        }
        None => vec![],
    };
    one("security-group", &sg.name, a.security_group.is_some(), det)
}

/// One launch template against the one found under its name.
fn launch_template(lt: &LaunchTemplate, now: Option<&ActualLaunchTemplate>) -> Change {
    let det = match now {
        Some(x) => {
            let mut det = vec![];
            field(
                &mut det,
                "instance_type",
                x.instance_type.as_ref(),
                &lt.instance_type,
            );
            if let Some(img) = &lt.image_id {
                field(&mut det, "image_id", x.image_id.as_ref(), img);
            }
            field(
                &mut det,
                "root_volume_gib",
                x.root_volume_gib.as_ref(),
                &lt.root_volume_gib,
            );
            if x.data_volume != lt.data_volume {
                det.push(format!(
                    "data_volume: {:?} -> {:?}",
                    x.data_volume, lt.data_volume
                ));
            }
            if !x.http_tokens_required {
                det.push("imds: optional -> IMDSv2 required".into());
            }
            field(
                &mut det,
                "imds_hop_limit",
                x.hop_limit.as_ref(),
                &lt.imds_hop_limit,
            );
            if x.instance_profile != lt.instance_profile {
                det.push(format!(
                    "instance_profile: {:?} -> {:?}",
                    x.instance_profile, lt.instance_profile
                ));
            }
            det
        }
        None => vec![],
    };
    one("launch-template", &lt.name, now.is_some(), det)
}

/// Instances: to create, in the wrong AZ, carrying one node id twice, or not in the spec;
/// then resources found twice under one name.
fn instances(d: &Desired, a: &Actual, out: &mut Vec<Change>) {
    for i in &d.instances {
        let same: Vec<&ActualInstance> = a
            .instances
            .iter()
            .filter(|x| x.group == i.group && x.index == i.index)
            .collect();
        let found = (!same.is_empty()).then(|| keep_of(&same));
        let (action, det) = match found {
            None => (Action::Create, vec![format!("{} in {}", i.launch_template, i.az)]),
            Some(x) if x.az != i.az => (Action::Drift, vec![format!("runs in {}, the spec places it in {} (replacing it moves its data: drain it first)", x.az, i.az)]),
            Some(_) => (Action::NoOp, vec![]),
        };
        out.push(Change::new("instance", &i.name, action, det));
    }
    for i in &d.instances {
        let same: Vec<&ActualInstance> = a
            .instances
            .iter()
            .filter(|x| x.group == i.group && x.index == i.index)
            .collect();
        if same.len() > 1 {
            let keep = keep_of(&same);
            let extra: Vec<&str> = same
                .iter()
                .filter(|x| x.id != keep.id)
                .map(|x| x.id.as_str())
                .collect();
            out.push(Change::new(
                "duplicate",
                format!("instance {} (node id {})", i.name, i.node_id),
                Action::Drift,
                vec![format!(
                    "{} instances carry this node id: keeps {} (oldest), extra {}; `provision --prune-duplicates` terminates the extra ones (their data volumes are kept)",
                    same.len(),
                    keep.id,
                    extra.join(", ")
                )],
            ));
        }
    }
    for (kind, name, ids) in &a.duplicates {
        out.push(Change::new(
            "duplicate",
            format!("{kind} {name}"),
            Action::Drift,
            vec![format!(
                "{} found under this name: streamctl uses {}; check the others ({}) are empty and delete them by hand",
                ids.len(),
                ids[0],
                ids[1..].join(", ")
            )],
        ));
    }
    for x in &a.instances {
        if !d
            .instances
            .iter()
            .any(|i| i.group == x.group && i.index == x.index)
        {
            out.push(Change::new(
                "instance",
                format!("{} {}-{}", x.id, x.group, x.index),
                Action::Drift,
                vec!["not in the spec (scale-in is never automatic: drain with `streamctl reassign --remove-brokers`, then terminate)".into()],
            ));
        }
    }
}

/// Of instances with one node id, the one to keep: the oldest (then the lowest id).
pub fn keep_of<'a>(same: &[&'a ActualInstance]) -> &'a ActualInstance {
    same.iter()
        .min_by(|x, y| (&x.launch_time, &x.id).cmp(&(&y.launch_time, &y.id)))
        .copied()
        .expect("not empty")
}

/// The network's changes, in dependency order: VPC, subnets, internet gateway, NAT gateways,
/// route tables, the S3 gateway endpoint (the security group follows in `diff`).
fn network(d: &Desired, a: &Actual, out: &mut Vec<Change>) {
    let n = &d.network;
    if let Some(v) = &n.existing_vpc {
        existing_network(d, a, v, out);
        return;
    }
    let vpc = a.vpc_id.is_some();
    out.push(one("vpc", &n.vpc_name, vpc, vec![]));
    let subnets = |kind: &'static str,
                   want: &BTreeMap<String, String>,
                   have: &BTreeMap<String, (String, String)>,
                   out: &mut Vec<Change>| {
        for (az, cidr) in want {
            let det = match have.get(az) {
                Some((_, c)) if c != cidr => vec![format!(
                    "cidr {c} (spec wants {cidr}; subnets cannot change CIDR)"
                )],
                _ => vec![],
            };
            let action = match have.get(az) {
                None => Action::Create,
                Some(_) if det.is_empty() => Action::NoOp,
                Some(_) => Action::Drift,
            };
            out.push(Change::new(kind, format!("{az} {cidr}"), action, det));
        }
    };
    subnets("subnet", &n.subnet_cidrs, &a.subnets, out);
    subnets(
        "public-subnet",
        &n.public_subnet_cidrs,
        &a.public_subnets,
        out,
    );
    egress(d, a, out);
    for az in &d.azs {
        let (target, what) = match n.nat_for(az) {
            Some(nat_az) => (
                Some(a.nat_gateways.get(nat_az).map(String::as_str)),
                format!("the NAT gateway in {nat_az}"),
            ),
            None => (None, String::new()),
        };
        let rt = n.private_route_table(az);
        let subnet = a.subnets.get(az).map(|s| s.0.as_str());
        match target {
            Some(t) => route_table(out, a, &rt, t, &what, &[subnet]),
            None => route_table_without_default(out, a, &rt, &[subnet]),
        }
    }
    if n.s3_endpoint {
        out.push(s3_endpoint(d, a));
    }
}

/// A VPC and subnets the spec names (`vpc_id`): found or not, never changed; and whether
/// their route tables reach S3 without a NAT gateway.
fn existing_network(d: &Desired, a: &Actual, v: &str, out: &mut Vec<Change>) {
    let n = &d.network;
    let found = a.vpc_id.as_deref() == Some(v);
    out.push(Change::new(
        "vpc",
        v,
        if found { Action::NoOp } else { Action::Drift },
        if found {
            vec![]
        } else {
            vec!["the spec's vpc_id was not found".into()]
        },
    ));
    for az in &d.azs {
        let want = n.existing_subnets.get(az).cloned().unwrap_or_default();
        let ok = a.subnets.get(az).is_some_and(|(id, _)| *id == want);
        out.push(Change::new(
            "subnet",
            format!("{az} {want}"),
            if ok { Action::NoOp } else { Action::Drift },
            if ok {
                vec![]
            } else {
                vec![format!("subnet {want} not found in {az}")]
            },
        ));
    }
    if n.s3_endpoint && found {
        let missing = &a.subnets_without_s3_endpoint;
        out.push(Change::new(
            "s3-endpoint",
            v,
            if missing.is_empty() {
                Action::NoOp
            } else {
                Action::Drift
            },
            missing
                .iter()
                .map(|(az, s, rt)| {
                    format!(
                        "{az} {s}: route table {rt} has no S3 gateway endpoint; S3 traffic leaves through its default route (through a NAT gateway about ${:.0}/month at $0.045/GB): add a gateway endpoint for com.amazonaws.{}.s3 to {rt}",
                        n.s3_via_nat_usd_month, d.region
                    )
                })
                .collect(),
        ));
    }
}

/// The internet gateway, the NAT gateways the egress setting uses, the public route table,
/// and NAT gateways found that it no longer uses (reported, never deleted).
fn egress(d: &Desired, a: &Actual, out: &mut Vec<Change>) {
    let n = &d.network;
    if !n.nat_azs.is_empty() {
        let det = match &a.internet_gateway {
            Some((_, false)) => vec!["attach to the VPC".to_string()],
            _ => vec![],
        };
        out.push(one(
            "internet-gateway",
            &n.vpc_name,
            a.internet_gateway.is_some(),
            det,
        ));
        for az in &n.nat_azs {
            out.push(one(
                "nat-gateway",
                &format!("{}-nat-{az}", n.vpc_name),
                a.nat_gateways.contains_key(az),
                vec![],
            ));
        }
        let igw = a.internet_gateway.as_ref().map(|g| g.0.as_str());
        let want_subnets: Vec<Option<&str>> = n
            .public_subnet_cidrs
            .keys()
            .map(|az| a.public_subnets.get(az).map(|s| s.0.as_str()))
            .collect();
        route_table(
            out,
            a,
            &n.public_route_table(),
            igw,
            "the internet gateway",
            &want_subnets,
        );
    }
    // NAT gateways the egress setting no longer uses (after nat-per-az -> nat-single or none):
    // they cost by the hour, but deleting one is left to the operator.
    for (az, id) in &a.nat_gateways {
        if !n.nat_azs.contains(az) {
            out.push(Change::new(
                "nat-gateway",
                format!("{}-nat-{az} {id}", n.vpc_name),
                Action::Drift,
                vec![format!(
                    "not used with egress {} (about ${:.0}/month): delete it and release its address, or run destroy",
                    n.egress.as_str(),
                    crate::sizing::cost::PriceList::default().nat_hours_month(1)
                )],
            ));
        }
    }
}

/// The S3 gateway endpoint, attached to every private route table.
fn s3_endpoint(d: &Desired, a: &Actual) -> Change {
    let n = &d.network;
    let want: Vec<Option<&str>> = d
        .azs
        .iter()
        .map(|az| {
            a.route_tables
                .get(&n.private_route_table(az))
                .map(|r| r.id.as_str())
        })
        .collect();
    let det: Vec<String> = match &a.s3_endpoint {
        Some((_, have)) => want
            .iter()
            .zip(&d.azs)
            .filter(|(w, _)| !w.is_some_and(|w| have.iter().any(|h| h == w)))
            .map(|(_, az)| format!("attach to {}", n.private_route_table(az)))
            .collect(),
        None => vec![],
    };
    one(
        "s3-endpoint",
        &format!("{}-s3", n.vpc_name),
        a.s3_endpoint.is_some(),
        det,
    )
}

/// A route table whose 0.0.0.0/0 goes to `target` (None: not created yet), associated with
/// `subnets` (None: not created yet).
fn route_table(
    out: &mut Vec<Change>,
    a: &Actual,
    name: &str,
    target: Option<&str>,
    what: &str,
    subnets: &[Option<&str>],
) {
    let have = a.route_tables.get(name);
    let mut det = vec![];
    if let Some(rt) = have {
        if target.is_none() || rt.default_target.as_deref() != target {
            det.push(format!(
                "0.0.0.0/0: {} -> {what}",
                rt.default_target.as_deref().unwrap_or("(none)")
            ));
        }
        associations(&mut det, rt, subnets);
    }
    out.push(one("route-table", name, have.is_some(), det));
}

fn route_table_without_default(
    out: &mut Vec<Change>,
    a: &Actual,
    name: &str,
    subnets: &[Option<&str>],
) {
    let have = a.route_tables.get(name);
    let mut det = vec![];
    if let Some(rt) = have {
        if let Some(t) = &rt.default_target {
            det.push(format!("0.0.0.0/0: {t} -> (none: egress is none)"));
        }
        associations(&mut det, rt, subnets);
    }
    out.push(one("route-table", name, have.is_some(), det));
}

fn associations(det: &mut Vec<String>, rt: &ActualRouteTable, subnets: &[Option<&str>]) {
    for s in subnets {
        match s {
            Some(s) if rt.subnets.iter().any(|x| x == s) => {}
            Some(s) => det.push(format!("associate {s}")),
            None => det.push("associate the new subnet".into()),
        }
    }
}

/// Counts of a plan's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub no_op: usize,
    pub drift: usize,
}

pub fn counts(plan: &[Change]) -> Counts {
    let mut c = Counts::default();
    for ch in plan {
        match ch.action {
            Action::Create => c.create += 1,
            Action::Update => c.update += 1,
            Action::NoOp => c.no_op += 1,
            Action::Drift => c.drift += 1,
        }
    }
    c
}

#[cfg(test)]
mod tests;
