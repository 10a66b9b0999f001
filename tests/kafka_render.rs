//! Rendered configs boot real Apache Kafka nodes (jars from Maven Central via tests/kafka/kafka.sh),
//! and the other rendered files parse and carry the keys the seeds name.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Proc, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

fn kafka_libs() -> Option<PathBuf> {
    if std::env::var("STREAMCTL_SKIP_KAFKA").as_deref() == Ok("1") {
        eprintln!("SKIPPED: Kafka tests (STREAMCTL_SKIP_KAFKA=1)");
        return None;
    }
    let libs = std::env::var("STREAMCTL_KAFKA_LIBS")
        .expect("STREAMCTL_KAFKA_LIBS is not set: run the tests with `bash tests/run.sh` (it fetches Kafka), or set STREAMCTL_SKIP_KAFKA=1");
    Some(PathBuf::from(libs))
}

/// A base port with 16 free ports after it.
fn free_port_base() -> u16 {
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = l.local_addr().unwrap().port();
        drop(l);
        if base < 60_000 && (base..base + 16).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
    }
    panic!("no free port range");
}

/// Kills the node when the test ends, whatever happens.
struct Node(Child, PathBuf);
impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn java(libs: &Path) -> Proc {
    let mut c = Proc::new("java");
    c.arg("-Xms128m")
        .arg("-Xmx384m")
        .arg(format!(
            "-Dlog4j2.configurationFile={}/tests/kafka/log4j2.properties",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg("-cp")
        .arg(format!("{}/*", libs.display()));
    c
}

fn start(libs: &Path, props: &Path, log: PathBuf) -> Node {
    let out = std::fs::File::create(&log).unwrap();
    let child = java(libs)
        .arg("kafka.Kafka")
        .arg(props)
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap();
    Node(child, log)
}

fn wait_for(log: &Path, needle: &str, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(log) {
            f.read_to_string(&mut s).ok();
            if s.contains(needle) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

const SPEC: &str = "\
name: boot
region: us-east-1
availability_zones: [us-east-1a, us-east-1b, us-east-1c]
flavor: classic
workload:
  ingress_mbps: 10
  replication_factor: 3
  min_insync_replicas: 2
  retention: 1d
node_groups:
  - name: brokers
    role: broker
    instance_type: m6in.large
    count: 3
    data_volume: {size_gib: 100}
  - name: controllers
    role: controller
    instance_type: m6in.large
    count: 1
    data_volume: {size_gib: 20}
";

#[test]
fn a_rendered_controller_and_broker_boot_kafka() {
    let Some(libs) = kafka_libs() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("cluster.yaml");
    std::fs::write(&spec, SPEC).unwrap();
    let out = dir.path().join("out");
    let data = dir.path().join("data");
    let base = free_port_base();
    Command::cargo_bin("streamctl")
        .unwrap()
        .args([
            "render",
            "-f",
            spec.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
            "--host-template",
            "127.0.0.1",
            "--listen-host",
            "127.0.0.1",
            "--distinct-ports",
        ])
        .args([
            "--base-port",
            &base.to_string(),
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .assert()
        .success();
    // Each node needs its own data directory on one machine: point log.dirs per node.
    let controller = out.join("kafka/streamctl-boot-controllers-0/server.properties");
    let broker = out.join("kafka/streamctl-boot-brokers-0/server.properties");
    for (p, sub) in [(&controller, "controller"), (&broker, "broker-1")] {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(text.contains(&format!("log.dirs={}/kafka", data.display())));
        std::fs::write(
            p,
            text.replace(
                &format!("log.dirs={}/kafka", data.display()),
                &format!("log.dirs={}/{sub}", data.display()),
            ),
        )
        .unwrap();
    }
    let broker_text = std::fs::read_to_string(&broker).unwrap();
    assert!(broker_text.contains("broker.rack=us-east-1a"));
    // Format both log dirs with one cluster id, as kafka-storage.sh would.
    let uuid = java(&libs)
        .args(["kafka.tools.StorageTool", "random-uuid"])
        .output()
        .unwrap();
    let cluster_id = String::from_utf8(uuid.stdout)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .to_string();
    for p in [&controller, &broker] {
        let f = java(&libs)
            .args([
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                &cluster_id,
                "--config",
            ])
            .arg(p)
            .output()
            .unwrap();
        assert!(
            f.status.success(),
            "format {}: {}{}",
            p.display(),
            String::from_utf8_lossy(&f.stdout),
            String::from_utf8_lossy(&f.stderr)
        );
    }
    let c = start(&libs, &controller, dir.path().join("controller.log"));
    let b = start(&libs, &broker, dir.path().join("broker.log"));
    let started = wait_for(&b.1, "Kafka Server started", Duration::from_secs(120));
    let log = std::fs::read_to_string(&b.1).unwrap_or_default();
    assert!(
        started,
        "the broker did not start from the rendered config; controller log:\n{}\nbroker log:\n{}",
        std::fs::read_to_string(&c.1).unwrap_or_default(),
        log
    );
    // The broker runs with the rendered identity and settings.
    assert!(log.contains("broker.rack = us-east-1a"), "{log}");
    assert!(log.contains(
        "replica.selector.class = org.apache.kafka.common.replica.RackAwareReplicaSelector"
    ));
    assert!(log.contains("default.replication.factor = 3"), "{log}");
    // The client listener accepts connections.
    assert!(std::net::TcpStream::connect(("127.0.0.1", base)).is_ok());
    drop(b);
    drop(c);
}

fn render(spec: &str, extra: &[&str]) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("streamctl")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "render",
            "-f",
            spec,
            "--out-dir",
            dir.path().to_str().unwrap(),
            "-o",
            "json",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (dir, serde_json::from_slice(&out.stdout).unwrap())
}

/// Every rendered file of the three examples, as one snapshot per spec.
#[test]
fn rendered_files_snapshot() {
    for (name, spec) in [
        ("classic", "docs/examples/classic.yaml"),
        ("tiered", "docs/examples/tiered.yaml"),
        ("diskless", "docs/examples/diskless.yaml"),
    ] {
        let (dir, v) = render(spec, &[]);
        let mut bundle = String::new();
        for f in v["files"].as_array().unwrap() {
            let path = f["path"].as_str().unwrap();
            if path.starts_with("user-data/") {
                // Every user-data script is valid shell.
                let ok = std::process::Command::new("bash")
                    .arg("-n")
                    .arg(dir.path().join(path))
                    .status()
                    .unwrap();
                assert!(ok.success(), "{path} is not valid bash");
            }
            bundle.push_str(&format!("===== {path}\n"));
            bundle.push_str(&std::fs::read_to_string(dir.path().join(path)).unwrap());
        }
        insta::assert_snapshot!(format!("render_{name}"), bundle);
    }
}

#[test]
fn rerendering_is_byte_identical_and_reports_hashes() {
    let (dir, first) = render("docs/examples/tiered.yaml", &[]);
    let again = Command::cargo_bin("streamctl")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "render",
            "-f",
            "docs/examples/tiered.yaml",
            "--out-dir",
            dir.path().to_str().unwrap(),
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let second: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(first["files"], second["files"]);
    let f = &first["files"][0];
    assert_eq!(f["sha256"].as_str().unwrap().len(), 64);
    // The paths are sorted (deterministic order).
    let paths: Vec<&str> = first["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
}

#[test]
fn bufstream_values_parse_and_carry_the_seed_keys() {
    let (dir, v) = render(
        "docs/examples/diskless.yaml",
        &[
            "--azs",
            "us-east-1a,us-east-1b,us-east-1d",
            "--intake-delay-max",
            "90ms",
        ],
    );
    let text = std::fs::read_to_string(dir.path().join("bufstream/values.yaml")).unwrap();
    let y: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let d = &y["bufstream"]["deployment"];
    assert_eq!(d["replicaCount"].as_u64(), Some(6));
    assert_eq!(d["resources"]["requests"]["cpu"].as_u64(), Some(2));
    assert_eq!(
        d["resources"]["requests"]["memory"].as_str(),
        Some("8Gi"),
        "1 vCPU : 4 GiB"
    );
    assert_eq!(d["resources"]["limits"]["memory"].as_str(), Some("8Gi"));
    assert_eq!(d["autoscaling"]["enabled"].as_bool(), Some(true));
    assert_eq!(d["autoscaling"]["minReplicas"].as_u64(), Some(6));
    assert_eq!(d["autoscaling"]["maxReplicas"].as_u64(), Some(18));
    assert_eq!(d["autoscaling"]["targetCPU"].as_str(), Some("50"));
    assert_eq!(
        y["configOverrides"]["intake"]["delay_max"].as_str(),
        Some("90ms")
    );
    assert_eq!(y["volumePermissions"]["enabled"].as_bool(), Some(true));
    assert_eq!(
        y["storage"]["s3"]["bucket"].as_str(),
        Some("events-diskless-data")
    );
    assert_eq!(
        y["metadata"]["etcd"]["addresses"]
            .as_sequence()
            .unwrap()
            .len(),
        3
    );
    // etcd: periodic compaction every 30 s; the zone in the client id and client.rack per AZ.
    let etcd: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(dir.path().join("etcd/streamctl-events-diskless-etcd-0.yml"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(etcd["auto-compaction-mode"].as_str(), Some("periodic"));
    assert_eq!(etcd["auto-compaction-retention"].as_str(), Some("30s"));
    let consumer =
        std::fs::read_to_string(dir.path().join("clients/consumer-us-east-1d.properties")).unwrap();
    assert!(consumer.contains("client.rack=us-east-1d"));
    assert!(consumer.contains("client.id=events-diskless-consumer-zone=us-east-1d"));
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn warnings_and_confluent_variant() {
    // A too-short intake delay for the bucket: a warning with the reason.
    let (_, v) = render(
        "docs/examples/diskless.yaml",
        &["--intake-delay-max", "1ms"],
    );
    let w = v["warnings"].as_array().unwrap();
    assert!(
        w.iter().any(|x| x.as_str().unwrap().contains("PUT/s")),
        "{w:?}"
    );
    // Confluent distribution: the CONFLUENT_TIER_* environment instead of the KIP-405 plugin.
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("c.yaml");
    std::fs::write(
        &spec,
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/examples/tiered.yaml"
        ))
        .unwrap()
        .replace("distribution: apache", "distribution: confluent"),
    )
    .unwrap();
    let (out, _) = render(spec.to_str().unwrap(), &[]);
    let env = std::fs::read_to_string(out.path().join("kafka/confluent-tier.env")).unwrap();
    for key in [
        "CONFLUENT_TIER_FEATURE=true",
        "CONFLUENT_TIER_ENABLE=true",
        "CONFLUENT_TIER_BACKEND=S3",
        "CONFLUENT_TIER_S3_BUCKET=clicks-tiered-segments",
        "KAFKA_LOG_SEGMENT_BYTES=104857600",
    ] {
        assert!(env.contains(key), "{key}");
    }
    let broker = std::fs::read_to_string(
        out.path()
            .join("kafka/streamctl-clicks-tiered-brokers-0/server.properties"),
    )
    .unwrap();
    assert!(!broker.contains("remote.log.storage.manager.class.name"));
    // Data-losing settings are errors before anything is written.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/examples/tiered.yaml"
        ))
        .unwrap()
        .replace(
            "  abort_incomplete_multipart_days: 7\n",
            "  abort_incomplete_multipart_days: 7\n  expiration_days: 3\n",
        ),
    )
    .unwrap();
    let target = dir.path().join("never");
    Command::cargo_bin("streamctl")
        .unwrap()
        .args([
            "render",
            "-f",
            bad.to_str().unwrap(),
            "--out-dir",
            target.to_str().unwrap(),
        ])
        .assert()
        .code(2);
    assert!(!target.exists());
}
