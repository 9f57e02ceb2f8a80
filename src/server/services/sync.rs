//! `tsbridge.v1.AgentSyncService`: the upstream half of an agent's sync stream.
//!
//! Messages of one stream are handled in order, so a push and a later removal of the same
//! object can never swap. The stream ends when the agent closes it or the server shuts down.

use std::collections::{BTreeMap, BTreeSet};
use std::pin::Pin;

use futures::Stream;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::model::object::{DELETION_POLICY_ANNOTATION, Origin};
use crate::model::resolve::{ClusterService, ServicePort};
use crate::proto::v1;
use crate::proto::v1::agent_message::Message as Up;
use crate::proto::v1::agent_sync_service_server::AgentSyncService;
use crate::proto::v1::server_message::Message as Down;
use crate::runtime::Shutdown;
use crate::runtime::keepalive::{Liveness, expires, spawn_heartbeats};
use crate::server::auth::{Actor, Authenticator, Role};
use crate::server::convert::proto_to_envelope;
use crate::server::engine::{ApplyInput, Engine};
use crate::server::error::{Error, diagnostic_to_proto, to_status};
use crate::server::guard::DeletionGuard;
use crate::server::services::{caller, denied};
use crate::store::Record;

/// Inventory items accepted per stream before the rest is refused (names the limit).
const MAX_INVENTORY_ITEMS: usize = 100_000;

/// Namespaces, and Services, one stream may report; more are ignored (and logged), so a
/// misbehaving agent cannot grow the server's memory without bound.
const MAX_REPORTED: usize = 100_000;

/// The agent sync service.
#[derive(Debug, Clone)]
pub struct SyncApi {
    /// Write path and index.
    pub engine: Engine,
    /// Who calls.
    pub auth: Authenticator,
    /// Ends streams.
    pub shutdown: Shutdown,
    /// Mass-deletion guard (shared with the cluster service, which confirms).
    pub guard: DeletionGuard,
    /// Per-cluster desired Istio config and delivery.
    pub distributor: crate::server::distribute::Distributor,
    /// HTTP/2 PINGs and heartbeats: how soon a stalled stream ends.
    pub keepalive: crate::runtime::KeepaliveArgs,
    /// NACK reasons, for the web console.
    pub nacks: crate::server::ui::nacks::NackLog,
}

/// Messages queued towards one agent.
const OUTBOX: usize = 1024;

type SyncStream = Pin<Box<dyn Stream<Item = Result<v1::ServerMessage, Status>> + Send>>;

fn down(message: Down) -> Result<v1::ServerMessage, Status> {
    Ok(v1::ServerMessage {
        message: Some(message),
    })
}

/// The canonical name of a gRPC code, as the agent's status classification expects it.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn rejection(id: u64, fqn: &str, error: Error) -> v1::PushResult {
    let diagnostics: Vec<v1::Diagnostic> = match &error {
        Error::Rejected(d) | Error::Invalid(d) => d.iter().map(diagnostic_to_proto).collect(),
        _ => Vec::new(),
    };
    let rule = diagnostics
        .iter()
        .find(|d| d.severity == "error")
        .map(|d| d.rule.clone())
        .unwrap_or_default();
    let status = to_status(error);
    v1::PushResult {
        id,
        fqn: fqn.to_string(),
        accepted: false,
        code: code_name(status.code()).to_string(),
        rule,
        message: status.message().to_string(),
        diagnostics,
        ..Default::default()
    }
}

fn origin_text<'a>(origin: &'a Value, key: &str) -> Option<&'a str> {
    origin.get(key).and_then(Value::as_str)
}

/// True when `record` was written by the CR `cluster`/`namespace`/`name`.
fn written_by(record: &Record, cluster: &str, namespace: &str, name: &str) -> bool {
    origin_text(&record.origin, "cluster") == Some(cluster)
        && origin_text(&record.origin, "namespace").unwrap_or_default() == namespace
        && origin_text(&record.origin, "name") == Some(name)
}

/// Longest origin field accepted from an agent (names are at most 253; provenance names a tool
/// and a Git revision).
const MAX_ORIGIN_FIELD: usize = 1024;

