//! The `streamctl` binary: parse → run → report the error → exit code.

use clap::Parser;
use streamctl::cli::Cli;
use streamctl::error::Error;

fn main() {
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    let code = match streamctl::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            e.exit_code()
        }
    };
    std::process::exit(code as i32);
}

/// Logs go to stderr; `STREAMCTL_LOG` (a tracing filter) overrides -v/-q.
fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    // Progress lines (shown when there is no progress bar) are on unless --quiet.
    let progress = if quiet { "error" } else { "info" };
    let filter = std::env::var("STREAMCTL_LOG")
        .unwrap_or_else(|_| format!("streamctl={level},streamctl::progress={progress},warn"));
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn report(e: &Error) {
    match e {
        // Spec errors are already `file:line:col: error: ...` lines with their hints.
        Error::Spec(s) => eprintln!("{s}"),
        _ => {
            let top = e.to_string();
            eprintln!("error: {top}");
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                let text = s.to_string();
                // Most messages already quote their cause; do not say it twice.
                if !top.contains(&text) {
                    eprintln!("  caused by: {text}");
                }
                source = s.source();
            }
            if let Some(h) = e.hint() {
                eprintln!("hint: {h}");
            }
        }
    }
}
