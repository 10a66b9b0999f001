//! The embedded EC2 instance catalog (pure data, no I/O).
//!
//! Units: `ebs_baseline_mbps` and `network_baseline_mbps` are sustained (baseline, not burst)
//! throughputs in MB/s, the unit the sizing equations use.
//!
//! * EBS: the EC2 User Guide lists baseline EBS bandwidth in Mbit/s; we divide by 8
//!   (650 Mbit/s -> 81.25 MB/s for m5.large, as seed 001 does).
//! * Network: the EC2 network-performance tables list baseline bandwidth in Gbit/s; seed 001
//!   converts with 1 Gbit/s = 128 MB/s (0.75 Gbit/s -> 96 MB/s for m5.large). We keep the seed's
//!   convention for every family so that the published tables reproduce exactly and families stay
//!   comparable. `--network-baseline-mbps` overrides it for a single run.
//! * Prices: On-Demand, Linux, shared tenancy, us-east-1, USD per hour, from the AWS public price
//!   list as of [`PRICES_AS_OF`]. Other regions differ; the cost estimate says which region it priced.
//!
//! `--live-catalog` replaces the EBS and network figures by DescribeInstanceTypes (see `aws::ec2`);
//! prices always come from this table because the EC2 API does not publish them.

use serde::Serialize;

/// When the embedded prices were taken from the AWS price list (us-east-1 On-Demand).
pub const PRICES_AS_OF: &str = "2025-10-01";
/// The region the embedded prices are for.
pub const PRICES_REGION: &str = "us-east-1";

/// One instance type's sizing-relevant characteristics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceType {
    /// API name, e.g. `m6in.xlarge`.
    pub name: String,
    /// Family, e.g. `m6in`.
    pub family: String,
    pub vcpus: u32,
    pub memory_gib: f64,
    /// Baseline (sustained) EBS throughput, MB/s.
    pub ebs_baseline_mbps: f64,
    /// Baseline (sustained) network bandwidth per direction, MB/s.
    pub network_baseline_mbps: f64,
    /// On-Demand price, USD per hour, in [`PRICES_REGION`].
    pub price_per_hour_usd: f64,
    /// Where the EBS/network figures came from: `embedded` or `live`.
    pub source: &'static str,
}

impl InstanceType {
    /// GiB of memory per vCPU.
    pub fn memory_per_vcpu(&self) -> f64 {
        self.memory_gib / f64::from(self.vcpus)
    }
}

/// Families the embedded catalog covers.
pub const FAMILIES: &[&str] = &["m5", "m6i", "m6in", "m7i", "r6i"];

