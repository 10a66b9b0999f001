//! Topic sync while a copy follows its source (`--follow`): a carried config (see
//! [`CARRIED_CONFIGS`]) changed on the source since the copy began is applied to the target and
//! reported with the target's value before and after; partitions added on the source are added
//! on the target and join the copy; a topic deleted on the source is reported and no longer
//! copied, and never deleted on the target.
//!
//! [`plan`] is pure: it compares the source now with the journal (the partitions it copies and
//! the carried configs as last applied) and the target now. [`TopicSync::round`] reads both
//! sides, applies the plan through [`TopicAdmin`] and journals every change. A change the
//! target refuses is reported once, with what to do, and not retried by this process.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::copy;
use super::error::DisklessError;
use super::journal::{save, DisklessJournal};
use super::plan::CARRIED_CONFIGS;
use crate::kafka::records::DataCluster;
use crate::kafka::{ConfigOp, KafkaError};
use crate::run::store::now_ms;

/// The admin calls the topic sync makes: carried configs on both sides, and changes on the
/// target. One real adapter (the Kafka admin plane of both clusters).
pub trait TopicAdmin {
    /// The carried configs set on a source topic (dynamic overrides only: what was chosen).
    fn source_configs(&mut self, topic: &str) -> Result<BTreeMap<String, String>, KafkaError>;
    /// The carried configs in effect on a target topic (set or default).
    fn target_configs(&mut self, topic: &str) -> Result<BTreeMap<String, String>, KafkaError>;
    /// IncrementalAlterConfigs on a target topic.
    fn set_target_configs(&mut self, topic: &str, ops: &[ConfigOp]) -> Result<(), KafkaError>;
    /// CreatePartitions on a target topic, up to `total`.
    fn add_target_partitions(&mut self, topic: &str, total: i32) -> Result<(), KafkaError>;
}

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// A carried config changed on the source.
    Config,
    /// Partitions added on the source.
    Partitions,
    /// The topic was deleted on the source.
    DeletedOnSource,
}

impl ChangeKind {
    /// The name in the report and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Partitions => "partitions",
            Self::DeletedOnSource => "deleted-on-source",
        }
    }
}

/// One change the topic sync made or found. Stable field names (`--output json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicChange {
    pub topic: String,
    pub kind: ChangeKind,
    /// The config key (configs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// On the target before and after: the config's value in effect (`None`: not set and no
    /// default reported), or the partition count.
    pub before: Option<String>,
    pub after: Option<String>,
    /// Whether the target now matches the source for this change.
    pub applied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    pub at_ms: u64,
}

/// What the sync should do (pure [`plan`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// A followed topic is gone from the source.
    Deleted(String),
    /// The source has more partitions than the journal copies; `target` has this many now.
    Partitions {
        topic: String,
        followed: i32,
        source: i32,
        target: i32,
    },
    /// A carried config differs from what the journal last applied: set it (`None`: the source
    /// dropped its override; the target's is deleted too).
    Config {
        topic: String,
        key: String,
        value: Option<String>,
    },
}

/// Compare the source now with the journal and the target (pure). `followed`: the topics the
/// journal copies (not deleted) and their partitions there; `source` and `target`: every
/// topic's partition count now; `baseline`: per topic the carried configs as last applied;
/// `source_configs`: the carried configs read from the source this time (`None`: configs are
/// not due). A topic without a baseline gets none planned (the caller adopts what it read).
pub fn plan(
    followed: &BTreeMap<String, i32>,
    source: &BTreeMap<String, i32>,
    target: &BTreeMap<String, i32>,
    baseline: &BTreeMap<String, BTreeMap<String, String>>,
    source_configs: Option<&BTreeMap<String, BTreeMap<String, String>>>,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for (topic, &n) in followed {
        let Some(&now) = source.get(topic) else {
            out.push(Planned::Deleted(topic.clone()));
            continue;
        };
        if now > n {
            out.push(Planned::Partitions {
                topic: topic.clone(),
                followed: n,
                source: now,
                target: target.get(topic).copied().unwrap_or(0),
            });
        }
        let (Some(read), Some(was)) = (
            source_configs.and_then(|c| c.get(topic)),
            baseline.get(topic),
        ) else {
            continue;
        };
        for key in CARRIED_CONFIGS {
            let (now, before) = (read.get(*key), was.get(*key));
            if now != before {
                out.push(Planned::Config {
                    topic: topic.clone(),
                    key: key.to_string(),
                    value: now.cloned(),
                });
            }
        }
    }
    out
}

