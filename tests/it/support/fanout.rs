//! The fan-out scenario shared by `tests/it/fanout.rs` and `cargo bench --bench fanout`: one
//! traffic group selecting an app namespace of every cluster, a TrafficSetting whose
//! reachability hosts carry a marker (each change generates a new Sidecar everywhere) and
//! ServiceRoutes (a VirtualService and a DestinationRule each), written through the API; many
//! clusters registered through the admin API; and what the model says each cluster must hold.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tsbridge::proto::v1;

use super::mp::{Clients, register_cluster};

/// The namespace every simulated cluster reports and the workspace selects.
pub const APP_NS: &str = "app";

/// The tenant the scenario writes under.
pub const TENANT: &str = "fanout";

fn annotations(group: bool) -> Value {
    let mut annotations = json!({
        "tsb.tetrate.io/organization": "acme",
        "tsb.tetrate.io/tenant": TENANT,
        "tsb.tetrate.io/workspace": "ws",
    });
    if group {
        annotations["tsb.tetrate.io/trafficGroup"] = json!("tg");
    }
    annotations
}

/// Tenant, workspace (`*/app`) and a bridged traffic group selecting every namespace of it.
pub fn hierarchy() -> Vec<Value> {
    vec![
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Tenant",
               "metadata": {"name": TENANT, "annotations": {"tsb.tetrate.io/organization": "acme"}},
               "spec": {"displayName": "fan-out"}}),
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
               "metadata": {"name": "ws", "annotations": {"tsb.tetrate.io/organization": "acme",
                   "tsb.tetrate.io/tenant": TENANT}},
               "spec": {"namespaceSelector": {"names": [format!("*/{APP_NS}")]}}}),
        json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
               "metadata": {"name": "tg", "annotations": annotations(false)},
               "spec": {"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/*"]}}}),
    ]
}

/// The marker of change `n`: the TrafficSetting's reachability host, found in the Sidecar.
pub fn marker(n: usize) -> String {
    format!("marker-{n}/")
}

/// The group's TrafficSetting `ts`, reaching the hosts of [`marker`] `n` (a Sidecar in every
/// selected namespace).
pub fn traffic_setting(n: usize) -> Value {
    json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "TrafficSetting",
           "metadata": {"name": "ts", "annotations": annotations(true)},
           "spec": {"reachability": {"mode": "CUSTOM", "hosts": [format!("{}*", marker(n))]}}})
}

/// The FQN of [`traffic_setting`].
pub fn traffic_setting_fqn() -> String {
    format!("organizations/acme/tenants/{TENANT}/workspaces/ws/trafficgroups/tg/settings/ts")
}

/// ServiceRoute `svc-<k>` of the group (a VirtualService and a DestinationRule).
pub fn service_route(k: usize) -> Value {
    json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "ServiceRoute",
           "metadata": {"name": format!("svc-{k}"), "annotations": annotations(true)},
           "spec": {"service": format!("{APP_NS}/svc-{k}.{APP_NS}.svc.cluster.local"),
                    "subsets": [{"name": "v1", "labels": {"version": "v1"}, "weight": 100}]}})
}

/// The whole scenario: hierarchy, TrafficSetting at marker 0, `routes` ServiceRoutes.
pub fn config(routes: usize) -> Vec<Value> {
    let mut config = hierarchy();
    config.push(traffic_setting(0));
    config.extend((0..routes).map(service_route));
    config
}

fn model(object: &Value) -> tsbridge::model::Resource {
    let strip = tsbridge::model::metadata::StripRules::default();
    match tsbridge::k8s::convert::to_resource(object, &strip).expect("converts") {
        tsbridge::model::Converted::Resource { resource, .. } => *resource,
        other => panic!("{other:?}"),
    }
}

/// The API write of a CR-shaped object (what the agent would push for it).
pub fn apply_request(object: &Value) -> v1::ApplyRequest {
    v1::ApplyRequest {
        resource: Some(tsbridge::proto::convert::resource_to_proto(&model(object))),
        ..Default::default()
    }
}

/// Writes [`config`]`(routes)` through the API: the hierarchy and the setting in order, then
/// the routes through 8 concurrent clients.
pub async fn write_config(api: &Clients, routes: usize) {
    let mut head = hierarchy();
    head.push(traffic_setting(0));
    write_all(api, &head, 1).await;
    let routes: Vec<Value> = (0..routes).map(service_route).collect();
    write_all(api, &routes, 8).await;
}

/// Writes `objects` through `writers` concurrent API clients (in order with one).
pub async fn write_all(api: &Clients, objects: &[Value], writers: usize) {
    let requests: Vec<v1::ApplyRequest> = objects.iter().map(apply_request).collect();
    let per = requests.len().div_ceil(writers.max(1)).max(1);
    let mut tasks = Vec::new();
    for chunk in requests.chunks(per) {
        let mut api = api.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for request in chunk {
                let name = request.resource.as_ref().map(|r| r.name.clone());
                api.config
                    .apply(request)
                    .await
                    .unwrap_or_else(|e| panic!("applying {name:?}: {e}"));
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
}

/// Registers every cluster of `names` with a grant on the organization, `writers` at a time.
pub async fn register_all(api: &Clients, names: &[String], writers: usize) {
    let per = names.len().div_ceil(writers.max(1)).max(1);
    let mut tasks = Vec::new();
    for chunk in names.chunks(per) {
        let mut api = api.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            for name in chunk {
                register_cluster(&mut api, &name, "organizations/acme").await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("registration");
    }
}

/// What the model says `cluster` must hold, as `Kind/namespace/name`, when it has `namespaces`.
pub fn expected_objects(
    cluster: &str,
    config: &[Value],
    namespaces: &[String],
) -> BTreeSet<String> {
    expected_translation(cluster, config, namespaces)
        .objects
        .values()
        .map(|g| format!("{}/{}/{}", g.kind, g.namespace, g.name))
        .collect()
}

/// The model's translation of `config` for `cluster` with `namespaces`.
pub fn expected_translation(
    cluster: &str,
    config: &[Value],
    namespaces: &[String],
) -> tsbridge::model::translate::Translation {
    use tsbridge::model::resolve::ClusterNamespaces;
    let resources: Vec<tsbridge::model::Resource> = config.iter().map(model).collect();
    let inventory = ClusterNamespaces {
        cluster: cluster.to_string(),
        namespaces: namespaces.iter().cloned().collect(),
        ..Default::default()
    };
    let translation = tsbridge::model::translate::translate_cluster(&inventory, &resources);
    assert!(translation.errors.is_empty(), "{:?}", translation.errors);
    translation
}
