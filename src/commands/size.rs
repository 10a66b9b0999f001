//! `streamctl size throughput | recommend | catalog`.

use serde::Serialize;
use tracing::{info, warn};

use super::{print, read_file, Context};
use crate::aws::{self, ec2::InstanceTypeSource};
use crate::cli::{CatalogArgs, GroupArgs, RecommendArgs, SizeCommand, StorageArg, ThroughputArgs};
use crate::error::{Error, ExitCode, Result};
use crate::output::{self, num, table};
use crate::sizing::catalog::{Catalog, InstanceType};
use crate::sizing::models::{
    self, BrokerResources, ConsumerGroups, DisklessParams, StorageModel, ThroughputEstimate,
    ThroughputInput,
};
use crate::sizing::recommend::{self, RecommendOptions, Recommendation, Workload};
use crate::spec::{self, duration};

/// seed 001's experiments run two consumer groups; that is the default here too.
const DEFAULT_TIP_GROUPS: u32 = 2;

pub fn run(ctx: &Context, cmd: SizeCommand) -> Result<ExitCode> {
    match cmd {
        SizeCommand::Throughput(a) => throughput(ctx, &a),
        SizeCommand::Recommend(a) => recommend_cmd(ctx, &a),
        SizeCommand::Catalog(a) => catalog_cmd(ctx, &a),
    }
}

/// The embedded catalog, refreshed from DescribeInstanceTypes with `--live-catalog` when
/// credentials exist (without them: a warning, and the embedded figures).
fn load_catalog(ctx: &Context, live: bool, names: Vec<String>) -> Result<Catalog> {
    let mut catalog = Catalog::embedded();
    if !live || names.is_empty() {
        return Ok(catalog);
    }
    let rt = ctx.runtime()?;
    let figures = rt.block_on(async {
        let config = aws::load_config(&ctx.aws).await;
        if !aws::has_credentials(&config).await {
            warn!("--live-catalog: no AWS credentials found; using the embedded catalog");
            return Ok(None);
        }
        let spinner = ctx.progress.spinner("reading instance types from EC2");
        let r = aws::ec2::Ec2::new(&config)
            .describe_instance_types(&names)
            .await;
        spinner.finish_and_clear();
        r.map(Some)
    })?;
    if let Some(f) = figures {
        info!(
            types = f.len(),
            "live catalog figures from DescribeInstanceTypes"
        );
        catalog.apply_live(&f);
    }
    Ok(catalog)
}

fn groups(g: &GroupArgs, default_tip: u32) -> ConsumerGroups {
    ConsumerGroups {
        tip: g.tip.unwrap_or(default_tip),
        lagging: g.lagging,
        remote: g.remote,
    }
}

fn storage(s: StorageArg) -> StorageModel {
    match s {
        StorageArg::Classic => StorageModel::Classic,
        StorageArg::Tiered => StorageModel::Tiered,
        StorageArg::Diskless => StorageModel::Diskless,
    }
}

fn unknown_type(name: &str, catalog: &Catalog) -> Error {
    let family = name.split('.').next().unwrap_or_default();
    let same: Vec<&str> = catalog
        .names()
        .into_iter()
        .filter(|n| n.starts_with(&format!("{family}.")))
        .collect();
    let hint = if same.is_empty() {
        "known families: m5, m6i, m6in, m7i, r6i (`streamctl size catalog`); or give --ebs-baseline-mbps and --network-baseline-mbps".to_string()
    } else {
        format!("known {family} sizes: {}", same.join(", "))
    };
    Error::usage(
        format!("instance type `{name}` is not in the catalog"),
        hint,
    )
}

/// `size throughput --output json`: the estimate's fields at the top level, plus the instance.
#[derive(Debug, Serialize)]
struct ThroughputReport<'a> {
    #[serde(flatten)]
    estimate: &'a ThroughputEstimate,
    instance_type: Option<&'a InstanceType>,
}

