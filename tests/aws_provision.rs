//! `provision`, `destroy` and `inventory` against the local AWS emulator (moto's server, real
//! HTTP, the real SDK). Tests here share one emulator and reset it, so they take turns.

use std::sync::Mutex;

use assert_cmd::Command;
use aws_sdk_ec2::types::Filter;
use serde_json::Value;

static TURN: Mutex<()> = Mutex::new(());
/// An image the emulator ships (it has no Amazon Linux 2023 image to look up).
const IMAGE: &str = "ami-760aaa0f";

mod common;
use common::moto;

struct Emu {
    endpoint: String,
    _turn: std::sync::MutexGuard<'static, ()>,
    rt: tokio::runtime::Runtime,
    config: aws_config::SdkConfig,
}

fn emulator() -> Option<Emu> {
    let endpoint = moto()?;
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A clean account for every test.
    let reset = std::process::Command::new("curl")
        .args(["-sf", "-X", "POST", &format!("{endpoint}/moto-api/reset")])
        .status()
        .unwrap();
    assert!(reset.success(), "moto reset failed");
    let config = rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load(),
    );
    Some(Emu {
        endpoint,
        _turn: turn,
        rt,
        config,
    })
}

impl Emu {
    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("streamctl").unwrap();
        c.current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_REGION")
            .env_remove("AWS_PROFILE")
            .env_remove("STREAMCTL_FAULT_AFTER_MUTATIONS");
        c
    }

    fn provision(&self, spec: &str, extra: &[&str]) -> (i32, Value, String) {
        let out = self
            .cmd()
            .args([
                "provision",
                "-f",
                spec,
                "--image-id",
                IMAGE,
                "--yes",
                "-o",
                "json",
            ])
            .args(extra)
            .output()
            .unwrap();
        let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.code().unwrap(),
            v,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.config)
                .force_path_style(true)
                .build(),
        )
    }
    fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }
    fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.config)
    }

    /// Running instances of a cluster: (group, az, index, node id, instance id).
    fn instances(&self, cluster: &str) -> Vec<(String, String, String, String, String)> {
        let r = self
            .rt
            .block_on(
                self.ec2()
                    .describe_instances()
                    .filters(
                        Filter::builder()
                            .name("tag:streamctl:cluster")
                            .values(cluster)
                            .build(),
                    )
                    .filters(
                        Filter::builder()
                            .name("instance-state-name")
                            .values("running")
                            .values("pending")
                            .build(),
                    )
                    .send(),
            )
            .unwrap();
        let mut out = Vec::new();
        for res in r.reservations() {
            for i in res.instances() {
                let tag = |k: &str| {
                    i.tags()
                        .iter()
                        .find(|t| t.key() == Some(k))
                        .and_then(|t| t.value())
                        .unwrap_or("")
                        .to_string()
                };
                let az = i
                    .placement()
                    .and_then(|p| p.availability_zone())
                    .unwrap_or("")
                    .to_string();
                assert_eq!(tag("streamctl:az"), az, "AZ tag matches placement");
                out.push((
                    tag("streamctl:group"),
                    az,
                    tag("streamctl:index"),
                    tag("streamctl:node-id"),
                    i.instance_id().unwrap().to_string(),
                ));
            }
        }
        out.sort();
        out
    }
}

fn per_az(list: &[(String, String, String, String, String)], group: &str) -> Vec<usize> {
    let mut m: std::collections::BTreeMap<&str, usize> = Default::default();
    for x in list.iter().filter(|x| x.0 == group) {
        *m.entry(x.1.as_str()).or_default() += 1;
    }
    m.into_values().collect()
}

