//! The web console's server-side render time with 10,000 objects and 100 clusters (1,000,000
//! edges): each page's data assembly (engine, distributor, store reads, scope filtering) and
//! its HTML, as its handler does them, timed in process over a SQLite store.
//!
//! Run: `cargo bench --bench console`.

use std::time::{Duration, Instant};

use tsbridge::model::Fqn;
use tsbridge::runtime::Shutdown;
use tsbridge::server::auth::{Actor, Role};
use tsbridge::server::ui::fixture::{self, Scale};
use tsbridge::server::ui::hierarchy::HierarchyQuery;
use tsbridge::server::ui::{activity, clusters, hierarchy, object};
use tsbridge::store::{AuditEntry, Store};

const SCALE: Scale = Scale {
    tenants: 10,
    objects: 10_000,
    clusters: 100,
};
const RUNS: usize = 20;
const AUDIT_ROWS: usize = 2_000;

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

async fn time<F, Fut>(name: &str, mut render: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut samples = Vec::with_capacity(RUNS);
    let mut bytes = 0;
    for _ in 0..RUNS {
        let started = Instant::now();
        bytes = render().await;
        samples.push(started.elapsed());
    }
    let (median, max) = stats(samples);
    println!(
        "| {name} | {:.1} | {:.1} | {} |",
        median.as_secs_f64() * 1000.0,
        max.as_secs_f64() * 1000.0,
        bytes / 1024
    );
    max
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::connect(&format!(
        "sqlite:{}",
        dir.path().join("console.db").display()
    ))
    .await
    .expect("store");
    let started = Instant::now();
    fixture::populate(&store, SCALE).await.expect("fixture");
    for i in 0..AUDIT_ROWS {
        store
            .append_audit(AuditEntry {
                time: tsbridge::server::engine::now(),
                actor: "user:bench".into(),
                operation: "apply".into(),
                fqn: fixture::route(&SCALE, i),
                kind: "ServiceRoute.traffic.tsb.tetrate.io".into(),
                outcome: "ok".into(),
                origin: serde_json::Value::Null,
                ..AuditEntry::default()
            })
            .await
            .expect("audit row");
    }
    eprintln!("stored in {:.1} s", started.elapsed().as_secs_f64());
    let shutdown = Shutdown::new();
    let console = fixture::console(store, SCALE, &shutdown).await;
    eprintln!("mirrored in {:.1} s", started.elapsed().as_secs_f64());
    let last = fixture::route(&SCALE, SCALE.objects - 1);
    assert_eq!(
        console.distributor.edges(&last).len(),
        SCALE.clusters,
        "the distributor mirrors every cluster's edges"
    );
    println!(
        "state: {} objects, {} clusters, {} edges, {AUDIT_ROWS} audit rows (built in {:.1} s)\n",
        SCALE.objects,
        SCALE.clusters,
        SCALE.objects * SCALE.clusters,
        started.elapsed().as_secs_f64()
    );
    let admin = Actor::User {
        subject: "root".into(),
        role: Role::Admin,
        scope: None,
    };
    let viewer = Actor::User {
        subject: "vera".into(),
        role: Role::Viewer,
        scope: Some("organizations/acme/tenants/t3".parse::<Fqn>().expect("fqn")),
    };
    println!("| page | median ms | max ms | KiB |");
    println!("|---|---|---|---|");
    let mut worst = Duration::ZERO;
    let list = |actor: &Actor, fqn: String, status: &str| {
        let (console, actor, status) = (console.clone(), actor.clone(), status.to_string());
        async move {
            let query = HierarchyQuery {
                fqn,
                status,
                ..HierarchyQuery::default()
            };
            let view = hierarchy::hierarchy(&console, &actor, query)
                .await
                .expect("hierarchy");
            hierarchy::render(&view).into_string().len()
        }
    };
    worst = worst.max(
        time("hierarchy: organization (10 tenants)", || {
            list(&admin, "organizations/acme".into(), "")
        })
        .await,
    );
    worst = worst.max(
        time("hierarchy: group of 1,000 objects, page 1", || {
            list(&admin, fixture::group(3), "")
        })
        .await,
    );
    worst = worst.max(
        time(
            "hierarchy: group of 1,000, status filter (every status)",
            || list(&admin, fixture::group(3), "FAILED"),
        )
        .await,
    );
    worst = worst.max(
        time("hierarchy: scoped viewer, its group", || {
            list(&viewer, fixture::group(3), "")
        })
        .await,
    );
    worst = worst.max(
        time("object (100 clusters)", || {
            let console = console.clone();
            let (admin, last) = (admin.clone(), last.clone());
            async move {
                let view = object::object(&console, &admin, &last)
                    .await
                    .expect("object");
                object::render(&view).into_string().len()
            }
        })
        .await,
    );
    for (name, actor) in [
        ("clusters (100, admin)", &admin),
        ("clusters (100, scoped viewer)", &viewer),
    ] {
        worst = worst.max(
            time(name, || {
                let (console, actor) = (console.clone(), actor.clone());
                async move {
                    let rows = clusters::clusters(&console, &actor)
                        .await
                        .expect("clusters");
                    clusters::render(&rows).into_string().len()
                }
            })
            .await,
        );
    }
    worst = worst.max(
        time("activity (100 rows)", || {
            let (console, admin) = (console.clone(), admin.clone());
            async move {
                let query = activity::ActivityQuery::default();
                let rows = activity::activity(&console, &admin, &query)
                    .await
                    .expect("activity");
                activity::render(&query, &rows).into_string().len()
            }
        })
        .await,
    );
    println!(
        "\nslowest render: {:.1} ms (budget 200 ms)",
        worst.as_secs_f64() * 1000.0
    );
    shutdown.begin();
    assert!(worst < Duration::from_millis(200), "a page took {worst:?}");
}
