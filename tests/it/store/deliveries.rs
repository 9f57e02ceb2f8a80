//! The delivery ledger: what became of each change in each cluster, each behaviour an
//! `async fn` over a [`TestDb`] of either backend.

use tsbridge::store::{LedgerEntry, LedgerQuery, Outcome, ReportQuery, Store};

use super::{TENANT, TestDb, record, upserts};

const FQN: &str = "organizations/acme/tenants/t";
const OTHER: &str = "organizations/acme/tenants/u";

/// Commits `fqn` with `content`; returns the change's revision.
async fn change(store: &Store, fqn: &str, content: &str) -> i64 {
    let mut record = record(fqn, TENANT);
    record.content_hash = content.to_string();
    store
        .commit(upserts(vec![record]))
        .await
        .expect("commit")
        .revision
}

fn row(fqn: &str, cluster: &str, change: i64, outcome: Outcome, acked_us: i64) -> LedgerEntry {
    LedgerEntry {
        id: 0,
        fqn: fqn.to_string(),
        cluster: cluster.to_string(),
        revision: change,
        change,
        outcome,
        message: String::new(),
        rollback: false,
        committed_us: 0,
        sent_us: acked_us - 1_000,
        acked_us,
    }
}

fn by_fqn(fqn: &str) -> LedgerQuery {
    LedgerQuery {
        fqn: fqn.to_string(),
        ..LedgerQuery::default()
    }
}

