//! L1 rules of a ServiceRoute, from the validation rules of the TSB reference
//! (`tetrateio.api.tsb.traffic.v2.ServiceRoute`): required fields, port ranges, the sticky
//! session and string match oneofs, the ports routes may match, and the rule that TCP routes
//! hash only on the source IP.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};
use crate::model::spec::route::StringMatch;
use crate::model::spec::{
    PortLevelSetting, ServiceDestination, ServiceRouteSpec, StickySession, TrafficType,
};
use crate::model::validate::spec_rules::require_service;

/// Collects the diagnostics of one ServiceRoute.
struct Rules<'a> {
    object: &'a ObjectRef,
    out: &'a mut Vec<Diagnostic>,
}

impl Rules<'_> {
    fn error(&mut self, code: RuleCode, field: String, message: &str, fix: &str) {
        self.out
            .push(Diagnostic::error(code, self.object, field, message, fix));
    }

    fn warning(&mut self, field: String, message: &str, fix: &str) {
        self.out.push(Diagnostic::warning(
            RuleCode::SpecSchema,
            self.object,
            field,
            message,
            fix,
        ));
    }

    fn required_name(&mut self, name: Option<&str>, path: String, example: &str) {
        if name.unwrap_or("").is_empty() {
            self.error(
                RuleCode::RequiredField,
                path,
                "is required (min length 1)",
                &format!("name it, e.g. {example}"),
            );
        }
    }

    /// REQUIRED `uint32` port in 1–65535.
    fn port(&mut self, port: Option<u32>, path: String) -> Option<u32> {
        match port {
            None => {
                self.error(
                    RuleCode::RequiredField,
                    path,
                    "is required",
                    "set the port number, e.g. 8080",
                );
                None
            }
            Some(p @ 1..=65535) => Some(p),
            Some(p) => {
                self.error(
                    RuleCode::SpecSchema,
                    path,
                    &format!("{p} is not a port (1–65535)"),
                    "use a port number between 1 and 65535",
                );
                None
            }
        }
    }

    /// The oneof `hash_key`; returns whether the hash is on HTTP attributes.
    fn sticky(&mut self, sticky: &StickySession, path: &str) -> bool {
        let set = [
            sticky.header.is_some(),
            sticky.cookie.is_some(),
            sticky.use_source_ip == Some(true),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            self.error(
                RuleCode::SpecSchema,
                path.to_string(),
                "sets more than one of header, cookie and useSourceIp (a oneof)",
                "keep one hash key, e.g. header: x-session-hash",
            );
        }
        if sticky.header.as_deref() == Some("") {
            self.error(
                RuleCode::SpecSchema,
                format!("{path}.header"),
                "is empty (min length 1)",
                "name the header to hash on, e.g. x-session-hash",
            );
        }
        if let Some(cookie) = &sticky.cookie {
            self.required_name(
                cookie.name.as_deref(),
                format!("{path}.cookie.name"),
                "session",
            );
            if cookie.path.as_deref().unwrap_or("").is_empty() {
                self.error(
                    RuleCode::RequiredField,
                    format!("{path}.cookie.path"),
                    "is required (min length 1)",
                    "set the cookie path, e.g. /",
                );
            }
            match cookie.ttl.as_deref() {
                None => self.error(
                    RuleCode::RequiredField,
                    format!("{path}.cookie.ttl"),
                    "is required",
                    "set the cookie lifetime, e.g. 3600s",
                ),
                Some(ttl) if !is_duration(ttl) => self.error(
                    RuleCode::SpecSchema,
                    format!("{path}.cookie.ttl"),
                    &format!("{ttl:?} is not a duration"),
                    "write a duration such as 3600s, 10m or 1h",
                ),
                Some(_) => {}
            }
        }
        set[0] || set[1]
    }

    /// One `portLevelSettings[]` entry; the TCP-only-source-IP rule of the reference.
    fn port_setting(&mut self, setting: &PortLevelSetting, path: &str) -> Option<u32> {
        let port = self.port(setting.port, format!("{path}.port"));
        if let Some(sticky) = &setting.sticky_session {
            let http_hash = self.sticky(sticky, &format!("{path}.stickySession"));
            if http_hash && setting.traffic_type() != TrafficType::Http {
                self.error(
                    RuleCode::SpecSchema,
                    format!("{path}.stickySession"),
                    "hashes on an HTTP header or cookie on a non-HTTP port: TCP routes hash \
                     only on the source IP",
                    "use stickySession: {useSourceIp: true} for this port",
                );
            }
        }
        port
    }

    fn string_match(&mut self, value: &StringMatch, path: String) {
        let set = [&value.exact, &value.prefix, &value.regex]
            .iter()
            .filter(|v| v.is_some())
            .count();
        if set != 1 {
            self.error(
                RuleCode::SpecSchema,
                path,
                "must set exactly one of exact, prefix and regex (a oneof)",
                "e.g. prefix: /productpage",
            );
        }
    }

    /// A route's destinations: at least one, each with a port, subsets the route defines.
    fn destinations(
        &mut self,
        destinations: &[ServiceDestination],
        path: &str,
        host: Option<&str>,
        subsets: &BTreeSet<&str>,
    ) {
        if destinations.is_empty() {
            self.error(
                RuleCode::SpecSchema,
                format!("{path}.destination"),
                "needs at least one destination (Istio rejects a route without one)",
                "add a destination, e.g. {subset: v1, port: 8080}",
            );
        }
        for (i, destination) in destinations.iter().enumerate() {
            let at = format!("{path}.destination[{i}]");
            self.port(destination.port, format!("{at}.port"));
            let own_host = match destination.destination_host.as_deref() {
                None | Some("") => true,
                Some(other) => host == Some(other),
            };
            if let Some(subset) = destination.subset.as_deref()
                && own_host
                && !subsets.contains(subset)
            {
                self.error(
                    RuleCode::SpecSchema,
                    format!("{at}.subset"),
                    &format!("names {subset:?}, which is not one of spec.subsets"),
                    "use the name of a subset listed in spec.subsets, or add that subset",
                );
            }
        }
    }

    /// A route without match conditions takes all traffic of its kind: Istio never reaches
    /// the routes after it (later ones and the default routes of unmatched ports).
    fn shadowing(&mut self, shadows: bool, path: &str) {
        if shadows {
            self.warning(
                format!("{path}.match"),
                "is empty, so the route matches all traffic and the routes after it (later \
                 routes and the default routes of unmatched ports) never match",
                "add a match condition with the port, e.g. {name: all, port: 8080}",
            );
        }
    }

    /// A match port must be one of the top-level ports, of the route's kind.
    fn match_port(
        &mut self,
        port: Option<u32>,
        path: String,
        ports: &BTreeMap<u32, TrafficType>,
        http: bool,
    ) {
        let Some(port) = self.port(port, path.clone()) else {
            return;
        };
        match ports.get(&port) {
            None => self.error(
                RuleCode::SpecSchema,
                path,
                &format!("{port} is not listed in spec.portLevelSettings"),
                &format!("add {{port: {port}, trafficType: ...}} to spec.portLevelSettings"),
            ),
            Some(kind) if (*kind == TrafficType::Http) != http => self.error(
                RuleCode::SpecSchema,
                path,
                &format!(
                    "port {port} has trafficType {} in spec.portLevelSettings, which a{} \
                     route cannot match",
                    kind.as_str(),
                    if http { "n HTTP" } else { " TCP" }
                ),
                if http {
                    "match an HTTP port here, or move the route to tcpRoutes"
                } else {
                    "match a TCP or TLS_PASSTHROUGH port here, or move the route to httpRoutes"
                },
            ),
            Some(_) => {}
        }
    }
}

