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
    /// A NAT gateway's hourly charge and its per-GB processing charge (S3 traffic sent through
    /// a NAT gateway pays the latter; through an S3 gateway endpoint it is free).
    pub nat_gateway_hour: f64,
    pub nat_gateway_gib: f64,
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
            nat_gateway_hour: 0.045,
            nat_gateway_gib: 0.045,
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

    /// Monthly NAT gateway processing charge for a steady byte rate.
    pub fn nat_processing_month(&self, bytes_per_sec: f64) -> f64 {
        bytes_per_sec * SECS_PER_MONTH / GIB * self.nat_gateway_gib
    }

    /// Monthly hourly charge of `n` NAT gateways.
    pub fn nat_hours_month(&self, n: usize) -> f64 {
        n as f64 * self.nat_gateway_hour * HOURS_PER_MONTH
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
    /// Not in the total: what the cluster's S3 traffic would cost through a NAT gateway. A VPC
    /// that `provision` creates routes S3 through a gateway endpoint instead (free); an existing
    /// VPC without one pays this.
    pub s3_via_nat_usd: f64,
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

/// Bytes per second a cluster exchanges with S3 (pure): tiered brokers upload every segment
/// once and serve `remote_groups` from S3; diskless brokers write every byte once and each AZ
/// reads it back (at most one read per AZ and consumer group). Classic: none.
pub fn s3_bytes_per_sec(
    model: crate::sizing::models::StorageModel,
    ingress_bps: f64,
    remote_groups: u32,
    groups: u32,
    azs: u32,
) -> f64 {
    use crate::sizing::models::StorageModel;
    match model {
        StorageModel::Classic => 0.0,
        StorageModel::Tiered => ingress_bps * (1.0 + f64::from(remote_groups)),
        StorageModel::Diskless => ingress_bps * (1.0 + f64::from(groups.min(azs))),
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
    fn s3_through_a_nat_gateway_costs_per_gb_and_classic_sends_none() {
        use crate::sizing::models::{StorageModel, MIB};
        let p = PriceList::default();
        // Tiered at 100 MiB/s with one remote reader: 200 MiB/s to and from S3.
        let bps = s3_bytes_per_sec(StorageModel::Tiered, 100.0 * MIB, 1, 3, 3);
        assert_eq!(bps, 200.0 * MIB);
        let month = p.nat_processing_month(bps);
        assert!((month - 200.0 / 1024.0 * SECS_PER_MONTH * 0.045).abs() < 1e-6);
        assert!(month > 20_000.0, "{month}");
        assert_eq!(
            s3_bytes_per_sec(StorageModel::Classic, 100.0 * MIB, 1, 3, 3),
            0.0
        );
        // Diskless: every byte written once and read back once per AZ (at most per group).
        assert_eq!(
            s3_bytes_per_sec(StorageModel::Diskless, MIB, 0, 2, 3),
            3.0 * MIB
        );
        assert!((p.nat_hours_month(3) - 3.0 * 0.045 * HOURS_PER_MONTH).abs() < 1e-9);
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
            s3_via_nat_usd: 100.0,
        }
        .with_total();
        assert_eq!(c.total_usd, 21.0);
    }
}
