//! Distribution: what every connected cluster must hold, and getting it there.
//!
//! For each cluster with an open sync stream on this replica, the distributor keeps what the
//! agent was sent (identity and content hash per object), recomputes it when config or the
//! cluster's inventory change, and sends the difference as one revision of per-object upserts
//! and removals. The agent acknowledges each revision (with per-object errors: a NACK); that
//! gives the per-cluster edge states (tsb-model.md §5.3) from which objects go READY, and the
//! originating CR learns "applied in N of M clusters".
//!
//! Three parts: the **hub** (this file: links, streams and their generations, queues), the
//! **planner** (`plan`: translation vs what was sent → delta and edge changes, pure), and the
//! **shared state** (`shared`: edges and acknowledgements written to the store and mirrored
//! from it, so every replica sees every cluster). Translation runs outside the hub's lock:
//! acknowledgements and status queries never wait for it.

mod ledger;
mod link;
mod plan;
mod queue;
mod shared;
mod tally;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tonic::Status;

use crate::model::Resource;
use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::resolve::{ClusterNamespaces, ClusterService, Resolution, resolve};
use crate::model::status::{EdgeState, EventType, TypeInfo, status_for_event};
use crate::model::translate::{
    ObjectKey, influenced_roots, is_passthrough, stale_readers, translate_only, translate_resolved,
};
use crate::proto::v1;
use crate::proto::v1::server_message::Message as Down;
use crate::runtime::Shutdown;
use crate::server::engine::{Engine, decode};

pub use ledger::LedgerSettings;
use link::{Interner, Link};
use plan::{Generation, mark_unsent, recompute, within};
pub use queue::Outbox;
use queue::{Outgoing, Queue, Queued};
use shared::{HeldPrune, Remote, RowChange};

pub use crate::model::translate::MAX_GENERATED_BYTES;
/// After a start, propagation counts are provisional until every registered cluster has
/// acknowledged a revision (here, or on another replica as the store shows), or this long has
/// passed: edges come from the store, but what translation leaves out in each cluster (shown in
/// status) is known only once the cluster is translated again, so agents keep the status they
/// show for the same etag meanwhile.
const WARMUP: Duration = Duration::from_secs(30);
/// Retry delay after reading or writing the store failed.
const RETRY: Duration = Duration::from_secs(1);
/// How long a parent's update waits for more changes below it (and so how often, at most,
/// its CR learns its subtree's state).
const PARENTS_EVERY: Duration = Duration::from_secs(1);
/// Pages of the delivery feed read per round once it has been read whole.
const FEED_PAGES: usize = 10;
/// Edges per store transaction, about.
const WRITE_BATCH: usize = 5_000;

/// How often a replica says it is alive, and how long a silent one still counts as serving
/// the clusters its rows name (three heartbeats missed).
const REPLICA_HEARTBEAT: Duration = Duration::from_secs(5);
const REPLICA_SILENT_US: i64 = 15_000_000;

/// Whether `replica` said it was alive recently, by the last read of `seen` (before any read,
/// the row is taken at its word).
fn replica_alive(
    seen: Option<&std::collections::HashMap<String, i64>>,
    replica: &str,
    now_us: i64,
) -> bool {
    seen.is_none_or(|seen| {
        seen.get(replica)
            .is_some_and(|at| now_us - at <= REPLICA_SILENT_US)
    })
}
/// How long edge writes gather before one store transaction takes them all.
const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// One sync stream of a cluster on this replica. A cluster's new stream can open before its
/// old one has ended (a killed agent's connection lingers until keep-alive gives up while its
/// successor connects): only the current stream's messages and end count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamId(u64);

/// What an agent's stream opens with.
#[derive(Debug)]
pub struct Opening {
    /// Where its messages go.
    pub outbox: Outbox,
    /// The last revision the agent applied, and the checksum of what it holds.
    pub revision: u64,
    pub checksum: String,
    /// It sends its Services: nothing is sent before their complete list.
    pub reports_services: bool,
}

/// Config as the distributor follows it: touched only by its own task.
#[derive(Debug, Default)]
struct Config {
    /// Caught up with the store at least once: until then nothing is sent (a desired set
    /// computed from part of the store would remove the rest).
    loaded: bool,
    revision: i64,
    resources: BTreeMap<String, Resource>,
    /// Objects changed since the last send (incremental path).
    changed: BTreeSet<String>,
    /// Roots of the subtrees whose translation changed objects can alter.
    scopes: BTreeSet<Fqn>,
    /// Kinds whose every object translates again at the next send ([`stale_readers`]).
    stale_kinds: BTreeSet<Kind>,
}

/// Everything streams, acknowledgements and status queries touch.
#[derive(Debug, Default)]
struct Hub {
    /// Counts are final: see [`WARMUP`].
    warm: bool,
    /// The store's edges have been read once.
    mirrored: bool,
    /// Registered clusters that have not acknowledged a revision since this replica started.
    unheard: BTreeSet<String>,
    /// Streams opened so far (the last [`StreamId`]).
    streams: u64,
    /// Clusters whose stream this replica holds (or held last, while their agent is away).
    links: BTreeMap<String, Link>,
    /// Every other cluster, as the store shows it.
    remote: BTreeMap<String, Remote>,
    /// Position in the store's delivery feed.
    feed: i64,
    /// GitOps objects: the cluster they came from, and their etag.
    origins: BTreeMap<String, String>,
    etags: BTreeMap<String, String>,
    /// Every object's latest change (its revision): what a delivery of it delivered.
    revisions: std::collections::HashMap<String, i64>,
    /// Delivery ledger rows the writer has not taken yet.
    ledger: ledger::Queue,
    /// When each replica last said it was alive (µs), as last read; `None` before the first
    /// read. A cluster row naming a silent replica is not shown connected.
    replicas_seen: Option<std::collections::HashMap<String, i64>>,
    interner: Interner,
    /// Store writes the writer task has not taken yet.
    outgoing: shared::Outgoing,
    /// Parents with an origin whose state is to be sent ([`PARENTS_EVERY`]).
    parents_due: BTreeSet<String>,
    /// Claims of a stream in flight, per cluster: the store already shows the new generation
    /// while the link still has the old one, which is not a sign of another replica.
    claiming: BTreeMap<String, usize>,
}