/// The carried configs among `all`.
pub fn carried(all: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    all.iter()
        .filter(|(k, _)| CARRIED_CONFIGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The follower's topic sync: partitions and deletions every round (one metadata read per
/// side), configs every `interval`; refused changes remembered so each is reported once.
pub struct TopicSync {
    interval: Duration,
    last_configs: Option<Instant>,
    refused: BTreeSet<String>,
}

impl TopicSync {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_configs: None,
            refused: BTreeSet::new(),
        }
    }

    /// One round: read, plan, apply, journal. Returns the changes made or found.
    pub fn round(
        &mut self,
        j: &mut DisklessJournal,
        path: &Path,
        src: &dyn DataCluster,
        tgt: &dyn DataCluster,
        admin: &mut dyn TopicAdmin,
    ) -> Result<Vec<TopicChange>, DisklessError> {
        let mut followed: BTreeMap<String, i32> = BTreeMap::new();
        for p in j.partitions.iter().filter(|p| !p.source_deleted) {
            let n = followed.entry(p.topic.clone()).or_default();
            *n = (*n).max(p.partition + 1);
        }
        let (source, target) = (src.topics()?, tgt.topics()?);
        let configs = if self
            .last_configs
            .is_none_or(|t| t.elapsed() >= self.interval)
        {
            self.last_configs = Some(Instant::now());
            let mut read = BTreeMap::new();
            for t in followed.keys().filter(|t| source.contains_key(*t)) {
                read.insert(t.clone(), carried(&admin.source_configs(t)?));
            }
            for (t, c) in &read {
                j.carried.entry(t.clone()).or_insert_with(|| c.clone());
            }
            Some(read)
        } else {
            None
        };
        let planned = plan(&followed, &source, &target, &j.carried, configs.as_ref());
        let mut changes = Vec::new();
        for p in planned {
            if let Some(c) = self.apply(j, src, tgt, admin, p)? {
                changes.push(c);
            }
        }
        for c in &changes {
            match &c.error {
                None => {
                    tracing::info!(topic = %c.topic, kind = ?c.kind, key = ?c.key, before = ?c.before, after = ?c.after, "topic sync")
                }
                Some(e) => {
                    tracing::warn!(topic = %c.topic, kind = ?c.kind, key = ?c.key, error = %e, "topic sync: the target refused a change")
                }
            }
        }
        if !changes.is_empty() {
            j.topic_changes.extend(changes.iter().cloned());
            save(j, path)?;
        }
        Ok(changes)
    }

    fn apply(
        &mut self,
        j: &mut DisklessJournal,
        src: &dyn DataCluster,
        tgt: &dyn DataCluster,
        admin: &mut dyn TopicAdmin,
        p: Planned,
    ) -> Result<Option<TopicChange>, DisklessError> {
        let change = |topic: &str, kind, key: Option<&str>, before, after| TopicChange {
            topic: topic.to_string(),
            kind,
            key: key.map(str::to_string),
            before,
            after,
            applied: true,
            error: None,
            hint: None,
            at_ms: now_ms(),
        };
        Ok(Some(match p {
            Planned::Deleted(topic) => {
                for r in j.partitions.iter_mut().filter(|r| r.topic == topic) {
                    r.source_deleted = true;
                }
                change(&topic, ChangeKind::DeletedOnSource, None, None, None)
            }
            Planned::Partitions {
                topic,
                followed,
                source,
                target,
            } => {
                if target < source {
                    // Refused before: reported once; picked up when someone adds them by hand.
                    let memo = format!("partitions {topic} {source}");
                    if self.refused.contains(&memo) {
                        return Ok(None);
                    }
                    if let Err(e) = admin.add_target_partitions(&topic, source) {
                        self.refused.insert(memo);
                        let mut c = change(
                            &topic,
                            ChangeKind::Partitions,
                            None,
                            Some(target.to_string()),
                            Some(target.to_string()),
                        );
                        c.applied = false;
                        c.hint = Some(partitions_hint(&e, &topic, source));
                        c.error = Some(e.to_string());
                        return Ok(Some(c));
                    }
                    wait_for_topics(tgt, &[(topic.clone(), source)])?;
                }
                copy::add_partitions(j, src, tgt, &[(topic.clone(), source)])?;
                tracing::debug!(%topic, followed, source, target, "partitions join the copy");
                change(
                    &topic,
                    ChangeKind::Partitions,
                    None,
                    Some(followed.to_string()),
                    Some(source.to_string()),
                )
            }
            Planned::Config { topic, key, value } => {
                let memo = format!("config {topic} {key}={value:?}");
                if self.refused.contains(&memo) {
                    return Ok(None);
                }
                let before = admin.target_configs(&topic)?.get(&key).cloned();
                let op: ConfigOp = (key.clone(), value.clone());
                let mut c = change(
                    &topic,
                    ChangeKind::Config,
                    Some(&key),
                    before.clone(),
                    before,
                );
                match admin.set_target_configs(&topic, &[op]) {
                    Ok(()) => {
                        c.after = admin.target_configs(&topic)?.get(&key).cloned();
                        let base = j.carried.entry(topic.clone()).or_default();
                        match &value {
                            Some(v) => base.insert(key.clone(), v.clone()),
                            None => base.remove(&key),
                        };
                    }
                    Err(e) => {
                        self.refused.insert(memo);
                        c.applied = false;
                        c.hint = Some(format!(
                            "set it on the target by hand (kafka-configs --bootstrap-server TARGET --entity-type topics --entity-name {topic} --alter --add-config {key}=VALUE), or leave the target's value if it is chosen on purpose"
                        ));
                        c.error = Some(e.to_string());
                    }
                }
                c
            }
        }))
    }
}

