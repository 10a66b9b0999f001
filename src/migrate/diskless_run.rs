//! Driving `migrate diskless` over [`DataCluster`] (blocking; librdkafka has its own threads):
//! reconcile the journal with what the target holds, copy partition i → partition i under a
//! global byte throttle with a cap on partitions in flight, verify both sides in step, and the
//! cutover that translates consumer groups through the exact map.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Serialize;
use tracing::{info, warn};

use super::diskless::{
    self, chain, compare, record_digest, Difference, PartitionView, Problem, TokenBucket,
    Translated, Verified,
};
use super::diskless_journal::{
    Cutover, CutoverPhase, DisklessJournal, GroupRecord, PartitionRecord,
};
use crate::execute::journal::now_ms;
use crate::execute::runner::Progress;
use crate::kafka::records::{DataCluster, ReadEvent, RecordReader};
use crate::kafka::KafkaError;
use crate::kafka::Record;

#[derive(Debug, thiserror::Error)]
pub enum DisklessError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Connect(#[from] crate::connect::ConnectError),
    #[error("cannot write the journal {path}: {source}")]
    Journal {
        path: String,
        source: std::io::Error,
    },
    /// The target or the source is not what the journal says; nothing was written after it.
    #[error("{message}")]
    Inconsistent { message: String, hint: String },
    /// Refused before any change (cutover preconditions).
    #[error("{}", .0.iter().map(|p| p.message.clone()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Problem>),
    #[error("stopped by a signal; the journal is saved: run the same command to resume")]
    Interrupted,
    #[error("{0}")]
    Timeout(String),
    /// A copy that made no progress for the stall time, with what the engine saw.
    #[error("{message}")]
    Stalled { message: String, hint: String },
}

impl DisklessError {
    pub(crate) fn inconsistent(message: String, hint: &str) -> Self {
        Self::Inconsistent {
            message,
            hint: hint.into(),
        }
    }
}

pub(crate) fn save(j: &DisklessJournal, path: &Path) -> Result<(), DisklessError> {
    j.save(path).map_err(|source| DisklessError::Journal {
        path: path.display().to_string(),
        source,
    })
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

/// One side's records of one partition, read in order up to (excluding) `end`.
pub(crate) struct Cursor<'a> {
    cluster: &'a dyn DataCluster,
    reader: Box<dyn RecordReader>,
    /// The offset after the last record returned (where to seek back after a lost position).
    next: i64,
    resets: u32,
    /// When the reader first reported the end while short of `end`.
    short_since: Option<Instant>,
    /// It ended short of `end` (the end of what the broker would serve).
    pub(crate) short: bool,
    topic: String,
    partition: i32,
    end: i64,
    done: bool,
    stall: Duration,
}

impl<'a> Cursor<'a> {
    pub(crate) fn open(
        cluster: &'a dyn DataCluster,
        read_committed: bool,
        topic: &str,
        partition: i32,
        from: i64,
        end: i64,
        stall: Duration,
    ) -> Result<Self, KafkaError> {
        let mut reader = cluster.reader(read_committed)?;
        if from < end {
            reader.add(&[(topic.to_string(), partition, from)])?;
        }
        Ok(Self {
            cluster,
            reader,
            next: from,
            resets: 0,
            short_since: None,
            short: false,
            topic: topic.into(),
            partition,
            end,
            done: from >= end,
            stall,
        })
    }

    /// The next record below `end`, or `None` at the end (or at the end of what is readable).
    pub(crate) fn next(&mut self) -> Result<Option<Record>, DisklessError> {
        let mut last = Instant::now();
        while !self.done {
            match self.reader.poll(Duration::from_millis(200))? {
                Some(ReadEvent::Record(r)) if r.offset < self.next => {}
                Some(ReadEvent::Record(r)) => {
                    if r.offset >= self.end {
                        self.done = true;
                        return Ok(None);
                    }
                    self.next = r.offset + 1;
                    return Ok(Some(r));
                }
                Some(ReadEvent::PositionLost(why)) => {
                    let from = self.next;
                    let parts = [(self.topic.clone(), self.partition)];
                    position_lost(self.cluster, &parts, &[from], &why, &mut self.resets)?;
                    self.reader.remove(&parts)?;
                    self.reader
                        .add(&[(self.topic.clone(), self.partition, from)])?;
                }
                // The end of what is readable now. Short of `end`, a broker may still be
                // making records visible (a diskless broker lists its stored batches per
                // fetch): keep reading a while; a side that stays short is reported by the
                // caller, which compares both.
                Some(ReadEvent::EndOfPartition(_)) => {
                    // No position yet (nothing consumed): where this cursor stands.
                    let pos = self
                        .reader
                        .position(&self.topic, self.partition)?
                        .unwrap_or(self.next);
                    if pos >= self.end {
                        self.done = true;
                    } else {
                        let since = self.short_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > Duration::from_secs(10) {
                            self.done = true;
                            self.short = true;
                        }
                    }
                }
                None => {
                    if self
                        .reader
                        .position(&self.topic, self.partition)?
                        .is_some_and(|p| p >= self.end)
                    {
                        self.done = true;
                    } else if last.elapsed() > self.stall {
                        return Err(DisklessError::Timeout(format!(
                            "no record from {}-{} for {:?} before offset {}",
                            self.topic, self.partition, self.stall, self.end
                        )));
                    }
                    continue;
                }
            }
            last = Instant::now();
        }
        Ok(None)
    }
}

