//! Byte balance (`--balance bytes`): an expansion relieves the full disks, a topic piled on three
//! brokers spreads out, every broker ends within the band around its AZ's mean (or within one
//! replica of it where sizes make the band unreachable), near the fewest bytes moved.

use std::collections::BTreeMap;

use proptest::prelude::*;
use streamctl::assign::{plan, Balance, Broker, Cluster, PartitionAssignment, Plan, PlanOptions};

#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

const GIB: u64 = 1 << 30;

fn broker(id: i32, az: usize) -> Broker {
    Broker {
        id,
        rack: Some(format!("us-east-1{}", (b'a' + az as u8) as char)),
        offline: false,
        capacity_bytes: None,
    }
}

/// A log-normal size with median `median` and shape `sigma` (Box-Muller on the test RNG).
fn lognormal(rng: &mut Rng, median: f64, sigma: f64) -> u64 {
    let u1 = (rng.next() % 1_000_000 + 1) as f64 / 1_000_001.0;
    let u2 = (rng.next() % 1_000_000) as f64 / 1_000_000.0;
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    (median * (sigma * z).exp()).max(1.0) as u64
}

fn bytes_opts() -> PlanOptions {
    PlanOptions {
        balance: Balance::Bytes,
        ..Default::default()
    }
}

fn apply(c: &Cluster, p: &Plan) -> Cluster {
    let mut out = c.clone();
    for (i, r) in &p.changes {
        out.partitions[*i].replicas = r.clone();
    }
    out
}

/// Per AZ: (max, min) of broker utilisation over the AZ's mean utilisation (bytes over the mean
/// bytes where disk sizes are not all known), for live brokers of `c`.
fn spread(c: &Cluster, removed: &[i32]) -> (f64, f64) {
    let cap: BTreeMap<i32, f64> = c
        .brokers
        .iter()
        .map(|b| (b.id, b.capacity_bytes.unwrap_or(1) as f64))
        .collect();
    let rack: BTreeMap<i32, &str> = c
        .brokers
        .iter()
        .map(|b| (b.id, b.rack.as_deref().unwrap()))
        .collect();
    let bytes = live_bytes(c, c, removed);
    let mut by_az: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for (b, x) in &bytes {
        by_az.entry(rack[b]).or_default().push((*x as f64, cap[b]));
    }
    let (mut max, mut min) = (0.0f64, f64::MAX);
    for v in by_az.values() {
        let level = v.iter().map(|x| x.0).sum::<f64>() / v.iter().map(|x| x.1).sum::<f64>();
        for &(x, c) in v {
            max = max.max(x / c / level);
            min = min.min(x / c / level);
        }
    }
    (max, min)
}

/// Issue #13's first case: 6 old brokers (two per AZ) holding 600 partitions of RF 3 with
/// log-normal sizes (scaled to `total` bytes when given), 20 topics, and three new brokers.
fn six_to_nine(total: Option<f64>) -> Cluster {
    let mut rng = Rng(0x5eed_1234);
    let mut brokers: Vec<Broker> = (1..=6).map(|b| broker(b, (b as usize - 1) % 3)).collect();
    let mut partitions: Vec<PartitionAssignment> = (0..600usize)
        .map(|i| PartitionAssignment {
            topic: format!("t{}", i % 20),
            partition: i as i32,
            // One broker per AZ: (1|4, 2|5, 3|6), rotating.
            replicas: (0..3)
                .map(|k: usize| 1 + k as i32 + 3 * ((i / 3 + k) % 2) as i32)
                .collect(),
            size_bytes: Some(lognormal(&mut rng, 2.0 * GIB as f64, 1.0)),
            local_size_bytes: None,
        })
        .collect();
    if let Some(total) = total {
        let sum: u64 = partitions.iter().map(|p| p.size_bytes.unwrap()).sum();
        let k = total / sum as f64;
        for p in &mut partitions {
            p.size_bytes = Some((p.size_bytes.unwrap() as f64 * k) as u64);
        }
    }
    brokers.extend((7..=9).map(|b| broker(b, (b as usize - 1) % 3)));
    Cluster {
        brokers,
        partitions,
    }
}

