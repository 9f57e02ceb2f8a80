//! L1 rules of the gateway kinds: the reference's REQUIRED fields, oneofs, ranges and patterns
//! of servers, routes, TLS, rate limits and egress authorization (TSB1007 for a missing field,
//! TSB1008 for a wrong shape).

use crate::model::diagnostic::{Diagnostic, ObjectRef, RuleCode};
use crate::model::spec::Spec;
use crate::model::spec::gateway::{
    ClusterDestination, HttpMatchCondition, RateLimiting, Redirect, Route, RouteTo, ServerTlsMode,
    ServerTlsSettings, StringMatch,
};
use crate::model::validate::findings::Findings as Check;

/// Port reserved by TSB for the gateways' mTLS (east-west and egress) listener.
const RESERVED_PORT: u32 = 15443;

impl Check<'_> {
    fn text(&mut self, path: &str, field: &str, value: Option<&str>, fix: &str) {
        if value.is_none_or(str::is_empty) {
            self.required(format!("{path}.{field}"), fix);
        }
    }

    /// `name` and `hostname` of any server.
    fn server(&mut self, path: &str, name: Option<&str>, hostname: Option<&str>) {
        self.text(
            path,
            "name",
            name,
            "name the server, unique in the gateway, e.g. bookinfo",
        );
        self.text(
            path,
            "hostname",
            hostname,
            "set the hostname clients use, e.g. bookinfo.com",
        );
    }

    /// A port: REQUIRED where `required`, never 0 or 15443, at most 65535.
    fn port(&mut self, path: &str, port: Option<u32>, required: bool) {
        let field = format!("{path}.port");
        match port {
            None if required => {
                self.required(field, "set the port the gateway listens on, e.g. 443")
            }
            Some(0) | Some(RESERVED_PORT) => self.shape(
                field,
                "may not be 0 or 15443 (reserved for the gateway's mTLS listener)",
                "pick another port, e.g. 443",
            ),
            Some(p) if p > 65535 => {
                self.shape(field, "must be at most 65535", "use a valid port number")
            }
            _ => {}
        }
    }

    fn tls(&mut self, path: &str, tls: Option<&ServerTlsSettings>) {
        let Some(tls) = tls else { return };
        let path = format!("{path}.tls");
        if tls.secret_name.is_some() && tls.files.is_some() {
            self.shape(
                path.clone(),
                "sets both secretName and files (only one of them)",
                "keep secretName (a Kubernetes Secret) or files (paths on the gateway pods)",
            );
        }
        let disabled = matches!(tls.mode, None | Some(ServerTlsMode::Disabled));
        if disabled && (tls.secret_name.is_some() || tls.files.is_some()) {
            self.out.push(Diagnostic::warning(
                RuleCode::SpecSchema,
                self.object,
                format!("{path}.mode"),
                "is DISABLED (the default when left out) although certificates are set: the server is plain text",
                "set mode: SIMPLE (or MUTUAL to verify client certificates)",
            ));
        }
        if !disabled && tls.secret_name.is_none() && tls.files.is_none() {
            self.required(
                format!("{path}.secretName"),
                "name the Kubernetes Secret holding the certificate, e.g. secretName: bookinfo-certs",
            );
        }
    }

    fn string_match(&mut self, path: String, value: &StringMatch) {
        if value.set_count() != 1 {
            self.shape(
                path,
                "needs exactly one of exact, prefix and regex",
                "keep one of them, e.g. prefix: /api",
            );
        }
    }

    fn matches(&mut self, path: &str, matches: &[HttpMatchCondition]) {
        for (k, condition) in matches.iter().enumerate() {
            if let Some(uri) = &condition.uri {
                self.string_match(format!("{path}.match[{k}].uri"), uri);
            }
            for (name, value) in &condition.headers {
                self.string_match(format!("{path}.match[{k}].headers.{name}"), value);
            }
        }
    }

    fn redirect(&mut self, path: &str, redirect: Option<&Redirect>) {
        let Some(redirect) = redirect else { return };
        if let Some(code) = redirect.redirect_code
            && !(300..400).contains(&code)
        {
            self.shape(
                format!("{path}.redirect.redirectCode"),
                format!("{code} is not a 3XX code"),
                "use e.g. 301 or 302",
            );
        }
        if let Some(scheme) = redirect.scheme.as_deref()
            && !matches!(scheme, "http" | "https")
        {
            self.shape(
                format!("{path}.redirect.scheme"),
                format!("{scheme:?} is not http or https"),
                "write http or https in lower case",
            );
        }
    }

    /// A `<namespace>/<fqdn>` service host (REQUIRED).
    fn service_host(&mut self, path: String, host: Option<&str>) {
        match host {
            None | Some("") => self.required(path, "set the service as <namespace>/<fqdn>, e.g. ns1/productpage.ns1.svc.cluster.local"),
            Some(host) if !crate::model::validate::is_namespace_slash_name(host) => self.shape(
                path,
                format!("{host:?} is not <namespace>/<fqdn> (pattern ^[^/]+/[^/]+$)"),
                "write the service as <namespace>/<fqdn>, e.g. ns1/productpage.ns1.svc.cluster.local",
            ),
            _ => {}
        }
    }

    fn route_to(&mut self, path: &str, route: &RouteTo) {
        match (&route.cluster_destination, &route.service_destination) {
            (Some(_), Some(_)) => self.shape(
                path.to_string(),
                "sets both clusterDestination and serviceDestination (only one of them)",
                "keep the one this server routes to",
            ),
            (None, None) => self.required(
                format!("{path}.serviceDestination"),
                "route to a service (serviceDestination.host) or to clusters (clusterDestination)",
            ),
            (Some(clusters), None) => {
                self.clusters(&format!("{path}.clusterDestination"), &clusters.clusters)
            }
            (None, Some(service)) => {
                self.service_host(
                    format!("{path}.serviceDestination.host"),
                    service.host.as_deref(),
                );
                self.port(&format!("{path}.serviceDestination"), service.port, false);
            }
        }
    }

    /// `routing.rules` of an HTTP server (REQUIRED, at least one): each a route or a redirect.
    #[allow(clippy::type_complexity)]
    fn http_rules<D: Destination>(
        &mut self,
        path: &str,
        rules: Option<Vec<(&[HttpMatchCondition], Option<&D>, Option<&Redirect>)>>,
    ) {
        let Some(rules) = rules else {
            self.required(
                format!("{path}.routing"),
                "add routing.rules with a route or a redirect",
            );
            return;
        };
        if rules.is_empty() {
            self.required(
                format!("{path}.routing.rules"),
                "add a rule with a route or a redirect",
            );
        }
        for (j, (matches, route, redirect)) in rules.into_iter().enumerate() {
            let r = format!("{path}.routing.rules[{j}]");
            self.matches(&r, matches);
            self.redirect(&r, redirect);
            match (route, redirect) {
                (Some(_), Some(_)) => self.shape(
                    r.clone(),
                    "sets both route and redirect (only one of them)",
                    "keep route or redirect",
                ),
                (None, None) => {
                    self.required(format!("{r}.route"), "route to a service or redirect")
                }
                (Some(route), None) => route.check(self, &format!("{r}.route")),
                _ => {}
            }
        }
    }

    fn clusters(&mut self, path: &str, clusters: &[ClusterDestination]) {
        for (i, cluster) in clusters.iter().enumerate() {
            if cluster.name.is_some() && !cluster.labels.is_empty() {
                self.shape(
                    format!("{path}.clusters[{i}]"),
                    "sets both name and labels (only one of them)",
                    "select the cluster by name or by labels",
                );
            }
        }
    }

    fn rate_limiting(&mut self, path: &str, limiting: Option<&RateLimiting>) {
        let Some(limiting) = limiting else { return };
        let path = format!("{path}.rateLimiting");
        match (&limiting.settings, &limiting.external_service) {
            (Some(_), Some(_)) => self.shape(
                path.clone(),
                "sets both settings and externalService (only one of them)",
                "keep one of them",
            ),
            (None, None) => self.required(
                format!("{path}.settings"),
                "set settings (limits) or externalService (your rate limit server)",
            ),
            _ => {}
        }
        if let Some(settings) = &limiting.settings {
            if settings.rules.is_empty() {
                self.required(
                    format!("{path}.settings.rules"),
                    "add a rule with dimensions and a limit",
                );
            }
            for (i, rule) in settings.rules.iter().enumerate() {
                let rule_path = format!("{path}.settings.rules[{i}]");
                if rule.dimensions.is_empty() {
                    self.required(
                        format!("{rule_path}.dimensions"),
                        "add a dimension, e.g. remoteAddress: {value: \"*\"}",
                    );
                }
                for (j, dimension) in rule.dimensions.iter().enumerate() {
                    let d = format!("{rule_path}.dimensions[{j}]");
                    match (&dimension.remote_address, &dimension.header) {
                        (Some(_), Some(_)) => self.shape(
                            d.clone(),
                            "sets both remoteAddress and header (only one of them)",
                            "split them into two dimensions",
                        ),
                        (None, None) => self
                            .required(format!("{d}.remoteAddress"), "set remoteAddress or header"),
                        (Some(address), None) => self.text(
                            &format!("{d}.remoteAddress"),
                            "value",
                            address.value.as_deref(),
                            "set an address, or \"*\" for every address",
                        ),
                        (None, Some(header)) => {
                            self.text(
                                &format!("{d}.header"),
                                "name",
                                header.name.as_deref(),
                                "name the header, e.g. user-agent",
                            );
                            if let Some(value) = &header.value {
                                self.string_match(format!("{d}.header.value"), value);
                            }
                        }
                    }
                }
                match &rule.limit {
                    None => self.required(
                        format!("{rule_path}.limit"),
                        "set limit: {requestsPerUnit: 10, unit: MINUTE}",
                    ),
                    Some(limit) => {
                        if limit.requests_per_unit.is_none() {
                            self.required(
                                format!("{rule_path}.limit.requestsPerUnit"),
                                "set the number of requests allowed per unit",
                            );
                        }
                        if limit.unit.is_none() {
                            self.required(
                                format!("{rule_path}.limit.unit"),
                                "set the unit: SECOND, MINUTE, HOUR or DAY",
                            );
                        }
                    }
                }
            }
        }
        if let Some(external) = &limiting.external_service {
            let e = format!("{path}.externalService");
            self.text(
                &e,
                "domain",
                external.domain.as_deref(),
                "set the rate limit domain",
            );
            self.text(
                &e,
                "rateLimitServerUri",
                external.rate_limit_server_uri.as_deref(),
                "set the server address, e.g. grpc://ratelimit.rl:8081",
            );
            if external.rules.is_empty() {
                self.required(format!("{e}.rules"), "add a rule with dimensions");
            }
        }
    }
}

