//! The lower bound on bytes moved that byte balance reports beside its plan (pure).
//!
//! Given the forced moves already placed (drained brokers, the AZ rule), each AZ is a closed
//! system: every byte a broker sends lands on another broker of the AZ. So the bytes moved are at
//! least the forced moves' bytes plus, per AZ, the larger of what its brokers must send and what
//! they must receive (less the forced replicas, which are paid for once wherever they land).
//!
//! Per broker, "must" counts whole replicas:
//! * A broker `x` bytes above its upper edge sends a set of its own replicas summing to at least
//!   `x`: at least `max(x, m)`, where `m` is its smallest replica such that it and every smaller
//!   one reach `x` (a 27 GB partition on a broker 19 GB over its band sends 27 GB). If that leaves
//!   it below its lower edge, it must also receive the difference.
//! * A broker `y` bytes below its lower edge likewise receives at least that much of the AZ's
//!   replicas it may take; if that overshoots its upper edge, it must also send the difference.
//! * The replica of size `m` lands on another broker, which must send on what no longer fits. The
//!   largest such replicas are placed together (every way, where few enough), so two that only
//!   one broker has room for are not both counted as landing there for free.
//!
//! * Each broker also sends at least its own replicas of a topic beyond the spread rule's limit
//!   (smallest first; the limit is final here, since byte balance moves only within an AZ).
//!
//! In a small AZ the split-replica optimum ([`fractional`]) bounds it too, and on a small
//! cluster [`Bound::searched`] raises an AZ's share to what an exact search proves
//! ([`byte_exact`]).

use super::super::work::{IntMap, Work};
use super::bands::Bands;
use super::exact;
use super::relax::fractional;

/// One broker's replicas that stay where they are unless moved (not forced onto it), smallest
/// first, with running sums: the smallest set of them reaching a size is bounded in O(log n).
pub(in crate::assign) struct Own {
    sizes: Vec<u64>,
    prefix: Vec<f64>,
}

impl Own {
    fn new(mut sizes: Vec<u64>) -> Self {
        sizes.sort_unstable();
        let mut prefix = Vec::with_capacity(sizes.len() + 1);
        prefix.push(0.0);
        for &s in &sizes {
            prefix.push(prefix.last().copied().unwrap_or(0.0) + s as f64);
        }
        Self { sizes, prefix }
    }

    /// A lower bound on the smallest sum of these replicas that reaches `need`, with the
    /// smallest possible largest member `m` of such a set: the replicas up to `m` must reach
    /// `need`, so the sum is at least `max(need, m)`. `None` when all of them fall short.
    fn cover(&self, need: f64) -> Option<(f64, f64)> {
        if need <= 0.0 {
            return Some((0.0, 0.0));
        }
        let i = self.prefix.partition_point(|&s| s < need);
        let m = *self.sizes.get(i.checked_sub(1)?)? as f64;
        Some((need.max(m), m))
    }
}

/// A lower bound on the smallest sum of a subset of `sizes` (ascending) that reaches `need`
/// (see [`Own::cover`]); `need` itself where no subset reaches it (the band cannot be reached;
/// the plain bound stands).
pub(in crate::assign) fn min_cover(sizes: impl Iterator<Item = u64>, need: f64) -> f64 {
    let mut sum = 0.0;
    for s in sizes {
        sum += s as f64;
        if sum >= need {
            return need.max(s as f64);
        }
    }
    need
}

/// Landing combinations tried per AZ for the largest forced sends (all of them where the AZ is
/// small; the few largest on a big one).
pub(in crate::assign) const LANDINGS: usize = 50_000;

/// Forced replicas per AZ considered for landing (the largest; more would never be placed
/// together within [`LANDINGS`]).
pub(in crate::assign) const FORCED_LANDINGS: usize = 16;

/// A lower bound on the bytes any plan moves, given the forced moves already placed in `w` (see
/// the module docs), with each AZ's share of it.
#[derive(Debug, Clone)]
pub(in crate::assign) struct Bound {
    /// The forced moves' bytes.
    pub(in crate::assign) forced: u64,
    /// Per AZ (indexed like [`Bands::azs`]): what any plan moves among its brokers beyond the
    /// forced moves, and the forced replicas' bytes that landed there.
    pub(in crate::assign) azs: Vec<AzBound>,
}

