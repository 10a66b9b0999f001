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

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use regex::Regex;
use serde::Serialize;

use super::summary::{summarize, Summary};
use super::{leaders, Cluster};

/// What to plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Brokers to drain: no replica may stay on them.
    pub remove_brokers: BTreeSet<i32>,
    /// Only partitions of matching topics move (and count for balance).
    pub topics: Option<Regex>,
    /// At most this many replica moves.
    pub max_moves: Option<u64>,
    /// At most this many bytes moved.
    pub max_move_bytes: Option<u64>,
    /// Replication throttle per broker, bytes/s, for the time estimate.
    pub throttle_bytes_per_sec: Option<f64>,
    /// What the balance phase evens out (forced moves and the AZ rule come first either way).
    pub balance: Balance,
    /// With [`Balance::Bytes`]: each broker's bytes end within this fraction of its AZ's mean
    /// (0: the default, 5 %).
    pub byte_tolerance: f64,
    /// No broker with a known capacity is planned above this share of it (hard).
    pub max_disk_utilisation: Option<f64>,
}

/// What a plan balances across brokers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Replica counts (the fewest replica moves; small partitions move first).
    #[default]
    Replicas,
    /// Bytes on each broker within a band around its AZ's mean (the fewest bytes moved), each
    /// topic spread over the brokers.
    Bytes,
    /// Bytes within the band first, then replica counts evened inside each AZ by moves that keep
    /// every broker in its band.
    Both,
}

/// The default band for [`Balance::Bytes`]: ±5 % of the AZ's mean.
pub const DEFAULT_BYTE_TOLERANCE: f64 = 0.05;

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

const HOLE: u32 = u32::MAX;

/// A multiplicative hasher for the planner's small integer keys (topic, broker): SipHash's
/// protection against chosen keys buys nothing here, and its cost was a fifth of a 3M-replica
/// plan.
#[derive(Default, Clone, Copy)]
pub(super) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

pub(super) type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<IntHasher>>;

/// Up to this many replicas, byte balance tries more than one plan and keeps the cheapest.
const SMALL_FOR_BYTES: usize = 20_000;

#[derive(Clone)]
pub(super) struct Work {
    pub(super) nb: usize,
    pub(super) az_of: Vec<usize>,
    pub(super) nz: usize,
    pub(super) removed: Vec<bool>,
    pub(super) in_scope: Vec<bool>,
    pub(super) reps: Vec<Vec<u32>>,
    pub(super) cost: Vec<u64>,
    pub(super) cap: Vec<usize>,
    pub(super) load: Vec<i64>,
    pub(super) bytes: Vec<u64>,
    /// Disk capacity per broker, where known.
    pub(super) capacity: Vec<Option<u64>>,
    target: Vec<i64>,
    /// Per AZ: brokers keyed by (deficit desc, bytes asc, index).
    heap: Vec<BTreeSet<(Reverse<i64>, u64, u32)>>,
    /// Per AZ: its replica target minus its replicas now (may be negative).
    az_room: Vec<i64>,
    /// Replicas placed by this plan (partition, broker), to never move twice.
    placed: BTreeSet<(u32, u32)>,
    /// Per partition its topic, per (topic, broker) the replicas there, and per topic the most
    /// one broker should hold: `ceil(topic replicas / live brokers) + 1`. Destinations and
    /// replicas to shed are chosen with these where the counts leave a choice.
    pub(super) topic: Vec<u32>,
    tcount: IntMap<(u32, u32), u32>,
    tlimit: Vec<u32>,
}

impl Work {
    fn key(&self, b: u32) -> (Reverse<i64>, u64, u32) {
        (
            Reverse(self.target[b as usize] - self.load[b as usize]),
            self.bytes[b as usize],
            b,
        )
    }

    fn count_in_az(&self, p: usize, a: usize) -> usize {
        self.reps[p]
            .iter()
            .filter(|&&b| b != HOLE && self.az_of[b as usize] == a)
            .count()
    }

    pub(super) fn holds(&self, p: usize, b: u32) -> bool {
        self.reps[p].contains(&b)
    }

