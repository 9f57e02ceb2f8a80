//! The chart's agent templates rendered with `helm template` (no cluster): RBAC, webhook
//! entries and the three webhook certificate modes.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use k8s_openapi::ByteString;
use serde_json::{Value, json};
use tsbridge::k8s::crds;
use tsbridge::model::Kind;

use super::{ENTRY_CRS, ENTRY_ISTIO, ENTRY_UNLABELLED};
use crate::chart::helm_binary;
use crate::support::repo_path;

/// `helm template r charts/tsbridge -n tsb ARGS`: the documents, or helm's error text.
fn render(args: &[&str]) -> Result<Vec<Value>, String> {
    let output = Command::new(helm_binary())
        .args(["template", "r", "--namespace", "tsb"])
        .arg(repo_path("charts/tsbridge"))
        .args(["--set", "agent.cluster=east"])
        .args([
            "--set",
            "agent.managementPlane.address=https://mp.example:9443",
        ])
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
    reads.insert(
        String::new(),
        ["namespaces".to_string(), "services".to_string()].into(),
    );
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
    // values.schema.json names the field before any template runs.
    let error = render(&["--set", "agent.webhook.tls.mode=vault"]).expect_err("unknown mode");
    assert!(error.contains("/agent/webhook/tls/mode"), "{error}");
}