#[derive(Debug, Clone, Copy)]
pub(in crate::assign) struct AzBound {
    pub(in crate::assign) balance: f64,
    pub(in crate::assign) forced_here: f64,
}

impl AzBound {
    /// The least any plan moves onto the AZ's brokers, forced replicas included (what
    /// [`byte_exact`] counts), in whole bytes.
    pub(in crate::assign) fn least(&self) -> u64 {
        (self.balance + self.forced_here).floor().max(0.0) as u64
    }
}

impl Bound {
    pub(in crate::assign) fn total(&self) -> u64 {
        self.forced + self.azs.iter().map(|a| a.balance).sum::<f64>().ceil() as u64
    }

    /// With the plan's layout (`planned`, from the layout this bound was computed on): in each
    /// small AZ where the plan moves more than the bound, search between the two
    /// ([`byte_exact`]); a completed search that finds nothing below a threshold raises the AZ's
    /// share to it.
    pub(in crate::assign) fn searched(
        mut self,
        planned: &Work,
        original: &[Vec<u32>],
        b: &Bands,
    ) -> Self {
        for (az, members) in self.azs.iter_mut().zip(&b.azs) {
            let Some(p) = exact::problem(planned, original, b, members) else {
                continue;
            };
            let (most, _) = p.now();
            let least = az.least();
            if least >= most {
                continue;
            }
            let proven = p.narrow(least, most, exact::NODES).least;
            az.balance = az.balance.max(proven as f64 - az.forced_here);
        }
        self
    }
}

/// The bound of the layout `w` (after the forced moves) with bands `b`.
pub(in crate::assign) fn lower_bound(w: &Work, original: &[Vec<u32>], b: &Bands) -> Bound {
    let mut g = Gathered::new(w, original);
    // Byte balance moves replicas only within their AZ, so each topic's replicas per AZ are
    // what the forced moves left: the rule's limits now are its limits at the end.
    let limits = crate::assign::spread::limits(w);
    g.spread = crate::assign::spread::forced_out(w, original, &w.reps, &limits, &w.tcount).1;
    let azs = b
        .azs
        .iter()
        .enumerate()
        .map(|(a, members)| az_bound(w, original, b, &g, a, members))
        .collect();
    Bound {
        forced: g.forced,
        azs,
    }
}

/// What the bound reads from the layout, in one pass over the partitions.
struct Gathered {
    /// Per broker: its own replicas' sizes (those that may stay at no cost).
    own: Vec<Own>,
    /// Per broker: bytes of replicas forced onto it (or left there by the AZ rule's choice).
    floating: Vec<f64>,
    /// Per AZ: bytes of forced replicas, which may land anywhere at no further cost.
    free_landing: Vec<f64>,
    /// Per broker and per AZ: bytes of replicas the AZ rule left that may go back home free.
    back_home: Vec<f64>,
    back_total: Vec<f64>,
    /// Per broker: the (size, partition) of replicas forced onto it.
    forced_on: Vec<Vec<(u64, u32)>>,
    /// Per broker: the partitions of `forced_on`, sorted.
    free_parts: Vec<Vec<u32>>,
    /// Bytes the forced moves copy.
    forced: u64,
    /// Per broker: the partitions it holds.
    on_parts: Vec<Vec<u32>>,
    /// Per AZ: every replica there, (size, partition), smallest first.
    in_az: Vec<Vec<(u64, u32)>>,
    /// Per broker: the bytes of its own replicas the spread rule makes it send at least.
    spread: Vec<f64>,
}