impl Hub {
    /// Every cluster's edge for `fqn`.
    fn edges(&self, fqn: &str) -> BTreeMap<String, EdgeState> {
        tally::edges_of(&self.clusters(), fqn)
    }

    /// Every cluster's name and edges, those served here and those mirrored.
    fn clusters(&self) -> Vec<(&str, &tally::Edges)> {
        let local = self.links.iter().map(|(c, link)| (c.as_str(), &link.edges));
        let remote = self.remote.iter().map(|(c, r)| (c.as_str(), &r.edges));
        local.chain(remote).collect()
    }

    /// This replica lost `cluster` to a newer stream elsewhere: its edges become the mirror's
    /// until the store says more.
    fn lose(&mut self, cluster: &str, delivery: Option<crate::store::ClusterDelivery>) {
        let Some(link) = self.links.remove(cluster) else {
            return;
        };
        tracing::info!(%cluster, "another replica serves the cluster now");
        let remote = self.remote.entry(cluster.to_string()).or_default();
        remote.edges = link.edges;
        if let Some(delivery) = delivery {
            remote.delivery = delivery;
        }
    }
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Distributor {
    engine: Engine,
    replica: Arc<str>,
    config: Arc<Mutex<Config>>,
    hub: Arc<Mutex<Hub>>,
    /// Something to send: config, an inventory, a stream.
    wake: Arc<Notify>,
    /// Something to write to the store.
    flush: Arc<Notify>,
    /// A parent's state is due.
    parents: Arc<Notify>,
    ledger: Arc<LedgerSettings>,
}

impl Distributor {
    /// A distributor over the engine's objects; `run` keeps it current.
    pub fn new(engine: Engine) -> Distributor {
        Distributor {
            engine,
            replica: shared::replica_id().into(),
            config: Arc::default(),
            hub: Arc::default(),
            wake: Arc::new(Notify::new()),
            flush: Arc::new(Notify::new()),
            parents: Arc::new(Notify::new()),
            ledger: Arc::default(),
        }
    }

    /// The delivery ledger's settings (on, 30 days, 10 million rows by default).
    #[must_use]
    pub fn with_ledger(mut self, settings: LedgerSettings) -> Distributor {
        self.ledger = Arc::new(settings);
        self
    }

    fn hub(&self) -> MutexGuard<'_, Hub> {
        self.hub
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn config(&self) -> MutexGuard<'_, Config> {
        self.config
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves the link's pending store writes to the writer.
    fn stage(&self, hub: &mut Hub, cluster: &str, row: RowChange) {
        let Hub {
            links, outgoing, ..
        } = hub;
        if let Some(link) = links.get_mut(cluster) {
            outgoing.stage(cluster, link, row);
            if !outgoing.is_empty() {
                self.flush.notify_one();
            }
        }
    }

    /// A stream for `cluster` opened (see [`Opening`]).
    ///
    /// The stream is claimed in the store (a new generation: whatever replica held the cluster
    /// before can no longer write for it). When this replica served it last, it continues
    /// from what it sent; otherwise it starts from what the store says the agent
    /// acknowledged. Either way an agent that holds exactly that resumes with deltas, and
    /// anything else gets a full resync.
    pub async fn connect(&self, cluster: &str, opening: Opening) -> Result<StreamId, Status> {
        *self.hub().claiming.entry(cluster.to_string()).or_default() += 1;
        let result = self.install(cluster, opening).await;
        if result.is_ok() {
            self.engine.metrics().connected(cluster);
        }
        let mut hub = self.hub();
        if let Some(count) = hub.claiming.get_mut(cluster) {
            *count -= 1;
            if *count == 0 {
                hub.claiming.remove(cluster);
            }
        }
        drop(hub);
        self.wake.notify_one();
        self.flush.notify_one();
        result
    }

