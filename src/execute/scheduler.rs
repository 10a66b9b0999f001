//! Which moves start next (pure). Every move copies its partition from the current leader to
//! each new replica, so it loads the leader's outbound and the new replicas' inbound replication,
//! each throttled per broker. The scheduler keeps at most `max_per_broker` moves in flight on any
//! broker and starts the moves of the most loaded brokers first (longest-processing-time order),
//! so the busiest broker never idles and the total stays near the bound
//! `max over brokers of max(bytes in, bytes out) / throttle`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::assign::{Cluster, PartitionAssignment};

/// One partition's reassignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub topic: String,
    pub partition: i32,
    /// Replicas now (leader first).
    pub from: Vec<i32>,
    /// Replicas wanted (preferred leader first).
    pub to: Vec<i32>,
    /// Bytes one new replica copies.
    pub bytes: u64,
}

impl Move {
    pub fn adding(&self) -> Vec<i32> {
        self.to
            .iter()
            .copied()
            .filter(|b| !self.from.contains(b))
            .collect()
    }
    pub fn removing(&self) -> Vec<i32> {
        self.from
            .iter()
            .copied()
            .filter(|b| !self.to.contains(b))
            .collect()
    }
    /// The broker new replicas copy from.
    pub fn leader(&self) -> i32 {
        self.from[0]
    }
    /// Every broker whose replication this move loads.
    pub fn brokers(&self) -> BTreeSet<i32> {
        let mut s: BTreeSet<i32> = self.adding().into_iter().collect();
        if !s.is_empty() {
            s.insert(self.leader());
        }
        s
    }
    /// Every broker that must be up for this move to finish: those it loads, and every replica
    /// of its target (Kafka completes a reassignment only when all target replicas are in sync).
    pub fn needs(&self) -> BTreeSet<i32> {
        let mut s = self.brokers();
        s.extend(self.to.iter().copied());
        s
    }
    /// The targets to submit in order: the final list at once, or with `one_at_a_time` one new
    /// replica per step (each step swaps one old replica for one new one).
    pub fn steps(&self, one_at_a_time: bool) -> Vec<Vec<i32>> {
        let (add, remove) = (self.adding(), self.removing());
        if !one_at_a_time || add.len() <= 1 || add.len() != remove.len() {
            return vec![self.to.clone()];
        }
        let mut cur = self.from.clone();
        let mut out = Vec::new();
        for (a, r) in add.iter().zip(&remove).take(add.len() - 1) {
            let pos = cur
                .iter()
                .position(|b| b == r)
                .expect("removing is in from");
            cur[pos] = *a;
            out.push(cur.clone());
        }
        out.push(self.to.clone());
        out
    }
    /// This move as the cluster will run it: new replicas copy from the partition's current
    /// `leader` (when it is one of the replicas), not necessarily the preferred one.
    pub fn with_leader(&self, leader: Option<i32>) -> Move {
        let mut m = self.clone();
        if let Some(pos) = leader.and_then(|l| m.from.iter().position(|&b| b == l)) {
            m.from[..=pos].rotate_right(1);
        }
        m
    }
    pub fn copy_bytes(&self) -> u64 {
        self.bytes * self.adding().len() as u64
    }
}

/// The moves that take `cluster` to `targets` (a reviewed plan): every partition must exist, every
/// target broker must be one of the cluster's (live) brokers, and no list may repeat a broker or a
/// partition. Partitions already at their target are left out. Errors list up to five problems.
pub fn moves_to_targets(
    cluster: &Cluster,
    targets: &[PartitionAssignment],
) -> Result<Vec<Move>, String> {
    let brokers: BTreeSet<i32> = cluster
        .brokers
        .iter()
        .filter(|b| !b.offline)
        .map(|b| b.id)
        .collect();
    let current: BTreeMap<(&str, i32), &PartitionAssignment> = cluster
        .partitions
        .iter()
        .map(|p| ((p.topic.as_str(), p.partition), p))
        .collect();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut moves = Vec::new();
    for t in targets {
        let name = format!("{}-{}", t.topic, t.partition);
        if !seen.insert((t.topic.as_str(), t.partition)) {
            problems.push(format!("{name} is listed twice"));
            continue;
        }
        let Some(cur) = current.get(&(t.topic.as_str(), t.partition)) else {
            problems.push(format!("{name} is not in the cluster"));
            continue;
        };
        let distinct: BTreeSet<i32> = t.replicas.iter().copied().collect();
        if t.replicas.is_empty() || distinct.len() != t.replicas.len() {
            problems.push(format!(
                "{name}: replicas {:?} must be distinct and not empty",
                t.replicas
            ));
            continue;
        }
        let unknown: Vec<i32> = distinct.difference(&brokers).copied().collect();
        if !unknown.is_empty() {
            problems.push(format!(
                "{name}: broker(s) {unknown:?} are not live in the cluster"
            ));
            continue;
        }
        if t.replicas != cur.replicas {
            moves.push(Move {
                topic: t.topic.clone(),
                partition: t.partition,
                from: cur.replicas.clone(),
                to: t.replicas.clone(),
                bytes: cur.move_bytes(),
            });
        }
    }
    if problems.is_empty() {
        Ok(moves)
    } else {
        let more = problems.len().saturating_sub(5);
        let mut msg = problems.into_iter().take(5).collect::<Vec<_>>().join("; ");
        if more > 0 {
            msg.push_str(&format!("; and {more} more"));
        }
        Err(msg)
    }
}