#[test]
fn tiered_example_provisions_everything_and_reads_back_exactly() {
    let Some(e) = emulator() else { return };
    let (code, v, err) = e.provision("docs/examples/tiered.yaml", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["applied"], true);
    assert_eq!(v["after"]["create"], 0);
    assert_eq!(v["after"]["update"], 0);
    let bucket = "clicks-tiered-segments";
    let s3 = e.s3();
    // Lifecycle: one rule, empty filter, abort incomplete multipart uploads after 7 days, no expiry.
    let lc =
        e.rt.block_on(
            s3.get_bucket_lifecycle_configuration()
                .bucket(bucket)
                .send(),
        )
        .unwrap();
    assert_eq!(lc.rules().len(), 1);
    let rule = &lc.rules()[0];
    assert_eq!(
        rule.abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(7)
    );
    assert!(rule.expiration().is_none());
    assert_eq!(rule.status().as_str(), "Enabled");
    assert!(
        rule.filter()
            .and_then(|f| f.prefix())
            .unwrap_or("")
            .is_empty(),
        "empty filter: the whole bucket"
    );
    let bpa =
        e.rt.block_on(s3.get_public_access_block().bucket(bucket).send())
            .unwrap();
    let c = bpa.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            c.block_public_acls(),
            c.ignore_public_acls(),
            c.block_public_policy(),
            c.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let enc =
        e.rt.block_on(s3.get_bucket_encryption().bucket(bucket).send())
            .unwrap();
    let alg = enc.server_side_encryption_configuration().unwrap().rules()[0]
        .apply_server_side_encryption_by_default()
        .unwrap()
        .sse_algorithm()
        .as_str()
        .to_string();
    assert_eq!(alg, "AES256");
    let own =
        e.rt.block_on(s3.get_bucket_ownership_controls().bucket(bucket).send())
            .unwrap();
    assert_eq!(
        own.ownership_controls().unwrap().rules()[0]
            .object_ownership()
            .as_str(),
        "BucketOwnerEnforced"
    );
    let pol =
        e.rt.block_on(s3.get_bucket_policy().bucket(bucket).send())
            .unwrap();
    let pol: Value = serde_json::from_str(pol.policy().unwrap()).unwrap();
    assert_eq!(pol["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        pol["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
        "false"
    );
    let tags =
        e.rt.block_on(s3.get_bucket_tagging().bucket(bucket).send())
            .unwrap();
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == "streamctl:cluster" && t.value() == "clicks-tiered"));

    // IAM: exactly the five actions on the right ARNs, an EC2 trust policy, a profile holding the role.
    let iam = e.iam();
    let rp =
        e.rt.block_on(
            iam.get_role_policy()
                .role_name("streamctl-clicks-tiered-broker")
                .policy_name("object-store")
                .send(),
        )
        .unwrap();
    let doc = rp.policy_document().to_string();
    let doc: Value = serde_json::from_str(&doc)
        .or_else(|_| serde_json::from_str(&urlencoding_decode(&doc)))
        .unwrap();
    let mut grants: Vec<(String, String)> = Vec::new();
    for st in doc["Statement"].as_array().unwrap() {
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_else(|| vec![v.as_str().unwrap().to_string()])
        };
        for a in list(&st["Action"]) {
            for r in list(&st["Resource"]) {
                grants.push((a.clone(), r));
            }
        }
    }
    grants.sort();
    let arn = "arn:aws:s3:::clicks-tiered-segments";
    let mut want = vec![
        ("s3:AbortMultipartUpload".to_string(), format!("{arn}/*")),
        ("s3:DeleteObject".into(), format!("{arn}/*")),
        ("s3:GetObject".into(), format!("{arn}/*")),
        ("s3:ListBucket".into(), arn.to_string()),
        ("s3:PutObject".into(), format!("{arn}/*")),
    ];
    want.sort();
    assert_eq!(grants, want);
    let prof =
        e.rt.block_on(
            iam.get_instance_profile()
                .instance_profile_name("streamctl-clicks-tiered-broker")
                .send(),
        )
        .unwrap();
    let roles: Vec<&str> = prof
        .instance_profile()
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.role_name())
        .collect();
    assert_eq!(roles, ["streamctl-clicks-tiered-broker"]);

    // Instances: brokers 2/2/2 and controllers 1/1/1, tagged with group, AZ, index and node id.
    let inst = e.instances("clicks-tiered");
    assert_eq!(per_az(&inst, "brokers"), [2, 2, 2]);
    assert_eq!(per_az(&inst, "controllers"), [1, 1, 1]);
    let mut ids: Vec<&str> = inst
        .iter()
        .filter(|x| x.0 == "brokers")
        .map(|x| x.3.as_str())
        .collect();
    ids.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6"]);
    // Each broker's user-data carries its AZ as broker.rack.
    let ec2 = e.ec2();
    for (group, az, _, node, id) in inst.iter().filter(|x| x.0 == "brokers") {
        let ud =
            e.rt.block_on(
                ec2.describe_instance_attribute()
                    .instance_id(id)
                    .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
                    .send(),
            )
            .unwrap();
        let text = base64_decode(ud.user_data().and_then(|u| u.value()).unwrap());
        assert!(
            text.contains(&format!("broker.rack={az}")),
            "{group} {id}: {text}"
        );
        assert!(text.contains(&format!("node.id={node}")));
    }
    // Launch templates (moto ignores these on launched instances, so assert on the template):
    // IMDSv2 required with hop limit 2, encrypted gp3 data volume with the spec's IOPS and throughput,
    // the instance profile.
    let lts =
        e.rt.block_on(
            ec2.describe_launch_template_versions()
                .launch_template_name("streamctl-clicks-tiered-brokers")
                .versions("$Default")
                .send(),
        )
        .unwrap();
    let data = lts.launch_template_versions()[0]
        .launch_template_data()
        .unwrap();
    let md = data.metadata_options().unwrap();
    assert_eq!(md.http_tokens().map(|t| t.as_str()), Some("required"));
    assert_eq!(md.http_put_response_hop_limit(), Some(2));
    assert_eq!(
        data.iam_instance_profile().and_then(|p| p.name()),
        Some("streamctl-clicks-tiered-broker")
    );
    let dv = data
        .block_device_mappings()
        .iter()
        .find(|b| b.device_name() == Some("/dev/sdf"))
        .unwrap()
        .ebs()
        .unwrap();
    assert_eq!(
        (
            dv.volume_type().map(|t| t.as_str()),
            dv.volume_size(),
            dv.iops(),
            dv.throughput(),
            dv.encrypted()
        ),
        (Some("gp3"), Some(1000), Some(4000), Some(500), Some(true))
    );
    let root = data
        .block_device_mappings()
        .iter()
        .find(|b| b.device_name() == Some("/dev/xvda"))
        .unwrap()
        .ebs()
        .unwrap();
    assert_eq!(
        (root.volume_type().map(|t| t.as_str()), root.encrypted()),
        (Some("gp3"), Some(true))
    );
}

