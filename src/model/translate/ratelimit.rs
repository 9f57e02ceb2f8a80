//! TSB `RateLimiting` → `configPatches` of an Istio `EnvoyFilter` (Envoy's local or global rate
//! limit HTTP filter, and the route `rate_limits` actions that make its descriptors).
//!
//! `local` and `settings` become Envoy's local rate limit: one token bucket per rule, counted
//! by each proxy on its own (for `settings` TSB counts in its rate limit server across
//! replicas). A rule that counts every distinct value on its own (`remoteAddress.value: "*"`,
//! a header without a value) cannot be a single bucket and is left out (L1 warns about it).
//! `externalService` becomes Envoy's rate limit filter calling the server at
//! `rateLimitServerUri`.

use serde_json::{Value, json};

use crate::model::spec::RateLimiting;
use crate::model::spec::ratelimit::{
    ExternalRateLimitDimension, ExternalRateLimitServiceSettings, RateLimitDimension, StringMatch,
};

/// Where the filter sits in the proxy: Istio's EnvoyFilter `context`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Context {
    /// Requests received by a sidecar's workload (every sidecar of a namespace).
    SidecarInbound,
    /// Requests received by one service's workloads, in addition to their namespace's filter.
    ServiceInbound,
}

impl Context {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::SidecarInbound | Self::ServiceInbound => "SIDECAR_INBOUND",
        }
    }

    /// How this filter's header rules name their descriptors: a service's filter runs next to
    /// its namespace's on the same routes, and each must count only its own rules' requests.
    fn rule_prefix(self) -> &'static str {
        match self {
            Self::SidecarInbound => "rule",
            Self::ServiceInbound => "service-rule",
        }
    }
}

/// The descriptor key a local rule's header dimension emits (`header_value_match`).
const HEADER_MATCH_KEY: &str = "header_match";
/// Default per-proxy bucket of the local filter for requests no rule matches: Envoy requires
/// one, and TSB limits only what the rules match, so it is large enough never to bind.
const UNLIMITED_TOKENS: u32 = 1_000_000;

/// The EnvoyFilter `configPatches` that add the rate limit filter and its route actions, or
/// nothing when no rule can be enforced.
pub(super) fn config_patches(rate_limiting: &RateLimiting, context: Context) -> Vec<Value> {
    let built = if let Some(external) = &rate_limiting.external_service {
        external_filter(external)
    } else if let Some(local) = &rate_limiting.local {
        local_filter(
            context,
            local.rules.iter().filter_map(|r| {
                let bucket = r.token_bucket.as_ref()?;
                let tokens = bucket.max_tokens?;
                // TSB's default refill is a single token.
                let fill = bucket.tokens_per_fill.unwrap_or(1);
                Some((
                    &r.dimensions[..],
                    tokens,
                    fill,
                    bucket.fill_interval.clone()?,
                ))
            }),
        )
    } else {
        rate_limiting.settings.as_ref().and_then(|settings| {
            local_filter(
                context,
                settings.rules.iter().filter_map(|r| {
                    let limit = r.limit.as_ref()?;
                    let tokens = limit.requests_per_unit?;
                    let seconds = limit.unit.and_then(|u| u.seconds())?;
                    Some((&r.dimensions[..], tokens, tokens, format!("{seconds}s")))
                }),
            )
        })
    };
    let Some((filter, route_limits)) = built else {
        return Vec::new();
    };
    let context = context.as_str();
    vec![
        json!({
            "applyTo": "HTTP_FILTER",
            "match": {
                "context": context,
                "listener": {"filterChain": {"filter": {
                    "name": "envoy.filters.network.http_connection_manager",
                    "subFilter": {"name": "envoy.filters.http.router"}
                }}}
            },
            "patch": {"operation": "INSERT_BEFORE", "value": filter}
        }),
        json!({
            "applyTo": "HTTP_ROUTE",
            "match": {"context": context},
            "patch": {"operation": "MERGE", "value": {"route": {"rate_limits": route_limits}}}
        }),
    ]
}

/// Whether a rule's dimensions can make one token bucket (no "every distinct value"
/// dimension: `remoteAddress.value: "*"`, a header without a value).
pub(crate) fn is_single_bucket(dimensions: &[RateLimitDimension]) -> bool {
    dimensions.iter().all(|d| {
        d.remote_address
            .as_ref()
            .is_some_and(|r| r.value.as_deref().is_some_and(|v| v != "*"))
            || d.header.as_ref().is_some_and(|h| h.value.is_some())
    })
}

