use super::*;
use crate::provision::desired::desired_state;

fn desired() -> Desired {
    let text = std::fs::read_to_string(format!(
        "{}/docs/examples/tiered.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let spec = crate::spec::parse(&text, "tiered.yaml").unwrap().0;
    desired_state(
        &spec,
        &[
            "us-east-1a".into(),
            "us-east-1b".into(),
            "us-east-1c".into(),
        ],
    )
    .unwrap()
}

#[test]
fn empty_account_creates_everything() {
    let d = desired();
    let plan = diff(&d, &Actual::default());
    let c = counts(&plan);
    assert_eq!(c.update + c.no_op + c.drift, 0);
    assert_eq!(plan.iter().filter(|c| c.kind == "instance").count(), 9);
}

#[test]
fn matching_state_is_all_no_op_and_drift_is_found() {
    let d = desired();
    let b = d.bucket.clone().unwrap();
    let i = d.iam.clone().unwrap();
    let mut a = Actual {
        bucket: Some(ActualBucket {
            lifecycle: Some((Some(b.abort_multipart_days), None, 1)),
            public_access_block: Some([true; 4]),
            encryption: Some(b.encryption.clone()),
            ownership: Some(b.ownership.clone()),
            tags: b.tags.clone(),
            policy: b.policy.clone().map(|p| {
                serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&p).unwrap())
                    .unwrap()
            }),
        }),
        role_trust_policy: Some(i.trust_policy.clone()),
        role_policy: Some(i.policy.clone()),
        instance_profile_roles: Some(vec![i.role_name.clone()]),
        vpc_id: Some("vpc-1".into()),
        subnets: d
            .network
            .subnet_cidrs
            .iter()
            .map(|(az, c)| (az.clone(), (format!("subnet-{az}"), c.clone())))
            .collect(),
        security_group: Some(("sg-1".into(), d.network.security_group.rules.clone())),
        launch_templates: d
            .launch_templates
            .iter()
            .map(|lt| {
                (
                    lt.name.clone(),
                    ActualLaunchTemplate {
                        id: "lt".into(),
                        version: 1,
                        instance_type: Some(lt.instance_type.clone()),
                        image_id: lt.image_id.clone(),
                        root_volume_gib: Some(lt.root_volume_gib),
                        data_volume: lt.data_volume,
                        data_encrypted: true,
                        http_tokens_required: true,
                        hop_limit: Some(2),
                        instance_profile: lt.instance_profile.clone(),
                        security_groups: vec!["sg-1".into()],
                    },
                )
            })
            .collect(),
        instances: d
            .instances
            .iter()
            .map(|i| ActualInstance {
                id: format!("i-{}", i.name),
                group: i.group.clone(),
                index: i.index,
                az: i.az.clone(),
                state: "running".into(),
                launch_time: "2026-11-01T00:00:00Z".into(),
                boot: None,
            })
            .collect(),
        ..Default::default()
    };
    let n = &d.network;
    a.public_subnets = n
        .public_subnet_cidrs
        .iter()
        .map(|(az, c)| (az.clone(), (format!("subnet-pub-{az}"), c.clone())))
        .collect();
    a.internet_gateway = Some(("igw-1".into(), true));
    a.nat_gateways = n
        .nat_azs
        .iter()
        .map(|az| (az.clone(), format!("nat-{az}")))
        .collect();
    a.route_tables.insert(
        n.public_route_table(),
        ActualRouteTable {
            id: "rtb-pub".into(),
            default_target: Some("igw-1".into()),
            subnets: a.public_subnets.values().map(|s| s.0.clone()).collect(),
        },
    );
    for az in &d.azs {
        a.route_tables.insert(
            n.private_route_table(az),
            ActualRouteTable {
                id: format!("rtb-{az}"),
                default_target: Some(format!("nat-{az}")),
                subnets: vec![format!("subnet-{az}")],
            },
        );
    }
    a.s3_endpoint = Some((
        "vpce-1".into(),
        d.azs.iter().map(|az| format!("rtb-{az}")).collect(),
    ));
    let plan = diff(&d, &a);
    assert!(plan.iter().all(|c| c.action == Action::NoOp), "{plan:#?}");
    // Drift: the lifecycle rule edited by hand.
    a.bucket.as_mut().unwrap().lifecycle = Some((Some(30), Some(1), 2));
    let plan = diff(&d, &a);
    let lc = plan.iter().find(|c| c.kind == "s3-lifecycle").unwrap();
    assert_eq!(lc.action, Action::Update);
    // An extra instance is reported, never deleted.
    a.instances.push(ActualInstance {
        id: "i-x".into(),
        group: "brokers".into(),
        index: 6,
        az: "us-east-1a".into(),
        state: "running".into(),
        launch_time: "2026-11-01T00:00:00Z".into(),
        boot: None,
    });
    assert!(diff(&d, &a)
        .iter()
        .any(|c| c.kind == "instance" && c.action == Action::Drift));
}

