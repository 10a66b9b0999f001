//! Driving the tiered migration over [`ClusterAdmin`]: read the cluster, then per wave set the
//! topic configs (IncrementalAlterConfigs, write-ahead in the journal) and follow the upload
//! (ListOffsets -5 / -1, DescribeLogDirs) until every partition is tiered; the KIP-956 copy
//! quota holds each broker to the tier throttle meanwhile and is restored afterwards; then the
//! optional drain runs on the reassignment engine ([`crate::execute::runner`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Serialize;
use tracing::{info, warn};

use crate::migrate::tiered::plan::{
    self, target_local_bytes, topic_ops, upload_bytes, Baseline, BrokerState, LocalRetention,
    PartitionState, Problem, TierInput, TierOptions, TierPlan, COPY_QUOTA, SYSTEM_ENABLE,
};

use super::error::TierError;
use crate::execute::journal::{Journal, Phase, Throttle};
use crate::execute::runner::{self as exec, ExecOptions};
use crate::execute::scheduler::Move;
use crate::kafka::{offset_spec, ClusterAdmin, ConfigOp, KafkaError};
use crate::migrate::tiered::journal::{DrainRecord, TierJournal, TierPhase, WaveState};
use crate::run::progress::{Observation, Progress, Stage};
use crate::run::store::now_ms;

#[derive(Debug, Clone)]
pub struct TierRunOptions {
    pub poll: Duration,
    /// Give up a wave when no partition moved forward for this long.
    pub stall: Duration,
    /// How the drain's moves run.
    pub drain: ExecOptions,
}

fn save(j: &TierJournal, path: &Path) -> Result<(), TierError> {
    j.save(path).map_err(|source| TierError::Journal {
        path: path.display().to_string(),
        source,
    })
}

fn key(t: &str, p: i32) -> (String, i32) {
    (t.to_string(), p)
}

/// Read what the plan needs: the whole cluster, the selected topics (internal ones never), their
/// configs and offsets, each broker's tiered-storage switch and disk, running reassignments.
pub async fn read_input<A: ClusterAdmin>(
    admin: &mut A,
    topics: &Regex,
    retention: LocalRetention,
) -> Result<TierInput, KafkaError> {
    let cluster = admin.snapshot().await?;
    let selected: BTreeSet<String> = cluster
        .partitions
        .iter()
        .map(|p| p.topic.clone())
        .filter(|t| !t.starts_with("__") && topics.is_match(t))
        .collect();
    let mut topic_configs = BTreeMap::new();
    for t in &selected {
        topic_configs.insert(t.clone(), admin.describe_configs(None, Some(t)).await?);
    }
    let mut brokers = Vec::new();
    for b in &cluster.brokers {
        let (tiered, usable) = if b.offline {
            (None, None)
        } else {
            let cfg = admin.describe_configs(Some(b.id), None).await?;
            let disk = admin.disk_space(b.id).await?;
            (
                Some(cfg.get(SYSTEM_ENABLE).is_some_and(|v| v == "true")),
                disk.map(|d| d.usable_bytes),
            )
        };
        brokers.push(BrokerState {
            id: b.id,
            rack: b.rack.clone(),
            tiered,
            usable_bytes: usable,
        });
    }
    let topic_list: Vec<String> = selected.iter().cloned().collect();
    let parts: Vec<(String, i32)> = cluster
        .partitions
        .iter()
        .filter(|p| selected.contains(&p.topic))
        .map(|p| key(&p.topic, p.partition))
        .collect();
    let leaders = if topic_list.is_empty() {
        BTreeMap::new()
    } else {
        admin.partitions(&topic_list).await?.leaders
    };
    let starts = admin.list_offsets(&parts, offset_spec::EARLIEST).await?;
    let ends = admin.list_offsets(&parts, offset_spec::LATEST).await?;
    let cutoffs = match retention {
        LocalRetention::Ms(ms) => Some(
            admin
                .list_offsets(&parts, now_ms().saturating_sub(ms) as i64)
                .await?,
        ),
        LocalRetention::Bytes(_) => None,
    };
    let partitions = cluster
        .partitions
        .iter()
        .filter(|p| selected.contains(&p.topic))
        .map(|p| {
            let k = key(&p.topic, p.partition);
            PartitionState {
                topic: p.topic.clone(),
                partition: p.partition,
                replicas: p.replicas.clone(),
                leader: leaders.get(&k).copied(),
                local_bytes: p.move_bytes(),
                log_start: starts.get(&k).copied().unwrap_or(0),
                log_end: ends.get(&k).copied().unwrap_or(0),
                offset_at_cutoff: cutoffs.as_ref().map(|c| c.get(&k).copied().unwrap_or(-1)),
            }
        })
        .collect();
    let ongoing_reassignments = admin
        .list_reassignments()
        .await?
        .into_iter()
        .map(|o| format!("{}-{}", o.topic, o.partition))
        .collect();
    Ok(TierInput {
        cluster,
        brokers,
        topic_configs,
        partitions,
        ongoing_reassignments,
    })
}

