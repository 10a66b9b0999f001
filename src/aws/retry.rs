//! One retry and lookup policy for every AWS call streamctl makes.
//!
//! - **Reads and idempotent writes** go through the SDK's retry strategy (standard mode:
//!   exponential backoff with jitter, a retry quota; `--retry-mode adaptive` adds client-side
//!   rate limiting, see docs/provision.md for when it helps) with a generous attempt budget
//!   (`--max-attempts`, default [`DEFAULT_MAX_ATTEMPTS`], the range terraform-provider-aws uses) and a
//!   bounded total wait per call (`--max-retry-wait`). Throttling, 5xx and transport errors are
//!   retried.
//! - **Creates** are never retried blindly: a lost response (the request reached AWS, the answer
//!   did not reach us) would create the resource twice. [`RetryPolicy::create`] retries a create
//!   only after a throttling error (AWS did nothing) or after looking the resource up by its
//!   name/tag and not finding it. Creates that AWS makes idempotent also carry a deterministic
//!   client token ([`client_token`]), so a retry AWS has already acted on returns the first
//!   result.
//! - Every failed attempt is counted in a [`RetryLog`], which the progress line reads ("waiting on
//!   AWS throttling").

use std::fmt::Write as _;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::interceptors::context::{
    FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use sha2::Digest;

use crate::provision::cloud::{is_throttling, CloudError, THROTTLING_CODES};

/// Attempts per call by default (terraform-provider-aws retries throttling up to 25 times).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 25;
/// Longest a single call may spend retrying, by default.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(300);
/// Backoff bounds.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(20);
/// After an ambiguous create, look the resource up this long after the failure before sending
/// the create again (EC2 reads are eventually consistent: a resource created a moment ago may
/// not be listed yet).
const LOOKUP_DELAYS: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_secs(1),
    Duration::from_secs(3),
];

/// How hard to try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_wait: Duration,
    /// The SDK's adaptive mode (client-side rate limiting) instead of standard mode.
    pub adaptive: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            max_wait: DEFAULT_MAX_WAIT,
            adaptive: false,
        }
    }
}

impl RetryPolicy {
    /// The SDK retry configuration for reads and idempotent writes.
    pub fn sdk_retry(&self) -> RetryConfig {
        let base = if self.adaptive {
            RetryConfig::adaptive()
        } else {
            RetryConfig::standard()
        };
        base.with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(INITIAL_BACKOFF)
            .with_max_backoff(MAX_BACKOFF)
    }

    /// Timeouts: a hung connection becomes a retryable timeout; one call never waits longer
    /// than `max_wait` in total.
    pub fn sdk_timeouts(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .operation_attempt_timeout(Duration::from_secs(60))
            .operation_timeout(self.max_wait)
            .build()
    }

    /// Backoff before attempt `attempt + 1` (full jitter, capped).
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = INITIAL_BACKOFF
            .saturating_mul(1u32 << attempt.min(10))
            .min(MAX_BACKOFF);
        let r = jitter();
        cap.mul_f64(0.5 + r / 2.0)
    }

    /// Send a create that AWS does not deduplicate by itself (or that the emulator does not):
    /// - throttled: wait and send again (AWS did nothing);
    /// - lost (transport error, timeout, 5xx) or "already exists": look the resource up
    ///   (`lookup`); found → done, not found → send again;
    /// - anything else: fail.
    pub async fn create<T, S, SF, L, LF>(
        &self,
        log: &RetryLog,
        mut send: S,
        mut lookup: L,
    ) -> Result<T, CloudError>
    where
        S: FnMut() -> SF,
        SF: Future<Output = Result<T, Attempt>>,
        L: FnMut() -> LF,
        LF: Future<Output = Result<Option<T>, CloudError>>,
    {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failed = match send().await {
                Ok(t) => return Ok(t),
                Err(a) => a,
            };
            let out_of_budget = attempt >= self.max_attempts || start.elapsed() >= self.max_wait;
            match failed.outcome {
                Outcome::Final => return Err(failed.error),
                Outcome::Throttled => {
                    log.note(Noticed::Throttled, &failed.error);
                    if out_of_budget {
                        return Err(failed.error);
                    }
                }
                Outcome::Lost | Outcome::Exists => {
                    if failed.outcome == Outcome::Lost {
                        log.note(Noticed::Lost, &failed.error);
                    }
                    for d in LOOKUP_DELAYS {
                        tokio::time::sleep(d).await;
                        if let Some(t) = lookup().await? {
                            log.recovered.fetch_add(1, Ordering::Relaxed);
                            tracing::info!(call = %failed.error, "found the resource an interrupted create made; not creating it again");
                            return Ok(t);
                        }
                        if failed.outcome == Outcome::Exists {
                            break;
                        }
                    }
                    if failed.outcome == Outcome::Exists || out_of_budget {
                        return Err(failed.error);
                    }
                }
            }
            tokio::time::sleep(self.backoff(attempt)).await;
        }
    }
}

