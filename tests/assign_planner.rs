//! The assignment planner's rules, on constructed and random clusters.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use streamctl::assign::{plan, Broker, Cluster, PartitionAssignment, Plan, PlanOptions};

#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

/// Brokers 1..=n, `per_az[i]` of them in AZ i.
fn brokers(per_az: &[usize]) -> Vec<Broker> {
    let mut out = Vec::new();
    let mut id = 1;
    for (a, &n) in per_az.iter().enumerate() {
        for _ in 0..n {
            out.push(Broker {
                id,
                rack: Some(format!("us-east-1{}", (b'a' + a as u8) as char)),
                offline: false,
                capacity_bytes: None,
            });
            id += 1;
        }
    }
    out
}

fn part(topic: &str, i: usize, replicas: Vec<i32>, size: u64) -> PartitionAssignment {
    PartitionAssignment {
        topic: topic.into(),
        partition: i as i32,
        replicas,
        size_bytes: Some(size),
        local_size_bytes: None,
    }
}

/// A balanced rack-aware layout: partition i gets one broker per AZ, rotating.
fn rack_aware(bs: &[Broker], partitions: usize, rf: usize) -> Vec<PartitionAssignment> {
    let mut by_az: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for b in bs {
        by_az
            .entry(b.rack.as_deref().unwrap())
            .or_default()
            .push(b.id);
    }
    let azs: Vec<&Vec<i32>> = by_az.values().collect();
    (0..partitions)
        .map(|i| {
            let replicas = (0..rf)
                .map(|k| {
                    let az = azs[(i + k) % azs.len()];
                    az[(i / azs.len() + k / azs.len()) % az.len()]
                })
                .collect();
            part("orders", i, replicas, 1_000 + (i as u64 % 7) * 100)
        })
        .collect()
}

fn apply(c: &Cluster, p: &Plan) -> Cluster {
    let mut out = c.clone();
    for (i, r) in &p.changes {
        out.partitions[*i].replicas = r.clone();
    }
    out
}

/// Every rule of the issue, checked on the result; returns per-broker (replicas, leaders).
fn check_rules(before: &Cluster, opts: &PlanOptions, p: &Plan) -> BTreeMap<i32, (u64, u64)> {
    let after = apply(before, p);
    let rack: BTreeMap<i32, &str> = before
        .brokers
        .iter()
        .map(|b| (b.id, b.rack.as_deref().unwrap()))
        .collect();
    let live: Vec<&Broker> = before
        .brokers
        .iter()
        .filter(|b| !opts.remove_brokers.contains(&b.id))
        .collect();
    let azs: BTreeSet<&str> = live.iter().map(|b| b.rack.as_deref().unwrap()).collect();
    let mut load: BTreeMap<i32, (u64, u64)> = live.iter().map(|b| (b.id, (0, 0))).collect();
    for (pa, old) in after.partitions.iter().zip(&before.partitions) {
        let set: BTreeSet<i32> = pa.replicas.iter().copied().collect();
        assert_eq!(set.len(), pa.replicas.len(), "distinct brokers: {pa:?}");
        assert_eq!(pa.replicas.len(), old.replicas.len(), "RF kept");
        let cap = pa.replicas.len().div_ceil(azs.len());
        let mut per_az: BTreeMap<&str, usize> = BTreeMap::new();
        for b in &pa.replicas {
            assert!(
                !opts.remove_brokers.contains(b),
                "replica left on removed broker {b}: {pa:?}"
            );
            *per_az.entry(rack[b]).or_default() += 1;
        }
        assert!(
            per_az.values().all(|&k| k <= cap),
            "AZ rule broken: {pa:?} {per_az:?}"
        );
        for (i, b) in pa.replicas.iter().enumerate() {
            let e = load.get_mut(b).unwrap();
            e.0 += 1;
            e.1 += u64::from(i == 0);
        }
    }
    // Balance within each AZ, and across the cluster when AZs are the same size.
    let mut by_az: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for b in &live {
        by_az
            .entry(b.rack.as_deref().unwrap())
            .or_default()
            .push(load[&b.id].0);
    }
    for (az, v) in &by_az {
        let (mn, mx) = (v.iter().min().unwrap(), v.iter().max().unwrap());
        assert!(mx - mn <= 1, "replicas unbalanced in {az}: {v:?}");
    }
    let sizes: BTreeSet<usize> = by_az.values().map(Vec::len).collect();
    if sizes.len() == 1 {
        let all: Vec<u64> = load.values().map(|x| x.0).collect();
        assert!(
            all.iter().max().unwrap() - all.iter().min().unwrap() <= 1,
            "replicas unbalanced across AZs: {load:?}"
        );
        let leaders: Vec<u64> = load.values().map(|x| x.1).collect();
        assert!(
            leaders.iter().max().unwrap() - leaders.iter().min().unwrap() <= 1,
            "leaders unbalanced: {load:?}"
        );
    }
    // The summary is what applying the plan gives.
    let s = &p.summary;
    // New replicas per partition, and what each copies.
    let (moved, bytes) =
        after
            .partitions
            .iter()
            .zip(&before.partitions)
            .fold((0u64, 0u64), |(m, by), (a, b)| {
                let new = a
                    .replicas
                    .iter()
                    .filter(|x| !b.replicas.contains(x))
                    .count() as u64;
                (m + new, by + new * b.move_bytes())
            });
    assert_eq!(s.replicas_moved, moved);
    assert_eq!(s.bytes_moved, bytes);
    let leader_changes = after
        .partitions
        .iter()
        .zip(&before.partitions)
        .filter(|(a, b)| a.replicas[0] != b.replicas[0])
        .count() as u64;
    assert_eq!(s.leader_changes, leader_changes);
    assert_eq!(s.partitions_changed, p.changes.len() as u64);
    assert!(
        p.changes
            .iter()
            .all(|(i, r)| before.partitions[*i].replicas != *r),
        "only changed partitions in the plan"
    );
    for b in &s.brokers {
        if let Some((r, l)) = load.get(&b.id) {
            assert_eq!(
                (b.replicas_after, b.leaders_after),
                (*r, *l),
                "broker {}",
                b.id
            );
        } else {
            assert_eq!(b.replicas_after, 0);
        }
    }
    assert_eq!(s.az_violations_after, 0);
    assert!(s.complete);
    assert!(
        s.replicas_moved >= s.lower_bound_moves,
        "below the lower bound?! {} < {}",
        s.replicas_moved,
        s.lower_bound_moves
    );
    load
}

