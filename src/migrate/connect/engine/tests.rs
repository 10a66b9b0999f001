//! The Connect engine over an in-memory cluster pair and a fake Connect cluster whose one
//! task copies a few records per poll, commits its offsets like MirrorMaker 2, can fail, and
//! can replay from its last commit (a worker that died before committing).
use std::sync::Mutex;

use super::*;
use crate::connect::{
    ConnectError, ConnectorState, Plugin, SourceOffset, Status, TaskConfig, TaskState, WorkerInfo,
};
use crate::migrate::diskless::copy::add_partitions;
use crate::migrate::diskless::journal::ConnectRecord;
use crate::migrate::mem::{source, Mem, Quiet};

type Key = (String, i32);

#[derive(Default)]
struct FakeState {
    config: Option<BTreeMap<String, String>>,
    running: bool,
    /// The next source offset the task copies, and the last offset it committed.
    next: BTreeMap<Key, i64>,
    committed: BTreeMap<Key, i64>,
    /// Failures still to come, and whether the task is failed now.
    fail: u32,
    failed: bool,
    restarts: Vec<i32>,
    /// Connector restarts (`POST /connectors/{name}/restart`).
    connector_restarts: u32,
    /// Replay once from the last commit after this many records are copied.
    replay_after: Option<usize>,
    copied: usize,
    /// Restarts left before the task copies anything (it reports RUNNING meanwhile, as a
    /// task a rebalance left paused on a worker does).
    idle: u32,
    /// The offsets API answers every other read short (without the committed offsets), as
    /// a read of the offsets topic that has not caught up does; counts the reads.
    flap: bool,
    reads: u32,
    /// Status reads still to report RUNNING while the connector is paused (the view of a
    /// worker that has not caught up after a rebalance).
    stale_status: u32,
    /// Resume calls still to answer 409 (the cluster is rebalancing), and the calls made.
    conflicts: u32,
    resumes: u32,
}

struct Fake {
    src: Mem,
    tgt: Mem,
    st: Mutex<FakeState>,
}

impl Fake {
    /// One poll's worth of copying: up to 7 records, then a commit (or, once, a replay).
    fn work(&self) {
        let mut st = self.st.lock().unwrap();
        if !st.running || st.failed || st.idle > 0 {
            return;
        }
        let k: Key = ("t".into(), 0);
        let from = *st.next.entry(k.clone()).or_insert(0);
        let recs: Vec<_> = self.src.0.lock().unwrap().parts[&k]
            .0
            .iter()
            .filter(|r| r.offset >= from)
            .take(7)
            .cloned()
            .collect();
        {
            let mut t = self.tgt.0.lock().unwrap();
            let (out, high) = t.parts.entry(k.clone()).or_default();
            for r in &recs {
                let mut c = r.clone();
                c.offset = *high;
                *high += 1;
                out.push(c);
            }
        }
        let Some(last) = recs.last() else { return };
        st.next.insert(k.clone(), last.offset + 1);
        st.copied += recs.len();
        if st.replay_after.is_some_and(|n| st.copied >= n) {
            st.replay_after = None;
            // Died before committing: the next incarnation starts after the last commit.
            let back = st.committed.get(&k).map_or(0, |c| c + 1);
            st.next.insert(k, back);
            return;
        }
        st.committed.insert(k, last.offset);
    }
}

