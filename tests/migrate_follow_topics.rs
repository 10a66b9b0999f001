//! `migrate diskless --follow` keeps topics in step, against a Kafka target: the local Kafka
//! cluster is the source and the local tiered cluster (a plain Kafka target that offers
//! CreatePartitions, which nisshi does not) is the target. Runs in the test command's first round
//! (it needs no diskless broker). Every check reads both sides independently.

mod common;
#[path = "common/kafka.rs"]
mod kafka;
#[path = "common/records.rs"]
mod records;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kafka::{unique, Live, Placement};
use rdkafka::producer::Producer;
use records::{fill, producer, read_all, same_records, send};
use serde_json::Value;

struct Env {
    k: Live,
    target: String,
    dir: tempfile::TempDir,
}

impl Env {
    fn journal(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.json"))
    }

    fn create(&self, topic: &str, partitions: u32, configs: &[&str]) {
        self.k.create(topic, Placement::Spread(partitions), configs);
    }
}

/// A topic's carried configs as `kafka-configs --describe` shows them on `bootstrap` (the value
/// in effect, default or set).
fn topic_config(k: &Live, bootstrap: &str, topic: &str, key: &str) -> Option<String> {
    let (ok, out) = k.tool(
        "kafka.admin.ConfigCommand",
        &[
            "--bootstrap-server",
            bootstrap,
            "--entity-type",
            "topics",
            "--entity-name",
            topic,
            "--describe",
            "--all",
        ],
    );
    assert!(ok, "describe {topic}: {out}");
    let prefix = format!("{key}=");
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix).map(str::to_string))
}

/// The journal's topic changes, as (topic, kind, key) → the change.
fn topic_changes(journal: &Path) -> Vec<Value> {
    std::fs::read_to_string(journal)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["topic_changes"].as_array().cloned())
        .unwrap_or_default()
}

