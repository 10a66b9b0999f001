//! The runbooks in docs/runbooks/ run as written: their `sh runbook` blocks are extracted from the
//! Markdown and run in order, in one `bash -euo pipefail`, against the local parts (the Kafka
//! cluster with a producer running, moto, nisshi as the diskless target). What they leave behind
//! is then checked independently (the group on the target, the bucket on the emulator, the
//! predicted against the measured copy time).

mod common;
#[path = "common/kafka.rs"]
mod kafka;
#[path = "common/records.rs"]
mod records;

use std::process::Command as Proc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka::{unique, Live};
use rdkafka::producer::Producer;
use records::{commit_group, fill, next_for_group, producer, read_all, send};
use serde_json::Value;

/// The `sh runbook` blocks of a Markdown page, in order.
fn runbook(page: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/{page}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let (mut out, mut inside) = (String::new(), false);
    for line in text.lines() {
        match (inside, line.trim_start()) {
            (false, l) if l.starts_with("```sh runbook") => inside = true,
            (true, l) if l.starts_with("```") => {
                inside = false;
                out.push('\n');
            }
            (true, _) => {
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    assert!(!out.trim().is_empty(), "{page} has no `sh runbook` block");
    out
}

fn json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn classic_to_diskless_runs_from_the_docs_and_the_group_resumes_exactly() {
    let Some(k) = Live::from_env("STREAMCTL_KAFKA_BOOTSTRAP") else {
        return;
    };
    let Some(moto) = common::moto() else { return };
    let target = std::env::var("STREAMCTL_DISKLESS_BOOTSTRAP").unwrap_or_else(|_| {
        panic!("STREAMCTL_DISKLESS_BOOTSTRAP is not set: run the tests with `bash tests/run.sh`")
    });
    let topic = unique("rb-orders");
    let (ok, out) = k.tool(
        "org.apache.kafka.tools.TopicCommand",
        &[
            "--bootstrap-server",
            k.first(),
            "--create",
            "--topic",
            &topic,
            "--partitions",
            "3",
            "--replication-factor",
            "3",
            "--config",
            "retention.ms=604800000",
        ],
    );
    assert!(ok, "{out}");
    // A backlog of about 12 MB, and a producer writing about 0.2 MB/s while the runbook runs.
    fill(k.first(), &topic, 3, 6_000, 2_000);
    let group = format!("{topic}-g");
    commit_group(k.first(), &group, &topic, &[(0, 100), (1, 150), (2, 200)]);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, bootstrap, topic) = (stop.clone(), k.first().to_string(), topic.clone());
        std::thread::spawn(move || {
            let p = producer(&bootstrap, &[]);
            let (t0, mut n) = (Instant::now(), 0usize);
            while !stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(40) {
                while n < (t0.elapsed().as_secs_f64() * 100.0) as usize {
                    send(&p, &topic, (n % 3) as i32, 100_000 + n, 2_000, None);
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            p.flush(Duration::from_secs(30)).unwrap();
        })
    };
    let work = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("streamctl");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let name = format!("rb{}", &topic[topic.len() - 6..]).to_lowercase();
    let out = Proc::new("bash")
        .args(["-euo", "pipefail", "-c"])
        .arg(runbook("docs/runbooks/classic-to-diskless.md"))
        .env("PATH", path)
        .env("SOURCE", k.first())
        .env("TARGET", &target)
        .env("TOPICS", format!("^{topic}$"))
        .env("GROUPS", format!("^{group}$"))
        .env("NAME", &name)
        .env("WORK", work.path())
        .env("IMAGE_ID", "ami-760aaa0f")
        .env("AWS_ENDPOINT_URL", &moto)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_REGION")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        out.status.success(),
        "the runbook failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The group resumes on the target at exactly the record after its last one.
    for (p, at) in [(0, 100), (1, 150), (2, 200)] {
        let want = read_all(k.first(), &topic, p, true)
            .into_iter()
            .find(|(o, _)| *o == at)
            .unwrap()
            .1;
        assert_eq!(next_for_group(&target, &group, &topic, p).unwrap(), want);
    }
    // What assess predicted for the copy, against the copy's own time.
    let assess = json(&work.path().join("assess-report.json"));
    let step = assess["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["successor"] == "diskless")
        .unwrap()
        .clone();
    let predicted = step["predicted_secs"].as_f64().unwrap();
    let copy = json(&work.path().join("copy-report.json"));
    let measured = copy["copy"]["seconds"].as_f64().unwrap();
    eprintln!(
        "runbook: the copy took {measured:.1} s; assess predicted {predicted:.1} s ({} bytes at {} B/s)",
        step["bytes"], step["throttle_bytes_per_sec"]
    );
    assert!(
        predicted.max(measured) / predicted.min(measured).max(1e-3) <= 1.5,
        "predicted {predicted:.1} s, measured {measured:.1} s"
    );
    // The successor's bucket on the emulator, with its multipart-abort rule.
    let lifecycle = Proc::new("curl")
        .args(["-s", &format!("{moto}/{name}-diskless-data?lifecycle")])
        .output()
        .unwrap();
    let xml = String::from_utf8_lossy(&lifecycle.stdout);
    assert!(xml.contains("AbortIncompleteMultipartUpload"), "{xml}");
}
