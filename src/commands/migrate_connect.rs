//! `migrate diskless --engine connect`: the Connect cluster's preflight, the connector config,
//! and the real [`Quotas`] over the source's admin connection. The flow itself is in
//! `migrate_diskless.rs` (same command, same verify and cutover).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::connect::rest::RestConnect;
use crate::connect::ConnectApi;
use crate::error::{Error, Result};
use crate::kafka::admin::KafkaAdmin;
use crate::kafka::{ClusterAdmin, KafkaError};
use crate::migrate::connect::engine::Quotas;
use crate::migrate::connect::plan::{
    self as connect, connect_problems, ConnectFacts, ConnectorInput, MIRROR_SOURCE,
};
use crate::migrate::diskless::plan::Problem;

/// The source's client quotas through the admin connection.
pub struct AdminQuotas<'r> {
    pub rt: &'r tokio::runtime::Runtime,
    pub admin: KafkaAdmin,
}

const RATE: &str = "consumer_byte_rate";

impl Quotas for AdminQuotas<'_> {
    fn get(&mut self, client_id: &str) -> std::result::Result<Option<f64>, KafkaError> {
        let q = self.rt.block_on(self.admin.client_quota(client_id))?;
        Ok(q.get(RATE).copied())
    }
    fn set(&mut self, client_id: &str, value: Option<f64>) -> std::result::Result<(), KafkaError> {
        self.rt
            .block_on(self.admin.set_client_quota(client_id, RATE, value))
    }
}

pub fn rest(url: &str) -> Result<RestConnect> {
    RestConnect::new(url).map_err(|e| Error::usage(e.to_string(), e.hint()))
}

/// Client properties as given (the Connect workers are Java clients: they take them verbatim;
/// file paths in them must exist on the workers).
pub fn client_properties(path: &Option<std::path::PathBuf>) -> Result<BTreeMap<String, String>> {
    let Some(path) = path else {
        return Ok(BTreeMap::new());
    };
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.display().to_string(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect())
}

/// Brokers that are preferred leaders of the selected partitions (the quota is split over them).
pub fn leaders(cluster: &crate::assign::Cluster, topics: &BTreeMap<String, i32>) -> usize {
    cluster
        .partitions
        .iter()
        .filter(|p| topics.contains_key(&p.topic))
        .filter_map(|p| p.replicas.first().copied())
        .collect::<BTreeSet<i32>>()
        .len()
}

/// What the Connect cluster offers, and whether it accepts this connector config: version,
/// plugin, exactly-once support of the workers (validated with `exactly.once.support=required`),
/// the target's transactions, and every config key the workers reject.
pub fn facts(
    api: &dyn ConnectApi,
    input: &ConnectorInput,
    target_transactions: bool,
) -> std::result::Result<ConnectFacts, crate::connect::ConnectError> {
    let info = api.info()?;
    let plugin = api.plugins()?.iter().any(|p| p.class == MIRROR_SOURCE);
    let mut invalid = BTreeMap::new();
    let mut workers_exactly_once = false;
    if plugin {
        let mut probe = input.clone();
        probe.exactly_once = true;
        invalid = api.validate(MIRROR_SOURCE, &connect::connector_config(&probe))?;
        workers_exactly_once = !invalid.contains_key("exactly.once.support");
        if !workers_exactly_once || !target_transactions {
            let plain = ConnectorInput {
                exactly_once: false,
                ..input.clone()
            };
            invalid = api.validate(MIRROR_SOURCE, &connect::connector_config(&plain))?;
        }
    }
    Ok(ConnectFacts {
        url: api.url().to_string(),
        version: info.version,
        plugin,
        workers_exactly_once,
        target_transactions,
        invalid,
    })
}

pub fn problems(f: &ConnectFacts) -> Vec<Problem> {
    connect_problems(f)
}

/// The warning a plan shows for an at-least-once connector.
pub fn at_least_once_warning(f: &ConnectFacts) -> Option<String> {
    (!(f.workers_exactly_once && f.target_transactions)).then(|| {
        format!(
            "the connector runs at-least-once ({}): after a worker failure it copies some records again; the verifier recognises the repeats and maps every record to its last copy, and the repeated copies stay in the target topic",
            if f.target_transactions {
                "the workers run without exactly.once.source.support"
            } else {
                "the target does not accept transactional producers"
            }
        )
    })
}

pub fn journal_path_hint(path: &Path) -> String {
    format!(
        "the journal {} records the connector; run with the same --journal",
        path.display()
    )
}
