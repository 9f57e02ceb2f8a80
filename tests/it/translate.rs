//! Translated Istio objects against the real apiserver: every object the model generates for
//! the every-kind fixture (plus direct-mode objects) is accepted by Istio's CRD schemas with
//! server-side apply and strict field validation, and nothing of it is pruned.

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::params::ValidationDirective;
use serde_json::{Value, json};
use tsbridge::model::metadata::StripRules;
use tsbridge::model::resolve::{ClusterNamespaces, ClusterService, ServicePort};
use tsbridge::model::translate::{MANAGED_BY_LABEL, translate_cluster};
use tsbridge::model::{Converted, KubeObject, Resource, convert};

use crate::crds::dynamic_api;
use crate::support::cluster::{Cluster, test_namespace, with_temp_ns};
use crate::support::repo_path;

/// The agent's field manager.
const FIELD_MANAGER: &str = "tsbridge";

/// The Istio CRDs the generated objects need (installed by `tests/realk8s.sh up`).
const ISTIO_CRDS: [&str; 8] = [
    "virtualservices.networking.istio.io",
    "destinationrules.networking.istio.io",
    "gateways.networking.istio.io",
    "sidecars.networking.istio.io",
    "serviceentries.networking.istio.io",
    "envoyfilters.networking.istio.io",
    "peerauthentications.security.istio.io",
    "authorizationpolicies.security.istio.io",
];

/// The every-kind fixture with its `bookinfo` namespace renamed to `ns` (names, selectors,
/// services and hosts alike), plus direct-mode objects: a ServiceEntry and an EnvoyFilter in
/// the Istio internal group on `ns`, and a DIRECT traffic group on `direct_ns` with a
/// VirtualService and a DestinationRule.
fn objects(ns: &str, direct_ns: &str) -> Vec<KubeObject> {
    let text = std::fs::read_to_string(repo_path("tests/fixtures/crs/every-kind.yaml"))
        .expect("fixture reads")
        .replace("bookinfo", ns);
    let mut objects: Vec<KubeObject> = serde_saphyr::from_multiple(&text).expect("fixture parses");
    let hierarchy = |group_key: &str, group: &str| {
        json!({
            "tsb.tetrate.io/organization": "acme",
            "tsb.tetrate.io/tenant": "payments",
            "tsb.tetrate.io/workspace": format!("{ns}-ws"),
            format!("tsb.tetrate.io/{group_key}"): group,
            "argocd.argoproj.io/sync-options": "Prune=false"
        })
    };
    let direct = |api_version: &str,
                  kind: &str,
                  name: &str,
                  namespace: &str,
                  annotations: Value,
                  spec: Value| {
        serde_json::from_value::<KubeObject>(json!({
            "apiVersion": api_version, "kind": kind,
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"istio.io/rev": "tsb", "app.kubernetes.io/instance": "demo"},
                         "annotations": annotations},
            "spec": spec
        }))
        .expect("direct object")
    };
    let iig = hierarchy("istioInternalGroup", &format!("{ns}-iig"));
    let tg = hierarchy("trafficGroup", "legacy");
    let extra = [
        serde_json::from_value::<KubeObject>(json!({
            "apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
            "metadata": {"name": "legacy", "annotations": {
                "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "payments",
                "tsb.tetrate.io/workspace": format!("{ns}-ws")}},
            "spec": {"configMode": "DIRECT", "namespaceSelector": {"names": [format!("*/{direct_ns}")]}}
        }))
        .expect("group"),
        direct("networking.istio.io/v1beta1", "ServiceEntry", "payments-api", ns, iig.clone(), json!({
            "hosts": ["api.partner.example.com"], "location": "MESH_EXTERNAL", "resolution": "DNS",
            "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]
        })),
        direct("networking.istio.io/v1alpha3", "EnvoyFilter", "buffer", ns, iig, json!({
            "priority": 10,
            "configPatches": [{"applyTo": "HTTP_FILTER", "match": {"context": "SIDECAR_INBOUND"},
                "patch": {"operation": "INSERT_FIRST", "value": {"name": "envoy.filters.http.buffer",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer",
                        "max_request_bytes": 1024}}}}]
        })),
        direct("networking.istio.io/v1beta1", "VirtualService", "legacy-api", direct_ns, tg.clone(), json!({
            "hosts": ["legacy-api"], "http": [{"route": [{"destination": {"host": "legacy-api", "subset": "v1"}}]}]
        })),
        direct("networking.istio.io/v1", "DestinationRule", "legacy-api", direct_ns, tg, json!({
            "host": "legacy-api", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]
        })),
    ];
    objects.extend(extra);
    objects
}