/// Issue #13's first case: 6 → 9 brokers, 600 partitions of RF 3, log-normal sizes, 2.7 TiB.
#[test]
fn an_expansion_brings_every_broker_within_five_percent_of_its_az_mean() {
    let c = six_to_nine(Some(2.7 * 1024.0 * GIB as f64));
    let before = spread(&c, &[]);
    let counts = plan(&c, &PlanOptions::default()).unwrap();
    let p = plan(&c, &bytes_opts()).unwrap();
    let after = spread(&apply(&c, &p), &[]);
    let bb = p.summary.byte_balance.as_ref().unwrap();
    println!(
        "6 -> 9: before max/mean {:.2} min/mean {:.2}; replica balance moves {} GiB -> max/mean {:.2} min/mean {:.2}; byte balance moves {} GiB (bound {} GiB, {:.3} x) -> max/mean {:.3} min/mean {:.3}",
        before.0, before.1,
        counts.summary.bytes_moved / GIB, spread(&apply(&c, &counts), &[]).0, spread(&apply(&c, &counts), &[]).1,
        p.summary.bytes_moved / GIB, bb.lower_bound_bytes / GIB, p.summary.bytes_moved as f64 / bb.lower_bound_bytes as f64,
        after.0, after.1
    );
    assert!(after.0 <= 1.05 && after.1 >= 0.95, "{after:?}");
    assert_eq!((bb.max_over_mean_after, bb.min_over_mean_after), after);
    println!(
        "topic spread violations: replica balance {} -> {}, byte balance {} -> {}",
        counts.summary.topic_spread_violations_before,
        counts.summary.topic_spread_violations_after,
        p.summary.topic_spread_violations_before,
        p.summary.topic_spread_violations_after
    );
    // Every topic spread: no broker above ceil(topic replicas / brokers) + 1 of one topic.
    assert!(p.summary.topic_spread_violations_before > 0);
    assert_eq!(p.summary.topic_spread_violations_after, 0);
    assert!(p.summary.bytes_moved as f64 <= 1.10 * bb.lower_bound_bytes as f64);
    assert_eq!(p.summary.az_violations_after, 0);

    // Within a budget, the moves off the fullest brokers come first. Each AZ's two old brokers
    // hold about 1.5 x the AZ mean and must shed a third of their bytes, so a quarter of the
    // plan's bytes, shared by six old brokers, can only narrow the worst a little: measured
    // 1.40 x worst-first against 1.43 x with the cheapest moves first.
    let budget = PlanOptions {
        max_move_bytes: Some(p.summary.bytes_moved / 4),
        ..bytes_opts()
    };
    let part = plan(&c, &budget).unwrap();
    let partial = spread(&apply(&c, &part), &[]);
    println!(
        "budget of a quarter of the bytes: {} GiB moved, max/mean {:.2} -> {:.2}",
        part.summary.bytes_moved / GIB,
        before.0,
        partial.0
    );
    assert!(part.summary.budget_limited);
    assert!(partial.0 <= 1.42, "{partial:?} vs {before:?}");
}

/// Issue #13's second case: equal replica counts, but one topic's 30 partitions of 50 GiB on
/// brokers 1-3 and another's of 1 GiB on 4-6.
#[test]
fn a_topic_piled_on_three_brokers_is_spread_until_bytes_are_even() {
    let brokers: Vec<Broker> = (1..=6).map(|b| broker(b, (b as usize - 1) % 3)).collect();
    let mut partitions = Vec::new();
    for i in 0..30 {
        for (topic, replicas, size) in [("big", [1, 2, 3], 50 * GIB), ("small", [4, 5, 6], GIB)] {
            partitions.push(PartitionAssignment {
                topic: topic.into(),
                partition: i,
                replicas: replicas.to_vec(),
                size_bytes: Some(size),
                local_size_bytes: None,
            });
        }
    }
    let c = Cluster {
        brokers,
        partitions,
    };
    // Counts are even already, but the spread rule holds in every mode: replica balance swaps
    // 14 big for 14 small replicas in each AZ (30 of one topic on a broker of a two-broker AZ,
    // limit ceil(30 / 2) + 1 = 16), which is what the rule forces, and the bound says so.
    let counts = plan(&c, &PlanOptions::default()).unwrap();
    assert_eq!(counts.summary.replicas_moved, 84);
    assert_eq!(counts.summary.lower_bound_moves, 84);
    assert_eq!(counts.summary.topic_spread_violations_after, 0);
    let p = plan(&c, &bytes_opts()).unwrap();
    let after = apply(&c, &p);
    let (max, min) = spread(&after, &[]);
    let bb = p.summary.byte_balance.as_ref().unwrap();
    println!(
        "piled topic: {} GiB moved (bound {} GiB), max/mean {max:.3} min/mean {min:.3}",
        p.summary.bytes_moved / GIB,
        bb.lower_bound_bytes / GIB
    );
    assert!(max <= 1.05 && min >= 0.95, "{max} {min}");
    assert!(p.summary.bytes_moved as f64 <= 1.10 * bb.lower_bound_bytes as f64);
    // No broker holds more than ceil(90 / 6) + 1 = 16 replicas of the big topic.
    let mut per: BTreeMap<i32, usize> = BTreeMap::new();
    for q in after.partitions.iter().filter(|q| q.topic == "big") {
        for r in &q.replicas {
            *per.entry(*r).or_default() += 1;
        }
    }
    assert!(per.values().all(|&n| n <= 16), "{per:?}");
    // Planning the result again moves nothing.
    assert_eq!(
        plan(&after, &bytes_opts()).unwrap().summary.replicas_moved,
        0
    );
}

