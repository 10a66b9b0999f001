//! The files a cluster needs, rendered from `templates/` (pure: spec + options in, files out).

use std::collections::BTreeMap;

use minijinja::context;
use serde::Serialize;

use super::{render, RenderError};
use crate::sizing::catalog::Catalog;
use crate::spec::{ClusterSpec, Distribution, Duration, Flavor, Node, Role};

/// How nodes are addressed and where data lives.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Advertised host per node: `{name}`, `{group}`, `{index}`, `{az}`, `{node_id}` are replaced.
    pub host_template: String,
    /// Address listeners bind to.
    pub listen_host: String,
    /// Kafka port (controllers use the next one); etcd uses 2379/2380 unless `distinct_ports`.
    pub base_port: u16,
    /// Give every node its own pair of ports from `base_port` (several nodes on one host).
    pub distinct_ports: bool,
    pub data_dir: String,
    /// AZs for `availability_zones: auto` (rendering is offline).
    pub azs: Option<Vec<String>>,
    /// Bufstream intake flush interval (`configOverrides.intake.delay_max`).
    pub intake_delay_max: Option<Duration>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            host_template: "{name}".into(),
            listen_host: "0.0.0.0".into(),
            base_port: 9092,
            distinct_ports: false,
            data_dir: "/var/lib/streamctl".into(),
            azs: None,
            intake_delay_max: None,
        }
    }
}

/// Rendered files by relative path, and what the operator should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub files: BTreeMap<String, String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Serialize)]
struct NodeCtx<'a> {
    name: &'a str,
    node_id: u32,
    az: &'a str,
    host: String,
    port: u16,
    controller_port: u16,
    client_port: u16,
    peer_port: u16,
}

/// S3 accepts about 3,500 PUT/s per prefix.
const S3_PUTS_PER_PREFIX: f64 = 3500.0;

/// Everything the templates share, resolved once.
struct Common<'a> {
    spec: &'a ClusterSpec,
    opts: &'a RenderOptions,
    nodes: &'a [Node],
    ctxs: &'a [NodeCtx<'a>],
    bucket: String,
    endpoint_url: Option<String>,
    retention_ms: u64,
    local_retention_ms: u64,
}

pub fn render_cluster(spec: &ClusterSpec, opts: &RenderOptions) -> Result<Rendered, RenderError> {
    let mut warnings = Vec::new();
    let azs = resolve_azs(spec, opts, &mut warnings);
    let nodes = spec.nodes(&azs);
    let azs_count = azs.len() as u32;
    for g in spec
        .node_groups
        .iter()
        .filter(|g| matches!(g.role, Role::Broker | Role::Bufstream))
    {
        if g.count % azs_count != 0 {
            warnings.push(format!("group {}: {} brokers are not a multiple of {} AZs: one AZ carries more load and more data", g.name, g.count, azs_count));
        }
    }
    let ctxs: Vec<NodeCtx> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| ctx_of(opts, i, n))
        .collect();
    let retention_ms = spec.workload.retention.as_ms();
    let c = Common {
        spec,
        opts,
        nodes: &nodes,
        ctxs: &ctxs,
        bucket: spec
            .object_store
            .as_ref()
            .map(|o| o.bucket.clone())
            .unwrap_or_default(),
        endpoint_url: spec
            .object_store
            .as_ref()
            .and_then(|o| o.endpoint_url.clone()),
        retention_ms,
        local_retention_ms: spec
            .workload
            .local_retention
            .map_or(retention_ms, |d| d.as_ms()),
    };
    let mut files = BTreeMap::new();
    match spec.flavor {
        Flavor::Classic | Flavor::Tiered => kafka_files(&c, &mut files)?,
        Flavor::Diskless => diskless_files(&c, &mut files, &mut warnings)?,
    }
    client_files(&c, &azs, &mut files)?;
    user_data_files(&c, &mut files)?;
    Ok(Rendered { files, warnings })
}

/// The spec's AZs, `--azs` when given, else (for `auto`) the region's first three, with a warning.
fn resolve_azs(
    spec: &ClusterSpec,
    opts: &RenderOptions,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    match (&spec.availability_zones, &opts.azs) {
        (_, Some(a)) => a.clone(),
        (crate::spec::AvailabilityZones::Named(a), None) => a.clone(),
        (crate::spec::AvailabilityZones::Pick(_), None) => {
            let a: Vec<String> = ["a", "b", "c"]
                .iter()
                .map(|s| format!("{}{s}", spec.region))
                .collect();
            warnings.push(format!(
                "availability_zones is `auto`: rendered with {}; pass --azs with the AZs provision picked (streamctl inventory shows them)",
                a.join(", ")
            ));
            a
        }
    }
}

