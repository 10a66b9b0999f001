//! The Connect engine's verifier, which is also how it learns the map: MirrorMaker 2 does not
//! report where each record landed, so both sides are read in step from where they were last
//! verified, each target record matched to its source record by digest, and the offset map,
//! replays (a task that wrote records again after a restart) and the chained digests extended.

use std::path::Path;
use std::time::Duration;

use super::plan::{replay_start, Goals};
use crate::kafka::records::DataCluster;
use crate::migrate::diskless::cursor::Cursor;
use crate::migrate::diskless::error::DisklessError;
use crate::migrate::diskless::journal::{
    save, DisklessJournal, Duplicate, PartitionRecord, Verified,
};
use crate::migrate::diskless::verify::{
    chain, record_digest, Difference, PartitionCheck, VerifyReport,
};

/// Records of one verification pass kept for recognising replays: a replay reaching further back
/// than this is reported as a difference (hint: lower the workers' `offset.flush.interval.ms`).
const HISTORY: usize = 1_000_000;

/// Build the map while verifying, for every partition, from where the last verification stopped
/// to the target's end: each target record is either the next source record (read in step,
/// `read_committed`) or a replay of an earlier one ([`replay_start`]); anything else is a
/// difference. With `goals` (after a copy), a source record up to its partition's goal without a
/// copy is a difference too. A partition with a difference is left as it was (map, verification).
pub fn build_and_verify(
    j: &mut DisklessJournal,
    path: &Path,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    goals: Option<&Goals>,
    stall: Duration,
) -> Result<VerifyReport, DisklessError> {
    let mut out = Vec::new();
    let mut differences = Vec::new();
    for p in j.partitions.iter_mut() {
        if p.source_deleted {
            out.push(PartitionCheck::kept(p));
            continue;
        }
        let goal = goals
            .and_then(|g| g.get(&(p.topic.clone(), p.partition)).copied())
            .flatten();
        let (check, diffs) = build_partition(p, src, tgt, goal, stall)?;
        out.push(check);
        differences.extend(diffs);
    }
    save(j, path)?;
    Ok(VerifyReport {
        ok: differences.is_empty(),
        partitions: out,
        differences,
    })
}

