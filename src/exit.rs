//! The process exit codes (`docs/exit-codes.md`). A leaf: module errors say which code they
//! mean without depending on the top-level error.

/// Process exit codes. Stable: scripts depend on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success (and, with `--detailed-exitcode`, nothing to change).
    Ok = 0,
    /// An operation failed: an AWS or Kafka call, a file write, an interrupted run.
    Failed = 1,
    /// Bad input or usage: malformed or impossible spec, bad flags. Nothing was changed.
    BadInput = 2,
    /// `--dry-run --detailed-exitcode`: the plan has changes.
    ChangesPending = 3,
    /// A check ran and found problems (e.g. `check az-tolerance`).
    CheckFailed = 4,
    /// The work is done but some settings could not be removed because their broker is down
    /// (`reassign --execute/--verify/--cancel`): run the same command again once it is back.
    CleanupPending = 5,
    /// A TLS handshake or an authentication was refused (CA, host name, client certificate,
    /// password, mechanism, token, Connect credentials), on the admin plane, the record copier
    /// or the Connect REST API. Nothing was changed; retrying will not help until it is fixed.
    AuthFailed = 6,
}

impl ExitCode {
    /// The code a number stands for (another process's exit, reported back); 1 for anything
    /// unknown.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Self::Ok,
            2 => Self::BadInput,
            3 => Self::ChangesPending,
            4 => Self::CheckFailed,
            5 => Self::CleanupPending,
            6 => Self::AuthFailed,
            _ => Self::Failed,
        }
    }
}
