//! Translation of stored resources into the Istio objects one cluster needs (tsb-model.md §7).
//!
//! [`translate`] turns one resource into [`Generated`] objects for one cluster, given the
//! namespaces it targets there (§3.6) and its ancestors and settings; [`translate_cluster`]
//! does it for a whole stored set. Pure: the MP decides what to send, the agent applies the
//! objects with server-side apply. `docs/translation.md` records the mappings and what is not
//! translated yet.

// Errors are the model's `Diagnostic`, by value like everywhere else in the model; they are
// rare (one per untranslatable resource), so their size does not matter.
#![allow(clippy::result_large_err)]

mod cluster;
mod direct;
mod gateway;
mod ratelimit;
mod route;
mod security;
mod service_security;
mod service_traffic;
mod traffic;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Value, json};

use crate::model::diagnostic::{Diagnostic, RuleCode};
use crate::model::kind::Kind;
use crate::model::metadata::{MetadataMap, StripRules};
use crate::model::object::{Resource, canonical_hash, fnv1a};
use crate::model::resolve::{ClusterNamespaces, Resolution};
use crate::model::spec::Spec;

pub use cluster::{
    Translation, affects_others, influence_root, influenced_roots, service_route_split_changed,
    stale_readers, translate_cluster, translate_only, translate_resolved,
};
pub(crate) use ratelimit::{
    is_single_bucket as is_single_rate_limit_bucket, server_address as rate_limit_server_address,
};

/// Ownership label on every generated object; the edge prunes by it.
pub const MANAGED_BY_LABEL: &str = "tsbridge.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "tsbridge";
/// Which cluster's agent applied a generated object; with [`MANAGED_BY_LABEL`], what the agent
/// prunes and watches by (so agents sharing a control plane never touch each other's objects).
pub const CLUSTER_LABEL: &str = "tsbridge.io/cluster";
/// A single generated object larger than this is refused (and named) instead of sent.
pub const MAX_GENERATED_BYTES: usize = 1024 * 1024;
/// FQN of the resource an object was generated from.
pub const OWNER_FQN_ANNOTATION: &str = "tsbridge.io/owner-fqn";
/// Content hash of the source resource ([`Resource::content_hash`]).
pub const CONTENT_HASH_ANNOTATION: &str = "tsbridge.io/content-hash";

/// A generated object (`to_object`'s JSON) as the agent of `cluster` applies it: with both
/// ownership labels.
pub fn owned_by(mut object: Value, cluster: &str) -> Value {
    let mut labels = object["metadata"]["labels"]
        .as_object_mut()
        .map(std::mem::take)
        .unwrap_or_default();
    labels.insert(
        MANAGED_BY_LABEL.into(),
        Value::String(MANAGED_BY_VALUE.into()),
    );
    labels.insert(CLUSTER_LABEL.into(), Value::String(cluster.into()));
    object["metadata"]["labels"] = Value::Object(labels);
    object
}

/// The label selector of what the agent of `cluster` owns ([`owned_by`]'s labels).
pub fn owned_selector(cluster: &str) -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE},{CLUSTER_LABEL}={cluster}")
}

/// Whether `key` is `resource` itself: a direct-mode object passed through into the namespace
/// it was written in. In the cluster it came from, that object is the Git-managed CR; applying
/// it there would add tsbridge's field manager and labels to it (tsb-model §7.3), so nothing
/// is sent there and the edge counts as APPLIED without a write.
pub fn is_passthrough(resource: &Resource, key: &ObjectKey) -> bool {
    resource.kind.is_direct()
        && key.group == resource.kind.group()
        && key.kind == resource.kind.name()
        && resource.namespace.as_deref() == Some(key.namespace.as_str())
        && key.name == resource.name
}

/// Identity of a generated object in a cluster: (API group, kind, namespace, name). The
/// version is left out, so a `v1beta1` and a `v1` object with the same name are one object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// API group, e.g. `networking.istio.io`.
    pub group: String,
    /// Kind, e.g. `VirtualService`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl fmt::Display for ObjectKey {
    /// `Kind.group/namespace/name`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}/{}/{}",
            self.kind, self.group, self.namespace, self.name
        )
    }
}

/// One Istio object to write into a cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`: propagated config-generation labels plus the ownership label.
    pub labels: BTreeMap<String, String>,
    /// `metadata.annotations`: propagated annotations plus owner FQN and content hash.
    pub annotations: BTreeMap<String, String>,
    /// `spec`.
    pub spec: Value,
}