fn base64_decode(s: &str) -> String {
    use base64::Engine;
    String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
}

fn urlencoding_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn classic_and_diskless_examples_provision_and_rerun_makes_no_mutating_call() {
    let Some(e) = emulator() else { return };
    for (spec, cluster, group) in [
        ("docs/examples/classic.yaml", "orders-classic", "brokers"),
        (
            "docs/examples/diskless.yaml",
            "events-diskless",
            "bufstream",
        ),
    ] {
        let (code, v, err) = e.provision(spec, &[]);
        assert_eq!(code, 0, "{spec}: {err}");
        assert!(v["mutating_calls"].as_u64().unwrap() > 0);
        let inst = e.instances(cluster);
        assert_eq!(per_az(&inst, group), [2, 2, 2], "{spec}");
        // Re-run: nothing to create or change, and not one mutating call.
        let (code, again, err) = e.provision(spec, &[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(again["mutating_calls"], 0, "{spec}: {again}");
        assert_eq!(again["counts"]["create"], 0);
        assert_eq!(again["counts"]["update"], 0);
        assert_eq!(again["applied"], false);
        assert_eq!(e.instances(cluster).len(), inst.len(), "no duplicates");
    }
    // Diskless: `availability_zones: auto` picked three AZs offering m6in, and the security group
    // opens etcd's ports to its members.
    let out = e
        .cmd()
        .args([
            "inventory",
            "-f",
            "docs/examples/diskless.yaml",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let inv = common::ok_json(&out);
    assert_eq!(
        inv["availability_zones"],
        serde_json::json!(["us-east-1a", "us-east-1b", "us-east-1c"])
    );
    let rules = inv["actual"]["security_group"][1].as_array().unwrap();
    assert!(
        rules
            .iter()
            .any(|r| r["from_port"] == 2379 && r["to_port"] == 2380 && r["source"] == "self"),
        "{rules:?}"
    );
    assert_eq!(inv["differences"].as_array().unwrap().len(), 0);
}

#[test]
fn drift_is_shown_and_repaired() {
    let Some(e) = emulator() else { return };
    assert_eq!(e.provision("docs/examples/tiered.yaml", &[]).0, 0);
    let s3 = e.s3();
    // Someone edits the lifecycle rule by hand: a 1-day expiry that would delete live data.
    let rule = aws_sdk_s3::types::LifecycleRule::builder()
        .id("manual")
        .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
        .filter(
            aws_sdk_s3::types::LifecycleRuleFilter::builder()
                .prefix("")
                .build(),
        )
        .expiration(
            aws_sdk_s3::types::LifecycleExpiration::builder()
                .days(1)
                .build(),
        )
        .build()
        .unwrap();
    e.rt.block_on(
        s3.put_bucket_lifecycle_configuration()
            .bucket("clicks-tiered-segments")
            .lifecycle_configuration(
                aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                    .rules(rule)
                    .build()
                    .unwrap(),
            )
            .send(),
    )
    .unwrap();
    let out = e
        .cmd()
        .args([
            "provision",
            "-f",
            "docs/examples/tiered.yaml",
            "--image-id",
            IMAGE,
            "--dry-run",
            "--detailed-exitcode",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lc = v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "s3-lifecycle")
        .unwrap();
    assert_eq!(lc["action"], "update");
    assert_eq!(v["counts"]["update"], 1);
    let (code, v, err) = e.provision("docs/examples/tiered.yaml", &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        v["mutating_calls"], 1,
        "only the lifecycle is rewritten: {v}"
    );
    let lc =
        e.rt.block_on(
            s3.get_bucket_lifecycle_configuration()
                .bucket("clicks-tiered-segments")
                .send(),
        )
        .unwrap();
    assert_eq!(lc.rules().len(), 1);
    assert!(lc.rules()[0].expiration().is_none());
    assert_eq!(
        lc.rules()[0]
            .abort_incomplete_multipart_upload()
            .and_then(|a| a.days_after_initiation()),
        Some(7)
    );
}

#[test]
fn an_interrupted_run_converges_when_rerun() {
    let Some(e) = emulator() else { return };
    let out = e
        .cmd()
        .env("STREAMCTL_FAULT_AFTER_MUTATIONS", "12")
        .args([
            "provision",
            "-f",
            "docs/examples/tiered.yaml",
            "--image-id",
            IMAGE,
            "--yes",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("STREAMCTL_FAULT_AFTER_MUTATIONS stopped the run here"),
        "{err}"
    );
    let (code, v, err) = e.provision("docs/examples/tiered.yaml", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        v["counts"]["no_op"].as_u64().unwrap() > 0,
        "the first run's work is kept: {v}"
    );
    assert_eq!(v["after"]["create"], 0);
    assert_eq!(per_az(&e.instances("clicks-tiered"), "brokers"), [2, 2, 2]);
    let (_, again, _) = e.provision("docs/examples/tiered.yaml", &[]);
    assert_eq!(again["mutating_calls"], 0);
}

#[test]
fn destroy_shows_first_keeps_data_without_the_flag_and_leaves_nothing_behind() {
    let Some(e) = emulator() else { return };
    // A variant of the tiered example without the TLS-only bucket policy, so the test can put an
    // object through the emulator (which does not speak TLS).
    let dir = tempfile::tempdir().unwrap();
    let spec_path = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/tiered.yaml"
    ))
    .unwrap()
    .replace(
        "  abort_incomplete_multipart_days: 7\n",
        "  abort_incomplete_multipart_days: 7\n  deny_insecure_transport: false\n",
    );
    std::fs::write(&spec_path, text).unwrap();
    let spec = spec_path.to_str().unwrap();
    assert_eq!(e.provision(spec, &[]).0, 0);
    e.rt.block_on(
        e.s3()
            .put_object()
            .bucket("clicks-tiered-segments")
            .key("0/segment")
            .body(b"data".to_vec().into())
            .send(),
    )
    .unwrap();
    // Without --confirm: the plan only.
    let out = e.cmd().args(["destroy", "-f", spec]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--confirm clicks-tiered"));
    assert_eq!(
        e.instances("clicks-tiered").len(),
        9,
        "nothing removed without --confirm"
    );
    // A wrong name is refused.
    e.cmd()
        .args(["destroy", "-f", spec, "--confirm", "other"])
        .assert()
        .code(2);
    // With --confirm but without --delete-data: everything but the non-empty bucket.
    let out = e
        .cmd()
        .args([
            "destroy",
            "-f",
            spec,
            "--confirm",
            "clicks-tiered",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let v = common::ok_json(&out);
    let b = v["removals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "s3-bucket")
        .unwrap();
    assert!(b["outcome"].as_str().unwrap().starts_with("kept"), "{b}");
    assert!(e
        .rt
        .block_on(e.s3().head_bucket().bucket("clicks-tiered-segments").send())
        .is_ok());
    assert!(e.instances("clicks-tiered").is_empty());
    // With --delete-data: the bucket and its objects go too.
    e.cmd()
        .args([
            "destroy",
            "-f",
            spec,
            "--confirm",
            "clicks-tiered",
            "--delete-data",
        ])
        .assert()
        .success();
    assert!(e
        .rt
        .block_on(e.s3().head_bucket().bucket("clicks-tiered-segments").send())
        .is_err());
    // Nothing tagged for the cluster is left.
    let ec2 = e.ec2();
    // Everything streamctl made for this cluster carries this tag.
    let ours = || {
        Filter::builder()
            .name("tag:streamctl:cluster")
            .values("clicks-tiered")
            .build()
    };
    let vpcs =
        e.rt.block_on(ec2.describe_vpcs().filters(ours()).send())
            .unwrap();
    assert!(vpcs.vpcs().is_empty());
    let lts =
        e.rt.block_on(ec2.describe_launch_templates().filters(ours()).send())
            .unwrap();
    assert!(lts.launch_templates().is_empty());
    let subnets =
        e.rt.block_on(ec2.describe_subnets().filters(ours()).send())
            .unwrap();
    assert!(subnets.subnets().is_empty());
    // The egress network too: gateways, NAT gateways and their addresses, route tables, the
    // S3 endpoint.
    let igws =
        e.rt.block_on(ec2.describe_internet_gateways().filters(ours()).send())
            .unwrap();
    assert!(igws.internet_gateways().is_empty());
    let nats =
        e.rt.block_on(ec2.describe_nat_gateways().filter(ours()).send())
            .unwrap();
    assert!(
        nats.nat_gateways()
            .iter()
            .all(|g| g.state().map(|s| s.as_str()) == Some("deleted")),
        "{nats:?}"
    );
    let eips =
        e.rt.block_on(ec2.describe_addresses().filters(ours()).send())
            .unwrap();
    assert!(eips.addresses().is_empty());
    let rts =
        e.rt.block_on(ec2.describe_route_tables().filters(ours()).send())
            .unwrap();
    assert!(rts.route_tables().is_empty());
    let eps =
        e.rt.block_on(ec2.describe_vpc_endpoints().filters(ours()).send())
            .unwrap();
    assert!(
        eps.vpc_endpoints()
            .iter()
            .all(|x| x.state().map(|s| s.as_str()) == Some("deleted")),
        "{eps:?}"
    );
    assert!(e
        .rt
        .block_on(
            e.iam()
                .get_role()
                .role_name("streamctl-clicks-tiered-broker")
                .send()
        )
        .is_err());
    assert!(e
        .rt
        .block_on(
            e.iam()
                .get_instance_profile()
                .instance_profile_name("streamctl-clicks-tiered-broker")
                .send()
        )
        .is_err());
}

#[test]
fn bad_specs_and_missing_confirmation_fail_before_any_change() {
    let Some(e) = emulator() else { return };
    // A bad spec never reaches AWS: an unreachable endpoint is not even tried.
    let out = Command::cargo_bin("streamctl")
        .unwrap()
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .args(["provision", "-f", "bad/impossible.yaml", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad/impossible.yaml:3:1"));
    // An unknown instance type is caught by DescribeInstanceTypes before anything is created.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.yaml");
    std::fs::write(
        &p,
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/examples/classic.yaml"
        ))
        .unwrap()
        .replace("m6in.xlarge", "m6in.huge"),
    )
    .unwrap();
    let (code, _, err) = e.provision(p.to_str().unwrap(), &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("m6in.huge"), "{err}");
    // Without --yes and without a terminal, provision refuses and changes nothing.
    let out = e
        .cmd()
        .args([
            "provision",
            "-f",
            "docs/examples/classic.yaml",
            "--image-id",
            IMAGE,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert!(e.instances("orders-classic").is_empty());
    let vpcs =
        e.rt.block_on(
            e.ec2()
                .describe_vpcs()
                .filters(
                    Filter::builder()
                        .name("tag:streamctl:cluster")
                        .values("orders-classic")
                        .build(),
                )
                .send(),
        )
        .unwrap();
    assert!(vpcs.vpcs().is_empty());
}

#[test]
fn an_existing_vpc_is_used_not_created() {
    let Some(e) = emulator() else { return };
    let ec2 = e.ec2();
    let dir = tempfile::tempdir().unwrap();
    let (_, p) = with_existing_vpc(&e, &dir, "classic");
    let (code, v, err) = e.provision(p.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["kind"] == "vpc" && c["action"] == "create"));
    let vpcs = e.rt.block_on(ec2.describe_vpcs().send()).unwrap();
    assert!(
        !vpcs.vpcs().iter().any(|x| x
            .tags()
            .iter()
            .any(|t| t.key() == Some("streamctl:cluster"))),
        "no VPC created"
    );
    let inst = e.instances("orders-classic");
    assert_eq!(per_az(&inst, "brokers"), [2, 2, 2]);
}

/// The created VPC's routing, read straight from the emulator: per private route table
/// (AZ -> (default route target, associated subnets)), the public one, and the S3 endpoint's
/// route tables.
struct Routing {
    private: std::collections::BTreeMap<String, (Option<String>, Vec<String>)>,
    public: Option<(Option<String>, Vec<String>)>,
    endpoint_tables: Vec<String>,
    private_table_ids: Vec<String>,
    nats: Vec<(String, String)>,
    igw: Option<String>,
}

fn routing(e: &Emu, cluster: &str) -> Routing {
    let ec2 = e.ec2();
    let ours = || {
        Filter::builder()
            .name("tag:streamctl:cluster")
            .values(cluster)
            .build()
    };
    let rts =
        e.rt.block_on(ec2.describe_route_tables().filters(ours()).send())
            .unwrap();
    let mut r = Routing {
        private: Default::default(),
        public: None,
        endpoint_tables: vec![],
        private_table_ids: vec![],
        nats: vec![],
        igw: None,
    };
    for t in rts.route_tables() {
        let name = t
            .tags()
            .iter()
            .find(|x| x.key() == Some("Name"))
            .and_then(|x| x.value())
            .unwrap_or_default()
            .to_string();
        let default = t
            .routes()
            .iter()
            .find(|x| x.destination_cidr_block() == Some("0.0.0.0/0"))
            .and_then(|x| x.nat_gateway_id().or(x.gateway_id()))
            .map(str::to_string);
        let subnets: Vec<String> = t
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect();
        if let Some(az) = name.split("-private-").nth(1) {
            r.private.insert(az.to_string(), (default, subnets));
            r.private_table_ids
                .push(t.route_table_id().unwrap().to_string());
        } else if name.ends_with("-public") {
            r.public = Some((default, subnets));
        }
    }
    let eps =
        e.rt.block_on(ec2.describe_vpc_endpoints().filters(ours()).send())
            .unwrap();
    for ep in eps.vpc_endpoints() {
        assert_eq!(ep.service_name(), Some("com.amazonaws.us-east-1.s3"));
        r.endpoint_tables
            .extend(ep.route_table_ids().iter().cloned());
    }
    r.endpoint_tables.sort();
    r.private_table_ids.sort();
    let nats =
        e.rt.block_on(ec2.describe_nat_gateways().filter(ours()).send())
            .unwrap();
    for g in nats.nat_gateways() {
        let az = g
            .tags()
            .iter()
            .find(|x| x.key() == Some("streamctl:az"))
            .and_then(|x| x.value())
            .unwrap_or_default()
            .to_string();
        r.nats.push((az, g.nat_gateway_id().unwrap().to_string()));
    }
    r.nats.sort();
    let igws =
        e.rt.block_on(ec2.describe_internet_gateways().filters(ours()).send())
            .unwrap();
    r.igw = igws
        .internet_gateways()
        .first()
        .and_then(|g| g.internet_gateway_id())
        .map(str::to_string);
    r
}

/// The tiered example with `network.egress` set (and no TLS-only bucket policy).
fn tiered_with_egress(dir: &tempfile::TempDir, egress: &str) -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/examples/tiered.yaml"
    ))
    .unwrap()
    .replace(
        "  client_cidrs: [10.0.0.0/8]\n",
        &format!("  client_cidrs: [10.0.0.0/8]\n  egress: {egress}\n"),
    );
    let p = dir.path().join(format!("tiered-{egress}.yaml"));
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn a_created_vpc_has_nat_per_az_route_tables_and_an_s3_gateway_endpoint_on_each_private_table() {
    let Some(e) = emulator() else { return };
    let (code, _, err) = e.provision("docs/examples/tiered.yaml", &[]);
    assert_eq!(code, 0, "{err}");
    let r = routing(&e, "clicks-tiered");
    // One NAT gateway per AZ; each private route table sends 0.0.0.0/0 to its own AZ's.
    assert_eq!(r.nats.len(), 3);
    assert_eq!(r.private.len(), 3);
    for (az, nat) in &r.nats {
        let (default, subnets) = &r.private[az];
        assert_eq!(default.as_deref(), Some(nat.as_str()), "{az}");
        assert_eq!(subnets.len(), 1, "{az}: its private subnet");
    }
    // The public route table goes to the internet gateway and holds the three public subnets.
    let (default, subnets) = r.public.clone().unwrap();
    assert_eq!(default, r.igw);
    assert_eq!(subnets.len(), 3);
    // The S3 gateway endpoint is on every private route table (S3 never crosses a NAT).
    assert_eq!(r.endpoint_tables, r.private_table_ids);
    // Brokers run in the private subnets.
    let private: Vec<String> = r.private.values().flat_map(|p| p.1.clone()).collect();
    let inst =
        e.rt.block_on(
            e.ec2()
                .describe_instances()
                .filters(
                    Filter::builder()
                        .name("tag:streamctl:cluster")
                        .values("clicks-tiered")
                        .build(),
                )
                .send(),
        )
        .unwrap();
    for res in inst.reservations() {
        for i in res.instances() {
            assert!(private.contains(&i.subnet_id().unwrap().to_string()));
        }
    }
    // Converged: the re-plan is all no-op.
    let (code, v, _) = e.provision(
        "docs/examples/tiered.yaml",
        &["--dry-run", "--detailed-exitcode"],
    );
    assert_eq!(code, 0, "{v}");
}

#[test]
fn nat_single_and_no_egress_layouts() {
    let Some(e) = emulator() else { return };
    let dir = tempfile::tempdir().unwrap();
    let spec = tiered_with_egress(&dir, "nat-single");
    let (code, _, err) = e.provision(&spec, &[]);
    assert_eq!(code, 0, "{err}");
    let r = routing(&e, "clicks-tiered");
    assert_eq!(r.nats.len(), 1, "one NAT gateway");
    let nat = r.nats[0].1.clone();
    assert!(r
        .private
        .values()
        .all(|p| p.0.as_deref() == Some(nat.as_str())));
    assert_eq!(r.endpoint_tables, r.private_table_ids);
    // Switching to `none` on the same cluster: private route tables lose their default route;
    // the endpoint stays. The NAT gateway itself is not deleted by provision (it reports it).
    let spec = tiered_with_egress(&dir, "none");
    let (code, v, err) = e.provision(&spec, &[]);
    assert_eq!(code, 0, "{err}");
    let r = routing(&e, "clicks-tiered");
    assert!(r.private.values().all(|p| p.0.is_none()), "{v}");
    // The NAT gateway it no longer uses is reported (it costs by the hour), not deleted.
    assert!(
        v["plan"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["kind"] == "nat-gateway" && c["action"] == "drift"),
        "{v}"
    );
    assert_eq!(r.nats.len(), 1);
    assert_eq!(r.endpoint_tables, r.private_table_ids);
}

#[test]
fn an_existing_vpc_without_an_s3_gateway_endpoint_is_reported_with_its_cost() {
    let Some(e) = emulator() else { return };
    let ec2 = e.ec2();
    let dir = tempfile::tempdir().unwrap();
    let (vpc, p) = with_existing_vpc(&e, &dir, "tiered");
    let spec = p.to_str().unwrap();
    let (code, v, err) = e.provision(spec, &["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let ep = v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "s3-endpoint")
        .unwrap()
        .clone();
    assert_eq!(ep["action"], "drift", "{ep}");
    let details = ep["details"].as_array().unwrap();
    assert_eq!(details.len(), 3, "one line per subnet: {ep}");
    assert!(
        details[0].as_str().unwrap().contains("/month at $0.045/GB"),
        "{ep}"
    );
    // Nothing is changed in a VPC streamctl does not own: no endpoint, no route table.
    let (code, _, err) = e.provision(spec, &[]);
    assert_eq!(code, 0, "{err}");
    let eps = e.rt.block_on(ec2.describe_vpc_endpoints().send()).unwrap();
    assert!(eps.vpc_endpoints().is_empty());
    // With an endpoint on the VPC's main route table the drift is gone.
    let main =
        e.rt.block_on(
            ec2.describe_route_tables()
                .filters(Filter::builder().name("vpc-id").values(&vpc).build())
                .send(),
        )
        .unwrap()
        .route_tables()
        .iter()
        .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
        .unwrap()
        .route_table_id()
        .unwrap()
        .to_string();
    e.rt.block_on(
        ec2.create_vpc_endpoint()
            .vpc_id(&vpc)
            .service_name("com.amazonaws.us-east-1.s3")
            .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
            .route_table_ids(main)
            .send(),
    )
    .unwrap();
    let (code, v, _) = e.provision(spec, &["--dry-run"]);
    assert_eq!(code, 0);
    let ep = v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "s3-endpoint")
        .unwrap()
        .clone();
    assert_eq!(ep["action"], "no-op", "{ep}");
}

#[test]
fn duplicate_instances_are_drift_and_prune_duplicates_terminates_only_the_extra_one() {
    let Some(e) = emulator() else { return };
    let (code, _, err) = e.provision("docs/examples/classic.yaml", &[]);
    assert_eq!(code, 0, "{err}");
    // A second instance with node id 2 (what an older version's lost response left).
    let ec2 = e.ec2();
    let inst = e.instances("orders-classic");
    let twin = inst
        .iter()
        .find(|i| i.0 == "brokers" && i.2 == "1")
        .unwrap()
        .clone();
    let r =
        e.rt.block_on(ec2.describe_instances().instance_ids(&twin.4).send())
            .unwrap();
    let orig = &r.reservations()[0].instances()[0];
    let lt =
        e.rt.block_on(
            ec2.describe_launch_templates()
                .filters(
                    Filter::builder()
                        .name("launch-template-name")
                        .values("streamctl-orders-classic-brokers")
                        .build(),
                )
                .send(),
        )
        .unwrap()
        .launch_templates()[0]
            .launch_template_id()
            .unwrap()
            .to_string();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let tags = aws_sdk_ec2::types::TagSpecification::builder()
        .resource_type(aws_sdk_ec2::types::ResourceType::Instance)
        .set_tags(Some(orig.tags().to_vec()))
        .build();
    let extra =
        e.rt.block_on(
            ec2.run_instances()
                .launch_template(
                    aws_sdk_ec2::types::LaunchTemplateSpecification::builder()
                        .launch_template_id(&lt)
                        .build(),
                )
                .subnet_id(orig.subnet_id().unwrap())
                .min_count(1)
                .max_count(1)
                .tag_specifications(tags)
                .send(),
        )
        .unwrap()
        .instances()[0]
            .instance_id()
            .unwrap()
            .to_string();
    // The plan reports it as drift, naming both instances; a plain provision leaves it.
    let (code, v, _) = e.provision("docs/examples/classic.yaml", &["--dry-run"]);
    assert_eq!(code, 0);
    let dup = v["plan"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "duplicate")
        .unwrap_or_else(|| panic!("{v}"))
        .clone();
    assert_eq!(dup["action"], "drift");
    let text = dup["details"][0].as_str().unwrap();
    assert!(text.contains(&twin.4) && text.contains(&extra), "{text}");
    // --prune-duplicates terminates the younger one only.
    let (code, v, err) = e.provision("docs/examples/classic.yaml", &["--prune-duplicates"]);
    assert_eq!(code, 0, "{err}");
    let pruned = v["pruned"].as_array().unwrap();
    assert_eq!(pruned.len(), 1, "{v}");
    assert!(pruned[0]["name"].as_str().unwrap().starts_with(&extra));
    assert!(
        pruned[0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("terminated"),
        "{v}"
    );
    let now = e.instances("orders-classic");
    assert_eq!(now.len(), inst.len());
    assert!(now.iter().any(|i| i.4 == twin.4), "the original stays");
    let (code, v, _) = e.provision(
        "docs/examples/classic.yaml",
        &["--dry-run", "--detailed-exitcode"],
    );
    assert_eq!(code, 0, "{v}");
}

#[test]
fn inventory_shows_the_boot_status_a_node_tagged_itself_with() {
    let Some(e) = emulator() else { return };
    let (code, _, err) = e.provision("docs/examples/classic.yaml", &[]);
    assert_eq!(code, 0, "{err}");
    let inst = e.instances("orders-classic");
    let failed = &inst[0].4;
    // What the user-data's `fail` does on the node (aws ec2 create-tags on itself).
    e.rt.block_on(
        e.ec2()
            .create_tags()
            .resources(failed)
            .tags(
                aws_sdk_ec2::types::Tag::builder()
                    .key("streamctl:boot")
                    .value("failed: Apache Kafka is not installed under /opt/kafka")
                    .build(),
            )
            .send(),
    )
    .unwrap();
    let out = e
        .cmd()
        .args([
            "inventory",
            "-f",
            "docs/examples/classic.yaml",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let v = common::ok_json(&out);
    let nodes = v["actual"]["instances"].as_array().unwrap();
    let boot: Vec<(&str, &Value)> = nodes
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), &n["boot"]))
        .collect();
    for (id, b) in boot {
        if id == failed {
            assert!(
                b.as_str().unwrap().starts_with("failed: Apache Kafka"),
                "{b}"
            );
        } else {
            assert!(b.is_null(), "{id}: {b}");
        }
    }
    let out = e
        .cmd()
        .args(["inventory", "-f", "docs/examples/classic.yaml"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("boot failed: Apache Kafka"));
}

/// A VPC with one subnet per AZ made by hand (streamctl does not own it), and the example spec
/// `example` rewritten to use it; returns (VPC id, spec path).
fn with_existing_vpc(
    e: &Emu,
    dir: &tempfile::TempDir,
    example: &str,
) -> (String, std::path::PathBuf) {
    let ec2 = e.ec2();
    let vpc =
        e.rt.block_on(ec2.create_vpc().cidr_block("10.9.0.0/16").send())
            .unwrap()
            .vpc()
            .unwrap()
            .vpc_id()
            .unwrap()
            .to_string();
    let mut subnets = String::new();
    for (i, az) in ["us-east-1a", "us-east-1b", "us-east-1c"]
        .iter()
        .enumerate()
    {
        let s =
            e.rt.block_on(
                ec2.create_subnet()
                    .vpc_id(&vpc)
                    .cidr_block(format!("10.9.{i}.0/24"))
                    .availability_zone(*az)
                    .send(),
            )
            .unwrap();
        subnets.push_str(&format!(
            "    {az}: {}\n",
            s.subnet().unwrap().subnet_id().unwrap()
        ));
    }
    let text = std::fs::read_to_string(format!(
        "{}/docs/examples/{example}.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let start = text.find("network:").unwrap();
    let end = text.find("tags:").unwrap();
    let text = format!(
        "{}network:\n  vpc_id: {vpc}\n  subnets:\n{subnets}  client_cidrs: [10.0.0.0/8]\n{}",
        &text[..start],
        &text[end..]
    );
    let p = dir.path().join(format!("{example}-existing-vpc.yaml"));
    std::fs::write(&p, text).unwrap();
    (vpc, p)
}
