//! The per-topic spread rule (pure): after the plan, no live broker holds more than
//! `ceil(the topic's replicas in its AZ / the AZ's live brokers) + 1` replicas of one topic, so
//! one hot topic cannot pile onto a few brokers.
//!
//! The balancing passes already prefer brokers below the limit; [`repair`] runs after them and
//! moves what is still above it to the broker of the same AZ holding the fewest replicas of the
//! topic. Moves stay inside the AZ (the AZ rule holds), and each one takes a replica of another
//! topic back where that keeps replica counts (and, with byte balance, both brokers' bands) as
//! they were: the pair chosen is the one that adds the fewest bytes to the plan, then the one
//! whose sizes are closest. Where no pair keeps the bands, the rule comes first: the pair whose
//! sizes are closest goes, within `--max-disk-utilisation`. Where an AZ's disks differ in size,
//! utilisation balance gives the big disks a bigger share of every topic and the band comes
//! first. What no move can fix (an AZ of one broker, unequal disks, partitions every candidate
//! already holds) is reported by topic.

// Broker, partition and AZ indices address several parallel arrays at once; index loops read best.
#![allow(clippy::needless_range_loop)]

use super::bytes::bands::Bands;
use super::options::Balance;
use super::work::{relocate, IntMap, Work};
use std::collections::BTreeSet;

/// Per (topic, AZ), the most replicas of the topic one live broker of the AZ may hold: dense,
/// topic-major (topics are dense indices and AZs few), so a lookup is one index.
pub(in crate::assign) struct Limits {
    nz: usize,
    most: Vec<u32>,
}

impl Limits {
    /// From each (topic, AZ)'s replicas `n` (topic-major) and the AZs' live brokers.
    fn from_counts(mut n: Vec<u32>, size: &[u32]) -> Self {
        let nz = size.len();
        for (i, v) in n.iter_mut().enumerate() {
            *v = v.div_ceil(size[i % nz].max(1)) + 1;
        }
        Self { nz, most: n }
    }

    /// The most replicas of `t` one broker of AZ `a` may hold (no replica there: 1).
    pub(in crate::assign) fn of(&self, t: u32, a: usize) -> u32 {
        self.most
            .get(t as usize * self.nz + a)
            .copied()
            .unwrap_or(1)
    }
}

/// Live brokers per AZ.
fn az_sizes(w: &Work) -> Vec<u32> {
    let mut n = vec![0u32; w.nz];
    for b in 0..w.nb {
        if !w.removed[b] && w.az_of[b] < w.nz {
            n[w.az_of[b]] += 1;
        }
    }
    n
}

/// The rule's limits for the layout now (in-scope partitions on live brokers), read from the
/// per-(topic, broker) counts rather than from every replica.
pub(in crate::assign) fn limits(w: &Work) -> Limits {
    let mut n = vec![0u32; w.tlimit.len() * w.nz];
    for (&(t, b), &c) in &w.tcount {
        let b = b as usize;
        if !w.removed[b] && w.az_of[b] < w.nz {
            n[t as usize * w.nz + w.az_of[b]] += c;
        }
    }
    Limits::from_counts(n, &az_sizes(w))
}

/// The limits a lower bound may use whatever the plan does across AZs: each topic's replicas in
/// an AZ counted at the most the AZ rule lets it hold (`cap` per partition), so no final limit
/// is above these.
pub(in crate::assign) fn loosest_limits(w: &Work) -> Limits {
    let size = az_sizes(w);
    let mut n = vec![0u32; w.tlimit.len() * w.nz];
    for p in (0..w.reps.len()).filter(|&p| w.in_scope[p]) {
        let cap = w.cap[p].min(w.reps[p].len()) as u32;
        let t = w.topic[p] as usize;
        for a in 0..w.nz {
            n[t * w.nz + a] += cap.min(size[a]);
        }
    }
    Limits::from_counts(n, &size)
}

