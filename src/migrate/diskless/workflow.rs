//! `migrate diskless` step by step, for both copy engines. The command resolves its flags into
//! [`Settings`], opens the [`Migration`] (the journal, checked against the settings before any
//! connection), and calls one step: [`Migration::plan`] then [`Migration::copy`], or
//! [`Migration::verify`], [`Migration::cutover`], [`Migration::cancel`]. Showing the plan and
//! asking before a change stay with the command; every step returns a [`Report`].
//!
//! The admin plane is async and the copy is blocking (librdkafka has its own threads):
//! [`Connections`] gives the steps both, and connects to a cluster only when a step needs it
//! (a `--cancel` never touches the target).

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;

use super::copy::{self, CopyEngine, CopyOptions};
use super::cutover::{self, CutoverOptions};
use super::error::DisklessError;
use super::journal::{ConnectRecord, DisklessJournal};
use super::plan::{self, CopyPlan, PreflightInput, Problem, SourceTopic, TargetTopic};
use super::report::{report, Report};
use super::sync::GroupSync;
use super::topics::TopicAdmin;
use super::verify;
use crate::connect::{ConnectApi, ConnectError};
use crate::kafka::records::DataCluster;
use crate::kafka::{offset_spec, ClusterAdmin, ConfigOp, KafkaError};
use crate::migrate::connect::engine::{
    self as connect_engine, ConnectEngine, ConnectOptions, Quotas,
};
use crate::migrate::connect::plan::{self as connect, ConnectFacts, ConnectorInput, MIRROR_SOURCE};
use crate::run::progress::{Observation, Progress};
use crate::run::store::{JournalLock, LockError};

/// Which side of the migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

/// How the steps reach the clusters' admin planes.
pub trait Connections {
    type Admin: ClusterAdmin;
    /// Run an admin-plane future to completion (the steps themselves are blocking).
    fn block_on<F: Future>(&self, f: F) -> F::Output;
    /// A new admin connection to one side.
    fn admin(&self, side: Side) -> Result<Self::Admin, KafkaError>;
    /// The source's client quotas (the Connect engine throttles each task through them).
    fn quotas(&self) -> Result<Box<dyn Quotas + '_>, KafkaError>;
}

/// Which engine copies the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// This process reads the source and writes the target.
    Builtin,
    /// A MirrorMaker 2 source connector on a Kafka Connect cluster.
    Connect,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Self::Builtin => "builtin",
            Self::Connect => "connect",
        }
    }
}

/// One side's bootstrap and its client properties as given (the Connect workers take them
/// verbatim; the command builds its own connections from the same file).
#[derive(Debug, Clone, Default)]
pub struct Endpoint {
    pub bootstrap: String,
    pub client: BTreeMap<String, String>,
}

/// Every flag of `migrate diskless`, parsed and checked (the command does that before any I/O).
#[derive(Debug, Clone)]
pub struct Settings {
    pub journal: PathBuf,
    pub source: Endpoint,
    pub target: Endpoint,
    /// `None`: the journal's engine, or the built-in one for a new migration.
    pub engine: Option<Engine>,
    /// `None`: the journal's.
    pub connect_url: Option<String>,
    pub connector: String,
    pub connect_max_tasks: u32,
    /// `None`: the journal's selection (`--verify`, `--cutover`, a resumed copy).
    pub topics: Option<Regex>,
    pub groups: Option<Regex>,
    pub throttle: Option<u64>,
    pub max_in_flight: usize,
    pub allow_compacted: bool,
    pub wait: Duration,
    pub stall: Duration,
    pub wait_for_producers_stopped: bool,
    /// Set by a signal: the copy stops reading, waits for what was sent, saves, returns.
    pub stop: Arc<AtomicBool>,
    /// `--follow`: keep copying until stopped.
    pub follow: Option<Follow>,
}