fn run(c: &Cluster, opts: &PlanOptions) -> Plan {
    let p = plan(c, opts).unwrap();
    // Deterministic: the same input gives the same plan.
    let again = plan(c, opts).unwrap();
    assert_eq!(p.changes, again.changes);
    p
}

#[test]
fn expansion_6_to_9_moves_exactly_the_lower_bound() {
    let mut bs = brokers(&[2, 2, 2]);
    let parts = rack_aware(&bs, 300, 3);
    // Three new brokers, one per AZ.
    for (id, az) in [(7, 'a'), (8, 'b'), (9, 'c')] {
        bs.push(Broker {
            id,
            rack: Some(format!("us-east-1{az}")),
            offline: false,
            capacity_bytes: None,
        });
    }
    let c = Cluster {
        brokers: bs,
        partitions: parts,
    };
    let opts = PlanOptions::default();
    let p = run(&c, &opts);
    let load = check_rules(&c, &opts, &p);
    assert_eq!(p.summary.replicas_moved, p.summary.lower_bound_moves);
    // 900 replicas over 9 brokers: 100 each; the 3 new brokers get 300 replicas.
    assert_eq!(p.summary.replicas_moved, 300);
    assert!(load.values().all(|&(r, _)| r == 100));
    // Same-AZ moves only (every AZ keeps one replica of each partition).
    for s in &p.summary.azs {
        assert_eq!(s.replicas_before, s.replicas_after);
    }
}

#[test]
fn draining_a_broker_moves_only_its_replicas_within_its_az() {
    let bs = brokers(&[3, 3, 3]);
    let c = Cluster {
        partitions: rack_aware(&bs, 270, 3),
        brokers: bs,
    };
    let opts = PlanOptions {
        remove_brokers: [5].into(),
        ..Default::default()
    };
    let p = run(&c, &opts);
    check_rules(&c, &opts, &p);
    let on5 = c
        .partitions
        .iter()
        .filter(|p| p.replicas.contains(&5))
        .count() as u64;
    assert_eq!(p.summary.replicas_moved, on5);
    assert_eq!(p.summary.lower_bound_moves, on5);
    assert_eq!(p.summary.replicas_on_removed_brokers_after, 0);
}

#[test]
fn an_offline_broker_may_only_be_drained() {
    let mut bs = brokers(&[3, 3, 3]);
    bs.iter_mut().find(|b| b.id == 5).unwrap().offline = true;
    let c = Cluster {
        partitions: rack_aware(&bs, 90, 3),
        brokers: bs,
    };
    // A plan that keeps broker 5 could put replicas on it: refused.
    let err = plan(&c, &PlanOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "broker 5 is offline (registered but not running), so it can take no replica"
    );
    // Drained: its replicas leave, within its AZ, and nothing lands on it.
    let opts = PlanOptions {
        remove_brokers: [5].into(),
        ..Default::default()
    };
    let p = run(&c, &opts);
    check_rules(&c, &opts, &p);
    assert_eq!(p.summary.replicas_on_removed_brokers_after, 0);
}

