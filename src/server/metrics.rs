//! The management plane's metrics on the admin port (`/metrics`), every one documented in
//! `docs/metrics.md` (a test keeps the two in step).
//!
//! One [`Metrics`] per process, cheap to clone: the engine's writer records store commits, the
//! distributor and the sync service record agents, deltas and translations through its
//! methods. The engine hands it out ([`crate::server::engine::Engine::metrics`]).

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::server::limits::RateLimiter;

/// The prefix of every management-plane metric.
pub const PREFIX: &str = "tsbridge_server";

/// The label of per-cluster metrics: the registered cluster name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ClusterLabel {
    /// The cluster, as registered (`ctl cluster create NAME`).
    pub cluster: String,
}

fn label(cluster: &str) -> ClusterLabel {
    ClusterLabel {
        cluster: cluster.to_string(),
    }
}

/// Handles to every management-plane metric. Clones share them.
#[derive(Debug, Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    connected_agents: Gauge,
    lag: Family<ClusterLabel, Gauge>,
    deltas_sent: Family<ClusterLabel, Counter>,
    deltas_acked: Family<ClusterLabel, Counter>,
    deltas_nacked: Family<ClusterLabel, Counter>,
    objects_sent: Counter,
    queue_depth: Family<ClusterLabel, Gauge>,
    queue_overflows: Family<ClusterLabel, Counter>,
    translation: Histogram,
    commit: Histogram,
    stalls: Family<ClusterLabel, Counter>,
    reconnects: Family<ClusterLabel, Counter>,
    /// Clusters that have opened a stream on this replica (the next one is a reconnect).
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// What `docs/metrics.md` says about one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDoc {
    /// The name as exposed, with the prefix (and `_total` for counters).
    pub name: &'static str,
    /// `gauge`, `counter` or `histogram`.
    pub kind: &'static str,
    /// Label names, comma-separated; empty for none.
    pub labels: &'static str,
    /// What it measures (also the registered help text).
    pub help: &'static str,
}

/// Every management-plane metric, in the order `docs/metrics.md` lists them.
pub const DOCS: [MetricDoc; 14] = [
    MetricDoc {
        name: "tsbridge_server_connected_agents",
        kind: "gauge",
        labels: "",
        help: "Agent sync streams open on this replica",
    },
    MetricDoc {
        name: "tsbridge_server_cluster_lag_revisions",
        kind: "gauge",
        labels: "cluster",
        help: "Revisions sent to a cluster and not yet acknowledged by its agent",
    },
    MetricDoc {
        name: "tsbridge_server_deltas_sent_total",
        kind: "counter",
        labels: "cluster",
        help: "Deltas (revisions) sent to a cluster's agent",
    },
    MetricDoc {
        name: "tsbridge_server_deltas_acked_total",
        kind: "counter",
        labels: "cluster",
        help: "Deltas a cluster's agent acknowledged with every object applied",
    },
    MetricDoc {
        name: "tsbridge_server_deltas_nacked_total",
        kind: "counter",
        labels: "cluster",
        help: "Deltas a cluster's agent acknowledged with errors (NACK)",
    },
    MetricDoc {
        name: "tsbridge_server_objects_sent_total",
        kind: "counter",
        labels: "",
        help: "Generated objects sent to agents, upserts and removals",
    },
    MetricDoc {
        name: "tsbridge_server_queue_depth",
        kind: "gauge",
        labels: "cluster",
        help: "Deltas waiting in a cluster's queue in front of its stream",
    },
    MetricDoc {
        name: "tsbridge_server_queue_overflows_total",
        kind: "counter",
        labels: "cluster",
        help: "Streams ended because their queue reached its limit (the agent reconnects and resumes)",
    },
    MetricDoc {
        name: "tsbridge_server_translation_seconds",
        kind: "histogram",
        labels: "",
        help: "Time to translate what a change or a connect affects, seconds",
    },
    MetricDoc {
        name: "tsbridge_server_store_commit_seconds",
        kind: "histogram",
        labels: "",
        help: "Time of one store commit of the writer (applies, deletes, audit rows), seconds",
    },
    MetricDoc {
        name: "tsbridge_server_agent_stalls_total",
        kind: "counter",
        labels: "cluster",
        help: "Agent sync streams closed because nothing moved within the agent's heartbeat \
               interval + --keepalive-timeout, or an HTTP/2 PING went unanswered",
    },
    MetricDoc {
        name: "tsbridge_server_agent_reconnects_total",
        kind: "counter",
        labels: "cluster",
        help: "Agent sync streams a cluster opened on this replica after its first",
    },
    MetricDoc {
        name: "tsbridge_server_rate_limited_requests_total",
        kind: "counter",
        labels: "",
        help: "Requests refused by --rate-limit-per-identity (only with that flag)",
    },
    MetricDoc {
        name: "tsbridge_server_rate_paced_messages_total",
        kind: "counter",
        labels: "",
        help: "Agent stream messages held back to keep --rate-limit-per-identity (only with that flag)",
    },
];

/// The registered name and help of the metric exposed as `exposed`.
fn named(exposed: &str) -> (&'static str, &'static str) {
    let doc = DOCS
        .iter()
        .find(|d| d.name == exposed)
        .unwrap_or_else(|| panic!("{exposed} is in DOCS"));
    let name = &doc.name[PREFIX.len() + 1..];
    (name.strip_suffix("_total").unwrap_or(name), doc.help)
}