/// A rule's destination: IngressGateway's `Route` or the unified Gateway's `RouteTo`.
trait Destination {
    fn check(&self, check: &mut Check<'_>, path: &str);
}

impl Destination for Route {
    fn check(&self, check: &mut Check<'_>, path: &str) {
        check.service_host(format!("{path}.host"), self.host.as_deref());
    }
}

impl Destination for RouteTo {
    fn check(&self, check: &mut Check<'_>, path: &str) {
        check.route_to(path, self);
    }
}

/// Istio runs one CUSTOM provider per workload: servers of one gateway naming different
/// external authorization servers cannot all be enforced (a warning on each later one).
fn one_external_authorizer(spec: &Spec, check: &mut Check<'_>) {
    let servers: Vec<(String, Option<&crate::model::spec::auth::Authorization>)> = match spec {
        Spec::IngressGateway(s) => (s.http.iter().enumerate())
            .map(|(i, s)| (format!("spec.http[{i}]"), s.authorization.as_ref()))
            .collect(),
        Spec::UnifiedGateway(s) => (s.http.iter().enumerate())
            .map(|(i, s)| (format!("spec.http[{i}]"), s.authorization.as_ref()))
            .collect(),
        Spec::Tier1Gateway(s) => (s.external_servers.iter().enumerate())
            .map(|(i, s)| {
                (
                    format!("spec.externalServers[{i}]"),
                    s.authorization.as_ref(),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut first: Option<&str> = None;
    for (path, authorization) in servers {
        // The auth messages' own rules, TSB1107 included (the provider the CUSTOM policy names).
        if let Some(authorization) = authorization {
            crate::model::validate::rules_security::check_authorization(
                authorization,
                &format!("{path}.authorization"),
                check.object,
                check.out,
            );
        }
        let uri = authorization
            .and_then(|a| a.external.as_ref())
            .and_then(|e| e.uri.as_deref());
        let Some(uri) = uri else { continue };
        match first {
            None => first = Some(uri),
            Some(first) if first != uri => check.out.push(Diagnostic::warning(
                RuleCode::SpecSchema,
                check.object,
                format!("{path}.authorization.external.uri"),
                format!("names another authorization server than an earlier server ({first}); Istio runs one CUSTOM provider per gateway workload, so only one of them takes effect"),
                "use one external authorization server for every server of the gateway, or split the servers into gateways on different workloads",
            )),
            Some(_) => {}
        }
    }
}

/// Server names are unique within the lists the reference groups together (they name the
/// generated Istio Gateway's ports, which must be unique too).
fn unique_names(spec: &Spec, check: &mut Check<'_>) {
    fn names<'s>(
        field: &str,
        list: impl Iterator<Item = Option<&'s str>>,
    ) -> Vec<(String, &'s str)> {
        list.enumerate()
            .filter_map(|(i, name)| Some((format!("spec.{field}[{i}].name"), name?)))
            .collect()
    }
    let groups: Vec<Vec<(String, &str)>> = match spec {
        Spec::IngressGateway(s) => vec![
            [
                names("http", s.http.iter().map(|s| s.name.as_deref())),
                names("tcp", s.tcp.iter().map(|s| s.name.as_deref())),
                names(
                    "tlsPassthrough",
                    s.tls_passthrough.iter().map(|s| s.name.as_deref()),
                ),
            ]
            .concat(),
        ],
        Spec::UnifiedGateway(s) => vec![
            [
                names("http", s.http.iter().map(|s| s.name.as_deref())),
                names("tcp", s.tcp.iter().map(|s| s.name.as_deref())),
                names("tls", s.tls.iter().map(|s| s.name.as_deref())),
            ]
            .concat(),
        ],
        Spec::Tier1Gateway(s) => vec![
            [
                names(
                    "externalServers",
                    s.external_servers.iter().map(|s| s.name.as_deref()),
                ),
                names(
                    "passthroughServers",
                    s.passthrough_servers.iter().map(|s| s.name.as_deref()),
                ),
            ]
            .concat(),
            names(
                "internalServers",
                s.internal_servers.iter().map(|s| s.name.as_deref()),
            ),
            [
                names(
                    "tcpExternalServers",
                    s.tcp_external_servers.iter().map(|s| s.name.as_deref()),
                ),
                names(
                    "tcpInternalServers",
                    s.tcp_internal_servers.iter().map(|s| s.name.as_deref()),
                ),
            ]
            .concat(),
        ],
        _ => Vec::new(),
    };
    for group in groups {
        let mut seen = std::collections::BTreeSet::new();
        for (path, name) in group {
            if !name.is_empty() && !seen.insert(name) {
                check.shape(
                    path,
                    format!(
                        "{name:?} names an earlier server too; server names are unique in a gateway"
                    ),
                    "give every server its own name",
                );
            }
        }
    }
}

/// The gateway kinds' rules (the workload selector and the unified Gateway's mix check are in
/// `spec_rules`).
pub(super) fn check_gateway(spec: &Spec, object: &ObjectRef, out: &mut Vec<Diagnostic>) {
    let mut check = Check { object, out };
    one_external_authorizer(spec, &mut check);
    unique_names(spec, &mut check);
    match spec {
        Spec::IngressGateway(s) => {
            for (i, server) in s.http.iter().enumerate() {
                let path = format!("spec.http[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.port(&path, server.port, true);
                check.tls(&path, server.tls.as_ref());
                check.rate_limiting(&path, server.rate_limiting.as_ref());
                let rules = server.routing.as_ref().map(|r| {
                    let rules = r.rules.iter();
                    rules
                        .map(|r| (r.match_.as_slice(), r.route.as_ref(), r.redirect.as_ref()))
                        .collect()
                });
                check.http_rules(&path, rules);
            }
            for (i, server) in s.tcp.iter().enumerate() {
                let path = format!("spec.tcp[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.port(&path, server.port, true);
                check.tls(&path, server.tls.as_ref());
                if let Some(route) = &server.route {
                    check.service_host(format!("{path}.route.host"), route.host.as_deref());
                }
            }
            for (i, server) in s.tls_passthrough.iter().enumerate() {
                let path = format!("spec.tlsPassthrough[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.port(&path, server.port, true);
                match &server.route {
                    None => check.required(
                        format!("{path}.route"),
                        "route to a service: route.host <namespace>/<fqdn>",
                    ),
                    Some(route) => {
                        check.service_host(format!("{path}.route.host"), route.host.as_deref())
                    }
                }
            }
        }
        Spec::UnifiedGateway(s) => {
            for (i, server) in s.http.iter().enumerate() {
                let path = format!("spec.http[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                transit(
                    &mut check,
                    &path,
                    server.transit,
                    server.port,
                    server.tls.is_some(),
                );
                check.tls(&path, server.tls.as_ref());
                check.rate_limiting(&path, server.rate_limiting.as_ref());
                let rules = server.routing.as_ref().map(|r| {
                    let rules = r.rules.iter();
                    rules
                        .map(|r| (r.match_.as_slice(), r.route.as_ref(), r.redirect.as_ref()))
                        .collect()
                });
                check.http_rules(&path, rules);
            }
            for (i, server) in s.tcp.iter().enumerate() {
                let path = format!("spec.tcp[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                transit(
                    &mut check,
                    &path,
                    server.transit,
                    server.port,
                    server.tls.is_some(),
                );
                check.tls(&path, server.tls.as_ref());
                match &server.route {
                    None => {
                        check.required(format!("{path}.route"), "route to a service or to clusters")
                    }
                    Some(route) => check.route_to(&format!("{path}.route"), route),
                }
            }
            for (i, server) in s.tls.iter().enumerate() {
                let path = format!("spec.tls[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.port(&path, server.port, true);
                match &server.route {
                    None => {
                        check.required(format!("{path}.route"), "route to a service or to clusters")
                    }
                    Some(route) => check.route_to(&format!("{path}.route"), route),
                }
            }
            egress(
                &mut check,
                "spec.egressAuthorization",
                &s.egress_authorization,
            );
        }
        Spec::Tier1Gateway(s) => {
            for (i, server) in s.external_servers.iter().enumerate() {
                let path = format!("spec.externalServers[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.port(&path, server.port, true);
                check.tls(&path, server.tls.as_ref());
                check.redirect(&path, server.redirect.as_ref());
                check.clusters(&path, &server.clusters);
                check.rate_limiting(&path, server.rate_limiting.as_ref());
                if server.redirect.is_some() && !server.clusters.is_empty() {
                    check.shape(
                        path.clone(),
                        "sets both clusters and redirect (only one of them)",
                        "keep clusters or redirect",
                    );
                }
            }
            for (i, server) in s.internal_servers.iter().enumerate() {
                let path = format!("spec.internalServers[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.clusters(&path, &server.clusters);
            }
            for (i, server) in s.passthrough_servers.iter().enumerate() {
                let path = format!("spec.passthroughServers[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.port(&path, server.port, true);
                check.clusters(&path, &server.clusters);
            }
            for (i, server) in s.tcp_external_servers.iter().enumerate() {
                let path = format!("spec.tcpExternalServers[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.port(&path, server.port, true);
                check.tls(&path, server.tls.as_ref());
                check.clusters(&path, &server.clusters);
            }
            for (i, server) in s.tcp_internal_servers.iter().enumerate() {
                let path = format!("spec.tcpInternalServers[{i}]");
                check.server(&path, server.name.as_deref(), server.hostname.as_deref());
                check.clusters(&path, &server.clusters);
            }
        }
        Spec::EgressGateway(s) => egress(&mut check, "spec.authorization", &s.authorization),
        _ => {}
    }
}

/// A transit server has neither `port` nor `tls` (the mesh's 15443 mTLS port carries it);
/// any other unified-gateway HTTP or TCP server needs a port.
fn transit(check: &mut Check<'_>, path: &str, transit: Option<bool>, port: Option<u32>, tls: bool) {
    if transit == Some(true) {
        if port.is_some() || tls {
            check.shape(
                path.to_string(),
                "a transit server may not set port or tls (it is reached over the mesh's mTLS port 15443)",
                "remove port and tls, or set transit: false",
            );
        }
    } else {
        check.port(path, port, true);
    }
}

fn egress(
    check: &mut Check<'_>,
    path: &str,
    entries: &[crate::model::spec::gateway::EgressAuthorization],
) {
    for (i, entry) in entries.iter().enumerate() {
        if entry.to.is_empty() {
            check.required(
                format!("{path}[{i}].to"),
                "list the external hosts allowed, e.g. to: [\"www.httpbin.org\"], or \"*\"",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::diagnostic::Severity;
    use crate::model::kind::Kind;

    /// `(severity, code, field)` of every finding on `spec` of `kind`.
    fn findings(kind: Kind, spec: Value) -> Vec<(Severity, RuleCode, String)> {
        let spec = Spec::decode(kind, &spec).expect("decodes");
        let object = ObjectRef {
            group: "gateway.tsb.tetrate.io".into(),
            kind: kind.name().into(),
            name: "gw".into(),
            namespace: None,
            fqn: None,
        };
        let mut out = Vec::new();
        check_gateway(&spec, &object, &mut out);
        out.into_iter()
            .map(|d| (d.severity, d.rule, d.field))
            .collect()
    }

    fn error(code: RuleCode, field: &str) -> (Severity, RuleCode, String) {
        (Severity::Error, code, field.to_string())
    }

    #[test]
    fn ingress_servers_need_their_required_fields_and_a_route_or_a_redirect() {
        let found = findings(
            Kind::IngressGateway,
            json!({"http": [
                {"port": 15443, "routing": {"rules": [
                    {"route": {"host": "productpage"}, "redirect": {"redirectCode": 200, "scheme": "ftp"}},
                    {"match": [{"uri": {"exact": "/a", "prefix": "/"}}]}
                ]}},
                {"name": "ok", "port": 80, "hostname": "ok.example.com",
                 "routing": {"rules": [{"route": {"host": "ns/ok.ns.svc.cluster.local"}}]}}
            ],
            "tlsPassthrough": [{"name": "p", "port": 443, "hostname": "p.example.com"}]}),
        );
        assert_eq!(
            found,
            [
                error(RuleCode::RequiredField, "spec.http[0].name"),
                error(RuleCode::RequiredField, "spec.http[0].hostname"),
                error(RuleCode::SpecSchema, "spec.http[0].port"),
                error(
                    RuleCode::SpecSchema,
                    "spec.http[0].routing.rules[0].redirect.redirectCode"
                ),
                error(
                    RuleCode::SpecSchema,
                    "spec.http[0].routing.rules[0].redirect.scheme"
                ),
                error(RuleCode::SpecSchema, "spec.http[0].routing.rules[0]"),
                error(
                    RuleCode::SpecSchema,
                    "spec.http[0].routing.rules[1].match[0].uri"
                ),
                error(
                    RuleCode::RequiredField,
                    "spec.http[0].routing.rules[1].route"
                ),
                error(RuleCode::RequiredField, "spec.tlsPassthrough[0].route"),
            ]
        );
    }

    #[test]
    fn tls_rate_limits_routes_and_transit_follow_the_reference() {
        let found = findings(
            Kind::UnifiedGateway,
            json!({"http": [
                {"name": "a", "port": 443, "hostname": "a.example.com",
                 "tls": {"secretName": "a-certs"},
                 "rateLimiting": {"settings": {"rules": [{"dimensions": [{}]}]}},
                 "routing": {"rules": [{"route": {"serviceDestination": {"host": "svc"}}}]}},
                {"name": "t", "hostname": "t.example.com", "transit": true, "port": 80,
                 "routing": {"rules": [{"route": {"clusterDestination": {"clusters": [{"name": "c", "labels": {"x": "y"}}]}}}]}}
            ],
            "tcp": [{"name": "db", "port": 9000, "hostname": "db.example.com", "route": {}}],
            "egressAuthorization": [{"from": {"mode": "CLUSTER"}}]}),
        );
        assert_eq!(
            found,
            [
                (
                    Severity::Warning,
                    RuleCode::SpecSchema,
                    "spec.http[0].tls.mode".to_string()
                ),
                error(
                    RuleCode::RequiredField,
                    "spec.http[0].rateLimiting.settings.rules[0].dimensions[0].remoteAddress"
                ),
                error(
                    RuleCode::RequiredField,
                    "spec.http[0].rateLimiting.settings.rules[0].limit"
                ),
                error(
                    RuleCode::SpecSchema,
                    "spec.http[0].routing.rules[0].route.serviceDestination.host"
                ),
                error(RuleCode::SpecSchema, "spec.http[1]"),
                error(
                    RuleCode::SpecSchema,
                    "spec.http[1].routing.rules[0].route.clusterDestination.clusters[0]"
                ),
                error(
                    RuleCode::RequiredField,
                    "spec.tcp[0].route.serviceDestination"
                ),
                error(RuleCode::RequiredField, "spec.egressAuthorization[0].to"),
            ]
        );
    }

    #[test]
    fn one_external_authorization_server_per_gateway() {
        let server = |name: &str, uri: &str| {
            json!({"name": name, "port": 80, "hostname": format!("{name}.example.com"),
                   "authorization": {"external": {"uri": uri}},
                   "routing": {"rules": [{"route": {"host": "ns/a.ns.svc.cluster.local"}}]}})
        };
        let found = findings(
            Kind::IngressGateway,
            json!({"http": [server("a", "grpc://authz:9000"), server("b", "grpc://authz:9000"),
                            server("c", "https://other.example.com")]}),
        );
        // Each server names the provider its CUSTOM policy needs (TSB1107); the third names a
        // second server, which Istio cannot run beside the first.
        let provider = |i: usize| {
            (
                Severity::Warning,
                RuleCode::ExtensionProvider,
                format!("spec.http[{i}].authorization.external.uri"),
            )
        };
        assert_eq!(
            found,
            [
                provider(0),
                provider(1),
                provider(2),
                (
                    Severity::Warning,
                    RuleCode::SpecSchema,
                    "spec.http[2].authorization.external.uri".to_string()
                )
            ]
        );
    }

    #[test]
    fn tier1_external_servers_forward_or_redirect() {
        let found = findings(
            Kind::Tier1Gateway,
            json!({"externalServers": [{"name": "m", "hostname": "m.example.com", "port": 80,
                "clusters": [{"name": "c3"}], "redirect": {"scheme": "https"}}]}),
        );
        assert_eq!(
            found,
            [error(RuleCode::SpecSchema, "spec.externalServers[0]")]
        );
    }
}