#[test]
fn repairing_a_rack_unaware_layout_stays_at_the_bound() {
    let bs = brokers(&[2, 2, 2]);
    let mut rng = Rng(42);
    let mut parts = Vec::new();
    for i in 0..600 {
        // Kafka's rack-unaware assignment: random start, consecutive brokers.
        let start = rng.below(6);
        let replicas = (0..3).map(|k| ((start + k) % 6 + 1) as i32).collect();
        parts.push(part("clicks", i, replicas, 10_000 + rng.below(1000) as u64));
    }
    let c = Cluster {
        brokers: bs,
        partitions: parts,
    };
    let opts = PlanOptions::default();
    let p = run(&c, &opts);
    check_rules(&c, &opts, &p);
    assert!(p.summary.az_violations_before > 0);
    let (m, lb) = (p.summary.replicas_moved, p.summary.lower_bound_moves);
    assert!(
        m as f64 <= lb as f64 * 1.01 + 1.0,
        "moves {m} vs bound {lb}"
    );
}

#[test]
fn unequal_azs_are_handled() {
    // 3 + 2 + 1 brokers: RF 3 needs one replica per AZ, so the lone broker holds every partition.
    let bs = brokers(&[3, 2, 1]);
    let mut rng = Rng(7);
    let parts = (0..60)
        .map(|i| {
            let mut r: Vec<i32> = Vec::new();
            while r.len() < 3 {
                let b = rng.below(6) as i32 + 1;
                if !r.contains(&b) {
                    r.push(b);
                }
            }
            part("t", i, r, 100)
        })
        .collect();
    let c = Cluster {
        brokers: bs,
        partitions: parts,
    };
    let opts = PlanOptions::default();
    let p = run(&c, &opts);
    let load = check_rules(&c, &opts, &p);
    assert_eq!(load[&6].0, 60);
}

#[test]
fn prefers_small_partitions_when_counts_tie() {
    let mut bs = brokers(&[1, 1, 1]);
    let mut parts = rack_aware(&bs, 6, 3);
    for (i, p) in parts.iter_mut().enumerate() {
        p.size_bytes = Some(if i % 2 == 0 { 1_000_000 } else { 10 });
    }
    for (id, az) in [(4, 'a'), (5, 'b'), (6, 'c')] {
        bs.push(Broker {
            id,
            rack: Some(format!("us-east-1{az}")),
            offline: false,
            capacity_bytes: None,
        });
    }
    let c = Cluster {
        brokers: bs,
        partitions: parts,
    };
    let p = run(&c, &PlanOptions::default());
    assert_eq!(p.summary.replicas_moved, 9);
    assert_eq!(p.summary.bytes_moved, 90, "the small partitions move");
}

#[test]
fn tiered_partitions_are_priced_by_local_bytes() {
    let mut bs = brokers(&[1, 1, 1]);
    let mut parts = rack_aware(&bs, 6, 3);
    for p in &mut parts {
        p.size_bytes = Some(1_000_000);
        p.local_size_bytes = Some(1_000);
    }
    bs.extend([(4, 'a'), (5, 'b'), (6, 'c')].map(|(id, az)| Broker {
        id,
        rack: Some(format!("us-east-1{az}")),
        offline: false,
        capacity_bytes: None,
    }));
    let c = Cluster {
        brokers: bs,
        partitions: parts,
    };
    let p = run(&c, &PlanOptions::default());
    assert_eq!(p.summary.bytes_moved, p.summary.replicas_moved * 1_000);
}

#[test]
fn move_budget_keeps_removals_first() {
    let bs = brokers(&[3, 3, 3]);
    let mut c = Cluster {
        partitions: rack_aware(&bs, 90, 3),
        brokers: bs,
    };
    c.brokers.push(Broker {
        id: 10,
        rack: Some("us-east-1a".into()),
        offline: false,
        capacity_bytes: None,
    });
    let opts = PlanOptions {
        remove_brokers: [1].into(),
        max_moves: Some(5),
        ..Default::default()
    };
    let p = plan(&c, &opts).unwrap();
    assert!(p.summary.replicas_moved <= 5);
    assert!(p.summary.budget_limited);
    assert!(!p.summary.complete);
    // Every move made drains broker 1.
    for (i, r) in &p.changes {
        let before = &c.partitions[*i].replicas;
        if r.iter().any(|b| !before.contains(b)) {
            assert!(before.contains(&1));
        }
    }
}

