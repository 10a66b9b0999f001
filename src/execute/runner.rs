//! The execution loop: throttles on, moves submitted in scheduled batches, progress, leaders
//! elected, throttles off, result verified; every step recorded in the journal first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};

use super::journal::{Journal, MoveState, Phase, Throttle};
use super::scheduler::{bound_secs, next_moves, Move};
use crate::kafka::{ClusterAdmin, ConfigOp, KafkaError};
pub use crate::run::progress::Progress;
use crate::run::progress::{Observation, Stage};
use crate::run::store::now_ms;

pub const LEADER_RATE: &str = "leader.replication.throttled.rate";
pub const FOLLOWER_RATE: &str = "follower.replication.throttled.rate";
pub const LEADER_REPLICAS: &str = "leader.replication.throttled.replicas";
pub const FOLLOWER_REPLICAS: &str = "follower.replication.throttled.replicas";

#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub max_per_broker: usize,
    pub additional: bool,
    /// Hold back moves of partitions whose ISR is below this (when set).
    pub min_isr_guard: Option<usize>,
    pub poll: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("cannot write the journal {path}: {source}")]
    Journal {
        path: String,
        source: std::io::Error,
    },
    #[error("another reassignment is running on the cluster ({0}); streamctl will not interleave with it")]
    OtherReassignments(String),
    #[error("the cluster rejected the reassignment of {0}")]
    Rejected(String),
}

impl ExecError {
    /// Another reassignment in progress, or a plan the cluster rejects: nothing was moved (2).
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            Self::OtherReassignments(_) | Self::Rejected(_) => crate::exit::ExitCode::BadInput,
            Self::Kafka(k) => k.exit_code(),
            Self::Journal { .. } => crate::exit::ExitCode::Failed,
        }
    }

    pub fn hint(&self) -> String {
        match self {
            Self::Kafka(k) => k.hint(),
            Self::Journal { .. } => "check that the journal's directory exists and is writable; run the same command again to resume".into(),
            Self::OtherReassignments(_) => "wait for it to finish (kafka-reassign-partitions.sh --list), or pass --additional".into(),
            Self::Rejected(_) => "the plan does not fit the cluster as it is now (brokers, partitions): re-plan from a fresh snapshot; nothing was moved".into(),
        }
    }
}

/// `reassign --execute --output json`. Stable field names.
#[derive(Debug, Clone, Serialize)]
pub struct ExecReport {
    pub phase: Phase,
    pub partitions: usize,
    pub replicas_moved: u64,
    pub bytes_moved: u64,
    pub duration_seconds: f64,
    /// From the first move submitted to the last one finished (the part the bound speaks of).
    pub moving_seconds: Option<f64>,
    /// The fastest possible at the throttle: the busiest broker's bytes in or out ÷ throttle.
    pub bound_seconds: f64,
    pub throttle_bytes_per_sec: u64,
    pub achieved_bytes_per_sec: f64,
    pub throttles_removed: usize,
    /// Every partition's replicas equal the plan.
    pub verified: bool,
    /// How many times this journal was run (more than 1: resumed).
    pub runs: u32,
    pub mismatched: Vec<String>,
    /// Broker settings that slow throttled moves, with what to change.
    pub advice: Vec<String>,
    /// Throttle settings that could not be removed because their broker is down
    /// (`broker 6 (host:port): key, key`); they stay in the journal and the next run, `--verify`
    /// or `--cancel` removes them. Exit code 5 while any are left.
    pub cleanup_pending: Vec<String>,
}

fn save(j: &Journal, path: &Path) -> Result<(), ExecError> {
    j.save(path).map_err(|source| ExecError::Journal {
        path: path.display().to_string(),
        source,
    })
}

/// Follower fetch settings above which a throttled move runs well below its throttle: a follower
/// whose quota is spent skips the throttled partitions and, with nothing else to fetch, sleeps
/// `replica.fetch.backoff.ms`; a leader whose quota is spent holds the fetch for up to
/// `replica.fetch.wait.max.ms`. Kafka's defaults (1000 and 500 ms) leave the link idle for much
/// of each one-second quota window.
pub const FETCH_WAIT_ADVICE_MS: u64 = 200;

