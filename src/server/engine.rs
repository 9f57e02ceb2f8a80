//! The write path of the management plane: authorize, validate against the hierarchy, commit,
//! audit. One in-memory index of model resources, kept current from the store's revision log,
//! so validation never re-reads the whole store.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{Mutex, RwLock};

use crate::model::metadata::StripRules;
use crate::model::object::{EnvelopeInput, Origin};
use crate::model::validate::{Organizations, validate_delete, validate_write};
use crate::model::{Diagnostic, Fqn, Resource, Severity};
use crate::server::auth::Actor;
use crate::server::error::Error;
use crate::store::{AuditEntry, Record, Store, WriteBatch};

/// How often a write re-validates after another replica moved the store under it.
const MAX_ATTEMPTS: usize = 8;

/// The objects the management plane holds, decoded, at one store revision.
#[derive(Debug, Default)]
struct Index {
    revision: i64,
    records: BTreeMap<String, Record>,
    resources: BTreeMap<String, Resource>,
}

impl Index {
    fn insert(&mut self, record: Record, strip: &StripRules) {
        match decode(&record, strip) {
            Ok(resource) => {
                self.resources.insert(record.fqn.clone(), resource);
            }
            Err(diagnostics) => {
                // Stored by an older version with other rules: keep serving it, skip validation.
                tracing::warn!(fqn = %record.fqn, ?diagnostics, "stored object no longer decodes");
                self.resources.remove(&record.fqn);
            }
        }
        self.records.insert(record.fqn.clone(), record);
    }

