//! The downstream half: applies the Istio objects the management plane wants in this cluster
//! with server-side apply (field manager `tsbridge`), prunes owned objects no longer wanted,
//! reverts drift, and acknowledges each revision with per-object errors.
//!
//! Ownership: every object it writes carries `tsbridge.io/managed-by: tsbridge` and
//! `tsbridge.io/cluster: <cluster>`; pruning selects on both, so it never touches objects it
//! does not own (nor another agent's in a shared test cluster).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Display;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::api::{Patch, PatchParams};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::proto::v1;
use crate::proto::v1::agent_message::Message as Up;
use crate::runtime::Shutdown;

/// Field manager of generated objects (gitops-contract.md, fixed names).
pub const FIELD_MANAGER: &str = "tsbridge";
/// Ownership labels prune and drift detection select on (set by [`owned_by`]).
pub use crate::model::translate::{MANAGED_BY_LABEL as MANAGED_BY, owned_by, owned_selector};

/// (apiVersion, kind, namespace, name).
pub type Key = (String, String, String, String);

fn key_of(key: &v1::ObjectKey) -> Key {
    (
        key.api_version.clone(),
        key.kind.clone(),
        key.namespace.clone(),
        key.name.clone(),
    )
}

fn proto_key(key: &Key) -> v1::ObjectKey {
    v1::ObjectKey {
        api_version: key.0.clone(),
        kind: key.1.clone(),
        namespace: key.2.clone(),
        name: key.3.clone(),
    }
}

/// Where the last applied revision and checksum are kept for `hello`.
pub type Position = Arc<Mutex<(u64, String)>>;

/// What the applier is told.
#[derive(Debug)]
pub enum ApplierEvent {
    /// A chunk of a revision, with the stream to acknowledge on.
    Delta(v1::Delta, mpsc::Sender<v1::AgentMessage>),
    /// An owned object changed or vanished in the cluster.
    Drift(Key, Option<Box<DynamicObject>>),
    /// The owned-object watch of one kind (group, kind) completed a (re)list with these
    /// (namespace, name)s: a wanted object missing from it was deleted while nothing watched.
    Listed(String, String, BTreeSet<(String, String)>),
}

/// An object's identity across API versions: (group, kind, namespace, name).
type Id = (String, String, String, String);

/// Owned objects by identity: their key at the version served and their body.
type Owned = HashMap<Id, (Key, Value)>;

fn group_of(api_version: &str) -> String {
    api_version
        .rsplit_once('/')
        .map_or(String::new(), |(g, _)| g.to_string())
}

fn id_of(key: &Key) -> Id {
    (
        group_of(&key.0),
        key.1.clone(),
        key.2.clone(),
        key.3.clone(),
    )
}

/// True when the live object already holds what `desired` wants (its spec, labels and
/// annotations; what others add is not ours): no apply needed. The same test judges drift.
fn holds(desired: &Value, live: &Value) -> bool {
    let metadata = |key: &str| {
        let wanted = &desired["metadata"][key];
        wanted.is_null() || is_subset(wanted, &live["metadata"][key])
    };
    is_subset(&desired["spec"], &live["spec"]) && metadata("labels") && metadata("annotations")
}

/// True when every field of `desired` has the same value in `live` (lists element-wise):
/// what the apiserver adds (defaults, status, metadata) is not drift, a changed value is.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, v)| l.get(k).is_some_and(|lv| is_subset(v, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (d, l) => d == l,
    }
}

/// One call to the apiserver about `what` (an object), given [`WRITE_TIMEOUT`]: a hung
/// apiserver fails that object instead of stalling every revision behind it.
async fn bounded<T>(
    what: impl Display,
    call: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, kube::Error> {
    tokio::time::timeout(WRITE_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(kube::Error::Service(
                format!("{what}: no answer from the apiserver within {WRITE_TIMEOUT:?}").into(),
            ))
        })
}

