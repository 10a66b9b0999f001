//! The built-in copier (blocking; librdkafka has its own threads): reconcile the journal with
//! what the target holds, copy partition i → partition i under a global byte throttle (a token
//! bucket) with a cap on partitions in flight, and extend the map from the target's
//! acknowledgements. [`CopyEngine`] is what the cutover drives, this copier or Kafka Connect.

use super::cursor::{position_lost, records_deleted, Cursor};
use super::error::DisklessError;
use super::journal::{save, DisklessJournal, PartitionRecord};
use super::verify::{record_digest, verify, VerifyReport};
use crate::kafka::records::{Ack, DataCluster, ReadEvent, RecordReader, RecordWriter};
use crate::kafka::KafkaError;
use crate::run::progress::{Observation, Progress, Stage};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// A token bucket over bytes: `take` returns how long to wait before the bytes may go. Debt is
/// allowed (a record larger than the burst goes, then the bucket waits it off), so the rate over
/// any window longer than the burst stays at or below `rate`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: f64,
}

impl TokenBucket {
    /// `rate` bytes per second; the burst is a twentieth of a second of it (at least 16 KiB).
    pub fn new(rate: u64) -> Self {
        let burst = (rate as f64 / 20.0).max(16_384.0);
        Self {
            rate: rate as f64,
            burst,
            tokens: 0.0,
            last: 0.0,
        }
    }

    /// Take `bytes` at time `now` (seconds since the copy started); the wait before sending.
    pub fn take(&mut self, now: f64, bytes: u64) -> f64 {
        self.tokens = (self.tokens + (now - self.last).max(0.0) * self.rate).min(self.burst);
        self.last = now.max(self.last);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 {
            0.0
        } else {
            -self.tokens / self.rate
        }
    }
}

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Payload bytes per second over all partitions; `None` unthrottled.
    pub throttle: Option<u64>,
    pub max_in_flight: usize,
    /// Set by a signal handler: stop reading, wait for what was sent, save, return.
    pub stop: Arc<AtomicBool>,
    /// How long the copy may see no record and no acknowledgement before giving up.
    pub stall: Duration,
}

/// What one copy run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CopyStats {
    pub records: u64,
    pub bytes: u64,
    /// From the first record sent to the last acknowledged (connecting, reconciling and a
    /// cold target's first metadata round trips are not copy time).
    pub seconds: f64,
    /// Records the target held beyond the journal (written before a crash) and adopted.
    pub recovered: u64,
    pub partitions: usize,
    /// Of `seconds`, how long the built-in copier waited on `--throttle`: near 0 while the
    /// copy runs below the throttle, the throttle is not what limits it (the source, the target
    /// or this host is). 0 on Kafka Connect (its quotas are on the source brokers).
    #[serde(default)]
    pub throttle_wait_seconds: f64,
}

/// Make sure every selected partition has a journal record (new ones start at the source's log
/// start and the target's end).
pub fn add_partitions(
    j: &mut DisklessJournal,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    topics: &[(String, i32)],
) -> Result<(), DisklessError> {
    for (topic, n) in topics {
        for p in 0..*n {
            if j.partition(topic, p).is_some() {
                continue;
            }
            let (low, _) = src.watermarks(topic, p)?;
            let (_, thigh) = tgt.watermarks(topic, p)?;
            j.partitions.push(PartitionRecord {
                topic: topic.clone(),
                partition: p,
                start: low,
                target_base: thigh,
                caught_up_to: low,
                map: Default::default(),
                bytes: 0,
                verified: None,
                duplicates: Vec::new(),
                source_deleted: false,
            });
        }
    }
    Ok(())
}

