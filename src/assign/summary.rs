//! What a plan does, computed from the snapshot and the new assignment alone, so that applying
//! the plan to the snapshot and summarising gives the same report (a property test checks it).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::cluster::Cluster;
use super::options::{Balance, PlanOptions};
use super::work::IntMap;

/// `reassign --output json`. Stable field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub replicas_moved: u64,
    pub bytes_moved: u64,
    pub partitions_changed: u64,
    pub leader_changes: u64,
    /// The fewest replica moves that can reach the targets (see docs/reassign.md).
    pub lower_bound_moves: u64,
    /// AZ violations among the partitions in scope (`--topics`), before and after.
    pub az_violations_before: u64,
    pub az_violations_after: u64,
    /// Partitions (in scope) with replicas on removed brokers after the plan.
    pub replicas_on_removed_brokers_after: u64,
    /// Replicas of a topic on one live broker beyond the spread rule's limit, ceil(the topic's
    /// replicas in the broker's AZ / the AZ's live brokers) + 1, summed over topics (in scope)
    /// and brokers, before and after.
    pub topic_spread_violations_before: u64,
    pub topic_spread_violations_after: u64,
    /// Topics still above the limit on some broker after the plan (where the AZ rule, the
    /// brokers' capacity or the move budget left no move that fixes it).
    pub topic_spread_unmet: Vec<String>,
    /// The balance mode the plan used, and why (`--balance auto` picks one).
    pub balance: Balance,
    pub balance_reason: String,
    /// False when a move budget left required moves out.
    pub complete: bool,
    pub budget_limited: bool,
    /// Time to copy the bytes at the throttle: the busiest broker's bytes in or out ÷ throttle.
    pub estimated_seconds: Option<f64>,
    pub throttle_bytes_per_sec: Option<f64>,
    pub brokers: Vec<BrokerSummary>,
    pub azs: Vec<AzSummary>,
    /// With `--balance bytes`: the band, the bound and how even the bytes are before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_balance: Option<ByteBalance>,
}

/// How even each AZ's brokers' bytes are (the worst AZ), and the fewest bytes any plan moves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ByteBalance {
    /// Every broker within ± this fraction of its AZ's mean.
    pub tolerance: f64,
    /// Forced moves' bytes plus, per AZ, the bytes out of the band (see docs/reassign.md).
    pub lower_bound_bytes: u64,
    pub max_over_mean_before: f64,
    pub max_over_mean_after: f64,
    pub min_over_mean_before: f64,
    pub min_over_mean_after: f64,
}