    /// Change a broker's load by `delta` replicas of partition `p`, keeping the indexes right.
    fn adjust(&mut self, b: u32, p: usize, delta: i64) {
        let bi = b as usize;
        let live = !self.removed[bi];
        if live {
            let k = self.key(b);
            self.heap[self.az_of[bi]].remove(&k);
        }
        self.load[bi] += delta;
        let c = self.tcount.entry((self.topic[p], b)).or_default();
        *c = (i64::from(*c) + delta) as u32;
        if delta > 0 {
            self.bytes[bi] += self.cost[p];
        } else {
            self.bytes[bi] -= self.cost[p];
        }
        if live {
            self.az_room[self.az_of[bi]] -= delta;
            let k = self.key(b);
            self.heap[self.az_of[bi]].insert(k);
        }
    }

    /// Take the replica in `slot` of `p` off its broker.
    fn take(&mut self, p: usize, slot: usize) -> u32 {
        let b = self.reps[p][slot];
        self.reps[p][slot] = HOLE;
        self.adjust(b, p, -1);
        b
    }

    /// AZs where `p` may get one more replica.
    fn allowed_azs(&self, p: usize) -> Vec<usize> {
        (0..self.nz)
            .filter(|&a| self.count_in_az(p, a) < self.cap[p])
            .collect()
    }

    /// The best broker in AZ `a` for `p` (largest deficit, fewest bytes; among equal deficits
    /// one below the topic's limit), if any does not hold it.
    fn best_in_az(&self, p: usize, a: usize) -> Option<(u32, i64)> {
        let mut free = self.heap[a].iter().filter(|k| !self.holds(p, k.2));
        let first = free.next()?;
        // Among the brokers with the same deficit, one below the topic's limit if any.
        let pick = std::iter::once(first)
            .chain(free.take_while(|k| k.0 == first.0).take(32))
            .find(|k| !self.piled(p, k.2))
            .unwrap_or(first);
        Some((pick.2, pick.0 .0))
    }

    /// Whether broker `b` holds more of `p`'s topic than the topic's limit.
    fn piled(&self, p: usize, b: u32) -> bool {
        let t = self.topic[p];
        self.tcount.get(&(t, b)).copied().unwrap_or(0) > self.tlimit[t as usize]
    }

    /// Where a new replica of `p` should go: the source AZ if it has room, else the allowed AZ
    /// with the most room; `need_room` refuses brokers already at their target.
    fn destination(&self, p: usize, source_az: Option<usize>, need_room: bool) -> Option<u32> {
        let allowed = self.allowed_azs(p);
        // Maximise (source AZ with room, AZ room or the broker's overload, -broker index).
        let mut best: Option<(bool, i64, Reverse<u32>)> = None;
        for &a in &allowed {
            let Some((b, room)) = self.best_in_az(p, a) else {
                continue;
            };
            if need_room && room <= 0 {
                continue;
            }
            let score = if room > 0 { self.az_room[a] } else { room };
            let cand = (source_az == Some(a) && room > 0, score, Reverse(b));
            if best.is_none_or(|cur| cand > cur) {
                best = Some(cand);
            }
        }
        best.map(|x| x.2 .0)
    }

    /// For a replica of `p` leaving AZ `from` (which is above its target): the broker with the most
    /// room in the allowed AZ furthest below its target.
    fn cross_az_destination(&self, p: usize, from: usize) -> Option<u32> {
        let mut best: Option<(i64, i64, Reverse<u32>)> = None;
        for a in self.allowed_azs(p) {
            if a == from || self.az_room[a] <= 0 {
                continue;
            }
            if let Some((b, room)) = self.best_in_az(p, a).filter(|&(_, room)| room > 0) {
                let cand = (self.az_room[a], room, Reverse(b));
                if best.is_none_or(|cur| cand > cur) {
                    best = Some(cand);
                }
            }
        }
        best.map(|x| x.2 .0)
    }

    fn put(&mut self, p: usize, slot: usize, b: u32) {
        self.reps[p][slot] = b;
        self.adjust(b, p, 1);
        self.placed.insert((p as u32, b));
    }
}

