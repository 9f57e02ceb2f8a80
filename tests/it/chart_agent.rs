//! The chart's agent identity, RBAC, webhook configuration and webhook certificates: rendered
//! (no cluster), and installed into the `cluster-helm` control plane, where the real agent runs
//! out of cluster with a token of the chart's ServiceAccount and nothing more.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::process::Command;
use std::time::Duration;

use futures::FutureExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tsbridge::k8s::crds;
use tsbridge::model::Kind;

use crate::agent::await_ready;
use crate::crds::{dynamic_api, helm_binary};
use crate::distribute::{expected_objects, hierarchy, owned_objects};
use crate::support::cluster::{Cluster, test_namespace};
use crate::support::mp::{Mp, free_port};
use crate::support::process::ChildProcess;
use crate::support::wait::eventually;
use crate::support::{random_suffix, repo_path};
use tsbridge::proto::v1;

const WAIT: Duration = Duration::from_secs(60);
/// The end-to-end test's releases; leftovers of a crashed run are removed by this prefix.
const E2E_PREFIX: &str = "rbac-e2e-";
const ENTRY_CRS: &str = "crs.validate.tsbridge.io";
const ENTRY_ISTIO: &str = "istio.validate.tsbridge.io";
const ENTRY_UNLABELLED: &str = "istio-unlabelled.validate.tsbridge.io";

// === Rendered (helm template, no cluster) ===

/// `helm template r charts/tsbridge -n tsb ARGS`: the documents, or helm's error text.
fn render(args: &[&str]) -> Result<Vec<Value>, String> {
    let output = Command::new(helm_binary())
        .args(["template", "r", "--namespace", "tsb"])
        .arg(repo_path("charts/tsbridge"))
        .args(["--set", "agent.cluster=east"])
        .args(args)
        .output()
        .expect("helm runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).to_string());
    }
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8_lossy(&output.stdout)).expect("YAML");
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    match of_kind(docs, kind).as_slice() {
        [doc] => doc,
        other => panic!("expected one {kind}, rendered {}", other.len()),
    }
}

