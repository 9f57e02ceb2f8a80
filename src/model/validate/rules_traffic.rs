//! L1 rules of TrafficSetting (as its own kind, a `defaultTrafficSetting` and a
//! ServiceTrafficSetting's `settings`) and of the rate limiting messages it carries.

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};
use crate::model::spec::ratelimit::{
    ExternalRateLimitServiceSettings, LocalRateLimitSettings, RateLimitDimension, RateLimitRule,
    RateLimitSettings, RateLimitUnit, StringMatch,
};
use crate::model::spec::{
    HttpRetries, RateLimiting, ReachabilityMode, ReachabilitySettings, TrafficSettingSpec,
};
use crate::model::translate::{is_single_rate_limit_bucket, rate_limit_server_address};
use crate::model::validate::findings::Findings as At;
use crate::model::validate::is_namespace_slash_name;

/// Conditions `httpRetries.retryOn` accepts (TSB's pattern).
const RETRY_ON: &[&str] = &[
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

impl At<'_> {
    fn deprecated(&mut self, field: String, fix: impl Into<String>) {
        self.out.push(Diagnostic::warning(
            RuleCode::DeprecatedField,
            self.object,
            field,
            "is deprecated",
            fix,
        ));
    }
}

/// A TrafficSetting at `path` (`spec`, `spec.settings`, `spec.defaultTrafficSetting`).
pub(super) fn check_traffic_setting(
    spec: &TrafficSettingSpec,
    path: &str,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    let mut at = At { object, out };
    if let Some(outbound) = &spec.outbound {
        if let Some(egress) = &outbound.egress {
            check_egress_host(
                egress.host.as_deref(),
                &format!("{path}.outbound.egress.host"),
                &mut at,
            );
        }
        if let Some(reachability) = &outbound.reachability {
            check_reachability(
                reachability,
                &format!("{path}.outbound.reachability"),
                &mut at,
            );
        }
        for (field, set) in [
            (
                "reachability",
                spec.reachability.is_some() && outbound.reachability.is_some(),
            ),
            ("egress", spec.egress.is_some() && outbound.egress.is_some()),
        ] {
            if set {
                at.deprecated(
                    format!("{path}.{field}"),
                    format!("it is ignored: outbound.{field} of the same object wins; remove it"),
                );
            }
        }
    }
    if let Some(egress) = &spec.egress {
        check_egress_host(
            egress.host.as_deref(),
            &format!("{path}.egress.host"),
            &mut at,
        );
        if egress.port.is_some() {
            at.deprecated(
                format!("{path}.egress.port"),
                "remove it: TSB ignores it and tsbridge uses the gateway's port 15443",
            );
        }
    }
    if let Some(reachability) = &spec.reachability {
        check_reachability(reachability, &format!("{path}.reachability"), &mut at);
    }
    if let Some(resilience) = &spec.resilience {
        if let Some(retries) = &resilience.http_retries {
            check_retries(retries, &format!("{path}.resilience.httpRetries"), &mut at);
        }
        if resilience.tcp_keepalive.is_some() {
            at.deprecated(
                format!("{path}.resilience.tcpKeepalive"),
                "use resilience.keepAlive.tcp.upstream instead, e.g. {probes: 3, idleTime: 30, interval: 10}",
            );
        }
    }
    if let Some(rate_limiting) = &spec.rate_limiting {
        check_rate_limiting(rate_limiting, &format!("{path}.rateLimiting"), &mut at);
    }
    if let Some(rate_limiting) = spec.inbound.as_ref().and_then(|i| i.rate_limiting.as_ref()) {
        check_rate_limiting(
            rate_limiting,
            &format!("{path}.inbound.rateLimiting"),
            &mut at,
        );
        if spec.rate_limiting.is_some() {
            at.deprecated(
                format!("{path}.rateLimiting"),
                "it is ignored: inbound.rateLimiting of the same object wins; remove it",
            );
        }
    }
    let inbound_keep_alive = spec
        .inbound
        .as_ref()
        .and_then(|i| i.resilience.as_ref())
        .and_then(|r| r.connection_pool.as_ref())
        .and_then(|p| p.tcp.as_ref())
        .is_some_and(|t| t.keep_alive.is_some());
    let downstream = spec
        .resilience
        .as_ref()
        .and_then(|r| r.keep_alive.as_ref())
        .and_then(|k| k.tcp.as_ref())
        .is_some_and(|t| t.downstream.is_some());
    if inbound_keep_alive && downstream {
        at.deprecated(
            format!("{path}.resilience.keepAlive.tcp.downstream"),
            "it is ignored: inbound.resilience.connectionPool.tcp.keepAlive of the same object \
             wins; remove it",
        );
    }
}

