//! Translation tests: one file per family, shared builders here.

mod gateway;
mod route;
mod security;
mod service_security;
mod service_traffic;
mod traffic;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::*;
use crate::model::fixtures::{self, manifest, resource};
use crate::model::metadata::StripRules;
use crate::model::object::{Converted, KubeObject, convert};
use crate::model::resolve::{ClusterNamespaces, resolve};

pub(super) const WS: &str = "organizations/acme/tenants/payments/workspaces/ws";

/// Hierarchy annotations for an object under `ws` (and `group_key: group` when given).
pub(super) fn annotations(group: Option<(&str, &str)>) -> Value {
    let mut a = json!({
        "tsb.tetrate.io/organization": "acme",
        "tsb.tetrate.io/tenant": "payments",
        "tsb.tetrate.io/workspace": "ws"
    });
    if let Some((key, name)) = group {
        a[format!("tsb.tetrate.io/{key}")] = json!(name);
    }
    a
}

/// A resource of `kind` under group `group` of type `key` (e.g. `trafficGroup`).
pub(super) fn object(
    api_version: &str,
    kind: &str,
    name: &str,
    key: &str,
    group: &str,
    spec: Value,
) -> Resource {
    resource(&manifest(json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "annotations": annotations(Some((key, group)))},
        "spec": spec
    })))
}

/// Workspace `ws` (`*/a`, `*/b`, `*/gw`, `*/legacy`) with traffic group `tg` and security
/// group `sg` on `a` and `b`, gateway group `gg` on `gw`, DIRECT traffic group `direct` on
/// `legacy`.
pub(super) fn hierarchy() -> Vec<Resource> {
    let group = |api: &str, name: &str, names: &[&str], extra: Value| {
        let mut spec = extra;
        spec["namespaceSelector"] = json!({"names": names});
        resource(&manifest(json!({
            "apiVersion": api, "kind": "Group",
            "metadata": {"name": name, "annotations": annotations(None)},
            "spec": spec
        })))
    };
    vec![
        resource(&manifest(json!({
            "apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
            "metadata": {"name": "ws", "annotations": {
                "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments"}},
            "spec": {"namespaceSelector": {"names": ["*/a", "*/b", "*/gw", "*/legacy"]}}
        }))),
        group(
            "traffic.tsb.tetrate.io/v2",
            "tg",
            &["*/a", "*/b"],
            json!({}),
        ),
        group(
            "security.tsb.tetrate.io/v2",
            "sg",
            &["*/a", "*/b"],
            json!({}),
        ),
        group("gateway.tsb.tetrate.io/v2", "gg", &["*/gw"], json!({})),
        group(
            "traffic.tsb.tetrate.io/v2",
            "direct",
            &["*/legacy"],
            json!({"configMode": "DIRECT"}),
        ),
    ]
}

pub(super) fn c1() -> ClusterNamespaces {
    ClusterNamespaces {
        cluster: "c1".into(),
        namespaces: ["a", "b", "gw", "legacy", "other"]
            .into_iter()
            .map(String::from)
            .collect(),
        ..Default::default()
    }
}

/// Translates `extra` on top of [`hierarchy`] for [`c1`], failing on any error.
pub(super) fn run(extra: Vec<Resource>) -> Translation {
    let mut resources = hierarchy();
    resources.extend(extra);
    let translation = translate_cluster(&c1(), &resources);
    assert!(translation.errors.is_empty(), "{:?}", translation.errors);
    translation
}

/// The generated objects of `kind` in `namespace`.
pub(super) fn find<'t>(t: &'t Translation, kind: &str, namespace: &str) -> Vec<&'t Generated> {
    t.objects
        .values()
        .filter(|o| o.kind == kind && o.namespace == namespace)
        .collect()
}

/// The one generated object of `kind` in `namespace`.
pub(super) fn one<'t>(t: &'t Translation, kind: &str, namespace: &str) -> &'t Generated {
    let found = find(t, kind, namespace);
    assert_eq!(
        found.len(),
        1,
        "{kind} in {namespace}: {:#?}",
        t.objects.keys()
    );
    found[0]
}