/// `--follow` and its group sync.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The pause after a round that caught up, before reading the source's ends again.
    pub interval: Duration,
    /// `--sync-groups`, synced every `sync_interval`.
    pub sync_groups: Option<Regex>,
    pub sync_interval: Duration,
    /// New compacted source topics are copied too (`--allow-compacted`).
    pub allow_compacted: bool,
}

/// What the command asked for (checked against the journal when the migration opens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Copy,
    /// `--emit-config`: plan the Connect engine's copy and stop.
    EmitConfig,
    Verify,
    Cutover,
    Cancel,
}

/// `--status`: the journal's report, with no connection.
pub fn status(path: &std::path::Path) -> Result<Report, DisklessError> {
    match load(path)? {
        Some(j) => Ok(report(&j, None, None, None)),
        None => Err(DisklessError::refused(
            format!("no migration journal at {}", path.display()),
            "give --journal the file the migration wrote",
        )),
    }
}

/// The PID of the process that holds the journal (a follower, or another run), if any.
pub fn holder(journal: &std::path::Path) -> Result<Option<String>, DisklessError> {
    match JournalLock::acquire(journal) {
        Ok(_) => Ok(None),
        Err(LockError::Held { pid, .. }) => Ok(Some(pid)),
        Err(LockError::Io { path, source }) => Err(DisklessError::Journal { path, source }),
    }
}

/// `--cutover` while `holder` (a follower) holds the journal: ask it to cut over through the
/// journal's directory and wait for its report.
pub fn cutover_by_holder(s: &Settings, holder: &str) -> Result<Report, DisklessError> {
    let groups = s
        .groups
        .as_ref()
        .expect("clap requires --groups with --cutover");
    let request = super::handoff::Request {
        groups: groups.as_str().to_string(),
        wait_for_producers_stopped: s.wait_for_producers_stopped,
        wait_ms: s.wait.as_millis() as u64,
        pid: std::process::id(),
    };
    // The follower answers between two rounds: a round takes at most the stall time, then the
    // cutover waits for the source at most --wait-timeout and copies the tail.
    let most = s.wait + 2 * s.stall + Duration::from_secs(60);
    super::handoff::ask(&s.journal, &request, holder, most)
}

fn load(path: &std::path::Path) -> Result<Option<DisklessJournal>, DisklessError> {
    DisklessJournal::load(path).map_err(|source| DisklessError::ReadJournal {
        path: path.display().to_string(),
        source,
    })
}

/// The connector part of a plan. Stable field names.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectPlan {
    pub url: String,
    pub version: String,
    pub connector: String,
    pub exactly_once: bool,
    /// Each task's source consumer has its own client id (`source->target|NAME-i|replication-consumer`);
    /// the throttle is split over the tasks and their leaders (about this much per broker).
    pub per_broker_quota: Option<u64>,
    pub leaders: usize,
    pub warnings: Vec<String>,
    /// Secrets masked.
    pub config: BTreeMap<String, String>,
}

/// What [`Migration::plan`] found: the plan, or the problems that stop it (all at once).
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: Option<CopyPlan>,
    pub problems: Vec<Problem>,
    pub connect: Option<ConnectPlan>,
}

/// A migration opened on its journal.
pub struct Migration {
    pub settings: Settings,
    pub engine: Engine,
    journal: Option<DisklessJournal>,
    /// Held while this process works on the journal: a second process is refused.
    _lock: JournalLock,
    /// `--follow --sync-groups`: the last sync of each group.
    synced: Vec<GroupSync>,
}

