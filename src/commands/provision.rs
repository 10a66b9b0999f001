//! `streamctl provision`, `destroy` and `inventory`: the spec's AWS resources, planned first.

use std::path::Path;

use serde::Serialize;
use tracing::warn;

use super::{print, read_file, Context};
use crate::aws;
use crate::aws::cloud::Aws;
use crate::cli::{DestroyArgs, InventoryArgs, ProvisionArgs};
use crate::error::{Error, ExitCode, Result};
use crate::output::{self, table};
use crate::provision::cloud::CloudError;
use crate::provision::cloud::{Cloud, Removal};
use crate::provision::diff::{counts, Counts};
use crate::provision::{apply, desired_state, diff, Action, Actual, Change, Desired};
use crate::spec::{self, AvailabilityZones, ClusterSpec};

/// Parse and check the spec (with CLI overrides) before any AWS call.
fn load_spec(path: &Path, allow_uneven: bool, image_id: Option<&str>) -> Result<ClusterSpec> {
    let file = path.display().to_string();
    let text = read_file(path)?;
    let mut spec = spec::parse_syntax(&text, &file)?;
    for g in &mut spec.node_groups {
        g.allow_uneven |= allow_uneven;
        if let Some(i) = image_id {
            g.image_id = Some(i.to_string());
        }
    }
    for w in spec::check(&spec, &text, &file)? {
        warn!("{}", w.render(&file));
    }
    Ok(spec)
}

/// Connect to AWS (the endpoint override forces path-style S3 addressing, as emulators and
/// S3-compatible stores need) and resolve the desired state.
async fn connect(ctx: &Context, spec: &ClusterSpec) -> Result<(Aws, Desired)> {
    let mut settings = ctx.aws.clone();
    if settings.region.is_none() {
        settings.region = Some(spec.region.clone());
    }
    let config = aws::load_config(&settings).await;
    if config.region().map(|r| r.as_ref()) != Some(spec.region.as_str()) {
        return Err(Error::usage(
            format!(
                "the region {} (from --region or AWS_REGION) differs from the spec's region {}",
                config.region().map(|r| r.to_string()).unwrap_or_default(),
                spec.region
            ),
            "drop --region / unset AWS_REGION (the spec names the region), or fix the spec",
        ));
    }
    if !aws::has_credentials(&config).await {
        return Err(CloudError::NoCredentials("provisioning").into());
    }
    let cloud = Aws::new(&config, settings.endpoint_url.is_some(), settings.retry);
    let types: Vec<String> = {
        let mut t: Vec<String> = spec
            .node_groups
            .iter()
            .map(|g| g.instance_type.clone())
            .collect();
        t.sort();
        t.dedup();
        t
    };
    cloud.check_instance_types(&types).await?;
    let azs = match &spec.availability_zones {
        AvailabilityZones::Named(v) => v.clone(),
        AvailabilityZones::Pick(_) => cloud.pick_azs(&types).await?,
    };
    let desired = desired_state(spec, &azs)
        .map_err(|e| Error::usage(e.to_string(), "fix network.vpc_cidr"))?;
    Ok((cloud, desired))
}

