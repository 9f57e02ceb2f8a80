//! The delivery ledger as distribution feeds it: rows made from acknowledgements and drift
//! reports wait here (bounded) until the store writer takes them, and a retention task keeps
//! the table within its age and row limits (docs/ledger.md).

use std::collections::VecDeque;
use std::time::Duration;

use crate::store::{LedgerEntry, Outcome};

use super::link::Delivered;

/// `--ledger-*` flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerSettings {
    /// Off: nothing is recorded (the tables stay).
    pub enabled: bool,
    /// Rows acknowledged longer ago are deleted.
    pub max_age: Duration,
    /// The newest rows kept beyond that.
    pub max_rows: u64,
}

impl Default for LedgerSettings {
    fn default() -> LedgerSettings {
        LedgerSettings {
            enabled: true,
            max_age: Duration::from_secs(30 * 24 * 3600),
            max_rows: 10_000_000,
        }
    }
}

/// Rows waiting for the store; the oldest go first when a long store outage fills it.
pub(super) const QUEUE_LIMIT: usize = 100_000;

/// How often retention runs.
pub(super) const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// Rows for the store, in the order they were learned.
#[derive(Debug, Default)]
pub(super) struct Queue {
    rows: VecDeque<LedgerEntry>,
    /// Rows dropped because the queue was full (counted in the metrics by the caller).
    pub dropped: u64,
}

impl Queue {
    pub fn push(&mut self, row: LedgerEntry) {
        if self.rows.len() >= QUEUE_LIMIT {
            self.rows.pop_front();
            self.dropped += 1;
        }
        self.rows.push_back(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// At most `limit` rows, oldest first.
    pub fn take(&mut self, limit: usize) -> Vec<LedgerEntry> {
        let n = limit.min(self.rows.len());
        self.rows.drain(..n).collect()
    }

    /// Rows a failed write gives back, ahead of newer ones.
    pub fn restore(&mut self, rows: Vec<LedgerEntry>) {
        for row in rows.into_iter().rev() {
            if self.rows.len() >= QUEUE_LIMIT {
                self.dropped += 1;
                continue;
            }
            self.rows.push_front(row);
        }
    }
}

/// The ledger row of what became of one source in `cluster`, acknowledged at `acked_us`.
pub(super) fn row(cluster: &str, delivered: Delivered, acked_us: i64) -> LedgerEntry {
    LedgerEntry {
        id: 0,
        fqn: delivered.source.to_string(),
        cluster: cluster.to_string(),
        revision: i64::try_from(delivered.revision).unwrap_or(i64::MAX),
        change: delivered.change,
        outcome: delivered.outcome,
        message: delivered.message,
        rollback: false,
        committed_us: 0,
        sent_us: delivered.sent_us,
        acked_us,
    }
}

/// The row of a generated object `cluster`'s agent put back after someone changed or deleted
/// it, for its `source` at the cluster's current `revision`.
pub(super) fn reverted(
    cluster: &str,
    source: &str,
    revision: u64,
    what: &str,
    now_us: i64,
) -> LedgerEntry {
    LedgerEntry {
        id: 0,
        fqn: source.to_string(),
        cluster: cluster.to_string(),
        revision: i64::try_from(revision).unwrap_or(i64::MAX),
        change: 0,
        outcome: Outcome::Reverted,
        message: what.to_string(),
        rollback: false,
        committed_us: 0,
        sent_us: now_us,
        acked_us: now_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fqn: &str) -> LedgerEntry {
        reverted("c1", fqn, 1, "", 0)
    }

    #[test]
    fn a_full_queue_drops_its_oldest_rows_and_counts_them() {
        let mut queue = Queue::default();
        for n in 0..QUEUE_LIMIT + 2 {
            queue.push(entry(&n.to_string()));
        }
        assert_eq!(queue.dropped, 2);
        let first = queue.take(1);
        assert_eq!(first[0].fqn, "2");
        // A failed write puts its rows back first.
        queue.restore(first);
        assert_eq!(queue.take(1)[0].fqn, "2");
    }
}
