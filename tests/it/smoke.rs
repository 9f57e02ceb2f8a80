//! Smoke tests that prove the test ground is real: each would fail against a fake apiserver,
//! a fake webhook path, or a fake database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::wait::conditions;
use serde_json::json;

use crate::support::admission::register_webhook;
use crate::support::cluster::{Cluster, with_temp_ns};
use crate::support::postgres::Postgres;
use crate::support::wait::{DEFAULT_TIMEOUT, await_condition, eventually};
use crate::support::{PINNED_K8S_VERSION, random_suffix, repo_path};

const TEST_MANAGER: &str = "tsbridge-test";

fn api_error(result: Result<impl std::fmt::Debug, kube::Error>) -> kube::core::Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn apiserver_reports_the_pinned_version_and_lists_namespaces() {
    let cluster = Cluster::default_cluster();
    for client in [cluster.client().await, cluster.token_client().await] {
        let version = client.apiserver_version().await.expect("/version answers");
        assert_eq!(version.git_version, format!("v{PINNED_K8S_VERSION}"));
        let namespaces: Api<Namespace> = Api::all(client);
        let names: Vec<String> = namespaces
            .list(&ListParams::default())
            .await
            .expect("namespaces list")
            .into_iter()
            .filter_map(|ns| ns.metadata.name)
            .collect();
        for expected in ["default", "kube-system", "kube-public"] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} missing from {names:?}"
            );
        }
    }
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn the_pinned_version_is_the_scripts_default() {
    let script = std::fs::read_to_string(repo_path("tests/realk8s.sh")).expect("script");
    let default = format!("K8S_VERSION=\"${{K8S_VERSION:-{PINNED_K8S_VERSION}}}\"");
    assert!(
        script.contains(&default),
        "tests/realk8s.sh does not default to {PINNED_K8S_VERSION}"
    );
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn crd_cel_rule_rejects_an_invalid_object_with_its_message() {
    const RULE_MESSAGE: &str = "spec.replicas must not exceed spec.maxReplicas";
    let cluster = Cluster::default_cluster();
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.smoke.tsbridge.io" },
        "spec": {
            "group": "smoke.tsbridge.io",
            "names": { "kind": "Widget", "plural": "widgets", "singular": "widget" },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": { "spec": {
                        "type": "object",
                        "required": ["replicas", "maxReplicas"],
                        "properties": {
                            "replicas": { "type": "integer" },
                            "maxReplicas": { "type": "integer" }
                        },
                        "x-kubernetes-validations": [{
                            "rule": "self.replicas <= self.maxReplicas",
                            "message": RULE_MESSAGE
                        }]
                    }}
                }}
            }]
        }
    }))
    .expect("CRD literal");
    let client = cluster.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "widgets.smoke.tsbridge.io",
        &PatchParams::apply(TEST_MANAGER).force(),
        &Patch::Apply(&crd),
    )
    .await
    .expect("CRD applies");
    await_condition(
        crds,
        "widgets.smoke.tsbridge.io",
        conditions::is_crd_established(),
        DEFAULT_TIMEOUT,
    )
    .await;

    with_temp_ns(&cluster, |client, ns| async move {
        let gvk = GroupVersionKind::gvk("smoke.tsbridge.io", "v1", "Widget");
        let widgets: Api<DynamicObject> =
            Api::namespaced_with(client, &ns, &ApiResource::from_gvk(&gvk));
        let widget = |name: &str, replicas: i64, max: i64| {
            let mut obj = DynamicObject::new(name, &ApiResource::from_gvk(&gvk));
            obj.data = json!({ "spec": { "replicas": replicas, "maxReplicas": max } });
            obj
        };
        // A freshly established CRD can take a moment to be served.
        eventually("the Widget API to be served", DEFAULT_TIMEOUT, || async {
            widgets
                .create(&PostParams::default(), &widget("valid", 2, 3))
                .await
                .ok()
        })
        .await;
        let status = api_error(
            widgets
                .create(&PostParams::default(), &widget("invalid", 5, 3))
                .await,
        );
        assert_eq!(status.code, 422, "{status:?}");
        assert!(status.message.contains(RULE_MESSAGE), "{}", status.message);
    })
    .await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn apiserver_calls_a_loopback_webhook_that_denies() {
    const DENIAL: &str = "smoke webhook says no";
    let cluster = Cluster::default_cluster();
    let certs = tempfile::tempdir().expect("temp dir");
    cluster.webhook_cert(certs.path());
    let calls = Arc::new(AtomicUsize::new(0));
    let server = webhook::serve(certs.path(), calls.clone(), DENIAL).await;
    let url = format!("https://127.0.0.1:{}/validate", server.port);
    crate::support::assert_loopback(&url);
    let ca = std::fs::read(certs.path().join("ca.crt")).expect("ca.crt");

    with_temp_ns(&cluster, |client, ns| async move {
        let name = format!("smoke-deny-{ns}");
        let rules = json!([{ "operations": ["CREATE"], "apiGroups": [""],
                             "apiVersions": ["v1"], "resources": ["configmaps"] }]);
        let registered = register_webhook(
            &client,
            &name,
            "deny.smoke.tsbridge.io",
            &url,
            ca,
            rules,
            &ns,
        )
        .await;

        let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let dry_run = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let probe: ConfigMap = serde_json::from_value(json!({
            "metadata": { "name": webhook::PROBE }, "data": { "k": "v" }
        }))
        .expect("ConfigMap literal");
        // The apiserver picks up a new configuration through an informer: poll with dry-run.
        let status = eventually("the webhook to deny", DEFAULT_TIMEOUT, || async {
            match config_maps.create(&dry_run, &probe).await {
                Err(kube::Error::Api(status)) => Some(*status),
                _ => None,
            }
        })
        .await;
        assert!(status.message.contains(DENIAL), "{}", status.message);
        assert!(
            status.message.contains("deny.smoke.tsbridge.io"),
            "{}",
            status.message
        );
        assert!(
            calls.load(Ordering::SeqCst) >= 1,
            "the webhook server saw no request"
        );

        // Outside its namespaceSelector the webhook is not consulted.
        let before = calls.load(Ordering::SeqCst);
        let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
        elsewhere
            .create(&dry_run, &probe)
            .await
            .expect("a namespace outside the selector is unaffected");
        assert_eq!(calls.load(Ordering::SeqCst), before);

        registered.delete().await;
    })
    .await;
    drop(server);
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn server_side_apply_conflicts_between_field_managers() {
    let cluster = Cluster::default_cluster();
    with_temp_ns(&cluster, |client, ns| async move {
        let config_maps: Api<ConfigMap> = Api::namespaced(client, &ns);
        let apply = |value: &str| {
            Patch::Apply(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": "owned" },
                "data": { "key": value }
            }))
        };
        config_maps
            .patch("owned", &PatchParams::apply("manager-a"), &apply("one"))
            .await
            .expect("first manager applies");
        let status = api_error(
            config_maps
                .patch("owned", &PatchParams::apply("manager-b"), &apply("two"))
                .await,
        );
        assert_eq!(status.code, 409, "{status:?}");
        assert!(status.message.contains("manager-a"), "{}", status.message);

        let forced = config_maps
            .patch(
                "owned",
                &PatchParams::apply("manager-b").force(),
                &apply("two"),
            )
            .await
            .expect("a forced apply takes ownership");
        assert_eq!(forced.data.expect("data")["key"], "two");
        let managers: Vec<String> = forced
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| entry.manager)
            .collect();
        assert!(managers.contains(&"manager-b".to_string()), "{managers:?}");
    })
    .await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn three_clusters_hold_different_data() {
    let clusters: Vec<Cluster> = ["cluster-a", "cluster-b", "cluster-c"]
        .into_iter()
        .map(Cluster::attach)
        .collect();
    let mut urls: Vec<&str> = clusters.iter().map(|c| c.api_url.as_str()).collect();
    urls.sort();
    urls.dedup();
    assert_eq!(urls.len(), 3, "three clusters share an apiserver: {urls:?}");

    let token = random_suffix();
    for cluster in &clusters {
        let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client().await, "default");
        let identity = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "smoke-identity" },
            "data": { "cluster": cluster.name, "run": token }
        });
        config_maps
            .patch(
                "smoke-identity",
                &PatchParams::apply(TEST_MANAGER).force(),
                &Patch::Apply(identity),
            )
            .await
            .expect("identity applies");
    }
    for cluster in &clusters {
        let config_maps: Api<ConfigMap> = Api::namespaced(cluster.client().await, "default");
        let data = config_maps
            .get("smoke-identity")
            .await
            .expect("identity reads back")
            .data
            .expect("data");
        assert_eq!(data["cluster"], cluster.name);
        assert_eq!(data["run"], token);
    }
}

