//! `migrate tiered` against the real tiered test cluster (tests/kafka/cluster.sh with
//! STREAMCTL_KAFKA_TIERED=1: KIP-405 on every broker with Kafka's LocalTieredStorage in a shared
//! directory), with data produced and read back through rdkafka, the remote store's files
//! watched, configs compared with DescribeConfigs before and after.

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

use kafka::{one_replica_per_az, tiered_brokers_up_to, unique, Live, Placement};
use serde_json::Value;
use streamctl::kafka::{admin::KafkaAdmin, offset_spec, ClusterAdmin};

const MIB: u64 = 1 << 20;
const COPY_QUOTA: &str = "remote.log.manager.copy.max.bytes.per.second";

fn tiered() -> Option<Live> {
    Live::from_env("STREAMCTL_TIERED_BOOTSTRAP")
}

fn remote_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("STREAMCTL_TIERED_REMOTE_DIR").expect("STREAMCTL_TIERED_REMOTE_DIR"),
    )
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn admin(bootstrap: &str) -> (tokio::runtime::Runtime, KafkaAdmin) {
    let rt = rt();
    let a = rt
        .block_on(KafkaAdmin::connect(bootstrap, &Default::default()))
        .unwrap();
    (rt, a)
}

/// A topic of 3 partitions with 1 MiB segments (and more configs), replicas as Kafka places
/// them or as `assignment` says.
fn create(k: &Live, topic: &str, assignment: Option<&str>, configs: &[&str]) {
    let placement = assignment.map_or(Placement::Spread(3), Placement::Explicit);
    k.create(
        topic,
        placement,
        &[&["segment.bytes=1048576"], configs].concat(),
    );
}

/// Dynamic configs of every live broker and of these topics (what streamctl may change).
fn dynamic_configs(
    bootstrap: &str,
    topics: &[String],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let (rt, mut a) = admin(bootstrap);
    rt.block_on(async {
        let mut out = BTreeMap::new();
        let c = a.snapshot().await.unwrap();
        for b in c.brokers.iter().filter(|b| !b.offline) {
            out.insert(
                format!("broker {}", b.id),
                a.dynamic_configs(Some(b.id), None).await.unwrap(),
            );
        }
        for t in topics {
            out.insert(
                format!("topic {t}"),
                a.dynamic_configs(None, Some(t)).await.unwrap(),
            );
        }
        out
    })
}

/// Bytes of remote log segments by partition directory name prefix (`topic-partition`).
fn remote_bytes(topic: &str) -> BTreeMap<i32, u64> {
    let mut out = BTreeMap::new();
    let root = remote_dir().join("kafka-tiered-storage");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for d in dirs.flatten() {
        let name = d.file_name().to_string_lossy().to_string();
        // `<topic>-<partition>-<topic id>`; the topic id is 22 characters.
        let Some(rest) = name.strip_prefix(&format!("{topic}-")) else {
            continue;
        };
        let Some((p, id)) = rest.split_once('-') else {
            continue;
        };
        let (Ok(p), 22) = (p.parse::<i32>(), id.len()) else {
            continue;
        };
        let bytes: u64 = std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().ends_with(".log"))
            .map(|f| f.metadata().unwrap().len())
            .sum();
        *out.entry(p).or_default() += bytes;
    }
    out
}

/// `migrate tiered` against `k`, polling every 200 ms.
fn migrate_args(k: &Live) -> [&str; 6] {
    [
        "migrate",
        "tiered",
        "--bootstrap-server",
        &k.bootstrap,
        "--poll-ms",
        "200",
    ]
}

fn migrate(k: &Live, args: &[&str]) -> assert_cmd::Command {
    let mut c = k.streamctl();
    c.args(migrate_args(k)).args(args);
    c
}

