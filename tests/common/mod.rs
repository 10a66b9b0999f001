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

/// A streamctl run in the background whose stderr goes to a file (a pipe nobody reads while it
/// runs could fill up and block it).
pub struct Running {
    pub child: std::process::Child,
    pub log: std::path::PathBuf,
}

impl Running {
    /// Start `cmd` with its stderr in `log`; stdout is kept for [`Running::finish`].
    pub fn spawn(mut cmd: std::process::Command, log: std::path::PathBuf) -> Running {
        let child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Running { child, log }
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
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut out = String::new();
                if let Some(o) = self.child.stdout.as_mut() {
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
    pub fn finish(self) -> (std::process::ExitStatus, String) {
        let log = self.log.clone();
        let out = self.child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{}\nstdout:\n{stdout}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        (out.status, stdout)
    }

    /// Kill it (SIGKILL) and reap it.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}