impl Migration {
    /// Load the journal and check the settings against it: the same engine, the same clusters,
    /// a journal for the steps that need one. Nothing connects yet.
    pub fn open(mut settings: Settings, step: Step) -> Result<Self, DisklessError> {
        let path = settings.journal.clone();
        let lock = JournalLock::acquire(&path).map_err(|e| match e {
            LockError::Held { .. } => DisklessError::refused(
                e.to_string(),
                "wait for it to finish, or stop it (Ctrl-C or kill with that PID: it saves the journal); `--status` reads the journal while it runs",
            ),
            LockError::Io { path, source } => DisklessError::Journal { path, source },
        })?;
        let journal = load(&path)?;
        let journal_engine = journal.as_ref().map(|j| {
            if j.connect.is_some() {
                Engine::Connect
            } else {
                Engine::Builtin
            }
        });
        let engine = match (settings.engine, journal_engine) {
            (Some(e), Some(je)) if e != je => {
                return Err(DisklessError::refused(
                    format!(
                        "{} records a migration copied by the {} engine, not {}",
                        path.display(),
                        je.name(),
                        e.name()
                    ),
                    "keep the engine of the journal (the offset map is built differently), or start another --journal into new target topics",
                ))
            }
            (Some(e), _) | (None, Some(e)) => e,
            (None, None) => Engine::Builtin,
        };
        if settings.connect_url.is_none() {
            settings.connect_url = journal
                .as_ref()
                .and_then(|j| j.connect.as_ref().map(|c| c.url.clone()));
        }
        if engine == Engine::Connect {
            if settings.connect_url.is_none() {
                return Err(DisklessError::refused(
                    "--engine connect needs --connect-url",
                    "give one Connect worker's REST URL, e.g. --connect-url http://connect:8083",
                ));
            }
        } else if matches!(step, Step::Cancel | Step::EmitConfig) {
            return Err(DisklessError::refused(
                "--cancel and --emit-config apply to --engine connect",
                "the built-in copier stops with Ctrl-C and resumes from its journal",
            ));
        }
        if let Some(j) = &journal {
            let (source, target) = (&settings.source.bootstrap, &settings.target.bootstrap);
            if &j.source != source || &j.target != target {
                return Err(DisklessError::refused(
                    format!(
                        "{} holds the migration {} → {}, not {source} → {target}",
                        path.display(),
                        j.source,
                        j.target
                    ),
                    "use the same bootstraps, or another --journal",
                ));
            }
        }
        if matches!(step, Step::Verify | Step::Cutover | Step::Cancel) && journal.is_none() {
            return Err(DisklessError::refused(
                format!("no migration journal at {}: nothing was copied yet", path.display()),
                "copy first (the same command without --verify/--cutover), or give --journal the file the copy wrote",
            ));
        }
        Ok(Self {
            settings,
            engine,
            journal,
            _lock: lock,
            synced: Vec::new(),
        })
    }

    /// The Connect worker's REST URL (`--engine connect`).
    pub fn connect_url(&self) -> Option<&str> {
        self.settings.connect_url.as_deref()
    }

    fn journal(&mut self) -> &mut DisklessJournal {
        self.journal.as_mut().expect("checked when opened")
    }

    fn copy_options(&self) -> CopyOptions {
        CopyOptions {
            throttle: self.settings.throttle,
            max_in_flight: self.settings.max_in_flight,
            stop: self.settings.stop.clone(),
            stall: self.settings.stall,
        }
    }

    /// `--cancel`: delete the connector and restore the quotas it ran under.
    pub fn cancel<C: Connections>(
        &mut self,
        conns: &C,
        api: &dyn ConnectApi,
    ) -> Result<Report, DisklessError> {
        let mut quotas = conns.quotas()?;
        let path = self.settings.journal.clone();
        let j = self.journal();
        connect_engine::cancel(j, &path, api, quotas.as_mut())?;
        Ok(report(j, None, None, None))
    }

    /// `--verify`: read both sides in step from where the last verification stopped.
    pub fn verify(
        &mut self,
        src: &dyn DataCluster,
        tgt: &dyn DataCluster,
        progress: &dyn Progress,
    ) -> Result<Report, DisklessError> {
        let (path, stall, throttle) = (
            self.settings.journal.clone(),
            self.settings.stall,
            self.settings.throttle,
        );
        let engine = self.engine;
        let j = self.journal();
        let v = match engine {
            Engine::Connect => connect_engine::build_and_verify(j, &path, src, tgt, None, stall)?,
            Engine::Builtin => verify::verify(j, &path, src, tgt, stall, progress)?,
        };
        Ok(report(j, None, throttle, Some(v)))
    }

