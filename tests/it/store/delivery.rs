//! Distribution state: stream claims, generation-checked writes and the delivery change feed,
//! each behaviour an `async fn` over a [`TestDb`] of either backend.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use tsbridge::store::{
    ClusterDelivery, DeliveredObject, DeliveryChanges, DeliveryWrite, EdgeRecord, Store,
};

use super::{TestDb, await_revision};

/// An edge of `source` in `state` at `revision`, with `objects` acknowledged objects if Some.
pub fn edge(
    source: &str,
    state: Option<&str>,
    revision: i64,
    objects: Option<usize>,
) -> EdgeRecord {
    EdgeRecord {
        cluster: String::new(),
        source: source.to_string(),
        state: state.map(str::to_string),
        revision,
        objects: objects.map(|n| (0..n).map(|i| object(source, i)).collect()),
        seq: 0,
    }
}

fn object(source: &str, i: usize) -> DeliveredObject {
    DeliveredObject {
        api_version: "networking.istio.io/v1".to_string(),
        kind: "VirtualService".to_string(),
        namespace: "bookinfo".to_string(),
        name: format!("{}-{i}", source.rsplit('/').next().unwrap_or(source)),
        content_hash: format!("sha256:{source}:{i}"),
    }
}

/// A write of `edges` to `cluster` under `generation`.
pub fn edges(cluster: &str, generation: i64, edges: Vec<EdgeRecord>) -> DeliveryWrite {
    DeliveryWrite {
        cluster: cluster.to_string(),
        generation,
        edges,
        ..DeliveryWrite::default()
    }
}

/// Every change after `after`, read in pages of `limit`; asserts the feed ascends.
pub async fn follow(store: &Store, after: i64, limit: u32) -> DeliveryChanges {
    let mut all = DeliveryChanges {
        last_seq: after,
        ..DeliveryChanges::default()
    };
    loop {
        let page = store
            .delivery_since(all.last_seq, limit)
            .await
            .expect("delivery since");
        let seqs: Vec<i64> = page
            .clusters
            .iter()
            .map(|c| c.seq)
            .chain(page.edges.iter().map(|e| e.seq))
            .collect();
        assert!(
            seqs.iter()
                .all(|seq| *seq > all.last_seq && *seq <= page.last_seq),
            "page after {} holds seqs {seqs:?} beyond (after, last_seq = {}]",
            all.last_seq,
            page.last_seq
        );
        for rows in [
            page.clusters.iter().map(|c| c.seq).collect::<Vec<_>>(),
            page.edges.iter().map(|e| e.seq).collect(),
        ] {
            assert!(rows.windows(2).all(|w| w[0] < w[1]), "ascending: {rows:?}");
        }
        if page.last_seq == all.last_seq {
            assert!(seqs.is_empty(), "an empty page keeps the position");
            return all;
        }
        all.last_seq = page.last_seq;
        all.clusters.extend(page.clusters);
        all.edges.extend(page.edges);
    }
}

pub async fn claims_increment_the_generation(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(
        store.cluster_delivery("eu-1").await.expect("read"),
        (None, Vec::new()),
        "nothing before the first claim"
    );
    let first = store
        .claim_cluster("eu-1", "replica-a")
        .await
        .expect("claim");
    assert_eq!(
        (first.generation, first.replica.as_str(), first.connected),
        (1, "replica-a", true)
    );
    assert_eq!((first.acked_revision, first.held_prune.clone()), (0, None));
    assert!(first.seq > 0);
    assert!(
        first.updated.parse::<jiff::Timestamp>().is_ok(),
        "RFC 3339: {}",
        first.updated
    );

    // Disconnect, then another replica claims it.
    let applied = store
        .write_deliveries(&[DeliveryWrite {
            connected: Some(false),
            acked_revision: Some(4),
            ..edges("eu-1", 1, vec![])
        }])
        .await
        .expect("write");
    assert_eq!(applied, [true]);
    let second = store
        .claim_cluster("eu-1", "replica-b")
        .await
        .expect("claim");
    assert_eq!(
        (second.generation, second.replica.as_str(), second.connected),
        (2, "replica-b", true)
    );
    assert_eq!(
        second.acked_revision, 4,
        "a claim keeps what was acknowledged"
    );
    assert!(second.seq > first.seq);
    let (stored, _) = store.cluster_delivery("eu-1").await.expect("read");
    assert_eq!(stored, Some(second));

    let other = store
        .claim_cluster("us-1", "replica-a")
        .await
        .expect("claim");
    assert_eq!(other.generation, 1, "generations are per cluster");
}