/// Read the cluster, check it (every problem at once) and plan the waves: the plan, or the
/// problems that stop it.
pub async fn plan<A: ClusterAdmin>(
    admin: &mut A,
    topics: &Regex,
    opts: &TierOptions,
) -> Result<(Option<TierPlan>, Vec<Problem>), KafkaError> {
    let input = read_input(admin, topics, opts.local_retention).await?;
    let mut problems = plan::preflight(&input, opts);
    if !problems.is_empty() {
        return Ok((None, problems));
    }
    match plan::plan(&input, opts) {
        Ok(p) => {
            problems.extend(p.disk_problems.iter().cloned());
            problems.extend(validate_plan(admin, &p, opts).await?);
            Ok((Some(p), problems))
        }
        Err(m) => {
            problems.push(Problem {
                what: m,
                hint: "drain fewer brokers, or add brokers in the AZs that lose them".into(),
            });
            Ok((None, problems))
        }
    }
}

/// Ask the cluster, without changing anything, whether it accepts each wave topic's configs
/// (IncrementalAlterConfigs validate-only): a refusal is a preflight problem, found before the
/// first change rather than in the middle of a wave.
pub async fn validate_plan<A: ClusterAdmin>(
    admin: &mut A,
    plan: &TierPlan,
    opts: &TierOptions,
) -> Result<Vec<Problem>, KafkaError> {
    let ops: Vec<ConfigOp> = topic_ops(opts)
        .into_iter()
        .map(|(k, v)| (k, Some(v)))
        .collect();
    let mut out = Vec::new();
    for t in plan.waves.iter().flat_map(|w| &w.topics) {
        match admin.validate_configs(t, &ops).await {
            Ok(()) => {}
            Err(e @ KafkaError::Api { .. }) => out.push(Problem {
                what: format!("topic {t}: the cluster refuses the migration's configs: {e}"),
                hint: "change what the message names (--set-segment-bytes, --local-retention, ...) and run again".into(),
            }),
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// `migrate tiered --output json`. Stable field names.
#[derive(Debug, Clone, Serialize)]
pub struct TierReport {
    pub phase: TierPhase,
    pub waves: Vec<WaveReport>,
    pub tier_throttle_bytes_per_sec: u64,
    /// Copy quotas set for the migration and restored (or removed) at its end.
    pub quotas_restored: usize,
    /// Quota settings still in place (non-zero only while tiering runs or after a failure).
    pub quotas_outstanding: usize,
    pub drain: Option<DrainRecord>,
    /// Topic configs read back equal the plan's.
    pub configs_verified: bool,
    pub config_mismatches: Vec<String>,
    pub runs: u32,
    pub duration_seconds: f64,
    /// Local bytes per broker: before, as planned after, as measured after.
    pub brokers: Vec<super::journal::BrokerBytes>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WaveReport {
    pub index: usize,
    pub topics: Vec<String>,
    pub state: WaveState,
    pub partitions: usize,
    pub planned_upload_bytes: u64,
    pub uploaded_bytes: u64,
    pub predicted_seconds: f64,
    pub duration_seconds: Option<f64>,
    /// The busiest broker's upload rate over the wave (compare with the tier throttle).
    pub max_broker_upload_bytes_per_sec: Option<f64>,
    pub uploaded_by_broker: BTreeMap<i32, u64>,
    pub local_bytes_before: u64,
    pub local_bytes_after: u64,
}

pub fn report(j: &TierJournal, quotas_restored: usize, mismatches: Vec<String>) -> TierReport {
    let waves = j
        .waves
        .iter()
        .map(|w| {
            let secs = match (w.started_ms, w.done_ms) {
                (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1000.0),
                _ => None,
            };
            WaveReport {
                index: w.index,
                topics: w.topics.clone(),
                state: w.state,
                partitions: w.baselines.len(),
                planned_upload_bytes: w.planned_upload_bytes,
                uploaded_bytes: w.uploaded_bytes,
                predicted_seconds: w.predicted_seconds,
                duration_seconds: secs,
                max_broker_upload_bytes_per_sec: secs
                    .map(|s| w.uploaded_by_broker.values().copied().max().unwrap_or(0) as f64 / s),
                uploaded_by_broker: w.uploaded_by_broker.clone(),
                local_bytes_before: w.baselines.iter().map(|b| b.local_bytes).sum(),
                local_bytes_after: w.local_bytes_after,
            }
        })
        .collect();
    TierReport {
        phase: j.phase,
        waves,
        tier_throttle_bytes_per_sec: j.options.tier_throttle,
        quotas_restored,
        quotas_outstanding: j.quotas.len(),
        drain: j.drain.clone(),
        configs_verified: mismatches.is_empty(),
        config_mismatches: mismatches,
        runs: j.runs,
        duration_seconds: now_ms().saturating_sub(j.started_unix_ms) as f64 / 1000.0,
        brokers: j.brokers.clone(),
    }
}

/// Set the copy quota on every live broker (write-ahead: the values they replace first).
async fn set_quotas<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut TierJournal,
    path: &Path,
    brokers: &[i32],
) -> Result<(), TierError> {
    if j.quotas.is_empty() {
        for &b in brokers {
            let cfg = admin.dynamic_configs(Some(b), None).await?;
            j.quotas.push(Throttle {
                broker: Some(b),
                topic: None,
                key: COPY_QUOTA.into(),
                value: j.options.tier_throttle.to_string(),
                previous: cfg.get(COPY_QUOTA).filter(|v| !v.is_empty()).cloned(),
                deferred: false,
                reapply: false,
            });
        }
        save(j, path)?;
    }
    for q in &j.quotas {
        admin
            .alter_configs(q.broker, None, &[(q.key.clone(), Some(q.value.clone()))])
            .await?;
    }
    info!(
        brokers = j.quotas.len(),
        rate = j.options.tier_throttle,
        "tier copy quota set"
    );
    Ok(())
}

/// Put every quota back as it was (delete it where there was none); returns how many.
pub async fn restore_quotas<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut TierJournal,
    path: &Path,
) -> Result<usize, TierError> {
    let mut n = 0;
    while let Some(q) = j.quotas.last().cloned() {
        admin
            .alter_configs(q.broker, None, &[(q.key.clone(), q.previous.clone())])
            .await?;
        j.quotas.pop();
        save(j, path)?;
        n += 1;
    }
    Ok(n)
}

/// Record each partition of a wave as it is now, and the configs its topics had.
async fn start_wave<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut TierJournal,
    path: &Path,
    wi: usize,
) -> Result<(), TierError> {
    let topics = j.waves[wi].topics.clone();
    let states = admin.partitions(&topics).await?;
    let parts: Vec<(String, i32)> = states.replicas.keys().cloned().collect();
    let starts = admin.list_offsets(&parts, offset_spec::EARLIEST).await?;
    let ends = admin.list_offsets(&parts, offset_spec::LATEST).await?;
    let tiered = admin
        .list_offsets(&parts, offset_spec::LATEST_TIERED)
        .await?;
    let cutoffs = match j.options.local_retention {
        LocalRetention::Ms(ms) => Some(
            admin
                .list_offsets(&parts, now_ms().saturating_sub(ms) as i64)
                .await?,
        ),
        LocalRetention::Bytes(_) => None,
    };
    let local = local_bytes(admin, &states, &parts).await;
    let mut baselines = Vec::new();
    for t in &topics {
        let cfg = admin.describe_configs(None, Some(t)).await?;
        let dynamic = admin.dynamic_configs(None, Some(t)).await?;
        for (k, v) in topic_ops(&j.options) {
            if !j
                .configs
                .iter()
                .any(|c| c.topic.as_deref() == Some(t) && c.key == k)
            {
                j.configs.push(Throttle {
                    broker: None,
                    topic: Some(t.clone()),
                    key: k.clone(),
                    value: v,
                    previous: dynamic.get(&k).cloned(),
                    deferred: false,
                    reapply: false,
                });
            }
        }
        for k in parts.iter().filter(|(pt, _)| pt == t).cloned() {
            let p = PartitionState {
                topic: k.0.clone(),
                partition: k.1,
                replicas: states.replicas.get(&k).cloned().unwrap_or_default(),
                leader: states.leaders.get(&k).copied(),
                local_bytes: local.get(&k).copied().unwrap_or(0),
                log_start: starts.get(&k).copied().unwrap_or(0),
                log_end: ends.get(&k).copied().unwrap_or(0),
                offset_at_cutoff: cutoffs.as_ref().map(|c| c.get(&k).copied().unwrap_or(-1)),
            };
            // Closed segments are as large as the topic's segment size was.
            let full_seg = plan::segment_bytes(&cfg);
            baselines.push(Baseline {
                topic: p.topic.clone(),
                partition: p.partition,
                leader: p.leader,
                local_bytes: p.local_bytes,
                log_start: p.log_start,
                log_end: p.log_end,
                latest_tiered: tiered.get(&k).copied().unwrap_or(-1),
                bytes_per_record: p.bytes_per_record(),
                // (a larger --set-segment-bytes lets the open segment grow past this under
                // traffic; a poll then still sees the lag below it most of the time, while a
                // wider tolerance would call a wave done with a closed segment not uploaded)
                segment_bytes: full_seg,
                target_local_bytes: target_local_bytes(&p, j.options.local_retention, full_seg),
                upload_bytes: upload_bytes(&p, full_seg),
            });
        }
    }
    let w = &mut j.waves[wi];
    w.baselines = baselines;
    w.state = WaveState::Tiering;
    w.started_ms = Some(now_ms());
    save(j, path)?;
    Ok(())
}

/// Local bytes of each partition: the largest of its live replicas' (DescribeLogDirs, one
/// request per broker). Followers apply local retention too, a little after the leader; a
/// partition counts as shrunk only when every replica has. A partition none of whose replicas
/// answers is left out.
async fn local_bytes<A: ClusterAdmin>(
    admin: &mut A,
    states: &crate::kafka::PartitionStates,
    parts: &[(String, i32)],
) -> BTreeMap<(String, i32), u64> {
    let mut by_broker: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    for k in parts {
        for &b in states.replicas.get(k).into_iter().flatten() {
            if states.live_brokers.contains(&b) {
                by_broker.entry(b).or_default().push(k.clone());
            }
        }
    }
    let mut out: BTreeMap<(String, i32), u64> = BTreeMap::new();
    for (b, ps) in by_broker {
        match admin.replica_bytes(b, &ps).await {
            Ok(m) => {
                for (k, v) in m {
                    let e = out.entry(k).or_default();
                    *e = (*e).max(v);
                }
            }
            Err(e) => tracing::debug!(broker = b, error = %e, "no local sizes from this broker"),
        }
    }
    out
}

/// Follow a started wave until every partition is tiered.
///
/// One piece on purpose: a poll loop whose best figures and last gain decide the stall, and
/// whose reads (tiered offsets, ends, local bytes) feed progress, metrics and the wave's result
/// together.
async fn follow_wave<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut TierJournal,
    path: &Path,
    wi: usize,
    opts: &TierRunOptions,
    progress: &dyn Progress,
) -> Result<(), TierError> {
    let topics = j.waves[wi].topics.clone();
    // Set (again, on a resume: the same values) the wave's topic configs.
    for t in &topics {
        let ops: Vec<ConfigOp> = j
            .configs
            .iter()
            .filter(|c| c.topic.as_deref() == Some(t))
            .map(|c| (c.key.clone(), Some(c.value.clone())))
            .collect();
        admin.alter_configs(None, Some(t), &ops).await?;
    }
    info!(wave = j.waves[wi].index, topics = ?topics, "tiering enabled");
    let parts: Vec<(String, i32)> = j.waves[wi]
        .baselines
        .iter()
        .map(|b| key(&b.topic, b.partition))
        .collect();
    let total: u64 = j.waves[wi].baselines.iter().map(|b| b.upload_bytes).sum();
    let n_waves = j.waves.len();
    let mut best = (0u64, u64::MAX);
    let mut last_gain = Instant::now();
    let wave_start = Instant::now();
    let tier_throttle = j.options.tier_throttle;
    let mut failures = 0u32;
    loop {
        let step: Result<Poll, KafkaError> = async {
            let states = admin.partitions(&topics).await?;
            let tiered = admin
                .list_offsets(&parts, offset_spec::LATEST_TIERED)
                .await?;
            let ends = admin.list_offsets(&parts, offset_spec::LATEST).await?;
            let local = local_bytes(admin, &states, &parts).await;
            let mut uploaded = 0u64;
            let mut by_broker: BTreeMap<i32, u64> = BTreeMap::new();
            let mut waiting = Vec::new();
            let mut local_total = 0u64;
            for b in &j.waves[wi].baselines {
                let k = key(&b.topic, b.partition);
                let (Some(&t), Some(&e), Some(&l)) = (tiered.get(&k), ends.get(&k), local.get(&k))
                else {
                    waiting.push(format!("{}-{} (no answer)", b.topic, b.partition));
                    continue;
                };
                let p = plan::progress(b, t, e, l);
                uploaded += p.uploaded_bytes;
                *by_broker.entry(b.leader.unwrap_or(-1)).or_default() += p.uploaded_bytes;
                local_total += l;
                if !p.done {
                    waiting.push(format!(
                        "{}-{} (lag {} records, local {} bytes, target {})",
                        b.topic, b.partition, p.lag_records, l, p.target_local_bytes
                    ));
                }
            }
            let stage = Stage::Tiering {
                wave: j.waves[wi].index,
                waves: n_waves,
                tiered: parts.len() - waiting.len(),
                partitions: parts.len(),
            };
            progress.update(uploaded.min(total), total, waiting.len(), &stage);
            let secs = wave_start.elapsed().as_secs_f64();
            progress.observe(&Observation::Tiering {
                wave: j.waves[wi].index as u64,
                waves: n_waves as u64,
                partitions_tiered: (parts.len() - waiting.len()) as u64,
                partitions: parts.len() as u64,
                upload_bytes_done: uploaded.min(total),
                upload_bytes_total: total,
                upload_bytes_per_sec: if secs > 0.0 {
                    uploaded.min(total) as f64 / secs
                } else {
                    0.0
                },
                tier_throttle_bytes_per_sec: tier_throttle,
            });
            if waiting.is_empty() {
                return Ok(Poll::Done {
                    uploaded,
                    by_broker,
                    local_total,
                });
            }
            // Progress is an upload or a local cleanup; a wave with neither for `stall` stops.
            if uploaded > best.0 || local_total < best.1 {
                best = (best.0.max(uploaded), best.1.min(local_total));
                last_gain = Instant::now();
            }
            if last_gain.elapsed() > opts.stall {
                return Ok(Poll::Stalled(waiting.join(", ")));
            }
            Ok(Poll::Waiting)
        }
        .await;
        match step {
            Ok(Poll::Done {
                uploaded,
                by_broker,
                local_total,
            }) => {
                let w = &mut j.waves[wi];
                w.uploaded_bytes = uploaded;
                w.uploaded_by_broker = by_broker;
                w.local_bytes_after = local_total;
                w.state = WaveState::Done;
                w.done_ms = Some(now_ms());
                save(j, path)?;
                info!(wave = j.waves[wi].index, "wave tiered");
                return Ok(());
            }
            Ok(Poll::Waiting) => failures = 0,
            Ok(Poll::Stalled(waiting)) => {
                return Err(TierError::Stalled {
                    wave: j.waves[wi].index,
                    secs: opts.stall.as_secs(),
                    partitions: waiting.chars().take(600).collect(),
                })
            }
            Err(e) if e.is_unreachable() && failures < 600 => {
                failures += 1;
                warn!("cluster unreachable ({e}); retrying");
            }
            Err(e) => return Err(e.into()),
        }
        tokio::time::sleep(opts.poll).await;
    }
}

