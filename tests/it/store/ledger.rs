//! The audit ledger, clusters and tokens: each behaviour an `async fn` over a [`TestDb`] of
//! either backend.

use std::collections::BTreeMap;

use tsbridge::store::{AuditEntry, AuditQuery, Error, TokenRecord, WriteBatch};

use super::{TENANT, TestDb, WORKSPACE, all_audit, audit, record};

pub async fn audit_rows_are_filtered_and_newest_first(db: &TestDb) {
    let store = db.open().await;
    let a = "organizations/acme/tenants/a";
    let mut e4 = audit("2026-11-26T10:45:00Z", "user:bob", "reject", a, TENANT);
    e4.outcome = "rejected".to_string();
    e4.message = "TSB-H001: parent organizations/acme does not exist".to_string();
    e4.after_hash = String::new();
    e4.forced = true;
    e4.dry_run = true;
    let appended = [
        audit("2026-11-26T10:00:00Z", "user:alice", "apply", a, TENANT),
        audit(
            "2026-11-26T10:00:00.5Z",
            "cluster:c1",
            "apply",
            "organizations/acme/tenants/a/workspaces/w",
            WORKSPACE,
        ),
        // 10:30 UTC, written with an offset.
        audit(
            "2026-11-26T11:30:00+01:00",
            "cluster:c2",
            "delete",
            "organizations/acme/tenants/ab",
            TENANT,
        ),
        e4,
    ];
    let mut expected = Vec::new();
    for entry in appended {
        let id = store.append_audit(entry.clone()).await.expect("append");
        expected.push(AuditEntry { id, ..entry });
    }

    // Rows written with a batch take the revisions of its changes.
    let b = "organizations/acme/tenants/b";
    let batch = WriteBatch {
        upserts: vec![
            record(b, TENANT),
            record("organizations/acme/tenants/c", TENANT),
        ],
        audit: vec![
            audit("2026-11-26T11:00:00Z", "user:alice", "apply", b, TENANT),
            audit(
                "2026-11-26T11:00:00Z",
                "user:alice",
                "cluster-create",
                "",
                "",
            ),
        ],
        ..WriteBatch::default()
    };
    let committed = store.commit(batch.clone()).await.expect("commit");
    // A batch without changes keeps its rows' revisions (0 for a rejection).
    let rejection = WriteBatch {
        audit: vec![audit(
            "2026-11-26T11:05:00Z",
            "user:carol",
            "reject",
            b,
            TENANT,
        )],
        ..WriteBatch::default()
    };
    let unchanged = store.commit(rejection.clone()).await.expect("audit only");
    assert_eq!(unchanged.revision, committed.revision);

    let newest_first = all_audit(&store).await;
    assert_eq!(newest_first.len(), 7);
    let ids: Vec<i64> = newest_first.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(
        expected.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase"
    );
    let mut oldest_first = newest_first.clone();
    oldest_first.reverse();
    assert_eq!(oldest_first[..4], expected[..], "stored as appended");
    let revisions: Vec<i64> = oldest_first[4..].iter().map(|e| e.revision).collect();
    assert_eq!(
        revisions,
        [committed.upserted[0].revision, committed.revision, 0]
    );
    assert_eq!(oldest_first[6].actor, "user:carol");

    let query = |query: AuditQuery| {
        let store = store.clone();
        async move {
            let found = store.query_audit(&query).await.expect("query audit");
            found.into_iter().map(|e| e.id).collect::<Vec<i64>>()
        }
    };
    let id = |i: usize| oldest_first[i].id;
    assert_eq!(
        query(AuditQuery {
            fqn_prefix: a.to_string(),
            ..AuditQuery::default()
        })
        .await,
        [id(3), id(1), id(0)],
        "the object and its descendants, not tenants/ab"
    );
    assert_eq!(
        query(AuditQuery {
            fqn: a.to_string(),
            ..AuditQuery::default()
        })
        .await,
        [id(3), id(0)],
        "exactly the object, not its descendants"
    );
    let by_kind = query(AuditQuery {
        kind: WORKSPACE.to_string(),
        ..AuditQuery::default()
    });
    assert_eq!(by_kind.await, [id(1)]);
    let by_actor = query(AuditQuery {
        actor: "user:alice".to_string(),
        ..AuditQuery::default()
    });
    assert_eq!(by_actor.await, [id(5), id(4), id(0)]);
    let by_cluster = query(AuditQuery {
        cluster: "c1".to_string(),
        ..AuditQuery::default()
    });
    assert_eq!(by_cluster.await, [id(1)]);
    let by_operation = query(AuditQuery {
        operation: "delete".to_string(),
        ..AuditQuery::default()
    });
    assert_eq!(by_operation.await, [id(2)]);
    // Instants, not strings: "…10:00:00Z" sorts after "…10:00:00.250Z" as text.
    let since = query(AuditQuery {
        since: "2026-11-26T10:00:00.250Z".to_string(),
        until: "2026-11-26T10:45:00Z".to_string(),
        ..AuditQuery::default()
    });
    assert_eq!(
        since.await,
        [id(2), id(1)],
        "since inclusive, until exclusive"
    );
    let from_offset = query(AuditQuery {
        since: "2026-11-26T11:30:00+01:00".to_string(),
        until: "2026-11-26T10:45:00.000001Z".to_string(),
        ..AuditQuery::default()
    });
    assert_eq!(from_offset.await, [id(3), id(2)]);
    let limited = query(AuditQuery {
        limit: 2,
        ..AuditQuery::default()
    });
    assert_eq!(limited.await, [id(6), id(5)]);
    let combined = query(AuditQuery {
        fqn_prefix: "organizations/acme".to_string(),
        kind: TENANT.to_string(),
        operation: "reject".to_string(),
        limit: 1,
        ..AuditQuery::default()
    });
    assert_eq!(combined.await, [id(6)]);

    let bad_bound = AuditQuery {
        until: "tomorrow".to_string(),
        ..AuditQuery::default()
    };
    assert!(matches!(
        store.query_audit(&bad_bound).await,
        Err(Error::BadTime(_))
    ));
    let bad_entry = audit("2026-11-26", "user:alice", "apply", a, TENANT);
    assert!(matches!(
        store.append_audit(bad_entry).await,
        Err(Error::BadTime(_))
    ));
    assert_eq!(all_audit(&store).await.len(), 7, "nothing appended");
}