/// Plan an AZ-aware reassignment of `cluster`.
pub fn plan(cluster: &Cluster, opts: &PlanOptions) -> Result<Plan, PlanError> {
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
    let index: HashMap<i32, u32> = ids
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

    // Partitions.
    let np = cluster.partitions.len();
    let mut reps: Vec<Vec<u32>> = Vec::with_capacity(np);
    let mut seen: BTreeSet<(&str, i32)> = BTreeSet::new();
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
    let in_scope: Vec<bool> = cluster
        .partitions
        .iter()
        .map(|p| opts.topics.as_ref().is_none_or(|re| re.is_match(&p.topic)))
        .collect();
    let cost: Vec<u64> = cluster.partitions.iter().map(|p| p.move_bytes()).collect();
    let cap: Vec<usize> = reps.iter().map(|r| r.len().div_ceil(nz)).collect();

    // Feasibility of every in-scope partition.
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

    // 2. Forced moves.
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
    place_forced(&mut w, orphans);

    // 3. Balance moves.
    let byte_lower_bound = if matches!(opts.balance, Balance::Bytes | Balance::Both) {
        let tol = if opts.byte_tolerance > 0.0 {
            opts.byte_tolerance
        } else {
            DEFAULT_BYTE_TOLERANCE
        };
        let small = w.reps.iter().map(Vec::len).sum::<usize>() <= SMALL_FOR_BYTES;
        let max_util = opts.max_disk_utilisation;
        // The bound is of the layout the forced moves left; on a small cluster, AZs whose plan
        // moves more than their share are searched exactly, for the plan and for the bound.
        let bands = super::bytes::bands(&w, tol, max_util);
        let bound = super::byte_bound::lower_bound(&w, &original, &bands);
        let balanced =
            super::bytes::balance(&mut w, &original, bands, small, small.then_some(&bound));
        let bound = if small {
            bound.searched(&w, &original, balanced.bands())
        } else {
            bound
        }
        .total();
        if opts.balance == Balance::Both {
            super::bytes::even_counts(&mut w, balanced);
        }
        Some(bound)
    } else {
        balance_counts(&mut w, &original);
        None
    };

    // 4. Budget.
    let lower_bound = targets.lower_bound(&original, &w, &current);
    let budget_limited = (opts.max_moves.is_some() || opts.max_move_bytes.is_some())
        && apply_budget(&mut w, &original, cluster, opts);

    // 5. Leaders.
    let orig_leader: Vec<u32> = original.iter().map(|r| r[0]).collect();
    leaders::balance(&mut w.reps, &orig_leader, &w.in_scope, nb, &w.removed);

    // Hard: no broker with a known disk size above --max-disk-utilisation of it (all its
    // partitions counted, in scope or not).
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
    let changes: Vec<(usize, Vec<i32>)> = (0..np)
        .filter(|&p| w.reps[p] != original[p])
        .map(|p| (p, w.reps[p].iter().map(|&b| ids[b as usize]).collect()))
        .collect();
    let mut change_map: BTreeMap<usize, &[i32]> = BTreeMap::new();
    for (p, r) in &changes {
        change_map.insert(*p, r);
    }
    let mut summary = summarize(cluster, &change_map, opts, lower_bound, budget_limited);
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

/// Per partition its topic index, per (topic, broker) the in-scope replicas there, and per topic
/// `ceil(its replicas / live brokers) + 1` (the summary's spread limit).
type TopicCounts = (Vec<u32>, IntMap<(u32, u32), u32>, Vec<u32>);

/// See [`TopicCounts`].
fn topic_counts(
    cluster: &Cluster,
    reps: &[Vec<u32>],
    in_scope: &[bool],
    removed: &[bool],
) -> TopicCounts {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let topic: Vec<u32> = cluster
        .partitions
        .iter()
        .map(|p| {
            let n = ids.len() as u32;
            *ids.entry(p.topic.as_str()).or_insert(n)
        })
        .collect();
    let live = removed.iter().filter(|r| !**r).count().max(1) as u32;
    let mut replicas = vec![0u32; ids.len()];
    let mut tcount: IntMap<(u32, u32), u32> = IntMap::default();
    for p in (0..reps.len()).filter(|&p| in_scope[p]) {
        replicas[topic[p] as usize] += reps[p].len() as u32;
        for &b in &reps[p] {
            *tcount.entry((topic[p], b)).or_default() += 1;
        }
    }
    let tlimit = replicas.iter().map(|n| n.div_ceil(live) + 1).collect();
    (topic, tcount, tlimit)
}

/// Count balance: overloaded brokers shed their cheapest partitions, across AZs first, then
/// within each AZ; a final repair pairs what is left.
fn balance_counts(w: &mut Work, original: &[Vec<u32>]) {
    let (nb, np) = (w.nb, w.reps.len());
    let mut by_broker: Vec<Vec<(u64, u32)>> = vec![Vec::new(); nb];
    for p in 0..np {
        if w.in_scope[p] {
            for &b in &original[p] {
                by_broker[b as usize].push((w.cost[p], p as u32));
            }
        }
    }
    // Replicas of a topic piled on the broker go first (moving them spreads the topic for free),
    // then the cheapest.
    for (b, list) in by_broker.iter_mut().enumerate() {
        let mut keyed: Vec<(bool, u64, u32)> = list
            .iter()
            .map(|&(c, p)| (!w.piled(p as usize, b as u32), c, p))
            .collect();
        keyed.sort_unstable();
        *list = keyed.into_iter().map(|(_, c, p)| (c, p)).collect();
    }
    // AZs above their target shed across AZs first (into AZs below theirs), then every broker
    // sheds within its AZ.
    for cross in [true, false] {
        let mut over: Vec<usize> = (0..nb)
            .filter(|&b| !w.removed[b] && w.load[b] > w.target[b])
            .collect();
        over.sort_by_key(|&b| (Reverse(w.load[b] - w.target[b]), b));
        for &o in &over {
            let ao = w.az_of[o];
            for &(_, p) in &by_broker[o] {
                if w.load[o] <= w.target[o] || (cross && w.az_room[ao] >= 0) {
                    break;
                }
                let p = p as usize;
                let Some(slot) = w.reps[p].iter().position(|&b| b == o as u32) else {
                    continue;
                };
                let dest = if cross {
                    w.reps[p][slot] = HOLE;
                    let d = w.cross_az_destination(p, ao);
                    w.reps[p][slot] = o as u32;
                    d
                } else {
                    w.best_in_az(p, ao)
                        .filter(|&(_, room)| room > 0)
                        .map(|(b, _)| b)
                };
                if let Some(d) = dest {
                    w.take(p, slot);
                    w.put(p, slot, d);
                }
            }
        }
    }
    repair(w);
}

/// Place the forced moves: a min-cost flow decides how many of each group (same allowed AZs,
/// same source AZ) go to each AZ, within each AZ's room, preferring the source AZ; then each
/// move takes the broker with the most room in its AZ (biggest partitions first).
fn place_forced(w: &mut Work, orphans: Vec<(usize, usize, Option<usize>)>) {
    let nz = w.nz;
    let mut groups: BTreeMap<(u64, usize), Vec<(usize, usize)>> = BTreeMap::new();
    for (p, slot, src) in orphans {
        let mask = w.allowed_azs(p).iter().fold(0u64, |m, &a| m | (1 << a));
        groups
            .entry((mask, src.unwrap_or(nz)))
            .or_default()
            .push((p, slot));
    }
    let keys: Vec<(u64, usize)> = groups.keys().copied().collect();
    let (s, t) = (0, 1);
    let az_node = |a: usize| 2 + a;
    let group_node = |g: usize| 2 + nz + g;
    let mut f = super::flow::Flow::new(2 + nz + keys.len());
    for a in 0..nz {
        f.edge(az_node(a), t, w.az_room[a].max(0), 0);
    }
    let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); keys.len()]; // (az, edge id)
    for (g, &(mask, src)) in keys.iter().enumerate() {
        f.edge(s, group_node(g), groups[&keys[g]].len() as i64, 0);
        for a in (0..nz).filter(|a| mask & (1 << a) != 0) {
            let e = f.edge(group_node(g), az_node(a), i64::MAX / 4, i64::from(a != src));
            edges[g].push((a, e));
        }
    }
    f.run(s, t);
    for (g, key) in keys.iter().enumerate() {
        let mut quota: Vec<(bool, usize, i64)> = edges[g]
            .iter()
            .map(|&(a, e)| (a != key.1, a, f.flow(e)))
            .collect();
        quota.sort_unstable();
        let mut members = groups.remove(key).expect("group");
        members.sort_unstable_by_key(|&(p, slot)| (Reverse(w.cost[p]), p, slot));
        for (p, slot) in members {
            let src = (key.1 < nz).then_some(key.1);
            // Another move of the same partition may have filled an AZ since grouping.
            let mut routed = None;
            for q in quota.iter_mut().filter(|q| q.2 > 0) {
                if w.count_in_az(p, q.1) < w.cap[p] {
                    if let Some((b, _)) = w.best_in_az(p, q.1) {
                        q.2 -= 1;
                        routed = Some(b);
                        break;
                    }
                }
            }
            let dest = routed
                .or_else(|| w.destination(p, src, true))
                .or_else(|| w.destination(p, src, false))
                .expect("feasibility was checked: some AZ allows another replica");
            w.put(p, slot, dest);
        }
    }
}

