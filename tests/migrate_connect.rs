//! `migrate diskless --engine connect` against real parts: the local Kafka cluster as the source,
//! nisshi as the diskless target, and a Kafka Connect cluster of two distributed workers
//! (tests/connect/connect.sh: connect-runtime + connect-mirror from Maven Central) running
//! MirrorMaker 2's source connector. Every check reads both sides independently through rdkafka
//! or asks Kafka's own tools; nothing trusts streamctl's report alone.

mod common;
#[path = "common/kafka.rs"]
mod kafka;
#[path = "common/records.rs"]
mod records;

use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka::{unique, Live, Placement};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::Producer;
use records::{commit_group, committed_on, fill, next_for_group, producer, read_all, send, Rec};
use serde_json::Value;

struct Env {
    k: Live,
    target: String,
    connect: String,
    dir: tempfile::TempDir,
}

fn env() -> Option<Env> {
    let k = Live::from_env("STREAMCTL_KAFKA_BOOTSTRAP")?;
    let var = |v: &str| {
        std::env::var(v).unwrap_or_else(|_| {
            panic!("{v} is not set: run the tests with `bash tests/run.sh` (it starts nisshi and the Connect workers)")
        })
    };
    Some(Env {
        target: var("STREAMCTL_DISKLESS_BOOTSTRAP"),
        connect: var("STREAMCTL_CONNECT_URL"),
        k,
        dir: tempfile::tempdir().unwrap(),
    })
}

impl Env {
    fn journal(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.json"))
    }

    fn args(&self, journal: &Path, connector: &str, args: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = [
            "--output",
            "json",
            "migrate",
            "diskless",
            "--engine",
            "connect",
            "--connect-url",
            &self.connect,
            "--connector",
            connector,
            "--source-bootstrap",
            self.k.first(),
            "--target-bootstrap",
            &self.target,
            "--journal",
            journal.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(args.iter().map(|s| s.to_string()));
        a
    }

    fn migrate(&self, journal: &Path, connector: &str, args: &[&str]) -> std::process::Output {
        self.k
            .streamctl()
            .args(self.args(journal, connector, args))
            .output()
            .unwrap()
    }

    fn create(&self, topic: &str, partitions: u32) {
        self.k.create(topic, Placement::Spread(partitions), &[]);
    }

    /// Client quotas on the source as Kafka's own tool lists them.
    fn client_quotas(&self) -> String {
        let (ok, out) = self.k.tool(
            "kafka.admin.ConfigCommand",
            &[
                "--bootstrap-server",
                self.k.first(),
                "--describe",
                "--entity-type",
                "clients",
            ],
        );
        assert!(ok, "kafka-configs: {out}");
        out
    }

    /// The connectors the Connect cluster runs (its REST API, read with curl).
    fn connectors(&self) -> String {
        let out = curl()
            .args(["-s", &format!("{}/connectors", self.connect)])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn target_high(&self, topic: &str, partitions: i32) -> i64 {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.target)
            .create()
            .unwrap();
        (0..partitions)
            .map(|p| {
                c.fetch_watermarks(topic, p, Duration::from_secs(10))
                    .map(|w| w.1)
                    .unwrap_or(0)
            })
            .sum()
    }
}

/// Deletes a test's connector however the test ends (a failed test leaves no connector running).
struct Remove(String, String);

impl Drop for Remove {
    fn drop(&mut self) {
        let _ = curl()
            .args([
                "-s",
                "-X",
                "DELETE",
                &format!("{}/connectors/{}", self.0, self.1),
            ])
            .output();
    }
}

/// curl against the test Connect cluster's REST API: HTTPS checked against its CA, with its
/// basic-auth user (the files tests/connect/connect.sh exports, which streamctl reads too).
fn curl() -> Proc {
    let mut c = Proc::new("curl");
    if let Ok(ca) = std::env::var("STREAMCTL_CONNECT_CA_FILE") {
        c.args(["--cacert", &ca]);
    }
    if let Ok(f) = std::env::var("STREAMCTL_CONNECT_CREDENTIALS_FILE") {
        let line = std::fs::read_to_string(f).unwrap();
        c.args(["-u", line.lines().next().unwrap()]);
    }
    c
}

fn connect_sh(args: &[&str]) {
    let ok = Proc::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/connect/connect.sh"
        ))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "connect.sh {args:?}");
}