impl ByteBalance {
    pub fn of(s: &Summary, tolerance: f64, lower_bound_bytes: u64) -> Self {
        // Per AZ (live brokers), the largest and smallest bytes over the AZ's mean.
        let ratio = |after: bool| -> (f64, f64) {
            let mut by_az: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
            for b in s.brokers.iter().filter(|b| !b.removed) {
                let bytes = if after { b.bytes_after } else { b.bytes_before };
                by_az
                    .entry(b.rack.as_deref().unwrap_or(""))
                    .or_default()
                    .push(bytes);
            }
            let (mut max, mut min) = (1.0f64, 1.0f64);
            for v in by_az.values() {
                let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
                if mean > 0.0 {
                    for &x in v {
                        max = max.max(x as f64 / mean);
                        min = min.min(x as f64 / mean);
                    }
                }
            }
            (max, min)
        };
        let (max_b, min_b) = ratio(false);
        let (max_a, min_a) = ratio(true);
        Self {
            tolerance,
            lower_bound_bytes,
            max_over_mean_before: max_b,
            max_over_mean_after: max_a,
            min_over_mean_before: min_b,
            min_over_mean_after: min_a,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerSummary {
    pub id: i32,
    pub rack: Option<String>,
    pub removed: bool,
    pub replicas_before: u64,
    pub replicas_after: u64,
    pub leaders_before: u64,
    pub leaders_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Bytes this broker receives (new replicas) and sends (as the leader new replicas copy from).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The broker's disk size where known (live snapshots, `--broker-capacity`), and its
    /// utilisation before and after (all its partitions' bytes over it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilisation_before: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utilisation_after: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AzSummary {
    pub rack: String,
    pub brokers: u64,
    pub replicas_before: u64,
    pub replicas_after: u64,
    pub leaders_before: u64,
    pub leaders_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// Summarise the plan `changes` (partition index → new replicas) against `cluster`.
///
/// One piece on purpose: a single pass over the partitions fills every per-broker and per-AZ
/// figure at once (a pass per figure would walk 3M replicas a dozen times).
pub fn summarize(
    cluster: &Cluster,
    changes: &BTreeMap<usize, &[i32]>,
    opts: &PlanOptions,
    lower_bound_moves: u64,
    budget_limited: bool,
) -> Summary {
    let live_azs: BTreeSet<&str> = cluster
        .brokers
        .iter()
        .filter(|b| !opts.remove_brokers.contains(&b.id))
        .filter_map(|b| b.rack.as_deref())
        .collect();
    let nz = live_azs.len().max(1);
    // The brokers in id order, found by id through one integer map (6M lookups at 3M replicas),
    // each with its rack as an index into every rack name.
    let mut by_id: Vec<&super::cluster::Broker> = cluster.brokers.iter().collect();
    by_id.sort_by_key(|b| b.id);
    let slot: IntMap<i32, usize> = by_id.iter().enumerate().map(|(i, b)| (b.id, i)).collect();
    let mut racks: Vec<&str> = by_id.iter().filter_map(|b| b.rack.as_deref()).collect();
    racks.sort_unstable();
    racks.dedup();
    let rack_ix: Vec<Option<usize>> = by_id
        .iter()
        .map(|b| b.rack.as_deref().and_then(|r| racks.binary_search(&r).ok()))
        .collect();
    let mut brokers: Vec<BrokerSummary> = by_id
        .iter()
        .map(|b| BrokerSummary {
            id: b.id,
            rack: b.rack.clone(),
            removed: opts.remove_brokers.contains(&b.id),
            replicas_before: 0,
            replicas_after: 0,
            leaders_before: 0,
            leaders_after: 0,
            bytes_before: 0,
            bytes_after: 0,
            bytes_in: 0,
            bytes_out: 0,
            capacity_bytes: b.capacity_bytes.filter(|&c| c > 0),
            utilisation_before: None,
            utilisation_after: None,
        })
        .collect();
    // Replicas beyond ceil(RF / live AZs) in one rack (`seen` is scratch space).
    let mut seen: Vec<usize> = Vec::new();
    let mut violations = |replicas: &[i32]| -> u64 {
        let c = replicas.len().div_ceil(nz);
        seen.clear();
        seen.extend(
            replicas
                .iter()
                .filter_map(|id| slot.get(id).and_then(|&i| rack_ix[i])),
        );
        seen.sort_unstable();
        seen.chunk_by(|a, b| a == b)
            .map(|run| run.len().saturating_sub(c) as u64)
            .sum()
    };
    let mut s = Summary {
        replicas_moved: 0,
        bytes_moved: 0,
        partitions_changed: changes.len() as u64,
        leader_changes: 0,
        lower_bound_moves,
        az_violations_before: 0,
        az_violations_after: 0,
        replicas_on_removed_brokers_after: 0,
        topic_spread_violations_before: 0,
        topic_spread_violations_after: 0,
        topic_spread_unmet: Vec::new(),
        balance: opts.balance,
        balance_reason: String::new(),
        complete: !budget_limited,
        budget_limited,
        estimated_seconds: None,
        throttle_bytes_per_sec: opts.throttle_bytes_per_sec,
        brokers: Vec::new(),
        azs: Vec::new(),
        byte_balance: None,
    };
    // The new replicas by partition index (one pass over the plan, no map lookup per partition).
    let mut new: Vec<Option<&[i32]>> = vec![None; cluster.partitions.len()];
    for (&p, r) in changes {
        if let Some(x) = new.get_mut(p) {
            *x = Some(r);
        }
    }
    (
        s.topic_spread_violations_before,
        s.topic_spread_violations_after,
        s.topic_spread_unmet,
    ) = topic_spread_violations(cluster, &new, opts);
    for (p, pa) in cluster.partitions.iter().enumerate() {
        let in_scope = opts.topics.as_ref().is_none_or(|re| re.is_match(&pa.topic));
        let before = pa.replicas.as_slice();
        let after = new[p].unwrap_or(before);
        let size = pa.move_bytes();
        if in_scope {
            s.az_violations_before += violations(before);
            s.az_violations_after += violations(after);
        }
        if in_scope && after.iter().any(|b| opts.remove_brokers.contains(b)) {
            s.replicas_on_removed_brokers_after += after
                .iter()
                .filter(|b| opts.remove_brokers.contains(b))
                .count() as u64;
        }
        if before.first() != after.first() {
            s.leader_changes += 1;
        }
        for (i, id) in before.iter().enumerate() {
            if let Some(b) = slot.get(id).map(|&i| &mut brokers[i]) {
                b.replicas_before += 1;
                b.bytes_before += size;
                b.leaders_before += u64::from(i == 0);
            }
        }
        for (i, id) in after.iter().enumerate() {
            if let Some(b) = slot.get(id).map(|&i| &mut brokers[i]) {
                b.replicas_after += 1;
                b.bytes_after += size;
                b.leaders_after += u64::from(i == 0);
            }
        }
        for id in after.iter().filter(|b| !before.contains(b)) {
            s.replicas_moved += 1;
            s.bytes_moved += size;
            if let Some(&i) = slot.get(id) {
                brokers[i].bytes_in += size;
            }
            // New replicas copy from the partition's current leader.
            if let Some(b) = before
                .first()
                .and_then(|l| slot.get(l))
                .map(|&i| &mut brokers[i])
            {
                b.bytes_out += size;
            }
        }
    }
    if s.az_violations_after > 0 || s.replicas_on_removed_brokers_after > 0 {
        s.complete = false;
    }
    if let Some(t) = opts.throttle_bytes_per_sec.filter(|t| *t > 0.0) {
        let busiest = brokers
            .iter()
            .map(|b| b.bytes_in.max(b.bytes_out))
            .max()
            .unwrap_or(0);
        s.estimated_seconds = Some(busiest as f64 / t);
    }
    for b in &mut brokers {
        if let Some(c) = b.capacity_bytes {
            b.utilisation_before = Some(b.bytes_before as f64 / c as f64);
            b.utilisation_after = Some(b.bytes_after as f64 / c as f64);
        }
    }
    s.azs = az_summaries(&brokers);
    s.brokers = brokers;
    s
}

/// Per topic in scope, how many of its replicas each live broker holds before and after, against
/// the spread rule's limit, one more than `ceil(the topic's replicas in the broker's AZ / the
/// AZ's live brokers)` (of that layout): the replicas above it before and after, and the topics
/// above it after.
/// Partitions are grouped by topic first and each topic counted in reused arrays (linear in the
/// replicas, no map per replica).
fn topic_spread_violations(
    cluster: &Cluster,
    new: &[Option<&[i32]>],
    opts: &PlanOptions,
) -> (u64, u64, Vec<String>) {
    let (mut over_before, mut over_after, mut unmet) = (0u64, 0u64, Vec::new());
    // Live brokers (sorted ids) and their AZ index; AZ sizes.
    let mut live: Vec<(i32, &str)> = cluster
        .brokers
        .iter()
        .filter(|b| !opts.remove_brokers.contains(&b.id))
        .filter_map(|b| Some((b.id, b.rack.as_deref()?)))
        .collect();
    live.sort_unstable();
    let mut az_names: Vec<&str> = live.iter().map(|b| b.1).collect();
    az_names.sort_unstable();
    az_names.dedup();
    let az_of: Vec<usize> = live
        .iter()
        .map(|b| az_names.binary_search(&b.1).unwrap_or(0))
        .collect();
    let mut az_size = vec![0u64; az_names.len()];
    for &a in &az_of {
        az_size[a] += 1;
    }
    let mut by_topic: IntMap<&str, Vec<usize>> = IntMap::default();
    for (p, pa) in cluster.partitions.iter().enumerate() {
        if opts.topics.as_ref().is_none_or(|re| re.is_match(&pa.topic)) {
            by_topic.entry(pa.topic.as_str()).or_default().push(p);
        }
    }
    let mut topics: Vec<(&str, Vec<usize>)> = by_topic.into_iter().collect();
    topics.sort_unstable();
    let n = live.len();
    let (mut before_n, mut after_n) = (vec![0u64; n], vec![0u64; n]);
    let (mut before_az, mut after_az) = (vec![0u64; az_size.len()], vec![0u64; az_size.len()]);
    let mut touched: Vec<usize> = Vec::new();
    for (topic, parts) in topics {
        for &p in &parts {
            let before = cluster.partitions[p].replicas.as_slice();
            let after = new[p].unwrap_or(before);
            for (list, count, per_az) in [
                (before, &mut before_n, &mut before_az),
                (after, &mut after_n, &mut after_az),
            ] {
                for id in list {
                    if let Ok(i) = live.binary_search_by_key(id, |b| b.0) {
                        count[i] += 1;
                        per_az[az_of[i]] += 1;
                        touched.push(i);
                    }
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let limit = |replicas: u64, a: usize| replicas.div_ceil(az_size[a].max(1)) + 1;
        let mut above = false;
        for &i in &touched {
            let a = az_of[i];
            over_before += before_n[i].saturating_sub(limit(before_az[a], a));
            let o = after_n[i].saturating_sub(limit(after_az[a], a));
            over_after += o;
            above |= o > 0;
        }
        for &i in &touched {
            before_n[i] = 0;
            after_n[i] = 0;
            before_az[az_of[i]] = 0;
            after_az[az_of[i]] = 0;
        }
        touched.clear();
        if above {
            unmet.push(topic.to_string());
        }
    }
    (over_before, over_after, unmet)
}

/// Per AZ: live brokers, and replicas, leaders and bytes before and after.
fn az_summaries(brokers: &[BrokerSummary]) -> Vec<AzSummary> {
    let mut azs: BTreeMap<String, AzSummary> = BTreeMap::new();
    for b in brokers {
        let Some(r) = &b.rack else { continue };
        let a = azs.entry(r.clone()).or_insert_with(|| AzSummary {
            rack: r.clone(),
            brokers: 0,
            replicas_before: 0,
            replicas_after: 0,
            leaders_before: 0,
            leaders_after: 0,
            bytes_before: 0,
            bytes_after: 0,
        });
        a.brokers += u64::from(!b.removed);
        a.replicas_before += b.replicas_before;
        a.replicas_after += b.replicas_after;
        a.leaders_before += b.leaders_before;
        a.leaders_after += b.leaders_after;
        a.bytes_before += b.bytes_before;
        a.bytes_after += b.bytes_after;
    }
    azs.into_values().collect()
}