/// Final pass: pair brokers still above target with brokers below it, directly (`o → u`) or,
/// when no replica of `o` may go to `u`, along the shortest chain of brokers (`o → x → … → u`,
/// one move per hop, each hop's broker keeping its count). Chains only arise where the AZ rule
/// pins partitions (small, unequal clusters); each costs moves beyond the lower bound.
fn repair(w: &mut Work) {
    let nb = w.nb;
    let mut on: Vec<Vec<(u64, u32)>> = vec![Vec::new(); nb];
    for (p, r) in w.reps.iter().enumerate() {
        if w.in_scope[p] {
            for &b in r {
                on[b as usize].push((w.cost[p], p as u32));
            }
        }
    }
    for v in &mut on {
        v.sort_unstable();
    }
    for _ in 0..10_000 {
        let Some(o) = (0..nb).find(|&b| !w.removed[b] && w.load[b] > w.target[b]) else {
            return;
        };
        let unders: Vec<usize> = (0..nb)
            .filter(|&b| !w.removed[b] && w.load[b] < w.target[b])
            .collect();
        if unders.is_empty() {
            return;
        }
        let Some(path) = chain(w, &on, o, &unders) else {
            return;
        };
        // Apply from the receiving end so every hop is checked against the state it lands in.
        for &(p, from, to) in path.iter().rev() {
            if !movable(w, p, from, to) {
                return;
            }
            relocate(w, p, from, to);
            on[to].push((w.cost[p], p as u32));
        }
    }
}

