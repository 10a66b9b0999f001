//! The Kafka data plane: reading and writing records, consumer-group offsets, through librdkafka
//! (`rdkafka`). [`DataCluster`] is the seam `migrate diskless` uses; [`RdCluster`] is its one
//! real adapter. Everything here is blocking (librdkafka has its own threads); callers run it
//! outside the async runtime.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::OAuthToken;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::oauth::OAuth;
use super::security::{Mechanism, Protocol, Security};
use super::{KafkaError, Record};

/// What a reader's poll returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEvent {
    Record(Record),
    /// A partition reached the end of what is readable now (partition number only: librdkafka's
    /// Rust binding does not say which topic).
    EndOfPartition(i32),
    /// The broker answered a fetch with "offset out of range" (or the client found its position
    /// invalid after a leader change): the caller checks the log start and either seeks back to
    /// where it was (transient) or reports the records as deleted.
    PositionLost(String),
}

/// A consumer of explicitly assigned partitions (no group membership, nothing committed).
pub trait RecordReader {
    /// Start reading these partitions at these offsets (added to what is assigned).
    fn add(&mut self, from: &[(String, i32, i64)]) -> Result<(), KafkaError>;
    /// Stop reading these partitions.
    fn remove(&mut self, parts: &[(String, i32)]) -> Result<(), KafkaError>;
    /// The next record or event; `None` when nothing came within `timeout`.
    fn poll(&mut self, timeout: Duration) -> Result<Option<ReadEvent>, KafkaError>;
    /// The offset the next record of this partition will have at the least (past skipped
    /// transaction markers and aborted records); `None` before the first fetch.
    fn position(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, KafkaError>;
}

/// A delivery report: where the target put the record read at `source_offset`, or why it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub topic: String,
    pub partition: i32,
    pub source_offset: i64,
    pub result: Result<i64, String>,
}

/// An idempotent producer writing records to the partition they name.
pub trait RecordWriter {
    /// Queue a copy of `record` for its topic and partition; blocks (serving delivery reports)
    /// while the local queue is full.
    fn send(&mut self, record: &Record) -> Result<(), KafkaError>;
    /// Delivery reports received since the last call, waiting up to `timeout` for the first.
    fn acks(&mut self, timeout: Duration) -> Vec<Ack>;
    /// Records sent and not yet acknowledged.
    fn in_flight(&self) -> usize;
}

/// A consumer group as the cluster describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    pub name: String,
    /// Empty, Stable, PreparingRebalance, CompletingRebalance, Dead.
    pub state: String,
    pub members: usize,
}

/// What `migrate diskless` needs from a cluster's data plane.
pub trait DataCluster {
    fn bootstrap(&self) -> &str;
    /// Low and high watermarks of a partition (high = the next offset to be written).
    fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), KafkaError>;
    /// Partition counts of every topic the cluster lists.
    fn topics(&self) -> Result<BTreeMap<String, i32>, KafkaError>;
    fn reader(&self, read_committed: bool) -> Result<Box<dyn RecordReader>, KafkaError>;
    fn writer(&self) -> Result<Box<dyn RecordWriter>, KafkaError>;
    /// Consumer groups the cluster lists.
    fn groups(&self) -> Result<Vec<String>, KafkaError>;
    /// One group's state; `None` when the cluster does not know it.
    fn group(&self, name: &str) -> Result<Option<GroupInfo>, KafkaError>;
    /// A group's committed offsets for these partitions (absent where it has none).
    fn committed(
        &self,
        group: &str,
        parts: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError>;
    /// Commit offsets for a group that has no members (a "simple" commit, generation -1): the
    /// broker refuses it while the group has active members.
    fn commit(&self, group: &str, offsets: &BTreeMap<(String, i32), i64>)
        -> Result<(), KafkaError>;
}

const TIMEOUT: Duration = Duration::from_secs(30);