    /// The question to confirm before a cutover.
    pub fn cutover_question(&self) -> String {
        format!(
            "cut over {} topic(s) and translate the groups matching {}?",
            self.journal.as_ref().map_or(0, |j| j.topics().len()),
            self.settings.groups.as_ref().map_or("", |g| g.as_str())
        )
    }

    /// `--cutover`: copy the tail, verify, translate the selected groups exactly.
    pub fn cutover<C: Connections>(
        &mut self,
        conns: &C,
        api: Option<&dyn ConnectApi>,
        src: &dyn DataCluster,
        tgt: &dyn DataCluster,
        progress: &dyn Progress,
    ) -> Result<Report, DisklessError> {
        let opts = CutoverOptions {
            groups: self
                .settings
                .groups
                .clone()
                .expect("clap requires --groups with --cutover"),
            wait_for_producers_stopped: self.settings.wait_for_producers_stopped,
            wait: self.settings.wait,
            poll: Duration::from_millis(500),
        };
        let path = self.settings.journal.clone();
        let throttle = self.settings.throttle;
        let c = match self.engine {
            Engine::Connect => {
                let (mut quotas, copts) = self.connect_setup(conns)?;
                let api = api.expect("--engine connect has a REST client");
                let j = self.journal.as_mut().expect("checked when opened");
                j.runs += 1;
                let mut engine = ConnectEngine::new(src, tgt, api, quotas.as_mut(), copts);
                cutover::cutover(j, &path, src, tgt, &mut engine, &opts, progress)?
            }
            Engine::Builtin => {
                let mut engine = copy::BuiltIn {
                    src,
                    tgt,
                    opts: self.copy_options(),
                };
                let j = self.journal();
                j.runs += 1;
                cutover::cutover(j, &path, src, tgt, &mut engine, &opts, progress)?
            }
        };
        Ok(report(
            self.journal(),
            Some(c.tail),
            throttle,
            Some(c.verify),
        ))
    }

    /// Preflight over both clusters (and the Connect cluster), and the copy plan.
    pub fn plan<C: Connections>(
        &self,
        conns: &C,
        api: Option<&dyn ConnectApi>,
        tgt_data: &dyn DataCluster,
    ) -> Result<Planned, DisklessError> {
        let s = &self.settings;
        let topics = match &s.topics {
            Some(t) => t.clone(),
            None => {
                let text = &self
                    .journal
                    .as_ref()
                    .expect("clap requires --topics")
                    .topics;
                Regex::new(text).map_err(|e| {
                    DisklessError::refused(
                        format!("the journal's topic selection {text:?}: {e}"),
                        "give --topics",
                    )
                })?
            }
        };
        let journaled: BTreeSet<String> = self
            .journal
            .as_ref()
            .map(|j| j.topics().into_iter().collect())
            .unwrap_or_default();
        let mut sa = conns.admin(Side::Source)?;
        let mut ta = conns.admin(Side::Target)?;
        conns.block_on(async {
            let input = read_input(
                &mut sa,
                &mut ta,
                tgt_data,
                &topics,
                journaled,
                s.allow_compacted,
            )
            .await?;
            let (plan, mut problems) = match plan::preflight(&input, s.throttle) {
                Ok(p) => (Some(p), Vec::new()),
                Err(problems) => (None, problems),
            };
            let mut connect_plan = None;
            if self.engine == Engine::Connect {
                let api = api.expect("--engine connect has a REST client");
                let (c, more) = self.plan_connector(&mut sa, &mut ta, api, &input).await?;
                problems.extend(more);
                connect_plan = c;
            }
            Ok(Planned {
                plan,
                problems,
                connect: connect_plan,
            })
        })
    }

