//! `streamctl migrate`: one module per migration; each parses its flags into the migration's
//! settings, calls its workflow in [`crate::migrate`], and prints.

pub mod diskless;
pub mod tiered;

use super::Context;
use crate::cli::MigrateCommand;
use crate::error::{ExitCode, Result};

pub fn run(ctx: &Context, cmd: MigrateCommand) -> Result<ExitCode> {
    match cmd {
        MigrateCommand::Tiered(a) => tiered::run(ctx, &a),
        MigrateCommand::Diskless(a) => diskless::run(ctx, &a),
    }
}
