//! L1 object-local rules.

use serde_json::json;

use super::*;

// === L1: the examples are valid ===

#[test]
fn appendix_examples_convert_with_documented_fqns() {
    let expected = [
        "organizations/acme/tenants/payments".to_string(),
        WS_FQN.to_string(),
        format!("{WS_FQN}/trafficgroups/checkout-traffic"),
        format!("{WS_FQN}/trafficgroups/checkout-traffic/settings/defaults"),
        format!("{WS_FQN}/trafficgroups/checkout-traffic/serviceroutes/cart"),
        format!("{WS_FQN}/gatewaygroups/checkout-gateways"),
        format!("{WS_FQN}/gatewaygroups/checkout-gateways/ingressgateways/checkout-ingress"),
        format!("{WS_FQN}/trafficgroups/checkout-direct"),
        format!("{WS_FQN}/trafficgroups/checkout-direct/virtualservices/legacy-api"),
    ];
    for (object, fqn) in fixtures::appendix_objects().iter().zip(expected) {
        // Advisories on fields translation does not enforce aside (TSB1106).
        let findings: Vec<_> = validate_object(object)
            .into_iter()
            .filter(|d| d.rule != RuleCode::NotEnforced)
            .collect();
        assert!(findings.is_empty(), "{fqn}: {findings:?}");
        let resource = resource(object);
        assert_eq!(resource.fqn.to_string(), fqn);
        assert_eq!(resource.parent, resource.fqn.parent());
    }
}

#[test]
fn example_2_forwards_only_non_hierarchy_metadata() {
    let ws = resource(&fixtures::workspace());
    assert_eq!(
        ws.annotations.iter().collect::<Vec<_>>(),
        [(&"team.acme.io/owner".to_string(), &"checkout".to_string())]
    );
    assert_eq!(ws.namespace, None, "the namespace has no hierarchy meaning");
    assert_eq!(
        ws.origin.as_ref().unwrap().namespace.as_deref(),
        Some("tsb-config")
    );
}

#[test]
fn example_7_direct_mode_strips_rev_label_and_cd_annotations() {
    let vs = resource(&fixtures::virtual_service());
    assert_eq!(vs.namespace.as_deref(), Some("checkout-legacy"));
    assert_eq!(vs.labels.keys().collect::<Vec<_>>(), ["app"]);
    assert!(vs.annotations.is_empty(), "{:?}", vs.annotations);
    assert_eq!(vs.api_version, "networking.istio.io/v1beta1");
}

// === L1: V6 selector grammar (Example 8) ===

#[test]
fn example_8_every_entry_is_rejected() {
    let diagnostics = validate_object(&fixtures::bad_selectors());
    assert_eq!(
        errors(&diagnostics),
        (0..4)
            .map(|i| (
                RuleCode::SelectorGrammar,
                format!("spec.namespaceSelector.names[{i}]")
            ))
            .collect::<Vec<_>>()
    );
    let first = &diagnostics[0];
    assert_eq!(first.grpc_code(), Some(GrpcCode::InvalidArgument));
    let message = first.admission_message();
    assert!(
        message
            .starts_with("spec.namespaceSelector.names[0]: entry \"checkout\" has no cluster part")
    );
    assert!(message.contains("(TSB1006); fix: "), "{message}");
    assert!(matches!(
        convert(&fixtures::bad_selectors(), &StripRules::default()),
        Converted::Invalid(_)
    ));
}

#[test]
fn selector_must_be_present_and_non_empty_for_workspaces_and_all_groups() {
    let mut empty = fixtures::workspace();
    empty.spec["namespaceSelector"]["names"] = json!([]);
    assert_eq!(
        errors(&validate_object(&empty)),
        [(
            RuleCode::SelectorGrammar,
            "spec.namespaceSelector.names".to_string()
        )]
    );
    for mut group in [
        fixtures::traffic_group(),
        fixtures::gateway_group(),
        fixtures::direct_group(),
    ] {
        group
            .spec
            .as_object_mut()
            .unwrap()
            .remove("namespaceSelector");
        assert_eq!(
            errors(&validate_object(&group)),
            [(
                RuleCode::SelectorGrammar,
                "spec.namespaceSelector".to_string()
            )]
        );
    }
}

// === L1: V2, V3, V4, V5 and ignored annotations ===

