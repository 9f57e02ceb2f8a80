//! Objects, revisions and notifications: each behaviour an `async fn` over a [`TestDb`] of
//! either backend.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use tsbridge::store::{ChangeEvent, Error, Record, TokenRecord, WriteBatch};

use super::{
    GROUP, ORG, TENANT, TestDb, WORKSPACE, all_audit, audit, await_revision, deletes, fqns, record,
    upserts,
};

pub async fn revisions_increase_and_every_change_gets_a_new_etag(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(store.revision().await.expect("revision"), 0, "empty store");
    let org = record("organizations/acme", ORG);
    let tenant = record("organizations/acme/tenants/a", TENANT);
    let first = store
        .commit(upserts(vec![org.clone(), tenant.clone()]))
        .await
        .expect("commit");
    assert_eq!(first.revision, 2);
    let mut etags = HashSet::new();
    for (revision, (stored, written)) in (1..).zip(first.upserted.iter().zip([&org, &tenant])) {
        assert_eq!(
            stored.revision, revision,
            "one revision per object, in order"
        );
        assert!(
            stored.etag.len() > 2 && stored.etag.starts_with('"') && stored.etag.ends_with('"'),
            "quoted etag: {}",
            stored.etag
        );
        assert!(etags.insert(stored.etag.clone()), "etags differ");
        let unassigned = Record {
            etag: String::new(),
            revision: 0,
            ..stored.clone()
        };
        assert_eq!(&unassigned, written, "stored as written");
        let read = store.get(&stored.fqn).await.expect("get");
        assert_eq!(read.as_ref(), Some(stored), "read back as committed");
    }

    // Rewriting identical content is still a change: new revision, new etag.
    let mut last = first.revision;
    for _ in 0..3 {
        let again = store
            .commit(upserts(vec![tenant.clone()]))
            .await
            .expect("commit");
        assert_eq!(again.revision, last + 1);
        assert_eq!(again.upserted[0].revision, again.revision);
        assert!(etags.insert(again.upserted[0].etag.clone()), "new etag");
        last = again.revision;
    }

    // Deleting is a change; deleting what is not there is not.
    let deleted = store
        .commit(deletes(&[
            "organizations/acme/tenants/a",
            "organizations/acme/tenants/missing",
        ]))
        .await
        .expect("delete");
    assert_eq!(deleted.revision, last + 1);
    assert!(deleted.upserted.is_empty());
    assert_eq!(store.get(&tenant.fqn).await.expect("get"), None);
    let nothing = store
        .commit(deletes(&["organizations/acme/tenants/a"]))
        .await
        .expect("no-op delete");
    assert_eq!(nothing.revision, deleted.revision);
    assert_eq!(store.revision().await.expect("revision"), deleted.revision);

    let back = store
        .commit(upserts(vec![tenant]))
        .await
        .expect("re-create");
    assert_eq!(back.revision, deleted.revision + 1);
    assert!(etags.insert(back.upserted[0].etag.clone()), "new etag");
}

pub async fn a_stale_expected_revision_fails_and_writes_nothing(db: &TestDb) {
    let store = db.open().await;
    let org = record("organizations/acme", ORG);
    let base = store
        .commit(upserts(vec![org.clone()]))
        .await
        .expect("commit");
    let tenant = "organizations/acme/tenants/a";
    let stale = WriteBatch {
        expected_revision: Some(base.revision - 1),
        upserts: vec![record(tenant, TENANT)],
        deletes: vec![org.fqn.clone()],
        audit: vec![audit(
            "2026-11-26T10:00:00Z",
            "user:alice",
            "apply",
            tenant,
            TENANT,
        )],
    };
    match store.commit(stale.clone()).await {
        Err(Error::RevisionMoved { expected, actual }) => {
            assert_eq!((expected, actual), (base.revision - 1, base.revision));
        }
        other => panic!("expected RevisionMoved, got {other:?}"),
    }
    assert_eq!(store.revision().await.expect("revision"), base.revision);
    assert_eq!(store.get(tenant).await.expect("get"), None);
    assert_eq!(
        store.get(&org.fqn).await.expect("get").as_ref(),
        Some(&base.upserted[0])
    );
    assert_eq!(store.changes_since(0, 0).await.expect("changes").len(), 1);
    assert!(all_audit(&store).await.is_empty(), "no audit row either");

    let fresh = WriteBatch {
        expected_revision: Some(base.revision),
        ..stale
    };
    let committed = store.commit(fresh).await.expect("current revision");
    assert_eq!(committed.revision, base.revision + 2);
}

