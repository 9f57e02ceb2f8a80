//! The status the reconciler writes on each CR: decided from the MP's answer and the object,
//! written only when it changes, interim statuses held back briefly, Events on transitions.

use std::collections::HashMap;

use tokio::time::{Duration, Instant};

use super::{Conv, ObjectKey, Reconciler, WRITE_RETRY, now_text};
use crate::agent::status::{StatusWrite, Transition, WriteFailed};
use crate::model::status::{
    Condition, ConditionStatus, ConditionType, CrStatus, Reason, desired_status,
};

/// How long an interim status ("accepted, not yet applied in every target cluster") waits
/// before it is written. Clusters usually apply within tens of milliseconds, and then the final
/// status replaces it: one status write per change instead of one per acknowledging cluster,
/// and no Propagated Pending/Applied event pair. Well inside the 2 s freshness target (R-A4).
const STATUS_HOLD: Duration = Duration::from_millis(400);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StatusHold {
    /// Nothing held.
    None,
    /// An interim status is held until then.
    Until(Instant),
    /// Held long enough: interim statuses are written from now on.
    Expired,
}

/// A state that usually lasts only until the target clusters acknowledge.
fn is_interim(status: &CrStatus) -> bool {
    condition_of(Some(status), ConditionType::Propagated)
        .is_some_and(|c| c.status == ConditionStatus::False && c.reason == Reason::Pending)
}

pub(super) fn condition_of(status: Option<&CrStatus>, type_: ConditionType) -> Option<&Condition> {
    status?.conditions.iter().find(|c| c.type_ == type_)
}

pub(super) fn ready_of(status: Option<&CrStatus>) -> Option<(ConditionStatus, Reason)> {
    status?
        .conditions
        .iter()
        .find(|c| c.type_ == ConditionType::Ready)
        .map(|c| (c.status, c.reason))
}

impl Reconciler {
    pub(super) fn write_status(&mut self, key: &ObjectKey) {
        let Some(tracked) = self.objects.get(key) else {
            return;
        };
        let Some(state) = self.push_state(tracked) else {
            return;
        };
        let watched = &self.watched[key.kind];
        let observed = tracked.observed_status();
        let previous = tracked.sent_status.clone().or(observed);
        let mut findings = match &tracked.conv {
            Conv::Valid { findings, .. } => findings.clone(),
            _ => Vec::new(),
        };
        findings.extend(tracked.translation.iter().cloned());
        let desired = desired_status(
            &state,
            tracked.generation,
            previous.as_ref(),
            &findings,
            &now_text(),
        );
        if previous.as_ref() == Some(&desired) {
            return;
        }
        let hold = match (is_interim(&desired), tracked.status_hold) {
            (false, _) => StatusHold::None,
            (true, StatusHold::None) => StatusHold::Until(Instant::now() + STATUS_HOLD),
            (true, held) => held,
        };
        let uid = tracked.object.metadata.uid.clone();
        if let Some(t) = self.objects.get_mut(key) {
            t.status_hold = hold;
        }
        if matches!(hold, StatusHold::Until(_)) {
            return;
        }
        // Events on transitions of Ready, else of Propagated (a cluster applying or refusing
        // the generated objects), never on unchanged conditions. When both moved in one write
        // (an interim status was held), a bad turn wins: "Errored" matters more than
        // "Accepted".
        let transitions: Vec<&Condition> = [ConditionType::Ready, ConditionType::Propagated]
            .into_iter()
            .filter_map(|type_| {
                let before = condition_of(previous.as_ref(), type_);
                let after = condition_of(Some(&desired), type_);
                (before.map(|c| (c.status, c.reason)) != after.map(|c| (c.status, c.reason)))
                    .then_some(after)
                    .flatten()
            })
            .collect();
        let event = transitions
            .iter()
            .find(|c| c.status != ConditionStatus::True)
            .or(transitions.first())
            .map(|condition| Transition {
                warning: condition.status != ConditionStatus::True,
                reason: condition.reason.as_str().to_string(),
                note: condition.message.clone(),
            });
        let has_status = watched.has_our_status();
        if !has_status && event.is_none() {
            return;
        }
        let write = StatusWrite {
            key: key.clone(),
            resource: watched.resource.clone(),
            uid,
            status: has_status.then(|| desired.clone()),
            event,
        };
        let queued = self.status_writes.send(write);
        if let Some(t) = self.objects.get_mut(key) {
            if queued {
                t.sent_status = Some(desired);
            } else {
                // The writer is behind: write it again a little later.
                t.retry_at = Some(Instant::now() + WRITE_RETRY);
            }
        }
    }

    /// A status write failed: forget what was sent so the next flush writes again.
    pub fn on_write_failed(&mut self, failed: &WriteFailed) {
        if let Some(t) = self.objects.get_mut(&failed.key) {
            t.sent_status = None;
            t.retry_at = Some(Instant::now() + WRITE_RETRY);
        }
    }

    /// CR counts by Ready state, for the metrics.
    pub fn update_gauges(&self) {
        let mut counts: HashMap<&'static str, i64> = HashMap::new();
        for tracked in self.objects.values() {
            if matches!(tracked.conv, Conv::Ignored) {
                continue;
            }
            let status = tracked
                .sent_status
                .clone()
                .or_else(|| tracked.observed_status());
            let state = match status.as_ref().map(|s| {
                (
                    ready_of(Some(s)),
                    s.conditions.iter().any(|c| {
                        c.type_ == ConditionType::Stalled && c.status == ConditionStatus::True
                    }),
                )
            }) {
                Some((Some((ConditionStatus::True, _)), _)) => "ready",
                Some((_, true)) => "stalled",
                Some((Some(_), false)) => "reconciling",
                _ => "unprocessed",
            };
            *counts.entry(state).or_default() += 1;
        }
        for state in ["ready", "reconciling", "stalled", "unprocessed"] {
            self.metrics
                .crs
                .get_or_create(&vec![("state".to_string(), state.to_string())])
                .set(counts.get(state).copied().unwrap_or(0));
        }
    }
}
