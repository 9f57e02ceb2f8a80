//! Distribution state shared by every replica: per cluster, who serves its stream and what its
//! agent acknowledged; per (cluster, source object), the edge state.
//!
//! **The change feed.** Every changed row (cluster or edge) takes the next `seq` from the one
//! `delivery_meta` row, inside the write transaction and under that row's lock, so seqs are
//! unique, strictly increasing and committed in order: a reader asking for `seq > after` never
//! skips a row that commits later with a smaller seq. A row keeps only its latest value and
//! seq, so a reader following the feed sees each row's final value (tombstones included).
//!
//! **Generations.** [`Store::claim_cluster`](super::Store::claim_cluster) increments the
//! cluster's generation; a write carries the generation its stream was claimed with and is
//! refused once another stream claimed the cluster. A cluster without a row has generation 0.
//! Delivery rows do not require the cluster to be registered (no foreign key to `clusters`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::types::Json;

/// One (cluster, source object) row of the distribution state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeRecord {
    /// The cluster (on write, the [`DeliveryWrite::cluster`] is used instead).
    pub cluster: String,
    /// FQN of the source object.
    pub source: String,
    /// "UNKNOWN" | "APPLIED" | "ERRORED" | "IGNORED"; None = no edge any more (a tombstone,
    /// kept so the change feed carries the removal).
    pub state: Option<String>,
    /// The cluster's distribution revision this state refers to.
    pub revision: i64,
    /// What the cluster's agent acknowledged of this source. On write: None leaves the stored
    /// value unchanged, Some replaces it. On read: None when never written (and always None
    /// from `delivery_since`, which does not read them).
    pub objects: Option<Vec<DeliveredObject>>,
    /// Position in the delivery change feed; assigned by the store on every write (ignored on
    /// input).
    pub seq: i64,
}

/// One generated Istio object as acknowledged by a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveredObject {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Hash of the content the agent applied.
    pub content_hash: String,
}

/// Per cluster: who serves it and what it acknowledged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ClusterDelivery {
    /// Cluster name.
    pub cluster: String,
    /// Replica id serving its stream ("" when none ever).
    pub replica: String,
    /// Stream generation: how many times a stream of this cluster was claimed.
    pub generation: i64,
    /// A stream of the cluster is open on `replica`.
    pub connected: bool,
    /// Last distribution revision the agent acknowledged.
    pub acked_revision: i64,
    /// The prune the agent's mass-prune guard held (the proto `PruneHold` as JSON), if any.
    pub held_prune: Option<serde_json::Value>,
    /// An admin confirmed that held prune (set by any replica; the serving replica acts on it).
    pub confirm_prune: bool,
    /// RFC 3339 time of the last change to this row.
    pub updated: String,
    /// Position in the delivery change feed.
    pub seq: i64,
}

/// One cluster's share of a delivery write.
#[derive(Debug, Clone, Default)]
pub struct DeliveryWrite {
    /// The cluster.
    pub cluster: String,
    /// Applied only while the stored row's generation still equals this (a replica that lost
    /// the cluster to a newer stream cannot overwrite it). A cluster without a row has
    /// generation 0.
    pub generation: i64,
    /// Upserted: state, revision, and objects when Some.
    pub edges: Vec<EdgeRecord>,
    /// Some(x): set acked_revision to x.
    pub acked_revision: Option<i64>,
    /// Some(x): set held_prune to x (Some(None) and Some(Some(JSON null)) clear it).
    pub held_prune: Option<Option<serde_json::Value>>,
    /// Some(x): set confirm_prune to x.
    pub confirm_prune: Option<bool>,
    /// Some(x): set connected to x.
    pub connected: Option<bool>,
}

/// Rows changed after a feed position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryChanges {
    /// Cluster rows, ascending by seq.
    pub clusters: Vec<ClusterDelivery>,
    /// Edge rows (objects = None), ascending by seq.
    pub edges: Vec<EdgeRecord>,
    /// The highest seq returned (or `after` when none): the next call's `after`.
    pub last_seq: i64,
}

// === merging a call's writes ===

/// The writes of one call merged so that each (cluster, generation) appears once and each
/// source once within it, as the backends apply them. At most one generation of a cluster can
/// match the stored one, so the applied writes touch each row once.
#[derive(Debug, Default, Serialize)]
pub(super) struct MergedWrite {
    pub(super) cluster: String,
    pub(super) generation: i64,
    pub(super) edges: Vec<WireEdge>,
    /// Whether any cluster field is set (else the cluster row is not touched).
    pub(super) touches: bool,
    pub(super) acked_revision: Option<i64>,
    /// Whether `held_prune` is to be written (it may be written as NULL).
    pub(super) set_held: bool,
    /// The held prune as JSON text.
    pub(super) held_prune: Option<String>,
    pub(super) confirm_prune: Option<bool>,
    pub(super) connected: Option<bool>,
}