#[test]
fn names_are_deterministic_unique_and_short() {
    let a = object(
        "traffic.tsb.tetrate.io/v2",
        "TrafficSetting",
        "default",
        "trafficGroup",
        "tg",
        json!({}),
    );
    let b = object(
        "traffic.tsb.tetrate.io/v2",
        "TrafficSetting",
        "default",
        "trafficGroup",
        "other",
        json!({}),
    );
    let name = generated_name(&a, None);
    assert!(
        name.starts_with("tsb-ts-default-") && name.len() == "tsb-ts-default-".len() + 8,
        "{name}"
    );
    assert_eq!(name, generated_name(&a, None));
    assert_ne!(name, generated_name(&b, None));
    assert_ne!(generated_name(&a, Some("x")), generated_name(&a, Some("y")));
    let long = object(
        "traffic.tsb.tetrate.io/v2",
        "TrafficSetting",
        &"n".repeat(200),
        "trafficGroup",
        "tg",
        json!({}),
    );
    let long_name = generated_name(&long, Some("Server_Name"));
    assert_eq!(long_name.len(), 63, "{long_name}");
    assert!(crate::model::metadata::is_dns1123_subdomain(&long_name));
    let dotted = object(
        "traffic.tsb.tetrate.io/v2",
        "TrafficSetting",
        "a.b",
        "trafficGroup",
        "tg",
        json!({}),
    );
    assert!(generated_name(&dotted, None).starts_with("tsb-ts-a-b-"));
}

#[test]
fn generated_object_shape_key_and_hash() {
    let t = run(vec![object(
        "security.tsb.tetrate.io/v2",
        "SecuritySetting",
        "mtls",
        "securityGroup",
        "sg",
        json!({"authenticationSettings": {"trafficMode": "REQUIRED"}}),
    )]);
    let pa = one(&t, "PeerAuthentication", "a");
    let key = pa.key();
    assert_eq!(key.group, "security.istio.io");
    assert_eq!(
        key.to_string(),
        format!("PeerAuthentication.security.istio.io/a/{}", pa.name)
    );
    let object = pa.to_object();
    assert_eq!(object["apiVersion"], "security.istio.io/v1");
    assert_eq!(object["metadata"]["namespace"], "a");
    assert_eq!(
        object["metadata"]["labels"][MANAGED_BY_LABEL],
        MANAGED_BY_VALUE
    );
    let owner = format!("{WS}/securitygroups/sg/settings/mtls");
    assert_eq!(
        object["metadata"]["annotations"][OWNER_FQN_ANNOTATION],
        owner.as_str()
    );
    assert_eq!(pa.content_hash(), pa.clone().content_hash());
    let mut changed = pa.clone();
    changed.spec["mtls"]["mode"] = json!("PERMISSIVE");
    assert_ne!(changed.content_hash(), pa.content_hash());
    assert_eq!(t.sources[&owner].len(), 2);
}