/// (size, vCPUs, memory GiB multiplier per vCPU is family specific) — the rows below are
/// `(size, vcpus, ebs_baseline_mbit, network_baseline_gbit, price_usd_per_hour)`.
type Row = (&'static str, u32, f64, f64, f64);

// m5: EBS baselines 650/1150/2300/4750 Mbit/s and network 0.75/1.25/2.5/5 Gbit/s for
// large..4xlarge are the figures seed 001 uses (81.25/143.75/287.5/593.75 and 96/160/320/640 MB/s).
const M5: &[Row] = &[
    ("large", 2, 650.0, 0.75, 0.096),
    ("xlarge", 4, 1150.0, 1.25, 0.192),
    ("2xlarge", 8, 2300.0, 2.5, 0.384),
    ("4xlarge", 16, 4750.0, 5.0, 0.768),
    ("8xlarge", 32, 6800.0, 10.0, 1.536),
    ("12xlarge", 48, 9500.0, 12.0, 2.304),
    ("16xlarge", 64, 13600.0, 20.0, 3.072),
    ("24xlarge", 96, 19000.0, 25.0, 4.608),
];

const M6I: &[Row] = &[
    ("large", 2, 650.0, 0.781, 0.096),
    ("xlarge", 4, 1250.0, 1.562, 0.192),
    ("2xlarge", 8, 2500.0, 3.125, 0.384),
    ("4xlarge", 16, 5000.0, 6.25, 0.768),
    ("8xlarge", 32, 10000.0, 12.5, 1.536),
    ("12xlarge", 48, 15000.0, 18.75, 2.304),
    ("16xlarge", 64, 20000.0, 25.0, 3.072),
    ("24xlarge", 96, 30000.0, 37.5, 4.608),
    ("32xlarge", 128, 40000.0, 50.0, 6.144),
];

// m6in: network-optimised (the instance family seed 000 recommends for Bufstream).
const M6IN: &[Row] = &[
    ("large", 2, 1562.5, 3.125, 0.13923),
    ("xlarge", 4, 3125.0, 6.25, 0.27846),
    ("2xlarge", 8, 6250.0, 12.5, 0.55692),
    ("4xlarge", 16, 12500.0, 25.0, 1.11384),
    ("8xlarge", 32, 25000.0, 50.0, 2.22768),
    ("12xlarge", 48, 37500.0, 75.0, 3.34152),
    ("16xlarge", 64, 50000.0, 100.0, 4.45536),
    ("24xlarge", 96, 75000.0, 150.0, 6.68304),
    ("32xlarge", 128, 100000.0, 200.0, 8.91072),
];

const M7I: &[Row] = &[
    ("large", 2, 650.0, 0.781, 0.1008),
    ("xlarge", 4, 1250.0, 1.562, 0.2016),
    ("2xlarge", 8, 2500.0, 3.125, 0.4032),
    ("4xlarge", 16, 5000.0, 6.25, 0.8064),
    ("8xlarge", 32, 10000.0, 12.5, 1.6128),
    ("12xlarge", 48, 15000.0, 18.75, 2.4192),
    ("16xlarge", 64, 20000.0, 25.0, 3.2256),
    ("24xlarge", 96, 30000.0, 37.5, 4.8384),
    ("48xlarge", 192, 40000.0, 50.0, 9.6768),
];

const R6I: &[Row] = &[
    ("large", 2, 650.0, 0.781, 0.126),
    ("xlarge", 4, 1250.0, 1.562, 0.252),
    ("2xlarge", 8, 2500.0, 3.125, 0.504),
    ("4xlarge", 16, 5000.0, 6.25, 1.008),
    ("8xlarge", 32, 10000.0, 12.5, 2.016),
    ("12xlarge", 48, 15000.0, 18.75, 3.024),
    ("16xlarge", 64, 20000.0, 25.0, 4.032),
    ("24xlarge", 96, 30000.0, 37.5, 6.048),
    ("32xlarge", 128, 40000.0, 50.0, 8.064),
];

/// MB/s per Gbit/s, seed 001's convention (see module docs).
pub const MBPS_PER_GBIT: f64 = 128.0;

fn family_rows(family: &str) -> Option<(&'static [Row], f64)> {
    // (rows, GiB of memory per vCPU)
    match family {
        "m5" => Some((M5, 4.0)),
        "m6i" => Some((M6I, 4.0)),
        "m6in" => Some((M6IN, 4.0)),
        "m7i" => Some((M7I, 4.0)),
        "r6i" => Some((R6I, 8.0)),
        _ => None,
    }
}

/// The embedded catalog: every instance type of [`FAMILIES`], in family then size order.
#[derive(Debug, Clone)]
pub struct Catalog {
    types: Vec<InstanceType>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::embedded()
    }
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn embedded() -> Self {
        let mut types = Vec::new();
        for family in FAMILIES {
            let (rows, mem_per_vcpu) = family_rows(family).expect("every listed family has rows");
            for &(size, vcpus, ebs_mbit, net_gbit, price) in rows {
                types.push(InstanceType {
                    name: format!("{family}.{size}"),
                    family: (*family).to_string(),
                    vcpus,
                    memory_gib: f64::from(vcpus) * mem_per_vcpu,
                    ebs_baseline_mbps: ebs_mbit / 8.0,
                    network_baseline_mbps: net_gbit * MBPS_PER_GBIT,
                    price_per_hour_usd: price,
                    source: "embedded",
                });
            }
        }
        Self { types }
    }

    /// Build a catalog from explicit entries (used for live refreshes and tests).
    pub fn from_types(types: Vec<InstanceType>) -> Self {
        Self { types }
    }

    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.types.iter().find(|t| t.name == name)
    }

    pub fn all(&self) -> &[InstanceType] {
        &self.types
    }

    /// Instance types of one family, smallest first.
    pub fn family(&self, family: &str) -> impl Iterator<Item = &InstanceType> {
        let family = family.to_string();
        self.types.iter().filter(move |t| t.family == family)
    }

    /// Names of all types, for error hints.
    pub fn names(&self) -> Vec<&str> {
        self.types.iter().map(|t| t.name.as_str()).collect()
    }

    /// Replace the EBS and network baselines of the named type by live figures
    /// (prices, vCPUs and memory are kept when the live answer lacks them).
    pub fn apply_live(&mut self, live: &[LiveFigures]) {
        for l in live {
            if let Some(t) = self.types.iter_mut().find(|t| t.name == l.name) {
                if let Some(e) = l.ebs_baseline_mbps {
                    t.ebs_baseline_mbps = e;
                }
                if let Some(n) = l.network_baseline_gbit {
                    t.network_baseline_mbps = n * MBPS_PER_GBIT;
                }
                if let Some(v) = l.vcpus {
                    t.vcpus = v;
                }
                if let Some(m) = l.memory_gib {
                    t.memory_gib = m;
                }
                t.source = "live";
            }
        }
    }
}