/// An edge as written.
#[derive(Debug, Serialize)]
pub(super) struct WireEdge {
    pub(super) source: String,
    pub(super) state: Option<String>,
    pub(super) revision: i64,
    pub(super) objects: Option<Vec<DeliveredObject>>,
}

/// Merges `writes` in order (a later value wins; objects None keeps an earlier Some); returns
/// the merged writes and, per input write, the index of the merged write it went into.
pub(super) fn merge(writes: &[DeliveryWrite]) -> (Vec<MergedWrite>, Vec<usize>) {
    let mut merged: Vec<MergedWrite> = Vec::new();
    let mut by_key: HashMap<(&str, i64), usize> = HashMap::new();
    let mut sources: Vec<HashMap<String, usize>> = Vec::new();
    let mut index = Vec::with_capacity(writes.len());
    for write in writes {
        let at = *by_key
            .entry((write.cluster.as_str(), write.generation))
            .or_insert_with(|| {
                merged.push(MergedWrite {
                    cluster: write.cluster.clone(),
                    generation: write.generation,
                    ..MergedWrite::default()
                });
                sources.push(HashMap::new());
                merged.len() - 1
            });
        index.push(at);
        let target = &mut merged[at];
        for edge in &write.edges {
            let wire = WireEdge {
                source: edge.source.clone(),
                state: edge.state.clone(),
                revision: edge.revision,
                objects: edge.objects.clone(),
            };
            match sources[at].get(&edge.source) {
                Some(&i) => {
                    let earlier = &mut target.edges[i];
                    let objects = wire.objects.or(earlier.objects.take());
                    *earlier = WireEdge { objects, ..wire };
                }
                None => {
                    sources[at].insert(edge.source.clone(), target.edges.len());
                    target.edges.push(wire);
                }
            }
        }
        if let Some(acked) = write.acked_revision {
            target.acked_revision = Some(acked);
            target.touches = true;
        }
        if let Some(held) = &write.held_prune {
            target.set_held = true;
            // JSON null is no prune, as on read (a NULL column).
            target.held_prune = held
                .as_ref()
                .filter(|held| !held.is_null())
                .map(serde_json::Value::to_string);
            target.touches = true;
        }
        if let Some(confirm) = write.confirm_prune {
            target.confirm_prune = Some(confirm);
            target.touches = true;
        }
        if let Some(connected) = write.connected {
            target.connected = Some(connected);
            target.touches = true;
        }
    }
    (merged, index)
}

/// Per input write, whether its merged write was applied.
pub(super) fn unmerge(applied: &[bool], index: &[usize]) -> Vec<bool> {
    index
        .iter()
        .map(|&i| applied.get(i).copied().unwrap_or(false))
        .collect()
}

// === reading the feed ===

/// Cuts the rows of both tables (each ascending, each at most `limit`) at one feed position:
/// when a table returned `limit` rows, the other may hold rows beyond its last seq that the
/// next call returns, so nothing past the lowest truncated table's last seq is returned now.
pub(super) fn feed(
    after: i64,
    limit: i64,
    mut clusters: Vec<ClusterDelivery>,
    mut edges: Vec<EdgeRecord>,
) -> DeliveryChanges {
    let full = |len: usize| i64::try_from(len).unwrap_or(i64::MAX) >= limit;
    let mut cut = i64::MAX;
    if full(clusters.len())
        && let Some(last) = clusters.last()
    {
        cut = cut.min(last.seq);
    }
    if full(edges.len())
        && let Some(last) = edges.last()
    {
        cut = cut.min(last.seq);
    }
    clusters.retain(|c| c.seq <= cut);
    edges.retain(|e| e.seq <= cut);
    let last_seq = clusters
        .iter()
        .map(|c| c.seq)
        .chain(edges.iter().map(|e| e.seq))
        .max()
        .unwrap_or(after);
    DeliveryChanges {
        clusters,
        edges,
        last_seq,
    }
}

/// [`feed`] of rows as read.
pub(super) fn feed_rows(
    after: i64,
    limit: i64,
    clusters: Vec<ClusterRow>,
    edges: Vec<EdgeRow>,
) -> DeliveryChanges {
    let clusters = clusters.into_iter().map(Into::into).collect();
    feed(
        after,
        limit,
        clusters,
        edges.into_iter().map(Into::into).collect(),
    )
}

/// A cluster's row and edges as read.
pub(super) fn cluster_rows(
    row: Option<ClusterRow>,
    edges: Vec<EdgeRow>,
) -> (Option<ClusterDelivery>, Vec<EdgeRecord>) {
    (
        row.map(Into::into),
        edges.into_iter().map(Into::into).collect(),
    )
}

/// The time a row is changed, RFC 3339 to the millisecond.
pub(super) fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

// === rows ===

