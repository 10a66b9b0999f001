//! `migrate diskless --engine connect`: the copy runs as a MirrorMaker 2 source connector on a
//! Kafka Connect cluster ([`ConnectApi`]); streamctl sets the source quota ([`Quotas`], journaled
//! with the previous value and restored), drives the connector up to this run's end, pauses it,
//! and then builds the exact offset map while it verifies both sides in step (MirrorMaker 2 does
//! not report where each record landed). Blocking, like the built-in copier.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::plan::{self as connect, behind, task_actions, Goals, TaskAction};
pub use super::verify::build_and_verify;
use crate::connect::ConnectApi;
use crate::kafka::records::DataCluster;
use crate::kafka::KafkaError;
use crate::migrate::diskless::copy::{CopyEngine, CopyStats};
use crate::migrate::diskless::cursor::{records_deleted, Cursor};
use crate::migrate::diskless::error::DisklessError;
use crate::migrate::diskless::journal::save;
use crate::migrate::diskless::journal::{DisklessJournal, QuotaRecord};
use crate::migrate::diskless::verify::VerifyReport;
use crate::run::progress::{Observation, Progress, Stage};

/// The source cluster's client quotas (the real one wraps [`crate::kafka::ClusterAdmin`]).
pub trait Quotas {
    /// `consumer_byte_rate` of a client id, `None` when it has none.
    fn get(&mut self, client_id: &str) -> Result<Option<f64>, KafkaError>;
    fn set(&mut self, client_id: &str, value: Option<f64>) -> Result<(), KafkaError>;
}

#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The connector config to put (see [`connect::connector_config`]).
    pub config: BTreeMap<String, String>,
    /// The total rate (`--throttle`); `None` unthrottled.
    pub throttle: Option<u64>,
    /// Each copied partition's leader (Kafka enforces a quota on each broker).
    pub leader: BTreeMap<(String, i32), i32>,
    /// Each partition's bytes on the source (to size the quotas to this run's bytes).
    pub sizes: BTreeMap<(String, i32), u64>,
    /// The least quota a task gets on a broker (see [`connect::quota_floor`]).
    pub quota_floor: u64,
    pub stall: Duration,
    pub poll: Duration,
    pub stop: Arc<AtomicBool>,
}

pub struct ConnectEngine<'a> {
    pub src: &'a dyn DataCluster,
    pub tgt: &'a dyn DataCluster,
    pub connect: &'a dyn ConnectApi,
    pub quotas: &'a mut dyn Quotas,
    pub opts: ConnectOptions,
    /// The verification the last copy ended with (returned by the next `verify`).
    last: Option<VerifyReport>,
    /// This run's tasks (index, partitions) and bytes per partition, once known.
    tasks: Vec<(i32, Vec<(String, i32)>)>,
    bytes: BTreeMap<(String, i32), u64>,
    /// The share of the throttle the quotas are set to (see [`connect::run_scale`]).
    scale: f64,
    /// The journal's partitions changed since the connector last started (a follower's topic
    /// sync): restart it before the next copy so it reads them again.
    restart: bool,
}

impl<'a> ConnectEngine<'a> {
    pub fn new(
        src: &'a dyn DataCluster,
        tgt: &'a dyn DataCluster,
        connect: &'a dyn ConnectApi,
        quotas: &'a mut dyn Quotas,
        opts: ConnectOptions,
    ) -> Self {
        Self {
            src,
            tgt,
            connect,
            quotas,
            opts,
            last: None,
            tasks: Vec::new(),
            bytes: BTreeMap::new(),
            scale: 1.0,
            restart: false,
        }
    }

    fn name(j: &DisklessJournal) -> String {
        j.connect
            .as_ref()
            .expect("a connect migration")
            .connector
            .clone()
    }

