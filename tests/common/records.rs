//! Records for the `migrate diskless` tests (both engines): produced with keys, binary,
//! duplicate and null headers and explicit timestamps; read back independently through rdkafka;
//! consumer groups observed on either side.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// key, value, headers, timestamp: what a consumer observes.
pub type Rec = (
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
    Option<i64>,
);

/// A client of `group` that neither joins nor consumes (to commit or read its offsets).
fn group_client(bootstrap: &str, group: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .unwrap()
}

/// Commit `group`'s offsets (partition, next offset to read) for `topic`, as a consumer that
/// stopped there would have.
pub fn commit_group(bootstrap: &str, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let c = group_client(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .unwrap();
    }
    c.commit(&tpl, CommitMode::Sync).unwrap();
}

pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> BaseProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().unwrap()
}

pub fn send(p: &BaseProducer, topic: &str, partition: i32, i: usize, size: usize, ts: Option<i64>) {
    let key = format!("key-{i}");
    let value: Vec<u8> = (0..size).map(|j| ((i * 31 + j * 7) % 251) as u8).collect();
    // Binary, duplicate and null headers.
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "bin",
            value: Some(&[0u8, 255, i as u8][..]),
        })
        .insert(Header {
            key: "dup",
            value: Some("a"),
        })
        .insert(Header {
            key: "dup",
            value: Some("b"),
        })
        .insert(Header::<&str> {
            key: "null",
            value: None,
        });
    loop {
        let mut r = BaseRecord::to(topic)
            .partition(partition)
            .key(&key)
            .payload(&value)
            .headers(headers.clone());
        if let Some(t) = ts {
            r = r.timestamp(t);
        }
        match p.send(r) {
            Ok(()) => break,
            Err((e, _)) if e.to_string().contains("Queue full") => {
                p.poll(Duration::from_millis(50));
            }
            Err((e, _)) => panic!("produce: {e}"),
        }
    }
    p.poll(Duration::ZERO);
}

/// Records with keys, headers and explicit timestamps, spread over `partitions`. The timestamps
/// start a day back, one millisecond apart: within the topic's retention (older ones would be
/// deleted by time-based retention in the middle of a test).
pub fn fill(bootstrap: &str, topic: &str, partitions: i32, n: usize, size: usize) {
    let p = producer(bootstrap, &[]);
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 86_400_000;
    for i in 0..n {
        send(
            &p,
            topic,
            (i % partitions as usize) as i32,
            i,
            size,
            Some(base + i as i64),
        );
    }
    p.flush(Duration::from_secs(60)).unwrap();
}

/// Every record of one partition from its log start (read_committed on the source).
pub fn read_all(bootstrap: &str, topic: &str, partition: i32, committed: bool) -> Vec<(i64, Rec)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "500")
        .set(
            "isolation.level",
            if committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "reading {topic}-{partition} took too long"
        );
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push((
                    m.offset(),
                    (
                        m.key().map(<[u8]>::to_vec),
                        m.payload().map(<[u8]>::to_vec),
                        headers,
                        m.timestamp().to_millis(),
                    ),
                ));
            }
            // The end only when the position reached the high watermark (read_committed: the
            // last stable offset): a broker may answer an empty fetch before that.
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {
                let (_, high) = c
                    .fetch_watermarks(topic, partition, Duration::from_secs(10))
                    .unwrap();
                let pos = c.position().unwrap();
                let pos = match pos.find_partition(topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o,
                    _ => -1,
                };
                if pos >= high {
                    break;
                }
            }
            Some(Err(e)) => eprintln!("reader: {e}"),
            None => {}
        }
    }
    out
}

/// A consumer that joins `group` on the target and keeps polling until dropped.
pub struct Member {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Member {
    pub fn join(bootstrap: &str, group: &str, topic: &str) -> Member {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create()
            .unwrap();
        c.subscribe(&[topic]).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = c.poll(Duration::from_millis(200));
            }
            c.unsubscribe();
            drop(c);
        });
        Member {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

pub fn group_members(bootstrap: &str, group: &str) -> usize {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    c.fetch_group_list(Some(group), Duration::from_secs(10))
        .map(|l| l.groups().iter().map(|g| g.members().len()).sum())
        .unwrap_or(0)
}

/// The committed offset of `group` on `topic`-`partition` (None: nothing committed).
pub fn committed_on(bootstrap: &str, group: &str, topic: &str, partition: i32) -> Option<i64> {
    let c = group_client(bootstrap, group);
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    match got.elements()[0].offset() {
        rdkafka::Offset::Offset(o) => Some(o),
        _ => None,
    }
}

/// The first record a consumer of `group` reads from the target, per partition.
pub fn next_for_group(bootstrap: &str, group: &str, topic: &str, partition: i32) -> Option<Rec> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "error")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    let Offset::Offset(o) = committed.elements()[0].offset() else {
        panic!("no committed offset for {group} on {topic}-{partition} on the target");
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(o))
        .unwrap();
    c.assign(&tpl).unwrap();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                return Some((
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                    m.headers()
                        .map(|h| {
                            h.iter()
                                .map(|x| (x.key.to_string(), x.value.map(<[u8]>::to_vec)))
                                .collect()
                        })
                        .unwrap_or_default(),
                    m.timestamp().to_millis(),
                ))
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return None,
            _ => {}
        }
    }
    panic!("no record for {group} on the target");
}

/// Both sides of every partition hold the same records in the same order; the target's
/// offsets are dense from 0. Returns the records compared.
pub fn same_records(source: &str, target: &str, topic: &str, partitions: i32) -> usize {
    let mut n = 0;
    for p in 0..partitions {
        let s = read_all(source, topic, p, true);
        let t = read_all(target, topic, p, false);
        assert_eq!(
            s.len(),
            t.len(),
            "{topic}-{p}: {} source records, {} on the target",
            s.len(),
            t.len()
        );
        for (i, ((so, sr), (to, tr))) in s.iter().zip(&t).enumerate() {
            assert_eq!(*to, i as i64, "{topic}-{p}: target offsets dense from 0");
            assert_eq!(
                sr, tr,
                "{topic}-{p}: source offset {so} vs target offset {to}"
            );
        }
        n += s.len();
    }
    n
}

/// A producer in the background writing `per_sec` records of `size` bytes, round robin over
/// `partitions` (record numbers from `first`), until stopped (or `max` has passed).
pub struct Paced {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Paced {
    pub fn start(
        bootstrap: &str,
        topic: &str,
        (partitions, first): (i32, usize),
        (per_sec, size): (f64, usize),
        max: Duration,
    ) -> Paced {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (flag, bootstrap, topic) = (stop.clone(), bootstrap.to_string(), topic.to_string());
        let handle = std::thread::spawn(move || {
            let p = producer(&bootstrap, &[]);
            let (t0, mut n) = (Instant::now(), 0usize);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) && t0.elapsed() < max {
                while n < (t0.elapsed().as_secs_f64() * per_sec) as usize {
                    send(
                        &p,
                        &topic,
                        (n % partitions as usize) as i32,
                        first + n,
                        size,
                        None,
                    );
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            p.flush(Duration::from_secs(30)).unwrap();
        });
        Paced {
            stop,
            handle: Some(handle),
        }
    }

    /// Stop writing and wait for what was sent to be acknowledged.
    pub fn stop(mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().unwrap();
        }
    }
}