/// What DescribeInstanceTypes tells about one type (filled by the AWS adapter).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveFigures {
    pub name: String,
    pub vcpus: Option<u32>,
    pub memory_gib: Option<f64>,
    /// EbsOptimizedInfo.BaselineThroughputInMBps.
    pub ebs_baseline_mbps: Option<f64>,
    /// NetworkCards[].BaselineBandwidthInGbps summed.
    pub network_baseline_gbit: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_001_m5_baselines_are_exact() {
        let c = Catalog::embedded();
        let expect = [
            ("m5.large", 81.25, 96.0),
            ("m5.xlarge", 143.75, 160.0),
            ("m5.2xlarge", 287.5, 320.0),
            ("m5.4xlarge", 593.75, 640.0),
        ];
        for (name, ebs, net) in expect {
            let t = c.get(name).unwrap();
            assert_eq!(t.ebs_baseline_mbps, ebs, "{name} EBS");
            assert_eq!(t.network_baseline_mbps, net, "{name} network");
        }
    }

    #[test]
    fn every_family_present_and_memory_ratio_right() {
        let c = Catalog::embedded();
        for f in FAMILIES {
            assert!(c.family(f).count() >= 8, "{f}");
        }
        assert_eq!(c.get("m6in.large").unwrap().memory_per_vcpu(), 4.0);
        assert_eq!(c.get("r6i.large").unwrap().memory_per_vcpu(), 8.0);
        assert!(c.get("c5.large").is_none());
    }

    #[test]
    fn live_figures_override_baselines_but_keep_prices() {
        let mut c = Catalog::embedded();
        let before = c.get("m6in.large").unwrap().price_per_hour_usd;
        c.apply_live(&[LiveFigures {
            name: "m6in.large".into(),
            vcpus: Some(2),
            memory_gib: Some(8.0),
            ebs_baseline_mbps: Some(200.0),
            network_baseline_gbit: Some(3.125),
        }]);
        let t = c.get("m6in.large").unwrap();
        assert_eq!(t.ebs_baseline_mbps, 200.0);
        assert_eq!(t.network_baseline_mbps, 400.0);
        assert_eq!(t.price_per_hour_usd, before);
        assert_eq!(t.source, "live");
    }
}