impl Metrics {
    /// Metrics that are recorded but exported nowhere (tests, benchmarks, an engine built
    /// without a server).
    pub fn unregistered() -> Metrics {
        Metrics {
            inner: Arc::new(Inner {
                connected_agents: Gauge::default(),
                lag: Family::default(),
                deltas_sent: Family::default(),
                deltas_acked: Family::default(),
                deltas_nacked: Family::default(),
                objects_sent: Counter::default(),
                queue_depth: Family::default(),
                queue_overflows: Family::default(),
                // 100 µs … ~3 s.
                translation: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
                // 500 µs … ~16 s: a PostgreSQL commit across a network is milliseconds.
                commit: Histogram::new(exponential_buckets(0.000_5, 2.0, 16)),
                stalls: Family::default(),
                reconnects: Family::default(),
                seen: std::sync::Mutex::default(),
            }),
        }
    }

    /// Registers every metric under `tsbridge_server_`, the rate limiter's refusals too when
    /// there is a limiter.
    pub fn register(registry: &mut Registry, limiter: Option<&RateLimiter>) -> Metrics {
        let metrics = Metrics::unregistered();
        let m = &metrics.inner;
        let sub = registry.sub_registry_with_prefix(PREFIX);
        // Each metric by its row of DOCS: the name and help text come from there.
        macro_rules! add {
            ($row:expr, $metric:expr) => {{
                let (name, help) = named(DOCS[$row].name);
                sub.register(name, help, $metric.clone());
            }};
        }
        add!(0, m.connected_agents);
        add!(1, m.lag);
        add!(2, m.deltas_sent);
        add!(3, m.deltas_acked);
        add!(4, m.deltas_nacked);
        add!(5, m.objects_sent);
        add!(6, m.queue_depth);
        add!(7, m.queue_overflows);
        add!(8, m.translation);
        add!(9, m.commit);
        add!(10, m.stalls);
        add!(11, m.reconnects);
        if let Some(limiter) = limiter {
            add!(12, limiter.refused());
            add!(13, limiter.paced());
        }
        metrics
    }

    /// An agent of `cluster` opened its sync stream here.
    pub fn connected(&self, cluster: &str) {
        let again = !self
            .inner
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(cluster.to_string());
        let cluster = label(cluster);
        self.inner.connected_agents.inc();
        if again {
            self.inner.reconnects.get_or_create(&cluster).inc();
        }
        // A fresh stream starts level: what the old one had queued or in flight is gone.
        self.inner.lag.get_or_create(&cluster).set(0);
        self.inner.queue_depth.get_or_create(&cluster).set(0);
        // Every series of the cluster exists from the start, so `rate()` sees its first
        // increase and a scrape lists each per-cluster metric.
        for counter in [
            &self.inner.deltas_sent,
            &self.inner.deltas_acked,
            &self.inner.deltas_nacked,
            &self.inner.queue_overflows,
            &self.inner.stalls,
            &self.inner.reconnects,
        ] {
            let _ = counter.get_or_create(&cluster);
        }
    }

    /// That stream ended. Its cluster's gauges go away (a cluster served by another replica
    /// is that replica's to report); its counters stay.
    pub fn disconnected(&self, cluster: &str) {
        self.inner.connected_agents.dec();
        self.inner.lag.remove(&label(cluster));
        self.inner.queue_depth.remove(&label(cluster));
    }

    /// `cluster`'s stream was closed because it stopped moving.
    pub fn stalled(&self, cluster: &str) {
        self.inner.stalls.get_or_create(&label(cluster)).inc();
    }

    /// One delta (revision) of `objects` upserts and removals went to `cluster`'s stream.
    pub fn delta_sent(&self, cluster: &str, objects: usize) {
        self.inner.deltas_sent.get_or_create(&label(cluster)).inc();
        self.inner
            .objects_sent
            .inc_by(u64::try_from(objects).unwrap_or(u64::MAX));
    }

    /// `cluster`'s agent acknowledged a delta with every object applied; `behind` is how many
    /// revisions sent to it are still unacknowledged after this one.
    pub fn acked(&self, cluster: &str, behind: u64) {
        self.inner.deltas_acked.get_or_create(&label(cluster)).inc();
        self.lag(cluster, behind);
    }

    /// `cluster`'s agent acknowledged a delta with errors; `behind` as for [`Metrics::acked`].
    pub fn nacked(&self, cluster: &str, behind: u64) {
        self.inner
            .deltas_nacked
            .get_or_create(&label(cluster))
            .inc();
        self.lag(cluster, behind);
    }

    /// Sets how many revisions sent to `cluster` are unacknowledged (after a send, too).
    pub fn lag(&self, cluster: &str, behind: u64) {
        self.inner
            .lag
            .get_or_create(&label(cluster))
            .set(i64::try_from(behind).unwrap_or(i64::MAX));
    }

    /// `cluster`'s queue reached its limit: its stream ends.
    pub fn queue_overflow(&self, cluster: &str) {
        self.inner
            .queue_overflows
            .get_or_create(&label(cluster))
            .inc();
    }

    /// `depth` deltas wait in `cluster`'s queue in front of its stream.
    pub fn queue_depth(&self, cluster: &str, depth: usize) {
        self.inner
            .queue_depth
            .get_or_create(&label(cluster))
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// One translation (of a change, or of a cluster on connect) took `took`.
    pub fn translation(&self, took: Duration) {
        self.inner.translation.observe(took.as_secs_f64());
    }

    /// One store commit took `took`.
    pub fn commit(&self, took: Duration) {
        self.inner.commit.observe(took.as_secs_f64());
    }
}

/// The table `docs/metrics.md` shows between its markers.
pub fn markdown() -> String {
    let mut out = String::from("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n");
    for doc in DOCS {
        let labels = if doc.labels.is_empty() {
            "–".to_string()
        } else {
            format!("`{}`", doc.labels)
        };
        out.push_str(&format!(
            "| `{}` | {} | {labels} | {} |\n",
            doc.name, doc.kind, doc.help
        ));
    }
    out
}

#[cfg(test)]
mod tests;
