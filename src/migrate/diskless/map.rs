//! The exact source → target offset map (pure) and consumer-group translation through it.
//!
//! A diskless target assigns its own offsets (dense from where the topic stands), so offsets
//! cannot be preserved. The map is built only from what the target acknowledged, batch by
//! batch; source offsets may have gaps (transaction markers, aborted records, compaction) and the
//! map never assumes they do not.

use super::plan::{problem, Problem};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Source offsets `source..source+len` went to target offsets `target..target+len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub source: i64,
    pub target: i64,
    pub len: i64,
}

/// One partition's exact map, as runs of consecutive offsets on both sides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetMap {
    pub runs: Vec<Run>,
}

/// An acknowledgement that does not extend the map (the map is never changed by it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("source offset {from} acknowledged after {last}: records out of order")]
    SourceOrder { from: i64, last: i64 },
    #[error("the target stored source offset {from} at {target}, expected {expected}: something else writes to the target partition")]
    TargetGap {
        from: i64,
        target: i64,
        expected: i64,
    },
}

impl OffsetMap {
    /// Records mapped.
    pub fn records(&self) -> i64 {
        self.runs.iter().map(|r| r.len).sum()
    }

    /// The source offset after the last mapped record.
    pub fn source_next(&self) -> Option<i64> {
        self.runs.last().map(|r| r.source + r.len)
    }

    /// The target offset after the last mapped record.
    pub fn target_next(&self) -> Option<i64> {
        self.runs.last().map(|r| r.target + r.len)
    }

    /// Record that the target stored the record read at `source` at `target`. Targets must be
    /// dense (the next one each time): the copy is the target partition's only writer.
    pub fn push(&mut self, source: i64, target: i64) -> Result<(), MapError> {
        match self.runs.last_mut() {
            None => {
                self.runs.push(Run {
                    source,
                    target,
                    len: 1,
                });
                Ok(())
            }
            Some(last) => {
                let (next_s, next_t) = (last.source + last.len, last.target + last.len);
                if source < next_s {
                    return Err(MapError::SourceOrder {
                        from: source,
                        last: next_s - 1,
                    });
                }
                if target != next_t {
                    return Err(MapError::TargetGap {
                        from: source,
                        target,
                        expected: next_t,
                    });
                }
                if source == next_s {
                    last.len += 1;
                } else {
                    self.runs.push(Run {
                        source,
                        target,
                        len: 1,
                    });
                }
                Ok(())
            }
        }
    }

    /// The target offset of the record read at `source`, if it was copied.
    pub fn target_of(&self, source: i64) -> Option<i64> {
        let i = self.runs.partition_point(|r| r.source + r.len <= source);
        let r = self.runs.get(i)?;
        (source >= r.source).then(|| r.target + (source - r.source))
    }

    /// A consumer position translated: the target offset of the first copied record at or after
    /// `source` (the next unconsumed record), or the target's next offset when every copied
    /// record lies before it. `None` for an empty map (nothing copied: the caller knows the
    /// target's start).
    pub fn translate(&self, source: i64) -> Option<i64> {
        let i = self.runs.partition_point(|r| r.source + r.len <= source);
        match self.runs.get(i) {
            Some(r) if source >= r.source => Some(r.target + (source - r.source)),
            Some(r) => Some(r.target),
            None => self.target_next(),
        }
    }

    /// A copier that replays (at-least-once: after a crash it copies again from its last committed
    /// offset) stored source offset `source` a second time, at `target`. From `source` on, the map
    /// points at the new copies, so a translated consumer reads every record once, in order, after
    /// its position. Returns the target offsets the superseded first copies occupy.
    pub fn replay(&mut self, source: i64, target: i64) -> Result<(i64, i64), MapError> {
        let first = self.target_of(source).ok_or(MapError::SourceOrder {
            from: source,
            last: self.source_next().unwrap_or(source) - 1,
        })?;
        let next_t = self.target_next().unwrap_or(target);
        if target < next_t {
            return Err(MapError::TargetGap {
                from: source,
                target,
                expected: next_t,
            });
        }
        let i = self.runs.partition_point(|r| r.source + r.len <= source);
        let keep = source - self.runs[i].source;
        self.runs.truncate(i + 1);
        if keep == 0 {
            self.runs.pop();
        } else {
            self.runs[i].len = keep;
        }
        self.runs.push(Run {
            source,
            target,
            len: 1,
        });
        Ok((first, target))
    }

    /// Extend the map with the next record, allowing a gap on the target side (superseded copies
    /// lie between); source order is still required.
    pub fn push_after_gap(&mut self, source: i64, target: i64) -> Result<(), MapError> {
        match self.runs.last() {
            Some(l) if target > l.target + l.len => {
                if source < l.source + l.len {
                    return Err(MapError::SourceOrder {
                        from: source,
                        last: l.source + l.len - 1,
                    });
                }
                self.runs.push(Run {
                    source,
                    target,
                    len: 1,
                });
                Ok(())
            }
            _ => self.push(source, target),
        }
    }
}

/// A group's offsets translated for one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Translated {
    pub topic: String,
    pub partition: i32,
    pub source: i64,
    pub target: i64,
}

/// What translation needs of a partition: its map, where the target topic began (for an empty
/// map) and the source position up to which the copy is known complete.
#[derive(Debug, Clone, Copy)]
pub struct PartitionView<'a> {
    pub map: &'a OffsetMap,
    pub target_base: i64,
    pub caught_up_to: i64,
}

/// Translate one group's committed source offsets. A committed offset beyond what was copied is
/// refused (the copy must catch up first), so no consumer skips a record.
pub fn translate_group(
    group: &str,
    committed: &BTreeMap<(String, i32), i64>,
    parts: &BTreeMap<(String, i32), PartitionView<'_>>,
) -> Result<Vec<Translated>, Vec<Problem>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for ((t, p), &c) in committed {
        let Some(v) = parts.get(&(t.clone(), *p)) else {
            continue;
        };
        if c > v.caught_up_to {
            problems.push(problem(
                Some(t),
                format!("group {group} committed offset {c} on {t}-{p}, but the copy is complete only up to {}", v.caught_up_to),
                "stop the group's consumers and producers, then run --cutover again (it copies the tail first)",
            ));
            continue;
        }
        let target = v.map.translate(c).unwrap_or(v.target_base);
        out.push(Translated {
            topic: t.clone(),
            partition: *p,
            source: c,
            target,
        });
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    //! The copy engine over an in-memory cluster pair: source offsets with gaps (markers,
    //! aborted records), a crash between the target's write and the journal's save, another
    //! writer on the target, and the cutover's fences. The live tests run the same paths against
    //! Kafka and nisshi.

    use super::*;

    #[test]
    fn a_replay_points_the_map_at_the_second_copies() {
        // Source 0..10 copied at target 0..10; a restarted copier replays from source 6 at 10.
        let mut m = OffsetMap::default();
        for o in 0..10 {
            m.push(o, o).unwrap();
        }
        assert_eq!(m.replay(6, 10).unwrap(), (6, 10));
        for o in 7..12 {
            m.push(o, o + 4).unwrap();
        }
        assert_eq!(m.target_of(5), Some(5));
        assert_eq!(m.target_of(6), Some(10));
        assert_eq!(m.target_of(9), Some(13));
        // A consumer that committed 8 resumes at the second copy of 8: no record twice.
        assert_eq!(m.translate(8), Some(12));
        assert_eq!(m.records(), 12);
        // A replay from the very first record of a run drops that run.
        assert_eq!(m.replay(0, 16).unwrap(), (0, 16));
        assert_eq!(m.runs.len(), 1);
        // A replay of a record never mapped, or into the past of the target, is refused.
        assert!(m.replay(40, 17).is_err());
        assert!(m.replay(0, 3).is_err());
        // After a gap on the target the next record starts a new run.
        let mut m = OffsetMap::default();
        m.push(0, 0).unwrap();
        m.push_after_gap(1, 5).unwrap();
        assert_eq!(m.translate(1), Some(5));
        assert!(m.push_after_gap(0, 9).is_err());
    }

    #[test]
    fn map_keeps_runs_and_translates_across_gaps() {
        let mut m = OffsetMap::default();
        // Source 10,11,12 then a marker at 13, aborted 14..16, then 17,18.
        for (s, t) in [(10, 0), (11, 1), (12, 2), (17, 3), (18, 4)] {
            m.push(s, t).unwrap();
        }
        assert_eq!(m.runs.len(), 2);
        assert_eq!(m.records(), 5);
        assert_eq!(m.target_of(11), Some(1));
        assert_eq!(m.target_of(13), None);
        assert_eq!(m.target_of(18), Some(4));
        // Committed positions: the next unconsumed record.
        assert_eq!(m.translate(10), Some(0));
        assert_eq!(m.translate(13), Some(3));
        assert_eq!(m.translate(15), Some(3));
        assert_eq!(m.translate(18), Some(4));
        assert_eq!(m.translate(19), Some(5));
        assert_eq!(m.translate(0), Some(0));
        assert_eq!(OffsetMap::default().translate(5), None);
    }

    proptest::proptest! {
        /// Any set of copied source offsets (gaps anywhere): the map finds each record's target,
        /// and a position translates to the first copied record at or after it, as a linear
        /// search over the pairs would.
        #[test]
        fn map_agrees_with_a_linear_search(
            gaps in proptest::collection::vec(1i64..6, 0..300),
            base in 0i64..1_000,
            probes in proptest::collection::vec(0i64..3_000, 1..50),
        ) {
            let mut pairs = Vec::new();
            let mut s = base;
            for (t, g) in gaps.iter().enumerate() {
                pairs.push((s, t as i64));
                s += g;
            }
            let mut m = OffsetMap::default();
            for (s, t) in &pairs {
                m.push(*s, *t).unwrap();
            }
            proptest::prop_assert_eq!(m.records() as usize, pairs.len());
            for &p in &probes {
                let exact = pairs.iter().find(|(s, _)| *s == p).map(|(_, t)| *t);
                proptest::prop_assert_eq!(m.target_of(p), exact);
                let next = pairs
                    .iter()
                    .find(|(s, _)| *s >= p)
                    .map(|(_, t)| *t)
                    .or(if pairs.is_empty() { None } else { Some(pairs.len() as i64) });
                proptest::prop_assert_eq!(m.translate(p), next);
            }
        }
    }

    #[test]
    fn map_refuses_a_target_gap_or_reordering() {
        let mut m = OffsetMap::default();
        m.push(0, 0).unwrap();
        assert!(matches!(
            m.push(1, 2),
            Err(MapError::TargetGap { expected: 1, .. })
        ));
        assert!(matches!(m.push(0, 1), Err(MapError::SourceOrder { .. })));
        assert_eq!(m.records(), 1);
    }

    #[test]
    fn translation_refuses_what_is_not_copied_yet() {
        let mut m = OffsetMap::default();
        for s in 0..10 {
            m.push(s + 5, s).unwrap();
        }
        let parts = BTreeMap::from([(
            ("t".to_string(), 0),
            PartitionView {
                map: &m,
                target_base: 0,
                caught_up_to: 15,
            },
        )]);
        let ok = translate_group("g", &BTreeMap::from([(("t".into(), 0), 8)]), &parts).unwrap();
        assert_eq!(ok[0].target, 3);
        let end = translate_group("g", &BTreeMap::from([(("t".into(), 0), 15)]), &parts).unwrap();
        assert_eq!(end[0].target, 10);
        let err = translate_group("g", &BTreeMap::from([(("t".into(), 0), 16)]), &parts);
        assert!(err.unwrap_err()[0]
            .message
            .contains("complete only up to 15"));
    }
}
