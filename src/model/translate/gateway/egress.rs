//! EgressGateway `authorization[] {from, to[]}` → an ALLOW `AuthorizationPolicy` on the
//! gateway pods (with no entry it has no rule, so it denies everything, as TSB documents),
//! and, for every allowed external host, what the gateway needs to forward to it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::model::kind::Kind;
use crate::model::spec::AuthorizationMode;
use crate::model::spec::gateway::EgressAuthorization;
use crate::model::translate::{Context, Generated, Output};

/// Port the gateway calls external hosts on, with TLS it originates ("one-way TLS for external
/// calls", as TSB documents).
const EXTERNAL_PORT: u32 = 443;

/// The CA bundle of the Istio proxy image: the gateway verifies the external host's
/// certificate against the public CAs (istioctl analyze IST0128 otherwise).
const SYSTEM_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// For every external host an entry allows (hosts with a wildcard left out: the gateway cannot
/// resolve them), the objects the gateway forwards with, all visible only in its namespace
/// (`exportTo: ["."]`, so sidecars elsewhere do not bypass the gateway): a MESH_EXTERNAL
/// `ServiceEntry` (DNS, port 443), a `VirtualService` bound to the gateway routing the host to
/// it, and a `DestinationRule` originating TLS (`SIMPLE`, SNI = the host, verified against
/// the system CAs).
pub(super) fn forwarding(
    allowed: &BTreeSet<&str>,
    gateway: &str,
    namespace: &str,
    out: &Output<'_>,
) -> Vec<Generated> {
    let hosts = allowed.iter().filter(|h| !h.is_empty() && !h.contains('*'));
    let mut objects = Vec::new();
    for &host in hosts {
        let entry = json!({
            "hosts": [host],
            "exportTo": ["."],
            "location": "MESH_EXTERNAL",
            "resolution": "DNS",
            "ports": [{"number": EXTERNAL_PORT, "name": "https", "protocol": "HTTPS"}],
        });
        let route = json!({
            "hosts": [host],
            "gateways": [gateway],
            "exportTo": ["."],
            "http": [{"route": [{"destination": {"host": host, "port": {"number": EXTERNAL_PORT}}}]}],
        });
        let tls = json!({
            "host": host,
            "exportTo": ["."],
            "trafficPolicy": {"tls": {"mode": "SIMPLE", "sni": host, "caCertificates": SYSTEM_CA}},
        });
        objects.push(out.object(Kind::ServiceEntry, namespace, Some(host), entry));
        objects.push(out.object(Kind::VirtualService, namespace, Some(host), route));
        objects.push(out.object(Kind::DestinationRule, namespace, Some(host), tls));
    }
    objects
}

/// The ALLOW policy, and the hosts its rules allow.
pub(super) fn authorization<'s>(
    entries: &'s [EgressAuthorization],
    labels: &BTreeMap<String, String>,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> (Value, BTreeSet<&'s str>) {
    let mut allowed = BTreeSet::new();
    let rules: Vec<Value> = entries
        .iter()
        .filter_map(|entry| {
            let mut rule = json!({});
            if let Some(from) = &entry.from {
                rule["from"] = sources(from, namespace, context, out)?;
            }
            allowed.extend(entry.to.iter().map(String::as_str));
            // `*` already matches every host, with or without a port.
            let hosts: Vec<String> = entry
                .to
                .iter()
                .flat_map(|h| match h.as_str() {
                    "*" => vec![h.to_string()],
                    _ => vec![h.to_string(), format!("{h}:*")],
                })
                .collect();
            if !hosts.is_empty() {
                rule["to"] = json!([{"operation": {"hosts": hosts}}]);
            }
            Some(rule)
        })
        .collect();
    let mut policy = json!({"selector": {"matchLabels": labels}, "action": "ALLOW"});
    if !rules.is_empty() {
        policy["rules"] = Value::Array(rules);
    }
    (policy, allowed)
}

/// `from.mode` (with `serviceAccounts` for CUSTOM) → Istio sources; `None` (entry dropped)
/// when it selects nobody here, since an empty source would match everybody.
fn sources(
    from: &crate::model::spec::AuthorizationSettings,
    namespace: &str,
    context: &Context<'_>,
    out: &Output<'_>,
) -> Option<Value> {
    let namespaces: BTreeSet<String> = match from.mode? {
        AuthorizationMode::Cluster => return Some(json!([{"source": {"principals": ["*"]}}])),
        AuthorizationMode::Namespace => BTreeSet::from([namespace.to_string()]),
        AuthorizationMode::Group => context.namespaces.clone(),
        AuthorizationMode::Workspace => context
            .resolution
            .namespaces_of(&out.resource.fqn.ancestor(Kind::Workspace)?),
        AuthorizationMode::Custom => return custom_sources(&from.service_accounts),
        AuthorizationMode::Unset | AuthorizationMode::Disabled | AuthorizationMode::Rules => {
            return None;
        }
    };
    (!namespaces.is_empty()).then(|| json!([{"source": {"namespaces": namespaces}}]))
}

/// CUSTOM `serviceAccounts` (`<namespace>/<account>`, either may be `*`) → one source of
/// principals and one of whole namespaces (sources are OR-ed); `None` when none parses.
fn custom_sources(accounts: &[String]) -> Option<Value> {
    let mut principals = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for (ns, account) in accounts.iter().filter_map(|a| a.split_once('/')) {
        match (ns, account) {
            ("*", "*") => principals.insert("*".to_string()),
            (ns, "*") => namespaces.insert(ns.to_string()),
            ("*", account) => principals.insert(format!("*/sa/{account}")),
            (ns, account) => principals.insert(format!("*/ns/{ns}/sa/{account}")),
        };
    }
    let mut sources = Vec::new();
    if !principals.is_empty() {
        sources.push(json!({"source": {"principals": principals}}));
    }
    if !namespaces.is_empty() {
        sources.push(json!({"source": {"namespaces": namespaces}}));
    }
    (!sources.is_empty()).then_some(Value::Array(sources))
}
