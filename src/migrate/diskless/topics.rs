//! Topic sync while a copy follows its source (`--follow`): a carried config (see
//! [`CARRIED_CONFIGS`]) changed on the source since the copy began is applied to the target and
//! reported with the target's value before and after; partitions added on the source are added
//! on the target and join the copy; a topic created on the source that the migration's
//! `--topics` selects is created on the target (same partitions, carried configs) and joins the
//! copy from its first record; a topic deleted on the source is reported and no longer copied,
//! and never deleted on the target.
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
    /// CreateTopics on the target: `partitions`, with `configs` (the carried ones).
    fn create_target_topic(
        &mut self,
        topic: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), KafkaError>;
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
    /// A topic the selection matches was created on the source.
    CreatedOnSource,
}

impl ChangeKind {
    /// The name in the report and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Partitions => "partitions",
            Self::DeletedOnSource => "deleted-on-source",
            Self::CreatedOnSource => "created-on-source",
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
    /// A source topic the selection matches and the journal has never copied; `target`: its
    /// partition count there, if the target has it already.
    New {
        topic: String,
        partitions: i32,
        target: Option<i32>,
    },
}

/// Whether a topic is internal (never copied): `__consumer_offsets`, `__transaction_state`,
/// Connect's and MirrorMaker's `_..._state`-style topics.
pub fn internal(topic: &str) -> bool {
    topic.starts_with("__") || topic.starts_with('_') && topic.ends_with("_state")
}

/// What the journal knows of the source's topics, for [`plan`].
pub struct Known<'a> {
    /// The topics the journal copies (not deleted) and their partitions there.
    pub followed: &'a BTreeMap<String, i32>,
    /// Every topic the journal has ever copied (deleted ones too: not picked up again).
    pub ever: &'a BTreeSet<String>,
    /// The migration's `--topics` (`None`: no new topics are picked up).
    pub selection: Option<&'a regex::Regex>,
}

/// Compare the source now with the journal and the target (pure). `source` and `target`: every
/// topic's partition count now; `baseline`: per topic the carried configs as last applied;
/// `source_configs`: the carried configs read from the source this time (`None`: configs are
/// not due). A topic without a baseline gets none planned (the caller adopts what it read).
pub fn plan(
    known: &Known,
    source: &BTreeMap<String, i32>,
    target: &BTreeMap<String, i32>,
    baseline: &BTreeMap<String, BTreeMap<String, String>>,
    source_configs: Option<&BTreeMap<String, BTreeMap<String, String>>>,
) -> Vec<Planned> {
    let followed = known.followed;
    let mut out = Vec::new();
    if let Some(re) = known.selection {
        for (topic, &n) in source {
            if !known.ever.contains(topic) && !internal(topic) && re.is_match(topic) {
                out.push(Planned::New {
                    topic: topic.clone(),
                    partitions: n,
                    target: target.get(topic).copied(),
                });
            }
        }
    }
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
    /// New compacted topics are copied too (`--allow-compacted`).
    allow_compacted: bool,
    /// The journal's `--topics`, compiled once.
    selection: Option<(String, regex::Regex)>,
}