pub async fn a_failing_batch_writes_nothing(db: &TestDb) {
    let store = db.open().await;
    let org = record("organizations/acme", ORG);
    let base = store
        .commit(upserts(vec![org.clone()]))
        .await
        .expect("commit");
    let nothing_changed = || async {
        assert_eq!(store.revision().await.expect("revision"), base.revision);
        assert_eq!(
            store.list(None, None).await.expect("list"),
            base.upserted,
            "objects untouched"
        );
        assert_eq!(store.changes_since(0, 0).await.expect("changes").len(), 1);
        assert!(all_audit(&store).await.is_empty(), "no audit row either");
    };

    // The database refuses the third upsert (an empty FQN) after it wrote the first two.
    let mut nameless = record("organizations/acme/tenants/c", TENANT);
    nameless.fqn = String::new();
    let refused = WriteBatch {
        expected_revision: Some(base.revision),
        upserts: vec![
            record("organizations/acme/tenants/a", TENANT),
            record("organizations/acme", ORG),
            nameless,
        ],
        deletes: vec!["organizations/acme".to_string()],
        audit: vec![audit("2026-11-26T10:00:00Z", "user:alice", "apply", "", "")],
    };
    let result = store.commit(refused).await;
    assert!(matches!(result, Err(Error::Database(_))), "{result:?}");
    nothing_changed().await;

    // A bad audit time fails the batch too (on SQLite after the changes were written).
    let bad_time = WriteBatch {
        expected_revision: Some(base.revision),
        upserts: vec![
            record("organizations/acme/tenants/a", TENANT),
            record("organizations/acme", ORG),
        ],
        deletes: vec!["organizations/acme".to_string()],
        audit: vec![
            audit("2026-11-26T10:00:00Z", "user:alice", "apply", "", ""),
            audit("half past ten", "user:alice", "apply", "", ""),
        ],
    };
    match store.commit(bad_time).await {
        Err(Error::BadTime(time)) => assert_eq!(time, "half past ten"),
        other => panic!("expected BadTime, got {other:?}"),
    }
    nothing_changed().await;
}

pub async fn a_cancelled_commit_is_all_or_nothing(db: &TestDb) {
    let store = db.open().await;
    for round in 0..20u64 {
        let batch = upserts(
            (0..50)
                .map(|i| record(&format!("organizations/acme/tenants/r{round}-{i}"), TENANT))
                .collect(),
        );
        let commit = {
            let store = store.clone();
            tokio::spawn(async move { store.commit(batch).await })
        };
        // Cancel at a different point of the commit each round (or after it finished).
        tokio::time::sleep(Duration::from_micros(round * 250)).await;
        commit.abort();
        let _cancelled_or_done = commit.await;
        // Each committed change is one new object: a half-applied batch would break this.
        let (revision, records) = store.snapshot().await.expect("snapshot");
        assert_eq!(records.len() as i64, revision, "round {round}");
    }
    let after = store
        .commit(upserts(vec![record(
            "organizations/acme/tenants/z",
            TENANT,
        )]))
        .await
        .expect("the store still commits");
    let (revision, records) = store.snapshot().await.expect("snapshot");
    assert!(revision >= after.revision);
    assert_eq!(records.len() as i64, revision);
}