fn movable(w: &Work, p: usize, from: usize, to: usize) -> bool {
    w.reps[p].contains(&(from as u32))
        && !w.reps[p].contains(&(to as u32))
        && (w.az_of[from] == w.az_of[to] || w.count_in_az(p, w.az_of[to]) < w.cap[p])
}

/// Shortest chain of single-replica moves from `o` to any broker in `targets`.
fn chain(
    w: &Work,
    on: &[Vec<(u64, u32)>],
    o: usize,
    targets: &[usize],
) -> Option<Vec<(usize, usize, usize)>> {
    let nb = w.nb;
    let mut prev: Vec<Option<(usize, usize)>> = vec![None; nb]; // (from broker, partition)
    let mut seen = vec![false; nb];
    seen[o] = true;
    let mut queue = std::collections::VecDeque::from([o]);
    let is_target = |b: usize| targets.contains(&b);
    // Try the direct hops first so a one-move fix is always preferred.
    while let Some(x) = queue.pop_front() {
        let mut order: Vec<usize> = (0..nb).filter(|&y| !w.removed[y] && !seen[y]).collect();
        order.sort_by_key(|&y| (!is_target(y), y));
        for y in order {
            let Some(p) = on[x]
                .iter()
                .map(|&(_, p)| p as usize)
                .find(|&p| movable(w, p, x, y))
            else {
                continue;
            };
            seen[y] = true;
            prev[y] = Some((x, p));
            if is_target(y) {
                let mut path = Vec::new();
                let mut cur = y;
                while let Some((from, p)) = prev[cur] {
                    path.push((p, from, cur));
                    cur = from;
                }
                path.reverse();
                return Some(path);
            }
            queue.push_back(y);
        }
    }
    None
}