/// `provision --output json`. Stable field names.
#[derive(Debug, Serialize)]
pub struct ProvisionReport {
    pub cluster: String,
    pub region: String,
    pub availability_zones: Vec<String>,
    pub dry_run: bool,
    pub plan: Vec<Change>,
    pub counts: Counts,
    pub applied: bool,
    /// Mutating AWS calls this run made (0 on a converged re-run).
    pub mutating_calls: u64,
    /// The plan after applying (all no-op unless something drifted meanwhile).
    pub after: Option<Counts>,
    /// Failed AWS attempts this run retried: throttled, lost (transport error, timeout, 5xx),
    /// and lost creates found by the lookup instead of being made twice.
    pub retries: Retries,
    /// What `--prune-duplicates` did (or would do).
    pub pruned: Vec<Removal>,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Retries {
    pub throttled: u64,
    pub lost: u64,
    pub creates_recovered: u64,
}

fn retries(cloud: &Aws) -> Retries {
    let (throttled, lost, creates_recovered) = cloud.retry_log().counts();
    Retries {
        throttled,
        lost,
        creates_recovered,
    }
}

/// Say on the progress line (or a plain stderr line off a terminal) when AWS is throttling.
fn show_retries(cloud: &Aws, bar: &indicatif::ProgressBar) {
    let bar = bar.clone();
    cloud
        .retry_log()
        .on_notice(std::sync::Arc::new(move |msg: &str| {
            if bar.is_hidden() {
                eprintln!("{msg}");
            } else {
                bar.set_message(msg.to_string());
            }
        }));
}

pub fn provision(ctx: &Context, a: &ProvisionArgs) -> Result<ExitCode> {
    let spec = load_spec(&a.file, a.allow_uneven, a.image_id.as_deref())?;
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let (cloud, desired) = connect(ctx, &spec).await?;
        let spinner = ctx.progress.spinner("reading what exists");
        show_retries(&cloud, &spinner);
        let actual = cloud.read(&desired).await?;
        spinner.finish_and_clear();
        let plan = diff(&desired, &actual);
        let pruned = if a.prune_duplicates {
            cloud.prune_duplicates(&desired, &actual, false).await?
        } else {
            vec![]
        };
        let prunable = pruned
            .iter()
            .filter(|r| r.outcome.starts_with("would terminate"))
            .count();
        let c = counts(&plan);
        let mut report = ProvisionReport {
            cluster: desired.cluster.clone(),
            region: desired.region.clone(),
            availability_zones: desired.azs.clone(),
            dry_run: a.dry_run,
            plan,
            counts: c,
            applied: false,
            mutating_calls: 0,
            after: None,
            retries: Retries::default(),
            pruned,
        };
        let pending = c.create + c.update + prunable;
        if a.dry_run || pending == 0 {
            report.retries = retries(&cloud);
            print(&output::render(ctx.format, &report, || plan_table(&report.plan, &report.counts, &desired, true))?)?;
            return Ok(if a.dry_run && a.detailed_exitcode && pending > 0 { ExitCode::ChangesPending } else { ExitCode::Ok });
        }
        if ctx.format == output::Format::Table {
            print(&plan_table(&report.plan, &c, &desired, false))?;
            for r in &report.pruned {
                eprintln!("prune {}: {}", r.name, r.outcome);
            }
        }
        if !a.yes && !super::confirm(&format!("apply {pending} change(s)?"), "refusing to change AWS without confirmation: stdin is not a terminal")? {
            eprintln!("nothing changed");
            return Ok(ExitCode::Ok);
        }
        let bar = ctx.progress.bar(pending as u64, "applying");
        show_retries(&cloud, &bar);
        if prunable > 0 {
            report.pruned = cloud.prune_duplicates(&desired, &actual, true).await?;
            bar.inc(prunable as u64);
        }
        let result = apply::apply(&cloud, &desired, &report.plan, &|c: &Change| {
            bar.set_message(format!("{} {}", c.kind, c.name));
            bar.inc(1);
            if !bar.is_hidden() {
                return;
            }
            eprintln!("{:?} {} {}", c.action, c.kind, c.name);
        })
        .await;
        bar.finish_and_clear();
        report.mutating_calls = cloud.mutating_calls();
        report.retries = retries(&cloud);
        result?;
        report.applied = true;
        // Verify: read back and plan again.
        let after = diff(&desired, &cloud.read(&desired).await?);
        report.after = Some(counts(&after));
        print(&output::render(ctx.format, &report, || {
            let a = report.after.unwrap_or_default();
            let r = report.retries;
            format!(
                "applied: {} created, {} updated, {} mutating AWS calls ({} throttled and {} lost responses retried, {} lost creates found instead of repeated); verified: {} still to change, {} drifted",
                c.create, c.update, report.mutating_calls, r.throttled, r.lost, r.creates_recovered, a.create + a.update, a.drift
            )
        })?)?;
        Ok(ExitCode::Ok)
    })
}

fn plan_table(plan: &[Change], c: &Counts, d: &Desired, final_line: bool) -> String {
    let rows = plan
        .iter()
        .filter(|ch| ch.action != Action::NoOp)
        .map(|ch| {
            vec![
                match ch.action {
                    Action::Create => "+ create".to_string(),
                    Action::Update => "~ update".to_string(),
                    Action::Drift => "! drift".to_string(),
                    Action::NoOp => String::new(),
                },
                ch.kind.to_string(),
                ch.name.clone(),
                ch.details.join("; "),
            ]
        })
        .collect::<Vec<_>>();
    let mut s = format!(
        "cluster {} in {} ({})\n",
        d.cluster,
        d.region,
        d.azs.join(", ")
    );
    if rows.is_empty() {
        s.push_str(&format!(
            "nothing to do: {} resources match the spec",
            c.no_op
        ));
        return s;
    }
    s.push_str(&table(&["action", "resource", "name", "changes"], rows));
    s.push_str(&format!(
        "\nplan: {} to create, {} to update, {} unchanged, {} drifted (not changed automatically)",
        c.create, c.update, c.no_op, c.drift
    ));
    if final_line {
        s.push_str("\nrun `streamctl provision -f FILE --yes` to apply");
    }
    s
}

/// `destroy --output json`.
#[derive(Debug, Serialize)]
pub struct DestroyReport {
    pub cluster: String,
    pub executed: bool,
    pub removals: Vec<Removal>,
    pub mutating_calls: u64,
}

