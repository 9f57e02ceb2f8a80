//! Delivery ledger queries on a million rows: what `ctl history`, `ctl deliveries`,
//! `ctl report` and `ctl audit --cluster` ask of the store, on SQLite and on PostgreSQL.
//!
//! Run: `cargo bench --bench ledger` (`TSBRIDGE_BENCH_LEDGER_ROWS` changes the size). The
//! ledger is 1,000 objects with 10 changes each, every change delivered to 100 clusters
//! over a week: 2 % failed (five reasons), 1 % drift reverted, the rest applied. Each query
//! runs five times; the median is printed.

// The test fixture's private PostgreSQL, shared with `tests/it` rather than duplicated.
#[allow(dead_code)]
#[path = "../it/support/process.rs"]
mod process;

#[allow(dead_code)]
#[path = "../it/support/postgres.rs"]
mod postgres;

use std::time::{Duration, Instant};

use tsbridge::store::{
    AuditQuery, LedgerEntry, LedgerQuery, Outcome, Record, ReportQuery, Store, WriteBatch,
};

const OBJECTS: usize = 1_000;
const CHANGES: usize = 10;
const CLUSTERS: usize = 100;
const WEEK_US: i64 = 7 * 86_400_000_000;

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let rows: usize = std::env::var("TSBRIDGE_BENCH_LEDGER_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OBJECTS * CHANGES * CLUSTERS);
    let dir = tempfile::Builder::new()
        .prefix("tsbridge-bench-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let sqlite = format!("sqlite:{}", dir.path().join("ledger.db").display());
    measure("sqlite", &Store::connect(&sqlite).await?, rows).await?;
    let cluster = postgres::Postgres::start();
    measure("postgres", &Store::connect(&cluster.url).await?, rows).await?;
    Ok(())
}

fn fqn(object: usize) -> String {
    format!(
        "organizations/acme/tenants/t{}/workspaces/w{object}",
        object % 10
    )
}

fn record(object: usize, change: usize) -> Record {
    Record {
        fqn: fqn(object),
        kind: "Workspace.tsb.tetrate.io".into(),
        api_version: "tsb.tetrate.io/v2".into(),
        name: format!("w{object}"),
        parent_fqn: Some(format!("organizations/acme/tenants/t{}", object % 10)),
        namespace: None,
        spec: serde_json::json!({"namespaceSelector": {"names": [format!("*/ns{change}")]}}),
        labels: Default::default(),
        annotations: Default::default(),
        origin: serde_json::json!({"cluster": "c0", "namespace": "config", "name": format!("w{object}")}),
        // Every third change goes back to the first content: a rollback.
        content_hash: format!(
            "sha256:{object}-{}",
            if change % 3 == 2 { 0 } else { change }
        ),
        etag: String::new(),
        revision: 0,
    }
}

async fn measure(name: &str, store: &Store, rows: usize) -> anyhow::Result<()> {
    // The revision log: each round changes every object once.
    let mut revisions: Vec<Vec<i64>> = vec![Vec::new(); OBJECTS];
    for change in 0..CHANGES {
        let batch = WriteBatch {
            upserts: (0..OBJECTS).map(|o| record(o, change)).collect(),
            ..WriteBatch::default()
        };
        let committed = store.commit(batch).await?;
        for (object, record) in committed.upserted.iter().enumerate() {
            revisions[object].push(record.revision);
        }
    }
    let now = jiff::Timestamp::now().as_microsecond();
    let per_change = CLUSTERS;
    let changes = rows.div_ceil(per_change);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(5_000);
    let mut written = 0usize;
    for n in 0..changes {
        let (object, change) = (n % OBJECTS, (n / OBJECTS) % CHANGES);
        let acked = now - WEEK_US + (WEEK_US / changes as i64) * n as i64;
        for cluster in 0..per_change {
            let (outcome, message) = match (n * per_change + cluster) % 100 {
                0 | 1 => (
                    Outcome::Failed,
                    format!("admission webhook denied it (reason {})", cluster % 5),
                ),
                2 => (
                    Outcome::Reverted,
                    "VirtualService app/r was changed".to_string(),
                ),
                _ => (Outcome::Applied, String::new()),
            };
            batch.push(LedgerEntry {
                id: 0,
                fqn: fqn(object),
                cluster: format!("c{cluster}"),
                revision: revisions[object][change],
                change: revisions[object][change],
                outcome,
                message,
                rollback: false,
                committed_us: 0,
                sent_us: acked - 40_000,
                acked_us: acked + (cluster as i64) * 1_000,
            });
        }
        if batch.len() >= 5_000 {
            written += batch.len();
            store.append_ledger(std::mem::take(&mut batch)).await?;
        }
    }
    written += batch.len();
    store.append_ledger(batch).await?;
    let fill = started.elapsed();
    println!(
        "{name}: {written} ledger rows appended in {:.1} s ({:.0} rows/s)",
        fill.as_secs_f64(),
        written as f64 / fill.as_secs_f64()
    );

    let week = (
        jiff::Timestamp::from_microsecond(now - WEEK_US)?.to_string(),
        jiff::Timestamp::from_microsecond(now + 3_600_000_000)?.to_string(),
    );
    let object = fqn(7);
    time(
        name,
        "history (changes + rows + audit of one object)",
        || async {
            store.object_changes(&object).await?;
            let by_fqn = LedgerQuery {
                fqn: object.clone(),
                limit: 10_000,
                ..LedgerQuery::default()
            };
            store.query_ledger(&by_fqn).await?;
            let audit = AuditQuery {
                fqn_prefix: object.clone(),
                ..AuditQuery::default()
            };
            store.query_audit(&audit).await?;
            Ok(())
        },
    )
    .await?;
    time(name, "deliveries: one cluster, a page of 1,000", || async {
        let query = LedgerQuery {
            cluster: "c42".into(),
            ..LedgerQuery::default()
        };
        store.query_ledger(&query).await?;
        Ok(())
    })
    .await?;
    time(name, "deliveries: failed under a tenant, 1,000", || async {
        let query = LedgerQuery {
            fqn_prefix: "organizations/acme/tenants/t3".into(),
            outcome: Some(Outcome::Failed),
            ..LedgerQuery::default()
        };
        store.query_ledger(&query).await?;
        Ok(())
    })
    .await?;
    time(name, "report: the organization, one week", || async {
        let query = ReportQuery {
            fqn_prefix: "organizations/acme".into(),
            since: week.0.clone(),
            until: week.1.clone(),
        };
        let report = store.ledger_report(&query).await?;
        anyhow::ensure!(
            report.len() == CLUSTERS.min(rows),
            "{} clusters",
            report.len()
        );
        Ok(())
    })
    .await?;
    time(name, "report: one workspace, one week", || async {
        let query = ReportQuery {
            fqn_prefix: object.clone(),
            since: week.0.clone(),
            until: week.1.clone(),
        };
        store.ledger_report(&query).await?;
        Ok(())
    })
    .await?;
    time(
        name,
        "audit --cluster (target), a page of 1,000",
        || async {
            let query = AuditQuery {
                target_cluster: "c42".into(),
                ..AuditQuery::default()
            };
            store.query_audit(&query).await?;
            Ok(())
        },
    )
    .await?;
    let pruned = Instant::now();
    let deleted = store
        .prune_ledger(Some(now - WEEK_US / 2), i64::MAX)
        .await?;
    println!(
        "{name}: retention deleted {deleted} rows (half a week) in {:.1} s",
        pruned.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs `query` five times; prints the median.
async fn time<F, Fut>(store: &str, what: &str, mut query: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut took: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        query().await?;
        took.push(started.elapsed());
    }
    took.sort();
    println!("{store}: {what}: {:.1} ms", took[2].as_secs_f64() * 1_000.0);
    Ok(())
}
