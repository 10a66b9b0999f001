//! Byte balance (pure): after the forced moves, each AZ's brokers exchange replicas until every
//! broker's bytes lie within a band around the AZ's mean, moving as few bytes as it can and
//! never piling one topic onto a broker.
//!
//! With every broker of an AZ's disk capacity known, the band is around the AZ's mean
//! utilisation instead (a smaller disk gets proportionally fewer bytes), and no upper edge
//! exceeds `--max-disk-utilisation` of a capacity.
//!
//! Moves stay inside an AZ, so the AZ rule holds by construction. Each step takes the fullest and
//! the emptiest broker of an AZ and moves one replica between them, sized to fix what is out of
//! the band without pushing either broker out of it: the smallest replica that covers the larger
//! of the donor's excess over the upper edge and the receiver's shortfall under the lower edge,
//! else the largest that fits. A receiver may hold at most `ceil(topic replicas / brokers) + 1`
//! replicas of one topic.

use super::super::work::{relocate, IntMap, Work};
use super::bands::Bands;
use super::bound::Bound;
use super::exact;
use std::collections::BTreeSet;

/// How one AZ's byte-balanced layout compares: whether a broker is left outside its band (by
/// more than a MiB), then the bytes the whole plan moves.
pub(in crate::assign) fn score(
    w: &Work,
    original: &[Vec<u32>],
    b: &Bands,
    members: &[usize],
) -> (bool, u64) {
    let miss: f64 = members
        .iter()
        .map(|&x| outside(w.bytes[x] as f64, b.lo[x], b.hi[x]))
        .sum();
    let moved: u64 = (0..w.reps.len())
        .map(|p| {
            w.reps[p]
                .iter()
                .filter(|x| !original[p].contains(x))
                .count() as u64
                * w.cost[p]
        })
        .sum();
    (miss > f64::from(1u32 << 20), moved)
}

/// Which topic each partition belongs to, how many replicas of a topic an AZ and a broker hold,
/// and each broker's replicas by size: what both balancing passes consult and keep up to date.
#[derive(Clone)]
pub(in crate::assign) struct Index {
    topic: Vec<u32>,
    /// Per (topic, AZ), topic-major, the topic's replicas in the AZ (byte moves stay inside an
    /// AZ, so these do not change while balancing). Replicas per (topic, broker) are the work's
    /// own `tcount`.
    in_az: Vec<u32>,
    nz: usize,
    on: Vec<BTreeSet<(u64, u32)>>,
    /// Per broker, the replicas the forced moves put there: paid for already, so moving one on
    /// costs nothing more.
    free: Vec<BTreeSet<(u64, u32)>>,
    /// Each partition's replicas before the plan (flat: `home[home_at[p]..home_at[p + 1]]`).
    home_at: Vec<u32>,
    home: Vec<u32>,
}

impl Index {
    fn new(w: &Work, original: &[Vec<u32>]) -> Self {
        let topic = w.topic.clone();
        let mut ix = Self {
            in_az: vec![0; w.tlimit.len() * w.nz],
            nz: w.nz,
            topic,
            on: Vec::new(),
            free: vec![BTreeSet::new(); w.nb],
            home_at: Vec::with_capacity(original.len() + 1),
            home: Vec::new(),
        };
        ix.home_at.push(0);
        for r in original {
            ix.home.extend_from_slice(r);
            ix.home_at.push(ix.home.len() as u32);
        }
        // Each broker's replicas gathered first, then built into its set in one go (sorted bulk
        // building is several times faster than 3M single inserts).
        let mut on: Vec<Vec<Replica>> = vec![Vec::new(); w.nb];
        for p in (0..w.reps.len()).filter(|&p| w.in_scope[p]) {
            for &b in &w.reps[p] {
                on[b as usize].push((w.cost[p], p as u32));
                if !ix.is_home(p, b) {
                    ix.free[b as usize].insert((w.cost[p], p as u32));
                }
                if w.az_of[b as usize] < w.nz {
                    ix.in_az[ix.topic[p] as usize * ix.nz + w.az_of[b as usize]] += 1;
                }
            }
        }
        ix.on = on.into_iter().map(BTreeSet::from_iter).collect();
        ix
    }

