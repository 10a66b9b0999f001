//! `reassign`'s flags resolved into settings, every one checked (and rejected with its name)
//! before any file is written or any connection made.

use std::collections::BTreeMap;
use std::path::PathBuf;

use regex::Regex;

use crate::assign::{self, Cluster, PlanOptions};
use crate::cli::ReassignArgs;
use crate::error::{Error, Result};
use crate::execute::runner::ExecOptions;
use crate::units::{parse_bytes, parse_rate};

/// What the command does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Plan offline (or from a live snapshot) and write the plan; change nothing.
    Plan,
    Execute,
    Verify,
    Cancel,
}

/// The command's settings.
pub(super) struct Settings {
    pub mode: Mode,
    /// What to plan (`throttle_bytes_per_sec` is `--throttle`, when given).
    pub plan: PlanOptions,
    /// `--broker-capacity`: disk size per broker id.
    pub capacities: BTreeMap<i32, u64>,
    /// Where `--broker-capacity` came from, for its errors.
    pub capacity_file: Option<PathBuf>,
    /// `--throttle-file`: per-broker replication throttles.
    pub broker_throttles: BTreeMap<i32, u64>,
    /// `--plan-file`: a reviewed plan to execute as it is.
    pub plan_file: Option<(PathBuf, Cluster)>,
    pub plan_out: Option<PathBuf>,
    pub rollback_out: Option<PathBuf>,
    pub journal: PathBuf,
    pub exec: ExecOptions,
    pub one_replica_at_a_time: bool,
}

impl Settings {
    pub fn from_args(a: &ReassignArgs) -> Result<Self> {
        let mode = if a.cancel {
            Mode::Cancel
        } else if a.verify {
            Mode::Verify
        } else if a.execute {
            Mode::Execute
        } else {
            Mode::Plan
        };
        let topics = a
            .topics
            .as_deref()
            .map(|t| {
                Regex::new(t).map_err(|e| {
                    Error::usage(
                        format!("--topics: {e}"),
                        "write a regular expression, e.g. '^orders\\.'",
                    )
                })
            })
            .transpose()?;
        let max_move_bytes = a
            .max_move_bytes
            .as_deref()
            .map(|s| {
                parse_bytes(s)
                    .map_err(|m| Error::usage(format!("--max-move-bytes: {m}"), "e.g. 500GiB"))
            })
            .transpose()?;
        let throttle = a.throttle.as_deref().map(throttle).transpose()?;
        if mode == Mode::Execute && throttle.is_none() {
            return Err(Error::usage(
                "--execute needs --throttle",
                "e.g. --throttle 50MiB/s: unthrottled moves can saturate brokers and starve clients",
            ));
        }
        if mode == Mode::Plan && a.metrics.metrics_addr.is_some() {
            return Err(Error::usage(
                "--metrics-addr serves the metrics of a live run",
                "add --execute (or --verify / --cancel), or drop --metrics-addr",
            ));
        }
        if a.max_concurrent_moves_per_broker == 0 {
            return Err(Error::usage(
                "--max-concurrent-moves-per-broker must be at least 1",
                "the default is 2",
            ));
        }
        let (balance, byte_tolerance) = balance_of(a)?;
        let capacities = match &a.broker_capacity {
            Some(f) => {
                parse_sized_lines(&super::super::read_file(f)?, parse_bytes).map_err(|m| {
                    Error::usage(
                        format!("{}: {m}", f.display()),
                        "write BROKER_ID=SIZE lines, e.g. 4=2TiB",
                    )
                })?
            }
            None => BTreeMap::new(),
        };
        let broker_throttles = match &a.throttle_file {
            Some(f) => parse_throttle_file(&super::super::read_file(f)?).map_err(|m| {
                Error::usage(
                    format!("{}: {m}", f.display()),
                    "write BROKER_ID=RATE lines, e.g. 4=20MiB/s",
                )
            })?,
            None => BTreeMap::new(),
        };
        // A reviewed plan file is read (and rejected, with line and column) before any connection.
        let plan_file = match &a.plan_file {
            Some(f) => Some((
                f.clone(),
                assign::snapshot::parse_kafka_assignment(
                    &super::super::read_file(f)?,
                    &Default::default(),
                )
                .map_err(|source| Error::Format {
                    path: f.display().to_string(),
                    source,
                })?,
            )),
            None => None,
        };
        Ok(Self {
            mode,
            plan: PlanOptions {
                remove_brokers: a.remove_brokers.iter().copied().collect(),
                topics,
                max_moves: a.max_moves,
                max_move_bytes,
                throttle_bytes_per_sec: throttle,
                balance,
                byte_tolerance,
                max_disk_utilisation: Some(a.max_disk_utilisation),
            },
            capacities,
            capacity_file: a.broker_capacity.clone(),
            broker_throttles,
            plan_file,
            plan_out: a.plan_out.clone(),
            rollback_out: a.rollback_out.clone(),
            journal: a.journal.clone(),
            exec: ExecOptions {
                max_per_broker: a.max_concurrent_moves_per_broker,
                additional: a.additional,
                min_isr_guard: a.respect_min_isr.then_some(a.min_insync),
                poll: std::time::Duration::from_millis(a.poll_ms.max(50)),
            },
            one_replica_at_a_time: a.one_replica_at_a_time,
        })
    }