/// Run a group call again while the group coordinator is loading or moving (a cluster that has
/// just started loads `__consumer_offsets` first; a broker restart moves coordinators): those
/// answers are retriable, so they are waited out for up to [`TIMEOUT`].
fn while_coordinator_loads<T>(
    call: impl Fn() -> rdkafka::error::KafkaResult<T>,
) -> rdkafka::error::KafkaResult<T> {
    use rdkafka::types::RDKafkaErrorCode as C;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match call() {
            Err(e)
                if matches!(
                    e.rdkafka_error_code(),
                    Some(
                        C::CoordinatorLoadInProgress
                            | C::CoordinatorNotAvailable
                            | C::NotCoordinator
                    )
                ) && std::time::Instant::now() < deadline =>
            {
                tracing::debug!(error = %e, "the group coordinator is not ready; asking again");
                std::thread::sleep(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

/// The librdkafka adapter for one cluster.
pub struct RdCluster {
    bootstrap: String,
    base: ClientConfig,
    auth: Auth,
    /// A consumer for metadata and watermarks (no group use).
    meta: BaseConsumer<Auth>,
}

fn rd(address: &str, api: &'static str, e: rdkafka::error::KafkaError) -> KafkaError {
    KafkaError::Data {
        address: address.to_string(),
        api,
        message: e.to_string(),
    }
}

/// librdkafka properties for streamctl's connection settings (the same `--command-config` the
/// admin plane reads, applied the same way: see `security::parse_properties`).
fn client_config(bootstrap: &str, security: &Security) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "streamctl")
        .set("log_level", "3")
        .set(
            "security.protocol",
            match security.protocol {
                Protocol::Plaintext => "plaintext",
                Protocol::Ssl => "ssl",
                Protocol::SaslPlaintext => "sasl_plaintext",
                Protocol::SaslSsl => "sasl_ssl",
            },
        );
    if let Some(m) = security.mechanism.filter(|_| security.protocol.sasl()) {
        c.set("sasl.mechanism", m.name());
        if m != Mechanism::OAuthBearer {
            if let Some(u) = &security.username {
                c.set("sasl.username", u);
            }
            if let Some(p) = &security.password {
                c.set("sasl.password", p);
            }
        }
    }
    if security.protocol.tls() {
        if let Some(ca) = &security.ca_file {
            c.set("ssl.ca.location", ca.display().to_string());
        }
        if let (Some(cert), Some(key)) = (&security.cert_file, &security.key_file) {
            c.set("ssl.certificate.location", cert.display().to_string())
                .set("ssl.key.location", key.display().to_string());
        }
        c.set(
            "ssl.endpoint.identification.algorithm",
            if security.verify_hostname {
                "https"
            } else {
                "none"
            },
        );
    }
    c
}

/// librdkafka's callbacks common to every client of a cluster: the OAUTHBEARER token when the
/// mechanism is OAUTHBEARER (librdkafka asks again at 80% of a token's life; the event is
/// served by the polls of each client).
#[derive(Clone)]
struct Auth {
    oauth: Option<OAuth>,
    bootstrap: String,
    /// The last TLS or SASL failure librdkafka reported (its clients only say "transport
    /// failure" to the calls that fail because of it).
    failure: Arc<Mutex<Option<String>>>,
}

impl Auth {
    /// The TLS or SASL failure behind a failed call, as an error naming the plane and the fix.
    fn failed(&self) -> Option<KafkaError> {
        let reason = self.failure.lock().expect("failure lock").clone()?;
        let hint = if reason.contains("SSL handshake") || reason.contains("certificate") {
            super::tls_hint(&reason)
        } else {
            match &self.oauth {
                Some(o) => super::oauth::refused_hint(&o.source),
                None => "check the user and password in sasl.jaas.config (or sasl.username/sasl.password) and that the listener enables sasl.mechanism".into(),
            }
        };
        Some(KafkaError::auth(PLANE, &self.bootstrap, reason, hint))
    }
}

const PLANE: &str = "record copier";

impl ClientContext for Auth {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode as C;
        let code = error.rdkafka_error_code();
        if matches!(code, Some(C::Authentication | C::SSL))
            || reason.contains("SSL handshake")
            || reason.contains("SASL authentication")
        {
            *self.failure.lock().expect("failure lock") = Some(reason.to_string());
        }
        // librdkafka repeats transport errors while a broker is down; the calls that fail
        // because of them say so.
        tracing::debug!(cluster = %self.bootstrap, "librdkafka: {error}: {reason}");
    }

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        let o = self
            .oauth
            .as_ref()
            .ok_or("no OAUTHBEARER token source is configured")?;
        let host = self.bootstrap.split(',').next().unwrap_or_default();
        let t = o.token_blocking(host).map_err(|m| {
            tracing::error!(cluster = %self.bootstrap, "copier: {m}");
            m
        })?;
        Ok(OAuthToken {
            token: t.value,
            principal_name: t.principal,
            lifetime_ms: t.expires_at_ms,
        })
    }
}