pub async fn racing_writes_validated_against_one_revision_let_one_win(db: &TestDb) {
    const ROUNDS: i64 = 10;
    let replicas = [db.open().await, db.open().await];
    for round in 0..ROUNDS {
        let validated = replicas[0].revision().await.expect("revision");
        let racers = replicas.iter().enumerate().map(|(r, store)| {
            let store = store.clone();
            let batch = WriteBatch {
                expected_revision: Some(validated),
                upserts: vec![record(
                    &format!("organizations/acme/tenants/r{r}-{round}"),
                    TENANT,
                )],
                ..WriteBatch::default()
            };
            tokio::spawn(async move { store.commit(batch).await })
        });
        let results: Vec<_> = futures::future::join_all(racers).await;
        let results: Vec<_> = results.into_iter().map(|r| r.expect("join")).collect();
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
        assert!(
            results.iter().any(|r| matches!(
                r,
                Err(Error::RevisionMoved { expected, actual })
                    if *expected == validated && *actual == validated + 1
            )),
            "round {round}: the loser re-validates: {results:?}"
        );
    }
    assert_eq!(replicas[1].revision().await.expect("revision"), ROUNDS);
    let listed = replicas[1].list(None, None).await.expect("list");
    assert_eq!(listed.len(), ROUNDS as usize);
}

pub async fn list_is_segment_aware_sorted_and_kind_filtered(db: &TestDb) {
    let store = db.open().await;
    let objects = [
        ("organizations/acme", ORG),
        ("organizations/acme/tenants/a", TENANT),
        ("organizations/acme/tenants/a/workspaces/w2", WORKSPACE),
        ("organizations/acme/tenants/a/workspaces/w1", WORKSPACE),
        (
            "organizations/acme/tenants/a/workspaces/w1/trafficgroups/g",
            GROUP,
        ),
        ("organizations/acme/tenants/ab", TENANT),
        ("organizations/acme/tenants/ab/workspaces/w", WORKSPACE),
        ("organizations/acme/tenants/a-b", TENANT),
        ("organizations/acme/tenants/a0", TENANT),
        ("organizations/acme/tenants/a.b", TENANT),
        ("organizations/acmeco", ORG),
        ("organizations/acmeco/tenants/a", TENANT),
    ];
    let records = objects.iter().rev().map(|(f, k)| record(f, k)).collect();
    store.commit(upserts(records)).await.expect("commit");
    let list = |prefix: Option<&'static str>, kind: Option<&'static str>| {
        let store = store.clone();
        async move { store.list(prefix, kind).await.expect("list") }
    };
    let expected = |keep: &dyn Fn(&str, &str) -> bool| {
        let mut wanted: Vec<&str> = objects
            .iter()
            .filter(|(f, k)| keep(f, k))
            .map(|(f, _)| *f)
            .collect();
        wanted.sort_unstable();
        wanted
    };

    let a = "organizations/acme/tenants/a";
    let under_a = expected(&|f, _| f.starts_with("organizations/acme/tenants/a/"));
    assert_eq!(under_a.len(), 3);
    assert_eq!(
        fqns(&list(Some(a), None).await),
        under_a,
        "not ab, a-b, a0, a.b or a"
    );
    assert_eq!(
        fqns(&list(Some("organizations/acme/tenants/a/"), None).await),
        under_a
    );
    let under_acme = expected(&|f, _| f.starts_with("organizations/acme/"));
    assert_eq!(
        fqns(&list(Some("organizations/acme"), None).await),
        under_acme
    );
    let every = expected(&|_, _| true);
    assert_eq!(fqns(&list(None, None).await), every, "sorted by fqn");
    assert_eq!(fqns(&list(Some(""), None).await), every);
    assert_eq!(
        fqns(&list(Some("organizations/acme"), Some(TENANT)).await),
        expected(&|f, k| f.starts_with("organizations/acme/") && k == TENANT)
    );
    assert_eq!(
        fqns(&list(None, Some(ORG)).await),
        ["organizations/acme", "organizations/acmeco"]
    );
    assert!(
        list(
            Some("organizations/acme/tenants/a/workspaces/w1/trafficgroups/g"),
            None
        )
        .await
        .is_empty()
    );
    assert!(list(Some("organizations/none"), None).await.is_empty());
    assert!(list(Some(a), Some(TENANT)).await.is_empty());

    let listed = list(Some(a), Some(GROUP)).await;
    let got = store.get(&listed[0].fqn).await.expect("get");
    assert_eq!(Some(&listed[0]), got.as_ref(), "whole records");
}

