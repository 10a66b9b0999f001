//! Sustained-throughput models (pure). Every formula here is derived in `docs/sizing.md`.
//!
//! * classic  — seed 001, Equation 1 (EBS-backed brokers).
//! * tiered   — seed 002 (KIP-405 / MSK tiered storage): the storage and attached-storage terms are
//!   divided by `r + 1 + lagging` (the `1` is the segment upload read), the network term by
//!   `tip + r + remote`.
//! * diskless — object storage only (Bufstream-style): a full-duplex network model plus a CPU term
//!   from seed 000 (about 16 vCPUs per 1 GiB/s).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How brokers keep their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageModel {
    /// All data on broker-attached EBS volumes.
    Classic,
    /// Recent segments on EBS, closed segments in object storage (KIP-405).
    Tiered,
    /// No broker disk for data: everything in object storage.
    Diskless,
}

impl StorageModel {
    pub const ALL: [StorageModel; 3] = [Self::Classic, Self::Tiered, Self::Diskless];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Classic => "classic",
            Self::Tiered => "tiered",
            Self::Diskless => "diskless",
        }
    }
}

impl std::fmt::Display for StorageModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which resource sets the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bottleneck {
    /// The data volume's provisioned throughput.
    Storage,
    /// The instance's dedicated EBS bandwidth.
    EbsNetwork,
    /// The instance's network bandwidth (outbound, which is the binding direction for Kafka).
    Ec2Network,
    /// Diskless: inbound network (producer ingress + object-store reads).
    Ec2NetworkIn,
    /// Diskless: outbound network (object-store writes + consumer egress).
    Ec2NetworkOut,
    /// Diskless: CPU (seed 000's ~16 vCPUs per GiB/s).
    Cpu,
}

impl Bottleneck {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Storage => "storage",
            Self::EbsNetwork => "ebs_network",
            Self::Ec2Network => "ec2_network",
            Self::Ec2NetworkIn => "ec2_network_in",
            Self::Ec2NetworkOut => "ec2_network_out",
            Self::Cpu => "cpu",
        }
    }
}

/// Consumer groups, by where they read from. Each group reads the full ingress rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerGroups {
    /// Reading at the tip, served from page cache.
    pub tip: u32,
    /// Lagging: reading older data from the broker's local (EBS) volume.
    pub lagging: u32,
    /// Tiered only: reading from the remote tier.
    pub remote: u32,
}

impl ConsumerGroups {
    pub fn total(&self) -> u32 {
        self.tip + self.lagging + self.remote
    }
}

/// Per-broker resources that bound throughput, MB/s.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BrokerResources {
    /// Provisioned throughput of the data volume (gp3: 125..2000; seed 001 assumes 250).
    pub volume_throughput_mbps: f64,
    /// Baseline EBS bandwidth of the instance.
    pub ebs_baseline_mbps: f64,
    /// Baseline network bandwidth of the instance, per direction.
    pub network_baseline_mbps: f64,
    /// vCPUs (diskless CPU term).
    pub vcpus: u32,
}

/// Parameters only the diskless model uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DisklessParams {
    /// How many times each byte is fetched from object storage across the cluster. `None` means
    /// the default: one fetch per availability zone that has readers, `min(groups, azs)`, because a
    /// zone-aware broker cache serves every group of its zone from one fetch.
    pub object_read_factor: Option<f64>,
    /// Availability zones (for the default read factor).
    pub azs: u32,
    /// Sustained ingress one vCPU handles, MB/s (seed 000: 1 GiB/s on 16 cores = 64).
    pub mbps_per_vcpu: f64,
}

impl Default for DisklessParams {
    fn default() -> Self {
        Self {
            object_read_factor: None,
            azs: 3,
            mbps_per_vcpu: DISKLESS_MBPS_PER_VCPU,
        }
    }
}

/// Seed 000: "a 1GiB/s workload may demand 16 cores" -> 1024 MB/s / 16 vCPU.
pub const DISKLESS_MBPS_PER_VCPU: f64 = 64.0;
/// Seed 001: target 80% of the sustained limit.
pub const DEFAULT_HEADROOM: f64 = 0.8;
/// Seed 001: "we can assume the EBS volume has a baseline throughput of 250 MB/sec".
pub const DEFAULT_VOLUME_THROUGHPUT_MBPS: f64 = 250.0;

