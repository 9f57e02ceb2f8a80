//! L2 hierarchy rules and L3 analysis.

use std::collections::BTreeSet;

use serde_json::json;

use super::*;

// === L2 ===

#[test]
fn appendix_set_is_clean() {
    let set = fixtures::appendix_set();
    let diagnostics = validate_set(&set, &Organizations::AnyNamed);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

pub(super) fn without(set: &[Resource], fqn: &str) -> Vec<Resource> {
    set.iter()
        .filter(|r| r.fqn.to_string() != fqn)
        .cloned()
        .collect()
}

#[test]
fn parent_exists_v9() {
    let set = without(&fixtures::appendix_set(), WS_FQN);
    let diagnostics = validate_set(&set, &Organizations::AnyNamed);
    let missing: Vec<String> = diagnostics
        .iter()
        .filter(|d| d.rule == RuleCode::ParentExists)
        .map(|d| d.object.name.clone())
        .collect();
    assert_eq!(
        missing,
        ["checkout-traffic", "checkout-gateways", "checkout-direct"]
    );
    let first = diagnostics
        .iter()
        .find(|d| d.rule == RuleCode::ParentExists)
        .unwrap();
    assert_eq!(
        first.field,
        "metadata.annotations[tsb.tetrate.io/workspace]"
    );
    assert_eq!(first.grpc_code(), Some(GrpcCode::NotFound));

    let known = Organizations::Known(BTreeSet::from(["other".to_string()]));
    let diagnostics = validate_set(&fixtures::appendix_set(), &known);
    assert_eq!(
        errors(&diagnostics),
        [(
            RuleCode::ParentExists,
            "metadata.annotations[tsb.tetrate.io/organization]".to_string()
        )]
    );
}

pub(super) fn workspace_named(name: &str, tenant: &str, names: &[&str]) -> Resource {
    let mut ws = fixtures::workspace();
    ws.metadata.name = name.into();
    annotate(&mut ws, "tsb.tetrate.io/tenant", tenant);
    ws.spec["namespaceSelector"]["names"] = json!(names);
    resource(&ws)
}

#[test]
fn group_within_workspace_v10() {
    let mut set = fixtures::appendix_set();
    let mut tg = fixtures::traffic_group();
    tg.metadata.name = "payments-traffic".into();
    tg.spec["namespaceSelector"]["names"] = json!(["*/payments", "*/*", "eu-1/checkout-jobs-x"]);
    set.push(resource(&tg));
    assert_eq!(
        errors(&validate_set(&set, &Organizations::AnyNamed)),
        [(
            RuleCode::SelectorOutsideWorkspace,
            "spec.namespaceSelector.names[0]".to_string()
        )]
    );
}

#[test]
fn workspace_exclusivity_v11() {
    let mut set = fixtures::appendix_set();
    let mut retail = fixtures::tenant();
    retail.metadata.name = "retail".into();
    set.push(resource(&retail));
    // Another tenant of the same organization: still a conflict.
    set.push(workspace_named("rival", "retail", &["*/checkout*"]));
    let diagnostics = validate_set(&set, &Organizations::AnyNamed);
    let overlap: Vec<(&str, &str)> = diagnostics
        .iter()
        .filter(|d| d.rule == RuleCode::WorkspaceOverlap)
        .map(|d| (d.object.name.as_str(), d.field.as_str()))
        .collect();
    assert_eq!(
        overlap.len(),
        6,
        "5 entries of checkout-ws + 1 of rival: {overlap:?}"
    );
    assert!(overlap.contains(&("rival", "spec.namespaceSelector.names[0]")));
    let message = &diagnostics
        .iter()
        .find(|d| d.object.name == "rival")
        .unwrap()
        .message;
    assert!(message.contains(WS_FQN), "{message}");

    // The MP rejects only the later write.
    let rival = set.pop().unwrap();
    assert_eq!(
        rules(
            &validate_write(&set, &rival, &Organizations::AnyNamed),
            Severity::Error
        ),
        [RuleCode::WorkspaceOverlap]
    );
    // Disjoint selectors, or another organization, are fine.
    let fine = workspace_named("billing", "retail", &["*/billing", "us-1/checkout-jobs-x"]);
    assert!(validate_write(&set, &fine, &Organizations::AnyNamed).is_empty());
    let mut elsewhere = fixtures::workspace();
    annotate(&mut elsewhere, "tsb.tetrate.io/organization", "globex");
    let elsewhere = resource(&elsewhere);
    let diagnostics = validate_write(&set, &elsewhere, &Organizations::AnyNamed);
    assert!(!rules(&diagnostics, Severity::Error).contains(&RuleCode::WorkspaceOverlap));
}

#[test]
fn direct_object_namespace_in_group_v12() {
    let mut set = fixtures::appendix_set();
    let mut vs = fixtures::virtual_service();
    vs.metadata.name = "misplaced".into();
    vs.metadata.namespace = Some("checkout".into());
    set.push(resource(&vs));
    assert_eq!(
        errors(&validate_set(&set, &Organizations::AnyNamed)),
        [(
            RuleCode::NamespaceNotInGroup,
            "metadata.namespace".to_string()
        )]
    );
}

pub(super) fn service_setting(name: &str, service: &str) -> Resource {
    let mut sts = fixtures::service_route();
    sts.kind = "ServiceTrafficSetting".into();
    sts.metadata.name = name.into();
    sts.spec =
        json!({"service": service, "settings": {"resilience": {"httpRequestTimeout": "2s"}}});
    resource(&sts)
}

#[test]
fn one_service_traffic_setting_per_service_v13() {
    let mut set = fixtures::appendix_set();
    let first = service_setting("cart-a", "checkout/cart.checkout.svc.cluster.local");
    set.push(first.clone());
    let second = service_setting("cart-b", "checkout/cart.checkout.svc.cluster.local");
    let diagnostics = validate_write(&set, &second, &Organizations::AnyNamed);
    assert_eq!(
        rules(&diagnostics, Severity::Error),
        [RuleCode::DuplicateServiceSetting]
    );
    assert_eq!(diagnostics[0].grpc_code(), Some(GrpcCode::AlreadyExists));
    // Writing the same FQN again is an update, not a conflict.
    let mut update = first.clone();
    update.spec = service_setting("cart-a", "checkout/cart.checkout.svc.cluster.local").spec;
    assert!(validate_write(&set, &update, &Organizations::AnyNamed).is_empty());
    // In a file set both members are reported.
    set.push(second);
    let both = validate_set(&set, &Organizations::AnyNamed);
    assert_eq!(
        rules(&both, Severity::Error),
        [RuleCode::DuplicateServiceSetting; 2]
    );
}

#[test]
fn config_mode_mismatch_v14() {
    let mut set = fixtures::appendix_set();
    // Example 6 under a DIRECT gateway group.
    for r in &mut set {
        if r.name == "checkout-gateways" {
            r.spec = crate::model::spec::Spec::decode(
                r.kind,
                &json!({"namespaceSelector": {"names": ["*/checkout-edge"]}, "configMode": "DIRECT"}),
            )
            .unwrap();
        }
        // Example 7 under a BRIDGED group.
        if r.name == "checkout-direct" {
            r.spec = crate::model::spec::Spec::decode(
                r.kind,
                &json!({"namespaceSelector": {"names": ["*/checkout-legacy"]}}),
            )
            .unwrap();
        }
    }
    let diagnostics = validate_set(&set, &Organizations::AnyNamed);
    let names: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.rule == RuleCode::ConfigModeMismatch)
        .map(|d| d.object.name.as_str())
        .collect();
    assert_eq!(names, ["checkout-ingress", "legacy-api"]);
    assert!(
        diagnostics
            .iter()
            .all(|d| d.grpc_code() == Some(GrpcCode::FailedPrecondition))
    );
}