    /// The connector this run would put, and what stops it.
    async fn plan_connector<A: ClusterAdmin>(
        &self,
        sa: &mut A,
        ta: &mut A,
        api: &dyn ConnectApi,
        input: &PreflightInput,
    ) -> Result<(Option<ConnectPlan>, Vec<Problem>), DisklessError> {
        let s = &self.settings;
        let mut problems = Vec::new();
        let topics: BTreeMap<String, i32> = input
            .topics
            .iter()
            .map(|t| (t.name.clone(), t.partitions))
            .collect();
        let leaders = connect::leaders(&sa.snapshot().await?, &topics);
        let per_broker = s.throttle.map(|t| connect::per_broker_quota(t, leaders));
        if let Some(t) = s.throttle {
            let max_batch = input
                .topics
                .iter()
                .map(|t| connect::max_batch(&t.configs))
                .max()
                .unwrap_or(connect::DEFAULT_MAX_MESSAGE_BYTES);
            problems.extend(connect::throttle_problem(
                t,
                &topics,
                s.connect_max_tasks,
                leaders,
                max_batch,
            ));
        }
        let name = self
            .journal
            .as_ref()
            .and_then(|j| j.connect.as_ref().map(|c| c.connector.clone()))
            .unwrap_or_else(|| s.connector.clone());
        let mut ci = ConnectorInput {
            name: name.clone(),
            source_bootstrap: s.source.bootstrap.clone(),
            target_bootstrap: s.target.bootstrap.clone(),
            topics,
            source_client: s.source.client.clone(),
            target_client: s.target.client.clone(),
            exactly_once: false,
            per_broker_quota: per_broker,
            max_tasks: s.connect_max_tasks,
        };
        let tx = ta.accepts_transactions().await.unwrap_or(false);
        let facts = tokio::task::block_in_place(|| facts(api, &ci, tx));
        let plan = match facts {
            Ok(f) => {
                problems.extend(connect::connect_problems(&f));
                ci.exactly_once = f.workers_exactly_once && f.target_transactions;
                Some(ConnectPlan {
                    url: f.url.clone(),
                    version: f.version.clone(),
                    connector: name,
                    exactly_once: ci.exactly_once,
                    per_broker_quota: per_broker,
                    leaders,
                    warnings: connect::at_least_once_warning(&f).into_iter().collect(),
                    config: connect::masked(&connect::connector_config(&ci)),
                })
            }
            // Refused TLS or credentials: its own exit code (6), not a preflight problem.
            Err(e @ (ConnectError::Tls { .. } | ConnectError::Auth { .. })) => return Err(e.into()),
            Err(e) => {
                problems.push(Problem {
                    topic: None,
                    message: e.to_string(),
                    hint: e.hint(),
                });
                None
            }
        };
        Ok((plan, problems))
    }

    /// The question to confirm before a copy.
    pub fn copy_question(&self, plan: &CopyPlan) -> String {
        format!(
            "copy {} partition(s) of {} topic(s) to {}?",
            plan.partitions,
            plan.topics.len(),
            self.settings.target.bootstrap
        )
    }