    /// [`Distributor::connect`] while the claim is marked in flight.
    async fn install(&self, cluster: &str, opening: Opening) -> Result<StreamId, Status> {
        let Opening {
            outbox,
            revision,
            checksum,
            reports_services,
        } = opening;
        let store = self.engine.store();
        let claimed = store
            .claim_cluster(cluster, &self.replica)
            .await
            .map_err(|e| Status::unavailable(format!("claiming cluster {cluster}: {e}")))?;
        let continues = self
            .hub()
            .links
            .get(cluster)
            .is_some_and(|link| link.generation + 1 == claimed.generation);
        let stored = if continues {
            None
        } else {
            Some(
                store
                    .cluster_delivery(cluster)
                    .await
                    .map_err(|e| Status::unavailable(format!("reading cluster {cluster}: {e}")))?,
            )
        };
        let mut hub = self.hub();
        if hub
            .links
            .get(cluster)
            .is_some_and(|link| link.generation > claimed.generation)
        {
            return Err(Status::aborted(format!(
                "a newer stream of cluster {cluster} opened meanwhile"
            )));
        }
        hub.streams += 1;
        let stream = StreamId(hub.streams);
        if let Some((row, edges)) = stored {
            let row = row.unwrap_or(claimed.clone());
            let link = shared::link_from_store(&row, edges, &mut hub.interner);
            hub.remote.remove(cluster);
            hub.links.insert(cluster.to_string(), link);
        }
        let link = hub.links.entry(cluster.to_string()).or_default();
        link.generation = claimed.generation;
        link.epoch += 1;
        link.stream = stream;
        // Resume with deltas only when the agent holds exactly what this replica knows it
        // was sent (or, coming from the store, acknowledged).
        link.needs_full = !(link.revision == revision && link.checksum == checksum && revision > 0);
        link.outbox = Some(Queue::forwarding_to(outbox, cluster));
        link.namespaces_known = false;
        link.services_expected = reports_services;
        link.services_known = false;
        if !reports_services {
            // An older agent: no Service is known there (service-scoped settings generate
            // nothing, and say so).
            link.inventory = Arc::new(ClusterNamespaces {
                services: BTreeMap::new(),
                ..(*link.inventory).clone()
            });
        }
        link.pending.clear();
        // Re-translated whole: what the agent holds is compared against everything.
        link.stale = true;
        link.resolution = None;
        if let Some(hold) = claimed.held_prune.as_ref().and_then(HeldPrune::from_json) {
            link.held_prune = Some(v1::PruneHold {
                count: hold.count,
                owned: hold.owned,
                message: hold.message,
                examples: Vec::new(),
            });
        }
        Ok(stream)
    }

    /// `stream` of `cluster` ended (a newer stream of the cluster stays open).
    pub fn disconnect(&self, cluster: &str, stream: StreamId) {
        // Every stream that connected ends once, current or superseded.
        self.engine.metrics().disconnected(cluster);
        let mut hub = self.hub();
        let Some(link) = hub.links.get_mut(cluster).filter(|l| l.stream == stream) else {
            return;
        };
        link.closed();
        self.stage(
            &mut hub,
            cluster,
            RowChange {
                connected: Some(false),
                ..RowChange::default()
            },
        );
    }

    /// The cluster's complete namespace list (after a full inventory, or a change to it).
    pub fn namespaces(&self, cluster: &str, stream: StreamId, namespaces: BTreeSet<String>) {
        let mut hub = self.hub();
        let Some(link) = hub.links.get_mut(cluster).filter(|l| l.stream == stream) else {
            return;
        };
        if link.inventory.namespaces != namespaces || !link.namespaces_known {
            link.inventory = Arc::new(ClusterNamespaces {
                cluster: cluster.to_string(),
                namespaces,
                services: link.inventory.services.clone(),
            });
            link.namespaces_known = true;
            link.stale = true;
            link.epoch += 1;
            drop(hub);
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
        let mut hub = self.hub();
        let Some(link) = hub.links.get_mut(cluster).filter(|l| l.stream == stream) else {
            return;
        };
        if link.inventory.services != services || !link.services_known {
            link.services_changed |= link.inventory.services != services;
            link.inventory = Arc::new(ClusterNamespaces {
                cluster: cluster.to_string(),
                namespaces: link.inventory.namespaces.clone(),
                services,
            });
            link.services_known = true;
            link.epoch += 1;
            drop(hub);
            self.wake.notify_one();
        }
    }

    /// An agent applied `revision` (errors: a NACK for those objects).
    pub fn ack(&self, cluster: &str, stream: StreamId, ack: &v1::Ack) {
        let updates = {
            let mut hub = self.hub();
            let Some(link) = hub.links.get_mut(cluster).filter(|l| l.stream == stream) else {
                return;
            };
            let (updates, delivered) = link.acknowledged(ack);
            if self.ledger.enabled && !delivered.is_empty() {
                let now = jiff::Timestamp::now().as_microsecond();
                for delivered in delivered {
                    hub.ledger.push(ledger::row(cluster, delivered, now));
                }
                self.flush.notify_one();
            }
            let Some(link) = hub.links.get_mut(cluster) else {
                return;
            };
            let behind = u64::try_from(link.pending.len()).unwrap_or(u64::MAX);
            if ack.errors.is_empty() {
                self.engine.metrics().acked(cluster, behind);
            } else {
                self.engine.metrics().nacked(cluster, behind);
            }
            let mut row = RowChange {
                acked_revision: i64::try_from(ack.revision).ok(),
                connected: Some(true),
                ..RowChange::default()
            };
            if ack.revision == link.last_full {
                link.held_prune.clone_from(&ack.prune_held);
                row.held_prune = Some(ack.prune_held.as_ref().map(|h| HeldPrune::of(h).to_json()));
            }
            self.stage(&mut hub, cluster, row);
            hub.unheard.remove(cluster);
            let mut updates = updates;
            updates.extend(warm_up(&mut hub, false));
            updates
        };
        self.send_status_updates(&updates);
    }

    /// `cluster`'s agent put back a generated object someone changed or deleted there: a
    /// ledger row for its source, when the source does generate it here (an agent's word
    /// about another source is not taken).
    pub fn drift_reverted(&self, cluster: &str, stream: StreamId, report: &v1::DriftReverted) {
        if !self.ledger.enabled {
            return;
        }
        let mut hub = self.hub();
        let Some(link) = hub.links.get(cluster).filter(|l| l.stream == stream) else {
            return;
        };
        let key = report.key.clone().unwrap_or_default();
        let generates = link
            .by_source
            .get(report.source_fqn.as_str())
            .is_some_and(|targets| {
                targets.iter().any(|t| {
                    t.key.kind == key.kind
                        && t.key.namespace == key.namespace
                        && t.key.name == key.name
                })
            });
        if !generates {
            tracing::debug!(%cluster, source = %report.source_fqn, "drift report for an object this source does not generate here; ignored");
            return;
        }
        let what = format!(
            "{} {}/{} was {} in the cluster; the agent put it back",
            key.kind,
            key.namespace,
            key.name,
            if report.deleted { "deleted" } else { "changed" }
        );
        let row = ledger::reverted(
            cluster,
            &report.source_fqn,
            link.acked,
            &what,
            jiff::Timestamp::now().as_microsecond(),
        );
        hub.ledger.push(row);
        drop(hub);
        self.flush.notify_one();
    }

    /// Confirms the prune `cluster`'s agent held, whichever replica serves it: the serving
    /// replica sends a full resync that may prune. Returns how many objects it held, or
    /// `None` when it holds none.
    pub async fn confirm_prune(&self, cluster: &str) -> Result<Option<u32>, crate::store::Error> {
        let held = self.engine.store().confirm_prune(cluster).await?;
        let count = held
            .as_ref()
            .and_then(HeldPrune::from_json)
            .map(|h| h.count);
        if held.is_some() {
            // This replica may be the one serving it: the feed says so at once.
            self.wake.notify_one();
        }
        Ok(held.map(|_| count.unwrap_or_default()))
    }

    /// How distribution stands with `cluster`, whichever replica serves it; `None` before
    /// its agent first connected.
    pub fn delivery(&self, cluster: &str) -> Option<v1::Delivery> {
        let store_revision = u64::try_from(self.config().revision).unwrap_or_default();
        let hub = self.hub();
        let (replica, connected, acked, held) = if let Some(link) = hub.links.get(cluster) {
            (
                self.replica.to_string(),
                link.outbox.is_some(),
                link.acked,
                link.held_prune.as_ref().map_or(0, |h| h.count),
            )
        } else {
            let row = &hub.remote.get(cluster)?.delivery;
            let now = jiff::Timestamp::now().as_microsecond();
            (
                row.replica.clone(),
                row.connected && replica_alive(hub.replicas_seen.as_ref(), &row.replica, now),
                u64::try_from(row.acked_revision).unwrap_or_default(),
                row.held_prune
                    .as_ref()
                    .and_then(HeldPrune::from_json)
                    .map_or(0, |h| h.count),
            )
        };
        Some(v1::Delivery {
            replica,
            connected,
            acked_revision: acked,
            behind: store_revision.saturating_sub(acked),
            held_prune: held,
        })
    }

    /// Per-cluster edge states of `fqn`, in every cluster (those other replicas serve too).
    pub fn edges(&self, fqn: &str) -> BTreeMap<String, EdgeState> {
        self.hub().edges(fqn)
    }

    /// Read-only, for the web console: per cluster (those other replicas serve too), how
    /// many of the sources in `scope` (every source when `None`) are in each edge state (by
    /// `EdgeState::as_str`).
    pub fn edge_counts(
        &self,
        scope: Option<&Fqn>,
    ) -> BTreeMap<String, BTreeMap<&'static str, u32>> {
        let scope = scope.map(ToString::to_string);
        let hub = self.hub();
        tally::counts(&hub.clusters(), scope.as_deref())
    }

