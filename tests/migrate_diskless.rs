//! `migrate diskless` against real parts: the local Kafka cluster (tests/kafka/cluster.sh) as the
//! source and nisshi (a diskless, S3-backed Kafka-compatible broker) on its own single-threaded
//! moto as the target (tests/diskless/nisshi.sh). Every check reads both sides independently
//! through rdkafka; nothing trusts streamctl's own report alone.

mod common;
#[path = "common/kafka.rs"]
mod kafka;
#[path = "common/records.rs"]
mod records;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command as Proc;
use std::time::{Duration, Instant};

use kafka::{unique, Live, Placement};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use records::{
    commit_group, committed_on, fill, group_members, next_for_group, producer, read_all, send,
    Member, Rec,
};
use serde_json::Value;

struct Env {
    k: Live,
    target: String,
    s3: String,
    bucket: String,
    dir: tempfile::TempDir,
}

fn env() -> Option<Env> {
    let k = Live::from_env("STREAMCTL_KAFKA_BOOTSTRAP")?;
    let var = |v: &str| {
        std::env::var(v).unwrap_or_else(|_| {
            panic!("{v} is not set: run the tests with `bash tests/run.sh` (it starts nisshi)")
        })
    };
    Some(Env {
        target: var("STREAMCTL_DISKLESS_BOOTSTRAP"),
        s3: var("STREAMCTL_DISKLESS_S3"),
        bucket: var("STREAMCTL_DISKLESS_BUCKET"),
        k,
        dir: tempfile::tempdir().unwrap(),
    })
}

impl Env {
    fn journal(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.json"))
    }

    /// `streamctl migrate diskless` with both bootstraps, the journal and `args`.
    fn migrate(&self, journal: &Path, args: &[&str]) -> std::process::Output {
        self.k
            .streamctl()
            .args([
                "--output",
                "json",
                "migrate",
                "diskless",
                "--source-bootstrap",
                self.k.first(),
                "--target-bootstrap",
                &self.target,
                "--journal",
                journal.to_str().unwrap(),
            ])
            .args(args)
            .output()
            .unwrap()
    }

    fn create(&self, topic: &str, partitions: u32, configs: &[&str]) {
        self.k.create(topic, Placement::Spread(partitions), configs);
    }