/// Server-side apply of one generated object. Strict field validation: a field the cluster's
/// Istio does not know is an error the MP hears about (a NACK), not a silently dropped setting.
async fn patch(api: &Api<DynamicObject>, name: &str, body: &Value) -> Result<(), String> {
    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    params.field_validation = Some(kube::api::ValidationDirective::Strict);
    let what = format!(
        "applying {} {}/{name}",
        body["kind"].as_str().unwrap_or_default(),
        body["metadata"]["namespace"].as_str().unwrap_or_default()
    );
    bounded(&what, api.patch(name, &params, &Patch::Apply(body)))
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(status) => status.message,
            other => other.to_string(),
        })
}

/// Why one object was not applied.
struct Refusal {
    message: String,
    /// The cluster cannot hold the object at all (its kind is not served, e.g. Istio's CRDs
    /// are not installed): reported to the MP as an IGNORED edge, not an error.
    ignored: bool,
}

impl From<String> for Refusal {
    fn from(message: String) -> Refusal {
        Refusal {
            message,
            ignored: false,
        }
    }
}

/// Applies in flight at once.
pub const APPLY_CONCURRENCY: usize = 16;
/// Most objects staged in one [`Batch`] of queued revisions.
const BATCH_OBJECTS: usize = 1024;
/// Most watch events set aside while queued revisions are gathered into one batch.
const DEFERRED_EVENTS: usize = 4096;
/// Longest one call that writes an object (apply, delete and the read before it) may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Kept objects named in a prune hold.
const HOLD_EXAMPLES: usize = 20;

/// The mass-prune guard (`--prune-guard-share`, `--prune-guard-min`).
#[derive(Debug, Clone, Copy)]
pub struct PruneGuard {
    /// Share (0–1) of the owned objects above which a full resync's prune is held.
    pub share: f64,
    /// Prunes of fewer objects always proceed.
    pub min: usize,
}

/// One staged server-side apply.
struct Job {
    key: Key,
    source: String,
    revision: u64,
    api: Api<DynamicObject>,
    name: String,
    body: Value,
}

/// The end of a full resync, done once its applies are: prune what it does not list.
struct Prune {
    wanted: BTreeSet<Key>,
    /// The owned objects listed when it began (`None`: that list failed; list again).
    owned: Option<Owned>,
    confirmed: bool,
}

/// The applies of one or more consecutive revisions of one stream, run together. A slow agent
/// finds many small revisions queued (the MP sends one per commit, often a few objects);
/// applying each alone would cap the writes in flight at its size instead of
/// [`APPLY_CONCURRENCY`], and a revision of 2 objects waits for the slower one before the
/// next starts. Generic over the staged work so its decisions are tested without a cluster.
struct Batch<J> {
    /// Staged applies; `None`: superseded by a removal or a refusal of a later revision.
    jobs: Vec<Option<J>>,
    /// Where each key's apply is in `jobs`: a later revision's apply of it replaces the
    /// earlier one, so one object is never written twice at once (nor in the wrong order).
    staged: HashMap<Key, usize>,
    /// The last revision whose final chunk is staged, with its checksum: acknowledged (with
    /// every revision before it) once the batch is applied.
    done: Option<(u64, String)>,
    /// That revision ends a full resync.
    prune: Option<Prune>,
}

impl<J> Default for Batch<J> {
    fn default() -> Self {
        Batch {
            jobs: Vec::new(),
            staged: HashMap::new(),
            done: None,
            prune: None,
        }
    }
}

impl<J> Batch<J> {
    fn stage(&mut self, key: Key, job: J) {
        match self.staged.get(&key) {
            Some(&at) => self.jobs[at] = Some(job),
            None => {
                self.staged.insert(key, self.jobs.len());
                self.jobs.push(Some(job));
            }
        }
    }

    /// A later revision removes `key` or cannot apply it: its earlier apply is not made.
    fn cancel(&mut self, key: &Key) {
        if let Some(at) = self.staged.remove(key) {
            self.jobs[at] = None;
        }
    }

    /// Whether the queued `next` delta joins this batch: one of the same stream, when no full
    /// resync is involved (its list, applies and prune stay one revision's), up to
    /// [`BATCH_OBJECTS`].
    fn admits(&self, next: &v1::Delta, same_stream: bool, full_in_progress: bool) -> bool {
        same_stream
            && !next.full
            && !full_in_progress
            && self.prune.is_none()
            && self.staged.len() < BATCH_OBJECTS
    }

