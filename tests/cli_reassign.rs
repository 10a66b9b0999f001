//! `streamctl reassign` and `streamctl check az-tolerance` as scripts run them.

mod common;

use std::collections::BTreeMap;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn streamctl() -> Command {
    let mut c = Command::cargo_bin("streamctl").unwrap();
    c.current_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reassign"
    ))
    .env("NO_COLOR", "1");
    c
}

fn json(args: &[&str]) -> Value {
    let mut c = streamctl();
    c.args(args);
    common::json_of(c)
}

#[test]
fn six_to_nine_table_snapshot() {
    let out = streamctl()
        .args([
            "reassign",
            "--az-aware",
            "--from-file",
            "six-to-nine.json",
            "--throttle",
            "50MiB/s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    insta::assert_snapshot!(
        "reassign_six_to_nine_table",
        String::from_utf8(out.stdout).unwrap()
    );
}

/// `--balance auto` (the default) plans bytes and counts where every partition has a size, and
/// replica counts from Kafka's assignment JSON (no sizes); the first line says which and why.
#[test]
fn auto_balance_picks_bytes_with_sizes_and_replicas_without() {
    let v = json(&["reassign", "--az-aware", "--from-file", "six-to-nine.json"]);
    assert_eq!(v["balance"], "both", "{v}");
    assert!(v["balance_reason"]
        .as_str()
        .unwrap()
        .contains("every partition has a size"));
    assert!(!v["byte_balance"].is_null());
    let v = json(&[
        "reassign",
        "--az-aware",
        "--current-assignment",
        "rack-unaware-kafka.json",
        "--broker-racks-file",
        "racks.txt",
    ]);
    assert_eq!(v["balance"], "replicas", "{v}");
    assert!(v["balance_reason"]
        .as_str()
        .unwrap()
        .contains("have no size"));
    assert!(v["byte_balance"].is_null());
    // The table's first line says the same.
    let out = streamctl()
        .args(["reassign", "--az-aware", "--from-file", "six-to-nine.json"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("balance: both (auto: every partition has a size"),
        "{text}"
    );
}

#[test]
fn six_to_nine_json_summary_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let rollback = dir.path().join("rollback.json");
    // Replica balance, asked for: the fewest replica moves (the default, auto, balances bytes
    // here: the snapshot has sizes).
    let v = json(&[
        "reassign",
        "--az-aware",
        "--from-file",
        "six-to-nine.json",
        "--balance",
        "replicas",
        "--throttle",
        "50MiB/s",
        "--plan-out",
        plan.to_str().unwrap(),
        "--rollback-out",
        rollback.to_str().unwrap(),
    ]);
    for key in [
        "replicas_moved",
        "bytes_moved",
        "partitions_changed",
        "leader_changes",
        "lower_bound_moves",
        "az_violations_before",
        "az_violations_after",
        "estimated_seconds",
        "brokers",
        "azs",
    ] {
        assert!(!v[key].is_null(), "missing {key}: {v}");
    }
    assert_eq!(v["replicas_moved"], v["lower_bound_moves"]);
    // The old brokers shed replicas of the topics piled on them first: spread improves for free.
    assert!(
        v["topic_spread_violations_after"].as_u64().unwrap()
            < v["topic_spread_violations_before"].as_u64().unwrap(),
        "{v}"
    );
    assert_eq!(v["az_violations_after"], 0);
    // Brokers and leaders balanced: 54 replicas and 18 leaders over 9 brokers.
    for b in v["brokers"].as_array().unwrap() {
        assert_eq!(b["replicas_after"], 6, "{b}");
        assert_eq!(b["leaders_after"], 2, "{b}");
    }
    // The plan file is Kafka's format with only changed partitions; applying it to the
    // snapshot reproduces the summary's per-broker counts; the rollback restores the original.
    let snapshot: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reassign/six-to-nine.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let rollback: Value =
        serde_json::from_str(&std::fs::read_to_string(&rollback).unwrap()).unwrap();
    assert_eq!(plan["version"], 1);
    let plan_parts = plan["partitions"].as_array().unwrap();
    assert_eq!(
        plan_parts.len() as u64,
        v["partitions_changed"].as_u64().unwrap()
    );
    let mut current: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for p in snapshot["partitions"].as_array().unwrap() {
        current.insert(
            (
                p["topic"].as_str().unwrap().into(),
                p["partition"].as_i64().unwrap(),
            ),
            p["replicas"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect(),
        );
    }
    for (p, r) in plan_parts
        .iter()
        .zip(rollback["partitions"].as_array().unwrap())
    {
        let key = (
            p["topic"].as_str().unwrap().to_string(),
            p["partition"].as_i64().unwrap(),
        );
        assert_eq!(r["topic"], p["topic"]);
        let rb: Vec<i64> = r["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(rb, current[&key], "rollback holds the current assignment");
        let new: Vec<i64> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_ne!(new, current[&key]);
        current.insert(key, new);
    }
    let mut replicas: BTreeMap<i64, u64> = BTreeMap::new();
    for r in current.values() {
        for b in r {
            *replicas.entry(*b).or_default() += 1;
        }
    }
    for b in v["brokers"].as_array().unwrap() {
        assert_eq!(
            replicas
                .get(&b["id"].as_i64().unwrap())
                .copied()
                .unwrap_or(0),
            b["replicas_after"].as_u64().unwrap()
        );
    }
    // Tiered partitions are priced by local bytes: 256 MiB each.
    let moved_bytes = v["bytes_moved"].as_u64().unwrap();
    assert!(
        moved_bytes > 0 && moved_bytes.is_multiple_of(256 << 20),
        "{moved_bytes}"
    );
}

#[test]
fn kafka_assignment_with_racks_is_repaired() {
    let v = json(&[
        "reassign",
        "--az-aware",
        "--current-assignment",
        "rack-unaware-kafka.json",
        "--broker-racks-file",
        "racks.txt",
    ]);
    assert!(v["az_violations_before"].as_u64().unwrap() > 0);
    assert_eq!(v["az_violations_after"], 0);
    assert_eq!(v["replicas_moved"], v["lower_bound_moves"]);
    // The same racks given inline.
    let inline = json(&[
        "reassign",
        "--current-assignment",
        "rack-unaware-kafka.json",
        "--broker-racks",
        "1=us-east-1a,2=us-east-1a,3=us-east-1b,4=us-east-1b,5=us-east-1c,6=us-east-1c",
    ]);
    assert_eq!(inline["replicas_moved"], v["replicas_moved"]);
}

#[test]
fn drain_and_budget() {
    let v = json(&[
        "reassign",
        "--from-file",
        "six-to-nine.json",
        "--remove-brokers",
        "2",
    ]);
    let b2 = v["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == 2)
        .unwrap()
        .clone();
    assert_eq!(b2["replicas_after"], 0);
    assert_eq!(b2["removed"], true);
    let limited = json(&[
        "reassign",
        "--from-file",
        "six-to-nine.json",
        "--max-moves",
        "3",
    ]);
    assert!(limited["replicas_moved"].as_u64().unwrap() <= 3);
    assert_eq!(limited["budget_limited"], true);
    let bytes = json(&[
        "reassign",
        "--from-file",
        "six-to-nine.json",
        "--max-move-bytes",
        "1GiB",
    ]);
    assert!(bytes["bytes_moved"].as_u64().unwrap() <= 1 << 30);
}

#[test]
fn az_tolerance_check_exits_4_on_a_rack_unaware_layout_and_0_after_the_plan() {
    streamctl()
        .args([
            "check",
            "az-tolerance",
            "--current-assignment",
            "rack-unaware-kafka.json",
            "--broker-racks-file",
            "racks.txt",
        ])
        .assert()
        .code(4)
        .stdout(predicate::str::contains("FAILED"));
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    streamctl()
        .args([
            "reassign",
            "--current-assignment",
            "rack-unaware-kafka.json",
            "--broker-racks-file",
            "racks.txt",
            "--plan-out",
            plan.to_str().unwrap(),
        ])
        .assert()
        .success();
    // Every partition is in the plan here, so the plan is a full assignment.
    let out = streamctl()
        .args([
            "check",
            "az-tolerance",
            "--current-assignment",
            plan.to_str().unwrap(),
            "--broker-racks-file",
            "racks.txt",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
}

#[test]
fn bad_inputs_exit_2_with_hints() {
    // (arguments after `reassign`, what stderr must say)
    let cases: [(&[&str], &str); 9] = [
        (
            &["--from-file", "six-to-nine.json", "--poll-ms", "10"],
            "50..=60000",
        ),
        (&[], "--from-file"),
        (
            &["--current-assignment", "rack-unaware-kafka.json"],
            "--broker-racks",
        ),
        (
            &[
                "--current-assignment",
                "rack-unaware-kafka.json",
                "--broker-racks",
                "1=a,2=b",
            ],
            "broker 3 has no rack",
        ),
        (
            &["--from-file", "six-to-nine.json", "--remove-brokers", "42"],
            "broker 42",
        ),
        (
            &["--from-file", "six-to-nine.json", "--topics", "("],
            "--topics",
        ),
        (
            &["--from-file", "six-to-nine.json", "--throttle", "fast"],
            "--throttle",
        ),
        // A reviewed plan is only for --execute, and replaces planning flags.
        (
            &["--from-file", "six-to-nine.json", "--plan-file", "p.json"],
            "--execute",
        ),
        (
            &[
                "--bootstrap-server",
                "127.0.0.1:1",
                "--execute",
                "--plan-file",
                "p.json",
                "--topics",
                "x",
            ],
            "cannot be used with",
        ),
    ];
    for (args, needle) in cases {
        streamctl()
            .arg("reassign")
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle));
    }
    streamctl()
        .args([
            "reassign",
            "--current-assignment",
            "rack-unaware-kafka.json",
        ])
        .args(["--broker-racks", "1=a,2=b"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("hint:"));
    // A malformed reviewed plan is refused with its line before any connection is tried (the
    // bootstrap address here reaches nothing).
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, "{\"version\": 1,\n \"partitions\": [{\"topic\": \"t\", \"partition\": 0, \"replica\": [1]}]}").unwrap();
    streamctl()
        .args([
            "reassign",
            "--bootstrap-server",
            "127.0.0.1:9",
            "--execute",
            "--throttle",
            "1MiB/s",
        ])
        .args(["--plan-file", plan.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line 2").and(predicate::str::contains("replica")));
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"brokers\": [{\"id\": 1, \"rack\": \"a\"}],\n \"partitions\": [{\"topic\": \"t\", \"partiton\": 0}]}").unwrap();
    streamctl()
        .args(["reassign", "--from-file", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("line 2")
                .and(predicate::str::contains("unknown field `partiton`")),
        );
}

/// `--balance bytes` from the CLI: the summary carries the band and the bound; disk sizes from
/// `--broker-capacity` set a hard ceiling (exit 2 naming the brokers); bad values are refused.
#[test]
fn balance_bytes_capacity_file_and_ceiling() {
    let r = json(&[
        "reassign",
        "--from-file",
        "six-to-nine.json",
        "--balance",
        "bytes",
    ]);
    let b = &r["byte_balance"];
    assert!(b["max_over_mean_after"].as_f64().unwrap() <= 1.05, "{b}");
    assert!(
        r["bytes_moved"].as_u64().unwrap() as f64
            <= 1.10 * b["lower_bound_bytes"].as_u64().unwrap() as f64
    );
    // Spread is reported against ceil(topic replicas / brokers) + 1 over the whole cluster; the
    // planner's limit is per AZ, so a small fixture can keep one (here 6 -> 1).
    assert!(
        r["topic_spread_violations_after"].as_u64().unwrap()
            < r["topic_spread_violations_before"].as_u64().unwrap(),
        "{r}"
    );
    // --balance both reaches the CLI: the same band, replica counts per AZ within one.
    let both = json(&[
        "reassign",
        "--from-file",
        "six-to-nine.json",
        "--balance",
        "both",
    ]);
    assert!(
        both["byte_balance"]["max_over_mean_after"]
            .as_f64()
            .unwrap()
            <= 1.05
    );
    let mut by_az: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for b in both["brokers"].as_array().unwrap() {
        by_az
            .entry(b["rack"].as_str().unwrap().to_string())
            .or_default()
            .push(b["replicas_after"].as_u64().unwrap());
    }
    for v in by_az.values() {
        assert!(
            v.iter().max().unwrap() - v.iter().min().unwrap() <= 1,
            "{v:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let caps = dir.path().join("caps.txt");
    // Disks of 1 GiB: every broker would be far above 80 %.
    std::fs::write(
        &caps,
        (1..=9).map(|b| format!("{b}=1GiB\n")).collect::<String>(),
    )
    .unwrap();
    let out = streamctl()
        .args([
            "reassign",
            "--from-file",
            "six-to-nine.json",
            "--balance",
            "bytes",
            "--broker-capacity",
            caps.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("above --max-disk-utilisation 0.8") && err.contains("hint:"),
        "{err}"
    );
    for (bad, want) in [
        ("1=lots\n", "broker 1"),
        ("42=1TiB\n", "broker 42 is not in the cluster"),
        ("x\n", "BROKER_ID=VALUE"),
    ] {
        std::fs::write(&caps, bad).unwrap();
        let out = streamctl()
            .args([
                "reassign",
                "--from-file",
                "six-to-nine.json",
                "--broker-capacity",
                caps.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains(want), "{bad}: {err}");
    }
    let out = streamctl()
        .args([
            "reassign",
            "--from-file",
            "six-to-nine.json",
            "--balance",
            "bytes",
            "--byte-tolerance",
            "1.5",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--byte-tolerance"));
}