impl ConsumerContext for Auth {}

impl RdCluster {
    pub fn connect(bootstrap: &str, security: &Security) -> Result<Self, KafkaError> {
        let auth = Auth {
            oauth: security.oauth.clone(),
            bootstrap: bootstrap.to_string(),
            failure: Arc::default(),
        };
        if let Some(o) = &auth.oauth {
            // Fail here, with the reason, rather than in a metadata timeout.
            o.token_blocking(bootstrap.split(',').next().unwrap_or_default())
                .map_err(|m| {
                    KafkaError::auth(PLANE, bootstrap, m, super::oauth::token_hint(&o.source))
                })?;
        }
        let base = client_config(bootstrap, security);
        let meta: BaseConsumer<Auth> = base
            .clone()
            .set("group.id", "streamctl-metadata")
            .set("enable.auto.commit", "false")
            .create_with_context(auth.clone())
            .map_err(|e| KafkaError::Config(format!("{bootstrap}: {e}")))?;
        // In short rounds, serving the client's events in between: a refused TLS handshake or
        // SASL exchange ends the wait with its reason rather than a timeout.
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            serve(&meta);
            match meta.fetch_metadata(None, Duration::from_secs(2)) {
                Ok(_) => break,
                Err(e) => {
                    serve(&meta);
                    if let Some(failed) = meta.context().failed() {
                        return Err(failed);
                    }
                    if std::time::Instant::now() >= deadline {
                        return Err(KafkaError::Connect {
                            address: bootstrap.to_string(),
                            message: format!("{PLANE}: {e}"),
                        });
                    }
                }
            }
        }
        Ok(Self {
            bootstrap: bootstrap.to_string(),
            base,
            auth,
            meta,
        })
    }

    fn group_consumer(&self, group: &str) -> Result<BaseConsumer<Auth>, KafkaError> {
        let c = self
            .base
            .clone()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create_with_context(self.auth.clone())
            .map_err(|e| KafkaError::Config(format!("{}: {e}", self.bootstrap)))?;
        serve(&c);
        Ok(c)
    }

    /// The metadata consumer, its queued events (a token refresh) served first.
    fn meta(&self) -> &BaseConsumer<Auth> {
        serve(&self.meta);
        &self.meta
    }
}

/// Serve what is queued on a consumer that reads no records (metadata, offsets): the token
/// refresh librdkafka queues at creation and at 80% of a token's life, and error events.
fn serve(c: &BaseConsumer<Auth>) {
    for _ in 0..100 {
        if c.poll(Duration::ZERO).is_none() {
            break;
        }
    }
}

fn tpl(parts: &[(String, i32)]) -> TopicPartitionList {
    let mut l = TopicPartitionList::new();
    for (t, p) in parts {
        l.add_partition(t, *p);
    }
    l
}