    /// The MP view of `fqn` for the CR's `status.tsb` (tsb-model §5.4, §5.5); a parent that
    /// produces nothing itself takes its subtree's status and counts (`docs/status.md`).
    pub fn object_state(&self, fqn: &str) -> v1::ObjectState {
        let hub = self.hub();
        object_state(&hub, fqn)
    }

    /// Tells each object's originating cluster (when it is connected here) its new counts.
    fn send_status_updates(&self, fqns: &BTreeSet<String>) {
        if fqns.is_empty() {
            return;
        }
        let mut hub = self.hub();
        // A parent's CR shows its subtree, so its counts move with its descendants'. Its
        // update is computed (a walk over the subtree in every cluster) and sent at most once
        // per [`PARENTS_EVERY`], not once per change below it: a burst settles in between.
        let ancestors: Vec<String> = fqns
            .iter()
            .filter_map(|fqn| fqn.parse::<Fqn>().ok())
            .flat_map(|fqn| std::iter::successors(fqn.parent(), Fqn::parent))
            .map(|fqn| fqn.to_string())
            .filter(|fqn| hub.origins.contains_key(fqn))
            .collect();
        if !ancestors.is_empty() {
            hub.parents_due.extend(ancestors);
            self.parents.notify_one();
        }
        self.send_now(&hub, fqns);
    }

    /// Sends the parents whose update is due.
    fn send_parents(&self) {
        let mut hub = self.hub();
        let due = std::mem::take(&mut hub.parents_due);
        self.send_now(&hub, &due);
    }

    /// Sends each of `fqns` with an origin connected here its state now.
    fn send_now(&self, hub: &Hub, fqns: &BTreeSet<String>) {
        for fqn in fqns {
            let Some(origin) = hub.origins.get(fqn) else {
                continue;
            };
            let Some(outbox) = hub.links.get(origin).and_then(|l| l.outbox.as_ref()) else {
                continue;
            };
            let etag = hub.etags.get(fqn).cloned().unwrap_or_default();
            let update = Outgoing::Message(Down::Status(v1::StatusUpdate {
                fqn: fqn.clone(),
                etag,
                state: Some(object_state(hub, fqn)),
            }));
            if outbox.send(update) == Queued::Overflowed {
                overflowed(self.engine.metrics(), origin);
            }
        }
    }

