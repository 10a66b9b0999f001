//! Reading and writing the planner's file formats (pure: text in, values out).
//!
//! * the snapshot: `{"brokers":[{"id":1,"rack":"us-east-1a"}],"partitions":[{"topic":"t",
//!   "partition":0,"replicas":[1,2,3],"size_bytes":123,"local_size_bytes":45}]}`
//! * Kafka's reassignment JSON, as `kafka-reassign-partitions.sh --generate` prints the current
//!   assignment and `--execute` takes a plan: `{"version":1,"partitions":[{"topic":"t",
//!   "partition":0,"replicas":[1,2,3]}]}`, with racks from `--broker-racks 1=us-east-1a,...`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::cluster::{Broker, Cluster, PartitionAssignment};

/// A file that could not be read as the expected format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{what} at line {line} column {column}: {message}")]
pub struct FormatError {
    pub what: &'static str,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

fn json_error(what: &'static str, e: serde_path_to_error::Error<serde_json::Error>) -> FormatError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let mut message = inner.to_string();
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    if path != "." && !path.is_empty() {
        message = format!("{path}: {message}");
    }
    FormatError {
        what,
        line: inner.line(),
        column: inner.column(),
        message,
    }
}

/// Parse a snapshot file.
pub fn parse_snapshot(text: &str) -> Result<Cluster, FormatError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| json_error("snapshot", e))
}

/// Kafka's reassignment JSON (current assignment or plan).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaReassignment {
    pub version: i32,
    pub partitions: Vec<KafkaPartition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaPartition {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dirs: Option<Vec<String>>,
}

/// Parse Kafka's assignment JSON and attach racks. Brokers named only in `racks` are brokers
/// without replicas (new brokers).
pub fn parse_kafka_assignment(
    text: &str,
    racks: &BTreeMap<i32, String>,
) -> Result<Cluster, FormatError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let k: KafkaReassignment =
        serde_path_to_error::deserialize(de).map_err(|e| json_error("Kafka assignment", e))?;
    let mut ids: std::collections::BTreeSet<i32> = racks.keys().copied().collect();
    for p in &k.partitions {
        ids.extend(p.replicas.iter().copied());
    }
    Ok(Cluster {
        brokers: ids
            .into_iter()
            .map(|id| Broker {
                id,
                rack: racks.get(&id).cloned(),
                offline: false,
                capacity_bytes: None,
            })
            .collect(),
        partitions: k
            .partitions
            .into_iter()
            .map(|p| PartitionAssignment {
                topic: p.topic,
                partition: p.partition,
                replicas: p.replicas,
                size_bytes: None,
                local_size_bytes: None,
            })
            .collect(),
    })
}

/// Parse broker racks: `1=us-east-1a,2=us-east-1b` (commas or newlines; `#` comments), or a JSON
/// object `{"1": "us-east-1a"}`.
pub fn parse_racks(text: &str) -> Result<BTreeMap<i32, String>, String> {
    let t = text.trim();
    if t.starts_with('{') {
        let m: BTreeMap<String, String> =
            serde_json::from_str(t).map_err(|e| format!("racks JSON: {e}"))?;
        return m
            .into_iter()
            .map(|(k, v)| {
                k.trim()
                    .parse::<i32>()
                    .map(|id| (id, v))
                    .map_err(|_| format!("`{k}` is not a broker id"))
            })
            .collect();
    }
    let mut out = BTreeMap::new();
    for item in t
        .split([',', '\n'])
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
    {
        let (id, rack) = item
            .split_once('=')
            .or_else(|| item.split_once(char::is_whitespace))
            .ok_or_else(|| format!("`{item}` is not `BROKER_ID=RACK`"))?;
        let id: i32 = id
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a broker id", id.trim()))?;
        let rack = rack.trim();
        if rack.is_empty() {
            return Err(format!("broker {id} has an empty rack"));
        }
        if out.insert(id, rack.to_string()).is_some() {
            return Err(format!("broker {id} is given twice"));
        }
    }
    Ok(out)
}

/// Kafka's reassignment JSON for these partitions (plan or rollback), one partition per line so
/// that diffs of large plans stay readable.
pub fn to_kafka_json(partitions: &[(&str, i32, &[i32])]) -> String {
    let mut s = String::from("{\"version\":1,\"partitions\":[");
    for (i, (topic, partition, replicas)) in partitions.iter().enumerate() {
        s.push_str(if i == 0 { "\n" } else { ",\n" });
        let p = KafkaPartition {
            topic: topic.to_string(),
            partition: *partition,
            replicas: replicas.to_vec(),
            log_dirs: None,
        };
        s.push_str(&serde_json::to_string(&p).expect("plain data serialises"));
    }
    s.push_str("\n]}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_round_trip_and_errors() {
        let text = r#"{"brokers":[{"id":1,"rack":"a"}],"partitions":[{"topic":"t","partition":0,"replicas":[1],"size_bytes":5}]}"#;
        let c = parse_snapshot(text).unwrap();
        assert_eq!(c.partitions[0].move_bytes(), 5);
        let bad = "{\"brokers\":[{\"id\":1,\"rak\":\"a\"}],\"partitions\":[]}";
        let e = parse_snapshot(bad).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("unknown field `rak`"), "{e}");
        assert!(e.message.contains("brokers[0]"), "{e}");
    }

    #[test]
    fn kafka_assignment_with_racks_adds_new_brokers() {
        let text = r#"{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any","any"]}]}"#;
        let racks = parse_racks("1=a, 2=b\n3=c # new broker").unwrap();
        let c = parse_kafka_assignment(text, &racks).unwrap();
        assert_eq!(c.brokers.len(), 3);
        assert_eq!(
            c.brokers[2],
            Broker {
                id: 3,
                rack: Some("c".into()),
                offline: false,
                capacity_bytes: None,
            }
        );
    }

    #[test]
    fn racks_formats() {
        assert_eq!(parse_racks(r#"{"1":"a","2":"b"}"#).unwrap().len(), 2);
        assert_eq!(parse_racks("1 a\n2 b").unwrap()[&2], "b");
        assert!(parse_racks("1=a,1=b").unwrap_err().contains("twice"));
        assert!(parse_racks("x=a").is_err());
    }

    #[test]
    fn kafka_json_is_the_tools_format() {
        let s = to_kafka_json(&[("t", 0, &[1, 2, 3]), ("u", 4, &[3, 1, 2])]);
        let k: KafkaReassignment = serde_json::from_str(&s).unwrap();
        assert_eq!(k.version, 1);
        assert_eq!(k.partitions[1].replicas, vec![3, 1, 2]);
        assert!(!s.contains("log_dirs"));
    }
}