#[test]
fn metadata_propagates_workspace_group_object_and_never_tracking_keys() {
    let forbidden = json!({
        "argocd.argoproj.io/tracking-id": "x", "app.kubernetes.io/instance": "x",
        "kustomize.toolkit.fluxcd.io/name": "x", "helm.toolkit.fluxcd.io/name": "x",
        "helm.sh/chart": "x", "app.kubernetes.io/managed-by": "Helm", "istio.io/rev": "tsb",
        "tsb.tetrate.io/workspace": "x", "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "meta.helm.sh/release-name": "x", "tsbridge.io/owner-fqn": "spoofed"
    });
    let mut resources = hierarchy();
    // Workspace and group defaults, by metadata and by spec.configGenerationMetadata.
    resources[0].annotations.insert("team".into(), "ws".into());
    resources[0].labels.insert("tier".into(), "ws".into());
    if let Spec::SecurityGroup(g) = &mut resources[2].spec {
        g.config_generation_metadata = Some(
            serde_json::from_value(json!({
                "labels": forbidden, "annotations": {"team": "group", "only-group": "g"}
            }))
            .unwrap(),
        );
    }
    let mut setting = object(
        "security.tsb.tetrate.io/v2",
        "SecuritySetting",
        "mtls",
        "securityGroup",
        "sg",
        json!({"authenticationSettings": {"trafficMode": "OPTIONAL"},
               "configGenerationMetadata": {"annotations": forbidden, "labels": {"tier": "object"}}}),
    );
    setting.annotations.insert("only-object".into(), "o".into());
    resources.push(setting);
    let t = translate_cluster(&c1(), &resources);
    let pa = one(&t, "PeerAuthentication", "a");
    assert_eq!(pa.labels["tier"], "object");
    assert_eq!(pa.annotations["team"], "group");
    assert_eq!(pa.annotations["only-group"], "g");
    assert_eq!(pa.annotations["only-object"], "o");
    let strip = StripRules::default();
    let own = [
        MANAGED_BY_LABEL,
        OWNER_FQN_ANNOTATION,
        CONTENT_HASH_ANNOTATION,
    ];
    for object in t.objects.values() {
        for (key, map) in object
            .labels
            .keys()
            .map(|k| (k, MetadataMap::Labels))
            .chain(
                object
                    .annotations
                    .keys()
                    .map(|k| (k, MetadataMap::Annotations)),
            )
        {
            assert!(
                own.contains(&key.as_str()) || !strip.strips(key, map),
                "{key} on {}",
                object.name
            );
        }
        assert_eq!(
            object.annotations[OWNER_FQN_ANNOTATION],
            format!("{WS}/securitygroups/sg/settings/mtls")
        );
    }
}

fn direct_vs(group: &str, namespace: &str) -> KubeObject {
    manifest(json!({
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {
            "name": "legacy-api",
            "namespace": namespace,
            "labels": {"istio.io/rev": "tsb", "app": "legacy-api"},
            "annotations": {
                "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments",
                "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/trafficGroup": group,
                "argocd.argoproj.io/sync-options": "Prune=false", "note": "kept"
            }
        },
        "spec": {"hosts": ["legacy-api"], "http": [{"route": [{"destination": {"host": "legacy-api"}}]}]}
    }))
}

#[test]
fn direct_objects_pass_through_into_their_namespace() {
    let t = run(vec![resource(&direct_vs("direct", "legacy"))]);
    let vs = one(&t, "VirtualService", "legacy");
    assert_eq!(vs.api_version, "networking.istio.io/v1beta1");
    assert_eq!(vs.name, "legacy-api");
    assert_eq!(
        vs.spec,
        json!({"hosts": ["legacy-api"], "http": [{"route": [{"destination": {"host": "legacy-api"}}]}]})
    );
    assert_eq!(vs.labels.get("app").map(String::as_str), Some("legacy-api"));
    assert!(!vs.labels.contains_key("istio.io/rev"));
    assert_eq!(vs.annotations["note"], "kept");
    assert!(
        !vs.annotations
            .keys()
            .any(|k| k.starts_with("argocd") || k.starts_with("tsb.tetrate.io"))
    );
    // Outside the group's namespaces: nothing.
    let t = run(vec![resource(&direct_vs("direct", "other"))]);
    assert!(t.objects.is_empty());
}

#[test]
fn two_sources_of_one_object_is_an_error_naming_both() {
    let mut resources = hierarchy();
    resources.push(resource(&manifest(json!({
        "apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
        "metadata": {"name": "direct2", "annotations": annotations(None)},
        "spec": {"namespaceSelector": {"names": ["*/legacy"]}, "configMode": "DIRECT"}
    }))));
    resources.push(resource(&direct_vs("direct2", "legacy")));
    resources.push(resource(&direct_vs("direct", "legacy")));
    let t = translate_cluster(&c1(), &resources);
    assert_eq!(t.objects.len(), 1);
    assert_eq!(t.errors.len(), 1, "{:?}", t.errors);
    let (fqn, diagnostic) = &t.errors[0];
    // FQN order decides: `direct` < `direct2`.
    assert_eq!(
        fqn,
        &format!("{WS}/trafficgroups/direct2/virtualservices/legacy-api")
    );
    assert!(
        diagnostic.message.contains(&format!(
            "{WS}/trafficgroups/direct/virtualservices/legacy-api"
        )),
        "{}",
        diagnostic.message
    );
    assert!(
        diagnostic
            .message
            .contains("VirtualService.networking.istio.io/legacy/legacy-api")
    );
}