impl DataCluster for RdCluster {
    fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64), KafkaError> {
        self.meta()
            .fetch_watermarks(topic, partition, TIMEOUT)
            .map_err(|e| rd(&self.bootstrap, "ListOffsets", e))
    }

    fn topics(&self) -> Result<BTreeMap<String, i32>, KafkaError> {
        let m = self
            .meta()
            .fetch_metadata(None, TIMEOUT)
            .map_err(|e| rd(&self.bootstrap, "Metadata", e))?;
        Ok(m.topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len() as i32))
            .collect())
    }

    fn reader(&self, read_committed: bool) -> Result<Box<dyn RecordReader>, KafkaError> {
        let c: BaseConsumer<Auth> = self
            .base
            .clone()
            .set("group.id", "streamctl-migrate-reader")
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "true")
            // A start offset that retention removed is an error, never a silent skip.
            .set("auto.offset.reset", "error")
            .set(
                "isolation.level",
                if read_committed {
                    "read_committed"
                } else {
                    "read_uncommitted"
                },
            )
            .set("fetch.max.bytes", "52428800")
            .set("max.partition.fetch.bytes", "8388608")
            .set("fetch.wait.max.ms", "500")
            .set("queued.max.messages.kbytes", "262144")
            .create_with_context(self.auth.clone())
            .map_err(|e| KafkaError::Config(format!("{}: {e}", self.bootstrap)))?;
        Ok(Box::new(RdReader {
            bootstrap: self.bootstrap.clone(),
            consumer: c,
        }))
    }

    fn writer(&self) -> Result<Box<dyn RecordWriter>, KafkaError> {
        let acks = Arc::new(Mutex::new(Vec::new()));
        let p: BaseProducer<AckContext> = self
            .base
            .clone()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            // Big batches: a diskless broker pays object-store writes per batch.
            .set("linger.ms", "100")
            .set("batch.size", "1048576")
            .set("batch.num.messages", "1000000")
            .set("queue.buffering.max.kbytes", "262144")
            .set("message.timeout.ms", "300000")
            .create_with_context(AckContext {
                acks: acks.clone(),
                auth: self.auth.clone(),
            })
            .map_err(|e| KafkaError::Config(format!("{}: {e}", self.bootstrap)))?;
        Ok(Box::new(RdWriter {
            bootstrap: self.bootstrap.clone(),
            producer: p,
            acks,
        }))
    }

    fn groups(&self) -> Result<Vec<String>, KafkaError> {
        let l = while_coordinator_loads(|| self.meta().fetch_group_list(None, TIMEOUT))
            .map_err(|e| rd(&self.bootstrap, "ListGroups", e))?;
        Ok(l.groups().iter().map(|g| g.name().to_string()).collect())
    }

    fn group(&self, name: &str) -> Result<Option<GroupInfo>, KafkaError> {
        let l = while_coordinator_loads(|| self.meta().fetch_group_list(Some(name), TIMEOUT))
            .map_err(|e| rd(&self.bootstrap, "DescribeGroups", e))?;
        Ok(l.groups()
            .iter()
            .find(|g| g.name() == name)
            .filter(|g| g.state() != "Dead" || !g.members().is_empty())
            .map(|g| GroupInfo {
                name: g.name().to_string(),
                state: g.state().to_string(),
                members: g.members().len(),
            }))
    }

    fn committed(
        &self,
        group: &str,
        parts: &[(String, i32)],
    ) -> Result<BTreeMap<(String, i32), i64>, KafkaError> {
        let c = self.group_consumer(group)?;
        let l = while_coordinator_loads(|| c.committed_offsets(tpl(parts), TIMEOUT))
            .map_err(|e| rd(&self.bootstrap, "OffsetFetch", e))?;
        Ok(l.elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                _ => None,
            })
            .collect())
    }

    fn commit(
        &self,
        group: &str,
        offsets: &BTreeMap<(String, i32), i64>,
    ) -> Result<(), KafkaError> {
        let c = self.group_consumer(group)?;
        let mut l = TopicPartitionList::new();
        for ((t, p), o) in offsets {
            l.add_partition_offset(t, *p, Offset::Offset(*o))
                .map_err(|e| rd(&self.bootstrap, "OffsetCommit", e))?;
        }
        c.commit(&l, CommitMode::Sync)
            .map_err(|e| rd(&self.bootstrap, "OffsetCommit", e))
    }
}

struct RdReader {
    bootstrap: String,
    consumer: BaseConsumer<Auth>,
}

impl RecordReader for RdReader {
    fn add(&mut self, from: &[(String, i32, i64)]) -> Result<(), KafkaError> {
        let mut l = TopicPartitionList::new();
        for (t, p, o) in from {
            l.add_partition_offset(t, *p, Offset::Offset(*o))
                .map_err(|e| rd(&self.bootstrap, "Fetch", e))?;
        }
        self.consumer
            .incremental_assign(&l)
            .map_err(|e| rd(&self.bootstrap, "Fetch", e))
    }

    fn remove(&mut self, parts: &[(String, i32)]) -> Result<(), KafkaError> {
        self.consumer
            .incremental_unassign(&tpl(parts))
            .map_err(|e| rd(&self.bootstrap, "Fetch", e))
    }

