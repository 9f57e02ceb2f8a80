//! The store suite: every behaviour in `records.rs` and `ledger.rs` runs against SQLite (a file
//! in a temp dir) and against PostgreSQL (a private cluster shared by the tests that overlap,
//! one database per test), always. Behaviours about one backend (several replicas on one
//! PostgreSQL database, SQLite surviving `kill -9`) are at the end of this file.

mod deliveries;
mod delivery;
mod ledger;
mod records;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::json;
use sqlx::Connection;
use tsbridge::store::{AuditEntry, AuditQuery, DeliveryWrite, Error, Record, Store, WriteBatch};

use crate::support::postgres::Postgres;
use crate::support::{assert_loopback, random_suffix};

/// One test's database, reopenable (a reopened store is another "process").
pub struct TestDb {
    url: String,
    _keep: Keep,
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Cluster(#[allow(dead_code)] Arc<Postgres>),
}

impl TestDb {
    /// A fresh SQLite file.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("tsbridge-store-")
            .tempdir()
            .expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("store.db").display());
        TestDb {
            url,
            _keep: Keep::Dir(dir),
        }
    }

    /// A fresh database on the shared private PostgreSQL cluster.
    pub async fn postgres() -> TestDb {
        let cluster = shared_cluster();
        // (`assert_loopback` reads no user info: check the URL without it.)
        assert_loopback(&cluster.url.replacen("postgres@", "", 1));
        let database = format!("store_{}", random_suffix());
        let mut admin = sqlx::PgConnection::connect(&cluster.url)
            .await
            .expect("connect to the fixture's postgres database");
        // The name is ours (letters, digits, underscore): no quoting needed.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.expect("close the admin connection");
        TestDb {
            url: cluster.database_url(&database),
            _keep: Keep::Cluster(cluster),
        }
    }

    /// The `--store` URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new store on this database (a new pool; for PostgreSQL, a new listener too).
    pub async fn open(&self) -> Store {
        Store::connect(&self.url).await.expect("connect the store")
    }
}

/// The private PostgreSQL cluster of the tests running now; started by the first, stopped when
/// the last overlapping test drops it (a `static` would never run its destructor).
fn shared_cluster() -> Arc<Postgres> {
    static CLUSTER: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
    let mut slot = CLUSTER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(cluster) = slot.upgrade() {
        return cluster;
    }
    let cluster = Arc::new(Postgres::start());
    *slot = Arc::downgrade(&cluster);
    cluster
}

/// A realistic record (~1 KB of spec) under `fqn`; the store assigns revision and etag.
pub fn record(fqn: &str, kind: &str) -> Record {
    let name = fqn.rsplit('/').next().unwrap_or(fqn).to_string();
    let parent_fqn = fqn
        .rsplit_once('/')
        .and_then(|(parent, _)| parent.rsplit_once('/'))
        .map(|(parent, _)| parent.to_string());
    Record {
        fqn: fqn.to_string(),
        kind: kind.to_string(),
        api_version: "tsb.tetrate.io/v2".to_string(),
        name: name.clone(),
        parent_fqn,
        namespace: None,
        spec: serde_json::json!({
            "displayName": name,
            "description": "x".repeat(600),
            "namespaceSelector": { "names": ["*/bookinfo", "cluster-a/reviews"] },
            "deletionProtectionEnabled": false,
            "configMode": "BRIDGED",
            "weights": [1, 2.5, -3],
        }),
        labels: [("team".to_string(), "payments".to_string())].into(),
        annotations: [("tsb.tetrate.io/note".to_string(), "é ✓".to_string())].into(),
        origin: serde_json::json!({ "cluster": "c1", "namespace": "gitops", "generation": 3 }),
        content_hash: format!("sha256:{}", random_suffix()),
        etag: String::new(),
        revision: 0,
    }
}

/// A batch of upserts.
pub fn upserts(records: Vec<Record>) -> WriteBatch {
    WriteBatch {
        upserts: records,
        ..WriteBatch::default()
    }
}

