//! Management-plane throughput through the real binary and gRPC: applies per second on SQLite
//! and on PostgreSQL (8 concurrent clients, each object a new tenant with a workspace, so every
//! write is validated against a growing hierarchy), and watch latency from an acknowledged write
//! to the event on a watch stream.
//!
//! Run: `cargo bench --bench mp`.

#[allow(unused_imports)]
#[path = "../it/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_stream::StreamExt;
use tsbridge::proto::convert::json_to_struct;
use tsbridge::proto::v1;

use support::mp::Mp;
use support::postgres::Postgres;

const CLIENTS: usize = 8;
const PER_CLIENT: usize = 250;
const WATCH_SAMPLES: usize = 200;

fn tenant(name: &str) -> v1::ApplyRequest {
    v1::ApplyRequest {
        resource: Some(v1::Resource {
            api_version: "tsb.tetrate.io/v2".into(),
            kind: "Tenant".into(),
            name: name.into(),
            parent_fqn: "organizations/acme".into(),
            spec: Some(json_to_struct(
                &json!({ "displayName": name, "description": "bench" }),
            )),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn workspace(tenant: &str) -> v1::ApplyRequest {
    v1::ApplyRequest {
        resource: Some(v1::Resource {
            api_version: "tsb.tetrate.io/v2".into(),
            kind: "Workspace".into(),
            name: "ws".into(),
            parent_fqn: format!("organizations/acme/tenants/{tenant}"),
            spec: Some(json_to_struct(
                &json!({ "namespaceSelector": { "names": [format!("*/{tenant}")] } }),
            )),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn applies_per_second(mp: &Mp) -> f64 {
    let started = Instant::now();
    let mut writers = Vec::new();
    for c in 0..CLIENTS {
        let mut api = mp.clients(&mp.token).await;
        writers.push(tokio::spawn(async move {
            for i in 0..PER_CLIENT / 2 {
                let name = format!("t-{c}-{i}");
                api.config
                    .apply(tenant(&name))
                    .await
                    .expect("tenant applies");
                api.config
                    .apply(workspace(&name))
                    .await
                    .expect("workspace applies");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    (CLIENTS * PER_CLIENT) as f64 / started.elapsed().as_secs_f64()
}

async fn watch_latency(mp: &Mp) -> (Duration, Duration) {
    let mut api = mp.clients(&mp.token).await;
    let from = api
        .config
        .list(v1::ListRequest::default())
        .await
        .expect("list")
        .into_inner()
        .revision;
    let mut events = api
        .config
        .watch(v1::WatchRequest {
            fqn_prefix: "organizations/acme".into(),
            from_revision: from,
        })
        .await
        .expect("watch")
        .into_inner();
    let mut samples = Vec::new();
    for i in 0..WATCH_SAMPLES {
        let name = format!("watched-{i}");
        let started = Instant::now();
        api.config.apply(tenant(&name)).await.expect("apply");
        loop {
            let event = events.next().await.expect("stream open").expect("event");
            if event.fqn.ends_with(&name) {
                break;
            }
        }
        samples.push(started.elapsed());
    }
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

async fn report(label: &str, mp: &Mp) {
    let rate = applies_per_second(mp).await;
    let (p50, p99) = watch_latency(mp).await;
    println!(
        "{label:<12} {rate:>8.0} applies/s ({} applies, {CLIENTS} clients)   apply→watch event p50 {:.2} ms  p99 {:.2} ms",
        CLIENTS * PER_CLIENT,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = format!("sqlite:{}", dir.path().join("bench.db").display());
        let mp = Mp::start(&sqlite, dir.path(), &["--log-level", "warn"]).await;
        report("sqlite", &mp).await;
        drop(mp);

        let pg = Postgres::start();
        let pg_dir = tempfile::tempdir().expect("temp dir");
        let mp = Mp::start(&pg.url, pg_dir.path(), &["--log-level", "warn"]).await;
        report("postgresql", &mp).await;
    });
}