#[test]
fn missing_hierarchy_annotation_v2_with_case_hint() {
    let mut ts = fixtures::traffic_setting();
    let value = ts
        .metadata
        .annotations
        .remove("tsb.tetrate.io/trafficGroup")
        .unwrap();
    assert_eq!(
        errors(&validate_object(&ts)),
        [(
            RuleCode::HierarchyAnnotations,
            "metadata.annotations[tsb.tetrate.io/trafficGroup]".to_string()
        )]
    );
    annotate(&mut ts, "tsb.tetrate.io/trafficgroup", &value);
    let diagnostics = validate_object(&ts);
    let v2 = diagnostics
        .iter()
        .find(|d| d.rule == RuleCode::HierarchyAnnotations)
        .unwrap();
    assert!(
        v2.fix
            .contains("rename annotation tsb.tetrate.io/trafficgroup"),
        "{}",
        v2.fix
    );
    let ignored = diagnostics
        .iter()
        .find(|d| d.rule == RuleCode::IgnoredAnnotation)
        .unwrap();
    assert_eq!(ignored.severity, Severity::Warning);
    assert!(
        ignored
            .fix
            .contains("did you mean tsb.tetrate.io/trafficGroup")
    );
}

#[test]
fn empty_and_invalid_annotation_values() {
    let mut ws = fixtures::workspace();
    annotate(&mut ws, "tsb.tetrate.io/tenant", "");
    assert_eq!(
        rules(&validate_object(&ws), Severity::Error),
        [RuleCode::HierarchyAnnotations]
    );
    annotate(&mut ws, "tsb.tetrate.io/tenant", "INVALID");
    let diagnostics = validate_object(&ws);
    assert_eq!(rules(&diagnostics, Severity::Error), [RuleCode::NameRule]);
    assert!(diagnostics[0].message.contains("DNS-1123"));
}

#[test]
fn extra_hierarchy_annotations_are_ignored_with_a_warning() {
    // Kustomize commonAnnotations put the workspace key on the Workspace itself.
    let mut ws = fixtures::workspace();
    annotate(&mut ws, "tsb.tetrate.io/workspace", "checkout-ws");
    annotate(&mut ws, "tsb.tetrate.io/trafficGroup", "checkout-traffic");
    let converted = convert(&ws, &StripRules::default());
    let Converted::Resource { resource, warnings } = converted else {
        panic!("should still convert: {converted:?}");
    };
    assert_eq!(resource.fqn.to_string(), WS_FQN);
    assert_eq!(
        rules(&warnings, Severity::Warning),
        [RuleCode::IgnoredAnnotation; 2]
    );
    assert!(
        !resource
            .annotations
            .keys()
            .any(|k| k.starts_with("tsb.tetrate.io/"))
    );
}

#[test]
fn direct_mode_group_annotation_rules_v3() {
    let mut none = fixtures::virtual_service();
    none.metadata
        .annotations
        .remove("tsb.tetrate.io/trafficGroup");
    assert_eq!(
        rules(&validate_object(&none), Severity::Error),
        [RuleCode::DirectModeGroup]
    );

    let mut two = fixtures::virtual_service();
    annotate(&mut two, "tsb.tetrate.io/gatewayGroup", "checkout-gateways");
    assert_eq!(
        rules(&validate_object(&two), Severity::Error),
        [RuleCode::DirectModeGroup]
    );

    // A Sidecar belongs to traffic groups only.
    let mut sidecar = fixtures::virtual_service();
    sidecar.kind = "Sidecar".into();
    sidecar
        .metadata
        .annotations
        .remove("tsb.tetrate.io/trafficGroup");
    annotate(
        &mut sidecar,
        "tsb.tetrate.io/gatewayGroup",
        "checkout-gateways",
    );
    let diagnostics = validate_object(&sidecar);
    assert_eq!(
        errors(&diagnostics),
        [(
            RuleCode::DirectModeGroup,
            "metadata.annotations[tsb.tetrate.io/gatewayGroup]".to_string()
        )]
    );
    assert!(diagnostics[0].fix.contains("tsb.tetrate.io/trafficGroup"));

    // The same VirtualService is fine in a gateway group.
    let mut gateway_vs = fixtures::virtual_service();
    gateway_vs
        .metadata
        .annotations
        .remove("tsb.tetrate.io/trafficGroup");
    annotate(
        &mut gateway_vs,
        "tsb.tetrate.io/gatewayGroup",
        "checkout-gateways",
    );
    assert_eq!(
        resource(&gateway_vs).fqn.to_string(),
        format!("{WS_FQN}/gatewaygroups/checkout-gateways/virtualservices/legacy-api")
    );
}

