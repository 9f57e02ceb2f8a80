//! A console state of many objects and clusters, written straight into a store (no API round
//! trips), then loaded by a real engine and mirrored by a real distributor: the console's
//! benchmark (`cargo bench --bench console`) and its unit tests build their state with it.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::model::Kind;
use crate::model::validate::Organizations;
use crate::runtime::Shutdown;
use crate::server::auth::Authenticator;
use crate::server::distribute::Distributor;
use crate::server::engine::Engine;
use crate::server::ui::Console;
use crate::server::ui::nacks::NackLog;
use crate::store::{DeliveredObject, DeliveryWrite, EdgeRecord, Record, Store, WriteBatch};

/// The shape of the state.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    /// Tenants, each with workspace `ws` and traffic group `tg`.
    pub tenants: usize,
    /// ServiceRoutes in all, spread over the tenants' groups.
    pub objects: usize,
    /// Registered clusters, each holding an edge for every ServiceRoute.
    pub clusters: usize,
}

/// The FQN of tenant `t`'s traffic group.
pub fn group(t: usize) -> String {
    format!("organizations/acme/tenants/t{t}/workspaces/ws/trafficgroups/tg")
}

/// The FQN of ServiceRoute `k` (in tenant `k % tenants`).
pub fn route(scale: &Scale, k: usize) -> String {
    format!("{}/serviceroutes/svc-{k}", group(k % scale.tenants))
}

/// Cluster `c`'s name.
pub fn cluster(c: usize) -> String {
    format!("c{c:03}")
}

fn record(fqn: String, kind: Kind, parent: &str, spec: serde_json::Value) -> Record {
    let name = fqn.rsplit('/').next().unwrap_or_default().to_string();
    Record {
        fqn,
        kind: kind.qualified_name(),
        api_version: kind.api_version(),
        name,
        parent_fqn: Some(parent.to_string()),
        namespace: None,
        spec,
        labels: Default::default(),
        annotations: Default::default(),
        origin: serde_json::json!({"apiUser": "fixture"}),
        content_hash: String::new(),
        etag: String::new(),
        revision: 0,
    }
}

/// The edge state of ServiceRoute `k` in cluster `c`: mostly applied, some failed or pending.
pub fn state(k: usize, c: usize) -> &'static str {
    match (k + c) % 50 {
        0 => "ERRORED",
        1 => "UNKNOWN",
        _ => "APPLIED",
    }
}

/// Writes `scale` into `store`.
pub async fn populate(store: &Store, scale: Scale) -> Result<(), crate::store::Error> {
    let mut upserts = Vec::new();
    for t in 0..scale.tenants {
        let tenant = format!("organizations/acme/tenants/t{t}");
        let workspace = format!("{tenant}/workspaces/ws");
        upserts.push(record(
            tenant.clone(),
            Kind::Tenant,
            "organizations/acme",
            serde_json::json!({"displayName": format!("t{t}")}),
        ));
        upserts.push(record(
            workspace.clone(),
            Kind::Workspace,
            &tenant,
            serde_json::json!({"namespaceSelector": {"names": ["*/app"]}}),
        ));
        upserts.push(record(
            group(t),
            Kind::TrafficGroup,
            &workspace,
            serde_json::json!({"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/app"]}}),
        ));
    }
    for k in 0..scale.objects {
        upserts.push(record(
            route(&scale, k),
            Kind::ServiceRoute,
            &group(k % scale.tenants),
            serde_json::json!({"service": format!("app/svc-{k}.app.svc.cluster.local"),
                "subsets": [{"name": "v1", "labels": {"version": "v1"}, "weight": 100}]}),
        ));
    }
    store
        .commit(WriteBatch {
            upserts,
            ..WriteBatch::default()
        })
        .await?;
    // The replica the rows name is alive, as a serving replica says every few seconds.
    store
        .replica_alive("fixture", jiff::Timestamp::now().as_microsecond())
        .await?;
    for c in 0..scale.clusters {
        let name = cluster(c);
        store.create_cluster(&name).await?;
        let claimed = store.claim_cluster(&name, "fixture").await?;
        let edges = (0..scale.objects)
            .map(|k| EdgeRecord {
                cluster: name.clone(),
                source: route(&scale, k),
                state: Some(state(k, c).to_string()),
                revision: 1,
                objects: Some(vec![DeliveredObject {
                    api_version: "networking.istio.io/v1".into(),
                    kind: "VirtualService".into(),
                    namespace: "app".into(),
                    name: format!("svc-{k}"),
                    content_hash: String::new(),
                }]),
                seq: 0,
            })
            .collect();
        store
            .write_deliveries(&[DeliveryWrite {
                cluster: name,
                generation: claimed.generation,
                edges,
                acked_revision: Some(1),
                connected: Some(true),
                ..DeliveryWrite::default()
            }])
            .await?;
    }
    Ok(())
}

/// A console over `store` (already populated): a real engine, and a distributor that mirrors
/// the store's edges (waited for, up to five minutes). The caller keeps `shutdown` to stop it.
pub async fn console(store: Store, scale: Scale, shutdown: &Shutdown) -> Console {
    let engine = Engine::load(
        store.clone(),
        Organizations::Known(BTreeSet::from(["acme".to_string()])),
    )
    .await
    .expect("the engine loads the fixture");
    let distributor = Distributor::new(engine.clone());
    distributor.run(shutdown);
    let last = route(&scale, scale.objects.saturating_sub(1));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while scale.objects > 0
        && distributor.edges(&last).len() < scale.clusters
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Console {
        auth: Authenticator::new(store, "tsbridge.local".into()),
        engine,
        distributor,
        nacks: NackLog::default(),
        secure_cookie: false,
        shutdown: shutdown.clone(),
    }
}