/// Advice for the brokers receiving replicas whose follower fetch settings (`configs`, all broker
/// configs by broker id) slow throttled moves; empty when every broker is tuned or unknown.
pub fn fetch_advice(configs: &BTreeMap<i32, BTreeMap<String, String>>) -> Vec<String> {
    let mut by_values: BTreeMap<(u64, u64), Vec<i32>> = BTreeMap::new();
    for (b, c) in configs {
        let get = |k: &str| c.get(k).and_then(|v| v.parse::<u64>().ok());
        if let (Some(backoff), Some(wait)) = (
            get("replica.fetch.backoff.ms"),
            get("replica.fetch.wait.max.ms"),
        ) {
            if backoff > FETCH_WAIT_ADVICE_MS || wait > FETCH_WAIT_ADVICE_MS {
                by_values.entry((backoff, wait)).or_default().push(*b);
            }
        }
    }
    by_values
        .into_iter()
        .map(|((backoff, wait), brokers)| {
            format!(
                "broker(s) {brokers:?} have replica.fetch.backoff.ms={backoff} and replica.fetch.wait.max.ms={wait}: \
                 a throttled follower idles that long once its quota window is spent, so moves run below the \
                 throttle (measured on a test cluster: 1.35-1.77x the bound at 1000/500 ms, median 1.09x at \
                 100/100 ms); set both to 100 \
                 in server.properties (a rolling restart) for faster throttled moves"
            )
        })
        .collect()
}

/// How many bytes the new replicas of the moves in flight have copied so far (for progress). Only
/// live brokers are asked (an offline one could hold a poll up to the connect timeout); a broker
/// that does not answer counts as nothing copied.
async fn copied_in_flight<A: ClusterAdmin>(
    admin: &mut A,
    j: &Journal,
    live: &BTreeSet<i32>,
) -> u64 {
    let mut by_broker: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    let mut limit: BTreeMap<(String, i32), u64> = BTreeMap::new();
    for m in j.moves.iter().filter(|m| m.state == MoveState::Submitted) {
        for b in m.mv.adding().into_iter().filter(|b| live.contains(b)) {
            by_broker.entry(b).or_default().push(key(&m.mv));
        }
        limit.insert(key(&m.mv), m.mv.bytes);
    }
    let mut total = 0;
    for (b, parts) in by_broker {
        match admin.replica_bytes(b, &parts).await {
            Ok(sizes) => {
                total += sizes
                    .iter()
                    .map(|(k, &v)| v.min(limit.get(k).copied().unwrap_or(0)))
                    .sum::<u64>()
            }
            Err(e) => tracing::debug!(broker = b, error = %e, "no copy progress from this broker"),
        }
    }
    total
}

/// The topics a journal moves, for scoped Metadata requests.
pub fn topics_of(j: &Journal) -> Vec<String> {
    let set: BTreeSet<&str> = j.moves.iter().map(|m| m.mv.topic.as_str()).collect();
    set.into_iter().map(str::to_string).collect()
}

fn key(m: &Move) -> (String, i32) {
    (m.topic.clone(), m.partition)
}

