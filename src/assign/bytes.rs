//! Byte balance (pure): after the forced moves, each AZ's brokers exchange replicas until every
//! broker's bytes lie within a band around the AZ's mean, moving as few bytes as it can and
//! never piling one topic onto a broker.
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

/// Each AZ's live brokers and the band [lo, hi] around their mean bytes.
fn bands(w: &Work, tol: f64) -> Vec<(Vec<usize>, f64, f64)> {
    (0..w.nz)
        .map(|a| {
            let members: Vec<usize> = (0..w.nb)
                .filter(|&b| !w.removed[b] && w.az_of[b] == a)
                .collect();
            let mean = members.iter().map(|&b| w.bytes[b] as f64).sum::<f64>()
                / members.len().max(1) as f64;
            (members, mean * (1.0 - tol), mean * (1.0 + tol))
        })
        .collect()
}

/// A lower bound on the bytes any plan moves, given the forced moves already placed in `w`:
/// their bytes, plus per AZ the larger of the bytes above the band's upper edge and the bytes
/// missing below its lower edge (a byte moved lowers one and raises the other by at most itself).
pub(super) fn lower_bound(w: &Work, original: &[Vec<u32>], tol: f64) -> u64 {
    let forced: u64 = (0..w.reps.len())
        .map(|p| {
            let new = w.reps[p]
                .iter()
                .filter(|b| !original[p].contains(b))
                .count() as u64;
            new * w.cost[p]
        })
        .sum();
    let balance: f64 = bands(w, tol)
        .iter()
        .map(|(members, lo, hi)| {
            let over: f64 = members
                .iter()
                .map(|&b| (w.bytes[b] as f64 - hi).max(0.0))
                .sum();
            let under: f64 = members
                .iter()
                .map(|&b| (lo - w.bytes[b] as f64).max(0.0))
                .sum();
            over.max(under)
        })
        .sum();
    forced + balance.ceil() as u64
}

/// Move replicas inside each AZ until every broker is within the band (or nothing more helps).
pub(super) fn balance(w: &mut Work, cluster: &Cluster, tol: f64) {
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
    // A topic's replicas per AZ (the AZ rule decides those), spread over the AZ's brokers.
    let members_of: Vec<usize> = (0..w.nz)
        .map(|a| {
            (0..w.nb)
                .filter(|&b| !w.removed[b] && w.az_of[b] == a)
                .count()
                .max(1)
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
    // At most ceil(its replicas in the AZ / the AZ's brokers) + 1 of one topic on a broker.
    let limit = |t: u32, a: usize| {
        in_az
            .get(&(t, a))
            .copied()
            .unwrap_or(0)
            .div_ceil(members_of[a])
            + 1
    };
    for (members, lo, hi) in bands(w, tol) {
        if members.len() < 2 {
            continue;
        }
        let mut order: BTreeSet<(u64, usize)> = members.iter().map(|&b| (w.bytes[b], b)).collect();
        // Donors with nothing left to give (every replica pinned) step aside.
        let mut stuck: BTreeSet<usize> = BTreeSet::new();
        let steps = 4 * members.iter().map(|&b| on[b].len()).sum::<usize>() + 16;
        for _ in 0..steps {
            let Some(&(bd, d)) = order.iter().rev().find(|(_, b)| !stuck.contains(b)) else {
                break;
            };
            let &(br, _) = order.iter().next().expect("members");
            if bd as f64 <= hi && br as f64 >= lo {
                break;
            }
            // Receivers from the emptiest up; the first that can take a fitting replica.
            let mut done = false;
            for &(br, r) in order.iter().take(8) {
                if r == d || br >= bd {
                    break;
                }
                let (bd, br) = (bd as f64, br as f64);
                // Never push either broker out of the band, and always narrow the gap.
                let most = (bd - lo).min(hi - br).min(bd - br - 1.0);
                let want = (bd - hi).max(lo - br).max(1.0);
                let gap = (bd - br) as u64;
                let ok = |&(c, p): &(u64, u32)| {
                    c > 0
                        && !w.holds(p as usize, r as u32)
                        && count
                            .get(&(topic[p as usize], r as u32))
                            .copied()
                            .unwrap_or(0)
                            < limit(topic[p as usize], w.az_of[r])
                };
                // The smallest replica that covers what is needed, else the largest that fits,
                // both keeping the two brokers in the band; where sizes allow neither, the
                // replica that best halves the gap (each such move lowers the sum of squares, so
                // this ends, with every broker within about one replica of the band).
                let pick = if most >= 1.0 {
                    let most_u = most.floor() as u64;
                    let want_u = (want.ceil() as u64).min(most_u);
                    on[d]
                        .range((want_u, 0)..=(most_u, u32::MAX))
                        .take(64)
                        .find(|x| ok(x))
                        .or_else(|| on[d].range(..(want_u, 0)).rev().take(64).find(|x| ok(x)))
                        .copied()
                } else {
                    None
                };
                let pick = pick.or_else(|| {
                    let half = gap / 2;
                    let below = on[d]
                        .range(..=(half, u32::MAX))
                        .rev()
                        .take(64)
                        .find(|x| ok(x));
                    let above = on[d].range((half, 0)..(gap, 0)).take(64).find(|x| ok(x));
                    [below, above]
                        .into_iter()
                        .flatten()
                        .min_by_key(|(c, _)| c.abs_diff(half))
                        .copied()
                });
                if let Some((c, p)) = pick {
                    order.remove(&(w.bytes[d], d));
                    order.remove(&(w.bytes[r], r));
                    relocate(w, p as usize, d, r);
                    on[d].remove(&(c, p));
                    on[r].insert((c, p));
                    *count.entry((topic[p as usize], d as u32)).or_default() -= 1;
                    *count.entry((topic[p as usize], r as u32)).or_default() += 1;
                    order.insert((w.bytes[d], d));
                    order.insert((w.bytes[r], r));
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