/// The target may hold records written after the journal's last save (the process died between
/// the acknowledgement and the save). They are the next source records in order (one producer per
/// partition, idempotent, in order): read both sides, check each pair is the same record, and
/// adopt them into the map. Never assumes; a mismatch stops the copy.
pub fn reconcile(
    j: &mut DisklessJournal,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    stall: Duration,
) -> Result<u64, DisklessError> {
    let mut adopted = 0;
    for p in j.partitions.iter_mut().filter(|p| !p.source_deleted) {
        let (_, thigh) = tgt.watermarks(&p.topic, p.partition)?;
        let expected = p.target_next();
        if thigh < expected {
            return Err(DisklessError::inconsistent(
                format!(
                    "{}-{} on the target ends at offset {thigh}, but the journal has records copied up to {expected}: the target lost records",
                    p.topic, p.partition
                ),
                "check the target's storage (bucket lifecycle rules, retention); copy again into a new topic with a new --journal",
            ));
        }
        if thigh == expected {
            continue;
        }
        let extra = thigh - expected;
        info!(topic = %p.topic, partition = p.partition, records = extra, "adopting records the target stored after the last journal save");
        let (_, shigh) = src.watermarks(&p.topic, p.partition)?;
        let mut s = Cursor::open(src, true, &p.topic, p.partition, p.next(), shigh, stall)?;
        let mut t = Cursor::open(tgt, false, &p.topic, p.partition, expected, thigh, stall)?;
        for _ in 0..extra {
            let (a, b) = (s.next()?, t.next()?);
            match (&a, &b) {
                (Some(a), Some(b)) if record_digest(a) == record_digest(b) => {
                    p.map.push(a.offset, b.offset).map_err(|e| {
                        DisklessError::inconsistent(e.to_string(), "the target partition has another writer")
                    })?;
                    p.bytes += a.payload_bytes();
                    p.caught_up_to = p.caught_up_to.max(a.offset + 1);
                    adopted += 1;
                }
                _ => {
                    return Err(DisklessError::inconsistent(
                        format!(
                            "{}-{}: target offset {} is not the next source record ({:?})",
                            p.topic,
                            p.partition,
                            b.as_ref().map_or(-1, |r| r.offset),
                            a.as_ref().map(|r| r.offset)
                        ),
                        "something else wrote to the target topic: copy into a new topic with a new --journal",
                    ))
                }
            }
        }
    }
    Ok(adopted)
}

