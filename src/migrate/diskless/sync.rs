//! Consumer-group offset sync while a copy follows its source (`--follow --sync-groups`): each
//! selected group that has no members on the target gets its committed source offsets,
//! translated exactly through the map, committed on the target, so the group can be stopped on
//! the source and started on the target at any moment, resuming at the next unconsumed record.
//!
//! The decision ([`decide`]) is pure: a group is committed only when every partition it has an
//! offset on is copied *and verified* up to that offset (all or nothing: a group half committed
//! would start some partitions from `auto.offset.reset`); a target offset is never moved
//! backwards (a group ahead on the target has consumed there: it is left alone); a group with
//! members on the target is never touched. [`sync_groups`] reads both sides and applies it.

use std::collections::BTreeMap;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::error::DisklessError;
use super::journal::DisklessJournal;
use super::map::{translate_group, PartitionView};
use crate::kafka::records::DataCluster;

/// What one sync did with one group. Stable field names (`--output json`, metrics).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSync {
    pub group: String,
    pub state: SyncState,
    /// Partitions with a committed source offset that translated.
    pub translated: u64,
    /// Partitions committed on the target by this sync.
    pub committed: u64,
    /// Records between the group's committed source offsets and the copied ends (how far the
    /// group is behind on the source).
    pub source_lag_records: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SyncState {
    /// Translated offsets committed on the target (read back equal).
    Committed,
    /// The target already holds exactly the translated offsets.
    Unchanged,
    /// Members on the target: never touched.
    ActiveOnTarget,
    /// A committed offset lies beyond what is copied and verified: next time.
    WaitingForCopy,
    /// The target's offsets are ahead of the translation: the group consumed on the target.
    TargetAhead,
    /// No committed offset on the copied partitions.
    NoOffsets,
}

/// What to do with one group (pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Commit(BTreeMap<(String, i32), i64>),
    Leave(SyncState),
}

/// Decide one group's sync from its committed source offsets, the target's committed offsets
/// and each copied partition's map, capped at what is verified.
pub fn decide(
    group: &str,
    source: &BTreeMap<(String, i32), i64>,
    target: &BTreeMap<(String, i32), i64>,
    views: &BTreeMap<(String, i32), PartitionView<'_>>,
) -> (Decision, u64) {
    let Ok(translated) = translate_group(group, source, views) else {
        return (Decision::Leave(SyncState::WaitingForCopy), 0);
    };
    let n = translated.len() as u64;
    if translated.is_empty() {
        return (Decision::Leave(SyncState::NoOffsets), 0);
    }
    let mut want = BTreeMap::new();
    for t in translated {
        let k = (t.topic, t.partition);
        match target.get(&k) {
            Some(&now) if now > t.target => return (Decision::Leave(SyncState::TargetAhead), n),
            Some(&now) if now == t.target => {}
            _ => {
                want.insert(k, t.target);
            }
        }
    }
    if want.is_empty() {
        (Decision::Leave(SyncState::Unchanged), n)
    } else {
        (Decision::Commit(want), n)
    }
}

/// The journal's partitions as translation sees them, with the copy counted complete only up to
/// what is verified.
pub fn verified_views(j: &DisklessJournal) -> BTreeMap<(String, i32), PartitionView<'_>> {
    j.partitions
        .iter()
        .map(|p| {
            let verified = p.verified_so_far().source_end;
            (
                (p.topic.clone(), p.partition),
                PartitionView {
                    map: &p.map,
                    target_base: p.target_base,
                    caught_up_to: p.caught_up_to.min(verified),
                },
            )
        })
        .collect()
}