/// An egress gateway `host`: REQUIRED, `^[^/]+/[^/]+$`.
fn check_egress_host(host: Option<&str>, field: &str, at: &mut At<'_>) {
    match host {
        None => at.required(
            field.to_string(),
            "write <namespace>/<fqdn> of the egress gateway service, e.g. istio-system/istio-egressgateway",
        ),
        Some(host) if !is_namespace_slash_name(host) => at.out.push(Diagnostic::error(
            RuleCode::RequiredField,
            at.object,
            field.to_string(),
            format!("{host:?} does not match ^[^/]+/[^/]+$"),
            "write <namespace>/<fqdn> of the egress gateway service",
        )),
        Some(_) => {}
    }
}

fn check_reachability(reachability: &ReachabilitySettings, path: &str, at: &mut At<'_>) {
    for (i, host) in reachability.hosts.iter().enumerate() {
        if !is_namespace_slash_name(host) {
            at.shape(
                format!("{path}.hosts[{i}]"),
                format!("{host:?} is not <namespace>/<fqdn>"),
                "write e.g. ./*, ns1/*, ns1/svc1.com or */svc1.com",
            );
        }
    }
    if !reachability.hosts.is_empty()
        && reachability
            .mode
            .is_some_and(|m| m != ReachabilityMode::Custom)
    {
        at.out.push(Diagnostic::warning(
            RuleCode::SpecSchema,
            at.object,
            format!("{path}.hosts"),
            "is read only in mode CUSTOM",
            "set reachability.mode: CUSTOM, or remove the hosts",
        ));
    }
}

fn check_retries(retries: &HttpRetries, path: &str, at: &mut At<'_>) {
    match retries.attempts {
        None => at.required(format!("{path}.attempts"), "set attempts: 1 or more"),
        Some(n) if n < 1 => at.shape(
            format!("{path}.attempts"),
            format!("{n} is less than 1"),
            "set attempts: 1 or more",
        ),
        Some(_) => {}
    }
    if retries
        .retry_back_off
        .as_ref()
        .is_some_and(|b| b.base_interval.as_deref().is_none_or(str::is_empty))
    {
        at.required(
            format!("{path}.retryBackOff.baseInterval"),
            "set baseInterval, e.g. 25ms",
        );
    }
    if let Some(on) = retries.retry_on.as_deref()
        && !on.is_empty()
        && let Some(bad) = on.split(',').find(|c| !RETRY_ON.contains(c))
    {
        at.shape(
            format!("{path}.retryOn"),
            format!("{bad:?} is not a retry condition"),
            "use a comma-separated list such as 5xx,connect-failure,reset",
        );
    }
}

/// `RateLimiting` (gateway/v2): exactly one of `settings`, `local` and `externalService`.
fn check_rate_limiting(rate_limiting: &RateLimiting, path: &str, at: &mut At<'_>) {
    let set = [
        rate_limiting.settings.is_some(),
        rate_limiting.local.is_some(),
        rate_limiting.external_service.is_some(),
    ]
    .iter()
    .filter(|s| **s)
    .count();
    if set > 1 {
        at.shape(
            path.to_string(),
            "only one of settings, local and externalService may be set",
            "keep settings or local (limits in the proxies) or externalService (your rate limit server)",
        );
        return;
    }
    if let Some(settings) = &rate_limiting.settings {
        check_settings(settings, &format!("{path}.settings"), at);
    } else if let Some(local) = &rate_limiting.local {
        check_local(local, &format!("{path}.local"), at);
    } else if let Some(external) = &rate_limiting.external_service {
        check_external(external, &format!("{path}.externalService"), at);
    } else {
        at.required(
            format!("{path}.settings"),
            "add settings.rules, local.rules or externalService, or remove rateLimiting",
        );
    }
}