/// Everything one throughput estimate needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThroughputInput {
    pub model: StorageModel,
    pub brokers: u32,
    pub replication_factor: u32,
    pub consumers: ConsumerGroups,
    pub resources: BrokerResources,
    /// Fraction of the sustained limit to plan for (0 < headroom <= 1).
    pub headroom: f64,
    pub diskless: DisklessParams,
}

/// One bounding term of a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitTerm {
    pub name: Bottleneck,
    /// The cluster ingress this resource alone allows, MB/s.
    pub mbps: f64,
    /// The formula with the numbers filled in.
    pub formula: String,
}

/// The answer of a throughput model. Field names are a stable contract (`--output json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThroughputEstimate {
    pub model: StorageModel,
    pub brokers: u32,
    pub replication_factor: u32,
    pub consumer_groups: ConsumerGroups,
    /// The theoretical sustained cluster ingress limit, MB/s: the minimum of all terms.
    pub sustained_limit_mbps: f64,
    /// `headroom × sustained_limit_mbps`.
    pub recommended_mbps: f64,
    pub headroom: f64,
    pub bottleneck: Bottleneck,
    /// Each term's limit by name (`storage`, `ebs_network`, `ec2_network`, ...), MB/s.
    pub limits: BTreeMap<&'static str, f64>,
    /// The same terms with their formulas, in model order.
    pub terms: Vec<LimitTerm>,
    /// Cluster network traffic per byte of ingress (seed 003's `RF + 1 + groups` for tiered).
    pub network_multiplier: f64,
    pub resources: BrokerResources,
    /// Caveats worth reading next to the number.
    pub notes: Vec<String>,
}

/// Reasons a throughput question has no answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error("brokers must be at least 1")]
    NoBrokers,
    #[error("replication factor must be at least 1")]
    NoReplication,
    #[error("replication factor {rf} is larger than the broker count {brokers}")]
    ReplicationAboveBrokers { rf: u32, brokers: u32 },
    #[error("headroom must be in (0, 1], got {0}")]
    Headroom(f64),
    #[error("{what} must be a positive number of MB/s, got {value}")]
    NonPositive { what: &'static str, value: f64 },
    #[error("remote consumer groups only exist with tiered storage (got {0} with classic)")]
    RemoteWithoutTier(u32),
}

fn check(input: &ThroughputInput) -> Result<(), ModelError> {
    if input.brokers == 0 {
        return Err(ModelError::NoBrokers);
    }
    if input.replication_factor == 0 {
        return Err(ModelError::NoReplication);
    }
    if input.model != StorageModel::Diskless && input.replication_factor > input.brokers {
        return Err(ModelError::ReplicationAboveBrokers {
            rf: input.replication_factor,
            brokers: input.brokers,
        });
    }
    if !(input.headroom > 0.0 && input.headroom <= 1.0) {
        return Err(ModelError::Headroom(input.headroom));
    }
    let r = &input.resources;
    for (what, value) in [
        ("volume throughput", r.volume_throughput_mbps),
        ("EBS baseline", r.ebs_baseline_mbps),
        ("network baseline", r.network_baseline_mbps),
    ] {
        if !(value > 0.0 && value.is_finite()) {
            return Err(ModelError::NonPositive { what, value });
        }
    }
    if input.model == StorageModel::Classic && input.consumers.remote > 0 {
        return Err(ModelError::RemoteWithoutTier(input.consumers.remote));
    }
    Ok(())
}

