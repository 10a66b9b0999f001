//! Running the runbooks of docs/runbooks/ as written: their `sh runbook` blocks, in order, in one
//! `bash -euo pipefail`, with the built `streamctl` first on the `PATH`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// The `sh runbook` blocks of a Markdown page (relative to the crate), in order.
pub fn blocks(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(format!("{}/{page}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let (mut out, mut block): (Vec<String>, Option<String>) = (Vec::new(), None);
    for line in text.lines() {
        let l = line.trim_start();
        match block.as_mut() {
            None if l.starts_with("```sh runbook") => block = Some(String::new()),
            Some(_) if l.starts_with("```") => out.extend(block.take()),
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None => {}
        }
    }
    assert!(!out.is_empty(), "{page} has no `sh runbook` block");
    out
}

/// Run every block of a page with `env`; panics with both streams when the runbook fails.
pub fn run(page: &str, env: &[(&str, &str)]) -> Output {
    run_part(page, 0..usize::MAX, env)
}

/// Run blocks `range` of a page (the rest of the page's blocks are left out), as [`run`].
pub fn run_part(page: &str, range: std::ops::Range<usize>, env: &[(&str, &str)]) -> Output {
    let all = blocks(page);
    let script: String = all
        .iter()
        .skip(range.start)
        .take(range.end.saturating_sub(range.start))
        .map(|b| format!("{b}\n"))
        .collect();
    assert!(!script.is_empty(), "{page}: no block in {range:?}");
    let bin = assert_cmd::cargo::cargo_bin("streamctl");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new("bash");
    c.args(["-euo", "pipefail", "-c"])
        .arg(script)
        .env("PATH", path)
        .env_remove("AWS_REGION")
        .env_remove("AWS_PROFILE");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{page} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A JSON file the runbook wrote.
pub fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `assess` step for `successor` (`tiered`, `diskless`) in `dir/assess-report.json`.
pub fn assess_step(dir: &Path, successor: &str) -> Value {
    let assess = json(&dir.join("assess-report.json"));
    assess["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["successor"] == successor)
        .unwrap_or_else(|| panic!("assess wrote no {successor} step: {assess}"))
        .clone()
}

/// `predicted` and `measured` within `ratio` of each other, either way.
pub fn within(predicted: f64, measured: f64, ratio: f64) -> bool {
    predicted.max(measured) / predicted.min(measured).max(1e-3) <= ratio
}
