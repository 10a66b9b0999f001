//! The binary as users and scripts run it: help text, spec errors, exit codes, JSON contracts.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

fn streamctl() -> Command {
    let mut c = Command::cargo_bin("streamctl").unwrap();
    c.env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_REGION")
        .env_remove("STREAMCTL_CONNECT_URL")
        .env_remove("STREAMCTL_CONNECT_CA_FILE")
        .env_remove("STREAMCTL_CONNECT_CREDENTIALS_FILE")
        .env("NO_COLOR", "1");
    c
}

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn help(args: &[&str]) -> String {
    let out = streamctl().args(args).arg("--help").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_snapshots() {
    insta::assert_snapshot!("help_top", help(&[]));
    insta::assert_snapshot!("help_validate", help(&["validate"]));
    insta::assert_snapshot!("help_size_throughput", help(&["size", "throughput"]));
    insta::assert_snapshot!("help_size_recommend", help(&["size", "recommend"]));
    insta::assert_snapshot!("help_reassign", help(&["reassign"]));
    insta::assert_snapshot!("help_check_az_tolerance", help(&["check", "az-tolerance"]));
    insta::assert_snapshot!("help_migrate_tiered", help(&["migrate", "tiered"]));
}

/// A journal another process works on is refused, naming that process, before any connection
/// (the bootstrap servers are unreachable); `--status` still reads it.
#[test]
fn migrate_diskless_refuses_a_journal_in_use_and_names_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.json");
    let held = streamctl::run::store::JournalLock::acquire(&journal).unwrap();
    let out = streamctl()
        .args(["migrate", "diskless", "--source-bootstrap", "127.0.0.1:1"])
        .args(["--target-bootstrap", "127.0.0.1:1", "--topics", "^t$"])
        .args(["--journal", journal.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "in use by another streamctl process (PID {})",
            std::process::id()
        )),
        "{err}"
    );
    assert!(err.contains("--status"), "{err}");
    drop(held);
    // Released: the next command gets past the lock (to the journal check after it).
    let out = streamctl()
        .args(["migrate", "diskless", "--source-bootstrap", "127.0.0.1:1"])
        .args(["--target-bootstrap", "127.0.0.1:1", "--verify"])
        .args(["--journal", journal.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing was copied yet"), "{err}");
}

/// `migrate diskless --engine connect` rejects bad flags before any connection (the bootstrap
/// servers are unreachable: reaching them would fail with exit 1 instead).
#[test]
fn migrate_diskless_connect_bad_input_is_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.json");
    let j = journal.to_str().unwrap();
    let base = [
        "migrate",
        "diskless",
        "--source-bootstrap",
        "127.0.0.1:1",
        "--target-bootstrap",
        "127.0.0.1:1",
        "--topics",
        "^t$",
        "--journal",
        j,
    ];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--engine", "connect"],
            "--engine connect needs --connect-url",
        ),
        (
            &["--engine", "connect", "--connect-url", "ftp://w:8083"],
            "is not http or https",
        ),
        (
            &[
                "--engine",
                "connect",
                "--connect-url",
                "https://u:secret@w:8443",
            ],
            "credentials in the URL",
        ),
        (
            &["--engine", "connect", "--connect-url", "http://w:port"],
            "bad port",
        ),
        (
            &[
                "--engine",
                "connect",
                "--connect-url",
                "http://w:8083",
                "--connector",
                "a/b",
            ],
            "--connector",
        ),
        (
            &["--cancel"],
            "--cancel and --emit-config apply to --engine connect",
        ),
        (
            &["--emit-config"],
            "--cancel and --emit-config apply to --engine connect",
        ),
    ];
    for (extra, want) in cases {
        let out = streamctl()
            .env_remove("STREAMCTL_CONNECT_URL")
            .args(base)
            .args(*extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains(want) && err.contains("hint:"),
            "{extra:?}: {err}"
        );
    }
    assert!(!journal.exists(), "nothing was written");
}

