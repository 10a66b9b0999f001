//! The built-in copier (blocking; librdkafka has its own threads): reconcile the journal with
//! what the target holds, copy partition i → partition i under a global byte throttle (a token
//! bucket) with a cap on partitions in flight, and extend the map from the target's
//! acknowledgements. [`CopyEngine`] is what the cutover drives, this copier or Kafka Connect.

use super::cursor::{position_lost, records_deleted, Cursor};
use super::error::DisklessError;
use super::journal::{save, DisklessJournal, PartitionRecord};
use super::verify::{record_digest, verify, VerifyReport};
use crate::kafka::records::{DataCluster, ReadEvent};
use crate::kafka::KafkaError;
use crate::run::progress::{Progress, Stage};
use serde::Serialize;
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
#[derive(Debug, Clone, Default, Serialize)]
pub struct CopyStats {
    pub records: u64,
    pub bytes: u64,
    /// From the first record sent to the last acknowledged (connecting, reconciling and a
    /// cold target's first metadata round trips are not copy time).
    pub seconds: f64,
    /// Records the target held beyond the journal (written before a crash) and adopted.
    pub recovered: u64,
    pub partitions: usize,
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
    for p in &mut j.partitions {
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
    let started = Instant::now();
    let mut stats = CopyStats {
        recovered: reconcile(j, src, tgt, opts.stall)?,
        ..Default::default()
    };
    // The end of this run per partition, and the work list.
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut queue: VecDeque<(String, i32)> = VecDeque::new();
    let mut total: u64 = 0;
    let mut begin: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for p in &j.partitions {
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
    stats.partitions = queue.len();
    let index: BTreeMap<(String, i32), usize> = j
        .partitions
        .iter()
        .enumerate()
        .map(|(i, p)| ((p.topic.clone(), p.partition), i))
        .collect();
    let mut reader = src.reader(true)?;
    let mut writer = tgt.writer()?;
    let mut bucket = opts.throttle.map(TokenBucket::new);
    let mut in_flight: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut pending: BTreeMap<(String, i32), VecDeque<u64>> = BTreeMap::new();
    let mut last_save = Instant::now();
    let mut last_activity = Instant::now();
    let mut last_check = Instant::now();
    let mut stopping = false;
    let mut resets = 0u32;
    let mut first_send: Option<Instant> = None;
    // Per partition, the offset after the last record sent: a record below it (a re-delivered
    // fetch after a seek) is never sent twice.
    let mut sent_next: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut failure: Option<DisklessError> = None;
    info!(partitions = queue.len(), offsets = total, "copying");
    loop {
        // Fill the in-flight set.
        if !stopping {
            let mut add = Vec::new();
            while in_flight.len() < opts.max_in_flight.max(1) {
                let Some(k) = queue.pop_front() else { break };
                let from = j.partitions[index[&k]].next();
                sent_next.insert(k.clone(), from);
                add.push((k.0.clone(), k.1, from));
                in_flight.insert(k);
            }
            if !add.is_empty() {
                reader.add(&add)?;
            }
        }
        if in_flight.is_empty() && writer.in_flight() == 0 {
            break;
        }
        if opts.stop.load(Ordering::Relaxed) && !stopping {
            warn!("stopping: waiting for the target to acknowledge what was sent");
            stopping = true;
            let parts: Vec<_> = in_flight.iter().cloned().collect();
            reader.remove(&parts)?;
            in_flight.clear();
        }
        // Read and send.
        let mut ended = false;
        if !stopping && !in_flight.is_empty() && failure.is_none() {
            match reader.poll(Duration::from_millis(20)) {
                Err(e) => {
                    failure = Some(e.into());
                    stopping = true;
                }
                Ok(Some(ReadEvent::Record(r))) => {
                    let k = (r.topic.clone(), r.partition);
                    if in_flight.contains(&k)
                        && r.offset < ends[&k]
                        && r.offset >= sent_next.get(&k).copied().unwrap_or(i64::MIN)
                    {
                        if let Some(b) = bucket.as_mut() {
                            let wait = b.take(started.elapsed().as_secs_f64(), r.payload_bytes());
                            if wait > 0.0 {
                                let until = Instant::now() + Duration::from_secs_f64(wait);
                                while Instant::now() < until {
                                    let acks = writer
                                        .acks(until.saturating_duration_since(Instant::now()));
                                    apply_acks(
                                        j,
                                        &index,
                                        &mut pending,
                                        &mut stats,
                                        acks,
                                        &mut failure,
                                    );
                                }
                            }
                        }
                        writer.send(&r)?;
                        first_send.get_or_insert_with(Instant::now);
                        sent_next.insert(k.clone(), r.offset + 1);
                        pending.entry(k).or_default().push_back(r.payload_bytes());
                        last_activity = Instant::now();
                    }
                }
                Ok(Some(ReadEvent::EndOfPartition(_))) => ended = true,
                Ok(Some(ReadEvent::PositionLost(why))) => {
                    // Let everything sent be acknowledged, then read every partition in flight
                    // again from after its last acknowledged record.
                    while writer.in_flight() > 0 {
                        let acks = writer.acks(Duration::from_millis(100));
                        apply_acks(j, &index, &mut pending, &mut stats, acks, &mut failure);
                    }
                    let parts: Vec<(String, i32)> = in_flight.iter().cloned().collect();
                    let from: Vec<i64> = parts
                        .iter()
                        .map(|k| j.partitions[index[k]].next())
                        .collect();
                    position_lost(src, &parts, &from, &why, &mut resets)?;
                    reader.remove(&parts)?;
                    for (k, o) in parts.iter().zip(&from) {
                        sent_next.insert(k.clone(), *o);
                    }
                    let again: Vec<(String, i32, i64)> = parts
                        .iter()
                        .zip(&from)
                        .map(|((t, p), o)| (t.clone(), *p, *o))
                        .collect();
                    reader.add(&again)?;
                }
                Ok(None) => {}
            }
        }
        let acks = writer.acks(Duration::ZERO);
        if !acks.is_empty() {
            last_activity = Instant::now();
        }
        apply_acks(j, &index, &mut pending, &mut stats, acks, &mut failure);
        if failure.is_some() && !stopping {
            stopping = true;
            let parts: Vec<_> = in_flight.iter().cloned().collect();
            reader.remove(&parts)?;
            in_flight.clear();
        }
        // Which partitions are complete: everything sent is acknowledged and the reader's
        // position (past markers and aborted records) reached this run's end.
        if ended || last_check.elapsed() > Duration::from_millis(200) {
            last_check = Instant::now();
            let mut finished = Vec::new();
            for k in &in_flight {
                if pending.get(k).is_some_and(|q| !q.is_empty()) {
                    continue;
                }
                // Nothing unacknowledged: every record below the position is copied or was
                // not readable (a transaction marker, an aborted record).
                if let Some(pos) = reader.position(&k.0, k.1)? {
                    let p = &mut j.partitions[index[k]];
                    let end = ends[k];
                    p.caught_up_to = p.caught_up_to.max(pos.min(end));
                    if pos >= end {
                        finished.push(k.clone());
                    }
                }
            }
            if !finished.is_empty() {
                reader.remove(&finished)?;
                for k in finished {
                    in_flight.remove(&k);
                }
            }
            progress.update(
                begin
                    .iter()
                    .map(|(k, b)| (j.partitions[index[k]].next().min(ends[k]) - b).max(0) as u64)
                    .sum(),
                total,
                in_flight.len(),
                // A steady stage: plain progress lines come on progress, not on every poll.
                &Stage::Copying { stopping },
            );
        }
        if last_save.elapsed() > Duration::from_secs(1) {
            save(j, path)?;
            last_save = Instant::now();
        }
        if last_activity.elapsed() > opts.stall {
            failure = Some(DisklessError::Timeout(format!(
                "no record read and none acknowledged for {:?}; partitions in flight: {}",
                opts.stall,
                in_flight
                    .iter()
                    .map(|(t, p)| format!("{t}-{p}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
            break;
        }
    }
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

fn apply_acks(
    j: &mut DisklessJournal,
    index: &BTreeMap<(String, i32), usize>,
    pending: &mut BTreeMap<(String, i32), VecDeque<u64>>,
    stats: &mut CopyStats,
    acks: Vec<crate::kafka::records::Ack>,
    failure: &mut Option<DisklessError>,
) {
    for a in acks {
        let k = (a.topic.clone(), a.partition);
        // Acknowledgements come in send order per partition (idempotent producer).
        let size = pending
            .get_mut(&k)
            .and_then(VecDeque::pop_front)
            .unwrap_or(0);
        match a.result {
            Ok(target) => {
                let p = &mut j.partitions[index[&k]];
                if let Err(e) = p.map.push(a.source_offset, target) {
                    failure.get_or_insert(DisklessError::inconsistent(
                        format!("{}-{}: {e}", a.topic, a.partition),
                        "nothing else may write to the target topics during the migration",
                    ));
                    continue;
                }
                p.caught_up_to = p.caught_up_to.max(a.source_offset + 1);
                p.bytes += size;
                stats.records += 1;
                stats.bytes += size;
            }
            Err(e) => {
                failure.get_or_insert(DisklessError::Kafka(KafkaError::Data {
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
