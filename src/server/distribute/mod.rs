//! Distribution: what every connected cluster must hold, and getting it there.
//!
//! For each cluster with an open sync stream on this replica, the distributor keeps the
//! desired set of generated Istio objects (content hash per object), recomputes it when config
//! or the cluster's namespaces change, and sends the difference as one revision of
//! per-object upserts and removals. The agent acknowledges each revision (with per-object
//! errors: a NACK); that gives the per-cluster edge states (tsb-model.md §5.3) from which
//! objects go READY, and the originating CR learns "applied in N of M clusters".

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tonic::Status;

use crate::model::Resource;
use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::resolve::{ClusterNamespaces, ClusterService, Resolution, resolve};
use crate::model::status::{EdgeState, EventType, TypeInfo, edge_event, status_for_event};
use crate::model::translate::{
    ObjectKey, Translation, influenced_roots, is_passthrough, stale_readers, translate_only,
    translate_resolved,
};
use crate::proto::v1;
use crate::proto::v1::server_message::Message as Down;
use crate::runtime::Shutdown;
use crate::server::engine::{Engine, decode};

/// Objects per delta message: far below gRPC's 4 MiB default even for large objects.
const CHUNK: usize = 100;
pub use crate::model::translate::MAX_GENERATED_BYTES;
/// After a start, edge states are rebuilt from the clusters' acknowledgements. Until every
/// registered cluster has acknowledged, or this long has passed, propagation counts are
/// provisional (agents keep the status they show instead of writing low counts).
const WARMUP: Duration = Duration::from_secs(30);
/// Retry delay after reading the store's changes failed.
const RETRY: Duration = Duration::from_secs(1);

/// Sends to one agent's stream.
pub type Outbox = mpsc::Sender<Result<v1::ServerMessage, Status>>;

/// Messages on their way to one agent: an unbounded queue in front of the stream's bounded
/// outbox, drained by a task. The distributor runs under a lock and cannot wait for a slow
/// agent; dropping a delta instead would leave that agent behind until it reconnects, so a
/// burst of revisions waits here, in order (every revision holds only what changed).
#[derive(Debug, Clone)]
struct Queue(mpsc::UnboundedSender<v1::ServerMessage>);

impl Queue {
    /// Starts the task that forwards into `outbox`; it ends when the stream or the queue closes.
    fn forwarding_to(outbox: Outbox, cluster: &str) -> Queue {
        let (queue, mut queued) = mpsc::unbounded_channel::<v1::ServerMessage>();
        let forward = async move {
            loop {
                let message = tokio::select! {
                    () = outbox.closed() => break,
                    message = queued.recv() => message,
                };
                let Some(message) = message else { break };
                if outbox.send(Ok(message)).await.is_err() {
                    break;
                }
            }
        };
        tokio::spawn(tracing::Instrument::instrument(
            forward,
            tracing::info_span!("distribute-forward", %cluster),
        ));
        Queue(queue)
    }

    fn send(&self, message: Down) {
        // Fails only when the stream has ended; the agent resyncs when it reconnects.
        let _ = self.0.send(v1::ServerMessage {
            message: Some(message),
        });
    }
}

/// One sync stream of a cluster. A cluster's new stream can open before its old one has
/// ended (a killed agent's connection lingers until keep-alive gives up while its successor
/// connects): only the current stream's messages and end count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamId(u64);

#[derive(Debug, Clone)]
struct Desired {
    api_version: String,
    hash: String,
    json: String,
    source: String,
}

#[derive(Debug, Default)]
struct Link {
    namespaces: BTreeSet<String>,
    /// The open stream has sent its complete namespace list: nothing is sent before that (an
    /// empty or partial list would prune the config of every namespace it lacks).
    namespaces_known: bool,
    /// The cluster's Services by (namespace, name), kept in memory: every stream of an agent
    /// that reports them starts with the full list.
    services: BTreeMap<(String, String), ClusterService>,
    /// The open stream's agent reports Services: nothing is sent before its complete list
    /// (service-scoped policies would be dropped, then put back).
    services_expected: bool,
    /// The open stream has sent its complete Service list.
    services_known: bool,
    /// The Services changed: the service-scoped settings translate again.
    services_changed: bool,
    outbox: Option<Queue>,
    /// The stream `outbox` belongs to.
    stream: StreamId,
    /// What the agent has been sent (the desired set as of `revision`).
    desired: BTreeMap<ObjectKey, Desired>,
    revision: u64,
    checksum: String,
    /// Per revision sent and not yet acknowledged: the sources it touched.
    pending: BTreeMap<u64, BTreeSet<String>>,
    /// Per source FQN: this cluster's edge state.
    edges: BTreeMap<String, EdgeState>,
    /// Next send must be a full resync.
    needs_full: bool,
    /// The revision of the last full resync sent.
    last_full: u64,
    /// The agent held that full resync's prune (its mass-prune guard).
    held_prune: Option<v1::PruneHold>,
    /// An admin confirmed the held prune: the next full resync says so.
    confirm_prune: bool,
    /// Namespaces changed or the stream (re)opened: re-translate the whole cluster.
    stale: bool,
    /// Resolution of the last whole translation (reused by incremental ones).
    resolution: Option<Resolution>,
    /// Keys each source generated here.
    by_source: BTreeMap<String, BTreeSet<ObjectKey>>,
    /// What translation left out here, per source (shown in its status).
    warnings: BTreeMap<String, Vec<crate::model::Diagnostic>>,
    /// Sum of [`entry_hash`] over `desired`.
    sum: u64,
}

