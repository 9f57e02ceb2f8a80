//! The writer task: every write of this process goes through it, one group at a time.
//!
//! **Group commit.** Applies that queue up while a commit is in flight form the next group
//! (up to [`MAX_GROUP`], distinct FQNs, in arrival order). Each is judged in turn against the
//! committed state plus the group's earlier accepted writes, so a group is validated exactly
//! as if its writes had come one by one. The accepted ones are committed in one store
//! transaction, each with its own revision and audit row; rejections and dry runs append their
//! audit rows in one more. Every caller is answered only after its rows are committed. If
//! another replica moved the store meanwhile, the whole group is re-validated (at most
//! [`MAX_ATTEMPTS`] times, then `ABORTED`). Deletes run alone, in queue order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::{Applied, ApplyInput, Deleted, Shared, State, audit_entry, is_gitops, origin_cluster};
use crate::model::validate::validate_delete;
use crate::model::{Diagnostic, Fqn, Resource, Severity};
use crate::server::auth::Actor;
use crate::server::error::Error;
use crate::store::{AuditEntry, Committed, Record, WriteBatch};

/// How often a write re-validates after another replica moved the store under it.
const MAX_ATTEMPTS: usize = 8;

/// Most applies in one commit. Each write is validated against the earlier ones of its group
/// by a linear scan, so a group stays small.
const MAX_GROUP: usize = 64;

/// A write for the writer task.
#[derive(Debug)]
pub(super) enum Job {
    Apply(Box<ApplyJob>),
    Delete(DeleteJob),
}

/// An apply that passed L1 and authorization.
#[derive(Debug)]
pub(super) struct ApplyJob {
    pub actor: Actor,
    pub input: ApplyInput,
    pub resource: Resource,
    /// What will be stored, but for the etag and revision (assigned on commit).
    pub record: Record,
    pub reply: oneshot::Sender<Result<Applied, Error>>,
}

#[derive(Debug)]
pub(super) struct DeleteJob {
    pub actor: Actor,
    pub fqn: String,
    pub force: bool,
    pub dry_run: bool,
    pub expected_etag: String,
    pub reply: oneshot::Sender<Result<Deleted, Error>>,
}

/// The record an apply stores, encoded on the caller's task.
pub(super) fn prepare_record(actor: &Actor, input: &ApplyInput, resource: &Resource) -> Record {
    let origin = input
        .origin
        .as_ref()
        .map(|o| serde_json::to_value(o).unwrap_or_default())
        .unwrap_or_else(|| serde_json::json!({ "apiUser": actor.name() }));
    Record {
        fqn: resource.fqn.to_string(),
        kind: resource.kind.qualified_name(),
        api_version: resource.api_version.clone(),
        name: resource.name.clone(),
        parent_fqn: resource.parent.as_ref().map(ToString::to_string),
        namespace: resource.namespace.clone(),
        spec: resource.spec.to_value(),
        labels: resource.labels.clone(),
        annotations: resource.annotations.clone(),
        origin,
        content_hash: resource.content_hash(),
        etag: String::new(),
        revision: 0,
    }
}

/// Runs until every sender (every engine clone) is gone.
pub(super) async fn run(shared: Arc<Shared>, mut jobs: mpsc::Receiver<Job>) {
    let mut queue: VecDeque<Job> = VecDeque::new();
    loop {
        if queue.is_empty() {
            match jobs.recv().await {
                Some(job) => queue.push_back(job),
                None => return,
            }
        }
        while queue.len() < MAX_GROUP
            && let Ok(job) = jobs.try_recv()
        {
            queue.push_back(job);
        }
        match queue.pop_front() {
            Some(Job::Delete(job)) => {
                let result = shared.delete(&job).await;
                // The caller may have gone; the delete stands either way.
                let _ = job.reply.send(result);
            }
            Some(Job::Apply(first)) => {
                let mut fqns = HashSet::from([first.resource.fqn.clone()]);
                let mut group = vec![*first];
                // A second write of one FQN waits for the next group: it must see the first's
                // etag, and each audit row gets the revision of its own change.
                while group.len() < MAX_GROUP
                    && let Some(Job::Apply(next)) = queue.front()
                    && fqns.insert(next.resource.fqn.clone())
                {
                    if let Some(Job::Apply(next)) = queue.pop_front() {
                        group.push(*next);
                    }
                }
                shared.apply_group(group).await;
            }
            None => {}
        }
    }
}

