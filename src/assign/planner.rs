//! The AZ-aware assignment planner (pure, deterministic).
//!
//! 1. Targets: replicas per AZ by water-filling (proportional to brokers, clamped to what the AZ
//!    rule allows per partition), then per broker within each AZ (floor/ceil; the `+1`s go to the
//!    brokers that already hold the most, so balance costs the fewest moves).
//! 2. Forced moves: replicas on removed brokers and replicas beyond `ceil(RF / #AZ)` in one AZ are
//!    taken off (from the most overloaded broker) and placed, most constrained first, on the broker
//!    with the largest deficit in the best allowed AZ (the source AZ first).
//! 3. Balance moves: each broker above its target gives up its smallest (local) partitions to
//!    brokers below target, same AZ first; a final pass pairs any remaining over/under brokers.
//! 4. An optional budget (`max_moves`, `max_move_bytes`) keeps whole partitions in priority order:
//!    removals, then AZ repairs, then balance, cheapest first.
//! 5. Leaders: preferred leaders balanced by reordering replicas (`leaders.rs`), no data moves.
//!
//! See `docs/reassign.md` for the guarantees and the lower bound.

// Broker, partition and AZ indices address several parallel arrays at once; index loops read best.
#![allow(clippy::needless_range_loop)]

use super::bytes::{balance, bands, bound};
use super::cluster::Cluster;
use super::counts::{apply_budget, balance_counts, place_forced, topic_counts, Targets};
use super::leaders;
use super::options::{Balance, PlanOptions, DEFAULT_BYTE_TOLERANCE};
use super::spread;
use super::summary::{summarize, Summary};
use super::work::{IntMap, IntSet, Work, HOLE};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why no plan can be made. Nothing is changed on any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("broker {0} is listed twice")]
    DuplicateBroker(i32),
    #[error("broker {0} has no rack (AZ)")]
    MissingRack(i32),
    #[error(
        "{topic}-{partition} has a replica on broker {broker}, which is not in the broker list"
    )]
    UnknownBroker {
        topic: String,
        partition: i32,
        broker: i32,
    },
    #[error("{topic}-{partition} lists broker {broker} twice")]
    DuplicateReplica {
        topic: String,
        partition: i32,
        broker: i32,
    },
    #[error("{topic}-{partition} has no replicas")]
    NoReplicas { topic: String, partition: i32 },
    #[error("{topic}-{partition} appears twice")]
    DuplicatePartition { topic: String, partition: i32 },
    #[error("--remove-brokers names broker {0}, which the cluster does not have")]
    UnknownRemovedBroker(i32),
    #[error("no brokers would be left")]
    NoBrokersLeft,
    #[error("broker {0} is offline (registered but not running), so it can take no replica")]
    OfflineBroker(i32),
    #[error(
        "the plan would fill broker(s) {brokers} above --max-disk-utilisation {max} of their disks"
    )]
    OverCapacity { brokers: String, max: String },
    #[error("{topic}-{partition} needs {rf} replicas on distinct brokers with at most {per_az} per AZ, but the remaining {brokers} brokers in {azs} AZs allow only {possible}")]
    Infeasible {
        topic: String,
        partition: i32,
        rf: usize,
        per_az: usize,
        brokers: usize,
        azs: usize,
        possible: usize,
    },
}

/// The plan: new replica lists for the partitions that change, and what that does.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Index into `Cluster::partitions` and the new replica list (leader first).
    pub changes: Vec<(usize, Vec<i32>)>,
    pub summary: Summary,
}

/// Up to this many replicas, byte balance tries more than one plan and keeps the cheapest.
const SMALL_FOR_BYTES: usize = 20_000;

