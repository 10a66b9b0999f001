//! A cutover asked of a running follower, through the journal's directory (no network port): the
//! operator's `--cutover` finds the journal locked, writes `JOURNAL.cutover-request`, and waits
//! for `JOURNAL.cutover-result`; the follower picks the request up between two rounds, runs the
//! fenced cutover itself (it holds the copy), writes the result and, when the cutover
//! succeeded, stops following.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::DisklessError;
use super::report::Report;
use crate::run::store::{load_json, save_json};

/// What the operator asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// `--groups`.
    pub groups: String,
    pub wait_for_producers_stopped: bool,
    /// `--wait-timeout`, in milliseconds.
    pub wait_ms: u64,
    /// The requesting process, for the follower's log.
    pub pid: u32,
}

/// What the follower did: the report of a cutover, or why it refused or failed (with the exit
/// code the operator's command ends with).
#[derive(Debug, Serialize, Deserialize)]
pub enum Outcome {
    Done(Box<Report>),
    Failed {
        message: String,
        hint: String,
        exit: i32,
    },
}

fn with_suffix(journal: &Path, suffix: &str) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

pub fn request_path(journal: &Path) -> PathBuf {
    with_suffix(journal, ".cutover-request")
}

pub fn result_path(journal: &Path) -> PathBuf {
    with_suffix(journal, ".cutover-result")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DisklessError + '_ {
    move |source| DisklessError::Journal {
        path: path.display().to_string(),
        source,
    }
}

/// Follower side: the pending request, taken (the file is removed), if any.
pub fn take(journal: &Path) -> Result<Option<Request>, DisklessError> {
    let path = request_path(journal);
    let r: Option<Request> = load_json(&path).map_err(io(&path))?;
    if r.is_some() {
        std::fs::remove_file(&path).map_err(io(&path))?;
    }
    Ok(r)
}

/// Follower side: answer the request.
pub fn answer(journal: &Path, outcome: &Outcome) -> Result<(), DisklessError> {
    let path = result_path(journal);
    save_json(&path, outcome).map_err(io(&path))
}

/// Operator side: ask the follower holding the journal (`holder`, its PID) to cut over, and wait
/// for its answer, at most `most`.
pub fn ask(
    journal: &Path,
    request: &Request,
    holder: &str,
    most: Duration,
) -> Result<Report, DisklessError> {
    let result = result_path(journal);
    let _ = std::fs::remove_file(&result);
    let path = request_path(journal);
    save_json(&path, request).map_err(io(&path))?;
    tracing::info!(
        follower = holder,
        "cutover requested of the running follower; waiting for it"
    );
    let until = Instant::now() + most;
    loop {
        let read = load_json::<Outcome>(&result).map_err(|source| DisklessError::ReadJournal {
            path: result.display().to_string(),
            source,
        })?;
        if let Some(o) = read {
            let _ = std::fs::remove_file(&result);
            return match o {
                Outcome::Done(r) => Ok(*r),
                Outcome::Failed {
                    message,
                    hint,
                    exit,
                } => Err(DisklessError::Remote {
                    message: format!(
                        "the follower (PID {holder}) refused or failed the cutover: {message}"
                    ),
                    hint,
                    exit,
                }),
            };
        }
        if Instant::now() > until {
            let _ = std::fs::remove_file(&path);
            return Err(DisklessError::Timeout(format!(
                "the process holding {} (PID {holder}) did not answer the cutover request within {most:?}",
                journal.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::diskless::journal::DisklessJournal;
    use crate::migrate::diskless::report::report;

    #[test]
    fn a_request_and_its_report_cross_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("j.json");
        assert_eq!(take(&j).unwrap(), None);
        let req = Request {
            groups: "^g$".into(),
            wait_for_producers_stopped: true,
            wait_ms: 1000,
            pid: 7,
        };
        save_json(&request_path(&j), &req).unwrap();
        assert_eq!(take(&j).unwrap(), Some(req.clone()));
        assert_eq!(take(&j).unwrap(), None, "taken once");
        // The follower's report reads back as the report (every field it serialises).
        let r = report(&DisklessJournal::new("a:1", "b:2", "t"), None, None, None);
        answer(&j, &Outcome::Done(Box::new(r))).unwrap();
        let got = ask(&j, &req, "7", Duration::from_millis(500));
        // `ask` removed the old result before writing its request: nothing answers it here.
        assert!(matches!(got, Err(DisklessError::Timeout(_))), "{got:?}");
        answer(
            &j,
            &Outcome::Done(Box::new(report(
                &DisklessJournal::new("a:1", "b:2", "t"),
                None,
                None,
                None,
            ))),
        )
        .unwrap();
        let back: Option<Outcome> = load_json(&result_path(&j)).unwrap();
        assert!(matches!(back, Some(Outcome::Done(r)) if r.source == "a:1"));
    }
}
