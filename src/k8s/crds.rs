//! The CRDs `tsbridge crds` prints and the chart ships, generated from the types in `crd.rs`
//! and finished from the model's kind catalogue: short names, the status default, list-map
//! markers, CEL rules and per-kind printer columns.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::{Map, Value, json};

use crate::k8s::crd;
use crate::model::kind::Kind;

/// The `namespaceSelector` entry grammar of tsb-model.md §3.1, as a CEL (RE2) pattern.
pub const SELECTOR_ENTRY_PATTERN: &str = r"^(\*|[^/*]+)/(\*|[^/*]+\*?)$";

/// `<namespace>/<host>`: ServiceRoute `service` and egress hosts (tsb-model.md §4.2).
pub const NAMESPACED_HOST_PATTERN: &str = r"^[^/]+/[^/]+$";

/// Bounds CEL's cost estimate for per-entry rules: a cluster name and a namespace (63) with room.
const MAX_SELECTOR_ENTRY_LENGTH: i64 = 256;

/// Bounds CEL's cost estimate over a selector; far more entries than any workspace lists.
const MAX_SELECTOR_ENTRIES: i64 = 512;

/// Why a CRD could not be finished (a model and CRD type out of step; caught by unit tests).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule names a schema path that the generated schema does not have.
    #[error("{crd}: no schema property at {path}")]
    MissingPath {
        /// CRD name.
        crd: String,
        /// Dotted path below the root schema.
        path: String,
    },
    /// The CRD does not (de)serialize.
    #[error("{crd}: {source}")]
    Serde {
        /// CRD name.
        crd: String,
        /// serde's complaint.
        source: serde_json::Error,
    },
}

/// Every tsbridge CRD paired with its catalogue kind, before finishing.
pub(crate) fn generated() -> Vec<(Kind, CustomResourceDefinition)> {
    vec![
        (Kind::Tenant, crd::Tenant::crd()),
        (Kind::OrganizationSetting, crd::OrganizationSetting::crd()),
        (Kind::TenantSetting, crd::TenantSetting::crd()),
        (Kind::Workspace, crd::Workspace::crd()),
        (Kind::WorkspaceSetting, crd::WorkspaceSetting::crd()),
        (Kind::TrafficGroup, crd::TrafficGroup::crd()),
        (Kind::SecurityGroup, crd::SecurityGroup::crd()),
        (Kind::GatewayGroup, crd::GatewayGroup::crd()),
        (Kind::IstioInternalGroup, crd::IstioInternalGroup::crd()),
        (Kind::TrafficSetting, crd::TrafficSetting::crd()),
        (Kind::ServiceRoute, crd::ServiceRoute::crd()),
        (
            Kind::ServiceTrafficSetting,
            crd::ServiceTrafficSetting::crd(),
        ),
        (Kind::SecuritySetting, crd::SecuritySetting::crd()),
        (
            Kind::ServiceSecuritySetting,
            crd::ServiceSecuritySetting::crd(),
        ),
        (Kind::IngressGateway, crd::IngressGateway::crd()),
        (Kind::EgressGateway, crd::EgressGateway::crd()),
        (Kind::Tier1Gateway, crd::Tier1Gateway::crd()),
        (Kind::UnifiedGateway, crd::UnifiedGateway::crd()),
    ]
}

/// Every tsbridge CRD, finished and sorted by name.
pub fn all() -> Result<Vec<CustomResourceDefinition>, Error> {
    let mut crds = generated()
        .into_iter()
        .map(|(kind, crd)| finish(kind, crd))
        .collect::<Result<Vec<_>, _>>()?;
    crds.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(crds)
}

/// The kinds that have a CRD, in catalogue order.
pub fn kinds() -> Vec<Kind> {
    generated().into_iter().map(|(kind, _)| kind).collect()
}

/// One YAML document per CRD, `---`-separated, as `tsbridge crds` prints them.
pub fn to_yaml(crds: &[CustomResourceDefinition]) -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(crd)?);
    }
    Ok(out)
}

/// The chart file a CRD lives in: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or_default())
}