    /// Create the target topics the plan needs, copy, then verify what was copied (a progress
    /// reporter for each).
    pub fn copy<C: Connections>(
        &mut self,
        conns: &C,
        api: Option<&dyn ConnectApi>,
        planned: Planned,
        src: &dyn DataCluster,
        tgt: &dyn DataCluster,
        (copying, verifying): (&dyn Progress, &dyn Progress),
    ) -> Result<Report, DisklessError> {
        let plan = planned.plan.expect("no problems: planned");
        let s = &self.settings;
        let mut j = self
            .journal
            .take()
            .unwrap_or_else(|| DisklessJournal::new(&s.source.bootstrap, &s.target.bootstrap, ""));
        if let Some(t) = &s.topics {
            j.topics = t.as_str().to_string();
        }
        let mut ta = conns.admin(Side::Target)?;
        conns.block_on(create_topics(&mut ta, &plan))?;
        let want: Vec<(String, i32)> = plan
            .topics
            .iter()
            .map(|t| (t.topic.clone(), t.partitions))
            .collect();
        super::topics::wait_for_topics(tgt, &want)?;
        copy::add_partitions(&mut j, src, tgt, &want)?;
        // The carried configs as the plan read them: a follower applies what changes after.
        for t in &plan.topics {
            j.carried
                .entry(t.topic.clone())
                .or_insert_with(|| t.configs.clone());
        }
        j.runs += 1;
        let path = s.journal.clone();
        super::journal::save(&j, &path)?;
        if self.engine == Engine::Connect {
            let cp = planned.connect.expect("planned with the connector");
            match j.connect.as_mut() {
                Some(c) => {
                    c.deleted = false;
                    c.exactly_once = cp.exactly_once;
                }
                None => {
                    j.connect = Some(ConnectRecord {
                        url: cp.url.clone(),
                        connector: cp.connector.clone(),
                        exactly_once: cp.exactly_once,
                        quotas: BTreeMap::new(),
                        deleted: false,
                    })
                }
            }
        }
        self.journal = Some(j);
        let mut connect_parts = match self.engine {
            Engine::Connect => Some(self.connect_setup(conns)?),
            Engine::Builtin => None,
        };
        let opts = self.copy_options();
        let (follow, stop, throttle) = (
            self.settings.follow.clone(),
            self.settings.stop.clone(),
            self.settings.throttle,
        );
        let (mut builtin, mut connect_engine);
        let engine: &mut dyn CopyEngine = match connect_parts.as_mut() {
            Some((quotas, copts)) => {
                let api = api.expect("--engine connect has a REST client");
                connect_engine = ConnectEngine::new(src, tgt, api, quotas.as_mut(), copts.clone());
                &mut connect_engine
            }
            None => {
                builtin = copy::BuiltIn { src, tgt, opts };
                &mut builtin
            }
        };
        let j = self.journal.as_mut().expect("just set");
        let (stats, v, synced) = match &follow {
            Some(f) => {
                let mut topics = AdminTopics {
                    conns,
                    src: conns.admin(Side::Source)?,
                    tgt: ta,
                };
                let copier = super::follow::Copier {
                    engine,
                    stop: &stop,
                    throttle,
                };
                super::follow::follow(
                    j,
                    &path,
                    (src, tgt),
                    &mut topics,
                    copier,
                    f,
                    (copying, verifying),
                )?
            }
            None => {
                let stats = engine.copy(j, &path, copying)?;
                let v = engine.verify(j, &path, verifying)?;
                (stats, v, Vec::new())
            }
        };
        self.synced = synced;
        // The run's totals as the report gives them, verification included.
        verifying.observe(&Observation::Copy {
            records: stats.records,
            bytes: stats.bytes,
            bytes_per_sec: if stats.seconds > 0.0 {
                stats.bytes as f64 / stats.seconds
            } else {
                0.0
            },
            throttle_bytes_per_sec: self.settings.throttle,
            partitions_verified: v.partitions.iter().filter(|p| p.ok).count() as u64,
            partitions: v.partitions.len() as u64,
        });
        let mut r = report(
            self.journal.as_ref().expect("set"),
            Some(stats),
            self.settings.throttle,
            Some(v),
        );
        r.groups_synced = std::mem::take(&mut self.synced);
        Ok(r)
    }