/// Plan an AZ-aware reassignment of `cluster`.
pub fn plan(cluster: &Cluster, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let (mode, reason) = resolve_balance(cluster, opts);
    let resolved = PlanOptions {
        balance: mode,
        ..opts.clone()
    };
    let opts = &resolved;
    let Brokers {
        ids,
        index,
        removed,
        az_of,
        nz,
        az_size,
        live_brokers,
    } = brokers(cluster, opts)?;
    let nb = ids.len();
    let np = cluster.partitions.len();
    let reps = replicas(cluster, &index)?;
    let in_scope: Vec<bool> = cluster
        .partitions
        .iter()
        .map(|p| opts.topics.as_ref().is_none_or(|re| re.is_match(&p.topic)))
        .collect();
    let cost: Vec<u64> = cluster.partitions.iter().map(|p| p.move_bytes()).collect();
    let cap: Vec<usize> = reps.iter().map(|r| r.len().div_ceil(nz)).collect();

    feasible(cluster, &in_scope, &reps, &cap, &az_size, live_brokers)?;
    let original: Vec<Vec<u32>> = reps.clone();
    let mut load = vec![0i64; nb];
    let mut bytes = vec![0u64; nb];
    for p in (0..np).filter(|&p| in_scope[p]) {
        for &b in &reps[p] {
            load[b as usize] += 1;
            bytes[b as usize] += cost[p];
        }
    }
    let current = load.clone();
    let targets = Targets::compute(&reps, &in_scope, &az_of, &az_size, &removed, &current);
    let (topic, tcount, tlimit) = topic_counts(cluster, &reps, &in_scope, &removed);

    let mut w = Work {
        nb,
        az_of,
        nz,
        removed,
        in_scope,
        reps,
        cost,
        cap,
        load,
        bytes,
        capacity: ids
            .iter()
            .map(|id| {
                cluster
                    .brokers
                    .iter()
                    .find(|b| b.id == *id)
                    .and_then(|b| b.capacity_bytes)
            })
            .collect(),
        target: targets.per_broker.clone(),
        heap: vec![BTreeSet::new(); nz],
        az_room: targets.per_az.clone(),
        placed: BTreeSet::new(),
        topic,
        tcount,
        tlimit,
    };
    for b in 0..nb {
        if !w.removed[b] {
            let k = w.key(b as u32);
            w.heap[w.az_of[b]].insert(k);
            w.az_room[w.az_of[b]] -= w.load[b];
        }
    }

    // What the spread rule makes each broker send at least, whatever the plan does across AZs
    // (for the moves bound; the counts now are the layout before the plan).
    let spread_out = spread::forced_out(
        &w,
        &original,
        &original,
        &spread::loosest_limits(&w),
        &w.tcount,
    )
    .0;

    // 2. Forced moves.
    force(&mut w, opts);
    // 3. Balance moves, then the spread rule.
    let byte_lower_bound = balance(&mut w, &original, opts);
    // 4. Budget.
    let lower_bound = targets.lower_bound(&original, &w, &current, &spread_out);
    let budget_limited = (opts.max_moves.is_some() || opts.max_move_bytes.is_some())
        && apply_budget(&mut w, &original, cluster, opts);

    // 5. Leaders.
    let orig_leader: Vec<u32> = original.iter().map(|r| r[0]).collect();
    leaders::balance(&mut w.reps, &orig_leader, &w.in_scope, nb, &w.removed);

    // Hard: no broker with a known disk size above --max-disk-utilisation of it.
    within_capacity(&w, &ids, opts)?;
    let changes: Vec<(usize, Vec<i32>)> = (0..np)
        .filter(|&p| w.reps[p] != original[p])
        .map(|p| (p, w.reps[p].iter().map(|&b| ids[b as usize]).collect()))
        .collect();
    let mut change_map: BTreeMap<usize, &[i32]> = BTreeMap::new();
    for (p, r) in &changes {
        change_map.insert(*p, r);
    }
    let mut summary = summarize(cluster, &change_map, opts, lower_bound, budget_limited);
    summary.balance_reason = reason;
    if let Some(bound) = byte_lower_bound {
        summary.byte_balance = Some(super::summary::ByteBalance::of(
            &summary,
            if opts.byte_tolerance > 0.0 {
                opts.byte_tolerance
            } else {
                DEFAULT_BYTE_TOLERANCE
            },
            bound,
        ));
    }
    Ok(Plan { changes, summary })
}

