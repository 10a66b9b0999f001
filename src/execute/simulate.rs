//! A fluid model of a throttled execution (pure): every new replica copies from its partition's
//! leader at a max-min fair share of the leader's outbound and the new replica's inbound
//! throttle (how Kafka's per-broker replication quotas share a link), the runner sees a finished
//! move only at its next poll, and [`next_moves`] decides what starts. It lets the scheduling
//! benchmark and the tests compare a schedule with the bound without a cluster.

use std::collections::{BTreeMap, BTreeSet};

use super::scheduler::{bound_secs, next_moves, Move};

/// What a simulated execution took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Simulated {
    /// From the first submission to the poll that saw the last move finish.
    pub seconds: f64,
    /// The bound: the busiest broker's bytes in or out over the throttle.
    pub bound: f64,
}

impl Simulated {
    pub fn ratio(&self) -> f64 {
        if self.bound > 0.0 {
            self.seconds / self.bound
        } else {
            1.0
        }
    }
}

/// One copy in flight: bytes left from `leader` to `to`.
struct Flow {
    mv: usize,
    leader: i32,
    to: i32,
    left: f64,
}

/// Max-min fair rates for the flows under `cap` bytes/s per broker and direction.
fn fair_rates(flows: &[Flow], cap: f64) -> Vec<f64> {
    let mut rate = vec![0.0; flows.len()];
    let mut frozen = vec![false; flows.len()];
    // Link: (broker, outbound?) -> capacity left.
    let mut left: BTreeMap<(i32, bool), f64> = BTreeMap::new();
    for f in flows {
        left.insert((f.leader, true), cap);
        left.insert((f.to, false), cap);
    }
    let links = |f: &Flow| [(f.leader, true), (f.to, false)];
    while frozen.iter().any(|z| !z) {
        // The link with the smallest share for its unfrozen flows is the bottleneck.
        let mut users: BTreeMap<(i32, bool), usize> = BTreeMap::new();
        for (i, f) in flows.iter().enumerate() {
            if !frozen[i] {
                for l in links(f) {
                    *users.entry(l).or_default() += 1;
                }
            }
        }
        let (link, share) = users
            .iter()
            .map(|(l, &n)| (*l, left[l] / n as f64))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("an unfrozen flow uses a link");
        for (i, f) in flows.iter().enumerate() {
            if !frozen[i] && links(f).contains(&link) {
                rate[i] = share;
                frozen[i] = true;
                for l in links(f) {
                    *left.get_mut(&l).expect("link") -= share;
                }
            }
        }
    }
    rate
}

/// Simulate executing `moves` with `throttle` bytes/s per broker and direction, at most
/// `max_per_broker` moves per broker and direction, polling every `poll` seconds.
pub fn simulate(moves: &[Move], throttle: f64, max_per_broker: usize, poll: f64) -> Simulated {
    let bound = bound_secs(moves, |_| throttle);
    let mut pending: Vec<usize> = (0..moves.len()).collect();
    let mut in_flight: BTreeSet<usize> = BTreeSet::new();
    let mut flows: Vec<Flow> = Vec::new();
    let mut t = 0.0;
    loop {
        // A poll: finished moves leave, new ones start.
        let running: BTreeSet<usize> = flows.iter().map(|f| f.mv).collect();
        in_flight.retain(|m| running.contains(m));
        if pending.is_empty() && in_flight.is_empty() {
            return Simulated { seconds: t, bound };
        }
        let p: Vec<&Move> = pending.iter().map(|&i| &moves[i]).collect();
        let f: Vec<&Move> = in_flight.iter().map(|&i| &moves[i]).collect();
        let start: Vec<usize> = next_moves(&p, &f, max_per_broker, &BTreeSet::new())
            .into_iter()
            .map(|k| pending[k])
            .collect();
        assert!(
            !start.is_empty() || !in_flight.is_empty(),
            "the scheduler stalled: {} moves pending, none in flight, none started",
            pending.len()
        );
        pending.retain(|i| !start.contains(i));
        for i in start {
            let m = &moves[i];
            in_flight.insert(i);
            for to in m.adding() {
                flows.push(Flow {
                    mv: i,
                    leader: m.leader(),
                    to,
                    left: m.bytes as f64,
                });
            }
        }
        // Copy until the next poll, re-sharing the links whenever a copy finishes.
        let next_poll = t + poll;
        while t < next_poll && !flows.is_empty() {
            let rates = fair_rates(&flows, throttle);
            let until_done = flows
                .iter()
                .zip(&rates)
                .map(|(f, r)| f.left / r)
                .fold(f64::INFINITY, f64::min);
            let dt = until_done.min(next_poll - t);
            for (f, r) in flows.iter_mut().zip(&rates) {
                f.left -= r * dt;
            }
            flows.retain(|f| f.left > 1e-6);
            t += dt;
        }
        t = next_poll;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::scheduler::mv;

    #[test]
    fn one_move_takes_its_bytes_over_the_throttle() {
        let s = simulate(&[mv(0, &[1, 2], &[3, 2], 100)], 10.0, 2, 0.5);
        assert_eq!(s.bound, 10.0);
        // Done at 10 s, seen at the poll at 10 s.
        assert!((s.seconds - 10.0).abs() < 1e-9, "{s:?}");
    }

    #[test]
    fn a_shared_leader_splits_its_outbound() {
        // Broker 1 sends to 3 and 4: 200 bytes at 10/s.
        let moves = [mv(0, &[1, 2], &[3, 2], 100), mv(1, &[1, 2], &[4, 2], 100)];
        let s = simulate(&moves, 10.0, 2, 1.0);
        assert_eq!(s.bound, 20.0);
        assert!((s.seconds - 20.0).abs() < 1e-9, "{s:?}");
        // One at a time: the same, since the leader's link is the limit either way.
        let s = simulate(&moves, 10.0, 1, 1.0);
        assert!((s.seconds - 20.0).abs() < 1e-9, "{s:?}");
    }

    proptest::proptest! {
        /// Whatever the moves, the scheduler never stalls, never beats the bound, and never does
        /// worse than copying everything one move at a time.
        #[test]
        fn schedules_finish_between_the_bound_and_serial(
            raw in proptest::collection::vec((1i32..=6, 1i32..=6, 1u64..100), 1..30),
            per_broker in 1usize..4,
        ) {
            let moves: Vec<Move> = raw
                .iter()
                .enumerate()
                .filter(|(_, (a, b, _))| a != b)
                .map(|(i, &(a, b, bytes))| mv(i as i32, &[a], &[b], bytes))
                .collect();
            let s = simulate(&moves, 10.0, per_broker, 0.25);
            let serial: f64 = moves.iter().map(|m| m.bytes as f64 / 10.0 + 0.25).sum();
            proptest::prop_assert!(s.seconds + 1e-6 >= s.bound, "{s:?}");
            proptest::prop_assert!(s.seconds <= serial + 0.25 + 1e-6, "{s:?} vs serial {serial}");
        }
    }

    #[test]
    fn fair_rates_give_spare_capacity_to_the_unconstrained_flow() {
        // 1->3 and 2->3 share 3's inbound (5 each); 2->4 then gets 2's remaining 5.
        let flows = [
            Flow {
                mv: 0,
                leader: 1,
                to: 3,
                left: 1.0,
            },
            Flow {
                mv: 1,
                leader: 2,
                to: 3,
                left: 1.0,
            },
            Flow {
                mv: 2,
                leader: 2,
                to: 4,
                left: 1.0,
            },
        ];
        assert_eq!(fair_rates(&flows, 10.0), vec![5.0, 5.0, 5.0]);
    }
}
