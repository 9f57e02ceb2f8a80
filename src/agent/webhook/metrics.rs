//! The webhook's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of the per-request metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// The request's kind (`Workspace`, `VirtualService`, …).
    pub kind: String,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: &'static str,
}

/// Counters and the latency histogram, shared by every connection (cheap to clone).
#[derive(Debug, Clone)]
pub struct WebhookMetrics {
    requests: Family<RequestLabels, Counter>,
    denials: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
    malformed: Counter,
}

impl WebhookMetrics {
    /// Registers the families under `webhook_` in `registry`.
    pub fn register(registry: &mut Registry) -> WebhookMetrics {
        let metrics = WebhookMetrics::unregistered();
        let registry = registry.sub_registry_with_prefix("webhook");
        registry.register(
            "requests",
            "Admission requests answered, by kind and operation",
            metrics.requests.clone(),
        );
        registry.register(
            "denials",
            "Admission requests denied, by kind and operation",
            metrics.denials.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from a decoded body to the encoded verdict",
            metrics.duration.clone(),
        );
        registry.register(
            "malformed_requests",
            "Bodies that were not an AdmissionReview request (HTTP 400)",
            metrics.malformed.clone(),
        );
        metrics
    }

    /// Metrics that are recorded but exported nowhere (tests, benchmarks).
    pub fn unregistered() -> WebhookMetrics {
        WebhookMetrics {
            requests: Family::default(),
            denials: Family::default(),
            // 50 µs … ~0.8 s: the target p99 is 5 ms (R-B4).
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 15))
            }),
            malformed: Counter::default(),
        }
    }

    /// Records one answered request.
    pub fn record(&self, labels: &RequestLabels, allowed: bool, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        if !allowed {
            self.denials.get_or_create(labels).inc();
        }
        self.duration.get_or_create(labels).observe(seconds);
    }

    /// Records a body that could not be decoded.
    pub fn record_malformed(&self) {
        self.malformed.inc();
    }

    /// Requests answered so far for `labels` (tests read it).
    pub fn requests(&self, labels: &RequestLabels) -> u64 {
        self.requests.get_or_create(labels).get()
    }

    /// Denials so far for `labels`.
    pub fn denials(&self, labels: &RequestLabels) -> u64 {
        self.denials.get_or_create(labels).get()
    }

    /// Malformed bodies so far.
    pub fn malformed(&self) -> u64 {
        self.malformed.get()
    }
}