/// Source records `from..low` are gone (retention) and were never copied: said, never skipped.
pub(crate) fn records_deleted(topic: &str, partition: i32, from: i64, low: i64) -> DisklessError {
    DisklessError::inconsistent(
        format!("{topic}-{partition}: source records {from}..{low} were deleted (retention) before they were copied"),
        "those records are gone from the source; to copy the rest anyway, start again with a new --journal into an empty target topic",
    )
}

/// A reader lost its position. When the records it wants are still in the log (a leader change,
/// a restarted broker), it seeks back — a few times at most; when retention deleted them, that
/// is said, never skipped.
fn position_lost(
    cluster: &dyn DataCluster,
    parts: &[(String, i32)],
    wanted: &[i64],
    why: &str,
    resets: &mut u32,
) -> Result<(), DisklessError> {
    for ((t, p), &from) in parts.iter().zip(wanted) {
        let (low, _) = cluster.watermarks(t, *p)?;
        if from < low {
            return Err(DisklessError::inconsistent(
                format!(
                    "{t}-{p} on {}: records {from}..{low} were deleted (retention) before they were read",
                    cluster.bootstrap()
                ),
                "those records are gone; to copy the rest anyway, start again with a new --journal into an empty target topic",
            ));
        }
    }
    *resets += 1;
    if *resets > 5 {
        return Err(DisklessError::Kafka(KafkaError::Data {
            address: cluster.bootstrap().to_string(),
            api: "Fetch",
            message: format!("the position was lost {resets} times: {why}"),
        }));
    }
    warn!(%why, "a reader lost its position; seeking back (the records are still in the log)");
    std::thread::sleep(Duration::from_millis(500));
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
                // A steady status: plain progress lines come on progress, not on every poll.
                if stopping {
                    "stopping"
                } else {
                    "partitions copying"
                },
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

/// Per partition, what the verifier found.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionCheck {
    pub topic: String,
    pub partition: i32,
    pub records: u64,
    pub source_end: i64,
    pub target_end: i64,
    pub source_hash: String,
    pub target_hash: String,
    pub ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub partitions: Vec<PartitionCheck>,
    /// The first differences (at most 20 per partition).
    pub differences: Vec<Difference>,
    pub ok: bool,
}

/// Read both sides in step from where the last verification stopped up to where the copy is
/// complete; compare every record (content and map), chain both hashes.
pub fn verify(
    j: &mut DisklessJournal,
    path: &Path,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    stall: Duration,
    progress: &dyn Progress,
) -> Result<VerifyReport, DisklessError> {
    let mut out = Vec::new();
    let mut differences = Vec::new();
    let total = j.partitions.len() as u64;
    for (i, p) in j.partitions.iter_mut().enumerate() {
        progress.update(i as u64, total, 1, "partitions verified");
        let v = p.verified.clone().unwrap_or(Verified {
            source_end: p.start,
            target_end: p.target_base,
            records: 0,
            source_hash: String::new(),
            target_hash: String::new(),
        });
        let s_end = p.caught_up_to;
        let t_end = p.target_next();
        let mut s = Cursor::open(src, true, &p.topic, p.partition, v.source_end, s_end, stall)?;
        let mut t = Cursor::open(
            tgt,
            false,
            &p.topic,
            p.partition,
            v.target_end,
            t_end,
            stall,
        )?;
        let mut nv = v.clone();
        let mut diffs = Vec::new();
        loop {
            let (a, b) = (s.next()?, t.next()?);
            if a.is_none() && b.is_none() {
                break;
            }
            if let Some(d) = compare(&p.map, a.as_ref(), b.as_ref()) {
                if diffs.len() < 20 {
                    diffs.push(d);
                }
                continue;
            }
            let (a, b) = (a.expect("compared"), b.expect("compared"));
            nv.source_hash = chain(&nv.source_hash, &record_digest(&a));
            nv.target_hash = chain(&nv.target_hash, &record_digest(&b));
            nv.records += 1;
        }
        let ok = diffs.is_empty();
        if ok {
            nv.source_end = s_end;
            nv.target_end = t_end;
            p.verified = Some(nv.clone());
        }
        out.push(PartitionCheck {
            topic: p.topic.clone(),
            partition: p.partition,
            records: nv.records,
            source_end: s_end,
            target_end: t_end,
            source_hash: nv.source_hash.clone(),
            target_hash: nv.target_hash.clone(),
            ok,
        });
        differences.extend(diffs);
    }
    save(j, path)?;
    progress.finish();
    Ok(VerifyReport {
        ok: differences.is_empty(),
        partitions: out,
        differences,
    })
}