pub async fn rows_carry_the_commit_time_and_a_return_to_earlier_content_is_a_rollback(db: &TestDb) {
    let store = db.open().await;
    let before = jiff::Timestamp::now().as_microsecond();
    let first = change(&store, FQN, "sha256:one").await;
    let second = change(&store, FQN, "sha256:two").await;
    let back = change(&store, FQN, "sha256:one").await;
    let now = jiff::Timestamp::now().as_microsecond() + 5_000_000;
    let mut failed = row(FQN, "c2", second, Outcome::Failed, now);
    failed.message = "admission webhook denied it".into();
    let redelivered = row(FQN, "c1", 0, Outcome::Applied, now);
    store
        .append_ledger(vec![
            row(FQN, "c1", first, Outcome::Applied, now),
            row(FQN, "c1", second, Outcome::Applied, now),
            failed,
            row(FQN, "c1", back, Outcome::Applied, now),
            redelivered,
        ])
        .await
        .expect("append");
    let rows = store.query_ledger(&by_fqn(FQN)).await.expect("query");
    assert_eq!(rows.len(), 5);
    assert!(rows.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let of = |change: i64, cluster: &str| {
        rows.iter()
            .find(|r| r.change == change && r.cluster == cluster)
            .unwrap_or_else(|| panic!("a row of change {change} in {cluster}: {rows:?}"))
    };
    assert!(!of(first, "c1").rollback && !of(second, "c1").rollback);
    assert!(of(back, "c1").rollback, "back to the first content");
    for change in [first, second, back] {
        let committed = of(change, "c1").committed_us;
        assert!(
            committed >= before && committed < now,
            "{committed} of {change}"
        );
    }
    assert_eq!(of(0, "c1").committed_us, 0, "a re-delivery has no commit");
    assert_eq!(of(second, "c2").message, "admission webhook denied it");

    // Filters: cluster, outcome, prefix, and pages by id.
    let c2 = LedgerQuery {
        cluster: "c2".into(),
        ..LedgerQuery::default()
    };
    assert_eq!(store.query_ledger(&c2).await.expect("c2").len(), 1);
    let failures = LedgerQuery {
        outcome: Some(Outcome::Failed),
        fqn_prefix: "organizations/acme".into(),
        ..LedgerQuery::default()
    };
    assert_eq!(
        store.query_ledger(&failures).await.expect("failed")[0].cluster,
        "c2"
    );
    let page = LedgerQuery {
        limit: 2,
        ..by_fqn(FQN)
    };
    let first_page = store.query_ledger(&page).await.expect("page 1");
    let next = LedgerQuery {
        before_id: first_page[1].id,
        ..page
    };
    let second_page = store.query_ledger(&next).await.expect("page 2");
    assert_eq!(first_page.len(), 2);
    assert_eq!(second_page[0].id, rows[2].id, "the page after the first");

    // The revision log of the object, with its hashes and commit times.
    let changes = store.object_changes(FQN).await.expect("changes");
    let revisions: Vec<i64> = changes.iter().map(|c| c.revision).collect();
    assert_eq!(revisions, [first, second, back]);
    assert_eq!(changes[2].content_hash, "sha256:one");
    assert!(changes.iter().all(|c| c.upsert && c.at_us >= before));
}

pub async fn a_report_counts_outcomes_reasons_rollbacks_and_apply_times_per_cluster(db: &TestDb) {
    let store = db.open().await;
    let one = change(&store, FQN, "sha256:a").await;
    let two = change(&store, FQN, "sha256:b").await;
    let back = change(&store, FQN, "sha256:a").await;
    let outside = change(&store, OTHER, "sha256:x").await;
    let base = jiff::Timestamp::now().as_microsecond() + 60_000_000;
    let mut rows = Vec::new();
    // c1: 100 re-deliveries applied 1..=100 ms after they were sent.
    for ms in 1..=100 {
        let mut applied = row(FQN, "c1", 0, Outcome::Applied, base + ms * 1_000);
        applied.sent_us = base;
        rows.push(applied);
    }
    rows.push(row(FQN, "c1", back, Outcome::Applied, base));
    rows.push(row(FQN, "c1", one, Outcome::Reverted, base));
    for (reason, times) in [("webhook denied", 3), ("conflict", 1)] {
        for _ in 0..times {
            let mut failed = row(FQN, "c2", two, Outcome::Failed, base);
            failed.message = reason.into();
            rows.push(failed);
        }
    }
    rows.push(row(FQN, "c2", two, Outcome::Pruned, base));
    rows.push(row(OTHER, "c2", outside, Outcome::Applied, base));
    rows.push(row(FQN, "c3", one, Outcome::Applied, base - 3_600_000_000));
    store.append_ledger(rows).await.expect("append");

    let window = ReportQuery {
        fqn_prefix: FQN.into(),
        since: jiff::Timestamp::from_microsecond(base - 60_000_000)
            .expect("time")
            .to_string(),
        until: jiff::Timestamp::from_microsecond(base + 60_000_000)
            .expect("time")
            .to_string(),
    };
    let report = store.ledger_report(&window).await.expect("report");
    let clusters: Vec<&str> = report.iter().map(|r| r.cluster.as_str()).collect();
    assert_eq!(
        clusters,
        ["c1", "c2"],
        "c3 is outside the window: {report:?}"
    );
    let c1 = &report[0];
    assert_eq!((c1.applied, c1.reverted, c1.rolled_back), (101, 1, 1));
    // 101 times: 1..=100 ms, and the rollback's minute from its commit. Nearest rank:
    // the 51st and the 100th.
    assert_eq!(c1.apply_p50_us, 51_000, "{c1:?}");
    assert_eq!(c1.apply_p99_us, 100_000, "{c1:?}");
    let c2 = &report[1];
    assert_eq!(
        (c2.applied, c2.failed, c2.pruned),
        (0, 4, 1),
        "{OTHER} is outside the prefix"
    );
    assert_eq!(
        c2.top_failures,
        [
            ("webhook denied".to_string(), 3),
            ("conflict".to_string(), 1)
        ]
    );
}

pub async fn retention_drops_old_rows_then_the_oldest_over_the_count(db: &TestDb) {
    let store = db.open().await;
    let revision = change(&store, FQN, "sha256:r").await;
    let now = jiff::Timestamp::now().as_microsecond();
    let day = 86_400_000_000;
    let mut rows = vec![row(FQN, "c1", revision, Outcome::Applied, now - 40 * day)];
    rows.extend(
        (0..10)
            .rev()
            .map(|i| row(FQN, "c1", revision, Outcome::Applied, now - i)),
    );
    store.append_ledger(rows).await.expect("append");
    let dropped = store
        .prune_ledger(Some(now - 30 * day), 4)
        .await
        .expect("prune");
    assert_eq!(dropped, 7, "one too old, then six over the count");
    let left = store.query_ledger(&by_fqn(FQN)).await.expect("query");
    assert_eq!(left.len(), 4);
    assert!(
        left.iter().all(|r| r.acked_us > now - 4),
        "the newest four: {left:?}"
    );
}