    /// Set each task's quota, journaled first with what was there before (a crashed run keeps
    /// the first run's "before").
    fn set_quotas(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        tasks: &[(i32, Vec<(String, i32)>)],
        bytes: &BTreeMap<(String, i32), u64>,
    ) -> Result<(), DisklessError> {
        let Some(rate) = self.opts.throttle else {
            return self.restore_quotas(j, path);
        };
        let name = Self::name(j);
        let floor = self.opts.quota_floor;
        let pairs: u64 = tasks
            .iter()
            .map(|(_, p)| connect::task_brokers(p, &self.opts.leader) as u64)
            .sum();
        // The run-length share keeps a short run within the throttle; it never takes a task
        // below the floor that lets it fetch at all while the throttle itself allows that.
        let scaled = ((rate as f64 * self.scale) as u64).max(1);
        let rate = if floor * pairs > scaled && floor * pairs <= rate {
            floor * pairs
        } else {
            scaled
        };
        if floor * pairs > rate {
            warn!(
                floor,
                pairs, rate, "the throttle is below one batch per quota window for every task on every broker: tasks with small shares fetch slowly or not at all"
            );
        }
        let quotas = connect::task_quotas(&name, tasks, &self.opts.leader, bytes, rate, floor);
        let by_id: BTreeMap<String, u64> = quotas
            .iter()
            .map(|q| (q.client_id.clone(), q.bytes_per_sec))
            .collect();
        self.set_quotas_to(j, path, tasks, |id| by_id[id])
    }

    fn set_quotas_to(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        tasks: &[(i32, Vec<(String, i32)>)],
        value: impl Fn(&str) -> u64,
    ) -> Result<(), DisklessError> {
        let name = Self::name(j);
        let ids: Vec<String> = tasks
            .iter()
            .map(|(i, _)| connect::task_client_id(&name, *i))
            .collect();
        for id in &ids {
            let c = j.connect.as_mut().expect("a connect migration");
            if !c.quotas.contains_key(id) {
                let previous = self.quotas.get(id)?;
                c.quotas.insert(
                    id.clone(),
                    QuotaRecord {
                        set: value(id) as f64,
                        previous,
                    },
                );
            }
            if let Some(r) = c.quotas.get_mut(id) {
                r.set = value(id) as f64;
            }
        }
        save(j, path)?;
        for id in &ids {
            info!(client_id = %id, bytes_per_sec = value(id), "setting consumer_byte_rate on the source");
            self.quotas.set(id, Some(value(id) as f64))?;
        }
        Ok(())
    }

    /// Put back what was there before streamctl's quotas (nothing: remove them).
    pub fn restore_quotas(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
    ) -> Result<(), DisklessError> {
        restore(j, path, self.quotas)
    }

