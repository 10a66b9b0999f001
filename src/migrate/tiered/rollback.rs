//! `migrate tiered --rollback`: what turning tiering back off changes per topic (pure; read-only
//! tiering unless remote data may be deleted, and which offsets become unreadable if so), read
//! from the cluster and applied over [`ClusterAdmin`].

use super::plan::{
    COPY_DISABLE, DELETE_ON_DISABLE, LOCAL_RETENTION_BYTES, LOCAL_RETENTION_MS, REMOTE_ENABLE,
    RETENTION_MS,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// What a rollback does to one topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackStep {
    pub topic: String,
    /// Config changes, in order (key, value; None deletes the key).
    pub ops: Vec<(String, Option<String>)>,
    /// What the operator must know (disk, data).
    pub note: String,
    /// Offsets that stop being readable, by partition: [from, to) (only with remote data deleted).
    pub unreadable: Vec<(i32, i64, i64)>,
}

/// The rollback of tiered topics: read-only (no further uploads, nothing lost) or, with
/// `delete_remote`, tiering off and the remote copies deleted.
///
/// Kafka accepts `remote.log.copy.disable=true` only when local retention equals retention
/// (so nothing new needs the remote store): the read-only rollback sets local retention back to
/// the topic's retention (-2), and local disks must hold the full retention of new data again.
/// `earliest_local` is each partition's first offset on local disk, `log_start` its first offset.
pub fn rollback(
    topic: &str,
    configs: &BTreeMap<String, String>,
    partitions: &[(i32, i64, i64)],
    delete_remote: bool,
) -> RollbackStep {
    if delete_remote {
        let unreadable: Vec<(i32, i64, i64)> = partitions
            .iter()
            .filter(|(_, start, local)| local > start)
            .copied()
            .collect();
        return RollbackStep {
            topic: topic.into(),
            ops: vec![
                (DELETE_ON_DISABLE.into(), Some("true".into())),
                (REMOTE_ENABLE.into(), Some("false".into())),
            ],
            note: if unreadable.is_empty() {
                "tiering off; the remote store holds nothing that is not also local".into()
            } else {
                format!(
                    "tiering off and the remote copies DELETED: {} offset(s) in {} partition(s) that are only in the remote store become unreadable",
                    unreadable.iter().map(|(_, a, b)| b - a).sum::<i64>(),
                    unreadable.len()
                )
            },
            unreadable,
        };
    }
    let retention = configs
        .get(RETENTION_MS)
        .cloned()
        .unwrap_or_else(|| "604800000".into());
    RollbackStep {
        topic: topic.into(),
        ops: vec![
            (LOCAL_RETENTION_MS.into(), Some("-2".into())),
            (LOCAL_RETENTION_BYTES.into(), Some("-2".into())),
            (COPY_DISABLE.into(), Some("true".into())),
        ],
        note: format!(
            "read-only: no further uploads; every tiered record stays readable from the remote store; local retention becomes the topic's retention (retention.ms={retention}), so local disks must hold that much new data again"
        ),
        unreadable: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_is_read_only_unless_deletion_is_asked_for() {
        let cfg = BTreeMap::from([(RETENTION_MS.to_string(), "86400000".to_string())]);
        let r = rollback("t", &cfg, &[(0, 0, 5120), (1, 100, 100)], false);
        assert!(r
            .ops
            .iter()
            .any(|(k, v)| k == COPY_DISABLE && v.as_deref() == Some("true")));
        assert!(r.unreadable.is_empty());
        assert!(r.note.contains("86400000"));
        let d = rollback("t", &cfg, &[(0, 0, 5120), (1, 100, 100)], true);
        assert_eq!(d.unreadable, vec![(0, 0, 5120)]);
        assert!(
            d.note.contains("5120 offset(s) in 1 partition(s)"),
            "{}",
            d.note
        );
    }
}