    fn into_jobs(
        self,
    ) -> (
        impl Iterator<Item = J>,
        Option<(u64, String)>,
        Option<Prune>,
    ) {
        (self.jobs.into_iter().flatten(), self.done, self.prune)
    }
}

/// Takes the errors of `revision` and the revisions before it out of `errors` (an
/// acknowledgement covers every revision up to its own); later ones stay for their own.
fn settle(errors: &mut Vec<(u64, v1::ObjectError)>, revision: u64) -> Vec<v1::ObjectError> {
    let (settled, later) = std::mem::take(errors)
        .into_iter()
        .partition(|(of, _)| *of <= revision);
    *errors = later;
    settled.into_iter().map(|(_, error)| error).collect()
}

struct Applier {
    client: kube::Client,
    cluster: String,
    /// Every Istio kind the cluster serves: where prune looks.
    kinds: Vec<ApiResource>,
    resources: HashMap<(String, String), ApiResource>,
    desired: BTreeMap<Key, v1::DesiredObject>,
    /// Keys of a full revision being received.
    full: Option<BTreeSet<Key>>,
    /// The owned objects as listed when that full revision began (less what it removed): what
    /// it re-applies is compared with them, and its end prunes from them.
    live: Option<Owned>,
    /// Errors by the revision they belong to, until it is acknowledged.
    errors: Vec<(u64, v1::ObjectError)>,
    position: Position,
    metrics: crate::agent::metrics::AgentMetrics,
    guard: PruneGuard,
    /// The latest stream's outbox: drift reports go up on it.
    outbox: Option<mpsc::Sender<v1::AgentMessage>>,
    /// Drift reverted and not yet reported (the oldest dropped past [`REPORTS_KEPT`]).
    reverted: VecDeque<v1::DriftReverted>,
}

/// Drift reports kept while no stream takes them.
const REPORTS_KEPT: usize = 1_000;

/// The body the agent of `cluster` applies for a desired object: the MP's JSON with the
/// ownership labels. A body that is not an object, or whose metadata or labels are not, is
/// refused (labelling it would panic: found by fuzzing, docs/fuzzing.md).
pub fn desired_body(object: &v1::DesiredObject, cluster: &str) -> Result<Value, String> {
    let value: Value = serde_json::from_str(&object.object_json)
        .map_err(|e| format!("the management plane sent invalid JSON: {e}"))?;
    let map_or_null = |v: Option<&Value>| v.is_none_or(|v| v.is_object() || v.is_null());
    let shaped = value.as_object().is_some_and(|o| {
        map_or_null(o.get("metadata"))
            && map_or_null(o.get("metadata").and_then(|m| m.get("labels")))
    });
    if !shaped {
        return Err(
            "the management plane sent an object whose body, metadata or labels is not a JSON object"
                .into(),
        );
    }
    Ok(owned_by(value, cluster))
}

impl Applier {
    async fn api(
        &mut self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Api<DynamicObject>, Refusal> {
        let cache_key = (api_version.to_string(), kind.to_string());
        let resource = match self.resources.get(&cache_key) {
            Some(resource) => resource.clone(),
            None => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                let gvk = GroupVersionKind::gvk(group, version, kind);
                let (resource, _) = kube::discovery::pinned_kind(&self.client, &gvk)
                    .await
                    .map_err(|e| {
                        let not_served = matches!(&e, kube::Error::Api(s) if s.code == 404)
                            || matches!(e, kube::Error::Discovery(_));
                        Refusal {
                            message: format!(
                                "{api_version} {kind} is not served by this cluster: {e}"
                            ),
                            ignored: not_served,
                        }
                    })?;
                self.resources.insert(cache_key, resource.clone());
                resource
            }
        };
        Ok(if namespace.is_empty() {
            Api::all_with(self.client.clone(), &resource)
        } else {
            Api::namespaced_with(self.client.clone(), namespace, &resource)
        })
    }

    fn owned(&self, object: &v1::DesiredObject) -> Result<Value, String> {
        desired_body(object, &self.cluster)
    }