impl Link {
    /// Settles the edges of every source in the revisions up to `ack.revision`; returns them.
    fn acknowledged(&mut self, ack: &v1::Ack) -> BTreeSet<String> {
        let mut touched = BTreeSet::new();
        let revisions: Vec<u64> = self
            .pending
            .range(..=ack.revision)
            .map(|(r, _)| *r)
            .collect();
        for revision in revisions {
            touched.extend(self.pending.remove(&revision).unwrap_or_default());
        }
        let reported = reported_edges(&ack.errors);
        for source in &touched {
            // A source whose objects were only removed here no longer targets the cluster.
            if !self.by_source.contains_key(source) {
                continue;
            }
            let edge = reported
                .get(source.as_str())
                .copied()
                .unwrap_or(EdgeState::Applied);
            self.edges.insert(source.clone(), edge);
        }
        touched
    }
}

#[derive(Debug, Default)]
struct State {
    /// Caught up with the store at least once: until then nothing is sent (a desired set
    /// computed from part of the store would remove the rest).
    loaded: bool,
    /// Edge states are complete: see [`WARMUP`].
    warm: bool,
    /// Registered clusters that have not acknowledged a revision since this replica started.
    unheard: BTreeSet<String>,
    revision: i64,
    /// Streams opened so far (the last [`StreamId`]).
    streams: u64,
    resources: BTreeMap<String, Resource>,
    etags: BTreeMap<String, String>,
    /// GitOps objects: the cluster they came from.
    origins: BTreeMap<String, String>,
    links: BTreeMap<String, Link>,
    /// Objects changed since the last send (incremental path).
    changed: BTreeSet<String>,
    /// Roots of the subtrees whose translation changed objects can alter ([`influence_root`] of
    /// each changed tenancy object or setting, old and new).
    scopes: BTreeSet<Fqn>,
    /// Kinds whose every object translates again at the next send ([`stale_readers`]: what
    /// reads a changed ServiceRoute or TrafficSetting from elsewhere).
    stale_kinds: BTreeSet<Kind>,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Distributor {
    engine: Engine,
    state: Arc<Mutex<State>>,
    wake: Arc<Notify>,
}

/// One desired entry's share of a cluster's checksum. The checksum is the wrapping sum of
/// these, so it is kept up to date by adding and subtracting changed entries, never by walking
/// the whole set.
fn entry_hash(key: &ObjectKey, content_hash: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [&key.group, &key.kind, &key.namespace, &key.name] {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    for byte in content_hash.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The edge state a NACK gives each source it names: ERRORED when any of its objects failed,
/// IGNORED when the cluster only ignored them (kinds it does not serve).
fn reported_edges(errors: &[v1::ObjectError]) -> BTreeMap<&str, EdgeState> {
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

fn desired_object(key: &ObjectKey, object: &Desired) -> v1::DesiredObject {
    v1::DesiredObject {
        key: Some(proto_key(key, object)),
        content_hash: object.hash.clone(),
        object_json: object.json.clone(),
        source_fqn: object.source.clone(),
    }
}

fn proto_key(key: &ObjectKey, object: &Desired) -> v1::ObjectKey {
    v1::ObjectKey {
        api_version: object.api_version.clone(),
        kind: key.kind.clone(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    }
}

impl Distributor {
    /// A distributor over the engine's objects; `run` keeps it current.
    pub fn new(engine: Engine) -> Distributor {
        Distributor {
            engine,
            state: Arc::default(),
            wake: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A stream for `cluster` opened; `revision`/`checksum` are what its agent holds, and
    /// `reports_services` whether it sends its Services (then nothing is sent before them).
    pub fn connect(
        &self,
        cluster: &str,
        outbox: Outbox,
        revision: u64,
        checksum: &str,
        reports_services: bool,
    ) -> StreamId {
        let mut state = self.lock();
        state.streams += 1;
        let stream = StreamId(state.streams);
        let link = state.links.entry(cluster.to_string()).or_default();
        link.stream = stream;
        // Resume with deltas only when the agent holds exactly what this replica sent.
        link.needs_full = !(link.revision == revision && link.checksum == checksum && revision > 0);
        link.outbox = Some(Queue::forwarding_to(outbox, cluster));
        link.namespaces_known = false;
        link.services_expected = reports_services;
        link.services_known = false;
        if !reports_services {
            // An older agent: no Service is known there (service-scoped settings generate
            // nothing, and say so).
            link.services.clear();
        }
        link.pending.clear();
        // Re-translated whole: what the agent holds is compared against everything.
        link.stale = true;
        link.resolution = None;
        drop(state);
        self.wake.notify_one();
        stream
    }

    /// `stream` of `cluster` ended (a newer stream of the cluster stays open).
    pub fn disconnect(&self, cluster: &str, stream: StreamId) {
        if let Some(link) = self.lock().links.get_mut(cluster)
            && link.stream == stream
        {
            link.outbox = None;
            link.pending.clear();
        }
    }

    /// The cluster's complete namespace list (after a full inventory, or a change to it).
    pub fn namespaces(&self, cluster: &str, stream: StreamId, namespaces: BTreeSet<String>) {
        let mut state = self.lock();
        let Some(link) = state.links.get_mut(cluster).filter(|l| l.stream == stream) else {
            return;
        };
        if link.namespaces != namespaces || !link.namespaces_known {
            link.namespaces = namespaces;
            link.namespaces_known = true;
            link.stale = true;
            drop(state);
            self.wake.notify_one();
        }
    }

    /// The cluster's complete Service list (after a full inventory, or a change to it).
    pub fn services(
        &self,
        cluster: &str,
        stream: StreamId,
        services: BTreeMap<(String, String), ClusterService>,
    ) {
        let mut state = self.lock();
        let Some(link) = state.links.get_mut(cluster).filter(|l| l.stream == stream) else {
            return;
        };
        if link.services != services || !link.services_known {
            link.services_changed |= link.services != services;
            link.services = services;
            link.services_known = true;
            drop(state);
            self.wake.notify_one();
        }
    }

    /// An agent applied `revision` (errors: a NACK for those objects).
    pub fn ack(&self, cluster: &str, stream: StreamId, ack: &v1::Ack) {
        let updates = {
            let mut state = self.lock();
            let Some(link) = state.links.get_mut(cluster).filter(|l| l.stream == stream) else {
                return;
            };
            let mut updates = link.acknowledged(ack);
            if ack.revision == link.last_full {
                link.held_prune.clone_from(&ack.prune_held);
            }
            state.unheard.remove(cluster);
            updates.extend(warm_up(&mut state, false));
            updates
        };
        self.send_status_updates(&updates);
    }

    /// Confirms the prune `cluster`'s agent held: a full resync that may prune follows.
    /// Returns how many objects it held, or `None` when it holds none (on this replica).
    pub fn confirm_prune(&self, cluster: &str) -> Option<u32> {
        let count = {
            let mut state = self.lock();
            let link = state.links.get_mut(cluster)?;
            let held = link.held_prune.take()?;
            link.confirm_prune = true;
            link.needs_full = true;
            link.stale = true;
            link.resolution = None;
            held.count
        };
        self.wake.notify_one();
        Some(count)
    }

    /// Per-cluster edge states of `fqn` in the clusters this replica serves.
    pub fn edges(&self, fqn: &str) -> BTreeMap<String, EdgeState> {
        self.lock()
            .links
            .iter()
            .filter_map(|(cluster, link)| link.edges.get(fqn).map(|e| (cluster.clone(), *e)))
            .collect()
    }

    /// The MP view of `fqn` for the CR's `status.tsb` (tsb-model §5.4, §5.5).
    pub fn object_state(&self, fqn: &str) -> v1::ObjectState {
        let edges = self.edges(fqn);
        let counts = crate::model::status::ClusterCounts::of(&edges);
        // No target cluster: the object stays ACCEPTED after XCP_ACCEPTED (§5.4).
        let event = edge_event(edges.values().copied()).unwrap_or(EventType::XcpAccepted);
        let status = status_for_event(event, TypeInfo::CONFIG);
        let translation_warnings = self
            .lock()
            .links
            .values()
            .flat_map(|link| link.warnings.get(fqn).into_iter().flatten())
            .map(crate::server::error::diagnostic_to_proto)
            .collect();
        v1::ObjectState {
            translation_warnings,
            status: status.as_str().into(),
            last_event: event.as_str().into(),
            clusters_applied: counts.applied,
            clusters_targeted: counts.targeted,
            provisional: !self.lock().warm,
        }
    }

    /// Tells each object's originating cluster (when it is connected here) its new counts.
    fn send_status_updates(&self, fqns: &BTreeSet<String>) {
        let states: Vec<(String, v1::ObjectState)> = fqns
            .iter()
            .map(|fqn| (fqn.clone(), self.object_state(fqn)))
            .collect();
        let state = self.lock();
        for (fqn, object_state) in states {
            let Some(origin) = state.origins.get(&fqn) else {
                continue;
            };
            let Some(outbox) = state.links.get(origin).and_then(|l| l.outbox.as_ref()) else {
                continue;
            };
            let etag = state.etags.get(&fqn).cloned().unwrap_or_default();
            outbox.send(Down::Status(v1::StatusUpdate {
                fqn,
                etag,
                state: Some(object_state),
            }));
        }
    }

    /// Keeps the desired sets current until shutdown. Readiness waits for the first
    /// catch-up with the store.
    pub fn run(&self, shutdown: &Shutdown) {
        let this = self.clone();
        let stop = shutdown.clone();
        let mut revisions = self.engine.store().subscribe();
        shutdown.set_pending(vec![
            "distribution state (catching up with the store)".into(),
        ]);
        let started = tokio::time::Instant::now();
        shutdown.spawn(tracing::info_span!("distribute"), async move {
            match this.engine.store().list_clusters().await {
                Ok(clusters) => {
                    let mut state = this.lock();
                    state.unheard = clusters.into_iter().map(|c| c.name).collect();
                    // No cluster to hear from: the counts are final at once.
                    warm_up(&mut state, false);
                }
                Err(error) => {
                    tracing::warn!(%error, "distribution: listing clusters failed; counts stay provisional for the warm-up");
                }
            }
            loop {
                let mut retry = false;
                match this.catch_up().await {
                    Ok(()) => {
                        let first = !std::mem::replace(&mut this.lock().loaded, true);
                        if first {
                            stop.set_pending(Vec::new());
                            tracing::info!("distribution state loaded from the store");
                        }
                        this.send_all();
                    }
                    Err(error) => {
                        // Nothing is sent from a state that may lag the store; try again.
                        tracing::warn!(%error, "distribution: reading changes failed; retrying");
                        retry = true;
                    }
                }
                let warmup_left = (!this.lock().warm).then(|| WARMUP.saturating_sub(started.elapsed()));
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = revisions.changed() => {}
                    () = this.wake.notified() => {}
                    () = tokio::time::sleep(RETRY), if retry => {}
                    () = tokio::time::sleep(warmup_left.unwrap_or_default()), if warmup_left.is_some() => {
                        let updates = warm_up(&mut this.lock(), true);
                        this.send_status_updates(&updates);
                    }
                }
            }
        });
    }

    async fn catch_up(&self) -> Result<(), crate::server::error::Error> {
        let strip = crate::model::metadata::StripRules::default();
        loop {
            let after = self.lock().revision;
            let changes = self.engine.store().changes_since(after, 1000).await?;
            if changes.is_empty() {
                return Ok(());
            }
            let mut state = self.lock();
            for change in changes {
                state.changed.insert(change.fqn.clone());
                let decoded = change.record.as_ref().map(|r| (r, decode(r, &strip)));
                let new = match &decoded {
                    Some((_, Ok(resource))) => Some(resource),
                    _ => None,
                };
                let old = state.resources.get(&change.fqn);
                let readers = stale_readers(old, new);
                let roots = influenced_roots(old, new);
                state.stale_kinds.extend(readers.iter().copied());
                state.scopes.extend(roots);
                match decoded {
                    Some((record, Ok(resource))) => {
                        state.etags.insert(change.fqn.clone(), record.etag.clone());
                        match record
                            .origin
                            .get("cluster")
                            .and_then(serde_json::Value::as_str)
                        {
                            Some(cluster) => {
                                state
                                    .origins
                                    .insert(change.fqn.clone(), cluster.to_string());
                            }
                            None => {
                                state.origins.remove(&change.fqn);
                            }
                        }
                        state.resources.insert(change.fqn.clone(), resource);
                    }
                    Some((_, Err(_))) | None => {
                        state.etags.remove(&change.fqn);
                        state.origins.remove(&change.fqn);
                        state.resources.remove(&change.fqn);
                    }
                }
                state.revision = change.revision;
            }
        }
    }

    /// Recomputes every stale connected cluster and sends what changed.
    fn send_all(&self) {
        let mut touched = BTreeSet::new();
        {
            let mut state = self.lock();
            let state = &mut *state;
            if !state.loaded {
                return;
            }
            let revision = u64::try_from(state.revision).unwrap_or_default();
            let changed = std::mem::take(&mut state.changed);
            let scopes = std::mem::take(&mut state.scopes);
            let structural = !scopes.is_empty();
            // What the changes can alter where the resolution stays the same.
            let mut affected = within(&state.resources, &changed, &scopes);
            let stale_kinds = std::mem::take(&mut state.stale_kinds);
            if !stale_kinds.is_empty() {
                affected.extend(
                    state
                        .resources
                        .iter()
                        .filter(|(_, r)| stale_kinds.contains(&r.kind))
                        .map(|(fqn, _)| fqn.clone()),
                );
            }
            let mut whole: Option<Vec<Resource>> = None;
            for (cluster, link) in &mut state.links {
                // A stream without its complete namespace (and Service) list yet is treated
                // as away.
                let connected = link.outbox.is_some()
                    && link.namespaces_known
                    && (link.services_known || !link.services_expected);
                // What reads the Services, when they changed: service-scoped settings, and
                // TrafficSettings (timeouts of the services without a ServiceRoute).
                let by_services = if connected && std::mem::take(&mut link.services_changed) {
                    state
                        .resources
                        .iter()
                        .filter(|(_, r)| {
                            matches!(
                                r.kind,
                                Kind::ServiceSecuritySetting
                                    | Kind::ServiceTrafficSetting
                                    | Kind::TrafficSetting
                            )
                        })
                        .map(|(fqn, _)| fqn.clone())
                        .collect()
                } else {
                    BTreeSet::new()
                };
                // A cluster that is away has nothing to learn until it is back (it is
                // re-translated whole then); only its edges can go out of date meanwhile.
                if !connected && (link.edges.is_empty() || (changed.is_empty() && !structural)) {
                    continue;
                }
                let inventory = ClusterNamespaces {
                    cluster: cluster.clone(),
                    namespaces: link.namespaces.clone(),
                    services: link.services.clone(),
                };
                // The namespaces each workspace and group owns here: unchanged unless the
                // inventory or a tenancy object changed. While it is unchanged, only the changed
                // objects and the subtrees they influence translate differently; when it moves,
                // anything may (a rule can name any workspace), so the cluster translates whole.
                let plan = match &link.resolution {
                    Some(kept) if !(link.stale || structural) => Plan::Only(kept),
                    Some(kept) => {
                        let fresh = resolve(&inventory, state.resources.values());
                        if &fresh == kept {
                            Plan::Only(kept)
                        } else {
                            Plan::Whole(fresh)
                        }
                    }
                    None => Plan::Whole(resolve(&inventory, state.resources.values())),
                };
                if connected {
                    link.stale = false;
                }
                let widened: BTreeSet<String>;
                let generated = match plan {
                    Plan::Only(resolution) => {
                        let scope = if by_services.is_empty() {
                            &affected
                        } else {
                            widened = affected.union(&by_services).cloned().collect();
                            &widened
                        };
                        if scope.is_empty() {
                            continue;
                        }
                        let only: Vec<&Resource> = scope
                            .iter()
                            .filter_map(|fqn| state.resources.get(fqn))
                            .collect();
                        let translation =
                            translate_only(&inventory, resolution, state.resources.values(), &only);
                        Generation::Some(translation, scope)
                    }
                    Plan::Whole(resolution) => {
                        let resources = whole
                            .get_or_insert_with(|| state.resources.values().cloned().collect());
                        let translation = translate_resolved(&inventory, &resolution, resources);
                        if connected {
                            link.resolution = Some(resolution);
                        }
                        Generation::Whole(translation)
                    }
                };
                let is_self = |source: &str, key: &ObjectKey| {
                    state.origins.get(source) == Some(cluster)
                        && state
                            .resources
                            .get(source)
                            .is_some_and(|r| is_passthrough(r, key))
                };
                if connected {
                    touched.extend(recompute(cluster, link, generated, revision, &is_self));
                } else {
                    touched.extend(mark_unsent(link, &generated, &is_self));
                }
            }
        }
        self.send_status_updates(&touched);
    }
}

/// Ends the warm-up when every registered cluster has acknowledged, or when `timed_out`;
/// returns every object with an originating cluster, whose counts are now final.
fn warm_up(state: &mut State, timed_out: bool) -> BTreeSet<String> {
    if state.warm || !(timed_out || state.unheard.is_empty()) {
        return BTreeSet::new();
    }
    state.warm = true;
    if !state.unheard.is_empty() {
        tracing::info!(unheard = ?state.unheard, "warm-up over without these clusters' acknowledgements");
    }
    state.origins.keys().cloned().collect()
}

/// The FQNs of `changed` and of every stored object at or below one of `roots`.
fn within<V>(
    resources: &BTreeMap<String, V>,
    changed: &BTreeSet<String>,
    roots: &BTreeSet<Fqn>,
) -> BTreeSet<String> {
    let mut affected = changed.clone();
    for root in roots {
        let root = root.to_string();
        if resources.contains_key(&root) {
            affected.insert(root.clone());
        }
        // Descendants share the prefix `root/`, so they form one contiguous range.
        let below = format!("{root}/");
        affected.extend(
            resources
                .range(below.clone()..)
                .map(|(fqn, _)| fqn)
                .take_while(|fqn| fqn.starts_with(&below))
                .cloned(),
        );
    }
    affected
}

/// For a cluster whose agent is away: every source whose output there now differs from what
/// the agent was last sent is no longer applied there (its edge goes UNKNOWN until the agent
/// is back and acknowledges), and one that no longer targets the cluster loses its edge.
/// Nothing is sent and the sent set is kept: the reconnect re-translates the cluster whole.
/// Returns the sources whose edge changed.
fn mark_unsent(
    link: &mut Link,
    generation: &Generation<'_>,
    is_self: &dyn Fn(&str, &ObjectKey) -> bool,
) -> BTreeSet<String> {
    let (translation, sources): (&Translation, BTreeSet<&String>) = match generation {
        Generation::Whole(translation) => (
            translation,
            translation
                .sources
                .keys()
                .chain(link.by_source.keys())
                .collect(),
        ),
        Generation::Some(translation, changed) => (translation, changed.iter().collect()),
    };
    let mut marked = BTreeSet::new();
    for source in sources {
        let now: BTreeMap<&ObjectKey, String> = translation
            .sources
            .get(source)
            .into_iter()
            .flatten()
            .filter(|key| !is_self(source, key))
            .filter_map(|key| {
                translation
                    .objects
                    .get(key)
                    .map(|g| (key, g.content_hash()))
            })
            .collect();
        let sent: BTreeMap<&ObjectKey, String> = link
            .by_source
            .get(source)
            .into_iter()
            .flatten()
            .filter_map(|key| link.desired.get(key).map(|d| (key, d.hash.clone())))
            .collect();
        if now == sent {
            continue;
        }
        let edge_changed = if now.is_empty() && !translation.sources.contains_key(source) {
            link.edges.remove(source).is_some()
        } else {
            link.edges.insert(source.clone(), EdgeState::Unknown) != Some(EdgeState::Unknown)
        };
        if edge_changed {
            marked.insert(source.clone());
        }
    }
    marked
}

/// Keeps the translation's warnings of the re-translated sources (all of them for a whole
/// translation); returns the sources whose warnings changed (their status must say so).
fn record_warnings(
    cluster: &str,
    link: &mut Link,
    translation: &Translation,
    scope: Option<&BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut fresh: BTreeMap<String, Vec<crate::model::Diagnostic>> = BTreeMap::new();
    for (fqn, warning) in &translation.warnings {
        fresh.entry(fqn.clone()).or_default().push(warning.clone());
    }
    let old = match scope {
        None => std::mem::take(&mut link.warnings),
        Some(changed) => changed
            .iter()
            .filter_map(|fqn| link.warnings.remove(fqn).map(|w| (fqn.clone(), w)))
            .collect(),
    };
    let mut moved = BTreeSet::new();
    for (fqn, warnings) in &fresh {
        if old.get(fqn) != Some(warnings) {
            for warning in warnings {
                tracing::warn!(%cluster, %fqn, %warning, "translation left something out");
            }
            moved.insert(fqn.clone());
        }
    }
    moved.extend(old.into_keys().filter(|fqn| !fresh.contains_key(fqn)));
    link.warnings.extend(fresh);
    moved
}

/// How one cluster is translated after a change.
enum Plan<'r> {
    /// Its resolution holds: only the objects the change can alter, against it.
    Only(&'r Resolution),
    /// Its resolution moved, or it has none yet: everything, against this one.
    Whole(Resolution),
}

/// A fresh translation of a whole cluster, or of some changed sources only.
enum Generation<'a> {
    Whole(Translation),
    Some(Translation, &'a BTreeSet<String>),
}

/// Turns a translation into desired objects, diffs them against what the cluster was sent,
/// and sends the delta. Returns the sources whose edge state changed.
fn recompute(
    cluster: &str,
    link: &mut Link,
    generation: Generation<'_>,
    revision: u64,
    is_self: &dyn Fn(&str, &ObjectKey) -> bool,
) -> BTreeSet<String> {
    let (translation, scope) = match generation {
        Generation::Whole(translation) => (translation, None),
        Generation::Some(translation, changed) => (translation, Some(changed)),
    };
    let mut fresh: BTreeMap<ObjectKey, Desired> = BTreeMap::new();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut failed: BTreeSet<String> = BTreeSet::new();
    for (fqn, diagnostic) in &translation.errors {
        tracing::warn!(%cluster, %fqn, %diagnostic, "translation failed");
        failed.insert(fqn.clone());
    }
    let warned = record_warnings(cluster, link, &translation, scope);
    // Sources whose only output here is their own CR: already in place, nothing to send.
    let mut in_place: BTreeSet<String> = BTreeSet::new();
    for (source, keys) in &translation.sources {
        for key in keys {
            let Some(generated) = translation.objects.get(key) else {
                continue;
            };
            if is_self(source, key) {
                in_place.insert(source.clone());
                continue;
            }
            let json = generated.to_object().to_string();
            if json.len() > MAX_GENERATED_BYTES {
                tracing::warn!(%cluster, %source, object = %key, bytes = json.len(), "generated object over the size limit; not sent");
                failed.insert(source.clone());
                continue;
            }
            fresh.insert(
                key.clone(),
                Desired {
                    api_version: generated.api_version.clone(),
                    hash: generated.content_hash(),
                    json,
                    source: source.clone(),
                },
            );
        }
    }
    // `previous`: what the re-translated scope had; `desired`: the whole new set.
    let (previous, desired) = match scope {
        None => (std::mem::take(&mut link.desired), fresh.clone()),
        Some(changed) => {
            let mut kept = std::mem::take(&mut link.desired);
            let mut previous = BTreeMap::new();
            for source in changed {
                for key in link.by_source.remove(source).unwrap_or_default() {
                    if let Some(old) = kept.remove(&key) {
                        previous.insert(key, old);
                    }
                }
            }
            for (key, object) in &fresh {
                if let Some(owner) = kept.get(key) {
                    failed.insert(object.source.clone());
                    tracing::warn!(%cluster, object = %key, owner = %owner.source, source = %object.source, "two sources generate one object");
                    continue;
                }
                kept.insert(key.clone(), object.clone());
            }
            (previous, kept)
        }
    };
    let compared: &BTreeMap<ObjectKey, Desired> = if scope.is_some() { &fresh } else { &desired };
    let full = link.needs_full;
    let mut upserts: Vec<v1::DesiredObject> = Vec::new();
    // Sources whose output here changed (a full resync also resends unchanged ones).
    let mut moved: BTreeSet<String> = BTreeSet::new();
    for (key, object) in compared {
        let changed = previous.get(key).is_none_or(|old| old.hash != object.hash);
        if (full || changed) && desired.get(key).is_some_and(|d| d.source == object.source) {
            touched.insert(object.source.clone());
            if changed {
                moved.insert(object.source.clone());
            }
            upserts.push(desired_object(key, object));
        }
    }
    if !full && scope.is_none() {
        // Sources whose edge is UNKNOWN with no revision in flight for them: their
        // acknowledgement was lost with a stream, or they changed while the agent was away
        // (and may have changed back). Sending them again costs a few idempotent applies and
        // gives them a fresh acknowledgement, errors included.
        let in_flight: BTreeSet<&String> = link.pending.values().flatten().collect();
        let resend: BTreeSet<String> = link
            .edges
            .iter()
            .filter(|(source, edge)| {
                **edge == EdgeState::Unknown
                    && !touched.contains(*source)
                    && !in_flight.contains(source)
            })
            .map(|(source, _)| source.clone())
            .collect();
        if !resend.is_empty() {
            for (key, object) in &desired {
                if resend.contains(&object.source) {
                    upserts.push(desired_object(key, object));
                }
            }
            touched.extend(resend);
        }
    }
    if full && scope.is_some() {
        // A full resync lists everything, not only the re-translated scope.
        for (key, object) in &desired {
            if !fresh.contains_key(key) {
                upserts.push(desired_object(key, object));
            }
        }
    }
    let mut removals: Vec<v1::ObjectKey> = Vec::new();
    for (key, old) in &previous {
        if !desired.contains_key(key) {
            touched.insert(old.source.clone());
            moved.insert(old.source.clone());
            removals.push(proto_key(key, old));
        }
    }
    match scope {
        None => {
            link.by_source = BTreeMap::new();
            link.sum = 0;
            for (key, object) in &desired {
                link.by_source
                    .entry(object.source.clone())
                    .or_default()
                    .insert(key.clone());
                link.sum = link.sum.wrapping_add(entry_hash(key, &object.hash));
            }
            // Sources no longer targeting this cluster lose their edge.
            let by_source = &link.by_source;
            link.edges.retain(|source, _| {
                by_source.contains_key(source)
                    || failed.contains(source)
                    || in_place.contains(source)
            });
        }
        Some(changed) => {
            // Only the re-translated sources' entries change: O(changes), not O(objects).
            for (key, old) in &previous {
                link.sum = link.sum.wrapping_sub(entry_hash(key, &old.hash));
            }
            for (key, object) in &fresh {
                if desired.get(key).is_some_and(|d| d.source == object.source) {
                    link.by_source
                        .entry(object.source.clone())
                        .or_default()
                        .insert(key.clone());
                    link.sum = link.sum.wrapping_add(entry_hash(key, &object.hash));
                }
            }
            for source in changed {
                if !link.by_source.contains_key(source)
                    && !failed.contains(source)
                    && !in_place.contains(source)
                {
                    link.edges.remove(source);
                }
            }
        }
    }
    link.desired = desired;
    for source in &failed {
        link.edges.insert(source.clone(), EdgeState::Errored);
    }
    // Reported without waiting for an acknowledgement: failures, and in-place sources whose
    // edge just became APPLIED.
    let mut settled = failed.clone();
    for source in &in_place {
        link.by_source.entry(source.clone()).or_default();
        if !failed.contains(source)
            && link.edges.insert(source.clone(), EdgeState::Applied) != Some(EdgeState::Applied)
        {
            settled.insert(source.clone());
        }
    }
    if upserts.is_empty() && removals.is_empty() && !full {
        settled.extend(warned);
        return settled;
    }
    let revision = revision.max(link.revision + 1);
    let checksum = format!("{:016x}", link.sum);
    let Some(outbox) = link.outbox.clone() else {
        return BTreeSet::new();
    };
    let mut upserts = upserts.into_iter().peekable();
    let mut removals = removals.into_iter().peekable();
    loop {
        let chunk_upserts: Vec<_> = upserts.by_ref().take(CHUNK).collect();
        let chunk_removals: Vec<_> = removals.by_ref().take(CHUNK).collect();
        let last = upserts.peek().is_none() && removals.peek().is_none();
        outbox.send(Down::Delta(v1::Delta {
            revision,
            full,
            confirm_prune: full && link.confirm_prune,
            upserts: chunk_upserts,
            removals: chunk_removals,
            last,
            checksum: if last {
                checksum.clone()
            } else {
                String::new()
            },
        }));
        if last {
            break;
        }
    }
    // Reported: sources whose output changed, and those whose edge changes now. A source the
    // full resync of a reconnect only resends unchanged keeps its edge until the
    // acknowledgement (a restart with nothing changed moves no count).
    let mut reported: BTreeSet<String> = moved.clone();
    for source in &touched {
        if settled.contains(source)
            || in_place.contains(source)
            || !link.by_source.contains_key(source)
            || (!moved.contains(source) && link.edges.contains_key(source))
        {
            continue;
        }
        if link.edges.insert(source.clone(), EdgeState::Unknown) != Some(EdgeState::Unknown) {
            reported.insert(source.clone());
        }
    }
    link.pending.insert(
        revision,
        touched
            .iter()
            .filter(|s| !settled.contains(*s) && !in_place.contains(*s))
            .cloned()
            .collect(),
    );
    link.revision = revision;
    link.checksum = checksum;
    if full {
        link.last_full = revision;
        link.confirm_prune = false;
    }
    link.needs_full = false;
    reported.extend(settled);
    reported.extend(warned);
    reported
}

#[cfg(test)]
mod tests;