pub(super) fn relocate(w: &mut Work, p: usize, from: usize, to: usize) {
    let slot = w.reps[p]
        .iter()
        .position(|&b| b == from as u32)
        .expect("holds the replica");
    w.take(p, slot);
    w.put(p, slot, to as u32);
}

/// With byte balance, order the balance moves (class 2) so the worst imbalance narrows first:
/// repeatedly the most utilised broker (as the moves taken so far leave it) gives up its largest
/// planned move. Forced moves (classes 0 and 1) keep their place ahead.
fn worst_first(w: &Work, original: &[Vec<u32>], moved: &mut Vec<(u8, u64, usize, u64)>) {
    let np = w.reps.len();
    let mut held = vec![0u64; w.nb];
    for p in (0..np).filter(|&p| w.in_scope[p]) {
        for &b in &original[p] {
            held[b as usize] += w.cost[p];
        }
    }
    // Utilisation relative to the broker's AZ: bytes over weight (disk size where known), over
    // the AZ's total bytes per unit of weight (what the band is around).
    let weight: Vec<u128> = (0..w.nb)
        .map(|b| u128::from(w.capacity[b].filter(|&c| c > 0).unwrap_or(1)))
        .collect();
    let mut az_bytes = vec![0u128; w.nz + 1];
    let mut az_weight = vec![0u128; w.nz + 1];
    for b in (0..w.nb).filter(|&b| !w.removed[b]) {
        let a = w.az_of[b].min(w.nz);
        az_bytes[a] += u128::from(held[b]);
        az_weight[a] += weight[b];
    }
    // held * az_weight / (weight * az_bytes), as a fixed-point number.
    let cap: Vec<u128> = (0..w.nb)
        .map(|b| {
            let a = w.az_of[b].min(w.nz);
            (weight[b] * az_bytes[a].max(1) / az_weight[a].max(1)).max(1)
        })
        .collect();
    let split = moved.iter().position(|m| m.0 == 2).unwrap_or(moved.len());
    let rest: Vec<(u8, u64, usize, u64)> = moved.split_off(split);
    // Per donor, its planned moves, largest last (popped first).
    let mut by_donor: Vec<Vec<usize>> = vec![Vec::new(); w.nb];
    for (i, m) in rest.iter().enumerate() {
        let p = m.2;
        if let Some(d) = original[p]
            .iter()
            .filter(|b| !w.reps[p].contains(b))
            .max_by_key(|&&b| (u128::from(held[b as usize]) << 20) / cap[b as usize])
        {
            by_donor[*d as usize].push(i);
        }
    }
    for list in &mut by_donor {
        list.sort_by_key(|&i| rest[i].1);
    }
    let mut heap: std::collections::BinaryHeap<(u128, usize)> = (0..w.nb)
        .filter(|&b| !by_donor[b].is_empty())
        .map(|b| ((u128::from(held[b]) << 20) / cap[b], b))
        .collect();
    let mut taken = vec![false; rest.len()];
    while let Some((_, d)) = heap.pop() {
        let Some(i) = by_donor[d].pop() else { continue };
        taken[i] = true;
        moved.push(rest[i]);
        let p = rest[i].2;
        for &b in original[p].iter().filter(|b| !w.reps[p].contains(b)) {
            held[b as usize] = held[b as usize].saturating_sub(w.cost[p]);
        }
        if !by_donor[d].is_empty() {
            heap.push(((u128::from(held[d]) << 20) / cap[d], d));
        }
    }
    moved.extend(
        rest.iter()
            .enumerate()
            .filter(|(i, _)| !taken[*i])
            .map(|(_, m)| *m),
    );
}