/// Per live broker, its own replicas (in `original` and still in `layout`) above the rule with
/// `limits`: what it must send at least, as (count, the bytes of its smallest such replicas). A
/// replica the forced moves put on a broker may move on at no further cost, so only its own
/// replicas beyond the limit count. A lower bound for any plan that keeps the rule.
///
/// `counts` are `layout`'s replicas per (topic, broker): a broker's own replicas of a topic are
/// no more than that, so only the pairs above the limit there are looked at replica by replica
/// (rare: a 3M-replica plan should not walk every replica for nothing).
pub(in crate::assign) fn forced_out(
    w: &Work,
    original: &[Vec<u32>],
    layout: &[Vec<u32>],
    limits: &Limits,
    counts: &IntMap<(u32, u32), u32>,
) -> (Vec<u64>, Vec<f64>) {
    let mut over: IntMap<(u32, u32), Vec<u64>> = counts
        .iter()
        .filter(|(&(t, b), &k)| {
            let bi = b as usize;
            !w.removed[bi] && w.az_of[bi] < w.nz && k > limits.of(t, w.az_of[bi])
        })
        .map(|(&(t, b), _)| ((b, t), Vec::new()))
        .collect();
    let mut count = vec![0u64; w.nb];
    let mut bytes = vec![0f64; w.nb];
    if over.is_empty() {
        return (count, bytes);
    }
    for p in (0..original.len()).filter(|&p| w.in_scope[p]) {
        for &b in layout[p].iter().filter(|b| original[p].contains(b)) {
            if let Some(v) = over.get_mut(&(b, w.topic[p])) {
                v.push(w.cost[p]);
            }
        }
    }
    for ((b, t), mut sizes) in over {
        let l = limits.of(t, w.az_of[b as usize]) as usize;
        if sizes.len() <= l {
            continue;
        }
        sizes.sort_unstable();
        let k = sizes.len() - l;
        count[b as usize] += k as u64;
        bytes[b as usize] += sizes[..k].iter().map(|&c| c as f64).sum::<f64>();
    }
    (count, bytes)
}

/// Move replicas off brokers above the rule (see the module doc). Returns the topics that stay
/// above it somewhere, and how many replicas moved.
pub(in crate::assign) fn repair(
    w: &mut Work,
    original: &[Vec<u32>],
    mode: Balance,
    bands: Option<&Bands>,
    max_util: Option<f64>,
    budget: Option<i64>,
) -> (BTreeSet<u32>, usize) {
    let limits = limits(w);
    let mut over: Vec<(u32, u32)> = w
        .tcount
        .iter()
        .filter(|(&(t, b), &c)| {
            let bi = b as usize;
            !w.removed[bi] && w.az_of[bi] < w.nz && c > limits.of(t, w.az_of[bi])
        })
        .map(|(&(t, b), _)| (t, b))
        .collect();
    let mut unmet = BTreeSet::new();
    if over.is_empty() {
        return (unmet, 0);
    }
    over.sort_unstable();
    let mut r = Repair::new(w, original, mode, bands, limits, &over);
    r.max_util = max_util;
    r.budget = budget;
    let mut moved = 0;
    for (t, x) in over {
        let l = r.limits.of(t, r.w.az_of[x as usize]);
        while r.count(t, x) > l {
            match r.fix_one(t, x as usize, l) {
                0 => {
                    unmet.insert(t);
                    break;
                }
                n => moved += n,
            }
        }
    }
    (unmet, moved)
}

/// The repair's state: the work; each broker's in-scope replicas as gathered in one pass, with
/// what moved since; the replicas of the brokers asked to receive, by size (kept up to date);
/// and, for each (topic, broker) above the limit, that broker's partitions of the topic.
struct Repair<'a> {
    w: &'a mut Work,
    original: &'a [Vec<u32>],
    mode: Balance,
    bands: Option<&'a Bands>,
    max_util: Option<f64>,
    /// Bytes the fixes may add to the plan in all (`None`: no limit).
    budget: Option<i64>,
    limits: Limits,
    on: Vec<Vec<(u64, u32)>>,
    /// (broker, partition) gathered in `on` that has moved away since, and what arrived.
    gone: std::collections::HashSet<(u32, u32)>,
    came: Vec<Vec<(u64, u32)>>,
    sorted: IntMap<usize, BTreeSet<(u64, u32)>>,
    piles: IntMap<(u32, u32), Vec<u32>>,
    /// Per AZ, its live brokers.
    members: Vec<Vec<usize>>,
}

/// One candidate fix: move `p` from x to y, and `back` (if any) from y to x.
#[derive(Clone, Copy)]
struct Fix {
    /// Both brokers stay in their bands (or no further outside them).
    fits: bool,
    /// Bytes it adds to the plan (may be negative: a replica going home).
    added: i64,
    /// How far apart the two sizes are (0 without a replica coming back).
    gap: u64,
    y: usize,
    p: u32,
    back: Option<u32>,
}

impl Fix {
    /// Lower is better: a fix within the bands first, the fewest bytes added, then the closest
    /// sizes; where no fix keeps the bands (the rule comes before the band), the closest sizes
    /// first, so the bands move as little as they must.
    fn rank(&self) -> (bool, i64, u64) {
        if self.fits {
            (false, self.added, self.gap)
        } else {
            (true, self.gap as i64, self.added.max(0) as u64)
        }
    }
}

