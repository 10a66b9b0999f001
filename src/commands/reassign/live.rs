//! `reassign --execute | --verify | --cancel` against a live cluster: reconcile the journal with
//! the command, plan (or take the reviewed plan file), run to the end, verify.

use std::collections::BTreeSet;

use super::settings::{Mode, Settings};
use super::{plan_json, write};
use crate::assign;
use crate::error::{Error, Result};
use crate::execute::journal::{Journal, MoveState, Phase};
use crate::execute::runner::{self, ExecReport};
use crate::execute::scheduler::{moves_to_targets, Move};
use crate::kafka::ClusterAdmin;
use crate::run::progress::Progress;

/// Run the mode against the cluster; `existing` is the journal found at `--journal`.
pub(super) async fn run<A: ClusterAdmin>(
    admin: &mut A,
    s: &Settings,
    bootstrap: &str,
    existing: Option<Journal>,
    progress: &dyn Progress,
) -> Result<ExecReport> {
    let path = &s.journal;
    if s.mode != Mode::Execute {
        let Some(j) = existing else {
            return Err(Error::usage(
                format!("no journal at {}", path.display()),
                "give --journal the file the execution wrote",
            ));
        };
        return verify_or_cancel(admin, s, j, progress).await;
    }
    let mut j = match existing {
        Some(j) if matches!(j.phase, Phase::Running | Phase::Finishing) => {
            resumed(s, j, bootstrap)?
        }
        _ => new_journal(admin, s, bootstrap).await?,
    };
    runner::execute(admin, &mut j, path, &s.exec, progress)
        .await
        .map_err(Error::from)
}

/// `--cancel`, or `--verify`: compare, and finish when every move has landed.
async fn verify_or_cancel<A: ClusterAdmin>(
    admin: &mut A,
    s: &Settings,
    mut j: Journal,
    progress: &dyn Progress,
) -> Result<ExecReport> {
    let path = &s.journal;
    // Cancelled earlier with throttle settings left on a broker that was down: clean up.
    if j.phase == Phase::Cancelled && !j.throttles.is_empty() {
        return runner::cancel(admin, &mut j, path, progress)
            .await
            .map_err(Error::from);
    }
    if s.mode == Mode::Cancel {
        if matches!(j.phase, Phase::Complete | Phase::Cancelled) {
            return Err(Error::usage(
                format!(
                    "the execution in {} already ended ({:?})",
                    path.display(),
                    j.phase
                ),
                "nothing to cancel",
            ));
        }
        return runner::cancel(admin, &mut j, path, progress)
            .await
            .map_err(Error::from);
    }
    let current = admin.partitions(&runner::topics_of(&j)).await?.replicas;
    let at_plan = |m: &&crate::execute::journal::JournalMove| {
        current.get(&(m.mv.topic.clone(), m.mv.partition)) == Some(&m.mv.to)
    };
    let landed = j.moves.iter().all(|m| at_plan(&m));
    let ongoing = !admin.list_reassignments().await?.is_empty();
    if landed && !ongoing && j.phase != Phase::Cancelled {
        if j.phase == Phase::Running {
            for m in &mut j.moves {
                m.state = MoveState::Done;
            }
            j.phase = Phase::Finishing;
        }
        return runner::finish(admin, &mut j, path, progress)
            .await
            .map_err(Error::from);
    }
    let mismatched = j
        .moves
        .iter()
        .filter(|m| !at_plan(m))
        .map(|m| format!("{}-{}", m.mv.topic, m.mv.partition))
        .collect();
    Ok(runner::report(&j, 0, mismatched))
}

/// An unfinished journal: resumed when it is this cluster's and (with `--plan-file`) this plan's.
fn resumed(s: &Settings, j: Journal, bootstrap: &str) -> Result<Journal> {
    let path = &s.journal;
    if j.bootstrap != bootstrap {
        return Err(Error::usage(
            format!(
                "{} holds an unfinished run for {}",
                path.display(),
                j.bootstrap
            ),
            "finish or --cancel it, or use another --journal",
        ));
    }
    if let Some((f, targets)) = &s.plan_file {
        // Resuming is for the same plan: every move recorded must be one of the file's.
        let wanted: BTreeSet<(&str, i32, &[i32])> = targets
            .partitions
            .iter()
            .map(|p| (p.topic.as_str(), p.partition, p.replicas.as_slice()))
            .collect();
        if let Some(m) = j
            .moves
            .iter()
            .find(|m| !wanted.contains(&(m.mv.topic.as_str(), m.mv.partition, m.mv.to.as_slice())))
        {
            return Err(Error::usage(
                format!(
                    "{} holds an unfinished run of another plan ({}-{} to {:?} is not in {})",
                    path.display(),
                    m.mv.topic,
                    m.mv.partition,
                    m.mv.to,
                    f.display()
                ),
                "finish it (run it again without --plan-file, or --verify) or --cancel it, or use another --journal",
            ));
        }
    }
    tracing::warn!(
        "resuming the unfinished execution in {} (run {})",
        path.display(),
        j.runs + 1
    );
    Ok(j)
}

/// A new execution: the cluster's snapshot → the moves (planned, or the reviewed plan file's,
/// checked against the cluster as it is) → a new journal.
async fn new_journal<A: ClusterAdmin>(
    admin: &mut A,
    s: &Settings,
    bootstrap: &str,
) -> Result<Journal> {
    let mut cluster = admin.snapshot().await?;
    s.apply_capacities(&mut cluster)?;
    let moves: Vec<Move> = if let Some((f, targets)) = &s.plan_file {
        moves_to_targets(&cluster, &targets.partitions).map_err(|m| {
            Error::usage(
                format!("{} does not fit the cluster: {m}", f.display()),
                "plan again against the cluster as it is now (--plan-out), review, then --execute --plan-file",
            )
        })?
    } else {
        let plan = assign::plan(&cluster, &s.plan)?;
        if let Some(p) = &s.plan_out {
            write(p, &plan_json(&cluster, &plan, false))?;
        }
        if let Some(p) = &s.rollback_out {
            write(p, &plan_json(&cluster, &plan, true))?;
        }
        plan.changes
            .iter()
            .map(|(i, r)| {
                let p = &cluster.partitions[*i];
                Move {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    from: p.replicas.clone(),
                    to: r.clone(),
                    bytes: p.move_bytes(),
                }
            })
            .collect()
    };
    let throttle = s
        .plan
        .throttle_bytes_per_sec
        .expect("settings: --execute has --throttle");
    let mut j = Journal::new(moves, bootstrap, throttle as u64, s.one_replica_at_a_time);
    j.broker_throttles = s.broker_throttles.clone();
    Ok(j)
}