/// `migrate tiered` rejects bad flags, naming them, before any connection (the bootstrap server
/// is unreachable: reaching it would fail with exit 1 instead).
#[test]
fn migrate_tiered_bad_input_is_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j.json");
    let j = journal.to_str().unwrap();
    let base = [
        "migrate",
        "tiered",
        "--bootstrap-server",
        "127.0.0.1:1",
        "--topics",
        "^t$",
        "--journal",
        j,
    ];
    let cases: &[(&[&str], &str)] = &[
        (&["--local-retention", "4x"], "--local-retention"),
        (
            &["--local-retention", "0s"],
            "--local-retention must be above zero",
        ),
        (
            &["--local-retention-bytes", "lots"],
            "--local-retention-bytes",
        ),
        (
            &["--local-retention", "4h", "--tier-throttle", "0"],
            "--tier-throttle must be above zero",
        ),
        (
            &["--local-retention", "4h", "--wave-topics", "0"],
            "--wave-topics must be at least 1",
        ),
        (
            &["--local-retention", "4h", "--wave-bytes", "1XB"],
            "--wave-bytes",
        ),
        (
            &["--local-retention", "4h", "--set-segment-bytes", "0"],
            "--set-segment-bytes must be above zero",
        ),
        (
            &["--local-retention", "4h", "--stall-timeout", "soon"],
            "--stall-timeout",
        ),
    ];
    for (extra, want) in cases {
        let out = streamctl().args(base).args(*extra).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.contains(want) && err.contains("hint:"),
            "{extra:?}: {err}"
        );
    }
    let out = streamctl()
        .args([
            "migrate",
            "tiered",
            "--bootstrap-server",
            "127.0.0.1:1",
            "--topics",
            "(",
            "--local-retention",
            "4h",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--topics"));
    // clap: a retention is required, --delete-remote-data only with --rollback.
    for extra in [
        &[][..],
        &["--local-retention", "4h", "--delete-remote-data"][..],
    ] {
        let out = streamctl().args(base).args(extra).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
    }
    // --status reads the journal only.
    let out = streamctl()
        .args(["migrate", "tiered", "--status", "--journal", j])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no migration journal"));
}

/// Run `validate` on a bad fixture from inside tests/fixtures so paths in messages are stable.
/// `streamctl validate -f FILE --output json`.
fn validate_json_file(path: &std::path::Path) -> std::process::Output {
    streamctl()
        .args(["validate", "-f"])
        .arg(path)
        .args(["--output", "json"])
        .output()
        .unwrap()
}

fn validate_bad(name: &str) -> (i32, String, String) {
    let out = streamctl()
        .current_dir(root().join("tests/fixtures"))
        .args(["validate", "-f", &format!("bad/{name}.yaml")])
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn bad_yaml_errors_name_file_line_column_key_and_hint() {
    for name in [
        "unknown_key",
        "syntax_error",
        "wrong_type",
        "bad_flavor",
        "impossible",
        "gp3_ratio",
    ] {
        let (code, stdout, stderr) = validate_bad(name);
        assert_eq!(code, 2, "{name}: bad input must exit 2");
        assert!(stdout.is_empty(), "{name}: nothing on stdout in table mode");
        assert!(
            stderr.contains(&format!("bad/{name}.yaml:")),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("hint:"), "{name}: {stderr}");
        insta::assert_snapshot!(format!("bad_yaml_{name}"), stderr);
    }
}

#[test]
fn unknown_key_points_at_the_key() {
    let (_, _, stderr) = validate_bad("unknown_key");
    assert!(stderr.starts_with("bad/unknown_key.yaml:13:"), "{stderr}");
    assert!(stderr.contains("node_groups[0].data_volume"), "{stderr}");
    assert!(stderr.contains("throughput_mbps"), "{stderr}");
}

#[test]
fn validate_json_lists_errors_with_locations() {
    let out = streamctl()
        .current_dir(root().join("tests/fixtures"))
        .args(["validate", "-f", "bad/impossible.yaml", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let paths: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for p in [
        "availability_zones",
        "workload.replication_factor",
        "workload.local_retention",
        "node_groups[0].data_volume.iops",
        "node_groups[0].data_volume.throughput_mibps",
        "node_groups[1].count",
        "object_store.bucket",
        "object_store.expiration_days",
    ] {
        assert!(paths.contains(&p), "missing {p} in {paths:?}");
    }
    for e in v["errors"].as_array().unwrap() {
        assert!(e["location"]["line"].as_u64().unwrap() >= 1, "{e}");
        assert!(
            e["hint"].as_str().is_some_and(|h| !h.is_empty()),
            "every error carries a hint: {e}"
        );
    }
}

#[test]
fn example_specs_are_valid() {
    for flavor in ["classic", "tiered", "diskless"] {
        let out = streamctl()
            .args(["validate", "-f"])
            .arg(root().join(format!("docs/examples/{flavor}.yaml")))
            .args(["-o", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flavor}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["valid"], true);
        assert_eq!(v["summary"]["flavor"], flavor);
        assert_eq!(v["errors"].as_array().unwrap().len(), 0);
    }
}

#[test]
fn missing_file_is_bad_input_with_hint() {
    streamctl()
        .args(["validate", "-f", "/nonexistent/cluster.yaml"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("cannot read /nonexistent/cluster.yaml")
                .and(predicate::str::contains("hint:")),
        );
}

#[test]
fn usage_errors_exit_2() {
    // (arguments, what stderr must say)
    let cases: [(&[&str], &str); 6] = [
        (&["size", "throughput", "--brokers", "3"], "--instance-type"),
        (&["frobnicate"], "frobnicate"),
        (
            &["size", "throughput", "--instance-type", "m5.huge"],
            "m5.large",
        ),
        (
            &[
                "size",
                "throughput",
                "--instance-type",
                "m5.large",
                "--brokers",
                "2",
            ],
            "replication factor 3 is larger than the broker count 2",
        ),
        (
            &[
                "size",
                "recommend",
                "--ingress-mbps",
                "10",
                "--family",
                "c5",
            ],
            "unknown instance family `c5`",
        ),
        (
            &[
                "size",
                "recommend",
                "--ingress-mbps",
                "10",
                "--retention",
                "7",
            ],
            "no unit",
        ),
    ];
    for (args, needle) in cases {
        streamctl()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(needle));
    }
}

fn json(args: &[&str]) -> Value {
    let mut c = streamctl();
    c.args(args);
    common::json_of(c)
}

/// Seed 002's example: 20 MB/s, RF 3, 7 days. Classic needs 6 m5.large and ~34.6 TiB of local
/// storage; tiered with 4 h local retention needs 3 m5.large, ~0.8 TiB local and ~12 TB remote.
#[test]
fn recommend_reproduces_seed_002_example() {
    let v = json(&[
        "size",
        "recommend",
        "--ingress-mbps",
        "20",
        "--consumer-groups",
        "1",
        "--replication-factor",
        "3",
        "--retention",
        "7d",
        "--local-retention",
        "4h",
        "--family",
        "m5",
    ]);
    let layouts = v["layouts"].as_array().unwrap();
    let by_model = |m: &str| layouts.iter().find(|l| l["model"] == m).unwrap().clone();
    let classic = by_model("classic");
    let tiered = by_model("tiered");
    assert_eq!(classic["instance_type"], "m5.large");
    assert_eq!(classic["brokers"], 6);
    assert_eq!(
        (classic["local_storage_tib"].as_f64().unwrap() * 10.0).round(),
        346.0
    );
    assert_eq!(tiered["instance_type"], "m5.large");
    assert_eq!(tiered["brokers"], 3);
    assert_eq!(
        (tiered["local_storage_tib"].as_f64().unwrap() * 10.0).round(),
        8.0
    );
    assert_eq!(tiered["remote_storage_tib"].as_f64().unwrap().round(), 12.0);
    let total = |l: &Value| l["monthly_cost"]["total_usd"].as_f64().unwrap();
    assert!(total(&tiered) < total(&classic));
    assert!(
        classic["local_storage_tib"].as_f64().unwrap()
            > 40.0 * tiered["local_storage_tib"].as_f64().unwrap()
    );
    // Brokers always a multiple of the AZ count, every layout at or under the headroom target.
    for l in layouts {
        assert_eq!(l["brokers"].as_u64().unwrap() % 3, 0);
        assert!(l["utilization"].as_f64().unwrap() <= 0.8 + 1e-9);
        assert!(l["recommended_mbps"].as_f64().unwrap() >= 20.0);
    }
}

#[test]
fn recommend_az_failure_tolerant_survives_losing_an_az() {
    let v = json(&[
        "size",
        "recommend",
        "--ingress-mbps",
        "400",
        "--consumer-groups",
        "2",
        "--retention",
        "1d",
        "--az-failure-tolerant",
        "--top",
        "3",
    ]);
    let layouts = v["layouts"].as_array().unwrap();
    assert!(!layouts.is_empty());
    for l in layouts {
        let after = &l["after_az_loss"];
        assert_eq!(
            after["brokers_left"].as_u64().unwrap(),
            l["brokers"].as_u64().unwrap() * 2 / 3
        );
        assert!(after["recommended_mbps"].as_f64().unwrap() >= 400.0, "{l}");
    }
}

#[test]
fn recommend_reads_the_workload_from_a_spec() {
    let spec = root().join("docs/examples/tiered.yaml");
    let v = json(&["size", "recommend", "-f", spec.to_str().unwrap()]);
    assert_eq!(v["workload"]["ingress_mbps"].as_f64().unwrap(), 100.0);
    assert_eq!(v["workload"]["consumers"]["remote"], 1);
    assert_eq!(v["workload"]["local_retention_secs"], 4 * 3600);
}

#[test]
fn yaml_output_parses() {
    let out = streamctl()
        .args([
            "size",
            "throughput",
            "--instance-type",
            "m6in.large",
            "--output",
            "yaml",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_slice(&out.stdout).unwrap();
    assert!(v["sustained_limit_mbps"].as_f64().unwrap() > 0.0);
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        streamctl()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("streamctl"));
    }
}

#[test]
fn catalog_lists_families() {
    let v = json(&["size", "catalog", "--family", "m6in"]);
    let types = v["instance_types"].as_array().unwrap();
    assert!(types.iter().all(|t| t["family"] == "m6in"));
    assert_eq!(types[0]["name"], "m6in.large");
    assert_eq!(v["prices_region"], "us-east-1");
}

#[test]
fn a_bad_kafka_artifact_and_egress_are_located_errors() {
    let text = std::fs::read_to_string(root().join("docs/examples/classic.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yaml");
    std::fs::write(
        &p,
        format!(
            "{}\nkafka_artifact:\n  url: ftp://x/kafka.tgz\n  sha256: ABC\n",
            text.replace(
                "  client_cidrs:",
                "  egress: nat-per-region\n  client_cidrs:"
            )
        ),
    )
    .unwrap();
    let out = validate_json_file(&p);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let all = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
    // A wrong enum value is a parse error at its key; fix it and the artifact errors show.
    assert!(
        all.contains("egress") || all.contains("nat-per-region"),
        "{all}"
    );
    std::fs::write(
        &p,
        format!("{text}\nkafka_artifact:\n  url: ftp://x/kafka.tgz\n  sha256: ABC\n"),
    )
    .unwrap();
    let out = validate_json_file(&p);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"kafka_artifact.url"), "{v}");
    assert!(paths.contains(&"kafka_artifact.sha256"), "{v}");
    for e in v["errors"].as_array().unwrap() {
        assert!(e["location"]["line"].as_u64().unwrap() >= 1, "{e}");
    }
}