    fn poll(&mut self, timeout: Duration) -> Result<Option<ReadEvent>, KafkaError> {
        match self.consumer.poll(timeout) {
            None => Ok(None),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                Ok(Some(ReadEvent::EndOfPartition(p)))
            }
            Some(Err(
                e @ rdkafka::error::KafkaError::MessageConsumption(
                    rdkafka::types::RDKafkaErrorCode::AutoOffsetReset
                    | rdkafka::types::RDKafkaErrorCode::OffsetOutOfRange,
                ),
            )) => Ok(Some(ReadEvent::PositionLost(e.to_string()))),
            Some(Err(e)) => Err(rd(&self.bootstrap, "Fetch", e)),
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|Header { key, value }| {
                                (key.to_string(), value.map(|v: &[u8]| v.to_vec()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Ok(Some(ReadEvent::Record(Record {
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    timestamp: m.timestamp().to_millis(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers,
                })))
            }
        }
    }

    fn position(&mut self, topic: &str, partition: i32) -> Result<Option<i64>, KafkaError> {
        let l = self
            .consumer
            .position()
            .map_err(|e| rd(&self.bootstrap, "Fetch", e))?;
        Ok(l.find_partition(topic, partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }))
    }
}

/// Delivery reports land here: the opaque value is the source offset.
struct AckContext {
    acks: Arc<Mutex<Vec<Ack>>>,
    auth: Auth,
}

impl ClientContext for AckContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.auth.generate_oauth_token(config)
    }
}

impl ProducerContext for AckContext {
    type DeliveryOpaque = Box<i64>;

    fn delivery(&self, result: &DeliveryResult<'_>, source_offset: Box<i64>) {
        let ack = match result {
            Ok(m) => Ack {
                topic: m.topic().to_string(),
                partition: m.partition(),
                source_offset: *source_offset,
                result: Ok(m.offset()),
            },
            Err((e, m)) => Ack {
                topic: m.topic().to_string(),
                partition: m.partition(),
                source_offset: *source_offset,
                result: Err(e.to_string()),
            },
        };
        self.acks.lock().expect("ack lock").push(ack);
    }
}

struct RdWriter {
    bootstrap: String,
    producer: BaseProducer<AckContext>,
    acks: Arc<Mutex<Vec<Ack>>>,
}

impl RecordWriter for RdWriter {
    fn send(&mut self, r: &Record) -> Result<(), KafkaError> {
        let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: v.as_deref(),
            });
        }
        loop {
            let mut rec: BaseRecord<'_, [u8], [u8], Box<i64>> =
                BaseRecord::with_opaque_to(&r.topic, Box::new(r.offset))
                    .partition(r.partition)
                    .headers(headers.clone());
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(v) = &r.value {
                rec = rec.payload(v.as_slice());
            }
            if let Some(ts) = r.timestamp {
                rec = rec.timestamp(ts);
            }
            match self.producer.send(rec) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    _,
                )) => {
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => return Err(rd(&self.bootstrap, "Produce", e)),
            }
        }
    }

    fn acks(&mut self, timeout: Duration) -> Vec<Ack> {
        self.producer.poll(timeout);
        std::mem::take(&mut *self.acks.lock().expect("ack lock"))
    }

    fn in_flight(&self) -> usize {
        self.producer.in_flight_count().max(0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::while_coordinator_loads;
    use rdkafka::error::KafkaError as Rd;
    use rdkafka::types::RDKafkaErrorCode as C;
    use std::cell::Cell;

    #[test]
    fn a_loading_coordinator_is_waited_out_and_other_errors_are_not() {
        let calls = Cell::new(0);
        let r = while_coordinator_loads(|| {
            calls.set(calls.get() + 1);
            match calls.get() {
                1 => Err(Rd::GroupListFetch(C::CoordinatorLoadInProgress)),
                2 => Err(Rd::GroupListFetch(C::NotCoordinator)),
                _ => Ok(7),
            }
        });
        assert_eq!((r.unwrap(), calls.get()), (7, 3));
        let calls = Cell::new(0);
        let r: rdkafka::error::KafkaResult<()> = while_coordinator_loads(|| {
            calls.set(calls.get() + 1);
            Err(Rd::GroupListFetch(C::GroupAuthorizationFailed))
        });
        assert!(r.is_err());
        assert_eq!(calls.get(), 1, "not retried");
    }
}
