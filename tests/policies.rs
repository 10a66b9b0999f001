//! The IAM documents in policies/ grant exactly what a broker needs (seed 000's five actions).

use std::collections::BTreeSet;

use serde_json::Value;

fn load(name: &str, bucket: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name);
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("{{ bucket }}", bucket);
    serde_json::from_str(&text).unwrap()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().unwrap().to_string()).collect(),
        other => panic!("not a string or list: {other}"),
    }
}

#[test]
fn broker_policy_grants_exactly_five_actions_on_the_bucket() {
    let doc = load("broker-object-store.json", "orders-tier");
    let mut grants = BTreeSet::new();
    for st in doc["Statement"].as_array().unwrap() {
        assert_eq!(st["Effect"], "Allow");
        for action in strings(&st["Action"]) {
            assert!(!action.contains('*'), "wildcard action {action}");
            for resource in strings(&st["Resource"]) {
                grants.insert((action.clone(), resource));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("s3:ListBucket", "arn:aws:s3:::orders-tier"),
        ("s3:GetObject", "arn:aws:s3:::orders-tier/*"),
        ("s3:PutObject", "arn:aws:s3:::orders-tier/*"),
        ("s3:DeleteObject", "arn:aws:s3:::orders-tier/*"),
        ("s3:AbortMultipartUpload", "arn:aws:s3:::orders-tier/*"),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_string(), r.to_string()))
    .collect();
    assert_eq!(grants, expected);
}

#[test]
fn trust_and_tls_policies_parse() {
    let trust = load("ec2-assume-role.json", "x");
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        "ec2.amazonaws.com"
    );
    let tls = load("deny-insecure-transport.json", "orders-tier");
    let st = &tls["Statement"][0];
    assert_eq!(st["Effect"], "Deny");
    assert_eq!(st["Condition"]["Bool"]["aws:SecureTransport"], "false");
    assert_eq!(
        strings(&st["Resource"]),
        ["arn:aws:s3:::orders-tier", "arn:aws:s3:::orders-tier/*"]
    );
}
