//! The agent's metrics on the admin port (`/metrics`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(String, String)>;

/// Handles to every agent metric.
#[derive(Debug, Clone)]
pub struct AgentMetrics {
    /// CRs by Ready state (`ready`, `reconciling`, `stalled`, `unprocessed`).
    pub crs: Family<Labels, Gauge>,
    /// MP answers by outcome and gRPC code.
    pub results: Family<Labels, Counter>,
    /// Push round trip, seconds.
    pub push_seconds: Histogram,
    /// Deletions the MP holds for this cluster.
    pub held: Gauge,
    /// Generated objects edited or deleted in the cluster and put back.
    pub drift_reverted: Counter,
    /// Generated objects a full resync would have pruned, kept by the mass-prune guard.
    pub prune_held: Gauge,
    /// 1 for the management-plane address the sync stream is open to, 0 for the others.
    pub upstream_connected: Family<Labels, Gauge>,
    /// Messages a full queue refused, by queue.
    pub queue_full: Family<Labels, Counter>,
    /// Sync streams ended because they stopped moving, by address.
    pub upstream_stalls: Family<Labels, Counter>,
    /// Sync streams opened after an earlier one ended, by address.
    pub upstream_reconnects: Family<Labels, Counter>,
    /// 1 while `/ready` reports a reason, by reason.
    pub not_ready: Family<Labels, Gauge>,
}

impl AgentMetrics {
    /// Registers every metric under `tsbridge_agent_`.
    pub fn register(registry: &mut Registry) -> AgentMetrics {
        let metrics = AgentMetrics {
            crs: Family::default(),
            results: Family::default(),
            push_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            held: Gauge::default(),
            drift_reverted: Counter::default(),
            prune_held: Gauge::default(),
            upstream_connected: Family::default(),
            queue_full: Family::default(),
            upstream_stalls: Family::default(),
            upstream_reconnects: Family::default(),
            not_ready: Family::default(),
        };
        let sub = registry.sub_registry_with_prefix("tsbridge_agent");
        sub.register(
            "crs",
            "Custom resources by Ready state",
            metrics.crs.clone(),
        );
        sub.register(
            "mp_results",
            "Management-plane answers to pushes and removals, by outcome and code",
            metrics.results.clone(),
        );
        sub.register(
            "push_seconds",
            "Time from a push to the management plane's answer",
            metrics.push_seconds.clone(),
        );
        sub.register(
            "deletions_held",
            "Deletions the management plane holds for confirmation",
            metrics.held.clone(),
        );
        sub.register(
            "drift_reverted",
            "Generated objects edited or deleted in the cluster and put back",
            metrics.drift_reverted.clone(),
        );
        sub.register(
            "prune_held",
            "Generated objects a full resync would prune, kept until an admin confirms",
            metrics.prune_held.clone(),
        );
        sub.register(
            "upstream_connected",
            "1 for the management-plane address (--server) the sync stream is open to, else 0",
            metrics.upstream_connected.clone(),
        );
        sub.register(
            "queue_full",
            "Messages refused because their queue was full (status: a status write retried \
             later; outbox: a message to the management plane, re-sent or repaired by the next \
             inventory)",
            metrics.queue_full.clone(),
        );
        sub.register(
            "upstream_stalls",
            "Sync streams to a management-plane address ended because nothing moved within \
             --keepalive-interval + --keepalive-timeout (heartbeat or HTTP/2 PING)",
            metrics.upstream_stalls.clone(),
        );
        sub.register(
            "not_ready",
            "1 while /ready reports this reason (it names the fix; see docs/agent.md, \
             Readiness), else 0",
            metrics.not_ready.clone(),
        );
        for reason in crate::agent::readiness::REASONS {
            metrics.reason(reason, false);
        }
        sub.register(
            "upstream_reconnects",
            "Sync streams opened to a management-plane address after an earlier stream ended",
            metrics.upstream_reconnects.clone(),
        );
        metrics
    }

    fn server(server: &str) -> Labels {
        vec![("server".to_string(), server.to_string())]
    }

    /// Says whether `/ready` reports `reason`.
    pub fn reason(&self, reason: &str, holds: bool) {
        self.not_ready
            .get_or_create(&vec![("reason".to_string(), reason.to_string())])
            .set(i64::from(holds));
    }

    /// Counts one stream to `server` that stalled.
    pub fn stalled(&self, server: &str) {
        self.upstream_stalls
            .get_or_create(&Self::server(server))
            .inc();
    }

    /// Counts one stream to `server` opened after an earlier one.
    pub fn reconnected(&self, server: &str) {
        self.upstream_reconnects
            .get_or_create(&Self::server(server))
            .inc();
    }

    /// Counts one message refused by a full `queue`.
    pub fn queue_full(&self, queue: &'static str) {
        self.queue_full
            .get_or_create(&vec![("queue".to_string(), queue.to_string())])
            .inc();
    }

    /// Says whether the stream to `server` is open.
    pub fn upstream(&self, server: &str, connected: bool) {
        self.upstream_connected
            .get_or_create(&Self::server(server))
            .set(i64::from(connected));
        // Both counters exist from the first connect, so `rate()` sees their first increase.
        let _ = self.upstream_stalls.get_or_create(&Self::server(server));
        let _ = self
            .upstream_reconnects
            .get_or_create(&Self::server(server));
    }

    /// Counts one answer.
    pub fn result(&self, accepted: bool, code: &str) {
        let outcome = if accepted { "accepted" } else { "rejected" };
        let code = if code.is_empty() { "OK" } else { code };
        self.results
            .get_or_create(&vec![
                ("outcome".to_string(), outcome.to_string()),
                ("code".to_string(), code.to_string()),
            ])
            .inc();
    }
}
