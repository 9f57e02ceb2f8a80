//! The upstream inventories: what the MP learns of this cluster as a whole (its objects, its
//! namespaces and its Services), sent only from complete lists (`docs/restarts.md`), and the MP's answer.

use std::collections::{BTreeMap, HashMap};

use tokio::time::Instant;

use super::listing::Change;
use super::{INVENTORY_CHUNK, INVENTORY_WAIT, InventoryPhase, Reconciler};
use crate::agent::watch::{NamespaceEvent, ServiceEvent};
use crate::model::status::PushState;
use crate::proto::v1;
use crate::proto::v1::agent_message::Message as Up;

impl Reconciler {
    /// Every watch has a complete list: the object inventory is the truth.
    pub(super) fn objects_listed(&self) -> bool {
        self.listed.iter().all(|l| *l)
    }

    /// What readiness waits for: the watches whose initial list (or re-list) is not complete.
    /// Our kinds (not Istio's) the cluster does not serve: their CRDs are not installed.
    pub fn crds_missing(&self) -> Vec<String> {
        self.not_served
            .iter()
            .filter_map(|index| self.watched.get(*index))
            .filter(|w| w.has_our_status())
            .map(|w| format!("{}.{}", w.resource.plural, w.resource.group))
            .collect()
    }

    /// The direct-mode Istio API groups none of whose kinds the cluster serves: generated
    /// objects of theirs cannot be applied. Installing the CRDs clears it, no restart needed.
    pub fn istio_missing(&self) -> Vec<String> {
        let mut groups: BTreeMap<&str, bool> = BTreeMap::new();
        for (index, watched) in self.watched.iter().enumerate() {
            if watched.kind.is_direct() {
                let served = !self.not_served.contains(&index);
                *groups.entry(watched.kind.group()).or_default() |= served;
            }
        }
        groups
            .into_iter()
            .filter(|(_, served)| !served)
            .map(|(group, _)| group.to_string())
            .collect()
    }

    pub fn pending_lists(&self) -> Vec<String> {
        let mut pending: Vec<String> = self
            .listed
            .iter()
            .zip(&self.watched)
            .filter(|(listed, _)| !**listed)
            .map(|(_, w)| format!("{}.{}", w.resource.plural, w.resource.group))
            .collect();
        if !self.namespaces.listed {
            pending.push("namespaces".into());
        }
        if !self.services.listed {
            pending.push("services".into());
        }
        pending
    }

    /// Sends what this stream still lacks and the lists now allow: the full namespace and
    /// Service inventories, then the object inventory.
    /// A watch that cannot list (say RBAC forbids its kind) must not stop the rest: after
    /// [`INVENTORY_WAIT`] an incomplete inventory goes up, which lets pushes flow and deletes
    /// nothing in the MP, and the complete one follows when the lists are done.
    pub(super) fn send_inventories(&mut self) {
        if !self.leading || self.outbox.is_none() {
            return;
        }
        if self.namespaces.listed && !self.namespaces.sent {
            self.namespaces.sent = self.send_namespaces(true, self.namespaces.all(), Vec::new());
        }
        if self.services.listed && !self.services.sent {
            let all = self.services.items.values().cloned().collect();
            self.services.sent = self.send_services(true, all, Vec::new());
        }
        let listed = self.objects_listed();
        let due = match self.inventory {
            InventoryPhase::Unsent => {
                listed
                    || self
                        .stream_opened
                        .is_some_and(|at| at.elapsed() >= INVENTORY_WAIT)
            }
            InventoryPhase::Answered => listed && !self.inventory_complete,
            InventoryPhase::Pending(..) => false,
        };
        if !due {
            return;
        }
        if !listed {
            tracing::warn!(
                pending = ?self.pending_lists(),
                "watches have not listed within {INVENTORY_WAIT:?}; sending an incomplete inventory \
                 (the management plane deletes nothing on it)"
            );
        }
        self.send_inventory();
    }

    /// Applies one namespace event and tells the MP what changed: at once when the stream has
    /// the full list, else it is in the full list that follows.
    pub fn on_namespace(&mut self, event: NamespaceEvent) {
        match self.namespaces.apply(event) {
            Change::None => {}
            Change::Whole => self.send_inventories(),
            Change::Delta(upserts, removed) => {
                if self.namespaces.sent {
                    self.namespaces.sent = self.send_namespaces(false, upserts, removed);
                }
            }
        }
    }

    /// Applies one Service event and tells the MP what changed, like [`Self::on_namespace`].
    pub fn on_service(&mut self, event: ServiceEvent) {
        match self.services.apply(event) {
            Change::None => {}
            Change::Whole => self.send_inventories(),
            Change::Delta(upserts, removed) => {
                if self.services.sent {
                    let removed = removed.iter().map(ToString::to_string);
                    let upserts = upserts.into_iter().map(|(_, s)| s).collect();
                    self.services.sent = self.send_services(false, upserts, removed.collect());
                }
            }
        }
    }

