use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::model::fixtures::{self, WS_FQN, manifest, resource};

fn cluster(name: &str, namespaces: &[&str]) -> ClusterNamespaces {
    ClusterNamespaces {
        cluster: name.to_string(),
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|n| n.to_string()).collect()
}

fn fqn(s: &str) -> Fqn {
    s.parse().expect("test FQN parses")
}

fn workspace(name: &str, names: &[&str]) -> Resource {
    resource(&manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2",
        "kind": "Workspace",
        "metadata": {"name": name, "annotations": {
            "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments"}},
        "spec": {"namespaceSelector": {"names": names}}
    })))
}

fn group(api_version: &str, name: &str, ws: &str, names: &[&str], spec: Value) -> Resource {
    let mut spec = spec;
    spec["namespaceSelector"] = json!({"names": names});
    resource(&manifest(json!({
        "apiVersion": api_version,
        "kind": "Group",
        "metadata": {"name": name, "annotations": {
            "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments",
            "tsb.tetrate.io/workspace": ws}},
        "spec": spec
    })))
}

const TG: &str = "traffic.tsb.tetrate.io/v2";

#[test]
fn example_2_worked_resolution() {
    let set_ = fixtures::appendix_set();
    let eu = resolve(
        &cluster(
            "eu-1",
            &[
                "checkout",
                "checkout-edge",
                "checkout-jobs-nightly",
                "checkout-legacy",
                "billing",
                "kube-system",
            ],
        ),
        &set_,
    );
    let ws = fqn(WS_FQN);
    assert_eq!(
        eu.workspaces[&ws],
        set(&[
            "checkout",
            "checkout-edge",
            "checkout-jobs-nightly",
            "checkout-legacy"
        ])
    );
    let us = resolve(
        &cluster(
            "us-1",
            &[
                "checkout",
                "checkout-edge",
                "checkout-jobs-nightly",
                "checkout-legacy",
            ],
        ),
        &set_,
    );
    // The prefix entry applies to eu-1 only.
    assert_eq!(
        us.workspaces[&ws],
        set(&["checkout", "checkout-edge", "checkout-legacy"])
    );
    // Example 3: the traffic group gets `checkout` in both clusters.
    let tg = fqn(&format!("{WS_FQN}/trafficgroups/checkout-traffic"));
    assert_eq!(eu.groups[&tg], set(&["checkout"]));
    assert_eq!(us.groups[&tg], set(&["checkout"]));
    assert!(
        us.direct_groups
            .contains(&fqn(&format!("{WS_FQN}/trafficgroups/checkout-direct")))
    );
}

#[test]
fn group_is_intersected_with_its_workspace() {
    let resources = [
        workspace("ws", &["*/bookinfo", "c1/shop"]),
        // `*/*` in a group means "everything the workspace owns"; `*/other` is outside it.
        group(TG, "all", "ws", &["*/*"], json!({})),
        group(TG, "outside", "ws", &["*/other"], json!({})),
    ];
    let r = resolve(&cluster("c1", &["bookinfo", "shop", "other"]), &resources);
    let ws = fqn("organizations/acme/tenants/payments/workspaces/ws");
    assert_eq!(r.workspaces[&ws], set(&["bookinfo", "shop"]));
    assert_eq!(
        r.groups[&ws.child(Kind::TrafficGroup, "all").unwrap()],
        set(&["bookinfo", "shop"])
    );
    assert!(
        !r.groups
            .contains_key(&ws.child(Kind::TrafficGroup, "outside").unwrap())
    );
}

#[test]
fn wildcard_cluster_and_namespace_entries() {
    let resources = [
        workspace("any-ns", &["*/web"]),
        workspace("whole-c2", &["c2/*"]),
        workspace("prefixed", &["c1/team-*"]),
    ];
    let c1 = resolve(
        &cluster("c1", &["web", "team-a", "team", "teamb", "db"]),
        &resources,
    );
    let ws = |n: &str| {
        fqn(&format!(
            "organizations/acme/tenants/payments/workspaces/{n}"
        ))
    };
    assert_eq!(c1.workspaces[&ws("any-ns")], set(&["web"]));
    assert_eq!(c1.workspaces[&ws("prefixed")], set(&["team-a"]));
    assert!(!c1.workspaces.contains_key(&ws("whole-c2")));
    let c2 = resolve(&cluster("c2", &["web", "db", "team-a"]), &resources);
    // In c2 `web` matches both `*/web` and `c2/*` (an invalid, overlapping set): the smallest
    // FQN owns it, whatever the input order.
    assert_eq!(c2.workspaces[&ws("any-ns")], set(&["web"]));
    assert_eq!(c2.workspaces[&ws("whole-c2")], set(&["db", "team-a"]));
    let reversed: Vec<Resource> = resources.iter().rev().cloned().collect();
    assert_eq!(
        resolve(&cluster("c2", &["web", "db", "team-a"]), &reversed),
        c2
    );
}