pub async fn clusters_grants_and_namespaces(db: &TestDb) {
    let store = db.open().await;
    store.create_cluster("c1").await.expect("create");
    assert!(matches!(
        store.create_cluster("c1").await,
        Err(Error::AlreadyExists { .. })
    ));
    let fresh = store.get_cluster("c1").await.expect("get").expect("exists");
    assert!(fresh.grants.is_empty() && fresh.namespaces.is_empty());
    assert_eq!(store.get_cluster("nope").await.expect("get"), None);

    for scope in [
        "organizations/acme/tenants/b",
        "organizations/acme/tenants/a",
    ] {
        store.grant("c1", scope).await.expect("grant");
        store.grant("c1", scope).await.expect("grant is idempotent");
    }
    store
        .grant("c1", "organizations/acme/tenants/c")
        .await
        .expect("grant");
    store
        .revoke("c1", "organizations/acme/tenants/c")
        .await
        .expect("revoke");
    store
        .revoke("c1", "organizations/acme/tenants/c")
        .await
        .expect("revoke is idempotent");
    for missing in [
        store.grant("nope", "organizations/acme").await,
        store.revoke("nope", "organizations/acme").await,
        store.set_namespaces("nope", BTreeMap::new()).await,
    ] {
        assert!(
            matches!(missing, Err(Error::NotFound { .. })),
            "{missing:?}"
        );
    }

    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let first = BTreeMap::from([
        (
            "bookinfo".to_string(),
            labels(&[("istio-injection", "enabled")]),
        ),
        ("default".to_string(), labels(&[])),
    ]);
    store
        .set_namespaces("c1", first)
        .await
        .expect("set namespaces");
    let second = BTreeMap::from([("reviews".to_string(), labels(&[("team", "r")]))]);
    store
        .set_namespaces("c1", second.clone())
        .await
        .expect("replace namespaces");

    store.create_cluster("c0").await.expect("create");
    store.create_cluster("c2").await.expect("create");
    store
        .grant("c2", "organizations/acme")
        .await
        .expect("grant");
    let c1 = store.get_cluster("c1").await.expect("get").expect("exists");
    assert_eq!(
        c1.grants,
        [
            "organizations/acme/tenants/a",
            "organizations/acme/tenants/b"
        ]
    );
    assert_eq!(c1.namespaces, second, "replaced, not merged");
    let clusters = store.list_clusters().await.expect("list");
    let names: Vec<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["c0", "c1", "c2"]);
    assert_eq!(clusters[1], c1);
    assert_eq!(clusters[2].grants, ["organizations/acme"]);
}