pub(crate) fn finish(
    kind: Kind,
    crd: CustomResourceDefinition,
) -> Result<CustomResourceDefinition, Error> {
    let name = crd.metadata.name.clone().unwrap_or_default();
    let serde = |source| Error::Serde {
        crd: name.clone(),
        source,
    };
    let mut value = serde_json::to_value(&crd).map_err(serde)?;
    let info = kind.info();
    value["spec"]["names"]["shortNames"] = json!(info.short_names);

    let version = &mut value["spec"]["versions"][0];
    if kind == Kind::Workspace {
        // Documented TSB columns, placed before Age like Flux's.
        let columns = version["additionalPrinterColumns"]
            .as_array_mut()
            .expect("kube-derive always writes printer columns here");
        let at = columns.len() - 2;
        columns.insert(
            at,
            json!({"name": "Tenant", "type": "string",
                   "jsonPath": ".metadata.annotations.tsb\\.tetrate\\.io/tenant"}),
        );
        columns.insert(
            at,
            json!({"name": "Privileged", "type": "boolean", "jsonPath": ".spec.privileged"}),
        );
    }
    let root = &mut version["schema"]["openAPIV3Schema"];
    preserve_free_form(&mut root["properties"]["spec"]);
    kubernetes_formats(root);

    let status = &mut root["properties"]["status"];
    // R-A2: a CR the agent has not seen yet is InProgress for kstatus, never Current.
    status["default"] = json!({"observedGeneration": -1});
    let conditions = &mut status["properties"]["conditions"];
    conditions["x-kubernetes-list-type"] = json!("map");
    conditions["x-kubernetes-list-map-keys"] = json!(["type"]);

    if has_selector(kind) {
        let names =
            at_path(root, "spec.namespaceSelector.names").ok_or_else(|| Error::MissingPath {
                crd: name.clone(),
                path: "spec.namespaceSelector.names".into(),
            })?;
        names["maxItems"] = json!(MAX_SELECTOR_ENTRIES);
    }
    for rule in cel_rules(kind) {
        let node = at_path(root, rule.path).ok_or_else(|| Error::MissingPath {
            crd: name.clone(),
            path: rule.path.to_string(),
        })?;
        if let Some(max) = rule.max_length {
            node["maxLength"] = json!(max);
        }
        let rules = node
            .as_object_mut()
            .expect("schema nodes are objects")
            .entry("x-kubernetes-validations")
            .or_insert_with(|| json!([]));
        rules
            .as_array_mut()
            .expect("x-kubernetes-validations is a list")
            .push(rule.to_json());
    }
    serde_json::from_value(value).map_err(serde)
}

/// schemars writes Rust integer formats (`uint32`, `uint64`, …) that the apiserver does not
/// know and warns about on every apply; Kubernetes knows `int32` and `int64` only, so unsigned
/// ones become a plain integer with `minimum: 0`.
fn kubernetes_formats(node: &mut Value) {
    match node {
        Value::Object(object) => {
            let unsigned = object
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| matches!(f, "uint" | "uint8" | "uint16" | "uint32" | "uint64"));
            if unsigned {
                object.remove("format");
                object.entry("minimum").or_insert(json!(0));
            }
            object.values_mut().for_each(kubernetes_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(kubernetes_formats),
        _ => {}
    }
}

/// A node that is a free-form JSON value (the model's `serde_json::Value` fields) has no type
/// in the generated schema; a structural schema needs `x-kubernetes-preserve-unknown-fields`.
fn preserve_free_form(node: &mut Value) {
    let Some(object) = node.as_object_mut() else {
        return;
    };
    let shaped = [
        "type",
        "properties",
        "items",
        "additionalProperties",
        "anyOf",
        "oneOf",
        "allOf",
    ]
    .iter()
    .any(|key| object.contains_key(*key));
    if !shaped && !object.contains_key("x-kubernetes-preserve-unknown-fields") {
        object.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.values_mut().for_each(preserve_free_form);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = object.get_mut(key) {
            preserve_free_form(child);
        }
    }
}

/// A schema node by a dotted path of property names; `[]` steps into array items.
fn at_path<'a>(root: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut node = root;
    for step in path.split('.') {
        node = if step == "[]" {
            node.get_mut("items")?
        } else {
            node.get_mut("properties")?.get_mut(step)?
        };
    }
    Some(node)
}

/// One `x-kubernetes-validations` entry and where it goes.
struct CelRule {
    /// Dotted path below the root schema (`spec.namespaceSelector.names.[]`).
    path: &'static str,
    rule: String,
    message: Option<String>,
    message_expression: Option<String>,
    /// Relative to the node, for messages that point at a child field.
    field_path: Option<&'static str>,
    reason: Option<&'static str>,
    /// Bounds the cost estimate of rules on strings.
    max_length: Option<i64>,
}