fn entries(docs: &[Value]) -> BTreeMap<String, Value> {
    one(docs, "ValidatingWebhookConfiguration")["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .map(|w| (w["name"].as_str().expect("name").to_string(), w.clone()))
        .collect()
}

fn base64_decode(text: &Value) -> Vec<u8> {
    serde_json::from_value::<ByteString>(text.clone())
        .expect("base64")
        .0
}

/// Resources by group: our CRDs as generated, or the direct-mode Istio kinds of the catalogue.
fn resources_by_group(kinds: impl Iterator<Item = Kind>) -> BTreeMap<String, BTreeSet<String>> {
    let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for kind in kinds {
        groups
            .entry(kind.group().to_string())
            .or_default()
            .insert(kind.info().plural.to_string());
    }
    groups
}

fn ours() -> BTreeMap<String, BTreeSet<String>> {
    resources_by_group(crds::kinds().into_iter())
}

fn istio() -> BTreeMap<String, BTreeSet<String>> {
    resources_by_group(Kind::all().filter(|k| k.is_direct()))
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("{value} is not a list"))
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

/// `verb`s granted per `group` → resources, from `rules`.
fn granted(rules: &Value, verb: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in rules.as_array().expect("rules") {
        if !strings(&rule["verbs"]).contains(verb) {
            continue;
        }
        for group in strings(&rule["apiGroups"]) {
            out.entry(group)
                .or_default()
                .extend(strings(&rule["resources"]));
        }
    }
    out
}

fn with_suffix(
    groups: &BTreeMap<String, BTreeSet<String>>,
    suffix: &str,
) -> BTreeMap<String, BTreeSet<String>> {
    groups
        .iter()
        .map(|(g, r)| {
            (
                g.clone(),
                r.iter().map(|r| format!("{r}{suffix}")).collect(),
            )
        })
        .collect()
}

#[test]
fn rbac_grants_exactly_what_the_agent_calls() {
    let docs = render(&[]).expect("renders");
    let role = one(&docs, "ClusterRole");
    let rules = &role["rules"];
    for rule in rules.as_array().expect("rules") {
        for field in ["apiGroups", "resources", "verbs"] {
            assert!(!strings(&rule[field]).contains("*"), "wildcard in {rule}");
        }
        assert!(!strings(&rule["resources"]).contains("secrets"), "{rule}");
        assert!(
            !strings(&rule["apiGroups"]).contains("admissionregistration.k8s.io"),
            "{rule}"
        );
    }
    let mut reads = ours();
    reads.extend(istio());
    reads.insert(String::new(), ["namespaces".to_string()].into());
    for verb in ["get", "list", "watch"] {
        assert_eq!(granted(rules, verb), reads, "{verb}");
    }
    let mut patches = with_suffix(&ours(), "/status");
    patches.extend(istio());
    patches.insert("events.k8s.io".into(), ["events".to_string()].into());
    assert_eq!(granted(rules, "patch"), patches);
    assert_eq!(granted(rules, "delete"), istio());
    // Server-side apply of a new object is authorised as create too.
    let mut creates = istio();
    creates.insert("events.k8s.io".into(), ["events".to_string()].into());
    assert_eq!(granted(rules, "create"), creates);
    let verbs: BTreeSet<String> = rules
        .as_array()
        .expect("rules")
        .iter()
        .flat_map(|r| strings(&r["verbs"]))
        .collect();
    assert_eq!(
        verbs,
        ["create", "delete", "get", "list", "patch", "watch"]
            .map(String::from)
            .into()
    );

    // The Lease: created, then read and replaced by its name only, in the release namespace.
    let lease_role = one(&docs, "Role");
    assert_eq!(lease_role["metadata"]["namespace"], "tsb");
    let lease_rules = lease_role["rules"].as_array().expect("rules");
    assert_eq!(lease_rules.len(), 2, "{lease_rules:?}");
    for rule in lease_rules {
        assert_eq!(
            strings(&rule["apiGroups"]),
            ["coordination.k8s.io".into()].into()
        );
        assert_eq!(strings(&rule["resources"]), ["leases".into()].into());
    }
    assert_eq!(strings(&lease_rules[0]["verbs"]), ["create".into()].into());
    assert_eq!(
        strings(&lease_rules[1]["verbs"]),
        ["get".into(), "update".into()].into()
    );
    assert_eq!(
        lease_rules[1]["resourceNames"],
        json!(["tsbridge-agent-east"])
    );

    let account = one(&docs, "ServiceAccount");
    assert_eq!(account["metadata"]["name"], "r-tsbridge-agent");
    for binding in [one(&docs, "ClusterRoleBinding"), one(&docs, "RoleBinding")] {
        assert_eq!(
            binding["subjects"],
            json!([{"kind": "ServiceAccount", "name": "r-tsbridge-agent", "namespace": "tsb"}])
        );
    }

    // A ServiceAccount the user brings: bound, not created.
    let docs = render(&[
        "--set",
        "agent.serviceAccount.create=false",
        "--set",
        "agent.serviceAccount.name=mine",
    ])
    .expect("renders");
    assert!(of_kind(&docs, "ServiceAccount").is_empty());
    assert_eq!(
        one(&docs, "ClusterRoleBinding")["subjects"][0]["name"],
        "mine"
    );
    let docs = render(&["--set", "agent.rbac.create=false"]).expect("renders");
    assert!(of_kind(&docs, "ClusterRole").is_empty() && of_kind(&docs, "Role").is_empty());
    let docs = render(&["--set", "agent.enabled=false"]).expect("renders");
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "Role",
        "ValidatingWebhookConfiguration",
        "Secret",
    ] {
        assert!(of_kind(&docs, kind).is_empty(), "{kind} without the agent");
    }
    let error = render(&["--set", "agent.cluster="]).expect_err("no cluster name");
    assert!(error.contains("agent.cluster is required"), "{error}");
}