/// A `delivery_clusters` row.
#[derive(sqlx::FromRow)]
pub(super) struct ClusterRow {
    cluster: String,
    replica: String,
    generation: i64,
    connected: bool,
    acked_revision: i64,
    held_prune: Option<Json<serde_json::Value>>,
    confirm_prune: bool,
    updated: String,
    seq: i64,
}

impl From<ClusterRow> for ClusterDelivery {
    fn from(row: ClusterRow) -> ClusterDelivery {
        ClusterDelivery {
            cluster: row.cluster,
            replica: row.replica,
            generation: row.generation,
            connected: row.connected,
            acked_revision: row.acked_revision,
            held_prune: row.held_prune.map(|held| held.0),
            confirm_prune: row.confirm_prune,
            updated: row.updated,
            seq: row.seq,
        }
    }
}

/// A `delivery_edges` row.
#[derive(sqlx::FromRow)]
pub(super) struct EdgeRow {
    cluster: String,
    source: String,
    state: Option<String>,
    revision: i64,
    objects: Option<Json<Vec<DeliveredObject>>>,
    seq: i64,
}

impl From<EdgeRow> for EdgeRecord {
    fn from(row: EdgeRow) -> EdgeRecord {
        EdgeRecord {
            cluster: row.cluster,
            source: row.source,
            state: row.state,
            revision: row.revision,
            objects: row.objects.map(|objects| objects.0),
            seq: row.seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(source: &str, state: &str, objects: Option<usize>) -> EdgeRecord {
        EdgeRecord {
            cluster: "ignored".into(),
            source: source.into(),
            state: Some(state.into()),
            revision: 1,
            objects: objects.map(|n| {
                (0..n)
                    .map(|i| DeliveredObject {
                        api_version: "v1".into(),
                        kind: "K".into(),
                        namespace: "ns".into(),
                        name: format!("o{i}"),
                        content_hash: "h".into(),
                    })
                    .collect()
            }),
            seq: 0,
        }
    }

    #[test]
    fn merging_keeps_one_write_per_cluster_generation_and_one_edge_per_source() {
        let writes = [
            DeliveryWrite {
                cluster: "a".into(),
                generation: 2,
                edges: vec![edge("s1", "UNKNOWN", Some(2)), edge("s2", "UNKNOWN", None)],
                acked_revision: Some(3),
                ..DeliveryWrite::default()
            },
            DeliveryWrite {
                cluster: "b".into(),
                generation: 1,
                ..DeliveryWrite::default()
            },
            DeliveryWrite {
                cluster: "a".into(),
                generation: 2,
                edges: vec![edge("s1", "APPLIED", None)],
                held_prune: Some(Some(serde_json::Value::Null)),
                ..DeliveryWrite::default()
            },
            DeliveryWrite {
                cluster: "a".into(),
                generation: 1,
                connected: Some(false),
                ..DeliveryWrite::default()
            },
        ];
        let (merged, index) = merge(&writes);
        assert_eq!(index, [0, 1, 0, 2]);
        assert_eq!(merged.len(), 3);
        let a = &merged[0];
        assert_eq!(a.edges.len(), 2);
        assert_eq!(a.edges[0].state.as_deref(), Some("APPLIED"), "later wins");
        assert_eq!(
            a.edges[0].objects.as_ref().map(Vec::len),
            Some(2),
            "None keeps the earlier objects"
        );
        assert!(a.touches && a.set_held && a.held_prune.is_none());
        assert_eq!(a.acked_revision, Some(3));
        assert!(
            !merged[1].touches,
            "edges only: the cluster row is left alone"
        );
        assert_eq!(merged[2].connected, Some(false));
        assert_eq!(
            unmerge(&[true, false, false], &index),
            [true, false, true, false]
        );
    }

    fn cluster(seq: i64) -> ClusterDelivery {
        ClusterDelivery {
            seq,
            ..ClusterDelivery::default()
        }
    }

    fn tombstone(seq: i64) -> EdgeRecord {
        EdgeRecord {
            state: None,
            seq,
            ..edge("s", "x", None)
        }
    }

    #[test]
    fn the_feed_is_cut_where_a_full_table_ends() {
        let changes = feed(
            10,
            2,
            vec![cluster(11), cluster(15)],
            vec![tombstone(12), tombstone(13)],
        );
        let seqs = |c: &DeliveryChanges| {
            (
                c.clusters.iter().map(|c| c.seq).collect::<Vec<_>>(),
                c.edges.iter().map(|e| e.seq).collect::<Vec<_>>(),
            )
        };
        assert_eq!(seqs(&changes), (vec![11], vec![12, 13]));
        assert_eq!(changes.last_seq, 13);

        let partial = feed(10, 3, vec![cluster(11), cluster(15)], vec![tombstone(12)]);
        assert_eq!(seqs(&partial), (vec![11, 15], vec![12]));
        assert_eq!(partial.last_seq, 15);

        assert_eq!(feed(7, 5, vec![], vec![]).last_seq, 7, "nothing new");
    }
}