    /// Keeps the desired sets current until shutdown, writes the served clusters' state to
    /// the store and mirrors the others'. Readiness waits for the first catch-up with the
    /// store.
    pub fn run(&self, shutdown: &Shutdown) {
        let this = self.clone();
        let stop = shutdown.clone();
        let mut revisions = self.engine.store().subscribe();
        let mut deliveries = self.engine.store().subscribe_delivery();
        shutdown.set_pending(vec![
            "distribution state (catching up with the store)".into(),
        ]);
        let started = tokio::time::Instant::now();
        shutdown.spawn(tracing::info_span!("distribute"), async move {
            match this.engine.store().list_clusters().await {
                Ok(clusters) => {
                    let mut hub = this.hub();
                    hub.unheard = clusters.into_iter().map(|c| c.name).collect();
                }
                Err(error) => {
                    tracing::warn!(%error, "distribution: listing clusters failed; counts stay provisional for the warm-up");
                }
            }
            loop {
                let mut retry = false;
                match this.catch_up().await {
                    Ok(()) => {
                        let first = !std::mem::replace(&mut this.config().loaded, true);
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
                // After config: the feed can hold a million edges after an initial sync (this
                // replica's own, mostly), read a few pages per round so changes go first.
                let pages = if this.hub().mirrored { FEED_PAGES } else { usize::MAX };
                match this.follow_feed(pages).await {
                    Ok(true) => {}
                    Ok(false) => this.wake.notify_one(),
                    Err(error) => {
                        tracing::warn!(%error, "distribution: reading the delivery feed failed; retrying");
                        retry = true;
                    }
                }
                let warmup_left = {
                    let hub = this.hub();
                    (!hub.warm && hub.mirrored).then(|| WARMUP.saturating_sub(started.elapsed()))
                };
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = revisions.changed() => {}
                    _ = deliveries.changed() => {}
                    () = this.wake.notified() => {}
                    () = tokio::time::sleep(RETRY), if retry => {}
                    () = tokio::time::sleep(warmup_left.unwrap_or_default()), if warmup_left.is_some() => {
                        let updates = warm_up(&mut this.hub(), true);
                        this.send_status_updates(&updates);
                    }
                }
            }
        });
        let this = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn(tracing::info_span!("distribute-store"), async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = this.flush.notified() => {}
                }
                // Gather: one transaction for the writes of a burst of acknowledgements.
                tokio::time::sleep(FLUSH_EVERY).await;
                loop {
                    if !this.write_out().await {
                        tokio::select! {
                            () = stop.cancelled() => break,
                            () = tokio::time::sleep(RETRY) => {}
                        }
                        continue;
                    }
                    if this.hub().outgoing.is_empty() && this.hub().ledger.is_empty() {
                        break;
                    }
                    // More than one batch queued: config commits go first in between.
                    tokio::task::yield_now().await;
                }
            }
            // What is queued at shutdown is written once more, best effort.
            while !(this.hub().outgoing.is_empty() && this.hub().ledger.is_empty())
                && this.write_out().await
            {}
        });
        if self.ledger.enabled {
            let store = self.engine.store().clone();
            let settings = self.ledger.clone();
            let stop = shutdown.clone();
            shutdown.spawn(tracing::info_span!("ledger-retention"), async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(ledger::RETENTION_EVERY) => {}
                    }
                    let max_age = i64::try_from(settings.max_age.as_micros()).unwrap_or(i64::MAX);
                    let oldest = jiff::Timestamp::now().as_microsecond().saturating_sub(max_age);
                    let keep = i64::try_from(settings.max_rows).unwrap_or(i64::MAX);
                    match store.prune_ledger(Some(oldest), keep).await {
                        Ok(0) => {}
                        Ok(deleted) => tracing::info!(deleted, "delivery ledger: retention deleted rows"),
                        Err(error) => tracing::warn!(%error, "delivery ledger: retention failed; trying again later"),
                    }
                }
            });
        }
        let this = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn(tracing::info_span!("replica-alive"), async move {
            loop {
                let now = jiff::Timestamp::now().as_microsecond();
                match this.engine.store().replica_alive(&this.replica, now).await {
                    Ok(seen) => this.hub().replicas_seen = Some(seen),
                    Err(error) => tracing::warn!(%error, "recording that this replica is alive failed; retrying"),
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(REPLICA_HEARTBEAT) => {}
                }
            }
        });
        let this = self.clone();
        let stop = shutdown.clone();
        shutdown.spawn(tracing::info_span!("distribute-parents"), async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = this.parents.notified() => {}
                }
                // The burst that made them due settles first.
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(PARENTS_EVERY) => {}
                }
                this.send_parents();
            }
        });
    }

    /// Writes the delivery ledger rows queued; false when the store failed (they stay
    /// queued, the oldest dropped past the queue's bound and said so).
    async fn write_ledger(&self) -> bool {
        let (rows, dropped) = {
            let mut hub = self.hub();
            (
                hub.ledger.take(WRITE_BATCH * 10),
                std::mem::take(&mut hub.ledger.dropped),
            )
        };
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "delivery ledger: rows dropped while the store could not take them"
            );
        }
        if rows.is_empty() {
            return true;
        }
        match self.engine.store().append_ledger(rows.clone()).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, rows = rows.len(), "delivery ledger: writing rows failed; retrying");
                self.hub().ledger.restore(rows);
                false
            }
        }
    }

    /// Writes what is queued; false when the store failed (it stays queued). A ledger
    /// write that fails does not hold back the edges: they are what distribution resumes from.
    async fn write_out(&self) -> bool {
        let ledger_written = self.write_ledger().await;
        let edges_written = self.write_edges().await;
        ledger_written && edges_written
    }

    /// Writes the queued edge and cluster rows; false when the store failed.
    async fn write_edges(&self) -> bool {
        let writes = {
            let mut hub = self.hub();
            let hub = &mut *hub;
            hub.outgoing.take(&hub.links, WRITE_BATCH)
        };
        if writes.is_empty() {
            return true;
        }
        match self.engine.store().write_deliveries(&writes).await {
            Ok(applied) => {
                let mut hub = self.hub();
                let hub = &mut *hub;
                let mut retry = Vec::new();
                for (write, applied) in writes.into_iter().zip(applied) {
                    if applied {
                        continue;
                    }
                    let newer_here = hub.claiming.contains_key(&write.cluster)
                        || hub
                            .links
                            .get(&write.cluster)
                            .is_some_and(|l| l.generation > write.generation);
                    if newer_here {
                        // This replica's own newer stream: written under its generation.
                        retry.push(write);
                    } else if hub
                        .links
                        .get(&write.cluster)
                        .is_some_and(|l| l.generation == write.generation)
                    {
                        hub.lose(&write.cluster, None);
                    }
                }
                let again = !retry.is_empty();
                hub.outgoing.restore(retry, &mut hub.interner);
                if again {
                    self.flush.notify_one();
                }
                true
            }
            Err(error) => {
                tracing::warn!(%error, clusters = writes.len(), "distribution: writing edges to the store failed; retrying");
                let mut hub = self.hub();
                let hub = &mut *hub;
                hub.outgoing.restore(writes, &mut hub.interner);
                false
            }
        }
    }

    /// Reads the store's delivery feed: other replicas' edges and claims, and confirmations
    /// of held prunes for the clusters served here.
    /// Reads at most `pages` pages; true when it reached the end.
    async fn follow_feed(&self, pages: usize) -> Result<bool, crate::store::Error> {
        for _ in 0..pages {
            let after = self.hub().feed;
            let changes = self.engine.store().delivery_since(after, 1000).await?;
            if changes.clusters.is_empty() && changes.edges.is_empty() {
                let updates = {
                    let mut hub = self.hub();
                    hub.mirrored = true;
                    warm_up(&mut hub, false)
                };
                self.send_status_updates(&updates);
                return Ok(true);
            }
            // Rows come per table, each in order and each limited: go on from the lowest
            // position a truncated table reached (a row read twice is harmless: it is the
            // row's current value).
            let limit = 1000;
            let reached = |seqs: &mut dyn Iterator<Item = i64>, full: bool| {
                if full { seqs.max() } else { None }
            };
            let next = [
                reached(
                    &mut changes.clusters.iter().map(|c| c.seq),
                    changes.clusters.len() >= limit,
                ),
                reached(
                    &mut changes.edges.iter().map(|e| e.seq),
                    changes.edges.len() >= limit,
                ),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(changes.last_seq);
            let mut touched = BTreeSet::new();
            let mut confirmed = false;
            {
                let mut hub = self.hub();
                let hub = &mut *hub;
                for row in changes.clusters {
                    let ours = row.replica == *self.replica;
                    match hub.links.get_mut(&row.cluster) {
                        Some(link) if row.generation > link.generation && !ours => {
                            let cluster = row.cluster.clone();
                            hub.lose(&cluster, Some(row));
                        }
                        Some(link) => {
                            if row.generation == link.generation
                                && row.confirm_prune
                                && link.held_prune.is_some()
                            {
                                link.held_prune = None;
                                link.confirm_prune = true;
                                link.needs_full = true;
                                link.stale = true;
                                link.resolution = None;
                                link.epoch += 1;
                                confirmed = true;
                            }
                        }
                        None => {
                            // Acknowledged through another replica since this one started.
                            if hub.mirrored && row.connected && row.replica != *self.replica {
                                hub.unheard.remove(&row.cluster);
                            }
                            let cluster = row.cluster.clone();
                            hub.remote.entry(cluster).or_default().delivery = row;
                        }
                    }
                }
                for edge in changes.edges {
                    if hub.links.contains_key(&edge.cluster) {
                        continue;
                    }
                    let source = hub.interner.source(&edge.source);
                    let remote = hub.remote.entry(edge.cluster.clone()).or_default();
                    let changed = match shared::parse_state(edge.state.as_deref()) {
                        Some(state) => remote.edges.insert(source, state) != Some(state),
                        None => remote.edges.remove(&source).is_some(),
                    };
                    if changed {
                        touched.insert(edge.source);
                    }
                }
                hub.feed = hub.feed.max(next);
            }
            if confirmed {
                self.wake.notify_one();
            }
            self.send_status_updates(&touched);
        }
        Ok(false)
    }

    async fn catch_up(&self) -> Result<(), crate::server::error::Error> {
        let strip = crate::model::metadata::StripRules::default();
        loop {
            let after = self.config().revision;
            let changes = self.engine.store().changes_since(after, 1000).await?;
            if changes.is_empty() {
                return Ok(());
            }
            let mut config = self.config();
            let mut hub = self.hub();
            for change in changes {
                config.changed.insert(change.fqn.clone());
                let decoded = change.record.as_ref().map(|r| (r, decode(r, &strip)));
                let new = match &decoded {
                    Some((_, Ok(resource))) => Some(resource),
                    _ => None,
                };
                let old = config.resources.get(&change.fqn);
                let readers = stale_readers(old, new);
                let roots = influenced_roots(old, new);
                config.stale_kinds.extend(readers.iter().copied());
                config.scopes.extend(roots);
                match decoded {
                    Some((record, Ok(resource))) => {
                        hub.etags.insert(change.fqn.clone(), record.etag.clone());
                        hub.revisions.insert(change.fqn.clone(), change.revision);
                        match record
                            .origin
                            .get("cluster")
                            .and_then(serde_json::Value::as_str)
                        {
                            Some(cluster) => {
                                hub.origins.insert(change.fqn.clone(), cluster.to_string());
                            }
                            None => {
                                hub.origins.remove(&change.fqn);
                            }
                        }
                        config.resources.insert(change.fqn.clone(), resource);
                    }
                    Some((_, Err(_))) | None => {
                        hub.etags.remove(&change.fqn);
                        hub.revisions.remove(&change.fqn);
                        hub.origins.remove(&change.fqn);
                        config.resources.remove(&change.fqn);
                    }
                }
                config.revision = change.revision;
            }
        }
    }

    /// Recomputes every stale cluster served here and sends what changed. Each cluster is
    /// translated without the hub's lock, then planned and sent under it.
    fn send_all(&self) {
        let mut touched = BTreeSet::new();
        let mut config = self.config();
        let config = &mut *config;
        if !config.loaded {
            return;
        }
        let revision = u64::try_from(config.revision).unwrap_or_default();
        let changed = std::mem::take(&mut config.changed);
        let scopes = std::mem::take(&mut config.scopes);
        let structural = !scopes.is_empty();
        // What the changes can alter where the resolution stays the same.
        let mut affected = within(&config.resources, &changed, &scopes);
        let stale_kinds = std::mem::take(&mut config.stale_kinds);
        if !stale_kinds.is_empty() {
            affected.extend(
                config
                    .resources
                    .iter()
                    .filter(|(_, r)| stale_kinds.contains(&r.kind))
                    .map(|(fqn, _)| fqn.clone()),
            );
        }
        let jobs: Vec<Job> = {
            let mut hub = self.hub();
            hub.links
                .iter_mut()
                .filter_map(|(cluster, link)| Job::of(cluster, link, &affected, structural))
                .collect()
        };
        let mut whole: Option<Vec<Resource>> = None;
        for job in jobs {
            // What reads the Services, when they changed: service-scoped settings, and
            // TrafficSettings (timeouts of the services without a ServiceRoute).
            let widened: BTreeSet<String>;
            let scope = if job.services_changed {
                widened = affected
                    .iter()
                    .cloned()
                    .chain(
                        config
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
                            .map(|(fqn, _)| fqn.clone()),
                    )
                    .collect();
                &widened
            } else {
                &affected
            };
            // The namespaces each workspace and group owns here: unchanged unless the
            // inventory or a tenancy object changed. While it is unchanged, only the changed
            // objects and the subtrees they influence translate differently; when it moves,
            // anything may (a rule can name any workspace), so the cluster translates whole.
            let plan = match &job.resolution {
                Some(kept) if !job.resolve => Plan::Only(kept.clone()),
                Some(kept) => {
                    let fresh = resolve(&job.inventory, config.resources.values());
                    if &fresh == kept.as_ref() {
                        Plan::Only(kept.clone())
                    } else {
                        Plan::Whole(Arc::new(fresh))
                    }
                }
                None => Plan::Whole(Arc::new(resolve(&job.inventory, config.resources.values()))),
            };
            let plan = match plan {
                // A full resync lists everything: it translates whole.
                Plan::Only(kept) if job.full => Plan::Whole(kept),
                plan => plan,
            };
            let started = std::time::Instant::now();
            let (generation, resolution) = match plan {
                Plan::Only(resolution) => {
                    if scope.is_empty() {
                        continue;
                    }
                    let only: Vec<&Resource> = scope
                        .iter()
                        .filter_map(|fqn| config.resources.get(fqn))
                        .collect();
                    let translation = translate_only(
                        &job.inventory,
                        &resolution,
                        config.resources.values(),
                        &only,
                    );
                    (Generation::Some(translation, scope), None)
                }
                Plan::Whole(resolution) => {
                    let resources =
                        whole.get_or_insert_with(|| config.resources.values().cloned().collect());
                    let translation = translate_resolved(&job.inventory, &resolution, resources);
                    (Generation::Whole(translation), Some(resolution))
                }
            };
            self.engine.metrics().translation(started.elapsed());
            let mut hub = self.hub();
            let Hub {
                links,
                origins,
                interner,
                outgoing,
                revisions,
                ..
            } = &mut *hub;
            let change_of = |source: &str| revisions.get(source).copied().unwrap_or_default();
            let is_self = |source: &str, key: &ObjectKey| {
                origins.get(source) == Some(&job.cluster)
                    && config
                        .resources
                        .get(source)
                        .is_some_and(|r| is_passthrough(r, key))
            };
            let Some(link) = links.get_mut(&job.cluster) else {
                continue;
            };
            if link.epoch != job.epoch {
                // A new stream or inventory meanwhile: this translation is dropped, and the
                // round's changes went with it (a Service inventory change alone would only
                // re-translate what reads Services), so the next round translates it whole.
                link.retranslate();
                self.wake.notify_one();
                continue;
            }
            if job.connected {
                link.stale = false;
                if job.services_changed {
                    link.services_changed = false;
                }
                if let Some(resolution) = resolution {
                    link.resolution = Some(resolution);
                }
                let confirming = link.needs_full && link.confirm_prune;
                let planned = recompute(
                    &job.cluster,
                    link,
                    generation,
                    revision,
                    &is_self,
                    &change_of,
                    interner,
                );
                let mut row = RowChange::default();
                if confirming && !planned.chunks.is_empty() {
                    // Acted on once: a later full resync prunes only past the guard again.
                    row.confirm_prune = Some(false);
                    row.held_prune = Some(None);
                }
                if let Some(outbox) = &link.outbox {
                    let metrics = self.engine.metrics();
                    if !planned.chunks.is_empty() {
                        let objects = planned
                            .chunks
                            .iter()
                            .map(|c| c.upserts.len() + c.removals.len())
                            .sum();
                        metrics.delta_sent(&job.cluster, objects);
                        metrics.lag(
                            &job.cluster,
                            u64::try_from(link.pending.len()).unwrap_or(u64::MAX),
                        );
                    }
                    for chunk in planned.chunks {
                        if outbox.send(Outgoing::Delta(chunk)) == Queued::Overflowed {
                            overflowed(metrics, &job.cluster);
                        }
                    }
                    metrics.queue_depth(&job.cluster, outbox.depth());
                    if outbox.depth() > 1000 {
                        tracing::debug!(cluster = %job.cluster, depth = outbox.depth(), open = outbox.is_open(), "agent is behind: deltas wait in its queue");
                    }
                }
                outgoing.stage(&job.cluster, link, row);
                touched.extend(planned.reported);
            } else {
                touched.extend(mark_unsent(link, &generation, &is_self, interner));
                outgoing.stage(&job.cluster, link, RowChange::default());
            }
        }
        {
            let mut hub = self.hub();
            hub.interner.purge();
            if !hub.outgoing.is_empty() {
                self.flush.notify_one();
            }
        }
        self.send_status_updates(&touched);
    }
}

