//! Count balance (pure): the per-AZ and per-broker replica targets, the forced moves (removed
//! brokers, the AZ rule), the balance moves toward the targets, and the move budget.

// Broker, partition and AZ indices address several parallel arrays at once; index loops read best.
#![allow(clippy::needless_range_loop)]

use super::cluster::Cluster;
use super::options::{Balance, PlanOptions};
use super::work::{movable, relocate, IntMap, Work, HOLE};
use std::cmp::Reverse;
use std::collections::BTreeMap;

/// Per partition its topic index, per (topic, broker) the in-scope replicas there, and per topic
/// `ceil(its replicas / live brokers) + 1` (the summary's spread limit).
pub(in crate::assign) type TopicCounts = (Vec<u32>, IntMap<(u32, u32), u32>, Vec<u32>);

/// See [`TopicCounts`].
pub(in crate::assign) fn topic_counts(
    cluster: &Cluster,
    reps: &[Vec<u32>],
    in_scope: &[bool],
    removed: &[bool],
) -> TopicCounts {
    let mut ids: IntMap<&str, u32> = IntMap::default();
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
pub(in crate::assign) fn balance_counts(w: &mut Work, original: &[Vec<u32>]) {
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
pub(in crate::assign) fn place_forced(w: &mut Work, orphans: Vec<(usize, usize, Option<usize>)>) {
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
pub(in crate::assign) fn repair(w: &mut Work) {
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

/// Shortest chain of single-replica moves from `o` to any broker in `targets`.
pub(in crate::assign) fn chain(
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

/// With byte balance, order the balance moves (class 2) so the worst imbalance narrows first:
/// repeatedly the most utilised broker (as the moves taken so far leave it) gives up its largest
/// planned move. Forced moves (classes 0 and 1) keep their place ahead.
pub(in crate::assign) fn worst_first(
    w: &Work,
    original: &[Vec<u32>],
    moved: &mut Vec<(u8, u64, usize, u64)>,
) {
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
pub(in crate::assign) fn apply_budget(
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
pub(in crate::assign) struct Targets {
    pub(in crate::assign) per_broker: Vec<i64>,
    pub(in crate::assign) per_az: Vec<i64>,
    /// For each AZ: partitions that must gain a replica there (the AZ rule's minimum).
    pub(in crate::assign) forced_into: Vec<u64>,
}

impl Targets {
    /// One piece on purpose: the water-filling over AZs and the floor/ceil within each AZ share
    /// the clamps the AZ rule sets per partition; split, they would pass them back and forth.
    pub(in crate::assign) fn compute(
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
    pub(in crate::assign) fn lower_bound(
        &self,
        original: &[Vec<u32>],
        w: &Work,
        current: &[i64],
        spread: &[u64],
    ) -> u64 {
        let nb = w.nb;
        // Each move has one source: a broker sends at least its replicas above its target, and
        // at least its replicas of a topic above the spread rule's limit (`spread`, per broker,
        // of the layout before the plan).
        let excess: u64 = (0..nb)
            .map(|b| {
                let over =
                    (current[b] - if w.removed[b] { 0 } else { self.per_broker[b] }).max(0) as u64;
                over.max(spread[b])
            })
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