    /// Objects nisshi stored for one topic's records (moto S3 ListObjectsV2 under the topic's
    /// prefix: a listing answers at most 1,000 keys, and the bucket outlives test runs).
    fn objects(&self, topic: &str) -> usize {
        let out = Proc::new("curl")
            .args([
                "-s",
                &format!(
                    "{}/{}?list-type=2&prefix=clusters/streamctl-diskless/topics/{topic}/",
                    self.s3, self.bucket
                ),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .matches("<Key>")
            .count()
    }
}

/// Both sides of every partition hold the same records in the same order (see
/// [`records::same_records`]).
fn assert_same(e: &Env, topic: &str, partitions: i32) -> usize {
    records::same_records(e.k.first(), &e.target, topic, partitions)
}

fn find<'a>(r: &'a Value, topic: &str) -> &'a Value {
    r["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["topic"] == topic)
        .unwrap_or_else(|| panic!("{topic} not in {r}"))
}

#[test]
fn copies_keys_headers_timestamps_transactions_and_a_moved_log_start_exactly() {
    let Some(e) = env() else { return };
    let plain = unique("dl-plain");
    let txn = unique("dl-txn");
    let trimmed = unique("dl-trim");
    e.create(&plain, 3, &["retention.ms=604800000"]);
    e.create(&txn, 2, &[]);
    e.create(&trimmed, 1, &[]);
    fill(e.k.first(), &plain, 3, 3_000, 300);
    // Transactions: committed, aborted, committed.
    let p = producer(
        e.k.first(),
        &[
            ("transactional.id", &format!("{txn}-tx")),
            ("enable.idempotence", "true"),
        ],
    );
    p.init_transactions(Duration::from_secs(30)).unwrap();
    for (round, commit) in [(0, true), (1, false), (2, true)] {
        p.begin_transaction().unwrap();
        for i in 0..200 {
            send(&p, &txn, i % 2, round * 1_000 + i as usize, 100, None);
        }
        p.flush(Duration::from_secs(30)).unwrap();
        if commit {
            p.commit_transaction(Duration::from_secs(30)).unwrap();
        } else {
            p.abort_transaction(Duration::from_secs(30)).unwrap();
        }
    }
    // Early records deleted: the log start is not 0.
    fill(e.k.first(), &trimmed, 1, 500, 200);
    let offsets = e.dir.path().join("delete.json");
    std::fs::write(
        &offsets,
        format!(
            r#"{{"version":1,"partitions":[{{"topic":"{trimmed}","partition":0,"offset":120}}]}}"#
        ),
    )
    .unwrap();
    let (ok, out) = e.k.tool(
        "org.apache.kafka.tools.DeleteRecordsCommand",
        &[
            "--bootstrap-server",
            e.k.first(),
            "--offset-json-file",
            offsets.to_str().unwrap(),
        ],
    );
    assert!(ok, "delete records: {out}");

    let j = e.journal("exact");
    let topics = format!("^({plain}|{txn}|{trimmed})$");
    let dry = common::ok_json(&e.migrate(&j, &["--topics", &topics, "--dry-run"]));
    assert_eq!(dry["plan"]["partitions"], 6, "{dry}");
    assert!(!j.exists(), "a dry run writes nothing");
    let r = common::ok_json(&e.migrate(&j, &["--topics", &topics, "--yes"]));
    assert_eq!(r["verify"]["ok"], true, "{r}");
    assert_eq!(find(&r, &plain)["records"], 3_000);
    assert_eq!(
        find(&r, &txn)["records"],
        400,
        "aborted records are not copied"
    );
    assert_eq!(find(&r, &trimmed)["records"], 380);
    let trim_part = r["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["topic"] == trimmed.as_str())
        .unwrap();
    assert_eq!(trim_part["source_start"], 120, "copied from the log start");

    // Independently: same records, same order, dense target offsets.
    assert_eq!(assert_same(&e, &plain, 3), 3_000);
    assert_eq!(assert_same(&e, &txn, 2), 400);
    assert_eq!(assert_same(&e, &trimmed, 1), 380);
    let aborted = |r: &Rec| {
        let key = String::from_utf8_lossy(r.0.as_deref().unwrap()).to_string();
        let n: usize = key.trim_start_matches("key-").parse().unwrap();
        (1_000..1_200).contains(&n)
    };
    // The check can fail: the source log does hold the aborted records.
    let raw: Vec<_> = (0..2)
        .flat_map(|p| read_all(e.k.first(), &txn, p, false))
        .collect();
    assert_eq!(raw.iter().filter(|(_, r)| aborted(r)).count(), 200);
    let on_target: Vec<_> = (0..2)
        .flat_map(|p| read_all(&e.target, &txn, p, false))
        .collect();
    assert_eq!(on_target.len(), 400);
    assert!(
        !on_target.iter().any(|(_, r)| aborted(r)),
        "an aborted record reached the target"
    );
    // The retention the source set is carried to the target topic.
    assert!(
        e.objects(&plain) > 0,
        "nisshi stored {plain}'s records in S3"
    );

    // A re-run copies only what is new; --verify re-checks; --status needs no connection.
    fill(e.k.first(), &plain, 3, 300, 300);
    let r2 = common::ok_json(&e.migrate(&j, &["--topics", &topics, "--yes"]));
    assert_eq!(r2["copy"]["records"], 300, "{r2}");
    assert_eq!(r2["runs"], 2);
    assert_eq!(assert_same(&e, &plain, 3), 3_300);
    let v = common::ok_json(&e.migrate(&j, &["--verify"]));
    assert_eq!(v["verify"]["ok"], true);
    let status =
        e.k.streamctl()
            .args([
                "--output",
                "json",
                "migrate",
                "diskless",
                "--status",
                "--journal",
                j.to_str().unwrap(),
            ])
            .output()
            .unwrap();
    assert_eq!(common::ok_json(&status)["runs"], 2);
}

#[test]
fn throttled_copy_holds_the_rate() {
    let Some(e) = env() else { return };
    let topic = unique("dl-rate");
    e.create(&topic, 4, &[]);
    fill(e.k.first(), &topic, 4, 6_000, 1_000);
    let j = e.journal("rate");
    let throttle = 1u64 << 20;
    let start = Instant::now();
    let r = common::ok_json(&e.migrate(
        &j,
        &[
            "--topics",
            &format!("^{topic}$"),
            "--throttle",
            "1MiB/s",
            "--yes",
        ],
    ));
    let wall = start.elapsed().as_secs_f64();
    let bytes = r["copy"]["bytes"].as_f64().unwrap();
    let achieved = r["achieved_bytes_per_sec"].as_f64().unwrap();
    // Payload: key (8-9 bytes) + value 1000 + headers (3+3+3+1+3+1+4 bytes) per record.
    assert!(bytes > 6_000.0 * 1_000.0, "{r}");
    let ratio = achieved / throttle as f64;
    eprintln!(
        "throttle 1 MiB/s: {:.0} bytes in {:.2} s (report), wall {wall:.2} s: {ratio:.3} × the throttle",
        bytes,
        r["copy"]["seconds"]
    );
    assert!(ratio <= 1.05, "achieved {ratio:.3} × the throttle");
    // Below the throttle only when something else limited the copy (a busy host: the test
    // command may run beside other CPU-heavy work), which the copier's own account shows: it
    // hardly waited on the throttle then.
    let waited = r["copy"]["throttle_wait_seconds"].as_f64().unwrap();
    let secs = r["copy"]["seconds"].as_f64().unwrap();
    assert!(
        ratio >= 0.9 || waited <= 0.1 * secs,
        "achieved only {ratio:.3} × the throttle, yet waited on it {waited:.2} s of {secs:.2} s"
    );
    // The whole command (connect, create, copy, verify) cannot have copied faster than that.
    assert!(bytes / wall <= 1.05 * throttle as f64);
}

#[test]
fn kill_9_mid_copy_then_the_same_command_leaves_no_gap_and_no_duplicate() {
    let Some(e) = env() else { return };
    let topic = unique("dl-kill");
    e.create(&topic, 3, &[]);
    fill(e.k.first(), &topic, 3, 9_000, 1_000);
    let j = e.journal("kill");
    let args = |throttle: Option<&str>| {
        let mut a = vec![
            "migrate".to_string(),
            "diskless".into(),
            "--source-bootstrap".into(),
            e.k.first().into(),
            "--target-bootstrap".into(),
            e.target.clone(),
            "--journal".into(),
            j.display().to_string(),
            "--topics".into(),
            format!("^{topic}$"),
            "--yes".into(),
        ];
        if let Some(t) = throttle {
            a.extend(["--throttle".into(), t.into()]);
        }
        a
    };
    let mut cmd = Proc::new(assert_cmd::cargo::cargo_bin("streamctl"));
    cmd.args(args(Some("1MiB/s")));
    let mut run = common::Running::spawn(cmd, e.dir.path().join("copy.log"));
    // Wait until some records are journaled, then kill -9.
    run.wait_until("1,500 records were journaled", || {
        let copied = std::fs::read_to_string(&j)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .map(|v| {
                v["partitions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|p| p["map"]["runs"].as_array().unwrap().clone())
                    .map(|r| r["len"].as_i64().unwrap())
                    .sum::<i64>()
            })
            .unwrap_or(0);
        copied > 1_500
    });
    run.kill(); // SIGKILL
                // The rerun serves metrics, scraped (and parsed by prometheus_client) while it copies.
    let mut cmd = Proc::new(assert_cmd::cargo::cargo_bin("streamctl"));
    cmd.args(["--output", "json", "--no-progress"])
        .args(args(Some("2MiB/s")))
        .args(["--metrics-addr", "127.0.0.1:0", "--metrics-linger", "10s"]);
    let mut rerun = common::Running::spawn(cmd, e.dir.path().join("rerun.log"));
    let scraper = rerun.scrape();
    let (_, stdout) = rerun.finish();
    let scraped = scraper.result();
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert!(scraped.scrapes() >= 2, "{}", scraped.0);
    let copy = |figure: &str| scraped.last("streamctl_diskless_copy", &[("figure", figure)]);
    assert_eq!(copy("records"), r["copy"]["records"].as_f64());
    assert_eq!(copy("bytes"), r["copy"]["bytes"].as_f64());
    assert_eq!(copy("throttle_bytes_per_second"), Some(2.0 * 1048576.0));
    assert_eq!(copy("partitions"), Some(3.0));
    assert_eq!(copy("partitions_verified"), Some(3.0));
    // Each partition was seen behind while the rerun copied, and where it ended.
    for row in r["partitions"].as_array().unwrap() {
        let p = row["partition"].to_string();
        let labels = |figure: &'static str| {
            [
                ("topic", topic.as_str()),
                ("partition", p.as_str()),
                ("figure", figure),
            ]
        };
        assert_eq!(
            scraped.max("streamctl_diskless_partition", &labels("copied_to")),
            row["caught_up_to"].as_f64(),
            "{row}"
        );
    }
    let behind = scraped.partitions_sum(&topic, 3, "lag_records", true);
    assert!(behind > 0.0, "no lag was ever scraped: {}", scraped.0);
    assert_eq!(r["runs"], 2);
    assert_eq!(r["verify"]["ok"], true, "{r}");
    eprintln!(
        "after kill -9: {} records the target held beyond the journal were checked and adopted",
        r["copy"]["recovered"]
    );
    assert_eq!(find(&r, &topic)["records"], 9_000);
    assert_eq!(assert_same(&e, &topic, 3), 9_000, "no gap, no duplicate");
}

#[test]
fn cutover_resumes_a_group_exactly_after_its_last_record_and_refuses_an_active_target_group() {
    let Some(e) = env() else { return };
    let topic = unique("dl-cut");
    e.create(&topic, 2, &[]);
    // Transactions make source and target offsets differ (markers, an aborted batch).
    let p = producer(
        e.k.first(),
        &[
            ("transactional.id", &format!("{topic}-tx")),
            ("enable.idempotence", "true"),
        ],
    );
    p.init_transactions(Duration::from_secs(30)).unwrap();
    for round in 0..6 {
        p.begin_transaction().unwrap();
        for i in 0..100 {
            send(&p, &topic, i % 2, round * 100 + i as usize, 200, None);
        }
        p.flush(Duration::from_secs(30)).unwrap();
        if round == 2 {
            p.abort_transaction(Duration::from_secs(30)).unwrap();
        } else {
            p.commit_transaction(Duration::from_secs(30)).unwrap();
        }
    }
    let j = e.journal("cut");
    let r = common::ok_json(&e.migrate(&j, &["--topics", &format!("^{topic}$"), "--yes"]));
    assert_eq!(r["verify"]["ok"], true, "{r}");
    // Group g1 consumed part of each partition on the source (read_committed, then committed).
    let g1 = format!("{topic}-g1");
    let g2 = format!("{topic}-g2");
    let source: Vec<Vec<(i64, Rec)>> = (0..2)
        .map(|p| read_all(e.k.first(), &topic, p, true))
        .collect();
    let consumed = [137usize, 201];
    // The position after the last consumed record.
    let next: Vec<(i32, i64)> = (0..2)
        .map(|p| (p as i32, source[p][consumed[p] - 1].0 + 1))
        .collect();
    commit_group(e.k.first(), &g1, &topic, &next);
    commit_group(e.k.first(), &g2, &topic, &next);
    // More records after the copy: the cutover copies the tail.
    p.begin_transaction().unwrap();
    for i in 0..50 {
        send(&p, &topic, i % 2, 9_000 + i as usize, 200, None);
    }
    p.commit_transaction(Duration::from_secs(30)).unwrap();

    // g2 is active on the target: refused, nothing committed.
    let member = Member::join(&e.target, &g2, &topic);
    let start = Instant::now();
    while group_members(&e.target, &g2) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "g2 never joined on the target"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let groups = format!("^{topic}-g[12]$");
    let refused = e.migrate(&j, &["--cutover", "--groups", &groups, "--yes"]);
    assert_eq!(
        refused.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(&g2) && err.contains("active"), "{err}");
    drop(member);
    let start = Instant::now();
    while group_members(&e.target, &g2) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "g2 did not leave"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    let r = common::ok_json(&e.migrate(
        &j,
        &[
            "--cutover",
            "--groups",
            &groups,
            "--wait-for-producers-stopped",
            "--yes",
        ],
    ));
    assert_eq!(r["copy"]["records"], 50, "the tail: {r}");
    assert_eq!(r["verify"]["ok"], true);
    assert_eq!(r["cutover"]["phase"], "committed");
    let translated: BTreeMap<String, usize> = r["cutover"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_string(),
                g["offsets"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(translated.get(&g1), Some(&2));
    assert_eq!(translated.get(&g2), Some(&2));
    // Each group resumes on the target exactly after its last consumed record.
    for g in [&g1, &g2] {
        for p in 0..2 {
            let next = next_for_group(&e.target, g, &topic, p as i32).expect("a next record");
            let expected = &source[p][consumed[p]].1;
            assert_eq!(&next, expected, "{g} on partition {p}");
        }
    }
}

#[test]
fn preflight_lists_every_problem_and_changes_nothing() {
    let Some(e) = env() else { return };
    let compacted = unique("dl-compact");
    let mismatch = unique("dl-mismatch");
    e.create(&compacted, 1, &["cleanup.policy=compact"]);
    e.create(&mismatch, 3, &[]);
    fill(e.k.first(), &mismatch, 3, 30, 10);
    // The target already has the topic with another partition count and records.
    let (ok, out) = e.k.tool(
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            &e.target,
            "--create",
            "--topic",
            &mismatch,
            "--partitions",
            "2",
        ],
    );
    assert!(ok, "{out}");
    fill(&e.target, &mismatch, 2, 4, 10);
    let j = e.journal("refused");
    let out = e.migrate(
        &j,
        &["--topics", &format!("^({compacted}|{mismatch})$"), "--yes"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    let problems: Vec<String> = shown["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("compacted"));
    assert!(problems[1].contains("2 partitions on the target and 3"));
    assert!(problems[2].contains("4 records"));
    assert!(!j.exists(), "nothing journaled");
    let target_topics: Vec<String> = {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &e.target)
            .create()
            .unwrap();
        let m = c.fetch_metadata(None, Duration::from_secs(10)).unwrap();
        m.topics().iter().map(|t| t.name().to_string()).collect()
    };
    assert!(
        !target_topics.contains(&compacted),
        "nothing created on the target"
    );
}

/// The record copier and the admin plane over the local cluster's secured listeners, from one
/// properties file each, as Kafka's own tools read it: SCRAM-SHA-512 over TLS (copy, verify,
/// cutover with a group), mutual TLS, and OAUTHBEARER (Kafka's unsecured JWS against the
/// broker's unsecured validator). The password appears in no output and no journal.
#[test]
fn copies_verifies_and_cuts_over_over_sasl_ssl_mutual_tls_and_oauthbearer() {
    let Some(e) = env() else { return };
    let var = |v: &str| std::env::var(v).unwrap_or_else(|_| panic!("cluster.sh exports {v}"));
    let ca = var("STREAMCTL_KAFKA_CA");
    let write = |name: &str, text: String| {
        let p = e.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let scram = write("scram.properties", format!("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n  username=\"admin\" \\\n  password=\"admin-secret\";\nssl.truststore.type=PEM\nssl.truststore.location={ca}\n"));
    let mtls = write("mtls.properties", format!("security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location={ca}\nssl.keystore.type=PEM\nssl.certificate.location={}\nssl.key.location={}\n", var("STREAMCTL_KAFKA_CLIENT_CERT"), var("STREAMCTL_KAFKA_CLIENT_KEY")));
    let oauth = write("oauth.properties", format!("security.protocol=SASL_SSL\nsasl.mechanism=OAUTHBEARER\nsasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"admin\";\nssl.truststore.type=PEM\nssl.truststore.location={ca}\n"));
    let cases = [
        ("scram", var("STREAMCTL_KAFKA_SASL_SSL_BOOTSTRAP"), &scram),
        ("mtls", var("STREAMCTL_KAFKA_SSL_BOOTSTRAP"), &mtls),
        ("oauth", var("STREAMCTL_KAFKA_SASL_SSL_BOOTSTRAP"), &oauth),
    ];
    for (name, bootstrap, config) in cases {
        let topic = unique(&format!("dl-{name}"));
        e.create(&topic, 2, &[]);
        fill(e.k.first(), &topic, 2, 400, 300);
        let j = e.journal(name);
        let run = |args: &[&str]| {
            e.k.streamctl()
                .args(["--output", "json", "migrate", "diskless"])
                .args([
                    "--source-bootstrap",
                    &bootstrap,
                    "--target-bootstrap",
                    &e.target,
                ])
                .args(["--source-command-config", config.to_str().unwrap()])
                .args([
                    "--journal",
                    j.to_str().unwrap(),
                    "--topics",
                    &format!("^{topic}$"),
                ])
                .args(args)
                .output()
                .unwrap()
        };
        let copy = run(&["--yes"]);
        let r = common::ok_json(&copy);
        assert_eq!(r["verify"]["ok"], true, "{name}: {r}");
        assert_eq!(assert_same(&e, &topic, 2), 400, "{name}");
        let mut seen = vec![
            String::from_utf8_lossy(&copy.stdout).to_string(),
            String::from_utf8_lossy(&copy.stderr).to_string(),
        ];
        if name == "scram" {
            // A group consumed part of partition 0 on the source; the cutover over SCRAM/TLS
            // translates it and the group resumes on the target after its last record.
            let g = format!("{topic}-g");
            let source = read_all(e.k.first(), &topic, 0, true);
            commit_group(e.k.first(), &g, &topic, &[(0, source[149].0 + 1)]);
            let cut = run(&["--cutover", "--groups", &format!("^{g}$"), "--yes"]);
            let r = common::ok_json(&cut);
            assert_eq!(r["cutover"]["phase"], "committed", "{r}");
            assert_eq!(
                next_for_group(&e.target, &g, &topic, 0).as_ref(),
                Some(&source[150].1)
            );
            seen.push(String::from_utf8_lossy(&cut.stdout).to_string());
            seen.push(String::from_utf8_lossy(&cut.stderr).to_string());
        }
        seen.push(std::fs::read_to_string(&j).unwrap());
        for text in &seen {
            assert!(
                !text.contains("admin-secret"),
                "{name}: the password leaked: {text}"
            );
        }
    }
}

/// `--follow` while a producer keeps writing for a minute: the lag stays bounded; two groups
/// move to the target one at a time through `--sync-groups` and each resumes exactly after its
/// last consumed record; a group with a live member on the target is never committed to; SIGTERM
/// ends a follower with exit 0 and a restarted one continues with no record lost or copied twice;
/// a cutover asked of the running follower from another process is run by the follower, which
/// then exits.
#[test]
fn follow_keeps_up_moves_groups_one_at_a_time_resumes_after_sigterm_and_cuts_over_on_request() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let Some(e) = env() else { return };
    let topic = unique("dl-follow");
    e.create(&topic, 2, &[]);
    fill(e.k.first(), &topic, 2, 2_000, 500);
    // A producer writing about 40 records a second until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicUsize::new(2_000));
    let writer = {
        let (stop, produced, bootstrap, topic) = (
            stop.clone(),
            produced.clone(),
            e.k.first().to_string(),
            topic.clone(),
        );
        std::thread::spawn(move || {
            let p = producer(&bootstrap, &[]);
            let mut i = 2_000;
            while !stop.load(Ordering::Relaxed) {
                send(&p, &topic, (i % 2) as i32, i, 500, None);
                i += 1;
                if i % 20 == 0 {
                    p.flush(Duration::from_secs(30)).unwrap();
                    produced.store(i, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            p.flush(Duration::from_secs(30)).unwrap();
            produced.store(i, Ordering::Relaxed);
        })
    };
    let started = Instant::now();
    let j = e.journal("follow");
    let follower = |log: &str| {
        let mut cmd = common::follower((e.k.first(), &e.target), &j, &format!("^{topic}$"));
        cmd.args([
            "--sync-groups",
            &format!("^{topic}-g"),
            "--sync-interval",
            "2s",
        ])
        .args(["--metrics-addr", "127.0.0.1:0"]);
        common::Running::spawn(cmd, e.dir.path().join(log))
    };
    let mut run = follower("follow-1.log");
    let scraper = run.scrape();
    let (g1, g2, g3) = (
        format!("{topic}-g1"),
        format!("{topic}-g2"),
        format!("{topic}-g3"),
    );
    // g3 has a live member on the target from the start: it must never be committed to.
    run.wait_until("the copy started", || {
        std::fs::read_to_string(&j)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["partitions"].as_array().is_some_and(|a| a.len() == 2))
    });
    let member = Member::join(&e.target, &g3, &topic);
    run.wait_until("g3's member joined on the target", || {
        group_members(&e.target, &g3) > 0
    });
    // The three groups consumed part of the backlog on the source and stopped there.
    for (k, g) in [&g1, &g2, &g3].into_iter().enumerate() {
        let o = 300 + 100 * k as i64;
        commit_group(e.k.first(), g, &topic, &[(0, o), (1, o + 7)]);
    }
    let source: Vec<Vec<(i64, Rec)>> = (0..2)
        .map(|p| read_all(e.k.first(), &topic, p, true))
        .collect();
    // One at a time: started on the target after the next sync, each reads exactly the record
    // after its last consumed one on the source.
    for g in [&g1, &g2] {
        run.wait_until(&format!("{g} is synced to the target"), || {
            (0..2).all(|p| committed_on(&e.target, g, &topic, p).is_some())
        });
        for p in 0..2 {
            let at = committed_on(e.k.first(), g, &topic, p).unwrap();
            let want = &source[p as usize].iter().find(|(o, _)| *o == at).unwrap().1;
            let got = next_for_group(&e.target, g, &topic, p).unwrap();
            assert_eq!(
                &got, want,
                "{g} on partition {p} resumes after its last record"
            );
        }
        // It moved: it consumes on the target from now on (one more commit there, ahead).
        let ahead: Vec<(i32, i64)> = (0..2)
            .map(|p| (p, committed_on(&e.target, g, &topic, p).unwrap() + 5))
            .collect();
        commit_group(&e.target, g, &topic, &ahead);
    }
    // Producing for a minute in all, while following.
    while started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(500));
        assert!(run.is_running(), "{}", run.log());
    }
    assert_eq!(
        committed_on(&e.target, &g3, &topic, 0),
        None,
        "g3 was committed to"
    );
    run.sigterm();
    let (status, stdout) = run.finish();
    assert!(status.success());
    let scraped = scraper.result();
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let synced: BTreeMap<String, String> = r["groups_synced"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["group"].as_str().unwrap().to_string(),
                g["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(synced[&g3], "active-on-target", "{synced:?}");
    // The group sync is in the metrics too: g1's two partitions were committed by a sync.
    assert_eq!(
        scraped.max(
            "streamctl_diskless_group",
            &[("group", g1.as_str()), ("figure", "partitions_committed")]
        ),
        Some(2.0),
        "{}",
        scraped.0
    );
    // Moved groups are ahead on the target now: never moved back.
    assert_eq!(synced[&g1], "target-ahead", "{synced:?}");
    assert_eq!(synced[&g2], "target-ahead", "{synced:?}");
    // The lag the metrics showed once the backlog was copied.
    let lag = scraped.partitions_sum(&topic, 2, "lag_records", false);
    eprintln!(
        "follow: {} scrapes; lag at the last scrape {lag} records with about 40 records/s produced",
        scraped.scrapes()
    );
    assert!(
        lag <= 200.0,
        "lag {lag} records at the end of a minute of following"
    );
    // A group outside --sync-groups that a cutover will move: consumed part of the backlog.
    let c1 = format!("{topic}-c1");
    commit_group(e.k.first(), &c1, &topic, &[(0, 900), (1, 905)]);
    // Restarted while the producer still writes; then the producer stops and the follower
    // catches up; a cutover asked of it from another process: the follower cuts over and exits.
    let mut again = follower("follow-2.log");
    std::thread::sleep(Duration::from_secs(5));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let total = produced.load(Ordering::Relaxed);
    again.wait_until("the copy caught up with the producer", || {
        (0..2)
            .map(|p| {
                std::fs::read_to_string(&j)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .map(|v| v["partitions"][p]["caught_up_to"].as_i64().unwrap_or(0))
                    .unwrap_or(0)
            })
            .sum::<i64>()
            >= total as i64
    });
    let out = e.migrate(&j, &["--cutover", "--groups", &format!("^{c1}$"), "--yes"]);
    let r = common::ok_json(&out);
    let groups = r["cutover"]["groups"].as_array().unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g["group"] == c1.as_str() && g["committed"] == true),
        "{r}"
    );
    assert_eq!(r["verify"]["ok"], true, "{r}");
    let (status, _) = again.finish();
    assert!(
        status.success(),
        "the follower exits by itself after the cutover"
    );
    for (p, at) in [(0, 900), (1, 905)] {
        let want = &source[p as usize].iter().find(|(o, _)| *o == at).unwrap().1;
        assert_eq!(&next_for_group(&e.target, &c1, &topic, p).unwrap(), want);
    }
    drop(member);
    assert_eq!(
        assert_same(&e, &topic, 2),
        total,
        "no record lost or copied twice"
    );
}
