//! AWS features against the local emulator (moto's server, real HTTP, the real SDK).
//! `tests/run.sh` starts moto and sets STREAMCTL_MOTO_ENDPOINT; STREAMCTL_SKIP_AWS=1 skips these
//! tests loudly (never in CI).

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::moto;

fn streamctl_against(endpoint: &str) -> Command {
    let mut c = Command::cargo_bin("streamctl").unwrap();
    c.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    c
}

#[test]
fn live_catalog_reads_describe_instance_types_and_agrees_with_the_embedded_one() {
    let Some(endpoint) = moto() else { return };
    let embedded: Value = serde_json::from_slice(
        &streamctl_against(&endpoint)
            .args(["size", "catalog", "-o", "json"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let out = streamctl_against(&endpoint)
        .args(["size", "catalog", "--live-catalog", "-o", "json"])
        .output()
        .unwrap();
    let live = common::ok_json(&out);
    let live_types = live["instance_types"].as_array().unwrap();
    let embedded_types = embedded["instance_types"].as_array().unwrap();
    assert_eq!(live_types.len(), embedded_types.len());
    for (l, e) in live_types.iter().zip(embedded_types) {
        assert_eq!(l["source"], "live", "{l}");
        assert_eq!(e["source"], "embedded");
        // moto ships AWS's own DescribeInstanceTypes data: the embedded figures must match it.
        for key in ["vcpus", "memory_gib"] {
            assert_eq!(l[key], e[key], "{} {key}", l["name"]);
        }
        for key in ["ebs_baseline_mbps", "network_baseline_mbps"] {
            let (lv, ev) = (l[key].as_f64().unwrap(), e[key].as_f64().unwrap());
            assert!(
                (lv - ev).abs() <= 0.1,
                "{} {key}: live {lv} embedded {ev}",
                l["name"]
            );
        }
    }
}

#[test]
fn live_catalog_feeds_the_throughput_model() {
    let Some(endpoint) = moto() else { return };
    let out = streamctl_against(&endpoint)
        .args([
            "size",
            "throughput",
            "--instance-type",
            "m6in.large",
            "--live-catalog",
            "--consumer-groups",
            "0",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let v = common::ok_json(&out);
    assert_eq!(v["instance_type"]["source"], "live");
    // DescribeInstanceTypes: m6in.large BaselineThroughputInMBps 195.3125.
    assert_eq!(v["limits"]["ebs_network"].as_f64().unwrap(), 195.3125);
}

#[test]
fn live_catalog_without_credentials_falls_back_with_a_warning() {
    let Some(endpoint) = moto() else { return };
    let out = Command::cargo_bin("streamctl")
        .unwrap()
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .args([
            "size",
            "throughput",
            "--instance-type",
            "m6in.large",
            "--live-catalog",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let v = common::ok_json(&out);
    assert_eq!(v["instance_type"]["source"], "embedded");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no AWS credentials"));
}

#[test]
fn unreachable_endpoint_fails_with_exit_1_and_a_hint() {
    if moto().is_none() {
        return;
    }
    // Port 9 (discard) on loopback: nothing listens there.
    let out = streamctl_against("http://127.0.0.1:9")
        .env("AWS_MAX_ATTEMPTS", "1")
        .args([
            "size",
            "throughput",
            "--instance-type",
            "m6in.large",
            "--live-catalog",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("EC2 DescribeInstanceTypes on m6in.large failed"),
        "{err}"
    );
    assert!(err.contains("hint:"), "{err}");
}

/// MSK IAM tokens: for fixed credentials, region and signing time, streamctl's token is byte for
/// byte the one AWS's own Python signer (aws-msk-iam-sasl-signer-python, in the tests' venv)
/// makes, with and without a session token; only the unsigned User-Agent parameter is each
/// signer's own, so the reference's is passed in.
#[test]
fn msk_iam_tokens_equal_the_ones_awss_python_signer_makes() {
    if moto().is_none() {
        return;
    }
    let python = std::env::var("STREAMCTL_PYTHON")
        .expect("tests/aws/moto.sh up exports STREAMCTL_PYTHON (the venv with AWS's signer)");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/aws/msk_token.py");
    let cases = [
        (
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "",
            "us-east-1",
            1_700_000_000u64,
        ),
        (
            "ASIAQEXAMPLE",
            "se/cr+et=",
            "IQoJb3JpZ2luX2VjE//session+token==",
            "eu-west-2",
            1_767_225_599,
        ),
    ];
    for (access, secret, session, region, epoch) in cases {
        let out = std::process::Command::new(&python)
            .args([script, access, secret, session, region, &epoch.to_string()])
            .output()
            .unwrap();
        let reference = common::ok_json(&out);
        let creds = aws_credential_types::Credentials::new(
            access,
            secret,
            (!session.is_empty()).then(|| session.to_string()),
            None,
            "test",
        );
        let ours = streamctl::kafka::oauth::msk_iam_token(
            &creds,
            region,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch),
            reference["user_agent"].as_str().unwrap(),
        )
        .unwrap();
        assert_eq!(
            ours.value,
            reference["token"].as_str().unwrap(),
            "{region} at {epoch}"
        );
        assert_eq!(ours.expires_at_ms, reference["expiry_ms"].as_i64().unwrap());
    }
}