pub fn destroy(ctx: &Context, a: &DestroyArgs) -> Result<ExitCode> {
    let spec = load_spec(&a.file, true, None)?;
    if let Some(c) = &a.confirm {
        if *c != spec.name {
            return Err(Error::usage(
                format!(
                    "--confirm {c} does not match the cluster name {}",
                    spec.name
                ),
                format!("type the cluster name exactly: --confirm {}", spec.name),
            ));
        }
    }
    let execute = a.confirm.is_some();
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let (cloud, desired) = connect(ctx, &spec).await?;
        let plan = cloud.destroy(&desired, a.delete_data, false).await?;
        if ctx.format == output::Format::Table || !execute {
            let report = DestroyReport {
                cluster: spec.name.clone(),
                executed: false,
                removals: plan.clone(),
                mutating_calls: 0,
            };
            print(&output::render(ctx.format, &report, || {
                removal_table(&report, &spec.name)
            })?)?;
        }
        if !execute {
            return Ok(ExitCode::Ok);
        }
        let spinner = ctx.progress.spinner("removing");
        let done = cloud.destroy(&desired, a.delete_data, true).await;
        spinner.finish_and_clear();
        let report = DestroyReport {
            cluster: spec.name.clone(),
            executed: true,
            removals: done?,
            mutating_calls: cloud.mutating_calls(),
        };
        print(&output::render(ctx.format, &report, || {
            removal_table(&report, &spec.name)
        })?)?;
        Ok(ExitCode::Ok)
    })
}

fn removal_table(r: &DestroyReport, name: &str) -> String {
    if r.removals.is_empty() {
        return format!("nothing of cluster {name} exists");
    }
    let rows = r
        .removals
        .iter()
        .map(|x| vec![x.kind.to_string(), x.name.clone(), x.outcome.clone()])
        .collect();
    let mut s = table(&["resource", "name", "outcome"], rows);
    if !r.executed {
        s.push_str(&format!(
            "\nnothing removed yet: run again with --confirm {name} to remove these"
        ));
    } else {
        s.push_str(&format!("\n{} mutating AWS calls", r.mutating_calls));
    }
    s
}

/// `inventory --output json`.
#[derive(Debug, Serialize)]
pub struct InventoryReport {
    pub cluster: String,
    pub availability_zones: Vec<String>,
    pub actual: Actual,
    /// Resources that differ from the spec (create/update/drift).
    pub differences: Vec<Change>,
}

pub fn inventory(ctx: &Context, a: &InventoryArgs) -> Result<ExitCode> {
    let spec = load_spec(&a.file, true, None)?;
    let rt = ctx.runtime()?;
    rt.block_on(async {
        let (cloud, desired) = connect(ctx, &spec).await?;
        let actual = cloud.read(&desired).await?;
        let differences: Vec<Change> = diff(&desired, &actual)
            .into_iter()
            .filter(|c| c.action != Action::NoOp)
            .collect();
        let report = InventoryReport {
            cluster: spec.name.clone(),
            availability_zones: desired.azs.clone(),
            actual,
            differences,
        };
        print(&output::render(ctx.format, &report, || {
            let mut rows = Vec::new();
            for g in &spec.node_groups {
                for az in &desired.azs {
                    let here: Vec<&crate::provision::diff::ActualInstance> = report
                        .actual
                        .instances
                        .iter()
                        .filter(|i| i.group == g.name && &i.az == az)
                        .collect();
                    let want = desired
                        .instances
                        .iter()
                        .filter(|i| i.group == g.name && &i.az == az)
                        .count();
                    rows.push(vec![
                        g.name.clone(),
                        az.clone(),
                        format!("{}/{}", here.len(), want),
                        here.iter()
                            .map(|i| match &i.boot {
                                Some(b) => {
                                    format!("{} ({}, #{}, boot {b})", i.id, i.state, i.index)
                                }
                                None => format!("{} ({}, #{})", i.id, i.state, i.index),
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]);
                }
            }
            let mut s = table(&["group", "AZ", "instances", "ids"], rows);
            let b = report.actual.bucket.is_some();
            s.push_str(&format!(
                "\nbucket: {}; IAM role: {}; VPC: {}; security group: {}",
                if b { "present" } else { "absent" },
                if report.actual.role_trust_policy.is_some() {
                    "present"
                } else {
                    "absent"
                },
                report.actual.vpc_id.as_deref().unwrap_or("absent"),
                report
                    .actual
                    .security_group
                    .as_ref()
                    .map_or("absent", |s| s.0.as_str()),
            ));
            if report.differences.is_empty() {
                s.push_str("\nno drift: everything matches the spec");
            } else {
                for c in &report.differences {
                    s.push_str(&format!(
                        "\n{:?} {} {}: {}",
                        c.action,
                        c.kind,
                        c.name,
                        c.details.join("; ")
                    ));
                }
            }
            s
        })?)?;
        Ok(ExitCode::Ok)
    })
}