/// What the group decided for one apply.
enum Verdict {
    /// Refused; the audit row says why.
    Rejected(Error, AuditEntry),
    /// Valid, not written; one audit row marked dry-run.
    DryRun(Box<Applied>, AuditEntry),
    /// Same content and origin as stored: no revision, no event, no audit row.
    Unchanged(Box<Applied>),
    /// In the batch at this position.
    Write {
        at: usize,
        created: bool,
        warnings: Vec<Diagnostic>,
    },
}

/// The writes a group accepted so far, for the ones after them.
#[derive(Default)]
struct Pending<'a> {
    resources: Vec<&'a Resource>,
    /// New objects per originating cluster.
    owned: HashMap<&'a str, usize>,
}

impl<'a> Pending<'a> {
    fn add(&mut self, state: &State, job: &'a ApplyJob) {
        self.resources.push(&job.resource);
        if let Some(cluster) = origin_cluster(&job.record.origin) {
            let existing = state.records.get(&job.record.fqn);
            if existing.is_none_or(|e| origin_cluster(&e.origin) != Some(cluster)) {
                *self.owned.entry(cluster).or_default() += 1;
            }
        }
    }
}

/// One validation pass over a group.
struct Plan {
    verdicts: Vec<Verdict>,
    /// The accepted writes with their audit rows, expecting the validated revision.
    batch: WriteBatch,
}

// === impl Shared ===

impl Shared {
    /// One store commit, timed (`tsbridge_server_store_commit_seconds`).
    async fn commit(&self, batch: WriteBatch) -> Result<Committed, crate::store::Error> {
        let started = Instant::now();
        let committed = self.store.commit(batch).await;
        self.metrics.commit(started.elapsed());
        committed
    }

    async fn apply_group(&self, group: Vec<ApplyJob>) {
        for _attempt in 0..MAX_ATTEMPTS {
            if let Err(error) = self.catch_up().await {
                return fail(group, error);
            }
            let plan = self.plan(&group).await;
            let expected = plan.batch.expected_revision.unwrap_or_default();
            let writes = plan.batch.upserts.len();
            let committed = if writes == 0 {
                None
            } else {
                match self.commit(plan.batch).await {
                    Ok(committed) => Some(committed),
                    Err(crate::store::Error::RevisionMoved { expected, actual })
                        if actual < expected =>
                    {
                        return fail(group, store_behind(actual, expected));
                    }
                    Err(crate::store::Error::RevisionMoved { .. }) => {
                        if let Err(error) = self.sync().await {
                            return fail(group, error);
                        }
                        continue;
                    }
                    Err(other) => return fail(group, other.into()),
                }
            };
            return self.finish(group, plan.verdicts, expected, committed).await;
        }
        fail(group, Error::Busy);
    }

    /// Judges every apply of the group against the state and the group's earlier writes.
    async fn plan(&self, group: &[ApplyJob]) -> Plan {
        let state = self.state.read().await;
        let mut batch = WriteBatch {
            expected_revision: Some(state.revision),
            ..WriteBatch::default()
        };
        let mut pending = Pending::default();
        let mut verdicts = Vec::with_capacity(group.len());
        for job in group {
            let verdict = self.judge(&state, &pending, job, &mut batch);
            if matches!(verdict, Verdict::Write { .. }) {
                pending.add(&state, job);
            }
            verdicts.push(verdict);
        }
        Plan { verdicts, batch }
    }

