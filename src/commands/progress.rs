//! The one progress reporter of long-running commands (reassign --execute, migrate): an
//! indicatif bar on a terminal, plain `tracing` lines on stderr otherwise (on a status change,
//! every tenth of the bytes, or every five seconds).

use std::sync::Arc;

use super::Context;
use crate::error::{Error, Result};
use crate::metrics::server::Server;
use crate::metrics::Metrics;
use crate::run::progress::{Observation, Progress, Stage};

/// Without a terminal, whether another progress line is due: the status changed, the run is
/// done, another tenth of the bytes is copied, or five seconds passed since the last line.
fn line_due(
    since: std::time::Duration,
    last_status: &str,
    last_done: u64,
    status: &str,
    done: u64,
    total: u64,
) -> bool {
    last_status != status
        || done >= total
        || done.saturating_sub(last_done) >= total / 10
        || since >= std::time::Duration::from_secs(5)
}

pub struct BarProgress {
    bar: indicatif::ProgressBar,
    /// What the items in flight are doing ("moving", "tiering").
    what: String,
    /// Without a terminal: when the last log line was written, its status and bytes done, so
    /// polls every 250 ms give a line when the status changes, a tenth of the bytes is done or
    /// five seconds pass, not four lines a second.
    last_line: std::sync::Mutex<Option<(std::time::Instant, String, u64)>>,
    /// With `--metrics-addr`: where updates and observations are also recorded.
    metrics: Option<Arc<Metrics>>,
}

impl Progress for BarProgress {
    fn update(&self, done: u64, total: u64, in_flight: usize, stage: &Stage) {
        if let Some(m) = &self.metrics {
            m.progress(done, total, in_flight, stage);
        }
        let status = stage.to_string();
        let status = status.as_str();
        if self.bar.is_hidden() {
            let mut last = self.last_line.lock().expect("progress lock");
            let quiet = last
                .as_ref()
                .is_some_and(|(t, s, d)| !line_due(t.elapsed(), s, *d, status, done, total));
            if quiet {
                return;
            }
            *last = Some((std::time::Instant::now(), status.to_string(), done));
            tracing::info!(
                target: "streamctl::progress",
                done_bytes = done,
                total_bytes = total,
                in_flight,
                "{status}"
            );
            return;
        }
        self.bar.set_length(total.max(1));
        self.bar.set_position(done);
        self.bar
            .set_message(format!("{in_flight} {} {status}", self.what));
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn observe(&self, figures: &Observation) {
        if let Some(m) = &self.metrics {
            m.observe(figures);
        }
    }
}

impl BarProgress {
    /// A bar whose line starts with `what` (e.g. "moving", "tiering").
    /// A bar counting bytes.
    pub fn new(ctx: &Context, what: &str) -> Self {
        Self::with_units(ctx, what, "{bytes}/{total_bytes}")
    }

    /// A bar counting source offsets (records and the markers between them).
    pub fn offsets(ctx: &Context, what: &str) -> Self {
        Self::with_units(ctx, what, "{human_pos}/{human_len} offsets")
    }

    fn with_units(ctx: &Context, what: &str, units: &str) -> Self {
        let bar = if ctx.progress.enabled {
            let b = indicatif::ProgressBar::new(1);
            b.set_style(
                indicatif::ProgressStyle::with_template(&format!(
                    "{what} [{{bar:30}}] {units} {{msg}} ETA {{eta}}"
                ))
                .expect("template")
                .progress_chars("=> "),
            );
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        Self {
            bar,
            what: what.to_string(),
            last_line: Default::default(),
            metrics: None,
        }
    }

    /// Record updates and observations in `metrics` too.
    pub fn with_metrics(mut self, metrics: Option<&Arc<Metrics>>) -> Self {
        self.metrics = metrics.cloned();
        self
    }
}

/// `--metrics-addr`: the metrics of this run of `command`, served until this is dropped (then,
/// with `--metrics-linger`, until the final figures were scraped once).
pub struct Served {
    metrics: Arc<Metrics>,
    server: Server,
    linger: std::time::Duration,
}

impl Served {
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.linger(self.linger);
    }
}

/// Start serving when `--metrics-addr` is given (None without it).
pub fn serve_metrics(addr: Option<&str>, linger: &str, command: &str) -> Result<Option<Served>> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let linger = crate::spec::duration::parse(linger)
        .map_err(|m| Error::usage(format!("--metrics-linger: {m}"), "e.g. 30s"))?;
    let metrics = Arc::new(Metrics::new(command));
    let server = Server::start(addr, metrics.clone()).map_err(|e| {
        Error::usage(
            format!("--metrics-addr {addr}: cannot listen: {e}"),
            "give a free HOST:PORT, e.g. 127.0.0.1:9464 (port 0 picks a free one and prints it)",
        )
    })?;
    eprintln!("metrics: http://{}/metrics", server.addr());
    Ok(Some(Served {
        metrics,
        server,
        linger: std::time::Duration::from_millis(linger.as_ms()),
    }))
}
