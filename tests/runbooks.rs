//! docs/runbooks/classic-to-diskless.md runs as written: its `sh runbook` blocks are extracted
//! from the Markdown and run in order in `bash -euo pipefail` against the local parts (the Kafka
//! cluster with a producer running; moto, the diskless target's own; nisshi as the diskless
//! broker, started on the bucket the runbook provisions, between its steps 2 and 3 as the page
//! says). What they leave behind is then checked independently (the group on the target, the
//! bucket on the emulator holding what the broker stored, the predicted against the measured
//! copy time).

mod common;
#[path = "common/kafka.rs"]
mod kafka;
#[path = "common/records.rs"]
mod records;
#[path = "common/runbook.rs"]
mod runbook;

use std::process::Command as Proc;
use std::time::Duration;

use kafka::{unique, Live, Placement};
use records::{commit_group, fill, next_for_group, read_all, Paced};

#[test]
fn classic_to_diskless_runs_from_the_docs_and_the_group_resumes_exactly() {
    let Some(k) = Live::from_env("STREAMCTL_KAFKA_BOOTSTRAP") else {
        return;
    };
    // The AWS side goes to the diskless target's own (serial) moto, so that a nisshi broker can
    // start on the bucket the runbook provisions there.
    let moto = std::env::var("STREAMCTL_DISKLESS_S3").unwrap_or_else(|_| {
        panic!("STREAMCTL_DISKLESS_S3 is not set: run the tests with `bash tests/run.sh`")
    });
    let topic = unique("rb-orders");
    k.create(&topic, Placement::Spread(3), &["retention.ms=604800000"]);
    // A backlog of about 12 MB, and a producer writing about 0.2 MB/s while the runbook runs.
    fill(k.first(), &topic, 3, 6_000, 2_000);
    let group = format!("{topic}-g");
    commit_group(k.first(), &group, &topic, &[(0, 100), (1, 150), (2, 200)]);
    let writer = Paced::start(
        k.first(),
        &topic,
        (3, 100_000),
        (100.0, 2_000),
        Duration::from_secs(40),
    );
    let work = tempfile::tempdir().unwrap();
    let name = format!("rb{}", &topic[topic.len() - 6..]).to_lowercase();
    let (topics, groups) = (format!("^{topic}$"), format!("^{group}$"));
    let bucket = format!("{name}-diskless-data");
    let work_dir = work.path().display().to_string();
    let env = |target: &str| -> Vec<(&'static str, String)> {
        vec![
            ("SOURCE", k.first().to_string()),
            ("TARGET", target.to_string()),
            ("TOPICS", topics.clone()),
            ("GROUPS", groups.clone()),
            ("NAME", name.clone()),
            ("WORK", work_dir.clone()),
            ("IMAGE_ID", "ami-760aaa0f".into()),
            ("AWS_ENDPOINT_URL", moto.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    };
    let page = "docs/runbooks/classic-to-diskless.md";
    let outcome = std::panic::catch_unwind(|| {
        // Steps 1-2 (assess, provision); then the diskless broker starts on the provisioned
        // bucket, as the page says; then steps 3-4 (copy, cutover) against it.
        let e = env("");
        let refs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        runbook::run_part(page, 0..2, &refs);
        lift_tls_only_policy(&moto, &bucket);
        let target = Target::serve(&bucket);
        let e = env(&target.bootstrap);
        let refs: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        runbook::run_part(page, 2..usize::MAX, &refs);
        target
    });
    writer.stop();
    let served = match outcome {
        Ok(t) => t,
        Err(e) => std::panic::resume_unwind(e),
    };
    let target = served.bootstrap.clone();
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
    let step = runbook::assess_step(work.path(), "diskless");
    let predicted = step["predicted_secs"].as_f64().unwrap();
    let copy = runbook::json(&work.path().join("copy-report.json"));
    let measured = copy["copy"]["seconds"].as_f64().unwrap();
    eprintln!(
        "runbook: the copy took {measured:.1} s; assess predicted {predicted:.1} s ({} bytes at {} B/s)",
        step["bytes"], step["throttle_bytes_per_sec"]
    );
    assert!(
        runbook::within(predicted, measured, 1.5),
        "predicted {predicted:.1} s, measured {measured:.1} s"
    );
    // The successor's bucket on the emulator, with its multipart-abort rule, holding what the
    // diskless broker stored.
    let get = |query: &str| {
        let out = Proc::new("curl")
            .args(["-s", &format!("{moto}/{bucket}?{query}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let xml = get("lifecycle");
    assert!(xml.contains("AbortIncompleteMultipartUpload"), "{xml}");
    let listing = get("list-type=2&max-keys=5");
    assert!(
        listing.contains("<Key>"),
        "nothing stored in {bucket}: {listing}"
    );
    drop(served);
}

/// The provisioned bucket's policy denies every request not made over TLS. moto stores the policy
/// but evaluates its conditions as met whatever the request (it has no `aws:SecureTransport`), so
/// on the emulator that Deny refuses every object request, HTTPS or not. Check the policy is the
/// TLS-only one provisioning wrote, then take it off on the emulator so the test's broker can
/// store in the bucket.
fn lift_tls_only_policy(moto: &str, bucket: &str) {
    let url = format!("{moto}/{bucket}?policy");
    let out = Proc::new("curl").args(["-s", &url]).output().unwrap();
    let policy: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{bucket} has no bucket policy ({e})"));
    let deny = &policy["Statement"][0];
    assert_eq!(deny["Effect"], "Deny", "{policy}");
    assert_eq!(
        deny["Condition"]["Bool"]["aws:SecureTransport"], "false",
        "{policy}"
    );
    let status = Proc::new("curl")
        .args(["-s", "-f", "-X", "DELETE", &url])
        .status()
        .unwrap();
    assert!(status.success(), "DELETE {url}");
}

/// A diskless broker (nisshi) serving from a bucket of the diskless target's moto
/// (`tests/diskless/nisshi.sh serve`), stopped when dropped.
struct Target {
    bootstrap: String,
    pid_file: std::path::PathBuf,
}

impl Target {
    fn serve(bucket: &str) -> Target {
        let out = Proc::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/diskless/nisshi.sh"
            ))
            .args(["serve", bucket])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "nisshi on {bucket}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let state = std::env::var("STREAMCTL_DISKLESS_STATE").expect("STREAMCTL_DISKLESS_STATE");
        Target {
            bootstrap: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            pid_file: std::path::Path::new(&state).join(format!("on-{bucket}/nisshi.pid")),
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.pid_file) {
            let _ = Proc::new("kill").arg(pid.trim()).status();
            let _ = std::fs::remove_file(&self.pid_file);
        }
    }
}