    /// Create the connector paused (or update its config when it differs), wait for its tasks,
    /// set their quotas, then resume it: no task reads a byte before its quota is in place.
    fn start(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        bytes: &BTreeMap<(String, i32), u64>,
    ) -> Result<(), DisklessError> {
        let name = Self::name(j);
        let want: usize = self
            .opts
            .config
            .get("tasks.max")
            .and_then(|t| t.parse().ok())
            .unwrap_or(1);
        if self.restart {
            // A follower's topic sync added or dropped topics: the connector copies what the
            // journal now follows (a changed config is put below; same topics: a restart).
            self.opts.config.insert("topics".into(), followed_topics(j));
        }
        match self.connect.config(&name)? {
            None => {
                // A connector's tasks (and which partitions each reads) exist only once it runs:
                // quotas that hold whatever they read go first, exact ones once the tasks exist.
                if let Some(rate) = self.opts.throttle {
                    let leaders = self
                        .opts
                        .leader
                        .values()
                        .collect::<std::collections::BTreeSet<_>>()
                        .len();
                    let q = connect::initial_task_quota(
                        (rate as f64 * self.scale) as u64,
                        want,
                        leaders,
                    );
                    let tasks: Vec<(i32, Vec<(String, i32)>)> =
                        (0..want as i32).map(|i| (i, Vec::new())).collect();
                    self.set_quotas_to(j, path, &tasks, |_| q)?;
                }
                info!(connector = %name, "creating the connector");
                self.connect.put_config(&name, &self.opts.config)?;
            }
            Some(c) if c != self.opts.config => {
                info!(connector = %name, "updating the connector config");
                self.connect.put_config(&name, &self.opts.config)?;
            }
            Some(_) if self.restart => {
                info!(connector = %name, "restarting the connector: its partitions changed");
                let connect = self.connect;
                while_rebalancing(|| connect.restart(&name))?;
            }
            Some(_) => {}
        }
        self.restart = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        let tasks = loop {
            let connect = self.connect;
            let tasks: Vec<(i32, Vec<(String, i32)>)> = while_rebalancing(|| connect.tasks(&name))?
                .into_iter()
                .map(|t| {
                    let index = t
                        .config
                        .get("task.index")
                        .and_then(|i| i.parse().ok())
                        .unwrap_or(t.id);
                    let parts = t
                        .config
                        .get("task.assigned.partitions")
                        .map(|v| connect::assigned_partitions(v))
                        .unwrap_or_default();
                    (index, parts)
                })
                .collect();
            let assigned: usize = tasks.iter().map(|t| t.1.len()).sum();
            let copied = j.partitions.iter().filter(|p| !p.source_deleted).count();
            if !tasks.is_empty() && (tasks.len() >= want || assigned >= copied) {
                break tasks;
            }
            if Instant::now() > deadline {
                return Err(DisklessError::Timeout(format!(
                    "connector {name} has {} of {want} tasks after 60 s",
                    tasks.len()
                )));
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        self.set_quotas(j, path, &tasks, bytes)?;
        self.tasks = tasks;
        self.bytes = bytes.clone();
        // Always: the status read right after a config change can still show the state from
        // before the rebalance (RUNNING) while the target state stays PAUSED, and a connector
        // left paused copies nothing. Resuming a running connector changes nothing.
        let connect = self.connect;
        while_rebalancing(|| connect.resume(&name))?;
        Ok(())
    }

    /// Pause the connector and wait until the target stops growing.
    fn pause(&mut self, j: &DisklessJournal, keys: &[(String, i32)]) -> Result<(), DisklessError> {
        let name = Self::name(j);
        let connect = self.connect;
        while_rebalancing(|| connect.pause(&name))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = None;
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let paused = self.connect.status(&name)?.is_some_and(|s| {
                s.connector.state == "PAUSED" && s.tasks.iter().all(|t| t.state != "RUNNING")
            });
            let ends = target_ends(self.tgt, keys)?;
            if paused && last.as_ref() == Some(&ends) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(DisklessError::Timeout(format!(
                    "connector {name} did not pause within 60 s"
                )));
            }
            last = Some(ends);
        }
    }

    /// The connector's status: a failed connector is an error, a failed task is restarted once
    /// (and an error when it fails again). Returns its states and task ids (None: no status).
    fn tend_tasks(
        &self,
        name: &str,
        restarted: &mut std::collections::BTreeSet<i32>,
    ) -> Result<Option<(String, Vec<i32>)>, DisklessError> {
        let Some(s) = self.connect.status(name)? else {
            return Ok(None);
        };
        if s.connector.state == "FAILED" {
            return Err(DisklessError::inconsistent(
                format!(
                    "connector {name} failed: {}",
                    s.connector.trace.as_deref().unwrap_or("no trace")
                ),
                "read the worker's log; fix the cause and run the same command again",
            ));
        }
        let failed: Vec<(i32, Option<String>)> = s
            .tasks
            .iter()
            .filter(|t| t.state == "FAILED")
            .map(|t| (t.id, t.trace.clone()))
            .collect();
        for a in task_actions(&failed, restarted) {
            match a {
                TaskAction::Restart(id) => {
                    warn!(connector = %name, task = id, "a task failed; restarting it once");
                    let connect = self.connect;
                    while_rebalancing(|| connect.restart_task(name, id))?;
                    restarted.insert(id);
                }
                TaskAction::Give(id, trace) => {
                    return Err(DisklessError::inconsistent(
                        format!("connector {name} task {id} failed again after a restart: {}", trace.lines().next().unwrap_or("")),
                        "the full trace is in GET /connectors/NAME/status and the worker's log; fix the cause and run the same command again",
                    ));
                }
            }
        }
        Ok(Some((
            task_states(&s),
            s.tasks.iter().map(|t| t.id).collect(),
        )))
    }

