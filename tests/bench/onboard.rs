//! Onboarding throughput: N ServiceRoutes written through the API until both agent clusters
//! hold every VirtualService and DestinationRule they generate (2N objects per cluster),
//! against the floor: the same objects applied server-side straight to the same apiservers at
//! the agent's apply concurrency. Sizes: 2,000 and 10,000 (`TSBRIDGE_BENCH_OBJECTS`: one size
//! or a comma-separated list). Exits non-zero when tsbridge takes over 1.5× the floor.
//!
//! Runs on its own control planes `onboard-b` and `onboard-c` (started if needed; stop them with
//! `REALK8S_NAME=onboard-b tests/realk8s.sh down`).
//!
//! Run: `cargo bench --bench onboard` (needs the realk8s binaries: `source tests/setup.sh`).

#[allow(unused_imports)]
#[path = "../it/support/mod.rs"]
mod support;

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::api::{Patch, PatchParams, ValidationDirective};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use tsbridge::agent::applier::{APPLY_CONCURRENCY, FIELD_MANAGER};
use tsbridge::model::resolve::ClusterNamespaces;
use tsbridge::model::translate::{owned_by, translate_cluster};
use tsbridge::model::{Converted, KubeObject, Resource, convert, metadata::StripRules};
use tsbridge::proto::v1;

use support::cluster::Cluster;
use support::mp::{Mp, service_route};
use support::process::ChildProcess;

/// Most tsbridge may take, as a multiple of the floor.
const MAX_RATIO: f64 = 1.5;
/// Concurrent API writers of ServiceRoutes (as `tests/bench/propagation.rs`).
const WRITERS: usize = 8;
/// Longest a size may take to distribute before the bench gives up.
const GIVE_UP: Duration = Duration::from_secs(900);
const CLUSTERS: [&str; 2] = ["onboard-b", "onboard-c"];
const KINDS: [(&str, &str); 2] = [
    ("VirtualService", "virtualservices"),
    ("DestinationRule", "destinationrules"),
];

fn istio(client: &kube::Client, ns: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

async fn namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    let _ = api.create(&Default::default(), &ns).await;
}

/// Deletes the Istio objects of `ns` in one call per kind, then the namespace.
async fn clean(client: &kube::Client, ns: &str) {
    for (kind, plural) in KINDS {
        let _ = istio(client, ns, kind, plural)
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await;
    }
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(ns, &DeleteParams::default()).await;
}

fn resource(object: Value) -> Resource {
    let object: KubeObject = serde_json::from_value(object).expect("a Kubernetes object");
    match convert(&object, &StripRules::default()) {
        Converted::Resource { resource, .. } => *resource,
        other => panic!("not a valid resource: {other:?}"),
    }
}

/// The objects tsbridge generates for `n` ServiceRoutes of the bench's hierarchy in `ns`, as
/// the agent of `cluster` applies them (same translation, same ownership labels).
fn generated(tenant: &str, ns: &str, n: usize, cluster: &str) -> Vec<Value> {
    // The hierarchy annotations of each level: organization, tenant, workspace, group.
    let placement = [
        ("tsb.tetrate.io/organization", "acme"),
        ("tsb.tetrate.io/tenant", tenant),
        ("tsb.tetrate.io/workspace", "ws"),
        ("tsb.tetrate.io/trafficGroup", "tg"),
    ];
    let object = |api_version: &str, kind: &str, name: &str, depth: usize, spec: Value| {
        let annotations: serde_json::Map<String, Value> = placement[..depth]
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        resource(json!({"apiVersion": api_version, "kind": kind,
                        "metadata": {"name": name, "annotations": annotations}, "spec": spec}))
    };
    let mut resources = vec![
        object("tsb.tetrate.io/v2", "Tenant", tenant, 1, json!({})),
        object(
            "tsb.tetrate.io/v2",
            "Workspace",
            "ws",
            2,
            json!({"namespaceSelector": {"names": [format!("*/{ns}")]}}),
        ),
        object(
            "traffic.tsb.tetrate.io/v2",
            "Group",
            "tg",
            3,
            json!({"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/*"]}}),
        ),
    ];
    for k in 0..n {
        resources.push(object(
            "traffic.tsb.tetrate.io/v2",
            "ServiceRoute",
            &format!("svc-{k}"),
            4,
            json!({"service": format!("{ns}/svc-{k}.{ns}.svc.cluster.local"),
                   "subsets": [{"name": "v1", "labels": {"version": "v1"}, "weight": 100}]}),
        ));
    }
    let inventory = ClusterNamespaces::new(cluster, BTreeSet::from([ns.to_string()]));
    let translation = translate_cluster(&inventory, &resources);
    assert!(translation.errors.is_empty(), "{:?}", translation.errors);
    let objects: Vec<Value> = translation
        .objects
        .values()
        .map(|g| owned_by(g.to_object(), cluster))
        .collect();
    assert_eq!(
        objects.len(),
        2 * n,
        "one VirtualService and one DestinationRule each"
    );
    objects
}