    fn judge(
        &self,
        state: &State,
        pending: &Pending<'_>,
        job: &ApplyJob,
        batch: &mut WriteBatch,
    ) -> Verdict {
        let ApplyJob {
            actor,
            input,
            resource,
            record,
            reply: _,
        } = job;
        let existing = state.records.get(&record.fqn);
        let rejected = |error: Error| {
            let mut entry = audit_entry(actor, "apply", &record.fqn, &record.kind);
            entry.after_hash = record.content_hash.clone();
            entry.outcome = if input.dry_run { "dry-run" } else { "rejected" }.into();
            entry.dry_run = input.dry_run;
            entry.message = error.to_string();
            Verdict::Rejected(error, entry)
        };
        if let Err(error) = check_preconditions(actor, input, existing, &record.fqn) {
            return rejected(error);
        }
        if let Err(error) = self.check_cluster_quota(state, pending, actor, existing, record) {
            return rejected(error);
        }
        let (errors, warnings): (Vec<_>, Vec<_>) = state
            .index
            .validate(&pending.resources, resource, &self.organizations)
            .into_iter()
            .partition(Diagnostic::is_error);
        if !errors.is_empty() {
            return rejected(Error::Rejected(errors));
        }
        let warnings: Vec<Diagnostic> = warnings
            .into_iter()
            .filter(|d| d.severity == Severity::Warning)
            .collect();
        let mut entry = audit_entry(actor, "apply", &record.fqn, &record.kind);
        entry.origin = record.origin.clone();
        entry.before_hash = existing.map(|r| r.content_hash.clone()).unwrap_or_default();
        entry.after_hash = record.content_hash.clone();
        entry.forced = input.force && existing.is_some_and(|e| is_gitops(&e.origin));
        let created = existing.is_none();
        if input.dry_run {
            let mut record = record.clone();
            if let Some(existing) = existing {
                record.etag = existing.etag.clone();
                record.revision = existing.revision;
            }
            entry.outcome = "dry-run".into();
            entry.dry_run = true;
            let applied = Applied {
                record,
                created,
                warnings,
            };
            return Verdict::DryRun(Box::new(applied), entry);
        }
        if let Some(existing) =
            existing.filter(|e| e.content_hash == record.content_hash && e.origin == record.origin)
        {
            return Verdict::Unchanged(Box::new(Applied {
                record: existing.clone(),
                created: false,
                warnings,
            }));
        }
        entry.outcome = "ok".into();
        batch.upserts.push(record.clone());
        batch.audit.push(entry);
        Verdict::Write {
            at: batch.upserts.len() - 1,
            created,
            warnings,
        }
    }

    /// `--max-objects-per-cluster`: a cluster may not create an object it would originate
    /// beyond the limit.
    fn check_cluster_quota(
        &self,
        state: &State,
        pending: &Pending<'_>,
        actor: &Actor,
        existing: Option<&Record>,
        record: &Record,
    ) -> Result<(), Error> {
        let max = self.limits.max_objects_per_cluster;
        let Some(cluster) = origin_cluster(&record.origin) else {
            return Ok(());
        };
        if max == 0
            || !matches!(actor, Actor::Cluster { .. })
            || existing.is_some_and(|e| origin_cluster(&e.origin) == Some(cluster))
        {
            return Ok(());
        }
        let held = state.owned_by(cluster) + pending.owned.get(cluster).copied().unwrap_or(0);
        if held < max {
            return Ok(());
        }
        Err(Error::LimitExceeded(format!(
            "{}: cluster {cluster:?} already originates {held} objects, the \
             --max-objects-per-cluster limit of {max}; delete some first",
            record.fqn
        )))
    }

