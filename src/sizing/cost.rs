//! Monthly cost estimate (pure). Prices are us-east-1 list prices; see `docs/sizing.md`.

use serde::Serialize;

use super::gp3::{Gp3, BASELINE_IOPS, BASELINE_THROUGHPUT_MIBPS};
use super::models::GIB;

/// Hours in the month AWS bills by.
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Seconds in that month.
pub const SECS_PER_MONTH: f64 = HOURS_PER_MONTH * 3600.0;

/// List prices used by the estimate (us-east-1, USD).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PriceList {
    pub gp3_gib_month: f64,
    pub gp3_iops_month: f64,
    pub gp3_mibps_month: f64,
    pub s3_gib_month: f64,
    pub s3_put_per_1000: f64,
    pub s3_get_per_1000: f64,
    /// Data crossing AZs, charged on each side ($0.01 out + $0.01 in).
    pub inter_az_gib: f64,
}

impl Default for PriceList {
    fn default() -> Self {
        Self {
            gp3_gib_month: 0.08,
            gp3_iops_month: 0.005,
            gp3_mibps_month: 0.04,
            s3_gib_month: 0.023,
            s3_put_per_1000: 0.005,
            s3_get_per_1000: 0.0004,
            inter_az_gib: 0.02,
        }
    }
}

impl PriceList {
    /// Monthly price of one gp3 volume (IOPS above 3,000 and throughput above 125 MiB/s are extra).
    pub fn gp3_month(&self, v: &Gp3) -> f64 {
        v.size_gib as f64 * self.gp3_gib_month
            + v.iops.saturating_sub(BASELINE_IOPS) as f64 * self.gp3_iops_month
            + v.throughput_mibps.saturating_sub(BASELINE_THROUGHPUT_MIBPS) as f64
                * self.gp3_mibps_month
    }

    /// Monthly price of keeping `bytes` in S3 Standard.
    pub fn s3_storage_month(&self, bytes: f64) -> f64 {
        bytes / GIB * self.s3_gib_month
    }

    /// Monthly price of a steady request rate.
    pub fn s3_requests_month(&self, puts_per_sec: f64, gets_per_sec: f64) -> f64 {
        (puts_per_sec * self.s3_put_per_1000 + gets_per_sec * self.s3_get_per_1000) * SECS_PER_MONTH
            / 1000.0
    }

    /// Monthly price of a steady cross-AZ byte rate.
    pub fn inter_az_month(&self, bytes_per_sec: f64) -> f64 {
        bytes_per_sec * SECS_PER_MONTH / GIB * self.inter_az_gib
    }
}

/// A monthly cost, by line. Field names are a stable contract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MonthlyCost {
    /// Broker instances.
    pub compute_usd: f64,
    /// Broker data volumes (gp3).
    pub block_storage_usd: f64,
    /// Object storage bytes.
    pub object_storage_usd: f64,
    /// Object storage requests.
    pub object_requests_usd: f64,
    /// Cross-AZ transfer (replication and producers writing to leaders in other zones).
    pub inter_az_transfer_usd: f64,
    /// The metadata quorum: three KRaft controllers or three etcd nodes.
    pub metadata_nodes_usd: f64,
    pub total_usd: f64,
}

impl MonthlyCost {
    pub fn with_total(mut self) -> Self {
        self.total_usd = self.compute_usd
            + self.block_storage_usd
            + self.object_storage_usd
            + self.object_requests_usd
            + self.inter_az_transfer_usd
            + self.metadata_nodes_usd;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gp3_extras_only_above_baseline() {
        let p = PriceList::default();
        let base = Gp3 {
            size_gib: 1000,
            iops: 3000,
            throughput_mibps: 125,
        };
        assert!((p.gp3_month(&base) - 80.0).abs() < 1e-9);
        let fast = Gp3 {
            size_gib: 1000,
            iops: 4000,
            throughput_mibps: 1000,
        };
        assert!((p.gp3_month(&fast) - (80.0 + 5.0 + 35.0)).abs() < 1e-9);
    }

    #[test]
    fn totals_add_up() {
        let c = MonthlyCost {
            compute_usd: 1.0,
            block_storage_usd: 2.0,
            object_storage_usd: 3.0,
            object_requests_usd: 4.0,
            inter_az_transfer_usd: 5.0,
            metadata_nodes_usd: 6.0,
            total_usd: 0.0,
        }
        .with_total();
        assert_eq!(c.total_usd, 21.0);
    }
}