/// The balance mode to plan with, and why: `auto` picks bytes with counts evened inside the
/// band when every partition in scope has a size, else replica counts.
fn resolve_balance(cluster: &Cluster, opts: &PlanOptions) -> (Balance, String) {
    if opts.balance != Balance::Auto {
        return (opts.balance, format!("--balance {}", opts.balance.as_str()));
    }
    let (mut scoped, mut unsized_) = (0usize, 0usize);
    for p in &cluster.partitions {
        if opts.topics.as_ref().is_none_or(|re| re.is_match(&p.topic)) {
            scoped += 1;
            if p.size_bytes.is_none() && p.local_size_bytes.is_none() {
                unsized_ += 1;
            }
        }
    }
    if scoped > 0 && unsized_ == 0 {
        (
            Balance::Both,
            "auto: every partition has a size, so bytes are balanced and replica counts evened inside the byte band".into(),
        )
    } else {
        (
            Balance::Replicas,
            format!(
                "auto: {unsized_} of {scoped} partitions have no size (a Kafka assignment file carries none), so replica counts are balanced"
            ),
        )
    }
}

/// The brokers as dense indices: ids in order, which are drained, each one's AZ (brokers whose
/// rack keeps no live broker get the pseudo AZ `nz`), live brokers per AZ.
struct Brokers {
    ids: Vec<i32>,
    index: IntMap<i32, u32>,
    removed: Vec<bool>,
    az_of: Vec<usize>,
    nz: usize,
    az_size: Vec<usize>,
    live_brokers: usize,
}

/// Index the brokers, refusing duplicates, unknown or offline ones kept, missing racks.
fn brokers(cluster: &Cluster, opts: &PlanOptions) -> Result<Brokers, PlanError> {
    let mut ids: Vec<i32> = cluster.brokers.iter().map(|b| b.id).collect();
    ids.sort_unstable();
    for w in ids.windows(2) {
        if w[0] == w[1] {
            return Err(PlanError::DuplicateBroker(w[0]));
        }
    }
    for r in &opts.remove_brokers {
        if ids.binary_search(r).is_err() {
            return Err(PlanError::UnknownRemovedBroker(*r));
        }
    }
    // An offline broker may only be drained: a plan that keeps it could place replicas there.
    if let Some(b) = cluster
        .brokers
        .iter()
        .find(|b| b.offline && !opts.remove_brokers.contains(&b.id))
    {
        return Err(PlanError::OfflineBroker(b.id));
    }
    let index: IntMap<i32, u32> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i as u32))
        .collect();
    let nb = ids.len();
    let removed: Vec<bool> = ids
        .iter()
        .map(|id| opts.remove_brokers.contains(id))
        .collect();
    if removed.iter().all(|&r| r) {
        return Err(PlanError::NoBrokersLeft);
    }
    // AZs of the remaining brokers, in name order.
    let rack_of: HashMap<i32, Option<&str>> = cluster
        .brokers
        .iter()
        .map(|b| (b.id, b.rack.as_deref()))
        .collect();
    let mut az_names: Vec<&str> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        match rack_of[id] {
            Some(r) => az_names.push(r),
            None if removed[i] => {}
            None => return Err(PlanError::MissingRack(*id)),
        }
    }
    az_names.sort_unstable();
    az_names.dedup();
    let live_az: BTreeSet<&str> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed[*i])
        .filter_map(|(_, id)| rack_of[id])
        .collect();
    let az_list: Vec<&str> = live_az.into_iter().collect();
    let nz = az_list.len();
    // Brokers whose rack has no remaining broker (only removed ones there) get a pseudo AZ `nz`.
    let az_of: Vec<usize> = ids
        .iter()
        .map(|id| {
            rack_of[id]
                .and_then(|r| az_list.binary_search(&r).ok())
                .unwrap_or(nz)
        })
        .collect();
    let mut az_size = vec![0usize; nz];
    for i in 0..nb {
        if !removed[i] {
            az_size[az_of[i]] += 1;
        }
    }
    let live_brokers = az_size.iter().sum::<usize>();
    Ok(Brokers {
        ids,
        index,
        removed,
        az_of,
        nz,
        az_size,
        live_brokers,
    })
}