/// The throttle keys a plan needs (values only; previous values are read when applying).
pub fn throttles_for(moves: &[Move], rate: u64, per_broker: &BTreeMap<i32, u64>) -> Vec<Throttle> {
    let mut brokers: BTreeSet<i32> = BTreeSet::new();
    let mut leaders: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut followers: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for m in moves.iter().filter(|m| !m.adding().is_empty()) {
        brokers.extend(m.from.iter().copied());
        brokers.extend(m.to.iter().copied());
        // As Kafka's own tool does: throttle the existing replicas as leaders (sources) and
        // the new ones as followers.
        leaders
            .entry(&m.topic)
            .or_default()
            .extend(m.from.iter().map(|b| format!("{}:{b}", m.partition)));
        followers
            .entry(&m.topic)
            .or_default()
            .extend(m.adding().iter().map(|b| format!("{}:{b}", m.partition)));
    }
    // Nothing set yet: the values they replace are read when applying.
    let throttle = |broker: Option<i32>, topic: Option<&str>, key: &str, value: String| Throttle {
        broker,
        topic: topic.map(str::to_string),
        key: key.into(),
        value,
        previous: None,
        deferred: false,
        reapply: false,
    };
    let mut out = Vec::new();
    for b in brokers {
        let r = per_broker.get(&b).copied().unwrap_or(rate);
        for k in [LEADER_RATE, FOLLOWER_RATE] {
            out.push(throttle(Some(b), None, k, r.to_string()));
        }
    }
    for (key, by_topic) in [(LEADER_REPLICAS, leaders), (FOLLOWER_REPLICAS, followers)] {
        for (t, v) in by_topic {
            let list = v.into_iter().collect::<Vec<_>>().join(",");
            out.push(throttle(None, Some(t), key, list));
        }
    }
    out
}

/// Set the journal's throttles: the first time, work out which are needed and record the values
/// they replace (write-ahead); a broker that is not `live` gets its throttle later
/// ([`set_deferred_throttles`]). Setting a key again to the same value is harmless on a resume.
async fn set_throttles<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
    live: &BTreeSet<i32>,
) -> Result<(), ExecError> {
    if j.throttles.is_empty() {
        let moves: Vec<Move> = j.moves.iter().map(|m| m.mv.clone()).collect();
        let mut wanted = throttles_for(&moves, j.throttle_bytes_per_sec, &j.broker_throttles);
        // Remember what was there before, so cleanup restores it (and removes only our keys).
        let mut cache: BTreeMap<(Option<i32>, Option<String>), BTreeMap<String, String>> =
            BTreeMap::new();
        for t in &mut wanted {
            if t.broker.is_some_and(|b| !live.contains(&b)) {
                t.deferred = true;
                continue;
            }
            let k = (t.broker, t.topic.clone());
            if !cache.contains_key(&k) {
                let cfg = admin.dynamic_configs(t.broker, t.topic.as_deref()).await?;
                cache.insert(k.clone(), cfg);
            }
            t.previous = cache[&k].get(&t.key).filter(|v| !v.is_empty()).cloned();
        }
        j.throttles = wanted;
        save(j, path)?; // intent first: a crash after this still cleans up
    }
    // A resumed run: a recorded throttle of a broker that is down now is set again when it is
    // back (its previous value was recorded before the first run set it).
    let mut marked = false;
    for t in j.throttles.iter_mut() {
        if !t.deferred && !t.reapply && t.broker.is_some_and(|b| !live.contains(&b)) {
            t.reapply = true;
            marked = true;
        }
    }
    if marked {
        save(j, path)?;
    }
    // One IncrementalAlterConfigs per broker or topic, with all of its keys.
    let mut by_resource: BTreeMap<(Option<i32>, Option<String>), Vec<ConfigOp>> = BTreeMap::new();
    for t in j.throttles.iter().filter(|t| !t.deferred && !t.reapply) {
        by_resource
            .entry((t.broker, t.topic.clone()))
            .or_default()
            .push((t.key.clone(), Some(t.value.clone())));
    }
    for ((broker, topic), ops) in by_resource {
        admin.alter_configs(broker, topic.as_deref(), &ops).await?;
    }
    let deferred: BTreeSet<i32> = j
        .throttles
        .iter()
        .filter(|t| t.deferred || t.reapply)
        .filter_map(|t| t.broker)
        .collect();
    if !deferred.is_empty() {
        warn!("broker(s) {deferred:?} offline: their throttles are set when they return");
    }
    info!(count = j.throttles.len(), "replication throttles set");
    Ok(())
}