/// A node's address and ports.
fn ctx_of<'a>(opts: &RenderOptions, seq: usize, n: &'a Node) -> NodeCtx<'a> {
    let host = opts
        .host_template
        .replace("{name}", &n.name)
        .replace("{group}", &n.group)
        .replace("{index}", &n.index.to_string())
        .replace("{az}", &n.az)
        .replace("{node_id}", &n.node_id.to_string());
    let p = if opts.distinct_ports {
        opts.base_port + 2 * seq as u16
    } else {
        opts.base_port
    };
    let (client, peer) = if opts.distinct_ports {
        (p, p + 1)
    } else {
        (2379, 2380)
    };
    NodeCtx {
        name: &n.name,
        node_id: n.node_id,
        az: &n.az,
        host,
        port: p,
        controller_port: p + 1,
        client_port: client,
        peer_port: peer,
    }
}

/// Kafka (classic or tiered): a server.properties per broker and controller; for tiered, the
/// topic defaults (and Confluent's tier settings).
fn kafka_files(c: &Common, files: &mut BTreeMap<String, String>) -> Result<(), RenderError> {
    let (spec, opts, nodes, ctxs, w) = (c.spec, c.opts, c.nodes, c.ctxs, &c.spec.workload);
    let (bucket, endpoint_url) = (&c.bucket, &c.endpoint_url);
    let (retention_ms, local_retention_ms) = (c.retention_ms, c.local_retention_ms);
    let voters = nodes
        .iter()
        .zip(ctxs)
        .filter(|(n, _)| n.role == Role::Controller)
        .map(|(n, c)| format!("{}@{}:{}", n.node_id, c.host, c.controller_port))
        .collect::<Vec<_>>()
        .join(",");
    let tiered_apache = spec.flavor == Flavor::Tiered && spec.distribution == Distribution::Apache;
    let brokers = spec.broker_count();
    let rf = w.replication_factor.min(brokers.max(1));
    for (n, c) in nodes.iter().zip(ctxs) {
        let role = match n.role {
            Role::Broker => "broker",
            Role::Controller => "controller",
            _ => continue,
        };
        let tput = spec
            .node_groups
            .iter()
            .find(|g| g.name == n.group)
            .and_then(|g| g.data_volume)
            .map_or(125, |v| v.throughput_mibps);
        let quota = tput * 1_048_576 / 2;
        let text = render(
            "kafka/server.properties.j2",
            context! {
                cluster => spec.name, role => role, node => c, listen_host => opts.listen_host,
                voters => voters, data_dir => opts.data_dir, replication_factor => rf,
                min_insync_replicas => w.min_insync_replicas.min(rf), retention_ms => retention_ms,
                tiered => tiered_apache, bucket => bucket, region => spec.region, endpoint_url => endpoint_url,
                tier_copy_bytes => quota, tier_fetch_bytes => quota, local_retention_ms => local_retention_ms,
            },
        )?;
        files.insert(format!("kafka/{}/server.properties", n.name), text);
    }
    if spec.flavor == Flavor::Tiered {
        let ctx = context! {
            cluster => spec.name, bucket => bucket, region => spec.region, endpoint_url => endpoint_url,
            retention_ms => retention_ms, local_retention_ms => local_retention_ms,
            min_insync_replicas => w.min_insync_replicas,
        };
        files.insert(
            "kafka/topic-defaults.properties".into(),
            render("kafka/topic-defaults.properties.j2", &ctx)?,
        );
        if spec.distribution == Distribution::Confluent {
            files.insert(
                "kafka/confluent-tier.env".into(),
                render("kafka/confluent-tier.env.j2", &ctx)?,
            );
        }
    }
    Ok(())
}