impl<'a> Repair<'a> {
    fn new(
        w: &'a mut Work,
        original: &'a [Vec<u32>],
        mode: Balance,
        bands: Option<&'a Bands>,
        limits: Limits,
        over: &[(u32, u32)],
    ) -> Self {
        let mut members = vec![Vec::new(); w.nz];
        for b in 0..w.nb {
            if !w.removed[b] && w.az_of[b] < w.nz {
                members[w.az_of[b]].push(b);
            }
        }
        let mut piles: IntMap<(u32, u32), Vec<u32>> =
            over.iter().map(|&k| (k, Vec::new())).collect();
        let mut on = vec![Vec::new(); w.nb];
        for p in (0..w.reps.len()).filter(|&p| w.in_scope[p]) {
            for &b in &w.reps[p] {
                on[b as usize].push((w.cost[p], p as u32));
                if let Some(v) = piles.get_mut(&(w.topic[p], b)) {
                    v.push(p as u32);
                }
            }
        }
        Self {
            max_util: None,
            budget: None,
            came: vec![Vec::new(); w.nb],
            gone: Default::default(),
            sorted: IntMap::default(),
            on,
            piles,
            w,
            original,
            mode,
            bands,
            limits,
            members,
        }
    }

    fn count(&self, t: u32, b: u32) -> u32 {
        self.w.tcount.get(&(t, b)).copied().unwrap_or(0)
    }

    /// Broker `b`'s replicas by size (built on first use, then kept up to date).
    fn sorted(&mut self, b: usize) -> BTreeSet<(u64, u32)> {
        if let Some(set) = self.sorted.remove(&b) {
            return set;
        }
        self.on[b]
            .iter()
            .filter(|&&(_, p)| !self.gone.contains(&(b as u32, p)))
            .chain(&self.came[b])
            .copied()
            .collect()
    }

    /// Bytes a move of `p`'s replica from `from` to `to` adds to the plan.
    fn added(&self, p: u32, from: usize, to: usize) -> i64 {
        let home = &self.original[p as usize];
        let c = self.w.cost[p as usize] as i64;
        let pays = |b: usize| !home.contains(&(b as u32));
        i64::from(pays(to)) * c - i64::from(pays(from)) * c
    }

    /// Whether broker `b` may end with `bytes`: inside its band, or no further outside it than
    /// now (without byte balance, always).
    fn fits(&self, b: usize, bytes: i64) -> bool {
        let Some(bands) = self.bands else {
            return true;
        };
        let (lo, hi) = (bands.lo[b], bands.hi[b]);
        let out = |v: f64| (lo - v).max(v - hi).max(0.0);
        out(bytes as f64) <= out(self.w.bytes[b] as f64) + 0.5
    }

    /// Whether broker `b` may end with `bytes` without exceeding `--max-disk-utilisation` of a
    /// known disk size (the one limit no fix may break).
    fn fits_disk(&self, b: usize, bytes: i64) -> bool {
        match (self.w.capacity[b], self.max_util) {
            (Some(c), Some(u)) if c > 0 => bytes as f64 <= u * c as f64,
            _ => true,
        }
    }

    /// Whether the band may give way to the rule in broker `x`'s AZ: its brokers weigh the same.
    /// Where disk sizes differ, utilisation balance gives big disks a bigger share of every
    /// topic, and the rule yields (the topic is reported).
    fn even(&self, x: usize) -> bool {
        self.bands.is_none_or(|b| b.even(self.w.az_of[x]))
    }

    /// Whether `b` may take one more replica of `t`.
    fn room(&self, t: u32, b: usize) -> bool {
        self.count(t, b as u32) < self.limits.of(t, self.w.az_of[b])
    }

    /// One replica of topic `t` off broker `x` (above limit `l`): the replicas moved (0 when no
    /// move can).
    fn fix_one(&mut self, t: u32, x: usize, l: u32) -> usize {
        let a = self.w.az_of[x];
        // The three brokers of the AZ holding the fewest of the topic (then the lowest index).
        let mut ys: Vec<(u32, usize)> = Vec::with_capacity(4);
        for &y in &self.members[a] {
            let c = self.count(t, y as u32);
            if y == x || c >= l {
                continue;
            }
            let at = ys.partition_point(|&k| k <= (c, y));
            if at < 3 {
                ys.insert(at, (c, y));
                ys.truncate(3);
            }
        }
        let ys: Vec<usize> = ys.into_iter().map(|(_, y)| y).collect();
        let ps: Vec<u32> = self.piles.get(&(t, x as u32)).cloned().unwrap_or_default();
        let mut best: Option<Fix> = None;
        // The brokers holding the fewest of the topic are enough to find a good pair.
        for &y in &ys {
            for &p in &ps {
                if self.w.holds(p as usize, y as u32) {
                    continue;
                }
                if let Some(f) = self.best_for(t, x, y, p) {
                    if best.is_none_or(|b| f.rank() < b.rank()) {
                        best = Some(f);
                    }
                }
            }
        }
        let Some(f) = best else {
            return 0;
        };
        if let Some(b) = self.budget.as_mut() {
            if f.added > *b {
                return 0;
            }
            *b -= f.added;
        }
        self.relocate(f.p, x, f.y);
        if let Some(q) = f.back {
            self.relocate(q, f.y, x);
            return 2;
        }
        1
    }