#[test]
fn webhook_entries_follow_the_gitops_contract() {
    let docs = render(&[
        "--set",
        "agent.webhook.failurePolicy=Ignore",
        "--set",
        "agent.webhook.timeoutSeconds=3",
        "--set-json",
        r#"agent.webhook.namespaceSelector={"matchLabels":{"team":"a"}}"#,
    ])
    .expect("renders");
    let entries = entries(&docs);
    assert_eq!(
        entries.keys().cloned().collect::<BTreeSet<_>>(),
        [ENTRY_CRS, ENTRY_ISTIO, ENTRY_UNLABELLED]
            .map(String::from)
            .into()
    );
    for entry in entries.values() {
        assert_eq!(entry["matchPolicy"], "Equivalent");
        assert_eq!(entry["sideEffects"], "None");
        assert_eq!(entry["admissionReviewVersions"], json!(["v1"]));
        assert_eq!(entry["timeoutSeconds"], 3);
        assert_eq!(
            entry["namespaceSelector"],
            json!({"matchLabels": {"team": "a"}})
        );
        assert_eq!(
            entry["clientConfig"]["service"],
            json!({"name": "r-tsbridge-agent", "namespace": "tsb", "port": 443, "path": "/validate"})
        );
        for rule in entry["rules"].as_array().expect("rules") {
            assert_eq!(rule["operations"], json!(["CREATE", "UPDATE", "DELETE"]));
        }
    }
    let matched = |entry: &Value| granted_like(&entry["rules"]);
    assert_eq!(matched(&entries[ENTRY_CRS]), ours());
    assert!(entries[ENTRY_CRS]["objectSelector"].is_null());
    assert_eq!(entries[ENTRY_CRS]["failurePolicy"], "Ignore");
    assert_eq!(matched(&entries[ENTRY_ISTIO]), istio());
    assert_eq!(
        entries[ENTRY_ISTIO]["objectSelector"],
        json!({"matchLabels": {"istio.io/rev": "tsb"}})
    );
    assert_eq!(entries[ENTRY_ISTIO]["failurePolicy"], "Ignore");
    assert_eq!(matched(&entries[ENTRY_UNLABELLED]), istio());
    assert_eq!(
        entries[ENTRY_UNLABELLED]["objectSelector"],
        json!({"matchExpressions": [{"key": "istio.io/rev", "operator": "NotIn", "values": ["tsb"]}]})
    );

    // failurePolicy follows the value, except for unlabelled Istio objects: always Ignore.
    let entries = self::entries(&render(&[]).expect("renders"));
    assert_eq!(entries[ENTRY_CRS]["failurePolicy"], "Fail");
    assert_eq!(entries[ENTRY_ISTIO]["failurePolicy"], "Fail");
    assert_eq!(entries[ENTRY_UNLABELLED]["failurePolicy"], "Ignore");

    let docs =
        render(&["--set", "agent.webhook.url=https://127.0.0.1:9443/validate"]).expect("renders");
    for entry in self::entries(&docs).values() {
        assert_eq!(
            entry["clientConfig"]["url"],
            "https://127.0.0.1:9443/validate"
        );
        assert!(entry["clientConfig"]["service"].is_null());
    }
    let docs = render(&["--set", "agent.webhook.enabled=false"]).expect("renders");
    assert!(of_kind(&docs, "ValidatingWebhookConfiguration").is_empty());
    assert!(of_kind(&docs, "Secret").is_empty());
}

/// Resources matched per group by webhook `rules`.
fn granted_like(rules: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in rules.as_array().expect("rules") {
        assert_eq!(rule["apiVersions"], json!(["*"]), "{rule}");
        for group in strings(&rule["apiGroups"]) {
            out.entry(group)
                .or_default()
                .extend(strings(&rule["resources"]));
        }
    }
    out
}

/// The Service's DNS names, as the apiserver may dial them.
const SERVICE_NAMES: [&str; 4] = [
    "r-tsbridge-agent",
    "r-tsbridge-agent.tsb",
    "r-tsbridge-agent.tsb.svc",
    "r-tsbridge-agent.tsb.svc.cluster.local",
];

#[test]
fn helm_mode_generates_a_ca_and_a_serving_certificate_for_the_service() {
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    let docs = render(&[]).expect("renders");
    let secret = one(&docs, "Secret");
    assert_eq!(secret["metadata"]["name"], "r-tsbridge-agent-webhook-tls");
    assert_eq!(secret["type"], "kubernetes.io/tls");
    let ca = base64_decode(&secret["data"]["ca.crt"]);
    for entry in entries(&docs).values() {
        assert_eq!(base64_decode(&entry["clientConfig"]["caBundle"]), ca);
    }
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&ca).expect("ca.crt is PEM"))
        .expect("a CA");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        WebPkiServerVerifier::builder_with_provider(std::sync::Arc::new(roots), provider)
            .build()
            .expect("verifier");
    let cert = CertificateDer::from_pem_slice(&base64_decode(&secret["data"]["tls.crt"]))
        .expect("tls.crt is PEM");
    for name in SERVICE_NAMES {
        let server = ServerName::try_from(name).expect("a DNS name");
        verifier
            .verify_server_cert(&cert, &[], &server, &[], UnixTime::now())
            .unwrap_or_else(|e| panic!("the certificate does not serve {name}: {e}"));
    }
    let key = String::from_utf8(base64_decode(&secret["data"]["tls.key"])).expect("PEM");
    assert!(key.contains("PRIVATE KEY"), "{key}");
}

