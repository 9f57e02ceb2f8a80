//! The agent's validating webhook behind a real kube-apiserver: the apiserver calls
//! `tsbridge::agent::webhook::serve` in this process over HTTPS on 127.0.0.1 (gitops-contract.md
//! R-B1, R-B6, R-C6, G-8, G-14).

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use kube::Client;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tsbridge::agent::webhook::{RequestLabels, WebhookArgs, WebhookMetrics, serve};
use tsbridge::runtime::Shutdown;

use crate::crds::{dynamic_api, fixture_objects, install_crds};
use crate::support::admission::register_webhook;
use crate::support::cluster::{Cluster, with_temp_ns};
use crate::support::wait::{DEFAULT_TIMEOUT, eventually};
use crate::support::{random_suffix, repo_path};

const WEBHOOK: &str = "validate.tsbridge.io";
const DENIED: &str = "denied the request: ";

/// Our API groups (G-8 first entry) and the Istio groups (the direct-mode kinds).
const GROUPS: [&str; 8] = [
    "tsb.tetrate.io",
    "traffic.tsb.tetrate.io",
    "security.tsb.tetrate.io",
    "gateway.tsb.tetrate.io",
    "istiointernal.tsb.tetrate.io",
    "networking.istio.io",
    "security.istio.io",
    "extensions.istio.io",
];

fn fixture(kind: &str, name: &str) -> Value {
    let mut object = fixture_objects()
        .into_iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} fixture"));
    object["metadata"]["name"] = json!(name);
    object
}

fn dynamic(object: &Value) -> DynamicObject {
    serde_json::from_value(object.clone()).expect("a Kubernetes object")
}

/// The webhook's own text from an apiserver denial.
fn denial(result: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) => {
            assert!(
                status.message.contains(&format!("\"{WEBHOOK}\" {DENIED}")),
                "not our webhook's denial: {status:?}"
            );
            let (_, text) = status.message.split_once(DENIED).expect("checked above");
            text.to_string()
        }
        other => panic!("expected a denial, got {other:?}"),
    }
}

const DRY_RUN: PostParams = PostParams {
    dry_run: true,
    field_manager: None,
};

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn apiserver_admits_through_the_webhook() {
    let cluster = Cluster::default_cluster();
    install_crds(&cluster.client().await).await;
    let certs = tempfile::tempdir().expect("temp dir");
    cluster.webhook_cert(certs.path());
    let ca = std::fs::read(certs.path().join("ca.crt")).expect("ca.crt");
    let shutdown = Shutdown::new();
    let metrics = WebhookMetrics::unregistered();
    let args = WebhookArgs {
        webhook_listen: "127.0.0.1:0".parse().expect("address"),
        webhook_cert: Some(certs.path().join("tls.crt")),
        webhook_key: Some(certs.path().join("tls.key")),
    };
    let bound = serve(&args, metrics.clone(), shutdown.clone())
        .await
        .expect("the webhook serves");
    let url = format!("https://127.0.0.1:{}/validate", bound.port());
    crate::support::assert_loopback(&url);

    with_temp_ns(&cluster, |client, ns| async move {
        let rules = json!([{ "operations": ["CREATE", "UPDATE", "DELETE"], "apiGroups": GROUPS,
                             "apiVersions": ["*"], "resources": ["*"] }]);
        let registered = register_webhook(
            &client,
            &format!("tsbridge-webhook-test-{ns}"),
            WEBHOOK,
            &url,
            ca,
            rules,
            &ns,
        )
        .await;
        let outcome = AssertUnwindSafe(checks(client.clone(), ns.clone()))
            .catch_unwind()
            .await;
        // Removed before the namespace goes: a protected object would block its deletion.
        registered.delete().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
    })
    .await;

    let workspace_creates = RequestLabels {
        kind: "Workspace".into(),
        operation: "CREATE",
    };
    assert!(metrics.requests(&workspace_creates) >= 3);
    assert!(metrics.denials(&workspace_creates) >= 2);
    shutdown.begin();
    assert!(
        shutdown.drain(Duration::from_secs(10)).await,
        "the webhook's tasks end on shutdown"
    );
}

