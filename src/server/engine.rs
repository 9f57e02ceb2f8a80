//! The write path of the management plane: authorize, validate against the hierarchy, commit,
//! audit. One in-memory state of the stored objects (records for reads, an incremental model
//! index for validation), kept current from the store's revision log, so validation never
//! re-reads the whole store. Writes go through one writer task that commits concurrent applies
//! together ([`writer`]).

mod writer;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::{RwLock, mpsc, oneshot, watch};
use tracing::Instrument;

use crate::model::metadata::StripRules;
use crate::model::object::{EnvelopeInput, Origin};
use crate::model::validate::{Organizations, WriteIndex};
use crate::model::{Diagnostic, Fqn, Resource};
use crate::server::auth::Actor;
use crate::server::error::Error;
use crate::server::metrics::Metrics;
use crate::store::{AuditEntry, Record, Store};

/// Writes waiting for the writer task before callers wait for room.
const QUEUE: usize = 1024;

/// The objects the management plane holds at one store revision: the records as stored, and
/// the decoded ones in the model's validation index. Only committed changes get in.
#[derive(Debug, Default)]
struct State {
    revision: i64,
    records: BTreeMap<String, Record>,
    index: WriteIndex,
    /// Objects per originating cluster (`--max-objects-per-cluster`).
    per_cluster: HashMap<String, usize>,
}

impl State {
    /// Adds a record read from the store.
    fn insert(&mut self, record: Record, strip: &StripRules) {
        match decode(&record, strip) {
            Ok(resource) => self.insert_decoded(record, resource),
            Err(diagnostics) => {
                // Stored by an older version with other rules: keep serving it, skip validation.
                tracing::warn!(fqn = %record.fqn, ?diagnostics, "stored object no longer decodes");
                if let Ok(fqn) = record.fqn.parse::<Fqn>() {
                    self.index.remove(&fqn);
                }
                self.put_record(record);
            }
        }
    }

    /// Adds a record with its resource (our own write: no decoding).
    fn insert_decoded(&mut self, record: Record, resource: Resource) {
        self.index.insert(resource);
        self.put_record(record);
    }

    fn put_record(&mut self, record: Record) {
        if let Some(cluster) = origin_cluster(&record.origin) {
            *self.per_cluster.entry(cluster.to_string()).or_default() += 1;
        }
        if let Some(old) = self.records.insert(record.fqn.clone(), record) {
            self.uncount(&old);
        }
    }

    fn remove(&mut self, fqn: &str) {
        if let Some(old) = self.records.remove(fqn) {
            self.uncount(&old);
        }
        if let Ok(fqn) = fqn.parse::<Fqn>() {
            self.index.remove(&fqn);
        }
    }

    fn uncount(&mut self, record: &Record) {
        if let Some(cluster) = origin_cluster(&record.origin)
            && let Some(count) = self.per_cluster.get_mut(cluster)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_cluster.remove(cluster);
            }
        }
    }

    /// Objects that `cluster` originated.
    fn owned_by(&self, cluster: &str) -> usize {
        self.per_cluster.get(cluster).copied().unwrap_or_default()
    }
}

/// Limits on writes (architecture.md §8).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most objects one cluster may originate (GitOps objects with its name as origin); only
    /// creations by the cluster itself are refused. 0 = no limit.
    pub max_objects_per_cluster: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_objects_per_cluster: 10_000,
        }
    }
}

/// A stored record as a model resource.
pub fn decode(record: &Record, strip: &StripRules) -> Result<Resource, Vec<Diagnostic>> {
    let input = EnvelopeInput {
        api_version: record.api_version.clone(),
        kind: kind_name(&record.kind).to_string(),
        parent: record.parent_fqn.clone().unwrap_or_default(),
        name: record.name.clone(),
        namespace: record.namespace.clone(),
        spec: record.spec.clone(),
        labels: record.labels.clone(),
        annotations: record.annotations.clone(),
    };
    Resource::from_envelope(&input, strip)
}

/// `Kind.group` (the stored form) → `Kind`.
pub fn kind_name(qualified: &str) -> &str {
    qualified.split('.').next().unwrap_or(qualified)
}

/// What an apply asks for.
#[derive(Debug, Clone)]
pub struct ApplyInput {
    /// The object as sent.
    pub envelope: EnvelopeInput,
    /// Validate only.
    pub dry_run: bool,
    /// Optimistic concurrency ("" = none).
    pub expected_etag: String,
    /// Overwrite a GitOps-owned object from the API.
    pub force: bool,
    /// GitOps provenance when a cluster writes.
    pub origin: Option<Origin>,
}

/// What an apply did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The stored (or, for a dry run, the would-be) record.
    pub record: Record,
    /// True when the object did not exist.
    pub created: bool,
    /// Advisory findings.
    pub warnings: Vec<Diagnostic>,
}