    /// At most ceil(the topic's share of this AZ's replicas, by the broker's weight) + 1 replicas
    /// of one topic on broker `r` (with equal weights, the spread rule's limit).
    fn limit(&self, w: &Work, b: &Bands, t: u32, r: usize) -> usize {
        let a = w.az_of[r];
        let n = self
            .in_az
            .get(t as usize * self.nz + a)
            .copied()
            .unwrap_or(0) as f64;
        (n * b.weight[r] as f64 / b.az_weight[a]).ceil() as usize + 1
    }

    /// Whether broker `r` may take replica (cost, p).
    fn may_take(&self, w: &Work, b: &Bands, (c, p): (u64, u32), r: usize) -> bool {
        let t = self.topic[p as usize];
        c > 0 && !w.holds(p as usize, r as u32) && held(w, t, r) < self.limit(w, b, t, r)
    }

    /// Bytes moving replica (cost, p) from `from` to `to` adds to the plan (negative when it
    /// goes home).
    fn added(&self, (c, p): Replica, from: usize, to: usize) -> i64 {
        let pays = |b: usize| i64::from(!self.is_home(p as usize, b as u32)) * c as i64;
        pays(to) - pays(from)
    }

    fn is_home(&self, p: usize, b: u32) -> bool {
        self.home[self.home_at[p] as usize..self.home_at[p + 1] as usize].contains(&b)
    }

    fn relocate(&mut self, w: &mut Work, (c, p): (u64, u32), d: usize, r: usize) {
        relocate(w, p as usize, d, r);
        self.on[d].remove(&(c, p));
        self.on[r].insert((c, p));
        // A forced replica moved on stays free to move again (unless it went home). Replicas
        // the byte moves moved are not tracked: the greedy seldom moves one twice, and tracking
        // every move costs a set insert each.
        if !self.free.is_empty()
            && self.free[d].remove(&(c, p))
            && !self.is_home(p as usize, r as u32)
        {
            self.free[r].insert((c, p));
        }
    }
}

/// Replicas of topic `t` on broker `r` now.
fn held(w: &Work, t: u32, r: usize) -> usize {
    w.tcount.get(&(t, r as u32)).copied().unwrap_or(0) as usize
}

/// With `--balance both`, after [`balance`]: even out replica counts inside each AZ (within one
/// of each other) without leaving the byte bands: the smallest replica that fits both bands moves
/// from the broker with the most replicas to the one with the fewest; where none fits, two small
/// replicas go one way and one replica of about their size comes back (counts change by one each,
/// bytes hardly at all). A step that adds bytes to the plan is taken only while the plan's bytes
/// stay within `budget`. Returns the bands.
pub(in crate::assign) fn even_counts(
    w: &mut Work,
    balanced: Balanced,
    original: &[Vec<u32>],
    budget: u64,
) -> Bands {
    let Balanced { mut ix, bands } = balanced;
    let mut moved = score(w, original, &bands, &[]).1 as i64;
    let budget = budget as i64;
    // Evening counts never asks which replicas were moved already: stop keeping track.
    ix.free = Vec::new();
    for members in &bands.azs {
        if members.len() < 2 {
            continue;
        }
        let steps = 2 * members.iter().map(|&x| ix.on[x].len()).sum::<usize>() + 16;
        let mut stuck: BTreeSet<usize> = BTreeSet::new();
        let mut scanned: IntMap<(usize, usize), Replica> = IntMap::default();
        for _ in 0..steps {
            let mut by_load: Vec<usize> = members.clone();
            by_load.sort_by_key(|&x| (w.load[x], x));
            let Some(&d) = by_load.iter().rev().find(|x| !stuck.contains(x)) else {
                break;
            };
            let mut moved_one = false;
            for &r in &by_load {
                if w.load[d] - w.load[r] <= 1 {
                    break;
                }
                let start = scanned.get(&(d, r)).copied().unwrap_or((0, 0));
                let affordable = |x: Replica, from: usize, to: usize| {
                    moved + ix.added(x, from, to) <= budget.max(moved)
                };
                if let Some(x) =
                    single_move(w, &ix, &bands, d, r, start).filter(|&x| affordable(x, d, r))
                {
                    // The replicas below x that r refused stay refused while r only receives:
                    // the next search for this pair starts at x (rescanning them made
                    // `--balance both` quadratic on clusters with many topics).
                    scanned.insert((d, r), x);
                    moved += ix.added(x, d, r);
                    ix.relocate(w, x, d, r);
                } else if let Some((x1, x2, y)) =
                    two_for_one(w, &ix, &bands, d, r).filter(|&(x1, x2, y)| {
                        let add = ix.added(x1, d, r) + ix.added(x2, d, r) + ix.added(y, r, d);
                        moved + add <= budget.max(moved)
                    })
                {
                    moved += ix.added(x1, d, r) + ix.added(x2, d, r) + ix.added(y, r, d);
                    ix.relocate(w, x1, d, r);
                    ix.relocate(w, x2, d, r);
                    ix.relocate(w, y, r, d);
                    // r gave a replica away: what it refused may fit now.
                    scanned.retain(|&(_, to), _| to != r);
                } else {
                    continue;
                }
                stuck.clear();
                moved_one = true;
                break;
            }
            if !moved_one {
                stuck.insert(d);
            }
        }
    }
    bands
}