/// Server-side apply of `objects` at the agent's concurrency, as the agent does it.
async fn apply_all(client: &kube::Client, objects: Vec<Value>) {
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.field_validation = Some(ValidationDirective::Strict);
    let params = &params;
    futures::stream::iter(objects)
        .map(|object| async move {
            let kind = object["kind"].as_str().unwrap();
            let plural = KINDS.iter().find(|(k, _)| *k == kind).unwrap().1;
            let api = istio(
                client,
                object["metadata"]["namespace"].as_str().unwrap(),
                kind,
                plural,
            );
            let name = object["metadata"]["name"].as_str().unwrap().to_string();
            api.patch(&name, params, &Patch::Apply(&object))
                .await
                .unwrap_or_else(|e| panic!("apply {kind} {name}: {e}"));
        })
        .buffer_unordered(APPLY_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
}

/// The floor: every cluster gets its objects at once, each at the agent's concurrency.
async fn floor(clients: &[kube::Client], suffix: &str, n: usize) -> Duration {
    let ns = format!("onboard-floor-{suffix}-{n}");
    let tenant = format!("t-{suffix}-{n}");
    let mut work = Vec::new();
    for (client, cluster) in clients.iter().zip(CLUSTERS) {
        namespace(client, &ns).await;
        // Another ownership label than the agents', so their watches never see these.
        work.push((
            client,
            generated(&tenant, &ns, n, &format!("floor-{cluster}")),
        ));
    }
    let started = Instant::now();
    futures::future::join_all(
        work.into_iter()
            .map(|(client, objects)| apply_all(client, objects)),
    )
    .await;
    let took = started.elapsed();
    for client in clients {
        clean(client, &ns).await;
    }
    took
}

/// Per cluster, the (kind index, name) of every owned object its watches have seen.
type Seen = Arc<Mutex<Vec<HashSet<(usize, String)>>>>;

/// Counts, per cluster, the distinct owned objects of `ns` (both kinds) as watches see them.
fn count_owned(clients: &[kube::Client], ns: &str, names: &[String]) -> Seen {
    let seen = Arc::new(Mutex::new(vec![HashSet::new(); clients.len()]));
    for (index, (client, cluster)) in clients.iter().zip(names).enumerate() {
        for (kind_index, (kind, plural)) in KINDS.iter().enumerate() {
            let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", kind);
            // Metadata only: the count needs names, not bodies.
            let api: Api<PartialObjectMeta<DynamicObject>> = Api::namespaced_with(
                client.clone(),
                ns,
                &ApiResource::from_gvk_with_plural(&gvk, plural),
            );
            let config =
                watcher::Config::default().labels(&format!("tsbridge.io/cluster={cluster}"));
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut stream =
                    std::pin::pin!(watcher(api, config).default_backoff().applied_objects());
                while let Some(event) = stream.next().await {
                    if let Ok(object) = event {
                        let name = object.metadata.name.unwrap_or_default();
                        seen.lock().unwrap()[index].insert((kind_index, name));
                    }
                }
            });
        }
    }
    seen
}