#[test]
fn nothing_for_tenancy_kinds_or_without_targets() {
    let t = run(Vec::new());
    assert!(t.objects.is_empty() && t.sources.is_empty());
    let resources = fixtures::appendix_set();
    let nowhere = ClusterNamespaces {
        cluster: "eu-1".into(),
        namespaces: BTreeSet::from(["kube-system".to_string()]),
        ..Default::default()
    };
    assert!(translate_cluster(&nowhere, &resources).objects.is_empty());
}

/// The shared every-kind fixture, converted.
pub(super) fn every_kind() -> Vec<Resource> {
    let text = include_str!("../../../../tests/fixtures/crs/every-kind.yaml");
    let objects: Vec<KubeObject> = serde_saphyr::from_multiple(text).expect("fixture parses");
    objects
        .iter()
        .map(|object| match convert(object, &StripRules::default()) {
            Converted::Resource { resource, .. } => *resource,
            other => panic!("{}: {other:?}", object.metadata.name),
        })
        .collect()
}

#[test]
fn every_kind_fixture_translates_for_a_matching_cluster() {
    let resources = every_kind();
    let cluster = ClusterNamespaces {
        cluster: "eu-west-1".into(),
        namespaces: ["bookinfo", "bookinfo-jobs-1", "kube-system"]
            .into_iter()
            .map(String::from)
            .collect(),
        ..Default::default()
    }
    .with_services([service_security::service("bookinfo", "details")]);
    let t = translate_cluster(&cluster, &resources);
    assert!(t.errors.is_empty(), "{:?}", t.errors);
    let kinds: BTreeSet<&str> = t
        .sources
        .keys()
        .map(|fqn| {
            fqn.parse::<crate::model::Fqn>()
                .unwrap()
                .kind()
                .unwrap()
                .name()
        })
        .collect();
    for kind in [
        "TrafficSetting",
        "ServiceRoute",
        "SecuritySetting",
        "ServiceSecuritySetting",
        "IngressGateway",
        "EgressGateway",
        "Tier1Gateway",
        "Gateway",
    ] {
        assert!(kinds.contains(kind), "{kind} generated nothing: {kinds:?}");
    }
    // Everything lands in the group's namespace; the workspace's other namespace gets nothing
    // because no group selects it.
    assert!(t.objects.values().all(|o| o.namespace == "bookinfo"));
    // The tenant default (REQUIRED) and the group's own setting agree.
    assert_eq!(
        one(&t, "PeerAuthentication", "bookinfo").spec,
        json!({"mtls": {"mode": "STRICT"}})
    );
    // The group's TrafficSetting (2s, retries, MEDIUM circuit breaking) overrides the
    // workspace default (5s) on the group's ServiceRoutes (TSB's precedence), and the route's
    // DestinationRule, more specific than the group's wildcard one, keeps the circuit breaking.
    let vs: Vec<_> = find(&t, "VirtualService", "bookinfo")
        .into_iter()
        .filter(|v| v.spec["hosts"][0] == "reviews.bookinfo.svc.cluster.local")
        .collect();
    assert_eq!(vs[0].spec["http"][0]["timeout"], "2s");
    assert_eq!(vs[0].spec["http"][0]["retries"]["perTryTimeout"], "500ms");
    let dr: Vec<_> = find(&t, "DestinationRule", "bookinfo")
        .into_iter()
        .filter(|d| d.spec["host"] == "reviews.bookinfo.svc.cluster.local")
        .collect();
    assert_eq!(
        dr[0].spec["trafficPolicy"]["outlierDetection"]["consecutive5xxErrors"],
        10
    );
    // A cluster with none of the selected namespaces gets nothing.
    let other = ClusterNamespaces {
        cluster: "eu-west-1".into(),
        namespaces: BTreeSet::from(["kube-system".to_string()]),
        ..Default::default()
    };
    assert!(translate_cluster(&other, &resources).objects.is_empty());
}

