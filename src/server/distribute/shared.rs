//! Distribution state shared through the store: every replica writes the edges and
//! acknowledgements of the clusters it serves, and mirrors those of the clusters others serve,
//! so any replica answers status, counts and `confirm-deletions` for every cluster, and an
//! agent that moves to another replica (or finds its replica restarted) resumes from what it
//! acknowledged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::status::EdgeState;
use crate::model::translate::ObjectKey;
use crate::proto::v1;
use crate::server::distribute::link::{Interner, Link, Sent, Source, TargetRef};
use crate::server::distribute::plan::{entry_hash, parse_hash};
use crate::store::{ClusterDelivery, DeliveredObject, DeliveryWrite, EdgeRecord};

/// A cluster another replica serves (or nobody now), as the store's change feed shows it.
#[derive(Debug, Default)]
pub(super) struct Remote {
    pub delivery: ClusterDelivery,
    pub edges: BTreeMap<Source, EdgeState>,
}

/// A stored edge state; `None` for a tombstone or a name this version does not know.
pub(super) fn parse_state(name: Option<&str>) -> Option<EdgeState> {
    EdgeState::from_name(name?)
}

/// The held prune as the store keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct HeldPrune {
    pub count: u32,
    pub owned: u32,
    pub message: String,
}

impl HeldPrune {
    pub fn of(hold: &v1::PruneHold) -> HeldPrune {
        HeldPrune {
            count: hold.count,
            owned: hold.owned,
            message: hold.message.clone(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn from_json(value: &serde_json::Value) -> Option<HeldPrune> {
        serde_json::from_value(value.clone()).ok()
    }
}

/// The API group of an `apiVersion` (`""` for the core group).
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// A link rebuilt from what the store holds of the cluster: the objects its agent
/// acknowledged, their edges and the acknowledged revision. Its checksum is computed from
/// those objects, so an agent holding exactly them resumes with deltas.
pub(super) fn link_from_store(
    delivery: &ClusterDelivery,
    edges: Vec<EdgeRecord>,
    interner: &mut Interner,
) -> Link {
    let mut link = Link {
        revision: u64::try_from(delivery.acked_revision).unwrap_or_default(),
        acked: u64::try_from(delivery.acked_revision).unwrap_or_default(),
        ..Link::default()
    };
    for edge in edges {
        let source = interner.source(&edge.source);
        if let Some(state) = parse_state(edge.state.as_deref()) {
            link.edges.insert(source.clone(), state);
        }
        for object in edge.objects.unwrap_or_default() {
            let (target, hash) = interned(object, interner);
            link.sum = link.sum.wrapping_add(entry_hash(&target.key, hash));
            link.objects.insert(
                target.clone(),
                Sent {
                    source: source.clone(),
                    hash,
                },
            );
            link.by_source
                .entry(source.clone())
                .or_default()
                .push(target);
        }
    }
    link.checksum = format!("{:016x}", link.sum);
    link
}

/// A stored object's identity and content hash, interned.
fn interned(object: DeliveredObject, interner: &mut Interner) -> (TargetRef, u64) {
    let key = ObjectKey {
        group: group_of(&object.api_version).to_string(),
        kind: object.kind,
        namespace: object.namespace,
        name: object.name,
    };
    (
        interner.target(&key, &object.api_version),
        parse_hash(&object.content_hash),
    )
}

/// One edge's write while it waits: interned names and (object, hash) pairs, 16 bytes per
/// object. An initial sync of 1,000 clusters can queue a million of these faster than a
/// remote store takes them; as [`EdgeRecord`]s (five strings per object) they took gigabytes.
#[derive(Debug, Clone)]
struct PendingEdge {
    /// None: a tombstone.
    state: Option<EdgeState>,
    revision: i64,
    /// What the agent acknowledged of the source; None leaves the stored value unchanged.
    objects: Option<Vec<(TargetRef, u64)>>,
}

impl PendingEdge {
    fn record(&self, cluster: &str, source: &Source) -> EdgeRecord {
        EdgeRecord {
            cluster: cluster.to_string(),
            source: source.to_string(),
            state: self.state.map(|e| e.as_str().to_string()),
            revision: self.revision,
            objects: self.objects.as_ref().map(|objects| {
                objects
                    .iter()
                    .map(|(target, hash)| DeliveredObject {
                        api_version: target.api_version.clone(),
                        kind: target.key.kind.clone(),
                        namespace: target.key.namespace.clone(),
                        name: target.key.name.clone(),
                        content_hash: format!("{hash:016x}"),
                    })
                    .collect()
            }),
            seq: 0,
        }
    }

    fn of(record: EdgeRecord, interner: &mut Interner) -> PendingEdge {
        PendingEdge {
            state: parse_state(record.state.as_deref()),
            revision: record.revision,
            objects: record.objects.map(|objects| {
                objects
                    .into_iter()
                    .map(|object| interned(object, interner))
                    .collect()
            }),
        }
    }
}

/// One cluster's writes not yet in the store.
#[derive(Debug, Default)]
struct Pending {
    generation: i64,
    edges: BTreeMap<Source, PendingEdge>,
    acked_revision: Option<i64>,
    held_prune: Option<Option<serde_json::Value>>,
    confirm_prune: Option<bool>,
    connected: Option<bool>,
}

impl Pending {
    /// Queues `record` over an earlier write of the same edge. An earlier acknowledged set of
    /// objects not written yet stays unless this one replaces it.
    fn merge_edge(&mut self, source: Source, edge: PendingEdge) {
        match self.edges.get_mut(&source) {
            Some(earlier) if edge.objects.is_none() => {
                earlier.state = edge.state;
                earlier.revision = edge.revision;
            }
            _ => {
                self.edges.insert(source, edge);
            }
        }
    }
}

/// Writes waiting for the writer task, one entry per (cluster, source) whatever the churn:
/// bounded by what exists, and a later write of the same edge replaces the earlier one.
#[derive(Debug, Default)]
pub(super) struct Outgoing {
    clusters: BTreeMap<String, Pending>,
}

/// What changes in one cluster's row.
#[derive(Debug, Default, Clone)]
pub(super) struct RowChange {
    pub acked_revision: Option<i64>,
    pub held_prune: Option<Option<serde_json::Value>>,
    pub confirm_prune: Option<bool>,
    pub connected: Option<bool>,
}

impl Outgoing {
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
    }

    /// Moves the link's dirty edges (and acknowledged objects) into the queue.
    pub fn stage(&mut self, cluster: &str, link: &mut Link, row: RowChange) {
        if link.dirty.is_empty()
            && row.acked_revision.is_none()
            && row.held_prune.is_none()
            && row.confirm_prune.is_none()
            && row.connected.is_none()
        {
            return;
        }
        let pending = self.clusters.entry(cluster.to_string()).or_default();
        // Writes queued under this replica's previous claim of the cluster are its latest
        // knowledge too: they go out under the new one.
        pending.generation = pending.generation.max(link.generation);
        let revision = i64::try_from(link.revision).unwrap_or(i64::MAX);
        for (source, with_objects) in std::mem::take(&mut link.dirty) {
            let objects = with_objects.then(|| {
                let mut objects: Vec<(TargetRef, u64)> = link
                    .by_source
                    .get(&source)
                    .into_iter()
                    .flatten()
                    .filter_map(|target| link.objects.get(target).map(|s| (target.clone(), s.hash)))
                    .collect();
                objects.sort_by(|(a, _), (b, _)| {
                    (&a.key.kind, &a.key.namespace, &a.key.name).cmp(&(
                        &b.key.kind,
                        &b.key.namespace,
                        &b.key.name,
                    ))
                });
                objects
            });
            let edge = PendingEdge {
                state: link.edges.get(&source).copied(),
                revision,
                objects,
            };
            pending.merge_edge(source, edge);
        }
        if row.acked_revision.is_some() {
            pending.acked_revision = row.acked_revision;
        }
        if row.held_prune.is_some() {
            pending.held_prune = row.held_prune;
        }
        if row.confirm_prune.is_some() {
            pending.confirm_prune = row.confirm_prune;
        }
        if row.connected.is_some() {
            pending.connected = row.connected;
        }
    }

    /// Everything queued, as store writes under each link's current generation (a write
    /// queued before this replica claimed the cluster again belongs to the same link).
    ///
    /// At most about `budget` edges (whole clusters; at least one): one store transaction
    /// then holds SQLite's single writer briefly, and a config commit waits for one batch, not
    /// for the million edges an initial sync of 1,000 clusters leaves.
    pub fn take(&mut self, links: &BTreeMap<String, Link>, budget: usize) -> Vec<DeliveryWrite> {
        let mut taken = BTreeMap::new();
        let mut edges = 0;
        while edges < budget.max(1) {
            let Some((cluster, pending)) = self.clusters.pop_first() else {
                break;
            };
            edges += pending.edges.len().max(1);
            taken.insert(cluster, pending);
        }
        taken
            .into_iter()
            .map(|(cluster, pending)| DeliveryWrite {
                generation: links
                    .get(&cluster)
                    .map_or(pending.generation, |l| l.generation.max(pending.generation)),
                edges: pending
                    .edges
                    .iter()
                    .map(|(source, edge)| edge.record(&cluster, source))
                    .collect(),
                cluster,
                acked_revision: pending.acked_revision,
                held_prune: pending.held_prune,
                confirm_prune: pending.confirm_prune,
                connected: pending.connected,
            })
            .collect()
    }

    /// Puts back writes that failed, under anything queued since (which is newer).
    pub fn restore(&mut self, writes: Vec<DeliveryWrite>, interner: &mut Interner) {
        for write in writes {
            let newer = self.clusters.remove(&write.cluster);
            let mut pending = Pending {
                generation: write.generation,
                edges: write
                    .edges
                    .into_iter()
                    .map(|e| (interner.source(&e.source), PendingEdge::of(e, interner)))
                    .collect(),
                acked_revision: write.acked_revision,
                held_prune: write.held_prune,
                confirm_prune: write.confirm_prune,
                connected: write.connected,
            };
            if let Some(newer) = newer {
                pending.generation = pending.generation.max(newer.generation);
                for (source, record) in newer.edges {
                    pending.merge_edge(source, record);
                }
                pending.acked_revision = newer.acked_revision.or(pending.acked_revision);
                pending.held_prune = newer.held_prune.or(pending.held_prune);
                pending.confirm_prune = newer.confirm_prune.or(pending.confirm_prune);
                pending.connected = newer.connected.or(pending.connected);
            }
            self.clusters.insert(write.cluster, pending);
        }
    }
}

/// The replica's name in the store: the pod name where there is one (`HOSTNAME`), and the
/// process id, so two processes on one host stay apart.
pub(super) fn replica_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "mp".into());
    format!("{host}/{}", std::process::id())
}