    /// `--broker-capacity` sizes set on the brokers they name.
    pub fn apply_capacities(&self, cluster: &mut Cluster) -> Result<()> {
        for (&id, &size) in &self.capacities {
            let Some(b) = cluster.brokers.iter_mut().find(|b| b.id == id) else {
                let file = self
                    .capacity_file
                    .as_ref()
                    .map_or(String::new(), |f| f.display().to_string());
                return Err(Error::usage(
                    format!("{file}: broker {id} is not in the cluster"),
                    "name brokers by their node.id",
                ));
            };
            b.capacity_bytes = Some(size);
        }
        Ok(())
    }
}

/// `--throttle`: a rate above zero, bytes/s.
fn throttle(s: &str) -> Result<f64> {
    let r = parse_rate(s).map_err(|m| Error::usage(format!("--throttle: {m}"), "e.g. 50MiB/s"))?;
    if r == 0 {
        return Err(Error::usage(
            "--throttle must be above zero",
            "e.g. 50MiB/s",
        ));
    }
    Ok(r as f64)
}

/// `--balance` and `--byte-tolerance`, checked.
fn balance_of(a: &ReassignArgs) -> Result<(assign::Balance, f64)> {
    if !(a.byte_tolerance > 0.0 && a.byte_tolerance < 1.0) {
        return Err(Error::usage(
            format!(
                "--byte-tolerance {} is not between 0 and 1",
                a.byte_tolerance
            ),
            "a fraction of the AZ mean, e.g. 0.05 for ±5 %",
        ));
    }
    Ok(match a.balance {
        crate::cli::BalanceArg::Auto => (assign::Balance::Auto, a.byte_tolerance),
        crate::cli::BalanceArg::Replicas => (assign::Balance::Replicas, a.byte_tolerance),
        crate::cli::BalanceArg::Bytes => (assign::Balance::Bytes, a.byte_tolerance),
        crate::cli::BalanceArg::Both => (assign::Balance::Both, a.byte_tolerance),
    })
}

/// `BROKER_ID=RATE` lines (`#` comments) for `--throttle-file`.
pub fn parse_throttle_file(text: &str) -> std::result::Result<BTreeMap<i32, u64>, String> {
    parse_sized_lines(text, parse_rate)
}

/// `BROKER_ID=VALUE` lines (`#` comments), each value parsed by `parse` and above zero.
fn parse_sized_lines(
    text: &str,
    parse: fn(&str) -> std::result::Result<u64, String>,
) -> std::result::Result<BTreeMap<i32, u64>, String> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
    {
        let (b, r) = line
            .split_once('=')
            .ok_or_else(|| format!("`{line}` is not BROKER_ID=VALUE"))?;
        let b: i32 = b
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a broker id", b.trim()))?;
        let r = parse(r).map_err(|m| format!("broker {b}: {m}"))?;
        if r == 0 {
            return Err(format!("broker {b}: 0 is not a usable value"));
        }
        out.insert(b, r);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_files() {
        let m = parse_throttle_file("# per broker\n1=10MiB/s\n4 = 20MB/s\n").unwrap();
        assert_eq!(m[&1], 10 << 20);
        assert_eq!(m[&4], 20_000_000);
        assert!(parse_throttle_file("x=1").is_err());
        assert!(parse_throttle_file("1=0").is_err());
    }
}