/// Bufstream (diskless): the Helm values and one etcd config per etcd node.
fn diskless_files(
    c: &Common,
    files: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(), RenderError> {
    let (spec, opts, nodes, ctxs) = (c.spec, c.opts, c.nodes, c.ctxs);
    let (bucket, endpoint_url) = (&c.bucket, &c.endpoint_url);
    let group = spec.groups(Role::Bufstream).next();
    let replicas = spec.broker_count();
    let catalog = Catalog::embedded();
    let vcpus = match group.and_then(|g| catalog.get(&g.instance_type)) {
        Some(t) => t.vcpus,
        None => {
            warnings.push(
                "the Bufstream instance type is not in the catalog: requests assume 4 vCPUs".into(),
            );
            4
        }
    };
    let cpu = (vcpus / 2).max(2);
    if let Some(d) = opts.intake_delay_max {
        let puts = f64::from(replicas) * 1000.0 / (d.as_ms().max(1) as f64);
        if puts > S3_PUTS_PER_PREFIX {
            warnings.push(format!(
                "intake delay_max {d} with {replicas} brokers writes about {puts:.0} objects/s, above the {S3_PUTS_PER_PREFIX:.0} PUT/s S3 accepts per prefix: expect 503 SlowDown"
            ));
        }
    }
    let etcd: Vec<BTreeMap<&str, String>> = nodes
        .iter()
        .zip(ctxs)
        .filter(|(n, _)| n.role == Role::Etcd)
        .map(|(_, c)| {
            [
                ("host", c.host.clone()),
                ("port", c.client_port.to_string()),
            ]
            .into()
        })
        .collect();
    let text = render(
        "bufstream/values.yaml.j2",
        context! {
            cluster => spec.name, replicas => replicas, cpu => cpu, memory_gib => cpu * 4,
            min_replicas => replicas.max(6), max_replicas => (replicas * 3).max(18),
            bucket => bucket, region => spec.region, endpoint_url => endpoint_url, etcd => etcd,
            delay_max => opts.intake_delay_max.map(|d| d.to_string()),
        },
    )?;
    files.insert("bufstream/values.yaml".into(), text);
    let initial = nodes
        .iter()
        .zip(ctxs)
        .filter(|(n, _)| n.role == Role::Etcd)
        .map(|(n, c)| format!("{}=http://{}:{}", n.name, c.host, c.peer_port))
        .collect::<Vec<_>>()
        .join(",");
    for (n, c) in nodes.iter().zip(ctxs).filter(|(n, _)| n.role == Role::Etcd) {
        let text = render(
            "etcd/etcd.conf.yml.j2",
            context! { cluster => spec.name, node => c, listen_host => opts.listen_host, data_dir => opts.data_dir, initial_cluster => initial },
        )?;
        files.insert(format!("etcd/{}.yml", n.name), text);
    }
    Ok(())
}

/// A producer and a consumer properties file per AZ, with the AZ as `client.rack`.
fn client_files(
    c: &Common,
    azs: &[String],
    files: &mut BTreeMap<String, String>,
) -> Result<(), RenderError> {
    let w = &c.spec.workload;
    let spec = c.spec;
    let bootstrap = c
        .nodes
        .iter()
        .zip(c.ctxs)
        .filter(|(n, _)| matches!(n.role, Role::Broker | Role::Bufstream))
        .take(3)
        .map(|(_, x)| format!("{}:{}", x.host, x.port))
        .collect::<Vec<_>>()
        .join(",");
    for az in azs {
        let ctx = context! { cluster => spec.name, az => az, bootstrap => bootstrap, min_insync_replicas => w.min_insync_replicas };
        files.insert(
            format!("clients/producer-{az}.properties"),
            render("clients/producer.properties.j2", &ctx)?,
        );
        files.insert(
            format!("clients/consumer-{az}.properties"),
            render("clients/consumer.properties.j2", &ctx)?,
        );
    }
    Ok(())
}

/// A user-data script per node, carrying its service config.
fn user_data_files(c: &Common, files: &mut BTreeMap<String, String>) -> Result<(), RenderError> {
    let (spec, opts, nodes) = (c.spec, c.opts, c.nodes);
    let cluster_id = kafka_cluster_id(&spec.name);
    for n in nodes {
        let g = spec
            .node_groups
            .iter()
            .find(|g| g.name == n.group)
            .expect("node of a group");
        let service_config = match n.role {
            Role::Broker | Role::Controller => files
                .get(&format!("kafka/{}/server.properties", n.name))
                .cloned(),
            Role::Etcd => files.get(&format!("etcd/{}.yml", n.name)).cloned(),
            Role::Bufstream => None,
        };
        let text = render(
            "user-data.sh.j2",
            context! {
                cluster => spec.name, group => g.name, role => g.role.as_str(), node_id => n.node_id,
                index => n.index, az => n.az, data_volume => g.data_volume,
                data_label => format!("streamctl-{}", g.role.as_str()), data_dir => opts.data_dir,
                service_config => service_config.unwrap_or_default(), cluster_id => cluster_id,
                region => spec.region, artifact => spec.kafka_artifact,
                artifact_from_s3 => spec.kafka_artifact.as_ref().is_some_and(|a| a.url.starts_with("s3://")),
            },
        )?;
        files.insert(format!("user-data/{}.sh", n.name), text);
    }
    Ok(())
}

/// A stable KRaft cluster id for a cluster name: 16 bytes of SHA-256, base64url (22 characters),
/// so every node formats its log dir with the same id and re-provisioning keeps it.
pub fn kafka_cluster_id(name: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("streamctl:{name}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_stable_kafka_uuids() {
        let id = kafka_cluster_id("orders");
        assert_eq!(id.len(), 22);
        assert_eq!(id, kafka_cluster_id("orders"));
        assert_ne!(id, kafka_cluster_id("clicks"));
    }
}
