//! Reading the current assignment for `reassign`, `check` and `snapshot`: a file, or a live
//! cluster through the Kafka adapter.

use std::path::Path;

use super::{read_file, Context};
use crate::assign::snapshot::{parse_kafka_assignment, parse_racks, parse_snapshot};
use crate::assign::Cluster;
use crate::cli::{AssignmentSource, KafkaSecurity};
use crate::error::{Error, Result};
use crate::kafka::admin::KafkaAdmin;
use crate::kafka::security::{parse_properties, properties, Security};
use crate::kafka::ClusterAdmin;

/// The connection security from `--command-config` (PLAINTEXT without one).
pub fn security(s: &KafkaSecurity) -> Result<Security> {
    let Some(path) = &s.command_config else {
        return Ok(Security::default());
    };
    let text = read_file(path)?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_properties(&text, &base).map_err(|m| {
        Error::usage(
            format!("{}: {m}", path.display()),
            "see docs/reassign.md for the client properties streamctl understands",
        )
    })
}

/// Client properties as given in a `--*-command-config` file (none without one): the Connect
/// workers take them verbatim (file paths in them must exist on the workers).
pub fn client_properties(
    path: &Option<std::path::PathBuf>,
) -> Result<std::collections::BTreeMap<String, String>> {
    let Some(path) = path else {
        return Ok(Default::default());
    };
    let text = read_file(path)?;
    Ok(properties(&text)
        .map_err(|m| {
            Error::usage(
                format!("{}: {m}", path.display()),
                "write one key=value per line, as Kafka's tools read it",
            )
        })?
        .into_iter()
        .collect())
}

/// Connect to a live cluster.
pub async fn connect(bootstrap: &str, s: &KafkaSecurity) -> Result<KafkaAdmin> {
    let sec = security(s)?;
    Ok(KafkaAdmin::connect(bootstrap, &sec).await?)
}

pub fn load_cluster(ctx: &Context, src: &AssignmentSource) -> Result<Cluster> {
    if let Some(b) = &src.bootstrap_server {
        let rt = ctx.runtime()?;
        return rt.block_on(async {
            let mut admin = connect(b, &src.security).await?;
            let spinner = ctx.progress.spinner("reading the cluster");
            let c = admin.snapshot().await;
            spinner.finish_and_clear();
            Ok(c?)
        });
    }
    let format_err = |path: &Path, source| Error::Format {
        path: path.display().to_string(),
        source,
    };
    match (&src.from_file, &src.current_assignment) {
        (Some(path), _) => {
            if src.broker_racks.is_some() || src.broker_racks_file.is_some() {
                return Err(Error::usage(
                    "--broker-racks only applies to --current-assignment",
                    "a snapshot file carries each broker's rack",
                ));
            }
            parse_snapshot(&read_file(path)?).map_err(|e| format_err(path, e))
        }
        (None, Some(path)) => {
            let racks_text = match (&src.broker_racks, &src.broker_racks_file) {
                (Some(s), _) => s.clone(),
                (None, Some(f)) => read_file(f)?,
                (None, None) => {
                    return Err(Error::usage(
                        "--current-assignment needs the brokers' racks",
                        "add --broker-racks 1=us-east-1a,2=us-east-1b,... or --broker-racks-file FILE",
                    ))
                }
            };
            let racks = parse_racks(&racks_text).map_err(|m| Error::usage(format!("broker racks: {m}"), "write ID=RACK pairs, e.g. 1=us-east-1a,2=us-east-1b"))?;
            parse_kafka_assignment(&read_file(path)?, &racks).map_err(|e| format_err(path, e))
        }
        (None, None) => Err(Error::usage(
            "no current assignment given",
            "pass --bootstrap-server host:port, --from-file snapshot.json, or --current-assignment kafka.json with --broker-racks",
        )),
    }
}
