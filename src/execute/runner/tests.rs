use super::*;
use crate::assign::Cluster;
use crate::execute::scheduler::mv;
use crate::kafka::{ConfigOp, Ongoing, PartitionStates};

/// An in-memory cluster: reassignments finish after two polls; ISR can be low for a while.
#[derive(Default)]
struct Fake {
    assign: BTreeMap<(String, i32), Vec<i32>>,
    ongoing: BTreeMap<(String, i32), (Vec<i32>, u32)>,
    configs: BTreeMap<(Option<i32>, Option<String>), BTreeMap<String, String>>,
    low_isr_polls: u32,
    polls: u32,
    submissions: Vec<((String, i32), u32)>,
    /// A broker that is down for the first `offline_polls` polls (calls to it fail).
    offline: Option<(i32, u32)>,
    /// Config changes by broker and the poll they came at.
    broker_changes: Vec<(i32, u32)>,
}

impl Fake {
    fn down(&self, b: i32) -> bool {
        self.offline
            .is_some_and(|(o, polls)| o == b && self.polls <= polls)
    }
}

impl ClusterAdmin for Fake {
    async fn snapshot(&mut self) -> Result<Cluster, KafkaError> {
        Ok(Cluster::default())
    }
    async fn partitions(&mut self, topics: &[String]) -> Result<PartitionStates, KafkaError> {
        self.polls += 1;
        let replicas: BTreeMap<(String, i32), Vec<i32>> = self
            .assign
            .iter()
            .filter(|((t, _), _)| topics.contains(t))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut in_sync = replicas.clone();
        if self.polls <= self.low_isr_polls {
            in_sync.insert(("t".into(), 0), vec![1]);
        }
        let down = |b: &i32| self.down(*b);
        Ok(PartitionStates {
            live_brokers: (1..=6).filter(|b| !down(b)).collect(),
            leaders: replicas
                .iter()
                .filter_map(|(k, r)| r.iter().find(|b| !self.down(**b)).map(|&l| (k.clone(), l)))
                .collect(),
            replicas,
            in_sync,
        })
    }
    async fn replica_bytes(
        &mut self,
        _: i32,
        partitions: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), u64>, KafkaError> {
        Ok(partitions.iter().map(|k| (k.clone(), 1)).collect())
    }
    async fn alter_reassignments(
        &mut self,
        moves: &[(String, i32, Option<Vec<i32>>)],
    ) -> Result<Vec<(String, i32, KafkaError)>, KafkaError> {
        for (t, p, r) in moves {
            self.submissions.push(((t.clone(), *p), self.polls));
            self.ongoing
                .insert((t.clone(), *p), (r.clone().expect("no cancels here"), 2));
        }
        Ok(vec![])
    }
    async fn list_reassignments(&mut self) -> Result<Vec<Ongoing>, KafkaError> {
        let mut out = Vec::new();
        let keys: Vec<(String, i32)> = self.ongoing.keys().cloned().collect();
        for k in keys {
            let (target, left) = self.ongoing.get_mut(&k).expect("key");
            if *left == 0 {
                let target = target.clone();
                self.assign.insert(k.clone(), target);
                self.ongoing.remove(&k);
            } else {
                *left -= 1;
                out.push(Ongoing {
                    topic: k.0.clone(),
                    partition: k.1,
                    replicas: target.clone(),
                    adding: vec![],
                    removing: vec![],
                });
            }
        }
        Ok(out)
    }
    async fn describe_configs(
        &mut self,
        b: Option<i32>,
        t: Option<&str>,
    ) -> Result<BTreeMap<String, String>, KafkaError> {
        self.dynamic_configs(b, t).await
    }
    async fn dynamic_configs(
        &mut self,
        b: Option<i32>,
        t: Option<&str>,
    ) -> Result<BTreeMap<String, String>, KafkaError> {
        Ok(self
            .configs
            .get(&(b, t.map(str::to_string)))
            .cloned()
            .unwrap_or_default())
    }
    async fn alter_configs(
        &mut self,
        b: Option<i32>,
        t: Option<&str>,
        ops: &[ConfigOp],
    ) -> Result<(), KafkaError> {
        if let Some(b) = b {
            if self.down(b) {
                return Err(KafkaError::BrokerDown {
                    id: b,
                    address: format!("127.0.0.1:{}", 9000 + b),
                    message: "Connection refused".into(),
                });
            }
            self.broker_changes.push((b, self.polls));
        }
        let c = self.configs.entry((b, t.map(str::to_string))).or_default();
        for (k, v) in ops {
            match v {
                Some(v) => c.insert(k.clone(), v.clone()),
                None => c.remove(k),
            };
        }
        Ok(())
    }
    async fn elect_preferred(&mut self, _: &[(String, i32)]) -> Result<(), KafkaError> {
        Ok(())
    }
    async fn list_offsets(
        &mut self,
        _: &[(String, i32)],
        _: i64,
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
        Ok(BTreeMap::new())
    }
    async fn disk_space(&mut self, _: i32) -> Result<Option<crate::kafka::DiskSpace>, KafkaError> {
        Ok(None)
    }
    async fn validate_configs(&mut self, _: &str, _: &[ConfigOp]) -> Result<(), KafkaError> {
        Ok(())
    }
    fn broker_address(&self, b: i32) -> Option<String> {
        Some(format!("127.0.0.1:{}", 9000 + b))
    }
}

