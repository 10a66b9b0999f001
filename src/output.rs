//! Output: human tables by default, JSON or YAML with stable field names for scripts, and
//! progress indicators that stay out of pipes.

use std::io::IsTerminal;

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::error::{Error, Result};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
}

/// Serialize `value` for scripts, or build the human table.
pub fn render<T: Serialize>(
    format: Format,
    value: &T,
    table: impl FnOnce() -> String,
) -> Result<String> {
    match format {
        Format::Table => Ok(table()),
        Format::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| Error::Encode(e.to_string())),
        Format::Yaml => serde_yaml_ng::to_string(value).map_err(|e| Error::Encode(e.to_string())),
    }
}

/// A plain table with a header row.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.iter().map(Cell::new));
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

/// Round for display (tables only; JSON keeps full precision).
pub fn num(x: f64, decimals: usize) -> String {
    if x.is_infinite() {
        return "∞".into();
    }
    format!("{x:.decimals$}")
}

/// Settings that decide whether progress is drawn.
#[derive(Debug, Clone, Copy)]
pub struct ProgressSettings {
    pub enabled: bool,
}

impl ProgressSettings {
    /// Progress is drawn only on a terminal, and never with `--no-progress`.
    pub fn detect(no_progress: bool) -> Self {
        Self {
            enabled: !no_progress
                && std::io::stderr().is_terminal()
                && std::io::stdout().is_terminal(),
        }
    }

    /// A spinner for work of unknown length (hidden when progress is off).
    pub fn spinner(&self, message: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"),
        );
        pb.set_message(message.to_string());
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    }

    /// A bar for `len` steps (hidden when progress is off).
    pub fn bar(&self, len: u64, prefix: &str) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::new(len);
        pb.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_prefix(prefix.to_string());
        pb
    }
}
