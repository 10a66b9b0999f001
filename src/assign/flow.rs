//! A small min-cost max-flow (successive shortest paths with Bellman-Ford), used to route forced
//! replica moves to AZs: few nodes (groups of moves by allowed AZs, and the AZs), large capacities.

/// An edge list flow network.
pub struct Flow {
    n: usize,
    to: Vec<usize>,
    cap: Vec<i64>,
    cost: Vec<i64>,
    adj: Vec<Vec<usize>>,
}

impl Flow {
    pub fn new(n: usize) -> Self {
        Self {
            n,
            to: Vec::new(),
            cap: Vec::new(),
            cost: Vec::new(),
            adj: vec![Vec::new(); n],
        }
    }

    /// Add an edge; returns its id (the reverse edge is `id ^ 1`).
    pub fn edge(&mut self, from: usize, to: usize, cap: i64, cost: i64) -> usize {
        let id = self.to.len();
        self.to.extend([to, from]);
        self.cap.extend([cap, 0]);
        self.cost.extend([cost, -cost]);
        self.adj[from].push(id);
        self.adj[to].push(id + 1);
        id
    }

    /// Flow currently on edge `id`.
    pub fn flow(&self, id: usize) -> i64 {
        self.cap[id ^ 1]
    }

    /// Push as much flow as possible from `s` to `t` at the least cost; returns the flow.
    pub fn run(&mut self, s: usize, t: usize) -> i64 {
        let mut total = 0;
        loop {
            let mut dist = vec![i64::MAX; self.n];
            let mut prev = vec![usize::MAX; self.n];
            dist[s] = 0;
            // Bellman-Ford: the graph is tiny.
            for _ in 0..self.n {
                let mut changed = false;
                for u in 0..self.n {
                    if dist[u] == i64::MAX {
                        continue;
                    }
                    for &e in &self.adj[u] {
                        if self.cap[e] > 0 && dist[u] + self.cost[e] < dist[self.to[e]] {
                            dist[self.to[e]] = dist[u] + self.cost[e];
                            prev[self.to[e]] = e;
                            changed = true;
                        }
                    }
                }
                if !changed {
                    break;
                }
            }
            if dist[t] == i64::MAX {
                return total;
            }
            let mut push = i64::MAX;
            let mut v = t;
            while v != s {
                let e = prev[v];
                push = push.min(self.cap[e]);
                v = self.to[e ^ 1];
            }
            let mut v = t;
            while v != s {
                let e = prev[v];
                self.cap[e] -= push;
                self.cap[e ^ 1] += push;
                v = self.to[e ^ 1];
            }
            total += push;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_around_a_greedy_trap() {
        // Group X may go to A or B, group Y only to A; A and B have room 1 each.
        // Greedy X->A would strand Y; the flow sends X->B, Y->A.
        let (s, x, y, a, b, t) = (0, 1, 2, 3, 4, 5);
        let mut f = Flow::new(6);
        f.edge(s, x, 1, 0);
        f.edge(s, y, 1, 0);
        let xa = f.edge(x, a, 10, 0);
        let xb = f.edge(x, b, 10, 1);
        let ya = f.edge(y, a, 10, 0);
        f.edge(a, t, 1, 0);
        f.edge(b, t, 1, 0);
        assert_eq!(f.run(s, t), 2);
        assert_eq!((f.flow(xa), f.flow(xb), f.flow(ya)), (0, 1, 1));
    }
}