/// Keep whole partitions' moves within the budget, in priority order; revert the rest.
/// Returns whether anything was left out.
fn apply_budget(
    w: &mut Work,
    original: &[Vec<u32>],
    cluster: &Cluster,
    opts: &PlanOptions,
) -> bool {
    let np = w.reps.len();
    let mut moved: Vec<(u8, u64, usize, u64)> = Vec::new(); // (class, cost, p, moves)
    for p in 0..np {
        let m = w.reps[p]
            .iter()
            .filter(|b| !original[p].contains(b))
            .count() as u64;
        if m == 0 {
            continue;
        }
        let class = if original[p].iter().any(|&b| w.removed[b as usize]) {
            0
        } else if (0..w.nz).any(|a| {
            original[p]
                .iter()
                .filter(|&&b| w.az_of[b as usize] == a)
                .count()
                > w.cap[p]
        }) {
            1
        } else {
            2
        };
        moved.push((class, w.cost[p].saturating_mul(m), p, m));
    }
    moved.sort_unstable_by_key(|&(class, bytes, p, _)| {
        (
            class,
            bytes,
            cluster.partitions[p].topic.as_str(),
            cluster.partitions[p].partition,
        )
    });
    if matches!(opts.balance, Balance::Bytes | Balance::Both) {
        worst_first(w, original, &mut moved);
    }
    let (mut moves_left, mut bytes_left) = (
        opts.max_moves.unwrap_or(u64::MAX),
        opts.max_move_bytes.unwrap_or(u64::MAX),
    );
    let mut left_out = false;
    for (_, bytes, p, m) in moved {
        if m <= moves_left && bytes <= bytes_left {
            moves_left -= m;
            bytes_left -= bytes;
        } else {
            left_out = true;
            // Revert this partition.
            for slot in 0..w.reps[p].len() {
                let b = w.reps[p][slot];
                w.adjust(b, p, -1);
            }
            w.reps[p] = original[p].clone();
            for slot in 0..w.reps[p].len() {
                let b = w.reps[p][slot];
                w.adjust(b, p, 1);
            }
        }
    }
    left_out
}

/// Per-AZ and per-broker replica targets, and the lower bound on moves.
struct Targets {
    per_broker: Vec<i64>,
    per_az: Vec<i64>,
    /// For each AZ: partitions that must gain a replica there (the AZ rule's minimum).
    forced_into: Vec<u64>,
}