pub async fn a_stale_generation_is_refused_and_changes_nothing(db: &TestDb) {
    let store = db.open().await;
    store
        .claim_cluster("eu-1", "replica-a")
        .await
        .expect("claim");
    let stale_write = || DeliveryWrite {
        acked_revision: Some(9),
        held_prune: Some(Some(json!({ "count": 40 }))),
        connected: Some(false),
        ..edges(
            "eu-1",
            1,
            vec![edge("organizations/acme/x", Some("APPLIED"), 9, Some(1))],
        )
    };
    assert_eq!(
        store
            .write_deliveries(&[stale_write()])
            .await
            .expect("write"),
        [true]
    );
    let newer = store
        .claim_cluster("eu-1", "replica-b")
        .await
        .expect("claim");
    let before = store.cluster_delivery("eu-1").await.expect("read");
    let seq = *store.subscribe_delivery().borrow();

    let stale = DeliveryWrite {
        acked_revision: Some(10),
        held_prune: Some(None),
        connected: Some(false),
        confirm_prune: Some(true),
        ..edges(
            "eu-1",
            1,
            vec![
                edge("organizations/acme/x", None, 10, Some(0)),
                edge("organizations/acme/y", Some("APPLIED"), 10, None),
            ],
        )
    };
    let fresh = DeliveryWrite {
        acked_revision: Some(11),
        ..edges(
            "us-1",
            0,
            vec![edge("organizations/acme/x", Some("UNKNOWN"), 11, None)],
        )
    };
    let applied = store
        .write_deliveries(&[stale, fresh])
        .await
        .expect("write");
    assert_eq!(
        applied,
        [false, true],
        "per write: the stale one is refused"
    );
    assert_eq!(
        store.cluster_delivery("eu-1").await.expect("read"),
        before,
        "the stale write changed nothing"
    );
    let feed = follow(&store, seq, 0).await;
    assert!(
        feed.clusters.iter().all(|c| c.cluster == "us-1")
            && feed.edges.iter().all(|e| e.cluster == "us-1"),
        "only us-1 changed: {feed:?}"
    );
    let (us, us_edges) = store.cluster_delivery("us-1").await.expect("read");
    let us = us.expect("a write under generation 0 creates the row");
    assert_eq!(
        (
            us.generation,
            us.replica.as_str(),
            us.connected,
            us.acked_revision
        ),
        (0, "", false, 11)
    );
    assert_eq!(us_edges.len(), 1);

    // The current generation writes.
    assert_eq!(
        store
            .write_deliveries(&[DeliveryWrite {
                acked_revision: Some(12),
                ..edges("eu-1", newer.generation, vec![])
            }])
            .await
            .expect("write"),
        [true]
    );
    let (row, _) = store.cluster_delivery("eu-1").await.expect("read");
    assert_eq!(row.expect("row").acked_revision, 12);
}