/// What a delete did.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// FQNs removed, children first.
    pub fqns: Vec<String>,
    /// Store revision afterwards.
    pub revision: i64,
}

/// The management plane's state and write path. Cheap to clone; every clone shares one state
/// and one writer task, which ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    jobs: mpsc::Sender<writer::Job>,
}

/// What the engine's clones and its writer task share.
#[derive(Debug)]
struct Shared {
    store: Store,
    organizations: Organizations,
    limits: Limits,
    strip: StripRules,
    state: RwLock<State>,
    /// Store commit times go here; the distributor records through it too.
    metrics: Metrics,
    // The store's latest revision as this process knows it (its own commits at once, other
    // replicas' through notifications): lets reads skip the revision-log query when idle.
    revisions: watch::Receiver<i64>,
}

impl Engine {
    /// Loads the state from the store and starts the writer task, with default [`Limits`].
    pub async fn load(store: Store, organizations: Organizations) -> Result<Engine, Error> {
        Engine::load_with(
            store,
            organizations,
            Limits::default(),
            Metrics::unregistered(),
        )
        .await
    }

    /// [`Engine::load`] with other limits, recording into `metrics`.
    pub async fn load_with(
        store: Store,
        organizations: Organizations,
        limits: Limits,
        metrics: Metrics,
    ) -> Result<Engine, Error> {
        let shared = Arc::new(Shared {
            metrics,
            revisions: store.subscribe(),
            store,
            organizations,
            limits,
            strip: StripRules::default(),
            state: RwLock::new(State::default()),
        });
        shared.reload().await?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        // Not on the shutdown tracker: it ends once the services (and their engines) are
        // dropped, after finishing the commit in flight.
        tokio::spawn(writer::run(shared.clone(), queue).instrument(tracing::info_span!("writer")));
        Ok(Engine { shared, jobs })
    }

    /// The store behind the engine.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The process's management-plane metrics (the distributor and sync service record
    /// theirs through it).
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Brings the state up to the store's latest known revision. Cheap when nothing changed;
    /// a write validated against a stale state is still caught by the commit's revision check.
    pub async fn catch_up(&self) -> Result<i64, Error> {
        self.shared.catch_up().await
    }

    /// One object.
    pub async fn get(&self, fqn: &str) -> Result<Record, Error> {
        self.catch_up().await?;
        let state = self.shared.state.read().await;
        state
            .records
            .get(fqn)
            .cloned()
            .ok_or_else(|| Error::NotFound(fqn.to_string()))
    }

    /// Objects below `parent` (all when empty), optionally only direct children and one kind.
    pub async fn list(
        &self,
        parent: &str,
        kind: Option<crate::model::Kind>,
        recursive: bool,
    ) -> Result<(i64, Vec<Record>), Error> {
        let prefix = format!("{parent}/");
        let kind = kind.map(crate::model::Kind::qualified_name);
        self.list_where(|r| {
            (parent.is_empty() || r.fqn.starts_with(&prefix))
                && (recursive || parent.is_empty() || r.parent_fqn.as_deref() == Some(parent))
                && kind.as_ref().is_none_or(|k| &r.kind == k)
        })
        .await
    }

    /// The records `keep` selects, at the current revision. Filtering before cloning matters:
    /// a thousand agents reconciling their inventories at once would otherwise each copy every
    /// record the store holds.
    pub async fn list_where(
        &self,
        keep: impl Fn(&Record) -> bool,
    ) -> Result<(i64, Vec<Record>), Error> {
        self.catch_up().await?;
        let state = self.shared.state.read().await;
        let records = state
            .records
            .values()
            .filter(|r| keep(r))
            .cloned()
            .collect();
        Ok((state.revision, records))
    }

    /// Creates or replaces one object. L1 validation and the record's encoding happen here, on
    /// the caller's task; the hierarchy checks and the commit in the writer task, together with
    /// other applies that arrive meanwhile. Returns once the write is committed.
    /// Refusals before the writer (L1, authorization) are audited here, like the writer's own.
    pub async fn apply(&self, actor: &Actor, input: ApplyInput) -> Result<Applied, Error> {
        let resource = match Resource::from_envelope(&input.envelope, &self.shared.strip) {
            Ok(resource) => resource,
            Err(diagnostics) => {
                let fqn = diagnostics
                    .iter()
                    .find_map(|d| d.object.fqn.as_ref().map(ToString::to_string))
                    .unwrap_or_else(|| input.envelope.claimed_fqn());
                let kind = input.envelope.kind.clone();
                let error = Error::Invalid(diagnostics);
                return Err(self.refused(actor, &input, &fqn, &kind, error).await);
            }
        };
        if let Err(error) = actor.authorize_write(&resource.fqn) {
            let (fqn, kind) = (resource.fqn.to_string(), resource.kind.qualified_name());
            return Err(self.refused(actor, &input, &fqn, &kind, error).await);
        }
        let record = writer::prepare_record(actor, &input, &resource);
        let (reply, result) = oneshot::channel();
        let job = writer::ApplyJob {
            actor: actor.clone(),
            input,
            resource,
            record,
            reply,
        };
        self.submit(writer::Job::Apply(Box::new(job)), result).await
    }

