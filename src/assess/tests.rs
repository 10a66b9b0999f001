use super::*;
use crate::assign::tolerance;
use crate::assign::{Broker, Cluster};

fn topic(name: &str, configs: &[(&str, &str)], start: Reading, end: Reading) -> TopicSample {
    TopicSample {
        topic: name.into(),
        partitions: 6,
        replication_factor: 3,
        configs: configs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        start,
        end,
    }
}

fn observed(topics: Vec<TopicSample>, groups: Vec<GroupSample>) -> Observed {
    let brokers: Vec<BrokerSample> = (0..6)
        .map(|i| BrokerSample {
            id: i + 1,
            rack: Some(format!("az-{}", i % 3)),
            bytes: 10 << 30,
            disk_total_bytes: Some(100 << 30),
            remote_storage: i < 3,
            remote_task_interval_ms: None,
            retention_check_interval_ms: None,
        })
        .collect();
    let cluster = Cluster {
        brokers: brokers
            .iter()
            .map(|b| Broker {
                id: b.id,
                rack: b.rack.clone(),
                offline: false,
                capacity_bytes: None,
            })
            .collect(),
        partitions: Vec::new(),
    };
    Observed {
        bootstrap: "k:9092".into(),
        window_secs: 60.0,
        brokers,
        topics,
        groups,
        az_tolerance: tolerance::check(&cluster, 2),
        partitions: Vec::new(),
    }
}

/// A topic's partitions, each of `bytes`, with the given replica lists.
fn parts(topic: &str, bytes: u64, replicas: &[&[i32]]) -> Vec<PartitionAssignment> {
    replicas
        .iter()
        .enumerate()
        .map(|(i, r)| PartitionAssignment {
            topic: topic.into(),
            partition: i as i32,
            replicas: r.to_vec(),
            size_bytes: Some(bytes),
            local_size_bytes: None,
        })
        .collect()
}

const MIB_U: u64 = 1 << 20;

#[test]
fn measures_rates_sizes_successors_and_fills_the_steps() {
    let busy = topic(
        "orders",
        &[("retention.ms", "86400000"), ("min.insync.replicas", "2")],
        Reading {
            bytes: 1_000 * MIB_U,
            log_start: 0,
            log_end: 1_000_000,
        },
        Reading {
            bytes: 1_060 * MIB_U,
            log_start: 0,
            log_end: 1_060_000,
        },
    );
    // Segments deleted in the window: the log shrank, so records × mean size.
    let rolled = topic(
        "clicks",
        &[("retention.ms", "3600000")],
        Reading {
            bytes: 500 * MIB_U,
            log_start: 0,
            log_end: 500_000,
        },
        Reading {
            bytes: 480 * MIB_U,
            log_start: 50_000,
            log_end: 530_000,
        },
    );
    let idle = topic(
        "idle",
        &[("retention.ms", "-1")],
        Reading::default(),
        Reading::default(),
    );
    let groups = vec![
        GroupSample {
            group: "tip".into(),
            members: 2,
            lag_records: 10,
            topics: vec!["orders".into()],
        },
        GroupSample {
            group: "batch".into(),
            members: 0,
            lag_records: 5_000_000,
            topics: vec!["orders".into()],
        },
    ];
    let o = observed(vec![busy, rolled, idle], groups);
    let opts = AssessOptions {
        instance_type: Some("m6in.xlarge".into()),
        ..Default::default()
    };
    let a = assess(&o, &opts, &Catalog::embedded());
    let orders = &a.topics[0];
    assert_eq!(orders.measured_by, "log-size");
    assert!((orders.bytes_per_sec - MIB).abs() < 1.0, "{orders:?}");
    assert!((orders.records_per_sec - 1_000.0).abs() < 1e-9);
    let clicks = &a.topics[1];
    assert_eq!(clicks.measured_by, "records-x-mean-size");
    // 500 records/s at 480 MiB / 480,000 records = 1,048.576 bytes each.
    assert!(
        (clicks.bytes_per_sec - 500.0 * 1_048.576).abs() < 1.0,
        "{clicks:?}"
    );
    assert_eq!(a.topics[2].bytes_per_sec, 0.0);
    let w = a.workload.as_ref().unwrap();
    assert!((w.ingress_mbps - 1.5).abs() < 1e-6, "{w:?}");
    // Weighted by ingress: (1 MiB/s × 1 day + 0.5 MiB/s × 1 hour) / 1.5 MiB/s.
    assert_eq!(w.retention_secs, (2 * 86_400 + 3_600) / 3);
    assert_eq!((w.consumers.tip, w.consumers.lagging), (1, 1));
    assert_eq!(w.azs, 3);
    let r = a.successors.as_ref().unwrap();
    assert_eq!(r.layouts.len(), 3, "{:?}", r.infeasible);
    assert_eq!(a.current.verdict, "over-provisioned", "{:?}", a.current);
    assert_eq!(a.current.disk_utilisation, Some(0.1));
    assert!(!a.tiered_readiness.ready);
    assert_eq!(a.tiered_readiness.brokers_enabled, vec![1, 2, 3]);
    // Steps: the delete-policy topics, at twice the ingress, predicted from the backlog.
    assert_eq!(a.steps.len(), 2);
    let tiered = &a.steps[0];
    assert!(
        tiered.command.contains("--topics '^(orders|clicks|idle)$'"),
        "{}",
        tiered.command
    );
    assert!(
        tiered.command.contains("--tier-throttle 3MiB/s"),
        "{}",
        tiered.command
    );
    // 1 GiB segments (the default) hold all of it: nothing closed to upload, so one wave of one
    // copy-task interval (Kafka's default 30 s: these brokers do not say).
    assert_eq!(tiered.bytes, 0);
    assert!((tiered.predicted_secs - 30.0).abs() < 1e-9, "{tiered:?}");
    let diskless = &a.steps[1];
    assert_eq!(diskless.bytes, 1_540 * MIB_U);
    assert!((diskless.predicted_secs - 1_540.0 / 3.0).abs() < 1e-6);
    // An idle topic that keeps everything adds nothing to the retention.
    assert!(
        !a.notes.iter().any(|n| n.contains("keep everything")),
        "{:?}",
        a.notes
    );
}

