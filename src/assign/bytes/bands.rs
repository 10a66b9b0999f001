//! Each AZ's byte band (pure): per live broker, its weight and its band `[lo, hi]` in bytes
//! around the AZ's mean (or, with every capacity known, around its mean utilisation, no upper
//! edge above `--max-disk-utilisation` of a capacity).

use super::super::work::Work;

/// Per AZ, its live brokers; per broker, its weight and its band [lo, hi] in bytes.
///
/// The weight is the broker's capacity when every broker of its AZ has one (the band is then
/// around the AZ's mean utilisation), else 1 (the band is around the mean bytes). The upper edge
/// never exceeds `max_util` of a known capacity.
#[derive(Clone)]
pub(in crate::assign) struct Bands {
    pub(in crate::assign) azs: Vec<Vec<usize>>,
    pub(in crate::assign) weight: Vec<u64>,
    pub(in crate::assign) lo: Vec<f64>,
    pub(in crate::assign) hi: Vec<f64>,
    /// Per AZ, the sum of its brokers' weights.
    pub(in crate::assign) az_weight: Vec<f64>,
}

impl Bands {
    /// Whether every live broker of AZ `a` weighs the same (no disk sizes, or equal ones): then
    /// each gets an equal share of every topic and the spread rule can hold beside the band.
    pub(in crate::assign) fn even(&self, a: usize) -> bool {
        self.azs
            .get(a)
            .is_none_or(|m| m.iter().all(|&x| self.weight[x] == self.weight[m[0]]))
    }
}

pub(in crate::assign) fn bands(w: &Work, tol: f64, max_util: Option<f64>) -> Bands {
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