impl ConnectApi for Fake {
    fn url(&self) -> &str {
        "http://fake:8083"
    }
    fn info(&self) -> Result<WorkerInfo, ConnectError> {
        Ok(WorkerInfo {
            version: "4.1.1".into(),
            commit: String::new(),
            kafka_cluster_id: String::new(),
        })
    }
    fn plugins(&self) -> Result<Vec<Plugin>, ConnectError> {
        Ok(Vec::new())
    }
    fn validate(
        &self,
        _: &str,
        _: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, Vec<String>>, ConnectError> {
        Ok(BTreeMap::new())
    }
    fn config(&self, _: &str) -> Result<Option<BTreeMap<String, String>>, ConnectError> {
        Ok(self.st.lock().unwrap().config.clone())
    }
    fn tasks(&self, _: &str) -> Result<Vec<TaskConfig>, ConnectError> {
        Ok(vec![TaskConfig {
            id: 0,
            config: [
                ("task.index".to_string(), "0".to_string()),
                ("task.assigned.partitions".to_string(), "t-0".to_string()),
            ]
            .into(),
        }])
    }
    fn put_config(&self, _: &str, c: &BTreeMap<String, String>) -> Result<(), ConnectError> {
        let mut st = self.st.lock().unwrap();
        st.config = Some(c.clone());
        st.running = true;
        Ok(())
    }
    fn status(&self, name: &str) -> Result<Option<Status>, ConnectError> {
        let mut st = self.st.lock().unwrap();
        if st.running && !st.failed && st.fail > 0 {
            st.fail -= 1;
            st.failed = true;
        }
        let shown = st.running || st.stale_status > 0;
        st.stale_status = st.stale_status.saturating_sub(1);
        let state = if shown { "RUNNING" } else { "PAUSED" };
        Ok(st.config.as_ref().map(|_| Status {
            name: name.into(),
            connector: ConnectorState {
                state: state.into(),
                worker_id: "w1".into(),
                trace: None,
            },
            tasks: vec![TaskState {
                id: 0,
                state: if st.failed { "FAILED" } else { state }.into(),
                worker_id: "w1".into(),
                trace: st
                    .failed
                    .then(|| "java.lang.IllegalStateException: boom".into()),
            }],
        }))
    }
    fn pause(&self, _: &str) -> Result<(), ConnectError> {
        self.st.lock().unwrap().running = false;
        Ok(())
    }
    fn resume(&self, name: &str) -> Result<(), ConnectError> {
        let mut st = self.st.lock().unwrap();
        st.resumes += 1;
        if st.conflicts > 0 {
            st.conflicts -= 1;
            return Err(ConnectError::Api {
                method: "PUT",
                path: format!("/connectors/{name}/resume"),
                status: 409,
                message: "Cannot complete request momentarily due to stale configuration".into(),
            });
        }
        st.running = true;
        Ok(())
    }
    fn restart_task(&self, _: &str, task: i32) -> Result<(), ConnectError> {
        let mut st = self.st.lock().unwrap();
        st.failed = false;
        st.idle = st.idle.saturating_sub(1);
        st.restarts.push(task);
        Ok(())
    }
    fn restart(&self, _: &str) -> Result<(), ConnectError> {
        self.st.lock().unwrap().connector_restarts += 1;
        Ok(())
    }
    fn delete(&self, _: &str) -> Result<(), ConnectError> {
        let mut st = self.st.lock().unwrap();
        st.config = None;
        st.running = false;
        Ok(())
    }
    fn offsets(&self, _: &str) -> Result<Vec<SourceOffset>, ConnectError> {
        self.work();
        let mut st = self.st.lock().unwrap();
        st.reads += 1;
        assert!(st.reads < 20_000, "the engine never saw the stall");
        if st.flap && st.reads.is_multiple_of(2) {
            return Ok(Vec::new());
        }
        Ok(st
            .committed
            .iter()
            .map(|((t, p), o)| SourceOffset {
                topic: t.clone(),
                partition: *p,
                offset: *o,
            })
            .collect())
    }
}

/// Client quotas: what was there before, and every value set.
#[derive(Default)]
struct FakeQuotas {
    now: BTreeMap<String, f64>,
    sets: Vec<(String, Option<f64>)>,
}

impl Quotas for FakeQuotas {
    fn get(&mut self, id: &str) -> Result<Option<f64>, KafkaError> {
        Ok(self.now.get(id).copied())
    }
    fn set(&mut self, id: &str, v: Option<f64>) -> Result<(), KafkaError> {
        self.sets.push((id.into(), v));
        match v {
            Some(v) => self.now.insert(id.into(), v),
            None => self.now.remove(id),
        };
        Ok(())
    }
}

fn setup(fail: u32, replay_after: Option<usize>) -> (Fake, DisklessJournal, tempfile::TempDir) {
    let src = source();
    let tgt = Mem::default();
    let mut j = DisklessJournal::new("mem", "mem", "t");
    add_partitions(&mut j, &src, &tgt, &[("t".into(), 1)]).unwrap();
    j.connect = Some(ConnectRecord {
        url: "http://fake:8083".into(),
        connector: "c".into(),
        exactly_once: false,
        quotas: BTreeMap::new(),
        deleted: false,
    });
    let fake = Fake {
        src,
        tgt,
        st: Mutex::new(FakeState {
            fail,
            replay_after,
            ..Default::default()
        }),
    };
    (fake, j, tempfile::tempdir().unwrap())
}

fn opts() -> ConnectOptions {
    ConnectOptions {
        config: [("tasks.max".to_string(), "1".to_string())].into(),
        throttle: Some(1_000_000),
        leader: [(("t".to_string(), 0), 1)].into(),
        sizes: [(("t".to_string(), 0), 10_000)].into(),
        quota_floor: 0,
        stall: Duration::from_secs(5),
        poll: Duration::from_millis(1),
        stop: Arc::new(AtomicBool::new(false)),
    }
}

const ID: &str = "source->target|c-0|replication-consumer";

#[test]
fn a_failed_task_is_restarted_once_a_replay_is_mapped_and_the_quota_restored() {
    let (fake, mut j, dir) = setup(1, Some(30));
    let path = dir.path().join("j.json");
    let mut quotas = FakeQuotas::default();
    quotas.now.insert(ID.into(), 5.0);
    let (src, tgt) = (fake.src.clone(), fake.tgt.clone());
    let mut e = ConnectEngine::new(&src, &tgt, &fake, &mut quotas, opts());
    let stats = e.copy(&mut j, &path, &Quiet).unwrap();
    let report = e.verify(&mut j, &path, &Quiet).unwrap();
    assert!(report.ok, "{:?}", report.differences);
    let source_records = src.0.lock().unwrap().parts[&("t".to_string(), 0)].0.clone();
    assert_eq!(stats.records, source_records.len() as u64);
    let st = fake.st.lock().unwrap();
    assert_eq!(st.restarts, vec![0], "restarted once");
    assert!(!st.running, "paused at the end of the run");
    // The replay: the target holds more records than the source; the map points every
    // source record at its last copy, which is that record.
    let p = &j.partitions[0];
    assert_eq!(p.duplicates.len(), 1, "{:?}", p.duplicates);
    let target = tgt.0.lock().unwrap().parts[&("t".to_string(), 0)].0.clone();
    assert!(target.len() > source_records.len());
    for r in &source_records {
        let t = p.map.target_of(r.offset).expect("mapped");
        let copy = &target[t as usize];
        assert_eq!((&copy.key, &copy.value), (&r.key, &r.value));
    }
    assert_eq!(p.map.target_next(), Some(target.len() as i64));
    // The quota was set for the task and is back to what it was; nothing is journaled.
    assert!(quotas
        .sets
        .iter()
        .any(|(id, v)| id == ID && v.is_some_and(|v| v < 1_000_000.0)));
    assert_eq!(quotas.now.get(ID), Some(&5.0));
    assert!(j.connect.as_ref().unwrap().quotas.is_empty());
}

#[test]
fn an_idle_task_is_restarted_once_and_a_stall_names_the_task_states() {
    let (fake, mut j, dir) = setup(0, None);
    fake.st.lock().unwrap().idle = 1;
    let path = dir.path().join("j.json");
    let mut quotas = FakeQuotas::default();
    let (src, tgt) = (fake.src.clone(), fake.tgt.clone());
    let o = ConnectOptions {
        stall: Duration::from_millis(900),
        ..opts()
    };
    let mut e = ConnectEngine::new(&src, &tgt, &fake, &mut quotas, o.clone());
    e.copy(&mut j, &path, &Quiet).unwrap();
    assert_eq!(fake.st.lock().unwrap().restarts, vec![0]);
    assert!(e.verify(&mut j, &path, &Quiet).unwrap().ok);

    // Idle through the one restart: the run stops at the stall and says what the workers
    // report.
    let (fake, mut j, dir) = setup(0, None);
    fake.st.lock().unwrap().idle = 2;
    let path = dir.path().join("j.json");
    let (src, tgt) = (fake.src.clone(), fake.tgt.clone());
    let mut e = ConnectEngine::new(&src, &tgt, &fake, &mut quotas, o);
    let err = e.copy(&mut j, &path, &Quiet).unwrap_err().to_string();
    assert!(
        err.contains("made no progress") && err.contains("task 0 RUNNING on w1"),
        "{err}"
    );
    assert_eq!(fake.st.lock().unwrap().restarts, vec![0]);
}

#[test]
fn offsets_that_only_change_are_no_progress_and_the_stall_names_the_quotas() {
    let (fake, mut j, dir) = setup(0, None);
    {
        let mut st = fake.st.lock().unwrap();
        st.idle = 2;
        st.flap = true;
        st.committed.insert(("t".into(), 0), 3);
    }
    let path = dir.path().join("j.json");
    let mut quotas = FakeQuotas::default();
    let (src, tgt) = (fake.src.clone(), fake.tgt.clone());
    let o = ConnectOptions {
        stall: Duration::from_millis(600),
        ..opts()
    };
    let mut e = ConnectEngine::new(&src, &tgt, &fake, &mut quotas, o);
    let err = e.copy(&mut j, &path, &Quiet).unwrap_err();
    let DisklessError::Stalled { message, hint } = &err else {
        panic!("{err}")
    };
    assert!(message.contains("made no progress"), "{message}");
    assert!(
        message.contains(&format!("quotas in force: {ID} ")),
        "{message}"
    );
    assert!(hint.contains("/connectors/c/status"), "{hint}");
}

#[test]
fn a_task_that_fails_again_stops_the_run_with_its_trace_and_restores_the_quota() {
    let (fake, mut j, dir) = setup(2, None);
    let path = dir.path().join("j.json");
    let mut quotas = FakeQuotas::default();
    let (src, tgt) = (fake.src.clone(), fake.tgt.clone());
    let mut e = ConnectEngine::new(&src, &tgt, &fake, &mut quotas, opts());
    let err = e.copy(&mut j, &path, &Quiet).unwrap_err().to_string();
    assert!(
        err.contains("failed again") && err.contains("boom"),
        "{err}"
    );
    assert!(!fake.st.lock().unwrap().running, "paused after the failure");
    // No quota before: removed again.
    assert_eq!(quotas.sets.last(), Some(&(ID.to_string(), None)));
    assert!(quotas.now.is_empty());
    // --cancel deletes the connector.
    cancel(&mut j, &path, &fake, &mut quotas).unwrap();
    assert!(fake.st.lock().unwrap().config.is_none());
    assert!(j.connect.as_ref().unwrap().deleted);
}

/// A connector a previous run paused, whose status still reads RUNNING (a worker rejoined and
/// the cluster is rebalancing), and whose resume is answered 409 twice: the run resumes it
/// anyway, waits the conflicts out, and copies everything (a connector left paused copies
/// nothing and ends in a stall).
#[test]
fn a_paused_connector_is_resumed_though_its_status_lags_and_409s_are_waited_out() {
    let (fake, mut j, dir) = setup(0, None);
    {
        let mut st = fake.st.lock().unwrap();
        st.config = Some(opts().config);
        st.running = false;
        st.stale_status = 10;
        st.conflicts = 2;
    }
    let path = dir.path().join("j.json");
    let mut quotas = FakeQuotas::default();
    let (src, tgt) = (fake.src.clone(), fake.tgt.clone());
    let mut e = ConnectEngine::new(&src, &tgt, &fake, &mut quotas, opts());
    let stats = e.copy(&mut j, &path, &Quiet).unwrap();
    let n = src.0.lock().unwrap().parts[&("t".to_string(), 0)].0.len();
    assert_eq!(stats.records, n as u64);
    let st = fake.st.lock().unwrap();
    assert_eq!(st.resumes, 3, "two 409s, then the resume");
    assert!(st.restarts.is_empty(), "no stall, no restart");
}

/// Connect answers 409 while its workers rebalance, and 500 "rebalance is expected" just before
/// one (seen on a loaded CI machine, on GET /connectors/NAME/tasks): both are waited out; any
/// other 500 is not.
#[test]
fn rebalance_answers_are_waited_out_and_other_errors_are_not() {
    use crate::connect::ConnectError;
    let err = |status: u16, message: &str| ConnectError::Api {
        method: "GET",
        path: "/connectors/c/tasks".into(),
        status,
        message: message.into(),
    };
    let calls = std::cell::Cell::new(0);
    let r = while_rebalancing(|| {
        calls.set(calls.get() + 1);
        match calls.get() {
            1 => Err(err(
                500,
                "Request cannot be completed because a rebalance is expected",
            )),
            2 => Err(err(409, "rebalance in progress")),
            _ => Ok(7),
        }
    });
    assert_eq!(r.unwrap(), 7);
    assert_eq!(calls.get(), 3);
    calls.set(0);
    let r: Result<i32, _> = while_rebalancing(|| {
        calls.set(calls.get() + 1);
        Err(err(500, "Internal error"))
    });
    assert!(r.is_err());
    assert_eq!(calls.get(), 1);
}

/// The topic sync's admin calls with nothing to change (configs empty on both sides).
struct NoTopicChanges;

impl crate::migrate::diskless::topics::TopicAdmin for NoTopicChanges {
    fn source_configs(
        &mut self,
        _: &str,
    ) -> Result<BTreeMap<String, String>, crate::kafka::KafkaError> {
        Ok(BTreeMap::new())
    }
    fn target_configs(
        &mut self,
        _: &str,
    ) -> Result<BTreeMap<String, String>, crate::kafka::KafkaError> {
        Ok(BTreeMap::new())
    }
    fn set_target_configs(
        &mut self,
        _: &str,
        _: &[crate::kafka::ConfigOp],
    ) -> Result<(), crate::kafka::KafkaError> {
        Ok(())
    }
    fn add_target_partitions(&mut self, _: &str, _: i32) -> Result<(), crate::kafka::KafkaError> {
        Ok(())
    }
    fn create_target_topic(
        &mut self,
        _: &str,
        _: i32,
        _: &BTreeMap<String, String>,
    ) -> Result<(), crate::kafka::KafkaError> {
        Ok(())
    }
}

#[test]
fn a_follower_on_connect_copies_what_is_new_each_round_and_leaves_quiet_rounds_alone() {
    use crate::migrate::diskless::follow::{follow, Copier};
    use crate::migrate::diskless::workflow::Follow;
    let (fake, mut j, dir) = setup(0, None);
    let path = dir.path().join("j.json");
    let mut quotas = FakeQuotas::default();
    let (src, tgt) = (fake.src.clone(), fake.tgt.clone());
    let first = src.0.lock().unwrap().parts[&("t".to_string(), 0)].0.len();
    let o = opts();
    let stop = o.stop.clone();
    // Beside the follower: once the backlog is on the target, 20 new records on the source;
    // once those are there too, the signal.
    let writer = {
        let (src, tgt, stop) = (src.clone(), tgt.clone(), stop.clone());
        std::thread::spawn(move || {
            let on_target = || {
                tgt.0
                    .lock()
                    .unwrap()
                    .parts
                    .get(&("t".to_string(), 0))
                    .map_or(0, |p| p.0.len())
            };
            while on_target() < first {
                std::thread::sleep(Duration::from_millis(5));
            }
            // Let quiet rounds pass first (the first round's pause takes a second).
            std::thread::sleep(Duration::from_millis(2_500));
            {
                let mut s = src.0.lock().unwrap();
                let (recs, high) = s.parts.get_mut(&("t".to_string(), 0)).unwrap();
                for _ in 0..20 {
                    recs.push(crate::migrate::mem::rec("t", 0, *high));
                    *high += 1;
                }
            }
            while on_target() < first + 20 {
                std::thread::sleep(Duration::from_millis(5));
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let mut e = ConnectEngine::new(&src, &tgt, &fake, &mut quotas, o);
    let f = Follow {
        interval: Duration::from_millis(10),
        sync_groups: None,
        sync_interval: Duration::from_secs(3600),
        allow_compacted: false,
    };
    let (stats, v, _) = follow(
        &mut j,
        &path,
        (&src, &tgt),
        &mut NoTopicChanges,
        Copier {
            engine: &mut e,
            stop: &stop,
            throttle: Some(1_000_000),
        },
        &f,
        (&Quiet, &Quiet),
    )
    .unwrap();
    writer.join().unwrap();
    assert!(v.ok, "{:?}", v.differences);
    assert_eq!(stats.records, first as u64 + 20);
    assert_eq!(j.partitions[0].map.records() as usize, first + 20);
    let st = fake.st.lock().unwrap();
    assert!(!st.running, "paused between rounds and at the end");
    // Two rounds had records to copy; the quiet rounds in between did not touch the connector.
    assert_eq!(st.resumes, 2, "resumed once per round with work");
    assert!(quotas.now.is_empty(), "quotas restored: {:?}", quotas.now);
}

/// Records what a step observes for the metrics.
#[derive(Default)]
struct Observed(Mutex<Vec<crate::run::progress::Observation>>);

impl crate::run::progress::Progress for Observed {
    fn update(&self, _: u64, _: u64, _: usize, _: &crate::run::progress::Stage) {}
    fn finish(&self) {}
    fn observe(&self, o: &crate::run::progress::Observation) {
        self.0.lock().unwrap().push(o.clone());
    }
}

#[test]
fn the_copy_reports_its_lag_in_records_and_in_bytes_at_the_mean_record_size() {
    use crate::run::progress::Observation;
    let (fake, mut j, dir) = setup(0, None);
    let path = dir.path().join("j.json");
    let mut quotas = FakeQuotas::default();
    let (src, tgt) = (fake.src.clone(), fake.tgt.clone());
    let (start, high) = (j.partitions[0].start, src.watermarks("t", 0).unwrap().1);
    let seen = Observed::default();
    let mut e = ConnectEngine::new(&src, &tgt, &fake, &mut quotas, opts());
    e.copy(&mut j, &path, &seen).unwrap();
    let lags: Vec<(u64, u64)> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .filter_map(|o| match o {
            Observation::PartitionCopy {
                lag_records,
                lag_bytes,
                ..
            } => Some((*lag_records, *lag_bytes)),
            _ => None,
        })
        .collect();
    // opts() gives the partition 10,000 bytes over the offsets since the copy began.
    let mean = 10_000.0 / (high - start) as f64;
    assert!(lags.iter().any(|&(r, _)| r > 0), "{lags:?}");
    for (r, b) in lags {
        assert_eq!(b, (r as f64 * mean) as u64);
    }
}

#[test]
fn the_connector_topics_follow_the_journal_new_topics_in_deleted_ones_out() {
    let src = Mem::default();
    {
        let mut s = src.0.lock().unwrap();
        for t in ["t", "orders.v2", "gone"] {
            s.parts.insert((t.to_string(), 0), (Vec::new(), 0));
        }
    }
    let mut j = DisklessJournal::new("mem", "mem", "t|orders\\..*|gone");
    add_partitions(&mut j, &src, &src, &[("t".into(), 1), ("gone".into(), 1)]).unwrap();
    assert_eq!(super::followed_topics(&j), "gone,t");
    // The topic sync added a topic and marked one deleted on the source.
    add_partitions(&mut j, &src, &src, &[("orders.v2".into(), 1)]).unwrap();
    for p in j.partitions.iter_mut().filter(|p| p.topic == "gone") {
        p.source_deleted = true;
    }
    assert_eq!(super::followed_topics(&j), "orders\\.v2,t");
}