/// The origin an agent sends is stored and audited as it is: it must be short text the stores
/// can hold (Kubernetes metadata always is; anything else is a broken or hostile agent).
fn check_origin(resource: &v1::Resource, gitops: &v1::GitOpsOrigin) -> Result<(), Error> {
    let fields = [
        ("namespace", &gitops.namespace),
        ("name", &gitops.name),
        ("uid", &gitops.uid),
        ("provenance", &gitops.provenance),
        ("deletion_policy", &gitops.deletion_policy),
    ];
    for (field, text) in fields {
        if text.len() > MAX_ORIGIN_FIELD || text.chars().any(char::is_control) {
            return Err(Error::BadRequest(format!(
                "{} {}: origin.{field} is {} bytes or holds control characters; an origin \
                 field is Kubernetes metadata: at most {MAX_ORIGIN_FIELD} bytes of text",
                resource.kind,
                resource.name,
                text.len()
            )));
        }
    }
    Ok(())
}

/// Counts and logs a stream that ended after its agent fell silent, whichever way the end
/// showed (an error, the end of the request, the response closed): an unanswered PING reaches
/// the stream as a broken pipe and closes both halves at once. True when it was a stall.
fn ended_silent(
    liveness: &Liveness,
    metrics: &crate::server::metrics::Metrics,
    cluster: &str,
    status: Option<&Status>,
) -> bool {
    if !liveness.ended_silent(tokio::time::Instant::now()) {
        return false;
    }
    metrics.stalled(cluster);
    let status = status.map(ToString::to_string);
    tracing::warn!(
        ?status,
        "agent stream stalled (heartbeats missed, then the connection failed)"
    );
    true
}

/// The FQN a push names is what ownership is checked against: it must be the one its parent,
/// kind and name make, or an agent could name its own object and write another one.
fn check_fqn(resource: &v1::Resource) -> Result<(), Error> {
    let derived = crate::model::Kind::from_api_version(&resource.api_version, &resource.kind)
        .and_then(|kind| {
            resource
                .parent_fqn
                .parse::<crate::model::Fqn>()
                .ok()?
                .child(kind, &resource.name)
                .ok()
        });
    match derived {
        // An envelope that does not make an FQN is refused by L1, naming the field.
        None => Ok(()),
        Some(derived) if derived.to_string() == resource.fqn => Ok(()),
        Some(derived) => Err(Error::BadRequest(format!(
            "{} {}: push.resource.fqn {:?} is not the FQN its parent, kind and name make \
             ({derived})",
            resource.kind, resource.name, resource.fqn
        ))),
    }
}

/// One open stream: the cluster it speaks for and its inventory in progress.
struct Session {
    engine: Engine,
    distributor: crate::server::distribute::Distributor,
    guard: DeletionGuard,
    actor: Actor,
    cluster: String,
    inventory: Vec<v1::InventoryItem>,
    namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// A full, complete namespace inventory arrived on this stream: `namespaces` is the truth.
    namespaces_complete: bool,
    /// The cluster's Services by (namespace, name).
    services: BTreeMap<(String, String), ClusterService>,
    /// A full, complete Service inventory arrived on this stream: `services` is the truth.
    services_complete: bool,
}

/// A reported Service as translation reads it.
pub fn cluster_service(service: v1::Service) -> ClusterService {
    ClusterService {
        name: service.name,
        namespace: service.namespace,
        ports: service
            .ports
            .into_iter()
            .map(|p| ServicePort {
                name: p.name,
                port: p.port,
                protocol: p.protocol,
                app_protocol: (!p.app_protocol.is_empty()).then_some(p.app_protocol),
            })
            .collect(),
        selector: service.selector.into_iter().collect(),
    }
}

impl Session {
    async fn push(&self, push: v1::Push) -> v1::PushResult {
        let Some(resource) = push.resource else {
            return rejection(
                push.id,
                "",
                Error::BadRequest("push.resource is required".into()),
            );
        };
        let fqn = resource.fqn.clone();
        match self.apply(&resource).await {
            Ok(applied) => v1::PushResult {
                id: push.id,
                fqn: applied.record.fqn.clone(),
                accepted: true,
                etag: applied.record.etag.clone(),
                revision: u64::try_from(applied.record.revision).unwrap_or_default(),
                state: Some(self.distributor.object_state(&applied.record.fqn)),
                warnings: applied.warnings.iter().map(diagnostic_to_proto).collect(),
                ..Default::default()
            },
            Err(error) => rejection(push.id, &fqn, error),
        }
    }