/// One look at a wave.
enum Poll {
    Done {
        uploaded: u64,
        by_broker: BTreeMap<i32, u64>,
        local_total: u64,
    },
    Waiting,
    Stalled(String),
}

/// Run (or resume) the journal's migration to the end.
pub async fn run<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut TierJournal,
    path: &Path,
    opts: &TierRunOptions,
    progress: &dyn Progress,
) -> Result<TierReport, TierError> {
    j.runs += 1;
    save(j, path)?;
    let mut restored = 0;
    if j.phase == TierPhase::Tiering {
        let live: Vec<i32> = admin
            .snapshot()
            .await?
            .brokers
            .iter()
            .filter(|b| !b.offline)
            .map(|b| b.id)
            .collect();
        if j.waves.iter().any(|w| w.state != WaveState::Done) {
            set_quotas(admin, j, path, &live).await?;
        }
        for wi in 0..j.waves.len() {
            match j.waves[wi].state {
                WaveState::Done => continue,
                WaveState::Pending => start_wave(admin, j, path, wi).await?,
                WaveState::Tiering => {
                    warn!(
                        wave = j.waves[wi].index,
                        "resuming the wave the last run left"
                    );
                }
            }
            follow_wave(admin, j, path, wi, opts, progress).await?;
        }
        restored = restore_quotas(admin, j, path).await?;
        j.phase = if j.options.drain_brokers.is_empty() {
            TierPhase::Complete
        } else {
            TierPhase::Draining
        };
        save(j, path)?;
    }
    if j.phase == TierPhase::Draining {
        drain(admin, j, path, opts, progress).await?;
        j.phase = TierPhase::Complete;
        save(j, path)?;
    }
    // Local bytes per broker now, beside what the plan predicted.
    let now = admin.snapshot().await?;
    let mut local: BTreeMap<i32, u64> = BTreeMap::new();
    for p in &now.partitions {
        for &r in &p.replicas {
            *local.entry(r).or_default() += p.move_bytes();
        }
    }
    for b in &mut j.brokers {
        b.local_bytes_after = Some(local.get(&b.id).copied().unwrap_or(0));
    }
    save(j, path)?;
    progress.finish();
    let mismatches = verify_configs(admin, j).await?;
    Ok(report(j, restored, mismatches))
}

