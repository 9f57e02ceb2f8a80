//! One cluster's delivery state on this replica, and the identities every cluster shares.
//!
//! With 1,000 clusters most of them hold the same generated objects from the same sources, so
//! names are interned: a source FQN or an object's identity is one allocation however many
//! clusters hold it, and a cluster keeps per object only two pointers and a content hash. The
//! objects' JSON is not kept at all: it comes from the translation when something is sent.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use crate::model::resolve::{ClusterNamespaces, Resolution};
use crate::model::status::EdgeState;
use crate::model::translate::ObjectKey;
use crate::proto::v1;
use crate::server::distribute::queue::Queue;

/// A source object's FQN, interned.
pub(super) type Source = Arc<str>;

/// A generated object's identity as the agent knows it: its key and `apiVersion`.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Target {
    pub key: ObjectKey,
    pub api_version: String,
}

impl Target {
    pub fn proto_key(&self) -> v1::ObjectKey {
        v1::ObjectKey {
            api_version: self.api_version.clone(),
            kind: self.key.kind.clone(),
            namespace: self.key.namespace.clone(),
            name: self.key.name.clone(),
        }
    }
}

/// An interned [`Target`]. Equal targets are one allocation (see [`Interner`]), so identity,
/// hashing and equality are the pointer's.
#[derive(Debug, Clone)]
pub(super) struct TargetRef(Arc<Target>);

impl PartialEq for TargetRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TargetRef {}

impl Hash for TargetRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.0), state);
    }
}

impl PartialOrd for TargetRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TargetRef {
    /// By content, so what is sent is in a stable order.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl Deref for TargetRef {
    type Target = Target;
    fn deref(&self) -> &Target {
        &self.0
    }
}

/// The one copy of each source FQN and object identity, and of each object's JSON.
#[derive(Debug, Default)]
pub(super) struct Interner {
    sources: HashSet<Arc<str>>,
    targets: HashMap<ObjectKey, TargetRef>,
    /// Serialized objects by identity and content hash: clusters that receive the same object
    /// share one string while it waits in their queues.
    json: HashMap<(TargetRef, u64), Arc<str>>,
    /// Entries after the last purge: the next one runs when the tables have doubled.
    live: usize,
}

impl Interner {
    pub fn source(&mut self, fqn: &str) -> Source {
        if let Some(source) = self.sources.get(fqn) {
            return source.clone();
        }
        let source: Source = fqn.into();
        self.sources.insert(source.clone());
        source
    }

    pub fn target(&mut self, key: &ObjectKey, api_version: &str) -> TargetRef {
        if let Some(target) = self.targets.get(key)
            && target.api_version == api_version
        {
            return target.clone();
        }
        let target = TargetRef(Arc::new(Target {
            key: key.clone(),
            api_version: api_version.to_string(),
        }));
        self.targets.insert(key.clone(), target.clone());
        target
    }

    /// The JSON of `target` with `hash`, made by `render` the first time.
    pub fn json(
        &mut self,
        target: &TargetRef,
        hash: u64,
        render: impl FnOnce() -> String,
    ) -> Arc<str> {
        self.json
            .entry((target.clone(), hash))
            .or_insert_with(|| render().into())
            .clone()
    }

    /// Drops what no cluster and no queue refers to any more, once the tables have doubled
    /// since the last purge (amortized O(1) per entry).
    pub fn purge(&mut self) {
        let size = self.sources.len() + self.targets.len() + self.json.len();
        if size < 2 * self.live + 4096 {
            return;
        }
        // JSON first: its keys hold target references.
        self.json.retain(|_, json| Arc::strong_count(json) > 1);
        self.sources.retain(|s| Arc::strong_count(s) > 1);
        self.targets.retain(|_, t| Arc::strong_count(&t.0) > 1);
        self.live = self.sources.len() + self.targets.len() + self.json.len();
    }
}

/// What a cluster was sent of one object.
#[derive(Debug, Clone)]
pub(super) struct Sent {
    pub source: Source,
    pub hash: u64,
}