/// Counts and logs a stream ended because its queue overflowed.
fn overflowed(metrics: &crate::server::metrics::Metrics, cluster: &str) {
    metrics.queue_overflow(cluster);
    tracing::warn!(
        %cluster,
        limit = queue::LIMIT,
        "the agent fell too far behind: its stream ends, and it resumes from its acknowledged revision when it reconnects"
    );
}

/// Ends the warm-up when the store's edges are read and every registered cluster has been
/// heard from, or when `timed_out`; returns every object with an originating cluster, whose
/// counts are now final.
fn warm_up(hub: &mut Hub, timed_out: bool) -> BTreeSet<String> {
    if hub.warm || !hub.mirrored || !(timed_out || hub.unheard.is_empty()) {
        return BTreeSet::new();
    }
    hub.warm = true;
    if !hub.unheard.is_empty() {
        tracing::info!(unheard = ?hub.unheard, "warm-up over without these clusters' acknowledgements");
    }
    hub.origins.keys().cloned().collect()
}

/// The MP view of `fqn`: its own from every cluster's edges, or, for a parent (an object
/// that generates nothing), its subtree's aggregate.
fn object_state(hub: &Hub, fqn: &str) -> v1::ObjectState {
    let own = own_state(hub, fqn);
    let parent = fqn
        .parse::<Fqn>()
        .ok()
        .and_then(|f| f.kind())
        .is_some_and(|kind| !crate::model::translate::generates_objects(kind));
    if !parent {
        return own;
    }
    let aggregate = tally::subtree(&hub.clusters(), fqn);
    crate::server::services::status::parent_object_state(own, aggregate.as_ref())
}