impl TopicSync {
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last_configs: None,
            refused: BTreeSet::new(),
            allow_compacted: false,
            selection: None,
        }
    }

    /// Copy new compacted topics too (their readable view, as `--allow-compacted` does).
    pub fn allow_compacted(mut self, yes: bool) -> Self {
        self.allow_compacted = yes;
        self
    }

    /// The journal's selection (`--topics`); an empty one selects nothing new.
    fn selection(&mut self, topics: &str) -> Option<regex::Regex> {
        if topics.is_empty() {
            return None;
        }
        if self.selection.as_ref().is_none_or(|(t, _)| t != topics) {
            self.selection = regex::Regex::new(topics)
                .ok()
                .map(|r| (topics.to_string(), r));
        }
        self.selection.as_ref().map(|(_, r)| r.clone())
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
        let ever: BTreeSet<String> = j.partitions.iter().map(|p| p.topic.clone()).collect();
        let selection = self.selection(&j.topics);
        let known = Known {
            followed: &followed,
            ever: &ever,
            selection: selection.as_ref(),
        };
        let planned = plan(&known, &source, &target, &j.carried, configs.as_ref());
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
                if !answers(src, &topic, source) {
                    tracing::debug!(%topic, "added source partitions' leaders do not answer yet");
                    return Ok(None);
                }
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
            Planned::New {
                topic,
                partitions,
                target,
            } => {
                let memo = format!("new {topic}");
                if self.refused.contains(&memo) {
                    return Ok(None);
                }
                if !answers(src, &topic, partitions) {
                    // Just created: its leaders answer in a moment. The next round picks it up.
                    tracing::debug!(%topic, "a new source topic's leaders do not answer yet");
                    return Ok(None);
                }
                let configs = carried(&admin.source_configs(&topic)?);
                let mut created = change(
                    &topic,
                    ChangeKind::CreatedOnSource,
                    None,
                    target.map(|n| n.to_string()),
                    Some(partitions.to_string()),
                );
                let refusal =
                    self.new_topic_refusal(tgt, admin, &topic, partitions, target, &configs)?;
                if let Some((error, hint)) = refusal {
                    self.refused.insert(memo);
                    created.applied = false;
                    created.after = created.before.clone();
                    created.error = Some(error);
                    created.hint = Some(hint);
                    return Ok(Some(created));
                }
                if target.is_none() {
                    wait_for_topics(tgt, &[(topic.clone(), partitions)])?;
                }
                copy::add_partitions(j, src, tgt, &[(topic.clone(), partitions)])?;
                j.carried.insert(topic.clone(), configs);
                tracing::debug!(%topic, partitions, "a new topic joins the copy");
                created
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
                        c.after = settled(admin, &topic, &key, value.as_deref(), &c.before)?;
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

/// A target config's value once a change to `want` shows: brokers apply a config change from
/// the cluster's metadata a moment after the controller accepts it, so a read right away can
/// still answer the old value. Read again: up to 10 s until it is `want`, or (an override
/// deleted: `want` None, the default unknown) up to 1 s until it is no longer `before`; then
/// the last value read.
fn settled(
    admin: &mut dyn TopicAdmin,
    topic: &str,
    key: &str,
    want: Option<&str>,
    before: &Option<String>,
) -> Result<Option<String>, KafkaError> {
    let deadline = Instant::now() + Duration::from_secs(if want.is_some() { 10 } else { 1 });
    loop {
        let now = admin.target_configs(topic)?.get(key).cloned();
        let shows = match want {
            Some(v) => now.as_deref() == Some(v),
            None => &now != before,
        };
        if shows || Instant::now() >= deadline {
            return Ok(now);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl TopicSync {
    /// Why a new source topic cannot join the copy (what failed, what to do), or `None` once it
    /// can: the target has it (created here, with the carried configs the target accepts, or
    /// already there, empty, with the same partitions).
    fn new_topic_refusal(
        &self,
        tgt: &dyn DataCluster,
        admin: &mut dyn TopicAdmin,
        topic: &str,
        partitions: i32,
        target: Option<i32>,
        configs: &BTreeMap<String, String>,
    ) -> Result<Option<(String, String)>, DisklessError> {
        let policy = configs
            .get("cleanup.policy")
            .map_or("delete", String::as_str);
        if policy.contains("compact") && !self.allow_compacted {
            return Ok(Some((
                format!("{topic} is compacted (cleanup.policy={policy}): not copied"),
                "its copy would be the compacted view, not its history: to copy it anyway, stop the follower and run the same command with --allow-compacted".into(),
            )));
        }
        match target {
            Some(n) if n != partitions => Ok(Some((
                format!("the target has {topic} with {n} partitions, the source {partitions}"),
                format!("delete {topic} on the target (it holds nothing of this migration) or give it {partitions} partitions; then stop the follower and run the same command again"),
            ))),
            Some(_) => {
                for p in 0..partitions {
                    let (_, high) = tgt.watermarks(topic, p)?;
                    if high > 0 {
                        return Ok(Some((
                            format!("the target's {topic}-{p} holds {high} records this migration did not copy"),
                            format!("delete {topic} on the target, or leave it out of --topics"),
                        )));
                    }
                }
                Ok(None)
            }
            None => {
                let made = match admin.create_target_topic(topic, partitions, configs) {
                    Err(KafkaError::Api { code: 40, .. }) if !configs.is_empty() => {
                        tracing::warn!(%topic, ?configs, "the target refused these topic configs; creating the topic with its defaults");
                        admin.create_target_topic(topic, partitions, &BTreeMap::new())
                    }
                    other => other,
                };
                Ok(match made {
                    Ok(()) | Err(KafkaError::Api { code: 36, .. }) => None,
                    Err(e) => Some((
                        format!("creating {topic} on the target failed: {e}"),
                        format!("create it on the target by hand ({partitions} partitions), then stop the follower and run the same command again"),
                    )),
                })
            }
        }
    }
}

/// Created topics appear in the target's metadata with every partition, and every partition's
/// leader answers for its offsets (a new partition's leader may need a moment after the
/// metadata lists it).
pub(super) fn wait_for_topics(
    tgt: &dyn DataCluster,
    want: &[(String, i32)],
) -> Result<(), DisklessError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have = tgt.topics()?;
        let missing: Vec<&str> = want
            .iter()
            .filter(|(t, n)| have.get(t) != Some(n) || !answers(tgt, t, *n))
            .map(|(t, _)| t.as_str())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(DisklessError::inconsistent(
                format!(
                    "the target does not list these topics (or their leaders do not answer) after creating them: {}",
                    missing.join(", ")
                ),
                "check the target's logs; run the same command again",
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether every partition of `topic` below `n` answers for its offsets now.
fn answers(c: &dyn DataCluster, topic: &str, n: i32) -> bool {
    (0..n).all(|p| c.watermarks(topic, p).is_ok())
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
        let ever: BTreeSet<String> = followed.keys().cloned().collect();
        let known = Known {
            followed: &followed,
            ever: &ever,
            selection: None,
        };
        let p = plan(&known, &source, &target, &baseline, Some(&read));
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
        // not planned without a selection.
        let p = plan(&known, &source, &target, &baseline, None);
        assert_eq!(p.len(), 2);
        // No baseline: nothing planned for configs (adopted by the caller).
        let only_b = m(&[("b", 3)]);
        let b_known = Known {
            followed: &only_b,
            ..known
        };
        let p = plan(&b_known, &source, &target, &BTreeMap::new(), Some(&read));
        assert!(p.is_empty());
    }

    #[test]
    fn plans_new_topics_the_selection_matches_and_never_a_deleted_or_internal_one() {
        let followed = m(&[("orders.a", 2)]);
        let source = m(&[
            ("orders.a", 2),
            ("orders.b", 3),
            ("orders.gone", 1),
            ("__orders.internal", 1),
            ("payments", 1),
        ]);
        let target = m(&[("orders.a", 2), ("orders.b", 3)]);
        // orders.gone was copied once and deleted on the source: now back, it is not picked up.
        let ever: BTreeSet<String> = ["orders.a", "orders.gone"].map(String::from).into();
        let re = regex::Regex::new("^_*orders\\.").unwrap();
        let known = Known {
            followed: &followed,
            ever: &ever,
            selection: Some(&re),
        };
        let p = plan(&known, &source, &target, &BTreeMap::new(), None);
        assert_eq!(
            p,
            vec![Planned::New {
                topic: "orders.b".into(),
                partitions: 3,
                target: Some(3)
            }]
        );
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
        fn create_target_topic(
            &mut self,
            t: &str,
            partitions: i32,
            configs: &BTreeMap<String, String>,
        ) -> Result<(), KafkaError> {
            self.calls += 1;
            self.target.insert(t.into(), configs.clone());
            self.add_target_partitions(t, partitions)
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
    fn a_new_topic_is_created_on_the_target_and_joins_the_copy_and_refusals_are_said_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.json");
        // The journal copies a; the source gained b (3 partitions), a compacted c, and d that
        // the target already holds records of; e does not match the selection.
        let src = mem(&[
            ("a", 0, 5),
            ("b", 0, 4),
            ("b", 1, 2),
            ("b", 2, 0),
            ("c", 0, 3),
            ("d", 0, 3),
            ("e", 0, 1),
        ]);
        let tgt = mem(&[("a", 0, 5), ("d", 0, 2)]);
        let mut j = DisklessJournal::new("s", "t", "^[a-d]$");
        copy::add_partitions(&mut j, &src, &tgt, &[("a".into(), 1)]).unwrap();
        let mut admin = FakeAdmin {
            accept_partitions: true,
            target_mem: Some(tgt.clone()),
            ..Default::default()
        };
        admin.source.insert(
            "b".into(),
            cfg(&[("retention.ms", "7"), ("segment.bytes", "1048576")]),
        );
        admin
            .source
            .insert("c".into(), cfg(&[("cleanup.policy", "compact")]));
        let mut sync = TopicSync::new(Duration::from_secs(3600));
        let c = sync.round(&mut j, &path, &src, &tgt, &mut admin).unwrap();
        let of = |t: &str| c.iter().find(|c| c.topic == t).unwrap();
        assert_eq!(c.len(), 3, "{c:?}");
        let b = of("b");
        assert!(b.applied && b.kind == ChangeKind::CreatedOnSource, "{b:?}");
        assert_eq!((b.before.as_deref(), b.after.as_deref()), (None, Some("3")));
        assert_eq!(tgt.topics().unwrap()["b"], 3);
        assert_eq!(
            admin.target["b"],
            cfg(&[("retention.ms", "7")]),
            "carried only"
        );
        assert_eq!(j.carried["b"], cfg(&[("retention.ms", "7")]));
        // b joins from its log start, at the target's (empty) end.
        let b0 = j.partition("b", 0).unwrap();
        assert_eq!((b0.start, b0.target_base), (0, 0));
        assert!(j.partition("b", 2).is_some());
        let comp = of("c");
        assert!(!comp.applied && comp.hint.as_deref().unwrap().contains("--allow-compacted"));
        let d = of("d");
        assert!(
            !d.applied && d.error.as_deref().unwrap().contains("2 records"),
            "{d:?}"
        );
        assert!(j.partition("c", 0).is_none() && j.partition("d", 0).is_none());
        assert!(j.partition("e", 0).is_none(), "not selected");
        // The refusals are not said again; b is known now.
        assert!(sync
            .round(&mut j, &path, &src, &tgt, &mut admin)
            .unwrap()
            .is_empty());
        // With --allow-compacted, c is copied too.
        let c = TopicSync::new(Duration::from_secs(3600))
            .allow_compacted(true)
            .round(&mut j, &path, &src, &tgt, &mut admin)
            .unwrap();
        assert!(c.iter().any(|c| c.topic == "c" && c.applied), "{c:?}");
        assert!(j.partition("c", 0).is_some());
    }

    #[test]
    fn carried_keeps_only_carried_keys() {
        let c = carried(&cfg(&[("retention.ms", "1"), ("segment.bytes", "2")]));
        assert_eq!(c, cfg(&[("retention.ms", "1")]));
    }
}