/// Estimate the sustained throughput limit of a cluster.
pub fn estimate(input: &ThroughputInput) -> Result<ThroughputEstimate, ModelError> {
    check(input)?;
    let g = input.consumers;
    let res = input.resources;
    let mut notes = Vec::new();
    let (terms, multiplier) = match input.model {
        StorageModel::Classic => classic_terms(input),
        StorageModel::Tiered => tiered_terms(input, &mut notes),
        StorageModel::Diskless => diskless_terms(input, &mut notes),
    };
    // On a tie the later term wins: terms are ordered from what provisioning can raise (volume
    // throughput) to what only a larger instance raises (network), and the seed names the
    // network as the limit when provisioned throughput was chosen to match it exactly.
    let bottleneck_term = terms
        .iter()
        .rev()
        .min_by(|a, b| a.mbps.total_cmp(&b.mbps))
        .expect("every model has terms");
    let sustained = bottleneck_term.mbps;
    Ok(ThroughputEstimate {
        model: input.model,
        brokers: input.brokers,
        replication_factor: input.replication_factor,
        consumer_groups: g,
        sustained_limit_mbps: sustained,
        recommended_mbps: sustained * input.headroom,
        headroom: input.headroom,
        bottleneck: bottleneck_term.name,
        limits: terms.iter().map(|t| (t.name.as_str(), t.mbps)).collect(),
        terms,
        network_multiplier: multiplier,
        resources: res,
        notes,
    })
}

/// Equation 1's terms (classic brokers) and the network multiplier.
fn classic_terms(input: &ThroughputInput) -> (Vec<LimitTerm>, f64) {
    let b = f64::from(input.brokers);
    let r = f64::from(input.replication_factor);
    let g = input.consumers;
    let (tip, lag) = (f64::from(g.tip), f64::from(g.lagging));
    let res = input.resources;
    // Equation 1. Lagging groups read from the volume (seed 001, "consumer not reading
    // from the tip"), so they load storage like an extra replica; with lagging = 0 this is
    // exactly the published equation.
    let disk = r + lag;
    let net = tip + lag + r - 1.0;
    let terms = vec![
        term(
            Bottleneck::Storage,
            res.volume_throughput_mbps,
            b,
            disk,
            format!("{} × {} / ({} + {})", res.volume_throughput_mbps, b, r, lag),
        ),
        term(
            Bottleneck::EbsNetwork,
            res.ebs_baseline_mbps,
            b,
            disk,
            format!("{} × {} / ({} + {})", res.ebs_baseline_mbps, b, r, lag),
        ),
        term(
            Bottleneck::Ec2Network,
            res.network_baseline_mbps,
            b,
            net,
            format!(
                "{} × {} / ({} + {} - 1)",
                res.network_baseline_mbps,
                b,
                tip + lag,
                r
            ),
        ),
    ];
    (terms, r + tip + lag)
}

/// Seed 002's terms (tiered storage: one more read for the upload, remote groups on the
/// network) and the network multiplier.
fn tiered_terms(input: &ThroughputInput, notes: &mut Vec<String>) -> (Vec<LimitTerm>, f64) {
    let b = f64::from(input.brokers);
    let r = f64::from(input.replication_factor);
    let g = input.consumers;
    let (tip, lag, remote) = (f64::from(g.tip), f64::from(g.lagging), f64::from(g.remote));
    let res = input.resources;
    let disk = r + 1.0 + lag;
    let net = tip + r + remote;
    if g.lagging > 0 {
        notes.push(
            "seed 002's network term counts tip and remote groups only; lagging groups also \
                 egress over the network, so keep extra network headroom for them"
                .to_string(),
        );
    }
    let terms = vec![
        term(
            Bottleneck::Storage,
            res.volume_throughput_mbps,
            b,
            disk,
            format!(
                "{} × {} / ({} + 1 + {})",
                res.volume_throughput_mbps, b, r, lag
            ),
        ),
        term(
            Bottleneck::EbsNetwork,
            res.ebs_baseline_mbps,
            b,
            disk,
            format!("{} × {} / ({} + 1 + {})", res.ebs_baseline_mbps, b, r, lag),
        ),
        term(
            Bottleneck::Ec2Network,
            res.network_baseline_mbps,
            b,
            net,
            format!(
                "{} × {} / ({} + {} + {})",
                res.network_baseline_mbps, b, tip, r, remote
            ),
        ),
    ];
    (terms, r + 1.0 + f64::from(g.total()))
}