/// The target holds the source's records in order, each at least once; the repeats are whole
/// replays (a suffix copied again). Returns (source records, target records).
fn assert_copied_with_replays(e: &Env, topic: &str, partitions: i32) -> (usize, usize) {
    let (mut ns, mut nt) = (0, 0);
    for p in 0..partitions {
        let s: Vec<Rec> = read_all(e.k.first(), topic, p, true)
            .into_iter()
            .map(|r| r.1)
            .collect();
        let t: Vec<Rec> = read_all(&e.target, topic, p, false)
            .into_iter()
            .map(|r| r.1)
            .collect();
        // Walk the target: each record is the next source record, or the start of a replay of
        // an earlier one that then runs in order up to where the copy had got.
        let mut next = 0usize;
        for (i, r) in t.iter().enumerate() {
            if next < s.len() && *r == s[next] {
                next += 1;
                continue;
            }
            let back = s[..next]
                .iter()
                .rposition(|x| x == r)
                .unwrap_or_else(|| panic!("{topic}-{p}: target record {i} is no source record"));
            next = back + 1;
        }
        assert_eq!(
            next,
            s.len(),
            "{topic}-{p}: every source record is on the target"
        );
        ns += s.len();
        nt += t.len();
    }
    (ns, nt)
}

#[test]
fn connect_engine_copies_topics_survives_a_killed_worker_and_cuts_over_exactly() {
    let Some(e) = env() else { return };
    let a = unique("cn-a");
    let b = unique("cn-b");
    e.create(&a, 3);
    e.create(&b, 2);
    fill(e.k.first(), &a, 3, 24_000, 1_000);
    // b is transactional with an aborted batch: source and target offsets differ.
    let p = producer(
        e.k.first(),
        &[
            ("transactional.id", &format!("{b}-tx")),
            ("enable.idempotence", "true"),
        ],
    );
    p.init_transactions(Duration::from_secs(30)).unwrap();
    for round in 0..4 {
        p.begin_transaction().unwrap();
        for i in 0..100 {
            send(&p, &b, i % 2, round * 100 + i as usize, 200, None);
        }
        p.flush(Duration::from_secs(30)).unwrap();
        if round == 1 {
            p.abort_transaction(Duration::from_secs(30)).unwrap();
        } else {
            p.commit_transaction(Duration::from_secs(30)).unwrap();
        }
    }
    let connector = unique("cn");
    let _remove = Remove(e.connect.clone(), connector.clone());
    let j = e.journal("cn");
    let topics = format!("^({a}|{b})$");

    // The plan names the engine, the tasks and the quota; nothing is created by it.
    let plan = common::ok_json(&e.migrate(
        &j,
        &connector,
        &["--topics", &topics, "--throttle", "3MiB/s", "--dry-run"],
    ));
    assert_eq!(plan["connect"]["connector"], connector.as_str(), "{plan}");
    assert_eq!(
        plan["connect"]["exactly_once"], false,
        "nisshi has no transactions: {plan}"
    );
    assert_eq!(plan["connect"]["config"]["tasks.max"], "5");
    assert!(!e.connectors().contains(&connector));

    // The copy, throttled so a worker dies mid-copy.
    let mut cmd = Proc::new(assert_cmd::cargo::cargo_bin("streamctl"));
    cmd.args(e.args(
        &j,
        &connector,
        &["--topics", &topics, "--throttle", "3MiB/s", "--yes"],
    ));
    let mut run = common::Running::spawn(cmd, e.dir.path().join("copy.log"));
    run.wait_until(
        &format!("4,000 of 24,000 records of {a} reached the target"),
        || e.target_high(&a, 3) > 4_000,
    );
    // The worker streamctl does not talk to.
    connect_sh(&["kill", "2"]);
    let at = e.target_high(&a, 3);
    eprintln!("killed worker 2 with {at} of 24000 records of {a} on the target");
    assert!(at < 24_000, "the kill came too late to be mid-copy");
    let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.finish()));
    connect_sh(&["start", "2"]);
    let (_, out) = done.unwrap_or_else(|p| std::panic::resume_unwind(p));
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["verify"]["ok"], true, "{r}");
    let dups = r["connect"]["duplicate_records"].as_i64().unwrap();
    let (sa, ta) = assert_copied_with_replays(&e, &a, 3);
    let (sb, tb) = assert_copied_with_replays(&e, &b, 2);
    eprintln!(
        "copied {sa}+{sb} records; the target holds {ta}+{tb}; streamctl reports {dups} repeated"
    );
    assert_eq!((sa, sb), (24_000, 300));
    assert_eq!(
        (ta + tb - sa - sb) as i64,
        dups,
        "the repeats streamctl reports are the target's"
    );
    // No quota is left on the source, and the connector is paused (not deleted) between runs.
    assert!(
        !e.client_quotas().contains(&connector),
        "{}",
        e.client_quotas()
    );
    assert!(e.connectors().contains(&connector));

    // A group consumed part of each partition of a on the source.
    let g = format!("{a}-g");
    let source: Vec<Vec<(i64, Rec)>> = (0..3).map(|p| read_all(e.k.first(), &a, p, true)).collect();
    let consumed = [1_234usize, 7_000, 3];
    let next: Vec<(i32, i64)> = (0..3)
        .map(|p| (p as i32, source[p][consumed[p] - 1].0 + 1))
        .collect();
    commit_group(e.k.first(), &g, &a, &next);
    // Records after the copy: the cutover copies the tail through the connector.
    let tail = producer(e.k.first(), &[]);
    for i in 0..90 {
        send(&tail, &a, i % 3, 50_000 + i as usize, 300, None);
    }
    tail.flush(Duration::from_secs(30)).unwrap();

    let r = common::ok_json(&e.migrate(
        &j,
        &connector,
        &[
            "--cutover",
            "--groups",
            &format!("^{g}$"),
            "--wait-for-producers-stopped",
            "--yes",
        ],
    ));
    assert_eq!(r["copy"]["records"], 90, "the tail: {r}");
    assert_eq!(r["verify"]["ok"], true);
    assert_eq!(r["cutover"]["phase"], "committed");
    for p in 0..3 {
        let next = next_for_group(&e.target, &g, &a, p as i32).expect("a next record");
        assert_eq!(
            next, source[p][consumed[p]].1,
            "{g} resumes after its last record on {p}"
        );
    }
    // After the cutover the connector is gone and so are the quotas.
    assert!(!e.connectors().contains(&connector), "{}", e.connectors());
    assert!(!e.client_quotas().contains(&connector));
    let st = common::ok_json(&e.migrate(&j, &connector, &["--status"]));
    assert_eq!(st["connect"]["deleted"], true);
}