impl Generated {
    /// The object's identity in its cluster.
    pub fn key(&self) -> ObjectKey {
        let group = self
            .api_version
            .split_once('/')
            .map(|(group, _)| group)
            .unwrap_or("");
        ObjectKey {
            group: group.to_string(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// A stable hash of the whole object (FNV-1a over canonical JSON, like
    /// [`Resource::content_hash`]): the MP sends an object again only when it changes.
    pub fn content_hash(&self) -> String {
        canonical_hash(&self.to_object())
    }

    /// The full Kubernetes object, ready for server-side apply.
    pub fn to_object(&self) -> Value {
        let mut metadata = json!({"name": self.name, "namespace": self.namespace});
        if !self.labels.is_empty() {
            metadata["labels"] = json!(self.labels);
        }
        if !self.annotations.is_empty() {
            metadata["annotations"] = json!(self.annotations);
        }
        json!({
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": metadata,
            "spec": self.spec,
        })
    }
}

/// Everything a translation may read besides the resource itself.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// The cluster translated for.
    pub cluster: &'a str,
    /// The namespaces the resource targets in this cluster ([`crate::model::resolve::target_namespaces`]).
    pub namespaces: &'a BTreeSet<String>,
    /// The resource's ancestors that exist (tenant, workspace, group), root first: their
    /// config-generation metadata is propagated (§2.5).
    pub ancestors: Vec<&'a Resource>,
    /// Settings whose defaults apply, root first: OrganizationSetting, TenantSetting and
    /// WorkspaceSetting objects above the resource (their `defaultTrafficSetting` /
    /// `defaultSecuritySetting`), then, for a ServiceRoute or a ServiceTrafficSetting, its
    /// group's TrafficSetting, then, for a ServiceRoute, the ServiceTrafficSetting of the same
    /// service in its workspace.
    pub settings: Vec<&'a Resource>,
    /// For a TrafficSetting, the ServiceTrafficSettings of its group: their services'
    /// timeouts and retries are theirs to carry, not the TrafficSetting's.
    pub group_service_settings: Vec<&'a Resource>,
    /// The cluster's resolution, for selectors that name other workspaces and groups
    /// (reachability and authorization modes, authorization rules).
    pub resolution: &'a Resolution,
    /// The cluster's inventory: its Services, for settings that select a service's workloads.
    pub inventory: &'a ClusterNamespaces,
    /// Every ServiceRoute of the set by its `spec.service` (`<namespace>/<fqdn>`), in FQN
    /// order: gateway routes to a service split traffic over its ServiceRoute's subsets.
    pub service_routes: &'a ServiceRoutes<'a>,
}

/// ServiceRoutes by `spec.service`, each list in FQN order ([`Context::service_routes`]).
///
/// Built on first use: most incremental translations (a Sidecar for a changed TrafficSetting)
/// never read it, and indexing 10,000 ServiceRoutes by service for each of them and each
/// cluster was most of their cost.
#[derive(Debug, Default)]
pub struct ServiceRoutes<'a> {
    routes: Vec<&'a Resource>,
    /// Indexes into `routes` of those with a service, by (service, FQN). Positions, not
    /// references, keep the type covariant in `'a` (a cell of `&'a` would not be).
    sorted: std::cell::OnceCell<Vec<usize>>,
}

impl<'a> ServiceRoutes<'a> {
    /// The ServiceRoutes among `resources` (other kinds are skipped).
    pub fn new(resources: impl IntoIterator<Item = &'a Resource>) -> ServiceRoutes<'a> {
        ServiceRoutes {
            routes: resources
                .into_iter()
                .filter(|r| r.kind == Kind::ServiceRoute)
                .collect(),
            sorted: std::cell::OnceCell::new(),
        }
    }

    fn service(&self, position: usize) -> &'a str {
        self.routes[position].spec.service().unwrap_or_default()
    }

    fn sorted(&self) -> &[usize] {
        self.sorted.get_or_init(|| {
            let mut sorted: Vec<usize> = (0..self.routes.len())
                .filter(|&i| self.routes[i].spec.service().is_some())
                .collect();
            sorted.sort_by(|&a, &b| {
                (self.service(a), &self.routes[a].fqn).cmp(&(self.service(b), &self.routes[b].fqn))
            });
            sorted
        })
    }

    /// The ServiceRoutes of `service` (`<namespace>/<fqdn>`), in FQN order.
    pub fn get<'s>(&'s self, service: &'s str) -> impl Iterator<Item = &'a Resource> + 's {
        let sorted = self.sorted();
        let first = sorted.partition_point(|&i| self.service(i) < service);
        sorted[first..]
            .iter()
            .take_while(move |&&i| self.service(i) == service)
            .map(|&i| self.routes[i])
    }

