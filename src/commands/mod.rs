//! One module per subcommand. Each wires adapters to the pure core: read, plan, print.

use std::io::Write;
use std::path::Path;

use crate::aws::AwsSettings;
use crate::cli::{Cli, Command, GlobalArgs, OutputArg};
use crate::error::{Error, ExitCode, Result};
use crate::output::{Format, ProgressSettings};

pub mod assess;
pub mod check;
pub mod migrate;
pub mod progress;
pub mod provision;
pub mod reassign;
pub mod render;
pub mod size;
pub mod snapshot;
mod source;
pub mod validate;

/// What every command gets from the global flags.
#[derive(Debug, Clone)]
pub struct Context {
    pub format: Format,
    pub progress: ProgressSettings,
    pub aws: AwsSettings,
}

impl Context {
    pub fn from_globals(g: &GlobalArgs) -> Self {
        Self {
            format: match g.output {
                OutputArg::Table => Format::Table,
                OutputArg::Json => Format::Json,
                OutputArg::Yaml => Format::Yaml,
            },
            progress: ProgressSettings::detect(g.no_progress),
            aws: AwsSettings {
                region: g.region.clone(),
                profile: g.profile.clone(),
                endpoint_url: g.endpoint_url.clone(),
                retry: crate::aws::retry::RetryPolicy {
                    max_attempts: g.max_attempts,
                    max_wait: std::time::Duration::from_secs(g.max_retry_wait.as_secs().max(1)),
                    adaptive: g.retry_mode == crate::cli::RetryMode::Adaptive,
                },
            },
        }
    }

    /// A runtime for the commands that call AWS or Kafka.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| {
                Error::usage(
                    format!("cannot start the async runtime: {e}"),
                    "check the process limits (ulimit -u)",
                )
            })
    }
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ctx = Context::from_globals(&cli.global);
    match cli.command {
        Command::Validate(args) => validate::run(&ctx, &args),
        Command::Size(cmd) => size::run(&ctx, cmd),
        Command::Reassign(args) => reassign::run(&ctx, &args),
        Command::Migrate(cmd) => migrate::run(&ctx, cmd),
        Command::Check(cmd) => check::run(&ctx, cmd),
        Command::Snapshot(args) => snapshot::run(&ctx, &args),
        Command::Assess(args) => assess::run(&ctx, &args),
        Command::Provision(args) => provision::provision(&ctx, &args),
        Command::Render(args) => render::run(&ctx, &args),
        Command::Destroy(args) => provision::destroy(&ctx, &args),
        Command::Inventory(args) => provision::inventory(&ctx, &args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "streamctl", &mut std::io::stdout());
            Ok(ExitCode::Ok)
        }
    }
}

/// Read a file for a command, with an error that names it.
pub fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.display().to_string(),
        source,
    })
}

/// Print a command's result to stdout.
pub fn print(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    match out.write_all(text.as_bytes()).and_then(|_| {
        if text.ends_with('\n') {
            Ok(())
        } else {
            out.write_all(b"\n")
        }
    }) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::WriteFile {
            path: "stdout".into(),
            source: e,
        }),
    }
}

/// Ask on the terminal before a change; without a terminal, refuse with `refusal` (scripts pass
/// `--yes` after reviewing the plan).
pub fn confirm(question: &str, refusal: &str) -> Result<bool> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            refusal,
            "review the plan (--dry-run), then re-run with --yes",
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok();
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