pub async fn objects_none_keeps_the_stored_objects(db: &TestDb) {
    let store = db.open().await;
    let generation = store
        .claim_cluster("eu-1", "r")
        .await
        .expect("claim")
        .generation;
    let source = "organizations/acme/tenants/t/workspaces/w/trafficgroups/g/trafficsettings/s";
    let edges_of = |e: EdgeRecord| edges("eu-1", generation, vec![e]);
    let write = async |e: EdgeRecord| store.write_deliveries(&[edges_of(e)]).await;
    write(edge(source, Some("UNKNOWN"), 1, Some(3)))
        .await
        .expect("write");
    write(edge(source, Some("APPLIED"), 2, None))
        .await
        .expect("write");
    let (_, stored) = store.cluster_delivery("eu-1").await.expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].state.as_deref(), Some("APPLIED"));
    assert_eq!(stored[0].revision, 2);
    assert_eq!(stored[0].cluster, "eu-1");
    assert_eq!(
        stored[0].objects,
        edge(source, None, 0, Some(3)).objects,
        "kept"
    );

    write(edge(source, Some("APPLIED"), 3, Some(0)))
        .await
        .expect("write");
    let (_, stored) = store.cluster_delivery("eu-1").await.expect("read");
    assert_eq!(
        stored[0].objects,
        Some(Vec::new()),
        "Some replaces, even with nothing"
    );

    // Never written: None on read.
    write(edge("organizations/acme/other", Some("UNKNOWN"), 3, None))
        .await
        .expect("write");
    let (_, stored) = store.cluster_delivery("eu-1").await.expect("read");
    assert_eq!(
        stored[0].source, "organizations/acme/other",
        "sorted by source"
    );
    assert_eq!(stored[0].objects, None);

    // Two writes of one call to the same edge apply in order.
    let applied = store
        .write_deliveries(&[
            edges_of(edge(source, Some("ERRORED"), 4, Some(2))),
            edges_of(edge(source, Some("APPLIED"), 5, None)),
        ])
        .await
        .expect("write");
    assert_eq!(applied, [true, true]);
    let (_, stored) = store.cluster_delivery("eu-1").await.expect("read");
    assert_eq!(
        (stored[1].state.as_deref(), stored[1].revision),
        (Some("APPLIED"), 5)
    );
    assert_eq!(stored[1].objects, edge(source, None, 0, Some(2)).objects);
}

pub async fn tombstones_are_in_the_feed_and_not_in_cluster_delivery(db: &TestDb) {
    let store = db.open().await;
    let generation = store
        .claim_cluster("eu-1", "r")
        .await
        .expect("claim")
        .generation;
    store
        .write_deliveries(&[edges(
            "eu-1",
            generation,
            vec![
                edge("a", Some("APPLIED"), 1, Some(1)),
                edge("b", Some("APPLIED"), 1, Some(1)),
            ],
        )])
        .await
        .expect("write");
    let position = follow(&store, 0, 0).await.last_seq;
    store
        .write_deliveries(&[edges("eu-1", generation, vec![edge("a", None, 2, None)])])
        .await
        .expect("write");
    let feed = follow(&store, position, 0).await;
    assert!(
        feed.clusters.is_empty(),
        "an edge write alone leaves the cluster row"
    );
    assert_eq!(feed.edges.len(), 1);
    let tombstone = &feed.edges[0];
    assert_eq!(
        (
            tombstone.cluster.as_str(),
            tombstone.source.as_str(),
            tombstone.state.clone()
        ),
        ("eu-1", "a", None)
    );
    assert_eq!((tombstone.revision, tombstone.objects.clone()), (2, None));
    let (_, live) = store.cluster_delivery("eu-1").await.expect("read");
    let sources: Vec<&str> = live.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(sources, ["b"]);

    // A tombstone can come back to life.
    store
        .write_deliveries(&[edges(
            "eu-1",
            generation,
            vec![edge("a", Some("UNKNOWN"), 3, None)],
        )])
        .await
        .expect("write");
    let (_, live) = store.cluster_delivery("eu-1").await.expect("read");
    assert_eq!(live.len(), 2);
}