    /// Run the connector until every partition is copied up to this run's end.
    ///
    /// One piece on purpose: a poll loop whose state (first and last movement on the target,
    /// the best figures seen, tasks restarted, the one nudge) decides both progress and the stall;
    /// the task handling and the stall's message are already their own functions.
    fn run_to(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        goals: &Goals,
        begin: &BTreeMap<(String, i32), i64>,
        ends: &BTreeMap<(String, i32), i64>,
        progress: &dyn Progress,
    ) -> Result<f64, DisklessError> {
        let name = Self::name(j);
        let keys: Vec<(String, i32)> = ends.keys().cloned().collect();
        let total: u64 = ends.iter().map(|(k, e)| (e - begin[k]).max(0) as u64).sum();
        let t0 = target_ends(self.tgt, &keys)?;
        let mut first_move: Option<Instant> = None;
        // The copy's time runs from the first record on the target to the last (the connector
        // commits its offsets, which say it is done, a flush interval later).
        let mut last_move = Instant::now();
        let mut last_target: Option<Ends> = None;
        // Progress is an advance: a record more on the target, or a committed offset past the
        // highest seen. A value that only changes (an offsets read that comes back short, a
        // committed offset read from a lagging worker) is not progress and does not hold off the
        // stall.
        let mut last_change = Instant::now();
        let mut best_target: i64 = t0.values().sum();
        let mut best_committed: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut restarted = std::collections::BTreeSet::new();
        // Whether the tasks were restarted once after a third of the stall time without progress
        // (a task the workers left paused or unassigned across a rebalance copies nothing and
        // reports nothing wrong).
        let mut nudged = false;
        let mut states = String::new();
        let mut task_ids: Vec<i32> = Vec::new();
        loop {
            if self.opts.stop.load(Ordering::Relaxed) {
                return Err(DisklessError::Interrupted);
            }
            if let Some((st, ids)) = self.tend_tasks(&name, &mut restarted)? {
                states = st;
                task_ids = ids;
            }
            let committed: BTreeMap<(String, i32), i64> = self
                .connect
                .offsets(&name)?
                .into_iter()
                .map(|o| ((o.topic, o.partition), o.offset))
                .collect();
            let tnow = target_ends(self.tgt, &keys)?;
            if first_move.is_none() && tnow != t0 {
                first_move = Some(Instant::now());
            }
            if last_target.as_ref() != Some(&tnow) {
                last_move = Instant::now();
                last_target = Some(tnow.clone());
            }
            let tsum: i64 = tnow.values().sum();
            let mut advanced = tsum > best_target;
            best_target = best_target.max(tsum);
            for (k, &c) in &committed {
                let best = best_committed.entry(k.clone()).or_insert(c);
                if c > *best {
                    *best = c;
                    advanced = true;
                }
            }
            if advanced {
                last_change = Instant::now();
            }
            let done: u64 = ends
                .iter()
                .map(|(k, e)| {
                    let c = committed.get(k).map_or(begin[k], |c| (c + 1).min(*e));
                    (c - begin[k]).max(0) as u64
                })
                .sum();
            let left = behind(goals, &committed);
            progress.update(done, total, left.len(), &Stage::ConnectorCopying);
            for (k, e) in ends {
                let next = committed.get(k).map_or(begin[k], |c| (c + 1).min(*e));
                // Bytes behind at the partition's mean record size on disk (its size over the
                // offsets it holds since the copy began).
                let mean = self.opts.sizes.get(k).map_or(0.0, |&size| {
                    let start = j.partition(&k.0, k.1).map_or(0, |p| p.start);
                    size as f64 / (e - start).max(1) as f64
                });
                progress.observe(&Observation::PartitionCopy {
                    topic: k.0.clone(),
                    partition: k.1,
                    copied_to: next,
                    source_end: *e,
                    verified_to: j
                        .partition(&k.0, k.1)
                        .and_then(|p| p.verified.as_ref())
                        .map_or(begin[k], |v| v.source_end),
                    lag_records: (e - next).max(0) as u64,
                    lag_bytes: ((e - next).max(0) as f64 * mean) as u64,
                    lag_seconds: 0.0,
                });
            }
            progress.observe(&Observation::Copy {
                records: done,
                bytes: 0,
                bytes_per_sec: 0.0,
                throttle_bytes_per_sec: self.opts.throttle,
                partitions_verified: 0,
                partitions: ends.len() as u64,
            });
            if left.is_empty() {
                return Ok(first_move.map_or(0.0, |t| {
                    last_move.saturating_duration_since(t).as_secs_f64()
                }));
            }
            if last_change.elapsed() > self.opts.stall {
                return Err(DisklessError::Stalled {
                    message: format!(
                        "connector {name} made no progress for {:?} ({states}); quotas in force: {}; behind: {}",
                        self.opts.stall,
                        quotas_in_force(j),
                        left.iter()
                            .take(10)
                            .map(|(t, p)| format!("{t}-{p}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    hint: format!(
                        "each task's worker is named above: its log says why the task copies nothing, and GET {}/connectors/{name}/status has the traces; a quota below the floor of one batch per quota window holds a task back (raise --throttle); run the same command again to resume",
                        self.connect.url()
                    ),
                });
            }
            if !nudged && last_change.elapsed() > self.opts.stall / 3 {
                nudged = true;
                warn!(connector = %name, states = %states, "no progress for a third of the stall time; resuming and restarting its tasks once");
                let connect = self.connect;
                while_rebalancing(|| connect.resume(&name))?;
                for id in &task_ids {
                    while_rebalancing(|| connect.restart_task(&name, *id))?;
                }
            }
            save(j, path)?;
            std::thread::sleep(self.opts.poll);
        }
    }
}

/// The connector's and its tasks' states, for a stall's message: `connector RUNNING on W; task
/// 0 RUNNING on W, ...`.
fn task_states(s: &crate::connect::Status) -> String {
    let mut out = format!(
        "connector {} on {}",
        s.connector.state, s.connector.worker_id
    );
    for t in &s.tasks {
        out.push_str(&format!("; task {} {} on {}", t.id, t.state, t.worker_id));
    }
    out
}

/// The quotas streamctl set on the source, as journaled: `CLIENT_ID 104859 B/s, ...` (or `none`).
fn quotas_in_force(j: &DisklessJournal) -> String {
    let quotas = j.connect.as_ref().map(|c| &c.quotas);
    match quotas {
        Some(q) if !q.is_empty() => q
            .iter()
            .map(|(id, r)| format!("{id} {:.0} B/s", r.set))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".into(),
    }
}

/// An offset per partition.
type Ends = BTreeMap<(String, i32), i64>;

fn target_ends(tgt: &dyn DataCluster, keys: &[(String, i32)]) -> Result<Ends, KafkaError> {
    keys.iter()
        .map(|(t, p)| Ok(((t.clone(), *p), tgt.watermarks(t, *p)?.1)))
        .collect()
}

/// The offset of the last record (readable `read_committed`) in `from..end`, `None` when there is
/// none (only markers or aborted records). Reads a growing window back from the end.
fn last_record_below(
    src: &dyn DataCluster,
    topic: &str,
    partition: i32,
    from: i64,
    end: i64,
    stall: Duration,
) -> Result<Option<i64>, DisklessError> {
    let mut window = 64;
    loop {
        let start = (end - window).max(from);
        let mut c = Cursor::open(src, true, topic, partition, start, end, stall)?;
        let mut last = None;
        while let Some(r) = c.next()? {
            last = Some(r.offset);
        }
        // The goal decides when the copy is complete: a read that stopped short proves nothing.
        if c.short {
            return Err(DisklessError::Timeout(format!(
                "{topic}-{partition}: the source served records only up to short of offset {end}; cannot tell where this run's copy ends"
            )));
        }
        if last.is_some() || start <= from {
            return Ok(last);
        }
        window *= 8;
    }
}

impl CopyEngine for ConnectEngine<'_> {
    fn copy(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<CopyStats, DisklessError> {
        let mut goals: Goals = BTreeMap::new();
        let mut begin = BTreeMap::new();
        let mut ends = BTreeMap::new();
        let mut bytes: BTreeMap<(String, i32), u64> = BTreeMap::new();
        for p in j.partitions.iter().filter(|p| !p.source_deleted) {
            let (low, high) = self.src.watermarks(&p.topic, p.partition)?;
            // This run's share of the partition's bytes, by offsets.
            if let Some(&size) = self.opts.sizes.get(&(p.topic.clone(), p.partition)) {
                let next = p.caught_up_to.max(p.start).max(low);
                if high > low && next < high {
                    bytes.insert(
                        (p.topic.clone(), p.partition),
                        (size as f64 * (high - next) as f64 / (high - low) as f64) as u64,
                    );
                }
            }
            let next = p.caught_up_to.max(p.start);
            if next < low {
                return Err(records_deleted(&p.topic, p.partition, next, low));
            }
            let k = (p.topic.clone(), p.partition);
            let goal = if next < high {
                last_record_below(self.src, &p.topic, p.partition, next, high, self.opts.stall)?
            } else {
                None
            };
            goals.insert(k.clone(), goal);
            begin.insert(k.clone(), next);
            ends.insert(k, high.max(next));
        }
        let keys: Vec<(String, i32)> = ends.keys().cloned().collect();
        if let Some(rate) = self.opts.throttle {
            self.scale = connect::run_scale(rate, bytes.values().sum());
            info!(
                scale = self.scale,
                "quotas at this share of the throttle (Kafka lets a client catch up a window's worth)"
            );
        }
        let before = target_ends(self.tgt, &keys)?;
        let bytes_before: u64 = j.partitions.iter().map(|p| p.bytes).sum();
        let records_before: i64 = j.partitions.iter().map(|p| p.map.records()).sum();
        // Whatever happens now, the quotas are restored (a crash leaves them journaled: the next
        // run or --cancel restores them).
        // Nothing new on the source (a follower's quiet round): the connector stays paused and
        // the quotas untouched; the verification below still reads what the target gained.
        let idle = goals.values().all(Option::is_none) && !self.restart;
        let ran = (|| {
            if idle {
                return Ok(0.0);
            }
            self.start(j, path, &bytes)?;
            let seconds = self.run_to(j, path, &goals, &begin, &ends, progress)?;
            self.pause(j, &keys)?;
            Ok::<_, DisklessError>(seconds)
        })();
        if let Err(e) = &ran {
            warn!(error = %e, "pausing the connector after a failed run");
            let name = Self::name(j);
            if let Err(p) = self.connect.pause(&name) {
                warn!(error = %p, "could not pause the connector");
            }
        }
        let restored = if idle {
            Ok(())
        } else {
            self.restore_quotas(j, path)
        };
        let seconds = ran?;
        restored?;
        progress.finish();
        let report = build_and_verify(j, path, self.src, self.tgt, Some(&goals), self.opts.stall)?;
        let after = target_ends(self.tgt, &keys)?;
        let stats = CopyStats {
            records: (j.partitions.iter().map(|p| p.map.records()).sum::<i64>() - records_before)
                .max(0) as u64,
            bytes: j.partitions.iter().map(|p| p.bytes).sum::<u64>() - bytes_before,
            seconds,
            recovered: 0,
            partitions: goals.values().filter(|g| g.is_some()).count(),
            throttle_wait_seconds: 0.0,
        };
        let written: i64 = keys.iter().map(|k| after[k] - before[k]).sum();
        if written as u64 > stats.records {
            info!(
                written,
                mapped = stats.records,
                "the target holds records copied twice (a replay after a worker failure); the map points at the later copies"
            );
        }
        j.copy_seconds += stats.seconds;
        j.copy_bytes += stats.bytes;
        save(j, path)?;
        self.last = Some(report);
        Ok(stats)
    }

    fn verify(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<VerifyReport, DisklessError> {
        if let Some(r) = self.last.take() {
            return Ok(r);
        }
        let r = build_and_verify(j, path, self.src, self.tgt, None, self.opts.stall);
        progress.finish();
        r
    }

    /// After the cutover the connector is deleted (the copied data stays).
    fn finish(&mut self, j: &mut DisklessJournal, path: &Path) -> Result<(), DisklessError> {
        cancel(j, path, self.connect, self.quotas)
    }

    fn partitions_changed(&mut self) {
        self.restart = true;
    }
}

/// MirrorMaker 2's `topics` for what the journal follows: every topic it copies that is not
/// deleted on the source.
pub(crate) fn followed_topics(j: &DisklessJournal) -> String {
    let followed: std::collections::BTreeSet<&String> = j
        .partitions
        .iter()
        .filter(|p| !p.source_deleted)
        .map(|p| &p.topic)
        .collect();
    connect::topics_value(followed)
}

/// Put back what was there before each quota streamctl set, journaled as it goes.
fn restore(
    j: &mut DisklessJournal,
    path: &Path,
    quotas: &mut dyn Quotas,
) -> Result<(), DisklessError> {
    let set: Vec<(String, QuotaRecord)> = j
        .connect
        .as_ref()
        .map(|c| c.quotas.clone().into_iter().collect())
        .unwrap_or_default();
    for (id, r) in set {
        info!(client_id = %id, previous = ?r.previous, "restoring the source quota");
        quotas.set(&id, r.previous)?;
        j.connect.as_mut().expect("checked").quotas.remove(&id);
        save(j, path)?;
    }
    Ok(())
}

/// Delete the connector and restore the quotas (`--cancel`, and after a cutover). The journal
/// and the target's data stay.
pub fn cancel(
    j: &mut DisklessJournal,
    path: &Path,
    connect: &dyn ConnectApi,
    quotas: &mut dyn Quotas,
) -> Result<(), DisklessError> {
    let Some(c) = j.connect.clone() else {
        return Ok(());
    };
    info!(connector = %c.connector, "deleting the connector");
    connect.delete(&c.connector)?;
    restore(j, path, quotas)?;
    j.connect.as_mut().expect("checked").deleted = true;
    save(j, path)
}

/// For the command's report: the connector config with secrets masked.
pub fn shown_config(opts: &ConnectOptions) -> BTreeMap<String, String> {
    connect::masked(&opts.config)
}

/// A REST call the Connect cluster may answer 409 while its workers rebalance (a config just
/// changed, a worker left or joined): tried again every half second for up to 30 s.
fn while_rebalancing<T>(
    call: impl Fn() -> Result<T, crate::connect::ConnectError>,
) -> Result<T, crate::connect::ConnectError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match call() {
            // 409 while the workers rebalance; a 500 "rebalance is expected" right before one.
            Err(crate::connect::ConnectError::Api {
                status, message, ..
            }) if (status == 409 || (status == 500 && message.contains("rebalance")))
                && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;