/// The MP view of `fqn` from every cluster's edges for it.
fn own_state(hub: &Hub, fqn: &str) -> v1::ObjectState {
    let (counts, event) = tally::own(&hub.clusters(), fqn);
    // No target cluster: the object stays ACCEPTED after XCP_ACCEPTED (§5.4).
    let event = event.unwrap_or(EventType::XcpAccepted);
    let status = status_for_event(event, TypeInfo::CONFIG);
    let translation_warnings = hub
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
        provisional: !hub.warm,
    }
}

/// One cluster's share of a send, taken under the hub's lock.
struct Job {
    cluster: String,
    epoch: u64,
    connected: bool,
    inventory: Arc<ClusterNamespaces>,
    resolution: Option<Arc<Resolution>>,
    /// The resolution may have moved: compute it again.
    resolve: bool,
    services_changed: bool,
    full: bool,
}

impl Job {
    fn of(
        cluster: &str,
        link: &Link,
        affected: &BTreeSet<String>,
        structural: bool,
    ) -> Option<Job> {
        // A stream without its complete namespace (and Service) list yet is treated as away.
        let connected = link.outbox.is_some()
            && link.namespaces_known
            && (link.services_known || !link.services_expected);
        let services_changed = connected && link.services_changed;
        // A cluster that is away has nothing to learn until it is back (it is re-translated
        // whole then); only its edges can go out of date meanwhile.
        if !connected && (link.edges.is_empty() || (affected.is_empty() && !structural)) {
            return None;
        }
        if connected
            && !link.stale
            && !structural
            && affected.is_empty()
            && !services_changed
            && !link.needs_full
        {
            return None;
        }
        Some(Job {
            cluster: cluster.to_string(),
            epoch: link.epoch,
            connected,
            inventory: link.inventory.clone(),
            resolution: link.resolution.clone(),
            resolve: link.stale || structural,
            services_changed,
            full: connected && link.needs_full,
        })
    }
}

/// How one cluster is translated after a change.
enum Plan {
    /// Its resolution holds: only the objects the change can alter, against it.
    Only(Arc<Resolution>),
    /// Its resolution moved, or it has none yet: everything, against this one.
    Whole(Arc<Resolution>),
}

#[cfg(test)]
mod tests;
