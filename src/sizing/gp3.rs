//! gp3 volume limits (pure). AWS raised them in September 2025: volumes up to 64 TiB, up to
//! 80,000 IOPS and up to 2,000 MiB/s; the ratios did not change (at most 500 IOPS per GiB beyond
//! the 3,000 baseline, at most 0.25 MiB/s of throughput per provisioned IOPS).

use serde::{Deserialize, Serialize};

pub const MIN_SIZE_GIB: u64 = 1;
pub const MAX_SIZE_GIB: u64 = 65_536;
pub const BASELINE_IOPS: u64 = 3_000;
pub const MAX_IOPS: u64 = 80_000;
pub const MAX_IOPS_PER_GIB: u64 = 500;
pub const BASELINE_THROUGHPUT_MIBPS: u64 = 125;
pub const MAX_THROUGHPUT_MIBPS: u64 = 2_000;
/// Throughput may be at most this many MiB/s per provisioned IOPS.
pub const MAX_MIBPS_PER_IOPS: f64 = 0.25;

/// A gp3 volume's provisioned shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gp3 {
    pub size_gib: u64,
    #[serde(default = "default_iops")]
    pub iops: u64,
    #[serde(default = "default_throughput")]
    pub throughput_mibps: u64,
}

fn default_iops() -> u64 {
    BASELINE_IOPS
}
fn default_throughput() -> u64 {
    BASELINE_THROUGHPUT_MIBPS
}

impl Gp3 {
    /// Every way this volume breaks gp3's limits, as (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if !(MIN_SIZE_GIB..=MAX_SIZE_GIB).contains(&self.size_gib) {
            p.push((
                "size_gib",
                format!(
                    "gp3 size must be {MIN_SIZE_GIB}..={MAX_SIZE_GIB} GiB (64 TiB), got {}",
                    self.size_gib
                ),
            ));
        }
        if !(BASELINE_IOPS..=MAX_IOPS).contains(&self.iops) {
            p.push((
                "iops",
                format!(
                    "gp3 IOPS must be {BASELINE_IOPS}..={MAX_IOPS}, got {}",
                    self.iops
                ),
            ));
        } else if self.iops > BASELINE_IOPS && self.iops > MAX_IOPS_PER_GIB * self.size_gib {
            p.push((
                "iops",
                format!(
                    "gp3 allows at most {MAX_IOPS_PER_GIB} IOPS per GiB: {} IOPS needs at least {} GiB, the volume has {}",
                    self.iops,
                    self.iops.div_ceil(MAX_IOPS_PER_GIB),
                    self.size_gib
                ),
            ));
        }
        if !(BASELINE_THROUGHPUT_MIBPS..=MAX_THROUGHPUT_MIBPS).contains(&self.throughput_mibps) {
            p.push((
                "throughput_mibps",
                format!(
                    "gp3 throughput must be {BASELINE_THROUGHPUT_MIBPS}..={MAX_THROUGHPUT_MIBPS} MiB/s, got {}",
                    self.throughput_mibps
                ),
            ));
        } else if self.throughput_mibps as f64 > MAX_MIBPS_PER_IOPS * self.iops as f64 {
            p.push((
                "throughput_mibps",
                format!(
                    "gp3 allows at most 0.25 MiB/s per provisioned IOPS: {} MiB/s needs at least {} IOPS, the volume has {}",
                    self.throughput_mibps,
                    min_iops_for_throughput(self.throughput_mibps),
                    self.iops
                ),
            ));
        }
        p
    }

    /// The smallest valid volume with at least this size and throughput.
    pub fn fitting(size_gib: u64, throughput_mibps: u64) -> Gp3 {
        let throughput_mibps = throughput_mibps.max(BASELINE_THROUGHPUT_MIBPS);
        let iops = min_iops_for_throughput(throughput_mibps).max(BASELINE_IOPS);
        let size_gib = size_gib.max(MIN_SIZE_GIB).max(if iops > BASELINE_IOPS {
            iops.div_ceil(MAX_IOPS_PER_GIB)
        } else {
            MIN_SIZE_GIB
        });
        Gp3 {
            size_gib,
            iops,
            throughput_mibps,
        }
    }
}

/// IOPS needed for a throughput under the 0.25 MiB/s-per-IOPS rule.
pub fn min_iops_for_throughput(throughput_mibps: u64) -> u64 {
    throughput_mibps * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_raised_in_2025_are_accepted() {
        let v = Gp3 {
            size_gib: 65_536,
            iops: 80_000,
            throughput_mibps: 2_000,
        };
        assert!(v.problems().is_empty(), "{:?}", v.problems());
    }

    #[test]
    fn out_of_range_and_ratio_violations_are_named() {
        let v = Gp3 {
            size_gib: 70_000,
            iops: 90_000,
            throughput_mibps: 2_500,
        };
        let fields: Vec<_> = v.problems().into_iter().map(|p| p.0).collect();
        assert_eq!(fields, ["size_gib", "iops", "throughput_mibps"]);
        // 1000 MiB/s needs 4000 IOPS
        let v = Gp3 {
            size_gib: 1000,
            iops: 3000,
            throughput_mibps: 1000,
        };
        assert_eq!(v.problems()[0].0, "throughput_mibps");
        // 10,000 IOPS on 10 GiB breaks 500 IOPS/GiB
        let v = Gp3 {
            size_gib: 10,
            iops: 10_000,
            throughput_mibps: 125,
        };
        assert_eq!(v.problems()[0].0, "iops");
    }

    #[test]
    fn fitting_volume_is_valid() {
        for (size, tput) in [(1, 125), (10, 2000), (500, 700), (20_000, 126)] {
            let v = Gp3::fitting(size, tput);
            assert!(v.problems().is_empty(), "{v:?} {:?}", v.problems());
            assert!(v.size_gib >= size && v.throughput_mibps >= tput);
        }
    }
}