/// The smallest replica on `d` from `start` up that `r` may take with both brokers staying in
/// their bands.
pub(in crate::assign) fn single_move(
    w: &Work,
    ix: &Index,
    b: &Bands,
    d: usize,
    r: usize,
    start: Replica,
) -> Option<(u64, u32)> {
    let slack = (w.bytes[d] as f64 - b.lo[d]).min(b.hi[r] - w.bytes[r] as f64);
    let end = (slack.floor() as u64, u32::MAX);
    if slack < 1.0 || start > end {
        return None;
    }
    ix.on[d]
        .range(start..=end)
        .find(|&&x| ix.may_take(w, b, x, r))
        .copied()
}

/// A replica as the balancing passes index it: (bytes, partition).
pub(in crate::assign) type Replica = (u64, u32);

/// Whether these moves ((cost, partition), from, to) keep every receiving broker within the
/// per-topic limit, counting what leaves it in the same step.
pub(in crate::assign) fn net_ok(
    w: &Work,
    ix: &Index,
    b: &Bands,
    moves: &[((u64, u32), usize, usize)],
) -> bool {
    // Only a destination can gain; its net gain in the topic over the (two or three) moves.
    moves.iter().all(|&((_, p), _, x)| {
        let t = ix.topic[p as usize];
        let dlt: i64 = moves
            .iter()
            .filter(|m| ix.topic[m.0 .1 as usize] == t)
            .map(|&(_, from, to)| i64::from(to == x) - i64::from(from == x))
            .sum();
        dlt <= 0 || held(w, t, x) as i64 + dlt <= ix.limit(w, b, t, x) as i64
    })
}