/// Diskless terms: network in and out per object read factor, and CPU; and the multiplier.
fn diskless_terms(input: &ThroughputInput, notes: &mut Vec<String>) -> (Vec<LimitTerm>, f64) {
    let b = f64::from(input.brokers);
    let g = input.consumers;
    let res = input.resources;
    let groups = f64::from(g.total());
    let read_factor = input
        .diskless
        .object_read_factor
        .unwrap_or_else(|| groups.min(f64::from(input.diskless.azs.max(1))));
    let vcpus = f64::from(res.vcpus.max(1));
    notes.push(
        "diskless: durability comes from the object store, so the replication factor does \
             not load broker networks or disks"
            .to_string(),
    );
    let terms = vec![
        term(
            Bottleneck::Ec2NetworkIn,
            res.network_baseline_mbps,
            b,
            1.0 + read_factor,
            format!(
                "{} × {} / (1 + {})",
                res.network_baseline_mbps, b, read_factor
            ),
        ),
        term(
            Bottleneck::Ec2NetworkOut,
            res.network_baseline_mbps,
            b,
            1.0 + groups,
            format!("{} × {} / (1 + {})", res.network_baseline_mbps, b, groups),
        ),
        LimitTerm {
            name: Bottleneck::Cpu,
            mbps: input.diskless.mbps_per_vcpu * vcpus * b,
            formula: format!("{} × {} × {}", input.diskless.mbps_per_vcpu, vcpus, b),
        },
    ];
    (terms, 2.0 + read_factor + groups)
}

fn term(
    name: Bottleneck,
    per_broker: f64,
    brokers: f64,
    divisor: f64,
    formula: String,
) -> LimitTerm {
    let mbps = if divisor <= 0.0 {
        f64::INFINITY
    } else {
        per_broker * brokers / divisor
    };
    LimitTerm {
        name,
        mbps,
        formula,
    }
}

/// Seconds in a day.
pub const DAY_SECS: u64 = 86_400;

/// Storage capacity a workload needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Capacity {
    /// Bytes on broker volumes across the cluster (all replicas).
    pub local_bytes: f64,
    /// Bytes in object storage (one copy: the store provides durability).
    pub remote_bytes: f64,
}

/// Bytes retained for a workload. Ingress MB/s is read as MiB/s (2^20 bytes/s), as seed 002's
/// "34.6 TB" for 20 MB/s × 7 days × RF 3 is (that figure is TiB).
///
/// * classic: `retention × ingress × RF` on brokers.
/// * tiered: `local_retention × ingress × RF` on brokers plus `retention × ingress` remote
///   (seed 003: "only one copy of the partition is uploaded").
/// * diskless: `retention × ingress` remote only.
pub fn capacity(
    model: StorageModel,
    ingress_mbps: f64,
    replication_factor: u32,
    retention_secs: u64,
    local_retention_secs: Option<u64>,
) -> Capacity {
    let bps = ingress_mbps * MIB;
    let rf = f64::from(replication_factor);
    let total = bps * retention_secs as f64;
    match model {
        StorageModel::Classic => Capacity {
            local_bytes: total * rf,
            remote_bytes: 0.0,
        },
        StorageModel::Tiered => {
            let local = local_retention_secs
                .unwrap_or(retention_secs)
                .min(retention_secs);
            Capacity {
                local_bytes: bps * local as f64 * rf,
                remote_bytes: total,
            }
        }
        StorageModel::Diskless => Capacity {
            local_bytes: 0.0,
            remote_bytes: total,
        },
    }
}

/// Bytes in a MiB.
pub const MIB: f64 = 1_048_576.0;
/// Bytes in a GiB.
pub const GIB: f64 = 1_073_741_824.0;
/// Bytes in a TiB.
pub const TIB: f64 = 1_099_511_627_776.0;

