//! One side's records of one partition, read in order between two offsets, over
//! [`DataCluster`]: a lost position seeks back, records deleted by retention before they were read
//! are named, not skipped.

use super::error::DisklessError;
use crate::kafka::records::{DataCluster, ReadEvent, RecordReader};
use crate::kafka::{KafkaError, Record};
use std::time::{Duration, Instant};
use tracing::warn;

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
pub(super) fn position_lost(
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
