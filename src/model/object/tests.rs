//! Conversion tests.

use serde_json::json;

use super::*;
use crate::model::fixtures::{self, WS_FQN, manifest, resource};

#[test]
fn classification_table() {
    let table = [
        (
            fixtures::workspace(),
            Classification::Config(Kind::Workspace),
        ),
        (
            fixtures::traffic_group(),
            Classification::Config(Kind::TrafficGroup),
        ),
        (
            fixtures::virtual_service(),
            Classification::Config(Kind::VirtualService),
        ),
        (
            manifest(
                json!({"apiVersion": "application.tsb.tetrate.io/v2", "kind": "Application", "metadata": {"name": "a"}}),
            ),
            Classification::Ignored(IgnoreReason::LaterKind(Kind::Application)),
        ),
        (
            manifest(
                json!({"apiVersion": "rbac.tsb.tetrate.io/v2", "kind": "AccessBindings", "metadata": {"name": "a"}}),
            ),
            Classification::Ignored(IgnoreReason::LaterKind(Kind::AccessBindings)),
        ),
        (
            manifest(
                json!({"apiVersion": "tsb.tetrate.io/v3", "kind": "Workspace", "metadata": {"name": "a"}}),
            ),
            Classification::Ignored(IgnoreReason::Unknown),
        ),
        (
            manifest(
                json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": {"name": "a", "labels": {"istio.io/rev": "tsb"}}}),
            ),
            Classification::Ignored(IgnoreReason::PlainIstio),
        ),
    ];
    for (object, want) in table {
        assert_eq!(classify(&object), want, "{}", object.kind);
    }
}

#[test]
fn bookkeeping_metadata_is_never_config() {
    let object = manifest(json!({
        "apiVersion": "tsb.tetrate.io/v2",
        "kind": "Tenant",
        "metadata": {
            "name": "payments",
            "uid": "1234",
            "generation": 7,
            "resourceVersion": "99",
            "managedFields": [{"manager": "kubectl"}],
            "finalizers": ["x"],
            "labels": {"app.kubernetes.io/instance": "tsb-config", "cost-center": "42"},
            "annotations": {
                "tsb.tetrate.io/organization": "acme",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "argocd.argoproj.io/tracking-id": "app:tsb.tetrate.io/Tenant:tsb-config/payments"
            }
        },
        "spec": {}
    }));
    let tenant = resource(&object);
    assert_eq!(tenant.labels.keys().collect::<Vec<_>>(), ["cost-center"]);
    assert!(tenant.annotations.is_empty());
    let origin = tenant.origin.as_ref().unwrap();
    assert_eq!(
        (origin.uid.as_deref(), origin.generation),
        (Some("1234"), Some(7))
    );
}

#[test]
fn config_generation_metadata_spec_wins() {
    let mut ws = fixtures::workspace();
    ws.spec["configGenerationMetadata"] =
        json!({"annotations": {"team.acme.io/owner": "platform", "x": "1"}});
    let merged = resource(&ws).config_generation_metadata();
    assert_eq!(merged.annotations["team.acme.io/owner"], "platform");
    assert_eq!(merged.annotations["x"], "1");
}

#[test]
fn content_hash_is_stable_and_tracks_forwarded_content() {
    let base = resource(&fixtures::workspace());
    assert_eq!(
        base.content_hash(),
        resource(&fixtures::workspace()).content_hash()
    );
    assert_eq!(base.content_hash().len(), 16);

    // Bookkeeping changes do not change the hash; forwarded metadata and spec do.
    let mut bookkeeping = fixtures::workspace();
    bookkeeping
        .metadata
        .annotations
        .insert("argocd.argoproj.io/sync-wave".into(), "30".into());
    bookkeeping.metadata.generation = Some(9);
    assert_eq!(resource(&bookkeeping).content_hash(), base.content_hash());

    let mut labelled = fixtures::workspace();
    labelled
        .metadata
        .labels
        .insert("team".into(), "checkout".into());
    assert_ne!(resource(&labelled).content_hash(), base.content_hash());

    let mut edited = fixtures::workspace();
    edited.spec["displayName"] = json!("Checkout!");
    assert_ne!(resource(&edited).content_hash(), base.content_hash());

    // Key order in the input does not matter.
    let reordered: KubeObject = serde_json::from_str(
        r#"{"spec": {"namespaceSelector": {"names": ["eu-1/checkout","us-1/checkout","*/checkout-edge","eu-1/checkout-jobs-*","*/checkout-legacy"]}, "displayName": "Checkout"},
            "metadata": {"annotations": {"team.acme.io/owner": "checkout", "tsb.tetrate.io/tenant": "payments", "tsb.tetrate.io/organization": "acme"}, "namespace": "tsb-config", "name": "checkout-ws"},
            "kind": "Workspace", "apiVersion": "tsb.tetrate.io/v2"}"#,
    )
    .unwrap();
    assert_eq!(resource(&reordered).content_hash(), base.content_hash());
}