/// The warning for a rule that counts every distinct value on its own.
fn check_single_bucket(dimensions: &[RateLimitDimension], path: String, at: &mut At<'_>) {
    if !dimensions.is_empty() && !is_single_rate_limit_bucket(dimensions) {
        at.out.push(Diagnostic::warning(
            RuleCode::SpecSchema,
            at.object,
            path,
            "counts every distinct remote address or header value on its own, which the \
             sidecars' local rate limit cannot do: the rule is not enforced",
            "match a specific value (remoteAddress.value: 10.0.0.1, header.value.exact: \
             gold), or use externalService with a rate limit server",
        ));
    }
}

fn check_local(local: &LocalRateLimitSettings, path: &str, at: &mut At<'_>) {
    if local.rules.is_empty() {
        at.required(
            format!("{path}.rules"),
            "add a rule, e.g. {dimensions: [{remoteAddress: {value: 10.0.0.1}}], tokenBucket: {maxTokens: 10, fillInterval: 60s}}",
        );
    }
    for (i, rule) in local.rules.iter().enumerate() {
        let rule_path = format!("{path}.rules[{i}]");
        check_dimensions(&rule.dimensions, &rule_path, at);
        match &rule.token_bucket {
            None => at.required(
                format!("{rule_path}.tokenBucket"),
                "add tokenBucket: {maxTokens: 10, tokensPerFill: 10, fillInterval: 60s}",
            ),
            Some(bucket) => {
                if bucket.max_tokens.is_none() {
                    at.required(
                        format!("{rule_path}.tokenBucket.maxTokens"),
                        "set maxTokens, e.g. 10",
                    );
                }
                if bucket.fill_interval.as_deref().is_none_or(str::is_empty) {
                    at.required(
                        format!("{rule_path}.tokenBucket.fillInterval"),
                        "set fillInterval, e.g. 60s",
                    );
                }
            }
        }
        check_single_bucket(&rule.dimensions, rule_path, at);
    }
}

fn check_settings(settings: &RateLimitSettings, path: &str, at: &mut At<'_>) {
    if settings.rules.is_empty() {
        at.required(
            format!("{path}.rules"),
            "add a rule, e.g. {dimensions: [{remoteAddress: {value: 10.0.0.1}}], limit: {requestsPerUnit: 10, unit: MINUTE}}",
        );
    }
    for (i, rule) in settings.rules.iter().enumerate() {
        let rule_path = format!("{path}.rules[{i}]");
        check_rule(rule, &rule_path, at);
        check_single_bucket(&rule.dimensions, rule_path, at);
    }
}

fn check_rule(rule: &RateLimitRule, path: &str, at: &mut At<'_>) {
    check_dimensions(&rule.dimensions, path, at);
    match &rule.limit {
        None => at.required(
            format!("{path}.limit"),
            "add limit: {requestsPerUnit: 10, unit: MINUTE}",
        ),
        Some(limit) => {
            if limit.requests_per_unit.is_none() {
                at.required(
                    format!("{path}.limit.requestsPerUnit"),
                    "set requestsPerUnit, e.g. 10",
                );
            }
            if limit.unit.is_none_or(|u| u == RateLimitUnit::Unknown) {
                at.required(
                    format!("{path}.limit.unit"),
                    "set unit: SECOND, MINUTE, HOUR or DAY",
                );
            }
        }
    }
}