#[derive(Debug, Clone)]
pub struct CutoverOptions {
    pub groups: Regex,
    pub wait_for_producers_stopped: bool,
    /// How long to wait for the source groups' members (and producers) to stop.
    pub wait: Duration,
    pub poll: Duration,
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

#[derive(Debug, Clone, Serialize)]
pub struct CutoverReport {
    pub groups: Vec<GroupRecord>,
    pub tail: CopyStats,
    pub verify: VerifyReport,
}

/// The cutover: wait for the source side to stop, copy the tail, verify, translate each selected
/// group exactly, commit on the target only while its group there is empty, read it back.
pub fn cutover(
    j: &mut DisklessJournal,
    path: &Path,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    engine: &mut dyn CopyEngine,
    opts: &CutoverOptions,
    progress: &dyn Progress,
) -> Result<CutoverReport, DisklessError> {
    let parts: Vec<(String, i32)> = j
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    let groups: Vec<String> = src
        .groups()?
        .into_iter()
        .filter(|g| opts.groups.is_match(g))
        .collect();
    // Target groups must be empty: refuse before anything else.
    let mut problems = Vec::new();
    for g in &groups {
        if let Some(info) = tgt.group(g)? {
            if info.members > 0 {
                problems.push(Problem {
                    topic: None,
                    message: format!(
                        "group {g} has {} active member(s) on the target ({})",
                        info.members, info.state
                    ),
                    hint: "stop the group's consumers on the target; offsets are only committed while the target group is empty".into(),
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(DisklessError::Refused(problems));
    }
    if j.cutover.is_none() {
        j.cutover = Some(Cutover {
            phase: CutoverPhase::WaitingForSource,
            groups_regex: opts.groups.as_str().to_string(),
            started_ms: now_ms(),
            groups: Vec::new(),
            done_ms: None,
        });
        save(j, path)?;
    }
    // 1. The source side stops.
    let deadline = Instant::now() + opts.wait;
    loop {
        let active: Vec<String> = groups
            .iter()
            .filter_map(|g| match src.group(g) {
                Ok(Some(i)) if i.members > 0 => Some(Ok(format!("{g} ({} members)", i.members))),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<_, _>>()?;
        let mut moving = false;
        if opts.wait_for_producers_stopped {
            let before: Vec<i64> = parts
                .iter()
                .map(|(t, p)| src.watermarks(t, *p).map(|w| w.1))
                .collect::<Result<_, _>>()?;
            std::thread::sleep(opts.poll);
            let after: Vec<i64> = parts
                .iter()
                .map(|(t, p)| src.watermarks(t, *p).map(|w| w.1))
                .collect::<Result<_, _>>()?;
            moving = before != after;
        }
        if active.is_empty() && !moving {
            break;
        }
        progress.update(
            0,
            1,
            active.len(),
            &format!(
                "waiting for the source to stop: {}{}",
                active.join(", "),
                if moving {
                    " (producers still writing)"
                } else {
                    ""
                }
            ),
        );
        if Instant::now() > deadline {
            return Err(DisklessError::Timeout(format!(
                "the source did not stop within {:?}: {}{}",
                opts.wait,
                active.join(", "),
                if moving {
                    "; producers are still writing"
                } else {
                    ""
                }
            )));
        }
        std::thread::sleep(opts.poll);
    }
    set_phase(j, path, CutoverPhase::CopyingTail)?;
    // 2. The tail, then verify everything not yet verified.
    let tail = engine.copy(j, path, progress)?;
    let verify = engine.verify(j, path, progress)?;
    if !verify.ok {
        return Err(DisklessError::inconsistent(
            format!(
                "verification found {} difference(s); no group was translated",
                verify.differences.len()
            ),
            "see `--verify --output json` for the differing offsets",
        ));
    }
    // 3. Translate (journaled before any commit: the rollback point).
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let views: BTreeMap<(String, i32), PartitionView<'_>> = j
        .partitions
        .iter()
        .map(|p| {
            (
                (p.topic.clone(), p.partition),
                PartitionView {
                    map: &p.map,
                    target_base: p.target_base,
                    caught_up_to: p.caught_up_to,
                },
            )
        })
        .collect();
    for g in &groups {
        let committed = src.committed(g, &parts)?;
        match diskless::translate_group(g, &committed, &views) {
            Ok(offsets) if offsets.is_empty() => {}
            Ok(offsets) => records.push(GroupRecord {
                group: g.clone(),
                offsets,
                committed: false,
            }),
            Err(p) => problems.extend(p),
        }
    }
    if !problems.is_empty() {
        return Err(DisklessError::Refused(problems));
    }
    let c = j.cutover.as_mut().expect("set above");
    // A group committed by an earlier attempt keeps its record.
    for r in records {
        match c.groups.iter_mut().find(|g| g.group == r.group) {
            Some(old) if old.committed => {}
            Some(old) => *old = r,
            None => c.groups.push(r),
        }
    }
    c.phase = CutoverPhase::Translated;
    save(j, path)?;
    // 4. Commit on the target while its group is empty; read back.
    let n = j.cutover.as_ref().map_or(0, |c| c.groups.len());
    for i in 0..n {
        let g = j.cutover.as_ref().expect("set").groups[i].clone();
        if g.committed {
            continue;
        }
        if let Some(info) = tgt.group(&g.group)? {
            if info.members > 0 {
                return Err(DisklessError::Refused(vec![Problem {
                    topic: None,
                    message: format!("group {} became active on the target ({} members) before its offsets were committed", g.group, info.members),
                    hint: "stop its consumers on the target and run --cutover again (translated offsets are kept in the journal)".into(),
                }]));
            }
        }
        let offsets: BTreeMap<(String, i32), i64> = g
            .offsets
            .iter()
            .map(|t: &Translated| ((t.topic.clone(), t.partition), t.target))
            .collect();
        tgt.commit(&g.group, &offsets)?;
        let back = tgt.committed(&g.group, &offsets.keys().cloned().collect::<Vec<_>>())?;
        if back != offsets {
            return Err(DisklessError::inconsistent(
                format!(
                    "group {}: the target returned {back:?} after committing {offsets:?}",
                    g.group
                ),
                "another client committed for this group on the target; stop it and run --cutover again",
            ));
        }
        j.cutover.as_mut().expect("set").groups[i].committed = true;
        save(j, path)?;
    }
    engine.finish(j, path)?;
    let c = j.cutover.as_mut().expect("set");
    c.phase = CutoverPhase::Committed;
    c.done_ms = Some(now_ms());
    let groups = c.groups.clone();
    save(j, path)?;
    Ok(CutoverReport {
        groups,
        tail,
        verify,
    })
}

fn set_phase(
    j: &mut DisklessJournal,
    path: &Path,
    phase: CutoverPhase,
) -> Result<(), DisklessError> {
    if let Some(c) = j.cutover.as_mut() {
        c.phase = phase;
    }
    save(j, path)
}

#[cfg(test)]
mod tests {
    //! The copy engine over an in-memory cluster pair: source offsets with gaps (markers,
    //! aborted records), a crash between the target's write and the journal's save, another
    //! writer on the target, and the cutover's fences. The live tests run the same paths against
    //! Kafka and nisshi.
    use super::*;
    use crate::migrate::mem::{rec, source, Mem, Quiet};

    fn opts() -> CopyOptions {
        CopyOptions {
            throttle: None,
            max_in_flight: 4,
            stop: Arc::new(AtomicBool::new(false)),
            stall: Duration::from_secs(5),
        }
    }

    fn setup(src: &Mem, tgt: &Mem) -> (DisklessJournal, tempfile::TempDir) {
        tgt.0
            .lock()
            .unwrap()
            .parts
            .insert(("t".into(), 0), (Vec::new(), 0));
        let mut j = DisklessJournal::new("mem", "mem", "t");
        add_partitions(&mut j, src, tgt, &[("t".into(), 1)]).unwrap();
        (j, tempfile::tempdir().unwrap())
    }

    fn target_records(tgt: &Mem) -> Vec<Record> {
        tgt.0.lock().unwrap().parts[&("t".to_string(), 0)].0.clone()
    }

    #[test]
    fn copies_across_gaps_and_the_map_is_exact() {
        let (src, tgt) = (source(), Mem::default());
        let (mut j, dir) = setup(&src, &tgt);
        let path = dir.path().join("j.json");
        let s = copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap();
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
        let again = copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap();
        assert_eq!(again.records, 0);
        assert_eq!(target_records(&tgt).len(), source.0.len());
    }

    #[test]
    fn records_stored_after_the_last_journal_save_are_checked_and_adopted_not_copied_twice() {
        let (src, tgt) = (source(), Mem::default());
        let (mut j, dir) = setup(&src, &tgt);
        let path = dir.path().join("j.json");
        let before = j.clone();
        copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap();
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
        let s = copy(&mut crashed, &path, &src, &tgt, &opts(), &Quiet).unwrap();
        assert_eq!(s.recovered, 30);
        assert_eq!(s.records, 0, "nothing sent twice");
        assert_eq!(crashed.partitions[0].map, full);
        assert_eq!(target_records(&tgt).len() as i64, full.records());
    }

    #[test]
    fn a_lost_position_seeks_back_and_sends_nothing_twice() {
        let (src, tgt) = (source(), Mem::default());
        src.0.lock().unwrap().lose_after = Some(40);
        let (mut j, dir) = setup(&src, &tgt);
        let path = dir.path().join("j.json");
        let s = copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap();
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
        let (mut j, dir) = setup(&src, &tgt);
        let path = dir.path().join("j.json");
        copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap();
        // New records 500..510 arrive, then retention removes everything below 505.
        {
            let mut s = src.0.lock().unwrap();
            let e = s.parts.get_mut(&("t".to_string(), 0)).unwrap();
            e.0 = (505..510).map(|o| rec("t", 0, o)).collect();
            e.1 = 510;
        }
        let before = target_records(&tgt).len();
        let err = copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap_err();
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
        let (mut j, dir) = setup(&src, &tgt);
        let path = dir.path().join("j.json");
        copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap();
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
        let err = copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap_err();
        assert!(
            matches!(err, DisklessError::Inconsistent { ref message, .. } if message.contains("not the next source record")),
            "{err}"
        );
    }

    #[test]
    fn cutover_translates_exactly_and_fences_active_groups() {
        let (src, tgt) = (source(), Mem::default());
        let (mut j, dir) = setup(&src, &tgt);
        let path = dir.path().join("j.json");
        copy(&mut j, &path, &src, &tgt, &opts(), &Quiet).unwrap();
        let k = ("t".to_string(), 0);
        // g consumed up to offset 41 (next: 42, inside the aborted hole → the record at 50).
        src.0
            .lock()
            .unwrap()
            .groups
            .insert("g".into(), (0, BTreeMap::from([(k.clone(), 42)])));
        tgt.0
            .lock()
            .unwrap()
            .groups
            .insert("g".into(), (1, BTreeMap::new()));
        let c = CutoverOptions {
            groups: Regex::new("^g$").unwrap(),
            wait_for_producers_stopped: false,
            wait: Duration::from_secs(1),
            poll: Duration::from_millis(10),
        };
        let mut engine = BuiltIn {
            src: &src,
            tgt: &tgt,
            opts: opts(),
        };
        assert!(matches!(
            cutover(&mut j, &path, &src, &tgt, &mut engine, &c, &Quiet),
            Err(DisklessError::Refused(_))
        ));
        assert!(
            tgt.0.lock().unwrap().groups["g"].1.is_empty(),
            "nothing committed"
        );
        tgt.0.lock().unwrap().groups.get_mut("g").unwrap().0 = 0;
        let r = cutover(&mut j, &path, &src, &tgt, &mut engine, &c, &Quiet).unwrap();
        let committed = tgt.0.lock().unwrap().groups["g"].1[&k];
        let target = target_records(&tgt);
        assert_eq!(target[committed as usize].offset, committed);
        assert_eq!(target[committed as usize].key, Some(b"k50".to_vec()));
        assert!(r.groups[0].committed);
        assert_eq!(j.cutover.as_ref().unwrap().phase, CutoverPhase::Committed);
    }
}
