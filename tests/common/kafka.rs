//! Shared helpers for the tests against the local Kafka clusters (tests/kafka/cluster.sh):
//! one test at a time per binary, Kafka's own tools from the same jars, data produced and read
//! back with checksums through rdkafka.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command as Proc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde_json::Value;

static TURN: Mutex<()> = Mutex::new(());

/// Where a new topic's replicas go.
#[derive(Clone, Copy)]
pub enum Placement<'a> {
    /// This many partitions of 3 replicas, placed by Kafka (rack-aware).
    Spread(u32),
    /// Kafka's --replica-assignment (`1:4:2,...`).
    Explicit(&'a str),
}

pub struct Live {
    pub bootstrap: String,
    pub libs: PathBuf,
    _turn: Option<std::sync::MutexGuard<'static, ()>>,
}

impl Live {
    /// The cluster whose bootstrap list is in `var` (set by tests/run.sh), one test at a time;
    /// None (skipped, loudly) with STREAMCTL_SKIP_KAFKA=1.
    pub fn from_env(var: &str) -> Option<Live> {
        if std::env::var("STREAMCTL_SKIP_KAFKA").as_deref() == Ok("1") {
            eprintln!("SKIPPED: live Kafka tests (STREAMCTL_SKIP_KAFKA=1)");
            return None;
        }
        let bootstrap = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run the tests with `bash tests/run.sh` (it starts the local clusters), or set STREAMCTL_SKIP_KAFKA=1"));
        let libs =
            PathBuf::from(std::env::var("STREAMCTL_KAFKA_LIBS").expect("STREAMCTL_KAFKA_LIBS"));
        let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
        Some(Live {
            bootstrap,
            libs,
            _turn: Some(turn),
        })
    }

    /// Another cluster, used by a test that already holds its turn (no lock taken).
    pub fn other(&self, var: &str) -> Live {
        Live {
            bootstrap: std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set")),
            libs: self.libs.clone(),
            _turn: None,
        }
    }

    pub fn first(&self) -> &str {
        self.bootstrap.split(',').next().unwrap()
    }