/// Set the deferred throttles of brokers that are `live` again (reading the values they replace
/// first, recorded before the change).
async fn set_deferred_throttles<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
    live: &BTreeSet<i32>,
) -> Result<(), ExecError> {
    let back: BTreeSet<i32> = j
        .throttles
        .iter()
        .filter(|t| t.deferred || t.reapply)
        .filter_map(|t| t.broker)
        .filter(|b| live.contains(b))
        .collect();
    for b in back {
        let cfg = admin.dynamic_configs(Some(b), None).await?;
        for t in j.throttles.iter_mut().filter(|t| t.broker == Some(b)) {
            if t.deferred {
                t.previous = cfg.get(&t.key).filter(|v| !v.is_empty()).cloned();
            }
            t.deferred = false;
            t.reapply = false;
        }
        save(j, path)?;
        let ops: Vec<ConfigOp> = j
            .throttles
            .iter()
            .filter(|t| t.broker == Some(b))
            .map(|t| (t.key.clone(), Some(t.value.clone())))
            .collect();
        admin.alter_configs(Some(b), None, &ops).await?;
        info!(
            broker = b,
            "broker is back: its replication throttles are set"
        );
    }
    Ok(())
}

/// Remove (or restore) every throttle the journal records: how many were removed, and what is
/// left because its broker could not be reached (`broker 6: key, key`). What is left stays in
/// the journal, so the next run (or `--verify`, `--cancel`) removes it once the broker is back.
pub async fn clear_throttles<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
) -> Result<(usize, Vec<String>), ExecError> {
    let mut n = 0;
    let mut pending = Vec::new();
    // One IncrementalAlterConfigs per broker or topic (atomic for that resource), last set first.
    let mut resources: Vec<(Option<i32>, Option<String>)> = Vec::new();
    for t in j.throttles.iter().rev() {
        let r = (t.broker, t.topic.clone());
        if !resources.contains(&r) {
            resources.push(r);
        }
    }
    for res in resources {
        let ops: Vec<ConfigOp> = j
            .throttles
            .iter()
            .filter(|t| (t.broker, t.topic.clone()) == res && !t.deferred)
            .map(|t| (t.key.clone(), t.previous.clone()))
            .collect();
        // (a deferred one was never set: its broker was offline throughout)
        if !ops.is_empty() {
            match admin.alter_configs(res.0, res.1.as_deref(), &ops).await {
                Ok(()) => {}
                Err(e) if e.is_unreachable() && res.0.is_some() => {
                    let b = res.0.expect("a broker");
                    let keys: Vec<&str> = ops.iter().map(|(k, _)| k.as_str()).collect();
                    let at = admin
                        .broker_address(b)
                        .or_else(|| j.addresses.get(&b).cloned())
                        .map(|a| format!(" ({a})"))
                        .unwrap_or_default();
                    warn!("broker {b}{at} is not reachable: its throttle settings stay until the next run");
                    pending.push(format!("broker {b}{at}: {}", keys.join(", ")));
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        j.throttles.retain(|t| (t.broker, t.topic.clone()) != res);
        save(j, path)?;
        n += ops.len();
    }
    Ok((n, pending))
}

/// What a run waiting on brokers that are down says: each broker, where it was, how many moves
/// wait for it, and what the operator can do.
pub fn waiting_status(
    unavailable: &BTreeSet<i32>,
    waiting: &BTreeMap<i32, usize>,
    address: impl Fn(i32) -> Option<String>,
) -> String {
    let each: Vec<String> = unavailable
        .iter()
        .map(|&b| {
            let n = waiting.get(&b).copied().unwrap_or(0);
            format!(
                "broker {b}{} is not reachable; {n} move{} wait{} for it",
                address(b).map(|a| format!(" ({a})")).unwrap_or_default(),
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" }
            )
        })
        .collect();
    let ids: Vec<String> = unavailable.iter().map(i32::to_string).collect();
    format!(
        "{}; the other moves go on (wait for it, drain it with --remove-brokers {}, or --cancel)",
        each.join("; "),
        ids.join(",")
    )
}

/// Run (or resume) the journal's plan to the end.
pub async fn execute<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
    opts: &ExecOptions,
    progress: &dyn Progress,
) -> Result<ExecReport, ExecError> {
    j.runs += 1;
    save(j, path)?;
    let total: u64 = j.moves.iter().map(|m| m.mv.copy_bytes()).sum();
    if j.phase == Phase::Running {
        prepare(admin, j, path, opts).await?;
        let topics = topics_of(j);
        let mut st = PollState::default();
        let mut failures = 0u32;
        loop {
            // One poll of the cluster; a lost connection is retried (a broker restarting), for up to
            // ten minutes of consecutive failures.
            match poll(admin, j, path, opts, progress, total, &topics, &mut st).await {
                Ok(true) => break,
                Ok(false) => failures = 0,
                Err(ExecError::Kafka(e)) if e.is_unreachable() && failures < 600 => {
                    failures += 1;
                    warn!("cluster unreachable ({e}); retrying");
                }
                Err(e) => return Err(e),
            }
            tokio::time::sleep(opts.poll).await;
        }
        j.phase = Phase::Finishing;
        save(j, path)?;
    }
    finish(admin, j, path, progress).await
}

/// Before the first poll of a run: refuse reassignments that are not the journal's (unless
/// `--additional`), remember the brokers' addresses, advise on receivers' configs, set throttles.
async fn prepare<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
    opts: &ExecOptions,
) -> Result<(), ExecError> {
    let ours: BTreeSet<(String, i32)> = j.moves.iter().map(|m| key(&m.mv)).collect();
    let foreign: Vec<String> = admin
        .list_reassignments()
        .await?
        .into_iter()
        .filter(|o| !ours.contains(&(o.topic.clone(), o.partition)))
        .map(|o| format!("{}-{}", o.topic, o.partition))
        .collect();
    if !foreign.is_empty() && !opts.additional {
        return Err(ExecError::OtherReassignments(
            foreign.into_iter().take(5).collect::<Vec<_>>().join(", "),
        ));
    }
    let live = admin.partitions(&topics_of(j)).await?.live_brokers;
    let plan_brokers: BTreeSet<i32> = j
        .moves
        .iter()
        .flat_map(|m| m.mv.from.iter().chain(m.mv.to.iter()).copied())
        .collect();
    for b in plan_brokers {
        if let Some(a) = admin.broker_address(b) {
            j.addresses.insert(b, a);
        }
    }
    // (a receiving broker that is down is asked nothing: it gets its advice on a later run)
    let receivers: BTreeSet<i32> = j
        .moves
        .iter()
        .flat_map(|m| m.mv.adding())
        .filter(|b| live.contains(b))
        .collect();
    let mut configs = BTreeMap::new();
    for b in receivers {
        configs.insert(b, admin.describe_configs(Some(b), None).await?);
    }
    j.advice = fetch_advice(&configs);
    for a in &j.advice {
        warn!("{a}");
    }
    set_throttles(admin, j, path, &live).await?;
    Ok(())
}

/// What one poll carries to the next.
#[derive(Default)]
struct PollState {
    /// The last warning, so a wait is logged when it starts or changes, not every poll.
    last_status: String,
    /// Bytes the in-flight moves' new replicas hold, refreshed about once a second.
    copying: u64,
    copying_at: Option<std::time::Instant>,
}

/// One poll: settle the moves the cluster finished, start the next ones the limits allow,
/// report progress. `Ok(true)` when every move is done.
#[allow(clippy::too_many_arguments)]
async fn poll<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
    opts: &ExecOptions,
    progress: &dyn Progress,
    total: u64,
    topics: &[String],
    st: &mut PollState,
) -> Result<bool, ExecError> {
    let ongoing = ongoing(admin).await?;
    let states = admin.partitions(topics).await?;
    set_deferred_throttles(admin, j, path, &states.live_brokers).await?;
    let current = &states.replicas;
    if reconcile(j, &ongoing, current) {
        save(j, path)?;
    }
    let done = done_bytes(j);
    if j.moves.iter().all(|m| m.state == MoveState::Done) {
        progress.update(done, total, 0, &Stage::MovesComplete);
        progress.observe(&moves_observed(j, total, done));
        return Ok(true);
    }
    // The moves as the cluster runs them: copies come from each partition's current
    // leader (a dead preferred leader is no source, and no reason to wait).
    let view: Vec<Move> = j
        .moves
        .iter()
        .map(|m| m.mv.with_leader(states.leaders.get(&key(&m.mv)).copied()))
        .collect();
    let involved: BTreeSet<i32> = (0..j.moves.len())
        .filter(|&i| j.moves[i].state != MoveState::Done)
        .flat_map(|i| view[i].needs())
        .collect();
    let unavailable: BTreeSet<i32> = involved.difference(&states.live_brokers).copied().collect();
    let held: BTreeSet<(String, i32)> = match opts.min_isr_guard {
        Some(min) => states
            .in_sync
            .iter()
            .filter(|(_, isr)| isr.len() < min)
            .map(|(k, _)| k.clone())
            .collect(),
        None => BTreeSet::new(),
    };
    let pending_idx: Vec<usize> = (0..j.moves.len())
        .filter(|&i| j.moves[i].state == MoveState::Pending && !held.contains(&key(&j.moves[i].mv)))
        .collect();
    let in_flight: Vec<&Move> = (0..j.moves.len())
        .filter(|&i| j.moves[i].state == MoveState::Submitted)
        .map(|i| &view[i])
        .collect();
    let pending: Vec<&Move> = pending_idx.iter().map(|&i| &view[i]).collect();
    let start: Vec<usize> = next_moves(&pending, &in_flight, opts.max_per_broker, &unavailable)
        .into_iter()
        .map(|i| pending_idx[i])
        .collect();
    let status = wait_status(admin, j, &view, &unavailable, &held);
    if !status.is_empty() && status != st.last_status {
        warn!("{status}");
    }
    st.last_status.clone_from(&status);
    if !start.is_empty() {
        submit(admin, j, path, &start).await?;
    }
    if st
        .copying_at
        .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
    {
        st.copying = copied_in_flight(admin, j, &states.live_brokers).await;
        st.copying_at = Some(std::time::Instant::now());
    }
    let done = done + st.copying;
    let mut per_broker: BTreeMap<i32, usize> = BTreeMap::new();
    for m in j.moves.iter().filter(|m| m.state == MoveState::Submitted) {
        for b in m.mv.brokers() {
            *per_broker.entry(b).or_default() += 1;
        }
    }
    let in_flight = j
        .moves
        .iter()
        .filter(|m| m.state == MoveState::Submitted)
        .count();
    let stage = Stage::Moving {
        per_broker: per_broker.iter().map(|(b, n)| (*b, *n)).collect(),
        status: status.to_string(),
    };
    progress.update(done, total, in_flight, &stage);
    progress.observe(&moves_observed(j, total, done));
    Ok(false)
}