/// Two replicas from `d` to `r` and one from `r` back, all bands and per-topic limits kept; a
/// small one back first. One of the two going out is of the returning replica's topic where
/// possible (a broker at its topic limit can still swap within the topic).
pub(in crate::assign) fn two_for_one(
    w: &Work,
    ix: &Index,
    b: &Bands,
    d: usize,
    r: usize,
) -> Option<(Replica, Replica, Replica)> {
    let (bd, br) = (w.bytes[d] as f64, w.bytes[r] as f64);
    let movable = |x: &(u64, u32), to: usize| x.0 > 0 && !w.holds(x.1 as usize, to as u32);
    let smallest: Vec<(u64, u32)> = ix.on[d]
        .iter()
        .filter(|x| movable(x, r))
        .take(4)
        .copied()
        .collect();
    // y must be at least the two smallest going out minus the room r has: start there, and
    // look at a bounded number of candidates (the first that fits is taken).
    if smallest.len() < 2 {
        return None;
    }
    let y_min = ((smallest[0].0 + smallest[1].0) as f64 - (b.hi[r] - br)).max(0.0) as u64;
    for &y in ix.on[r].range((y_min, 0)..).take(512) {
        if !movable(&y, d) {
            continue;
        }
        let yb = y.0 as f64;
        // x1 + x2 keeps d and r within their bands after the three moves.
        let lo = (bd + yb - b.hi[d]).max(b.lo[r] - br + yb).max(0.0);
        let hi = (bd + yb - b.lo[d]).min(b.hi[r] - br + yb);
        if hi < lo {
            continue;
        }
        let ty = ix.topic[y.1 as usize];
        let same_topic = ix.on[d]
            .iter()
            .filter(|x| ix.topic[x.1 as usize] == ty && movable(x, r))
            .take(4)
            .copied();
        let firsts: Vec<(u64, u32)> = same_topic.chain(smallest.iter().copied()).collect();
        for x1 in firsts {
            if x1.1 == y.1 {
                continue;
            }
            let (from, to) = ((lo - x1.0 as f64).max(0.0), hi - x1.0 as f64);
            if to < from {
                continue;
            }
            let x2 = ix.on[d]
                .range((from.ceil() as u64, 0)..=(to.floor() as u64, u32::MAX))
                .find(|x| {
                    x.1 != x1.1
                        && x.1 != y.1
                        && movable(x, r)
                        && net_ok(w, ix, b, &[(x1, d, r), (**x, d, r), (y, r, d)])
                });
            if let Some(&x2) = x2 {
                return Some((x1, x2, y));
            }
        }
    }
    None
}

/// Before the byte moves: a broker holding more of a topic than its limit hands its smallest
/// replicas of that topic to the least utilised broker of the AZ below the limit, as long as
/// neither leaves its band (a donor above its band and a receiver below it: these bytes count
/// toward the balance the next step does anyway).
pub(in crate::assign) fn shed_piled(
    w: &mut Work,
    ix: &mut Index,
    bands: &Bands,
    members: &[usize],
) {
    let util = |bytes: u64, x: usize| bytes as f64 / bands.weight[x] as f64;
    for &d in members {
        let list: Vec<Replica> = ix.on[d].iter().copied().collect();
        for x in list {
            let t = ix.topic[x.1 as usize];
            if held(w, t, d) <= ix.limit(w, bands, t, d)
                || (w.bytes[d] as f64 - x.0 as f64) < bands.lo[d]
            {
                continue;
            }
            let r = members
                .iter()
                .copied()
                .filter(|&r| {
                    r != d
                        && (w.bytes[r] + x.0) as f64 <= bands.hi[r]
                        && ix.may_take(w, bands, x, r)
                })
                .min_by(|&a, &b| util(w.bytes[a], a).total_cmp(&util(w.bytes[b], b)));
            if let Some(r) = r {
                ix.relocate(w, x, d, r);
            }
        }
    }
}