#[test]
fn two_crs_with_one_fqn_conflict() {
    let mut set = fixtures::appendix_set();
    let mut twin = fixtures::virtual_service();
    twin.metadata.namespace = Some("checkout-legacy-2".into());
    set.push(resource(&twin));
    let conflicts: Vec<String> = validate_set(&set, &Organizations::AnyNamed)
        .into_iter()
        .filter(|d| d.rule == RuleCode::FqnConflict)
        .map(|d| d.object.to_string())
        .collect();
    assert_eq!(
        conflicts,
        [
            "VirtualService/checkout-legacy/legacy-api",
            "VirtualService/checkout-legacy-2/legacy-api"
        ]
    );
}

/// V11 looks up overlap candidates by namespace stem; it must find exactly what comparing
/// every pair of entries finds, in the same order.
#[test]
fn workspace_overlap_index_matches_pairwise_comparison() {
    use crate::model::selector::NamespaceSelector;
    let selectors: [&[&str]; 12] = [
        &["eu-1/shop", "*/shop-jobs-*"],
        &["*/sh*"],
        &["us-1/*"],
        &["eu-1/shopping", "eu-2/shop"],
        &["*/billing", "eu-1/bill*"],
        &["eu-1/b*"],
        &["*/café", "*/ca*"],
        &["eu-2/*"],
        &["*/x"],
        &["*/x"],
        &["us-1/billing-edge", "*/zed"],
        &["*/*"],
    ];
    let set: Vec<Resource> = selectors
        .iter()
        .enumerate()
        .map(|(i, names)| workspace_named(&format!("ws-{i}"), "payments", names))
        .collect();
    let actual: Vec<(String, String, String)> = validate_set(&set, &Organizations::AnyNamed)
        .into_iter()
        .filter(|d| d.rule == RuleCode::WorkspaceOverlap)
        .map(|d| (d.object.name, d.field, d.message))
        .collect();
    let mut expected = Vec::new();
    for mine in &set {
        let my_selector =
            NamespaceSelector::parse(&mine.spec.namespace_selector().unwrap().names).unwrap();
        let mut reported = BTreeSet::new();
        for other in &set {
            if other.fqn == mine.fqn {
                continue;
            }
            let theirs =
                NamespaceSelector::parse(&other.spec.namespace_selector().unwrap().names).unwrap();
            for (i, j) in my_selector.overlapping_pairs(&theirs) {
                if reported.insert((i, other.fqn.clone())) {
                    expected.push((
                        mine.name.clone(),
                        format!("spec.namespaceSelector.names[{i}]"),
                        format!(
                            "entry {:?} overlaps entry {:?} of workspace {}; a workspace owns its namespaces exclusively",
                            my_selector.entries()[i].to_string(),
                            theirs.entries()[j].to_string(),
                            other.fqn
                        ),
                    ));
                }
            }
        }
    }
    assert!(expected.len() > 20, "the table exercises overlaps");
    assert_eq!(actual, expected);
}