/// Sync every source group `groups` matches (see the module doc).
pub fn sync_groups(
    j: &DisklessJournal,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    groups: &Regex,
) -> Result<Vec<GroupSync>, DisklessError> {
    let parts: Vec<(String, i32)> = j
        .partitions
        .iter()
        .map(|p| (p.topic.clone(), p.partition))
        .collect();
    let views = verified_views(j);
    let mut out = Vec::new();
    for g in src.groups()?.into_iter().filter(|g| groups.is_match(g)) {
        let source = src.committed(&g, &parts)?;
        let source_lag_records: u64 = source
            .iter()
            .filter_map(|(k, &c)| {
                let p = j.partition(&k.0, k.1)?;
                Some((p.next() - c).max(0) as u64)
            })
            .sum();
        let mut row = GroupSync {
            group: g.clone(),
            state: SyncState::NoOffsets,
            translated: 0,
            committed: 0,
            source_lag_records,
        };
        if tgt.group(&g)?.is_some_and(|i| i.members > 0) {
            row.state = SyncState::ActiveOnTarget;
            out.push(row);
            continue;
        }
        let target = tgt.committed(&g, &parts)?;
        let (decision, translated) = decide(&g, &source, &target, &views);
        row.translated = translated;
        match decision {
            Decision::Leave(s) => row.state = s,
            Decision::Commit(offsets) => {
                // Checked again right before the commit: a consumer may have joined meanwhile
                // (the broker also refuses a simple commit for a group with members).
                if tgt.group(&g)?.is_some_and(|i| i.members > 0) {
                    row.state = SyncState::ActiveOnTarget;
                    out.push(row);
                    continue;
                }
                tgt.commit(&g, &offsets)?;
                let back = tgt.committed(&g, &offsets.keys().cloned().collect::<Vec<_>>())?;
                if back != offsets {
                    return Err(DisklessError::inconsistent(
                        format!(
                            "group {g}: the target returned {back:?} after committing {offsets:?}"
                        ),
                        "another client commits for this group on the target: stop it, or leave the group out of --sync-groups",
                    ));
                }
                row.committed = offsets.len() as u64;
                row.state = SyncState::Committed;
            }
        }
        tracing::info!(group = %g, state = ?row.state, committed = row.committed, "group sync");
        out.push(row);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::diskless::map::OffsetMap;

    fn view(map: &OffsetMap, caught_up_to: i64) -> PartitionView<'_> {
        PartitionView {
            map,
            target_base: 0,
            caught_up_to,
        }
    }

    #[test]
    fn commits_only_whole_groups_copied_and_verified_and_never_backwards() {
        // Source offsets 0..10 at target 0..10 on p0; 0..10 at target 100..110 on p1.
        let mut m0 = OffsetMap::default();
        let mut m1 = OffsetMap::default();
        for o in 0..10 {
            m0.push(o, o).unwrap();
            m1.push(o, 100 + o).unwrap();
        }
        let k0 = ("t".to_string(), 0);
        let k1 = ("t".to_string(), 1);
        let views: BTreeMap<_, _> =
            [(k0.clone(), view(&m0, 10)), (k1.clone(), view(&m1, 6))].into();
        let src = |a: i64, b: i64| -> BTreeMap<(String, i32), i64> {
            [(k0.clone(), a), (k1.clone(), b)].into()
        };
        let none = BTreeMap::new();
        // Both copied and verified up to the committed offsets: committed, translated.
        let (d, n) = decide("g", &src(4, 5), &none, &views);
        assert_eq!(n, 2);
        assert_eq!(
            d,
            Decision::Commit([(k0.clone(), 4), (k1.clone(), 105)].into())
        );
        // p1 verified only up to 6: a group at 8 there waits, and p0 is not committed alone.
        assert_eq!(
            decide("g", &src(4, 8), &none, &views).0,
            Decision::Leave(SyncState::WaitingForCopy)
        );
        // The target already there: nothing to do; ahead (consumed on the target): left alone.
        let there: BTreeMap<_, _> = [(k0.clone(), 4), (k1.clone(), 105)].into();
        assert_eq!(
            decide("g", &src(4, 5), &there, &views).0,
            Decision::Leave(SyncState::Unchanged)
        );
        let ahead: BTreeMap<_, _> = [(k0.clone(), 7), (k1.clone(), 105)].into();
        assert_eq!(
            decide("g", &src(4, 5), &ahead, &views).0,
            Decision::Leave(SyncState::TargetAhead)
        );
        // Moving forward commits only what changed.
        assert_eq!(
            decide("g", &src(6, 5), &there, &views).0,
            Decision::Commit([(k0, 6)].into())
        );
    }
}