    async fn apply(&mut self, object: &v1::DesiredObject) -> Result<(), Refusal> {
        let (api, name, body) = self.prepare(object).await?;
        Ok(patch(&api, &name, &body).await?)
    }

    /// Where and what to apply (the API handle is cached per kind).
    async fn prepare(
        &mut self,
        object: &v1::DesiredObject,
    ) -> Result<(Api<DynamicObject>, String, Value), Refusal> {
        let key = object.key.clone().unwrap_or_default();
        let body = self.owned(object)?;
        let api = self
            .api(&key.api_version, &key.kind, &key.namespace)
            .await?;
        Ok((api, key.name, body))
    }

    async fn remove(&mut self, key: &Key) -> Result<(), String> {
        let api = match self.api(&key.0, &key.1, &key.2).await {
            Ok(api) => api,
            // Nothing of a kind the cluster does not serve can exist there.
            Err(refusal) if refusal.ignored => return Ok(()),
            Err(refusal) => return Err(refusal.message),
        };
        let what = format!("deleting {} {}/{}", key.1, key.2, key.3);
        let Some(live) = bounded(&what, api.get_opt(&key.3))
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let ours = live
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.get(MANAGED_BY).is_some_and(|v| v == "tsbridge"));
        if !ours {
            // Never delete what someone else owns, even if the MP says so.
            return Ok(());
        }
        match bounded(&what, api.delete(&key.3, &DeleteParams::default())).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(error) => Err(error.to_string()),
        }
    }

    fn error(&mut self, revision: u64, key: &Key, source: &str, refusal: Refusal) {
        tracing::warn!(?key, message = %refusal.message, ignored = refusal.ignored, "generated object not applied");
        self.errors.push((
            revision,
            v1::ObjectError {
                key: Some(proto_key(key)),
                source_fqn: source.to_string(),
                message: refusal.message,
                ignored: refusal.ignored,
            },
        ));
    }

    /// Every owned object of this cluster as it is now, and the kinds that failed to list.
    async fn list_owned(&self) -> (Owned, Vec<String>) {
        let selector = owned_selector(&self.cluster);
        let mut owned = Owned::new();
        let mut failed = Vec::new();
        for resource in &self.kinds {
            let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
            let list = match api.list(&ListParams::default().labels(&selector)).await {
                Ok(list) => list,
                // Not served (Istio's CRDs not installed): it holds nothing.
                Err(error)
                    if crate::agent::error::is_not_found(&error)
                        || matches!(&error, kube::Error::Api(status) if status.code == 404) =>
                {
                    continue;
                }
                Err(error) => {
                    failed.push(format!("listing {}: {error}", resource.plural));
                    continue;
                }
            };
            for object in list {
                let key = (
                    resource.api_version.clone(),
                    resource.kind.clone(),
                    object.metadata.namespace.clone().unwrap_or_default(),
                    object.metadata.name.clone().unwrap_or_default(),
                );
                let body = serde_json::to_value(&object).unwrap_or(Value::Null);
                owned.insert(id_of(&key), (key, body));
            }
        }
        (owned, failed)
    }

    /// Takes in one delta chunk: decides what to apply (staged in `batch`, applied by
    /// [`Applier::flush`]), makes its removals, and marks the end of its revision.
    async fn stage(&mut self, delta: v1::Delta, batch: &mut Batch<Job>) {
        let revision = delta.revision;
        if delta.full && self.full.is_none() {
            self.full = Some(BTreeSet::new());
            self.errors.clear();
            // A full resync (after a restart of either side) re-applies only what differs from
            // the cluster: a restart with nothing changed rewrites nothing.
            let (owned, failed) = self.list_owned().await;
            self.live = if failed.is_empty() {
                Some(owned)
            } else {
                tracing::warn!(
                    ?failed,
                    "listing owned objects failed; the full resync re-applies everything"
                );
                None
            };
        }
        for object in delta.upserts {
            let key = key_of(&object.key.clone().unwrap_or_default());
            if let Some(full) = self.full.as_mut() {
                full.insert(key.clone());
            }
            let unchanged = self
                .desired
                .get(&key)
                .is_some_and(|d| d.content_hash == object.content_hash);
            // A full resync re-applies what differs from the cluster (it may have drifted
            // while nobody watched).
            let needed = if delta.full {
                let live = self.live.as_ref().and_then(|live| live.get(&id_of(&key)));
                match (live, serde_json::from_str::<Value>(&object.object_json)) {
                    (Some((_, live)), Ok(desired)) => !holds(&desired, live),
                    _ => true,
                }
            } else {
                !unchanged
            };
            if needed {
                match self.prepare(&object).await {
                    Ok((api, name, body)) => {
                        let job = Job {
                            key: key.clone(),
                            source: object.source_fqn.clone(),
                            revision,
                            api,
                            name,
                            body,
                        };
                        batch.stage(key.clone(), job);
                    }
                    Err(refusal) => {
                        batch.cancel(&key);
                        self.error(revision, &key, &object.source_fqn.clone(), refusal);
                    }
                }
            }
            self.desired.insert(key, object);
        }
        for removal in delta.removals {
            let key = key_of(&removal);
            batch.cancel(&key);
            let source = self
                .desired
                .remove(&key)
                .map(|d| d.source_fqn)
                .unwrap_or_default();
            match self.remove(&key).await {
                Ok(()) => {
                    if let Some(live) = self.live.as_mut() {
                        live.remove(&id_of(&key));
                    }
                }
                Err(message) => self.error(revision, &key, &source, message.into()),
            }
        }
        if !delta.last {
            return;
        }
        if let Some(full) = self.full.take() {
            self.desired.retain(|k, _| full.contains(k));
            batch.prune = Some(Prune {
                wanted: full,
                owned: self.live.take(),
                confirmed: delta.confirm_prune,
            });
        }
        batch.done = Some((revision, delta.checksum));
    }

    /// Applies what `batch` staged, [`APPLY_CONCURRENCY`] at a time; then prunes when it
    /// ended a full resync. Returns the acknowledgement of its last complete revision.
    async fn flush(&mut self, batch: Batch<Job>) -> Option<v1::Ack> {
        let (jobs, done, prune) = batch.into_jobs();
        let results: Vec<(Job, Result<(), String>)> = futures::stream::iter(jobs)
            .map(|job| async move {
                let result = patch(&job.api, &job.name, &job.body).await;
                (job, result)
            })
            .buffer_unordered(APPLY_CONCURRENCY)
            .collect()
            .await;
        for (job, result) in results {
            if let Err(message) = result {
                self.error(job.revision, &job.key, &job.source, message.into());
            }
        }
        let (revision, checksum) = done?;
        let mut prune_held = None;
        if let Some(prune) = prune {
            // Only this task writes owned objects, so what was listed when the revision began
            // (less its removals) is what the cluster holds now: no second list.
            let owned = match prune.owned {
                Some(owned) => owned,
                None => self.list_owned().await.0,
            };
            prune_held = self.prune(&prune.wanted, owned, prune.confirmed).await;
        }
        *self
            .position
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (revision, checksum.clone());
        Some(v1::Ack {
            revision,
            errors: settle(&mut self.errors, revision),
            checksum,
            prune_held,
        })
    }

    /// Deletes the `owned` objects of this cluster that the complete desired set does not
    /// list. Compared by API group, not version: one object served at two versions is one
    /// object. A prune of too large a share of them is held (unless `confirmed`) and returned.
    async fn prune(
        &mut self,
        wanted: &BTreeSet<Key>,
        owned: Owned,
        confirmed: bool,
    ) -> Option<v1::PruneHold> {
        let wanted: BTreeSet<Id> = wanted.iter().map(id_of).collect();
        let total = owned.len();
        let mut unwanted: Vec<Key> = owned
            .into_iter()
            .filter(|(id, _)| !wanted.contains(id))
            .map(|(_, (key, _))| key)
            .collect();
        unwanted.sort();
        let owned = total;
        let hold = !confirmed
            && crate::model::guard::exceeds(
                unwanted.len(),
                owned,
                self.guard.share,
                self.guard.min,
            );
        if hold {
            let message = format!(
                "PruneHeld: the full resync from the management plane would delete {} of the {owned} \
                 generated objects in cluster {}, over the mass-prune limit of {:.0}% \
                 (--prune-guard-share); they are kept. If the management plane's state is right, \
                 run `tsbridge ctl cluster confirm-deletions {}`",
                unwanted.len(),
                self.cluster,
                self.guard.share * 100.0,
                self.cluster
            );
            tracing::warn!(kept = unwanted.len(), owned, "{message}");
            self.metrics
                .prune_held
                .set(i64::try_from(unwanted.len()).unwrap_or(i64::MAX));
            return Some(v1::PruneHold {
                count: u32::try_from(unwanted.len()).unwrap_or(u32::MAX),
                owned: u32::try_from(owned).unwrap_or(u32::MAX),
                examples: unwanted.iter().take(HOLD_EXAMPLES).map(proto_key).collect(),
                message,
            });
        }
        self.metrics.prune_held.set(0);
        for key in unwanted {
            match self.remove(&key).await {
                Ok(()) => tracing::info!(?key, "pruned"),
                Err(message) => tracing::warn!(?key, %message, "prune failed"),
            }
        }
        None
    }

    /// A watched owned object differs from what the MP wants (or is gone): apply it again.
    /// `live` is the object as the watch saw it (`None`: deleted); compared locally, so the
    /// stream of events our own applies cause costs no API calls.
    async fn on_drift(&mut self, key: Key, live: Option<Box<DynamicObject>>) {
        let Some(object) = self.desired.get(&key).cloned() else {
            return;
        };
        let desired: Value = serde_json::from_str(&object.object_json).unwrap_or(Value::Null);
        let drifted = match &live {
            None => true,
            Some(live) => !holds(
                &desired,
                &serde_json::to_value(&**live).unwrap_or(Value::Null),
            ),
        };
        if !drifted {
            return;
        }
        // A watch event can predate our own latest apply (it was queued while we applied):
        // only the object as it is now decides, so a stale event rewrites nothing.
        if let Ok(api) = self.api(&key.0, &key.1, &key.2).await
            && let Ok(now) = bounded(format!("reading {key:?}"), api.get_opt(&key.3)).await
            && now.as_ref().is_some_and(|now| {
                holds(&desired, &serde_json::to_value(now).unwrap_or(Value::Null))
            })
        {
            return;
        }
        tracing::warn!(?key, "generated object drifted; reverting");
        self.metrics.drift_reverted.inc();
        if let Err(refusal) = self.apply(&object).await {
            tracing::warn!(?key, message = %refusal.message, "reverting drift failed");
            return;
        }
        if self.reverted.len() >= REPORTS_KEPT {
            self.reverted.pop_front();
        }
        self.reverted.push_back(v1::DriftReverted {
            key: object.key.clone(),
            source_fqn: object.source_fqn.clone(),
            deleted: live.is_none(),
        });
        self.report_drift();
    }

    /// Sends the drift reports the stream takes; the rest wait for room or the next stream.
    fn report_drift(&mut self) {
        while let (Some(outbox), Some(report)) = (&self.outbox, self.reverted.front()) {
            let message = v1::AgentMessage {
                message: Some(Up::DriftReverted(report.clone())),
            };
            match outbox.try_send(message) {
                Ok(()) => {
                    self.reverted.pop_front();
                }
                Err(mpsc::error::TrySendError::Full(_)) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => self.outbox = None,
            }
        }
    }

    /// The owned watch of (group, kind) re-listed: a wanted object it did not list was
    /// deleted while the watch was down (a relist reports no delete events).
    async fn on_listed(&mut self, group: &str, kind: &str, listed: &BTreeSet<(String, String)>) {
        if self.full.is_some() {
            // A full resync is being received: its end prunes and applies what is missing.
            return;
        }
        let missing: Vec<Key> = self
            .desired
            .keys()
            .filter(|key| {
                key.1 == kind
                    && group_of(&key.0) == group
                    && !listed.contains(&(key.2.clone(), key.3.clone()))
            })
            .cloned()
            .collect();
        for key in missing {
            self.on_drift(key, None).await;
        }
    }
}

