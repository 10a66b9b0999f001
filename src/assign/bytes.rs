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

use std::collections::{BTreeSet, HashMap};

use super::planner::{relocate, Work};
use super::Cluster;

/// Per AZ, its live brokers; per broker, its weight and its band [lo, hi] in bytes.
///
/// The weight is the broker's capacity when every broker of its AZ has one (the band is then
/// around the AZ's mean utilisation), else 1 (the band is around the mean bytes). The upper edge
/// never exceeds `max_util` of a known capacity.
pub(super) struct Bands {
    pub(super) azs: Vec<Vec<usize>>,
    pub(super) weight: Vec<u64>,
    pub(super) lo: Vec<f64>,
    pub(super) hi: Vec<f64>,
    /// Per AZ, the sum of its brokers' weights.
    pub(super) az_weight: Vec<f64>,
}

pub(super) fn bands(w: &Work, tol: f64, max_util: Option<f64>) -> Bands {
    let mut b = Bands {
        azs: Vec::new(),
        weight: vec![1; w.nb],
        lo: vec![0.0; w.nb],
        hi: vec![f64::MAX; w.nb],
        az_weight: Vec::new(),
    };
    for a in 0..w.nz {
        let members: Vec<usize> = (0..w.nb)
            .filter(|&x| !w.removed[x] && w.az_of[x] == a)
            .collect();
        let by_capacity = members
            .iter()
            .all(|&x| w.capacity[x].is_some_and(|c| c > 0));
        for &x in &members {
            b.weight[x] = if by_capacity {
                w.capacity[x].unwrap_or(1)
            } else {
                1
            };
        }
        let total: f64 = members.iter().map(|&x| w.bytes[x] as f64).sum();
        // A broker holds at most one replica of each partition: no target above the bytes of
        // the partitions with a replica in this AZ (water-filling the rest over the others).
        let most: f64 = (0..w.reps.len())
            .filter(|&p| w.in_scope[p] && w.reps[p].iter().any(|&r| w.az_of[r as usize] == a))
            .map(|p| w.cost[p] as f64)
            .sum();
        let mut capped: Vec<usize> = Vec::new();
        let mut level = 0.0;
        for _ in 0..members.len() {
            let free: Vec<usize> = members
                .iter()
                .copied()
                .filter(|x| !capped.contains(x))
                .collect();
            let rest = total - most * capped.len() as f64;
            let weights: f64 = free.iter().map(|&x| b.weight[x] as f64).sum();
            level = rest / weights.max(1.0);
            let over: Vec<usize> = free
                .into_iter()
                .filter(|&x| level * b.weight[x] as f64 > most)
                .collect();
            if over.is_empty() {
                break;
            }
            capped.extend(over);
        }
        for &x in &members {
            let target = if capped.contains(&x) {
                most
            } else {
                level * b.weight[x] as f64
            };
            b.lo[x] = target * (1.0 - tol);
            b.hi[x] = target * (1.0 + tol);
            if let (Some(c), Some(m)) = (w.capacity[x], max_util) {
                b.hi[x] = b.hi[x].min(c as f64 * m);
            }
        }
        b.azs.push(members);
    }
    b.az_weight = b
        .azs
        .iter()
        .map(|m| m.iter().map(|&x| b.weight[x] as f64).sum::<f64>().max(1.0))
        .collect();
    b
}

/// A lower bound on the bytes any plan moves, given the forced moves already placed in `w`:
/// their bytes, plus per AZ the larger of the bytes above the band's upper edges and the bytes
/// missing below its lower edges (a byte moved lowers one and raises the other by at most itself).
pub(super) fn lower_bound(w: &Work, original: &[Vec<u32>], tol: f64, max_util: Option<f64>) -> u64 {
    let forced: u64 = (0..w.reps.len())
        .map(|p| {
            let new = w.reps[p]
                .iter()
                .filter(|b| !original[p].contains(b))
                .count() as u64;
            new * w.cost[p]
        })
        .sum();
    let b = bands(w, tol, max_util);
    let balance: f64 = b
        .azs
        .iter()
        .map(|members| {
            let over: f64 = members
                .iter()
                .map(|&x| (w.bytes[x] as f64 - b.hi[x]).max(0.0))
                .sum();
            let under: f64 = members
                .iter()
                .map(|&x| (b.lo[x] - w.bytes[x] as f64).max(0.0))
                .sum();
            over.max(under)
        })
        .sum();
    forced + balance.ceil() as u64
}

