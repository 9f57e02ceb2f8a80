//! L3 analysis: advisory findings that never block (tsb-model.md §4.3 V15, §1.2 gateway
//! binding, §10 questions 5 and 6).

use serde_json::Value;

use crate::model::diagnostic::{Diagnostic, RuleCode};
use crate::model::fqn::Fqn;
use crate::model::kind::Kind;
use crate::model::object::Resource;
use crate::model::spec::{AuthenticationMode, AuthorizationMode, SecuritySettingSpec, Spec};
use crate::model::validate::set::Lookup;

/// The security settings a resource carries, with their field paths.
pub(crate) fn security_specs(resource: &Resource) -> Vec<(String, &SecuritySettingSpec)> {
    let mut found = Vec::new();
    match &resource.spec {
        Spec::SecuritySetting(s) => found.push(("spec".to_string(), s)),
        Spec::OrganizationSetting(s) => {
            found.extend(
                s.default_security_setting
                    .as_ref()
                    .map(|d| ("spec.defaultSecuritySetting".to_string(), d)),
            );
        }
        Spec::TenantSetting(s) => {
            found.extend(
                s.default_security_setting
                    .as_ref()
                    .map(|d| ("spec.defaultSecuritySetting".to_string(), d)),
            );
        }
        Spec::WorkspaceSetting(s) => {
            found.extend(
                s.default_security_setting
                    .as_ref()
                    .map(|d| ("spec.defaultSecuritySetting".to_string(), d)),
            );
        }
        Spec::ServiceSecuritySetting(s) => {
            found.extend(
                s.settings
                    .as_ref()
                    .map(|d| ("spec.settings".to_string(), d)),
            );
            for (i, subset) in s.subsets.iter().enumerate() {
                found.extend(
                    subset
                        .settings
                        .as_ref()
                        .map(|d| (format!("spec.subsets[{i}].settings"), d)),
                );
            }
        }
        _ => {}
    }
    found
}

/// Security settings above `resource` in propagation order, as (level, fqn, spec): 0 = the
/// organization's, 1 = the tenant's, 2 = the workspace's defaults, 3 = the security group's.
fn security_ancestors<'a>(
    index: &'a impl Lookup,
    resource: &Resource,
) -> Vec<(usize, &'a Fqn, &'a SecuritySettingSpec)> {
    let levels: &[(Kind, usize)] = match resource.kind {
        Kind::TenantSetting => &[(Kind::OrganizationSetting, 0)],
        Kind::WorkspaceSetting => &[(Kind::OrganizationSetting, 0), (Kind::TenantSetting, 1)],
        Kind::SecuritySetting => &[
            (Kind::OrganizationSetting, 0),
            (Kind::TenantSetting, 1),
            (Kind::WorkspaceSetting, 2),
        ],
        Kind::ServiceSecuritySetting => &[
            (Kind::OrganizationSetting, 0),
            (Kind::TenantSetting, 1),
            (Kind::WorkspaceSetting, 2),
            (Kind::SecuritySetting, 3),
        ],
        _ => return Vec::new(),
    };
    let scope = |kind: Kind| -> Option<Fqn> {
        match kind {
            Kind::OrganizationSetting => resource.fqn.organization_name().map(Fqn::organization),
            Kind::TenantSetting => resource.fqn.ancestor(Kind::Tenant),
            Kind::WorkspaceSetting => resource.fqn.ancestor(Kind::Workspace),
            Kind::SecuritySetting => resource.fqn.ancestor(Kind::SecurityGroup),
            _ => None,
        }
    };
    let mut found = Vec::new();
    for (kind, level) in levels {
        let Some(scope) = scope(*kind) else { continue };
        for candidate in index.children_of_kind(&scope, *kind) {
            for (_, spec) in security_specs(candidate) {
                found.push((*level, &candidate.fqn, spec));
            }
        }
    }
    found
}

/// V15 (§4.3): once some ancestor says STRICTER, that level and every lower level are
/// enforced; a descendant value looser than the strictest enforced one is superseded (DIRTY).
/// `UNSET` inherits and is never superseded.
fn check_stricter(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    let ancestors = security_ancestors(index, resource);
    let Some(first) = ancestors
        .iter()
        .filter(|(_, _, s)| s.is_stricter())
        .map(|(l, _, _)| *l)
        .min()
    else {
        return;
    };
    let enforced: Vec<&(usize, &Fqn, &SecuritySettingSpec)> = ancestors
        .iter()
        .filter(|(level, _, spec)| *level > first || spec.is_stricter())
        .collect();
    let strictest_authz = enforced
        .iter()
        .filter_map(|(_, fqn, s)| s.authorization_mode().map(|m| (m, *fqn)))
        .max_by_key(|(m, _)| *m);
    let strictest_authn = enforced
        .iter()
        .filter_map(|(_, fqn, s)| s.traffic_mode().map(|m| (m, *fqn)))
        .max_by_key(|(m, _)| *m);
    let object = resource.object_ref();
    for (path, spec) in security_specs(resource) {
        if let (Some(mine), Some((theirs, source))) = (spec.authorization_mode(), strictest_authz)
            && mine != AuthorizationMode::Unset
            && mine < theirs
        {
            out.push(Diagnostic::warning(
                RuleCode::StricterSupersession,
                &object,
                format!("{path}.authorization.mode"),
                format!(
                    "{} is looser than {} enforced by STRICTER setting {source}; the stricter value is translated and this object becomes DIRTY",
                    mode_name(&mine),
                    mode_name(&theirs)
                ),
                format!("raise the mode to at least {}", mode_name(&theirs)),
            ));
        }
        if let (Some(mine), Some((theirs, source))) = (spec.traffic_mode(), strictest_authn)
            && mine != AuthenticationMode::Unset
            && mine < theirs
        {
            let field = if spec
                .authentication_settings
                .as_ref()
                .and_then(|a| a.traffic_mode)
                .is_some()
            {
                format!("{path}.authenticationSettings.trafficMode")
            } else {
                format!("{path}.authentication")
            };
            out.push(Diagnostic::warning(
                RuleCode::StricterSupersession,
                &object,
                field,
                format!(
                    "{} is looser than {} enforced by STRICTER setting {source}; the stricter value is translated and this object becomes DIRTY",
                    mode_name(&mine),
                    mode_name(&theirs)
                ),
                format!("raise the traffic mode to at least {}", mode_name(&theirs)),
            ));
        }
    }
}