#[test]
fn direct_mode_label_v4_and_plain_istio() {
    let mut unlabelled = fixtures::virtual_service();
    unlabelled.metadata.labels.clear();
    assert_eq!(
        errors(&validate_object(&unlabelled)),
        [(
            RuleCode::DirectModeLabel,
            "metadata.labels[istio.io/rev]".to_string()
        )]
    );
    let mut canary = fixtures::virtual_service();
    canary
        .metadata
        .labels
        .insert("istio.io/rev".into(), "canary".into());
    assert_eq!(
        rules(&validate_object(&canary), Severity::Error),
        [RuleCode::DirectModeLabel]
    );

    // Without hierarchy annotations it is ordinary Istio config, whatever its labels.
    let mut plain = fixtures::virtual_service();
    plain.metadata.annotations.clear();
    assert_eq!(
        convert(&plain, &StripRules::default()),
        Converted::Ignored(IgnoreReason::PlainIstio)
    );
    plain.metadata.labels.clear();
    assert!(validate_object(&plain).is_empty());
}

#[test]
fn direct_mode_needs_a_namespace() {
    let mut vs = fixtures::virtual_service();
    vs.metadata.namespace = None;
    assert_eq!(
        errors(&validate_object(&vs)),
        [(RuleCode::RequiredField, "metadata.namespace".to_string())]
    );
}

// === L1: V7, V8, secrets ===

#[test]
fn unknown_field_v8() {
    let mut iig = fixtures::direct_group();
    iig.api_version = "istiointernal.tsb.tetrate.io/v2".into();
    let diagnostics = validate_object(&iig);
    assert_eq!(
        errors(&diagnostics),
        [(RuleCode::SpecSchema, "spec.configMode".to_string())]
    );
    assert!(
        diagnostics[0]
            .message
            .contains("unknown field `configMode`")
    );
}

#[test]
fn required_fields_and_patterns_v7() {
    let cases: Vec<(KubeObject, Vec<&str>)> = vec![
        (
            {
                let mut sr = fixtures::service_route();
                sr.spec.as_object_mut().unwrap().remove("service");
                sr.spec["subsets"] = json!([]);
                sr
            },
            vec!["spec.service", "spec.subsets"],
        ),
        (
            {
                let mut sr = fixtures::service_route();
                sr.spec["service"] = json!("cart.checkout.svc.cluster.local");
                sr.spec["subsets"][1]["name"] = json!("");
                sr
            },
            vec!["spec.service", "spec.subsets[1].name"],
        ),
        (
            {
                let mut sr = fixtures::service_route();
                sr.spec["service"] = json!("a/b/c");
                sr
            },
            vec!["spec.service"],
        ),
        (
            {
                let mut ts = fixtures::traffic_setting();
                ts.spec["egress"]["host"] = json!("egress.checkout-edge.svc.cluster.local");
                ts
            },
            vec!["spec.egress.host"],
        ),
        (
            {
                let mut ig = fixtures::ingress_gateway();
                ig.spec.as_object_mut().unwrap().remove("workloadSelector");
                ig
            },
            vec!["spec.workloadSelector"],
        ),
        (
            {
                let mut ig = fixtures::ingress_gateway();
                ig.spec["workloadSelector"] = json!({"namespace": "", "labels": {}});
                ig
            },
            vec![
                "spec.workloadSelector.namespace",
                "spec.workloadSelector.labels",
            ],
        ),
    ];
    for (object, fields) in cases {
        let found: Vec<String> = errors(&validate_object(&object))
            .into_iter()
            .map(|(r, f)| {
                assert_eq!(r, RuleCode::RequiredField, "{f}");
                f
            })
            .collect();
        assert_eq!(found, fields);
    }
}

#[test]
fn service_traffic_setting_requires_service_and_settings() {
    let mut sts = fixtures::service_route();
    sts.kind = "ServiceTrafficSetting".into();
    sts.metadata.name = "cart-settings".into();
    sts.spec = json!({});
    assert_eq!(
        errors(&validate_object(&sts)),
        [
            (RuleCode::RequiredField, "spec.service".to_string()),
            (RuleCode::RequiredField, "spec.settings".to_string())
        ]
    );
    sts.spec = json!({"service": "checkout/cart", "settings": {"egress": {"host": "bad"}}});
    assert_eq!(
        errors(&validate_object(&sts)),
        [(
            RuleCode::RequiredField,
            "spec.settings.egress.host".to_string()
        )]
    );
}