/// Bytes of the moves done.
fn done_bytes(j: &Journal) -> u64 {
    j.moves
        .iter()
        .filter(|m| m.state == MoveState::Done)
        .map(|m| m.mv.copy_bytes())
        .sum()
}

/// The moves by state, their bytes and the throttle, for metrics.
fn moves_observed(j: &Journal, total: u64, done: u64) -> Observation {
    let count = |s: MoveState| j.moves.iter().filter(|m| m.state == s).count() as u64;
    Observation::Moves {
        pending: count(MoveState::Pending),
        in_flight: count(MoveState::Submitted),
        done: count(MoveState::Done),
        bytes_total: total,
        bytes_done: done,
        throttle_bytes_per_sec: j.throttle_bytes_per_sec,
        throttle_settings: j.throttles.len() as u64,
    }
}

/// The partitions the cluster is reassigning now.
async fn ongoing<A: ClusterAdmin>(admin: &mut A) -> Result<BTreeSet<(String, i32)>, ExecError> {
    Ok(admin
        .list_reassignments()
        .await?
        .into_iter()
        .map(|o| (o.topic, o.partition))
        .collect())
}

/// Submitted moves the cluster no longer runs: on to their next step (or done) when the
/// replicas match, else back to pending (submitted in the journal, lost before the cluster
/// saw it). True when a move changed.
fn reconcile(
    j: &mut Journal,
    ongoing: &BTreeSet<(String, i32)>,
    current: &BTreeMap<(String, i32), Vec<i32>>,
) -> bool {
    let mut changed = false;
    for m in j
        .moves
        .iter_mut()
        .filter(|m| m.state == MoveState::Submitted)
    {
        let k = key(&m.mv);
        if ongoing.contains(&k) {
            continue;
        }
        if current.get(&k) == Some(&m.steps[m.step]) {
            m.step += 1;
            m.state = if m.step == m.steps.len() {
                MoveState::Done
            } else {
                MoveState::Pending
            };
            if m.state == MoveState::Done {
                j.last_done_ms = Some(now_ms());
            }
        } else {
            // Submitted in the journal but never reached the cluster (a crash in between):
            // submit again.
            m.state = MoveState::Pending;
        }
        changed = true;
    }
    changed
}