#[test]
fn cert_manager_mode_issues_a_certificate_and_injects_the_ca() {
    let docs = render(&["--set", "agent.webhook.tls.mode=certManager"]).expect("renders");
    assert!(of_kind(&docs, "Secret").is_empty());
    let issuer = one(&docs, "Issuer");
    assert_eq!(issuer["spec"], json!({"selfSigned": {}}));
    let certificate = one(&docs, "Certificate");
    assert_eq!(
        certificate["spec"]["secretName"],
        "r-tsbridge-agent-webhook-tls"
    );
    assert_eq!(certificate["spec"]["dnsNames"], json!(SERVICE_NAMES));
    assert_eq!(
        certificate["spec"]["issuerRef"],
        json!({"name": issuer["metadata"]["name"], "kind": "Issuer", "group": "cert-manager.io"})
    );
    let configuration = one(&docs, "ValidatingWebhookConfiguration");
    assert_eq!(
        configuration["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
        json!(format!(
            "tsb/{}",
            certificate["metadata"]["name"].as_str().expect("name")
        ))
    );
    for entry in entries(&docs).values() {
        assert!(entry["clientConfig"]["caBundle"].is_null(), "{entry}");
    }

    // An issuer of the user's: no self-signed one.
    let docs = render(&[
        "--set",
        "agent.webhook.tls.mode=certManager",
        "--set",
        "agent.webhook.tls.certManager.issuerRef.name=corp-ca",
        "--set",
        "agent.webhook.tls.certManager.issuerRef.kind=ClusterIssuer",
    ])
    .expect("renders");
    assert!(of_kind(&docs, "Issuer").is_empty());
    assert_eq!(
        one(&docs, "Certificate")["spec"]["issuerRef"],
        json!({"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
    );
}

#[test]
fn external_mode_needs_the_secret_and_the_ca_bundle() {
    let error = render(&["--set", "agent.webhook.tls.mode=external"]).expect_err("no Secret");
    assert!(
        error.contains("agent.webhook.tls.external.secretName is required"),
        "{error}"
    );
    let error = render(&[
        "--set",
        "agent.webhook.tls.mode=external",
        "--set",
        "agent.webhook.tls.external.secretName=mine",
    ])
    .expect_err("no caBundle");
    assert!(
        error.contains("agent.webhook.tls.external.caBundle is required"),
        "{error}"
    );
    let docs = render(&[
        "--set",
        "agent.webhook.tls.mode=external",
        "--set",
        "agent.webhook.tls.external.secretName=mine",
        "--set",
        "agent.webhook.tls.external.caBundle=Y2E=",
    ])
    .expect("renders");
    for kind in ["Secret", "Certificate", "Issuer"] {
        assert!(of_kind(&docs, kind).is_empty(), "{kind} in external mode");
    }
    for entry in entries(&docs).values() {
        assert_eq!(entry["clientConfig"]["caBundle"], "Y2E=");
    }
    let error = render(&["--set", "agent.webhook.tls.mode=vault"]).expect_err("unknown mode");
    assert!(
        error.contains("use helm, certManager or external"),
        "{error}"
    );
}

// === Installed into cluster-helm ===

/// `helm` against cluster-helm; panics with its output when it fails.
fn helm(cluster: &Cluster, args: &[&str]) -> String {
    let output = cluster.tool("helm").args(args).output().expect("helm runs");
    assert!(
        output.status.success(),
        "helm {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

async fn create_namespaces(client: &Client, names: &[&str]) {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in names {
        api.create(&PostParams::default(), &test_namespace(name))
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    }
}

async fn delete_namespaces(client: &Client, names: &[&str]) {
    let api: Api<Namespace> = Api::all(client.clone());
    for name in names {
        if let Err(e) = api.delete(name, &DeleteParams::default()).await {
            eprintln!("deleting namespace {name}: {e}");
        }
    }
}

/// Deletes the tsbridge CRDs (the keep policy leaves them) and waits until they are gone, so
/// the next install with crds.install=true starts clean.
async fn delete_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let names: Vec<String> = crds::all()
        .expect("CRDs generate")
        .into_iter()
        .map(|c| c.metadata.name.expect("name"))
        .collect();
    for name in &names {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => eprintln!("deleting CRD {name}: {e}"),
        }
    }
    eventually("the tsbridge CRDs to be gone", WAIT, || async {
        for name in &names {
            if api.get_opt(name).await.ok()?.is_some() {
                return None;
            }
        }
        Some(())
    })
    .await;
}

/// Removes what a crashed earlier run of the end-to-end test left: its releases, CRDs and
/// namespaces.
async fn remove_leftovers(cluster: &Cluster, client: &Client) {
    let listed = helm(cluster, &["list", "--all-namespaces", "--output", "json"]);
    let releases: Vec<Value> = serde_json::from_str(&listed).expect("helm list JSON");
    for release in releases {
        let name = release["name"].as_str().unwrap_or_default();
        if name.starts_with(E2E_PREFIX) {
            let ns = release["namespace"].as_str().unwrap_or_default();
            helm(cluster, &["uninstall", name, "--namespace", ns]);
            delete_namespaces(client, &[ns, &format!("{ns}-app")]).await;
        }
    }
    delete_crds(client).await;
}

/// The chart's ServiceAccount, as a kubeconfig with a TokenRequest token; and a client of it.
async fn service_account_kubeconfig(
    cluster: &Cluster,
    admin: &Client,
    ns: &str,
    account: &str,
    dir: &std::path::Path,
) -> (std::path::PathBuf, Client) {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request(account, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("a token for {ns}/{account}: {e}"))
        .status
        .expect("token status")
        .token;
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "helm", "cluster": {
            "server": cluster.api_url,
            "certificate-authority": cluster.ca_cert,
        }}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": "agent", "context": {"cluster": "helm", "user": account}}],
        "current-context": "agent",
    });
    let path = dir.join("agent.kubeconfig");
    std::fs::write(&path, kubeconfig.to_string()).expect("kubeconfig writes");
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&path).expect("kubeconfig parses"),
        &Default::default(),
    )
    .await
    .expect("client config");
    (path, Client::try_from(config).expect("client"))
}