/// A revision sent to a cluster and not yet acknowledged.
#[derive(Debug, Clone, Default)]
pub(super) struct InFlight {
    /// The sources it touched: their edges settle on its acknowledgement.
    pub sources: Vec<Source>,
    /// Those whose output here it changed, each with the object's own change that caused
    /// that (0: none, a re-delivery): the delivery ledger's rows once it is acknowledged.
    pub delivered: Vec<(Source, i64)>,
    /// When it was sent, µs since the epoch.
    pub sent_us: i64,
}

/// What became of one source in an acknowledged revision (a delivery ledger row to be).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Delivered {
    pub source: Source,
    pub revision: u64,
    pub change: i64,
    pub outcome: crate::store::Outcome,
    pub message: String,
    pub sent_us: i64,
}

/// Per source, whether its next store write carries its objects (after an acknowledgement)
/// or only its edge state.
pub(super) type Dirty = HashMap<Source, bool>;

/// One cluster as this replica knows it.
#[derive(Debug, Default)]
pub(super) struct Link {
    /// Namespaces and Services the agent reported.
    pub inventory: Arc<ClusterNamespaces>,
    /// The open stream has sent its complete namespace list: nothing is sent before that (an
    /// empty or partial list would prune the config of every namespace it lacks).
    pub namespaces_known: bool,
    /// The open stream's agent reports Services: nothing is sent before its complete list
    /// (service-scoped policies would be dropped, then put back).
    pub services_expected: bool,
    /// The open stream has sent its complete Service list.
    pub services_known: bool,
    /// The Services changed: the service-scoped settings translate again.
    pub services_changed: bool,
    pub outbox: Option<Queue>,
    /// The stream `outbox` belongs to.
    pub stream: super::StreamId,
    /// The store's stream generation this replica holds the cluster with.
    pub generation: i64,
    /// Bumped whenever something a translation started from is replaced (a new stream, an
    /// inventory change): a translation made against an older epoch is not applied.
    pub epoch: u64,
    /// What the agent has been sent, by object.
    pub objects: HashMap<TargetRef, Sent>,
    /// The objects each source generated here.
    pub by_source: HashMap<Source, Vec<TargetRef>>,
    /// Per source: this cluster's edge state.
    pub edges: BTreeMap<Source, EdgeState>,
    /// Edges (and acknowledged objects) not yet written to the store.
    pub dirty: Dirty,
    pub revision: u64,
    /// The last revision the agent acknowledged.
    pub acked: u64,
    pub checksum: String,
    /// Per revision sent and not yet acknowledged: what it carried.
    pub pending: BTreeMap<u64, InFlight>,
    /// Next send must be a full resync.
    pub needs_full: bool,
    /// The revision of the last full resync sent.
    pub last_full: u64,
    /// The agent held that full resync's prune (its mass-prune guard).
    pub held_prune: Option<v1::PruneHold>,
    /// An admin confirmed the held prune: the next full resync says so.
    pub confirm_prune: bool,
    /// Namespaces changed or the stream (re)opened: re-translate the whole cluster.
    pub stale: bool,
    /// Resolution of the last whole translation (reused by incremental ones).
    pub resolution: Option<Arc<Resolution>>,
    /// What translation left out here, per source (shown in its status).
    pub warnings: BTreeMap<String, Vec<crate::model::Diagnostic>>,
    /// Sum of [`entry_hash`](super::plan::entry_hash) over `objects`.
    pub sum: u64,
}

impl Link {
    /// The cluster must be translated again whole: a round planned changes for it against an
    /// epoch that has since moved, and those changes are pending nowhere else.
    pub fn retranslate(&mut self) {
        self.stale = true;
        self.resolution = None;
    }

    /// Sets `source`'s edge; true when it changed.
    pub fn set_edge(&mut self, source: &Source, edge: EdgeState) -> bool {
        let changed = self.edges.insert(source.clone(), edge) != Some(edge);
        if changed {
            self.dirty.entry(source.clone()).or_insert(false);
        }
        changed
    }