/// Move every replica off the drained brokers with the reassignment engine, priced by local
/// bytes now that their topics are tiered.
async fn drain<A: ClusterAdmin>(
    admin: &mut A,
    j: &mut TierJournal,
    path: &Path,
    opts: &TierRunOptions,
    progress: &dyn Progress,
) -> Result<(), TierError> {
    let dpath = TierJournal::drain_journal_path(path);
    let existing = Journal::load(&dpath).map_err(|source| TierError::Journal {
        path: dpath.display().to_string(),
        source,
    })?;
    let throttle = j.options.throttle.unwrap_or(50 << 20);
    let mut dj = match existing {
        Some(dj) if j.drain.is_some() && matches!(dj.phase, Phase::Running | Phase::Finishing) => {
            dj
        }
        _ => {
            let cluster = admin.snapshot().await?;
            let moves =
                plan::drain_plan(&cluster, &j.options.drain_brokers).map_err(TierError::Plan)?;
            let planned_bytes: u64 = moves.iter().map(Move::copy_bytes).sum();
            let predicted =
                crate::execute::scheduler::bound_secs(moves.iter(), |_| throttle as f64);
            j.drain = Some(DrainRecord {
                journal: dpath.clone(),
                brokers: j.options.drain_brokers.iter().copied().collect(),
                planned_bytes,
                predicted_seconds: Some(predicted),
                moving_seconds: None,
                bytes_moved: None,
                verified: false,
            });
            save(j, path)?;
            let dj = Journal::new(moves, &j.bootstrap, throttle, false);
            dj.save(&dpath).map_err(|source| TierError::Journal {
                path: dpath.display().to_string(),
                source,
            })?;
            dj
        }
    };
    info!(brokers = ?j.options.drain_brokers, moves = dj.moves.len(), "draining");
    let r = exec::execute(admin, &mut dj, &dpath, &opts.drain, progress).await?;
    if let Some(d) = &mut j.drain {
        d.moving_seconds = r.moving_seconds;
        d.bytes_moved = Some(r.bytes_moved);
        d.verified = r.verified;
    }
    save(j, path)?;
    if !r.verified {
        return Err(TierError::Plan(format!(
            "the drain ended with partitions not at the plan: {}",
            r.mismatched.join(" ")
        )));
    }
    Ok(())
}

/// Topic configs read back against what the journal set (`topic key: want X, is Y`).
pub async fn verify_configs<A: ClusterAdmin>(
    admin: &mut A,
    j: &TierJournal,
) -> Result<Vec<String>, TierError> {
    let mut out = Vec::new();
    let mut by_topic: BTreeMap<&str, Vec<&Throttle>> = BTreeMap::new();
    for c in &j.configs {
        if let Some(t) = &c.topic {
            by_topic.entry(t).or_default().push(c);
        }
    }
    for (t, cs) in by_topic {
        let now = admin.dynamic_configs(None, Some(t)).await?;
        for c in cs {
            if now.get(&c.key) != Some(&c.value) {
                out.push(format!(
                    "{t} {}: want {}, is {}",
                    c.key,
                    c.value,
                    now.get(&c.key).map(String::as_str).unwrap_or("(unset)")
                ));
            }
        }
    }
    Ok(out)
}