/// Created topics appear in the target's metadata with every partition.
pub(super) fn wait_for_topics(
    tgt: &dyn DataCluster,
    want: &[(String, i32)],
) -> Result<(), DisklessError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have = tgt.topics()?;
        let missing: Vec<&str> = want
            .iter()
            .filter(|(t, n)| have.get(t) != Some(n))
            .map(|(t, _)| t.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DisklessError::inconsistent(
                format!(
                    "the target does not list these topics after creating them: {}",
                    missing.join(", ")
                ),
                "check the target's logs; run the same command again",
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What to do about partitions the target would not add.
fn partitions_hint(e: &KafkaError, topic: &str, total: i32) -> String {
    let by_hand = format!(
        "add them on the target by hand (kafka-topics --bootstrap-server TARGET --alter --topic {topic} --partitions {total}); the follower copies them from its next round"
    );
    match e {
        KafkaError::Unsupported { .. } => format!(
            "the target does not offer CreatePartitions; {by_hand}, or re-create the topic there with {total} partitions before the cutover"
        ),
        _ => by_hand,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plans_deletions_added_partitions_and_changed_carried_configs_only() {
        let followed = m(&[("a", 2), ("b", 3), ("gone", 1)]);
        let source = m(&[("a", 4), ("b", 3), ("other", 9)]);
        let target = m(&[("a", 2), ("b", 3), ("gone", 1)]);
        let mut baseline = BTreeMap::new();
        baseline.insert(
            "a".to_string(),
            cfg(&[("retention.ms", "1000"), ("max.message.bytes", "100")]),
        );
        baseline.insert("b".to_string(), cfg(&[("retention.ms", "5")]));
        let mut read = BTreeMap::new();
        // a: retention changed, max.message.bytes dropped, cleanup.policy added; segment.bytes is
        // not carried.
        read.insert(
            "a".to_string(),
            cfg(&[
                ("retention.ms", "2000"),
                ("cleanup.policy", "delete"),
                ("segment.bytes", "1"),
            ]),
        );
        read.insert("b".to_string(), cfg(&[("retention.ms", "5")]));
        let p = plan(&followed, &source, &target, &baseline, Some(&read));
        assert_eq!(
            p,
            vec![
                Planned::Partitions {
                    topic: "a".into(),
                    followed: 2,
                    source: 4,
                    target: 2
                },
                Planned::Config {
                    topic: "a".into(),
                    key: "cleanup.policy".into(),
                    value: Some("delete".into())
                },
                Planned::Config {
                    topic: "a".into(),
                    key: "retention.ms".into(),
                    value: Some("2000".into())
                },
                Planned::Config {
                    topic: "a".into(),
                    key: "max.message.bytes".into(),
                    value: None
                },
                Planned::Deleted("gone".into()),
            ]
        );
        // Configs not due: partitions and deletions only; a topic not in the journal (other) is
        // never planned.
        let p = plan(&followed, &source, &target, &baseline, None);
        assert_eq!(p.len(), 2);
        // No baseline: nothing planned for configs (adopted by the caller).
        let p = plan(
            &m(&[("b", 3)]),
            &source,
            &target,
            &BTreeMap::new(),
            Some(&read),
        );
        assert!(p.is_empty());
    }

    use crate::migrate::mem::{rec, Mem, State};
    use std::sync::{Arc, Mutex};

    /// Carried configs per side in memory; CreatePartitions refused until `accept`.
    #[derive(Default)]
    struct FakeAdmin {
        source: BTreeMap<String, BTreeMap<String, String>>,
        target: BTreeMap<String, BTreeMap<String, String>>,
        accept_partitions: bool,
        target_mem: Option<Mem>,
        calls: usize,
    }

    impl TopicAdmin for FakeAdmin {
        fn source_configs(&mut self, t: &str) -> Result<BTreeMap<String, String>, KafkaError> {
            Ok(self.source.get(t).cloned().unwrap_or_default())
        }
        fn target_configs(&mut self, t: &str) -> Result<BTreeMap<String, String>, KafkaError> {
            Ok(self.target.get(t).cloned().unwrap_or_default())
        }
        fn set_target_configs(&mut self, t: &str, ops: &[ConfigOp]) -> Result<(), KafkaError> {
            self.calls += 1;
            let c = self.target.entry(t.into()).or_default();
            for (k, v) in ops {
                match v {
                    Some(v) => c.insert(k.clone(), v.clone()),
                    None => c.remove(k),
                };
            }
            Ok(())
        }
        fn add_target_partitions(&mut self, t: &str, total: i32) -> Result<(), KafkaError> {
            self.calls += 1;
            if !self.accept_partitions {
                return Err(KafkaError::Unsupported {
                    address: "mem".into(),
                    api: 37,
                    message: "the broker does not offer this API".into(),
                });
            }
            let mem = self.target_mem.as_ref().unwrap();
            let mut s = mem.0.lock().unwrap();
            for p in 0..total {
                s.parts.entry((t.to_string(), p)).or_default();
            }
            Ok(())
        }
    }

    fn mem(parts: &[(&str, i32, i64)]) -> Mem {
        let mut s = State::default();
        for &(t, p, n) in parts {
            let recs: Vec<_> = (0..n).map(|o| rec(t, p, o)).collect();
            s.parts.insert((t.to_string(), p), (recs, n));
        }
        Mem(Arc::new(Mutex::new(s)))
    }

    #[test]
    fn a_round_applies_configs_marks_deletions_and_reports_a_refusal_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        // The journal copies a-0, a-1 and b-0; the source grew a to 3 partitions and lost b.
        let src = mem(&[("a", 0, 5), ("a", 1, 5), ("a", 2, 3)]);
        let tgt = mem(&[("a", 0, 5), ("a", 1, 5), ("b", 0, 4)]);
        let mut j = DisklessJournal::new("s", "t", "");
        copy::add_partitions(&mut j, &src, &tgt, &[("a".into(), 2), ("b".into(), 1)]).unwrap();
        j.carried.insert("a".into(), cfg(&[("retention.ms", "1")]));
        j.carried.insert("b".into(), BTreeMap::new());
        let mut admin = FakeAdmin::default();
        admin
            .source
            .insert("a".into(), cfg(&[("retention.ms", "2")]));
        admin
            .target
            .insert("a".into(), cfg(&[("retention.ms", "1")]));
        let mut sync = TopicSync::new(Duration::ZERO);

        let c = sync.round(&mut j, &path, &src, &tgt, &mut admin).unwrap();
        assert_eq!(c.len(), 3, "{c:?}");
        let parts = c.iter().find(|c| c.kind == ChangeKind::Partitions).unwrap();
        assert!(!parts.applied);
        assert!(
            parts.hint.as_deref().unwrap().contains("CreatePartitions"),
            "{parts:?}"
        );
        let conf = c.iter().find(|c| c.kind == ChangeKind::Config).unwrap();
        assert_eq!(
            (conf.before.as_deref(), conf.after.as_deref(), conf.applied),
            (Some("1"), Some("2"), true)
        );
        assert_eq!(j.carried["a"]["retention.ms"], "2", "the baseline moves on");
        assert!(c
            .iter()
            .any(|c| c.kind == ChangeKind::DeletedOnSource && c.topic == "b"));
        assert!(j
            .partitions
            .iter()
            .filter(|p| p.topic == "b")
            .all(|p| p.source_deleted));
        assert_eq!(
            j.partitions.len(),
            3,
            "a-2 does not join while the target lacks it"
        );
        let saved = DisklessJournal::load(&path).unwrap().unwrap();
        assert_eq!(saved.topic_changes.len(), 3, "journaled");

        // Nothing new: nothing reported, the refusal not retried.
        let calls = admin.calls;
        assert!(sync
            .round(&mut j, &path, &src, &tgt, &mut admin)
            .unwrap()
            .is_empty());
        assert_eq!(admin.calls, calls);

        // Added on the target by hand: a-2 joins the copy.
        tgt.0
            .lock()
            .unwrap()
            .parts
            .insert(("a".into(), 2), (Vec::new(), 0));
        let c = sync.round(&mut j, &path, &src, &tgt, &mut admin).unwrap();
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].applied && c[0].kind == ChangeKind::Partitions);
        assert_eq!(
            (c[0].before.as_deref(), c[0].after.as_deref()),
            (Some("2"), Some("3"))
        );
        assert!(j.partition("a", 2).is_some());
    }

    #[test]
    fn added_partitions_are_created_on_a_target_that_offers_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        let src = mem(&[("a", 0, 5), ("a", 1, 2)]);
        let tgt = mem(&[("a", 0, 5)]);
        let mut j = DisklessJournal::new("s", "t", "");
        copy::add_partitions(&mut j, &src, &tgt, &[("a".into(), 1)]).unwrap();
        let mut admin = FakeAdmin {
            accept_partitions: true,
            target_mem: Some(tgt.clone()),
            ..Default::default()
        };
        let c = TopicSync::new(Duration::from_secs(3600))
            .round(&mut j, &path, &src, &tgt, &mut admin)
            .unwrap();
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].applied);
        assert_eq!(tgt.topics().unwrap()["a"], 2);
        assert!(j.partition("a", 1).is_some());
    }

    #[test]
    fn carried_keeps_only_carried_keys() {
        let c = carried(&cfg(&[("retention.ms", "1"), ("segment.bytes", "2")]));
        assert_eq!(c, cfg(&[("retention.ms", "1")]));
    }
}
