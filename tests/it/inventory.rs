//! The Service inventory end to end on a real control plane: the agent reports the cluster's
//! Services, and the MP translates a ServiceSecuritySetting into policies selecting the
//! Service's workloads there. Without the Service nothing is generated and the CR says why; a
//! Service created later makes the policies appear, deleting it makes them go.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use serde_json::{Value, json};

use crate::agent::flux_apply;
use crate::crds::{dynamic_api, install_crds};
use crate::distribute::{create_namespace, delete_namespace, hierarchy};
use crate::restart::{Stream, api_apply};
use crate::support::cluster::Cluster;
use crate::support::mp::{Mp, register_cluster, start_agent};
use crate::support::random_suffix;
use crate::support::wait::eventually;
use tsbridge::proto::v1;

const WAIT: Duration = Duration::from_secs(60);

/// The AuthorizationPolicies of `ns` generated from `fqn`: name → spec.
async fn policies_of(client: &Client, ns: &str, fqn: &str) -> BTreeMap<String, Value> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("security.istio.io", "v1", "AuthorizationPolicy"),
            "authorizationpolicies",
        ),
    );
    api.list(&ListParams::default())
        .await
        .expect("listing AuthorizationPolicies")
        .items
        .into_iter()
        .filter(|o| {
            o.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("tsbridge.io/owner-fqn"))
                .is_some_and(|owner| owner == fqn)
        })
        .map(|o| {
            (
                o.metadata.name.clone().unwrap_or_default(),
                o.data["spec"].clone(),
            )
        })
        .collect()
}

/// The CR's status `analysis` messages.
async fn analysis(client: &Client, ns: &str, object: &Value) -> Vec<String> {
    let name = object["metadata"]["name"].as_str().expect("name");
    let live = dynamic_api(client, ns, object)
        .get(name)
        .await
        .expect("the CR");
    live.data["status"]["analysis"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["message"].as_str().map(String::from))
        .collect()
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn a_service_security_setting_selects_the_workloads_of_the_service_the_agent_reports() {
    let suffix = random_suffix();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    let kube = Cluster::attach("cluster-a");
    let client = kube.client().await;
    install_crds(&client).await;
    let cluster = format!("cluster-a-{suffix}");
    register_cluster(&mut api, &cluster, "organizations/acme").await;
    let config_ns = format!("inv-{suffix}-config");
    let app = format!("inv-{suffix}-app");
    create_namespace(&client, &config_ns).await;
    create_namespace(&client, &app).await;
    let (_agent, _) = start_agent(&mp, &kube, &cluster, &config_ns, &[]);

    let tenant = format!("t-{suffix}");
    let setting = json!({
        "apiVersion": "security.tsb.tetrate.io/v2", "kind": "ServiceSecuritySetting",
        "metadata": {"name": "details", "annotations": {
            "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant,
            "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/securityGroup": "sg"}},
        "spec": {"service": format!("{app}/details.{app}.svc.cluster.local"),
                 "settings": {"authorization": {"mode": "NAMESPACE"}}}
    });
    let fqn = format!(
        "organizations/acme/tenants/{tenant}/workspaces/ws/securitygroups/sg/servicesettings/details"
    );
    for object in hierarchy(&tenant, &[format!("*/{app}")])
        .iter()
        .chain([&setting])
    {
        flux_apply(&client, &config_ns, object).await;
    }

    // No Service yet: nothing for it, and its status names the service and the cluster.
    let expected_warning =
        format!("{app}/details.{app}.svc.cluster.local is not a Service of cluster {cluster}");
    eventually("the CR to name the missing service", WAIT, || async {
        analysis(&client, &config_ns, &setting)
            .await
            .iter()
            .any(|m| m.contains(&expected_warning))
            .then_some(())
    })
    .await;
    assert!(policies_of(&client, &app, &fqn).await.is_empty());
    // The MP's status view says it too.
    let status = api
        .status
        .get_status(v1::GetStatusRequest { fqn: fqn.clone() })
        .await
        .expect("the MP status")
        .into_inner();
    assert!(
        status
            .translation_warnings
            .iter()
            .any(|w| w.rule == "TSB1106" && w.message.contains(&expected_warning)),
        "{status:?}"
    );

    // The Service appears: the policies select its workloads.
    let services: Api<Service> = Api::namespaced(client.clone(), &app);
    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": "details"},
        "spec": {"selector": {"app": "details", "version": "v1"},
                 "ports": [{"name": "http", "port": 9080, "protocol": "TCP", "appProtocol": "http"}]}
    }))
    .expect("a Service");
    services
        .create(&Default::default(), &service)
        .await
        .expect("creating the Service");
    let selector = json!({"matchLabels": {"app": "details", "version": "v1"}});
    let policies = eventually(
        "the policies to select the Service's pods",
        WAIT,
        || async {
            let policies = policies_of(&client, &app, &fqn).await;
            (policies.len() == 2).then_some(policies)
        },
    )
    .await;
    for spec in policies.values() {
        assert_eq!(spec["selector"], selector, "{spec}");
        assert!(
            spec["rules"]
                .as_array()
                .into_iter()
                .flatten()
                .all(|r| r.get("to").is_none()),
            "keyed on workloads, not hosts: {spec}"
        );
    }
    let actions: Vec<&Value> = policies.values().map(|s| &s["action"]).collect();
    assert!(
        actions.contains(&&json!("ALLOW")) && actions.contains(&&json!("DENY")),
        "{policies:?}"
    );
    eventually("the warning to leave the CR", WAIT, || async {
        (!analysis(&client, &config_ns, &setting)
            .await
            .iter()
            .any(|m| m.contains(&expected_warning)))
        .then_some(())
    })
    .await;

    // The Service goes: so do the policies (never a namespace-wide one instead).
    services
        .delete("details", &DeleteParams::default())
        .await
        .expect("deleting the Service");
    eventually("the policies to go with the Service", WAIT, || async {
        policies_of(&client, &app, &fqn)
            .await
            .is_empty()
            .then_some(())
    })
    .await;

    delete_namespace(&client, &app).await;
    delete_namespace(&client, &config_ns).await;
}