#[test]
fn connect_engine_throttle_holds_the_rate() {
    let Some(e) = env() else { return };
    let topic = unique("cn-rate");
    e.create(&topic, 3);
    let n = 20_000usize;
    fill(e.k.first(), &topic, 3, n, 1_000);
    let connector = unique("cnr");
    let _remove = Remove(e.connect.clone(), connector.clone());
    let j = e.journal("rate");
    // The target's end, watched from here: the rate is measured independently of streamctl.
    let stop = Arc::new(AtomicBool::new(false));
    let watch = {
        let (target, topic, stop) = (e.target.clone(), topic.clone(), stop.clone());
        std::thread::spawn(move || {
            // The topic does not exist yet: metadata is refreshed often so it is seen at once.
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &target)
                .set("topic.metadata.refresh.interval.ms", "200")
                .create()
                .unwrap();
            let (mut first, mut last) = (None, None);
            while !stop.load(Ordering::Relaxed) {
                let high: i64 = (0..3)
                    .map(|p| {
                        c.fetch_watermarks(&topic, p, Duration::from_secs(1))
                            .map(|w| w.1)
                            .unwrap_or(0)
                    })
                    .sum();
                let now = Instant::now();
                if high > 0 && first.is_none() {
                    first = Some((now, high));
                }
                if high >= n as i64 {
                    last = Some(now);
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("watcher: first {first:?} last {last:?}");
            (first, last)
        })
    };
    let throttle = 1u64 << 20;
    let r = common::ok_json(&e.migrate(
        &j,
        &connector,
        &[
            "--topics",
            &format!("^{topic}$"),
            "--throttle",
            "1MiB/s",
            "--yes",
        ],
    ));
    stop.store(true, Ordering::Relaxed);
    let (first, last) = watch.join().unwrap();
    let ((t0, h0), t1) = (
        first.expect("records arrived"),
        last.expect("the copy completed"),
    );
    // Payload per record: key (8-9 B), value 1000 B, headers 18 B.
    let bytes = r["copy"]["bytes"].as_f64().unwrap();
    let per = bytes / n as f64;
    let observed = per * (n as i64 - h0) as f64 / (t1 - t0).as_secs_f64();
    let ratio = observed / throttle as f64;
    let reported = r["achieved_bytes_per_sec"].as_f64().unwrap() / throttle as f64;
    eprintln!("throttle 1 MiB/s: observed {ratio:.3} × (target watched), reported {reported:.3} ×");
    assert!(ratio <= 1.05, "observed {ratio:.3} × the throttle");
    // A 20 s run gets quotas at about 20/31 of the throttle (Kafka may let it catch up 11 s
    // worth), and payload is less than the fetched bytes the quota counts: 0.53–0.83 × seen. A
    // wrong split (every leader counted for every task: a third here) would stay below 0.3.
    assert!(ratio >= 0.4, "observed only {ratio:.3} × the throttle");
    assert!(reported <= 1.05, "reported {reported:.3} × the throttle");
    assert_eq!(r["verify"]["ok"], true);
    assert!(!e.client_quotas().contains(&connector));
    // --cancel deletes the connector; the journal and the data stay.
    let r = common::ok_json(&e.migrate(&j, &connector, &["--cancel"]));
    assert_eq!(r["connect"]["deleted"], true, "{r}");
    assert!(!e.connectors().contains(&connector));
    assert_eq!(e.target_high(&topic, 3), n as i64);
}

#[test]
fn connect_engine_preflight_and_emitted_config() {
    let Some(e) = env() else { return };
    let topic = unique("cn-pre");
    e.create(&topic, 2);
    fill(e.k.first(), &topic, 2, 10, 100);
    let connector = unique("cnp");
    let _remove = Remove(e.connect.clone(), connector.clone());
    let j = e.journal("pre");
    let out = e.migrate(
        &j,
        &connector,
        &["--topics", &format!("^{topic}$"), "--emit-config"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        c["connector.class"],
        "org.apache.kafka.connect.mirror.MirrorSourceConnector"
    );
    // A throttle under which no task could fetch one batch per quota window (2 tasks need at
    // least 2 × 1 MiB / 10 s): refused before anything is created.
    let low = e.migrate(
        &j,
        &connector,
        &[
            "--topics",
            &format!("^{topic}$"),
            "--throttle",
            "150KiB/s",
            "--dry-run",
        ],
    );
    // The problems are the JSON report on stdout; stderr says how many.
    let err = format!(
        "{}{}",
        String::from_utf8_lossy(&low.stdout),
        String::from_utf8_lossy(&low.stderr)
    );
    assert_eq!(low.status.code(), Some(2), "{err}");
    assert!(
        err.contains("quota window") && err.contains("--connect-max-tasks"),
        "{err}"
    );
    assert_eq!(c["topics"], topic.replace('.', "\\."));
    assert_eq!(c["producer.override.bootstrap.servers"], e.target.as_str());
    assert!(
        !e.connectors().contains(&connector),
        "--emit-config changes nothing"
    );
    assert!(!j.exists());
    // From a SASL_SSL source: the emitted config carries the client properties for the workers
    // with the password masked, and nothing printed holds it.
    let scram = e.dir.path().join("scram.properties");
    std::fs::write(&scram, format!("security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"admin-secret\";\nssl.truststore.type=PEM\nssl.truststore.location={}\n", std::env::var("STREAMCTL_KAFKA_CA").unwrap())).unwrap();
    let mut args = e.args(
        &j,
        &connector,
        &[
            "--topics",
            &format!("^{topic}$"),
            "--emit-config",
            "--source-command-config",
            scram.to_str().unwrap(),
        ],
    );
    let at = args.iter().position(|a| a == "--source-bootstrap").unwrap();
    args[at + 1] = std::env::var("STREAMCTL_KAFKA_SASL_SSL_BOOTSTRAP").unwrap();
    let out = e.k.streamctl().args(args).output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["source.cluster.security.protocol"], "SASL_SSL", "{c}");
    assert!(!printed.contains("admin-secret"), "{printed}");
    assert!(!j.exists());

    // A URL where no Connect worker answers: a located problem, exit 2, nothing changed.
    let out =
        e.k.streamctl()
            .args([
                "migrate",
                "diskless",
                "--engine",
                "connect",
                "--connect-url",
                "http://127.0.0.1:1",
                "--source-bootstrap",
                e.k.first(),
                "--target-bootstrap",
                &e.target,
                "--journal",
                j.to_str().unwrap(),
                "--topics",
                &format!("^{topic}$"),
                "--yes",
            ])
            .output()
            .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cannot reach the Kafka Connect REST API"),
        "{text}"
    );
    assert!(!j.exists());
    // The journal keeps the engine: a built-in run on a connect journal is refused.
    let r = common::ok_json(&e.migrate(
        &j,
        &connector,
        &["--topics", &format!("^{topic}$"), "--yes"],
    ));
    assert_eq!(r["verify"]["ok"], true);
    let out =
        e.k.streamctl()
            .args([
                "migrate",
                "diskless",
                "--engine",
                "builtin",
                "--source-bootstrap",
                e.k.first(),
                "--target-bootstrap",
                &e.target,
                "--journal",
                j.to_str().unwrap(),
                "--topics",
                &format!("^{topic}$"),
                "--yes",
            ])
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connect engine"));
    let _ = common::ok_json(&e.migrate(&j, &connector, &["--cancel"]));
}

