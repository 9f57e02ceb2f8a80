//! The registered metrics are exactly the documented ones, and the methods move them.

use std::collections::BTreeSet;

use super::*;

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
    text
}

/// Label names of the first sample of `name` (a histogram's `_count`), `le` left out.
fn labels_of(text: &str, name: &str) -> Option<String> {
    let line = text.lines().find(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix("_count").or(Some(rest)))
            .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
    })?;
    let inside = line.split_once('{').and_then(|(_, r)| r.split_once('}'));
    let names: Vec<&str> = inside
        .map(|(labels, _)| labels.split(',').filter_map(|l| l.split_once('=')))
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .filter(|k| *k != "le")
        .collect();
    Some(names.join(","))
}

/// Every method once, for cluster `eu-1`, so every family has a sample.
fn exercise(metrics: &Metrics) {
    metrics.connected("eu-1");
    metrics.delta_sent("eu-1", 3);
    metrics.lag("eu-1", 2);
    metrics.acked("eu-1", 1);
    metrics.nacked("eu-1", 0);
    metrics.queue_depth("eu-1", 4);
    metrics.translation(Duration::from_millis(2));
    metrics.commit(Duration::from_millis(5));
    metrics.stalled("eu-1");
}

#[test]
fn the_registry_holds_exactly_the_documented_metrics_with_their_labels() {
    let mut registry = Registry::default();
    let limiter = RateLimiter::new(10, 10).expect("a limiter");
    let metrics = Metrics::register(&mut registry, Some(&limiter));
    exercise(&metrics);
    let text = encode(&registry);
    let registered: BTreeSet<(String, String)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| {
            let exposed = if kind == "counter" {
                format!("{name}_total")
            } else {
                name.to_string()
            };
            (exposed, kind.to_string())
        })
        .collect();
    let documented: BTreeSet<(String, String)> = DOCS
        .iter()
        .map(|d| (d.name.to_string(), d.kind.to_string()))
        .collect();
    assert_eq!(registered, documented, "{text}");
    for doc in DOCS {
        assert_eq!(
            labels_of(&text, doc.name).as_deref(),
            Some(doc.labels),
            "labels of {}: {text}",
            doc.name
        );
        assert!(
            text.contains(&format!(
                "# HELP {} {}.",
                doc.name.trim_end_matches("_total"),
                doc.help
            )),
            "help of {}: {text}",
            doc.name
        );
    }
    // Without a limiter its counter is not there.
    let mut plain = Registry::default();
    Metrics::register(&mut plain, None);
    assert!(!encode(&plain).contains("rate_limited"));
}

#[test]
fn the_methods_move_the_metrics_and_a_gone_cluster_leaves_no_gauges() {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry, None);
    exercise(&metrics);
    metrics.connected("us-1");
    let text = encode(&registry);
    for line in [
        "tsbridge_server_connected_agents 2",
        "tsbridge_server_cluster_lag_revisions{cluster=\"eu-1\"} 0",
        "tsbridge_server_deltas_sent_total{cluster=\"eu-1\"} 1",
        "tsbridge_server_deltas_acked_total{cluster=\"eu-1\"} 1",
        "tsbridge_server_deltas_nacked_total{cluster=\"eu-1\"} 1",
        "tsbridge_server_objects_sent_total 3",
        "tsbridge_server_queue_depth{cluster=\"eu-1\"} 4",
        "tsbridge_server_translation_seconds_count 1",
        "tsbridge_server_store_commit_seconds_count 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
    metrics.disconnected("eu-1");
    let text = encode(&registry);
    assert!(
        text.contains("tsbridge_server_connected_agents 1"),
        "{text}"
    );
    assert!(!text.contains("queue_depth{cluster=\"eu-1\"}"), "{text}");
    assert!(!text.contains("lag_revisions{cluster=\"eu-1\"}"), "{text}");
    assert!(
        text.contains("deltas_sent_total{cluster=\"eu-1\"} 1"),
        "{text}"
    );
    assert!(text.contains("queue_depth{cluster=\"us-1\"} 0"), "{text}");
    // A connected cluster has every per-cluster series, at 0 until something happens.
    for family in [
        "deltas_sent",
        "deltas_acked",
        "deltas_nacked",
        "agent_stalls",
        "agent_reconnects",
    ] {
        let line = format!("tsbridge_server_{family}_total{{cluster=\"us-1\"}} 0");
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
}

/// `docs/metrics.md` shows [`DOCS`] as generated; `TSBRIDGE_UPDATE_DOCS=1` rewrites it.
#[test]
fn the_metrics_doc_lists_the_registered_metrics() {
    const BEGIN: &str =
        "<!-- metrics:begin (generated from server::metrics::DOCS; do not edit) -->\n";
    const END: &str = "<!-- metrics:end -->";
    crate::generated_docs::assert_in_step(
        "docs/metrics.md",
        BEGIN,
        END,
        &markdown(),
        "the_metrics_doc_lists_the_registered_metrics",
    );
}

#[test]
fn a_stall_and_the_next_stream_count_as_a_stall_and_a_reconnect() {
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry, None);
    metrics.connected("eu-1");
    metrics.stalled("eu-1");
    metrics.disconnected("eu-1");
    metrics.connected("eu-1");
    let text = encode(&registry);
    for line in [
        "tsbridge_server_agent_stalls_total{cluster=\"eu-1\"} 1",
        "tsbridge_server_agent_reconnects_total{cluster=\"eu-1\"} 1",
        "tsbridge_server_connected_agents 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in {text}");
    }
}
