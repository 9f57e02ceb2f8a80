//! The chart's values as Rust types: the source of `charts/tsbridge/values.schema.json`.
//!
//! Test-only on purpose: the binary never reads chart values, so the types live with the tests
//! that prove `values.yaml` matches them and that the checked-in schema is what they print.
//! Every struct denies unknown keys (the schema's `additionalProperties: false`) and defaults
//! every key (a value set to `null` on the command line removes the key before Helm validates).
//! Rules a schema expresses badly (sqlite → one replica, PDB minAvailable xor maxUnavailable,
//! required fields of an enabled component) are `fail`s in the templates.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Values of the tsbridge chart.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Values {
    pub crds: Crds,
    /// Replaces the chart name in generated names.
    pub name_override: String,
    /// Replaces `<release>-<chart>` in generated names.
    pub fullname_override: String,
    pub image: Image,
    /// Secrets for pulling the image.
    pub image_pull_secrets: Vec<LocalObjectReference>,
    pub agent: Agent,
    pub server: Server,
    /// Set by a parent chart when tsbridge is a subchart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<Map<String, Value>>,
}

/// The CRDs, rendered as templates so upgrades update them.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Crds {
    /// Install and upgrade the CRDs with the release.
    pub install: bool,
    /// Annotate the CRDs `helm.sh/resource-policy: keep`, so uninstalling keeps every CR.
    pub keep: bool,
    /// Extra annotations on every CRD.
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    pub repository: String,
    /// Empty means the chart's appVersion.
    pub tag: String,
    pub pull_policy: PullPolicy,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LocalObjectReference {
    pub name: String,
}