pub async fn snapshots_are_consistent_while_writes_go_on(db: &TestDb) {
    let store = db.open().await;
    let tenant = |i: u32| record(&format!("organizations/acme/tenants/t{i}"), TENANT);
    store
        .commit(upserts((0..5).map(tenant).collect()))
        .await
        .expect("commit");
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                let batch = if i % 7 == 3 {
                    deletes(&[&format!("organizations/acme/tenants/t{}", i % 5)])
                } else {
                    upserts(vec![tenant(i % 5), tenant(100 + i)])
                };
                store.commit(batch).await.expect("background commit");
            }
        })
    };
    let mut snapshots = Vec::new();
    while !writer.is_finished() {
        snapshots.push(store.snapshot().await.expect("snapshot"));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    writer.await.expect("writer");
    snapshots.push(store.snapshot().await.expect("snapshot"));
    assert_eq!(
        snapshots.last().map(|(revision, _)| *revision),
        Some(store.revision().await.expect("revision"))
    );

    // Each snapshot is exactly the change log replayed up to its revision.
    let changes = store.changes_since(0, 10_000).await.expect("changes");
    for (revision, records) in &snapshots {
        let mut replayed = BTreeMap::new();
        for change in changes.iter().take_while(|c| c.revision <= *revision) {
            match &change.record {
                Some(record) => replayed.insert(change.fqn.clone(), record.clone()),
                None => replayed.remove(&change.fqn),
            };
        }
        let replayed: Vec<Record> = replayed.into_values().collect();
        assert_eq!(records, &replayed, "snapshot at revision {revision}");
    }
}

pub async fn changes_since_replays_upserts_and_deletes_in_order(db: &TestDb) {
    let store = db.open().await;
    let (a, b) = (
        "organizations/acme/tenants/a",
        "organizations/acme/tenants/b",
    );
    let first = store
        .commit(upserts(vec![record(a, TENANT), record(b, TENANT)]))
        .await
        .expect("commit");
    let second = store
        .commit(upserts(vec![record(a, TENANT)]))
        .await
        .expect("commit");
    let third = store
        .commit(deletes(&[b, "organizations/acme/tenants/missing"]))
        .await
        .expect("commit");
    assert_eq!(third.revision, 4);

    let all = store.changes_since(0, 0).await.expect("changes");
    let upserted = |record: &Record| ChangeEvent {
        revision: record.revision,
        fqn: record.fqn.clone(),
        kind: TENANT.to_string(),
        record: Some(record.clone()),
    };
    let expected = vec![
        upserted(&first.upserted[0]),
        upserted(&first.upserted[1]),
        upserted(&second.upserted[0]),
        ChangeEvent {
            revision: 4,
            fqn: b.to_string(),
            kind: TENANT.to_string(),
            record: None,
        },
    ];
    assert_eq!(all, expected);
    assert_eq!(store.changes_since(2, 0).await.expect("changes"), all[2..]);
    assert_eq!(store.changes_since(0, 2).await.expect("changes"), all[..2]);
    assert_eq!(store.changes_since(-5, 1).await.expect("changes"), all[..1]);
    assert!(store.changes_since(4, 0).await.expect("changes").is_empty());

    // An upsert and a delete of one object in one batch are two changes.
    let c = "organizations/acme/tenants/c";
    let both = WriteBatch {
        upserts: vec![record(c, TENANT)],
        deletes: vec![c.to_string()],
        ..WriteBatch::default()
    };
    assert_eq!(store.commit(both).await.expect("commit").revision, 6);
    assert_eq!(store.get(c).await.expect("get"), None);
    let last: Vec<(i64, bool)> = store
        .changes_since(4, 0)
        .await
        .expect("changes")
        .iter()
        .map(|change| (change.revision, change.record.is_some()))
        .collect();
    assert_eq!(last, [(5, true), (6, false)]);
}