#[test]
fn topic_filter_moves_only_matching_topics() {
    let mut bs = brokers(&[1, 1, 1]);
    let mut parts = rack_aware(&bs, 6, 3);
    for (i, p) in parts.iter_mut().enumerate() {
        p.topic = if i < 3 { "keep".into() } else { "move".into() };
        p.partition = i as i32;
    }
    bs.extend([(4, 'a'), (5, 'b'), (6, 'c')].map(|(id, az)| Broker {
        id,
        rack: Some(format!("us-east-1{az}")),
        offline: false,
        capacity_bytes: None,
    }));
    let c = Cluster {
        brokers: bs,
        partitions: parts,
    };
    let opts = PlanOptions {
        topics: Some(regex::Regex::new("^move$").unwrap()),
        ..Default::default()
    };
    let p = plan(&c, &opts).unwrap();
    assert!(p.summary.replicas_moved > 0);
    assert!(p
        .changes
        .iter()
        .all(|(i, _)| c.partitions[*i].topic == "move"));
}

#[test]
fn impossible_inputs_are_rejected() {
    let bs = brokers(&[1, 1]);
    let c = Cluster {
        brokers: bs.clone(),
        partitions: vec![part("t", 0, vec![1, 2], 1)],
    };
    let e = plan(
        &c,
        &PlanOptions {
            remove_brokers: [2].into(),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("needs 2 replicas"), "{e}");
    let c = Cluster {
        brokers: bs.clone(),
        partitions: vec![part("t", 0, vec![1, 9], 1)],
    };
    assert!(plan(&c, &PlanOptions::default())
        .unwrap_err()
        .to_string()
        .contains("broker 9"));
    let c = Cluster {
        brokers: bs.clone(),
        partitions: vec![part("t", 0, vec![1, 1], 1)],
    };
    assert!(plan(&c, &PlanOptions::default()).is_err());
    let mut nr = bs.clone();
    nr[0].rack = None;
    let c = Cluster {
        brokers: nr,
        partitions: vec![part("t", 0, vec![1, 2], 1)],
    };
    assert!(plan(&c, &PlanOptions::default())
        .unwrap_err()
        .to_string()
        .contains("no rack"));
    let c = Cluster {
        brokers: bs,
        partitions: vec![],
    };
    assert!(plan(
        &c,
        &PlanOptions {
            remove_brokers: [7].into(),
            ..Default::default()
        }
    )
    .is_err());
}

// --- property tests over random clusters ---------------------------------------------------

fn random_cluster() -> impl Strategy<Value = (Cluster, PlanOptions)> {
    (
        prop::collection::vec(1usize..5, 1..5), // brokers per AZ (1-4 AZs, unequal)
        1usize..6,                              // RF
        1usize..80,                             // partitions
        any::<u64>(),                           // layout seed
        0usize..3,                              // brokers to drain
        0usize..3,                              // new brokers
    )
        .prop_filter_map("RF must fit", |(per_az, rf, np, seed, drain, add)| {
            let mut bs = brokers(&per_az);
            let n = bs.len();
            let mut rng = Rng(seed | 1);
            let mut parts = Vec::new();
            for i in 0..np {
                let mut r: Vec<i32> = Vec::new();
                if rf > n {
                    return None;
                }
                while r.len() < rf {
                    let b = rng.below(n) as i32 + 1;
                    if !r.contains(&b) {
                        r.push(b);
                    }
                }
                parts.push(part(
                    &format!("t{}", i % 3),
                    i,
                    r,
                    rng.below(1_000_000) as u64,
                ));
            }
            for k in 0..add {
                let az = k % per_az.len();
                bs.push(Broker {
                    id: 100 + k as i32,
                    rack: Some(format!("us-east-1{}", (b'a' + az as u8) as char)),
                    offline: false,
                    capacity_bytes: None,
                });
            }
            let mut removed = BTreeSet::new();
            for k in 0..drain {
                removed.insert(1 + (k * 3 % n) as i32);
            }
            let c = Cluster {
                brokers: bs,
                partitions: parts,
            };
            let opts = PlanOptions {
                remove_brokers: removed,
                ..Default::default()
            };
            Some((c, opts))
        })
}

proptest! {
    // 300 cases by default; PROPTEST_CASES=5000 for a longer search.
    #![proptest_config(ProptestConfig::with_cases(std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300)))]

    #[test]
    fn every_rule_holds_on_random_clusters((c, opts) in random_cluster()) {
        match plan(&c, &opts) {
            Ok(p) => {
                check_rules(&c, &opts, &p);
                let again = plan(&c, &opts).unwrap();
                prop_assert_eq!(&p.changes, &again.changes);
                // Applying the plan and planning again changes nothing more.
                let settled = apply(&c, &p);
                let next = plan(&settled, &opts).unwrap();
                prop_assert_eq!(next.summary.replicas_moved, 0, "a balanced result needs no more moves");
            }
            Err(e) => {
                // Only genuinely impossible topologies are refused.
                let msg = e.to_string();
                prop_assert!(msg.contains("needs") || msg.contains("no brokers would be left"), "{}", msg);
            }
        }
    }
}