/// Each partition's replicas as broker indices, refusing duplicates and unknown brokers.
fn replicas(cluster: &Cluster, index: &IntMap<i32, u32>) -> Result<Vec<Vec<u32>>, PlanError> {
    let np = cluster.partitions.len();
    let mut reps: Vec<Vec<u32>> = Vec::with_capacity(np);
    let mut seen: IntSet<(&str, i32)> = IntSet::default();
    seen.reserve(np);
    for pa in &cluster.partitions {
        if !seen.insert((pa.topic.as_str(), pa.partition)) {
            return Err(PlanError::DuplicatePartition {
                topic: pa.topic.clone(),
                partition: pa.partition,
            });
        }
        if pa.replicas.is_empty() {
            return Err(PlanError::NoReplicas {
                topic: pa.topic.clone(),
                partition: pa.partition,
            });
        }
        let mut r = Vec::with_capacity(pa.replicas.len());
        for id in &pa.replicas {
            let Some(&bi) = index.get(id) else {
                return Err(PlanError::UnknownBroker {
                    topic: pa.topic.clone(),
                    partition: pa.partition,
                    broker: *id,
                });
            };
            if r.contains(&bi) {
                return Err(PlanError::DuplicateReplica {
                    topic: pa.topic.clone(),
                    partition: pa.partition,
                    broker: *id,
                });
            }
            r.push(bi);
        }
        reps.push(r);
    }
    Ok(reps)
}

/// Every in-scope partition can hold its replication factor under the AZ rule.
fn feasible(
    cluster: &Cluster,
    in_scope: &[bool],
    reps: &[Vec<u32>],
    cap: &[usize],
    az_size: &[usize],
    live_brokers: usize,
) -> Result<(), PlanError> {
    let nz = az_size.len();
    for (p, pa) in cluster.partitions.iter().enumerate() {
        if !in_scope[p] {
            continue;
        }
        let rf = reps[p].len();
        let possible: usize = az_size.iter().map(|&n| n.min(cap[p])).sum();
        if possible < rf {
            return Err(PlanError::Infeasible {
                topic: pa.topic.clone(),
                partition: pa.partition,
                rf,
                per_az: cap[p],
                brokers: live_brokers,
                azs: nz,
                possible,
            });
        }
    }
    Ok(())
}

/// Forced moves: replicas on drained brokers, and replicas beyond the AZ rule's share of an AZ,
/// are taken off and placed (most constrained first).
fn force(w: &mut Work, opts: &PlanOptions) {
    let (np, nz) = (w.reps.len(), w.nz);
    let mut orphans: Vec<(usize, usize, Option<usize>)> = Vec::new(); // (partition, slot, source AZ)
    for p in 0..np {
        if !w.in_scope[p] {
            continue;
        }
        for slot in 0..w.reps[p].len() {
            let b = w.reps[p][slot] as usize;
            if w.removed[b] {
                let src = (w.az_of[b] < nz).then_some(w.az_of[b]);
                w.take(p, slot);
                orphans.push((p, slot, src));
            }
        }
        for a in 0..nz {
            let mut excess = w.count_in_az(p, a).saturating_sub(w.cap[p]);
            while excess > 0 {
                // Take from the broker furthest above its target: in replicas, or with byte
                // balance in bytes (per byte of disk where its size is known), which spares
                // the byte moves that would otherwise follow.
                let by_bytes = matches!(opts.balance, Balance::Bytes | Balance::Both);
                let slot = (0..w.reps[p].len())
                    .filter(|&s| w.reps[p][s] != HOLE && w.az_of[w.reps[p][s] as usize] == a)
                    .max_by_key(|&s| {
                        let b = w.reps[p][s] as usize;
                        let full = if by_bytes {
                            (u128::from(w.bytes[b]) << 20)
                                / u128::from(w.capacity[b].unwrap_or(1).max(1))
                        } else {
                            0
                        };
                        (
                            full,
                            w.piled(p, b as u32),
                            w.load[b] - w.target[b],
                            w.load[b],
                            b,
                        )
                    })
                    .expect("an AZ with excess has replicas");
                w.take(p, slot);
                orphans.push((p, slot, Some(a)));
                excess -= 1;
            }
        }
    }
    place_forced(w, orphans);
}