#[tokio::test]
async fn postgres_fixture_accepts_a_connection_and_a_query() {
    use sqlx::Connection;
    let pg = Postgres::start();
    crate::support::assert_loopback(&pg.url.replace("postgres://postgres@", "postgres://"));
    let mut conn = sqlx::PgConnection::connect(&pg.url)
        .await
        .expect("connects to the private cluster");
    let (sum, port): (i32, String) = sqlx::query_as("SELECT 40 + 2, current_setting('port')")
        .fetch_one(&mut conn)
        .await
        .expect("query runs");
    assert_eq!(sum, 42);
    assert_eq!(port, pg.port.to_string());
    sqlx::query("CREATE DATABASE smoke")
        .execute(&mut conn)
        .await
        .expect("databases can be created");
    let mut other = sqlx::PgConnection::connect(&pg.database_url("smoke"))
        .await
        .expect("connects to the new database");
    let (name,): (String,) = sqlx::query_as("SELECT current_database()")
        .fetch_one(&mut other)
        .await
        .expect("query runs");
    assert_eq!(name, "smoke");
}

/// A minimal HTTPS admission webhook in the test process (rustls, ring).
mod webhook {
    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::{Json, Router, extract::State, routing::post};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use kube::core::DynamicObject;
    use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

    /// The server's port; the accept loop stops when this is dropped.
    pub struct Running {
        pub port: u16,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// The name of the object the test creates; calls for anything else are not counted.
    pub const PROBE: &str = "probe";

