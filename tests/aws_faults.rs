//! `provision` through a fault-injecting proxy in front of the AWS emulator (tests/aws/fault_proxy.py):
//! AWS throttling, 5xx answers, and responses lost after the emulator acted, seeded. Every
//! example spec must converge (one run with throttling, at most two with lost responses on top),
//! with no resource twice and a clean re-plan. Tests share the emulator and take turns.

use std::io::BufRead;
use std::process::{Child, Command as Proc, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use assert_cmd::Command;
use aws_sdk_ec2::types::Filter;
use serde_json::Value;

mod common;
use common::moto;

static TURN: Mutex<()> = Mutex::new(());
const IMAGE: &str = "ami-760aaa0f";
const EXAMPLES: [&str; 3] = ["classic", "tiered", "diskless"];

/// The proxy, stopped (by PID) when dropped.
struct Proxy {
    child: Child,
    url: String,
}

impl Proxy {
    fn start(upstream: &str, throttle: f64, server_error: f64, lost: f64, seed: u64) -> Self {
        let mut child = Proc::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/aws/fault_proxy.py"
            ))
            .args(["--upstream", upstream])
            .args(["--throttle", &throttle.to_string()])
            .args(["--server-error", &server_error.to_string()])
            .args(["--lost", &lost.to_string()])
            .args(["--seed", &seed.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fault proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line.trim().parse().expect("the proxy prints its port");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    fn stats(&self) -> Value {
        let out = Proc::new("curl")
            .args(["-sf", &format!("{}/__faults", self.url)])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Account {
    moto: String,
    rt: tokio::runtime::Runtime,
    config: aws_config::SdkConfig,
    _turn: std::sync::MutexGuard<'static, ()>,
}

fn account() -> Option<Account> {
    let moto = moto()?;
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let reset = Proc::new("curl")
        .args(["-sf", "-X", "POST", &format!("{moto}/moto-api/reset")])
        .status()
        .unwrap();
    assert!(reset.success());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&moto)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    Some(Account {
        moto,
        rt,
        config,
        _turn: turn,
    })
}

impl Account {
    fn provision(&self, endpoint: &str, spec: &str, extra: &[&str]) -> (i32, Value, String) {
        let mut args = vec!["provision", "-f", spec, "--image-id", IMAGE, "-o", "json"];
        args.extend(extra);
        self.streamctl(endpoint, &args)
    }

    fn streamctl(&self, endpoint: &str, args: &[&str]) -> (i32, Value, String) {
        let out = Command::cargo_bin("streamctl")
            .unwrap()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_REGION")
            .env_remove("AWS_PROFILE")
            .env_remove("STREAMCTL_FAULT_AFTER_MUTATIONS")
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Every resource kind of the cluster, counted straight from the emulator.
    fn census(&self, cluster: &str) -> Census {
        let ec2 = aws_sdk_ec2::Client::new(&self.config);
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(true)
                .build(),
        );
        let iam = aws_sdk_iam::Client::new(&self.config);
        let tag = || {
            Filter::builder()
                .name("tag:streamctl:cluster")
                .values(cluster)
                .build()
        };
        self.rt.block_on(async {
            let mut c = Census {
                vpcs: ec2
                    .describe_vpcs()
                    .filters(tag())
                    .send()
                    .await
                    .unwrap()
                    .vpcs()
                    .len(),
                ..Default::default()
            };
            c.subnets = ec2
                .describe_subnets()
                .filters(tag())
                .send()
                .await
                .unwrap()
                .subnets()
                .len();
            c.internet_gateways = ec2
                .describe_internet_gateways()
                .filters(tag())
                .send()
                .await
                .unwrap()
                .internet_gateways()
                .len();
            c.nat_gateways = ec2
                .describe_nat_gateways()
                .filter(tag())
                .send()
                .await
                .unwrap()
                .nat_gateways()
                .iter()
                .filter(|g| g.state().is_some_and(|s| s.as_str() != "deleted"))
                .count();
            c.addresses = ec2
                .describe_addresses()
                .filters(tag())
                .send()
                .await
                .unwrap()
                .addresses()
                .len();
            c.route_tables = ec2
                .describe_route_tables()
                .filters(tag())
                .send()
                .await
                .unwrap()
                .route_tables()
                .len();
            c.s3_endpoints = ec2
                .describe_vpc_endpoints()
                .filters(tag())
                .send()
                .await
                .unwrap()
                .vpc_endpoints()
                .iter()
                .filter(|x| x.state().is_some_and(|s| s.as_str() != "deleted"))
                .count();
            c.security_groups = ec2
                .describe_security_groups()
                .filters(tag())
                .send()
                .await
                .unwrap()
                .security_groups()
                .len();
            c.launch_templates = ec2
                .describe_launch_templates()
                .filters(tag())
                .send()
                .await
                .unwrap()
                .launch_templates()
                .len();
            let r = ec2
                .describe_instances()
                .filters(tag())
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .build(),
                )
                .send()
                .await
                .unwrap();
            for res in r.reservations() {
                for i in res.instances() {
                    let group = i
                        .tags()
                        .iter()
                        .find(|t| t.key() == Some("streamctl:group"))
                        .and_then(|t| t.value())
                        .unwrap_or_default()
                        .to_string();
                    *c.instances.entry(group).or_default() += 1;
                }
            }
            c.buckets = s3.list_buckets().send().await.unwrap().buckets().len();
            c.roles = iam
                .list_roles()
                .send()
                .await
                .unwrap()
                .roles()
                .iter()
                .filter(|r| r.role_name().contains(cluster))
                .count();
            c
        })
    }
}

#[derive(Debug, Default, PartialEq)]
struct Census {
    vpcs: usize,
    subnets: usize,
    internet_gateways: usize,
    nat_gateways: usize,
    addresses: usize,
    route_tables: usize,
    s3_endpoints: usize,
    security_groups: usize,
    launch_templates: usize,
    instances: std::collections::BTreeMap<String, usize>,
    buckets: usize,
    roles: usize,
}

/// What the example spec asks for (nat-per-az, three AZs).
fn expected(spec: &str) -> Census {
    let text = std::fs::read_to_string(format!(
        "{}/docs/examples/{spec}.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let y: Value = serde_yaml_ng::from_str(&text).unwrap();
    let groups = y["node_groups"].as_array().unwrap();
    let bucket = y.get("object_store").is_some_and(|o| !o.is_null());
    Census {
        vpcs: 1,
        subnets: 6,
        internet_gateways: 1,
        nat_gateways: 3,
        addresses: 3,
        route_tables: 4,
        s3_endpoints: usize::from(bucket),
        security_groups: 1,
        launch_templates: groups.len(),
        instances: groups
            .iter()
            .map(|g| {
                (
                    g["name"].as_str().unwrap().to_string(),
                    g["count"].as_u64().unwrap() as usize,
                )
            })
            .collect(),
        buckets: usize::from(bucket),
        roles: usize::from(bucket),
    }
}

fn cluster_of(spec: &str) -> String {
    let text = std::fs::read_to_string(format!(
        "{}/docs/examples/{spec}.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let y: Value = serde_yaml_ng::from_str(&text).unwrap();
    y["name"].as_str().unwrap().to_string()
}

/// Provision `spec` through a proxy with these fault rates; at most `runs` runs to converge.
fn converge(throttle: f64, server_error: f64, lost: f64, runs: usize) {
    for (k, name) in EXAMPLES.iter().enumerate() {
        let Some(acct) = account() else { return };
        let proxy = Proxy::start(&acct.moto, throttle, server_error, lost, 7 + k as u64);
        let spec = format!("docs/examples/{name}.yaml");
        let mut done = false;
        let mut report = Value::Null;
        for run in 1..=runs {
            let t = Instant::now();
            let (code, v, err) = acct.provision(&proxy.url, &spec, &["--yes"]);
            eprintln!(
                "{name} run {run}: exit {code} in {:.1} s, retries {}, faults {}",
                t.elapsed().as_secs_f64(),
                v["retries"],
                proxy.stats()
            );
            if code == 0 {
                done = true;
                report = v;
                break;
            }
            eprintln!("{err}");
        }
        assert!(done, "{name}: did not converge in {runs} run(s)");
        let stats = proxy.stats();
        assert!(
            stats["throttled"].as_u64().unwrap() > 0,
            "the proxy throttled nothing: the test would prove nothing"
        );
        if lost > 0.0 {
            assert!(stats["lost"].as_u64().unwrap() > 0, "{stats}");
        }
        assert_eq!(
            report["after"]["create"].as_u64(),
            Some(0),
            "{name}: verified after apply: {report}"
        );
        // No resource twice: counted straight from the emulator.
        let cluster = cluster_of(name);
        assert_eq!(acct.census(&cluster), expected(name), "{name}");
        // The re-plan (without faults) is clean: nothing to create or update, no drift.
        let (code, plan, err) =
            acct.provision(&acct.moto, &spec, &["--dry-run", "--detailed-exitcode"]);
        assert_eq!(code, 0, "{name}: re-plan not clean: {err}");
        let c = &plan["counts"];
        assert_eq!(
            (
                c["create"].as_u64(),
                c["update"].as_u64(),
                c["drift"].as_u64()
            ),
            (Some(0), Some(0), Some(0)),
            "{name}: {plan}"
        );
        if lost > 0.0 {
            // destroy under the same faults: at most two runs, then nothing is left.
            let mut gone = false;
            for run in 1..=2 {
                let (code, _, err) = acct.streamctl(
                    &proxy.url,
                    &[
                        "destroy",
                        "-f",
                        &spec,
                        "--confirm",
                        &cluster,
                        "--delete-data",
                        "-o",
                        "json",
                    ],
                );
                eprintln!("{name} destroy run {run}: exit {code}");
                if code == 0 {
                    gone = true;
                    break;
                }
                eprintln!("{err}");
            }
            assert!(gone, "{name}: destroy did not finish in two runs");
            assert_eq!(
                acct.census(&cluster),
                Census::default(),
                "{name}: left behind"
            );
        }
    }
}

#[test]
fn throttled_every_example_converges_in_one_run_at_15_percent() {
    converge(0.12, 0.03, 0.0, 1);
}

#[test]
fn lost_responses_5_percent_on_top_every_example_converges_within_two_runs_nothing_twice() {
    converge(0.12, 0.03, 0.05, 2);
}