/// Balance moves by the chosen mode, then the spread rule; with byte balance, the lower bound on
/// bytes moved.
fn balance(w: &mut Work, original: &[Vec<u32>], opts: &PlanOptions) -> Option<u64> {
    if matches!(opts.balance, Balance::Bytes | Balance::Both) {
        let tol = if opts.byte_tolerance > 0.0 {
            opts.byte_tolerance
        } else {
            DEFAULT_BYTE_TOLERANCE
        };
        let small = w.reps.iter().map(Vec::len).sum::<usize>() <= SMALL_FOR_BYTES;
        let max_util = opts.max_disk_utilisation;
        // The bound is of the layout the forced moves left; on a small cluster, AZs whose plan
        // moves more than their share are searched exactly, for the plan and for the bound.
        let bands = bands::bands(w, tol, max_util);
        let (bound, balanced) = if small {
            let bound = bound::lower_bound(w, original, &bands);
            let balanced = balance::balance(w, original, bands, true, Some(&bound));
            (bound, balanced)
        } else {
            // The bound reads the layout the balance starts from: on a large cluster it is
            // computed on the second core from a copy while the balance moves replicas.
            let before = w.clone();
            let for_bound = bands.clone();
            std::thread::scope(|s| {
                let bound = s.spawn(|| bound::lower_bound(&before, original, &for_bound));
                let balanced = balance::balance(w, original, bands, false, None);
                (bound.join().expect("the bound's thread"), balanced)
            })
        };
        let bound = if small {
            bound.searched(w, original, balanced.bands())
        } else {
            bound
        }
        .total();
        let (bands, budget) = if opts.balance == Balance::Both {
            // The spread rule first (it is a rule, and the bound counts what it forces), then
            // count moves that cost bytes only while the plan stays within 1.10 × the bound; a
            // pile the count pass leaves (unequal disks weigh its limit) is undone within what
            // is left of that.
            let mut balanced = balanced;
            // (With byte balance's own choices: the count pass evens counts afterwards.)
            if spread::repair(
                w,
                original,
                Balance::Bytes,
                Some(balanced.bands()),
                max_util,
                None,
            )
            .1 > 0
            {
                balanced.reindex(w, original);
            }
            let budget = (bound as f64 * BOTH_WITHIN) as u64;
            let bands = balance::even_counts(w, balanced, original, budget);
            let moved = balance::score(w, original, &bands, &[]).1;
            (bands, Some(budget as i64 - moved as i64))
        } else {
            (balanced.into_bands(), None)
        };
        spread::repair(w, original, opts.balance, Some(&bands), max_util, budget);
        Some(bound)
    } else {
        balance_counts(w, original);
        spread::repair(
            w,
            original,
            opts.balance,
            None,
            opts.max_disk_utilisation,
            None,
        );
        None
    }
}

/// `--balance both` takes count moves that cost bytes only while the plan's bytes stay within
/// this multiple of the bytes bound.
const BOTH_WITHIN: f64 = 1.10;

/// No broker with a known disk size above `--max-disk-utilisation` of it (all its partitions
/// counted, in scope or not).
fn within_capacity(w: &Work, ids: &[i32], opts: &PlanOptions) -> Result<(), PlanError> {
    let (nb, np) = (w.nb, w.reps.len());
    if let Some(max) = opts.max_disk_utilisation {
        let mut held = vec![0u64; nb];
        for p in 0..np {
            for &b in &w.reps[p] {
                held[b as usize] += w.cost[p];
            }
        }
        let over: Vec<String> = (0..nb)
            .filter(|&b| !w.removed[b])
            .filter_map(|b| {
                let c = w.capacity[b].filter(|&c| c > 0)?;
                let u = held[b] as f64 / c as f64;
                (u > max).then(|| format!("{} ({:.0} %)", ids[b], u * 100.0))
            })
            .collect();
        if !over.is_empty() {
            return Err(PlanError::OverCapacity {
                brokers: over.join(", "),
                max: max.to_string(),
            });
        }
    }
    Ok(())
}