/// Tier the topics `filter` matches with 1 MiB of local retention, fast (20 MiB/s), to the end.
fn tier_quickly(k: &Live, filter: &str, journal: &str) {
    let out = migrate(
        k,
        &[
            "--topics",
            filter,
            "--journal",
            journal,
            "--local-retention-bytes",
            "1MiB",
            "--tier-throttle",
            "20MiB/s",
            "--yes",
            "-o",
            "json",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(common::ok_json(&out)["phase"], "complete");
}

/// A run refused before any change (exit 2): what it printed on stdout.
fn refused(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn journal_of(dir: &Path) -> (PathBuf, String) {
    let p = dir.join("j.json");
    let s = p.to_str().unwrap().to_string();
    (p, s)
}

/// Per partition: records not yet in the remote store, and local bytes on the leader.
fn tier_state(bootstrap: &str, topic: &str) -> Vec<(i64, u64)> {
    let (rt, mut a) = admin(bootstrap);
    rt.block_on(async {
        let st = a.partitions(&[topic.to_string()]).await.unwrap();
        let parts: Vec<(String, i32)> = st.replicas.keys().cloned().collect();
        let tiered = a
            .list_offsets(&parts, offset_spec::LATEST_TIERED)
            .await
            .unwrap();
        let end = a.list_offsets(&parts, offset_spec::LATEST).await.unwrap();
        let mut out = Vec::new();
        for k in &parts {
            let leader = st.leaders[k];
            let local = a
                .replica_bytes(leader, std::slice::from_ref(k))
                .await
                .unwrap()[k];
            out.push((end[k] - (tiered[k] + 1), local));
        }
        out
    })
}

#[test]
fn classic_topics_are_tiered_in_waves_within_the_tier_throttle_and_every_record_stays_readable() {
    let Some(k) = tiered() else { return };
    let base = unique("tw");
    let (small, big, other) = (
        format!("{base}-a"),
        format!("{base}-b"),
        format!("{base}x-c"),
    );
    for t in [&small, &big, &other] {
        create(&k, t, None, &[]);
    }
    // 1 KB records: about 1,000 per 1 MiB segment.
    let sum_small = k.produce(&small, 6_000, 1000);
    let sum_big = k.produce(&big, 30_000, 1000);
    k.produce(&other, 100, 1000);
    let topics = vec![small.clone(), big.clone(), other.clone()];
    let before = dynamic_configs(&k.bootstrap, &topics);
    let dir = tempfile::tempdir().unwrap();
    let (_, journal) = journal_of(dir.path());
    // Watch the remote store while the migration runs: (seconds, remote bytes of the big topic by partition).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (stop, big) = (stop.clone(), big.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push((start.elapsed().as_secs_f64(), remote_bytes(&big)));
                std::thread::sleep(Duration::from_millis(100));
            }
            samples
        })
    };
    let filter = format!("^{base}-");
    let out = migrate(
        &k,
        &[
            "--topics",
            &filter,
            "--local-retention-bytes",
            "1MiB",
            "--tier-throttle",
            "1MiB/s",
            "--wave-topics",
            "1",
            "--journal",
            &journal,
            "--yes",
            "-o",
            "json",
        ],
    )
    .output()
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = watcher.join().unwrap();
    let r = common::ok_json(&out);
    assert_eq!(r["phase"], "complete");
    let waves = r["waves"].as_array().unwrap();
    assert_eq!(waves.len(), 2, "{r:#}");
    assert_eq!(waves[0]["topics"][0], small.as_str(), "smallest first");
    assert_eq!(waves[1]["topics"][0], big.as_str());
    assert!(waves.iter().all(|w| w["state"] == "done"));
    assert_eq!(r["quotas_outstanding"], 0);
    assert_eq!(r["configs_verified"], true);
    // Per broker: local bytes fell where the topics live (1 MiB retention per partition), grew
    // nowhere, and ended where the plan said, within a segment per partition.
    let (mut before_all, mut after_all) = (0, 0);
    for b in r["brokers"].as_array().unwrap() {
        let (before, after) = (
            b["local_bytes_before"].as_u64().unwrap(),
            b["local_bytes_after"].as_u64().unwrap(),
        );
        let planned = b["predicted_local_bytes_after"].as_u64().unwrap();
        assert!(after <= before + MIB && after <= planned + 6 * MIB, "{b}");
        (before_all, after_all) = (before_all + before, after_all + after);
    }
    assert!(
        after_all + 20 * MIB < before_all,
        "local bytes {before_all} -> {after_all}"
    );
    // Segments are in the remote store, tier lag is within a segment, local bytes at the target.
    for t in [&small, &big] {
        let remote = remote_bytes(t);
        assert_eq!(remote.len(), 3, "{t}: remote partitions {remote:?}");
        // At least one closed segment each (segments roll a little under segment.bytes).
        assert!(
            remote.values().all(|&b| b >= MIB * 9 / 10),
            "{t}: {remote:?}"
        );
        for (lag, local) in tier_state(&k.bootstrap, t) {
            assert!(lag <= 1_500, "{t}: {lag} records not tiered");
            assert!(local <= 2 * MIB, "{t}: {local} bytes still local");
        }
    }
    assert!(
        remote_bytes(&other).is_empty(),
        "an unselected topic was tiered"
    );

    // The remote store grew at the tier throttle: per partition (each has its own leader
    // broker here), from its first uploaded segment to its last.
    let throttle = MIB as f64;
    for p in 0..3 {
        let pts: Vec<(f64, u64)> = samples
            .iter()
            .map(|(t, m)| (*t, m.get(&p).copied().unwrap_or(0)))
            .collect();
        let first = pts
            .iter()
            .find(|(_, b)| *b > 0)
            .copied()
            .expect("uploads seen");
        let last = *pts
            .iter()
            .find(|(_, b)| *b == pts.last().unwrap().1)
            .unwrap();
        let rate = (last.1 - first.1) as f64 / (last.0 - first.0).max(0.1);
        println!("partition {p}: {} bytes in {:.1} s after the first segment: {:.0} B/s = {:.2} x the tier throttle", last.1 - first.1, last.0 - first.0, rate, rate / throttle);
        assert!(
            rate <= 1.10 * throttle,
            "partition {p} uploaded at {rate:.0} B/s"
        );
        assert!(
            last.1 - first.1 >= 5 * MIB,
            "too little uploaded to measure a rate"
        );
    }

    // Every record readable from offset 0 (through the remote store).
    assert_eq!(k.consume_all(&small, 6_000), (6_000, sum_small));
    assert_eq!(k.consume_all(&big, 30_000), (30_000, sum_big));

    // Configs: exactly the planned ones on the migrated topics; nothing else changed.
    let after = dynamic_configs(&k.bootstrap, &topics);
    let mut expected = before.clone();
    for t in [&small, &big] {
        let e = expected.get_mut(&format!("topic {t}")).unwrap();
        e.insert("remote.storage.enable".into(), "true".into());
        e.insert("local.retention.bytes".into(), MIB.to_string());
    }
    assert_eq!(after, expected);
}

