//! The planner's working state (pure): the cluster as dense indices (brokers, partitions, AZs,
//! topics), each partition's replicas, per-broker counts and bytes, and the one way a replica
//! moves ([`relocate`]) so every count stays in step.

// Broker, partition and AZ indices address several parallel arrays at once; index loops read best.
#![allow(clippy::needless_range_loop)]

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

pub(in crate::assign) const HOLE: u32 = u32::MAX;

/// A multiplicative hasher for the planner's small integer keys (topic, broker) and topic names:
/// SipHash's protection against chosen keys buys nothing here, and its cost was a fifth of a
/// 3M-replica plan.
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
pub(super) type IntSet<K> = std::collections::HashSet<K, BuildHasherDefault<IntHasher>>;

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
    pub(in crate::assign) target: Vec<i64>,
    /// Per AZ: brokers keyed by (deficit desc, bytes asc, index).
    pub(in crate::assign) heap: Vec<BTreeSet<(Reverse<i64>, u64, u32)>>,
    /// Per AZ: its replica target minus its replicas now (may be negative).
    pub(in crate::assign) az_room: Vec<i64>,
    /// Replicas placed by this plan (partition, broker), to never move twice.
    pub(in crate::assign) placed: BTreeSet<(u32, u32)>,
    /// Per partition its topic, per (topic, broker) the replicas there, and per topic the most
    /// one broker should hold: `ceil(topic replicas / live brokers) + 1`. Destinations and
    /// replicas to shed are chosen with these where the counts leave a choice.
    pub(super) topic: Vec<u32>,
    pub(in crate::assign) tcount: IntMap<(u32, u32), u32>,
    pub(in crate::assign) tlimit: Vec<u32>,
}

impl Work {
    pub(in crate::assign) fn key(&self, b: u32) -> (Reverse<i64>, u64, u32) {
        (
            Reverse(self.target[b as usize] - self.load[b as usize]),
            self.bytes[b as usize],
            b,
        )
    }

    pub(in crate::assign) fn count_in_az(&self, p: usize, a: usize) -> usize {
        self.reps[p]
            .iter()
            .filter(|&&b| b != HOLE && self.az_of[b as usize] == a)
            .count()
    }

    pub(super) fn holds(&self, p: usize, b: u32) -> bool {
        self.reps[p].contains(&b)
    }

    /// Change a broker's load by `delta` replicas of partition `p`, keeping the indexes right.
    pub(in crate::assign) fn adjust(&mut self, b: u32, p: usize, delta: i64) {
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
    pub(in crate::assign) fn take(&mut self, p: usize, slot: usize) -> u32 {
        let b = self.reps[p][slot];
        self.reps[p][slot] = HOLE;
        self.adjust(b, p, -1);
        b
    }

    /// AZs where `p` may get one more replica.
    pub(in crate::assign) fn allowed_azs(&self, p: usize) -> Vec<usize> {
        (0..self.nz)
            .filter(|&a| self.count_in_az(p, a) < self.cap[p])
            .collect()
    }

    /// The best broker in AZ `a` for `p` (largest deficit, fewest bytes; among those with room,
    /// one that stays within the topic's limit), if any does not hold it.
    pub(in crate::assign) fn best_in_az(&self, p: usize, a: usize) -> Option<(u32, i64)> {
        let mut free = self.heap[a].iter().filter(|k| !self.holds(p, k.2));
        let first = free.next()?;
        // Among the brokers with room (or the same deficit), one that stays within the topic's
        // limit after taking it, if any: piles the spread rule would undo cost moves later.
        let pick = std::iter::once(first)
            .chain(free.take_while(|k| k.0 .0 > 0 || k.0 == first.0).take(64))
            .find(|k| !self.would_pile(p, k.2))
            .unwrap_or(first);
        Some((pick.2, pick.0 .0))
    }

    /// Whether broker `b` would hold more of `p`'s topic than the topic's limit after taking a
    /// replica of `p`.
    pub(in crate::assign) fn would_pile(&self, p: usize, b: u32) -> bool {
        let t = self.topic[p];
        self.tcount.get(&(t, b)).copied().unwrap_or(0) >= self.tlimit[t as usize]
    }

    /// Whether broker `b` holds more of `p`'s topic than the topic's limit.
    pub(in crate::assign) fn piled(&self, p: usize, b: u32) -> bool {
        let t = self.topic[p];
        self.tcount.get(&(t, b)).copied().unwrap_or(0) > self.tlimit[t as usize]
    }

    /// Where a new replica of `p` should go: the source AZ if it has room, else the allowed AZ
    /// with the most room; `need_room` refuses brokers already at their target.
    pub(in crate::assign) fn destination(
        &self,
        p: usize,
        source_az: Option<usize>,
        need_room: bool,
    ) -> Option<u32> {
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
    pub(in crate::assign) fn cross_az_destination(&self, p: usize, from: usize) -> Option<u32> {
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

    pub(in crate::assign) fn put(&mut self, p: usize, slot: usize, b: u32) {
        self.reps[p][slot] = b;
        self.adjust(b, p, 1);
        self.placed.insert((p as u32, b));
    }
}

pub(in crate::assign) fn movable(w: &Work, p: usize, from: usize, to: usize) -> bool {
    w.reps[p].contains(&(from as u32))
        && !w.reps[p].contains(&(to as u32))
        && (w.az_of[from] == w.az_of[to] || w.count_in_az(p, w.az_of[to]) < w.cap[p])
}

pub(super) fn relocate(w: &mut Work, p: usize, from: usize, to: usize) {
    let slot = w.reps[p]
        .iter()
        .position(|&b| b == from as u32)
        .expect("holds the replica");
    w.take(p, slot);
    w.put(p, slot, to as u32);
}
