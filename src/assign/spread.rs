//! Per-topic spread for replica balance (pure): no broker keeps more than
//! `ceil(topic replicas / live brokers) + 1` replicas of one topic where a one-for-one swap
//! inside its AZ can fix it, so one hot topic cannot pile onto a few brokers. Swaps keep every
//! broker's replica count, so the count balance the planner reached stays. (Byte balance spreads
//! topics its own way, by weight within each AZ: `bytes.rs`.)

use std::collections::{BTreeSet, HashMap};

use super::planner::{relocate, Work};
use super::Cluster;

/// Swap replicas of piled topics away, one for one within each AZ: a replica of the topic over
/// its limit goes to the AZ's broker holding the fewest of that topic (below the limit), and the
/// smallest replica of another topic that both topics' limits allow comes back. Returns the
/// swaps made.
pub(super) fn spread_topics(w: &mut Work, cluster: &Cluster) -> usize {
    let live = (0..w.nb).filter(|&b| !w.removed[b]).count().max(1);
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let topic: Vec<u32> = cluster
        .partitions
        .iter()
        .map(|p| {
            let n = ids.len() as u32;
            *ids.entry(p.topic.as_str()).or_insert(n)
        })
        .collect();
    let mut replicas = vec![0usize; ids.len()];
    let mut count: HashMap<(u32, u32), usize> = HashMap::new();
    let mut on: Vec<BTreeSet<(u64, u32)>> = vec![BTreeSet::new(); w.nb];
    for p in (0..w.reps.len()).filter(|&p| w.in_scope[p]) {
        replicas[topic[p] as usize] += w.reps[p].len();
        for &b in &w.reps[p] {
            *count.entry((topic[p], b)).or_default() += 1;
            on[b as usize].insert((w.cost[p], p as u32));
        }
    }
    let limit: Vec<usize> = replicas.iter().map(|n| n.div_ceil(live) + 1).collect();
    let n = |count: &HashMap<(u32, u32), usize>, t: u32, b: usize| {
        count.get(&(t, b as u32)).copied().unwrap_or(0)
    };
    let mut swaps = 0;
    let brokers: Vec<usize> = (0..w.nb).filter(|&b| !w.removed[b]).collect();
    for b in brokers {
        let piled: Vec<(u64, u32)> = on[b]
            .iter()
            .filter(|x| n(&count, topic[x.1 as usize], b) > limit[topic[x.1 as usize] as usize])
            .copied()
            .collect();
        for x in piled {
            let (p, t) = (x.1 as usize, topic[x.1 as usize]);
            if n(&count, t, b) <= limit[t as usize] || !w.holds(p, b as u32) {
                continue;
            }
            // Receivers in b's AZ, fewest of t first.
            let mut peers: Vec<usize> = (0..w.nb)
                .filter(|&r| {
                    r != b
                        && !w.removed[r]
                        && w.az_of[r] == w.az_of[b]
                        && n(&count, t, r) < limit[t as usize]
                        && !w.holds(p, r as u32)
                })
                .collect();
            peers.sort_by_key(|&r| (n(&count, t, r), r));
            let swap = peers.into_iter().find_map(|r| {
                on[r]
                    .iter()
                    .find(|y| {
                        let (q, u) = (y.1 as usize, topic[y.1 as usize]);
                        u != t
                            && !w.holds(q, b as u32)
                            && n(&count, u, b) < limit[u as usize]
                            && y.0 > 0
                    })
                    .map(|&y| (r, y))
            });
            let Some((r, y)) = swap else {
                continue;
            };
            let u = topic[y.1 as usize];
            relocate(w, p, b, r);
            relocate(w, y.1 as usize, r, b);
            on[b].remove(&x);
            on[r].insert(x);
            on[r].remove(&y);
            on[b].insert(y);
            for (k, d) in [((t, b), -1i64), ((t, r), 1), ((u, r), -1), ((u, b), 1)] {
                let e = count.entry((k.0, k.1 as u32)).or_default();
                *e = (*e as i64 + d) as usize;
            }
            swaps += 1;
        }
    }
    swaps
}
