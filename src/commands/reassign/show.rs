//! `reassign`'s human output: the plan's summary and tables, and the execution's report.

use super::ReassignReport;
use crate::assign::Summary;
use crate::execute::runner::ExecReport;
use crate::output::table;
use crate::units::{human_bytes, human_duration};

pub(super) fn human(r: &ReassignReport) -> String {
    let s = r.summary;
    let mut out = format!("balance: {} ({})\n", s.balance.as_str(), s.balance_reason);
    if s.partitions_changed == 0 {
        out.push_str("nothing to do: every partition is spread over AZs and brokers and leaders are balanced\n");
    } else {
        out.push_str(&format!(
            "plan: {} replica moves (lower bound {}), {} to copy, {} partitions changed, {} leader changes\n",
            s.replicas_moved,
            s.lower_bound_moves,
            human_bytes(s.bytes_moved),
            s.partitions_changed,
            s.leader_changes
        ));
    }
    out.push_str(&format!(
        "AZ violations: {} before, {} after",
        s.az_violations_before, s.az_violations_after
    ));
    if let (Some(secs), Some(t)) = (s.estimated_seconds, s.throttle_bytes_per_sec) {
        out.push_str(&format!(
            "; about {} at {}/s per broker",
            human_duration(secs),
            human_bytes(t as u64)
        ));
    }
    out.push('\n');
    if let Some(b) = &s.byte_balance {
        out.push_str(&format!(
            "bytes: every broker within ±{:.0} % of its AZ's mean: max/mean {:.2} → {:.2}, min/mean {:.2} → {:.2}; {} moved, lower bound {}\n",
            b.tolerance * 100.0,
            b.max_over_mean_before,
            b.max_over_mean_after,
            b.min_over_mean_before,
            b.min_over_mean_after,
            human_bytes(s.bytes_moved),
            human_bytes(b.lower_bound_bytes)
        ));
    }
    if s.topic_spread_violations_before + s.topic_spread_violations_after > 0 {
        out.push_str(&format!(
            "topic spread: {} replicas above ceil(topic replicas in the AZ / its brokers) + 1 on a broker before, {} after\n",
            s.topic_spread_violations_before, s.topic_spread_violations_after
        ));
    }
    if !s.topic_spread_unmet.is_empty() {
        let n = s.topic_spread_unmet.len();
        out.push_str(&format!(
            "topic spread not reached for {n} topic(s): {}{} (the AZ rule, disk capacity or the move budget left no move that fixes it)\n",
            s.topic_spread_unmet.iter().take(10).cloned().collect::<Vec<_>>().join(", "),
            if n > 10 { ", ..." } else { "" }
        ));
    }
    if s.budget_limited {
        out.push_str(
            "budget: the move budget left some moves out; run again after this plan completes\n",
        );
    }
    out.push_str(&broker_table(s));
    out.push('\n');
    out.push_str(&az_table(s));
    if let Some(p) = &r.plan_out {
        out.push_str(&format!("\nplan written to {p} (kafka-reassign-partitions.sh --execute --reassignment-json-file {p})"));
    }
    if let Some(p) = &r.rollback_out {
        out.push_str(&format!("\nrollback written to {p}"));
    }
    out
}

/// One paragraph: what the execution did, then notes and what is still set.
pub(super) fn human_exec(report: &ExecReport) -> String {
    format!(
        "{:?}: {} partitions, {} replicas moved ({}), in {} (bound {} at {}/s per broker); {} throttle settings removed; {}",
        report.phase,
        report.partitions,
        report.replicas_moved,
        human_bytes(report.bytes_moved),
        human_duration(report.duration_seconds),
        human_duration(report.bound_seconds),
        human_bytes(report.throttle_bytes_per_sec),
        report.throttles_removed,
        if report.verified { "verified: every partition matches the plan".to_string() } else { format!("{} partition(s) not yet at the plan: {}", report.mismatched.len(), report.mismatched.iter().take(5).cloned().collect::<Vec<_>>().join(" ")) }
    ) + &report.advice.iter().map(|a| format!("\nnote: {a}")).collect::<String>()
        + &report.cleanup_pending.iter().map(|p| format!("\nstill set (broker not reachable; the next run, --verify or --cancel removes them): {p}")).collect::<String>()
}

/// Per broker: replicas, leaders, bytes before → after, bytes in and out, disk use.
fn broker_table(s: &Summary) -> String {
    let rows: Vec<Vec<String>> = s
        .brokers
        .iter()
        .map(|b| {
            vec![
                format!("{}{}", b.id, if b.removed { " (drain)" } else { "" }),
                b.rack.clone().unwrap_or_default(),
                format!("{} → {}", b.replicas_before, b.replicas_after),
                format!("{} → {}", b.leaders_before, b.leaders_after),
                format!(
                    "{} → {}",
                    human_bytes(b.bytes_before),
                    human_bytes(b.bytes_after)
                ),
                human_bytes(b.bytes_in),
                human_bytes(b.bytes_out),
                match (b.utilisation_before, b.utilisation_after) {
                    (Some(x), Some(y)) => format!("{:.0} % → {:.0} %", x * 100.0, y * 100.0),
                    _ => "-".into(),
                },
            ]
        })
        .collect();
    // The disk column only where some broker's disk size is known.
    let sized = s.brokers.iter().any(|b| b.capacity_bytes.is_some());
    let header = [
        "broker",
        "rack",
        "replicas",
        "leaders",
        "bytes",
        "in",
        "out",
        "disk used",
    ];
    let rows = rows
        .into_iter()
        .map(|mut r| {
            if !sized {
                r.pop();
            }
            r
        })
        .collect();
    table(&header[..if sized { 8 } else { 7 }], rows)
}

/// Per AZ: brokers, replicas, leaders, bytes before → after.
fn az_table(s: &Summary) -> String {
    let rows = s
        .azs
        .iter()
        .map(|z| {
            vec![
                z.rack.clone(),
                z.brokers.to_string(),
                format!("{} → {}", z.replicas_before, z.replicas_after),
                format!("{} → {}", z.leaders_before, z.leaders_after),
                format!(
                    "{} → {}",
                    human_bytes(z.bytes_before),
                    human_bytes(z.bytes_after)
                ),
            ]
        })
        .collect();
    table(&["AZ", "brokers", "replicas", "leaders", "bytes"], rows)
}