/// Kinds in their serde form.
pub const ORG: &str = "Organization.tsb.tetrate.io";
pub const TENANT: &str = "Tenant.tsb.tetrate.io";
pub const WORKSPACE: &str = "Workspace.tsb.tetrate.io";
pub const GROUP: &str = "Group.traffic.tsb.tetrate.io";

/// An audit row of an `ok` operation.
pub fn audit(time: &str, actor: &str, operation: &str, fqn: &str, kind: &str) -> AuditEntry {
    AuditEntry {
        time: time.to_string(),
        actor: actor.to_string(),
        origin: json!({ "argocd": { "app": "mesh", "revision": "4f2a9c1" } }),
        operation: operation.to_string(),
        fqn: fqn.to_string(),
        kind: kind.to_string(),
        before_hash: "sha256:before".to_string(),
        after_hash: "sha256:after".to_string(),
        outcome: "ok".to_string(),
        ..AuditEntry::default()
    }
}

/// A batch of deletes.
pub fn deletes(fqns: &[&str]) -> WriteBatch {
    WriteBatch {
        deletes: fqns.iter().map(|f| f.to_string()).collect(),
        ..WriteBatch::default()
    }
}

/// The FQNs of `records`, in order.
pub fn fqns(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.fqn.as_str()).collect()
}

/// Every audit row, newest first.
pub async fn all_audit(store: &Store) -> Vec<AuditEntry> {
    store
        .query_audit(&AuditQuery::default())
        .await
        .expect("query audit")
}

/// Waits (at most `within`) until the watch shows at least `revision`.
pub async fn await_revision(
    rx: &mut tokio::sync::watch::Receiver<i64>,
    revision: i64,
    within: Duration,
) {
    let seen = tokio::time::timeout(within, rx.wait_for(|seen| *seen >= revision))
        .await
        .map(|waited| waited.is_ok());
    match seen {
        Ok(true) => {}
        Ok(false) => panic!("the revision watch closed while waiting for {revision}"),
        Err(_) => panic!(
            "revision {revision} not seen within {within:?} (watch at {})",
            *rx.borrow()
        ),
    }
}

/// Each behaviour as one test per backend: `store::sqlite::NAME` and `store::postgres::NAME`.
macro_rules! suite {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$module::$name(&super::TestDb::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$module::$name(&super::TestDb::postgres().await).await;
                }
            )*
        }
    };
}

suite!(
    records::revisions_increase_and_every_change_gets_a_new_etag,
    records::a_stale_expected_revision_fails_and_writes_nothing,
    records::a_failing_batch_writes_nothing,
    records::a_cancelled_commit_is_all_or_nothing,
    records::racing_writes_validated_against_one_revision_let_one_win,
    records::list_is_segment_aware_sorted_and_kind_filtered,
    records::snapshots_are_consistent_while_writes_go_on,
    records::changes_since_replays_upserts_and_deletes_in_order,
    records::data_survives_closing_and_reopening,
    records::subscribers_see_this_stores_commits,
    ledger::audit_rows_are_filtered_and_newest_first,
    ledger::clusters_grants_and_namespaces,
    ledger::tokens_are_unique_by_hash,
    ledger::revoked_tokens_stay_listed_and_move_the_epoch,
    delivery::claims_increment_the_generation,
    delivery::a_stale_generation_is_refused_and_changes_nothing,
    delivery::objects_none_keeps_the_stored_objects,
    delivery::tombstones_are_in_the_feed_and_not_in_cluster_delivery,
    delivery::the_feed_returns_each_change_once_and_in_order,
    delivery::confirm_prune_needs_a_held_prune,
    delivery::subscribers_see_this_stores_delivery_writes,
    delivery::a_thousand_clusters_in_one_write,
    deliveries::rows_carry_the_commit_time_and_a_return_to_earlier_content_is_a_rollback,
    deliveries::a_report_counts_outcomes_reasons_rollbacks_and_apply_times_per_cluster,
    deliveries::retention_drops_old_rows_then_the_oldest_over_the_count,
);