#[test]
fn attributed_diagnostics_point_at_their_resource() {
    // The same object twice: identical references, distinct indexes.
    let mut set = fixtures::appendix_set();
    set.push(set[0].clone());
    let attributed = validate_set_attributed(&set, &Organizations::AnyNamed);
    let conflicts: Vec<usize> = attributed
        .iter()
        .filter(|(_, d)| d.rule == RuleCode::FqnConflict)
        .map(|(i, _)| *i)
        .collect();
    assert_eq!(conflicts, [0, set.len() - 1]);
    let plain: Vec<Diagnostic> = attributed.into_iter().map(|(_, d)| d).collect();
    assert_eq!(plain, validate_set(&set, &Organizations::AnyNamed));
    for (i, d) in validate_set_attributed(&without(&set, WS_FQN), &Organizations::AnyNamed) {
        assert_eq!(d.object.fqn.as_ref(), Some(&without(&set, WS_FQN)[i].fqn));
    }
}

#[test]
fn deletion_protection_v16() {
    let mut set = fixtures::appendix_set();
    let tenant_fqn: Fqn = "organizations/acme/tenants/payments".parse().unwrap();
    // The tenant itself is protected (Example 1).
    assert_eq!(
        rules(&validate_delete(&set, &tenant_fqn, false), Severity::Error),
        [RuleCode::DeletionProtected]
    );
    assert!(validate_delete(&set, &tenant_fqn, true).is_empty());
    // A protected descendant blocks deleting its workspace.
    let ws_fqn: Fqn = WS_FQN.parse().unwrap();
    assert!(validate_delete(&set, &ws_fqn, false).is_empty());
    for r in &mut set {
        if r.name == "checkout-traffic" {
            r.spec = crate::model::spec::Spec::decode(
                r.kind,
                &json!({"namespaceSelector": {"names": ["eu-1/checkout"]}, "deletionProtectionEnabled": true}),
            )
            .unwrap();
        }
    }
    let blocked = validate_delete(&set, &ws_fqn, false);
    assert_eq!(blocked.len(), 1);
    assert!(blocked[0].message.contains("checkout-traffic"));
    assert_eq!(blocked[0].object.name, "checkout-ws");
}