    async fn apply(
        &self,
        resource: &v1::Resource,
    ) -> Result<crate::server::engine::Applied, Error> {
        let envelope = proto_to_envelope(resource);
        let fqn = &resource.fqn;
        let gitops = match resource.origin.as_ref().and_then(|o| o.source.as_ref()) {
            Some(v1::origin::Source::Gitops(gitops)) => gitops.clone(),
            _ => {
                let error = Error::BadRequest(format!(
                    "{} {}: a pushed object needs its GitOps origin (namespace, name, uid)",
                    resource.kind, resource.name
                ));
                return Err(denied(&self.engine, &self.actor, "apply", fqn, error).await);
            }
        };
        if let Err(error) = check_origin(resource, &gitops).and_then(|()| check_fqn(resource)) {
            return Err(denied(&self.engine, &self.actor, "apply", fqn, error).await);
        }
        // Two CRs that map to one FQN (tsb-model §9.10): the first one keeps it.
        if let Ok(existing) = self.engine.get(fqn).await
            && origin_text(&existing.origin, "cluster").is_some()
            && !written_by(&existing, &self.cluster, &gitops.namespace, &gitops.name)
        {
            let owner = |key: &str| {
                origin_text(&existing.origin, key)
                    .unwrap_or("?")
                    .to_string()
            };
            let error = Error::Conflict(format!(
                "{fqn} is already written by {}/{} in cluster {}; two CRs map to one object: \
                 rename this one or change its hierarchy annotations",
                owner("namespace"),
                owner("name"),
                owner("cluster"),
            ));
            return Err(denied(&self.engine, &self.actor, "apply", fqn, error).await);
        }
        let origin = Origin {
            cluster: Some(self.cluster.clone()),
            namespace: (!gitops.namespace.is_empty()).then(|| gitops.namespace.clone()),
            name: gitops.name.clone(),
            uid: (!gitops.uid.is_empty()).then(|| gitops.uid.clone()),
            generation: Some(gitops.generation),
            provenance: (!gitops.provenance.is_empty()).then(|| gitops.provenance.clone()),
            deletion_policy: (!gitops.deletion_policy.is_empty())
                .then(|| gitops.deletion_policy.clone()),
        };
        let input = ApplyInput {
            envelope,
            dry_run: false,
            expected_etag: String::new(),
            force: false,
            origin: Some(origin),
        };
        self.engine.apply(&self.actor, input).await
    }

    async fn remove(&self, removal: v1::Removal) -> v1::PushResult {
        let accepted = |message: String| v1::PushResult {
            id: removal.id,
            fqn: removal.fqn.clone(),
            accepted: true,
            message,
            ..Default::default()
        };
        let origin = removal.origin.clone().unwrap_or_default();
        let existing = match self.engine.get(&removal.fqn).await {
            Ok(existing) => existing,
            Err(Error::NotFound(_)) => return accepted("already gone".into()),
            Err(error) => return rejection(removal.id, &removal.fqn, error),
        };
        if !written_by(&existing, &self.cluster, &origin.namespace, &origin.name) {
            return accepted(format!(
                "kept: {} is owned by another object ({})",
                removal.fqn, existing.origin
            ));
        }
        match self
            .engine
            .delete(&self.actor, &removal.fqn, false, false, "")
            .await
        {
            Ok(deleted) => accepted(format!("deleted {}", deleted.fqns.join(", "))),
            Err(Error::NotFound(_)) => accepted("already gone".into()),
            Err(error) => rejection(removal.id, &removal.fqn, error),
        }
    }

    /// The agent kept generated objects a full resync would have pruned: say so where an
    /// admin looks (the audit, the log) until `confirm-deletions` releases them.
    async fn prune_held(&self, hold: &v1::PruneHold) {
        tracing::warn!(cluster = %self.cluster, kept = hold.count, owned = hold.owned, message = %hold.message, "prune held by the agent");
        let mut entry = self.engine.audit_entry(&self.actor, "prune-held", "", "");
        entry.outcome = "held".into();
        entry.message = hold.message.clone();
        if let Err(error) = self.engine.store().append_audit(entry).await {
            tracing::warn!(%error, "audit of a held prune failed");
        }
    }