/// Copy every partition from where the journal stands to the source's high watermark as read at
/// the start of this run (records produced meanwhile wait for the next run or the cutover).
pub fn copy(
    j: &mut DisklessJournal,
    path: &Path,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    opts: &CopyOptions,
    progress: &dyn Progress,
) -> Result<CopyStats, DisklessError> {
    let recovered = reconcile(j, src, tgt, opts.stall)?;
    let mut run = Run::start(j, src, tgt, opts)?;
    run.stats.recovered = recovered;
    info!(partitions = run.queue.len(), offsets = run.total, "copying");
    loop {
        if !run.stopping {
            run.fill()?;
        }
        if run.in_flight.is_empty() && run.writer.in_flight() == 0 {
            break;
        }
        if opts.stop.load(Ordering::Relaxed) && !run.stopping {
            warn!("stopping: waiting for the target to acknowledge what was sent");
            run.stop_reading()?;
        }
        let ended = if !run.stopping && !run.in_flight.is_empty() && run.failure.is_none() {
            run.read_and_send(src)?
        } else {
            false
        };
        let acks = run.writer.acks(Duration::ZERO);
        run.apply(acks);
        if run.failure.is_some() && !run.stopping {
            run.stop_reading()?;
        }
        if ended || run.last_check.elapsed() > Duration::from_millis(200) {
            run.last_check = Instant::now();
            run.finish_partitions()?;
            progress.update(
                run.copied(),
                run.total,
                run.in_flight.len(),
                // A steady stage: plain progress lines come on progress, not on every poll.
                &Stage::Copying {
                    stopping: run.stopping,
                },
            );
            if run.last_observed.elapsed() >= Duration::from_secs(1) {
                run.observe(progress);
            }
        }
        if run.last_save.elapsed() > Duration::from_secs(1) {
            save(run.j, path)?;
            run.last_save = Instant::now();
        }
        if run.last_activity.elapsed() > opts.stall {
            run.failure = Some(DisklessError::Timeout(format!(
                "no record read and none acknowledged for {:?}; partitions in flight: {}",
                opts.stall,
                run.in_flight
                    .iter()
                    .map(|(t, p)| format!("{t}-{p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
            break;
        }
    }
    run.observe(progress);
    let Run {
        j,
        mut stats,
        first_send,
        failure,
        stopping,
        ..
    } = run;
    stats.seconds = first_send.map_or(0.0, |t| t.elapsed().as_secs_f64());
    j.copy_seconds += stats.seconds;
    j.copy_bytes += stats.bytes;
    save(j, path)?;
    progress.finish();
    if let Some(f) = failure {
        return Err(f);
    }
    if stopping {
        return Err(DisklessError::Interrupted);
    }
    Ok(stats)
}

type Key = (String, i32);

/// One copy run's state: the reader and writer, the throttle, and per partition where this run
/// ends, what is in flight and what the target has not acknowledged yet.
struct Run<'a> {
    j: &'a mut DisklessJournal,
    opts: &'a CopyOptions,
    reader: Box<dyn RecordReader>,
    writer: Box<dyn RecordWriter>,
    bucket: Option<TokenBucket>,
    started: Instant,
    /// Journal index of each partition.
    index: BTreeMap<Key, usize>,
    /// This run's end (the high watermark read at the start) and start, per partition to copy.
    ends: BTreeMap<Key, i64>,
    begin: BTreeMap<Key, i64>,
    /// Offsets to copy in this run.
    total: u64,
    queue: VecDeque<Key>,
    in_flight: BTreeSet<Key>,
    /// Payload bytes of each record sent and not yet acknowledged, in send order.
    pending: BTreeMap<Key, VecDeque<u64>>,
    /// Per partition, the offset after the last record sent: a record below it (a re-delivered
    /// fetch after a seek) is never sent twice.
    sent_next: BTreeMap<Key, i64>,
    stats: CopyStats,
    /// Per partition, the timestamp (ms) of the last record sent, for the lag in seconds.
    last_ts: BTreeMap<Key, i64>,
    /// When the figures were last published (once a second is enough for a scrape).
    last_observed: Instant,
    failure: Option<DisklessError>,
    stopping: bool,
    resets: u32,
    first_send: Option<Instant>,
    last_save: Instant,
    last_activity: Instant,
    last_check: Instant,
}

impl<'a> Run<'a> {
    /// Read each partition's watermarks and queue those with records to copy.
    fn start(
        j: &'a mut DisklessJournal,
        src: &dyn DataCluster,
        tgt: &dyn DataCluster,
        opts: &'a CopyOptions,
    ) -> Result<Self, DisklessError> {
        let mut ends = BTreeMap::new();
        let mut begin = BTreeMap::new();
        let mut queue = VecDeque::new();
        let mut total: u64 = 0;
        for p in j.partitions.iter().filter(|p| !p.source_deleted) {
            let (low, high) = src.watermarks(&p.topic, p.partition)?;
            let next = p.next();
            if next < low {
                return Err(records_deleted(&p.topic, p.partition, next, low));
            }
            if next < high {
                ends.insert((p.topic.clone(), p.partition), high);
                queue.push_back((p.topic.clone(), p.partition));
                total += (high - next) as u64;
                begin.insert((p.topic.clone(), p.partition), next);
            }
        }
        let index = j
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| ((p.topic.clone(), p.partition), i))
            .collect();
        let stats = CopyStats {
            partitions: queue.len(),
            ..Default::default()
        };
        Ok(Self {
            reader: src.reader(true)?,
            writer: tgt.writer()?,
            bucket: opts.throttle.map(TokenBucket::new),
            started: Instant::now(),
            j,
            opts,
            index,
            ends,
            begin,
            total,
            queue,
            in_flight: BTreeSet::new(),
            pending: BTreeMap::new(),
            sent_next: BTreeMap::new(),
            stats,
            last_ts: BTreeMap::new(),
            last_observed: Instant::now(),
            failure: None,
            stopping: false,
            resets: 0,
            first_send: None,
            last_save: Instant::now(),
            last_activity: Instant::now(),
            last_check: Instant::now(),
        })
    }

    /// Start reading queued partitions up to the in-flight cap.
    fn fill(&mut self) -> Result<(), DisklessError> {
        let mut add = Vec::new();
        while self.in_flight.len() < self.opts.max_in_flight.max(1) {
            let Some(k) = self.queue.pop_front() else {
                break;
            };
            let from = self.j.partitions[self.index[&k]].next();
            self.sent_next.insert(k.clone(), from);
            add.push((k.0.clone(), k.1, from));
            self.in_flight.insert(k);
        }
        if !add.is_empty() {
            self.reader.add(&add)?;
        }
        Ok(())
    }

    /// Stop reading (a signal or a failure): what was sent is still acknowledged.
    fn stop_reading(&mut self) -> Result<(), DisklessError> {
        self.stopping = true;
        let parts: Vec<_> = self.in_flight.iter().cloned().collect();
        self.reader.remove(&parts)?;
        self.in_flight.clear();
        Ok(())
    }

    /// One poll of the reader; a record of this run is sent (after the throttle's wait). True
    /// when the reader reached the end of a partition.
    fn read_and_send(&mut self, src: &dyn DataCluster) -> Result<bool, DisklessError> {
        match self.reader.poll(Duration::from_millis(20)) {
            Err(e) => {
                self.failure = Some(e.into());
                self.stopping = true;
            }
            Ok(Some(ReadEvent::Record(r))) => {
                let k = (r.topic.clone(), r.partition);
                if self.in_flight.contains(&k)
                    && r.offset < self.ends[&k]
                    && r.offset >= self.sent_next.get(&k).copied().unwrap_or(i64::MIN)
                {
                    self.throttle(r.payload_bytes());
                    self.writer.send(&r)?;
                    self.first_send.get_or_insert_with(Instant::now);
                    self.sent_next.insert(k.clone(), r.offset + 1);
                    if let Some(ts) = r.timestamp {
                        self.last_ts.insert(k.clone(), ts);
                    }
                    self.pending
                        .entry(k)
                        .or_default()
                        .push_back(r.payload_bytes());
                    self.last_activity = Instant::now();
                }
            }
            Ok(Some(ReadEvent::EndOfPartition(_))) => return Ok(true),
            Ok(Some(ReadEvent::PositionLost(why))) => self.reread(src, &why)?,
            Ok(None) => {}
        }
        Ok(false)
    }

    /// Wait out the token bucket for `bytes`, applying acknowledgements meanwhile.
    fn throttle(&mut self, bytes: u64) {
        let Some(b) = self.bucket.as_mut() else {
            return;
        };
        let wait = b.take(self.started.elapsed().as_secs_f64(), bytes);
        if wait > 0.0 {
            self.stats.throttle_wait_seconds += wait;
            let until = Instant::now() + Duration::from_secs_f64(wait);
            while Instant::now() < until {
                let acks = self
                    .writer
                    .acks(until.saturating_duration_since(Instant::now()));
                self.apply(acks);
            }
        }
    }

    /// The reader lost its position: let everything sent be acknowledged, then read every
    /// partition in flight again from after its last acknowledged record.
    fn reread(&mut self, src: &dyn DataCluster, why: &str) -> Result<(), DisklessError> {
        while self.writer.in_flight() > 0 {
            let acks = self.writer.acks(Duration::from_millis(100));
            self.apply(acks);
        }
        let parts: Vec<Key> = self.in_flight.iter().cloned().collect();
        let from: Vec<i64> = parts
            .iter()
            .map(|k| self.j.partitions[self.index[k]].next())
            .collect();
        position_lost(src, &parts, &from, why, &mut self.resets)?;
        self.reader.remove(&parts)?;
        for (k, o) in parts.iter().zip(&from) {
            self.sent_next.insert(k.clone(), *o);
        }
        let again: Vec<(String, i32, i64)> = parts
            .iter()
            .zip(&from)
            .map(|((t, p), o)| (t.clone(), *p, *o))
            .collect();
        self.reader.add(&again)?;
        Ok(())
    }

    /// Extend each partition's map from the target's acknowledgements (in send order per
    /// partition: the producer is idempotent).
    fn apply(&mut self, acks: Vec<Ack>) {
        if !acks.is_empty() {
            self.last_activity = Instant::now();
        }
        for a in acks {
            let k = (a.topic.clone(), a.partition);
            let size = self
                .pending
                .get_mut(&k)
                .and_then(VecDeque::pop_front)
                .unwrap_or(0);
            match a.result {
                Ok(target) => {
                    let p = &mut self.j.partitions[self.index[&k]];
                    if let Err(e) = p.map.push(a.source_offset, target) {
                        self.failure.get_or_insert(DisklessError::inconsistent(
                            format!("{}-{}: {e}", a.topic, a.partition),
                            "nothing else may write to the target topics during the migration",
                        ));
                        continue;
                    }
                    p.caught_up_to = p.caught_up_to.max(a.source_offset + 1);
                    p.bytes += size;
                    self.stats.records += 1;
                    self.stats.bytes += size;
                }
                Err(e) => {
                    self.failure
                        .get_or_insert(DisklessError::Kafka(KafkaError::Data {
                            address: "target".into(),
                            api: "Produce",
                            message: format!(
                                "{}-{} source offset {}: {e}",
                                a.topic, a.partition, a.source_offset
                            ),
                        }));
                }
            }
        }
    }

    /// Partitions complete in this run: everything sent is acknowledged and the reader's
    /// position (past markers and aborted records) reached this run's end.
    fn finish_partitions(&mut self) -> Result<(), DisklessError> {
        let mut finished = Vec::new();
        for k in &self.in_flight {
            if self.pending.get(k).is_some_and(|q| !q.is_empty()) {
                continue;
            }
            // Nothing unacknowledged: every record below the position is copied or was
            // not readable (a transaction marker, an aborted record).
            if let Some(pos) = self.reader.position(&k.0, k.1)? {
                let p = &mut self.j.partitions[self.index[k]];
                let end = self.ends[k];
                p.caught_up_to = p.caught_up_to.max(pos.min(end));
                if pos >= end {
                    finished.push(k.clone());
                }
            }
        }
        if !finished.is_empty() {
            self.reader.remove(&finished)?;
            for k in finished {
                self.in_flight.remove(&k);
            }
        }
        Ok(())
    }

    /// Per partition and in all, how far the copy is, for metrics: the lag is to this run's end
    /// (the high watermark read at its start), in records, in bytes at the partition's mean
    /// record size so far, and in seconds since the last copied record's timestamp.
    fn observe(&mut self, progress: &dyn Progress) {
        self.last_observed = Instant::now();
        let now_ms = crate::run::store::now_ms() as i64;
        let mut verified = 0u64;
        for p in &self.j.partitions {
            let k = (p.topic.clone(), p.partition);
            let next = p.next();
            let end = self.ends.get(&k).copied().unwrap_or(next).max(next);
            let lag = (end - next).max(0) as u64;
            let records = p.map.records().max(1) as u64;
            let verified_to = p.verified.as_ref().map_or(p.start, |v| v.source_end);
            verified += u64::from(verified_to >= next);
            progress.observe(&Observation::PartitionCopy {
                topic: p.topic.clone(),
                partition: p.partition,
                copied_to: next,
                source_end: end,
                verified_to,
                lag_records: lag,
                lag_bytes: lag * (p.bytes / records),
                lag_seconds: match self.last_ts.get(&k) {
                    Some(&ts) if lag > 0 => ((now_ms - ts).max(0) as f64) / 1000.0,
                    _ => 0.0,
                },
            });
        }
        let secs = self.first_send.map_or(0.0, |t| t.elapsed().as_secs_f64());
        progress.observe(&Observation::Copy {
            records: self.stats.records,
            bytes: self.stats.bytes,
            bytes_per_sec: if secs > 0.0 {
                self.stats.bytes as f64 / secs
            } else {
                0.0
            },
            throttle_bytes_per_sec: self.opts.throttle,
            partitions_verified: verified,
            partitions: self.j.partitions.len() as u64,
        });
    }

    /// Offsets copied in this run, for the progress line.
    fn copied(&self) -> u64 {
        self.begin
            .iter()
            .map(|(k, b)| {
                (self.j.partitions[self.index[k]].next().min(self.ends[k]) - b).max(0) as u64
            })
            .sum()
    }
}

/// How the records get to the target: the built-in copier, or a Kafka Connect cluster
/// (`connect_run`). The cutover drives either: copy the tail, verify, and after the groups are
/// committed, `finish` (a connector is removed).
pub trait CopyEngine {
    fn copy(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<CopyStats, DisklessError>;
    fn verify(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<VerifyReport, DisklessError>;
    fn finish(&mut self, _j: &mut DisklessJournal, _path: &Path) -> Result<(), DisklessError> {
        Ok(())
    }
    /// The journal's partitions changed under a follower (partitions added, topics deleted on
    /// the source): an engine that reads them only when it starts copying picks them up.
    fn partitions_changed(&mut self) {}
}

/// The built-in copier: this process reads the source and writes the target.
pub struct BuiltIn<'a> {
    pub src: &'a dyn DataCluster,
    pub tgt: &'a dyn DataCluster,
    pub opts: CopyOptions,
}

impl CopyEngine for BuiltIn<'_> {
    fn copy(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<CopyStats, DisklessError> {
        copy(j, path, self.src, self.tgt, &self.opts, progress)
    }
    fn verify(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<VerifyReport, DisklessError> {
        verify(j, path, self.src, self.tgt, self.opts.stall, progress)
    }
}

#[cfg(test)]
mod tests {
    //! The copy engine over an in-memory cluster pair: source offsets with gaps (markers,
    //! aborted records), a crash between the target's write and the journal's save, another
    //! writer on the target, and the cutover's fences. The live tests run the same paths against
    //! Kafka and nisshi.
    use super::*;
    use crate::migrate::mem::{
        copy_options, journal_over, rec, source, target_records, Mem, Quiet,
    };

    #[test]
    fn token_bucket_holds_the_rate() {
        let mut b = TokenBucket::new(1_000_000);
        let mut now = 0.0;
        for _ in 0..1_000 {
            now += b.take(now, 10_000);
        }
        // 10 MB at 1 MB/s: about 10 s (the first burst is not free: the bucket starts empty).
        assert!((9.9..=10.1).contains(&now), "{now}");
    }

    #[test]
    fn copies_across_gaps_and_the_map_is_exact() {
        let (src, tgt) = (source(), Mem::default());
        let (mut j, dir) = journal_over(&src, &tgt);
        let path = dir.path().join("j.json");
        let s = copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap();
        let source = src.0.lock().unwrap().parts[&("t".to_string(), 0)].clone();
        assert_eq!(s.records as usize, source.0.len());
        let p = &j.partitions[0];
        assert_eq!(p.start, 5);
        assert_eq!(p.caught_up_to, source.1, "past the final marker");
        for (i, r) in source.0.iter().enumerate() {
            assert_eq!(p.map.target_of(r.offset), Some(i as i64));
        }
        let v = verify(&mut j, &path, &src, &tgt, Duration::from_secs(5), &Quiet).unwrap();
        assert!(v.ok && v.partitions[0].records as usize == source.0.len());
        assert_eq!(v.partitions[0].source_hash, v.partitions[0].target_hash);
        // A re-run has nothing to do.
        let again = copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap();
        assert_eq!(again.records, 0);
        assert_eq!(target_records(&tgt).len(), source.0.len());
    }

    #[test]
    fn records_stored_after_the_last_journal_save_are_checked_and_adopted_not_copied_twice() {
        let (src, tgt) = (source(), Mem::default());
        let (mut j, dir) = journal_over(&src, &tgt);
        let path = dir.path().join("j.json");
        let before = j.clone();
        copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap();
        let full = j.partitions[0].map.clone();
        // The process died after the target stored everything but before the journal knew 30 of
        // them: rebuild the journal from its first records only.
        let mut crashed = before;
        let keep = full.records() - 30;
        let mut n = 0;
        'outer: for r in &full.runs {
            for i in 0..r.len {
                if n == keep {
                    break 'outer;
                }
                crashed.partitions[0]
                    .map
                    .push(r.source + i, r.target + i)
                    .unwrap();
                crashed.partitions[0].caught_up_to = r.source + i + 1;
                n += 1;
            }
        }
        let s = copy(&mut crashed, &path, &src, &tgt, &copy_options(), &Quiet).unwrap();
        assert_eq!(s.recovered, 30);
        assert_eq!(s.records, 0, "nothing sent twice");
        assert_eq!(crashed.partitions[0].map, full);
        assert_eq!(target_records(&tgt).len() as i64, full.records());
    }

    #[test]
    fn a_lost_position_seeks_back_and_sends_nothing_twice() {
        let (src, tgt) = (source(), Mem::default());
        src.0.lock().unwrap().lose_after = Some(40);
        let (mut j, dir) = journal_over(&src, &tgt);
        let path = dir.path().join("j.json");
        let s = copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap();
        let n = src.0.lock().unwrap().parts[&("t".to_string(), 0)].0.len();
        assert_eq!(s.records as usize, n);
        assert_eq!(target_records(&tgt).len(), n, "no duplicate");
        assert!(
            src.0.lock().unwrap().lose_after.is_none(),
            "the loss happened"
        );
        assert!(
            verify(&mut j, &path, &src, &tgt, Duration::from_secs(5), &Quiet)
                .unwrap()
                .ok
        );
    }

    #[test]
    fn records_retention_deleted_before_they_were_copied_are_named_not_skipped() {
        let (src, tgt) = (source(), Mem::default());
        let (mut j, dir) = journal_over(&src, &tgt);
        let path = dir.path().join("j.json");
        copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap();
        // New records 500..510 arrive, then retention removes everything below 505.
        {
            let mut s = src.0.lock().unwrap();
            let e = s.parts.get_mut(&("t".to_string(), 0)).unwrap();
            e.0 = (505..510).map(|o| rec("t", 0, o)).collect();
            e.1 = 510;
        }
        let before = target_records(&tgt).len();
        let err = copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap_err();
        assert!(err.to_string().contains("..505 were deleted"), "{err}");
        assert_eq!(
            target_records(&tgt).len(),
            before,
            "nothing copied past the hole"
        );
    }

    #[test]
    fn a_foreign_record_on_the_target_stops_the_copy() {
        let (src, tgt) = (source(), Mem::default());
        let (mut j, dir) = journal_over(&src, &tgt);
        let path = dir.path().join("j.json");
        copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap();
        // Someone else writes to the target; the source gets a new record.
        let mut w = tgt.writer().unwrap();
        w.send(&rec("t", 0, 999)).unwrap();
        let mut r = rec("t", 0, 500);
        r.value = Some(b"new".to_vec());
        {
            let mut s = src.0.lock().unwrap();
            let e = s.parts.get_mut(&("t".to_string(), 0)).unwrap();
            e.0.push(r);
            e.1 = 501;
        }
        let err = copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap_err();
        assert!(
            matches!(err, DisklessError::Inconsistent { ref message, .. } if message.contains("not the next source record")),
            "{err}"
        );
    }
}