impl CelRule {
    fn new(path: &'static str, rule: impl Into<String>) -> CelRule {
        CelRule {
            path,
            rule: rule.into(),
            message: None,
            message_expression: None,
            field_path: None,
            reason: None,
            max_length: None,
        }
    }

    fn message(mut self, message: impl Into<String>) -> CelRule {
        self.message = Some(message.into());
        self
    }

    fn required(mut self, field_path: &'static str) -> CelRule {
        self.field_path = Some(field_path);
        self.reason = Some("FieldValueRequired");
        self
    }

    fn to_json(&self) -> Value {
        let mut entry = Map::new();
        entry.insert("rule".into(), json!(self.rule));
        if let Some(message) = &self.message {
            entry.insert("message".into(), json!(message));
        }
        if let Some(expression) = &self.message_expression {
            entry.insert("messageExpression".into(), json!(expression));
        }
        if let Some(field_path) = self.field_path {
            entry.insert("fieldPath".into(), json!(field_path));
        }
        if let Some(reason) = self.reason {
            entry.insert("reason".into(), json!(reason));
        }
        Value::Object(entry)
    }
}

/// CEL quotes a string literal with single quotes; the patterns contain none.
fn cel_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\"))
}

/// Kinds with a `namespaceSelector`.
fn has_selector(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Workspace
            | Kind::TrafficGroup
            | Kind::SecurityGroup
            | Kind::GatewayGroup
            | Kind::IstioInternalGroup
    )
}