    /// Puts the committed writes into the state, appends the audit rows of rejections and dry
    /// runs, and answers every caller.
    async fn finish(
        &self,
        group: Vec<ApplyJob>,
        verdicts: Vec<Verdict>,
        expected: i64,
        committed: Option<Committed>,
    ) {
        let mut stored: Vec<Option<Record>> = Vec::new();
        if let Some(committed) = committed {
            let written = group
                .iter()
                .zip(&verdicts)
                .filter(|(_, v)| matches!(v, Verdict::Write { .. }))
                .map(|(job, _)| job.resource.clone());
            if let Err(error) = self
                .record_commit(expected, &committed, written.collect())
                .await
            {
                // Committed all the same: the state catches up at the next request.
                tracing::warn!(%error, "reading the revision log after a commit failed");
            }
            stored = committed.upserted.into_iter().map(Some).collect();
        }
        let audit: Vec<AuditEntry> = verdicts
            .iter()
            .filter_map(|v| match v {
                Verdict::Rejected(_, entry) | Verdict::DryRun(_, entry) => Some(entry.clone()),
                _ => None,
            })
            .collect();
        let mut audit_failure = None;
        if !audit.is_empty() {
            let batch = WriteBatch {
                audit,
                ..WriteBatch::default()
            };
            if let Err(error) = self.commit(batch).await {
                audit_failure = Some(Arc::new(Error::from(error)));
            }
        }
        for (job, verdict) in group.into_iter().zip(verdicts) {
            let result = match (verdict, &audit_failure) {
                (Verdict::Rejected(..) | Verdict::DryRun(..), Some(failure)) => {
                    Err(Error::Shared(failure.clone()))
                }
                (Verdict::Rejected(error, _), None) => Err(error),
                (Verdict::DryRun(applied, _), None) | (Verdict::Unchanged(applied), _) => {
                    Ok(*applied)
                }
                (
                    Verdict::Write {
                        at,
                        created,
                        warnings,
                    },
                    _,
                ) => stored
                    .get_mut(at)
                    .and_then(Option::take)
                    .map(|record| Applied {
                        record,
                        created,
                        warnings,
                    })
                    .ok_or_else(|| Error::Internal("commit returned no record".into())),
            };
            let _ = job.reply.send(result);
        }
    }

    /// Puts our own committed writes into the state without a store round trip, unless another
    /// replica's changes got in first (then the revision log is read).
    async fn record_commit(
        &self,
        expected: i64,
        committed: &Committed,
        resources: Vec<Resource>,
    ) -> Result<(), Error> {
        {
            let mut state = self.state.write().await;
            if state.revision == expected {
                for (record, resource) in committed.upserted.iter().zip(resources) {
                    state.insert_decoded(record.clone(), resource);
                }
                state.revision = committed.revision;
                return Ok(());
            }
        }
        self.sync().await.map(|_| ())
    }