/// Why moves wait, for the log and the progress line: brokers down, or partitions held
/// below min.insync.replicas. Empty when nothing waits.
fn wait_status<A: ClusterAdmin>(
    admin: &A,
    j: &Journal,
    view: &[Move],
    unavailable: &BTreeSet<i32>,
    held: &BTreeSet<(String, i32)>,
) -> String {
    if !unavailable.is_empty() {
        let mut waiting: BTreeMap<i32, usize> = BTreeMap::new();
        for i in (0..j.moves.len()).filter(|&i| j.moves[i].state != MoveState::Done) {
            for b in view[i].needs().intersection(unavailable) {
                *waiting.entry(*b).or_default() += 1;
            }
        }
        waiting_status(unavailable, &waiting, |b| {
            admin
                .broker_address(b)
                .or_else(|| j.addresses.get(&b).cloned())
        })
    } else if !held.is_empty() {
        format!(
            "holding {} partition(s) below min.insync.replicas",
            held.len()
        )
    } else {
        String::new()
    }
}

/// Write-ahead: mark the moves submitted in the journal, then submit them.
async fn submit<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
    start: &[usize],
) -> Result<(), ExecError> {
    for &i in start {
        j.moves[i].state = MoveState::Submitted;
    }
    j.first_submit_ms.get_or_insert(now_ms());
    save(j, path)?;
    let batch: Vec<(String, i32, Option<Vec<i32>>)> = start
        .iter()
        .map(|&i| {
            (
                j.moves[i].mv.topic.clone(),
                j.moves[i].mv.partition,
                Some(j.moves[i].steps[j.moves[i].step].clone()),
            )
        })
        .collect();
    let errors = admin.alter_reassignments(&batch).await?;
    for (t, p, e) in errors {
        match &e {
            // Already running (submitted before a crash): keep waiting for it.
            KafkaError::Api { code: 60, .. } => {}
            _ => return Err(ExecError::Rejected(format!("{t}-{p}: {e}"))),
        }
    }
    info!(started = start.len(), "moves submitted");
    Ok(())
}