    fn remove(&mut self, fqn: &str) {
        self.records.remove(fqn);
        self.resources.remove(fqn);
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

/// The management plane's state and write path.
#[derive(Debug, Clone)]
pub struct Engine {
    store: Store,
    organizations: Arc<Organizations>,
    strip: Arc<StripRules>,
    index: Arc<RwLock<Index>>,
    // The store's latest revision as this process knows it (its own commits at once, other
    // replicas' through notifications): lets reads skip the revision-log query when idle.
    revisions: tokio::sync::watch::Receiver<i64>,
    // Writes in this process go one at a time; other replicas are caught by the revision check.
    write: Arc<Mutex<()>>,
}

impl Engine {
    /// Loads the index from the store.
    pub async fn load(store: Store, organizations: Organizations) -> Result<Engine, Error> {
        let engine = Engine {
            revisions: store.subscribe(),
            store,
            organizations: Arc::new(organizations),
            strip: Arc::new(StripRules::default()),
            index: Arc::new(RwLock::new(Index::default())),
            write: Arc::new(Mutex::new(())),
        };
        engine.reload().await?;
        Ok(engine)
    }

    /// The store behind the engine.
    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn reload(&self) -> Result<(), Error> {
        let (revision, records) = self.store.snapshot().await?;
        let mut index = Index {
            revision,
            ..Index::default()
        };
        for record in records {
            index.insert(record, &self.strip);
        }
        *self.index.write().await = index;
        Ok(())
    }

    /// Brings the index up to the store's latest known revision. Cheap when nothing changed;
    /// a write validated against a stale index is still caught by the commit's revision check.
    pub async fn catch_up(&self) -> Result<i64, Error> {
        let latest = *self.revisions.borrow();
        {
            let index = self.index.read().await;
            if index.revision >= latest {
                return Ok(index.revision);
            }
        }
        self.sync().await
    }

    /// Reads the revision log until the index has every change the store has.
    async fn sync(&self) -> Result<i64, Error> {
        let mut index = self.index.write().await;
        loop {
            let changes = self.store.changes_since(index.revision, 1000).await?;
            if changes.is_empty() {
                return Ok(index.revision);
            }
            for change in changes {
                match change.record {
                    Some(record) => index.insert(record, &self.strip),
                    None => index.remove(&change.fqn),
                }
                index.revision = change.revision;
            }
        }
    }

    /// One object.
    pub async fn get(&self, fqn: &str) -> Result<Record, Error> {
        self.catch_up().await?;
        let index = self.index.read().await;
        index
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
        self.catch_up().await?;
        let index = self.index.read().await;
        let prefix = format!("{parent}/");
        let kind = kind.map(crate::model::Kind::qualified_name);
        let records = index
            .records
            .values()
            .filter(|r| parent.is_empty() || r.fqn.starts_with(&prefix))
            .filter(|r| recursive || parent.is_empty() || r.parent_fqn.as_deref() == Some(parent))
            .filter(|r| kind.as_ref().is_none_or(|k| &r.kind == k))
            .cloned()
            .collect();
        Ok((index.revision, records))
    }

    /// Creates or replaces one object.
    pub async fn apply(&self, actor: &Actor, input: ApplyInput) -> Result<Applied, Error> {
        let resource =
            Resource::from_envelope(&input.envelope, &self.strip).map_err(Error::Invalid)?;
        let fqn = resource.fqn.to_string();
        actor.authorize_write(&resource.fqn)?;
        let _serial = self.write.lock().await;
        for _attempt in 0..MAX_ATTEMPTS {
            self.catch_up().await?;
            let index = self.index.read().await;
            let existing = index.records.get(&fqn).cloned();
            if let Err(error) = self.check_preconditions(actor, &input, existing.as_ref(), &fqn) {
                drop(index);
                self.audit_rejection(actor, "apply", &fqn, &resource, &error, input.dry_run)
                    .await?;
                return Err(error);
            }
            let diagnostics =
                validate_write(index.resources.values(), &resource, &self.organizations);
            let (errors, warnings): (Vec<_>, Vec<_>) =
                diagnostics.into_iter().partition(Diagnostic::is_error);
            let revision = index.revision;
            drop(index);
            if !errors.is_empty() {
                let error = Error::Rejected(errors);
                self.audit_rejection(actor, "apply", &fqn, &resource, &error, input.dry_run)
                    .await?;
                return Err(error);
            }
            let warnings: Vec<Diagnostic> = warnings
                .into_iter()
                .filter(|d| d.severity == Severity::Warning)
                .collect();
            let origin = input
                .origin
                .as_ref()
                .map(|o| serde_json::to_value(o).unwrap_or_default())
                .unwrap_or_else(|| serde_json::json!({ "apiUser": actor.name() }));
            let record = Record {
                fqn: fqn.clone(),
                kind: resource.kind.qualified_name(),
                api_version: resource.api_version.clone(),
                name: resource.name.clone(),
                parent_fqn: resource.parent.as_ref().map(ToString::to_string),
                namespace: resource.namespace.clone(),
                spec: resource.spec.to_value(),
                labels: resource.labels.clone(),
                annotations: resource.annotations.clone(),
                origin: origin.clone(),
                content_hash: resource.content_hash(),
                etag: existing
                    .as_ref()
                    .map(|r| r.etag.clone())
                    .unwrap_or_default(),
                revision: existing.as_ref().map_or(0, |r| r.revision),
            };
            let created = existing.is_none();
            let forced = input.force && existing.as_ref().is_some_and(|e| is_gitops(&e.origin));
            let mut entry = self.audit_entry(actor, "apply", &fqn, &record.kind);
            entry.origin = origin;
            entry.before_hash = existing
                .as_ref()
                .map(|r| r.content_hash.clone())
                .unwrap_or_default();
            entry.after_hash = record.content_hash.clone();
            entry.forced = forced;
            if input.dry_run {
                entry.outcome = "dry-run".into();
                entry.dry_run = true;
                self.store.append_audit(entry).await?;
                return Ok(Applied {
                    record,
                    created,
                    warnings,
                });
            }
            if existing
                .as_ref()
                .is_some_and(|e| e.content_hash == record.content_hash && e.origin == record.origin)
            {
                // Unchanged: no new revision, no watch event, nothing to audit.
                return Ok(Applied {
                    record: existing.expect("checked above"),
                    created: false,
                    warnings,
                });
            }
            entry.outcome = "ok".into();
            let batch = WriteBatch {
                expected_revision: Some(revision),
                upserts: vec![record],
                deletes: Vec::new(),
                audit: vec![entry],
            };
            match self.store.commit(batch).await {
                Ok(committed) => {
                    let stored = committed
                        .upserted
                        .into_iter()
                        .next()
                        .ok_or_else(|| Error::Internal("commit returned no record".into()))?;
                    self.record_commit(committed.revision, &stored).await?;
                    return Ok(Applied {
                        record: stored,
                        created,
                        warnings,
                    });
                }
                Err(crate::store::Error::RevisionMoved { .. }) => {
                    self.sync().await?;
                    continue;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Busy)
    }

    /// Deletes an object and everything below it.
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
        actor.authorize_write(&target)?;
        let _serial = self.write.lock().await;
        for _attempt in 0..MAX_ATTEMPTS {
            self.catch_up().await?;
            let index = self.index.read().await;
            let Some(existing) = index.records.get(fqn).cloned() else {
                return Err(Error::NotFound(fqn.to_string()));
            };
            if !expected_etag.is_empty() && expected_etag != existing.etag {
                return Err(Error::StaleEtag {
                    fqn: fqn.to_string(),
                    expected: expected_etag.to_string(),
                    actual: existing.etag,
                });
            }
            if actor.is_user() && is_gitops(&existing.origin) && !force {
                return Err(Error::GitOpsOwned {
                    fqn: fqn.to_string(),
                    origin: existing.origin.to_string(),
                });
            }
            let all: Vec<Resource> = index.resources.values().cloned().collect();
            let errors: Vec<Diagnostic> = validate_delete(&all, &target, force)
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect();
            let prefix = format!("{fqn}/");
            // Children first (longest FQN first), so a reader never sees an orphan.
            let mut doomed: Vec<&Record> = index
                .records
                .values()
                .filter(|r| r.fqn == fqn || r.fqn.starts_with(&prefix))
                .collect();
            doomed.sort_by(|a, b| b.fqn.len().cmp(&a.fqn.len()).then(a.fqn.cmp(&b.fqn)));
            let fqns: Vec<String> = doomed.iter().map(|r| r.fqn.clone()).collect();
            let revision = index.revision;
            let audit: Vec<AuditEntry> = doomed
                .iter()
                .map(|r| {
                    let mut entry = self.audit_entry(actor, "delete", &r.fqn, &r.kind);
                    entry.before_hash = r.content_hash.clone();
                    entry.forced = force;
                    entry
                })
                .collect();
            drop(index);
            if !errors.is_empty() {
                let error = Error::Rejected(errors);
                let mut entry = self.audit_entry(actor, "delete", fqn, &existing.kind);
                entry.outcome = if dry_run { "dry-run" } else { "rejected" }.into();
                entry.dry_run = dry_run;
                entry.message = error.to_string();
                self.store.append_audit(entry).await?;
                return Err(error);
            }
            if dry_run {
                let mut entry = self.audit_entry(actor, "delete", fqn, &existing.kind);
                entry.outcome = "dry-run".into();
                entry.dry_run = true;
                entry.forced = force;
                self.store.append_audit(entry).await?;
                return Ok(Deleted { fqns, revision });
            }
            let batch = WriteBatch {
                expected_revision: Some(revision),
                upserts: Vec::new(),
                deletes: fqns.clone(),
                audit: audit
                    .into_iter()
                    .map(|mut e| {
                        e.outcome = "ok".into();
                        e
                    })
                    .collect(),
            };
            match self.store.commit(batch).await {
                Ok(committed) => {
                    self.catch_up().await?;
                    return Ok(Deleted {
                        fqns,
                        revision: committed.revision,
                    });
                }
                Err(crate::store::Error::RevisionMoved { .. }) => {
                    self.sync().await?;
                    continue;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Busy)
    }

    /// Puts our own committed write into the index without a store round trip, unless
    /// another replica also wrote in between (then the revision log is read).
    async fn record_commit(&self, revision: i64, stored: &Record) -> Result<(), Error> {
        {
            let mut index = self.index.write().await;
            if index.revision + 1 == revision {
                index.insert(stored.clone(), &self.strip);
                index.revision = revision;
                return Ok(());
            }
        }
        self.sync().await.map(|_| ())
    }

    fn check_preconditions(
        &self,
        actor: &Actor,
        input: &ApplyInput,
        existing: Option<&Record>,
        fqn: &str,
    ) -> Result<(), Error> {
        if !input.expected_etag.is_empty() {
            let actual = existing.map(|r| r.etag.clone()).unwrap_or_default();
            if actual != input.expected_etag {
                return Err(Error::StaleEtag {
                    fqn: fqn.to_string(),
                    expected: input.expected_etag.clone(),
                    actual,
                });
            }
        }
        if let Some(existing) = existing
            && actor.is_user()
            && is_gitops(&existing.origin)
            && !input.force
        {
            return Err(Error::GitOpsOwned {
                fqn: fqn.to_string(),
                origin: existing.origin.to_string(),
            });
        }
        Ok(())
    }

    async fn audit_rejection(
        &self,
        actor: &Actor,
        operation: &str,
        fqn: &str,
        resource: &Resource,
        error: &Error,
        dry_run: bool,
    ) -> Result<(), Error> {
        let mut entry = self.audit_entry(actor, operation, fqn, &resource.kind.qualified_name());
        entry.after_hash = resource.content_hash();
        entry.outcome = if dry_run { "dry-run" } else { "rejected" }.into();
        entry.dry_run = dry_run;
        entry.message = error.to_string();
        self.store.append_audit(entry).await?;
        Ok(())
    }

    /// An audit row for `actor` doing `operation` now.
    pub fn audit_entry(&self, actor: &Actor, operation: &str, fqn: &str, kind: &str) -> AuditEntry {
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