/// Before the byte moves: a replica whose broker cannot get within its band without sending it
/// (all its other replicas together are less than its excess), or the cheapest of the replicas
/// one of which must go (its smaller replicas cannot cover the excess), goes first, to the broker of the
/// AZ with the most room under its upper edge: one it fits, or with `overshoot` the one with the
/// most room even where it does not fit (that broker then sends small replicas on). Left to the
/// greedy, which sends the largest replica that fits its current receiver, such a broker would
/// send its small replicas first, then the large one anyway, then take small ones back. Which
/// of the two costs fewer bytes depends on the sizes: [`balance`]'s caller tries both where
/// the cluster is small enough for whole replicas to matter.
pub(in crate::assign) fn shed_forced(
    w: &mut Work,
    ix: &mut Index,
    bands: &Bands,
    members: &[usize],
    overshoot: bool,
) {
    for &d in members {
        loop {
            let need = w.bytes[d] as f64 - bands.hi[d];
            if need <= 0.0 {
                break;
            }
            let total: f64 = ix.on[d].iter().map(|x| x.0 as f64).sum();
            let room = |w: &Work, r: usize| bands.hi[r] - w.bytes[r] as f64;
            // Its smallest replica that, with every smaller one, covers the need: where that
            // replica alone exceeds the need, some replica at least as large must go, and this
            // one is the cheapest.
            let mut sum = 0.0;
            let crossing = ix.on[d].iter().filter(|x| x.0 > 0).find(|x| {
                sum += x.0 as f64;
                sum >= need
            });
            let crossing = crossing.filter(|x| x.0 as f64 > need).copied();
            let pick = ix.on[d]
                .iter()
                .rev()
                .take_while(|x| total - (x.0 as f64) < need)
                .copied()
                .chain(crossing)
                .filter_map(|x| {
                    let r = members
                        .iter()
                        .copied()
                        .filter(|&r| {
                            r != d
                                && room(w, r) >= if overshoot { 1.0 } else { x.0 as f64 }
                                && ix.may_take(w, bands, x, r)
                        })
                        .max_by(|&a, &b| room(w, a).total_cmp(&room(w, b)).then(b.cmp(&a)))?;
                    Some((x, r))
                })
                .next();
            let Some((x, r)) = pick else {
                break;
            };
            ix.relocate(w, x, d, r);
        }
    }
}

/// Move replicas inside each AZ until every broker is within its band (or nothing more helps).
///
/// Where partitions are few (`tries_both`), whole replicas decide what reaching the band costs:
/// each AZ is balanced both ways [`shed_forced`] knows, and the one that ends nearer the band,
/// then moves fewer bytes, is kept.
///
/// With `bound` (on a small cluster), an AZ whose plan moves more than its share of the bound is
/// also searched exactly ([`exact`]).
pub(in crate::assign) fn balance(
    w: &mut Work,
    original: &[Vec<u32>],
    bands: Bands,
    tries_both: bool,
    bound: Option<&Bound>,
) -> Balanced {
    let mut ix = Index::new(w, original);
    for (a, members) in bands.azs.iter().enumerate() {
        if members.len() < 2 {
            continue;
        }
        if !tries_both {
            balance_az(w, &mut ix, &bands, original, members, false);
            continue;
        }
        let mut best: Option<((bool, u64), Work, Index)> = None;
        for overshoot in [false, true] {
            let (mut v, mut vix) = (w.clone(), ix.clone());
            balance_az(&mut v, &mut vix, &bands, original, members, overshoot);
            let score = score(&v, original, &bands, members);
            if best.as_ref().is_none_or(|(s, ..)| score < *s) {
                best = Some((score, v, vix));
            }
        }
        let (_, v, vix) = best.expect("two tries");
        (*w, ix) = (v, vix);
        if let Some(least) = bound.map(|b| b.azs[a].least()) {
            exact(w, &mut ix, &bands, original, members, least);
        }
    }
    Balanced { ix, bands }
}