/// Elect preferred leaders, remove throttles, verify.
pub async fn finish<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
    progress: &dyn Progress,
) -> Result<ExecReport, ExecError> {
    let parts: Vec<(String, i32)> = j.moves.iter().map(|m| key(&m.mv)).collect();
    if j.phase == Phase::Finishing {
        admin.elect_preferred(&parts).await?;
    }
    let (removed, pending) = clear_throttles(admin, j, path).await?;
    let current = admin.partitions(&topics_of(j)).await?.replicas;
    let mismatched: Vec<String> = j
        .moves
        .iter()
        .filter(|m| current.get(&key(&m.mv)) != Some(&m.mv.to))
        .map(|m| format!("{}-{}", m.mv.topic, m.mv.partition))
        .collect();
    // Complete only with every throttle gone: a journal still Finishing is resumed (and its
    // cleanup retried) by the next run or `--verify`.
    if j.phase == Phase::Finishing && mismatched.is_empty() && pending.is_empty() {
        j.phase = Phase::Complete;
    }
    save(j, path)?;
    // The throttle settings left (none once every broker answered).
    let total: u64 = j.moves.iter().map(|m| m.mv.copy_bytes()).sum();
    let done = done_bytes(j);
    progress.observe(&moves_observed(j, total, done));
    progress.finish();
    Ok(ExecReport {
        cleanup_pending: pending,
        ..report(j, removed, mismatched)
    })
}

