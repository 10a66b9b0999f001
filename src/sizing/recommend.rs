//! `size recommend`: the cheapest layouts for a workload, classic / tiered / diskless side by side
//! (pure: a search over the catalog with the models and the cost estimate).

use serde::Serialize;

use super::catalog::{Catalog, InstanceType, PRICES_AS_OF, PRICES_REGION};
use super::cost::{MonthlyCost, PriceList};
use super::gp3::{Gp3, MAX_THROUGHPUT_MIBPS};
use super::models::{
    capacity, estimate, BrokerResources, Capacity, ConsumerGroups, DisklessParams, StorageModel,
    ThroughputEstimate, ThroughputInput, GIB, MIB, TIB,
};

/// What the cluster must carry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    pub ingress_mbps: f64,
    pub consumers: ConsumerGroups,
    pub replication_factor: u32,
    pub retention_secs: u64,
    /// Tiered only: how long segments stay on broker volumes.
    pub local_retention_secs: Option<u64>,
    pub azs: u32,
}

/// How to search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecommendOptions {
    /// Instance families to consider.
    pub families: Vec<String>,
    pub headroom: f64,
    /// Still carry the workload (at `headroom`) with every broker of one AZ gone.
    pub az_failure_tolerant: bool,
    /// Plan data volumes to be at most this full (seed 002 alarms at 60%).
    pub disk_fill_target: f64,
    /// Largest data volume per broker, GiB (16 TiB: MSK's per-broker limit; larger volumes make
    /// replacing a broker slow).
    pub max_volume_gib: u64,
    pub max_brokers: u32,
    /// Diskless: how often each broker flushes an object to the store (Bufstream's intake
    /// `delay_max`, default 100 ms).
    pub diskless_flush_ms: f64,
    /// Tiered: segment size (seed 003 recommends 100 MiB).
    pub segment_bytes: f64,
    /// Instance type of the three metadata nodes (KRaft controllers or etcd).
    pub metadata_instance_type: String,
    /// Include cross-AZ transfer in the cost.
    pub include_transfer: bool,
    /// Layouts to return per model.
    pub top: usize,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        Self {
            families: vec!["m6in".into()],
            headroom: super::models::DEFAULT_HEADROOM,
            az_failure_tolerant: false,
            disk_fill_target: 0.6,
            max_volume_gib: 16_384,
            max_brokers: 300,
            diskless_flush_ms: 100.0,
            segment_bytes: 100.0 * MIB,
            metadata_instance_type: "m6in.large".into(),
            include_transfer: true,
            top: 1,
        }
    }
}

/// One candidate cluster. Field names are a stable contract (`--output json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub model: StorageModel,
    pub instance_type: String,
    pub brokers: u32,
    pub brokers_per_az: u32,
    /// The gp3 data volume per broker (absent for diskless brokers).
    pub volume: Option<Gp3>,
    pub sustained_limit_mbps: f64,
    pub recommended_mbps: f64,
    /// Share of the sustained limit the workload uses (≤ the headroom target).
    pub utilization: f64,
    pub bottleneck: &'static str,
    /// The limit with one AZ's brokers gone (when `--az-failure-tolerant`).
    pub after_az_loss: Option<AzLoss>,
    pub local_storage_tib: f64,
    pub remote_storage_tib: f64,
    pub monthly_cost: MonthlyCost,
    pub estimate: ThroughputEstimate,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AzLoss {
    pub brokers_left: u32,
    pub sustained_limit_mbps: f64,
    pub recommended_mbps: f64,
}