/// Where the AZ is small enough to search ([`byte_exact`]) and the greedy's plan moves more than
/// `least` (the AZ's share of the bound, forced replicas included), replace it with a cheaper
/// plan the search finds (or one that reaches the band where the greedy did not), keeping the
/// per-topic limit.
pub(in crate::assign) fn exact(
    w: &mut Work,
    ix: &mut Index,
    bands: &Bands,
    original: &[Vec<u32>],
    members: &[usize],
    least: u64,
) {
    let Some(mut problem) = exact::problem(w, original, bands, members) else {
        return;
    };
    // Already within the band and the bound's share: nothing to search.
    let (moved, inside) = problem.now();
    if inside && moved - moved / 200 <= least {
        return;
    }
    // Per topic, how many more of its replicas each broker may hold than those that do not
    // move (no bytes) already there.
    let mut room: IntMap<u32, Vec<i64>> = IntMap::default();
    for part in &problem.parts {
        room.entry(part.topic).or_insert_with(|| {
            members
                .iter()
                .map(|&x| {
                    let fixed = ix.on[x]
                        .range(..(1, 0))
                        .filter(|&&(_, p)| ix.topic[p as usize] == part.topic)
                        .count();
                    ix.limit(w, bands, part.topic, x) as i64 - fixed as i64
                })
                .collect()
        });
    }
    problem.room = Some(room.into_iter().collect());
    let sets = if inside {
        // Down from the greedy's plan (each plan found tightens the search for the next), then
        // up from the bound to what that found: the cheapest either finds.
        let down = problem
            .search(moved, exact::NODES / 10, false)
            .and_then(|o| o.best);
        let most = down.as_ref().map_or(moved, |d| d.0);
        let up = problem.narrow(least.min(most), most, exact::NODES).best;
        match [down, up].into_iter().flatten().min_by_key(|d| d.0) {
            Some((_, sets)) => sets,
            None => return,
        }
    } else {
        // Outside the band, a plan inside it is worth having if it is shown near the optimum
        // (a plan found early may move far more than one a little outside the band).
        let cap = problem.parts.iter().map(|p| p.cost * u64::from(p.k)).sum();
        let found = problem.narrow(least, cap, exact::NODES);
        match found.best {
            Some((cost, sets)) if cost as f64 <= 1.10 * found.least as f64 => sets,
            _ => return,
        }
    };
    for (part, set) in problem.parts.iter().zip(sets) {
        let bits = |m: u32| (0..members.len()).filter(move |&i| m >> i & 1 == 1);
        for (f, t) in bits(part.now & !set).zip(bits(set & !part.now)) {
            ix.relocate(w, (part.cost, part.p), members[f], members[t]);
        }
    }
}

/// What [`balance`] leaves for [`even_counts`]: the index it kept up to date and the bands.
pub(in crate::assign) struct Balanced {
    ix: Index,
    bands: Bands,
}

impl Balanced {
    pub(in crate::assign) fn bands(&self) -> &Bands {
        &self.bands
    }

    pub(in crate::assign) fn into_bands(self) -> Bands {
        self.bands
    }

    /// Index the layout again (after moves made outside the balancing passes).
    pub(in crate::assign) fn reindex(&mut self, w: &Work, original: &[Vec<u32>]) {
        self.ix = Index::new(w, original);
    }
}