/// Envoy's local rate limit over `(dimensions, max_tokens, tokens_per_fill, fill_interval)`
/// rules; rules that are not a single bucket are left out.
fn local_filter<'r>(
    context: Context,
    rules: impl Iterator<Item = (&'r [RateLimitDimension], u32, u32, String)>,
) -> Option<(Value, Vec<Value>)> {
    let mut descriptors = Vec::new();
    let mut route_limits = Vec::new();
    for (i, (dimensions, tokens, fill, interval)) in rules.enumerate() {
        if dimensions.is_empty() || !is_single_bucket(dimensions) {
            continue;
        }
        let (actions, entries): (Vec<Value>, Vec<Value>) = dimensions
            .iter()
            .enumerate()
            .filter_map(|(j, d)| local_dimension(d, &format!("{}-{i}-{j}", context.rule_prefix())))
            .unzip();
        route_limits.push(json!({"actions": actions}));
        descriptors.push(json!({
            "entries": entries,
            "token_bucket": bucket(tokens, fill, &interval)
        }));
    }
    if descriptors.is_empty() {
        return None;
    }
    let all = json!({"numerator": 100, "denominator": "HUNDRED"});
    let filter = json!({
        "name": "envoy.filters.http.local_ratelimit",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
            "stat_prefix": "tsb_local_rate_limit",
            "token_bucket": bucket(UNLIMITED_TOKENS, UNLIMITED_TOKENS, "1s"),
            "filter_enabled": {"runtime_key": "tsb_local_rate_limit_enabled", "default_value": all},
            "filter_enforced": {"runtime_key": "tsb_local_rate_limit_enforced", "default_value": all},
            "descriptors": descriptors
        }
    });
    Some((filter, route_limits))
}

fn bucket(tokens: u32, fill: u32, interval: &str) -> Value {
    json!({"max_tokens": tokens, "tokens_per_fill": fill, "fill_interval": interval})
}

/// A local dimension as (route action, descriptor entry); `value` tells this rule's header
/// match apart from the others'.
fn local_dimension(dimension: &RateLimitDimension, value: &str) -> Option<(Value, Value)> {
    if let Some(address) = dimension
        .remote_address
        .as_ref()
        .and_then(|r| r.value.as_deref())
    {
        return Some((
            json!({"remote_address": {}}),
            json!({"key": "remote_address", "value": address}),
        ));
    }
    let header = dimension.header.as_ref()?;
    let name = header.name.as_deref()?;
    let matcher = header_matcher(name, header.value.as_ref()?);
    Some((
        header_value_match(value, vec![matcher], header.dont_match),
        json!({"key": HEADER_MATCH_KEY, "value": value}),
    ))
}

/// Envoy's `header_value_match` action; `dontMatch` turns it into "emit when not matching".
fn header_value_match(value: &str, headers: Vec<Value>, dont_match: Option<bool>) -> Value {
    let mut action = json!({"descriptor_value": value, "headers": headers});
    if dont_match == Some(true) {
        action["expect_match"] = json!(false);
    }
    json!({"header_value_match": action})
}

/// Envoy `HeaderMatcher` for a TSB `StringMatch`.
fn header_matcher(name: &str, value: &StringMatch) -> Value {
    let string_match = if let Some(exact) = &value.exact {
        json!({"exact": exact})
    } else if let Some(prefix) = &value.prefix {
        json!({"prefix": prefix})
    } else if let Some(regex) = &value.regex {
        json!({"safe_regex": {"regex": regex}})
    } else {
        // An empty StringMatch: the header only has to be present.
        return json!({"name": name, "present_match": true});
    };
    json!({"name": name, "string_match": string_match})
}

/// `(host, port)` of `rateLimitServerUri` (`grpc://host:port`, `host:port`).
pub(crate) fn server_address(uri: &str) -> Option<(&str, u16)> {
    let rest = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let (host, port) = rest.trim_end_matches('/').rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty()).then_some((host, port))
}

fn external_filter(external: &ExternalRateLimitServiceSettings) -> Option<(Value, Vec<Value>)> {
    let (host, port) = server_address(external.rate_limit_server_uri.as_deref()?)?;
    let route_limits: Vec<Value> = external
        .rules
        .iter()
        .filter(|r| !r.dimensions.is_empty())
        .map(|r| {
            let actions: Vec<Value> = r.dimensions.iter().filter_map(external_action).collect();
            json!({"actions": actions})
        })
        .collect();
    if route_limits.is_empty() {
        return None;
    }
    let mut config = json!({
        "domain": external.domain.as_deref()?,
        "failure_mode_deny": external.fail_closed.unwrap_or(false),
        // Istio's cluster for the server's service: the mesh resolves and secures it.
        "rate_limit_service": {
            "grpc_service": {"envoy_grpc": {"cluster_name": format!("outbound|{port}||{host}")}},
            "transport_api_version": "V3"
        }
    });
    if let Some(timeout) = &external.timeout {
        config["timeout"] = json!(timeout);
    }
    config["@type"] =
        json!("type.googleapis.com/envoy.extensions.filters.http.ratelimit.v3.RateLimit");
    let filter = json!({"name": "envoy.filters.http.ratelimit", "typed_config": config});
    Some((filter, route_limits))
}

fn external_action(dimension: &ExternalRateLimitDimension) -> Option<Value> {
    if dimension.source_cluster.is_some() {
        return Some(json!({"source_cluster": {}}));
    }
    if dimension.destination_cluster.is_some() {
        return Some(json!({"destination_cluster": {}}));
    }
    if dimension.remote_address.is_some() {
        return Some(json!({"remote_address": {}}));
    }
    if let Some(h) = &dimension.request_headers {
        return Some(json!({"request_headers": {
            "header_name": h.header_name.as_deref()?,
            "descriptor_key": h.descriptor_key.as_deref()?
        }}));
    }
    let m = dimension.header_value_match.as_ref()?;
    let headers: Vec<Value> = m
        .headers
        .iter()
        .map(|(name, value)| header_matcher(name, value))
        .collect();
    Some(header_value_match(
        m.descriptor_value.as_deref()?,
        headers,
        m.dont_match,
    ))
}
