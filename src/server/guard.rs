//! The mass-deletion guard (gitops-contract.md R-E1, B-8): an inventory diff that would delete
//! more than a configured share of the objects a cluster originated is held until an admin
//! confirms it (`tsbridge ctl cluster confirm-deletions NAME`).
//!
//! Held diffs live in the store, so whichever replica an admin reaches confirms them, and a
//! replica that restarts or takes the cluster over finds them (the agent also sends its
//! inventory again on every reconnect and resync, which holds or releases them afresh).

use clap::Args;

use crate::store::Store;

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

/// Held deletions per cluster, in the store.
#[derive(Debug, Clone)]
pub struct DeletionGuard {
    share: f64,
    min: usize,
    store: Store,
}

pub use crate::model::guard::exceeds;

impl DeletionGuard {
    /// A guard with these settings over `store`.
    pub fn new(args: &GuardArgs, store: Store) -> DeletionGuard {
        DeletionGuard {
            share: args.deletion_guard_share,
            min: args.deletion_guard_min,
            store,
        }
    }

    /// Holds `gone` when it is too large a share of `originated`, returning why; `None` means
    /// the deletes may proceed (and clears any older hold).
    pub async fn hold(
        &self,
        cluster: &str,
        gone: &[String],
        originated: usize,
    ) -> Result<Option<String>, crate::store::Error> {
        if !exceeds(gone.len(), originated, self.share, self.min) {
            self.release(cluster).await?;
            return Ok(None);
        }
        self.store.hold_deletions(cluster, gone).await?;
        Ok(Some(format!(
            "DeletionHeld: the inventory of cluster {cluster} would delete {} of the {originated} \
             objects it originated, over the mass-deletion limit of {:.0}% \
             (--deletion-guard-share); if that is intended, run `tsbridge ctl cluster \
             confirm-deletions {cluster}`",
            gone.len(),
            self.share * 100.0
        )))
    }

    /// Drops a cluster's hold (its inventory no longer asks for those deletes).
    pub async fn release(&self, cluster: &str) -> Result<(), crate::store::Error> {
        self.store.take_deletions(cluster).await.map(drop)
    }

    /// Takes a cluster's held deletions for execution (once, whichever replica asks).
    pub async fn take(&self, cluster: &str) -> Result<Option<Vec<String>>, crate::store::Error> {
        self.store.take_deletions(cluster).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hold_is_kept_until_taken_or_released() {
        let store = Store::connect("sqlite::memory:").await.expect("store");
        let guard = DeletionGuard::new(
            &GuardArgs {
                deletion_guard_share: 0.5,
                deletion_guard_min: 1,
            },
            store.clone(),
        );
        let gone = vec!["a".to_string(), "b".to_string()];
        let message = guard.hold("east", &gone, 2).await.unwrap().expect("held");
        assert!(message.contains("2 of the 2") && message.contains("confirm-deletions east"));
        // Another replica (another guard on the same store) takes it, once.
        let other = DeletionGuard::new(
            &GuardArgs {
                deletion_guard_share: 0.5,
                deletion_guard_min: 1,
            },
            store,
        );
        assert_eq!(other.take("east").await.unwrap(), Some(gone.clone()));
        assert_eq!(guard.take("east").await.unwrap(), None);
        assert!(guard.hold("east", &gone[..1], 4).await.unwrap().is_none());
        guard
            .hold("east", &gone, 2)
            .await
            .unwrap()
            .expect("held again");
        guard.release("east").await.unwrap();
        assert_eq!(guard.take("east").await.unwrap(), None);
    }
}