    /// The connector config and the source quotas for a copy or a cutover of `--engine connect`.
    fn connect_setup<'c, C: Connections>(
        &self,
        conns: &'c C,
    ) -> Result<(Box<dyn Quotas + 'c>, ConnectOptions), DisklessError> {
        let s = &self.settings;
        let j = self.journal.as_ref().expect("a journal");
        let c = j.connect.as_ref().expect("a connect migration");
        let mut topics: BTreeMap<String, i32> = BTreeMap::new();
        for p in &j.partitions {
            let n = topics.entry(p.topic.clone()).or_default();
            *n = (*n).max(p.partition + 1);
        }
        let mut admin = conns.admin(Side::Source)?;
        let (cluster, max_batch) = conns.block_on(async {
            let cluster = admin.snapshot().await?;
            // The largest batch a copied topic accepts: no task's quota may be below one per
            // quota window.
            let mut max_batch = 0u64;
            for t in topics.keys() {
                let cfg = admin.describe_configs(None, Some(t)).await?;
                max_batch = max_batch.max(connect::max_batch(&cfg));
            }
            Ok::<_, KafkaError>((cluster, max_batch))
        })?;
        let leaders = connect::leaders(&cluster, &topics);
        let per_broker = s.throttle.map(|t| connect::per_broker_quota(t, leaders));
        let selected = || {
            cluster
                .partitions
                .iter()
                .filter(|p| topics.contains_key(&p.topic))
        };
        let leader = selected()
            .filter_map(|p| Some(((p.topic.clone(), p.partition), *p.replicas.first()?)))
            .collect();
        let sizes = selected()
            .map(|p| ((p.topic.clone(), p.partition), p.size_bytes.unwrap_or(0)))
            .collect();
        let config = connect::connector_config(&ConnectorInput {
            name: c.connector.clone(),
            source_bootstrap: s.source.bootstrap.clone(),
            target_bootstrap: s.target.bootstrap.clone(),
            topics: topics.clone(),
            source_client: s.source.client.clone(),
            target_client: s.target.client.clone(),
            exactly_once: c.exactly_once,
            per_broker_quota: per_broker,
            max_tasks: s.connect_max_tasks,
        });
        Ok((
            conns.quotas()?,
            ConnectOptions {
                config,
                throttle: s.throttle,
                leader,
                sizes,
                quota_floor: connect::quota_floor(max_batch),
                stall: s.stall,
                poll: Duration::from_millis(500),
                stop: s.stop.clone(),
            },
        ))
    }
}

/// The topic sync's admin calls, on both clusters' admin planes.
struct AdminTopics<'c, C: Connections> {
    conns: &'c C,
    src: C::Admin,
    tgt: C::Admin,
}

impl<C: Connections> TopicAdmin for AdminTopics<'_, C> {
    fn source_configs(&mut self, topic: &str) -> Result<BTreeMap<String, String>, KafkaError> {
        self.conns
            .block_on(self.src.dynamic_configs(None, Some(topic)))
    }
    fn target_configs(&mut self, topic: &str) -> Result<BTreeMap<String, String>, KafkaError> {
        let all = self
            .conns
            .block_on(self.tgt.describe_configs(None, Some(topic)))?;
        Ok(super::topics::carried(&all))
    }
    fn set_target_configs(&mut self, topic: &str, ops: &[ConfigOp]) -> Result<(), KafkaError> {
        self.conns
            .block_on(self.tgt.alter_configs(None, Some(topic), ops))
    }
    fn add_target_partitions(&mut self, topic: &str, total: i32) -> Result<(), KafkaError> {
        self.conns
            .block_on(self.tgt.create_partitions(topic, total))
    }
    fn create_target_topic(
        &mut self,
        topic: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), KafkaError> {
        self.conns
            .block_on(self.tgt.create_topic(topic, partitions, configs))
    }
}