/// The MP side on the wire: a stream whose agent reports Services gets no distribution before
/// its complete Service list (a full one that is not complete is ignored); then Service
/// changes alone add and remove the service's policies. An older agent, which reports none,
/// is distributed to on its namespaces alone, without the service's policies.
#[tokio::test]
async fn the_mp_distributes_on_complete_service_lists_and_follows_their_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    register_cluster(&mut api, "eu", "organizations/acme").await;
    let setting = json!({
        "apiVersion": "security.tsb.tetrate.io/v2", "kind": "ServiceSecuritySetting",
        "metadata": {"name": "details", "annotations": {
            "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "inv",
            "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/securityGroup": "sg"}},
        "spec": {"service": "app/details.app.svc.cluster.local",
                 "settings": {"authorization": {"mode": "NAMESPACE"}}}
    });
    let mut objects = hierarchy("inv", &["*/app".to_string()]);
    // Timeouts: a VirtualService for each HTTP Service without a ServiceRoute.
    for object in &mut objects {
        if object["kind"] == "TrafficSetting" {
            object["spec"]["resilience"]["httpRequestTimeout"] = json!("2s");
        }
    }
    for object in objects.iter().chain([&setting]) {
        api_apply(&api, object).await;
    }
    let namespaces = v1::agent_message::Message::Namespaces(v1::NamespaceInventory {
        full: true,
        complete: true,
        upserts: vec![v1::Namespace {
            name: "app".into(),
            labels: Default::default(),
        }],
        removed: Vec::new(),
    });
    let details = v1::Service {
        name: "details".into(),
        namespace: "app".into(),
        selector: [("app".to_string(), "details".to_string())].into(),
        ports: vec![v1::ServicePort {
            name: "http".into(),
            port: 9080,
            protocol: "TCP".into(),
            app_protocol: String::new(),
        }],
    };
    let services = |full: bool, complete: bool, upserts: Vec<v1::Service>, removed: &[&str]| {
        v1::agent_message::Message::Services(v1::ServiceInventory {
            full,
            complete,
            upserts,
            removed: removed.iter().map(ToString::to_string).collect(),
        })
    };
    let of_kind = |deltas: &[v1::Delta], kind: &str| -> Vec<v1::DesiredObject> {
        deltas
            .iter()
            .flat_map(|d| &d.upserts)
            .filter(|o| o.key.as_ref().is_some_and(|k| k.kind == kind))
            .cloned()
            .collect()
    };
    let policies = |deltas: &[v1::Delta]| of_kind(deltas, "AuthorizationPolicy");

    let mut stream = Stream::open_with(
        &mp,
        v1::Hello {
            cluster: "eu".into(),
            reports_services: true,
            ..Default::default()
        },
    )
    .await;
    stream.send(namespaces.clone()).await;
    stream
        .send(services(true, false, vec![details.clone()], &[]))
        .await;
    let early = stream.deltas(Duration::from_secs(2)).await;
    assert!(
        early.is_empty(),
        "sent before the Service list was complete: {early:?}"
    );

    // Complete, without the Service: the rest goes out, nothing for the service.
    stream.send(services(true, true, Vec::new(), &[])).await;
    let deltas = stream.deltas(Duration::from_secs(3)).await;
    assert!(deltas.first().is_some_and(|d| d.full), "{deltas:?}");
    assert!(
        deltas.iter().flat_map(|d| &d.upserts).any(|o| o
            .key
            .as_ref()
            .is_some_and(|k| k.kind == "PeerAuthentication")),
        "{deltas:?}"
    );
    assert!(policies(&deltas).is_empty(), "{deltas:?}");
    assert!(of_kind(&deltas, "VirtualService").is_empty(), "{deltas:?}");

    // The Service appears: its policies, selecting its pods, and its timeouts.
    stream
        .send(services(false, false, vec![details], &[]))
        .await;
    let deltas = stream.deltas(Duration::from_secs(3)).await;
    let added = policies(&deltas);
    assert_eq!(added.len(), 2, "{deltas:?}");
    let routes = of_kind(&deltas, "VirtualService");
    assert_eq!(routes.len(), 1, "{deltas:?}");
    let route: Value = serde_json::from_str(&routes[0].object_json).expect("JSON");
    assert_eq!(route["spec"]["http"][0]["timeout"], "2s");
    for policy in &added {
        let object: Value = serde_json::from_str(&policy.object_json).expect("JSON");
        assert_eq!(
            object["spec"]["selector"],
            json!({"matchLabels": {"app": "details"}})
        );
    }

    // It goes: so do they.
    stream
        .send(services(false, false, Vec::new(), &["app/details"]))
        .await;
    let deltas = stream.deltas(Duration::from_secs(3)).await;
    let removed: Vec<&v1::ObjectKey> = deltas.iter().flat_map(|d| &d.removals).collect();
    assert_eq!(removed.len(), 3, "{deltas:?}");
    assert!(
        removed
            .iter()
            .all(|k| k.kind == "AuthorizationPolicy" || k.kind == "VirtualService")
    );

    // An older agent: distributed to on its namespaces, no Service known.
    let mut old = Stream::open_with(
        &mp,
        v1::Hello {
            cluster: "eu".into(),
            ..Default::default()
        },
    )
    .await;
    drop(stream);
    old.send(namespaces).await;
    let deltas = old.deltas(Duration::from_secs(3)).await;
    assert!(deltas.first().is_some_and(|d| d.full), "{deltas:?}");
    assert!(policies(&deltas).is_empty(), "{deltas:?}");
}
