//! `--follow` on either engine: rounds of copy and verification until a signal, with the topic
//! sync (see [`super::topics`]) before each round and the consumer-group sync (see
//! [`super::sync`]) after it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};

use super::copy::{CopyEngine, CopyStats};
use super::cutover::{self, CutoverOptions};
use super::error::DisklessError;
use super::handoff;
use super::journal::DisklessJournal;
use super::report::{report, Report};
use super::sync::{self, GroupSync};
use super::topics::{ChangeKind, TopicAdmin, TopicChange, TopicSync};
use super::verify;
use super::workflow::Follow;
use crate::kafka::records::DataCluster;
use crate::run::progress::{Observation, Progress};

/// `--follow`: rounds of copy by `engine` (to the source's ends as each round reads them) and
/// verification of what the round copied, a group sync every `sync_interval`, until a signal
/// (`stop`); a signal mid-round ends it after the batch in flight (the built-in copier) or with
/// the connector paused (Kafka Connect), and what it copied is verified. Returns the rounds' copy
/// totals, the last verification and each group's last sync.
pub(crate) fn follow(
    j: &mut DisklessJournal,
    path: &Path,
    (src, tgt): (&dyn DataCluster, &dyn DataCluster),
    admin: &mut dyn TopicAdmin,
    copier: Copier<'_>,
    f: &Follow,
    (copying, verifying): (&dyn Progress, &dyn Progress),
) -> Result<(CopyStats, verify::VerifyReport, Vec<GroupSync>), DisklessError> {
    let Copier {
        engine,
        stop,
        throttle,
    } = copier;
    let stopped = || stop.load(Ordering::Relaxed);
    let mut total = CopyStats::default();
    let mut last_sync: Option<Instant> = None;
    let mut synced: BTreeMap<String, GroupSync> = BTreeMap::new();
    let mut rounds = 0u64;
    let mut topics = TopicSync::new(f.sync_interval).allow_compacted(f.allow_compacted);
    loop {
        // Partitions added and topics deleted on the source (every round), carried configs
        // changed there (every sync interval), before the round reads the source's ends.
        let changes = sync_topics(&mut topics, j, path, (src, tgt), admin, verifying)?;
        if changes
            .iter()
            .any(|c| c.applied && c.kind != ChangeKind::Config)
        {
            engine.partitions_changed();
        }
        let round = match engine.copy(j, path, copying) {
            Ok(s) => Some(s),
            Err(DisklessError::Interrupted) => None,
            // A topic deleted on the source after the topic sync looked: marked, round again.
            Err(e) if deleted_since(&mut topics, j, path, (src, tgt), admin, verifying)? => {
                tracing::info!(error = %e, "a followed topic was deleted on the source");
                engine.partitions_changed();
                continue;
            }
            Err(e) => return Err(e),
        };
        rounds += 1;
        if let Some(s) = &round {
            total.records += s.records;
            total.bytes += s.bytes;
            total.seconds += s.seconds;
            total.recovered += s.recovered;
            total.throttle_wait_seconds += s.throttle_wait_seconds;
            total.partitions = total.partitions.max(s.partitions);
        }
        let v = match engine.verify(j, path, verifying) {
            Ok(v) => v,
            Err(e) if deleted_since(&mut topics, j, path, (src, tgt), admin, verifying)? => {
                tracing::info!(error = %e, "a followed topic was deleted on the source");
                engine.partitions_changed();
                continue;
            }
            Err(e) => return Err(e),
        };
        if !v.ok {
            return Ok((total, v, synced.into_values().collect()));
        }
        if let Some(groups) = &f.sync_groups {
            if !stopped() && last_sync.is_none_or(|t| t.elapsed() >= f.sync_interval) {
                last_sync = Some(Instant::now());
                for g in sync::sync_groups(j, src, tgt, groups)? {
                    verifying.observe(&Observation::GroupSync {
                        group: g.group.clone(),
                        translated: g.translated,
                        committed: g.committed,
                        source_lag_records: g.source_lag_records,
                    });
                    synced.insert(g.group.clone(), g);
                }
            }
        }
        // A cutover asked of this follower: run it here (this process holds the copy); stop
        // following once it is done, keep following when it was refused.
        if let Some(req) = handoff::take(path)? {
            tracing::info!(groups = %req.groups, by = req.pid, "cutover requested");
            match cut_over(j, path, (src, tgt), engine, throttle, &req, verifying) {
                Ok((report, v)) => {
                    handoff::answer(path, &handoff::Outcome::Done(Box::new(report)))?;
                    return Ok((total, v, synced.into_values().collect()));
                }
                Err(e) => handoff::answer(
                    path,
                    &handoff::Outcome::Failed {
                        message: e.to_string(),
                        hint: e.hint(),
                        exit: e.exit_code() as i32,
                    },
                )?,
            }
        }
        if round.is_none() || stopped() {
            tracing::info!(rounds, "follow stopped by a signal; the journal is saved");
            return Ok((total, v, synced.into_values().collect()));
        }
        // Caught up: wait before reading the ends again (a round that copied nothing is quick).
        let until = Instant::now() + f.interval;
        while Instant::now() < until && !stopped() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// How a follower copies: the engine, the stop flag the signal handler sets, the throttle (for
/// the report).
pub(crate) struct Copier<'a> {
    pub engine: &'a mut dyn CopyEngine,
    pub stop: &'a AtomicBool,
    pub throttle: Option<u64>,
}

/// One topic sync; its changes go to the metrics.
fn sync_topics(
    topics: &mut TopicSync,
    j: &mut DisklessJournal,
    path: &Path,
    (src, tgt): (&dyn DataCluster, &dyn DataCluster),
    admin: &mut dyn TopicAdmin,
    progress: &dyn Progress,
) -> Result<Vec<TopicChange>, DisklessError> {
    let changes = topics.round(j, path, src, tgt, admin)?;
    for c in &changes {
        progress.observe(&Observation::TopicChange {
            topic: c.topic.clone(),
            kind: c.kind.as_str().into(),
            applied: c.applied,
        });
    }
    Ok(changes)
}

/// After a failed round: whether a topic sync now finds a followed topic deleted on the source
/// (the round failed on it and may run again without it).
fn deleted_since(
    topics: &mut TopicSync,
    j: &mut DisklessJournal,
    path: &Path,
    sides: (&dyn DataCluster, &dyn DataCluster),
    admin: &mut dyn TopicAdmin,
    progress: &dyn Progress,
) -> Result<bool, DisklessError> {
    Ok(sync_topics(topics, j, path, sides, admin, progress)?
        .iter()
        .any(|c| c.kind == ChangeKind::DeletedOnSource))
}

/// The fenced cutover a request asks for, on the built-in engine.
fn cut_over(
    j: &mut DisklessJournal,
    path: &Path,
    (src, tgt): (&dyn DataCluster, &dyn DataCluster),
    engine: &mut dyn CopyEngine,
    throttle: Option<u64>,
    req: &handoff::Request,
    progress: &dyn Progress,
) -> Result<(Report, verify::VerifyReport), DisklessError> {
    let groups = regex::Regex::new(&req.groups).map_err(|e| {
        DisklessError::refused(
            format!("--groups {}: {e}", req.groups),
            "write a regular expression",
        )
    })?;
    let copts = CutoverOptions {
        groups,
        wait_for_producers_stopped: req.wait_for_producers_stopped,
        wait: Duration::from_millis(req.wait_ms),
        poll: Duration::from_millis(500),
    };
    j.runs += 1;
    let c = cutover::cutover(j, path, src, tgt, engine, &copts, progress)?;
    let v = c.verify.clone();
    Ok((report(j, Some(c.tail), throttle, Some(c.verify)), v))
}