/// Go/protobuf-style duration: one or more `<number><unit>` with units ns, us, µs, ms, s, m, h.
fn is_duration(value: &str) -> bool {
    let mut rest = value;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number.parse::<f64>().is_err() {
            return false;
        }
        rest = &rest[digits..];
        let Some(unit) = ["ns", "us", "µs", "ms", "s", "m", "h"]
            .into_iter()
            .filter(|u| rest.starts_with(u))
            .max_by_key(|u| u.len())
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// Every L1 rule of a ServiceRoute spec.
pub(super) fn check_service_route(
    spec: &ServiceRouteSpec,
    object: &ObjectRef,
    out: &mut Vec<Diagnostic>,
) {
    require_service(spec.service.as_deref(), true, object, out);
    let host = spec
        .service
        .as_deref()
        .and_then(|s| s.split_once('/'))
        .map(|(_, h)| h);
    let mut rules = Rules { object, out };
    if spec.subsets.is_empty() {
        rules.error(
            RuleCode::RequiredField,
            "spec.subsets".into(),
            "needs at least one subset",
            "add a subset with a name and labels, e.g. {name: v1, labels: {version: v1}}",
        );
    }
    let mut subsets = BTreeSet::new();
    for (i, subset) in spec.subsets.iter().enumerate() {
        let path = format!("spec.subsets[{i}]");
        rules.required_name(subset.name.as_deref(), format!("{path}.name"), "v1");
        if let Some(name) = subset.name.as_deref().filter(|n| !n.is_empty())
            && !subsets.insert(name)
        {
            rules.error(
                RuleCode::SpecSchema,
                format!("{path}.name"),
                &format!("{name:?} names two subsets"),
                "give every subset its own name",
            );
        }
    }
    let mut ports = BTreeMap::new();
    for (i, setting) in spec.port_level_settings.iter().enumerate() {
        let path = format!("spec.portLevelSettings[{i}]");
        if let Some(port) = rules.port_setting(setting, &path)
            && ports.insert(port, setting.traffic_type()).is_some()
        {
            rules.error(
                RuleCode::SpecSchema,
                format!("{path}.port"),
                &format!("port {port} is listed twice"),
                "list every port once",
            );
        }
    }
    if let Some(sticky) = &spec.sticky_session
        && rules.sticky(sticky, "spec.stickySession")
        && ports.values().any(|t| *t != TrafficType::Http)
    {
        rules.warning(
            "spec.stickySession".into(),
            "hashes on an HTTP header or cookie, which the non-HTTP ports of \
             spec.portLevelSettings cannot use (TCP routes hash only on the source IP)",
            "set the sticky session per port in spec.portLevelSettings[].stickySession",
        );
    }
    for (i, subset) in spec.subsets.iter().enumerate() {
        for (j, setting) in subset.port_level_settings.iter().enumerate() {
            let path = format!("spec.subsets[{i}].portLevelSettings[{j}]");
            let Some(port) = rules.port_setting(setting, &path) else {
                continue;
            };
            match ports.get(&port) {
                None => rules.warning(
                    format!("{path}.port"),
                    &format!(
                        "port {port} is not in spec.portLevelSettings: there is no route of \
                         it to modify, so the setting is ignored"
                    ),
                    &format!("add {{port: {port}}} to spec.portLevelSettings"),
                ),
                Some(kind) if *kind != setting.traffic_type() => rules.warning(
                    format!("{path}.trafficType"),
                    &format!(
                        "conflicts with trafficType {} of port {port} in \
                         spec.portLevelSettings, so the setting is ignored",
                        kind.as_str()
                    ),
                    "use the same trafficType as the top-level setting of the port",
                ),
                Some(_) => {}
            }
        }
    }
    for (i, route) in spec.http_routes.iter().enumerate() {
        let path = format!("spec.httpRoutes[{i}]");
        rules.required_name(route.name.as_deref(), format!("{path}.name"), "productpage");
        let later =
            i + 1 < spec.http_routes.len() || ports.values().any(|t| *t == TrafficType::Http);
        rules.shadowing(route.r#match.is_empty() && later, &path);
        for (j, condition) in route.r#match.iter().enumerate() {
            let at = format!("{path}.match[{j}]");
            rules.required_name(condition.name.as_deref(), format!("{at}.name"), "by-uri");
            rules.match_port(condition.port, format!("{at}.port"), &ports, true);
            if let Some(uri) = &condition.uri {
                rules.string_match(uri, format!("{at}.uri"));
            }
            for (name, value) in &condition.headers {
                rules.string_match(value, format!("{at}.headers.{name}"));
            }
        }
        rules.destinations(&route.destination, &path, host, &subsets);
    }
    for (i, route) in spec.tcp_routes.iter().enumerate() {
        let path = format!("spec.tcpRoutes[{i}]");
        rules.required_name(route.name.as_deref(), format!("{path}.name"), "db");
        let later = i + 1 < spec.tcp_routes.len() || ports.values().any(|t| *t == TrafficType::Tcp);
        rules.shadowing(route.r#match.is_empty() && later, &path);
        for (j, condition) in route.r#match.iter().enumerate() {
            let at = format!("{path}.match[{j}]");
            rules.required_name(condition.name.as_deref(), format!("{at}.name"), "by-port");
            rules.match_port(condition.port, format!("{at}.port"), &ports, false);
        }
        rules.destinations(&route.destination, &path, host, &subsets);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::is_duration;
    use crate::model::diagnostic::{RuleCode, Severity};
    use crate::model::fixtures;
    use crate::model::validate::validate_object;

    /// (severity, rule, field) of every finding but TSB1106, for a spec of the fixture's route.
    fn findings(spec: Value) -> Vec<(Severity, RuleCode, String)> {
        let mut sr = fixtures::service_route();
        sr.spec = spec;
        validate_object(&sr)
            .into_iter()
            .filter(|d| d.rule != RuleCode::NotEnforced)
            .map(|d| (d.severity, d.rule, d.field))
            .collect()
    }

    fn error(rule: RuleCode, field: &str) -> (Severity, RuleCode, String) {
        (Severity::Error, rule, field.to_string())
    }

    const SERVICE: &str = "checkout/cart.checkout.svc.cluster.local";

    #[test]
    fn durations_follow_the_go_grammar() {
        for good in ["1s", "0.5s", "100ms", "1h30m", "3600s", "2us", "5µs"] {
            assert!(is_duration(good), "{good}");
        }
        for bad in ["", "1", "s", "1d", "1.s.", "-1s", "1 s"] {
            assert!(!is_duration(bad), "{bad}");
        }
    }

    #[test]
    fn the_reference_examples_are_valid() {
        // The routes example of the reference page, and its subset-level sticky session.
        assert_eq!(
            findings(json!({
                "service": SERVICE,
                "portLevelSettings": [
                    {"port": 8080, "trafficType": "HTTP", "stickySession": {"header": "x-h"}},
                    {"port": 8000, "trafficType": "TCP"}
                ],
                "subsets": [
                    {"name": "v1", "labels": {"version": "v1"}, "weight": 80},
                    {"name": "v2", "labels": {"version": "v2"}, "weight": 20, "portLevelSettings": [
                        {"port": 8000, "trafficType": "TCP", "stickySession": {"useSourceIp": true}}
                    ]}
                ],
                "httpRoutes": [{"name": "r", "match": [{"name": "m", "uri": {"prefix": "/p"},
                    "headers": {"end-user": {"exact": "jason"}}, "port": 8080}],
                    "destination": [{"subset": "v1", "weight": 80, "port": 8080},
                                    {"subset": "v2", "weight": 20, "port": 8080}]}]
            })),
            []
        );
    }

    #[test]
    fn sticky_sessions_are_a_oneof_and_tcp_hashes_only_on_the_source_ip() {
        assert_eq!(
            findings(json!({
                "service": SERVICE,
                "subsets": [{"name": "v1"}],
                "stickySession": {"header": "x", "useSourceIp": true},
                "portLevelSettings": [
                    {"port": 443, "trafficType": "TCP", "stickySession": {"header": "x"}},
                    {"port": 8080, "stickySession": {"cookie": {"name": "c", "ttl": "1 day"}}},
                    {"port": 0}
                ]
            })),
            [
                error(
                    RuleCode::SpecSchema,
                    "spec.portLevelSettings[0].stickySession"
                ),
                error(
                    RuleCode::RequiredField,
                    "spec.portLevelSettings[1].stickySession.cookie.path"
                ),
                error(
                    RuleCode::SpecSchema,
                    "spec.portLevelSettings[1].stickySession.cookie.ttl"
                ),
                error(RuleCode::SpecSchema, "spec.portLevelSettings[2].port"),
                error(RuleCode::SpecSchema, "spec.stickySession"),
                (
                    Severity::Warning,
                    RuleCode::SpecSchema,
                    "spec.stickySession".to_string()
                ),
            ]
        );
    }

    #[test]
    fn routes_need_names_ports_of_their_kind_and_known_subsets() {
        assert_eq!(
            findings(json!({
                "service": SERVICE,
                "subsets": [{"name": "v1"}, {"name": "v1", "portLevelSettings": [{"port": 9}]}],
                "portLevelSettings": [{"port": 8080}, {"port": 5432, "trafficType": "TCP"}],
                "httpRoutes": [{"match": [{"port": 5432, "uri": {}}],
                    "destination": [{"subset": "v3"}]}],
                "tcpRoutes": [{"name": "t", "match": [{"name": "m", "port": 7000}]}]
            })),
            [
                error(RuleCode::SpecSchema, "spec.subsets[1].name"),
                (
                    Severity::Warning,
                    RuleCode::SpecSchema,
                    "spec.subsets[1].portLevelSettings[0].port".to_string()
                ),
                error(RuleCode::RequiredField, "spec.httpRoutes[0].name"),
                error(RuleCode::RequiredField, "spec.httpRoutes[0].match[0].name"),
                error(RuleCode::SpecSchema, "spec.httpRoutes[0].match[0].port"),
                error(RuleCode::SpecSchema, "spec.httpRoutes[0].match[0].uri"),
                error(
                    RuleCode::RequiredField,
                    "spec.httpRoutes[0].destination[0].port"
                ),
                error(
                    RuleCode::SpecSchema,
                    "spec.httpRoutes[0].destination[0].subset"
                ),
                error(RuleCode::SpecSchema, "spec.tcpRoutes[0].match[0].port"),
                error(RuleCode::SpecSchema, "spec.tcpRoutes[0].destination"),
            ]
        );
    }

    #[test]
    fn a_route_without_matches_shadows_the_routes_after_it() {
        let route =
            |name: &str| json!({"name": name, "destination": [{"subset": "v1", "port": 80}]});
        let spec = |routes: Value, ports: Value| {
            json!({"service": SERVICE, "subsets": [{"name": "v1"}],
                   "httpRoutes": routes, "portLevelSettings": ports})
        };
        let warning = |field: &str| (Severity::Warning, RuleCode::SpecSchema, field.to_string());
        assert_eq!(findings(spec(json!([route("a")]), json!([]))), []);
        assert_eq!(
            findings(spec(json!([route("a"), route("b")]), json!([]))),
            [warning("spec.httpRoutes[0].match")]
        );
        assert_eq!(
            findings(spec(json!([route("a")]), json!([{"port": 8080}]))),
            [warning("spec.httpRoutes[0].match")]
        );
    }

    #[test]
    fn unknown_traffic_types_are_rejected() {
        let found = findings(json!({
            "service": SERVICE,
            "subsets": [{"name": "v1"}],
            "portLevelSettings": [{"port": 443, "trafficType": "HTTPS"}]
        }));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Severity::Error);
    }
}
