//! `migrate tiered --rollback`: what turning tiering back off changes per topic (pure; read-only
//! tiering unless remote data may be deleted, and which offsets become unreadable if so), read
//! from the cluster and applied over [`ClusterAdmin`].

use super::plan::{
    COPY_DISABLE, DELETE_ON_DISABLE, LOCAL_RETENTION_BYTES, LOCAL_RETENTION_MS, REMOTE_ENABLE,
    RETENTION_MS,
};
use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use serde::Serialize;

use super::error::TierError;
use super::journal::{TierJournal, TierPhase, WaveState};
use super::plan::is_tiered;
use super::run::restore_quotas;
use crate::kafka::{offset_spec, ClusterAdmin, KafkaError};

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

/// The rollback of the topics the journal started tiering, or (without a journal) of the
/// tiered topics matching `topics`: each topic's configs and its partitions' first offsets, and
/// the pure [`rollback`] over them. Topics no longer tiered are left out.
pub async fn read<A: ClusterAdmin>(
    admin: &mut A,
    journal: Option<&TierJournal>,
    topics: Option<&Regex>,
    delete_remote: bool,
) -> Result<Vec<RollbackStep>, TierError> {
    let names: Vec<String> = match (journal, topics) {
        (Some(j), _) => j
            .waves
            .iter()
            .filter(|w| w.state != WaveState::Pending)
            .flat_map(|w| w.topics.clone())
            .collect(),
        (None, Some(re)) => {
            let c = admin.snapshot().await?;
            let mut v: Vec<String> = c
                .partitions
                .iter()
                .map(|p| p.topic.clone())
                .filter(|t| !t.starts_with("__") && re.is_match(t))
                .collect();
            v.dedup();
            v
        }
        (None, None) => return Ok(Vec::new()),
    };
    let mut steps = Vec::new();
    for t in &names {
        let cfg = admin.describe_configs(None, Some(t)).await?;
        if !is_tiered(&cfg) {
            continue;
        }
        let parts: Vec<(String, i32)> = admin
            .partitions(std::slice::from_ref(t))
            .await?
            .replicas
            .into_keys()
            .collect();
        let starts = admin.list_offsets(&parts, offset_spec::EARLIEST).await?;
        let local = admin
            .list_offsets(&parts, offset_spec::EARLIEST_LOCAL)
            .await?;
        let offsets: Vec<(i32, i64, i64)> = parts
            .iter()
            .map(|k| {
                (
                    k.1,
                    starts.get(k).copied().unwrap_or(0),
                    local.get(k).copied().unwrap_or(0),
                )
            })
            .collect();
        steps.push(rollback(t, &cfg, &offsets, delete_remote));
    }
    Ok(steps)
}

/// Apply a rollback: restore the copy quotas the journal set, change each topic's configs in
/// order, mark the journal rolled back. Returns how many quota settings were restored.
pub async fn apply<A: ClusterAdmin>(
    admin: &mut A,
    mut journal: Option<&mut TierJournal>,
    path: &Path,
    steps: &[RollbackStep],
) -> Result<usize, TierError> {
    let mut restored = 0;
    if let Some(j) = journal.as_deref_mut() {
        restored = restore_quotas(admin, j, path).await?;
    }
    for s in steps {
        admin
            .alter_configs(None, Some(&s.topic), &s.ops)
            .await
            .map_err(|e| match e {
                KafkaError::Api { code: 40, .. } => TierError::Refused {
                    message: format!("Kafka refused the rollback of {}: {e}", s.topic),
                    hint: "remote.log.copy.disable needs local retention equal to retention; if Kafka still refuses, choose: keep tiering on, or --delete-remote-data --yes (deletes remote copies)".into(),
                },
                other => TierError::Kafka(other),
            })?;
    }
    if let Some(j) = journal {
        j.phase = TierPhase::RolledBack;
        j.save(path).map_err(|source| TierError::Journal {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(restored)
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