fn mode_name<T: serde::Serialize>(mode: &T) -> String {
    serde_json::to_value(mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// FQN references in security rules (`from.fqn`, `to.fqn`) must at least parse.
fn check_rule_references(resource: &Resource, out: &mut Vec<Diagnostic>) {
    let object = resource.object_ref();
    for (path, spec) in security_specs(resource) {
        let Some(rules) = spec.authorization.as_ref().and_then(|a| a.rules.as_ref()) else {
            continue;
        };
        for (list, entries) in [("allow", &rules.allow), ("deny", &rules.deny)] {
            for (i, rule) in entries.iter().enumerate() {
                for (side, target) in [("from", &rule.from), ("to", &rule.to)] {
                    let Some(fqn) = target.as_ref().and_then(|t| t.fqn.as_deref()) else {
                        continue;
                    };
                    if let Err(err) = fqn.parse::<Fqn>() {
                        out.push(Diagnostic::warning(
                            RuleCode::InvalidReference,
                            &object,
                            format!("{path}.authorization.rules.{list}[{i}].{side}.fqn"),
                            err.to_string(),
                            "reference a workspace, group or security domain by its full FQN",
                        ));
                    }
                }
            }
        }
    }
}

/// §10 question 5 (advisory): the namespace of `spec.service` should be one the group selects.
fn check_service_namespace(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    let Some((namespace, _)) = resource.spec.service().and_then(|s| s.split_once('/')) else {
        return;
    };
    let Some(group) = &resource.parent else {
        return;
    };
    let Some((group_selector, ws_selector)) = index.group_and_workspace(group) else {
        return;
    };
    if !group_selector.may_contain_namespace(ws_selector, namespace) {
        out.push(Diagnostic::warning(
            RuleCode::ServiceOutsideGroup,
            &resource.object_ref(),
            "spec.service",
            format!("namespace {namespace:?} is not selected by group {group}; the generated config may never reach it"),
            "name a service in one of the group's namespaces, or extend the group's selector",
        ));
    }
}

/// A gateway's workload namespace should be one its gateway group selects (translation places
/// the generated objects there, §7.2).
fn check_gateway_namespace(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    let Some(namespace) = resource
        .spec
        .workload_selector()
        .and_then(|w| w.namespace.as_deref())
    else {
        return;
    };
    let Some(group) = &resource.parent else {
        return;
    };
    let Some((group_selector, ws_selector)) = index.group_and_workspace(group) else {
        return;
    };
    if !group_selector.may_contain_namespace(ws_selector, namespace) {
        out.push(Diagnostic::warning(
            RuleCode::GatewayOutsideGroup,
            &resource.object_ref(),
            "spec.workloadSelector.namespace",
            format!("namespace {namespace:?} is not selected by gateway group {group}"),
            "deploy the gateway in a namespace of its gateway group, or extend the group's selector",
        ));
    }
}

/// §1.2 / §10 question 6 (advisory): a DIRECT gateway-group VirtualService binds to Gateways of
/// the same group.
fn check_gateway_binding(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    if resource.kind != Kind::VirtualService {
        return;
    }
    let Some(group) = &resource.parent else {
        return;
    };
    if group.kind() != Some(Kind::GatewayGroup) {
        return;
    }
    let Spec::Istio(spec) = &resource.spec else {
        return;
    };
    let gateways = spec
        .get("gateways")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let own_namespace = resource.namespace.as_deref().unwrap_or("");
    for (i, gateway) in gateways.iter().enumerate() {
        let Some(reference) = gateway.as_str() else {
            continue;
        };
        if reference == "mesh" {
            continue;
        }
        let (namespace, name) = reference
            .split_once('/')
            .unwrap_or((own_namespace, reference));
        let bound = index
            .children_of_kind(group, Kind::IstioGateway)
            .iter()
            .any(|r| r.name == name && r.namespace.as_deref() == Some(namespace));
        if !bound {
            out.push(Diagnostic::warning(
                RuleCode::GatewayBinding,
                &resource.object_ref(),
                format!("spec.gateways[{i}]"),
                format!("Gateway {namespace}/{name} is not a direct-mode Gateway of group {group}"),
                "bind to a Gateway of the same gateway group, or add that Gateway to the group",
            ));
        }
    }
}

/// Every L3 check for one resource.
pub(crate) fn analyze(index: &impl Lookup, resource: &Resource, out: &mut Vec<Diagnostic>) {
    check_stricter(index, resource, out);
    check_rule_references(resource, out);
    check_service_namespace(index, resource, out);
    check_gateway_namespace(index, resource, out);
    check_gateway_binding(index, resource, out);
}