    /// Removes `source`'s edge; true when it had one.
    pub fn drop_edge(&mut self, source: &str) -> bool {
        let Some((source, _)) = self.edges.remove_entry(source) else {
            return false;
        };
        self.dirty.entry(source).or_insert(false);
        true
    }

    /// Settles the edges of every source in the revisions up to `ack.revision`; returns
    /// them, and what became of each source those revisions delivered.
    pub fn acknowledged(&mut self, ack: &v1::Ack) -> (BTreeSet<String>, Vec<Delivered>) {
        use crate::store::Outcome;
        self.acked = self.acked.max(ack.revision);
        let revisions: Vec<u64> = self
            .pending
            .range(..=ack.revision)
            .map(|(r, _)| *r)
            .collect();
        let mut touched: BTreeSet<Source> = BTreeSet::new();
        let mut carried: Vec<(u64, InFlight)> = Vec::new();
        for revision in revisions {
            let in_flight = self.pending.remove(&revision).unwrap_or_default();
            touched.extend(in_flight.sources.iter().cloned());
            carried.push((revision, in_flight));
        }
        let reported = reported_edges(&ack.errors);
        for source in &touched {
            // A source whose objects were only removed here no longer targets the cluster.
            if !self.by_source.contains_key(source) {
                continue;
            }
            let edge = reported
                .get(&**source)
                .copied()
                .unwrap_or(EdgeState::Applied);
            self.set_edge(source, edge);
            // What the agent now holds of it: the store keeps it for a resume elsewhere.
            self.dirty.insert(source.clone(), true);
        }
        let mut delivered = Vec::new();
        for (revision, in_flight) in carried {
            for (source, change) in in_flight.delivered {
                let (outcome, message) = if !self.by_source.contains_key(&source) {
                    (Outcome::Pruned, String::new())
                } else {
                    match reported.get(&*source) {
                        Some(EdgeState::Errored) => {
                            (Outcome::Failed, failure_message(&ack.errors, &source))
                        }
                        Some(EdgeState::Ignored) => {
                            (Outcome::Ignored, failure_message(&ack.errors, &source))
                        }
                        _ => (Outcome::Applied, String::new()),
                    }
                };
                delivered.push(Delivered {
                    source,
                    revision,
                    change,
                    outcome,
                    message,
                    sent_us: in_flight.sent_us,
                });
            }
        }
        (touched.iter().map(|s| s.to_string()).collect(), delivered)
    }

    /// Forgets the stream: what it had in flight is not coming back.
    pub fn closed(&mut self) {
        self.outbox = None;
        self.pending.clear();
    }
}

/// The agent's reasons for `source`'s objects in a NACK, one line each, the first few.
fn failure_message(errors: &[v1::ObjectError], source: &str) -> String {
    const SHOWN: usize = 3;
    let mine: Vec<String> = errors
        .iter()
        .filter(|e| e.source_fqn == source)
        .map(|e| {
            let key = e.key.clone().unwrap_or_default();
            format!("{} {}/{}: {}", key.kind, key.namespace, key.name, e.message)
        })
        .collect();
    let mut message = mine
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if mine.len() > SHOWN {
        message.push_str(&format!(" (and {} more)", mine.len() - SHOWN));
    }
    message
}

/// The edge state a NACK gives each source it names: ERRORED when any of its objects failed,
/// IGNORED when the cluster only ignored them (kinds it does not serve).
pub(super) fn reported_edges(errors: &[v1::ObjectError]) -> BTreeMap<&str, EdgeState> {
    let mut reported: BTreeMap<&str, EdgeState> = BTreeMap::new();
    for error in errors {
        let edge = reported
            .entry(error.source_fqn.as_str())
            .or_insert(EdgeState::Ignored);
        if !error.ignored {
            *edge = EdgeState::Errored;
        }
    }
    reported
}
