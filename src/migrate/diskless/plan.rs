//! Preflight and the copy plan (pure): what is wrong with the source, the target and the
//! selection before any change (every problem at once), which configs the target topics get,
//! and the predicted time at the throttle.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// A problem found before any change (all are reported at once; exit 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The topic it concerns, or `None` for the target as a whole.
    pub topic: Option<String>,
    pub message: String,
    pub hint: String,
}

pub(super) fn problem(topic: Option<&str>, message: String, hint: impl Into<String>) -> Problem {
    Problem {
        topic: topic.map(str::to_string),
        message,
        hint: hint.into(),
    }
}

/// A source topic as read before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTopic {
    pub name: String,
    pub partitions: i32,
    /// Bytes on disk (leader replicas), for the estimate.
    pub bytes: u64,
    /// Records by offset range (high - low watermarks summed; markers and aborted records count).
    pub offsets: i64,
    /// Topic configs set on the source (dynamic), some of which the target topic gets.
    pub configs: BTreeMap<String, String>,
}

impl SourceTopic {
    pub fn compacted(&self) -> bool {
        self.configs
            .get("cleanup.policy")
            .is_some_and(|p| p.contains("compact"))
    }
}

/// A target topic that already exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTopic {
    pub partitions: i32,
    /// Records in it now (high watermarks summed).
    pub records: i64,
}

/// Kafka APIs the copy needs on the target, with what fails without each.
pub const TARGET_APIS: &[(i16, &str, &str)] = &[
    (0, "Produce", "the copy cannot write"),
    (1, "Fetch", "the verifier cannot read the copy back"),
    (
        2,
        "ListOffsets",
        "the copy cannot find where the target stands after a crash",
    ),
    (3, "Metadata", "no client can find the partitions"),
    (
        22,
        "InitProducerId",
        "no idempotent producer: retries could duplicate records",
    ),
    (
        8,
        "OffsetCommit",
        "cutover cannot translate consumer groups",
    ),
    (
        9,
        "OffsetFetch",
        "cutover cannot read translated offsets back",
    ),
    (
        15,
        "DescribeGroups",
        "cutover cannot see whether a target group is active",
    ),
    (
        19,
        "CreateTopics",
        "target topics must be created by hand first",
    ),
];

/// Configs the target topic gets from the source (when set there); others stay the target's.
pub const CARRIED_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "retention.ms",
    "retention.bytes",
    "max.message.bytes",
    "message.timestamp.type",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightInput {
    pub topics: Vec<SourceTopic>,
    /// Existing target topics by name.
    pub target_topics: BTreeMap<String, TargetTopic>,
    /// API keys the target offers.
    pub target_apis: BTreeSet<i16>,
    /// Topics a journal of this migration already copies (their target data is ours).
    pub journaled: BTreeSet<String>,
    pub allow_compacted: bool,
}

/// What one topic's copy will do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicPlan {
    pub topic: String,
    pub partitions: i32,
    pub bytes: u64,
    pub offsets: i64,
    /// Created on the target by the copy (false: exists, checked).
    pub create: bool,
    /// Configs given to a created target topic.
    pub configs: BTreeMap<String, String>,
    pub compacted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopyPlan {
    pub topics: Vec<TopicPlan>,
    pub partitions: usize,
    pub bytes: u64,
    pub offsets: i64,
    pub throttle_bytes_per_sec: Option<u64>,
    /// At the throttle; `None` unthrottled.
    pub predicted_seconds: Option<f64>,
    /// Target APIs missing that the copy can live without, with what fails.
    pub warnings: Vec<String>,
}