/// What CEL can check on its own (architecture.md §4, L1): selector grammar and the fields a
/// kind requires. Everything that needs annotations or other objects is the webhook's.
fn cel_rules(kind: Kind) -> Vec<CelRule> {
    let mut rules = Vec::new();
    if has_selector(kind) {
        rules.push(
            CelRule::new(
                "spec",
                "has(self.namespaceSelector) && has(self.namespaceSelector.names) \
                 && size(self.namespaceSelector.names) > 0",
            )
            .message(
                "spec.namespaceSelector.names is required: list at least one \
                 <cluster>/<namespace> entry, e.g. '*/bookinfo'",
            )
            .required(".namespaceSelector.names"),
        );
        let mut entry = CelRule::new(
            "spec.namespaceSelector.names.[]",
            format!("self.matches({})", cel_string(SELECTOR_ENTRY_PATTERN)),
        );
        entry.message_expression = Some(
            "'namespaceSelector entry \"' + self + '\" is not <cluster>/<namespace>: the cluster \
             is a name or *, the namespace a name, a prefix ending in *, or *; \
             e.g. cluster-1/bookinfo, */bookinfo, cluster-1/team-*'"
                .to_string(),
        );
        entry.max_length = Some(MAX_SELECTOR_ENTRY_LENGTH);
        rules.push(entry);
    }
    let service_required = |example: &str| {
        CelRule::new("spec", "has(self.service)")
            .message(format!(
                "spec.service is required: name the service as <namespace>/<host>, e.g. {example}"
            ))
            .required(".service")
    };
    match kind {
        Kind::ServiceRoute => {
            rules.push(service_required("bookinfo/reviews.bookinfo.svc.cluster.local"));
            rules.push(
                CelRule::new("spec", "has(self.subsets) && size(self.subsets) > 0")
                    .message("spec.subsets is required: list at least one subset with a name and labels")
                    .required(".subsets"),
            );
            let mut service = CelRule::new(
                "spec.service",
                format!("self.matches({})", cel_string(NAMESPACED_HOST_PATTERN)),
            )
            .message(
                "spec.service must be <namespace>/<host>, e.g. bookinfo/reviews.bookinfo.svc.cluster.local",
            );
            service.max_length = Some(MAX_SELECTOR_ENTRY_LENGTH);
            rules.push(service);
        }
        Kind::ServiceTrafficSetting | Kind::ServiceSecuritySetting => {
            rules.push(service_required("bookinfo/reviews.bookinfo.svc.cluster.local"));
        }
        Kind::IngressGateway => rules.push(
            CelRule::new("spec", "has(self.workloadSelector)")
                .message(
                    "spec.workloadSelector is required: give the gateway's namespace and pod labels",
                )
                .required(".workloadSelector"),
        ),
        _ => {}
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_kind_has_one_crd_matching_the_catalogue() {
        let crds = all().expect("CRDs finish");
        assert_eq!(crds.len(), 18);
        for kind in kinds() {
            let info = kind.info();
            let name = format!("{}.{}", info.plural, info.group);
            let crd = crds
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(&name))
                .unwrap_or_else(|| panic!("no CRD {name} for {kind:?}"));
            assert_eq!(crd.spec.group, info.group);
            assert_eq!(crd.spec.names.kind, info.name);
            assert_eq!(crd.spec.names.plural, info.plural);
            assert_eq!(crd.spec.scope, "Namespaced");
            assert_eq!(crd.spec.versions.len(), 1);
            assert_eq!(crd.spec.versions[0].name, "v2");
            let short: Vec<&str> = crd
                .spec
                .names
                .short_names
                .iter()
                .flatten()
                .map(String::as_str)
                .collect();
            assert_eq!(short, info.short_names);
            assert_eq!(crd.spec.names.categories, Some(vec!["tsb".to_string()]));
        }
    }

    #[test]
    fn status_defaults_to_unobserved_and_conditions_are_a_map() {
        for crd in all().expect("CRDs finish") {
            let value = serde_json::to_value(&crd).expect("serializes");
            let status =
                &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"];
            assert_eq!(status["default"], json!({"observedGeneration": -1}));
            let generation = &status["properties"]["observedGeneration"];
            assert_eq!(generation["type"], "integer");
            assert!(generation.get("minimum").is_none(), "-1 must be valid");
            let conditions = &status["properties"]["conditions"];
            assert_eq!(conditions["x-kubernetes-list-type"], "map");
            assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
            assert_eq!(
                value["spec"]["versions"][0]["subresources"]["status"],
                json!({})
            );
        }
    }

    #[test]
    fn printer_columns_follow_the_contract() {
        for crd in all().expect("CRDs finish") {
            let columns = crd.spec.versions[0]
                .additional_printer_columns
                .clone()
                .unwrap_or_default();
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            let expected: &[&str] = if crd.spec.names.kind == "Workspace" {
                &["Ready", "Status", "Privileged", "Tenant", "Age", "FQN"]
            } else {
                &["Ready", "Status", "Age", "FQN"]
            };
            assert_eq!(names, expected, "{:?}", crd.metadata.name);
            assert_eq!(columns.last().and_then(|c| c.priority), Some(1));
        }
    }

    /// A structural schema: every node has a type or preserves unknown fields.
    #[test]
    fn schemas_are_structural() {
        fn check(node: &Value, path: &str, problems: &mut Vec<String>) {
            let Some(object) = node.as_object() else {
                problems.push(format!("{path}: not an object schema"));
                return;
            };
            if !object.contains_key("type")
                && object.get("x-kubernetes-preserve-unknown-fields") != Some(&json!(true))
            {
                problems.push(format!("{path}: no type"));
            }
            for key in ["anyOf", "oneOf", "allOf"] {
                if object.contains_key(key) {
                    problems.push(format!("{path}: {key} is not structural here"));
                }
            }
            if let Some(Value::Object(properties)) = object.get("properties") {
                for (name, child) in properties {
                    check(child, &format!("{path}.{name}"), problems);
                }
            }
            if let Some(items) = object.get("items") {
                check(items, &format!("{path}[]"), problems);
            }
            if let Some(extra @ Value::Object(_)) = object.get("additionalProperties") {
                check(extra, &format!("{path}{{}}"), problems);
            }
        }
        let mut problems = Vec::new();
        for crd in all().expect("CRDs finish") {
            let value = serde_json::to_value(&crd).expect("serializes");
            let root = &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            check(
                root,
                crd.metadata.name.as_deref().unwrap_or_default(),
                &mut problems,
            );
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn selector_kinds_carry_the_grammar_rule() {
        let crds = all().expect("CRDs finish");
        let workspace = crds
            .iter()
            .find(|c| c.spec.names.kind == "Workspace")
            .expect("workspace CRD");
        let value = serde_json::to_value(workspace).expect("serializes");
        let entry = &value["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
            ["properties"]["namespaceSelector"]["properties"]["names"]["items"];
        let rule = entry["x-kubernetes-validations"][0]["rule"]
            .as_str()
            .expect("a rule");
        assert!(rule.contains("matches("), "{rule}");
        assert_eq!(entry["maxLength"], json!(MAX_SELECTOR_ENTRY_LENGTH));
    }

    #[test]
    fn yaml_output_round_trips() {
        let crds = all().expect("CRDs finish");
        let yaml = to_yaml(&crds).expect("YAML");
        let parsed: Vec<CustomResourceDefinition> =
            serde_saphyr::from_multiple(&yaml).expect("YAML parses back");
        assert_eq!(parsed, crds);
    }
}
