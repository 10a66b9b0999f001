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
