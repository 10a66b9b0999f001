//! The split-replica relaxation of one AZ's byte balance (pure): a min-cost flow of each
//! partition's bytes to the AZ's brokers, at most one replica's worth per broker, every broker
//! filled to within its band. No plan of whole replicas moves less, so it bounds the search
//! ([`super::exact`]) and the reported bound ([`super::bound`]).

use super::super::flow::Flow;
use super::super::work::Work;
use super::bands::Bands;

/// Replicas × brokers up to which an AZ also gets the split-replica bound ([`fractional`]).
pub(in crate::assign) const SPLIT_EDGES: usize = 1_500;

/// The least bytes any plan moves onto this AZ's brokers if replicas could be split ([`split`]).
/// `None` for a large AZ, or where even split replicas cannot reach the band.
pub(in crate::assign) fn fractional(
    w: &Work,
    original: &[Vec<u32>],
    b: &Bands,
    members: &[usize],
    a: usize,
) -> Option<f64> {
    let live_here =
        |r: u32| (r as usize) < w.nb && !w.removed[r as usize] && w.az_of[r as usize] == a;
    let parts: Vec<(usize, u64)> = (0..w.reps.len())
        .filter(|&p| w.in_scope[p] && w.cost[p] > 0)
        .map(|p| {
            (
                p,
                w.reps[p].iter().filter(|&&r| live_here(r)).count() as u64,
            )
        })
        .filter(|&(_, k)| k > 0)
        .collect();
    if members.len() < 2 || parts.len() * members.len() > SPLIT_EDGES {
        return None;
    }
    let sizes: Vec<(u64, u32)> = parts.iter().map(|&(p, k)| (w.cost[p], k as u32)).collect();
    let home = |i: usize, j: usize| original[parts[i].0].contains(&(members[j] as u32));
    let lo: Vec<f64> = members.iter().map(|&x| b.lo[x]).collect();
    let hi: Vec<f64> = members.iter().map(|&x| b.hi[x]).collect();
    split(&sizes, home, &lo, &hi).map(|s| s.moved)
}

/// The linear relaxation of one AZ's problem (replicas split).
pub(in crate::assign) struct Split {
    /// The bytes it moves: no plan of whole replicas moves less.
    pub(in crate::assign) moved: f64,
    /// Per partition and member, the share of one replica's bytes there (0 to 1).
    pub(in crate::assign) share: Vec<Vec<f64>>,
}

/// The linear relaxation of one AZ's problem: a min-cost flow of each partition's bytes to the
/// AZ's brokers, at most one replica's worth per broker, every broker filled to within its band;
/// bytes landing on a broker that did not hold the partition before cost their size. `parts`:
/// each partition's bytes and replicas in the AZ; `home(i, j)`: whether member `j` held
/// partition `i` before; `lo` and `hi`: each member's band, less the bytes that stay put. In
/// units of the AZ's bytes / 2^30, rounded down: a broker holds at most one replica of each
/// partition, so its lower edge gives back one unit per partition whose bytes are not whole
/// units, and the rounded problem is never harder than the real one. `None` where even split
/// replicas cannot reach every band (then no plan does).
pub(in crate::assign) fn split(
    parts: &[(u64, u32)],
    home: impl Fn(usize, usize) -> bool,
    lo: &[f64],
    hi: &[f64],
) -> Option<Split> {
    let n = lo.len();
    let total: u64 = parts.iter().map(|&(c, k)| c * u64::from(k)).sum();
    let unit = (total >> 30).max(1);
    let (s, t) = (0, 1);
    let node = |j: usize| 2 + parts.len() + j;
    let mut f = Flow::new(2 + parts.len() + n);
    // Filling a broker's lower edge outweighs any path's moving cost (at most one per node).
    let must = 2 * (2 + parts.len() + n) as i64 + 2;
    let mut supply = 0;
    let mut edges: Vec<(i64, Vec<usize>)> = Vec::with_capacity(parts.len());
    for (i, &(bytes, k)) in parts.iter().enumerate() {
        let c = (bytes / unit) as i64;
        f.edge(s, 2 + i, c * i64::from(k), 0);
        supply += c * i64::from(k);
        let e = (0..n)
            .map(|j| f.edge(2 + i, node(j), c, i64::from(!home(i, j))))
            .collect();
        edges.push((c, e));
    }
    let slack = parts.iter().filter(|&&(c, _)| c % unit != 0).count() as i64;
    let mut lows: Vec<(usize, i64)> = Vec::with_capacity(n);
    for j in 0..n {
        let low = ((lo[j] / unit as f64).floor() as i64 - slack).max(0);
        let high = (hi[j] / unit as f64).ceil().max(0.0) as i64;
        lows.push((f.edge(node(j), t, low, -must), low));
        f.edge(node(j), t, (high - low).max(0), 0);
    }
    if f.run(s, t) < supply || lows.iter().any(|&(e, low)| f.flow(e) < low) {
        return None;
    }
    let mut moved = 0;
    for (i, (_, e)) in edges.iter().enumerate() {
        moved += (0..n)
            .filter(|&j| !home(i, j))
            .map(|j| f.flow(e[j]))
            .sum::<i64>();
    }
    let share = edges
        .iter()
        .map(|(c, e)| {
            e.iter()
                .map(|&e| {
                    if *c > 0 {
                        f.flow(e) as f64 / *c as f64
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    Some(Split {
        moved: (moved as u64 * unit) as f64,
        share,
    })
}