    /// Audits an apply refused before the writer saw it; returns the refusal (or the store's
    /// failure to record it).
    async fn refused(
        &self,
        actor: &Actor,
        input: &ApplyInput,
        fqn: &str,
        kind: &str,
        error: Error,
    ) -> Error {
        let mut entry = audit_entry(actor, "apply", fqn, kind);
        entry.outcome = if input.dry_run { "dry-run" } else { "rejected" }.into();
        entry.dry_run = input.dry_run;
        entry.message = error.to_string();
        match self.shared.store.append_audit(entry).await {
            Ok(_) => error,
            Err(store) => store.into(),
        }
    }

    /// Deletes an object and everything below it; a refused authorization is audited.
    pub async fn delete(
        &self,
        actor: &Actor,
        fqn: &str,
        force: bool,
        dry_run: bool,
        expected_etag: &str,
    ) -> Result<Deleted, Error> {
        let target: Fqn = fqn
            .parse()
            .map_err(|e: crate::model::FqnError| Error::BadRequest(format!("fqn {fqn:?}: {e}")))?;
        if let Err(error) = actor.authorize_write(&target) {
            let mut entry = audit_entry(actor, "delete", fqn, "");
            entry.outcome = if dry_run { "dry-run" } else { "rejected" }.into();
            entry.dry_run = dry_run;
            entry.message = error.to_string();
            self.shared.store.append_audit(entry).await?;
            return Err(error);
        }
        let (reply, result) = oneshot::channel();
        let job = writer::DeleteJob {
            actor: actor.clone(),
            fqn: fqn.to_string(),
            force,
            dry_run,
            expected_etag: expected_etag.to_string(),
            reply,
        };
        self.submit(writer::Job::Delete(job), result).await
    }

    async fn submit<T>(
        &self,
        job: writer::Job,
        result: oneshot::Receiver<Result<T, Error>>,
    ) -> Result<T, Error> {
        let stopped = || Error::Internal("the writer task has stopped".into());
        self.jobs.send(job).await.map_err(|_| stopped())?;
        // A job in the queue is committed even if this caller goes away.
        result.await.map_err(|_| stopped())?
    }

    /// An audit row for `actor` doing `operation` now.
    pub fn audit_entry(&self, actor: &Actor, operation: &str, fqn: &str, kind: &str) -> AuditEntry {
        audit_entry(actor, operation, fqn, kind)
    }
}

// === impl Shared ===

impl Shared {
    async fn reload(&self) -> Result<(), Error> {
        let (revision, records) = self.store.snapshot().await?;
        let mut state = State {
            revision,
            ..State::default()
        };
        for record in records {
            state.insert(record, &self.strip);
        }
        *self.state.write().await = state;
        Ok(())
    }

    async fn catch_up(&self) -> Result<i64, Error> {
        let latest = *self.revisions.borrow();
        {
            let state = self.state.read().await;
            if state.revision >= latest {
                return Ok(state.revision);
            }
        }
        self.sync().await
    }

    /// Reads the revision log until the state has every change the store has.
    async fn sync(&self) -> Result<i64, Error> {
        let mut state = self.state.write().await;
        loop {
            let changes = self.store.changes_since(state.revision, 1000).await?;
            if changes.is_empty() {
                return Ok(state.revision);
            }
            for change in changes {
                match change.record {
                    Some(record) => state.insert(record, &self.strip),
                    None => state.remove(&change.fqn),
                }
                state.revision = change.revision;
            }
        }
    }
}

/// An audit row for `actor` doing `operation` now.
fn audit_entry(actor: &Actor, operation: &str, fqn: &str, kind: &str) -> AuditEntry {
    AuditEntry {
        time: now(),
        actor: actor.audit_name(),
        origin: serde_json::Value::Null,
        operation: operation.to_string(),
        fqn: fqn.to_string(),
        kind: kind.to_string(),
        ..AuditEntry::default()
    }
}

/// The current time, RFC 3339 UTC with milliseconds.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

/// Whether a record came from a GitOps cluster (and is read-only through the API).
fn is_gitops(origin: &serde_json::Value) -> bool {
    origin.get("cluster").is_some_and(|c| !c.is_null())
}

/// The GitOps cluster a record's origin names.
fn origin_cluster(origin: &serde_json::Value) -> Option<&str> {
    origin.get("cluster").and_then(serde_json::Value::as_str)
}
