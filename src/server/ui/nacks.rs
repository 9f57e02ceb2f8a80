//! The latest NACK reason of each (object, cluster), as this replica's agents reported them.
//!
//! The console takes a NACK's reason from the delivery ledger (its failed rows keep it in the
//! store, for every replica and across restarts). This memory is the fallback when the ledger
//! is off (`--ledger false`) or has not written the row yet: only the replica serving the
//! cluster knows it, and only until it restarts.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::proto::v1;

/// Most reasons kept; the oldest goes first.
const MAX_REASONS: usize = 10_000;

/// One NACK reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nack {
    /// The agent's message for the failed object(s) of this source.
    pub message: String,
    /// The distribution revision it refused.
    pub revision: u64,
    /// When this replica received it (RFC 3339).
    pub time: String,
}

#[derive(Debug, Default)]
struct Reasons {
    by_edge: BTreeMap<(String, String), Nack>,
    order: VecDeque<(String, String)>,
}

/// See the module docs. Cheap to clone; clones share one log.
#[derive(Debug, Clone, Default)]
pub struct NackLog {
    inner: Arc<Mutex<Reasons>>,
}

impl NackLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Reasons> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the errors of `cluster`'s acknowledgement (refusals marked `ignored` are not
    /// errors of the object).
    pub fn record(&self, cluster: &str, ack: &v1::Ack) {
        if ack.errors.iter().all(|e| e.ignored) {
            return;
        }
        let time = crate::server::engine::now();
        let mut reasons = self.lock();
        for error in ack.errors.iter().filter(|e| !e.ignored) {
            let key = (error.source_fqn.clone(), cluster.to_string());
            let object = error.key.as_ref().map_or_else(String::new, |k| {
                format!("{} {}/{}: ", k.kind, k.namespace, k.name)
            });
            let message = format!("{object}{}", error.message);
            let nack = Nack {
                message,
                revision: ack.revision,
                time: time.clone(),
            };
            if reasons.by_edge.insert(key.clone(), nack).is_none() {
                reasons.order.push_back(key);
            }
        }
        while reasons.order.len() > MAX_REASONS {
            if let Some(oldest) = reasons.order.pop_front() {
                reasons.by_edge.remove(&oldest);
            }
        }
    }

    /// The last reason `cluster` gave for refusing `fqn`, if this replica received one.
    pub fn reason(&self, fqn: &str, cluster: &str) -> Option<Nack> {
        self.lock()
            .by_edge
            .get(&(fqn.to_string(), cluster.to_string()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(source: &str, message: &str, ignored: bool) -> v1::ObjectError {
        v1::ObjectError {
            key: Some(v1::ObjectKey {
                api_version: "networking.istio.io/v1".into(),
                kind: "VirtualService".into(),
                namespace: "ns".into(),
                name: "reviews".into(),
            }),
            source_fqn: source.into(),
            message: message.into(),
            ignored,
        }
    }

    #[test]
    fn a_nack_reason_is_kept_per_object_and_cluster_and_ignored_refusals_are_not() {
        let log = NackLog::default();
        let ack = v1::Ack {
            revision: 7,
            errors: vec![
                error("organizations/acme/x", "denied by policy", false),
                error("organizations/acme/y", "kind not served", true),
            ],
            ..Default::default()
        };
        log.record("b", &ack);
        let nack = log.reason("organizations/acme/x", "b").expect("recorded");
        assert_eq!(nack.revision, 7);
        assert_eq!(nack.message, "VirtualService ns/reviews: denied by policy");
        assert_eq!(log.reason("organizations/acme/x", "a"), None);
        assert_eq!(log.reason("organizations/acme/y", "b"), None);
    }

    #[test]
    fn the_log_is_bounded() {
        let log = NackLog::default();
        for i in 0..MAX_REASONS + 5 {
            let ack = v1::Ack {
                revision: 1,
                errors: vec![error(&format!("organizations/acme/o{i}"), "no", false)],
                ..Default::default()
            };
            log.record("c", &ack);
        }
        assert_eq!(log.reason("organizations/acme/o0", "c"), None);
        assert!(
            log.reason(&format!("organizations/acme/o{MAX_REASONS}"), "c")
                .is_some()
        );
        assert_eq!(log.lock().by_edge.len(), MAX_REASONS);
    }
}