    /// The services with a ServiceRoute, in order and each once, from `start` on.
    pub fn services_from(&self, start: &str) -> impl Iterator<Item = &'a str> + '_ {
        let sorted = self.sorted();
        let first = sorted.partition_point(|&i| self.service(i) < start);
        let mut last: Option<&'a str> = None;
        sorted[first..].iter().filter_map(move |&i| {
            let service = self.service(i);
            (last.replace(service) != Some(service)).then_some(service)
        })
    }
}

/// Translates one resource for one cluster (§7.2). Settings, workspaces, groups and tenants
/// produce nothing themselves; neither does a resource with no target namespace here.
///
/// ```
/// use std::collections::BTreeSet;
/// use tsbridge::model::resolve::{ClusterNamespaces, Resolution};
/// use tsbridge::model::translate::{Context, translate};
/// use tsbridge::model::{Converted, KubeObject, convert, metadata::StripRules};
///
/// let object: KubeObject = serde_json::from_value(serde_json::json!({
///     "apiVersion": "security.tsb.tetrate.io/v2", "kind": "SecuritySetting",
///     "metadata": {"name": "strict", "annotations": {
///         "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": "t",
///         "tsb.tetrate.io/workspace": "w", "tsb.tetrate.io/securityGroup": "g"}},
///     "spec": {"authenticationSettings": {"trafficMode": "REQUIRED"}}
/// })).unwrap();
/// let Converted::Resource { resource, .. } = convert(&object, &StripRules::default()) else {
///     panic!("valid");
/// };
/// let namespaces = BTreeSet::from(["shop".to_string()]);
/// let resolution = Resolution::default();
/// let inventory = ClusterNamespaces::new("c1", namespaces.clone());
/// let routes = Default::default();
/// let context = Context { cluster: "c1", namespaces: &namespaces, ancestors: vec![],
///     settings: vec![], group_service_settings: vec![], resolution: &resolution, inventory: &inventory,
///     service_routes: &routes };
/// let objects = translate(&resource, &context).unwrap();
/// assert_eq!(objects[0].kind, "PeerAuthentication");
/// assert_eq!(objects[0].spec["mtls"]["mode"], "STRICT");
/// ```
pub fn translate(resource: &Resource, context: &Context<'_>) -> Result<Vec<Generated>, Diagnostic> {
    translate_with_warnings(resource, context).map(|(objects, _)| objects)
}

/// [`translate`], with the warnings of a translation that went through but left something
/// out in this cluster (e.g. a ServiceSecuritySetting whose service the cluster does not have).
pub fn translate_with_warnings(
    resource: &Resource,
    context: &Context<'_>,
) -> Result<(Vec<Generated>, Vec<Diagnostic>), Diagnostic> {
    if context.namespaces.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let out = Output::new(resource, context);
    let objects = match &resource.spec {
        Spec::TrafficSetting(spec) => Ok(traffic::traffic_setting(spec, context, &out)),
        Spec::ServiceRoute(spec) => route::service_route(spec, context, &out),
        Spec::ServiceTrafficSetting(spec) => {
            service_traffic::service_traffic_setting(spec, context, &out)
        }
        Spec::SecuritySetting(spec) => Ok(security::security_setting(spec, context, &out)),
        Spec::ServiceSecuritySetting(spec) => {
            service_security::service_security_setting(spec, context, &out)
        }
        Spec::IngressGateway(_)
        | Spec::EgressGateway(_)
        | Spec::Tier1Gateway(_)
        | Spec::UnifiedGateway(_) => gateway::gateway(&resource.spec, context, &out),
        Spec::Istio(spec) if resource.kind.is_direct() => {
            Ok(direct::pass_through(resource, spec, context, &out))
        }
        _ => Ok(Vec::new()),
    }?;
    Ok((objects, out.warnings.into_inner()))
}

/// True for kinds that can generate objects (BRIDGED config and direct-mode objects).
pub fn generates_objects(kind: Kind) -> bool {
    use crate::model::kind::ConfigClass;
    matches!(kind.class(), ConfigClass::Bridged | ConfigClass::Direct)
}

/// The `apiVersion` tsbridge writes for a generated Istio kind.
fn istio_api_version(kind: Kind) -> String {
    match kind {
        Kind::EnvoyFilter => "networking.istio.io/v1alpha3".to_string(),
        Kind::WasmPlugin => "extensions.istio.io/v1alpha1".to_string(),
        other => format!("{}/v1", other.group()),
    }
}

/// Names and metadata shared by every object generated from one resource.
pub(crate) struct Output<'r> {
    resource: &'r Resource,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    /// What the translation left out here, said by name ([`translate_with_warnings`]).
    warnings: std::cell::RefCell<Vec<Diagnostic>>,
}