    /// Run one of Kafka's own command-line tools from the same jars.
    pub fn tool(&self, class: &str, args: &[&str]) -> (bool, String) {
        let out = Proc::new("java")
            .args([
                "-Xmx256m",
                &format!(
                    "-Dlog4j2.configurationFile={}/tests/kafka/tools-log4j2.properties",
                    env!("CARGO_MANIFEST_DIR")
                ),
                "-cp",
                &format!("{}/*", self.libs.display()),
                class,
            ])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Create `topic`, placed as `placement` says, with `configs` (`key=value`).
    pub fn create(&self, topic: &str, placement: Placement, configs: &[&str]) {
        let n;
        let mut args = vec![
            "--bootstrap-server",
            self.first(),
            "--create",
            "--topic",
            topic,
        ];
        match placement {
            Placement::Spread(p) => {
                n = p.to_string();
                args.extend(["--partitions", &n, "--replication-factor", "3"]);
            }
            Placement::Explicit(a) => args.extend(["--replica-assignment", a]),
        }
        for c in configs {
            args.extend(["--config", c]);
        }
        let (ok, out) = self.tool("org.apache.kafka.tools.TopicCommand", &args);
        assert!(ok, "create {topic}: {out}");
    }

    /// Create `topic` with explicit replica lists (`1:4:2,...`, Kafka's --replica-assignment).
    pub fn create_topic(&self, topic: &str, assignment: &str) {
        self.create(topic, Placement::Explicit(assignment), &[]);
    }

    /// Six partitions, each with two replicas in one AZ.
    pub fn create_rack_unaware(&self, topic: &str) {
        self.create_topic(topic, "1:4:2,4:1:5,2:5:3,5:2:6,3:6:1,6:3:4");
    }

    pub fn streamctl(&self) -> Command {
        let mut c = Command::cargo_bin("streamctl").unwrap();
        c.env("NO_COLOR", "1");
        c
    }

    pub fn snapshot(&self, topic: &str) -> Value {
        let out = self
            .streamctl()
            .args([
                "snapshot",
                "--bootstrap-server",
                &self.bootstrap,
                "--topics",
                &format!("^{topic}$"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn produce(&self, topic: &str, n: usize, size: usize) -> u64 {
        self.produce_to(topic, None, n, size)
    }

    /// `n` records of `size` bytes, to one partition (or spread by key); their checksum.
    pub fn produce_to(&self, topic: &str, partition: Option<i32>, n: usize, size: usize) -> u64 {
        let p: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("acks", "all")
            .set("linger.ms", "5")
            .create()
            .unwrap();
        let mut sum = 0u64;
        for i in 0..n {
            let key = format!("k{i}");
            let value: Vec<u8> = (0..size).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
            sum = sum.wrapping_add(checksum(&value));
            loop {
                let mut record = BaseRecord::to(topic).key(&key).payload(&value);
                if let Some(part) = partition {
                    record = record.partition(part);
                }
                match p.send(record) {
                    Ok(()) => break,
                    Err((e, _)) if e.to_string().contains("Queue full") => {
                        p.poll(Duration::from_millis(50));
                    }
                    Err((e, _)) => panic!("produce: {e}"),
                }
            }
            p.poll(Duration::ZERO);
        }
        p.flush(Duration::from_secs(60)).unwrap();
        sum
    }

    /// Read every record of the topic from the beginning: (count, checksum).
    pub fn consume_all(&self, topic: &str, expect: usize) -> (usize, u64) {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", format!("verify-{topic}"))
            .set("enable.auto.commit", "false")
            .set("client.rack", "us-east-1a")
            .create()
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        let partitions = self.snapshot(topic)["partitions"].as_array().unwrap().len() as i32;
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
        c.assign(&tpl).unwrap();
        let (mut n, mut sum) = (0usize, 0u64);
        let start = Instant::now();
        while n < expect && start.elapsed() < Duration::from_secs(60) {
            match c.poll(Duration::from_millis(500)) {
                Some(Ok(m)) => {
                    sum = sum.wrapping_add(checksum(m.payload().unwrap_or_default()));
                    n += 1;
                }
                // A broker that is down (on purpose) shows as transport errors: the count and
                // the checksum decide.
                Some(Err(e)) => eprintln!("consumer: {e}"),
                None => {}
            }
        }
        (n, sum)
    }
}

/// Topic names unique to this run, so re-runs against a long-lived cluster do not collide.
/// The ids of the tiered cluster's brokers, after starting more (`cluster.sh add-broker`: next id,
/// next AZ) until there are at least `want`.
pub fn tiered_brokers_up_to(k: &Live, want: usize) -> Vec<i64> {
    let ids = || -> Vec<i64> {
        k.snapshot("")["brokers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["id"].as_i64().unwrap())
            .collect()
    };
    let mut have = ids();
    while have.len() < want {
        let out = std::process::Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/kafka/cluster.sh"
            ))
            .arg("add-broker")
            .env("STREAMCTL_KAFKA_TIERED", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        have = ids();
    }
    have
}

pub fn unique(base: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 1_000_000_000;
    format!("{base}-{}-{t}", std::process::id())
}

pub fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(1469598103934665603u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(1099511628211)
    })
}

/// Each broker's rack in a `streamctl snapshot`.
pub fn racks(snapshot: &Value) -> BTreeMap<i64, String> {
    snapshot["brokers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["id"].as_i64().unwrap(),
                b["rack"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn one_replica_per_az(snapshot: &Value) -> bool {
    let racks = racks(snapshot);
    snapshot["partitions"].as_array().unwrap().iter().all(|p| {
        let mut azs: Vec<&String> = p["replicas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &racks[&r.as_i64().unwrap()])
            .collect();
        azs.sort();
        azs.dedup();
        azs.len() == 3
    })
}
