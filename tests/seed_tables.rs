//! Every cell of seed 001's sizing tables, reproduced by `streamctl size throughput --output json`
//! (the contract scripts rely on). One test per published cell.

use assert_cmd::Command;
use serde_json::Value;

fn throughput(args: &[&str]) -> Value {
    let out = Command::cargo_bin("streamctl")
        .unwrap()
        .args(["size", "throughput", "--output", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Recommended (80%) sustained throughput, rounded as the seed rounds.
fn recommended(instance: &str, brokers: u32, groups: u32, volume_mbps: u32) -> i64 {
    let v = throughput(&[
        "--instance-type",
        instance,
        "--brokers",
        &brokers.to_string(),
        "--replication-factor",
        "3",
        "--consumer-groups",
        &groups.to_string(),
        "--volume-throughput-mbps",
        &volume_mbps.to_string(),
    ]);
    let rec = v["recommended_mbps"].as_f64().unwrap();
    let limit = v["sustained_limit_mbps"].as_f64().unwrap();
    assert!(
        (rec - 0.8 * limit).abs() < 1e-9,
        "recommended must be 80% of the limit"
    );
    rec.round() as i64
}

macro_rules! cells {
    ($($name:ident: ($instance:expr, $brokers:expr, $groups:expr, $volume:expr) => $published:expr;)*) => {
        $(
            #[test]
            fn $name() {
                assert_eq!(recommended($instance, $brokers, $groups, $volume), $published);
            }
        )*
    };
}

// "For a three-node cluster with replication 3 and two consumer groups" (broker size table).
cells! {
    broker_size_m5_large: ("m5.large", 3, 2, 250) => 58;
    broker_size_m5_xlarge: ("m5.xlarge", 3, 2, 250) => 96;
    broker_size_m5_2xlarge: ("m5.2xlarge", 3, 2, 250) => 192;
    broker_size_m5_4xlarge: ("m5.4xlarge", 3, 2, 250) => 200;
}

// Provisioned throughput table (three brokers, RF 3, two groups).
cells! {
    provisioned_m5_4xlarge_default: ("m5.4xlarge", 3, 2, 250) => 200;
    provisioned_m5_4xlarge_480: ("m5.4xlarge", 3, 2, 480) => 384;
    provisioned_m5_8xlarge_850: ("m5.8xlarge", 3, 2, 850) => 680;
    provisioned_m5_12xlarge_1000: ("m5.12xlarge", 3, 2, 1000) => 800;
    provisioned_m5_16xlarge_1000: ("m5.16xlarge", 3, 2, 1000) => 800;
}

// Scale-out table: brokers × broker size (RF 3, two groups).
cells! {
    scale_out_3_m5_large: ("m5.large", 3, 2, 250) => 58;
    scale_out_3_m5_2xlarge: ("m5.2xlarge", 3, 2, 250) => 192;
    scale_out_3_m5_4xlarge: ("m5.4xlarge", 3, 2, 250) => 200;
    scale_out_6_m5_large: ("m5.large", 6, 2, 250) => 115;
    scale_out_6_m5_2xlarge: ("m5.2xlarge", 6, 2, 250) => 384;
    scale_out_6_m5_4xlarge: ("m5.4xlarge", 6, 2, 250) => 400;
    scale_out_9_m5_large: ("m5.large", 9, 2, 250) => 173;
    scale_out_9_m5_2xlarge: ("m5.2xlarge", 9, 2, 250) => 576;
    scale_out_9_m5_4xlarge: ("m5.4xlarge", 9, 2, 250) => 600;
}

// Consumer-group table: groups × broker size (three brokers, RF 3).
cells! {
    groups_0_m5_large: ("m5.large", 3, 0, 250) => 65;
    groups_0_m5_2xlarge: ("m5.2xlarge", 3, 0, 250) => 200;
    groups_0_m5_4xlarge: ("m5.4xlarge", 3, 0, 250) => 200;
    groups_2_m5_large: ("m5.large", 3, 2, 250) => 58;
    groups_2_m5_2xlarge: ("m5.2xlarge", 3, 2, 250) => 192;
    groups_2_m5_4xlarge: ("m5.4xlarge", 3, 2, 250) => 200;
    groups_4_m5_large: ("m5.large", 3, 4, 250) => 38;
    groups_4_m5_2xlarge: ("m5.2xlarge", 3, 4, 250) => 128;
    groups_4_m5_4xlarge: ("m5.4xlarge", 3, 4, 250) => 200;
    groups_6_m5_large: ("m5.large", 3, 6, 250) => 29;
    groups_6_m5_2xlarge: ("m5.2xlarge", 3, 6, 250) => 96;
    groups_6_m5_4xlarge: ("m5.4xlarge", 3, 6, 250) => 192;
}

// The introduction's worked example: three m5.12xlarge, 1000 MB/s volumes, two groups -> 800.
cells! {
    intro_m5_12xlarge_1000: ("m5.12xlarge", 3, 2, 1000) => 800;
}

#[test]
fn bottlenecks_match_the_seed_narrative() {
    // "the EBS volume becomes a bottleneck" for m5.4xlarge at 250 MB/s ...
    let v = throughput(&["--instance-type", "m5.4xlarge", "--consumer-groups", "2"]);
    assert_eq!(v["bottleneck"], "storage");
    // ... and "the Amazon EC2 network ... restricts" it at 480 MB/s provisioned.
    let v = throughput(&[
        "--instance-type",
        "m5.4xlarge",
        "--consumer-groups",
        "2",
        "--volume-throughput-mbps",
        "480",
    ]);
    assert_eq!(v["bottleneck"], "ec2_network");
    // m5.large with no consumers is bound by its EBS bandwidth (81.25 × 0.8 = 65).
    let v = throughput(&["--instance-type", "m5.large", "--consumer-groups", "0"]);
    assert_eq!(v["bottleneck"], "ebs_network");
    for key in ["storage", "ebs_network", "ec2_network"] {
        assert!(v["limits"][key].is_f64(), "limits.{key} missing: {v}");
    }
}

#[test]
fn baseline_overrides_replace_the_catalog() {
    let v = throughput(&[
        "--ebs-baseline-mbps",
        "100",
        "--network-baseline-mbps",
        "200",
        "--consumer-groups",
        "0",
    ]);
    assert_eq!(v["limits"]["ebs_network"].as_f64().unwrap(), 100.0);
    assert_eq!(v["limits"]["ec2_network"].as_f64().unwrap(), 300.0);
    assert!(v["instance_type"].is_null());
}

#[test]
fn tiered_equation_terms() {
    let v = throughput(&[
        "--storage",
        "tiered",
        "--instance-type",
        "m5.large",
        "--tip-consumer-groups",
        "1",
        "--lagging-consumer-groups",
        "1",
        "--remote-consumer-groups",
        "1",
    ]);
    // storage and EBS / (r + 1 + lagging) = /5; network / (tip + r + remote) = /5
    assert_eq!(v["limits"]["storage"].as_f64().unwrap(), 150.0);
    assert_eq!(v["limits"]["ebs_network"].as_f64().unwrap(), 48.75);
    assert_eq!(v["limits"]["ec2_network"].as_f64().unwrap(), 57.6);
    assert_eq!(v["bottleneck"], "ebs_network");
    assert_eq!(v["network_multiplier"].as_f64().unwrap(), 7.0);
}

#[test]
fn diskless_terms_and_bottleneck_names() {
    let v = throughput(&[
        "--storage",
        "diskless",
        "--instance-type",
        "m6in.xlarge",
        "--brokers",
        "6",
        "--consumer-groups",
        "3",
    ]);
    for key in ["ec2_network_in", "ec2_network_out", "cpu"] {
        assert!(v["limits"][key].is_f64(), "limits.{key} missing: {v}");
    }
    // m6in.xlarge: 6.25 Gbit/s = 800 MB/s, 4 vCPU; 6 brokers, 3 groups over 3 AZs.
    assert_eq!(
        v["limits"]["ec2_network_in"].as_f64().unwrap(),
        800.0 * 6.0 / 4.0
    );
    assert_eq!(
        v["limits"]["ec2_network_out"].as_f64().unwrap(),
        800.0 * 6.0 / 4.0
    );
    assert_eq!(v["limits"]["cpu"].as_f64().unwrap(), 64.0 * 4.0 * 6.0);
    // In and out tie here; ties go to the later term.
    assert_eq!(v["bottleneck"], "ec2_network_out");
}