/// `--follow` with a Kafka target (the local tiered cluster, which offers CreatePartitions):
/// partitions added on the source are added on the target and copied; a `retention.ms` changed
/// on the source is set on the target within one sync interval (timed by the journal's own
/// record of the change); a topic deleted on the source is reported and kept on the target; a
/// topic created on the source that --topics matches is created on the target and copied; the
/// follower keeps going through all of it, and every record matches record by record.
#[test]
fn follow_adds_partitions_applies_config_changes_picks_up_a_new_topic_and_keeps_a_deleted_one() {
    let Some(k) = Live::from_env("STREAMCTL_KAFKA_BOOTSTRAP") else {
        return;
    };
    let target = k.other("STREAMCTL_TIERED_BOOTSTRAP").first().to_string();
    let e = Env {
        k,
        target,
        dir: tempfile::tempdir().unwrap(),
    };
    let (grows, goes, born) = (
        unique("dl-tsync"),
        unique("dl-tsync-del"),
        unique("dl-tsync-new"),
    );
    e.create(&grows, 2, &["retention.ms=172800000"]);
    e.create(&goes, 1, &[]);
    fill(e.k.first(), &grows, 2, 400, 300);
    fill(e.k.first(), &goes, 1, 100, 300);
    let j = e.journal("topic-sync");
    let sync_interval = Duration::from_secs(3);
    let mut cmd = common::follower(
        (e.k.first(), &e.target),
        &j,
        &format!("^({grows}|{goes}|{born})$"),
    );
    cmd.args(["--sync-interval", "3s", "--metrics-addr", "127.0.0.1:0"]);
    let mut run = common::Running::spawn(cmd, e.dir.path().join("topic-sync.log"));
    let scraper = run.scrape();
    let caught_up = |want: i64| {
        std::fs::read_to_string(&j)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| {
                v["partitions"].as_array().map(|a| {
                    a.iter()
                        .map(|p| p["caught_up_to"].as_i64().unwrap_or(0))
                        .sum::<i64>()
                })
            })
            .is_some_and(|n| n >= want)
    };
    run.wait_until("the first copy caught up", || caught_up(500));
    assert_eq!(
        topic_config(&e.k, &e.target, &grows, "retention.ms").as_deref(),
        Some("172800000"),
        "the target topic was created with the source's retention"
    );

    // On the source: retention changed, two partitions added and written to.
    let (ok, out) = e.k.tool(
        "kafka.admin.ConfigCommand",
        &[
            "--bootstrap-server",
            e.k.first(),
            "--entity-type",
            "topics",
            "--entity-name",
            &grows,
            "--alter",
            "--add-config",
            "retention.ms=259200000",
        ],
    );
    assert!(ok, "{out}");
    let changed_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (ok, out) = e.k.tool(
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            e.k.first(),
            "--alter",
            "--topic",
            &grows,
            "--partitions",
            "4",
        ],
    );
    assert!(ok, "{out}");
    let p = producer(e.k.first(), &[]);
    for i in 0..200 {
        send(&p, &grows, 2 + (i % 2) as i32, 10_000 + i, 300, None);
    }
    p.flush(Duration::from_secs(30)).unwrap();
    let change = |kind: &str| {
        topic_changes(&j)
            .into_iter()
            .find(|c| c["topic"] == grows.as_str() && c["kind"] == kind)
    };
    run.wait_until("the retention change reached the target", || {
        change("config").is_some()
    });
    let c = change("config").unwrap();
    assert_eq!(c["key"], "retention.ms", "{c}");
    assert_eq!(c["before"], "172800000", "{c}");
    assert_eq!(c["after"], "259200000", "{c}");
    assert_eq!(c["applied"], true, "{c}");
    let took = c["at_ms"].as_i64().unwrap() - changed_ms;
    eprintln!(
        "topic sync: retention.ms on the target {took} ms after the change on the source (sync interval {} ms)",
        sync_interval.as_millis()
    );
    assert!(
        took <= sync_interval.as_millis() as i64 + 2_000,
        "the config reached the target {took} ms after the change"
    );
    assert_eq!(
        topic_config(&e.k, &e.target, &grows, "retention.ms").as_deref(),
        Some("259200000")
    );
    run.wait_until("the added partitions were copied", || {
        change("partitions").is_some() && caught_up(700)
    });
    let c = change("partitions").unwrap();
    assert_eq!(
        (c["before"].as_str(), c["after"].as_str()),
        (Some("2"), Some("4")),
        "{c}"
    );

    // Deleted on the source: reported, no longer copied, kept on the target.
    let (ok, out) = e.k.tool(
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            e.k.first(),
            "--delete",
            "--topic",
            &goes,
        ],
    );
    assert!(ok, "{out}");
    run.wait_until("the deletion was noticed", || {
        topic_changes(&j)
            .iter()
            .any(|c| c["topic"] == goes.as_str() && c["kind"] == "deleted-on-source")
    });
    // Still following: more records on the grown topic are copied.
    for i in 0..40 {
        send(&p, &grows, (i % 4) as i32, 20_000 + i, 300, None);
    }
    p.flush(Duration::from_secs(30)).unwrap();
    run.wait_until("the follower copied past the deletion", || caught_up(740));

    // Created on the source while following, matched by --topics: created on the target with
    // its partitions and carried configs, and copied from its first record.
    e.create(&born, 2, &["retention.ms=345600000"]);
    fill(e.k.first(), &born, 2, 150, 300);
    run.wait_until("the new topic was copied", || {
        topic_changes(&j)
            .iter()
            .any(|c| c["topic"] == born.as_str() && c["kind"] == "created-on-source")
            && caught_up(890)
    });
    run.sigterm();
    let (status, stdout) = run.finish();
    assert!(status.success());
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["verify"]["ok"], true, "{r}");
    // Partitions are looked at every round and configs every sync interval: either may come
    // first.
    let mut kinds: Vec<(String, String)> = r["topic_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["topic"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    kinds.sort();
    let mut want = vec![
        (grows.clone(), "config".to_string()),
        (grows.clone(), "partitions".to_string()),
        (goes.clone(), "deleted-on-source".to_string()),
        (born.clone(), "created-on-source".to_string()),
    ];
    want.sort();
    assert_eq!(kinds, want, "{r}");
    assert_eq!(
        same_records(e.k.first(), &e.target, &grows, 4),
        640,
        "every record, once, in order"
    );
    assert_eq!(
        read_all(&e.target, &goes, 0, false).len(),
        100,
        "the deleted topic's copy stays on the target"
    );
    assert_eq!(same_records(e.k.first(), &e.target, &born, 2), 150);
    assert_eq!(
        topic_config(&e.k, &e.target, &born, "retention.ms").as_deref(),
        Some("345600000"),
        "the new topic's carried config on the target"
    );
    let scraped = scraper.result();
    assert_eq!(
        scraped.max(
            "streamctl_diskless_topic_changes",
            &[
                ("topic", grows.as_str()),
                ("kind", "config"),
                ("result", "applied")
            ]
        ),
        Some(1.0),
        "{}",
        scraped.0
    );
}
