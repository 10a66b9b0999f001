//! An in-memory cluster for the migration engines' unit tests: records by partition with offsets
//! as stored (gaps for markers and aborted records), groups, a reader that can lose its position
//! and re-deliver, and a writer that appends and acknowledges. The live tests run the same paths
//! against Kafka and nisshi.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::kafka::records::{Ack, DataCluster, GroupInfo, ReadEvent, RecordReader, RecordWriter};
use crate::kafka::{KafkaError, Record};

pub(crate) type Key = (String, i32);

#[derive(Default)]
pub(crate) struct State {
    /// Records by partition (offsets as stored) and each partition's high watermark.
    pub(crate) parts: BTreeMap<Key, (Vec<Record>, i64)>,
    /// Group → (members, committed offsets).
    pub(crate) groups: BTreeMap<String, (usize, BTreeMap<Key, i64>)>,
    /// After this many records read, the reader reports a lost position once and then
    /// delivers records it already delivered (as a re-fetch after a seek would).
    pub(crate) lose_after: Option<usize>,
    pub(crate) read: usize,
    /// Records the next re-add delivers again from before its offset.
    pub(crate) stale: i64,
}

#[derive(Clone, Default)]
pub(crate) struct Mem(pub(crate) Arc<Mutex<State>>);

struct MemReader {
    mem: Mem,
    pos: BTreeMap<Key, i64>,
    eof: BTreeSet<Key>,
}

impl RecordReader for MemReader {
    fn add(&mut self, from: &[(String, i32, i64)]) -> Result<(), KafkaError> {
        // After a lost position, the first re-add also delivers a few records before the
        // offset asked for (as fetches already queued in a client would).
        let stale = std::mem::take(&mut self.mem.0.lock().unwrap().stale);
        for (t, p, o) in from {
            self.pos.insert((t.clone(), *p), (*o - stale).max(0));
        }
        Ok(())
    }
    fn remove(&mut self, parts: &[(String, i32)]) -> Result<(), KafkaError> {
        for k in parts {
            self.pos.remove(k);
            self.eof.remove(k);
        }
        Ok(())
    }
    fn poll(&mut self, _: Duration) -> Result<Option<ReadEvent>, KafkaError> {
        let mut s = self.mem.0.lock().unwrap();
        s.read += 1;
        if s.lose_after == Some(s.read) {
            s.lose_after = None;
            s.stale = 5;
            return Ok(Some(ReadEvent::PositionLost("offset out of range".into())));
        }
        for (k, pos) in self.pos.iter_mut() {
            let (recs, high) = &s.parts[k];
            if let Some(r) = recs.iter().find(|r| r.offset >= *pos) {
                *pos = r.offset + 1;
                return Ok(Some(ReadEvent::Record(r.clone())));
            }
            // Past markers and aborted records: the position reaches the high watermark.
            *pos = (*pos).max(*high);
            if self.eof.insert(k.clone()) {
                return Ok(Some(ReadEvent::EndOfPartition(k.1)));
            }
        }
        Ok(None)
    }
    fn position(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, KafkaError> {
        Ok(self.pos.get(&(topic.to_string(), partition)).copied())
    }
}

struct MemWriter {
    mem: Mem,
    acks: Vec<Ack>,
}

impl RecordWriter for MemWriter {
    fn send(&mut self, r: &Record) -> Result<(), KafkaError> {
        let mut s = self.mem.0.lock().unwrap();
        let (recs, high) = s.parts.entry((r.topic.clone(), r.partition)).or_default();
        let mut copy = r.clone();
        copy.offset = *high;
        *high += 1;
        recs.push(copy.clone());
        self.acks.push(Ack {
            topic: r.topic.clone(),
            partition: r.partition,
            source_offset: r.offset,
            result: Ok(copy.offset),
        });
        Ok(())
    }
    fn acks(&mut self, _: Duration) -> Vec<Ack> {
        std::mem::take(&mut self.acks)
    }
    fn in_flight(&self) -> usize {
        self.acks.len()
    }
}

impl DataCluster for Mem {
    fn bootstrap(&self) -> &str {
        "mem"
    }
    fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), KafkaError> {
        let s = self.0.lock().unwrap();
        let (recs, high) = s
            .parts
            .get(&(topic.to_string(), partition))
            .cloned()
            .unwrap_or_default();
        Ok((recs.first().map_or(high, |r| r.offset), high))
    }
    fn topics(&self) -> Result<BTreeMap<String, i32>, KafkaError> {
        let s = self.0.lock().unwrap();
        let mut out = BTreeMap::new();
        for (t, p) in s.parts.keys() {
            let n = out.entry(t.clone()).or_insert(0);
            *n = (*n).max(p + 1);
        }
        Ok(out)
    }
    fn reader(&self, _: bool) -> Result<Box<dyn RecordReader>, KafkaError> {
        Ok(Box::new(MemReader {
            mem: self.clone(),
            pos: BTreeMap::new(),
            eof: BTreeSet::new(),
        }))
    }
    fn writer(&self) -> Result<Box<dyn RecordWriter>, KafkaError> {
        Ok(Box::new(MemWriter {
            mem: self.clone(),
            acks: Vec::new(),
        }))
    }
    fn groups(&self) -> Result<Vec<String>, KafkaError> {
        Ok(self.0.lock().unwrap().groups.keys().cloned().collect())
    }
    fn group(&self, name: &str) -> Result<Option<GroupInfo>, KafkaError> {
        Ok(self.0.lock().unwrap().groups.get(name).map(|g| GroupInfo {
            name: name.into(),
            state: if g.0 > 0 { "Stable" } else { "Empty" }.into(),
            members: g.0,
        }))
    }
    fn committed(
        &self,
        group: &str,
        parts: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
        let s = self.0.lock().unwrap();
        Ok(s.groups
            .get(group)
            .map(|g| {
                g.1.iter()
                    .filter(|(k, _)| parts.contains(k))
                    .map(|(k, v)| (k.clone(), *v))
                    .collect()
            })
            .unwrap_or_default())
    }
    fn commit(
        &self,
        group: &str,
        offsets: &BTreeMap<(String, i32), i64>,
    ) -> Result<(), KafkaError> {
        let mut s = self.0.lock().unwrap();
        let g = s.groups.entry(group.into()).or_default();
        assert_eq!(g.0, 0, "a simple commit to a group with members");
        g.1.extend(offsets.iter().map(|(k, v)| (k.clone(), *v)));
        Ok(())
    }
}