    async fn delete(&self, job: &DeleteJob) -> Result<Deleted, Error> {
        let DeleteJob {
            actor,
            fqn,
            force,
            dry_run,
            expected_etag,
            reply: _,
        } = job;
        let (force, dry_run) = (*force, *dry_run);
        let target: Fqn = fqn
            .parse()
            .map_err(|e: crate::model::FqnError| Error::BadRequest(format!("fqn {fqn:?}: {e}")))?;
        for _attempt in 0..MAX_ATTEMPTS {
            self.catch_up().await?;
            let state = self.state.read().await;
            let Some(existing) = state.records.get(fqn).cloned() else {
                return Err(Error::NotFound(fqn.clone()));
            };
            let refusal = if !expected_etag.is_empty() && *expected_etag != existing.etag {
                Some(Error::StaleEtag {
                    fqn: fqn.clone(),
                    expected: expected_etag.clone(),
                    actual: existing.etag.clone(),
                })
            } else if actor.is_user() && is_gitops(&existing.origin) && !force {
                Some(Error::GitOpsOwned {
                    fqn: fqn.clone(),
                    origin: existing.origin.to_string(),
                })
            } else {
                None
            };
            let prefix = format!("{fqn}/");
            // Children first (longest FQN first), so a reader never sees an orphan.
            let mut doomed: Vec<&Record> = std::iter::once(&existing)
                .chain(
                    state
                        .records
                        .range(prefix.clone()..)
                        .take_while(|(key, _)| key.starts_with(&prefix))
                        .map(|(_, record)| record),
                )
                .collect();
            doomed.sort_by(|a, b| b.fqn.len().cmp(&a.fqn.len()).then(a.fqn.cmp(&b.fqn)));
            // A cluster's delete never takes another cluster's objects along, children included.
            let refusal = refusal.or_else(|| {
                doomed
                    .iter()
                    .find_map(|r| other_cluster(actor, r, &r.fqn).err())
            });
            if let Some(error) = refusal {
                drop(state);
                let mut entry = audit_entry(actor, "delete", fqn, &existing.kind);
                entry.outcome = if dry_run { "dry-run" } else { "rejected" }.into();
                entry.dry_run = dry_run;
                entry.message = error.to_string();
                self.store.append_audit(entry).await?;
                return Err(error);
            }
            let covered: Vec<Resource> = doomed
                .iter()
                .filter_map(|r| r.fqn.parse::<Fqn>().ok())
                .filter_map(|f| state.index.get(&f).cloned())
                .collect();
            let errors: Vec<Diagnostic> = validate_delete(&covered, &target, force)
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect();
            let fqns: Vec<String> = doomed.iter().map(|r| r.fqn.clone()).collect();
            let revision = state.revision;
            let audit: Vec<AuditEntry> = doomed
                .iter()
                .map(|r| {
                    let mut entry = audit_entry(actor, "delete", &r.fqn, &r.kind);
                    entry.before_hash = r.content_hash.clone();
                    entry.forced = force;
                    entry.outcome = "ok".into();
                    entry
                })
                .collect();
            drop(state);
            if !errors.is_empty() {
                let error = Error::Rejected(errors);
                let mut entry = audit_entry(actor, "delete", fqn, &existing.kind);
                entry.outcome = if dry_run { "dry-run" } else { "rejected" }.into();
                entry.dry_run = dry_run;
                entry.message = error.to_string();
                self.store.append_audit(entry).await?;
                return Err(error);
            }
            if dry_run {
                let mut entry = audit_entry(actor, "delete", fqn, &existing.kind);
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
                audit,
            };
            match self.commit(batch).await {
                Ok(committed) => {
                    self.record_deletes(revision, committed.revision, &fqns)
                        .await?;
                    return Ok(Deleted {
                        fqns,
                        revision: committed.revision,
                    });
                }
                Err(crate::store::Error::RevisionMoved { expected, actual })
                    if actual < expected =>
                {
                    return Err(store_behind(actual, expected));
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

    /// [`Shared::record_commit`] for a delete.
    async fn record_deletes(
        &self,
        expected: i64,
        revision: i64,
        fqns: &[String],
    ) -> Result<(), Error> {
        {
            let mut state = self.state.write().await;
            if state.revision == expected {
                for fqn in fqns {
                    state.remove(fqn);
                }
                state.revision = revision;
                return Ok(());
            }
        }
        self.sync().await.map(|_| ())
    }
}

/// Answers every apply of a group with one failure (shared when there are several).
fn fail(mut group: Vec<ApplyJob>, error: Error) {
    let last = group.pop();
    let error = Arc::new(error);
    for job in group {
        let _ = job.reply.send(Err(Error::Shared(error.clone())));
    }
    if let Some(job) = last {
        let _ = job
            .reply
            .send(Err(Arc::try_unwrap(error).unwrap_or_else(Error::Shared)));
    }
}

fn check_preconditions(
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
    match existing {
        Some(existing) => other_cluster(actor, existing, fqn),
        None => Ok(()),
    }
}

/// A cluster never changes what another cluster's CRs wrote, even inside its own grants and
/// even through the config API: each cluster's Git owns its objects.
fn other_cluster(actor: &Actor, existing: &Record, fqn: &str) -> Result<(), Error> {
    match (actor, origin_cluster(&existing.origin)) {
        (Actor::Cluster { name, .. }, Some(owner)) if owner != name => {
            Err(Error::PermissionDenied(format!(
                "{fqn} was written by cluster {owner} (from its GitOps CR); cluster {name} may                  not change or delete it: change it in the Git that cluster {owner} syncs from"
            )))
        }
        _ => Ok(()),
    }
}

/// The store went back (see [`Error::StoreBehind`]): said loudly, since only a restart of the
/// replicas mends it.
fn store_behind(store: i64, replica: i64) -> Error {
    let error = Error::StoreBehind { store, replica };
    tracing::error!(%error, "refusing writes");
    error
}