/// Old large disks and new small ones (a drain's destination after tiering): bytes follow the
/// disk sizes, every broker's utilisation within ±5 % of its AZ's, none above 80 %; and a plan
/// that cannot stay under the limit is refused, naming the brokers.
#[test]
fn unequal_disks_are_balanced_by_utilisation_and_never_planned_above_the_limit() {
    let tib = 1u64 << 40;
    let mut brokers: Vec<Broker> = (1..=6).map(|b| broker(b, (b as usize - 1) % 3)).collect();
    for b in &mut brokers {
        b.capacity_bytes = Some(if b.id <= 3 { 10 * tib } else { 4 * tib });
    }
    let mut rng = Rng(42);
    let partitions: Vec<PartitionAssignment> = (0..300usize)
        .map(|i| PartitionAssignment {
            topic: format!("t{}", i % 7),
            partition: i as i32,
            replicas: vec![1, 2, 3],
            size_bytes: Some(lognormal(&mut rng, 10.0 * GIB as f64, 1.0)),
            local_size_bytes: None,
        })
        .collect();
    let c = Cluster {
        brokers,
        partitions,
    };
    let p = plan(
        &c,
        &PlanOptions {
            max_disk_utilisation: Some(0.8),
            ..bytes_opts()
        },
    )
    .unwrap();
    let after = apply(&c, &p);
    let (max, min) = spread(&after, &[]);
    println!(
        "by utilisation: max/mean {max:.3} min/mean {min:.3}, {} GiB moved",
        p.summary.bytes_moved / GIB
    );
    assert!(max <= 1.05 && min >= 0.95, "{max} {min}");
    // The summary gives each broker's disk and utilisation before and after.
    for b in &p.summary.brokers {
        let cap = b.capacity_bytes.unwrap() as f64;
        assert_eq!(b.utilisation_before, Some(b.bytes_before as f64 / cap));
        assert_eq!(b.utilisation_after, Some(b.bytes_after as f64 / cap));
    }
    // A byte count that no layout fits under 80 % of these disks is refused, by broker.
    let mut full = c.clone();
    for b in &mut full.brokers {
        b.capacity_bytes = Some(b.capacity_bytes.unwrap() / 8);
    }
    let err = plan(
        &full,
        &PlanOptions {
            max_disk_utilisation: Some(0.8),
            ..bytes_opts()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("above --max-disk-utilisation 0.8") && err.contains("broker(s) 1 ("),
        "{err}"
    );
    // Without disk sizes nothing is checked (a snapshot file may not carry them).
    assert!(plan(
        &Cluster {
            brokers: c
                .brokers
                .iter()
                .map(|b| Broker {
                    capacity_bytes: None,
                    ..b.clone()
                })
                .collect(),
            ..c.clone()
        },
        &PlanOptions {
            max_disk_utilisation: Some(0.8),
            ..bytes_opts()
        }
    )
    .is_ok());
}

/// What a random cluster was generated as: 0 a balanced-ish layout, 1 an expansion (a new
/// broker per AZ), 2 a drain (broker 1); and the log-normal shape of its partition sizes.
#[derive(Debug, Clone, Copy)]
struct Case {
    kind: usize,
    sigma: f64,
}

/// Random clusters: 1-3 AZs of unequal sizes, RF 1-3, log-normal sizes up to sigma 2, unequal
/// disks on every other case, new brokers or a drained one.
fn random_cluster() -> impl Strategy<Value = (Cluster, PlanOptions, Case)> {
    (
        1usize..=4,
        prop::collection::vec(2usize..=4, 4),
        1usize..=5,
        30usize..200,
        0u64..1000,
        0.2f64..2.0,
        0usize..3,
    )
        .prop_filter_map("feasible", |(nz, sizes, rf, np, seed, sigma, kind)| {
            let mut rng = Rng(seed * 7919 + 17);
            let mut brokers = Vec::new();
            let mut id = 1;
            for (a, &n) in sizes.iter().enumerate().take(nz) {
                for _ in 0..n {
                    brokers.push(broker(id, a));
                    id += 1;
                }
            }
            if rf > brokers.len() {
                return None;
            }
            // Kind 0: balanced-ish layout; 1: new empty broker per AZ; 2: drain broker 1.
            let old: Vec<i32> = brokers.iter().map(|b| b.id).collect();
            let by_az: Vec<Vec<i32>> = (0..nz)
                .map(|a| {
                    brokers
                        .iter()
                        .filter(|b| {
                            b.rack.as_deref()
                                == Some(&format!("us-east-1{}", (b'a' + a as u8) as char))
                        })
                        .map(|b| b.id)
                        .collect()
                })
                .collect();
            let partitions: Vec<PartitionAssignment> = (0..np)
                .map(|i| {
                    let mut replicas: Vec<i32> = Vec::new();
                    for k in 0..rf {
                        let az = &by_az[(i + k) % nz];
                        let mut b = az[rng.below(az.len())];
                        let mut tries = 0;
                        while replicas.contains(&b) && tries < 20 {
                            b = old[rng.below(old.len())];
                            tries += 1;
                        }
                        if replicas.contains(&b) {
                            return None;
                        }
                        replicas.push(b);
                    }
                    Some(PartitionAssignment {
                        // Two partitions a topic: the per-topic spread rule (its own test above)
                        // rarely binds here, so the band is what is checked.
                        topic: format!("t{}", i / 2),
                        partition: i as i32,
                        replicas,
                        size_bytes: Some(lognormal(&mut rng, 1e9, sigma)),
                        local_size_bytes: None,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            // Unequal disks on every other case: 1x to 4x a share of the bytes, so most fit.
            if seed % 2 == 1 {
                let total: u64 = partitions
                    .iter()
                    .map(|q| q.move_bytes() * q.replicas.len() as u64)
                    .sum();
                let share = total / brokers.len() as u64;
                for b in &mut brokers {
                    b.capacity_bytes = Some(share * (1 + rng.below(4) as u64));
                }
            }
            let mut opts = bytes_opts();
            opts.max_disk_utilisation = Some(0.8);
            let growth = kind == 1;
            if growth {
                for a in 0..nz {
                    let mut b = broker(id, a);
                    b.capacity_bytes = brokers[0].capacity_bytes;
                    brokers.push(b);
                    id += 1;
                }
            } else if kind == 2 {
                opts.remove_brokers = [1].into();
            }
            Some((
                Cluster {
                    brokers,
                    partitions,
                },
                opts,
                Case { kind, sigma },
            ))
        })
}

proptest! {
    #[test]
    fn byte_balance_keeps_the_rules_reaches_the_band_and_stays_near_the_bound((c, opts, case) in random_cluster()) {
        let p = match plan(&c, &opts) {
            Ok(p) => p,
            // Disks too small for the bytes: refused (checked below that it is true).
            Err(e @ streamctl::assign::PlanError::OverCapacity { .. }) => {
                prop_assert!(e.to_string().contains('%'));
                return Ok(());
            }
            Err(_) => return Ok(()), // infeasible inputs are the planner's other tests' business
        };
        prop_assert_eq!(p.summary.az_violations_after, 0);
        prop_assert_eq!(p.summary.replicas_on_removed_brokers_after, 0);
        let after = apply(&c, &p);
        for q in &after.partitions {
            let mut r = q.replicas.clone();
            r.sort_unstable();
            r.dedup();
            prop_assert_eq!(r.len(), q.replicas.len());
        }
        let bb = p.summary.byte_balance.clone().unwrap();
        // Within the band, or within one largest replica of it.
        let largest = largest_replica(&c);
        let removed: Vec<i32> = opts.remove_brokers.iter().copied().collect();
        let rack: BTreeMap<i32, &str> = c.brokers.iter().map(|b| (b.id, b.rack.as_deref().unwrap())).collect();
        let mut bytes: BTreeMap<i32, u64> = c.brokers.iter().filter(|b| !removed.contains(&b.id)).map(|b| (b.id, 0)).collect();
        for q in &after.partitions {
            for r in &q.replicas {
                *bytes.get_mut(r).unwrap() += q.move_bytes();
            }
        }
        let cap: BTreeMap<i32, Option<u64>> = c.brokers.iter().map(|b| (b.id, b.capacity_bytes)).collect();
        let mut by_az: BTreeMap<&str, Vec<(u64, i32)>> = BTreeMap::new();
        for (b, x) in &bytes {
            by_az.entry(rack[b]).or_default().push((*x, *b));
        }
        let mut in_band = true;
        for v in by_az.values() {
            // The band is around the AZ's mean utilisation when every disk size is known.
            let sized = v.iter().all(|(_, b)| cap[b].is_some());
            let weight = |b: i32| if sized { cap[&b].unwrap() as f64 } else { 1.0 };
            let level = v.iter().map(|x| x.0 as f64).sum::<f64>() / v.iter().map(|x| weight(x.1)).sum::<f64>();
            // (where a broker's share exceeds one replica of every partition, the band cannot be
            // reached: the planner water-fills; only the hard rules are checked here)
            let one_each: f64 = after.partitions.iter().filter(|q| q.replicas.iter().any(|r| v.iter().any(|x| x.1 == *r))).map(|q| q.move_bytes() as f64).sum();
            if v.iter().any(|&(_, b)| level * weight(b) > one_each) {
                for &(x, b) in v {
                    if let Some(c) = cap[&b] {
                        prop_assert!(x as f64 <= 0.8 * c as f64, "broker {} above 80 %", b);
                    }
                }
                in_band = false;
                continue;
            }
            for &(x, b) in v {
                if let Some(c) = cap[&b] {
                    prop_assert!(x as f64 <= 0.8 * c as f64, "broker {} above 80 %", b);
                }
                let mean = level * weight(b);
                let hi = match cap[&b] { Some(c) if sized => (mean * 1.05).min(0.8 * c as f64), _ => mean * 1.05 };
                in_band &= (x as f64) <= hi + 1.0 && (x as f64) >= mean * 0.95 - 1.0;
                prop_assert!((x as f64) <= mean * 1.05 + largest && (x as f64) >= mean * 0.95 - largest, "{} vs mean {}", x, mean);
            }
        }
        // The bound is one: a plan that reaches the band moves at least that much.
        if band_reached(&c, &after, &removed) {
            prop_assert!(p.summary.bytes_moved >= bb.lower_bound_bytes,
                "in the band with {} moved, below the bound {}", p.summary.bytes_moved, bb.lower_bound_bytes);
        }
        if case.kind != 0 && bb.lower_bound_bytes > 0 {
            // Issue #13's 1.10 x, on expansions and drains with sizes up to sigma 2
            // (`survey_bytes_moved_against_the_bound` prints how close over many clusters).
            prop_assert!(p.summary.bytes_moved as f64 <= 1.10 * bb.lower_bound_bytes as f64,
                "moved {} bound {}", p.summary.bytes_moved, bb.lower_bound_bytes);
        }
        // Planning a result within the band again moves nothing.
        if !in_band {
            return Ok(());
        }
        let mut again_opts = opts.clone();
        again_opts.remove_brokers.clear();
        let again = plan(&Cluster { brokers: c.brokers.iter().filter(|b| !removed.contains(&b.id)).cloned().collect(), partitions: after.partitions.clone() }, &again_opts).unwrap();
        prop_assert_eq!(again.summary.replicas_moved, 0);
    }
}

/// Whether some AZ's band cannot be centred on its mean: a broker's share of the AZ's bytes
/// exceeds the bytes of one replica of every partition with a replica in that AZ.
fn capped(c: &Cluster, after: &Cluster, removed: &[i32]) -> bool {
    let rack: BTreeMap<i32, &str> = c
        .brokers
        .iter()
        .map(|b| (b.id, b.rack.as_deref().unwrap()))
        .collect();
    let live: Vec<&Broker> = c
        .brokers
        .iter()
        .filter(|b| !removed.contains(&b.id))
        .collect();
    let azs: std::collections::BTreeSet<&str> = live.iter().map(|b| rack[&b.id]).collect();
    azs.into_iter().any(|a| {
        let members: Vec<&&Broker> = live.iter().filter(|b| rack[&b.id] == a).collect();
        let weight = |b: &Broker| {
            if members.iter().all(|m| m.capacity_bytes.is_some()) {
                b.capacity_bytes.unwrap() as f64
            } else {
                1.0
            }
        };
        let total: f64 = after
            .partitions
            .iter()
            .map(|q| {
                q.move_bytes() as f64 * q.replicas.iter().filter(|r| rack[r] == a).count() as f64
            })
            .sum();
        let one_each: f64 = after
            .partitions
            .iter()
            .filter(|q| q.replicas.iter().any(|r| rack[r] == a))
            .map(|q| q.move_bytes() as f64)
            .sum();
        let wsum: f64 = members.iter().map(|b| weight(b)).sum();
        members.iter().any(|b| total * weight(b) / wsum > one_each)
    })
}

/// Each live broker of `c` (not in `removed`) and the bytes its replicas in `layout` hold.
fn live_bytes(c: &Cluster, layout: &Cluster, removed: &[i32]) -> BTreeMap<i32, u64> {
    let mut bytes: BTreeMap<i32, u64> = c
        .brokers
        .iter()
        .filter(|b| !removed.contains(&b.id))
        .map(|b| (b.id, 0))
        .collect();
    for p in &layout.partitions {
        for r in &p.replicas {
            *bytes.get_mut(r).expect("a live broker") += p.move_bytes();
        }
    }
    bytes
}

/// Whether every live broker ends within its band (±5 % of its AZ's mean bytes, or utilisation
/// where every disk size in the AZ is known, the top capped at 80 % of a disk): what a plan is
/// asked to reach; the bytes bound is a bound on the plans that reach it.
fn band_reached(c: &Cluster, after: &Cluster, removed: &[i32]) -> bool {
    let bytes: BTreeMap<i32, f64> = live_bytes(c, after, removed)
        .into_iter()
        .map(|(b, x)| (b, x as f64))
        .collect();
    let mut by_az: BTreeMap<&str, Vec<&Broker>> = BTreeMap::new();
    for b in c.brokers.iter().filter(|b| !removed.contains(&b.id)) {
        by_az.entry(b.rack.as_deref().unwrap()).or_default().push(b);
    }
    by_az.values().all(|v| {
        let sized = v.iter().all(|b| b.capacity_bytes.is_some());
        let weight = |b: &Broker| {
            if sized {
                b.capacity_bytes.unwrap() as f64
            } else {
                1.0
            }
        };
        let level =
            v.iter().map(|b| bytes[&b.id]).sum::<f64>() / v.iter().map(|b| weight(b)).sum::<f64>();
        v.iter().all(|b| {
            let (x, mean) = (bytes[&b.id], level * weight(b));
            let hi = match b.capacity_bytes {
                Some(cap) if sized => (mean * 1.05).min(0.8 * cap as f64),
                _ => mean * 1.05,
            };
            x <= hi + 1.0 && x >= mean * 0.95 - 1.0
        })
    })
}

/// Replica counts per AZ: (max - min) over the AZ's live brokers, the largest over AZs.
fn count_spread(c: &Cluster) -> i64 {
    let mut count: BTreeMap<i32, i64> = c.brokers.iter().map(|b| (b.id, 0)).collect();
    for p in &c.partitions {
        for r in &p.replicas {
            *count.get_mut(r).unwrap() += 1;
        }
    }
    let mut by_az: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for b in &c.brokers {
        by_az
            .entry(b.rack.as_deref().unwrap())
            .or_default()
            .push(count[&b.id]);
    }
    by_az
        .values()
        .map(|v| v.iter().max().unwrap() - v.iter().min().unwrap())
        .max()
        .unwrap()
}

/// `--balance both`: the byte band still holds, and replica counts end within one of each other
/// inside every AZ, for some extra bytes moved.
#[test]
fn balance_both_keeps_the_byte_band_and_evens_replica_counts() {
    let c = six_to_nine(None);
    let bytes = plan(&c, &bytes_opts()).unwrap();
    let both = plan(
        &c,
        &PlanOptions {
            balance: Balance::Both,
            ..Default::default()
        },
    )
    .unwrap();
    let (ab, ao) = (apply(&c, &bytes), apply(&c, &both));
    let after = spread(&ao, &[]);
    println!(
        "both: count spread {} (bytes only: {}), bytes moved {} GiB (bytes only: {} GiB), max/mean {:.3} min/mean {:.3}",
        count_spread(&ao),
        count_spread(&ab),
        both.summary.bytes_moved / GIB,
        bytes.summary.bytes_moved / GIB,
        after.0,
        after.1
    );
    assert!(after.0 <= 1.05 && after.1 >= 0.95, "{after:?}");
    assert!(count_spread(&ao) <= 1, "{}", count_spread(&ao));
    assert!(count_spread(&ab) > 1, "the case needs the count pass");
    assert_eq!(both.summary.az_violations_after, 0);
}

proptest! {
    /// `--balance both` over the same random clusters: the hard rules hold, every broker ends
    /// within one largest replica of its band (as with bytes alone), and replica counts are never
    /// less even than with bytes alone.
    #[test]
    fn balance_both_keeps_the_rules_and_the_band_and_never_worsens_counts((c, opts, _) in random_cluster()) {
        let mut both_opts = opts.clone();
        both_opts.balance = Balance::Both;
        let (Ok(bytes), Ok(both)) = (plan(&c, &opts), plan(&c, &both_opts)) else {
            return Ok(());
        };
        prop_assert_eq!(both.summary.az_violations_after, 0);
        prop_assert_eq!(both.summary.replicas_on_removed_brokers_after, 0);
        let (ab, ao) = (apply(&c, &bytes), apply(&c, &both));
        for q in &ao.partitions {
            let mut r = q.replicas.clone();
            r.sort_unstable();
            r.dedup();
            prop_assert_eq!(r.len(), q.replicas.len());
        }
        let removed: Vec<i32> = opts.remove_brokers.iter().copied().collect();
        let live = |x: &Cluster| Cluster {
            brokers: x.brokers.iter().filter(|b| !removed.contains(&b.id)).cloned().collect(),
            partitions: x.partitions.clone(),
        };
        prop_assert!(count_spread(&live(&ao)) <= count_spread(&live(&ab)).max(1),
            "both {} bytes {}", count_spread(&live(&ao)), count_spread(&live(&ab)));
        // Byte balance is not undone: the worst broker is no further from its AZ's mean than
        // with bytes alone, give or take one largest replica (where no broker's share exceeds
        // one replica of every partition: there the band is water-filled below the mean).
        if capped(&c, &ab, &removed) {
            return Ok(());
        }
        let largest = largest_replica(&c);
        let (sb, so) = (spread(&ab, &removed), spread(&ao, &removed));
        let mean_bytes = c.partitions.iter().map(|q| q.move_bytes() as f64 * q.replicas.len() as f64).sum::<f64>()
            / (c.brokers.len() - removed.len()) as f64;
        let slack = largest / mean_bytes.max(1.0);
        prop_assert!(so.0 <= sb.0.max(1.05) + slack && so.1 >= sb.1.min(0.95) - slack, "both {:?} bytes {:?}", so, sb);
    }
}

/// Within a byte budget the worst imbalance narrows first: broker 1 holds ten 10 GiB partitions,
/// broker 2 holds 160 of 0.5 GiB, broker 3 is new. With 20 GiB of budget, taking the cheapest
/// moves first would relieve broker 2 and leave broker 1 the fullest; worst-first relieves
/// broker 1.
#[test]
fn a_byte_budget_relieves_the_fullest_broker_first() {
    let brokers = (1..=3).map(|b| broker(b, 0)).collect();
    let mut partitions = Vec::new();
    for i in 0..10 {
        partitions.push(PartitionAssignment {
            topic: format!("big{i}"),
            partition: 0,
            replicas: vec![1],
            size_bytes: Some(10 * GIB),
            local_size_bytes: None,
        });
    }
    for i in 0..160 {
        partitions.push(PartitionAssignment {
            topic: format!("small{i}"),
            partition: 0,
            replicas: vec![2],
            size_bytes: Some(GIB / 2),
            local_size_bytes: None,
        });
    }
    let c = Cluster {
        brokers,
        partitions,
    };
    let full = plan(&c, &bytes_opts()).unwrap();
    let part = plan(
        &c,
        &PlanOptions {
            max_move_bytes: Some(20 * GIB),
            ..bytes_opts()
        },
    )
    .unwrap();
    let (before, after) = (spread(&c, &[]), spread(&apply(&c, &part), &[]));
    println!(
        "budget 20 GiB of {} GiB: max/mean {:.2} -> {:.2}",
        full.summary.bytes_moved / GIB,
        before.0,
        after.0
    );
    assert!(part.summary.budget_limited);
    // Broker 1 gave up two 10 GiB partitions: brokers 1 and 2 both at 80 GiB of a 60 GiB mean.
    assert!((after.0 - 80.0 / 60.0).abs() < 0.01, "{after:?}");
}

/// The bytes of the cluster's largest replica (the slack the band and bytes checks allow).
fn largest_replica(c: &Cluster) -> f64 {
    c.partitions
        .iter()
        .map(|q| q.move_bytes())
        .max()
        .unwrap_or(0) as f64
}

/// The first `n` random clusters of [`random_cluster`] from a fixed seed (the same every run).
fn fixed_clusters(n: usize) -> impl Iterator<Item = (usize, (Cluster, PlanOptions, Case))> {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    (0..n).map(move |i| (i, random_cluster().new_tree(&mut runner).unwrap().current()))
}

/// The survey's first 2,000 clusters as a test (random runs seldom meet the hard cases among
/// them: fixed case 1718 moved 1.13 x the bound before forced replicas were placed where they
/// help; cases 1088, 1127, 1384 and others moved up to 1.14 x before small AZs were searched
/// exactly): within the band, never below the bound; expansions and drains within 1.10 x the
/// bound.
#[test]
fn the_fixed_clusters_stay_within_1_10_times_the_bound() {
    for (i, (c, opts, case)) in fixed_clusters(2000) {
        let Ok(p) = plan(&c, &opts) else { continue };
        let bb = p.summary.byte_balance.clone().unwrap();
        let removed: Vec<i32> = opts.remove_brokers.iter().copied().collect();
        if band_reached(&c, &apply(&c, &p), &removed) {
            assert!(
                p.summary.bytes_moved >= bb.lower_bound_bytes,
                "case {i}: below the bound"
            );
        }
        if case.kind != 0 {
            assert!(
                p.summary.bytes_moved as f64 <= 1.10 * bb.lower_bound_bytes as f64,
                "case {i}: moved {} bound {}",
                p.summary.bytes_moved,
                bb.lower_bound_bytes
            );
            // `--balance both` too: its count moves stay within the same 1.10 x.
            let both = plan(
                &c,
                &PlanOptions {
                    balance: Balance::Both,
                    ..opts.clone()
                },
            )
            .unwrap();
            let bound = both.summary.byte_balance.clone().unwrap().lower_bound_bytes;
            assert!(
                both.summary.bytes_moved as f64 <= 1.10 * bound as f64,
                "case {i}: both moved {} bound {}",
                both.summary.bytes_moved,
                bound
            );
        }
    }
}

/// Not a check: how far above the lower bound the plan's bytes land over many random clusters,
/// by kind and size spread (`cargo test --release --test assign_bytes -- --ignored --nocapture`).
#[test]
#[ignore]
fn survey_bytes_moved_against_the_bound() {
    let n: usize = std::env::var("SURVEY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut rows: BTreeMap<(usize, u8), Vec<(f64, bool)>> = BTreeMap::new();
    let mut worst: Vec<(f64, String)> = Vec::new();
    for (i, (c, opts, case)) in fixed_clusters(n) {
        if std::env::var("SURVEY_ONLY").is_ok_and(|o| o != i.to_string()) {
            continue;
        }
        let Ok(p) = plan(&c, &opts) else { continue };
        let bb = p.summary.byte_balance.clone().unwrap();
        if case.kind == 0 || bb.lower_bound_bytes == 0 {
            continue;
        }
        let largest = largest_replica(&c);
        let r = p.summary.bytes_moved as f64 / bb.lower_bound_bytes as f64;
        if std::env::var("SURVEY_SHOW").ok() == Some(i.to_string()) {
            let gb = |x: u64| x as f64 / 1e9;
            for b in &p.summary.brokers {
                let mut sizes: Vec<f64> = c
                    .partitions
                    .iter()
                    .filter(|q| q.replicas.contains(&b.id))
                    .map(|q| gb(q.move_bytes()))
                    .collect();
                sizes.sort_by(|a, b| b.total_cmp(a));
                println!("{} {:?} cap {:?} before {:.2} after {:.2} in {:.2} out {:.2} util {:.3} -> {:.3} sizes {:.2?}", b.id, b.rack, b.capacity_bytes.map(gb), gb(b.bytes_before), gb(b.bytes_after), gb(b.bytes_in), gb(b.bytes_out), b.utilisation_before.unwrap_or(0.0), b.utilisation_after.unwrap_or(0.0), sizes);
            }
            println!("{opts:?}");
        }
        let removed: Vec<i32> = opts.remove_brokers.iter().copied().collect();
        let reached = band_reached(&c, &apply(&c, &p), &removed);
        if reached && p.summary.bytes_moved < bb.lower_bound_bytes {
            println!(
                "BELOW THE BOUND: case {i}: moved {} bound {}",
                p.summary.bytes_moved, bb.lower_bound_bytes
            );
        }
        let slack = (p.summary.bytes_moved as f64 - 1.10 * bb.lower_bound_bytes as f64) / largest;
        rows.entry((case.kind, (case.sigma * 2.0) as u8))
            .or_default()
            .push((r, reached));
        worst.push((slack, format!("case {i}: kind {} sigma {:.2} brokers {} parts {} moved {} bound {} ratio {r:.3} over 1.10x by {slack:.2} largest; band reached {reached}", case.kind, case.sigma, c.brokers.len(), c.partitions.len(), p.summary.bytes_moved, bb.lower_bound_bytes)));
    }
    for ((kind, s), mut v) in rows {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize].0;
        let over = v.iter().filter(|r| r.0 > 1.10).count();
        let outside = v.iter().filter(|r| !r.1).count();
        // Where the band is not reached, a small AZ's bound is what the search proves for
        // plans that reach it, up to the plan's own bytes: those ratios say little.
        let reached: Vec<f64> = v.iter().filter(|r| r.1).map(|r| r.0).collect();
        let rq = |f: f64| {
            reached
                .get(((reached.len().max(1) - 1) as f64 * f) as usize)
                .copied()
                .unwrap_or(0.0)
        };
        println!("kind {kind} sigma {:.1}-{:.1}: n {} median {:.3} p90 {:.3} max {:.3} above 1.10: {over}; band not reached: {outside}; where reached: median {:.3} p90 {:.3} max {:.3}", s as f64 / 2.0, (s + 1) as f64 / 2.0, v.len(), q(0.5), q(0.9), q(1.0), rq(0.5), rq(0.9), rq(1.0));
    }
    worst.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, w) in worst.iter().take(16) {
        println!("{w}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    /// The reported lower bound is one: on clusters small enough to try every layout (one AZ of
    /// three or four brokers, one new, six partitions of RF 1 or 2, heavy-tailed sizes), no layout
    /// with every broker in its band moves fewer bytes than the bound says. And where some layout
    /// reaches the band, the plan does.
    #[test]
    fn the_bytes_lower_bound_never_exceeds_the_true_minimum(
        seed in 0u64..100_000,
        brokers in 3usize..=4,
        rf in 1usize..=2,
        tol in 0.02f64..0.4,
    ) {
        let mut rng = Rng(seed * 31 + 7);
        let np = if rf == 1 { 9 } else { 6 };
        let old = brokers as i32 - 1; // the last broker is new and empty
        let partitions: Vec<PartitionAssignment> = (0..np)
            .map(|i| {
                let first = 1 + rng.below(old as usize) as i32;
                let replicas: Vec<i32> = (0..rf as i32).map(|k| 1 + (first - 1 + k) % old).collect();
                PartitionAssignment {
                    topic: format!("t{i}"),
                    partition: 0,
                    replicas,
                    size_bytes: Some(lognormal(&mut rng, 1e9, 1.5)),
                    local_size_bytes: None,
                }
            })
            .collect();
        let c = Cluster { brokers: (1..=brokers as i32).map(|b| broker(b, 0)).collect(), partitions };
        let opts = PlanOptions { byte_tolerance: tol, ..bytes_opts() };
        let p = plan(&c, &opts).unwrap();
        let bound = p.summary.byte_balance.as_ref().unwrap().lower_bound_bytes;
        // Every layout: each partition on `rf` distinct brokers.
        let choices: Vec<Vec<i32>> = (1..=brokers as i32)
            .flat_map(|a| (1..=brokers as i32).map(move |b| vec![a, b]))
            .filter(|v| rf == 2 && v[0] < v[1])
            .chain((1..=brokers as i32).filter(|_| rf == 1).map(|a| vec![a]))
            .collect();
        let total: f64 = c.partitions.iter().map(|q| q.move_bytes() as f64 * rf as f64).sum();
        let mean = total / brokers as f64;
        let (lo, hi) = (mean * (1.0 - tol), mean * (1.0 + tol));
        let mut best: Option<u64> = None;
        let mut pick = vec![0usize; np];
        loop {
            let mut bytes = vec![0f64; brokers + 1];
            let mut moved = 0u64;
            for (q, &k) in c.partitions.iter().zip(&pick) {
                for &b in &choices[k] {
                    bytes[b as usize] += q.move_bytes() as f64;
                    if !q.replicas.contains(&b) {
                        moved += q.move_bytes();
                    }
                }
            }
            if bytes[1..].iter().all(|&x| x >= lo && x <= hi) {
                best = Some(best.map_or(moved, |b| b.min(moved)));
            }
            // Next layout (odometer).
            let mut i = 0;
            while i < np {
                pick[i] += 1;
                if pick[i] < choices.len() { break; }
                pick[i] = 0;
                i += 1;
            }
            if i == np { break; }
        }
        if let Some(best) = best {
            prop_assert!(bound <= best, "bound {} above the true minimum {}", bound, best);
            // Some layout reaches the band: the plan does too.
            let after = apply(&c, &p);
            let mut bytes = vec![0f64; brokers + 1];
            for q in &after.partitions {
                for &b in &q.replicas {
                    bytes[b as usize] += q.move_bytes() as f64;
                }
            }
            prop_assert!(bytes[1..].iter().all(|&x| x >= lo - 1.0 && x <= hi + 1.0),
                "the band [{}, {}] is reachable (from {} bytes moved) but the plan ends at {:?}", lo, hi, best, bytes);
        }
    }
}

/// A replica no broker has room for still has to land somewhere, and that broker must then send
/// on what no longer fits: the bound counts it. Broker 1 holds 4 + 4 + 1 GB and must shed at
/// least 1.8 GB, which its 1 GB cannot cover, so a 4 GB replica goes; brokers 2 and 3 hold
/// 4.5 GB each and the band is [4.8, 7.2] GB, so whichever takes it ends at 8.5 GB and sends on
/// at least 1.3 GB. The best plan moves 5.5 GB (4, then 1 + 0.5 onward); the plain bound says 4.
#[test]
fn the_bound_follows_an_oversized_replica_to_where_it_lands() {
    const GB: u64 = 1_000_000_000;
    let part = |i: usize, b: i32, size: u64| PartitionAssignment {
        topic: format!("t{i}"),
        partition: 0,
        replicas: vec![b],
        size_bytes: Some(size),
        local_size_bytes: None,
    };
    let mut partitions = vec![part(0, 1, 4 * GB), part(1, 1, 4 * GB), part(2, 1, GB)];
    for (i, b) in [
        (3, 2),
        (4, 2),
        (5, 2),
        (6, 2),
        (7, 3),
        (8, 3),
        (9, 3),
        (10, 3),
    ] {
        partitions.push(part(i, b, GB));
    }
    partitions.push(part(11, 2, GB / 2));
    partitions.push(part(12, 3, GB / 2));
    let c = Cluster {
        brokers: (1..=3).map(|b| broker(b, 0)).collect(),
        partitions,
    };
    let p = plan(
        &c,
        &PlanOptions {
            byte_tolerance: 0.2,
            ..bytes_opts()
        },
    )
    .unwrap();
    let bound = p.summary.byte_balance.as_ref().unwrap().lower_bound_bytes;
    println!(
        "oversized replica: bound {:.2} GB, moved {:.2} GB",
        bound as f64 / 1e9,
        p.summary.bytes_moved as f64 / 1e9
    );
    assert!((5_300_000_000..=5_500_000_000).contains(&bound), "{bound}");
    let (max, min) = spread(&apply(&c, &p), &[]);
    assert!(max <= 1.2 && min >= 0.8, "{max} {min}");
    assert!(p.summary.bytes_moved as f64 <= 1.10 * bound as f64);
}

/// Split replicas reach a band whole ones cannot: three 10 GiB replicas over two brokers of one
/// AZ, a band of 15 GiB ± 5 %. Half a replica each way would do; with whole ones the best is
/// 20 / 10, which the plan reaches by moving one replica, and which lies within one replica of
/// the band (the fallback).
#[test]
fn a_band_only_split_replicas_reach_ends_within_one_replica_of_it() {
    let partitions = (0..3)
        .map(|i| PartitionAssignment {
            topic: format!("t{i}"),
            partition: 0,
            replicas: vec![1],
            size_bytes: Some(10 * GIB),
            local_size_bytes: None,
        })
        .collect();
    let c = Cluster {
        brokers: vec![broker(1, 0), broker(2, 0)],
        partitions,
    };
    let p = plan(&c, &bytes_opts()).unwrap();
    assert_eq!(p.summary.bytes_moved, 10 * GIB);
    let bytes = live_bytes(&c, &apply(&c, &p), &[]);
    let (hi, lo) = (15.75 * GIB as f64, 14.25 * GIB as f64);
    for x in bytes.values().map(|&x| x as f64) {
        assert!(
            x <= hi + 10.0 * GIB as f64 && x >= lo - 10.0 * GIB as f64,
            "{x}"
        );
    }
    assert!(!band_reached(&c, &apply(&c, &p), &[]));
}