/// One AZ's byte moves: piled topics, forced replicas, then the greedy, then [`trim`].
pub(in crate::assign) fn balance_az(
    w: &mut Work,
    ix: &mut Index,
    bands: &Bands,
    original: &[Vec<u32>],
    members: &[usize],
    overshoot: bool,
) {
    // A topic's replicas per AZ (the AZ rule decides those), spread over the AZ's brokers in
    // proportion to their weight: at most ceil(its share) + 1 of one topic on a broker.
    let (weight, lo, hi) = (&bands.weight, &bands.lo, &bands.hi);
    // Brokers ordered by utilisation (bytes per unit of weight), scaled to integers.
    let util = |bytes: u64, x: usize| (u128::from(bytes) << 20) / u128::from(weight[x]);
    place_forced(w, ix, bands, original, members);
    shed_piled(w, ix, bands, members);
    shed_forced(w, ix, bands, members, overshoot);
    let mut order: BTreeSet<(u128, usize)> =
        members.iter().map(|&x| (util(w.bytes[x], x), x)).collect();
    // Donors with nothing left to give (every replica pinned) step aside.
    let mut stuck: BTreeSet<usize> = BTreeSet::new();
    let steps = 4 * members.iter().map(|&x| ix.on[x].len()).sum::<usize>() + 16;
    for _ in 0..steps {
        let Some(&(_, d)) = order.iter().rev().find(|(_, x)| !stuck.contains(x)) else {
            break;
        };
        let &(_, least) = order.iter().next().expect("members");
        if w.bytes[d] as f64 <= hi[d] && w.bytes[least] as f64 >= lo[least] {
            break;
        }
        // Receivers from the least utilised up; the first that can take a fitting replica.
        let mut done = false;
        let receivers: Vec<usize> = order.iter().take(8).map(|&(_, x)| x).collect();
        for r in receivers {
            if r == d || util(w.bytes[r], r) >= util(w.bytes[d], d) {
                break;
            }
            let (bd, br) = (w.bytes[d] as f64, w.bytes[r] as f64);
            let (wd, wr) = (weight[d] as f64, weight[r] as f64);
            // The bytes that would even out the two brokers' utilisations.
            let even = (bd * wr - br * wd) / (wd + wr);
            // Never push either broker out of its band, and always narrow the gap.
            let most = (bd - lo[d]).min(hi[r] - br).min(2.0 * even - 1.0);
            let want = (bd - hi[d]).max(lo[r] - br).max(1.0);
            let ok = |x: &&(u64, u32)| ix.may_take(w, bands, **x, r);
            // The smallest replica that covers what is needed, else the largest that fits,
            // both keeping the two brokers in their bands; where sizes allow neither, the
            // replica nearest the size that evens the two out (each such move lowers the
            // weighted sum of squares, so this ends, within about one replica of the band).
            // Replicas the forced moves put here first: moving them on costs nothing more.
            let pick = if most >= 1.0 {
                let most_u = most.floor() as u64;
                let want_u = (want.ceil() as u64).min(most_u);
                [&ix.free[d], &ix.on[d]].into_iter().find_map(|set| {
                    set.range((want_u, 0)..=(most_u, u32::MAX))
                        .find(ok)
                        .or_else(|| set.range(..(want_u, 0)).rev().find(ok))
                        .copied()
                })
            } else {
                None
            };
            let pick = pick.or_else(|| {
                if even < 1.0 {
                    return None;
                }
                let (half, gap) = (even as u64, (2.0 * even) as u64);
                let below = ix.on[d].range(..=(half, u32::MAX)).rev().find(ok);
                let above = ix.on[d].range((half, 0)..(gap, 0)).find(ok);
                [below, above]
                    .into_iter()
                    .flatten()
                    .min_by_key(|(c, _)| c.abs_diff(half))
                    .copied()
            });
            if let Some((c, p)) = pick {
                order.remove(&(util(w.bytes[d], d), d));
                order.remove(&(util(w.bytes[r], r), r));
                ix.relocate(w, (c, p), d, r);
                order.insert((util(w.bytes[d], d), d));
                order.insert((util(w.bytes[r], r), r));
                // What was stuck may move now that these two changed.
                stuck.clear();
                done = true;
                break;
            }
        }
        if !done {
            stuck.insert(d);
        }
    }
    trim(w, ix, bands, original, members);
}

/// The replicas the forced moves placed in this AZ (off drained brokers, or across AZs for the
/// AZ rule) are paid for wherever they land, so before the byte moves each one, largest first,
/// goes to the broker furthest below the middle of its band (counting every broker's bytes
/// without them) that may take it. The byte moves then start from where they help most instead
/// of moving other replicas to make up for where the forced moves put them.
pub(in crate::assign) fn place_forced(
    w: &mut Work,
    ix: &mut Index,
    bands: &Bands,
    original: &[Vec<u32>],
    members: &[usize],
) {
    let mut forced: Vec<(u64, u32, usize)> = Vec::new();
    let mut virt: Vec<f64> = Vec::with_capacity(members.len());
    for &x in members {
        let mut bytes = w.bytes[x] as f64;
        for &(c, p) in &ix.on[x] {
            if !original[p as usize].contains(&(x as u32)) {
                forced.push((c, p, x));
                bytes -= c as f64;
            }
        }
        virt.push(bytes);
    }
    forced.sort_unstable_by(|a, b| b.cmp(a));
    for (c, p, x) in forced {
        let room = |i: usize| (bands.lo[members[i]] + bands.hi[members[i]]) / 2.0 - virt[i];
        let Some(i) = (0..members.len())
            .filter(|&i| members[i] == x || ix.may_take(w, bands, (c, p), members[i]))
            .max_by(|&i, &j| room(i).total_cmp(&room(j)).then(j.cmp(&i)))
        else {
            continue;
        };
        virt[i] += c as f64;
        if members[i] != x {
            ix.relocate(w, (c, p), x, members[i]);
        }
    }
}

