//! Store commit throughput: single-object upsert batches (~1 KB spec), sequential and with 8
//! concurrent writers, on SQLite and on a private PostgreSQL cluster.
//!
//! Run: `cargo bench --bench store`. PostgreSQL runs twice, on a private cluster started as the
//! test fixture starts it: with the fixture's settings (`fsync=off`, `full_page_writes=off`)
//! and with PostgreSQL's durable defaults. Its data directory is on the temp dir's disk.
//! SQLite runs with the store's own settings (WAL, `synchronous=NORMAL`) in the target dir,
//! on disk rather than a tmpfs.

// The test fixture's private PostgreSQL, shared with `tests/it` rather than duplicated.
#[allow(dead_code)]
#[path = "../it/support/process.rs"]
mod process;

#[allow(dead_code)]
#[path = "../it/support/postgres.rs"]
mod postgres;

use std::time::Instant;

use sqlx::Connection;
use tsbridge::store::{Record, Store, WriteBatch};

/// Commits of the sequential run.
const SEQUENTIAL: usize = 4_000;
/// Concurrent writers, and commits each.
const WRITERS: usize = 8;
const PER_WRITER: usize = 750;
/// Distinct objects each writer cycles through: later commits replace earlier ones.
const OBJECTS: usize = 500;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    println!(
        "{:<28} {:>8} {:>9} {:>10}",
        "store / writers", "commits", "seconds", "commits/s"
    );

    let dir = tempfile::Builder::new()
        .prefix("tsbridge-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let sqlite_url = format!("sqlite:{}", dir.path().join("bench.db").display());
    measure("sqlite", &Store::connect(&sqlite_url).await?).await?;

    let cluster = postgres::Postgres::start();
    let store = Store::connect(&cluster.url).await?;
    measure("postgres (fsync=off)", &store).await?;
    drop((store, cluster));

    // PostgreSQL's durable defaults (fsync, synchronous_commit, full_page_writes on).
    let cluster = postgres::Postgres::start_with(&["max_connections=200"]);
    let store = Store::connect(&cluster.url).await?;
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut sqlx::PgConnection::connect(&cluster.url).await?)
        .await?;
    anyhow::ensure!(fsync == "on", "fsync is {fsync}");
    measure("postgres (durable)", &store).await?;
    Ok(())
}

/// Sequential, then concurrent commits on `store`, printed.
async fn measure(name: &str, store: &Store) -> anyhow::Result<()> {
    // Warm up: connections, statement caches, the first pages.
    for i in 0..100 {
        store.commit(batch(99, i)).await?;
    }

    let start = Instant::now();
    for i in 0..SEQUENTIAL {
        store.commit(batch(0, i)).await?;
    }
    report(&format!("{name} / 1"), SEQUENTIAL, start);

    let start = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 1..=WRITERS {
        let store = store.clone();
        writers.spawn(async move {
            for i in 0..PER_WRITER {
                store.commit(batch(writer, i)).await?;
            }
            anyhow::Ok(())
        });
    }
    for result in writers.join_all().await {
        result?;
    }
    report(&format!("{name} / {WRITERS}"), WRITERS * PER_WRITER, start);
    Ok(())
}

fn report(label: &str, commits: usize, start: Instant) {
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{label:<28} {commits:>8} {seconds:>9.2} {:>10.0}",
        commits as f64 / seconds
    );
}

/// One upsert of a workspace with a ~1 KB spec.
fn batch(writer: usize, i: usize) -> WriteBatch {
    let name = format!("w{}", i % OBJECTS);
    let tenant = format!("organizations/acme/tenants/t{writer}");
    let fqn = format!("{tenant}/workspaces/{name}");
    let spec = serde_json::json!({
        "displayName": format!("Workspace {name}"),
        "description": "Payments workspace: checkout, ledger and settlement services. ".repeat(8),
        "namespaceSelector": {
            "names": ["*/checkout", "*/ledger", "*/settlement", "cluster-a/payments-edge"],
        },
        "deletionProtectionEnabled": true,
        "configGenerationMetadata": {
            "labels": { "team": "payments", "tier": "critical" },
            "annotations": { "owner": "payments-oncall@example.com" },
        },
        "privileged": false,
        "revision": i,
    });
    let record = Record {
        fqn,
        kind: "Workspace.tsb.tetrate.io".to_string(),
        api_version: "tsb.tetrate.io/v2".to_string(),
        name,
        parent_fqn: Some(tenant),
        namespace: None,
        spec,
        labels: [("team".to_string(), "payments".to_string())].into(),
        annotations: Default::default(),
        origin: serde_json::json!({
            "cluster": "c1", "namespace": "gitops", "name": "payments", "generation": i,
        }),
        content_hash: format!("sha256:{writer:04}{i:060}"),
        etag: String::new(),
        revision: 0,
    };
    WriteBatch {
        upserts: vec![record],
        ..WriteBatch::default()
    }
}