fn forbidden<T: std::fmt::Debug>(what: &str, result: Result<T, kube::Error>) {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn the_agent_works_on_the_charts_rbac_and_nothing_more() {
    let cluster = Cluster::attach("cluster-helm");
    let admin = cluster.client().await;
    remove_leftovers(&cluster, &admin).await;
    let release = format!("{E2E_PREFIX}{}", random_suffix());
    let app = format!("{release}-app");
    create_namespaces(&admin, &[&release, &app]).await;
    let outcome = AssertUnwindSafe(scenario(&cluster, &admin, &release, &app))
        .catch_unwind()
        .await;
    if std::env::var("TSBRIDGE_TEST_KEEP").as_deref() == Ok("1") {
        eprintln!("keeping release {release} in cluster-helm (TSBRIDGE_TEST_KEEP=1)");
    } else {
        // The webhook first: nothing may call a dead agent while the rest is removed.
        let configurations: Api<
            k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
        > = Api::all(admin.clone());
        let _ = configurations
            .delete(
                &format!("{release}-tsbridge-agent"),
                &DeleteParams::default(),
            )
            .await;
        helm(&cluster, &["uninstall", &release, "--namespace", &release]);
        delete_crds(&admin).await;
        delete_namespaces(&admin, &[&release, &app]).await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(cluster: &Cluster, admin: &Client, release: &str, app: &str) {
    let ns = release;
    // The cluster's name in the MP is the release's, so the default Lease name follows.
    let cluster_name = release;
    let dir = tempfile::tempdir().expect("temp dir");
    let certs = dir.path().join("webhook");
    std::fs::create_dir(&certs).expect("mkdir");
    cluster.webhook_cert(&certs);
    let read = |file: &str| std::fs::read(certs.join(file)).expect("webhook cert file");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "agent-webhook"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": ByteString(read("tls.crt")), "tls.key": ByteString(read("tls.key"))},
    }))
    .expect("Secret");
    Api::<Secret>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("the webhook Secret");
    let ca_bundle = serde_json::to_value(ByteString(read("ca.crt"))).expect("base64");

    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    api.clusters
        .create_cluster(v1::CreateClusterRequest {
            name: cluster_name.to_string(),
        })
        .await
        .expect("cluster registers");
    api.clusters
        .grant(v1::GrantRequest {
            cluster: cluster_name.to_string(),
            scope: "organizations/acme".into(),
        })
        .await
        .expect("grant");

    let port = free_port();
    let url = format!("https://127.0.0.1:{port}/validate");
    let selector = json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name",
                                                "operator": "In", "values": [ns, app]}]});
    let chart = repo_path("charts/tsbridge");
    helm(
        cluster,
        &[
            "install",
            release,
            chart.to_str().expect("UTF-8"),
            "--namespace",
            ns,
            "--set",
            "crds.install=true",
            "--set",
            "agent.enabled=true",
            "--set",
            "server.enabled=false",
            "--set-string",
            &format!("agent.cluster={cluster_name}"),
            "--set-string",
            &format!("agent.managementPlane.address={}", mp.url),
            "--set",
            "agent.managementPlane.tls.insecure=true",
            "--set",
            "agent.webhook.tls.mode=external",
            "--set-string",
            "agent.webhook.tls.external.secretName=agent-webhook",
            "--set-string",
            &format!(
                "agent.webhook.tls.external.caBundle={}",
                ca_bundle.as_str().expect("base64 text")
            ),
            "--set-string",
            &format!("agent.webhook.url={url}"),
            "--set-json",
            &format!("agent.webhook.namespaceSelector={selector}"),
        ],
    );
    let crd_api: Api<CustomResourceDefinition> = Api::all(admin.clone());
    for crd in crds::all().expect("CRDs generate") {
        crate::support::wait::await_condition(
            crd_api.clone(),
            &crd.metadata.name.expect("name"),
            kube::runtime::wait::conditions::is_crd_established(),
            WAIT,
        )
        .await;
    }

    let (kubeconfig, agent_client) = service_account_kubeconfig(
        cluster,
        admin,
        ns,
        &format!("{release}-tsbridge-agent"),
        dir.path(),
    )
    .await;
    let admin_listen = format!("127.0.0.1:{}", free_port());
    let agent = ChildProcess::tsbridge(
        [
            "agent",
            "--cluster",
            cluster_name,
            "--server",
            &mp.url,
            "--insecure",
            "--token-file",
            mp.token_file.to_str().expect("UTF-8"),
            "--kubeconfig",
            kubeconfig.to_str().expect("UTF-8"),
            "--lease-namespace",
            ns,
            "--lease-duration",
            "4s",
            "--identity",
            "chart-agent",
            "--admin-listen",
            &admin_listen,
            "--delete-grace",
            "1s",
            "--webhook-listen",
            &format!("127.0.0.1:{port}"),
            "--webhook-cert",
            certs.join("tls.crt").to_str().expect("UTF-8"),
            "--webhook-key",
            certs.join("tls.key").to_str().expect("UTF-8"),
        ],
        &[("TSBRIDGE_LOG_LEVEL", "tsbridge=debug,warn")],
    );

    // The Lease, in the release namespace, through the Role.
    let leases: Api<Lease> = Api::namespaced(admin.clone(), ns);
    let lease_name = format!("tsbridge-agent-{cluster_name}");
    eventually("the agent to hold the lease", WAIT, || async {
        let lease = leases.get_opt(&lease_name).await.ok()??;
        (lease.spec?.holder_identity? == "chart-agent").then_some(())
    })
    .await;

    webhook_checks(admin, ns).await;

    // A hierarchy selecting the app namespace of this very cluster: Ready, status written.
    let config = hierarchy(
        &format!("t-{}", random_suffix()),
        &[format!("{cluster_name}/{app}")],
    );
    for object in &config {
        let name = object["metadata"]["name"].as_str().expect("name");
        dynamic_api(admin, ns, object)
            .patch(
                name,
                &PatchParams::apply("kustomize-controller").force(),
                &Patch::Apply(object),
            )
            .await
            .unwrap_or_else(|e| panic!("applying {} {name}: {e}", object["kind"]));
    }
    for object in &config {
        await_ready(admin, ns, object, "True", "Accepted").await;
    }

    // An Event on the Ready transition, by the agent.
    let tenant = config
        .iter()
        .find(|o| o["kind"] == "Tenant")
        .expect("tenant");
    let tenant_name = tenant["metadata"]["name"].as_str().expect("name");
    let events: Api<Event> = Api::namespaced(admin.clone(), ns);
    eventually("an Event on the Tenant", WAIT, || async {
        let list = events.list(&ListParams::default()).await.ok()?;
        list.items
            .iter()
            .any(|e| {
                e.reporting_controller.as_deref() == Some("tsbridge-agent")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(tenant_name)
            })
            .then_some(())
    })
    .await;

    // The MP distributes the generated Istio objects back to this cluster's app namespace.
    let expected = expected_objects(cluster_name, &config, &[app.to_string()]);
    assert!(!expected.is_empty(), "the hierarchy generates objects");
    await_owned(admin, cluster_name, &expected).await;

    // A manual edit is reverted.
    let sidecars: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        app,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("networking.istio.io", "v1", "Sidecar"),
            "sidecars",
        ),
    );
    let sidecar = sidecars
        .list(&ListParams::default().labels("tsbridge.io/managed-by=tsbridge"))
        .await
        .expect("list")
        .items
        .into_iter()
        .next()
        .expect("a generated Sidecar");
    let sidecar_name = sidecar.metadata.name.clone().expect("name");
    let original = sidecar.data["spec"].clone();
    sidecars
        .patch(
            &sidecar_name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"egress": [{"hosts": ["./*", "edited/*"]}]}})),
        )
        .await
        .expect("manual edit");
    eventually("the manual edit to be reverted", WAIT, || async {
        let live = sidecars.get(&sidecar_name).await.ok()?;
        (live.data["spec"] == original).then_some(())
    })
    .await;

    // A delete in Git prunes what it generated.
    let security = config
        .iter()
        .find(|o| o["kind"] == "SecuritySetting")
        .expect("ss");
    dynamic_api(admin, ns, security)
        .delete(
            security["metadata"]["name"].as_str().expect("name"),
            &DeleteParams::default(),
        )
        .await
        .expect("delete");
    let remaining: Vec<Value> = config
        .iter()
        .filter(|o| o["kind"] != "SecuritySetting")
        .cloned()
        .collect();
    let pruned = expected_objects(cluster_name, &remaining, &[app.to_string()]);
    assert_ne!(pruned, expected, "the SecuritySetting generated something");
    await_owned(admin, cluster_name, &pruned).await;

    // Outside its needs the ServiceAccount is refused.
    let tenants = dynamic_api(&agent_client, ns, tenant);
    tenants
        .list(&ListParams::default())
        .await
        .expect("the token works: Tenants are readable");
    forbidden(
        "list Secrets cluster-wide",
        Api::<Secret>::all(agent_client.clone())
            .list(&ListParams::default())
            .await,
    );
    forbidden(
        "get its own webhook Secret",
        Api::<Secret>::namespaced(agent_client.clone(), ns)
            .get("agent-webhook")
            .await,
    );
    let role: ClusterRole =
        serde_json::from_value(json!({"metadata": {"name": format!("{release}-escalate")}}))
            .expect("ClusterRole");
    forbidden(
        "create a ClusterRole",
        Api::<ClusterRole>::all(agent_client.clone())
            .create(&PostParams::default(), &role)
            .await,
    );
    forbidden(
        "patch a CR's spec",
        tenants
            .patch(
                tenant_name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"description": "escalated"}})),
            )
            .await,
    );
    forbidden(
        "patch its webhook configuration",
        Api::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>::all(
            agent_client.clone(),
        )
        .patch(
            &format!("{release}-tsbridge-agent"),
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await,
    );

    let log = agent.output();
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the agent hit a permission it lacks:\n{log}"
    );
}