/// How far `bytes` lies outside [lo, hi] (0 inside).
pub(in crate::assign) fn outside(bytes: f64, lo: f64, hi: f64) -> f64 {
    (lo - bytes).max(bytes - hi).max(0.0)
}

/// After the greedy moves of one AZ, take back what it moved needlessly: each replica the plan
/// moved inside the AZ goes home where that keeps both brokers in their bands (no broker ends
/// further outside its band than it was), alone or with a replica from home going the other
/// way that costs less (one already moved, or a smaller one). Every step lowers the bytes moved,
/// so this ends; the greedy's overshoots (a replica moved on from where an earlier step put it,
/// a broker filled and then partly emptied) are what it undoes.
pub(in crate::assign) fn trim(
    w: &mut Work,
    ix: &mut Index,
    b: &Bands,
    original: &[Vec<u32>],
    members: &[usize],
) {
    let a = w.az_of[members[0]];
    let home_of = |w: &Work, p: usize, s: usize| -> Option<(usize, usize)> {
        let (f, o) = (w.reps[p][s] as usize, original[p][s] as usize);
        (f != o
            && w.az_of[f] == a
            && w.az_of[o] == a
            && !w.removed[o]
            && !original[p].contains(&(f as u32))
            && !w.holds(p, o as u32))
        .then_some((f, o))
    };
    // The replicas moved inside this AZ (only those can go home; the list is fixed here, and
    // exchanges only ever send a replica home or onto a broker of the same AZ).
    let moved: Vec<(usize, usize)> = (0..w.reps.len())
        .filter(|&p| w.in_scope[p] && w.cost[p] > 0)
        .flat_map(|p| (0..w.reps[p].len()).map(move |s| (p, s)))
        .filter(|&(p, s)| home_of(w, p, s).is_some())
        .collect();
    // What moving replica q from `from` to `to` adds to the bytes moved.
    let extra = |w: &Work, q: usize, from: usize, to: usize| -> i128 {
        let c = i128::from(w.cost[q]);
        if original[q].contains(&(to as u32)) {
            -c
        } else if original[q].contains(&(from as u32)) {
            c
        } else {
            0
        }
    };
    for _ in 0..4 {
        let mut gained = false;
        for &(p, s) in &moved {
            let Some((f, o)) = home_of(w, p, s) else {
                continue;
            };
            let x = (w.cost[p], p as u32);
            if !net_ok(w, ix, b, &[(x, f, o)]) {
                continue;
            }
            let (bf, bo, xc) = (w.bytes[f] as f64, w.bytes[o] as f64, x.0 as f64);
            let fits = |nf: f64, no: f64| {
                outside(nf, b.lo[f], b.hi[f]) <= outside(bf, b.lo[f], b.hi[f])
                    && outside(no, b.lo[o], b.hi[o]) <= outside(bo, b.lo[o], b.hi[o])
            };
            if fits(bf - xc, bo + xc) {
                ix.relocate(w, x, f, o);
                gained = true;
                continue;
            }
            // A replica y from o to f in exchange, with x + (what y adds) > 0 saved.
            let lo_y = (bo + xc - b.hi[o]).max(b.lo[f] - bf + xc).max(1.0);
            let hi_y = (bo + xc - b.lo[o]).min(b.hi[f] - bf + xc);
            if hi_y < lo_y {
                continue;
            }
            let best = ix.on[o]
                .range((lo_y.ceil() as u64, 0)..=(hi_y.floor() as u64, u32::MAX))
                .take(64)
                .filter(|y| y.1 != x.1 && !w.holds(y.1 as usize, f as u32))
                .map(|&y| (extra(w, y.1 as usize, o, f), y))
                .filter(|&(e, y)| {
                    e < i128::from(x.0)
                        && fits(bf - xc + y.0 as f64, bo + xc - y.0 as f64)
                        && net_ok(w, ix, b, &[(x, f, o), (y, o, f)])
                })
                .min_by_key(|&(e, y)| (e, y));
            if let Some((_, y)) = best {
                ix.relocate(w, x, f, o);
                ix.relocate(w, y, o, f);
                gained = true;
            }
        }
        if !gained {
            break;
        }
    }
}
