//! `streamctl assess` against the local cluster (tests/kafka/cluster.sh): a producer writes at a
//! known, paced rate through the sample window; the measured rate, a quiet topic's bytes (checked
//! against Kafka's own `kafka-log-dirs` tool) and the written successor specs (checked by
//! `streamctl validate`) are compared with what is independently known. Flags are checked before
//! any connection.

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use kafka::{unique, Live, Placement};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

/// Each partition's size on its largest replica, per Kafka's own `kafka-log-dirs`.
fn log_dir_bytes(k: &Live, topic: &str) -> u64 {
    let (ok, out) = k.tool(
        "org.apache.kafka.tools.LogDirsCommand",
        &[
            "--bootstrap-server",
            k.first(),
            "--describe",
            "--topic-list",
            topic,
        ],
    );
    assert!(ok, "{out}");
    let json: Value = out
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .unwrap_or_else(|| panic!("no JSON in {out}"));
    let mut largest: std::collections::BTreeMap<String, u64> = Default::default();
    for b in json["brokers"].as_array().unwrap() {
        for d in b["logDirs"].as_array().unwrap() {
            for p in d["partitions"].as_array().unwrap() {
                let e = largest
                    .entry(p["partition"].as_str().unwrap().to_string())
                    .or_default();
                *e = (*e).max(p["size"].as_u64().unwrap());
            }
        }
    }
    largest.values().sum()
}

fn paced_producer(
    bootstrap: String,
    topic: String,
    per_sec: usize,
    size: usize,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("acks", "all")
            .set("linger.ms", "20")
            .create()
            .unwrap();
        let value = vec![7u8; size];
        let t0 = Instant::now();
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            // Catch up to the schedule: the rate over any window of seconds is `per_sec`.
            let due = (t0.elapsed().as_secs_f64() * per_sec as f64) as usize;
            while n < due {
                match p.send(BaseRecord::<(), _>::to(&topic).payload(&value)) {
                    Ok(()) => n += 1,
                    Err(_) => {
                        p.poll(Duration::from_millis(20));
                    }
                }
            }
            sent.store(n, Ordering::Relaxed);
            p.poll(Duration::from_millis(10));
        }
        p.flush(Duration::from_secs(30)).unwrap();
    })
}

#[test]
fn assess_measures_a_known_rate_and_the_bytes_held_and_writes_specs_that_validate() {
    let Some(k) = Live::from_env("STREAMCTL_KAFKA_BOOTSTRAP") else {
        return;
    };
    let (busy, still) = (unique("assess-busy"), unique("assess-still"));
    k.create(&busy, Placement::Spread(3), &["retention.ms=86400000"]);
    k.create(&still, Placement::Spread(2), &["retention.ms=86400000"]);
    k.produce(&still, 3_000, 1_000);
    let (per_sec, size) = (200usize, 2_000usize);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let writer = paced_producer(
        k.first().to_string(),
        busy.clone(),
        per_sec,
        size,
        stop.clone(),
        sent.clone(),
    );
    std::thread::sleep(Duration::from_secs(3));
    let dir = tempfile::tempdir().unwrap();
    let out = k
        .streamctl()
        .args([
            "--output",
            "json",
            "assess",
            "--bootstrap-server",
            k.first(),
        ])
        .args([
            "--topics",
            &format!("^({busy}|{still})$"),
            "--sample",
            "20s",
        ])
        .args(["--instance-type", "m6in.large", "--name", "shop"])
        .arg("--write-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let r = common::ok_json(&out);
    let topic = |name: &str| {
        r["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["topic"] == name)
            .unwrap_or_else(|| panic!("{name} not in {r}"))
            .clone()
    };
    // Records: the producer's paced rate, within 10 %.
    let b = topic(&busy);
    let rps = b["records_per_sec"].as_f64().unwrap();
    // Bytes: that rate times each record's bytes on disk as Kafka's own tool counts them.
    let held = log_dir_bytes(&k, &busy) as f64;
    let per_record = held / sent.load(Ordering::Relaxed).max(1) as f64;
    let bps = b["bytes_per_sec"].as_f64().unwrap();
    eprintln!(
        "assess: {rps:.1} records/s (paced {per_sec}), {bps:.0} bytes/s (expected {:.0}: {per_record:.1} bytes per record on disk), window {} s",
        per_sec as f64 * per_record,
        r["window_secs"]
    );
    assert!(
        (rps / per_sec as f64 - 1.0).abs() <= 0.10,
        "{rps} records/s measured, {per_sec} produced"
    );
    assert!(
        (bps / (per_sec as f64 * per_record) - 1.0).abs() <= 0.10,
        "{bps} bytes/s measured"
    );
    assert_eq!(b["measured_by"], "log-size");
    // The quiet topic's bytes: what the brokers hold, within 5 % (nothing is written to it).
    let s = topic(&still);
    let want = log_dir_bytes(&k, &still) as f64;
    let got = s["bytes"].as_f64().unwrap();
    assert!(
        (got / want - 1.0).abs() <= 0.05,
        "{still}: {got} bytes reported, the brokers hold {want}"
    );
    assert_eq!(s["bytes_per_sec"].as_f64(), Some(0.0));
    assert_eq!(s["retention_secs"].as_u64(), Some(86_400));
    // Sized from the measurement: the workload is the measured ingress.
    let w = &r["workload"];
    assert!(
        (w["ingress_mbps"].as_f64().unwrap() * 1_048_576.0
            / r["ingress_bytes_per_sec"].as_f64().unwrap()
            - 1.0)
            .abs()
            < 1e-9
    );
    assert_eq!(w["azs"], 3);
    assert_eq!(r["current"]["brokers"], 6);
    assert!(r["current"]["recommended_mbps"].as_f64().unwrap() > 0.0);
    assert_eq!(r["az_tolerance"]["ok"], true, "{}", r["az_tolerance"]);
    // Every successor's spec is one `streamctl validate` accepts; the scripts carry the flags.
    for model in ["classic", "tiered", "diskless"] {
        let spec = dir.path().join(format!("cluster-{model}.yaml"));
        Command::cargo_bin("streamctl")
            .unwrap()
            .args(["validate", "-f"])
            .arg(&spec)
            .assert()
            .success();
        let text = std::fs::read_to_string(&spec).unwrap();
        assert!(text.contains(&format!("name: shop-{model}")), "{text}");
    }
    let tiered = std::fs::read_to_string(dir.path().join("migrate-tiered.sh")).unwrap();
    assert!(tiered.contains("streamctl migrate tiered"), "{tiered}");
    assert!(
        tiered.contains(&busy) && tiered.contains("--tier-throttle"),
        "{tiered}"
    );
    let diskless = std::fs::read_to_string(dir.path().join("migrate-diskless.sh")).unwrap();
    assert!(diskless.contains("--throttle"), "{diskless}");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("assessment.json")).unwrap())
            .unwrap();
    assert_eq!(saved["topics"], r["topics"]);
}

#[test]
fn flags_are_checked_before_any_connection() {
    for (args, what) in [
        (vec!["--sample", "0s"], "--sample must be longer than zero"),
        (vec!["--sample", "soon"], "--sample"),
        (vec!["--topics", "("], "--topics"),
        (vec!["--instance-type", "m9z.huge"], "not in the catalog"),
        (vec!["--headroom", "1.5"], "--headroom"),
    ] {
        let out = Command::cargo_bin("streamctl")
            .unwrap()
            // Nothing listens there: a connection attempt would fail differently.
            .args(["assess", "--bootstrap-server", "127.0.0.1:1"])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(what), "{args:?}: {err}");
    }
}