#[test]
fn grant_scope_v18() {
    let ts = resource(&fixtures::traffic_setting());
    let ws: Fqn = WS_FQN.parse().unwrap();
    let other: Fqn = "organizations/acme/tenants/retail".parse().unwrap();
    assert!(validate_grant(&ts, &[ws]).is_none());
    assert!(validate_grant(&ts, &[Fqn::organization("acme")]).is_none());
    let denied = validate_grant(&ts, &[other]).unwrap();
    assert_eq!(denied.rule, RuleCode::GrantScope);
    assert!(denied.message.contains("not granted"));
    assert_eq!(denied.grpc_code(), Some(GrpcCode::PermissionDenied));
}

// === L3 ===

fn security_object(
    kind: &str,
    name: &str,
    annotations: &[(&str, &str)],
    spec: serde_json::Value,
) -> Resource {
    let (api, group_key) = match kind {
        "OrganizationSetting" | "TenantSetting" | "WorkspaceSetting" => ("tsb.tetrate.io/v2", None),
        "Group" => ("security.tsb.tetrate.io/v2", None),
        _ => ("security.tsb.tetrate.io/v2", Some("checkout-security")),
    };
    let mut all: serde_json::Map<String, serde_json::Value> = annotations
        .iter()
        .map(|(k, v)| (format!("tsb.tetrate.io/{k}"), json!(v)))
        .collect();
    if let Some(group) = group_key {
        all.insert("tsb.tetrate.io/securityGroup".into(), json!(group));
    }
    resource(&manifest(json!({
        "apiVersion": api, "kind": kind,
        "metadata": {"name": name, "annotations": all},
        "spec": spec
    })))
}

const OTW: [(&str, &str); 3] = [
    ("organization", "acme"),
    ("tenant", "payments"),
    ("workspace", "checkout-ws"),
];

pub(super) fn security_hierarchy(
    org_default: serde_json::Value,
    tenant_default: serde_json::Value,
    group_setting: serde_json::Value,
) -> Vec<Resource> {
    let mut set = fixtures::appendix_set();
    set.push(security_object(
        "OrganizationSetting",
        "org-defaults",
        &OTW[..1],
        json!({"defaultSecuritySetting": org_default}),
    ));
    set.push(security_object(
        "TenantSetting",
        "tenant-defaults",
        &OTW[..2],
        json!({"defaultSecuritySetting": tenant_default}),
    ));
    set.push(security_object(
        "Group",
        "checkout-security",
        &OTW,
        json!({"namespaceSelector": {"names": ["*/checkout"]}}),
    ));
    set.push(security_object(
        "SecuritySetting",
        "sec",
        &OTW,
        group_setting,
    ));
    set
}

fn stricter_findings(set: &[Resource]) -> Vec<(String, String)> {
    validate_set(set, &Organizations::AnyNamed)
        .into_iter()
        .filter(|d| d.rule == RuleCode::StricterSupersession)
        .map(|d| {
            assert_eq!(d.severity, Severity::Warning, "V15 never blocks");
            (d.object.name, d.field)
        })
        .collect()
}

#[test]
fn stricter_supersession_v15() {
    let stricter_group = json!({"propagationStrategy": "STRICTER", "authorization": {"mode": "GROUP"}, "authenticationSettings": {"trafficMode": "REQUIRED"}});
    // Looser authorization and authentication below a STRICTER organization default.
    let set = security_hierarchy(
        stricter_group.clone(),
        json!({}),
        json!({"authorization": {"mode": "NAMESPACE"}, "authentication": "OPTIONAL"}),
    );
    assert_eq!(
        stricter_findings(&set),
        [
            ("sec".to_string(), "spec.authorization.mode".to_string()),
            ("sec".to_string(), "spec.authentication".to_string()),
        ]
    );
    let message = validate_set(&set, &Organizations::AnyNamed)
        .into_iter()
        .find(|d| d.rule == RuleCode::StricterSupersession)
        .unwrap()
        .message;
    assert!(
        message.starts_with("NAMESPACE is looser than GROUP enforced by STRICTER setting organizations/acme/settings/org-defaults"),
        "{message}"
    );
    // Tighter or UNSET values are fine.
    let set = security_hierarchy(
        stricter_group.clone(),
        json!({}),
        json!({"authorization": {"mode": "RULES"}}),
    );
    assert!(stricter_findings(&set).is_empty());
    let set = security_hierarchy(
        stricter_group.clone(),
        json!({}),
        json!({"authorization": {"mode": "UNSET"}}),
    );
    assert!(stricter_findings(&set).is_empty());
    // Once the organization says STRICTER, a REPLACE tenant is enforced too (§4.3).
    let set = security_hierarchy(
        stricter_group,
        json!({"propagationStrategy": "REPLACE", "authorization": {"mode": "RULES"}}),
        json!({"authorization": {"mode": "GROUP"}}),
    );
    let findings = stricter_findings(&set);
    assert_eq!(
        findings,
        [("sec".to_string(), "spec.authorization.mode".to_string())]
    );
    // Without any STRICTER ancestor, REPLACE wins and nothing is superseded.
    let set = security_hierarchy(
        json!({"authorization": {"mode": "CUSTOM"}}),
        json!({}),
        json!({"authorization": {"mode": "DISABLED"}}),
    );
    assert!(stricter_findings(&set).is_empty());
}