#[test]
fn resource_serializes_as_the_envelope() {
    let sr = resource(&fixtures::service_route());
    let json = serde_json::to_value(&sr).unwrap();
    assert_eq!(
        json["fqn"],
        format!("{WS_FQN}/trafficgroups/checkout-traffic/serviceroutes/cart")
    );
    assert_eq!(json["kind"], "ServiceRoute.traffic.tsb.tetrate.io");
    assert_eq!(
        json["parent"],
        format!("{WS_FQN}/trafficgroups/checkout-traffic")
    );
    assert_eq!(json["spec"]["subsets"][0]["weight"], 90);
    assert_eq!(json["spec"]["portLevelSettings"][0]["trafficType"], "HTTP");
    assert!(json.get("namespace").is_none());
}

#[test]
fn a_refused_write_is_audited_under_the_fqn_its_kind_makes() {
    let mut input = EnvelopeInput {
        api_version: "tsb.tetrate.io/v1".into(),
        kind: "Workspace".into(),
        parent: "organizations/acme/tenants/storefront".into(),
        name: "evil".into(),
        namespace: None,
        spec: json!({}),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
    };
    assert_eq!(
        input.claimed_fqn(),
        "organizations/acme/tenants/storefront/workspaces/evil"
    );
    input.kind = "NoSuchKind".into();
    assert_eq!(
        input.claimed_fqn(),
        "organizations/acme/tenants/storefront/evil"
    );
}

#[test]
fn envelope_writes_from_the_api() {
    let strip = StripRules::default();
    let input = EnvelopeInput {
        api_version: "traffic.tsb.tetrate.io/v2".into(),
        kind: "Group".into(),
        parent: WS_FQN.into(),
        name: "checkout-traffic".into(),
        spec: json!({"namespaceSelector": {"names": ["eu-1/checkout"]}}),
        ..Default::default()
    };
    let group = Resource::from_envelope(&input, &strip).unwrap();
    assert_eq!(
        group.fqn.to_string(),
        format!("{WS_FQN}/trafficgroups/checkout-traffic")
    );
    assert!(group.origin.is_none());

    let rule_of = |input: &EnvelopeInput| -> Vec<RuleCode> {
        Resource::from_envelope(input, &strip)
            .unwrap_err()
            .iter()
            .map(|d| d.rule)
            .collect()
    };
    let bad_name = EnvelopeInput {
        name: "INVALID".into(),
        ..input.clone()
    };
    assert_eq!(rule_of(&bad_name), [RuleCode::NameRule]);
    // A '/' would make the name look like more FQN segments (found by fuzzing).
    let slash_name = EnvelopeInput {
        name: "a/workspaces/b".into(),
        ..input.clone()
    };
    assert_eq!(rule_of(&slash_name), [RuleCode::NameRule]);
    let bad_parent = EnvelopeInput {
        parent: "organizations/acme".into(),
        ..input.clone()
    };
    assert_eq!(rule_of(&bad_parent), [RuleCode::HierarchyAnnotations]);
    let bad_kind = EnvelopeInput {
        kind: "Team".into(),
        api_version: "tsb.tetrate.io/v2".into(),
        ..input.clone()
    };
    assert_eq!(rule_of(&bad_kind), [RuleCode::KindRecognition]);
    let bad_spec = EnvelopeInput {
        spec: json!({"namespaceSelector": {"names": ["c*/x"]}}),
        ..input.clone()
    };
    assert_eq!(rule_of(&bad_spec), [RuleCode::SelectorGrammar]);
    let unknown = EnvelopeInput {
        spec: json!({"bogus": 1}),
        ..input
    };
    assert_eq!(rule_of(&unknown), [RuleCode::SpecSchema]);
}

#[test]
fn kube_object_round_trips_through_serde() {
    let object = fixtures::virtual_service();
    let json = serde_json::to_value(&object).unwrap();
    let back: KubeObject = serde_json::from_value(json).unwrap();
    assert_eq!(back, object);
}
