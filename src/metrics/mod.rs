//! Prometheus metrics of the long commands (`--metrics-addr`): the progress every step reports
//! and the [`Observation`]s it publishes, kept as gauges in a `prometheus-client` registry, and
//! a small HTTP server ([`server`]) that serves them in the Prometheus text format.
//!
//! Every metric is a gauge named `streamctl_…` (see docs/metrics.md for the list): a command is
//! a job with a beginning and an end, so its figures are levels, not ever-growing counters.

pub mod server;

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::run::progress::{Observation, Stage};

type Labels = Vec<(String, String)>;
type G = Gauge<f64, AtomicU64>;
type F = Family<Labels, G>;

/// The registry and the gauges the steps' reports feed.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    command: String,
    info: F,
    progress: F,
    moves: F,
    moves_on_broker: F,
    reassign: F,
    tiered: F,
    partition: F,
    copy: F,
    group: F,
    topic_changes: F,
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> F {
    let f = F::default();
    registry.register(name, help, f.clone());
    f
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Metrics {
    /// The metrics of one run of `command` (`reassign`, `migrate-tiered`, `migrate-diskless`).
    pub fn new(command: &str) -> Self {
        let mut r = Registry::with_prefix("streamctl");
        let info = gauge(
            &mut r,
            "info",
            "The command this process runs and streamctl's version (always 1)",
        );
        let m = Self {
            progress: gauge(
                &mut r,
                "progress",
                "How far the current step is: done and total (bytes, offsets or partitions, as the step counts) and items in flight",
            ),
            moves: gauge(
                &mut r,
                "reassign_moves",
                "Partition moves by state (pending, in_flight, done)",
            ),
            moves_on_broker: gauge(
                &mut r,
                "reassign_moves_in_flight_by_broker",
                "Partition moves in flight that involve the broker",
            ),
            reassign: gauge(
                &mut r,
                "reassign",
                "Reassignment figures: bytes_total, bytes_done, throttle_bytes_per_second, throttle_settings",
            ),
            tiered: gauge(
                &mut r,
                "tiered",
                "Tiering figures: wave, waves, partitions_tiered, partitions, upload_bytes_done, upload_bytes_total, upload_bytes_per_second, tier_throttle_bytes_per_second",
            ),
            partition: gauge(
                &mut r,
                "diskless_partition",
                "Per partition: copied_to (next source offset to copy), source_end, verified_to, lag_records, lag_bytes, lag_seconds",
            ),
            copy: gauge(
                &mut r,
                "diskless_copy",
                "The copy: records, bytes, bytes_per_second, throttle_bytes_per_second, partitions_verified, partitions",
            ),
            group: gauge(
                &mut r,
                "diskless_group",
                "Per consumer group: partitions translated and committed on the target, and records behind on the source",
            ),
            topic_changes: gauge(
                &mut r,
                "diskless_topic_changes",
                "Topic changes the follower's topic sync made on the target or found on the source, by topic, kind (config, partitions, deleted-on-source) and result (applied, refused)",
            ),
            info,
            registry: r,
            command: command.to_string(),
        };
        m.info
            .get_or_create(&labels(&[
                ("command", command),
                ("version", env!("CARGO_PKG_VERSION")),
            ]))
            .set(1.0);
        m
    }

    /// The text exposition of every gauge.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// A progress update (see [`crate::run::progress::Progress::update`]).
    pub fn progress(&self, done: u64, total: u64, in_flight: usize, stage: &Stage) {
        let stage_name = match stage {
            Stage::Moving { .. } | Stage::MovesComplete => "moving",
            Stage::Tiering { .. } => "tiering",
            Stage::Copying { .. } | Stage::ConnectorCopying => "copying",
            Stage::Verifying => "verifying",
            Stage::WaitingForSource { .. } => "waiting_for_source",
        };
        for (what, v) in [
            ("done", done as f64),
            ("total", total as f64),
            ("in_flight", in_flight as f64),
        ] {
            self.progress
                .get_or_create(&labels(&[
                    ("command", &self.command),
                    ("stage", stage_name),
                    ("figure", what),
                ]))
                .set(v);
        }
        if let Stage::Moving { per_broker, .. } = stage {
            self.moves_on_broker.clear();
            for (b, n) in per_broker {
                self.moves_on_broker
                    .get_or_create(&labels(&[("broker", &b.to_string())]))
                    .set(*n as f64);
            }
        }
        if matches!(stage, Stage::MovesComplete) {
            self.moves_on_broker.clear();
        }
    }

    /// A step's figures.
    ///
    /// One piece on purpose: one arm per kind of observation, each a table of (figure, value):
    /// long, not deep.
    pub fn observe(&self, o: &Observation) {
        let set = |f: &F, pairs: &[(&str, &str)], v: f64| {
            f.get_or_create(&labels(pairs)).set(v);
        };
        match o {
            Observation::Moves {
                pending,
                in_flight,
                done,
                bytes_total,
                bytes_done,
                throttle_bytes_per_sec,
                throttle_settings,
            } => {
                for (state, v) in [
                    ("pending", pending),
                    ("in_flight", in_flight),
                    ("done", done),
                ] {
                    set(&self.moves, &[("state", state)], *v as f64);
                }
                for (figure, v) in [
                    ("bytes_total", *bytes_total as f64),
                    ("bytes_done", *bytes_done as f64),
                    ("throttle_bytes_per_second", *throttle_bytes_per_sec as f64),
                    ("throttle_settings", *throttle_settings as f64),
                ] {
                    set(&self.reassign, &[("figure", figure)], v);
                }
            }
            Observation::Tiering {
                wave,
                waves,
                partitions_tiered,
                partitions,
                upload_bytes_done,
                upload_bytes_total,
                upload_bytes_per_sec,
                tier_throttle_bytes_per_sec,
            } => {
                for (figure, v) in [
                    ("wave", *wave as f64),
                    ("waves", *waves as f64),
                    ("partitions_tiered", *partitions_tiered as f64),
                    ("partitions", *partitions as f64),
                    ("upload_bytes_done", *upload_bytes_done as f64),
                    ("upload_bytes_total", *upload_bytes_total as f64),
                    ("upload_bytes_per_second", *upload_bytes_per_sec),
                    (
                        "tier_throttle_bytes_per_second",
                        *tier_throttle_bytes_per_sec as f64,
                    ),
                ] {
                    set(&self.tiered, &[("figure", figure)], v);
                }
            }
            Observation::PartitionCopy {
                topic,
                partition,
                copied_to,
                source_end,
                verified_to,
                lag_records,
                lag_bytes,
                lag_seconds,
            } => {
                let p = partition.to_string();
                for (figure, v) in [
                    ("copied_to", *copied_to as f64),
                    ("source_end", *source_end as f64),
                    ("verified_to", *verified_to as f64),
                    ("lag_records", *lag_records as f64),
                    ("lag_bytes", *lag_bytes as f64),
                    ("lag_seconds", *lag_seconds),
                ] {
                    set(
                        &self.partition,
                        &[
                            ("topic", topic.as_str()),
                            ("partition", p.as_str()),
                            ("figure", figure),
                        ],
                        v,
                    );
                }
            }
            Observation::Copy {
                records,
                bytes,
                bytes_per_sec,
                throttle_bytes_per_sec,
                partitions_verified,
                partitions,
            } => {
                for (figure, v) in [
                    ("records", *records as f64),
                    ("bytes", *bytes as f64),
                    ("bytes_per_second", *bytes_per_sec),
                    (
                        "throttle_bytes_per_second",
                        throttle_bytes_per_sec.map_or(0.0, |t| t as f64),
                    ),
                    ("partitions_verified", *partitions_verified as f64),
                    ("partitions", *partitions as f64),
                ] {
                    set(&self.copy, &[("figure", figure)], v);
                }
            }
            Observation::GroupSync {
                group,
                translated,
                committed,
                source_lag_records,
            } => {
                for (figure, v) in [
                    ("partitions_translated", *translated as f64),
                    ("partitions_committed", *committed as f64),
                    ("source_lag_records", *source_lag_records as f64),
                ] {
                    set(
                        &self.group,
                        &[("group", group.as_str()), ("figure", figure)],
                        v,
                    );
                }
            }
            Observation::TopicChange {
                topic,
                kind,
                applied,
            } => {
                let result = if *applied { "applied" } else { "refused" };
                self.topic_changes
                    .get_or_create(&labels(&[
                        ("topic", topic.as_str()),
                        ("kind", kind.as_str()),
                        ("result", result),
                    ]))
                    .inc_by(1.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_become_labelled_gauges() {
        let m = Metrics::new("reassign");
        m.observe(&Observation::Moves {
            pending: 3,
            in_flight: 2,
            done: 5,
            bytes_total: 1000,
            bytes_done: 400,
            throttle_bytes_per_sec: 50,
            throttle_settings: 7,
        });
        m.progress(
            400,
            1000,
            2,
            &Stage::Moving {
                per_broker: vec![(1, 2), (4, 1)],
                status: String::new(),
            },
        );
        let text = m.encode();
        for line in [
            "streamctl_reassign_moves{state=\"pending\"} 3.0",
            "streamctl_reassign_moves{state=\"done\"} 5.0",
            "streamctl_reassign{figure=\"throttle_settings\"} 7.0",
            "streamctl_reassign_moves_in_flight_by_broker{broker=\"4\"} 1.0",
            "streamctl_progress{command=\"reassign\",stage=\"moving\",figure=\"total\"} 1000.0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        assert!(text.contains("# TYPE streamctl_reassign_moves gauge"));
        // The moves in flight per broker follow the latest update: a broker with none left goes.
        m.progress(1000, 1000, 0, &Stage::MovesComplete);
        assert!(!m
            .encode()
            .contains("streamctl_reassign_moves_in_flight_by_broker{"));
    }

    /// Every metric is documented in docs/metrics.md, and the Grafana example asks only for
    /// metrics that exist.
    #[test]
    fn the_docs_and_the_dashboard_name_the_metrics_served() {
        let m = Metrics::new("x");
        m.progress(1, 2, 1, &Stage::Verifying);
        m.observe(&Observation::Moves {
            pending: 0,
            in_flight: 1,
            done: 0,
            bytes_total: 1,
            bytes_done: 0,
            throttle_bytes_per_sec: 1,
            throttle_settings: 1,
        });
        m.progress(
            1,
            2,
            1,
            &Stage::Moving {
                per_broker: vec![(1, 1)],
                status: String::new(),
            },
        );
        m.observe(&Observation::Tiering {
            wave: 1,
            waves: 1,
            partitions_tiered: 0,
            partitions: 1,
            upload_bytes_done: 0,
            upload_bytes_total: 1,
            upload_bytes_per_sec: 0.0,
            tier_throttle_bytes_per_sec: 1,
        });
        m.observe(&Observation::PartitionCopy {
            topic: "t".into(),
            partition: 0,
            copied_to: 0,
            source_end: 1,
            verified_to: 0,
            lag_records: 1,
            lag_bytes: 1,
            lag_seconds: 1.0,
        });
        m.observe(&Observation::Copy {
            records: 0,
            bytes: 0,
            bytes_per_sec: 0.0,
            throttle_bytes_per_sec: None,
            partitions_verified: 0,
            partitions: 1,
        });
        m.observe(&Observation::GroupSync {
            group: "g".into(),
            translated: 0,
            committed: 0,
            source_lag_records: 0,
        });
        m.observe(&Observation::TopicChange {
            topic: "t".into(),
            kind: "config".into(),
            applied: true,
        });
        let served: std::collections::BTreeSet<String> = m
            .encode()
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split_whitespace().next().unwrap().to_string())
            .collect();
        let names = |text: &str| -> std::collections::BTreeSet<String> {
            text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("streamctl_") && w.len() > "streamctl_".len())
                .map(str::to_string)
                .collect()
        };
        let doc = names(include_str!("../../docs/metrics.md"));
        let dashboard = names(include_str!("../../docs/examples/grafana-streamctl.json"));
        assert_eq!(served, doc, "docs/metrics.md and the metrics served differ");
        assert!(
            dashboard.is_subset(&served),
            "the dashboard asks for {:?}",
            dashboard.difference(&served).collect::<Vec<_>>()
        );
    }
}