    #[derive(Clone)]
    struct Denier {
        calls: Arc<AtomicUsize>,
        message: &'static str,
    }

    async fn validate(
        State(denier): State<Denier>,
        Json(review): Json<AdmissionReview<DynamicObject>>,
    ) -> Json<AdmissionReview<DynamicObject>> {
        let request: AdmissionRequest<DynamicObject> = review
            .try_into()
            .expect("an AdmissionReview carries a request");
        // Only the test's own probe counts: kube-controller-manager creates (and, once denied,
        // retries later) its `kube-root-ca.crt` ConfigMap in every new namespace, and such a
        // late call must not look like a call for the probe outside the selector.
        if request.name == PROBE {
            denier.calls.fetch_add(1, Ordering::SeqCst);
        }
        Json(
            AdmissionResponse::from(&request)
                .deny(denier.message)
                .into_review(),
        )
    }

    pub async fn serve(certs: &Path, calls: Arc<AtomicUsize>, message: &'static str) -> Running {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(certs.join("tls.crt"))
                .expect("tls.crt")
                .collect::<Result<_, _>>()
                .expect("tls.crt parses");
        let key = PrivateKeyDer::from_pem_file(certs.join("tls.key")).expect("tls.key parses");
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("key pair");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let app = Router::new()
            .route("/validate", post(validate))
            .with_state(Denier { calls, message });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Running { port, task }
    }
}