/// The REST API over HTTPS with basic auth (Kafka's BasicAuthSecurityRestExtension): without
/// credentials, with a wrong password, or with a CA that did not sign the workers' certificate,
/// the run stops before any change with exit 6 and says which; no connector is created.
#[test]
fn connect_rest_over_https_refuses_missing_credentials_and_an_unknown_ca() {
    let Some(e) = env() else { return };
    assert!(
        e.connect.starts_with("https://"),
        "connect.sh serves HTTPS: {}",
        e.connect
    );
    let topic = unique("cn-auth");
    e.create(&topic, 1);
    let connector = format!("{topic}-c");
    let wrong = e.dir.path().join("wrong-credentials");
    std::fs::write(&wrong, "connect-admin:not-the-password\n").unwrap();
    let other_ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/other-ca.pem");
    let j = e.journal("auth");
    for (case, says) in [
        ("no credentials", "requires credentials"),
        ("wrong password", "credentials were not accepted"),
        ("unknown CA", "TLS"),
    ] {
        let mut c = e.k.streamctl();
        c.args(e.args(
            &j,
            &connector,
            &["--topics", &format!("^{topic}$"), "--yes"],
        ));
        match case {
            "no credentials" => {
                c.env_remove("STREAMCTL_CONNECT_CREDENTIALS_FILE");
            }
            "wrong password" => {
                c.env("STREAMCTL_CONNECT_CREDENTIALS_FILE", &wrong);
            }
            _ => {
                c.env("STREAMCTL_CONNECT_CA_FILE", other_ca);
            }
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(6), "{case}: {err}");
        assert!(err.contains(says), "{case}: {err}");
        assert!(
            !err.contains("connect-secret"),
            "{case}: the password leaked"
        );
        assert!(
            !e.connectors().contains(&connector),
            "{case}: a connector was created"
        );
    }
}