    /// The stream went over its identity's rate and is being held back: one audit row per
    /// episode, so the admin sees which agent was throttled.
    async fn paced(&self, rate: u32) {
        tracing::info!(cluster = %self.cluster, rate, "sync stream held to the identity's rate");
        let mut entry = self.engine.audit_entry(&self.actor, "sync", "", "");
        entry.outcome = "paced".into();
        entry.message = format!(
            "rate limit: {} sent more than {rate} messages/s on its sync stream \
             (--rate-limit-per-identity); its stream is read at that rate",
            self.actor.audit_name()
        );
        if let Err(error) = self.engine.store().append_audit(entry).await {
            tracing::warn!(%error, "audit of a paced stream failed");
        }
    }

    /// Records the cluster's namespaces (distribution resolves selectors against them).
    /// Returns true when they are known completely, so distribution may use them.
    async fn namespaces(&mut self, inventory: v1::NamespaceInventory) -> bool {
        if inventory.full && !inventory.complete {
            // A partial list would look like deleted namespaces and prune their config.
            tracing::warn!(cluster = %self.cluster, "a full namespace inventory that is not complete; ignored");
            return false;
        }
        if inventory.full {
            self.namespaces.clear();
            self.namespaces_complete = true;
        }
        let mut ignored = 0;
        for namespace in inventory.upserts {
            if self.namespaces.len() >= MAX_REPORTED
                && !self.namespaces.contains_key(&namespace.name)
            {
                ignored += 1;
                continue;
            }
            self.namespaces
                .insert(namespace.name, namespace.labels.into_iter().collect());
        }
        if ignored > 0 {
            tracing::warn!(cluster = %self.cluster, ignored, limit = MAX_REPORTED, "namespace inventory over the limit; the rest is ignored");
        }
        for name in inventory.removed {
            self.namespaces.remove(&name);
        }
        if !self.namespaces_complete {
            return false;
        }
        if let Err(error) = self
            .engine
            .store()
            .set_namespaces(&self.cluster, self.namespaces.clone())
            .await
        {
            tracing::warn!(cluster = %self.cluster, %error, "storing the namespace inventory failed");
        }
        true
    }

    /// Records the cluster's Services (translation selects a service's workloads by them).
    /// Returns true when they are known completely, so distribution may use them. Kept in
    /// memory only: every stream starts with the full list.
    fn services(&mut self, inventory: v1::ServiceInventory) -> bool {
        if inventory.full && !inventory.complete {
            // A partial list would look like deleted Services and drop their policies.
            tracing::warn!(cluster = %self.cluster, "a full service inventory that is not complete; ignored");
            return false;
        }
        if inventory.full {
            self.services.clear();
            self.services_complete = true;
        }
        let mut ignored = 0;
        for service in inventory.upserts {
            let service = cluster_service(service);
            let key = (service.namespace.clone(), service.name.clone());
            if self.services.len() >= MAX_REPORTED && !self.services.contains_key(&key) {
                ignored += 1;
                continue;
            }
            self.services.insert(key, service);
        }
        if ignored > 0 {
            tracing::warn!(cluster = %self.cluster, ignored, limit = MAX_REPORTED, "service inventory over the limit; the rest is ignored");
        }
        for removed in inventory.removed {
            if let Some((namespace, name)) = removed.split_once('/') {
                self.services
                    .remove(&(namespace.to_string(), name.to_string()));
            }
        }
        self.services_complete
    }

    async fn inventory(&mut self, chunk: v1::InventoryChunk) -> Option<v1::InventoryResult> {
        self.inventory.extend(chunk.items);
        if self.inventory.len() > MAX_INVENTORY_ITEMS {
            tracing::warn!(
                cluster = %self.cluster,
                limit = MAX_INVENTORY_ITEMS,
                "inventory over the item limit; the rest is ignored"
            );
            self.inventory.truncate(MAX_INVENTORY_ITEMS);
        }
        if !chunk.last {
            return None;
        }
        let items = std::mem::take(&mut self.inventory);
        Some(
            self.reconcile(chunk.inventory_id, items, chunk.complete)
                .await,
        )
    }