/// The per-cluster agent and its admission webhook.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Agent {
    pub enabled: bool,
    /// This cluster's name as registered in the management plane; required when enabled.
    pub cluster: String,
    #[schemars(range(min = 0))]
    pub replicas: u32,
    /// A level (trace, debug, info, warn, error) or a tracing filter.
    pub log_level: String,
    /// Full inventory re-sent this often, e.g. 10m (0 = off).
    #[schemars(regex(pattern = r"^[0-9]+(ms|s|m|h)?$"))]
    pub resync_interval: String,
    pub management_plane: ManagementPlane,
    pub service_account: ServiceAccount,
    pub rbac: Rbac,
    pub admin: Admin,
    pub webhook: Webhook,
    pub resources: Resources,
    /// Merged over the hardened pod securityContext.
    pub pod_security_context: Map<String, Value>,
    /// Merged over the hardened container securityContext.
    pub security_context: Map<String, Value>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Map<String, Value>>,
    pub affinity: Map<String, Value>,
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra command-line flags.
    pub extra_args: Vec<String>,
    pub pod_disruption_budget: PodDisruptionBudget,
    pub network_policy: Toggle,
    pub service_monitor: ServiceMonitor,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ManagementPlane {
    /// The management plane's URL, e.g. https://tsbridge-mp.example:9443; required when enabled.
    #[schemars(regex(pattern = r"^(https?://.+)?$"))]
    pub address: String,
    pub tls: AgentTls,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentTls {
    /// Secret with tls.crt, tls.key (client certificate) and ca.crt (the management plane's CA).
    pub secret_name: String,
    /// Plaintext gRPC to a loopback management plane (development only).
    pub insecure: bool,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceAccount {
    pub create: bool,
    /// Defaults to `<fullname>-agent`.
    pub name: String,
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Rbac {
    pub create: bool,
}

/// The admin listener: /live, /ready, /metrics.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Admin {
    #[schemars(range(min = 1))]
    pub port: u16,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Console {
    pub enabled: bool,
    #[schemars(range(min = 1))]
    pub port: u16,
    /// Mark the session cookie Secure (HTTPS in front).
    pub secure_cookie: bool,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Webhook {
    pub enabled: bool,
    /// Container port of the HTTPS listener; the Service exposes 443.
    #[schemars(range(min = 1))]
    pub port: u16,
    pub failure_policy: FailurePolicy,
    #[schemars(range(min = 1, max = 5))]
    pub timeout_seconds: u8,
    /// clientConfig.url instead of the Service.
    pub url: String,
    /// A LabelSelector scoping the webhook to namespaces.
    pub namespace_selector: Map<String, Value>,
    pub tls: WebhookTls,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub enum FailurePolicy {
    #[default]
    Fail,
    Ignore,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookTls {
    pub mode: WebhookTlsMode,
    pub cert_manager: CertManager,
    pub external: ExternalTls,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum WebhookTlsMode {
    /// The chart generates the CA and certificate, reused across upgrades through `lookup`.
    #[default]
    Helm,
    /// A cert-manager Certificate; the CA is injected into the webhook configuration.
    CertManager,
    /// A Secret and caBundle you provide.
    External,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct CertManager {
    pub issuer_ref: IssuerRef,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct IssuerRef {
    /// Empty: the chart creates a self-signed Issuer.
    pub name: String,
    pub kind: String,
    pub group: String,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ExternalTls {
    /// Secret with tls.crt and tls.key.
    pub secret_name: String,
    /// Base64-encoded PEM CA bundle.
    pub ca_bundle: String,
}

/// The management plane.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Server {
    pub enabled: bool,
    /// Exactly 1 with store.type sqlite.
    #[schemars(range(min = 0))]
    pub replicas: u32,
    /// The organization this management plane manages (comma-separated for several).
    #[schemars(length(min = 1))]
    pub organization: String,
    /// A level (trace, debug, info, warn, error) or a tracing filter.
    pub log_level: String,
    pub store: Store,
    pub service: Service,
    pub tls: ServerTls,
    pub bootstrap_token_secret: SecretKey,
    pub admin: Admin,
    /// The read-only web console (`--ui-listen`).
    pub console: Console,
    pub resources: Resources,
    /// Merged over the hardened pod securityContext.
    pub pod_security_context: Map<String, Value>,
    /// Merged over the hardened container securityContext.
    pub security_context: Map<String, Value>,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Map<String, Value>>,
    pub affinity: Map<String, Value>,
    pub pod_annotations: BTreeMap<String, String>,
    /// Extra command-line flags.
    pub extra_args: Vec<String>,
    pub pod_disruption_budget: PodDisruptionBudget,
    pub network_policy: Toggle,
    pub service_monitor: ServiceMonitor,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Store {
    #[serde(rename = "type")]
    pub kind: StoreKind,
    pub sqlite: Sqlite,
    pub postgres: Postgres,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StoreKind {
    /// One replica on a PersistentVolumeClaim.
    #[default]
    Sqlite,
    /// Any number of replicas sharing one database.
    Postgres,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Sqlite {
    pub persistence: Persistence,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Persistence {
    pub size: String,
    /// Empty: the default StorageClass.
    pub storage_class: String,
    /// Use this PersistentVolumeClaim instead of creating one.
    pub existing_claim: String,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Postgres {
    /// Secret key holding the postgres://… URL; the name is required with type postgres.
    pub url_secret: SecretKey,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretKey {
    pub name: String,
    #[schemars(length(min = 1))]
    pub key: String,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Service {
    #[serde(rename = "type")]
    pub kind: ServiceType,
    #[schemars(range(min = 1))]
    pub port: u16,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServerTls {
    /// Secret with tls.crt, tls.key (serving certificate) and ca.crt (agents' client CA).
    pub secret_name: String,
    /// Plaintext gRPC on 127.0.0.1 only (development).
    pub insecure: bool,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    pub requests: BTreeMap<String, Quantity>,
    pub limits: BTreeMap<String, Quantity>,
}

/// A Kubernetes quantity: `100m`, `64Mi` or a number.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Quantity {
    Number(f64),
    Text(String),
}

/// Off by default; set exactly one of minAvailable and maxUnavailable.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct PodDisruptionBudget {
    pub enabled: bool,
    pub min_available: Option<IntOrPercent>,
    pub max_unavailable: Option<IntOrPercent>,
}

/// A pod count or a percentage such as `50%`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrPercent {
    Count(#[schemars(range(min = 0))] u32),
    Percent(#[schemars(regex(pattern = r"^[0-9]+%$"))] String),
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Toggle {
    pub enabled: bool,
}

#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceMonitor {
    pub enabled: bool,
    /// Scrape interval, e.g. 30s.
    pub interval: String,
    /// Extra labels (e.g. the one your Prometheus selects on).
    pub labels: BTreeMap<String, String>,
}
