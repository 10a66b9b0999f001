//! Apply a plan through the [`Cloud`] trait: independent resources concurrently (bucket, IAM and
//! network; then launch templates; then instances), re-reading state between phases for the ids
//! earlier phases created.

use futures_util::future::join_all;
use tracing::info;

use super::cloud::Cloud;
use super::desired::Desired;
use super::diff::{Action, Change};
use crate::provision::cloud::CloudError;

/// Which phase a change belongs to.
fn phase(kind: &str) -> usize {
    match kind {
        "launch-template" => 1,
        "instance" => 2,
        _ => 0,
    }
}

/// The independent chains of phase 0: the bucket's settings, the IAM chain, the network chain.
fn chain(kind: &str) -> usize {
    if kind.starts_with("s3-") && kind != "s3-endpoint" {
        0
    } else if kind.starts_with("iam-") {
        1
    } else {
        2
    }
}

/// Apply every create/update of `plan`; `progress` is told about each finished change.
pub async fn apply<C: Cloud>(
    cloud: &C,
    desired: &Desired,
    plan: &[Change],
    progress: &(dyn Fn(&Change) + Sync),
) -> Result<(), CloudError> {
    for ph in 0..3 {
        let todo: Vec<&Change> = plan
            .iter()
            .filter(|c| phase(c.kind) == ph && matches!(c.action, Action::Create | Action::Update))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let actual = cloud.read(desired).await?;
        if ph == 0 {
            // Three chains side by side; each chain in order (a bucket before its settings,
            // a role before its policy and profile, a VPC before its subnets, gateways, route
            // tables and endpoint).
            let chains = (0..3).map(|k| {
                let items: Vec<&Change> = todo
                    .iter()
                    .copied()
                    .filter(|c| chain(c.kind) == k)
                    .collect();
                let actual = &actual;
                async move {
                    // The network chain's changes read the ids earlier ones created themselves.
                    for c in items {
                        cloud.apply(desired, actual, c).await?;
                        info!(kind = c.kind, name = %c.name, action = ?c.action, "done");
                        progress(c);
                    }
                    Ok::<(), CloudError>(())
                }
            });
            for r in join_all(chains).await {
                r?;
            }
        } else {
            let results = join_all(todo.iter().map(|c| {
                let actual = &actual;
                async move {
                    cloud.apply(desired, actual, c).await?;
                    info!(kind = c.kind, name = %c.name, action = ?c.action, "done");
                    progress(c);
                    Ok::<(), CloudError>(())
                }
            }))
            .await;
            for r in results {
                r?;
            }
        }
    }
    Ok(())
}