/// `dimensions` of a `settings` or `local` rule at `path`.
fn check_dimensions(dimensions: &[RateLimitDimension], path: &str, at: &mut At<'_>) {
    if dimensions.is_empty() {
        at.required(
            format!("{path}.dimensions"),
            "add a dimension, e.g. {header: {name: x-user, value: {exact: gold}}}",
        );
    }
    for (j, d) in dimensions.iter().enumerate() {
        let dim = format!("{path}.dimensions[{j}]");
        match (&d.remote_address, &d.header) {
            (Some(_), Some(_)) => at.shape(
                dim,
                "only one of remoteAddress and header may be set",
                "split it into two dimensions",
            ),
            (None, None) => at.required(
                format!("{dim}.remoteAddress"),
                "set remoteAddress.value or header.name",
            ),
            (Some(address), None) => {
                if address.value.as_deref().is_none_or(str::is_empty) {
                    at.required(
                        format!("{dim}.remoteAddress.value"),
                        "set an address, or * for every address",
                    );
                }
            }
            (None, Some(header)) => {
                if header.name.as_deref().is_none_or(str::is_empty) {
                    at.required(format!("{dim}.header.name"), "name the header, e.g. x-user");
                }
                if let Some(value) = &header.value {
                    check_string_match(value, &format!("{dim}.header.value"), at);
                }
            }
        }
    }
}

fn check_string_match(value: &StringMatch, path: &str, at: &mut At<'_>) {
    let set = [&value.exact, &value.prefix, &value.regex]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if set > 1 {
        at.shape(
            path.to_string(),
            "only one of exact, prefix and regex may be set",
            "keep one of them",
        );
    }
}