impl Gathered {
    fn new(w: &Work, original: &[Vec<u32>]) -> Self {
        // Per broker: its own replicas, the bytes forced onto it, the partitions it holds; per AZ,
        // every replica there, smallest first.
        let mut own: Vec<Vec<u64>> = vec![Vec::new(); w.nb];
        let mut floating = vec![0.0f64; w.nb];
        let mut free_landing = vec![0.0f64; w.nz];
        let mut back_home = vec![0.0f64; w.nb];
        let mut back_total = vec![0.0f64; w.nz];
        let mut forced_on: Vec<Vec<(u64, u32)>> = vec![Vec::new(); w.nb];
        let mut forced = 0u64;
        let mut on_parts: Vec<Vec<u32>> = vec![Vec::new(); w.nb];
        let mut in_az: Vec<Vec<(u64, u32)>> = vec![Vec::new(); w.nz];
        for (p, before) in original.iter().enumerate() {
            // Live brokers per AZ that held p before the plan, and hold it now.
            let held_in = |reps: &[u32], a: usize| {
                reps.iter()
                    .filter(|&&r| (r as usize) < w.nb && !w.removed[r as usize])
                    .filter(|&&r| w.az_of[r as usize] == a)
                    .count()
            };
            let mut counted_az: Vec<usize> = Vec::new();
            for &x in &w.reps[p] {
                if !before.contains(&x) {
                    forced += w.cost[p];
                }
                if !w.in_scope[p] || w.cost[p] == 0 {
                    continue;
                }
                let xi = x as usize;
                // Where the AZ rule sent one of an AZ's replicas of p elsewhere, which one went is
                // the plan's choice: each one left there is as free to move as a forced replica.
                let a = w.az_of[xi];
                let chosen = before != &w.reps[p] && held_in(before, a) > held_in(&w.reps[p], a);
                if before.contains(&x) && !chosen {
                    own[xi].push(w.cost[p]);
                } else {
                    floating[xi] += w.cost[p] as f64;
                    forced_on[xi].push((w.cost[p], p as u32));
                }
                // What may land at no further cost: a forced replica anywhere; one of those left
                // by the AZ rule only back on a broker that held p before.
                if a < w.nz && !before.contains(&x) {
                    free_landing[a] += w.cost[p] as f64;
                } else if a < w.nz && chosen {
                    // It may stay, or go back to a broker that held p before.
                    back_home[xi] += w.cost[p] as f64;
                    back_total[a] += w.cost[p] as f64;
                    if !counted_az.contains(&a) {
                        counted_az.push(a);
                        for &h in before {
                            let h = h as usize;
                            if h < w.nb
                                && !w.removed[h]
                                && w.az_of[h] == a
                                && !w.reps[p].contains(&(h as u32))
                            {
                                back_home[h] += w.cost[p] as f64;
                            }
                        }
                    }
                }
                on_parts[xi].push(p as u32);
                if w.az_of[xi] < w.nz {
                    in_az[w.az_of[xi]].push((w.cost[p], p as u32));
                }
            }
        }
        let own: Vec<Own> = own.into_iter().map(Own::new).collect();
        let free_parts: Vec<Vec<u32>> = forced_on
            .iter()
            .map(|v| {
                let mut ps: Vec<u32> = v.iter().map(|&(_, p)| p).collect();
                ps.sort_unstable();
                ps
            })
            .collect();
        for v in &mut in_az {
            v.sort_unstable();
        }
        Self {
            own,
            floating,
            free_landing,
            back_home,
            back_total,
            forced_on,
            free_parts,
            forced,
            on_parts,
            in_az,
            spread: vec![0.0; w.nb],
        }
    }
}