    /// Compares an inventory with what this cluster wrote: answers which objects are current
    /// and, when the agent says its lists were complete, deletes (or holds) the ones the
    /// cluster no longer has. An incomplete inventory deletes nothing: what it lacks may just
    /// not be listed yet.
    async fn reconcile(
        &self,
        id: u64,
        items: Vec<v1::InventoryItem>,
        complete: bool,
    ) -> v1::InventoryResult {
        let cluster = self.cluster.as_str();
        let records = match self
            .engine
            .list_where(|r| origin_text(&r.origin, "cluster") == Some(cluster))
            .await
        {
            Ok((_, records)) => records,
            Err(error) => {
                tracing::warn!(%error, "inventory: listing failed");
                return v1::InventoryResult {
                    inventory_id: id,
                    items: items
                        .into_iter()
                        .map(|item| v1::InventoryItemResult {
                            fqn: item.fqn,
                            current: false,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                };
            }
        };
        let ours: BTreeMap<&str, &Record> = records.iter().map(|r| (r.fqn.as_str(), r)).collect();
        let listed: BTreeSet<&str> = items.iter().map(|i| i.fqn.as_str()).collect();
        let results = items
            .iter()
            .map(|item| match ours.get(item.fqn.as_str()) {
                Some(record) if record.content_hash == item.content_hash => {
                    v1::InventoryItemResult {
                        fqn: item.fqn.clone(),
                        current: true,
                        etag: record.etag.clone(),
                        state: Some(self.distributor.object_state(&item.fqn)),
                    }
                }
                _ => v1::InventoryItemResult {
                    fqn: item.fqn.clone(),
                    current: false,
                    ..Default::default()
                },
            })
            .collect();
        // Parents first: deleting one removes its children, which are then skipped.
        let mut gone: Vec<&Record> = ours
            .values()
            .filter(|r| !listed.contains(r.fqn.as_str()))
            .filter(|r| {
                origin_text(&r.origin, "deletionPolicy") != Some("Orphan")
                    && r.annotations
                        .get(DELETION_POLICY_ANNOTATION)
                        .map(String::as_str)
                        != Some("Orphan")
            })
            .copied()
            .collect();
        gone.sort_by(|a, b| a.fqn.len().cmp(&b.fqn.len()).then(a.fqn.cmp(&b.fqn)));
        let gone: Vec<String> = gone.into_iter().map(|r| r.fqn.clone()).collect();
        let mut result = v1::InventoryResult {
            inventory_id: id,
            items: results,
            ..Default::default()
        };
        if !complete {
            if !gone.is_empty() {
                tracing::info!(
                    cluster = %self.cluster,
                    missing = gone.len(),
                    "inventory not complete (the agent's watches have not all listed); nothing deleted"
                );
            }
            return result;
        }
        if gone.is_empty() {
            if let Err(error) = self.guard.release(&self.cluster).await {
                tracing::warn!(%error, "releasing held deletions failed");
            }
            return result;
        }
        let held = match self.guard.hold(&self.cluster, &gone, ours.len()).await {
            Ok(held) => held,
            Err(error) => {
                // Nothing is deleted on a guard that cannot say: the next inventory asks again.
                tracing::warn!(%error, "holding deletions failed; nothing deleted");
                return result;
            }
        };
        if let Some(message) = held {
            let mut entry = self
                .engine
                .audit_entry(&self.actor, "deletion-held", "", "");
            entry.outcome = "held".into();
            entry.message = message.clone();
            if let Err(error) = self.engine.store().append_audit(entry).await {
                tracing::warn!(%error, "audit of held deletions failed");
            }
            result.held = gone;
            result.held_message = message;
            return result;
        }
        result.deleted = delete_all(&self.engine, &self.actor, &gone).await;
        result
    }
}

/// Deletes `fqns` (parents first) as `actor`; returns what was deleted. Failures are audited
/// by the engine and logged here; the next inventory retries them.
pub async fn delete_all(engine: &Engine, actor: &Actor, fqns: &[String]) -> Vec<String> {
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    for fqn in fqns {
        if deleted.contains(fqn) {
            continue;
        }
        match engine.delete(actor, fqn, false, false, "").await {
            Ok(done) => deleted.extend(done.fqns),
            Err(Error::NotFound(_)) => {}
            Err(error) => tracing::warn!(%fqn, %error, "inventory delete refused"),
        }
    }
    deleted.into_iter().collect()
}

impl SyncApi {
    /// The cluster a stream speaks for: its client certificate's, or — for loopback set-ups
    /// without mTLS — the registered cluster an unscoped admin token names in `hello`.
    async fn cluster_actor(&self, actor: Actor, hello: &v1::Hello) -> Result<Actor, Error> {
        match actor {
            Actor::Cluster { ref name, .. } => {
                if !hello.cluster.is_empty() && hello.cluster != *name {
                    return Err(Error::PermissionDenied(format!(
                        "hello names cluster {:?} but the client certificate is cluster {name:?}",
                        hello.cluster
                    )));
                }
                Ok(actor)
            }
            Actor::User {
                role: Role::Admin,
                scope: None,
                ..
            } => {
                let cluster = self
                    .engine
                    .store()
                    .get_cluster(&hello.cluster)
                    .await?
                    .ok_or_else(|| Error::NotRegistered(hello.cluster.clone()))?;
                Ok(Actor::Cluster {
                    name: cluster.name,
                    grants: cluster
                        .grants
                        .iter()
                        .filter_map(|g| g.parse().ok())
                        .collect(),
                })
            }
            other => Err(Error::PermissionDenied(format!(
                "{} may not open an agent sync stream: use the cluster's client certificate \
                 (or an unscoped admin token on a loopback --insecure management plane)",
                other.audit_name()
            ))),
        }
    }
}

#[tonic::async_trait]
impl AgentSyncService for SyncApi {
    type SyncStream = SyncStream;

    async fn sync(
        &self,
        request: Request<Streaming<v1::AgentMessage>>,
    ) -> Result<Response<SyncStream>, Status> {
        let actor = caller(&self.auth, &self.engine, &request, "sync")
            .await
            .map_err(to_status)?;
        let mut incoming = request.into_inner();
        let first = incoming
            .message()
            .await?
            .and_then(|m| m.message)
            .ok_or_else(|| to_status(Error::BadRequest("the stream ended before hello".into())))?;
        let Up::Hello(hello) = first else {
            return Err(to_status(Error::BadRequest(
                "the first message of a sync stream must be hello".into(),
            )));
        };
        let actor = match self.cluster_actor(actor.clone(), &hello).await {
            Ok(actor) => actor,
            Err(error @ Error::PermissionDenied(_)) => {
                return Err(to_status(
                    denied(&self.engine, &actor, "sync", "", error).await,
                ));
            }
            Err(error) => return Err(to_status(error)),
        };
        let cluster = actor.name().to_string();
        let revision = self.engine.catch_up().await.map_err(to_status)?;
        let welcome = v1::Welcome {
            cluster: cluster.clone(),
            grants: match &actor {
                Actor::Cluster { grants, .. } => grants.iter().map(ToString::to_string).collect(),
                Actor::User { .. } => Vec::new(),
            },
            revision: u64::try_from(revision).unwrap_or_default(),
            heartbeat_interval_ms: self.keepalive.interval_ms(),
        };
        tracing::info!(%cluster, agent = %hello.agent_version, "agent connected");
        let mut session = Session {
            engine: self.engine.clone(),
            distributor: self.distributor.clone(),
            guard: self.guard.clone(),
            actor,
            cluster,
            inventory: Vec::new(),
            namespaces: BTreeMap::new(),
            namespaces_complete: false,
            services: BTreeMap::new(),
            services_complete: false,
        };
        // Answers and the distributor's deltas share one outbox; a task drives the session.
        let (outbox, answers) = mpsc::channel(OUTBOX);
        if outbox.send(down(Down::Welcome(welcome))).await.is_err() {
            return Err(Status::cancelled("the agent went away"));
        }
        let stream = self
            .distributor
            .connect(
                &session.cluster,
                crate::server::distribute::Opening {
                    outbox: outbox.clone(),
                    revision: hello.last_applied_revision,
                    checksum: hello.checksum.clone(),
                    reports_services: hello.reports_services,
                },
            )
            .await?;
        let shutdown = self.shutdown.clone();
        let distributor = self.distributor.clone();
        let nacks = self.nacks.clone();
        let metrics = self.engine.metrics().clone();
        // An agent that sends no heartbeats (an older one) is judged by HTTP/2 PINGs alone.
        let mut liveness = Liveness::new(
            &self.keepalive,
            hello.heartbeat_interval_ms,
            tokio::time::Instant::now(),
        );
        let heartbeats = spawn_heartbeats(
            outbox.clone(),
            self.keepalive.keepalive_interval,
            || down(Down::Heartbeat(v1::Heartbeat {})),
            tracing::info_span!("heartbeats", cluster = %session.cluster),
            &self.shutdown,
        );
        let auth = self.auth.clone();
        let span = tracing::info_span!("agent-stream", cluster = %session.cluster);
        self.shutdown.spawn(span, async move {
            let _heartbeats = heartbeats;
            loop {
                // The identity's rate, before reading on: a flooding agent is held back by
                // flow control, and the server buffers no more than the stream's window.
                if let Some(pacing) = auth.pace(&session.actor) {
                    if pacing.first {
                        session.paced(auth.rate_limit().unwrap_or_default()).await;
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = outbox.closed() => break,
                        () = tokio::time::sleep(pacing.wait) => {}
                    }
                }
                // Only time spent waiting here counts as the agent's silence.
                liveness.waiting(tokio::time::Instant::now());
                let next = tokio::select! {
                    () = shutdown.cancelled() => break,
                    // A connection that died ends the response as well as the request: which of
                    // the two is seen first is chance, so both are judged by the same silence.
                    () = outbox.closed() => {
                        ended_silent(&liveness, &metrics, &session.cluster, None);
                        break;
                    }
                    next = incoming.next() => next,
                    () = expires(liveness.deadline()) => {
                        let silent = liveness.stalled(tokio::time::Instant::now()).unwrap_or_default();
                        metrics.stalled(&session.cluster);
                        tracing::warn!(?silent, "agent stream stalled (no message, not even a heartbeat); closing it");
                        // Ends the response stream; the agent reconnects on a fresh connection.
                        let _ = outbox.try_send(Err(Status::unavailable(format!(
                            "the sync stream stalled: nothing received for {silent:?}"
                        ))));
                        break;
                    }
                };
                let message = match next {
                    None => {
                        ended_silent(&liveness, &metrics, &session.cluster, None);
                        break;
                    }
                    Some(Err(status)) => {
                        if !ended_silent(&liveness, &metrics, &session.cluster, Some(&status)) {
                            tracing::debug!(%status, "agent stream error");
                        }
                        break;
                    }
                    Some(Ok(message)) => message,
                };
                let answer = match message.message {
                    Some(Up::Push(push)) => Some(Down::Result(session.push(push).await)),
                    Some(Up::Removal(removal)) => Some(Down::Result(session.remove(removal).await)),
                    Some(Up::Inventory(chunk)) => {
                        session.inventory(chunk).await.map(Down::Inventory)
                    }
                    Some(Up::Namespaces(inventory)) => {
                        if session.namespaces(inventory).await {
                            distributor.namespaces(
                                &session.cluster,
                                stream,
                                session.namespaces.keys().cloned().collect(),
                            );
                        }
                        None
                    }
                    Some(Up::Services(inventory)) => {
                        if session.services(inventory) {
                            distributor.services(
                                &session.cluster,
                                stream,
                                session.services.clone(),
                            );
                        }
                        None
                    }
                    Some(Up::Ack(ack)) => {
                        if let Some(hold) = &ack.prune_held {
                            session.prune_held(hold).await;
                        }
                        nacks.record(&session.cluster, &ack);
                        distributor.ack(&session.cluster, stream, &ack);
                        None
                    }
                    Some(Up::DriftReverted(report)) => {
                        distributor.drift_reverted(&session.cluster, stream, &report);
                        None
                    }
                    Some(Up::Heartbeat(_)) | None => None,
                    Some(Up::Hello(_)) => {
                        let _ = outbox
                            .send(Err(to_status(Error::BadRequest(
                                "hello may be sent only once per stream".into(),
                            ))))
                            .await;
                        break;
                    }
                };
                if let Some(answer) = answer
                    && outbox.send(down(answer)).await.is_err()
                {
                    break;
                }
            }
            distributor.disconnect(&session.cluster, stream);
            tracing::info!("agent disconnected");
        });
        let output = tokio_stream::wrappers::ReceiverStream::new(answers);
        Ok(Response::new(Box::pin(output)))
    }
}