#[tokio::test]
async fn other_urls_are_refused_without_their_password() {
    for url in [
        "mysql://db/tsb",
        "tsbridge.db",
        "postgress://admin:s3cret@db:5432/tsb",
    ] {
        match Store::connect(url).await {
            Err(Error::BadUrl(shown)) => {
                assert!(!shown.contains("s3cret"), "{shown} leaks the password")
            }
            other => panic!("{url}: expected BadUrl, got {other:?}"),
        }
    }
}

// === PostgreSQL: several replicas on one database ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_commit_through_one_replica_reaches_the_others_subscribers_within_1s() {
    let db = TestDb::postgres().await;
    let (writer, reader) = (db.open().await, db.open().await);
    let mut rx = reader.subscribe();
    for i in 0..5 {
        let fqn = format!("organizations/acme/tenants/t{i}");
        let committed = writer
            .commit(upserts(vec![record(&fqn, "Tenant.tsb.tetrate.io")]))
            .await
            .expect("commit");
        // The contract: another replica's subscribers see a commit within 1 s.
        await_revision(&mut rx, committed.revision, Duration::from_secs(1)).await;
        let seen = reader.get(&fqn).await.expect("get").expect("visible");
        assert_eq!(seen.revision, committed.revision);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_revision_poll_covers_a_missed_notification() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    let mut rx = store.subscribe();
    // Move the revision behind the store's back: no NOTIFY is sent.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("UPDATE meta SET revision = 41 WHERE id = 1")
        .execute(&mut conn)
        .await
        .expect("update meta");
    // The poll runs every second; allow one more for a loaded machine.
    await_revision(&mut rx, 41, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_commits_from_two_replicas_are_unique_gap_free_and_ordered() {
    const PER_REPLICA: usize = 200;
    let db = TestDb::postgres().await;
    let replicas = [db.open().await, db.open().await];
    let mut watches: Vec<_> = replicas.iter().map(Store::subscribe).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (r, store) in replicas.iter().enumerate() {
        for i in 0..PER_REPLICA {
            let store = store.clone();
            tasks.spawn(async move {
                let fqn = format!("organizations/acme/tenants/r{r}/workspaces/w{i:03}");
                let committed = store
                    .commit(upserts(vec![record(&fqn, "Workspace.tsb.tetrate.io")]))
                    .await
                    .expect("concurrent commit");
                (committed.revision, fqn)
            });
        }
    }
    let mut committed: Vec<(i64, String)> = tasks.join_all().await;
    committed.sort();
    let total = 2 * PER_REPLICA as i64;
    let revisions: Vec<i64> = committed.iter().map(|(revision, _)| *revision).collect();
    assert_eq!(
        revisions,
        (1..=total).collect::<Vec<_>>(),
        "unique and gap-free"
    );

    let changes = replicas[0].changes_since(0, 1_000).await.expect("changes");
    let logged: Vec<(i64, String)> = changes.into_iter().map(|c| (c.revision, c.fqn)).collect();
    assert_eq!(
        logged, committed,
        "every change in the log, in commit order"
    );
    assert_eq!(replicas[1].revision().await.expect("revision"), total);
    for rx in &mut watches {
        await_revision(rx, total, Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_delivery_write_through_one_replica_moves_the_others_watch_within_1s() {
    let db = TestDb::postgres().await;
    let (writer, reader) = (db.open().await, db.open().await);
    let mut rx = reader.subscribe_delivery();
    let claimed = writer.claim_cluster("eu-1", "a").await.expect("claim");
    await_revision(&mut rx, claimed.seq, Duration::from_secs(1)).await;
    for round in 0..5 {
        let write = DeliveryWrite {
            acked_revision: Some(round),
            ..delivery::edges(
                "eu-1",
                claimed.generation,
                vec![delivery::edge("s", Some("APPLIED"), round, None)],
            )
        };
        writer.write_deliveries(&[write]).await.expect("write");
        let seq = *writer.subscribe_delivery().borrow();
        await_revision(&mut rx, seq, Duration::from_secs(1)).await;
        let (row, _) = reader.cluster_delivery("eu-1").await.expect("read");
        assert_eq!(row.expect("row").acked_revision, round);
    }
    assert_eq!(
        reader.confirm_prune("eu-1").await.expect("confirm"),
        None,
        "nothing held"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_revocation_through_one_replica_moves_the_others_epoch_within_1s() {
    let db = TestDb::postgres().await;
    let (writer, reader) = (db.open().await, db.open().await);
    let mut rx = reader.subscribe_tokens();
    for i in 0..3 {
        let token = tsbridge::store::TokenRecord {
            hash: format!("h{i}"),
            name: format!("t{i}"),
            subject: "alice".to_string(),
            role: "viewer".to_string(),
            scope: "*".to_string(),
            created: String::new(),
            revoked: None,
        };
        writer.create_token(token).await.expect("create");
        writer
            .revoke_token(&format!("t{i}"), "2026-11-26T11:00:00Z")
            .await
            .expect("revoke");
        let epoch = *writer.subscribe_tokens().borrow();
        await_revision(&mut rx, epoch, Duration::from_secs(1)).await;
    }
    // Missed notifications are covered by the poll.
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("UPDATE token_meta SET epoch = 41 WHERE id = 1")
        .execute(&mut conn)
        .await
        .expect("update token_meta");
    await_revision(&mut rx, 41, Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_poll_covers_a_missed_delivery_notification() {
    let db = TestDb::postgres().await;
    let store = db.open().await;
    let mut rx = store.subscribe_delivery();
    let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    sqlx::query("UPDATE delivery_meta SET seq = 41 WHERE id = 1")
        .execute(&mut conn)
        .await
        .expect("update delivery_meta");
    await_revision(&mut rx, 41, Duration::from_secs(2)).await;
}

/// Two replicas write their clusters' edges and acknowledgements in parallel loops while a
/// reader follows the feed: every row is written once with a fresh source (a skipped row would
/// never come back), so the reader must end with exactly the stored state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_delivery_writers_never_make_the_feed_skip_a_row() {
    const ROUNDS: i64 = 150;
    const CLUSTERS: usize = 4;
    let db = TestDb::postgres().await;
    let replicas = [db.open().await, db.open().await];
    let reader = db.open().await;
    let mut writers = tokio::task::JoinSet::new();
    for (r, store) in replicas.iter().enumerate() {
        let store = store.clone();
        writers.spawn(async move {
            let mut claimed = Vec::new();
            for c in 0..CLUSTERS {
                let cluster = format!("r{r}-c{c}");
                let generation = store
                    .claim_cluster(&cluster, &format!("replica-{r}"))
                    .await
                    .expect("claim")
                    .generation;
                claimed.push((cluster, generation));
            }
            for round in 0..ROUNDS {
                let writes: Vec<DeliveryWrite> = claimed
                    .iter()
                    .map(|(cluster, generation)| DeliveryWrite {
                        acked_revision: Some(round),
                        ..delivery::edges(
                            cluster,
                            *generation,
                            vec![
                                delivery::edge(&format!("s{round}"), Some("APPLIED"), round, None),
                                delivery::edge("shared", Some("APPLIED"), round, None),
                            ],
                        )
                    })
                    .collect();
                let applied = store.write_deliveries(&writes).await.expect("write");
                assert!(applied.iter().all(|a| *a));
            }
        });
    }

    // Follow the feed in small pages while the writers run, then to its end.
    let mut seen_clusters = BTreeMap::new();
    let mut seen_edges = BTreeMap::new();
    let mut position = 0;
    let mut record = |changes: tsbridge::store::DeliveryChanges| {
        for cluster in changes.clusters {
            seen_clusters.insert(cluster.cluster.clone(), cluster);
        }
        for edge in changes.edges {
            seen_edges.insert((edge.cluster.clone(), edge.source.clone()), edge);
        }
    };
    let mut pages = 0;
    while !writers.is_empty() {
        let page = reader.delivery_since(position, 7).await.expect("feed");
        assert!(page.last_seq >= position);
        position = page.last_seq;
        record(page);
        pages += 1;
        while let Some(done) = writers.try_join_next() {
            done.expect("writer");
        }
    }
    let rest = delivery::follow(&reader, position, 7).await;
    record(rest);
    assert!(
        pages > 10,
        "the reader followed while writing ({pages} pages)"
    );

    let mut expected_edges = BTreeMap::new();
    for r in 0..2 {
        for c in 0..CLUSTERS {
            let cluster = format!("r{r}-c{c}");
            let (row, live) = reader.cluster_delivery(&cluster).await.expect("read");
            let row = row.expect("row");
            assert_eq!(row.acked_revision, ROUNDS - 1);
            assert_eq!(seen_clusters.get(&cluster), Some(&row), "final cluster row");
            assert_eq!(live.len(), ROUNDS as usize + 1);
            for edge in live {
                expected_edges.insert((edge.cluster.clone(), edge.source.clone()), edge);
            }
        }
    }
    assert_eq!(
        seen_edges, expected_edges,
        "every edge with its final value"
    );
}

// === SQLite: acknowledged commits survive kill -9 ===

/// The environment variable that makes [`sqlite_kill_9_child`] write to a database.
const KILL_CHILD_DB: &str = "TSBRIDGE_TEST_KILL_CHILD_DB";

#[tokio::test]
async fn sqlite_acknowledged_commits_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let db = TestDb::sqlite().await;
    // The child is this test binary running only the helper below.
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "store::sqlite_kill_9_child", "--include-ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(KILL_CHILD_DB, &db.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the writing child");
    let stdout = child.stdout.take().expect("piped stdout");
    let acknowledged = tokio::task::spawn_blocking(move || {
        let mut acknowledged = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("child output");
            // libtest may print the test's name on the same line first.
            if let Some((_, ack)) = line.split_once("acked ") {
                let (revision, fqn) = ack.split_once(' ').expect("revision and fqn");
                acknowledged.push((revision.parse::<i64>().expect("revision"), fqn.to_string()));
                if acknowledged.len() == 200 {
                    break;
                }
            }
        }
        acknowledged
    });
    let acknowledged = tokio::time::timeout(Duration::from_secs(60), acknowledged)
        .await
        .expect("the child acknowledges 200 commits within 60 s")
        .expect("reader task");
    assert_eq!(acknowledged.len(), 200, "the child exited early");
    child.kill().expect("SIGKILL the child mid-write");
    child.wait().expect("reap the child");

    let store = db.open().await;
    let last = acknowledged.last().expect("acks").0;
    assert!(store.revision().await.expect("revision") >= last);
    for (revision, fqn) in &acknowledged {
        let stored = store
            .get(fqn)
            .await
            .expect("get")
            .expect("acknowledged write");
        assert_eq!(stored.revision, *revision);
    }
}

/// Helper process of [`sqlite_acknowledged_commits_survive_kill_9`]: commits forever, printing
/// each acknowledged revision. Does nothing when run on its own.
#[tokio::test]
#[ignore = "helper process of store::sqlite_acknowledged_commits_survive_kill_9"]
async fn sqlite_kill_9_child() {
    let Ok(url) = std::env::var(KILL_CHILD_DB) else {
        return;
    };
    let store = Store::connect(&url).await.expect("connect");
    for i in 0.. {
        let fqn = format!("organizations/acme/tenants/k{i}");
        let committed = store
            .commit(upserts(vec![record(&fqn, "Tenant.tsb.tetrate.io")]))
            .await
            .expect("commit");
        // stdout is line-buffered: the line leaves the process once the commit has returned.
        println!("acked {} {fqn}", committed.revision);
    }
}