pub async fn the_feed_returns_each_change_once_and_in_order(db: &TestDb) {
    let store = db.open().await;
    let start = *store.subscribe_delivery().borrow();
    assert_eq!(start, 0, "a new store starts at 0");
    let mut generations = BTreeMap::new();
    for cluster in ["c0", "c1", "c2"] {
        let claimed = store.claim_cluster(cluster, "r").await.expect("claim");
        generations.insert(cluster, claimed.generation);
    }
    let mut expected_last = 0;
    for round in 0..5_i64 {
        let writes: Vec<DeliveryWrite> = generations
            .iter()
            .map(|(cluster, generation)| DeliveryWrite {
                acked_revision: Some(round),
                ..edges(
                    cluster,
                    *generation,
                    vec![
                        edge("shared", Some("APPLIED"), round, None),
                        edge(&format!("s{round}"), Some("UNKNOWN"), round, None),
                    ],
                )
            })
            .collect();
        store.write_deliveries(&writes).await.expect("write");
        // 3 clusters × (2 edges + the cluster row) per round, after 3 claims.
        expected_last = 3 + (round + 1) * 9;
        assert_eq!(
            *store.subscribe_delivery().borrow(),
            expected_last,
            "one seq per row"
        );
    }

    // Pages of 4 across both tables; every row once, with its final value.
    let feed = follow(&store, 0, 4).await;
    assert_eq!(feed.last_seq, expected_last);
    assert_eq!(feed.clusters.len(), 3);
    assert_eq!(feed.edges.len(), 3 * 6, "shared + s0..s4 per cluster");
    let mut seqs: Vec<i64> = feed
        .clusters
        .iter()
        .map(|c| c.seq)
        .chain(feed.edges.iter().map(|e| e.seq))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 21, "each row once");
    for cluster in generations.keys() {
        let (row, live) = store.cluster_delivery(cluster).await.expect("read");
        let row = row.expect("row");
        assert!(
            feed.clusters.contains(&row),
            "final cluster row in the feed"
        );
        assert_eq!(row.acked_revision, 4);
        for stored in live {
            let fed = EdgeRecord {
                objects: None,
                ..stored
            };
            assert!(feed.edges.contains(&fed), "final edge in the feed: {fed:?}");
        }
    }
    // A row changed again moves to the end of the feed.
    let write = DeliveryWrite {
        acked_revision: Some(5),
        ..edges("c1", generations["c1"], vec![])
    };
    store.write_deliveries(&[write]).await.expect("write");
    let tail = follow(&store, feed.last_seq, 0).await;
    assert_eq!(tail.clusters.len(), 1);
    assert_eq!(
        (tail.clusters[0].cluster.as_str(), tail.clusters[0].seq),
        ("c1", expected_last + 1)
    );

    // Nothing applied: no seq taken.
    let refused = store
        .write_deliveries(&[edges("c1", 99, vec![edge("x", Some("APPLIED"), 1, None)])])
        .await
        .expect("write");
    assert_eq!(refused, [false]);
    assert_eq!(
        store
            .delivery_since(tail.last_seq, 0)
            .await
            .expect("feed")
            .last_seq,
        tail.last_seq
    );
    assert_eq!(
        store.write_deliveries(&[]).await.expect("empty"),
        Vec::<bool>::new()
    );
}