async fn checks(client: Client, ns: String) {
    let suffix = random_suffix();

    // CEL cannot see annotations: a Workspace without its tenant reaches the webhook.
    let valid = fixture("Workspace", &format!("ws-{suffix}"));
    let mut orphan = valid.clone();
    orphan["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove("tsb.tetrate.io/tenant");
    let workspaces = dynamic_api(&client, &ns, &valid);
    // The apiserver picks new configurations up through an informer: poll with dry-run.
    let first = eventually("the webhook to deny", DEFAULT_TIMEOUT, || async {
        match workspaces.create(&DRY_RUN, &dynamic(&orphan)).await {
            Err(kube::Error::Api(status)) if status.message.contains(WEBHOOK) => {
                Some(kube::Error::Api(status))
            }
            _ => None,
        }
    })
    .await;
    let dry_run_text = denial(Err::<(), _>(first));
    let real_text = denial(
        workspaces
            .create(&PostParams::default(), &dynamic(&orphan))
            .await,
    );
    assert_eq!(dry_run_text, real_text, "R-B1: the same verdict on dry-run");
    assert!(
        real_text.starts_with(&format!(
            "Workspace/{ns}/ws-{suffix}: metadata.annotations[tsb.tetrate.io/tenant]: "
        )),
        "{real_text}"
    );
    assert!(real_text.contains("; fix: "), "{real_text}");

    // An inline private key is denied the same way on both paths.
    let mut leaky = valid.clone();
    leaky["spec"]["description"] =
        json!("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----");
    let leaky = dynamic(&leaky);
    let text = denial(workspaces.create(&DRY_RUN, &leaky).await);
    assert_eq!(
        text,
        denial(workspaces.create(&PostParams::default(), &leaky).await)
    );
    assert!(text.contains("spec.description: contains"), "{text}");

    // A valid object is admitted, dry-run and real.
    workspaces
        .create(&DRY_RUN, &dynamic(&valid))
        .await
        .expect("a valid Workspace passes a dry-run");
    workspaces
        .create(&PostParams::default(), &dynamic(&valid))
        .await
        .expect("a valid Workspace is created");

    // R-C6: the hierarchy annotations are immutable; other metadata edits ratchet through.
    let ws_name = format!("ws-{suffix}");
    let move_it =
        json!({ "metadata": { "annotations": { "tsb.tetrate.io/tenant": "elsewhere" } } });
    let text = denial(
        workspaces
            .patch(&ws_name, &PatchParams::default(), &Patch::Merge(&move_it))
            .await,
    );
    assert!(
        text.contains("metadata.annotations[tsb.tetrate.io/tenant]: is immutable"),
        "{text}"
    );
    let relabel = json!({ "metadata": { "labels": { "team": "checkout" } } });
    workspaces
        .patch(&ws_name, &PatchParams::default(), &Patch::Merge(&relabel))
        .await
        .expect("a label edit is admitted");

    // G-14: deletion protection is the one deliberate block.
    let mut tenant = fixture("Tenant", &format!("tenant-{suffix}"));
    tenant["spec"]["deletionProtectionEnabled"] = json!(true);
    let tenants = dynamic_api(&client, &ns, &tenant);
    let tenant_name = format!("tenant-{suffix}");
    tenants
        .create(&PostParams::default(), &dynamic(&tenant))
        .await
        .expect("a protected Tenant is created");
    let dry_run_delete = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    let text = denial(tenants.delete(&tenant_name, &dry_run_delete).await);
    assert_eq!(
        text,
        denial(tenants.delete(&tenant_name, &DeleteParams::default()).await)
    );
    assert!(
        text.starts_with(&format!(
            "Tenant/{ns}/{tenant_name}: spec.deletionProtectionEnabled: "
        )),
        "{text}"
    );
    let unprotect = json!({ "spec": { "deletionProtectionEnabled": false } });
    tenants
        .patch(
            &tenant_name,
            &PatchParams::default(),
            &Patch::Merge(&unprotect),
        )
        .await
        .expect("protection can be switched off");
    tenants
        .delete(&tenant_name, &DeleteParams::default())
        .await
        .expect("an unprotected Tenant is deleted");

    // V4: a direct-mode Istio object needs istio.io/rev: tsb.
    let text = std::fs::read_to_string(repo_path("tests/fixtures/crs/direct-mode.yaml"))
        .expect("fixture reads");
    let mut virtual_service: Value = serde_saphyr::from_str(&text).expect("fixture parses");
    virtual_service["metadata"]["name"] = json!(format!("vs-{suffix}"));
    virtual_service["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("labels");
    let virtual_services = dynamic_api(&client, &ns, &virtual_service);
    let text = denial(
        virtual_services
            .create(&DRY_RUN, &dynamic(&virtual_service))
            .await,
    );
    assert!(text.contains("metadata.labels[istio.io/rev]"), "{text}");
    virtual_service["metadata"]["labels"] = json!({ "istio.io/rev": "tsb" });
    virtual_services
        .create(&DRY_RUN, &dynamic(&virtual_service))
        .await
        .expect("a labelled direct-mode object passes");
}

// === In process: rotation, malformed bodies, shutdown ===

/// Writes a fresh self-signed pair for 127.0.0.1 the way a Secret volume changes: new files
/// renamed into place. Returns the certificate (DER).
fn write_pair(dir: &std::path::Path) -> rustls::pki_types::CertificateDer<'static> {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("certificate");
    for (name, pem) in [
        ("tls.key", certified.signing_key.serialize_pem()),
        ("tls.crt", certified.cert.pem()),
    ] {
        let staged = dir.join(format!("..{name}.new"));
        std::fs::write(&staged, pem).expect("writes PEM");
        std::fs::rename(&staged, dir.join(name)).expect("swaps PEM");
    }
    certified.cert.der().clone()
}

/// Connects over TLS trusting `roots`; returns the certificate the server presented and the
/// stream.
async fn connect(
    addr: std::net::SocketAddr,
    roots: &[rustls::pki_types::CertificateDer<'static>],
) -> (
    rustls::pki_types::CertificateDer<'static>,
    tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.clone()).expect("root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(store)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("server name");
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let presented = tls.get_ref().1.peer_certificates().expect("a certificate")[0].clone();
    (presented, tls)
}

/// POSTs `body` to `/validate` over HTTP/1.1; returns the status and the response text.
async fn post(
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    body: Vec<u8>,
) -> (u16, String) {
    use axum::body::Body;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let request = hyper::Request::post("/validate")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(Body::new(response.into_body()), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn a_rotated_certificate_is_served_without_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = write_pair(dir.path());
    let shutdown = Shutdown::new();
    let metrics = WebhookMetrics::unregistered();
    let args = WebhookArgs {
        webhook_listen: "127.0.0.1:0".parse().expect("address"),
        webhook_cert: Some(dir.path().join("tls.crt")),
        webhook_key: Some(dir.path().join("tls.key")),
    };
    let addr = serve(&args, metrics.clone(), shutdown.clone())
        .await
        .expect("the webhook serves");

    let (presented, tls) = connect(addr, std::slice::from_ref(&first)).await;
    assert_eq!(presented, first);
    let (status, text) = post(tls, b"{\"not\": \"a review\"".to_vec()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.starts_with("the body is not"), "{text}");
    assert_eq!(metrics.malformed(), 1);

    let second = write_pair(dir.path());
    let roots = [first.clone(), second.clone()];
    // The files are polled every 5 s.
    let tls = eventually(
        "the new certificate to be served",
        DEFAULT_TIMEOUT,
        || async {
            let (presented, tls) = connect(addr, &roots).await;
            (presented == second).then_some(tls)
        },
    )
    .await;
    let valid = fixture("Workspace", "rotated");
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": { "group": "tsb.tetrate.io", "version": "v2", "kind": "Workspace" },
            "resource": { "group": "tsb.tetrate.io", "version": "v2", "resource": "workspaces" },
            "namespace": "config",
            "operation": "CREATE",
            "userInfo": {},
            "object": valid,
        }
    });
    let (status, text) = post(tls, serde_json::to_vec(&review).expect("JSON")).await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).expect("an AdmissionReview");
    assert_eq!(answer["response"]["uid"], "u-1");
    assert_eq!(answer["response"]["allowed"], true, "{text}");

    shutdown.begin();
    assert!(shutdown.drain(Duration::from_secs(10)).await);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}