/// Starts the applier; returns where to send deltas and drift reports.
pub fn spawn(
    client: kube::Client,
    cluster: String,
    kinds: Vec<ApiResource>,
    position: Position,
    metrics: crate::agent::metrics::AgentMetrics,
    guard: PruneGuard,
    shutdown: &Shutdown,
) -> mpsc::Sender<ApplierEvent> {
    let (events, mut receiver) = mpsc::channel::<ApplierEvent>(1024);
    let stop = shutdown.clone();
    let mut applier = Applier {
        client,
        cluster,
        kinds,
        resources: HashMap::new(),
        desired: BTreeMap::new(),
        full: None,
        live: None,
        errors: Vec::new(),
        position,
        metrics,
        guard,
        outbox: None,
        reverted: VecDeque::new(),
    };
    shutdown.spawn(tracing::info_span!("applier"), async move {
        // Events set aside while queued revisions were gathered into one batch, in order.
        let mut backlog: VecDeque<ApplierEvent> = VecDeque::new();
        loop {
            let event = match backlog.pop_front() {
                Some(event) => event,
                None => tokio::select! {
                    () = stop.cancelled() => break,
                    event = receiver.recv() => match event { Some(e) => e, None => break },
                },
            };
            match event {
                ApplierEvent::Delta(delta, outbox) => {
                    applier.outbox = Some(outbox.clone());
                    applier.report_drift();
                    let mut batch = Batch::default();
                    applier.stage(delta, &mut batch).await;
                    // Revisions already queued behind this one are applied with it; the watch
                    // events between them wait until it is done (a drift check reads the
                    // cluster as it is then).
                    let mut deferred = Vec::new();
                    while backlog.is_empty() && deferred.len() < DEFERRED_EVENTS {
                        match receiver.try_recv() {
                            Ok(ApplierEvent::Delta(next, next_outbox)) => {
                                let same_stream = next_outbox.same_channel(&outbox);
                                if batch.admits(&next, same_stream, applier.full.is_some()) {
                                    applier.stage(next, &mut batch).await;
                                } else {
                                    backlog.push_back(ApplierEvent::Delta(next, next_outbox));
                                }
                            }
                            Ok(other) => deferred.push(other),
                            Err(_) => break,
                        }
                    }
                    let (objects, started) = (batch.staged.len(), tokio::time::Instant::now());
                    if let Some(ack) = applier.flush(batch).await {
                        let nack = !ack.errors.is_empty();
                        let ms = started.elapsed().as_millis();
                        tracing::info!(
                            revision = ack.revision,
                            nack,
                            objects,
                            ms,
                            "revision applied"
                        );
                        let _ = outbox
                            .send(v1::AgentMessage {
                                message: Some(Up::Ack(ack)),
                            })
                            .await;
                    }
                    for event in deferred.into_iter().rev() {
                        backlog.push_front(event);
                    }
                }
                ApplierEvent::Drift(key, live) => applier.on_drift(key, live).await,
                ApplierEvent::Listed(group, kind, listed) => {
                    applier.on_listed(&group, &kind, &listed).await;
                }
            }
        }
    });
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_desired_object_that_is_not_a_json_object_is_refused_not_a_panic() {
        let body = |json: &str| {
            let object = v1::DesiredObject {
                object_json: json.into(),
                ..Default::default()
            };
            desired_body(&object, "c1")
        };
        for json in [
            "[]",
            "1",
            "\"x\"",
            r#"{"metadata":1}"#,
            r#"{"metadata":{"labels":[]}}"#,
        ] {
            assert!(body(json).is_err(), "{json} is refused");
        }
        let applied = body(r#"{"metadata":{"name":"a","labels":{"x":"y"}}}"#).unwrap();
        assert_eq!(applied["metadata"]["labels"]["x"], "y");
        assert_eq!(applied["metadata"]["labels"]["tsbridge.io/cluster"], "c1");
        assert!(body(r#"{"metadata":{"name":"a"}}"#).is_ok());
    }

    fn key(name: &str) -> Key {
        (
            "networking.istio.io/v1".into(),
            "VirtualService".into(),
            "ns".into(),
            name.into(),
        )
    }

    #[test]
    fn a_later_revision_replaces_or_cancels_an_objects_staged_apply() {
        let mut batch: Batch<&str> = Batch::default();
        batch.stage(key("a"), "a@1");
        batch.stage(key("b"), "b@1");
        batch.stage(key("c"), "c@1");
        batch.stage(key("a"), "a@2");
        batch.cancel(&key("b"));
        batch.stage(key("d"), "d@2");
        let (jobs, done, prune) = batch.into_jobs();
        assert_eq!(
            jobs.collect::<Vec<_>>(),
            ["a@2", "c@1", "d@2"],
            "one apply per object, the latest, in the order first staged"
        );
        assert!(done.is_none() && prune.is_none());
    }

    #[test]
    fn queued_deltas_of_one_stream_join_a_batch_unless_a_full_resync_is_involved() {
        let delta = v1::Delta {
            revision: 2,
            ..Default::default()
        };
        let full = v1::Delta {
            full: true,
            ..delta.clone()
        };
        let batch: Batch<()> = Batch::default();
        assert!(batch.admits(&delta, true, false));
        assert!(!batch.admits(&delta, false, false), "another stream");
        assert!(!batch.admits(&full, true, false), "a full resync");
        assert!(
            !batch.admits(&delta, true, true),
            "a full resync in progress"
        );
        let ending_full = Batch::<()> {
            prune: Some(Prune {
                wanted: BTreeSet::new(),
                owned: None,
                confirmed: false,
            }),
            ..Batch::default()
        };
        assert!(
            !ending_full.admits(&delta, true, false),
            "its prune comes first"
        );
        let mut large: Batch<()> = Batch::default();
        for k in 0..BATCH_OBJECTS {
            large.stage(key(&k.to_string()), ());
        }
        assert!(!large.admits(&delta, true, false), "full up");
    }

    #[test]
    fn an_acknowledgement_carries_the_errors_of_its_revision_and_earlier_ones() {
        let error = |name: &str| v1::ObjectError {
            key: Some(proto_key(&key(name))),
            ..Default::default()
        };
        let mut errors = vec![(3, error("a")), (5, error("b")), (4, error("c"))];
        let settled = settle(&mut errors, 4);
        let names = |errors: &[v1::ObjectError]| -> Vec<String> {
            errors
                .iter()
                .map(|e| e.key.clone().unwrap_or_default().name)
                .collect()
        };
        assert_eq!(names(&settled), ["a", "c"]);
        assert_eq!(
            errors.len(),
            1,
            "revision 5's error waits for its own acknowledgement"
        );
        assert_eq!(errors[0].0, 5);
    }

    #[test]
    fn defaults_added_by_the_apiserver_are_not_drift() {
        let desired = json!({"hosts": ["a"], "http": [{"route": [{"weight": 100}]}]});
        let live =
            json!({"hosts": ["a"], "http": [{"route": [{"weight": 100, "x": 1}]}], "extra": true});
        assert!(is_subset(&desired, &live));
        let edited = json!({"hosts": ["b"], "http": [{"route": [{"weight": 100}]}]});
        assert!(!is_subset(&desired, &edited));
        let shorter = json!({"hosts": [], "http": [{"route": [{"weight": 100}]}]});
        assert!(!is_subset(&desired, &shorter));
    }

    #[test]
    fn a_live_object_holds_the_desired_spec_labels_and_annotations() {
        let desired = json!({"metadata": {"labels": {"a": "1"}, "annotations": {"n": "x"}},
                             "spec": {"hosts": ["h"]}});
        let live = json!({"metadata": {"labels": {"a": "1", "other": "2"},
                                       "annotations": {"n": "x", "kubectl": "y"},
                                       "resourceVersion": "7"},
                          "spec": {"hosts": ["h"]}, "status": {}});
        assert!(holds(&desired, &live));
        let mut annotated = live.clone();
        annotated["metadata"]["annotations"]["n"] = json!("changed");
        assert!(!holds(&desired, &annotated), "our annotation changed");
        let mut relabelled = live.clone();
        relabelled["metadata"]["labels"]["a"] = json!("2");
        assert!(!holds(&desired, &relabelled));
        let bare = json!({"spec": {"hosts": ["h"]}});
        assert!(holds(&bare, &live), "no labels or annotations wanted");
    }
}