    /// Sends a namespace inventory; false when it could not go (the MP's view is then behind
    /// until the full list on the next connect repairs it).
    pub(super) fn send_namespaces(
        &mut self,
        full: bool,
        upserts: Vec<(String, BTreeMap<String, String>)>,
        removed: Vec<String>,
    ) -> bool {
        let message = Up::Namespaces(v1::NamespaceInventory {
            complete: full && self.namespaces.listed,
            full,
            upserts: upserts
                .into_iter()
                .map(|(name, labels)| v1::Namespace {
                    name,
                    labels: labels.into_iter().collect(),
                })
                .collect(),
            removed,
        });
        self.send_list("namespace", message)
    }

    /// Sends a Service inventory, like [`Self::send_namespaces`].
    pub(super) fn send_services(
        &mut self,
        full: bool,
        upserts: Vec<v1::Service>,
        removed: Vec<String>,
    ) -> bool {
        let message = Up::Services(v1::ServiceInventory {
            complete: full && self.services.listed,
            full,
            upserts,
            removed,
        });
        self.send_list("service", message)
    }

    fn send_list(&mut self, what: &str, message: Up) -> bool {
        if !self.leading || self.outbox.is_none() {
            // The full list goes up on the next connect.
            return false;
        }
        let sent = self.send(message);
        if !sent {
            tracing::warn!("{what} inventory not sent; it is re-sent on reconnect");
        }
        sent
    }

    pub(super) fn send_inventory(&mut self) {
        let mut items: Vec<v1::InventoryItem> = Vec::new();
        for tracked in self.objects.values() {
            if let Some(fqn) = tracked.fqn() {
                items.push(v1::InventoryItem {
                    fqn,
                    content_hash: tracked.hash().unwrap_or_default().to_string(),
                });
            }
        }
        // Deletes still inside their grace are not gone yet.
        items.extend(self.pending_deletes.values().map(|p| v1::InventoryItem {
            fqn: p.fqn.clone(),
            content_hash: p.hash.clone(),
        }));
        let id = self.work.next_id();
        let sent: HashMap<String, String> = items
            .iter()
            .map(|i| (i.fqn.clone(), i.content_hash.clone()))
            .collect();
        let chunks: Vec<Vec<v1::InventoryItem>> = if items.is_empty() {
            vec![Vec::new()]
        } else {
            items.chunks(INVENTORY_CHUNK).map(<[_]>::to_vec).collect()
        };
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let last = i + 1 == count;
            let message = Up::Inventory(v1::InventoryChunk {
                inventory_id: id.0,
                items: chunk,
                last,
                complete: last && self.objects_listed(),
            });
            if !self.send(message) {
                tracing::warn!("inventory not sent: the stream is full or closed");
                return;
            }
        }
        self.inventory_complete = self.objects_listed();
        tracing::info!(
            items = sent.len(),
            complete = self.inventory_complete,
            "inventory sent"
        );
        self.inventory = InventoryPhase::Pending(id, sent);
        if !self.settings.resync_interval.is_zero() {
            self.next_resync = Some(Instant::now() + self.settings.resync_interval);
        }
    }

    pub(super) fn on_inventory(&mut self, result: v1::InventoryResult) {
        let sent = match std::mem::take(&mut self.inventory) {
            InventoryPhase::Pending(id, sent) if id.0 == result.inventory_id => sent,
            other => {
                self.inventory = other;
                return;
            }
        };
        self.inventory = InventoryPhase::Answered;
        for item in &result.items {
            let Some(key) = self.by_fqn.get(&item.fqn).cloned() else {
                continue;
            };
            let Some(tracked) = self.objects.get_mut(&key) else {
                continue;
            };
            let sent_hash = sent.get(&item.fqn).cloned().unwrap_or_default();
            if item.current && !sent_hash.is_empty() {
                let state = tracked.accepted(&item.fqn, &item.etag, item.state.as_ref());
                tracked.answered = Some((sent_hash, state));
            } else if tracked
                .answered
                .as_ref()
                .is_some_and(|(_, s)| matches!(s, PushState::Accepted(_)))
            {
                // The MP lost or changed it: push again.
                tracked.answered = None;
            }
        }
        if !result.deleted.is_empty() {
            tracing::info!(deleted = ?result.deleted, "the MP removed objects this cluster no longer has");
        }
        self.metrics
            .held
            .set(i64::try_from(result.held.len()).unwrap_or(i64::MAX));
        if !result.held.is_empty() {
            tracing::warn!(held = result.held.len(), message = %result.held_message, "deletions held");
        }
        self.mark_all_dirty();
        // An incomplete inventory is followed by the complete one once the lists are done.
        self.send_inventories();
    }
}