/// Execute `moves` on the fake (2 per broker, 1 ms polls) until done; the report and the
/// journal at the end.
fn run_to_the_end(
    fake: &mut Fake,
    moves: Vec<Move>,
    min_isr_guard: Option<usize>,
) -> (ExecReport, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.json");
    let mut j = Journal::new(moves, "fake:9092", 100, false);
    let opts = ExecOptions {
        min_isr_guard,
        ..fast()
    };
    let report = block(execute(fake, &mut j, &path, &opts, &Quiet)).unwrap();
    (report, j)
}

/// The options the fake runs use: 2 moves per broker, 1 ms polls.
fn fast() -> ExecOptions {
    ExecOptions {
        max_per_broker: 2,
        additional: false,
        min_isr_guard: None,
        poll: Duration::from_millis(1),
    }
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Broker 4 (down for the first three polls) was asked nothing until it was back, and
/// cleanup restored its leader rate to the value from before the first run (7).
fn assert_broker_4_throttled_only_once_back_and_restored(fake: &Fake) {
    let to_4: Vec<u32> = fake
        .broker_changes
        .iter()
        .filter(|(b, _)| *b == 4)
        .map(|(_, p)| *p)
        .collect();
    assert!(!to_4.is_empty() && to_4.iter().all(|&p| p > 3), "{to_4:?}");
    assert_eq!(
        fake.configs[&(Some(4), None)],
        [(LEADER_RATE.to_string(), "7".to_string())].into()
    );
}

use crate::run::progress::Quiet;

#[test]
fn a_dead_brokers_replica_moves_off_and_its_throttle_waits_until_it_is_back() {
    // Broker 4 holds a replica that moves to broker 3; broker 4 is down for three polls.
    let mv = mv(0, &[1, 4, 2], &[1, 3, 2], 10);
    let mut fake = Fake {
        offline: Some((4, 3)),
        ..Default::default()
    };
    fake.assign.insert(("t".into(), 0), mv.from.clone());
    fake.configs.insert(
        (Some(4), None),
        [(LEADER_RATE.to_string(), "7".to_string())].into(),
    );
    let (report, _) = run_to_the_end(&mut fake, vec![mv], None);
    assert!(report.verified, "{report:?}");
    // The move did not wait for broker 4, whose throttles were set once it was back.
    assert_eq!(fake.submissions[0].1, 2, "{:?}", fake.submissions);
    assert_broker_4_throttled_only_once_back_and_restored(&fake);
}

#[test]
fn min_isr_guard_holds_moves_and_cleanup_restores_previous_configs() {
    let moves = vec![
        mv(0, &[1, 4, 2], &[1, 3, 2], 10),
        mv(1, &[4, 1, 5], &[4, 6, 5], 10),
    ];
    let mut fake = Fake {
        low_isr_polls: 3,
        ..Default::default()
    };
    for m in &moves {
        fake.assign
            .insert((m.topic.clone(), m.partition), m.from.clone());
    }
    // Someone else's throttle on broker 1, and an unrelated key: both must survive.
    fake.configs.insert(
        (Some(1), None),
        [
            (LEADER_RATE.to_string(), "999".to_string()),
            ("log.cleaner.threads".into(), "2".into()),
        ]
        .into(),
    );
    let (report, j) = run_to_the_end(&mut fake, moves.clone(), Some(2));
    assert!(report.verified, "{report:?}");
    assert_eq!(report.phase, Phase::Complete);
    // Partition 0 was held while its ISR was below 2; partition 1 started at once.
    let when = |p: i32| fake.submissions.iter().find(|(k, _)| k.1 == p).unwrap().1;
    assert!(when(0) > 3, "{:?}", fake.submissions);
    // (poll 1 reads the live brokers before the throttles; poll 2 is the loop's first)
    assert!(when(1) <= 2, "{:?}", fake.submissions);
    // Each move submitted exactly once.
    assert_eq!(fake.submissions.len(), 2);
    // Cleanup: the earlier value is restored, our keys are gone, nothing else touched.
    let b1 = &fake.configs[&(Some(1), None)];
    assert_eq!(b1.get(LEADER_RATE).map(String::as_str), Some("999"));
    assert_eq!(b1.get("log.cleaner.threads").map(String::as_str), Some("2"));
    assert!(!b1.contains_key(FOLLOWER_RATE));
    for ((b, t), c) in &fake.configs {
        if *b != Some(1) {
            assert!(
                c.keys().all(|k| !k.contains("throttled")),
                "{b:?} {t:?} {c:?}"
            );
        }
    }
    assert!(j.throttles.is_empty());
}

#[test]
fn fetch_advice_names_untuned_brokers_only() {
    let cfg = |backoff: &str, wait: &str| -> BTreeMap<String, String> {
        [
            ("replica.fetch.backoff.ms".to_string(), backoff.to_string()),
            ("replica.fetch.wait.max.ms".to_string(), wait.to_string()),
        ]
        .into()
    };
    let mut configs = BTreeMap::new();
    configs.insert(1, cfg("100", "100"));
    assert!(
        fetch_advice(&configs).is_empty(),
        "tuned brokers get no advice"
    );
    configs.insert(2, cfg("1000", "500"));
    configs.insert(3, cfg("1000", "500"));
    configs.insert(4, cfg("100", "500"));
    configs.insert(5, BTreeMap::new());
    let advice = fetch_advice(&configs);
    assert_eq!(advice.len(), 2, "{advice:?}");
    assert!(advice
        .iter()
        .any(|a| a.starts_with("broker(s) [2, 3] have replica.fetch.backoff.ms=1000")));
    assert!(advice.iter().any(|a| a.starts_with("broker(s) [4] ")));
}

#[test]
fn throttles_cover_sources_and_new_replicas() {
    let moves = vec![mv(3, &[1, 2, 3], &[4, 2, 3], 1)];
    let t = throttles_for(&moves, 100, &[(4, 7)].into());
    let lr = t.iter().find(|x| x.key == LEADER_REPLICAS).unwrap();
    assert_eq!(lr.value, "3:1,3:2,3:3");
    let fr = t.iter().find(|x| x.key == FOLLOWER_REPLICAS).unwrap();
    assert_eq!(fr.value, "3:4");
    let rates: BTreeMap<i32, String> = t
        .iter()
        .filter(|x| x.key == LEADER_RATE)
        .map(|x| (x.broker.unwrap(), x.value.clone()))
        .collect();
    assert_eq!(rates.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert_eq!(
        (rates[&1].as_str(), rates[&4].as_str()),
        ("100", "7"),
        "per-broker override"
    );
    // A pure reorder copies nothing and needs no throttle.
    let reorder = vec![mv(0, &[1, 2], &[2, 1], 1)];
    assert!(throttles_for(&reorder, 100, &BTreeMap::new()).is_empty());
}

#[test]
fn cleanup_keeps_an_unreachable_brokers_throttles_and_the_next_run_removes_them() {
    let moves = vec![mv(0, &[1, 4, 2], &[1, 3, 2], 10)];
    let mut fake = Fake {
        offline: Some((4, u32::MAX)),
        ..Default::default()
    };
    fake.assign.insert(("t".into(), 0), moves[0].to.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.json");
    let mut j = Journal::new(moves.clone(), "fake:9092", 100, false);
    for m in &mut j.moves {
        m.state = MoveState::Done;
    }
    j.phase = Phase::Finishing;
    // The throttles as a run set them (nothing there before).
    j.throttles = throttles_for(&moves, 100, &BTreeMap::new());
    for t in &j.throttles {
        fake.configs
            .entry((t.broker, t.topic.clone()))
            .or_default()
            .insert(t.key.clone(), t.value.clone());
    }
    // Broker 4 is down at cleanup: everything else is removed, its keys stay, named.
    let r = block(finish(&mut fake, &mut j, &path, &Quiet)).unwrap();
    assert!(r.verified);
    assert_eq!(
        r.cleanup_pending,
        vec![format!(
            "broker 4 (127.0.0.1:9004): {LEADER_RATE}, {FOLLOWER_RATE}"
        )]
    );
    assert_eq!(
        j.phase,
        Phase::Finishing,
        "not complete while keys are left"
    );
    assert!(j.throttles.iter().all(|t| t.broker == Some(4)));
    for ((b, _), c) in &fake.configs {
        if *b != Some(4) {
            assert!(c.keys().all(|k| !k.contains("throttled")), "{b:?} {c:?}");
        }
    }
    let saved = Journal::load(&path).unwrap().unwrap();
    assert_eq!(
        saved.throttles, j.throttles,
        "the journal keeps them for the next run"
    );
    // The broker is back: the next run (resuming the journal) removes them.
    fake.offline = None;
    let r = block(execute(&mut fake, &mut j, &path, &fast(), &Quiet)).unwrap();
    assert!(r.cleanup_pending.is_empty());
    assert_eq!(r.throttles_removed, 2);
    assert_eq!(j.phase, Phase::Complete);
    assert!(j.throttles.is_empty());
    assert!(fake.configs[&(Some(4), None)].is_empty());
}

#[test]
fn a_resumed_run_sets_a_down_brokers_throttle_when_it_is_back_and_keeps_its_previous_value() {
    let moves = vec![mv(0, &[1, 4, 2], &[1, 3, 2], 10)];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j.json");
    let mut j = Journal::new(moves.clone(), "fake:9092", 100, false);
    // A run recorded broker 4's earlier value (7) and set its throttle, then died.
    j.throttles = throttles_for(&moves, 100, &BTreeMap::new());
    for t in j
        .throttles
        .iter_mut()
        .filter(|t| t.broker == Some(4) && t.key == LEADER_RATE)
    {
        t.previous = Some("7".into());
    }
    let mut fake = Fake {
        offline: Some((4, 3)),
        ..Default::default()
    };
    fake.assign.insert(("t".into(), 0), moves[0].from.clone());
    fake.configs.insert(
        (Some(4), None),
        [(LEADER_RATE.to_string(), "100".to_string())].into(),
    );
    let r = block(execute(&mut fake, &mut j, &path, &fast(), &Quiet)).unwrap();
    assert!(r.verified && r.cleanup_pending.is_empty(), "{r:?}");
    // Cleanup restored the value from before the first run, not ours.
    assert_broker_4_throttled_only_once_back_and_restored(&fake);
}

#[test]
fn waiting_names_each_broker_its_address_and_what_to_do() {
    let s = waiting_status(&[6].into(), &[(6, 4)].into(), |b| {
        Some(format!("127.0.0.1:{}", 9000 + b))
    });
    assert_eq!(
        s,
        "broker 6 (127.0.0.1:9006) is not reachable; 4 moves wait for it; the other moves go on \
         (wait for it, drain it with --remove-brokers 6, or --cancel)"
    );
    let one = waiting_status(&[2, 5].into(), &[(2, 1)].into(), |_| None);
    assert!(one.starts_with("broker 2 is not reachable; 1 move waits for it; broker 5 is not reachable; 0 moves wait"), "{one}");
    let e = KafkaError::BrokerDown {
        id: 6,
        address: "127.0.0.1:9006".into(),
        message: "Connection refused (os error 111)".into(),
    };
    assert_eq!(
        e.to_string(),
        "broker 6 (127.0.0.1:9006) is not reachable: Connection refused (os error 111)"
    );
    assert!(e.hint().contains("--remove-brokers 6") && e.hint().contains("--cancel"));
    assert!(!e.hint().contains("bootstrap"));
}