fn check_external(external: &ExternalRateLimitServiceSettings, path: &str, at: &mut At<'_>) {
    if external.domain.as_deref().is_none_or(str::is_empty) {
        at.required(
            format!("{path}.domain"),
            "set the rate limit domain, e.g. shop",
        );
    }
    match external.rate_limit_server_uri.as_deref() {
        None | Some("") => at.required(
            format!("{path}.rateLimitServerUri"),
            "set the server, e.g. grpc://ratelimit.ratelimit.svc.cluster.local:8081",
        ),
        Some(uri) if rate_limit_server_address(uri).is_none() => at.shape(
            format!("{path}.rateLimitServerUri"),
            format!("{uri:?} has no host and port"),
            "write grpc://<host>:<port>, e.g. grpc://ratelimit.ratelimit.svc.cluster.local:8081",
        ),
        Some(_) => {}
    }
    if external.rules.is_empty() {
        at.required(
            format!("{path}.rules"),
            "add a rule, e.g. {dimensions: [{remoteAddress: {}}]}",
        );
    }
    for (i, rule) in external.rules.iter().enumerate() {
        if rule.dimensions.is_empty() {
            at.required(
                format!("{path}.rules[{i}].dimensions"),
                "add a dimension, e.g. {requestHeaders: {headerName: x-user, descriptorKey: user}}",
            );
        }
        for (j, d) in rule.dimensions.iter().enumerate() {
            let dim = format!("{path}.rules[{i}].dimensions[{j}]");
            let set = [
                d.source_cluster.is_some(),
                d.destination_cluster.is_some(),
                d.remote_address.is_some(),
                d.request_headers.is_some(),
                d.header_value_match.is_some(),
            ]
            .iter()
            .filter(|s| **s)
            .count();
            if set != 1 {
                at.shape(
                    dim.clone(),
                    format!("sets {set} of sourceCluster, destinationCluster, remoteAddress, requestHeaders and headerValueMatch"),
                    "set exactly one of them per dimension",
                );
            }
            if let Some(h) = &d.request_headers {
                if h.header_name.as_deref().is_none_or(str::is_empty) {
                    at.required(
                        format!("{dim}.requestHeaders.headerName"),
                        "name the header, e.g. x-user",
                    );
                }
                if h.descriptor_key.as_deref().is_none_or(str::is_empty) {
                    at.required(
                        format!("{dim}.requestHeaders.descriptorKey"),
                        "name the descriptor key, e.g. user",
                    );
                }
            }
            if let Some(m) = &d.header_value_match {
                if m.headers.is_empty() {
                    at.required(
                        format!("{dim}.headerValueMatch.headers"),
                        "add a header, e.g. {x-tier: {exact: gold}}",
                    );
                }
                for (name, value) in &m.headers {
                    check_string_match(
                        value,
                        &format!("{dim}.headerValueMatch.headers.{name}"),
                        at,
                    );
                }
                if m.descriptor_value.as_deref().is_none_or(str::is_empty) {
                    at.required(
                        format!("{dim}.headerValueMatch.descriptorValue"),
                        "set the descriptor value, e.g. gold",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::model::diagnostic::{RuleCode, Severity};
    use crate::model::fixtures;
    use crate::model::validate::validate_object;

    /// (severity, rule, field) of every diagnostic but TSB1106, for a TrafficSetting `spec`.
    fn check(spec: Value) -> Vec<(Severity, RuleCode, String)> {
        let mut ts = fixtures::traffic_setting();
        ts.spec = spec;
        validate_object(&ts)
            .into_iter()
            .filter(|d| d.rule != RuleCode::NotEnforced)
            .map(|d| (d.severity, d.rule, d.field))
            .collect()
    }

    fn error(rule: RuleCode, field: &str) -> (Severity, RuleCode, String) {
        (Severity::Error, rule, field.to_string())
    }

    fn warning(rule: RuleCode, field: &str) -> (Severity, RuleCode, String) {
        (Severity::Warning, rule, field.to_string())
    }

    #[test]
    fn retries_reachability_and_deprecations() {
        assert_eq!(
            check(json!({
                "reachability": {"mode": "GROUP", "hosts": ["db"]},
                "resilience": {"httpRetries": {"retryOn": "5xx,bogus"}, "tcpKeepalive": true},
                "egress": {"host": "gw/egress", "port": 15443}
            })),
            [
                warning(RuleCode::DeprecatedField, "spec.egress.port"),
                error(RuleCode::SpecSchema, "spec.reachability.hosts[0]"),
                warning(RuleCode::SpecSchema, "spec.reachability.hosts"),
                error(
                    RuleCode::RequiredField,
                    "spec.resilience.httpRetries.attempts"
                ),
                error(RuleCode::SpecSchema, "spec.resilience.httpRetries.retryOn"),
                warning(RuleCode::DeprecatedField, "spec.resilience.tcpKeepalive"),
            ]
        );
        assert_eq!(
            check(json!({"resilience": {"httpRetries": {"attempts": 0, "retryOn": ""}}})),
            [error(
                RuleCode::SpecSchema,
                "spec.resilience.httpRetries.attempts"
            )]
        );
    }

    #[test]
    fn outbound_wins_over_the_deprecated_fields() {
        assert_eq!(
            check(json!({
                "reachability": {"mode": "CLUSTER"},
                "egress": {"host": "gw/egress"},
                "outbound": {"reachability": {"hosts": ["db"]}, "egress": {}}
            })),
            [
                error(RuleCode::RequiredField, "spec.outbound.egress.host"),
                error(RuleCode::SpecSchema, "spec.outbound.reachability.hosts[0]"),
                warning(RuleCode::DeprecatedField, "spec.reachability"),
                warning(RuleCode::DeprecatedField, "spec.egress"),
            ]
        );
    }

    #[test]
    fn local_rate_limit_rules() {
        let at = "spec.rateLimiting.settings.rules";
        assert_eq!(
            check(json!({"rateLimiting": {"settings": {"rules": [
                {"dimensions": [{"remoteAddress": {"value": "*"}, "header": {"name": "a"}}]},
                {"dimensions": [{}], "limit": {"unit": "UNKNOWN"}},
                {"dimensions": [{"header": {"name": "x", "value": {"exact": "a", "prefix": "b"}}}],
                 "limit": {"requestsPerUnit": 1, "unit": "SECOND"}},
                {"dimensions": [{"header": {"name": "x"}}],
                 "limit": {"requestsPerUnit": 1, "unit": "SECOND"}}
            ]}}})),
            [
                error(RuleCode::SpecSchema, &format!("{at}[0].dimensions[0]")),
                error(RuleCode::RequiredField, &format!("{at}[0].limit")),
                warning(RuleCode::SpecSchema, &format!("{at}[0]")),
                error(
                    RuleCode::RequiredField,
                    &format!("{at}[1].dimensions[0].remoteAddress")
                ),
                error(
                    RuleCode::RequiredField,
                    &format!("{at}[1].limit.requestsPerUnit")
                ),
                error(RuleCode::RequiredField, &format!("{at}[1].limit.unit")),
                warning(RuleCode::SpecSchema, &format!("{at}[1]")),
                error(
                    RuleCode::SpecSchema,
                    &format!("{at}[2].dimensions[0].header.value")
                ),
                warning(RuleCode::SpecSchema, &format!("{at}[3]")),
            ]
        );
        assert_eq!(
            check(json!({"rateLimiting": {}})),
            [error(RuleCode::RequiredField, "spec.rateLimiting.settings")]
        );
    }

    #[test]
    fn local_buckets_and_the_rate_limiting_oneof() {
        let at = "spec.rateLimiting.local.rules";
        assert_eq!(
            check(json!({"rateLimiting": {"local": {"rules": [
                {"dimensions": [{"remoteAddress": {"value": "*"}}], "tokenBucket": {}},
                {"dimensions": [{"remoteAddress": {"value": "10.0.0.1"}}]}
            ]}}})),
            [
                error(
                    RuleCode::RequiredField,
                    &format!("{at}[0].tokenBucket.maxTokens")
                ),
                error(
                    RuleCode::RequiredField,
                    &format!("{at}[0].tokenBucket.fillInterval")
                ),
                warning(RuleCode::SpecSchema, &format!("{at}[0]")),
                error(RuleCode::RequiredField, &format!("{at}[1].tokenBucket")),
            ]
        );
        assert_eq!(
            check(json!({"rateLimiting": {"local": {"rules": []}, "settings": {"rules": []}}})),
            [error(RuleCode::SpecSchema, "spec.rateLimiting")]
        );
        assert_eq!(
            check(
                json!({"resilience": {"httpRetries": {"attempts": 2, "retryBackOff": {"maxInterval": "1s"}}}})
            ),
            [error(
                RuleCode::RequiredField,
                "spec.resilience.httpRetries.retryBackOff.baseInterval"
            )]
        );
    }

    #[test]
    fn external_rate_limit_service() {
        let at = "spec.rateLimiting.externalService";
        assert_eq!(
            check(json!({"rateLimiting": {"externalService": {
                "rateLimitServerUri": "grpc://ratelimit",
                "rules": [{"dimensions": [
                    {},
                    {"remoteAddress": {}, "sourceCluster": {}},
                    {"requestHeaders": {}},
                    {"headerValueMatch": {}}
                ]}, {}]
            }}})),
            [
                error(RuleCode::RequiredField, &format!("{at}.domain")),
                error(RuleCode::SpecSchema, &format!("{at}.rateLimitServerUri")),
                error(
                    RuleCode::SpecSchema,
                    &format!("{at}.rules[0].dimensions[0]")
                ),
                error(
                    RuleCode::SpecSchema,
                    &format!("{at}.rules[0].dimensions[1]")
                ),
                error(
                    RuleCode::RequiredField,
                    &format!("{at}.rules[0].dimensions[2].requestHeaders.headerName")
                ),
                error(
                    RuleCode::RequiredField,
                    &format!("{at}.rules[0].dimensions[2].requestHeaders.descriptorKey")
                ),
                error(
                    RuleCode::RequiredField,
                    &format!("{at}.rules[0].dimensions[3].headerValueMatch.headers")
                ),
                error(
                    RuleCode::RequiredField,
                    &format!("{at}.rules[0].dimensions[3].headerValueMatch.descriptorValue")
                ),
                error(
                    RuleCode::RequiredField,
                    &format!("{at}.rules[1].dimensions")
                ),
            ]
        );
        assert_eq!(
            check(json!({"rateLimiting": {
                "settings": {"rules": []},
                "externalService": {}
            }})),
            [error(RuleCode::SpecSchema, "spec.rateLimiting")]
        );
    }
}