#[test]
fn translates_ten_thousand_resources_quickly() {
    // 2,000 workspaces, each with a traffic group, a TrafficSetting, a ServiceRoute and a
    // WorkspaceSetting: every resource is looked up by FQN, never searched for.
    let mut resources = Vec::new();
    let mut namespaces = BTreeSet::new();
    for w in 0..2000 {
        let ns = format!("ns-{w}");
        let ws = format!("ws-{w}");
        let hierarchy =
            json!({"tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments"});
        let mut under_ws = hierarchy.clone();
        under_ws["tsb.tetrate.io/workspace"] = json!(ws);
        let mut under_tg = under_ws.clone();
        under_tg["tsb.tetrate.io/trafficGroup"] = json!("tg");
        let objects = [
            (
                "tsb.tetrate.io/v2",
                "Workspace",
                ws.as_str(),
                &hierarchy,
                json!({"namespaceSelector": {"names": [format!("*/{ns}")]}}),
            ),
            (
                "tsb.tetrate.io/v2",
                "WorkspaceSetting",
                "default",
                &under_ws,
                json!({"defaultTrafficSetting": {"resilience": {"httpRequestTimeout": "3s"}}}),
            ),
            (
                "traffic.tsb.tetrate.io/v2",
                "Group",
                "tg",
                &under_ws,
                json!({"namespaceSelector": {"names": ["*/*"]}}),
            ),
            (
                "traffic.tsb.tetrate.io/v2",
                "TrafficSetting",
                "default",
                &under_tg,
                json!({"reachability": {"mode": "NAMESPACE"}}),
            ),
            (
                "traffic.tsb.tetrate.io/v2",
                "ServiceRoute",
                "web",
                &under_tg,
                json!({"service": format!("{ns}/web.{ns}.svc.cluster.local"), "subsets": [{"name": "v1"}]}),
            ),
        ];
        for (api_version, kind, name, annotations, spec) in objects {
            resources.push(resource(&manifest(json!({
                "apiVersion": api_version, "kind": kind,
                "metadata": {"name": name, "annotations": annotations}, "spec": spec
            }))));
        }
        namespaces.insert(ns);
    }
    let cluster = ClusterNamespaces {
        cluster: "c1".into(),
        namespaces,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let t = translate_cluster(&cluster, &resources);
    assert!(t.errors.is_empty(), "{:?}", &t.errors[..1]);
    assert_eq!(t.objects.len(), 2000 * 3);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// The output of each source, for comparing two translations.
fn outputs(t: &Translation) -> BTreeMap<&String, Vec<&Generated>> {
    t.sources
        .iter()
        .map(|(fqn, keys)| (fqn, keys.iter().filter_map(|k| t.objects.get(k)).collect()))
        .collect()
}

#[test]
fn a_tenancy_change_alters_only_the_subtree_of_its_influence_root() {
    // The distributor re-translates only `influence_root`'s subtree when a cluster's
    // resolution stays the same: removing any tenancy object or setting must not change what
    // anything outside that subtree generates.
    let resources: Vec<Resource> = every_kind()
        .into_iter()
        .chain(fixtures::appendix_set())
        .collect();
    let cluster = ClusterNamespaces {
        cluster: "eu-west-1".into(),
        namespaces: ["bookinfo", "bookinfo-jobs-1", "checkout", "kube-system"]
            .into_iter()
            .map(String::from)
            .collect(),
        ..Default::default()
    };
    let before = translate_cluster(&cluster, &resources);
    let before_outputs = outputs(&before);
    let mut checked = 0;
    for (index, removed) in resources.iter().enumerate() {
        if !affects_others(removed.kind) {
            continue;
        }
        let rest: Vec<Resource> = resources
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != index)
            .map(|(_, r)| r.clone())
            .collect();
        if resolve(&cluster, &rest) != resolve(&cluster, &resources) {
            continue; // the distributor translates the cluster whole then
        }
        let root = influence_root(removed);
        let after = translate_cluster(&cluster, &rest);
        let after_outputs = outputs(&after);
        let sources: BTreeSet<&&String> =
            before_outputs.keys().chain(after_outputs.keys()).collect();
        for source in sources {
            if before_outputs.get(*source) == after_outputs.get(*source) {
                continue;
            }
            let fqn: crate::model::Fqn = source.parse().expect("fqn");
            assert!(
                fqn == root || root.is_ancestor_of(&fqn),
                "removing {} changed {source}, outside {root}",
                removed.fqn
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} tenancy objects kept the resolution"
    );
}

/// Timeouts of a ServiceRoute: organization < tenant < workspace defaults < the group's
/// TrafficSetting < the service's ServiceTrafficSetting; each level only where it sets one.
#[test]
fn a_service_route_takes_the_closest_timeout() {
    let mut resources = every_kind();
    let cluster = ClusterNamespaces {
        cluster: "eu-west-1".into(),
        namespaces: BTreeSet::from(["bookinfo".to_string()]),
        ..Default::default()
    };
    let route_timeout = |resources: &[Resource]| {
        let t = translate_cluster(&cluster, resources);
        find(&t, "VirtualService", "bookinfo")
            .into_iter()
            .find(|v| v.spec["hosts"][0] == "reviews.bookinfo.svc.cluster.local")
            .map(|v| v.spec["http"][0]["timeout"].clone())
            .expect("the route's VirtualService")
    };
    assert_eq!(
        route_timeout(&resources),
        json!("2s"),
        "the group's TrafficSetting"
    );
    // Without it, the workspace default.
    resources.retain(|r| r.kind != Kind::TrafficSetting);
    assert_eq!(
        route_timeout(&resources),
        json!("5s"),
        "the workspace default"
    );
}

/// A TrafficSetting reaches its group's ServiceRoutes and ServiceTrafficSettings only through
/// what they inherit (a description or metadata change re-translates the setting alone).
#[test]
fn a_traffic_setting_change_reaches_its_group_only_through_what_it_passes_on() {
    let resources = every_kind();
    let setting = resources
        .iter()
        .find(|r| r.kind == Kind::TrafficSetting)
        .expect("a TrafficSetting");
    let group = setting.parent.clone().expect("its group");
    let mut description = setting.clone();
    let mut resilience = setting.clone();
    let mut reachability = setting.clone();
    if let crate::model::spec::Spec::TrafficSetting(spec) = &mut description.spec {
        spec.description = Some("another description".into());
    }
    if let crate::model::spec::Spec::TrafficSetting(spec) = &mut reachability.spec {
        spec.reachability = None;
    }
    if let crate::model::spec::Spec::TrafficSetting(spec) = &mut resilience.spec {
        spec.resilience = None;
    }
    assert!(influenced_roots(Some(setting), Some(&description)).is_empty());
    // The group's ServiceRoutes do not read reachability; its ServiceTrafficSettings do (their
    // own Sidecar carries it), and are found by kind.
    assert!(influenced_roots(Some(setting), Some(&reachability)).is_empty());
    assert_eq!(
        crate::model::translate::stale_readers(Some(setting), Some(&reachability)),
        [Kind::ServiceTrafficSetting]
    );
    assert_eq!(
        influenced_roots(Some(setting), Some(&resilience)),
        std::slice::from_ref(&group)
    );
    assert_eq!(
        influenced_roots(None, Some(setting)),
        std::slice::from_ref(&group)
    );
    assert_eq!(influenced_roots(Some(setting), None), [group]);
    let route = resources
        .iter()
        .find(|r| r.kind == Kind::ServiceRoute)
        .expect("a ServiceRoute");
    assert!(influenced_roots(Some(route), Some(route)).is_empty());
}