fn throughput(ctx: &Context, a: &ThroughputArgs) -> Result<ExitCode> {
    let catalog = load_catalog(
        ctx,
        a.live_catalog,
        a.instance_type.iter().cloned().collect(),
    )?;
    let instance = match &a.instance_type {
        Some(name) => Some(
            catalog
                .get(name)
                .ok_or_else(|| unknown_type(name, &catalog))?,
        ),
        None => None,
    };
    let ebs = a
        .ebs_baseline_mbps
        .or(instance.map(|t| t.ebs_baseline_mbps));
    let net = a
        .network_baseline_mbps
        .or(instance.map(|t| t.network_baseline_mbps));
    let (Some(ebs), Some(net)) = (ebs, net) else {
        return Err(Error::usage(
            "no baselines to size with",
            "give --instance-type, or both --ebs-baseline-mbps and --network-baseline-mbps",
        ));
    };
    let input = ThroughputInput {
        model: storage(a.storage),
        brokers: a.brokers,
        replication_factor: a.replication_factor,
        consumers: groups(&a.groups, DEFAULT_TIP_GROUPS),
        resources: BrokerResources {
            volume_throughput_mbps: a.volume_throughput_mbps,
            ebs_baseline_mbps: ebs,
            network_baseline_mbps: net,
            vcpus: a.vcpus.or(instance.map(|t| t.vcpus)).unwrap_or(2),
        },
        headroom: a.headroom,
        diskless: DisklessParams {
            object_read_factor: a.object_read_factor,
            azs: a.azs,
            ..Default::default()
        },
    };
    let est = models::estimate(&input)?;
    let report = ThroughputReport {
        estimate: &est,
        instance_type: instance,
    };
    print(&output::render(ctx.format, &report, || {
        throughput_table(&est, instance)
    })?)?;
    Ok(ExitCode::Ok)
}