#[test]
fn unmanaged_namespaces_get_nothing() {
    let set_ = fixtures::appendix_set();
    let r = resolve(&cluster("eu-1", &["kube-system", "billing"]), &set_);
    assert!(r.workspaces.is_empty() && r.groups.is_empty());
    for resource in &set_ {
        assert!(
            target_namespaces(&r, resource).is_empty(),
            "{}",
            resource.fqn
        );
    }
}

#[test]
fn targets_follow_section_3_6() {
    let set_ = fixtures::appendix_set();
    let r = resolve(
        &cluster(
            "eu-1",
            &["checkout", "checkout-edge", "checkout-legacy", "other"],
        ),
        &set_,
    );
    let by_name = |name: &str| {
        set_.iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} in the appendix set"))
    };
    assert!(
        target_namespaces(&r, by_name("payments")).is_empty(),
        "tenant"
    );
    assert_eq!(
        target_namespaces(&r, by_name("checkout-ws")),
        set(&["checkout", "checkout-edge", "checkout-legacy"])
    );
    assert_eq!(
        target_namespaces(&r, by_name("checkout-traffic")),
        set(&["checkout"])
    );
    assert_eq!(
        target_namespaces(&r, by_name("defaults")),
        set(&["checkout"])
    );
    assert_eq!(target_namespaces(&r, by_name("cart")), set(&["checkout"]));
    assert_eq!(
        target_namespaces(&r, by_name("checkout-ingress")),
        set(&["checkout-edge"])
    );
    // DIRECT: only its own namespace, and only when the group has it.
    assert_eq!(
        target_namespaces(&r, by_name("legacy-api")),
        set(&["checkout-legacy"])
    );
    let r2 = resolve(&cluster("eu-1", &["checkout"]), &set_);
    assert!(target_namespaces(&r2, by_name("legacy-api")).is_empty());
}

#[test]
fn settings_of_tenant_and_organization_go_where_workspaces_are() {
    let org_setting = resource(&manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2", "kind": "OrganizationSetting",
        "metadata": {"name": "default", "annotations": {"tsb.tetrate.io/organization": "acme"}},
        "spec": {}
    })));
    let tenant_setting = resource(&manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2", "kind": "TenantSetting",
        "metadata": {"name": "default", "annotations": {
            "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments"}},
        "spec": {}
    })));
    let other_org = resource(&manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2", "kind": "OrganizationSetting",
        "metadata": {"name": "default", "annotations": {"tsb.tetrate.io/organization": "zeta"}},
        "spec": {}
    })));
    let resources = [
        workspace("a", &["*/a"]),
        workspace("b", &["*/b"]),
        org_setting.clone(),
        tenant_setting.clone(),
        other_org.clone(),
    ];
    let r = resolve(&cluster("c1", &["a", "b", "c"]), &resources);
    assert_eq!(target_namespaces(&r, &org_setting), set(&["a", "b"]));
    assert_eq!(target_namespaces(&r, &tenant_setting), set(&["a", "b"]));
    assert!(target_namespaces(&r, &other_org).is_empty());
}

#[test]
fn config_mode_mismatch_is_never_a_target() {
    let set_ = fixtures::appendix_set();
    let r = resolve(&cluster("eu-1", &["checkout", "checkout-legacy"]), &set_);
    // A BRIDGED ServiceRoute under the DIRECT group is not sent (V14).
    let mut route = set_.iter().find(|r| r.name == "cart").unwrap().clone();
    let direct = fqn(&format!("{WS_FQN}/trafficgroups/checkout-direct"));
    route.fqn = direct.child(Kind::ServiceRoute, "cart").unwrap();
    route.parent = Some(direct);
    assert!(target_namespaces(&r, &route).is_empty());
}

#[test]
fn resolves_ten_thousand_resources_quickly() {
    // 2,000 workspaces with 4 groups each, 400 namespaces: linear, not quadratic.
    let mut resources = Vec::new();
    for w in 0..2000 {
        let name = format!("ws-{w}");
        resources.push(workspace(
            &name,
            &[&format!("*/ns-{w}"), &format!("c1/p{w}-*")],
        ));
        for g in 0..4 {
            resources.push(group(TG, &format!("g{g}"), &name, &["*/*"], json!({})));
        }
    }
    let namespaces: Vec<String> = (0..400).map(|n| format!("ns-{}", n * 5)).collect();
    let inventory = ClusterNamespaces {
        cluster: "c1".into(),
        namespaces: namespaces.into_iter().collect(),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let r = resolve(&inventory, &resources);
    let targets: usize = resources
        .iter()
        .map(|res| target_namespaces(&r, res).len())
        .sum();
    assert_eq!(r.workspaces.len(), 400);
    assert_eq!(targets, 400 * 5);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