#[test]
fn kill_9_mid_wave_then_the_same_command_resumes_without_redoing_a_wave_or_leaving_a_quota() {
    let Some(k) = tiered() else { return };
    let base = unique("tk");
    let (first, second) = (format!("{base}-a"), format!("{base}-b"));
    create(&k, &first, None, &[]);
    create(&k, &second, None, &[]);
    let sum_first = k.produce(&first, 3_000, 1000);
    let sum_second = k.produce(&second, 24_000, 1000);
    let dir = tempfile::tempdir().unwrap();
    let (jpath, journal) = journal_of(dir.path());
    let filter = format!("^{base}-");
    let args = [
        "--topics",
        filter.as_str(),
        "--local-retention-bytes",
        "1MiB",
        "--tier-throttle",
        "512KiB/s",
        "--wave-topics",
        "1",
        "--journal",
        journal.as_str(),
        "--yes",
        "-o",
        "json",
    ];
    let bin = assert_cmd::cargo::cargo_bin("streamctl");
    let mut cmd = Proc::new(&bin);
    cmd.args(migrate_args(&k))
        .args(["--no-progress", "-q"])
        .args(args);
    let mut run = common::Running::spawn(cmd, dir.path().join("run.log"));
    // Kill it in the middle of the second wave.
    let mut wave1 = Value::Null;
    run.wait_until("the second wave started", || {
        let j: Option<Value> = std::fs::read_to_string(&jpath)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        match j.filter(|j| j["waves"][1]["state"] == "tiering") {
            Some(j) => {
                wave1 = j["waves"][0].clone();
                true
            }
            None => false,
        }
    });
    std::thread::sleep(Duration::from_millis(1500));
    run.kill();
    assert!(
        !tier_state(&k.bootstrap, &second)
            .iter()
            .all(|(lag, _)| *lag < 1_500),
        "the kill came too late to test a resume"
    );
    let quotas: Vec<String> = dynamic_configs(&k.bootstrap, &[])
        .into_iter()
        .filter(|(_, c)| c.contains_key(COPY_QUOTA))
        .map(|(b, _)| b)
        .collect();
    assert!(!quotas.is_empty(), "the killed run had set the copy quota");

    // The resumed run serves metrics, scraped (and parsed by prometheus_client) while it tiers.
    let mut cmd = Proc::new(&bin);
    cmd.args(migrate_args(&k))
        .args(["--no-progress", "-q"])
        .args(args)
        .args(["--metrics-addr", "127.0.0.1:0", "--metrics-linger", "10s"]);
    let mut rerun = common::Running::spawn(cmd, dir.path().join("rerun.log"));
    let scraper = rerun.scrape();
    let (_, stdout) = rerun.finish();
    let scraped = scraper.result();
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let tiered = |figure: &str| scraped.last("streamctl_tiered", &[("figure", figure)]);
    assert!(scraped.scrapes() >= 2, "{}", scraped.0);
    assert_eq!(tiered("waves"), Some(2.0));
    assert_eq!(tiered("wave"), Some(2.0));
    assert_eq!(
        tiered("tier_throttle_bytes_per_second"),
        r["tier_throttle_bytes_per_sec"].as_f64()
    );
    assert_eq!(tiered("partitions"), r["waves"][1]["partitions"].as_f64());
    assert_eq!(tiered("partitions_tiered"), tiered("partitions"));
    assert!(tiered("upload_bytes_done").unwrap() > 0.0);
    assert_eq!(r["phase"], "complete");
    assert_eq!(r["runs"], 2);
    let j: Value = serde_json::from_str(&std::fs::read_to_string(&jpath).unwrap()).unwrap();
    assert_eq!(
        j["waves"][0]["started_ms"], wave1["started_ms"],
        "wave 1 was not redone"
    );
    assert_eq!(j["waves"][0]["done_ms"], wave1["done_ms"]);
    assert_eq!(j["waves"][1]["state"], "done");
    let left: Vec<String> = dynamic_configs(&k.bootstrap, &[])
        .into_iter()
        .filter(|(_, c)| c.contains_key(COPY_QUOTA))
        .map(|(b, _)| b)
        .collect();
    assert!(left.is_empty(), "quota left on {left:?}");
    assert_eq!(k.consume_all(&first, 3_000), (3_000, sum_first));
    assert_eq!(k.consume_all(&second, 24_000), (24_000, sum_second));
}