pub async fn confirm_prune_needs_a_held_prune(db: &TestDb) {
    let store = db.open().await;
    assert_eq!(
        store.confirm_prune("eu-1").await.expect("confirm"),
        None,
        "no row"
    );
    let generation = store
        .claim_cluster("eu-1", "r")
        .await
        .expect("claim")
        .generation;
    assert_eq!(
        store.confirm_prune("eu-1").await.expect("confirm"),
        None,
        "none held"
    );
    let (row, _) = store.cluster_delivery("eu-1").await.expect("read");
    assert!(!row.expect("row").confirm_prune);

    let hold = json!({ "revision": 7, "deletions": 40, "kinds": ["VirtualService"] });
    store
        .write_deliveries(&[DeliveryWrite {
            held_prune: Some(Some(hold.clone())),
            ..edges("eu-1", generation, vec![])
        }])
        .await
        .expect("write");
    // Another replica (on SQLite, another store on the file) confirms.
    let other = db.open().await;
    let mut rx = other.subscribe_delivery();
    let before = *rx.borrow_and_update();
    assert_eq!(
        other.confirm_prune("eu-1").await.expect("confirm"),
        Some(hold.clone())
    );
    let (row, _) = store.cluster_delivery("eu-1").await.expect("read");
    let row = row.expect("row");
    assert!(row.confirm_prune);
    assert_eq!(row.held_prune, Some(hold));
    assert!(row.seq > before, "a confirmation is a change");
    await_revision(&mut rx, row.seq, Duration::from_secs(2)).await;

    // The serving replica clears both once it pruned.
    store
        .write_deliveries(&[DeliveryWrite {
            held_prune: Some(None),
            confirm_prune: Some(false),
            ..edges("eu-1", generation, vec![])
        }])
        .await
        .expect("write");
    assert_eq!(store.confirm_prune("eu-1").await.expect("confirm"), None);
    let (row, _) = store.cluster_delivery("eu-1").await.expect("read");
    let row = row.expect("row");
    assert_eq!((row.held_prune, row.confirm_prune), (None, false));
}

pub async fn subscribers_see_this_stores_delivery_writes(db: &TestDb) {
    let store = db.open().await;
    let mut rx = store.subscribe_delivery();
    let claimed = store.claim_cluster("eu-1", "r").await.expect("claim");
    assert_eq!(*rx.borrow_and_update(), claimed.seq, "moved on return");
    store
        .write_deliveries(&[edges("eu-1", 1, vec![edge("a", Some("APPLIED"), 1, None)])])
        .await
        .expect("write");
    assert_eq!(*rx.borrow_and_update(), claimed.seq + 1);
    drop(store);
    // A reopened store starts where the feed is.
    let again = db.open().await;
    assert_eq!(*again.subscribe_delivery().borrow(), claimed.seq + 1);
}

/// Correctness of an initial sync's write; prints its time (speed lives in benchmarks).
pub async fn a_thousand_clusters_in_one_write(db: &TestDb) {
    const CLUSTERS: usize = 1_000;
    let store = db.open().await;
    let mut writes = Vec::with_capacity(CLUSTERS);
    for i in 0..CLUSTERS {
        let cluster = format!("cluster-{i:04}");
        let claimed = store.claim_cluster(&cluster, "r").await.expect("claim");
        writes.push(DeliveryWrite {
            acked_revision: Some(1),
            connected: Some(true),
            ..edges(
                &cluster,
                claimed.generation,
                vec![
                    edge(
                        "organizations/acme/tenants/t/a",
                        Some("APPLIED"),
                        1,
                        Some(2),
                    ),
                    edge(
                        "organizations/acme/tenants/t/b",
                        Some("APPLIED"),
                        1,
                        Some(2),
                    ),
                ],
            )
        });
    }
    let position = *store.subscribe_delivery().borrow();
    let started = Instant::now();
    let applied = store.write_deliveries(&writes).await.expect("write");
    let took = started.elapsed();
    println!(
        "write_deliveries of {CLUSTERS} clusters × 2 edges on {}: {took:?}",
        db.url().split(':').next().unwrap_or("?")
    );
    assert!(applied.iter().all(|a| *a));
    let feed = follow(&store, position, 0).await;
    assert_eq!(
        (feed.clusters.len(), feed.edges.len()),
        (CLUSTERS, 2 * CLUSTERS)
    );
    assert_eq!(feed.last_seq, position + 3 * CLUSTERS as i64);
    let started = Instant::now();
    let again = store.write_deliveries(&writes).await.expect("rewrite");
    println!("  the same write again (updates): {:?}", started.elapsed());
    assert!(again.iter().all(|a| *a));
    let (row, live) = store.cluster_delivery("cluster-0500").await.expect("read");
    assert_eq!(row.map(|r: ClusterDelivery| r.acked_revision), Some(1));
    assert_eq!(live.len(), 2);
}
