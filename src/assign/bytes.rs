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
}

pub(super) fn bands(w: &Work, tol: f64, max_util: Option<f64>) -> Bands {
    let mut b = Bands {
        azs: Vec::new(),
        weight: vec![1; w.nb],
        lo: vec![0.0; w.nb],
        hi: vec![f64::MAX; w.nb],
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

/// Move replicas inside each AZ until every broker is within its band (or nothing more helps).
pub(super) fn balance(w: &mut Work, cluster: &Cluster, tol: f64, max_util: Option<f64>) {
    let np = w.reps.len();
    // Topics by index, their replica counts (in scope) and the per-broker limit.
    let mut topic_ix: HashMap<&str, u32> = HashMap::new();
    let topic: Vec<u32> = cluster
        .partitions
        .iter()
        .map(|p| {
            let n = topic_ix.len() as u32;
            *topic_ix.entry(p.topic.as_str()).or_insert(n)
        })
        .collect();
    let mut in_az: HashMap<(u32, usize), usize> = HashMap::new();
    let mut count: HashMap<(u32, u32), usize> = HashMap::new();
    let mut on: Vec<BTreeSet<(u64, u32)>> = vec![BTreeSet::new(); w.nb];
    for p in (0..np).filter(|&p| w.in_scope[p]) {
        for &b in &w.reps[p] {
            *count.entry((topic[p], b)).or_default() += 1;
            on[b as usize].insert((w.cost[p], p as u32));
            if w.az_of[b as usize] < w.nz {
                *in_az.entry((topic[p], w.az_of[b as usize])).or_default() += 1;
            }
        }
    }
    let bands = bands(w, tol, max_util);
    // A topic's replicas per AZ (the AZ rule decides those), spread over the AZ's brokers in
    // proportion to their weight: at most ceil(its share) + 1 of one topic on a broker.
    let az_weight: Vec<f64> = bands
        .azs
        .iter()
        .map(|m| {
            m.iter()
                .map(|&x| bands.weight[x] as f64)
                .sum::<f64>()
                .max(1.0)
        })
        .collect();
    let az_of = w.az_of.clone();
    let limit = |t: u32, r: usize| {
        let a = az_of[r];
        let n = in_az.get(&(t, a)).copied().unwrap_or(0) as f64;
        (n * bands.weight[r] as f64 / az_weight[a]).ceil() as usize + 1
    };
    let (weight, lo, hi) = (&bands.weight, &bands.lo, &bands.hi);
    // Brokers ordered by utilisation (bytes per unit of weight), scaled to integers.
    let util = |bytes: u64, x: usize| (u128::from(bytes) << 20) / u128::from(weight[x]);
    for members in &bands.azs {
        if members.len() < 2 {
            continue;
        }
        let mut order: BTreeSet<(u128, usize)> =
            members.iter().map(|&x| (util(w.bytes[x], x), x)).collect();
        // Donors with nothing left to give (every replica pinned) step aside.
        let mut stuck: BTreeSet<usize> = BTreeSet::new();
        let steps = 4 * members.iter().map(|&x| on[x].len()).sum::<usize>() + 16;
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
                let ok = |&(c, p): &(u64, u32)| {
                    c > 0
                        && !w.holds(p as usize, r as u32)
                        && count
                            .get(&(topic[p as usize], r as u32))
                            .copied()
                            .unwrap_or(0)
                            < limit(topic[p as usize], r)
                };
                // The smallest replica that covers what is needed, else the largest that fits,
                // both keeping the two brokers in their bands; where sizes allow neither, the
                // replica nearest the size that evens the two out (each such move lowers the
                // weighted sum of squares, so this ends, within about one replica of the band).
                let pick = if most >= 1.0 {
                    let most_u = most.floor() as u64;
                    let want_u = (want.ceil() as u64).min(most_u);
                    on[d]
                        .range((want_u, 0)..=(most_u, u32::MAX))
                        .find(|x| ok(x))
                        .or_else(|| on[d].range(..(want_u, 0)).rev().find(|x| ok(x)))
                        .copied()
                } else {
                    None
                };
                let pick = pick.or_else(|| {
                    if even < 1.0 {
                        return None;
                    }
                    let (half, gap) = (even as u64, (2.0 * even) as u64);
                    let below = on[d].range(..=(half, u32::MAX)).rev().find(|x| ok(x));
                    let above = on[d].range((half, 0)..(gap, 0)).find(|x| ok(x));
                    [below, above]
                        .into_iter()
                        .flatten()
                        .min_by_key(|(c, _)| c.abs_diff(half))
                        .copied()
                });
                if let Some((c, p)) = pick {
                    order.remove(&(util(w.bytes[d], d), d));
                    order.remove(&(util(w.bytes[r], r), r));
                    relocate(w, p as usize, d, r);
                    on[d].remove(&(c, p));
                    on[r].insert((c, p));
                    *count.entry((topic[p as usize], d as u32)).or_default() -= 1;
                    *count.entry((topic[p as usize], r as u32)).or_default() += 1;
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