/// Bytes each broker sends (as leader) and receives (as new replica) for these moves.
pub fn broker_bytes<'a>(moves: impl IntoIterator<Item = &'a Move>) -> BTreeMap<i32, (u64, u64)> {
    let mut m: BTreeMap<i32, (u64, u64)> = BTreeMap::new();
    for mv in moves {
        let add = mv.adding();
        if add.is_empty() {
            continue;
        }
        m.entry(mv.leader()).or_default().1 += mv.bytes * add.len() as u64;
        for b in add {
            m.entry(b).or_default().0 += mv.bytes;
        }
    }
    m
}

/// The fastest any schedule can finish when broker `b` is throttled to `throttle(b)` bytes/s in
/// each direction: the busiest broker's bytes in or out over its throttle.
pub fn bound_secs<'a>(
    moves: impl IntoIterator<Item = &'a Move>,
    throttle: impl Fn(i32) -> f64,
) -> f64 {
    broker_bytes(moves)
        .into_iter()
        .map(|(b, (i, o))| i.max(o) as f64 / throttle(b))
        .fold(0.0, f64::max)
}

/// Indices into `pending` to start now, given the moves in flight. A broker's outbound link
/// (as source leader) and inbound link (as new replica) are throttled separately, so each
/// direction may carry up to `max_per_broker` moves.
pub fn next_moves(
    pending: &[&Move],
    in_flight: &[&Move],
    max_per_broker: usize,
    unavailable: &BTreeSet<i32>,
) -> Vec<usize> {
    let mut busy_out: BTreeMap<i32, usize> = BTreeMap::new();
    let mut busy_in: BTreeMap<i32, usize> = BTreeMap::new();
    let take = |m: &Move, out: &mut BTreeMap<i32, usize>, inn: &mut BTreeMap<i32, usize>| {
        *out.entry(m.leader()).or_default() += 1;
        for b in m.adding() {
            *inn.entry(b).or_default() += 1;
        }
    };
    // An in-flight move that waits for a broker that is down copies nothing meanwhile: it holds
    // no link of the brokers that are up.
    for m in in_flight {
        if !m.adding().is_empty() && m.needs().is_disjoint(unavailable) {
            take(m, &mut busy_out, &mut busy_in);
        }
    }
    // Remaining work per broker (pending and in flight): the critical path.
    let load = broker_bytes(pending.iter().copied().chain(in_flight.iter().copied()));
    let weight = |m: &Move| {
        m.brokers()
            .iter()
            .map(|b| load.get(b).map_or(0, |&(i, o)| i.max(o)))
            .max()
            .unwrap_or(0)
    };
    let mut order: Vec<usize> = (0..pending.len()).collect();
    order.sort_by(|&a, &b| {
        let (ma, mb) = (pending[a], pending[b]);
        weight(mb)
            .cmp(&weight(ma))
            .then(mb.copy_bytes().cmp(&ma.copy_bytes()))
            .then((&ma.topic, ma.partition).cmp(&(&mb.topic, mb.partition)))
    });
    let mut out = Vec::new();
    for i in order {
        let m = pending[i];
        if !m.needs().is_disjoint(unavailable) {
            continue;
        }
        let adding = m.adding();
        if adding.is_empty() {
            // A reorder copies nothing: always start it.
            out.push(i);
            continue;
        }
        let free_out = busy_out.get(&m.leader()).copied().unwrap_or(0) < max_per_broker;
        let free_in = adding
            .iter()
            .all(|b| busy_in.get(b).copied().unwrap_or(0) < max_per_broker);
        if free_out && free_in {
            take(m, &mut busy_out, &mut busy_in);
            out.push(i);
        }
    }
    out
}