/// How one failed create attempt counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// AWS refused before acting (throttling).
    Throttled,
    /// AWS may or may not have acted (transport error, timeout, 5xx).
    Lost,
    /// AWS says it exists already (a name taken): ours if the lookup finds it.
    Exists,
    /// A real error.
    Final,
}

/// One failed attempt of a create, classified.
#[derive(Debug)]
pub struct Attempt {
    pub outcome: Outcome,
    pub error: CloudError,
}

impl Attempt {
    /// Classify an SDK error; `exists_codes` are the service's "already exists" codes.
    pub fn from_sdk<E>(
        service: &'static str,
        operation: &'static str,
        resource: &str,
        exists_codes: &[&str],
        e: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let outcome = classify(&e, exists_codes);
        Self {
            outcome,
            error: CloudError::call(service, operation, resource, e),
        }
    }
}

/// Classify a failed call.
pub fn classify<E>(e: &SdkError<E, HttpResponse>, exists_codes: &[&str]) -> Outcome
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            Outcome::Lost
        }
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default();
            if is_throttling(code) {
                Outcome::Throttled
            } else if exists_codes.contains(&code) {
                Outcome::Exists
            } else if s.raw().status().as_u16() >= 500 {
                Outcome::Lost
            } else {
                Outcome::Final
            }
        }
        _ => Outcome::Final,
    }
}

/// What a failed attempt was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noticed {
    Throttled,
    /// Transport error, timeout or 5xx.
    Lost,
}

/// Where notices go.
pub type Notify = Arc<dyn Fn(&str) + Send + Sync>;

/// Counts of failed attempts across a run, shared by the SDK interceptor and the create loop,
/// and the progress line's source.
#[derive(Default)]
pub struct RetryLog {
    pub throttled: AtomicU64,
    pub lost: AtomicU64,
    /// Creates whose lost response was recovered by a lookup.
    pub recovered: AtomicU64,
    last: Mutex<Option<(Instant, String)>>,
    notify: Mutex<Option<Notify>>,
}

impl std::fmt::Debug for RetryLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryLog")
            .field("throttled", &self.throttled)
            .field("lost", &self.lost)
            .field("recovered", &self.recovered)
            .finish()
    }
}

impl RetryLog {
    /// Where to say "waiting on AWS throttling" (a progress bar's message or a plain line).
    pub fn on_notice(&self, f: Notify) {
        *self.notify.lock().expect("not poisoned") = Some(f);
    }

    fn note(&self, what: Noticed, call: &dyn std::fmt::Display) {
        let (n, text) = match what {
            Noticed::Throttled => (
                self.throttled.fetch_add(1, Ordering::Relaxed) + 1,
                "waiting on AWS throttling",
            ),
            Noticed::Lost => (
                self.lost.fetch_add(1, Ordering::Relaxed) + 1,
                "retrying after a lost or failed AWS response",
            ),
        };
        let mut msg = String::new();
        let _ = write!(msg, "{text} ({n} so far; last: {call})");
        tracing::debug!("{msg}");
        // At most one notice a second: a throttled burst is one line, not fifty.
        let mut last = self.last.lock().expect("not poisoned");
        if last
            .as_ref()
            .is_some_and(|(t, _)| t.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        *last = Some((Instant::now(), msg.clone()));
        drop(last);
        if let Some(f) = self.notify.lock().expect("not poisoned").as_ref() {
            f(&msg);
        }
    }

    /// (throttled, lost, recovered) so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.throttled.load(Ordering::Relaxed),
            self.lost.load(Ordering::Relaxed),
            self.recovered.load(Ordering::Relaxed),
        )
    }
}

/// An SDK interceptor that counts every failed attempt the SDK itself retries.
#[derive(Debug, Clone)]
pub struct Notices(pub Arc<RetryLog>);

impl Intercept for Notices {
    fn name(&self) -> &'static str {
        "streamctl-retry-notices"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let Some(Err(e)) = context.output_or_error() else {
            return Ok(());
        };
        let status = context.response().map(|r| r.status().as_u16());
        let text = format!("{e:?}");
        let throttled = status == Some(429)
            || THROTTLING_CODES
                .iter()
                .any(|c| text.contains(&format!("\"{c}\"")));
        let lost = e.is_timeout_error()
            || e.is_connector_error()
            || e.is_response_error()
            || status.is_some_and(|s| s >= 500);
        let op = cfg
            .load::<Metadata>()
            .map(|m| format!("{} {}", m.service(), m.name()))
            .unwrap_or_else(|| "AWS call".into());
        if throttled {
            self.0.note(Noticed::Throttled, &op);
        } else if lost {
            self.0.note(Noticed::Lost, &op);
        }
        Ok(())
    }
}

/// A retry classifier for transport errors:
/// - "connection refused" is final: nothing listens at the endpoint (a wrong `--endpoint-url`, a
///   stopped emulator); retrying for minutes would only hide that;
/// - every other connection error is transient, including a reset while sending on a pooled
///   connection, which the SDK's own classifiers leave unretried.
///
/// Only calls the SDK retries at all (reads and idempotent writes) are affected: creates run with
/// SDK retries off and go through [`RetryPolicy::create`].
#[derive(Debug, Clone, Copy)]
pub struct TransportErrors;

