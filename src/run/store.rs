//! Journal storage, for every kind of journal: read one (absent is not an error), write one
//! atomically, and the clock journals record.

use std::path::Path;

use serde::Serialize;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Read a journal of any kind (`None` when the file does not exist).
pub fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> std::io::Result<Option<T>> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Write a journal of any kind atomically (temp file, fsync, rename): a reader, or a run killed
/// mid-write, sees the old or the new file, never half of one.
pub fn save_json<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(
        serde_json::to_string_pretty(value)
            .expect("journal serialises")
            .as_bytes(),
    )?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// An exclusive hold on a journal for as long as this process runs one step on it: an OS file
/// lock on `JOURNAL.lock` (released by the OS when the process ends, however it ends), with
/// the holder's PID written inside so a refused second process can name it.
#[derive(Debug)]
pub struct JournalLock {
    _file: std::fs::File,
}

/// Why a journal could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path} is in use by another streamctl process (PID {pid})")]
    Held { path: String, pid: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl JournalLock {
    /// Lock `journal` (its `.lock` file beside it), or say who holds it.
    pub fn acquire(journal: &Path) -> Result<Self, LockError> {
        use std::io::{Read, Seek, Write};
        let mut name = journal.as_os_str().to_owned();
        name.push(".lock");
        let path = std::path::PathBuf::from(name);
        let io = |source| LockError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Held {
                    path: journal.display().to_string(),
                    pid: pid.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_a_released_one_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("sub/journal.json");
        let held = JournalLock::acquire(&j).unwrap();
        match JournalLock::acquire(&j) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("{other:?}"),
        }
        drop(held);
        JournalLock::acquire(&j).unwrap();
    }
}