#[test]
fn a_created_vpc_gets_gateways_route_tables_and_an_s3_endpoint() {
    let d = desired();
    let plan = diff(&d, &Actual::default());
    let kinds = |k: &str| plan.iter().filter(|c| c.kind == k).count();
    assert_eq!(
        (
            kinds("subnet"),
            kinds("public-subnet"),
            kinds("internet-gateway"),
            kinds("nat-gateway"),
            kinds("route-table"),
            kinds("s3-endpoint")
        ),
        (3, 3, 1, 3, 4, 1),
        "nat-per-az is the default"
    );
    // Dependency order: subnets, gateway, NATs, route tables, endpoint, security group.
    let pos = |k: &str| plan.iter().position(|c| c.kind == k).unwrap();
    assert!(pos("vpc") < pos("subnet") && pos("public-subnet") < pos("nat-gateway"));
    assert!(
        pos("internet-gateway") < pos("nat-gateway") && pos("nat-gateway") < pos("route-table")
    );
    assert!(pos("route-table") < pos("s3-endpoint") && pos("s3-endpoint") < pos("security-group"));
}

#[test]
fn a_private_route_table_pointing_elsewhere_and_an_endpoint_missing_a_table_are_updates() {
    let d = desired();
    let az = d.azs[1].clone();
    let mut a = Actual {
        vpc_id: Some("vpc-1".into()),
        ..Default::default()
    };
    a.route_tables.insert(
        d.network.private_route_table(&az),
        ActualRouteTable {
            id: "rtb-b".into(),
            default_target: Some("nat-other".into()),
            subnets: vec![],
        },
    );
    a.s3_endpoint = Some(("vpce-1".into(), vec![]));
    let plan = diff(&d, &a);
    let rt = plan
        .iter()
        .find(|c| c.name == d.network.private_route_table(&az))
        .unwrap();
    assert_eq!(rt.action, Action::Update);
    assert!(rt.details.iter().any(|x| x.contains("nat-other")), "{rt:?}");
    let ep = plan.iter().find(|c| c.kind == "s3-endpoint").unwrap();
    assert_eq!(ep.action, Action::Update);
    assert_eq!(ep.details.len(), 3);
}

#[test]
fn duplicates_are_drift_with_the_exact_resources() {
    let d = desired();
    let i = &d.instances[1];
    let inst = |id: &str, t: &str| ActualInstance {
        id: id.into(),
        group: i.group.clone(),
        index: i.index,
        az: i.az.clone(),
        state: "running".into(),
        launch_time: t.into(),
        boot: None,
    };
    let a = Actual {
        instances: vec![
            inst("i-b", "2026-11-02T00:00:00Z"),
            inst("i-a", "2026-11-01T00:00:00Z"),
        ],
        duplicates: vec![(
            "vpc".into(),
            "streamctl-x".into(),
            vec!["vpc-1".into(), "vpc-2".into()],
        )],
        ..Default::default()
    };
    let plan = diff(&d, &a);
    let dups: Vec<&Change> = plan.iter().filter(|c| c.kind == "duplicate").collect();
    assert_eq!(dups.len(), 2);
    assert!(dups.iter().all(|c| c.action == Action::Drift));
    assert!(
        dups[0].details[0].contains("keeps i-a (oldest), extra i-b"),
        "{dups:?}"
    );
    assert!(dups[1].details[0].contains("vpc-2"));
    // The node itself counts as present (not created again).
    let node = plan
        .iter()
        .find(|c| c.kind == "instance" && c.name == i.name)
        .unwrap();
    assert_eq!(node.action, Action::NoOp);
}

#[test]
fn nat_gateways_egress_no_longer_uses_are_drift() {
    let mut d = desired();
    d.network.egress = crate::spec::Egress::NatSingle;
    d.network.nat_azs.truncate(1);
    let mut a = Actual {
        vpc_id: Some("vpc-1".into()),
        ..Default::default()
    };
    for az in &d.azs {
        a.nat_gateways.insert(az.clone(), format!("nat-{az}"));
    }
    let plan = diff(&d, &a);
    let left: Vec<&Change> = plan
        .iter()
        .filter(|c| c.kind == "nat-gateway" && c.action == Action::Drift)
        .collect();
    assert_eq!(left.len(), 2, "{plan:#?}");
    assert!(left[0].details[0].contains("nat-single"));
}

#[test]
fn policies_compare_by_meaning() {
    assert!(same_policy(r#"{"a": ["x"], "b": 1}"#, r#"{"b":1,"a":"x"}"#));
    assert!(!same_policy(r#"{"a": ["x", "y"]}"#, r#"{"a": "x"}"#));
}