/// Read the selected source topics (sizes, offsets, configs) and what the target has.
async fn read_input(
    src: &mut impl ClusterAdmin,
    tgt: &mut impl ClusterAdmin,
    tgt_data: &dyn DataCluster,
    topics: &Regex,
    journaled: BTreeSet<String>,
    allow_compacted: bool,
) -> Result<PreflightInput, KafkaError> {
    let cluster = src.snapshot().await?;
    let mut by_topic: BTreeMap<String, (i32, u64)> = BTreeMap::new();
    let mut parts = Vec::new();
    for p in &cluster.partitions {
        if super::topics::internal(&p.topic) {
            continue;
        }
        if !topics.is_match(&p.topic) {
            continue;
        }
        let e = by_topic.entry(p.topic.clone()).or_default();
        e.0 += 1;
        e.1 += p.size_bytes.unwrap_or(0);
        parts.push((p.topic.clone(), p.partition));
    }
    let low = src.list_offsets(&parts, offset_spec::EARLIEST).await?;
    let high = src.list_offsets(&parts, offset_spec::LATEST).await?;
    let mut sources = Vec::new();
    for (name, (n, bytes)) in by_topic {
        let offsets = (0..n)
            .map(|p| {
                let k = (name.clone(), p);
                high.get(&k).copied().unwrap_or(0) - low.get(&k).copied().unwrap_or(0)
            })
            .sum();
        let configs = src.dynamic_configs(None, Some(&name)).await?;
        sources.push(SourceTopic {
            name,
            partitions: n,
            bytes,
            offsets,
            configs,
        });
    }
    let existing = tgt_data.topics()?;
    let mut target_topics = BTreeMap::new();
    for t in &sources {
        if let Some(&n) = existing.get(&t.name) {
            let mut records = 0;
            for p in 0..n {
                let (lo, hi) = tgt_data.watermarks(&t.name, p)?;
                records += hi - lo;
            }
            target_topics.insert(
                t.name.clone(),
                TargetTopic {
                    partitions: n,
                    records,
                },
            );
        }
    }
    Ok(PreflightInput {
        topics: sources,
        target_topics,
        target_apis: tgt.api_keys().await?,
        journaled,
        allow_compacted,
    })
}

/// What the Connect cluster offers, and whether it accepts this connector config: version,
/// plugin, exactly-once support of the workers (validated with `exactly.once.support=required`),
/// the target's transactions, and every config key the workers reject.
pub fn facts(
    api: &dyn ConnectApi,
    input: &ConnectorInput,
    target_transactions: bool,
) -> Result<ConnectFacts, crate::connect::ConnectError> {
    let info = api.info()?;
    let plugin = api.plugins()?.iter().any(|p| p.class == MIRROR_SOURCE);
    let mut invalid = BTreeMap::new();
    let mut workers_exactly_once = false;
    if plugin {
        let mut probe = input.clone();
        probe.exactly_once = true;
        invalid = api.validate(MIRROR_SOURCE, &connect::connector_config(&probe))?;
        workers_exactly_once = !invalid.contains_key("exactly.once.support");
        if !workers_exactly_once || !target_transactions {
            let plain = ConnectorInput {
                exactly_once: false,
                ..input.clone()
            };
            invalid = api.validate(MIRROR_SOURCE, &connect::connector_config(&plain))?;
        }
    }
    Ok(ConnectFacts {
        url: api.url().to_string(),
        version: info.version,
        plugin,
        workers_exactly_once,
        target_transactions,
        invalid,
    })
}

/// Target topics: created with the source's partition counts and the configs the target
/// accepts (a target that refuses them gets the topic with its defaults; one that exists is
/// left as it is).
async fn create_topics(ta: &mut impl ClusterAdmin, plan: &CopyPlan) -> Result<(), KafkaError> {
    for t in plan.topics.iter().filter(|t| t.create) {
        match ta.create_topic(&t.topic, t.partitions, &t.configs).await {
            Ok(()) => {}
            Err(KafkaError::Api { code: 40, .. }) if !t.configs.is_empty() => {
                tracing::warn!(topic = %t.topic, configs = ?t.configs, "the target refused these topic configs; creating the topic with its defaults");
                ta.create_topic(&t.topic, t.partitions, &BTreeMap::new())
                    .await?;
            }
            Err(KafkaError::Api { code: 36, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