/// One AZ's bound: the most of what its brokers must send and take (and, in a small AZ, the
/// split-replica optimum), less what the forced moves already pay for.
///
/// One piece on purpose: each term (sends, takes, pinned and free landings, the split optimum,
/// the spread rule) reads the same per-AZ sums, and the bound is their maximum.
fn az_bound(
    w: &Work,
    original: &[Vec<u32>],
    b: &Bands,
    g: &Gathered,
    a: usize,
    members: &[usize],
) -> AzBound {
    let mut prefix: Vec<f64> = Vec::with_capacity(g.in_az[a].len() + 1);
    prefix.push(0.0);
    for &(c, _) in &g.in_az[a] {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + c as f64);
    }
    // What broker x must receive to reach `need`: where the AZ's replicas no larger
    // than the need, less those of partitions x holds, already reach it, the need
    // itself (no scan); else the whole-replica cover of what it may take.
    let receive = |x: usize, need: f64| -> f64 {
        let upto = g.in_az[a].partition_point(|&(c, _)| (c as f64) <= need);
        // (A replica that may move at no cost, forced or left by the AZ rule, may also
        // stay: its partition counts as one x may take.)
        let staying = |p: u32| g.free_parts[x].binary_search(&p).is_ok();
        let held: f64 = g.on_parts[x]
            .iter()
            .filter(|&&p| (w.cost[p as usize] as f64) <= need && !staying(p))
            .map(|&p| {
                let p = p as usize;
                w.cost[p] as f64
                    * w.reps[p]
                        .iter()
                        .filter(|&&r| w.az_of[r as usize] == a)
                        .count() as f64
            })
            .sum();
        if prefix[upto] - held >= need {
            return need;
        }
        let can_take = g.in_az[a]
            .iter()
            .filter(|&&(_, p)| !w.holds(p as usize, x as u32) || staying(p))
            .map(|&(c, _)| c);
        min_cover(can_take, need)
    };
    // The replicas the forced moves placed here: each lands on one broker that does not
    // hold its partition already; where only one broker may take it, that broker must.
    let mut pinned: IntMap<usize, f64> = IntMap::default();
    let mut floats: Vec<(u64, Vec<bool>)> = Vec::new();
    for &x in members {
        for &(c, p) in &g.forced_on[x] {
            let may: Vec<bool> = members
                .iter()
                .map(|&r| r == x || !w.holds(p as usize, r as u32))
                .collect();
            match may.iter().filter(|&&m| m).count() {
                1 => {
                    let at = members[may.iter().position(|&m| m).unwrap_or(0)];
                    *pinned.entry(at).or_default() += c as f64;
                }
                _ => floats.push((c, may)),
            }
        }
    }
    floats.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
    let floats: Vec<Landing> = floats
        .into_iter()
        .take(FORCED_LANDINGS)
        .map(|(c, may)| Landing {
            size: c as f64,
            may,
        })
        .collect();
    let az = Az::new(members, |x| {
        let base = w.bytes[x] as f64 - g.floating[x];
        let (lo, hi) = (b.lo[x], b.hi[x]);
        let pin = pinned.get(&x).copied().unwrap_or(0.0);
        // What it must send to fit under its upper edge with what it must take.
        let (mut send, m) = g.own[x]
            .cover(base + pin - hi)
            .unwrap_or((base + pin - hi, 0.0));
        // What it must take: the pinned replicas, and what it needs to reach its lower
        // edge after sending (in whole replicas it may take, where it sends nothing).
        let need = lo - (base - send);
        let take = if need <= pin {
            pin
        } else if send > 0.0 {
            need
        } else {
            receive(x, need)
        };
        // Taking that may push it over its upper edge again.
        if base + take - hi > send {
            send = g.own[x]
                .cover(base + take - hi)
                .map_or(base + take - hi, |c| c.0);
        }
        (base, send, take, m)
    });
    let onward = az.onward(&b.hi, &g.own, floats);
    let forced_here = g.free_landing[a];
    let out: f64 = az.send.iter().sum::<f64>() + onward;
    // Landing free: forced replicas anywhere, and those the AZ rule left where they are
    // or back on a broker that held them (at most what each such broker takes, and
    // their total).
    let back: f64 = members
        .iter()
        .zip(&az.take)
        .map(|(&x, &t)| t.min(g.back_home[x]))
        .sum::<f64>()
        .min(g.back_total[a]);
    let into: f64 = az.take.iter().sum::<f64>() - forced_here - back;
    // In a small AZ, the split-replica optimum bounds it too (less what the forced
    // replicas cost, counted once above).
    let split = fractional(w, original, b, members, a).map_or(0.0, |f| f - forced_here);
    // Each broker sends at least what its band asks and at least its own replicas of a topic
    // above the spread rule's limit (where the rule holds: brokers of equal weight).
    let even = b.even(a);
    let spread: f64 = members
        .iter()
        .zip(&az.send)
        .map(|(&x, &s)| if even { s.max(g.spread[x]) } else { s })
        .sum();
    AzBound {
        balance: out.max(into).max(split).max(spread),
        forced_here,
    }
}

/// One AZ's brokers and what each must at least send and take (indexed like `members`).
pub(in crate::assign) struct Az<'m> {
    members: &'m [usize],
    base: Vec<f64>,
    send: Vec<f64>,
    take: Vec<f64>,
    /// Per broker above its band, the smallest possible largest replica it sends.
    largest: Vec<f64>,
}