/// Diagnostics other than TSB1106 (a field translation does not enforce).
fn without_advisories(diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics
        .into_iter()
        .filter(|d| d.rule != RuleCode::NotEnforced)
        .collect()
}

#[test]
fn unified_gateway_may_not_mix_cluster_and_service_routes() {
    let mut gw = fixtures::ingress_gateway();
    gw.kind = "Gateway".into();
    gw.spec = json!({
        "workloadSelector": {"namespace": "checkout-edge", "labels": {"app": "gw"}},
        "http": [{"name": "a", "port": 80, "hostname": "a.example", "routing": {"rules": [
            {"route": {"clusterDestination": {"clusters": [{"name": "eu-1"}]}}}
        ]}}],
        "tcp": [{"name": "t", "port": 9000, "hostname": "t.example", "route": {"serviceDestination": {"host": "checkout/db"}}}]
    });
    assert_eq!(
        errors(&validate_object(&gw)),
        [(
            RuleCode::RequiredField,
            "spec.tcp[0].route.serviceDestination".to_string()
        )]
    );
    gw.spec["tcp"][0]["route"] = json!({"clusterDestination": {"clusters": [{"name": "us-1"}]}});
    assert!(without_advisories(validate_object(&gw)).is_empty());
}

#[test]
fn inline_secrets_are_rejected_but_references_and_public_material_pass() {
    let mut ig = fixtures::ingress_gateway();
    ig.spec["http"][0]["tls"] = json!({
        "mode": "SIMPLE",
        "files": {"serverCertificate": "/etc/certs/cert.pem", "privateKey": "/etc/certs/key.pem"}
    });
    ig.spec["http"][0]["authentication"] =
        json!({"jwt": {"issuer": "https://id.acme", "jwks": "{\"keys\":[]}"}});
    assert!(without_advisories(validate_object(&ig)).is_empty());

    ig.spec["http"][0]["tls"]["files"]["privateKey"] =
        json!("-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----");
    ig.spec["http"][0]["tls"]["cipherSuites"] = json!([
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    ]);
    let mut found = errors(&validate_object(&ig));
    found.sort();
    assert_eq!(
        found,
        [
            (
                RuleCode::InlineSecret,
                "spec.http[0].tls.cipherSuites[0]".to_string()
            ),
            (
                RuleCode::InlineSecret,
                "spec.http[0].tls.files.privateKey".to_string()
            ),
        ]
    );
}

#[test]
fn deprecated_authentication_field_warns() {
    let mut ss = fixtures::traffic_setting();
    ss.api_version = "security.tsb.tetrate.io/v2".into();
    ss.kind = "SecuritySetting".into();
    ss.metadata
        .annotations
        .remove("tsb.tetrate.io/trafficGroup");
    annotate(&mut ss, "tsb.tetrate.io/securityGroup", "checkout-security");
    ss.spec = json!({"authentication": "REQUIRED"});
    let diagnostics = validate_object(&ss);
    assert_eq!(
        rules(&diagnostics, Severity::Warning),
        [RuleCode::DeprecatedField]
    );
    assert!(rules(&diagnostics, Severity::Error).is_empty());
}

// === L1: kind recognition (V1) ===