#[test]
fn a_compacted_topic_and_brokers_without_tiered_storage_are_refused_by_name_before_any_change() {
    let Some(k) = tiered() else { return };
    let base = unique("tc");
    let (compacted, plain) = (format!("{base}-compacted"), format!("{base}-plain"));
    create(&k, &compacted, None, &["cleanup.policy=compact"]);
    create(&k, &plain, None, &[]);
    let topics = vec![compacted.clone(), plain.clone()];
    let before = dynamic_configs(&k.bootstrap, &topics);
    let out = migrate(
        &k,
        &[
            "--topics",
            &format!("^{base}-"),
            "--local-retention",
            "1h",
            "--yes",
        ],
    )
    .output()
    .unwrap();
    let text = refused(&out);
    assert!(
        text.contains(&format!("topic {compacted} is compacted")),
        "{text}"
    );
    assert!(text.contains("hint:"), "{text}");
    assert_eq!(
        dynamic_configs(&k.bootstrap, &topics),
        before,
        "something changed"
    );
    // A config the cluster would refuse (Kafka 4: segments of at least 1 MiB) is found by a
    // validate-only request before any change, quota included.
    let out = migrate(
        &k,
        &[
            "--topics",
            &format!("^{plain}$"),
            "--local-retention",
            "1h",
            "--set-segment-bytes",
            "512KiB",
            "--yes",
        ],
    )
    .output()
    .unwrap();
    let text = refused(&out);
    assert!(
        text.contains(&format!("topic {plain}: the cluster refuses"))
            && text.contains("segment.bytes"),
        "{text}"
    );
    assert_eq!(
        dynamic_configs(&k.bootstrap, &topics),
        before,
        "something changed"
    );
    assert!(dynamic_configs(&k.bootstrap, &[])
        .values()
        .all(|c| !c.contains_key(COPY_QUOTA)));

    // The main test cluster runs no remote log manager: every broker is named.
    let classic = k.other("STREAMCTL_KAFKA_BOOTSTRAP");
    let t = unique("classic");
    create(&classic, &t, None, &[]);
    let before = dynamic_configs(&classic.bootstrap, std::slice::from_ref(&t));
    let out = migrate(
        &classic,
        &[
            "--topics",
            &format!("^{t}$"),
            "--local-retention",
            "1h",
            "--yes",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("do not have tiered storage enabled")
            && text.contains("remote.log.storage.system.enable=true"),
        "{text}"
    );
    let snap = classic.snapshot(&t);
    for r in snap["partitions"][0]["replicas"].as_array().unwrap() {
        assert!(
            text.contains(&r.to_string()),
            "broker {r} not named: {text}"
        );
    }
    assert_eq!(
        dynamic_configs(&classic.bootstrap, std::slice::from_ref(&t)),
        before
    );
}

#[test]
fn rollback_leaves_topics_read_only_with_every_record_readable_and_deleting_needs_yes() {
    let Some(k) = tiered() else { return };
    let t = unique("tr");
    create(&k, &t, None, &["retention.ms=86400000"]);
    let sum = k.produce(&t, 9_000, 1000);
    let dir = tempfile::tempdir().unwrap();
    let (_, journal) = journal_of(dir.path());
    let filter = format!("^{t}$");
    let common_args = ["--topics", filter.as_str(), "--journal", journal.as_str()];
    tier_quickly(&k, &filter, &journal);
    assert!(tier_state(&k.bootstrap, &t)
        .iter()
        .any(|(_, local)| *local < 2 * MIB));

    // Deleting remote data is refused without --yes, and says what would become unreadable.
    let before = dynamic_configs(&k.bootstrap, std::slice::from_ref(&t));
    let out = migrate(&k, &common_args)
        .args(["--rollback", "--delete-remote-data"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("become unreadable"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        dynamic_configs(&k.bootstrap, std::slice::from_ref(&t)),
        before
    );

    // Read-only: no more uploads, every record still readable.
    let out = migrate(&k, &common_args)
        .args(["--rollback", "--yes", "-o", "json"])
        .output()
        .unwrap();
    let r = common::ok_json(&out);
    assert_eq!(r["applied"], true);
    let cfg = &dynamic_configs(&k.bootstrap, std::slice::from_ref(&t))[&format!("topic {t}")];
    assert_eq!(cfg["remote.log.copy.disable"], "true");
    assert_eq!(cfg["remote.storage.enable"], "true");
    assert_eq!(k.consume_all(&t, 9_000), (9_000, sum));
    let status = k
        .streamctl()
        .args([
            "migrate",
            "tiered",
            "--status",
            "--journal",
            &journal,
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(common::ok_json(&status)["phase"], "rolled-back");
}

#[test]
fn after_tiering_a_drain_moves_local_bytes_only_within_its_predicted_time() {
    let Some(k) = tiered() else { return };
    // New brokers 4-9 (AZs a, b, c in turn); the drained brokers 4 and 5 hold only this test's topic.
    tiered_brokers_up_to(&k, 9);
    let t = unique("td");
    create(&k, &t, Some("4:5:6,5:6:4,6:4:5"), &[]);
    let sum = k.produce(&t, 24_000, 1000);
    let dir = tempfile::tempdir().unwrap();
    let (_, journal) = journal_of(dir.path());
    let filter = format!("^{t}$");
    tier_quickly(&k, &filter, &journal);

    // What the drained brokers hold locally now (every topic: internal ones and other tests'
    // topics may have replicas there too), and this topic's share and total bytes there.
    let on_drained = |p: &Value| {
        p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| [4, 5].contains(&r.as_i64().unwrap()))
            .count() as u64
    };
    let bytes = |p: &Value| {
        p["local_size_bytes"]
            .as_u64()
            .or(p["size_bytes"].as_u64())
            .unwrap_or(0)
    };
    let sum_on = |s: &Value, f: &dyn Fn(&Value) -> u64| -> u64 {
        s["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| on_drained(p) * f(p))
            .sum()
    };
    let local = sum_on(&k.snapshot(".*"), &bytes);
    let snap = k.snapshot(&t);
    let local_t = sum_on(&snap, &bytes);
    let total_t = sum_on(&snap, &|_| 8 * MIB);

    let dir2 = tempfile::tempdir().unwrap();
    let (_, journal2) = journal_of(dir2.path());
    let out = migrate(
        &k,
        &[
            "--topics",
            &filter,
            "--journal",
            &journal2,
            "--local-retention-bytes",
            "1MiB",
            "--drain-brokers",
            "4,5",
            "--throttle",
            "512KiB/s",
            "--yes",
            "-o",
            "json",
        ],
    )
    .output()
    .unwrap();
    let r = common::ok_json(&out);
    let d = &r["drain"];
    let moved = d["bytes_moved"].as_u64().unwrap();
    let (took, predicted) = (
        d["moving_seconds"].as_f64().unwrap(),
        d["predicted_seconds"].as_f64().unwrap(),
    );
    println!("drain: {moved} bytes moved; local on drained brokers {local}; {took:.1} s vs predicted {predicted:.1} s = {:.2} x", took / predicted);
    assert!(
        moved as f64 <= 1.15 * local as f64 + MIB as f64 && moved as f64 >= 0.85 * local as f64,
        "moved {moved}, local {local}"
    );
    // This topic's share, from the drain's own journal: its local bytes, not its total.
    let dj: Value =
        serde_json::from_str(&std::fs::read_to_string(d["journal"].as_str().unwrap()).unwrap())
            .unwrap();
    let moved_t: u64 = dj["moves"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["topic"] == t.as_str())
        .map(|m| {
            let from = m["from"].as_array().unwrap();
            let added = m["to"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|b| !from.contains(b))
                .count() as u64;
            added * m["bytes"].as_u64().unwrap()
        })
        .sum();
    println!("drain of {t}: {moved_t} bytes moved, {local_t} local on brokers 4 and 5, about {total_t} in all");
    assert!(
        moved_t as f64 <= 1.15 * local_t as f64 + MIB as f64
            && moved_t as f64 >= 0.85 * local_t as f64,
        "moved {moved_t}, local {local_t}"
    );
    assert!(
        moved_t * 2 < total_t,
        "moved {moved_t} of {total_t}: not priced by local bytes"
    );
    assert!(
        took <= 1.2 * predicted,
        "drain took {took:.1} s, predicted {predicted:.1} s"
    );
    assert_eq!(d["verified"], true);
    let snap = k.snapshot(&t);
    assert!(one_replica_per_az(&snap));
    assert!(snap["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| on_drained(p) == 0));
    assert_eq!(k.consume_all(&t, 24_000), (24_000, sum));
}

/// Over the tiered cluster's SASL_SSL listener (SCRAM-SHA-512, the test CA), as production
/// clusters are reached.
#[test]
fn a_time_based_local_retention_and_new_segment_size_are_set_and_fresh_data_stays_local() {
    let Some(k) = tiered() else { return };
    let t = unique("tt");
    create(&k, &t, None, &[]);
    let sum = k.produce(&t, 6_000, 1000);
    let dir = tempfile::tempdir().unwrap();
    let (_, journal) = journal_of(dir.path());
    let filter = format!("^{t}$");
    let var = |v: &str| std::env::var(v).unwrap_or_else(|_| panic!("cluster.sh exports {v}"));
    let sasl_ssl = var("STREAMCTL_TIERED_SASL_SSL_BOOTSTRAP");
    let config = dir.path().join("scram.properties");
    std::fs::write(&config, format!("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"admin-secret\";\nssl.truststore.type=PEM\nssl.truststore.location={}\n", var("STREAMCTL_TIERED_CA"))).unwrap();
    let out = k
        .streamctl()
        .args(["migrate", "tiered", "--bootstrap-server", &sasl_ssl])
        .args([
            "--command-config",
            config.to_str().unwrap(),
            "--poll-ms",
            "200",
        ])
        .args([
            "--topics",
            &filter,
            "--journal",
            &journal,
            "--local-retention",
            "1h",
            "--set-segment-bytes",
            "2MiB",
            "--tier-throttle",
            "20MiB/s",
            "--yes",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let r = common::ok_json(&out);
    assert_eq!(r["phase"], "complete");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("admin-secret"));
    assert!(!std::fs::read_to_string(&journal)
        .unwrap()
        .contains("admin-secret"));
    let cfg = &dynamic_configs(&k.bootstrap, std::slice::from_ref(&t))[&format!("topic {t}")];
    assert_eq!(cfg["remote.storage.enable"], "true");
    assert_eq!(cfg["local.retention.ms"], "3600000");
    assert_eq!(cfg["segment.bytes"], "2097152");
    // Every closed segment is uploaded, but the data is minutes old: all of it stays local.
    for (lag, local) in tier_state(&k.bootstrap, &t) {
        assert!(lag <= 1_500, "{lag} records not tiered");
        assert!(
            local >= MIB,
            "{local} bytes local: an hour of data should stay"
        );
    }
    assert_eq!(remote_bytes(&t).len(), 3);
    assert_eq!(k.consume_all(&t, 6_000), (6_000, sum));
}