#[test]
fn successor_specs_pass_validation() {
    let busy = topic(
        "orders",
        &[("retention.ms", "604800000")],
        Reading {
            bytes: 0,
            log_start: 0,
            log_end: 0,
        },
        Reading {
            bytes: 600 * MIB_U,
            log_start: 0,
            log_end: 600_000,
        },
    );
    let o = observed(vec![busy], Vec::new());
    let opts = AssessOptions::default();
    let a = assess(&o, &opts, &Catalog::embedded());
    let w = a.workload.as_ref().unwrap();
    for l in &a.successors.as_ref().unwrap().layouts {
        let spec = successor_spec(l, w, &opts, min_insync(&o));
        let text = serde_yaml_ng::to_string(&spec).unwrap();
        let (parsed, _warnings) = crate::spec::parse(&text, "successor.yaml")
            .unwrap_or_else(|e| panic!("{:?}: {e}\n{text}", l.model));
        assert_eq!(parsed, spec);
        let errors: Vec<_> = crate::spec::validate(&parsed)
            .into_iter()
            .filter(|d| d.severity == crate::spec::Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{:?}: {errors:?}\n{text}", l.model);
    }
    assert!(a.notes.iter().any(|n| n.contains("--instance-type")));
}

#[test]
fn an_idle_window_sizes_nothing_and_says_so() {
    let o = observed(
        vec![topic("t", &[], Reading::default(), Reading::default())],
        Vec::new(),
    );
    let a = assess(&o, &AssessOptions::default(), &Catalog::embedded());
    assert!(a.workload.is_none() && a.successors.is_none() && a.steps.is_empty());
    assert!(a.notes.iter().any(|n| n.contains("nothing was written")));
}

#[test]
fn tiering_is_priced_per_leader_with_the_intervals_that_pace_it() {
    // 1 MiB/s over three partitions of 105 MiB (10 MiB segments: 100 MiB closed in each);
    // broker 1 leads two of them.
    let big = topic(
        "big",
        &[("retention.ms", "604800000"), ("segment.bytes", "10485760")],
        Reading {
            bytes: 255 * MIB_U,
            log_start: 0,
            log_end: 255_000,
        },
        Reading {
            bytes: 315 * MIB_U,
            log_start: 0,
            log_end: 315_000,
        },
    );
    let mut o = observed(vec![big], Vec::new());
    o.topics[0].partitions = 3;
    o.partitions = parts("big", 105 * MIB_U, &[&[1, 2, 3], &[1, 3, 2], &[2, 3, 1]]);
    for b in &mut o.brokers {
        b.remote_task_interval_ms = Some(500);
        b.retention_check_interval_ms = Some(1_000);
    }
    let opts = AssessOptions {
        local_retention_secs: 60,
        ..Default::default()
    };
    let a = assess(&o, &opts, &Catalog::embedded());
    let tiered = &a.steps[0];
    assert_eq!(tiered.throttle_bytes_per_sec, 2 * MIB_U);
    assert_eq!(tiered.bytes, 300 * MIB_U);
    // The tier throttle is per broker and only leaders upload: broker 1's 200 MiB at 2 MiB/s
    // less the 2/3 MiB/s it leads, then the copy task's 0.5 s, and one retention check of 1 s
    // (315 MiB is more than a minute of ingress plus three active segments: local deletes).
    let want = 200.0 / (2.0 - 2.0 / 3.0) + 0.5 + 1.0;
    assert!(
        (tiered.predicted_secs - want).abs() < 1e-6,
        "{} vs {want}: {}",
        tiered.predicted_secs,
        tiered.predicted_how
    );
    assert!(
        tiered
            .command
            .ends_with("--yes ${RETIRE:+--drain-brokers \"$RETIRE\" --throttle 2MiB/s}"),
        "{}",
        tiered.command
    );
    // A local retention that keeps it all: no retention check to wait for.
    let keep = AssessOptions {
        local_retention_secs: 3_600,
        ..Default::default()
    };
    let a = assess(&o, &keep, &Catalog::embedded());
    assert!((a.steps[0].predicted_secs - (want - 1.0)).abs() < 1e-6);
}