async fn await_owned(client: &Client, cluster: &str, expected: &BTreeSet<String>) {
    let what = format!("{cluster} to hold exactly {expected:?}");
    eventually(&what, WAIT, || async {
        (owned_objects(client, cluster).await == *expected).then_some(())
    })
    .await;
}

const DRY_RUN: PostParams = PostParams {
    dry_run: true,
    field_manager: None,
};

/// The chart's webhook configuration reaches the agent (apiserver → 127.0.0.1): each entry
/// denies what it should and allows the rest.
async fn webhook_checks(admin: &Client, ns: &str) {
    let fixture = |kind: &str| -> Value {
        crate::crds::fixture_objects()
            .into_iter()
            .find(|o| o["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} fixture"))
    };
    let dynamic =
        |o: &Value| -> DynamicObject { serde_json::from_value(o.clone()).expect("object") };
    let workspace = fixture("Workspace");
    let workspaces = dynamic_api(admin, ns, &workspace);
    let mut orphan = workspace.clone();
    orphan["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove("tsb.tetrate.io/tenant");
    // The apiserver picks new configurations up through an informer: poll.
    let denied = eventually(
        "the webhook to deny a Workspace without its tenant",
        WAIT,
        || async {
            match workspaces.create(&DRY_RUN, &dynamic(&orphan)).await {
                Err(kube::Error::Api(status)) if status.message.contains(ENTRY_CRS) => {
                    Some(status.message)
                }
                _ => None,
            }
        },
    )
    .await;
    assert!(denied.contains("tsb.tetrate.io/tenant"), "{denied}");
    workspaces
        .create(&DRY_RUN, &dynamic(&workspace))
        .await
        .expect("a valid Workspace is admitted");

    // Direct-mode Istio: labelled → the second entry; hierarchy annotations without the label
    // → the third; plain Istio config passes.
    let text = std::fs::read_to_string(repo_path("tests/fixtures/crs/direct-mode.yaml"))
        .expect("fixture reads");
    let labelled: Value = serde_saphyr::from_str(&text).expect("fixture parses");
    let virtual_services = dynamic_api(admin, ns, &labelled);
    virtual_services
        .create(&DRY_RUN, &dynamic(&labelled))
        .await
        .expect("a labelled direct-mode object is admitted");
    let mut broken = labelled.clone();
    broken["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove("tsb.tetrate.io/trafficGroup");
    match virtual_services.create(&DRY_RUN, &dynamic(&broken)).await {
        Err(kube::Error::Api(status)) if status.message.contains(ENTRY_ISTIO) => {}
        other => panic!("{ENTRY_ISTIO} did not deny a groupless direct-mode object: {other:?}"),
    }
    let mut unlabelled = labelled.clone();
    unlabelled["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("labels");
    match virtual_services
        .create(&DRY_RUN, &dynamic(&unlabelled))
        .await
    {
        Err(kube::Error::Api(status)) if status.message.contains(ENTRY_UNLABELLED) => {
            assert!(
                status.message.contains("istio.io/rev"),
                "{}",
                status.message
            );
        }
        other => panic!("{ENTRY_UNLABELLED} did not deny an unlabelled TSB object: {other:?}"),
    }
    let mut plain = unlabelled.clone();
    plain["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("annotations");
    virtual_services
        .create(&DRY_RUN, &dynamic(&plain))
        .await
        .expect("plain Istio config is admitted");
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn helm_mode_keeps_its_certificate_across_upgrades() {
    let cluster = Cluster::attach("cluster-helm");
    let admin = cluster.client().await;
    let release = format!("rbac-certs-{}", random_suffix());
    create_namespaces(&admin, &[&release]).await;
    let outcome = AssertUnwindSafe(upgrade_keeps_the_certificate(&cluster, &admin, &release))
        .catch_unwind()
        .await;
    let uninstalled = cluster
        .tool("helm")
        .args(["uninstall", &release, "--namespace", &release])
        .output();
    if let Err(e) = uninstalled {
        eprintln!("helm uninstall {release}: {e}");
    }
    delete_namespaces(&admin, &[&release]).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn upgrade_keeps_the_certificate(cluster: &Cluster, admin: &Client, release: &str) {
    let chart = repo_path("charts/tsbridge");
    // Scoped to its own namespace, where nothing is created: it never judges another test.
    let selector = json!({"matchLabels": {"kubernetes.io/metadata.name": release}}).to_string();
    let install = |verb: &'static str| {
        let selector = format!("agent.webhook.namespaceSelector={selector}");
        let args: Vec<String> = [
            verb,
            release,
            chart.to_str().expect("UTF-8"),
            "--namespace",
            release,
            "--set",
            "crds.install=false",
            "--set",
            "agent.rbac.create=false",
            "--set",
            "server.enabled=false",
            "--set-string",
            &format!("agent.cluster={release}"),
            "--set-string",
            "agent.managementPlane.address=https://127.0.0.1:9443",
            "--set",
            "agent.webhook.tls.mode=helm",
            "--set-json",
            &selector,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        helm(cluster, &args);
    };
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), release);
    let configurations: Api<
        k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
    > = Api::all(admin.clone());
    let name = format!("{release}-tsbridge-agent");
    let state = || async {
        let secret = secrets
            .get(&format!("{name}-webhook-tls"))
            .await
            .expect("the webhook Secret");
        let configuration = configurations.get(&name).await.expect("the configuration");
        let bundles: BTreeSet<Vec<u8>> = configuration
            .webhooks
            .unwrap_or_default()
            .into_iter()
            .map(|w| w.client_config.ca_bundle.expect("caBundle").0)
            .collect();
        (secret.data.unwrap_or_default(), bundles)
    };
    install("install");
    let (data, bundles) = state().await;
    let ca = data.get("ca.crt").expect("ca.crt").0.clone();
    assert_eq!(
        bundles,
        [ca.clone()].into(),
        "every entry trusts the Secret's CA"
    );
    install("upgrade");
    let (after, bundles) = state().await;
    assert_eq!(after, data, "an upgrade rotated the webhook certificate");
    assert_eq!(bundles, [ca].into());
}