impl Targets {
    fn compute(
        reps: &[Vec<u32>],
        in_scope: &[bool],
        az_of: &[usize],
        az_size: &[usize],
        removed: &[bool],
        current: &[i64],
    ) -> Targets {
        let nz = az_size.len();
        let nb = az_of.len();
        // Group partitions by RF.
        let mut by_rf: BTreeMap<usize, u64> = BTreeMap::new();
        for (p, r) in reps.iter().enumerate() {
            if in_scope[p] {
                *by_rf.entry(r.len()).or_default() += 1;
            }
        }
        let total: u64 = by_rf.iter().map(|(r, n)| *r as u64 * n).sum();
        let (mut lo, mut hi) = (vec![0u64; nz], vec![0u64; nz]);
        for (&r, &n) in &by_rf {
            let c = r.div_ceil(nz);
            let his: Vec<usize> = az_size.iter().map(|&s| s.min(c)).collect();
            let sum: usize = his.iter().sum();
            for a in 0..nz {
                hi[a] += his[a] as u64 * n;
                lo[a] += r.saturating_sub(sum - his[a]) as u64 * n;
            }
        }
        let fill = |l: f64| -> Vec<f64> {
            (0..nz)
                .map(|a| (l * az_size[a] as f64).clamp(lo[a] as f64, hi[a] as f64))
                .collect()
        };
        let (mut a_, mut b_) = (0.0f64, total as f64 + 1.0);
        for _ in 0..200 {
            let mid = (a_ + b_) / 2.0;
            if fill(mid).iter().sum::<f64>() < total as f64 {
                a_ = mid;
            } else {
                b_ = mid;
            }
        }
        let real = fill(b_);
        // The bisection leaves the level a hair off an integer; do not let that cost a unit.
        let mut az_target: Vec<u64> = real
            .iter()
            .zip(&lo)
            .map(|(&x, &l)| ((x + 1e-6).floor() as u64).max(l))
            .collect();
        let mut az_current = vec![0i64; nz];
        for b in 0..nb {
            if !removed[b] && az_of[b] < nz {
                az_current[az_of[b]] += current[b];
            }
        }
        let mut assigned: u64 = az_target.iter().sum();
        while assigned < total {
            // Each AZ gets at most the ceiling of its share; only clamps can force more.
            let within_share =
                |a: usize| (az_target[a] as f64) < (real[a] - 1e-6).ceil() && az_target[a] < hi[a];
            let eligible: Vec<usize> = if (0..nz).any(within_share) {
                (0..nz).filter(|&a| within_share(a)).collect()
            } else {
                (0..nz).filter(|&a| az_target[a] < hi[a]).collect()
            };
            let a = eligible
                .into_iter()
                .max_by(|&x, &y| {
                    let kx = (
                        az_current[x] - az_target[x] as i64,
                        real[x] - real[x].floor(),
                    );
                    let ky = (
                        az_current[y] - az_target[y] as i64,
                        real[y] - real[y].floor(),
                    );
                    kx.0.cmp(&ky.0).then(kx.1.total_cmp(&ky.1)).then(y.cmp(&x))
                })
                .expect("total fits under the AZ maxima");
            az_target[a] += 1;
            assigned += 1;
        }
        while assigned > total {
            let a = (0..nz)
                .filter(|&a| az_target[a] > lo[a])
                .min_by_key(|&a| (az_current[a] - az_target[a] as i64, a))
                .expect("total fits over the AZ minima");
            az_target[a] -= 1;
            assigned -= 1;
        }
        // Per broker within each AZ: floor/ceil, the +1s to the brokers holding the most now.
        let mut per_broker = vec![0i64; nb];
        for a in 0..nz {
            let mut members: Vec<usize> =
                (0..nb).filter(|&b| !removed[b] && az_of[b] == a).collect();
            let n = members.len() as u64;
            let (base, extra) = (az_target[a] / n, az_target[a] % n);
            members.sort_by_key(|&b| (Reverse(current[b]), b));
            for (i, &b) in members.iter().enumerate() {
                per_broker[b] = (base + u64::from((i as u64) < extra)) as i64;
            }
        }
        // AZ-rule minimum per AZ.
        let mut forced_into = vec![0u64; nz];
        for (p, r) in reps.iter().enumerate() {
            if !in_scope[p] {
                continue;
            }
            let rf = r.len();
            let c = rf.div_ceil(nz);
            let sum: usize = az_size.iter().map(|&s| s.min(c)).sum();
            for a in 0..nz {
                let need = rf.saturating_sub(sum - az_size[a].min(c));
                if need > 0 {
                    let have = r
                        .iter()
                        .filter(|&&b| !removed[b as usize] && az_of[b as usize] == a)
                        .count()
                        .min(c);
                    forced_into[a] += need.saturating_sub(have) as u64;
                }
            }
        }
        Targets {
            per_broker,
            per_az: az_target.iter().map(|&x| x as i64).collect(),
            forced_into,
        }
    }

    /// The fewest replica moves any plan with these targets can make:
    /// the larger of (a) Σ over brokers of replicas above target (all replicas of removed
    /// brokers count), (b) Σ of AZ violations (replicas beyond ceil(RF/#AZ) in one AZ), and
    /// (c) Σ over AZs of max(partitions that must gain a replica there, the AZ's brokers'
    /// deficits): moves into different AZs are different moves.
    fn lower_bound(&self, original: &[Vec<u32>], w: &Work, current: &[i64]) -> u64 {
        let nb = w.nb;
        let excess: u64 = (0..nb)
            .map(|b| (current[b] - if w.removed[b] { 0 } else { self.per_broker[b] }).max(0) as u64)
            .sum();
        let mut violations = 0u64;
        for (p, r) in original.iter().enumerate() {
            if !w.in_scope[p] {
                continue;
            }
            for a in 0..w.nz {
                let k = r
                    .iter()
                    .filter(|&&b| !w.removed[b as usize] && w.az_of[b as usize] == a)
                    .count();
                violations += k.saturating_sub(w.cap[p]) as u64;
            }
        }
        let mut per_az = 0u64;
        for a in 0..w.nz {
            let deficit: u64 = (0..nb)
                .filter(|&b| !w.removed[b] && w.az_of[b] == a)
                .map(|b| (self.per_broker[b] - current[b]).max(0) as u64)
                .sum();
            per_az += deficit.max(self.forced_into[a]);
        }
        excess.max(violations).max(per_az)
    }
}