#[test]
fn non_config_objects_are_ignored_and_admitted() {
    let cases = [
        (
            json!({"apiVersion": "install.tetrate.io/v1alpha1", "kind": "IngressGateway", "metadata": {"name": "x"}}),
            IgnoreReason::InstallApi,
        ),
        (
            json!({"apiVersion": "install.tetrate.io/v1alpha1", "kind": "ControlPlane", "metadata": {"name": "x"}}),
            IgnoreReason::InstallApi,
        ),
        (
            json!({"apiVersion": "api.tsb.tetrate.io/v2", "kind": "Cluster", "metadata": {"name": "x"}}),
            IgnoreReason::ManagementPlaneOnly,
        ),
        (
            json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Organization", "metadata": {"name": "x"}}),
            IgnoreReason::ManagementPlaneOnly,
        ),
        (
            json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Team", "metadata": {"name": "x"}}),
            IgnoreReason::LaterKind(crate::model::kind::Kind::Team),
        ),
        (
            json!({"apiVersion": "gateway.tsb.tetrate.io/v2", "kind": "InstallGateway", "metadata": {"name": "x"}}),
            IgnoreReason::UndocumentedShape,
        ),
        (
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
            IgnoreReason::Unknown,
        ),
        (
            json!({"apiVersion": "networking.istio.io/v1", "kind": "WorkloadEntry", "metadata": {"name": "x", "annotations": {"tsb.tetrate.io/organization": "acme"}}}),
            IgnoreReason::PlainIstio,
        ),
    ];
    for (value, reason) in cases {
        let object = manifest(value);
        assert_eq!(
            convert(&object, &StripRules::default()),
            Converted::Ignored(reason)
        );
        assert!(admission(Operation::Create, Some(&object), None).is_empty());
        assert_eq!(reason.diagnostic(&object).severity, Severity::Info);
    }
}

// === L1: admission operations ===

#[test]
fn update_cannot_change_hierarchy_annotations() {
    let old = fixtures::traffic_setting();
    let mut new = old.clone();
    annotate(&mut new, "tsb.tetrate.io/workspace", "other-ws");
    let diagnostics = admission(Operation::Update, Some(&new), Some(&old));
    assert_eq!(
        errors(&diagnostics),
        [(
            RuleCode::HierarchyImmutable,
            "metadata.annotations[tsb.tetrate.io/workspace]".to_string()
        )]
    );
    assert!(
        diagnostics[0]
            .admission_message()
            .contains("is immutable after create")
    );
    assert_eq!(diagnostics[0].fix, "delete and recreate the object");
    // The phrase is reserved for immutability (Flux keys on it).
    let other = validate_object(&fixtures::bad_selectors());
    assert!(
        other
            .iter()
            .all(|d| !d.admission_message().contains("immutable"))
    );
}

#[test]
fn update_ratchets_when_spec_is_unchanged() {
    // Stored under an older rule set: the spec would now fail V7.
    let mut old = fixtures::service_route();
    old.spec["subsets"] = json!([]);
    let mut relabelled = old.clone();
    relabelled
        .metadata
        .labels
        .insert("team".into(), "checkout".into());
    assert!(admission(Operation::Update, Some(&relabelled), Some(&old)).is_empty());
    let mut edited = relabelled.clone();
    edited.spec["service"] = json!("checkout/cart2.checkout.svc.cluster.local");
    assert_eq!(
        rules(
            &admission(Operation::Update, Some(&edited), Some(&old)),
            Severity::Error
        ),
        [RuleCode::RequiredField]
    );
}

#[test]
fn update_that_drops_the_direct_mode_label_is_denied() {
    let old = fixtures::virtual_service();
    let mut unlabelled = old.clone();
    unlabelled.metadata.labels.remove("istio.io/rev");
    assert_eq!(
        errors(&admission(Operation::Update, Some(&unlabelled), Some(&old))),
        [(
            RuleCode::DirectModeLabel,
            "metadata.labels[istio.io/rev]".to_string()
        )]
    );
    // Other label edits still ratchet.
    let mut relabelled = old.clone();
    relabelled
        .metadata
        .labels
        .insert("team".into(), "legacy".into());
    assert!(admission(Operation::Update, Some(&relabelled), Some(&old)).is_empty());
}

#[test]
fn delete_checks_only_deletion_protection() {
    let protected = fixtures::tenant();
    let diagnostics = admission(Operation::Delete, None, Some(&protected));
    assert_eq!(
        errors(&diagnostics),
        [(
            RuleCode::DeletionProtected,
            "spec.deletionProtectionEnabled".to_string()
        )]
    );
    // Invalid content never blocks a delete.
    assert!(admission(Operation::Delete, None, Some(&fixtures::bad_selectors())).is_empty());
}

// === L1 on API writes ===

#[test]
fn api_names_follow_the_name_rule_v5() {
    let ws = resource(&fixtures::workspace());
    let mut bad = ws.clone();
    bad.name = "INVALID".into();
    bad.fqn = ws.fqn.parent().unwrap().child(ws.kind, "INVALID").unwrap();
    let diagnostics = validate_resource(&bad);
    assert_eq!(
        errors(&diagnostics),
        [(RuleCode::NameRule, "name".to_string())]
    );
    assert!(validate_resource(&ws).is_empty());
}