/// Check everything before any change; the plan, or every problem found.
pub fn preflight(input: &PreflightInput, throttle: Option<u64>) -> Result<CopyPlan, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    if input.topics.is_empty() {
        problems.push(problem(
            None,
            "no source topic matches --topics".into(),
            "check the regular expression against the source's topic names (internal topics never match)",
        ));
    }
    for (key, name, without) in TARGET_APIS {
        if !input.target_apis.contains(key) {
            // Without these three the copy itself cannot work; the rest degrade one step.
            if matches!(key, 0 | 1 | 2 | 3 | 22) {
                problems.push(problem(
                    None,
                    format!("the target does not offer {name} (API {key}): {without}"),
                    "point --target-bootstrap at a Kafka-compatible broker that supports it",
                ));
            } else {
                warnings.push(format!("the target does not offer {name}: {without}"));
            }
        }
    }
    let mut topics = Vec::new();
    for t in &input.topics {
        let compacted = t.compacted();
        if compacted && !input.allow_compacted {
            problems.push(problem(
                Some(&t.name),
                format!("{} is compacted (cleanup.policy={}): the copy would be its compacted view, not its history", t.name, t.configs["cleanup.policy"]),
                "pass --allow-compacted to copy what is readable now (older values of a key that compaction removed are not copied), or leave the topic out of --topics",
            ));
        }
        let create = match input.target_topics.get(&t.name) {
            None => {
                if !input.target_apis.contains(&19) {
                    problems.push(problem(
                        Some(&t.name),
                        format!(
                            "{} does not exist on the target and the target cannot create topics",
                            t.name
                        ),
                        format!(
                            "create it on the target with {} partitions first",
                            t.partitions
                        ),
                    ));
                }
                true
            }
            Some(tt) => {
                if tt.partitions != t.partitions {
                    problems.push(problem(
                        Some(&t.name),
                        format!(
                            "{} has {} partitions on the target and {} on the source: partition i is copied to partition i",
                            t.name, tt.partitions, t.partitions
                        ),
                        "delete the target topic or create it with the source's partition count",
                    ));
                }
                if tt.records > 0 && !input.journaled.contains(&t.name) {
                    problems.push(problem(
                        Some(&t.name),
                        format!("{} already holds {} records on the target that this migration did not write", t.name, tt.records),
                        "copy into an empty topic (delete it on the target), or give --journal the migration that wrote them",
                    ));
                }
                false
            }
        };
        let configs = t
            .configs
            .iter()
            .filter(|(k, _)| CARRIED_CONFIGS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        topics.push(TopicPlan {
            topic: t.name.clone(),
            partitions: t.partitions,
            bytes: t.bytes,
            offsets: t.offsets,
            create,
            configs,
            compacted,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let bytes = topics.iter().map(|t| t.bytes).sum();
    Ok(CopyPlan {
        partitions: topics.iter().map(|t| t.partitions as usize).sum(),
        offsets: topics.iter().map(|t| t.offsets).sum(),
        bytes,
        throttle_bytes_per_sec: throttle,
        predicted_seconds: throttle.map(|r| bytes as f64 / r as f64),
        topics,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    //! The copy engine over an in-memory cluster pair: source offsets with gaps (markers,
    //! aborted records), a crash between the target's write and the journal's save, another
    //! writer on the target, and the cutover's fences. The live tests run the same paths against
    //! Kafka and nisshi.

    use super::*;

    fn topic(name: &str, parts: i32, compact: bool) -> SourceTopic {
        let mut configs = BTreeMap::new();
        if compact {
            configs.insert("cleanup.policy".into(), "compact".into());
        }
        configs.insert("retention.ms".into(), "86400000".into());
        configs.insert("segment.bytes".into(), "1048576".into());
        SourceTopic {
            name: name.into(),
            partitions: parts,
            bytes: 1_000_000,
            offsets: 1_000,
            configs,
        }
    }

    #[test]
    fn preflight_lists_every_problem_at_once() {
        let input = PreflightInput {
            topics: vec![
                topic("a", 3, false),
                topic("c", 2, true),
                topic("d", 4, false),
            ],
            target_topics: BTreeMap::from([(
                "d".to_string(),
                TargetTopic {
                    partitions: 2,
                    records: 5,
                },
            )]),
            target_apis: [0, 1, 2, 3, 22, 8, 9, 19].into_iter().collect(),
            journaled: BTreeSet::new(),
            allow_compacted: false,
        };
        let p = preflight(&input, None).unwrap_err();
        let msgs: Vec<_> = p.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(p.len(), 3, "{msgs:?}");
        assert!(msgs[0].contains("compacted"));
        assert!(msgs[1].contains("2 partitions on the target and 4"));
        assert!(msgs[2].contains("5 records"));
        let ok = PreflightInput {
            allow_compacted: true,
            target_topics: BTreeMap::new(),
            ..input
        };
        let plan = preflight(&ok, Some(500_000)).unwrap();
        assert_eq!(plan.partitions, 9);
        assert_eq!(plan.predicted_seconds, Some(6.0));
        assert_eq!(plan.warnings.len(), 1, "DescribeGroups missing");
        assert_eq!(
            plan.topics[0].configs.keys().collect::<Vec<_>>(),
            ["retention.ms"]
        );
    }
}