fn throughput_table(e: &ThroughputEstimate, t: Option<&InstanceType>) -> String {
    let g = e.consumer_groups;
    let mut s = format!(
        "{} cluster: {} × {}, RF {}, consumer groups: {} tip, {} lagging, {} remote\n",
        e.model,
        e.brokers,
        t.map_or("custom broker", |t| t.name.as_str()),
        e.replication_factor,
        g.tip,
        g.lagging,
        g.remote
    );
    s.push_str(&format!(
        "per broker: volume {} MB/s, EBS baseline {} MB/s, network baseline {} MB/s, {} vCPU\n",
        num(e.resources.volume_throughput_mbps, 2),
        num(e.resources.ebs_baseline_mbps, 2),
        num(e.resources.network_baseline_mbps, 2),
        e.resources.vcpus
    ));
    let rows = e
        .terms
        .iter()
        .map(|t| {
            vec![
                t.name.as_str().to_string(),
                num(t.mbps, 2),
                t.formula.clone(),
                if t.name == e.bottleneck {
                    "◀ bottleneck".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    s.push_str(&table(&["limit", "MB/s", "formula", ""], rows));
    s.push_str(&format!(
        "\nsustained limit {} MB/s; recommended {} MB/s ({}% headroom target)",
        num(e.sustained_limit_mbps, 1),
        num(e.recommended_mbps, 1),
        num(e.headroom * 100.0, 0)
    ));
    for n in &e.notes {
        s.push_str(&format!("\nnote: {n}"));
    }
    s
}

fn parse_duration(flag: &str, text: &str) -> Result<spec::Duration> {
    duration::parse(text).map_err(|m| {
        Error::usage(
            format!("--{flag}: {m}"),
            "write a number and a unit: 7d, 36h, 90m",
        )
    })
}

fn recommend_cmd(ctx: &Context, a: &RecommendArgs) -> Result<ExitCode> {
    let from_spec = match &a.file {
        Some(path) => {
            let (s, warnings) = spec::parse(&read_file(path)?, &path.display().to_string())?;
            for w in warnings {
                warn!("{}", w.render(&path.display().to_string()));
            }
            Some(s)
        }
        None => None,
    };
    let retention = match (&a.retention, &from_spec) {
        (Some(r), _) => parse_duration("retention", r)?,
        (None, Some(s)) => s.workload.retention,
        (None, None) => spec::Duration::from_secs(7 * models::DAY_SECS),
    };
    let local = match (&a.local_retention, &from_spec) {
        (Some(r), _) => parse_duration("local-retention", r)?,
        (None, Some(s)) if s.workload.local_retention.is_some() => {
            s.workload.local_retention.unwrap_or(retention)
        }
        _ => spec::Duration::from_secs(4 * 3600).min(retention),
    };
    let spec_groups = from_spec
        .as_ref()
        .map(|s| ConsumerGroups::from(s.workload.consumer_groups));
    let consumers = match (
        &spec_groups,
        a.groups.tip.is_some() || a.groups.lagging > 0 || a.groups.remote > 0,
    ) {
        (Some(g), false) => *g,
        _ => groups(&a.groups, 1),
    };
    let workload = Workload {
        ingress_mbps: a
            .ingress_mbps
            .or(from_spec.as_ref().map(|s| s.workload.ingress_mbps))
            .expect("clap requires --ingress-mbps without --file"),
        consumers,
        replication_factor: a
            .replication_factor
            .or(from_spec.as_ref().map(|s| s.workload.replication_factor))
            .unwrap_or(3),
        retention_secs: retention.as_secs(),
        local_retention_secs: Some(local.as_secs()),
        azs: from_spec
            .as_ref()
            .map_or(a.azs, |s| s.availability_zones.count() as u32),
    };
    let options = RecommendOptions {
        families: a
            .families
            .iter()
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty())
            .collect(),
        headroom: a.headroom,
        az_failure_tolerant: a.az_failure_tolerant,
        disk_fill_target: a.disk_fill_target,
        max_volume_gib: a.max_volume_gib,
        max_brokers: a.max_brokers,
        diskless_flush_ms: a.diskless_flush_ms,
        include_transfer: !a.no_transfer_cost,
        top: a.top,
        ..RecommendOptions::default()
    };
    let names: Vec<String> = {
        let c = Catalog::embedded();
        options
            .families
            .iter()
            .flat_map(|f| c.family(f).map(|t| t.name.clone()).collect::<Vec<_>>())
            .collect()
    };
    let catalog = load_catalog(ctx, a.live_catalog, names)?;
    let rec = recommend::recommend(&catalog, &workload, &options)?;
    print(&output::render(ctx.format, &rec, || recommend_table(&rec))?)?;
    Ok(ExitCode::Ok)
}

fn recommend_table(r: &Recommendation) -> String {
    let w = &r.workload;
    let mut s = format!(
        "workload: {} MB/s in, RF {}, consumer groups {} tip / {} lagging / {} remote, retention {}, tiered local retention {}, {} AZs{}\n",
        w.ingress_mbps,
        w.replication_factor,
        w.consumers.tip,
        w.consumers.lagging,
        w.consumers.remote,
        spec::Duration::from_secs(w.retention_secs),
        spec::Duration::from_secs(w.local_retention_secs.unwrap_or(w.retention_secs)),
        w.azs,
        if r.options.az_failure_tolerant { ", survives the loss of one AZ" } else { "" }
    );
    let rows = r
        .layouts
        .iter()
        .map(|l| {
            vec![
                l.model.to_string(),
                l.instance_type.clone(),
                format!("{} ({}/AZ)", l.brokers, l.brokers_per_az),
                l.volume.map_or("-".into(), |v| {
                    format!(
                        "{} GiB {} IOPS {} MiB/s",
                        v.size_gib, v.iops, v.throughput_mibps
                    )
                }),
                num(l.sustained_limit_mbps, 1),
                num(l.recommended_mbps, 1),
                l.after_az_loss
                    .as_ref()
                    .map_or("-".into(), |z| num(z.recommended_mbps, 1)),
                l.bottleneck.to_string(),
                num(l.local_storage_tib, 2),
                num(l.remote_storage_tib, 2),
                format!("{:.0}", l.monthly_cost.total_usd),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "model",
            "instance",
            "brokers",
            "gp3 data volume",
            "limit MB/s",
            "80% MB/s",
            "AZ-loss MB/s",
            "bottleneck",
            "local TiB",
            "remote TiB",
            "$/month",
        ],
        rows,
    ));
    if !r.layouts.is_empty() {
        let rows = r
            .layouts
            .iter()
            .map(|l| {
                let c = &l.monthly_cost;
                vec![
                    format!("{} {}", l.model, l.instance_type),
                    format!("{:.0}", c.compute_usd),
                    format!("{:.0}", c.block_storage_usd),
                    format!("{:.0}", c.object_storage_usd),
                    format!("{:.0}", c.object_requests_usd),
                    format!("{:.0}", c.inter_az_transfer_usd),
                    format!("{:.0}", c.metadata_nodes_usd),
                    format!("{:.0}", c.total_usd),
                    format!("{:.0}", c.s3_via_nat_usd),
                ]
            })
            .collect();
        s.push_str("\nmonthly cost, USD:\n");
        s.push_str(&table(
            &[
                "layout",
                "compute",
                "gp3",
                "S3 bytes",
                "S3 requests",
                "cross-AZ",
                "metadata nodes",
                "total",
                "S3 via NAT (not in total)",
            ],
            rows,
        ));
    }
    if r.layouts
        .iter()
        .any(|l| l.monthly_cost.s3_via_nat_usd > 0.0)
    {
        s.push_str("\nS3 via NAT: what the S3 traffic would add through a NAT gateway ($0.045/GB); `provision` routes it through a free S3 gateway endpoint instead");
    }
    for i in &r.infeasible {
        s.push_str(&format!("\n{}: no layout: {}", i.model, i.reason));
    }
    s.push_str(&format!(
        "\nprices: {} On-Demand list prices as of {}; headroom target {}%",
        r.prices_region,
        r.prices_as_of,
        num(r.options.headroom * 100.0, 0)
    ));
    s
}

#[derive(Debug, Serialize)]
struct CatalogReport<'a> {
    prices_region: &'static str,
    prices_as_of: &'static str,
    instance_types: Vec<&'a InstanceType>,
}

fn catalog_cmd(ctx: &Context, a: &CatalogArgs) -> Result<ExitCode> {
    let embedded = Catalog::embedded();
    for f in &a.families {
        if embedded.family(f).next().is_none() {
            return Err(Error::usage(
                format!("unknown instance family `{f}`"),
                "known families: m5, m6i, m6in, m7i, r6i",
            ));
        }
    }
    let wanted = |t: &InstanceType| a.families.is_empty() || a.families.contains(&t.family);
    let names = embedded
        .all()
        .iter()
        .filter(|t| wanted(t))
        .map(|t| t.name.clone())
        .collect();
    let catalog = load_catalog(ctx, a.live_catalog, names)?;
    let report = CatalogReport {
        prices_region: crate::sizing::catalog::PRICES_REGION,
        prices_as_of: crate::sizing::catalog::PRICES_AS_OF,
        instance_types: catalog.all().iter().filter(|t| wanted(t)).collect(),
    };
    print(&output::render(ctx.format, &report, || {
        let rows = report
            .instance_types
            .iter()
            .map(|t| {
                vec![
                    t.name.clone(),
                    t.vcpus.to_string(),
                    num(t.memory_gib, 0),
                    num(t.ebs_baseline_mbps, 2),
                    num(t.network_baseline_mbps, 1),
                    format!("{:.5}", t.price_per_hour_usd),
                    t.source.to_string(),
                ]
            })
            .collect();
        format!(
            "{}\nprices: {} On-Demand, USD/hour, as of {}",
            table(
                &[
                    "instance",
                    "vCPU",
                    "GiB",
                    "EBS MB/s",
                    "network MB/s",
                    "$/hour",
                    "source"
                ],
                rows
            ),
            report.prices_region,
            report.prices_as_of
        )
    })?)?;
    Ok(ExitCode::Ok)
}
