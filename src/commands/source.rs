//! Reading the current assignment for `reassign` and `check` (offline: files).

use std::path::Path;

use super::read_file;
use crate::assign::snapshot::{parse_kafka_assignment, parse_racks, parse_snapshot};
use crate::assign::Cluster;
use crate::cli::AssignmentSource;
use crate::error::{Error, Result};

pub fn load_cluster(src: &AssignmentSource) -> Result<Cluster> {
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
            "pass --from-file snapshot.json, or --current-assignment kafka.json with --broker-racks",
        )),
    }
}