/// Times one onboarding of `n` ServiceRoutes through tsbridge: (API writes done, all applied).
async fn tsbridge(
    clusters: &[Cluster],
    clients: &[kube::Client],
    suffix: &str,
    n: usize,
) -> (Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    let config_ns = format!("onboard-{suffix}-{n}-config");
    let app_ns = format!("onboard-{suffix}-{n}");
    for client in clients {
        namespace(client, &app_ns).await;
    }
    let mut names = Vec::new();
    let mut agents: Vec<ChildProcess> = Vec::new();
    for cluster in clusters {
        let name = format!("{}-{suffix}-{n}", cluster.name);
        support::mp::register_cluster(&mut api, &name, "organizations/acme").await;
        // Each batch the applier writes is logged (its size and time).
        let (agent, _) = support::mp::start_agent_logging(
            &mp,
            cluster,
            &name,
            &config_ns,
            &[],
            "tsbridge::agent::applier=info,warn",
        );
        agents.push(agent);
        names.push(name);
    }
    let tenant = format!("t-{suffix}-{n}");
    let org = "organizations/acme".to_string();
    let workspace = format!("{org}/tenants/{tenant}");
    let group = format!("{workspace}/workspaces/ws");
    let base = [
        (
            "tsb.tetrate.io/v2",
            "Tenant",
            tenant.as_str(),
            &org,
            json!({}),
        ),
        (
            "tsb.tetrate.io/v2",
            "Workspace",
            "ws",
            &workspace,
            json!({"namespaceSelector": {"names": [format!("*/{app_ns}")]}}),
        ),
        (
            "traffic.tsb.tetrate.io/v2",
            "Group",
            "tg",
            &group,
            json!({"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/*"]}}),
        ),
    ];
    for (api_version, kind, name, parent, spec) in base {
        api.config
            .apply(v1::ApplyRequest {
                resource: Some(v1::Resource {
                    api_version: api_version.into(),
                    kind: kind.into(),
                    name: name.into(),
                    parent_fqn: parent.clone(),
                    spec: Some(tsbridge::proto::convert::json_to_struct(&spec)),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    let group = format!("{group}/trafficgroups/tg");
    let seen = count_owned(clients, &app_ns, &names);
    let counts =
        |seen: &Seen| -> Vec<usize> { seen.lock().unwrap().iter().map(HashSet::len).collect() };
    // Warm-up: one route reaches both clusters, so agents are connected and idle.
    api.config
        .apply(service_route(&group, &app_ns, n))
        .await
        .expect("warm-up route");
    let waited = Instant::now();
    while counts(&seen).iter().any(|c| *c < 2) {
        assert!(
            waited.elapsed() < Duration::from_secs(120),
            "agents did not connect"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let started = Instant::now();
    let per = n.div_ceil(WRITERS);
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut api = mp.clients(&mp.token).await;
        let group = group.clone();
        let app_ns = app_ns.clone();
        writers.push(tokio::spawn(async move {
            for k in (w * per)..((w + 1) * per).min(n) {
                api.config
                    .apply(service_route(&group, &app_ns, k))
                    .await
                    .expect("service route");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    let written = started.elapsed();
    let mut last_report = Instant::now();
    loop {
        let now = counts(&seen);
        if now.iter().all(|c| *c >= 2 * (n + 1)) {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "  {n}: {now:?} of {} after {:.0} s",
                2 * (n + 1),
                started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        assert!(
            started.elapsed() < GIVE_UP,
            "not distributed within {GIVE_UP:?}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let distributed = started.elapsed();
    // `TSBRIDGE_BENCH_LOGS=DIR` keeps the logs (the agents log each applied batch's size and time).
    if let Ok(logs) = std::env::var("TSBRIDGE_BENCH_LOGS") {
        let processes = agents.iter().chain([&mp.process]);
        for (process, name) in processes.zip(["agent-b", "agent-c", "mp"]) {
            let _ = std::fs::copy(&process.log, format!("{logs}/onboard-{n}-{name}.log"));
        }
    }
    drop(agents);
    drop(mp);
    for client in clients {
        clean(client, &app_ns).await;
    }
    (written, distributed)
}

#[tokio::main]
async fn main() {
    rustls::crypto::ring::default_provider()
        .install_default()
        .ok();
    let sizes: Vec<usize> = std::env::var("TSBRIDGE_BENCH_OBJECTS")
        .unwrap_or_else(|_| "2000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("TSBRIDGE_BENCH_OBJECTS: numbers"))
        .collect();
    let clusters: Vec<Cluster> = CLUSTERS.iter().map(|c| Cluster::attach(c)).collect();
    let mut clients = Vec::new();
    for cluster in &clusters {
        let client = cluster.client().await;
        // Every cluster with an agent has the chart's CRDs.
        support::cluster::install_crds(&client).await;
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let suffix = support::random_suffix();
    let mut over = Vec::new();
    for n in sizes {
        let floor = floor(&clients, &suffix, n).await;
        let (written, took) = tsbridge(&clusters, &clients, &suffix, n).await;
        let ratio = took.as_secs_f64() / floor.as_secs_f64();
        println!(
            "{n} ServiceRoutes ({} objects per cluster, {} clusters): floor {:.1} s, tsbridge {:.1} s \
             (API writes done after {:.1} s), ratio {ratio:.2}",
            2 * n,
            clients.len(),
            floor.as_secs_f64(),
            took.as_secs_f64(),
            written.as_secs_f64(),
        );
        if ratio > MAX_RATIO {
            over.push(n);
        }
    }
    if !over.is_empty() {
        eprintln!("tsbridge took over {MAX_RATIO}× the floor for {over:?} ServiceRoutes");
        std::process::exit(1);
    }
}