/// Which topic each partition belongs to, how many replicas of a topic an AZ and a broker hold,
/// and each broker's replicas by size: what both balancing passes consult and keep up to date.
struct Index {
    topic: Vec<u32>,
    in_az: HashMap<(u32, usize), usize>,
    count: HashMap<(u32, u32), usize>,
    on: Vec<BTreeSet<(u64, u32)>>,
}

impl Index {
    fn new(w: &Work, cluster: &Cluster) -> Self {
        let mut topic_ix: HashMap<&str, u32> = HashMap::new();
        let topic: Vec<u32> = cluster
            .partitions
            .iter()
            .map(|p| {
                let n = topic_ix.len() as u32;
                *topic_ix.entry(p.topic.as_str()).or_insert(n)
            })
            .collect();
        let mut ix = Self {
            topic,
            in_az: HashMap::new(),
            count: HashMap::new(),
            on: vec![BTreeSet::new(); w.nb],
        };
        for p in (0..w.reps.len()).filter(|&p| w.in_scope[p]) {
            for &b in &w.reps[p] {
                *ix.count.entry((ix.topic[p], b)).or_default() += 1;
                ix.on[b as usize].insert((w.cost[p], p as u32));
                if w.az_of[b as usize] < w.nz {
                    *ix.in_az
                        .entry((ix.topic[p], w.az_of[b as usize]))
                        .or_default() += 1;
                }
            }
        }
        ix
    }

    /// At most ceil(the topic's share of this AZ's replicas, by the broker's weight) + 1 replicas
    /// of one topic on broker `r`.
    fn limit(&self, w: &Work, b: &Bands, t: u32, r: usize) -> usize {
        let a = w.az_of[r];
        let n = self.in_az.get(&(t, a)).copied().unwrap_or(0) as f64;
        (n * b.weight[r] as f64 / b.az_weight[a]).ceil() as usize + 1
    }

    /// Whether broker `r` may take replica (cost, p).
    fn may_take(&self, w: &Work, b: &Bands, (c, p): (u64, u32), r: usize) -> bool {
        let t = self.topic[p as usize];
        c > 0
            && !w.holds(p as usize, r as u32)
            && self.count.get(&(t, r as u32)).copied().unwrap_or(0) < self.limit(w, b, t, r)
    }

    fn relocate(&mut self, w: &mut Work, (c, p): (u64, u32), d: usize, r: usize) {
        relocate(w, p as usize, d, r);
        self.on[d].remove(&(c, p));
        self.on[r].insert((c, p));
        let t = self.topic[p as usize];
        *self.count.entry((t, d as u32)).or_default() -= 1;
        *self.count.entry((t, r as u32)).or_default() += 1;
    }
}

/// With `--balance both`, after [`balance`]: even out replica counts inside each AZ (within one
/// of each other) without leaving the byte bands: the smallest replica that fits both bands moves
/// from the broker with the most replicas to the one with the fewest; where none fits, two small
/// replicas go one way and one replica of about their size comes back (counts change by one each,
/// bytes hardly at all).
pub(super) fn even_counts(w: &mut Work, cluster: &Cluster, tol: f64, max_util: Option<f64>) {
    let mut ix = Index::new(w, cluster);
    let bands = bands(w, tol, max_util);
    for members in &bands.azs {
        if members.len() < 2 {
            continue;
        }
        let steps = 2 * members.iter().map(|&x| ix.on[x].len()).sum::<usize>() + 16;
        let mut stuck: BTreeSet<usize> = BTreeSet::new();
        for _ in 0..steps {
            let mut by_load: Vec<usize> = members.clone();
            by_load.sort_by_key(|&x| (w.load[x], x));
            let Some(&d) = by_load.iter().rev().find(|x| !stuck.contains(x)) else {
                break;
            };
            let mut moved = false;
            for &r in &by_load {
                if w.load[d] - w.load[r] <= 1 {
                    break;
                }
                if let Some(x) = single_move(w, &ix, &bands, d, r) {
                    ix.relocate(w, x, d, r);
                } else if let Some((x1, x2, y)) = two_for_one(w, &ix, &bands, d, r) {
                    ix.relocate(w, x1, d, r);
                    ix.relocate(w, x2, d, r);
                    ix.relocate(w, y, r, d);
                } else {
                    continue;
                }
                stuck.clear();
                moved = true;
                break;
            }
            if !moved {
                stuck.insert(d);
            }
        }
    }
}

