//! Propagation latency across three real control planes: a TrafficSetting changed in cluster-a
//! (server-side apply, as Flux does it) until the Sidecar it generates has changed in both
//! cluster-b and cluster-c. 200 changes on a small hierarchy, then 200 more with N extra
//! ServiceRoutes (default 10,000; `TSBRIDGE_BENCH_OBJECTS`) already distributed.
//!
//! Run: `cargo bench --bench propagation` (needs the realk8s binaries: `source tests/setup.sh`).

#[allow(unused_imports)]
#[path = "../it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::api::{Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tsbridge::proto::v1;

use support::cluster::Cluster;
use support::mp::{Mp, free_port, service_route};
use support::process::ChildProcess;

const CHANGES: usize = 200;

fn sidecars(client: &kube::Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", "Sidecar");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "sidecars"),
    )
}

async fn apply(client: &kube::Client, ns: &str, object: &Value) {
    let (group, version) = object["apiVersion"]
        .as_str()
        .unwrap()
        .split_once('/')
        .unwrap();
    let kind = object["kind"].as_str().unwrap();
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns, &ApiResource::from_gvk(&gvk));
    api.patch(
        object["metadata"]["name"].as_str().unwrap(),
        &PatchParams::apply("kustomize-controller").force(),
        &Patch::Apply(object),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {kind}: {e}"));
}

async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    let _ = api.create(&Default::default(), &ns).await;
}

fn setting(tenant: &str, marker: usize) -> Value {
    json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "TrafficSetting",
           "metadata": {"name": "ts", "annotations": {
               "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant,
               "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/trafficGroup": "tg"}},
           "spec": {"reachability": {"mode": "CUSTOM", "hosts": [format!("marker-{marker}/*")]}}})
}

/// Sends (cluster index, time, egress hosts) for every Sidecar event in `ns` of each cluster.
fn watch_sidecars(
    clients: &[kube::Client],
    ns: &str,
) -> mpsc::UnboundedReceiver<(usize, Instant, String)> {
    let (tx, rx) = mpsc::unbounded_channel();
    for (index, client) in clients.iter().enumerate() {
        let api = sidecars(client, ns);
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(watcher(api, watcher::Config::default()));
            while let Some(event) = stream.next().await {
                if let Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) = event {
                    let hosts = o.data["spec"]["egress"].to_string();
                    let _ = tx.send((index, Instant::now(), hosts));
                }
            }
        });
    }
    rx
}

async fn measure(
    client_a: &kube::Client,
    config_ns: &str,
    tenant: &str,
    events: &mut mpsc::UnboundedReceiver<(usize, Instant, String)>,
    first_marker: usize,
) -> Vec<Duration> {
    let mut samples = Vec::new();
    for marker in first_marker..first_marker + CHANGES {
        let needle = format!("marker-{marker}/*");
        let started = Instant::now();
        apply(client_a, config_ns, &setting(tenant, marker)).await;
        let mut seen = [None, None];
        while seen.iter().any(Option::is_none) {
            let (index, at, hosts) = tokio::time::timeout(Duration::from_secs(60), events.recv())
                .await
                .expect("a Sidecar change within 60 s")
                .expect("watch open");
            if hosts.contains(&needle) {
                seen[index] = Some(at);
            }
        }
        let last = seen.iter().flatten().max().copied().expect("both");
        samples.push(last.duration_since(started));
    }
    samples.sort();
    samples
}

