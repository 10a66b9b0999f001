//! Planner benchmark: `cargo bench --bench assign`. Prints, for 100k, 1M and 3M replicas on
//! 300 brokers over 3 AZs, the planning time and the peak memory of a process that builds the
//! cluster and plans it, for two scenarios:
//!
//! * expand: 270 brokers (rack-aware, balanced) + 30 new ones, 10 per AZ;
//! * repair: a rack-unaware layout (three random distinct brokers per partition) on 300 brokers;
//! * expand-bytes: the expansion with log-normal partition sizes (median 1 GiB, sigma 1) and
//!   `--balance bytes` (issue #13: <= 3 s and <= 2 GiB at 3M replicas);
//! * expand-both: the same with `--balance both` (bytes, then counts evened within the bands);
//! * expand-auto: the same with `--balance auto`, the default (both: every partition has a size).
//!
//! Every scenario prints the plan time as a fraction of the 3 s target, and the per-topic spread
//! (replicas above the rule's limit before -> after).
//!
//! Each size runs in its own child process so the peak (VmHWM) belongs to that size alone.
//! Target (issue #3): 3,000,000 replicas in ≤ 3 s and ≤ 2 GiB on 2 cores.

use std::process::Command;
use std::time::Instant;

use streamctl::assign::{plan, Balance, Broker, Cluster, PartitionAssignment, PlanOptions};

#[path = "../common/rng.rs"]
mod rng;
use rng::Rng;

fn cluster(replicas: usize, scenario: &str) -> Cluster {
    let rf = 3;
    let partitions = replicas / rf;
    let racks = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let brokers: Vec<Broker> = (0..300)
        .map(|i| Broker {
            id: i as i32 + 1,
            rack: Some(racks[i % 3].to_string()),
            offline: false,
            capacity_bytes: None,
        })
        .collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let topics = 2_000;
    let parts = (0..partitions)
        .map(|i| {
            let replicas: Vec<i32> = match scenario {
                // Brokers 1..=270 (ids 1..=270 cycle the racks): one per AZ, rotating.
                "expand" | "expand-bytes" | "expand-both" | "expand-auto" => {
                    let base = (i * 3) % 270;
                    let mut r: Vec<i32> = (0..3)
                        .map(|k| ((base + k + 3 * (i / 90)) % 270) as i32 + 1)
                        .collect();
                    r.rotate_left(i % 3); // leaders spread over the three AZs
                    r
                }
                // Rack-unaware: three distinct brokers at random.
                _ => {
                    let mut r: Vec<i32> = Vec::with_capacity(3);
                    while r.len() < 3 {
                        let b = (rng.next() % 300) as i32 + 1;
                        if !r.contains(&b) {
                            r.push(b);
                        }
                    }
                    r
                }
            };
            PartitionAssignment {
                topic: format!("topic-{:04}", i % topics),
                partition: (i / topics) as i32,
                replicas,
                size_bytes: Some(if scenario.starts_with("expand-") {
                    lognormal(&mut rng)
                } else {
                    rng.next() % (8 << 30)
                }),
                local_size_bytes: None,
            }
        })
        .collect();
    Cluster {
        brokers,
        partitions: parts,
    }
}

/// Log-normal bytes, median 1 GiB, sigma 1 (Box-Muller).
fn lognormal(rng: &mut Rng) -> u64 {
    let u1 = (rng.next() % 1_000_000 + 1) as f64 / 1_000_001.0;
    let u2 = (rng.next() % 1_000_000) as f64 / 1_000_000.0;
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    ((1u64 << 30) as f64 * z.exp()) as u64
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0)
}

fn child(replicas: usize, scenario: &str) {
    let c = cluster(replicas, scenario);
    let start = Instant::now();
    let opts = PlanOptions {
        balance: match scenario {
            "expand-bytes" => Balance::Bytes,
            "expand-both" => Balance::Both,
            "expand-auto" => Balance::Auto,
            _ => Balance::Replicas,
        },
        ..Default::default()
    };
    let p = plan(&c, &opts).expect("plan");
    let secs = start.elapsed().as_secs_f64();
    let s = &p.summary;
    if let Some(b) = &s.byte_balance {
        println!(
            "{scenario:<12} {replicas:>9} replicas  plan {secs:>6.2} s ({:.2} of 3 s)  peak {:>6.0} MiB  bytes moved {:.1} TiB (bound {:.1} TiB, {:.3} x)  max/mean {:.2} -> {:.3}  min/mean {:.2} -> {:.3}  spread {} -> {}",
            secs / 3.0,
            peak_rss_kib() as f64 / 1024.0,
            s.bytes_moved as f64 / (1u64 << 40) as f64,
            b.lower_bound_bytes as f64 / (1u64 << 40) as f64,
            s.bytes_moved as f64 / b.lower_bound_bytes.max(1) as f64,
            b.max_over_mean_before,
            b.max_over_mean_after,
            b.min_over_mean_before,
            b.min_over_mean_after,
            s.topic_spread_violations_before,
            s.topic_spread_violations_after,
        );
        return;
    }
    println!(
        "{scenario:<12} {replicas:>9} replicas  plan {secs:>6.2} s ({:.2} of 3 s)  peak {:>6.0} MiB  moved {:>8} (bound {:>8}, +{:.3}%)  leaders changed {:>7}  AZ violations {} -> {}  spread {} -> {}",
        secs / 3.0,
        peak_rss_kib() as f64 / 1024.0,
        s.replicas_moved,
        s.lower_bound_moves,
        if s.lower_bound_moves == 0 { 0.0 } else { 100.0 * (s.replicas_moved as f64 / s.lower_bound_moves as f64 - 1.0) },
        s.leader_changes,
        s.az_violations_before,
        s.az_violations_after,
        s.topic_spread_violations_before,
        s.topic_spread_violations_after,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args[i + 1].parse().unwrap(), &args[i + 2]);
        return;
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it: then a
    // small smoke run proves the benchmark still works without taking minutes.
    let smoke = !args.iter().any(|a| a == "--bench");
    let sizes: Vec<usize> = match std::env::var("ASSIGN_BENCH_SIZES") {
        Ok(s) => s.split(',').map(|x| x.trim().parse().unwrap()).collect(),
        Err(_) if smoke => vec![30_000],
        Err(_) => vec![100_000, 1_000_000, 3_000_000],
    };
    println!("assignment planner benchmark: 300 brokers, 3 AZs, RF 3 (target: 3M replicas in <= 3 s, <= 2 GiB)");
    let exe = std::env::current_exe().unwrap();
    let only = std::env::var("ASSIGN_BENCH_SCENARIOS").ok();
    for scenario in [
        "expand",
        "repair",
        "expand-bytes",
        "expand-both",
        "expand-auto",
    ] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == scenario))
        {
            continue;
        }
        for &n in &sizes {
            let status = Command::new(&exe)
                .args(["--child", &n.to_string(), scenario])
                .status()
                .unwrap();
            assert!(status.success());
        }
    }
}
