//! The agent's single owner of state: every watched object, what the management plane last
//! said about it, and the status it should show. Watches, the MP stream, leadership and a
//! clock feed it events; it decides pushes, removals, inventories and status writes.
//!
//! Rules it keeps (gitops-contract.md):
//! * only a changed content hash is pushed (R-I2): annotation-only churn costs nothing;
//! * parents are pushed before children, and a child waiting for its parent is retried as
//!   soon as any push is accepted;
//! * a delete waits `delete_grace`; a re-create within it is one update (R-E1);
//! * inventories (objects, namespaces, Services) go up only from complete lists: after every connect
//!   and every resync interval, once every watch has finished its initial list or re-list. A
//!   partial list would make the MP delete what is simply not listed yet;
//! * status is written only by the leader, only when it changes (G-5), and a restart does not
//!   flap Ready objects: nothing is written for an object until the MP has answered for it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use kube::api::DynamicObject;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::agent::metrics::AgentMetrics;
use crate::agent::status::StatusQueue;
use crate::agent::watch::{WatchEvent, Watched};
use crate::model::metadata::StripRules;
use crate::model::object::DELETION_POLICY_ANNOTATION;
use crate::model::status::{
    ClusterCounts, CrStatus, EventType, Finding, MpStatus, PushState, Reason, TsbStatus,
};
use crate::model::{Converted, Resource, RuleCode};
use crate::proto::v1;
use crate::proto::v1::agent_message::Message as Up;

/// After this long without a stream, CRs say `ManagementPlaneUnavailable`.
pub const MP_GRACE: Duration = Duration::from_secs(3);
/// Pushes awaiting an answer at once.
const MAX_IN_FLIGHT: usize = 256;
/// Inventory items per message (far below gRPC limits).
const INVENTORY_CHUNK: usize = 500;
/// How long a new stream waits for every watch's list before an incomplete inventory goes up.
const INVENTORY_WAIT: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A status write that failed or did not fit the writer's queue is tried again after this.
const WRITE_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
enum Conv {
    Valid {
        resource: Box<Resource>,
        hash: String,
        findings: Vec<Finding>,
    },
    Invalid(String),
    Ignored,
}

#[derive(Debug)]
struct Tracked {
    object: DynamicObject,
    generation: i64,
    conv: Conv,
    /// The MP's last answer and the content hash it was for.
    answered: Option<(String, PushState)>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Written but not yet seen back on the watch.
    sent_status: Option<CrStatus>,
    /// Whether an interim status is being held back (see [`STATUS_HOLD`]).
    status_hold: StatusHold,
    /// What translation left out in some cluster, as the MP last said (status `analysis`).
    translation: Vec<Finding>,
}

impl Tracked {
    fn observed_status(&self) -> Option<CrStatus> {
        self.object
            .data
            .get("status")
            .and_then(|s| serde_json::from_value(s.clone()).ok())
    }

    fn fqn(&self) -> Option<String> {
        match &self.conv {
            Conv::Valid { resource, .. } => Some(resource.fqn.to_string()),
            _ => self.observed_status().and_then(|s| s.tsb).map(|t| t.fqn),
        }
    }

    fn hash(&self) -> Option<&str> {
        match &self.conv {
            Conv::Valid { hash, .. } => Some(hash),
            _ => None,
        }
    }

    /// The MP's answer for `etag`. While the MP's counts are provisional (it restarted and
    /// has not heard from every cluster yet), the status already shown for the same etag
    /// stays: a restart of the MP writes no CR status.
    fn accepted(&mut self, fqn: &str, etag: &str, state: Option<&v1::ObjectState>) -> PushState {
        if let Some(state) = state.filter(|s| !s.provisional) {
            self.translation = state
                .translation_warnings
                .iter()
                .map(translation_finding)
                .collect();
        }
        if state.is_some_and(|s| s.provisional)
            && let Some(shown) = self
                .sent_status
                .clone()
                .or_else(|| self.observed_status())
                .and_then(|s| s.tsb)
            && shown.fqn == fqn
            && shown.etag == etag
        {
            return PushState::Accepted(shown);
        }
        accepted_state(fqn, etag, state)
    }
}

/// Where the object inventory of the current stream stands.
#[derive(Debug, Default)]
enum InventoryPhase {
    /// Not sent on this stream yet: it waits for every watch's list.
    #[default]
    Unsent,
    /// Sent (its id and what it listed); pushes wait for the answer.
    Pending(RequestId, HashMap<String, String>),
    /// Answered: pushes flow.
    Answered,
}

#[derive(Debug)]
struct PendingDelete {
    fqn: String,
    hash: String,
    deadline: Instant,
}

/// Settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This cluster.
    pub cluster: String,
    /// MP URL, for messages.
    pub server: String,
    /// Delete coalescing grace.
    pub delete_grace: Duration,
    /// Inventory resend interval (zero = off).
    pub resync_interval: Duration,
}

/// See the module docs.
pub struct Reconciler {
    settings: Settings,
    watched: Vec<Watched>,
    strip: StripRules,
    objects: HashMap<ObjectKey, Tracked>,
    by_fqn: HashMap<String, ObjectKey>,
    relisting: HashMap<usize, HashSet<ObjectKey>>,
    pending_deletes: HashMap<ObjectKey, PendingDelete>,
    dirty: HashSet<ObjectKey>,
    /// Pushes, removals and children waiting for parents: everything sent or to send.
    work: Work,
    leading: bool,
    outbox: Option<mpsc::Sender<v1::AgentMessage>>,
    inventory: InventoryPhase,
    /// The last inventory sent on this stream was complete.
    inventory_complete: bool,
    /// When the current stream opened.
    stream_opened: Option<Instant>,
    /// Per watched kind: its (re)list is complete.
    listed: Vec<bool>,
    /// Watched kinds the cluster does not serve.
    not_served: std::collections::BTreeSet<usize>,
    down_since: Option<Instant>,
    unavailable_reported: bool,
    last_error: String,
    next_resync: Option<Instant>,
    status_writes: StatusQueue,
    metrics: AgentMetrics,
    /// The cluster's namespaces, reported to the MP.
    namespaces: Listing<String, BTreeMap<String, String>>,
    /// The cluster's Services, reported to the MP.
    services: Listing<crate::agent::watch::ServiceKey, v1::Service>,
}

fn now_text() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .to_string()
}

fn parse_upper<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
}

fn accepted_state(fqn: &str, etag: &str, state: Option<&v1::ObjectState>) -> PushState {
    let state = state.cloned().unwrap_or_default();
    PushState::Accepted(TsbStatus {
        fqn: fqn.to_string(),
        etag: etag.to_string(),
        status: parse_upper(&state.status).unwrap_or(MpStatus::Accepted),
        last_event: parse_upper(&state.last_event).unwrap_or(EventType::MpcAccepted),
        clusters: ClusterCounts {
            applied: state.clusters_applied,
            targeted: state.clusters_targeted,
        },
    })
}

/// A translation warning of the MP as a status finding.
fn translation_finding(warning: &v1::Diagnostic) -> Finding {
    Finding {
        code: warning.rule.clone(),
        level: crate::model::status::FindingLevel::Warning,
        message: crate::model::status::condition_message(&format!(
            "{}; fix: {}",
            warning.message, warning.fix
        )),
        field_path: (!warning.field.is_empty()).then(|| warning.field.clone()),
    }
}

impl Reconciler {
    /// A reconciler for `watched` kinds.
    pub fn new(
        settings: Settings,
        watched: Vec<Watched>,
        status_writes: StatusQueue,
        metrics: AgentMetrics,
    ) -> Reconciler {
        let kinds = watched.len();
        Reconciler {
            settings,
            watched,
            strip: StripRules::default(),
            objects: HashMap::new(),
            by_fqn: HashMap::new(),
            relisting: HashMap::new(),
            pending_deletes: HashMap::new(),
            dirty: HashSet::new(),
            work: Work::default(),
            leading: false,
            outbox: None,
            inventory: InventoryPhase::Unsent,
            inventory_complete: false,
            stream_opened: None,
            listed: vec![false; kinds],
            not_served: std::collections::BTreeSet::new(),
            down_since: Some(Instant::now()),
            unavailable_reported: false,
            last_error: "not connected yet".into(),
            next_resync: None,
            status_writes,
            metrics,
            namespaces: Listing::default(),
            services: Listing::default(),
        }
    }

    fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.objects.keys().cloned());
    }

    fn connected(&self) -> bool {
        self.leading && self.outbox.is_some() && matches!(self.inventory, InventoryPhase::Answered)
    }

    fn mp_unavailable(&self) -> bool {
        self.leading
            && self
                .down_since
                .is_some_and(|since| since.elapsed() >= MP_GRACE)
    }

    // ---- watch events -------------------------------------------------------------------

    /// Applies one watch event.
    pub fn on_watch(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::NotServed(index) => {
                self.not_served.insert(index);
            }
            WatchEvent::Relist(index) => {
                self.not_served.remove(&index);
                self.relisting.insert(index, HashSet::new());
                if let Some(listed) = self.listed.get_mut(index) {
                    *listed = false;
                }
            }
            WatchEvent::Seen(index, object) => {
                let key = ObjectKey::of(index, &object);
                if let Some(seen) = self.relisting.get_mut(&index) {
                    seen.insert(key.clone());
                }
                self.seen(key, *object);
            }
            WatchEvent::Listed(index) => {
                if let Some(seen) = self.relisting.remove(&index) {
                    let gone: Vec<ObjectKey> = self
                        .objects
                        .keys()
                        .filter(|k| k.kind == index && !seen.contains(*k))
                        .cloned()
                        .collect();
                    for key in gone {
                        self.gone(&key);
                    }
                }
                if let Some(listed) = self.listed.get_mut(index) {
                    *listed = true;
                }
                self.send_inventories();
            }
            WatchEvent::Deleted(index, object) => {
                let key = ObjectKey::of(index, &object);
                self.gone(&key);
            }
        }
    }

    fn convert(&self, object: &DynamicObject) -> Conv {
        let kube_object = match crate::k8s::convert::to_kube_object(object) {
            Ok(o) => o,
            Err(error) => return Conv::Invalid(error.to_string()),
        };
        match crate::model::convert(&kube_object, &self.strip) {
            Converted::Resource {
                mut resource,
                warnings,
            } => {
                if let Some(origin) = resource.origin.as_mut() {
                    origin.cluster = Some(self.settings.cluster.clone());
                }
                Conv::Valid {
                    hash: resource.content_hash(),
                    resource,
                    findings: warnings.iter().map(Finding::from).collect(),
                }
            }
            Converted::Invalid(diagnostics) => Conv::Invalid(
                diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map_or_else(|| "invalid".to_string(), ToString::to_string),
            ),
            Converted::Ignored(_) => Conv::Ignored,
        }
    }

    fn seen(&mut self, key: ObjectKey, object: DynamicObject) {
        if self.pending_deletes.remove(&key).is_some() {
            tracing::info!(%key, "re-created within the delete grace: one update");
        }
        let conv = self.convert(&object);
        let generation = object.metadata.generation.unwrap_or(0);
        let tracked = self.objects.entry(key.clone()).or_insert_with(|| Tracked {
            object: object.clone(),
            generation,
            conv: Conv::Ignored,
            answered: None,
            retry_at: None,
            backoff: Duration::from_millis(500),
            sent_status: None,
            status_hold: StatusHold::None,
            translation: Vec::new(),
        });
        let changed = tracked.hash()
            != match &conv {
                Conv::Valid { hash, .. } => Some(hash.as_str()),
                _ => None,
            };
        tracked.object = object;
        tracked.generation = generation;
        tracked.conv = conv;
        if changed {
            tracked.retry_at = None;
            tracked.backoff = Duration::from_millis(500);
        }
        if tracked.sent_status.is_some() && tracked.sent_status == tracked.observed_status() {
            tracked.sent_status = None;
        }
        if let Some(fqn) = tracked.fqn() {
            self.by_fqn.insert(fqn, key.clone());
        }
        self.dirty.insert(key);
    }

    fn gone(&mut self, key: &ObjectKey) {
        let Some(tracked) = self.objects.remove(key) else {
            return;
        };
        self.dirty.remove(key);
        self.work.forget(key);
        let Some(fqn) = tracked.fqn() else { return };
        if self.by_fqn.get(&fqn) == Some(key) {
            self.by_fqn.remove(&fqn);
        }
        let orphan = tracked
            .object
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DELETION_POLICY_ANNOTATION))
            .is_some_and(|p| p == "Orphan");
        if orphan {
            return;
        }
        self.pending_deletes.insert(
            key.clone(),
            PendingDelete {
                fqn,
                hash: tracked.hash().unwrap_or_default().to_string(),
                deadline: Instant::now() + self.settings.delete_grace,
            },
        );
    }

    // ---- MP events ----------------------------------------------------------------------

    /// Leadership changed.
    pub fn on_leading(&mut self, leading: bool) {
        // The Lease task says so on every renewal; only a change matters.
        if leading == self.leading {
            return;
        }
        self.leading = leading;
        if !leading {
            self.new_stream(None);
            self.clear_in_flight();
        }
        if self.outbox.is_none() {
            // A replica that just took over has not tried to reach the MP yet: its grace
            // starts now, not when the process (a standby until now) started.
            if leading {
                self.down_since = Some(Instant::now());
            } else {
                self.down_since.get_or_insert_with(Instant::now);
            }
        }
        self.unavailable_reported = false;
        self.mark_all_dirty();
    }

    /// A stream opened (`Some`) or ended: nothing of the old one's inventories counts.
    fn new_stream(&mut self, outbox: Option<mpsc::Sender<v1::AgentMessage>>) {
        self.stream_opened = outbox.is_some().then(Instant::now);
        self.outbox = outbox;
        self.inventory = InventoryPhase::Unsent;
        self.namespaces.sent = false;
        self.services.sent = false;
    }

    fn clear_in_flight(&mut self) {
        self.dirty.extend(self.work.stream_ended());
    }

    /// Applies one event of the MP stream.
    pub fn on_mp(&mut self, event: crate::agent::upstream::MpEvent) {
        use crate::agent::upstream::MpEvent;
        match event {
            MpEvent::Connected(outbox, _welcome) => {
                self.new_stream(Some(outbox));
                self.down_since = None;
                self.unavailable_reported = false;
                self.clear_in_flight();
                // Only what is completely listed goes up now; the rest when its list is done.
                self.send_inventories();
            }
            MpEvent::Disconnected(reason) => {
                self.new_stream(None);
                self.last_error = reason.to_string();
                self.down_since.get_or_insert_with(Instant::now);
                self.clear_in_flight();
            }
            MpEvent::Result(result) => self.on_result(result),
            MpEvent::Inventory(result) => self.on_inventory(result),
            MpEvent::Status(update) => self.on_status_update(&update),
        }
    }

    fn send(&mut self, message: Up) -> bool {
        let Some(outbox) = &self.outbox else {
            return false;
        };
        match outbox.try_send(v1::AgentMessage {
            message: Some(message),
        }) {
            Ok(()) => true,
            // The caller keeps what it could not send (a push stays queued) or leaves it to
            // the next inventory, which repairs the MP's view.
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.queue_full("outbox");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.outbox = None;
                false
            }
        }
    }

    /// New propagation counts (or MP status) for an accepted object.
    fn on_status_update(&mut self, update: &v1::StatusUpdate) {
        let Some(key) = self.by_fqn.get(&update.fqn).cloned() else {
            return;
        };
        let Some(tracked) = self.objects.get_mut(&key) else {
            return;
        };
        if let Some((hash, PushState::Accepted(tsb))) = &tracked.answered
            && tsb.etag == update.etag
        {
            let hash = hash.clone();
            let state = tracked.accepted(&update.fqn, &update.etag, update.state.as_ref());
            tracked.answered = Some((hash, state));
            self.dirty.insert(key);
        }
    }

    fn on_result(&mut self, result: v1::PushResult) {
        let Pending { key, hash, started } = match self.work.answer(RequestId(result.id)) {
            Answered::Push(pending) => pending,
            Answered::Removal(fqn) => {
                self.metrics.result(result.accepted, &result.code);
                if !result.accepted {
                    tracing::warn!(%fqn, message = %result.message, "removal refused");
                }
                return;
            }
            Answered::Unknown => return,
        };
        self.metrics
            .push_seconds
            .observe(started.elapsed().as_secs_f64());
        self.metrics.result(result.accepted, &result.code);
        let Some(tracked) = self.objects.get_mut(&key) else {
            return;
        };
        let state = if result.accepted {
            tracked.accepted(&result.fqn, &result.etag, result.state.as_ref())
        } else {
            PushState::from_push_error(
                &result.code,
                RuleCode::from_code(&result.rule),
                &result.message,
            )
        };
        let transient =
            matches!(&state, PushState::NotAccepted { reason, .. } if !reason.is_terminal());
        if transient {
            let delay = tracked.backoff;
            tracked.retry_at = Some(Instant::now() + delay);
            tracked.backoff = (delay * 2).min(MAX_BACKOFF);
            if matches!(
                &state,
                PushState::NotAccepted {
                    reason: Reason::DependencyNotReady,
                    ..
                }
            ) {
                self.work.wait_for_parent(key.clone());
            }
        } else {
            tracked.retry_at = None;
            tracked.backoff = Duration::from_millis(500);
            self.work.forget(&key);
        }
        tracked.answered = Some((hash, state));
        self.dirty.insert(key);
        if result.accepted {
            // A parent may have arrived: children waiting for it go again now.
            for waiting in self.work.parent_arrived() {
                if let Some(t) = self.objects.get_mut(&waiting) {
                    t.retry_at = None;
                }
                self.dirty.insert(waiting);
            }
        }
    }

    // ---- clock --------------------------------------------------------------------------

    /// Timers: due retries, delete graces, resync, the MP-unavailable grace.
    pub fn on_tick(&mut self) {
        let now = Instant::now();
        if self.mp_unavailable() && !self.unavailable_reported {
            self.unavailable_reported = true;
            self.mark_all_dirty();
        }
        let due: Vec<ObjectKey> = self
            .objects
            .iter()
            .filter(|(_, t)| t.retry_at.is_some_and(|at| at <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            if let Some(t) = self.objects.get_mut(&key) {
                t.retry_at = None;
            }
            self.dirty.insert(key);
        }
        for (key, tracked) in &mut self.objects {
            if matches!(tracked.status_hold, StatusHold::Until(at) if at <= now) {
                tracked.status_hold = StatusHold::Expired;
                self.dirty.insert(key.clone());
            }
        }
        let expired: Vec<ObjectKey> = self
            .pending_deletes
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            let Some(pending) = self.pending_deletes.remove(&key) else {
                continue;
            };
            if !self.connected() {
                // The inventory of the next connect finds it gone.
                continue;
            }
            let id = self.work.next_id();
            let removal = Up::Removal(v1::Removal {
                id: id.0,
                fqn: pending.fqn.clone(),
                origin: Some(v1::GitOpsOrigin {
                    cluster: self.settings.cluster.clone(),
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    ..Default::default()
                }),
            });
            if self.send(removal) {
                self.work.removed(id, pending.fqn);
            }
        }
        // A resync waits while a watch re-lists: its list is not the truth until it is done.
        if self.connected() && self.objects_listed() && self.next_resync.is_some_and(|at| at <= now)
        {
            self.send_inventory();
        }
        self.send_inventories();
    }

    // ---- decisions ----------------------------------------------------------------------

    fn push_state(&self, tracked: &Tracked) -> Option<PushState> {
        match &tracked.conv {
            Conv::Ignored => None,
            Conv::Invalid(message) => Some(PushState::NotAccepted {
                reason: Reason::Invalid,
                message: message.clone(),
            }),
            Conv::Valid { hash, .. } => {
                if self.mp_unavailable() {
                    return Some(PushState::NotAccepted {
                        reason: Reason::ManagementPlaneUnavailable,
                        message: format!(
                            "the management plane at {} is unavailable ({}); the change is sent when it is back",
                            self.settings.server, self.last_error
                        ),
                    });
                }
                // No answer for this content yet: keep the current status (no flapping).
                tracked
                    .answered
                    .as_ref()
                    .filter(|(h, _)| h == hash)
                    .map(|(_, state)| state.clone())
            }
        }
    }

    fn needs_push(&self, key: &ObjectKey, tracked: &Tracked) -> bool {
        let Conv::Valid { hash, .. } = &tracked.conv else {
            return false;
        };
        if self.work.is_pushing(key) || tracked.retry_at.is_some_and(|at| at > Instant::now()) {
            return false;
        }
        match &tracked.answered {
            Some((h, PushState::Accepted(_))) if h == hash => false,
            Some((h, PushState::NotAccepted { reason, .. })) if h == hash => !reason.is_terminal(),
            _ => true,
        }
    }

    /// Acts on everything that changed since the last flush.
    pub fn flush(&mut self) {
        let dirty: Vec<ObjectKey> = self.dirty.drain().collect();
        for key in dirty {
            if self.leading {
                self.write_status(&key);
            }
            let Some(tracked) = self.objects.get(&key) else {
                continue;
            };
            if self.connected()
                && self.needs_push(&key, tracked)
                && let Conv::Valid { resource, .. } = &tracked.conv
            {
                self.work
                    .enqueue(Queued::new(resource.fqn.to_string(), key.clone()));
            }
        }
        self.send_pushes();
    }

    fn send_pushes(&mut self) {
        while self.connected() && self.work.in_flight() < MAX_IN_FLIGHT {
            let Some(queued) = self.work.pop() else {
                break;
            };
            let Some(tracked) = self.objects.get(&queued.key) else {
                continue;
            };
            if !self.needs_push(&queued.key, tracked) {
                continue;
            }
            let Conv::Valid { resource, hash, .. } = &tracked.conv else {
                continue;
            };
            let hash = hash.clone();
            let id = self.work.next_id();
            let push = Up::Push(v1::Push {
                id: id.0,
                resource: Some(crate::proto::convert::resource_to_proto(resource)),
            });
            if !self.send(push) {
                self.work.enqueue(queued);
                break;
            }
            self.work.pushed(id, queued.key, hash);
        }
    }
}

mod inventory;
mod key;
mod listing;
mod status;
mod work;
pub use key::ObjectKey;
use listing::Listing;
use status::StatusHold;
use work::{Answered, Pending, Queued, RequestId, Work};
#[cfg(test)]
mod tests;