/// Seed 003: the longest a tiered rebalance can take, seconds:
/// `segment_size × partitions / throttle` (only untiered, open segments move).
pub fn tiered_rebalance_bound_secs(
    segment_bytes: f64,
    partitions: u64,
    throttle_bytes_per_sec: f64,
) -> f64 {
    segment_bytes * partitions as f64 / throttle_bytes_per_sec
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        model: StorageModel,
        brokers: u32,
        rf: u32,
        groups: ConsumerGroups,
    ) -> ThroughputInput {
        ThroughputInput {
            model,
            brokers,
            replication_factor: rf,
            consumers: groups,
            resources: BrokerResources {
                volume_throughput_mbps: 250.0,
                ebs_baseline_mbps: 81.25,
                network_baseline_mbps: 96.0,
                vcpus: 2,
            },
            headroom: 0.8,
            diskless: DisklessParams::default(),
        }
    }

    #[test]
    fn classic_m5_large_three_brokers_two_groups_is_seed_58() {
        let e = estimate(&input(
            StorageModel::Classic,
            3,
            3,
            ConsumerGroups {
                tip: 2,
                ..Default::default()
            },
        ))
        .unwrap();
        assert_eq!(e.sustained_limit_mbps, 72.0);
        assert_eq!(e.bottleneck, Bottleneck::Ec2Network);
        assert_eq!(e.recommended_mbps.round(), 58.0);
        assert_eq!(e.limits["storage"], 250.0);
        assert_eq!(e.limits["ebs_network"], 81.25);
        assert_eq!(e.network_multiplier, 5.0);
    }

    #[test]
    fn tiered_adds_upload_and_remote_readers() {
        let g = ConsumerGroups {
            tip: 1,
            lagging: 1,
            remote: 1,
        };
        let e = estimate(&input(StorageModel::Tiered, 3, 3, g)).unwrap();
        assert_eq!(e.limits["storage"], 250.0 * 3.0 / 5.0);
        assert_eq!(e.limits["ebs_network"], 81.25 * 3.0 / 5.0);
        assert_eq!(e.limits["ec2_network"], 96.0 * 3.0 / 5.0);
        assert_eq!(e.network_multiplier, 3.0 + 1.0 + 3.0);
        assert!(!e.notes.is_empty());
    }

    #[test]
    fn diskless_network_and_cpu_terms() {
        let mut i = input(
            StorageModel::Diskless,
            6,
            3,
            ConsumerGroups {
                tip: 2,
                ..Default::default()
            },
        );
        i.resources.network_baseline_mbps = 400.0;
        let e = estimate(&i).unwrap();
        // in: 400*6/(1+2) ; out: 400*6/(1+2); cpu: 64*2*6
        assert_eq!(e.limits["ec2_network_in"], 800.0);
        assert_eq!(e.limits["ec2_network_out"], 800.0);
        assert_eq!(e.limits["cpu"], 768.0);
        assert_eq!(e.bottleneck, Bottleneck::Cpu);
        // More groups than zones: reads are capped at one fetch per zone.
        i.consumers.tip = 5;
        let e = estimate(&i).unwrap();
        assert_eq!(e.limits["ec2_network_in"], 400.0 * 6.0 / 4.0);
        assert_eq!(e.limits["ec2_network_out"], 400.0 * 6.0 / 6.0);
    }

    #[test]
    fn rejects_impossible_inputs() {
        let g = ConsumerGroups::default();
        assert_eq!(
            estimate(&input(StorageModel::Classic, 0, 3, g)),
            Err(ModelError::NoBrokers)
        );
        assert!(matches!(
            estimate(&input(StorageModel::Classic, 2, 3, g)),
            Err(ModelError::ReplicationAboveBrokers { .. })
        ));
        let mut i = input(StorageModel::Classic, 3, 3, g);
        i.headroom = 1.5;
        assert!(matches!(estimate(&i), Err(ModelError::Headroom(_))));
        let i = input(
            StorageModel::Classic,
            3,
            3,
            ConsumerGroups { remote: 1, ..g },
        );
        assert!(matches!(
            estimate(&i),
            Err(ModelError::RemoteWithoutTier(1))
        ));
    }

    #[test]
    fn seed_002_capacity_example() {
        let week = 7 * DAY_SECS;
        let c = capacity(StorageModel::Classic, 20.0, 3, week, None);
        assert_eq!((c.local_bytes / TIB * 10.0).round() / 10.0, 34.6);
        let t = capacity(StorageModel::Tiered, 20.0, 3, week, Some(4 * 3600));
        assert_eq!((t.local_bytes / TIB * 10.0).round() / 10.0, 0.8);
        assert_eq!((t.remote_bytes / TIB * 10.0).round() / 10.0, 11.5);
        let d = capacity(StorageModel::Diskless, 20.0, 3, week, None);
        assert_eq!(d.local_bytes, 0.0);
    }

    #[test]
    fn seed_003_rebalance_bound() {
        // 1,000 partitions × 100 MB segments at 10 MB/s: "close to three hours".
        let secs = tiered_rebalance_bound_secs(100e6, 1000, 10e6);
        assert_eq!(secs, 10_000.0);
    }
}
