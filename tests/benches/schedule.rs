//! Move-scheduling benchmark: `cargo bench --bench schedule`. Plans rack-unaware layouts with the
//! real planner, then runs the scheduler in the fluid model of `execute::simulate` (max-min fair
//! shares of each broker's inbound and outbound throttle, completions seen at 250 ms polls) and
//! prints the simulated time over the bound for 1, 2 and 4 moves per broker and direction.
//! Target (issue #4): within 1.1 × the bound at the default of 2.
//!
//! Scenarios:
//! * bench-N: the layout of `tests/kafka/bench-move.sh` (6 brokers, N equal partitions, two
//!   replicas of each in one AZ), so the figures sit beside the live benchmark's;
//! * random: 12 or 30 brokers, partitions on three random brokers (any AZ), sizes spread
//!   between 1 and 200 units.

use streamctl::assign::{plan, Broker, Cluster, PartitionAssignment, PlanOptions};
use streamctl::execute::scheduler::Move;
use streamctl::execute::simulate::simulate;

#[path = "../common/rng.rs"]
mod rng;
use rng::Rng;

const RACKS: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
const MIB: u64 = 1 << 20;

fn brokers(n: usize) -> Vec<Broker> {
    (0..n)
        .map(|i| Broker {
            id: i as i32 + 1,
            rack: Some(RACKS[i % 3].to_string()),
            offline: false,
            capacity_bytes: None,
        })
        .collect()
}

fn part(i: usize, replicas: Vec<i32>, bytes: u64) -> PartitionAssignment {
    PartitionAssignment {
        topic: "t".into(),
        partition: i as i32,
        replicas,
        size_bytes: Some(bytes),
        local_size_bytes: None,
    }
}

/// The bench-move.sh layout: `partitions` (a multiple of 12) of `bytes` each.
fn bench_layout(partitions: usize, bytes: u64) -> Cluster {
    let pattern: [[i32; 3]; 12] = [
        [1, 4, 2],
        [4, 1, 5],
        [2, 5, 3],
        [5, 2, 6],
        [3, 6, 1],
        [6, 3, 4],
        [1, 4, 3],
        [4, 1, 6],
        [2, 5, 1],
        [5, 2, 4],
        [3, 6, 2],
        [6, 3, 5],
    ];
    Cluster {
        brokers: brokers(6),
        partitions: (0..partitions)
            .map(|i| part(i, pattern[i % 12].to_vec(), bytes))
            .collect(),
    }
}

fn random_layout(nbrokers: usize, partitions: usize, seed: u64) -> Cluster {
    let mut rng = Rng(seed);
    Cluster {
        brokers: brokers(nbrokers),
        partitions: (0..partitions)
            .map(|i| {
                let mut r: Vec<i32> = Vec::new();
                while r.len() < 3 {
                    let b = (rng.next() % nbrokers as u64) as i32 + 1;
                    if !r.contains(&b) {
                        r.push(b);
                    }
                }
                part(i, r, (1 + rng.next() % 200) * MIB)
            })
            .collect(),
    }
}

fn moves(c: &Cluster) -> Vec<Move> {
    let p = plan(c, &PlanOptions::default()).expect("plan");
    p.changes
        .iter()
        .map(|(i, to)| {
            let a = &c.partitions[*i];
            Move {
                topic: a.topic.clone(),
                partition: a.partition,
                from: a.replicas.clone(),
                to: to.clone(),
                bytes: a.move_bytes(),
            }
        })
        .collect()
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let throttle = 20.0 * MIB as f64;
    let mut scenarios: Vec<(String, Cluster)> = vec![
        ("bench-12 (96 MiB each)".into(), bench_layout(12, 96 * MIB)),
        ("bench-48 (24 MiB each)".into(), bench_layout(48, 24 * MIB)),
    ];
    if !smoke {
        scenarios.push(("bench-96 (12 MiB each)".into(), bench_layout(96, 12 * MIB)));
        for seed in 1..=3u64 {
            scenarios.push((
                format!("random 12 brokers, 300 partitions #{seed}"),
                random_layout(12, 300, seed),
            ));
            scenarios.push((
                format!("random 30 brokers, 1000 partitions #{seed}"),
                random_layout(30, 1000, seed * 7919),
            ));
        }
    }
    println!("move scheduling in the fluid model, 20 MiB/s per broker, 250 ms polls (target: <= 1.10 at 2 per broker)");
    println!(
        "{:<42} {:>6} {:>9} {:>7} {:>7} {:>7}",
        "scenario", "moves", "bound s", "1/brk", "2/brk", "4/brk"
    );
    for (name, c) in &scenarios {
        let ms = moves(c);
        let r: Vec<String> = [1, 2, 4]
            .iter()
            .map(|&n| format!("{:.3}", simulate(&ms, throttle, n, 0.25).ratio()))
            .collect();
        let bound = simulate(&ms, throttle, 2, 0.25).bound;
        println!(
            "{:<42} {:>6} {:>9.1} {:>7} {:>7} {:>7}",
            name,
            ms.len(),
            bound,
            r[0],
            r[1],
            r[2]
        );
    }
}