#[test]
fn gateway_binding_and_reference_warnings() {
    let mut set = fixtures::appendix_set();
    let gateway_vs = {
        let mut vs = fixtures::virtual_service();
        vs.metadata.name = "edge-routes".into();
        vs.metadata.namespace = Some("checkout-edge".into());
        vs.metadata
            .annotations
            .remove("tsb.tetrate.io/trafficGroup");
        annotate(&mut vs, "tsb.tetrate.io/gatewayGroup", "checkout-gateways");
        vs.spec["gateways"] = json!(["checkout-edge/edge-gw", "mesh", "other/gw"]);
        vs
    };
    let mut gateway = gateway_vs.clone();
    gateway.kind = "Gateway".into();
    gateway.metadata.name = "edge-gw".into();
    gateway.spec = json!({"selector": {"app": "checkout-gw"}});
    for r in &mut set {
        if r.name == "checkout-gateways" {
            r.spec = crate::model::spec::Spec::decode(
                r.kind,
                &json!({"namespaceSelector": {"names": ["*/checkout-edge"]}, "configMode": "DIRECT"}),
            )
            .unwrap();
        }
    }
    set.retain(|r| r.name != "checkout-ingress");
    set.push(resource(&gateway_vs));
    set.push(resource(&gateway));
    let diagnostics = validate_set(&set, &Organizations::AnyNamed);
    assert!(errors(&diagnostics).is_empty(), "{diagnostics:#?}");
    let binding: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.rule == RuleCode::GatewayBinding)
        .map(|d| d.field.as_str())
        .collect();
    assert_eq!(binding, ["spec.gateways[2]"]);

    // Service namespace and gateway namespace outside the group (advisory).
    let mut set = fixtures::appendix_set();
    let mut sr = fixtures::service_route();
    sr.metadata.name = "billing".into();
    sr.spec["service"] = json!("billing/api.billing.svc.cluster.local");
    set.push(resource(&sr));
    let mut ig = fixtures::ingress_gateway();
    ig.metadata.name = "stray".into();
    ig.spec["workloadSelector"]["namespace"] = json!("checkout");
    set.push(resource(&ig));
    let warnings = rules(
        &validate_set(&set, &Organizations::AnyNamed),
        Severity::Warning,
    );
    assert_eq!(
        warnings,
        [RuleCode::ServiceOutsideGroup, RuleCode::GatewayOutsideGroup]
    );
}

#[test]
fn unparseable_rule_fqn_is_flagged() {
    let set = security_hierarchy(
        json!({}),
        json!({}),
        json!({"authorization": {"mode": "RULES", "rules": {"allow": [{"from": {"fqn": "organizations/acme/tenants/payments/workspaces/checkout-ws"}, "to": {"fqn": "workspaces/w2"}}]}}}),
    );
    let findings: Vec<String> = validate_set(&set, &Organizations::AnyNamed)
        .into_iter()
        .filter(|d| d.rule == RuleCode::InvalidReference)
        .map(|d| d.field)
        .collect();
    assert_eq!(findings, ["spec.authorization.rules.allow[0].to.fqn"]);
}

#[test]
fn superseded_helper() {
    let set = security_hierarchy(
        json!({"propagationStrategy": "STRICTER", "authorization": {"mode": "GROUP"}}),
        json!({}),
        json!({"authorization": {"mode": "CLUSTER"}}),
    );
    let sec = set.iter().find(|r| r.name == "sec").unwrap();
    let others: Vec<Resource> = set.iter().filter(|r| r.name != "sec").cloned().collect();
    assert!(is_superseded(&validate_write(
        &others,
        sec,
        &Organizations::AnyNamed
    )));
}