impl<'r> Output<'r> {
    fn new(resource: &'r Resource, context: &Context<'_>) -> Output<'r> {
        // §2.5: tenant → workspace → group → object, the nearer one winning. Direct-mode
        // objects keep only their own metadata.
        let mut merged = resource.config_generation_metadata();
        if !resource.kind.is_direct() {
            merged = context
                .ancestors
                .iter()
                .map(|a| a.config_generation_metadata())
                .fold(
                    Default::default(),
                    |acc: crate::model::spec::ConfigGenerationMetadata, m| acc.merged_with(&m),
                )
                .merged_with(&merged);
        }
        // Never copy delivery-tool or hierarchy keys (§2.6, G-10), whoever set them.
        let strip = StripRules::default();
        let mut labels = strip.forwarded(&merged.labels, MetadataMap::Labels);
        let mut annotations = strip.forwarded(&merged.annotations, MetadataMap::Annotations);
        labels.insert(MANAGED_BY_LABEL.to_string(), MANAGED_BY_VALUE.to_string());
        annotations.insert(OWNER_FQN_ANNOTATION.to_string(), resource.fqn.to_string());
        annotations.insert(CONTENT_HASH_ANNOTATION.to_string(), resource.content_hash());
        Output {
            resource,
            labels,
            annotations,
            warnings: std::cell::RefCell::default(),
        }
    }

    /// An object named after the resource ([`generated_name`]); `part` tells apart several
    /// objects of one kind in one namespace (gateway servers, deny policies).
    fn object(&self, kind: Kind, namespace: &str, part: Option<&str>, spec: Value) -> Generated {
        self.named(
            istio_api_version(kind),
            kind.name(),
            namespace,
            generated_name(self.resource, part),
            spec,
        )
    }

    fn named(
        &self,
        api_version: String,
        kind: &str,
        namespace: &str,
        name: String,
        spec: Value,
    ) -> Generated {
        Generated {
            api_version,
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name,
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
            spec,
        }
    }

    /// `spec.service` as (namespace, host) when its namespace is a target here; `None` when
    /// it is not, an error when it is not `<namespace>/<fqdn>`.
    fn targeted_service<'s>(
        &self,
        service: Option<&'s str>,
        context: &Context<'_>,
    ) -> Result<Option<(&'s str, &'s str)>, Diagnostic> {
        let (namespace, host) = service.and_then(split_service).ok_or_else(|| {
            self.invalid(
                "spec.service",
                format!("{:?} is not <namespace>/<fqdn>", service.unwrap_or("")),
                "write the service as <namespace>/<fqdn>, e.g. bookinfo/reviews.bookinfo.svc.cluster.local",
            )
        })?;
        Ok(context
            .namespaces
            .contains(namespace)
            .then_some((namespace, host)))
    }

    /// A warning about the resource in this cluster: translation goes on without the part
    /// `field` names.
    fn warn(&self, field: &str, message: impl Into<String>, fix: &str) {
        self.warnings.borrow_mut().push(Diagnostic::warning(
            RuleCode::NotEnforced,
            &self.resource.object_ref(),
            field,
            message,
            fix,
        ));
    }

    /// A field error about the resource (translation stops for it).
    fn invalid(&self, field: &str, message: impl Into<String>, fix: &str) -> Diagnostic {
        Diagnostic::error(
            RuleCode::RequiredField,
            &self.resource.object_ref(),
            field,
            message,
            fix,
        )
    }
}

/// Longest Kubernetes label value / Istio-friendly name we generate.
const MAX_NAME: usize = 63;

/// `tsb-<kind short name>-<name>[-<part>]-<hash>`: the hash (8 hex digits of FNV-1a over the
/// FQN and part) keeps names unique across groups and workspaces that reuse a short name, and
/// stable whatever else changes; the readable part is cut so the whole stays ≤ 63 characters.
pub fn generated_name(resource: &Resource, part: Option<&str>) -> String {
    let short = resource
        .kind
        .info()
        .short_names
        .first()
        .copied()
        .unwrap_or("obj");
    let mut seed = resource.fqn.to_string();
    let mut readable = format!("tsb-{short}-{}", resource.name);
    if let Some(part) = part {
        seed.push('#');
        seed.push_str(part);
        readable.push('-');
        readable.push_str(part);
    }
    let hash = format!("{:08x}", fnv1a(seed.as_bytes()) as u32);
    let mut readable: String = readable
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .take(MAX_NAME - hash.len() - 1)
        .collect();
    while readable.ends_with('-') {
        readable.pop();
    }
    format!("{readable}-{hash}")
}

/// `<namespace>/<fqdn>` as used by `spec.service` and route hosts.
fn split_service(service: &str) -> Option<(&str, &str)> {
    service
        .split_once('/')
        .filter(|(ns, host)| !ns.is_empty() && !host.is_empty() && !host.contains('/'))
}

#[cfg(test)]
mod tests;