pub async fn tokens_are_unique_by_hash(db: &TestDb) {
    let store = db.open().await;
    let token = TokenRecord {
        hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_string(),
        name: "alice-9f86d081".to_string(),
        subject: "user:alice".to_string(),
        role: "editor".to_string(),
        scope: "organizations/acme".to_string(),
        created: "2026-11-26T10:00:00Z".to_string(),
        revoked: None,
    };
    store.create_token(token.clone()).await.expect("create");
    let duplicate = TokenRecord {
        subject: "user:mallory".to_string(),
        name: "mallory".to_string(),
        ..token.clone()
    };
    assert!(matches!(
        store.create_token(duplicate).await,
        Err(Error::AlreadyExists { what }) if what == "a token with this secret"
    ));
    let same_name = TokenRecord {
        hash: "00".to_string(),
        ..token.clone()
    };
    assert!(matches!(
        store.create_token(same_name).await,
        Err(Error::AlreadyExists { what }) if what.contains("alice-9f86d081")
    ));
    assert_eq!(
        store.find_token(&token.hash).await.expect("find"),
        Some(token)
    );
    assert_eq!(store.find_token("0000").await.expect("find"), None);
}

pub async fn revoked_tokens_stay_listed_and_move_the_epoch(db: &TestDb) {
    let store = db.open().await;
    let mut tokens = Vec::new();
    for (hash, name) in [("bb", "bob"), ("aa", "alice")] {
        let token = TokenRecord {
            hash: hash.to_string(),
            name: name.to_string(),
            subject: name.to_string(),
            role: "viewer".to_string(),
            scope: "*".to_string(),
            created: "2026-11-26T10:00:00Z".to_string(),
            revoked: None,
        };
        store.create_token(token.clone()).await.expect("create");
        tokens.push(token);
    }
    let epoch = store.subscribe_tokens();
    let start = *epoch.borrow();
    let listed = store.list_tokens().await.expect("list");
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);

    let revoked = store
        .revoke_token("bob", "2026-11-26T11:00:00Z")
        .await
        .expect("revoke");
    assert_eq!(revoked.revoked.as_deref(), Some("2026-11-26T11:00:00Z"));
    assert_eq!(
        *epoch.borrow(),
        start + 1,
        "this store's watch moved at once"
    );
    let found = store.find_token("bb").await.expect("find").expect("kept");
    assert_eq!(found.revoked, revoked.revoked);
    // Again: nothing changes, the first time stands.
    let again = store
        .revoke_token("bob", "2026-11-26T12:00:00Z")
        .await
        .expect("revoke again");
    assert_eq!(again, revoked);
    assert_eq!(*epoch.borrow(), start + 1);
    // A revoked secret never comes back, under any name.
    let back = TokenRecord {
        name: "bob-again".to_string(),
        ..tokens[0].clone()
    };
    assert!(matches!(
        store.create_token(back).await,
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.revoke_token("nobody", "2026-11-26T11:00:00Z").await,
        Err(Error::NotFound { .. })
    ));
    let listed = store.list_tokens().await.expect("list");
    assert_eq!(listed[0].revoked, None);
    assert_eq!(listed[1], revoked);
}