fn resources(objects: &[KubeObject]) -> Vec<Resource> {
    objects
        .iter()
        .map(|object| match convert(object, &StripRules::default()) {
            Converted::Resource { resource, .. } => *resource,
            other => panic!("{} does not convert: {other:?}", object.metadata.name),
        })
        .collect()
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn generated_istio_objects_are_accepted_by_the_istio_crds() {
    let cluster = Cluster::default_cluster();
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client().await);
    for name in ISTIO_CRDS {
        crds.get(name).await.unwrap_or_else(|e| {
            panic!("Istio CRD {name} is missing ({e}); `tests/realk8s.sh istio-crds` installs them")
        });
    }
    let kubeconfig = cluster.kubeconfig.clone();
    with_temp_ns(&cluster, |client, ns| async move {
        // A second namespace, owned by the workspace through its `eu-west-1/<ns>-jobs-*` entry.
        let direct_ns = format!("{ns}-jobs-direct");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .create(&PostParams::default(), &test_namespace(&direct_ns))
            .await
            .unwrap_or_else(|e| panic!("creating namespace {direct_ns}: {e}"));
        let outcome = std::panic::AssertUnwindSafe(async {
            apply_all(&client, &ns, &direct_ns).await;
            // Istio's analyzers over the live namespace: the generated objects with the
            // Services, Pods and credentials they refer to.
            crate::istio::create_workloads(&client, &ns).await;
            crate::istio::analyze_live(&client, &kubeconfig, &ns).await;
        });
        let outcome = futures::FutureExt::catch_unwind(outcome).await;
        if std::env::var("TSBRIDGE_TEST_KEEP").as_deref() != Ok("1")
            && let Err(e) = namespaces
                .delete(&direct_ns, &DeleteParams::default())
                .await
        {
            eprintln!("deleting namespace {direct_ns}: {e}");
        }
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    })
    .await;
}

async fn apply_all(client: &kube::Client, ns: &str, direct_ns: &str) {
    let resources = resources(&objects(ns, direct_ns));
    let inventory = ClusterNamespaces {
        cluster: "eu-west-1".into(),
        namespaces: [ns, direct_ns, "default", "kube-system"]
            .into_iter()
            .map(String::from)
            .collect(),
        // The example's Services (tests/fixtures/crs/workloads.yaml), as the agent reports
        // them: the ServiceSecuritySetting selects the workloads of `details`.
        services: ["productpage", "reviews", "ratings", "details"]
            .into_iter()
            .map(|name| {
                let service = ClusterService {
                    name: name.into(),
                    namespace: ns.into(),
                    ports: vec![ServicePort {
                        name: "http".into(),
                        port: 9080,
                        protocol: "TCP".into(),
                        app_protocol: None,
                    }],
                    selector: [("app".to_string(), name.to_string())].into(),
                };
                ((ns.to_string(), name.to_string()), service)
            })
            .collect(),
    };
    let translation = translate_cluster(&inventory, &resources);
    assert!(translation.errors.is_empty(), "{:?}", translation.errors);
    assert!(
        translation.warnings.is_empty(),
        "{:?}",
        translation.warnings
    );
    let kinds: std::collections::BTreeSet<&str> = translation
        .objects
        .keys()
        .map(|k| k.kind.as_str())
        .collect();
    for kind in [
        "VirtualService",
        "DestinationRule",
        "Gateway",
        "Sidecar",
        "ServiceEntry",
        "EnvoyFilter",
        "PeerAuthentication",
        "AuthorizationPolicy",
    ] {
        assert!(kinds.contains(kind), "no {kind} generated: {kinds:?}");
    }
    let params = PatchParams {
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::apply(FIELD_MANAGER).force()
    };
    let mut rejected = Vec::new();
    for (key, generated) in &translation.objects {
        let object = generated.to_object();
        let api = dynamic_api(client, &generated.namespace, &object);
        let desired: DynamicObject = serde_json::from_value(object.clone()).expect("object");
        match api
            .patch(&generated.name, &params, &Patch::Apply(&desired))
            .await
        {
            Ok(stored) => {
                let stored = serde_json::to_value(&stored).expect("JSON");
                // Nothing generated is pruned: every field is in Istio's schema.
                assert_eq!(
                    stored["spec"], object["spec"],
                    "{key}: the apiserver changed the spec"
                );
                assert_eq!(
                    stored["metadata"]["labels"][MANAGED_BY_LABEL], "tsbridge",
                    "{key}"
                );
                let managers: Vec<&str> = stored["metadata"]["managedFields"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["manager"].as_str())
                    .collect();
                assert_eq!(managers, [FIELD_MANAGER], "{key}");
            }
            Err(e) => rejected.push(format!("{key}: {e}")),
        }
    }
    assert!(rejected.is_empty(), "rejected:\n{}", rejected.join("\n"));
    // The check has teeth: strict validation rejects a field Istio's schema does not know.
    let sample = translation.objects.values().next().expect("objects");
    let mut bogus = sample.to_object();
    bogus["spec"]["notAnIstioField"] = json!(true);
    let api = dynamic_api(client, &sample.namespace, &bogus);
    let bogus: DynamicObject = serde_json::from_value(bogus).expect("object");
    assert!(
        api.patch(&sample.name, &params, &Patch::Apply(&bogus))
            .await
            .is_err(),
        "strict field validation accepted an unknown field"
    );
    // Re-applying the same objects changes nothing (the agent's resync).
    for generated in translation.objects.values() {
        let object = generated.to_object();
        let api = dynamic_api(client, &generated.namespace, &object);
        let before = api.get(&generated.name).await.expect("get");
        let desired: DynamicObject = serde_json::from_value(object).expect("object");
        let after = api
            .patch(&generated.name, &params, &Patch::Apply(&desired))
            .await
            .expect("re-apply");
        assert_eq!(
            before.metadata.resource_version, after.metadata.resource_version,
            "{}: a no-op re-apply wrote",
            generated.name
        );
    }
}