    /// The best way to move `p` (topic `t`) from `x` to `y`: alone where the mode allows it,
    /// else with the replica on `y` whose size is closest that may come back to `x`.
    fn best_for(&mut self, t: u32, x: usize, y: usize, p: u32) -> Option<Fix> {
        let c = self.w.cost[p as usize];
        let (bx, by) = (self.w.bytes[x] as i64, self.w.bytes[y] as i64);
        let alone_counts = self.w.load[x] - self.w.load[y] >= 2;
        // Alone: where counts allow it (in bytes mode they are not balanced), and within the
        // disk limit; in the bands or not (the rule comes first).
        let alone_fits = self.fits(x, bx - c as i64) && self.fits(y, by + c as i64);
        let alone_ok = match self.mode {
            Balance::Bytes => true,
            _ => alone_counts,
        } && self.fits_disk(y, by + c as i64)
            && (alone_fits || self.even(x));
        let mut best = alone_ok.then(|| Fix {
            fits: alone_fits,
            added: self.added(p, x, y),
            // Outside the bands, a replica moved alone shifts them by its whole size.
            gap: if alone_fits { 0 } else { c },
            y,
            p,
            back: None,
        });
        // Replicas on y nearest in size to p, scanned outwards from p's size.
        let on_y = self.sorted(y);
        let mut below = on_y.range(..(c, 0)).rev().peekable();
        let mut above = on_y.range((c, 0)..).peekable();
        // The 16 closest that may come back, among at most 64 looked at.
        let (mut seen, mut looked) = (0, 0);
        while seen < 16 && looked < 64 {
            looked += 1;
            let pick_above = match (above.peek(), below.peek()) {
                (Some(a), Some(b)) => a.0.abs_diff(c) <= b.0.abs_diff(c),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let &(s, q) = if pick_above {
                above.next().expect("peeked")
            } else {
                below.next().expect("peeked")
            };
            let tq = self.w.topic[q as usize];
            if tq == t || self.w.holds(q as usize, x as u32) || !self.room(tq, x) {
                continue;
            }
            seen += 1;
            let (nx, ny) = (bx - c as i64 + s as i64, by + c as i64 - s as i64);
            if !(self.fits_disk(x, nx) && self.fits_disk(y, ny)) {
                continue;
            }
            let fits = self.fits(x, nx) && self.fits(y, ny);
            if !fits && !self.even(x) {
                continue;
            }
            let f = Fix {
                fits,
                added: self.added(p, x, y) + self.added(q, y, x),
                gap: s.abs_diff(c),
                y,
                p,
                back: Some(q),
            };
            if best.is_none_or(|b| f.rank() < b.rank()) {
                best = Some(f);
            }
        }
        self.sorted.insert(y, on_y);
        best
    }

    fn relocate(&mut self, p: u32, from: usize, to: usize) {
        relocate(self.w, p as usize, from, to);
        let e = (self.w.cost[p as usize], p);
        match self.sorted.get_mut(&from) {
            Some(set) => {
                set.remove(&e);
            }
            None => {
                if let Some(i) = self.came[from].iter().position(|x| *x == e) {
                    self.came[from].swap_remove(i);
                } else {
                    self.gone.insert((from as u32, p));
                }
            }
        }
        match self.sorted.get_mut(&to) {
            Some(set) => {
                set.insert(e);
            }
            None => {
                // Back where it was gathered, or new here.
                if !self.gone.remove(&(to as u32, p)) {
                    self.came[to].push(e);
                }
            }
        }
        let t = self.w.topic[p as usize];
        if let Some(v) = self.piles.get_mut(&(t, from as u32)) {
            v.retain(|&x| x != p);
        }
        if let Some(v) = self.piles.get_mut(&(t, to as u32)) {
            v.push(p);
        }
    }
}
