//! The mass-deletion guard (gitops-contract.md R-E1, B-8): an inventory diff that would delete
//! more than a configured share of the objects a cluster originated is held until an admin
//! confirms it (`tsbridge ctl cluster confirm-deletions NAME`).
//!
//! Held diffs live in the memory of the replica that serves the cluster's stream; the agent
//! sends its inventory again on every reconnect and resync, so a restarted replica rebuilds them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use clap::Args;

/// Guard settings.
#[derive(Debug, Clone, Args)]
pub struct GuardArgs {
    /// Hold an inventory diff that deletes more than this share (0–1) of the objects a cluster
    /// originated until it is confirmed; 0 turns the guard off.
    #[arg(long, env = "TSBRIDGE_DELETION_GUARD_SHARE", default_value_t = 0.5)]
    pub deletion_guard_share: f64,
    /// Diffs deleting fewer objects than this always proceed.
    #[arg(long, env = "TSBRIDGE_DELETION_GUARD_MIN", default_value_t = 5)]
    pub deletion_guard_min: usize,
}

/// Held deletions per cluster.
#[derive(Debug, Clone)]
pub struct DeletionGuard {
    share: f64,
    min: usize,
    held: Arc<Mutex<BTreeMap<String, Vec<String>>>>,
}

pub use crate::model::guard::exceeds;

impl DeletionGuard {
    /// A guard with these settings.
    pub fn new(args: &GuardArgs) -> DeletionGuard {
        DeletionGuard {
            share: args.deletion_guard_share,
            min: args.deletion_guard_min,
            held: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<String>>> {
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Holds `gone` when it is too large a share of `originated`, returning why; `None` means
    /// the deletes may proceed (and clears any older hold).
    pub fn hold(&self, cluster: &str, gone: &[String], originated: usize) -> Option<String> {
        if !exceeds(gone.len(), originated, self.share, self.min) {
            self.release(cluster);
            return None;
        }
        self.lock().insert(cluster.to_string(), gone.to_vec());
        Some(format!(
            "DeletionHeld: the inventory of cluster {cluster} would delete {} of the {originated} \
             objects it originated, over the mass-deletion limit of {:.0}% \
             (--deletion-guard-share); if that is intended, run `tsbridge ctl cluster \
             confirm-deletions {cluster}`",
            gone.len(),
            self.share * 100.0
        ))
    }

    /// Drops a cluster's hold (its inventory no longer asks for those deletes).
    pub fn release(&self, cluster: &str) {
        self.lock().remove(cluster);
    }

    /// Takes a cluster's held deletions for execution.
    pub fn take(&self, cluster: &str) -> Option<Vec<String>> {
        self.lock().remove(cluster)
    }

    /// Number of deletions held, over all clusters (a metric).
    pub fn held_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_is_kept_until_taken_or_released() {
        let guard = DeletionGuard::new(&GuardArgs {
            deletion_guard_share: 0.5,
            deletion_guard_min: 1,
        });
        let gone = vec!["a".to_string(), "b".to_string()];
        let message = guard.hold("east", &gone, 2).expect("held");
        assert!(message.contains("2 of the 2") && message.contains("confirm-deletions east"));
        assert_eq!(guard.held_count(), 2);
        assert_eq!(guard.take("east"), Some(gone.clone()));
        assert_eq!(guard.take("east"), None);
        assert!(guard.hold("east", &gone[..1], 4).is_none());
    }
}