/// A move of partition `p` of topic `t` (for tests).
#[cfg(test)]
pub(crate) fn mv(p: i32, from: &[i32], to: &[i32], bytes: u64) -> Move {
    Move {
        topic: "t".into(),
        partition: p,
        from: from.to_vec(),
        to: to.to_vec(),
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respects_the_per_broker_limit() {
        let moves = [
            mv(0, &[1, 2, 3], &[4, 2, 3], 10),
            mv(1, &[1, 5, 6], &[7, 5, 6], 10),
            mv(2, &[1, 8, 9], &[10, 8, 9], 10),
        ];
        let pending: Vec<&Move> = moves.iter().collect();
        // Broker 1 leads all three: only two may run at once.
        assert_eq!(next_moves(&pending, &[], 2, &BTreeSet::new()).len(), 2);
        assert_eq!(
            next_moves(&pending, &[&moves[0]], 2, &BTreeSet::new()).len(),
            1
        );
        // An unavailable broker holds its moves back.
        assert!(next_moves(&pending, &[], 2, &[1].into()).is_empty());
    }

    #[test]
    fn busiest_broker_first() {
        let moves = [
            mv(0, &[1, 2], &[3, 2], 1),
            mv(1, &[4, 2], &[5, 2], 100),
            mv(2, &[4, 2], &[6, 2], 100),
        ];
        let pending: Vec<&Move> = moves.iter().collect();
        let first = next_moves(&pending, &[], 1, &BTreeSet::new());
        assert_eq!(
            pending[first[0]].partition, 1,
            "broker 4 carries 200 bytes: start there"
        );
    }

    #[test]
    fn a_reviewed_plan_becomes_moves_or_is_refused_whole() {
        use crate::assign::Broker;
        let part = |p: i32, r: &[i32]| PartitionAssignment {
            topic: "t".into(),
            partition: p,
            replicas: r.to_vec(),
            size_bytes: Some(100),
            local_size_bytes: None,
        };
        let cluster = Cluster {
            brokers: (1..=4)
                .map(|id| Broker {
                    id,
                    rack: None,
                    offline: false,
                    capacity_bytes: None,
                })
                .collect(),
            partitions: vec![part(0, &[1, 2]), part(1, &[2, 3])],
        };
        let moves = moves_to_targets(&cluster, &[part(0, &[3, 2]), part(1, &[2, 3])]).unwrap();
        assert_eq!(moves.len(), 1, "partition 1 is already there");
        assert_eq!(
            (moves[0].from.clone(), moves[0].to.clone(), moves[0].bytes),
            (vec![1, 2], vec![3, 2], 100)
        );
        let err = moves_to_targets(
            &cluster,
            &[
                part(0, &[3, 9]),
                part(7, &[1]),
                part(1, &[2, 2]),
                part(0, &[1, 2]),
            ],
        )
        .unwrap_err();
        assert!(err.contains("t-0: broker(s) [9] are not live"), "{err}");
        assert!(err.contains("t-7 is not in the cluster"), "{err}");
        assert!(
            err.contains("t-1: replicas [2, 2] must be distinct"),
            "{err}"
        );
        assert!(err.contains("t-0 is listed twice"), "{err}");
    }

    #[test]
    fn the_copy_source_is_the_current_leader() {
        let m = mv(0, &[4, 1, 2], &[3, 1, 2], 10);
        // Broker 4 (preferred) is dead and 2 leads: the copy loads 2, not 4.
        let now = m.with_leader(Some(2));
        assert_eq!(now.leader(), 2);
        assert_eq!(now.brokers(), [2, 3].into());
        assert_eq!(now.adding(), vec![3]);
        assert_eq!(m.with_leader(None), m);
        assert_eq!(m.with_leader(Some(9)), m, "not a replica: unchanged");
    }

    #[test]
    fn steps_one_replica_at_a_time() {
        let m = mv(0, &[1, 2, 3], &[4, 5, 3], 1);
        assert_eq!(m.steps(true), vec![vec![4, 2, 3], vec![4, 5, 3]]);
        assert_eq!(m.steps(false), vec![vec![4, 5, 3]]);
    }

    #[test]
    fn bound_is_the_busiest_direction() {
        let moves = [mv(0, &[1, 2], &[3, 2], 100), mv(1, &[1, 2], &[4, 2], 50)];
        // Broker 1 sends 150 bytes.
        assert_eq!(bound_secs(moves.iter(), |_| 10.0), 15.0);
        // A slower broker 3 (receiving 100 bytes at 5/s) becomes the bound.
        assert_eq!(
            bound_secs(moves.iter(), |b| if b == 3 { 5.0 } else { 10.0 }),
            20.0
        );
    }
}
