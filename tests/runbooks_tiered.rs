//! docs/runbooks/classic-to-tiered.md runs as written (its `sh runbook` blocks, in order, in one
//! `bash -euo pipefail`) against the local tiered cluster (Apache Kafka with KIP-405 and Kafka's
//! reference remote storage manager) while a producer writes. What it leaves behind is then
//! checked independently: assess's predicted tiering time against the measured one, the drain's
//! against its plan, the retired brokers empty, every record read back from offset 0.
//!
//! In the test command's first round: the second round stops the tiered cluster.

mod common;
#[path = "common/kafka.rs"]
mod kafka;
#[path = "common/records.rs"]
mod records;
#[path = "common/runbook.rs"]
mod runbook;

use std::time::{Duration, Instant};

use kafka::{tiered_brokers_up_to, unique, Live, Placement};
use records::{fill, read_all, Paced};

/// Records written before the migration, per partition (`fill` sends record i to partition i % 3).
const FILLED: usize = 9_000;
const SIZE: usize = 2_000;

#[test]
fn classic_to_tiered_runs_from_the_docs_within_its_predictions_and_retires_brokers() {
    let Some(k) = Live::from_env("STREAMCTL_TIERED_BOOTSTRAP") else {
        return;
    };
    // Nine brokers (1-9; AZ a, b, c in turn): brokers 7 (a) and 8 (b) lead the topic and are
    // retired, so the busiest leader (7) uploads two partitions' segments.
    let ids = tiered_brokers_up_to(&k, 9);
    assert!(ids.contains(&7) && ids.contains(&8), "{ids:?}");
    let topic = unique("rbt-logs");
    k.create(
        &topic,
        Placement::Explicit("7:8:3,8:3:7,7:2:9"),
        &["segment.bytes=1048576", "retention.ms=604800000"],
    );
    // A backlog of 18 MB a day old (so a 20 s local retention deletes it once uploaded), and a
    // producer writing about 0.1 MB/s while the runbook runs.
    fill(k.first(), &topic, 3, FILLED, SIZE);
    let writer = Paced::start(
        k.first(),
        &topic,
        (3, 100_000),
        (50.0, SIZE),
        Duration::from_secs(180),
    );
    let work = tempfile::tempdir().unwrap();
    let name = format!("rbt{}", &topic[topic.len() - 6..]).to_lowercase();
    let topics = format!("^{topic}$");
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(|| {
        runbook::run(
            "docs/runbooks/classic-to-tiered.md",
            &[
                ("SOURCE", k.first()),
                ("TOPICS", &topics),
                ("LOCAL_RETENTION", "20s"),
                ("RETIRE", "7,8"),
                ("NAME", &name),
                ("WORK", &work.path().display().to_string()),
            ],
        )
    });
    writer.stop();
    let out = match outcome {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e),
    };
    eprintln!(
        "runbook ({:.0} s):\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
    );

    // What assess predicted for tiering, against the waves' own time.
    let step = runbook::assess_step(work.path(), "tiered");
    let predicted = step["predicted_secs"].as_f64().unwrap();
    let report = runbook::json(&work.path().join("tier-report.json"));
    let waves = report["waves"].as_array().unwrap();
    let measured: f64 = waves
        .iter()
        .map(|w| w["duration_seconds"].as_f64().unwrap())
        .sum();
    eprintln!(
        "runbook: tiering took {measured:.1} s; assess predicted {predicted:.1} s ({} bytes at {} B/s per broker: {})",
        step["bytes"], step["throttle_bytes_per_sec"], step["predicted_how"]
    );
    assert!(
        runbook::within(predicted, measured, 1.5),
        "predicted {predicted:.1} s, measured {measured:.1} s"
    );
    // The busiest leader uploaded at about the tier throttle, not three brokers' worth of it.
    let throttle = step["throttle_bytes_per_sec"].as_f64().unwrap();
    let busiest = waves[0]["max_broker_upload_bytes_per_sec"]
        .as_f64()
        .unwrap();
    assert!(
        busiest <= 1.5 * throttle,
        "a broker uploaded at {busiest:.0} B/s against a {throttle} B/s throttle"
    );

    // The drain against its plan, and the retired brokers empty.
    let d = &report["drain"];
    let (took, drain_predicted) = (
        d["moving_seconds"].as_f64().unwrap(),
        d["predicted_seconds"].as_f64().unwrap(),
    );
    eprintln!(
        "runbook: the drain moved {} bytes in {took:.1} s; predicted {drain_predicted:.1} s",
        d["bytes_moved"]
    );
    assert!(
        runbook::within(drain_predicted, took, 1.5),
        "drain: predicted {drain_predicted:.1} s, took {took:.1} s"
    );
    let all = k.snapshot(".*");
    for p in all["partitions"].as_array().unwrap() {
        let on: Vec<i64> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_i64().unwrap())
            .collect();
        assert!(
            !on.contains(&7) && !on.contains(&8),
            "{}-{} still on a retired broker: {on:?}",
            p["topic"],
            p["partition"]
        );
    }

    // Every record written before the migration, from offset 0 (the remote store now holds the
    // older part), byte for byte, and no gap to the end.
    for part in 0..3i32 {
        let recs = read_all(k.first(), &topic, part, false);
        for (n, (offset, _)) in recs.iter().enumerate() {
            assert_eq!(
                *offset, n as i64,
                "{topic}-{part}: a gap before offset {offset}"
            );
        }
        let filled: Vec<usize> = (0..FILLED).filter(|i| i % 3 == part as usize).collect();
        assert!(
            recs.len() >= filled.len(),
            "{topic}-{part}: {} records",
            recs.len()
        );
        for (i, (_, (key, value, _, _))) in filled.iter().zip(&recs) {
            assert_eq!(key.as_deref(), Some(format!("key-{i}").as_bytes()));
            let want: Vec<u8> = (0..SIZE).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
            assert_eq!(
                value.as_deref(),
                Some(&want[..]),
                "{topic}-{part}: record {i}"
            );
        }
    }
}