pub fn report(j: &Journal, removed: usize, mismatched: Vec<String>) -> ExecReport {
    let moves: Vec<&Move> = j.moves.iter().map(|m| &m.mv).collect();
    let done: Vec<&Move> = j
        .moves
        .iter()
        .filter(|m| m.state == MoveState::Done)
        .map(|m| &m.mv)
        .collect();
    let bytes: u64 = done.iter().map(|m| m.copy_bytes()).sum();
    let duration = now_ms().saturating_sub(j.started_unix_ms) as f64 / 1000.0;
    ExecReport {
        phase: j.phase,
        partitions: moves.len(),
        replicas_moved: done.iter().map(|m| m.adding().len() as u64).sum(),
        bytes_moved: bytes,
        duration_seconds: duration,
        moving_seconds: match (j.first_submit_ms, j.last_done_ms) {
            (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 1000.0),
            _ => None,
        },
        bound_seconds: bound_secs(moves.iter().copied(), |b| {
            j.broker_throttles
                .get(&b)
                .copied()
                .unwrap_or(j.throttle_bytes_per_sec) as f64
        }),
        throttle_bytes_per_sec: j.throttle_bytes_per_sec,
        achieved_bytes_per_sec: if duration > 0.0 {
            bytes as f64 / duration
        } else {
            0.0
        },
        throttles_removed: removed,
        verified: mismatched.is_empty(),
        runs: j.runs,
        mismatched,
        advice: j.advice.clone(),
        cleanup_pending: Vec::new(),
    }
}

/// Cancel our running moves (the cluster reverts them), then remove the throttles.
pub async fn cancel<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut Journal,
    path: &Path,
    progress: &dyn Progress,
) -> Result<ExecReport, ExecError> {
    let ongoing = ongoing(admin).await?;
    let ours: Vec<(String, i32, Option<Vec<i32>>)> = j
        .moves
        .iter()
        .map(|m| key(&m.mv))
        .filter(|k| ongoing.contains(k))
        .map(|(t, p)| (t, p, None))
        .collect();
    if !ours.is_empty() {
        admin.alter_reassignments(&ours).await?;
    }
    // (cancelled before, with throttles left on a broker that was down: only clean up)
    for m in j.moves.iter_mut().filter(|m| m.state != MoveState::Done) {
        m.state = MoveState::Cancelled;
    }
    j.phase = Phase::Cancelled;
    save(j, path)?;
    for _ in 0..120 {
        let still: usize = admin
            .list_reassignments()
            .await?
            .iter()
            .filter(|o| {
                j.moves
                    .iter()
                    .any(|m| m.mv.topic == o.topic && m.mv.partition == o.partition)
            })
            .count();
        if still == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (removed, pending) = clear_throttles(admin, j, path).await?;
    save(j, path)?;
    progress.finish();
    Ok(ExecReport {
        cleanup_pending: pending,
        ..report(j, removed, vec![])
    })
}

#[cfg(test)]
mod tests;