pub async fn data_survives_closing_and_reopening(db: &TestDb) {
    let before = {
        let store = db.open().await;
        let batch = WriteBatch {
            upserts: vec![
                record("organizations/acme", ORG),
                record("organizations/acme/tenants/a", TENANT),
                record("organizations/acme/tenants/b", TENANT),
            ],
            audit: vec![audit("2026-11-26T10:00:00Z", "user:alice", "apply", "", "")],
            ..WriteBatch::default()
        };
        store.commit(batch).await.expect("commit");
        store
            .commit(deletes(&["organizations/acme/tenants/b"]))
            .await
            .expect("delete");
        store.create_cluster("c1").await.expect("create");
        store
            .grant("c1", "organizations/acme")
            .await
            .expect("grant");
        let namespaces = BTreeMap::from([("bookinfo".to_string(), BTreeMap::new())]);
        store
            .set_namespaces("c1", namespaces)
            .await
            .expect("set namespaces");
        let token = TokenRecord {
            hash: "abc".to_string(),
            name: "alice".to_string(),
            subject: "user:alice".to_string(),
            role: "admin".to_string(),
            scope: "*".to_string(),
            created: "2026-11-26T10:00:00Z".to_string(),
            revoked: None,
        };
        store.create_token(token).await.expect("token");
        (
            store.snapshot().await.expect("snapshot"),
            store.changes_since(0, 0).await.expect("changes"),
            all_audit(&store).await,
            store.list_clusters().await.expect("clusters"),
            store.find_token("abc").await.expect("token"),
        )
        // The store and every clone are dropped here.
    };

    let store = db.open().await;
    let after = (
        store.snapshot().await.expect("snapshot"),
        store.changes_since(0, 0).await.expect("changes"),
        all_audit(&store).await,
        store.list_clusters().await.expect("clusters"),
        store.find_token("abc").await.expect("token"),
    );
    assert_eq!(after, before);
    let revision = (before.0).0;
    assert_eq!(revision, 4);
    assert_eq!(
        *store.subscribe().borrow(),
        revision,
        "the watch starts there"
    );
    let next = store
        .commit(upserts(vec![record(
            "organizations/acme/tenants/c",
            TENANT,
        )]))
        .await
        .expect("commit");
    assert_eq!(next.revision, revision + 1, "revisions carry on");
}

pub async fn subscribers_see_this_stores_commits(db: &TestDb) {
    let store = db.open().await;
    let mut rx = store.subscribe();
    assert_eq!(*rx.borrow_and_update(), 0);
    let clone = store.clone();
    let committed = clone
        .commit(upserts(vec![record("organizations/acme", ORG)]))
        .await
        .expect("commit");
    await_revision(&mut rx, committed.revision, Duration::from_secs(1)).await;
    assert_eq!(*rx.borrow_and_update(), committed.revision);

    let audit_only = WriteBatch {
        audit: vec![audit("2026-11-26T10:00:00Z", "user:a", "reject", "", "")],
        ..WriteBatch::default()
    };
    clone.commit(audit_only).await.expect("audit only");
    assert!(!rx.has_changed().expect("open"), "no change, no wake-up");

    // The watch closes once every clone is gone (PostgreSQL: its task stops).
    drop((store, clone));
    let closed = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
    assert!(matches!(closed, Ok(Err(_))), "watch still open: {closed:?}");
}