impl ClassifyRetry for TransportErrors {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(e)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let Some(c) = e.as_connector_error() else {
            return RetryAction::NoActionIndicated;
        };
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(c);
        while let Some(s) = src {
            let refused = s
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
                || s.to_string().contains("Connection refused");
            if refused {
                return RetryAction::RetryForbidden;
            }
            src = s.source();
        }
        RetryAction::transient_error()
    }

    fn name(&self) -> &'static str {
        "streamctl: transport errors"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// A deterministic idempotency token for a create (at most 64 ASCII characters, as EC2 wants):
/// the same cluster, resource and generation always give the same token, so a create AWS has
/// already acted on returns the first result instead of a second resource.
pub fn client_token(cluster: &str, resource: &str, generation: &str) -> String {
    let mut h = sha2::Sha256::new();
    for part in [cluster, resource, generation] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    let mut s = String::from("streamctl-");
    for b in &d[..16] {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A per-run marker (tagged on what the run creates), random.
pub fn run_marker() -> String {
    let mut b = [0u8; 6];
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A uniform number in [0, 1) for jitter (no need for a seeded generator here).
fn jitter() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn err(code: &str) -> CloudError {
        CloudError::Call {
            service: "EC2",
            operation: "CreateVpc",
            resource: "v".into(),
            code: Some(code.into()),
            message: code.into(),
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            max_wait: Duration::from_secs(60),
            adaptive: false,
        }
    }

    #[test]
    fn tokens_are_deterministic_and_short() {
        let a = client_token("c", "instance brokers-1", "lt-1/v2/t0");
        assert_eq!(a, client_token("c", "instance brokers-1", "lt-1/v2/t0"));
        assert_ne!(a, client_token("c", "instance brokers-1", "lt-1/v2/t1"));
        assert_ne!(a, client_token("d", "instance brokers-1", "lt-1/v2/t0"));
        assert!(a.len() <= 64 && a.is_ascii());
    }

    #[test]
    fn throttling_codes_are_known() {
        for c in ["SlowDown", "RequestLimitExceeded", "Throttling"] {
            assert!(is_throttling(c));
        }
        assert!(!is_throttling("AccessDenied"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_create_is_looked_up_not_sent_twice() {
        let log = RetryLog::default();
        let sent = Cell::new(0);
        let r = fast()
            .create(
                &log,
                || {
                    sent.set(sent.get() + 1);
                    async {
                        Err::<u32, _>(Attempt {
                            outcome: Outcome::Lost,
                            error: err("reset"),
                        })
                    }
                },
                || async { Ok(Some(7)) },
            )
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(sent.get(), 1, "found by the lookup: no second create");
        assert_eq!(log.counts(), (0, 1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn throttled_creates_are_sent_again_and_give_up_at_the_budget() {
        let log = RetryLog::default();
        let sent = Cell::new(0);
        let looked = Cell::new(0);
        let r = fast()
            .create(
                &log,
                || {
                    sent.set(sent.get() + 1);
                    let n = sent.get();
                    async move {
                        if n < 3 {
                            Err(Attempt {
                                outcome: Outcome::Throttled,
                                error: err("Throttling"),
                            })
                        } else {
                            Ok(n)
                        }
                    }
                },
                || {
                    looked.set(looked.get() + 1);
                    async { Ok(None) }
                },
            )
            .await;
        assert_eq!(r.unwrap(), 3);
        assert_eq!(looked.get(), 0, "throttling means AWS did nothing");
        let r = fast()
            .create(
                &log,
                || async {
                    Err::<u32, _>(Attempt {
                        outcome: Outcome::Throttled,
                        error: err("Throttling"),
                    })
                },
                || async { Ok(None) },
            )
            .await;
        assert!(r.is_err());
        assert_eq!(log.counts().0, 2 + 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_create_not_found_is_sent_again_and_exists_is_adopted_only_when_found() {
        let log = RetryLog::default();
        let sent = Cell::new(0);
        let r = fast()
            .create(
                &log,
                || {
                    sent.set(sent.get() + 1);
                    let n = sent.get();
                    async move {
                        if n == 1 {
                            Err(Attempt {
                                outcome: Outcome::Lost,
                                error: err("InternalError"),
                            })
                        } else {
                            Ok(n)
                        }
                    }
                },
                || async { Ok(None) },
            )
            .await;
        assert_eq!(r.unwrap(), 2);
        let r = fast()
            .create(
                &log,
                || async {
                    Err::<u32, _>(Attempt {
                        outcome: Outcome::Exists,
                        error: err("InvalidGroup.Duplicate"),
                    })
                },
                || async { Ok(None) },
            )
            .await;
        assert!(r.is_err(), "someone else's resource is not adopted");
    }
}