/// The answer: best layout per model, plus alternatives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub workload: Workload,
    pub options: RecommendOptions,
    /// Up to `top` layouts per model, cheapest first, models in classic/tiered/diskless order.
    pub layouts: Vec<Layout>,
    /// Models with no feasible layout, and why.
    pub infeasible: Vec<Infeasible>,
    pub prices_region: &'static str,
    pub prices_as_of: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Infeasible {
    pub model: StorageModel,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecommendError {
    #[error("unknown instance family `{0}`")]
    UnknownFamily(String),
    #[error("unknown metadata instance type `{0}`")]
    UnknownMetadataType(String),
    #[error("{0}")]
    Invalid(String),
}

/// Bufstream needs at least this many brokers (seed 000: 6 replicas over 3 AZs).
pub const DISKLESS_MIN_BROKERS: u32 = 6;
/// Confluent/Kafka tiered segments are uploaded as about five objects (seed 003).
const OBJECTS_PER_SEGMENT: f64 = 5.0;

pub fn recommend(
    catalog: &Catalog,
    workload: &Workload,
    options: &RecommendOptions,
) -> Result<Recommendation, RecommendError> {
    validate(catalog, workload, options)?;
    let prices = PriceList::default();
    let meta = catalog
        .get(&options.metadata_instance_type)
        .ok_or_else(|| {
            RecommendError::UnknownMetadataType(options.metadata_instance_type.clone())
        })?;
    let mut layouts = Vec::new();
    let mut infeasible = Vec::new();
    for model in StorageModel::ALL {
        let mut candidates: Vec<Layout> = Vec::new();
        for family in &options.families {
            for t in catalog.family(family) {
                candidates.extend(best_for_type(t, model, workload, options, &prices, meta));
            }
        }
        candidates.sort_by(|a, b| {
            a.monthly_cost
                .total_usd
                .total_cmp(&b.monthly_cost.total_usd)
                .then(a.brokers.cmp(&b.brokers))
                .then(a.instance_type.cmp(&b.instance_type))
        });
        if candidates.is_empty() {
            infeasible.push(Infeasible {
                model,
                reason: format!(
                    "no {} layout of up to {} brokers in famil{} {} carries {} MB/s at {:.0}% headroom",
                    model,
                    options.max_brokers,
                    if options.families.len() == 1 { "y" } else { "ies" },
                    options.families.join(", "),
                    workload.ingress_mbps,
                    options.headroom * 100.0
                ),
            });
        }
        layouts.extend(candidates.into_iter().take(options.top.max(1)));
    }
    Ok(Recommendation {
        workload: workload.clone(),
        options: options.clone(),
        layouts,
        infeasible,
        prices_region: PRICES_REGION,
        prices_as_of: PRICES_AS_OF,
    })
}

fn validate(catalog: &Catalog, w: &Workload, o: &RecommendOptions) -> Result<(), RecommendError> {
    for f in &o.families {
        if catalog.family(f).next().is_none() {
            return Err(RecommendError::UnknownFamily(f.clone()));
        }
    }
    let bad = |m: String| Err(RecommendError::Invalid(m));
    if !(w.ingress_mbps > 0.0 && w.ingress_mbps.is_finite()) {
        return bad(format!(
            "ingress must be a positive MB/s figure, got {}",
            w.ingress_mbps
        ));
    }
    if w.replication_factor == 0 {
        return bad("replication factor must be at least 1".into());
    }
    if w.azs == 0 {
        return bad("at least one availability zone is needed".into());
    }
    if o.az_failure_tolerant && w.azs < 2 {
        return bad("AZ-failure tolerance needs at least two availability zones".into());
    }
    if !(o.headroom > 0.0 && o.headroom <= 1.0) {
        return bad(format!("headroom must be in (0, 1], got {}", o.headroom));
    }
    if !(o.disk_fill_target > 0.0 && o.disk_fill_target <= 1.0) {
        return bad(format!(
            "disk fill target must be in (0, 1], got {}",
            o.disk_fill_target
        ));
    }
    if let Some(local) = w.local_retention_secs {
        if local > w.retention_secs {
            return bad(format!(
                "local retention ({local} s) is longer than retention ({} s)",
                w.retention_secs
            ));
        }
    }
    Ok(())
}

/// The cheapest feasible broker count for one instance type and model.
fn best_for_type(
    t: &InstanceType,
    model: StorageModel,
    w: &Workload,
    o: &RecommendOptions,
    prices: &PriceList,
    meta: &InstanceType,
) -> Option<Layout> {
    let azs = w.azs;
    let round_up = |n: u32| n.div_ceil(azs) * azs;
    let mut min_brokers = round_up(w.replication_factor.max(1));
    if model == StorageModel::Diskless {
        // Seed 000's 1:4 vCPU:GiB rule.
        if t.memory_per_vcpu() < 4.0 {
            return None;
        }
        min_brokers = min_brokers.max(round_up(DISKLESS_MIN_BROKERS));
    }
    if o.az_failure_tolerant && model != StorageModel::Diskless {
        // After losing an AZ the survivors must still hold RF replicas of a partition.
        while min_brokers - min_brokers / azs < w.replication_factor {
            min_brokers += azs;
        }
    }
    let cap = capacity(
        model,
        w.ingress_mbps,
        w.replication_factor,
        w.retention_secs,
        w.local_retention_secs,
    );
    let mut best: Option<Layout> = None;
    let mut b = min_brokers;
    let mut after_first = 0;
    while b <= o.max_brokers {
        if let Some(layout) = evaluate(t, model, w, o, prices, meta, b, &cap) {
            let better = best
                .as_ref()
                .is_none_or(|cur| layout.monthly_cost.total_usd < cur.monthly_cost.total_usd);
            if better {
                best = Some(layout);
            }
        }
        if best.is_some() {
            // Cost grows with brokers once one layout fits; look a few steps further in case
            // more, slower volumes are cheaper, then stop.
            after_first += 1;
            if after_first > 3 {
                break;
            }
        }
        b += azs;
    }
    best
}

#[allow(clippy::too_many_arguments)]
fn evaluate(
    t: &InstanceType,
    model: StorageModel,
    w: &Workload,
    o: &RecommendOptions,
    prices: &PriceList,
    meta: &InstanceType,
    brokers: u32,
    cap: &Capacity,
) -> Option<Layout> {
    let azs = w.azs;
    let surviving = if o.az_failure_tolerant {
        brokers - brokers / azs
    } else {
        brokers
    };
    let needed = w.ingress_mbps / o.headroom;
    // Data volume: enough throughput for the storage term at the surviving broker count, enough
    // room for the local bytes at the fill target.
    let volume = if model == StorageModel::Diskless {
        None
    } else {
        let lagging = w.consumers.lagging
            + if model == StorageModel::Classic {
                w.consumers.remote
            } else {
                0
            };
        let divisor = f64::from(w.replication_factor)
            + f64::from(lagging)
            + if model == StorageModel::Tiered {
                1.0
            } else {
                0.0
            };
        let tput = (needed * divisor / f64::from(surviving)).ceil() as u64;
        if tput > MAX_THROUGHPUT_MIBPS {
            return None;
        }
        let per_broker = cap.local_bytes / f64::from(brokers) / o.disk_fill_target;
        let size_gib = (per_broker / GIB).ceil().max(1.0) as u64;
        let v = Gp3::fitting(size_gib.max(MIN_DATA_VOLUME_GIB), tput);
        if v.size_gib > o.max_volume_gib || !v.problems().is_empty() {
            return None;
        }
        Some(v)
    };
    // Classic has no remote tier: groups that would read from it read old data from disk.
    let consumers = match model {
        StorageModel::Classic => ConsumerGroups {
            tip: w.consumers.tip,
            lagging: w.consumers.lagging + w.consumers.remote,
            remote: 0,
        },
        _ => w.consumers,
    };
    let input = |n: u32| ThroughputInput {
        model,
        brokers: n,
        replication_factor: w.replication_factor,
        consumers,
        resources: BrokerResources {
            volume_throughput_mbps: volume.map_or(1.0, |v| v.throughput_mibps as f64),
            ebs_baseline_mbps: t.ebs_baseline_mbps,
            network_baseline_mbps: t.network_baseline_mbps,
            vcpus: t.vcpus,
        },
        headroom: o.headroom,
        diskless: DisklessParams {
            azs,
            ..DisklessParams::default()
        },
    };
    let est = estimate(&input(brokers)).ok()?;
    let after_az_loss = if o.az_failure_tolerant {
        let e = estimate(&input(surviving)).ok()?;
        if e.recommended_mbps + 1e-9 < w.ingress_mbps {
            return None;
        }
        Some(AzLoss {
            brokers_left: surviving,
            sustained_limit_mbps: e.sustained_limit_mbps,
            recommended_mbps: e.recommended_mbps,
        })
    } else {
        None
    };
    if est.recommended_mbps + 1e-9 < w.ingress_mbps {
        return None;
    }
    let cost = monthly_cost(t, model, w, o, prices, meta, brokers, volume.as_ref(), cap);
    Some(Layout {
        model,
        instance_type: t.name.clone(),
        brokers,
        brokers_per_az: brokers / azs,
        volume,
        sustained_limit_mbps: est.sustained_limit_mbps,
        recommended_mbps: est.recommended_mbps,
        utilization: w.ingress_mbps / est.sustained_limit_mbps,
        bottleneck: est.bottleneck.as_str(),
        after_az_loss,
        local_storage_tib: cap.local_bytes / TIB,
        remote_storage_tib: cap.remote_bytes / TIB,
        monthly_cost: cost,
        estimate: est,
    })
}

/// Smallest data volume we plan (small volumes fill up on a traffic spike before anyone reacts).
pub const MIN_DATA_VOLUME_GIB: u64 = 100;

#[allow(clippy::too_many_arguments)]
fn monthly_cost(
    t: &InstanceType,
    model: StorageModel,
    w: &Workload,
    o: &RecommendOptions,
    prices: &PriceList,
    meta: &InstanceType,
    brokers: u32,
    volume: Option<&Gp3>,
    cap: &Capacity,
) -> MonthlyCost {
    use super::cost::HOURS_PER_MONTH;
    let b = f64::from(brokers);
    let ingress_bps = w.ingress_mbps * MIB;
    let compute_usd = b * t.price_per_hour_usd * HOURS_PER_MONTH;
    let block_storage_usd = volume.map_or(0.0, |v| b * prices.gp3_month(v));
    let object_storage_usd = prices.s3_storage_month(cap.remote_bytes);
    let object_requests_usd = match model {
        StorageModel::Classic => 0.0,
        StorageModel::Tiered => {
            let segments_per_sec = ingress_bps / o.segment_bytes;
            let remote_reads = f64::from(w.consumers.remote);
            prices.s3_requests_month(
                segments_per_sec * OBJECTS_PER_SEGMENT,
                segments_per_sec * remote_reads,
            )
        }
        StorageModel::Diskless => {
            let puts = b * 1000.0 / o.diskless_flush_ms;
            let groups = f64::from(w.consumers.total());
            let reads = groups.min(f64::from(w.azs));
            prices.s3_requests_month(puts, puts * reads)
        }
    };
    let azs = f64::from(w.azs);
    let inter_az_transfer_usd = if !o.include_transfer || w.azs < 2 {
        0.0
    } else {
        match model {
            // Followers in other zones fetch every byte (RF - 1 times) and producers reach a
            // leader outside their zone (azs - 1) / azs of the time. Consumers are assumed to
            // fetch from a replica in their own zone (client.rack, KIP-392).
            StorageModel::Classic | StorageModel::Tiered => {
                let factor = f64::from(w.replication_factor.saturating_sub(1)) + (azs - 1.0) / azs;
                prices.inter_az_month(ingress_bps * factor)
            }
            // Zone-aware clients talk to brokers in their zone; S3 traffic inside a region is free.
            StorageModel::Diskless => 0.0,
        }
    };
    let metadata_nodes_usd = 3.0 * meta.price_per_hour_usd * HOURS_PER_MONTH;
    let s3_via_nat_usd = prices.nat_processing_month(super::cost::s3_bytes_per_sec(
        model,
        ingress_bps,
        w.consumers.remote,
        w.consumers.total(),
        w.azs,
    ));
    MonthlyCost {
        compute_usd,
        block_storage_usd,
        object_storage_usd,
        object_requests_usd,
        inter_az_transfer_usd,
        metadata_nodes_usd,
        total_usd: 0.0,
        s3_via_nat_usd,
    }
    .with_total()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sizing::models::DAY_SECS;

    fn seed_002_workload() -> Workload {
        Workload {
            ingress_mbps: 20.0,
            consumers: ConsumerGroups {
                tip: 1,
                ..Default::default()
            },
            replication_factor: 3,
            retention_secs: 7 * DAY_SECS,
            local_retention_secs: Some(4 * 3600),
            azs: 3,
        }
    }

    #[test]
    fn seed_002_example_m5() {
        let o = RecommendOptions {
            families: vec!["m5".into()],
            ..Default::default()
        };
        let r = recommend(&Catalog::embedded(), &seed_002_workload(), &o).unwrap();
        let classic = &r.layouts[0];
        let tiered = &r.layouts[1];
        assert_eq!(classic.model, StorageModel::Classic);
        assert_eq!(
            (classic.instance_type.as_str(), classic.brokers),
            ("m5.large", 6)
        );
        assert_eq!((classic.local_storage_tib * 10.0).round() / 10.0, 34.6);
        assert_eq!(tiered.model, StorageModel::Tiered);
        assert_eq!(
            (tiered.instance_type.as_str(), tiered.brokers),
            ("m5.large", 3)
        );
        assert_eq!((tiered.local_storage_tib * 10.0).round() / 10.0, 0.8);
        assert_eq!((tiered.remote_storage_tib * 10.0).round() / 10.0, 11.5);
        assert!(tiered.monthly_cost.total_usd < classic.monthly_cost.total_usd);
        // Classic pays for ~40x more block storage than tiered.
        assert!(
            classic.monthly_cost.block_storage_usd > 20.0 * tiered.monthly_cost.block_storage_usd
        );
    }

    #[test]
    fn az_failure_tolerance_adds_brokers_and_still_carries_the_load() {
        let w = Workload {
            ingress_mbps: 300.0,
            local_retention_secs: None,
            retention_secs: DAY_SECS,
            ..seed_002_workload()
        };
        let base = recommend(&Catalog::embedded(), &w, &RecommendOptions::default()).unwrap();
        let o = RecommendOptions {
            az_failure_tolerant: true,
            ..Default::default()
        };
        let tolerant = recommend(&Catalog::embedded(), &w, &o).unwrap();
        for l in &tolerant.layouts {
            assert_eq!(l.brokers % 3, 0);
            let loss = l.after_az_loss.as_ref().unwrap();
            assert!(loss.recommended_mbps >= w.ingress_mbps, "{l:?}");
        }
        let cost = |r: &Recommendation| {
            r.layouts
                .iter()
                .map(|l| l.monthly_cost.total_usd)
                .sum::<f64>()
        };
        assert!(cost(&tolerant) >= cost(&base));
    }

    #[test]
    fn diskless_needs_six_brokers_and_pays_for_puts() {
        let r = recommend(
            &Catalog::embedded(),
            &seed_002_workload(),
            &RecommendOptions::default(),
        )
        .unwrap();
        let d = r
            .layouts
            .iter()
            .find(|l| l.model == StorageModel::Diskless)
            .unwrap();
        assert!(d.brokers >= 6);
        assert!(d.volume.is_none());
        assert!(d.monthly_cost.object_requests_usd > 0.0);
        assert_eq!(d.monthly_cost.inter_az_transfer_usd, 0.0);
    }

    #[test]
    fn unknown_family_is_an_error() {
        let o = RecommendOptions {
            families: vec!["c5".into()],
            ..Default::default()
        };
        assert_eq!(
            recommend(&Catalog::embedded(), &seed_002_workload(), &o).unwrap_err(),
            RecommendError::UnknownFamily("c5".into())
        );
    }

    #[test]
    fn impossible_workload_reports_infeasible_models() {
        let w = Workload {
            ingress_mbps: 1e9,
            ..seed_002_workload()
        };
        let o = RecommendOptions {
            max_brokers: 12,
            ..Default::default()
        };
        let r = recommend(&Catalog::embedded(), &w, &o).unwrap();
        assert!(r.layouts.is_empty());
        assert_eq!(r.infeasible.len(), 3);
    }
}
