//! The cutover, engine-neutral: wait for the source side to stop, copy the tail, verify,
//! translate each selected group exactly through the map, commit on the target only while the
//! group there has no members, read it back.

use super::copy::{CopyEngine, CopyStats};
use super::error::DisklessError;
use super::journal::{save, Cutover, CutoverPhase, DisklessJournal, GroupRecord};
use super::map::{translate_group, PartitionView, Translated};
use super::plan::Problem;
use super::verify::VerifyReport;
use crate::kafka::records::DataCluster;
use crate::run::progress::{Progress, Stage};
use crate::run::store::now_ms;
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct CutoverOptions {
    pub groups: Regex,
    pub wait_for_producers_stopped: bool,
    /// How long to wait for the source groups' members (and producers) to stop.
    pub wait: Duration,
    pub poll: Duration,
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
        .filter(|p| !p.source_deleted)
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    let groups: Vec<String> = src
        .groups()?
        .into_iter()
        .filter(|g| opts.groups.is_match(g))
        .collect();
    // Target groups must be empty: refuse before anything else.
    refuse_active_target_groups(tgt, &groups)?;
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
    wait_for_source(src, &groups, &parts, opts, progress)?;
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
    let records = translate_groups(j, src, &groups, &parts)?;
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
    commit_groups(j, path, tgt)?;
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

/// Refused when a selected group has members on the target: offsets are only committed to a
/// group nobody consumes in.
pub(super) fn refuse_active_target_groups(
    tgt: &dyn DataCluster,
    groups: &[String],
) -> Result<(), DisklessError> {
    let mut problems = Vec::new();
    for g in groups {
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
    Ok(())
}

/// Wait (up to `opts.wait`) until the selected groups have no members on the source and, when
/// asked, no producer moves a high watermark.
fn wait_for_source(
    src: &dyn DataCluster,
    groups: &[String],
    parts: &[(String, i32)],
    opts: &CutoverOptions,
    progress: &dyn Progress,
) -> Result<(), DisklessError> {
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
            &Stage::WaitingForSource {
                active: active.clone(),
                producers_writing: moving,
            },
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
    Ok(())
}

/// Each group's committed source offsets, translated exactly through the map (groups with no
/// offset on the copied partitions are left out).
pub(super) fn translate_groups(
    j: &DisklessJournal,
    src: &dyn DataCluster,
    groups: &[String],
    parts: &[(String, i32)],
) -> Result<Vec<GroupRecord>, DisklessError> {
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
    for g in groups {
        let committed = src.committed(g, parts)?;
        match translate_group(g, &committed, &views) {
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
    Ok(records)
}

/// Commit each translated group not yet committed on the target, while its group there is
/// empty, and read it back; journaled group by group.
fn commit_groups(
    j: &mut DisklessJournal,
    path: &Path,
    tgt: &dyn DataCluster,
) -> Result<(), DisklessError> {
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
    Ok(())
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
    use super::super::copy::copy;
    use super::super::copy::BuiltIn;
    use super::*;
    use crate::migrate::mem::{copy_options, journal_over, source, target_records, Mem, Quiet};

    #[test]
    fn cutover_translates_exactly_and_fences_active_groups() {
        let (src, tgt) = (source(), Mem::default());
        let (mut j, dir) = journal_over(&src, &tgt);
        let path = dir.path().join("j.json");
        copy(&mut j, &path, &src, &tgt, &copy_options(), &Quiet).unwrap();
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
            opts: copy_options(),
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