impl<'m> Az<'m> {
    /// `each(x)` gives broker x's bytes without forced replicas, what it must send, what it
    /// must take, and the smallest possible largest replica it sends.
    fn new(members: &'m [usize], mut each: impl FnMut(usize) -> (f64, f64, f64, f64)) -> Self {
        let mut az = Self {
            members,
            base: Vec::new(),
            send: Vec::new(),
            take: Vec::new(),
            largest: Vec::new(),
        };
        for &x in members {
            let (base, send, take, m) = each(x);
            az.base.push(base);
            az.send.push(send);
            az.take.push(take);
            az.largest.push(m);
        }
        az
    }

    /// What broker `i` must send beyond `send[i]` when replicas summing to `landed` land on it:
    /// its own replicas must make room for them (`None`: they cannot, so they cannot land here).
    fn landing(&self, i: usize, landed: f64, hi: &[f64], own: &[Own]) -> Option<f64> {
        let x = self.members[i];
        let over = self.base[i] + landed.max(self.take[i]) - hi[x];
        if over <= self.send[i] {
            return Some(0.0);
        }
        own[x].cover(over).map(|(c, _)| (c - self.send[i]).max(0.0))
    }

    /// The least extra sending that landing the largest replicas which must move causes: every
    /// way of placing the few largest together, and each one alone (the dearest of those).
    /// `forced` are the replicas the forced moves placed here, each with the brokers (indexes
    /// into `members`) that may hold it.
    fn onward(&self, hi: &[f64], own: &[Own], forced: Vec<Landing>) -> f64 {
        let n = self.members.len();
        let mut items: Vec<Landing> = (0..n)
            .filter(|&i| self.largest[i] > 0.0)
            .map(|i| Landing {
                size: self.largest[i],
                may: (0..n).map(|r| r != i).collect(),
            })
            .chain(forced)
            .collect();
        if items.is_empty() || n < 2 {
            return 0.0;
        }
        items.sort_by(|a, b| b.size.total_cmp(&a.size));
        // Alone: the cheapest landing of each, the dearest of those.
        let alone = items
            .iter()
            .map(|it| {
                (0..n)
                    .filter(|&r| it.may[r])
                    .filter_map(|r| self.landing(r, it.size, hi, own))
                    .fold(f64::INFINITY, f64::min)
            })
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max);
        // Together: the k largest, every combination of landing places (depth-first, pruned).
        let choices = n as f64;
        let mut k = 1;
        while k < items.len() && choices.powi(k as i32 + 1) <= LANDINGS as f64 {
            k += 1;
        }
        let mut landed = vec![0.0; n];
        let mut best = f64::INFINITY;
        self.place(&items[..k], &mut landed, hi, own, &mut best);
        if best.is_finite() {
            alone.max(best)
        } else {
            alone
        }
    }

    fn place(
        &self,
        items: &[Landing],
        landed: &mut [f64],
        hi: &[f64],
        own: &[Own],
        best: &mut f64,
    ) {
        let cost: Option<f64> = (0..landed.len())
            .filter(|&r| landed[r] > 0.0)
            .map(|r| self.landing(r, landed[r], hi, own))
            .sum();
        let Some(so_far) = cost else { return };
        if so_far >= *best {
            return;
        }
        let Some((it, rest)) = items.split_first() else {
            *best = so_far;
            return;
        };
        for r in (0..landed.len()).filter(|&r| it.may[r]) {
            landed[r] += it.size;
            self.place(rest, landed, hi, own, best);
            landed[r] -= it.size;
        }
    }
}

/// A replica that must land on one broker of an AZ: its (least possible) size and which
/// brokers may take it.
pub(in crate::assign) struct Landing {
    size: f64,
    may: Vec<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cover_is_at_least_the_need_and_the_smallest_replica_that_reaches_it() {
        let own = Own::new(vec![5, 1, 2, 30]);
        assert_eq!(own.cover(0.0), Some((0.0, 0.0)));
        assert_eq!(own.cover(3.0), Some((3.0, 2.0)));
        // 1 + 2 + 5 = 8 < 10: the 30 must go.
        assert_eq!(own.cover(10.0), Some((30.0, 30.0)));
        assert_eq!(own.cover(39.0), None);
        assert_eq!(min_cover([1, 2, 5, 30].into_iter(), 10.0), 30.0);
        assert_eq!(min_cover([1, 2].into_iter(), 10.0), 10.0);
    }
}
