//! Helpers shared by the integration tests.
// Each test crate includes this module and uses only some of it.
#![allow(dead_code)]

/// The local AWS emulator's endpoint (tests/run.sh starts moto and exports it). `None` only when
/// STREAMCTL_SKIP_AWS=1, which is said loudly; without either, the test fails with a hint.
pub fn moto() -> Option<String> {
    match std::env::var("STREAMCTL_MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => Some(e),
        _ if std::env::var("STREAMCTL_SKIP_AWS").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: AWS emulator tests (STREAMCTL_SKIP_AWS=1)");
            None
        }
        _ => panic!("STREAMCTL_MOTO_ENDPOINT is not set: run the tests with `bash tests/run.sh` (it starts moto), or set STREAMCTL_SKIP_AWS=1"),
    }
}

/// The JSON a successful command printed (its stderr and stdout shown when it failed).
pub fn ok_json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}\nstdout:\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Run `c` with `--output json` and parse what it prints (its stderr shown when it fails).
pub fn json_of(mut c: assert_cmd::Command) -> serde_json::Value {
    ok_json(&c.args(["--output", "json"]).output().unwrap())
}

/// `streamctl --output json migrate diskless ... --yes --follow --follow-interval 500ms` from
/// `source` to `target` with `journal` and `--topics topics`; callers add what their test needs.
#[allow(dead_code)] // not every test target follows
pub fn follower(
    (source, target): (&str, &str),
    journal: &std::path::Path,
    topics: &str,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("streamctl"));
    cmd.args(["--output", "json", "--no-progress", "migrate", "diskless"])
        .args(["--source-bootstrap", source, "--target-bootstrap", target])
        .args(["--journal", journal.to_str().unwrap(), "--topics", topics])
        .args(["--yes", "--follow", "--follow-interval", "500ms"]);
    cmd
}

/// A streamctl run in the background whose stderr goes to a file (a pipe nobody reads while it
/// runs could fill up and block it). Killed if the test ends (or panics) with it still running.
pub struct Running {
    child: Option<std::process::Child>,
    pub log: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Running {
    /// Start `cmd` with its stderr in `log`; stdout is kept for [`Running::finish`].
    pub fn spawn(mut cmd: std::process::Command, log: std::path::PathBuf) -> Running {
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Running {
            child: Some(child),
            log,
        }
    }

    fn child(&mut self) -> &mut std::process::Child {
        self.child.as_mut().expect("still running")
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("still running").id()
    }

    /// Whether it has not exited yet.
    pub fn is_running(&mut self) -> bool {
        self.child().try_wait().unwrap().is_none()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Poll `ready` until it holds. The test keeps no clock of its own: if the run ends first
    /// (streamctl's own stall detection, an error), the test fails with what the run said.
    pub fn wait_until(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        loop {
            if ready() {
                return;
            }
            if let Some(status) = self.child().try_wait().unwrap() {
                let mut out = String::new();
                if let Some(o) = self.child().stdout.as_mut() {
                    let _ = std::io::Read::read_to_string(o, &mut out);
                }
                panic!(
                    "the run ended ({status}) before {what}:\n{}\nstdout:\n{out}",
                    self.log()
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Wait for the run to end; its stdout, with its log shown when it failed.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let log = self.log.clone();
        let out = self.child.take().unwrap().wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}\nstdout:\n{stdout}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        (out.status, stdout)
    }

    /// Ask it to stop as an operator's Ctrl-C or a CI cancel would (SIGTERM).
    pub fn sigterm(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &self.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -TERM {}", self.id());
    }

    /// Kill it (SIGKILL) and reap it.
    pub fn kill(mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

/// `--metrics-addr 127.0.0.1:0` on a run: the URL it serves (from the line it prints on
/// stderr), and a scraper — tests/common/scrape.py, which parses every scrape with the Prometheus
/// project's own Python client (`prometheus_client`) — following it until it exits.
#[allow(dead_code)] // not every test target scrapes
pub struct Scraper {
    child: std::process::Child,
}

#[allow(dead_code)]
impl Running {
    /// Wait for the metrics line and start scraping every 0.3 s until this run exits.
    pub fn scrape(&mut self) -> Scraper {
        let mut url = String::new();
        let path = self.log.clone();
        self.wait_until("it serves metrics", || {
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            match log.lines().find_map(|l| l.strip_prefix("metrics: ")) {
                Some(u) => {
                    url = u.trim().to_string();
                    true
                }
                None => false,
            }
        });
        let python = std::env::var("STREAMCTL_PYTHON")
            .expect("tests/aws/moto.sh up exports STREAMCTL_PYTHON (the tests' venv)");
        let child = std::process::Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/common/scrape.py"
            ))
            .args([
                &url,
                "--until-exit",
                &self.id().to_string(),
                "--every",
                "0.3",
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Scraper { child }
    }
}

#[allow(dead_code)]
impl Scraper {
    /// The scraper's result once the run has ended (call after reaping the run): `scrapes`, the
    /// `last` samples and each sample's `max`.
    pub fn result(self) -> Scraped {
        let out = self.child.wait_with_output().unwrap();
        assert!(out.status.success(), "the scraper failed (a parse error?)");
        Scraped(serde_json::from_slice(&out.stdout).unwrap())
    }
}

/// What [`Scraper::result`] read.
#[allow(dead_code)]
pub struct Scraped(pub serde_json::Value);

#[allow(dead_code)]
impl Scraped {
    pub fn scrapes(&self) -> u64 {
        self.0["scrapes"].as_u64().unwrap()
    }

    /// The value of `name` with exactly these labels in the last scrape.
    pub fn last(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0["last"].as_array().unwrap().iter().find_map(|s| {
            let l = s[1].as_object().unwrap();
            (s[0] == name
                && l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| l.get(*k).and_then(|x| x.as_str()) == Some(*v)))
            .then(|| s[2].as_f64().unwrap())
        })
    }

    /// The largest value `name` with these labels had over all scrapes.
    pub fn max(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut sorted: Vec<(&str, &str)> = labels.to_vec();
        sorted.sort();
        let key = format!(
            "{name}{{{}}}",
            sorted
                .iter()
                .map(|(k, v)| format!("\"{k}\": \"{v}\""))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.0["max"][key].as_f64()
    }
}

#[allow(dead_code)]
impl Scraped {
    /// `streamctl_diskless_partition{figure}` of `topic`'s partitions 0..n, summed: each one's
    /// largest value over the scrapes (`max`), or its value in the last scrape.
    pub fn partitions_sum(&self, topic: &str, n: i32, figure: &str, max: bool) -> f64 {
        (0..n)
            .map(|p| {
                let p = p.to_string();
                let labels = [
                    ("topic", topic),
                    ("partition", p.as_str()),
                    ("figure", figure),
                ];
                let v = if max {
                    self.max("streamctl_diskless_partition", &labels)
                } else {
                    self.last("streamctl_diskless_partition", &labels)
                };
                v.unwrap_or(0.0)
            })
            .sum()
    }
}