/// `--follow --engine connect` while a producer writes: the connector copies round after round,
/// a group moves to the target through `--sync-groups` and resumes exactly after its last
/// record, SIGTERM ends the follower with exit 0 and the connector paused, and every source
/// record is on the target in order.
#[test]
fn connect_engine_follows_a_producer_and_moves_a_group() {
    let Some(e) = env() else { return };
    let topic = unique("cx-follow");
    e.create(&topic, 2);
    fill(e.k.first(), &topic, 2, 1_000, 300);
    let connector = unique("follow");
    let _remove = Remove(e.connect.clone(), connector.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, bootstrap, topic) = (stop.clone(), e.k.first().to_string(), topic.clone());
        std::thread::spawn(move || {
            let p = producer(&bootstrap, &[]);
            let mut i = 1_000;
            while !stop.load(Ordering::Relaxed) {
                send(&p, &topic, (i % 2) as i32, i, 300, None);
                i += 1;
                if i % 20 == 0 {
                    p.flush(Duration::from_secs(30)).unwrap();
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            p.flush(Duration::from_secs(30)).unwrap();
        })
    };
    let j = e.journal("follow");
    let mut cmd = Proc::new(assert_cmd::cargo::cargo_bin("streamctl"));
    cmd.arg("--no-progress")
        .args(e.args(&j, &connector, &["--topics", &format!("^{topic}$")]))
        .args(["--yes", "--follow", "--follow-interval", "1s"])
        .args([
            "--sync-groups",
            &format!("^{topic}-g"),
            "--sync-interval",
            "2s",
        ]);
    let mut run = common::Running::spawn(cmd, e.dir.path().join("follow.log"));
    let g = format!("{topic}-g1");
    run.wait_until("the backlog is copied", || {
        e.target_high(&topic, 2) >= 1_000
    });
    commit_group(e.k.first(), &g, &topic, &[(0, 200), (1, 207)]);
    let source: Vec<Vec<(i64, Rec)>> = (0..2)
        .map(|p| read_all(e.k.first(), &topic, p, true))
        .collect();
    run.wait_until("the group is synced to the target", || {
        (0..2).all(|p| committed_on(&e.target, &g, &topic, p).is_some())
    });
    for p in 0..2 {
        let at = committed_on(e.k.first(), &g, &topic, p).unwrap();
        let want = &source[p as usize].iter().find(|(o, _)| *o == at).unwrap().1;
        assert_eq!(
            &next_for_group(&e.target, &g, &topic, p).unwrap(),
            want,
            "the group resumes after its last record on partition {p}"
        );
    }
    // Following for a while longer, then the producer stops and the copy catches up.
    std::thread::sleep(Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let produced: i64 = {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", e.k.first())
            .create()
            .unwrap();
        (0..2)
            .map(|p| {
                c.fetch_watermarks(&topic, p, Duration::from_secs(10))
                    .unwrap()
                    .1
            })
            .sum()
    };
    run.wait_until("the copy caught up with the producer", || {
        e.target_high(&topic, 2) >= produced
    });
    run.sigterm();
    let (status, stdout) = run.finish();
    assert!(status.success());
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["verify"]["ok"], true, "{r}");
    assert_eq!(
        r["connect"]["deleted"], false,
        "the connector stays for the next run"
    );
    assert_eq!(r["connect"]["quota_pending"], false, "{r}");
    let (ns, _) = assert_copied_with_replays(&e, &topic, 2);
    assert_eq!(ns as i64, produced);
    assert!(
        e.connectors().contains(&connector),
        "the connector is kept (paused) after the follower stops"
    );
}