/// One partition: read the target from where it was verified, match each record to the next
/// source record (or, for a record the connector wrote again, to the window of recent ones), and
/// extend the map, the duplicates and the chained digests; the journal's record changes only
/// when nothing differs.
///
/// One piece on purpose: it is a streaming merge of two cursors, and every target record updates
/// the window (offsets, digests, sizes), the map and the peeked source record together; split,
/// those eleven variables would travel between the pieces by `&mut`.
fn build_partition(
    p: &mut PartitionRecord,
    src: &dyn DataCluster,
    tgt: &dyn DataCluster,
    goal: Option<i64>,
    stall: Duration,
) -> Result<(PartitionCheck, Vec<Difference>), DisklessError> {
    let v = p.verified_so_far();
    let (_, s_hw) = src.watermarks(&p.topic, p.partition)?;
    let (_, t_hw) = tgt.watermarks(&p.topic, p.partition)?;
    let mut map = p.map.clone();
    let mut duplicates = p.duplicates.clone();
    let mut bytes = p.bytes;
    let mut s = Cursor::open(src, true, &p.topic, p.partition, v.source_end, s_hw, stall)?;
    let mut t = Cursor::open(tgt, false, &p.topic, p.partition, v.target_end, t_hw, stall)?;
    // This pass's matched source records: offsets, digests, payload sizes; records before
    // `hist_base` fell out of the window and are chained into `base_hash`.
    let (mut offs, mut digs, mut sizes): (Vec<i64>, Vec<[u8; 32]>, Vec<u64>) =
        (Vec::new(), Vec::new(), Vec::new());
    let mut base_hash = v.source_hash.clone();
    let mut base_records = v.records;
    let mut e = 0usize;
    let mut peek = None;
    let mut diffs: Vec<Difference> = Vec::new();
    let mut target_end = v.target_end;
    while let Some(b) = t.next()? {
        target_end = b.offset + 1;
        let db = record_digest(&b);
        if e < digs.len() {
            if digs[e] == db {
                map.push(offs[e], b.offset).map_err(|m| {
                    DisklessError::inconsistent(
                        m.to_string(),
                        "the target partition has another writer",
                    )
                })?;
                e += 1;
                continue;
            }
        } else {
            if peek.is_none() {
                peek = s.next()?;
            }
            if let Some(a) = peek.as_ref().filter(|a| record_digest(a) == db) {
                map.push_after_gap(a.offset, b.offset).map_err(|m| {
                    DisklessError::inconsistent(
                        m.to_string(),
                        "the target partition has another writer",
                    )
                })?;
                bytes += a.payload_bytes();
                offs.push(a.offset);
                digs.push(db);
                sizes.push(a.payload_bytes());
                e += 1;
                peek = None;
                if digs.len() > 2 * HISTORY {
                    for d in digs.drain(..HISTORY) {
                        base_hash = chain(&base_hash, &d);
                    }
                    offs.drain(..HISTORY);
                    sizes.drain(..HISTORY);
                    base_records += HISTORY as u64;
                    e -= HISTORY;
                }
                continue;
            }
        }
        match replay_start(&digs, e, &db) {
            Some(r) => {
                let (from, to) = map.replay(offs[r], b.offset).map_err(|m| {
                    DisklessError::inconsistent(
                        m.to_string(),
                        "the target partition has another writer",
                    )
                })?;
                duplicates.push(Duplicate {
                    source_from: offs[r],
                    target_from: from,
                    target_to: to,
                });
                e = r + 1;
            }
            None => {
                let expected = if e < offs.len() {
                    Some(offs[e])
                } else {
                    peek.as_ref().map(|a| a.offset)
                };
                diffs.push(Difference {
                    topic: p.topic.clone(),
                    partition: p.partition,
                    source_offset: expected,
                    target_offset: Some(b.offset),
                    what: format!(
                        "target offset {} is neither the next source record{} nor a repeat of one copied before it",
                        b.offset,
                        expected.map(|o| format!(" ({o})")).unwrap_or_default()
                    ),
                });
                if diffs.len() >= 20 {
                    break;
                }
            }
        }
    }
    // Where the verified source ends: mid-replay, at the first record not copied again yet;
    // otherwise at the first source record without a copy (or the source's end).
    let source_end = if e < offs.len() {
        bytes -= sizes[e..].iter().sum::<u64>();
        offs[e]
    } else {
        if peek.is_none() && diffs.is_empty() {
            peek = s.next()?;
        }
        match &peek {
            Some(a) => {
                if goal.is_some_and(|g| a.offset <= g) {
                    diffs.push(Difference {
                        topic: p.topic.clone(),
                        partition: p.partition,
                        source_offset: Some(a.offset),
                        target_offset: None,
                        what: format!("source offset {} has no copy on the target (the connector reported it copied)", a.offset),
                    });
                }
                a.offset
            }
            None => s_hw,
        }
    };
    let mut hash = base_hash;
    for d in &digs[..e] {
        hash = chain(&hash, d);
    }
    // Every mapped target record has the digest of its source record, so the target's chain
    // over the mapped copies is the same chain.
    let nv = Verified {
        source_end,
        target_end,
        records: base_records + e as u64,
        source_hash: hash.clone(),
        target_hash: hash,
    };
    let ok = diffs.is_empty();
    if ok {
        p.map = map;
        p.duplicates = duplicates;
        p.bytes = bytes;
        p.caught_up_to = p.caught_up_to.max(source_end);
        p.verified = Some(nv.clone());
    }
    Ok((
        PartitionCheck {
            topic: p.topic.clone(),
            partition: p.partition,
            records: nv.records,
            source_end: nv.source_end,
            target_end: nv.target_end,
            source_hash: nv.source_hash.clone(),
            target_hash: nv.target_hash.clone(),
            ok,
        },
        diffs,
    ))
}
