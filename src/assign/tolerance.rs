//! What losing one AZ does to each partition (pure): offline (no replica left) or below
//! min.insync.replicas (acks=all producers fail).

use std::collections::BTreeSet;

use serde::Serialize;

use super::cluster::Cluster;

/// `check az-tolerance --output json`. Stable field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToleranceReport {
    pub min_insync_replicas: usize,
    pub partitions: u64,
    pub ok: bool,
    pub azs: Vec<AzLoss>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AzLoss {
    pub rack: String,
    /// Partitions with no replica outside this AZ.
    pub offline: u64,
    /// Partitions left with fewer than min.insync.replicas replicas (includes offline ones).
    pub below_min_isr: u64,
    /// Up to 20 examples of each, `topic-partition`.
    pub offline_examples: Vec<String>,
    pub below_min_isr_examples: Vec<String>,
}

const EXAMPLES: usize = 20;

/// For each AZ, which partitions would go offline or below `min_insync` if it were lost.
/// Replicas on brokers without a rack count as surviving nothing but their own loss (they are
/// treated as a rack of their own).
pub fn check(cluster: &Cluster, min_insync: usize) -> ToleranceReport {
    check_with(cluster, min_insync, &std::collections::BTreeMap::new())
}

/// As [`check`], with each topic's own min.insync.replicas where known (a live cluster's
/// topic configs) and `min_insync` for the rest.
pub fn check_with(
    cluster: &Cluster,
    min_insync: usize,
    per_topic: &std::collections::BTreeMap<String, usize>,
) -> ToleranceReport {
    let rack_of = |id: i32| -> String {
        cluster
            .brokers
            .iter()
            .find(|b| b.id == id)
            .and_then(|b| b.rack.clone())
            .unwrap_or_else(|| format!("(broker {id}, no rack)"))
    };
    let racks_by_broker: std::collections::HashMap<i32, String> = cluster
        .brokers
        .iter()
        .map(|b| (b.id, rack_of(b.id)))
        .collect();
    let racks: BTreeSet<String> = racks_by_broker.values().cloned().collect();
    let mut azs = Vec::new();
    for r in &racks {
        let mut loss = AzLoss {
            rack: r.clone(),
            offline: 0,
            below_min_isr: 0,
            offline_examples: vec![],
            below_min_isr_examples: vec![],
        };
        for p in &cluster.partitions {
            let left = p
                .replicas
                .iter()
                .filter(|id| {
                    racks_by_broker
                        .get(id)
                        .map_or_else(|| rack_of(**id), Clone::clone)
                        != *r
                })
                .count();
            let name = format!("{}-{}", p.topic, p.partition);
            if left == 0 {
                loss.offline += 1;
                if loss.offline_examples.len() < EXAMPLES {
                    loss.offline_examples.push(name.clone());
                }
            }
            if left < per_topic.get(&p.topic).copied().unwrap_or(min_insync) {
                loss.below_min_isr += 1;
                if loss.below_min_isr_examples.len() < EXAMPLES {
                    loss.below_min_isr_examples.push(name);
                }
            }
        }
        azs.push(loss);
    }
    let ok = azs.iter().all(|a| a.below_min_isr == 0);
    ToleranceReport {
        min_insync_replicas: min_insync,
        partitions: cluster.partitions.len() as u64,
        ok,
        azs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assign::{Broker, PartitionAssignment};

    fn cluster(parts: &[&[i32]]) -> Cluster {
        Cluster {
            brokers: (1..=6)
                .map(|id| Broker {
                    id,
                    rack: Some(format!("az{}", (id - 1) / 2)),
                    offline: false,
                    capacity_bytes: None,
                })
                .collect(),
            partitions: parts
                .iter()
                .enumerate()
                .map(|(i, r)| PartitionAssignment {
                    topic: "t".into(),
                    partition: i as i32,
                    replicas: r.to_vec(),
                    size_bytes: None,
                    local_size_bytes: None,
                })
                .collect(),
        }
    }

    #[test]
    fn one_replica_per_az_survives_any_az_loss() {
        let r = check(&cluster(&[&[1, 3, 5], &[2, 4, 6]]), 2);
        assert!(r.ok);
        assert!(r.azs.iter().all(|a| a.offline == 0 && a.below_min_isr == 0));
    }

    #[test]
    fn two_replicas_in_one_az_drop_below_min_isr() {
        // brokers 1,2 are az0: losing az0 leaves one replica of t-0.
        let r = check(&cluster(&[&[1, 2, 3], &[1, 2]]), 2);
        assert!(!r.ok);
        let az0 = &r.azs[0];
        assert_eq!(az0.rack, "az0");
        assert_eq!(az0.offline, 1);
        assert_eq!(az0.below_min_isr, 2);
        assert_eq!(az0.offline_examples, vec!["t-1"]);
    }
}