fn report(label: &str, samples: &[Duration]) {
    let p = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)];
    println!(
        "{label}: {} changes, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        p(50).as_secs_f64() * 1e3,
        p(99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let objects: usize = std::env::var("TSBRIDGE_BENCH_OBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let suffix = support::random_suffix();
    let clusters: Vec<Cluster> = ["cluster-a", "cluster-b", "cluster-c"]
        .iter()
        .map(|c| Cluster::attach(c))
        .collect();
    let mut clients = Vec::new();
    for cluster in &clusters {
        clients.push(cluster.client().await);
    }
    // Every cluster with an agent has the chart's CRDs.
    for client in &clients {
        support::cluster::install_crds(client).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    let config_ns = format!("bench-{suffix}-config");
    let app_ns = format!("bench-{suffix}");
    namespace(&clients[0], &config_ns).await;
    namespace(&clients[1], &app_ns).await;
    namespace(&clients[2], &app_ns).await;
    let mut agents: Vec<ChildProcess> = Vec::new();
    for (index, cluster) in clusters.iter().enumerate() {
        let name = format!("{}-{suffix}", cluster.name);
        api.clusters
            .create_cluster(v1::CreateClusterRequest { name: name.clone() })
            .await
            .unwrap();
        api.clusters
            .grant(v1::GrantRequest {
                cluster: name.clone(),
                scope: "organizations/acme".into(),
            })
            .await
            .unwrap();
        let admin = format!("127.0.0.1:{}", free_port());
        let args = [
            "agent",
            "--cluster",
            &name,
            "--server",
            &mp.url,
            "--insecure",
            "--token-file",
            mp.token_file.to_str().unwrap(),
            "--kubeconfig",
            cluster.kubeconfig.to_str().unwrap(),
            "--watch-namespace",
            &config_ns,
            "--lease-namespace",
            "default",
            "--lease-name",
            &format!("bench-{name}"),
            "--admin-listen",
            &admin,
        ];
        agents.push(ChildProcess::tsbridge(
            args,
            &[("TSBRIDGE_LOG_LEVEL", "warn")],
        ));
        let _ = index;
    }
    let tenant = format!("t-{suffix}");
    let base = [
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Tenant",
               "metadata": {"name": tenant, "annotations": {"tsb.tetrate.io/organization": "acme"}},
               "spec": {}}),
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
               "metadata": {"name": "ws", "annotations": {"tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant}},
               "spec": {"namespaceSelector": {"names": [format!("*/{app_ns}")]}}}),
        json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
               "metadata": {"name": "tg", "annotations": {"tsb.tetrate.io/organization": "acme",
                   "tsb.tetrate.io/tenant": tenant, "tsb.tetrate.io/workspace": "ws"}},
               "spec": {"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/*"]}}}),
    ];
    for object in &base {
        apply(&clients[0], &config_ns, object).await;
    }
    let mut events = watch_sidecars(&clients[1..], &app_ns);
    // Warm-up: the first Sidecar exists everywhere.
    let warm = measure(&clients[0], &config_ns, &tenant, &mut events, 0).await;
    drop(warm);
    let small = measure(&clients[0], &config_ns, &tenant, &mut events, 1000).await;
    report("small hierarchy", &small);

    // Preload: N ServiceRoutes in the same group, through the API, all distributed to b and c.
    let group = format!("organizations/acme/tenants/{tenant}/workspaces/ws/trafficgroups/tg");
    let started = Instant::now();
    let mut writers = Vec::new();
    let per = objects.div_ceil(8);
    for w in 0..8 {
        let mut api = mp.clients(&mp.token).await;
        let group = group.clone();
        let app_ns = app_ns.clone();
        writers.push(tokio::spawn(async move {
            for k in (w * per)..((w + 1) * per).min(objects) {
                let request = service_route(&group, &app_ns, k);
                api.config.apply(request).await.expect("service route");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    println!(
        "preloaded {objects} ServiceRoutes through the API in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Both kinds each ServiceRoute generates, so no backlog is left when measuring starts.
    let kinds = [
        ("VirtualService", "virtualservices"),
        ("DestinationRule", "destinationrules"),
    ];
    for (client, (kind, plural)) in clients[1..]
        .iter()
        .flat_map(|c| kinds.iter().map(move |k| (c, *k)))
    {
        let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", kind);
        let api: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            &app_ns,
            &ApiResource::from_gvk_with_plural(&gvk, plural),
        );
        loop {
            let count = api
                .list_metadata(&ListParams::default().labels("tsbridge.io/managed-by=tsbridge"))
                .await
                .map(|l| l.items.len())
                .unwrap_or(0);
            if count >= objects {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    println!(
        "distributed to cluster-b and cluster-c after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Let the watches of b and c deliver the last of those 40,000 writes: steady state.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let loaded = measure(&clients[0], &config_ns, &tenant, &mut events, 5000).await;
    report(&format!("with {objects} objects distributed"), &loaded);

    drop(agents);
    for (index, ns) in [(0, &config_ns), (1, &app_ns), (2, &app_ns)] {
        let api: Api<Namespace> = Api::all(clients[index].clone());
        let _ = api.delete(ns, &DeleteParams::default()).await;
    }
}