pub(crate) use crate::run::progress::Quiet;

pub(crate) fn rec(topic: &str, partition: i32, offset: i64) -> Record {
    Record {
        topic: topic.into(),
        partition,
        offset,
        timestamp: Some(1_000 + offset),
        key: Some(format!("k{offset}").into_bytes()),
        value: Some(vec![offset as u8; 10]),
        headers: vec![("h".into(), None)],
    }
}

/// A source partition from offset 5 with a gap every 7th offset (a marker) and a hole of
/// aborted records at 40..50; its high watermark two past the last record (a final marker).
pub(crate) fn source() -> Mem {
    let m = Mem::default();
    let mut recs = Vec::new();
    for o in 5..120 {
        if o % 7 != 0 && !(40..50).contains(&o) {
            recs.push(rec("t", 0, o));
        }
    }
    let last = recs.last().unwrap().offset;
    m.0.lock()
        .unwrap()
        .parts
        .insert(("t".into(), 0), (recs, last + 2));
    m
}

/// Copy options for the in-memory tests: unthrottled, four partitions in flight, a 5 s stall.
pub(crate) fn copy_options() -> crate::migrate::diskless::copy::CopyOptions {
    crate::migrate::diskless::copy::CopyOptions {
        throttle: None,
        max_in_flight: 4,
        stop: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        stall: std::time::Duration::from_secs(5),
    }
}

/// A journal over the source's partition `t-0` and an empty target `t-0`, in a temporary
/// directory.
pub(crate) fn journal_over(
    src: &Mem,
    tgt: &Mem,
) -> (
    crate::migrate::diskless::journal::DisklessJournal,
    tempfile::TempDir,
) {
    tgt.0
        .lock()
        .unwrap()
        .parts
        .insert(("t".into(), 0), (Vec::new(), 0));
    let mut j = crate::migrate::diskless::journal::DisklessJournal::new("mem", "mem", "t");
    crate::migrate::diskless::copy::add_partitions(&mut j, src, tgt, &[("t".into(), 1)]).unwrap();
    (j, tempfile::tempdir().unwrap())
}

/// What the target's `t-0` holds.
pub(crate) fn target_records(tgt: &Mem) -> Vec<Record> {
    tgt.0.lock().unwrap().parts[&("t".to_string(), 0)].0.clone()
}