/// The smallest replica on `d` that `r` may take with both brokers staying in their bands.
fn single_move(w: &Work, ix: &Index, b: &Bands, d: usize, r: usize) -> Option<(u64, u32)> {
    let slack = (w.bytes[d] as f64 - b.lo[d]).min(b.hi[r] - w.bytes[r] as f64);
    if slack < 1.0 {
        return None;
    }
    ix.on[d]
        .range(..=(slack.floor() as u64, u32::MAX))
        .find(|&&x| ix.may_take(w, b, x, r))
        .copied()
}

/// A replica as the balancing passes index it: (bytes, partition).
type Replica = (u64, u32);

/// Whether these moves ((cost, partition), from, to) keep every receiving broker within the
/// per-topic limit, counting what leaves it in the same step.
fn net_ok(w: &Work, ix: &Index, b: &Bands, moves: &[((u64, u32), usize, usize)]) -> bool {
    let mut delta: HashMap<(u32, usize), i64> = HashMap::new();
    for &((_, p), from, to) in moves {
        let t = ix.topic[p as usize];
        *delta.entry((t, from)).or_default() -= 1;
        *delta.entry((t, to)).or_default() += 1;
    }
    delta.into_iter().all(|((t, x), dlt)| {
        dlt <= 0
            || ix.count.get(&(t, x as u32)).copied().unwrap_or(0) as i64 + dlt
                <= ix.limit(w, b, t, x) as i64
    })
}

/// Two replicas from `d` to `r` and one from `r` back, all bands and per-topic limits kept; a
/// small one back first. One of the two going out is of the returning replica's topic where
/// possible (a broker at its topic limit can still swap within the topic).
fn two_for_one(
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
fn shed_piled(w: &mut Work, ix: &mut Index, bands: &Bands, members: &[usize]) {
    let util = |bytes: u64, x: usize| bytes as f64 / bands.weight[x] as f64;
    for &d in members {
        let list: Vec<Replica> = ix.on[d].iter().copied().collect();
        for x in list {
            let t = ix.topic[x.1 as usize];
            if ix.count.get(&(t, d as u32)).copied().unwrap_or(0) <= ix.limit(w, bands, t, d)
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

/// Move replicas inside each AZ until every broker is within its band (or nothing more helps).
pub(super) fn balance(w: &mut Work, cluster: &Cluster, tol: f64, max_util: Option<f64>) {
    let mut ix = Index::new(w, cluster);
    let bands = bands(w, tol, max_util);
    // A topic's replicas per AZ (the AZ rule decides those), spread over the AZ's brokers in
    // proportion to their weight: at most ceil(its share) + 1 of one topic on a broker.
    let (weight, lo, hi) = (&bands.weight, &bands.lo, &bands.hi);
    // Brokers ordered by utilisation (bytes per unit of weight), scaled to integers.
    let util = |bytes: u64, x: usize| (u128::from(bytes) << 20) / u128::from(weight[x]);
    for members in &bands.azs {
        if members.len() < 2 {
            continue;
        }
        shed_piled(w, &mut ix, &bands, members);
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
                let ok = |x: &&(u64, u32)| ix.may_take(w, &bands, **x, r);
                // The smallest replica that covers what is needed, else the largest that fits,
                // both keeping the two brokers in their bands; where sizes allow neither, the
                // replica nearest the size that evens the two out (each such move lowers the
                // weighted sum of squares, so this ends, within about one replica of the band).
                let pick = if most >= 1.0 {
                    let most_u = most.floor() as u64;
                    let want_u = (want.ceil() as u64).min(most_u);
                    ix.on[d]
                        .range((want_u, 0)..=(most_u, u32::MAX))
                        .find(ok)
                        .or_else(|| ix.on[d].range(..(want_u, 0)).rev().find(ok))
                        .copied()
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
    }
}
