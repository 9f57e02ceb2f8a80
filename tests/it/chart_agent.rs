//! The chart's agent identity, RBAC, webhook configuration and webhook certificates: rendered
//! (no cluster), and installed into the `cluster-helm` control plane, where the real agent runs
//! out of cluster with a token of the chart's ServiceAccount and nothing more.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
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
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tsbridge::k8s::crds;

use crate::agent::{await_ready, flux_apply};
use crate::crds::dynamic_api;
use crate::distribute::{assert_manual_edit_reverted, expected_objects, hierarchy, owned_objects};
use crate::support::cluster::{Cluster, test_namespace};
use crate::support::mp::{Mp, free_port, register_cluster};
use crate::support::process::ChildProcess;
use crate::support::wait::eventually;
use crate::support::{random_suffix, repo_path};

const WAIT: Duration = Duration::from_secs(60);
/// The end-to-end test's releases; leftovers of a crashed run are removed by this prefix.
const E2E_PREFIX: &str = "rbac-e2e-";
pub(super) const ENTRY_CRS: &str = "crs.validate.tsbridge.io";
pub(super) const ENTRY_ISTIO: &str = "istio.validate.tsbridge.io";
pub(super) const ENTRY_UNLABELLED: &str = "istio-unlabelled.validate.tsbridge.io";

mod rendered;

// === Installed into cluster-helm ===

/// `helm VERB RELEASE charts/tsbridge` into namespace RELEASE, each value typed (`--set-json`).
fn helm_install(cluster: &Cluster, verb: &str, release: &str, values: &[(&str, Value)]) {
    let chart = repo_path("charts/tsbridge");
    let mut args: Vec<String> = [verb, release, chart.to_str().expect("UTF-8")]
        .iter()
        .map(ToString::to_string)
        .collect();
    args.extend(["--namespace".to_string(), release.to_string()]);
    for (key, value) in values {
        args.extend(["--set-json".to_string(), format!("{key}={value}")]);
    }
    cluster.helm(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// `helm uninstall`, reporting rather than panicking: it runs on cleanup paths, where the
/// release may never have been installed.
fn helm_uninstall(cluster: &Cluster, release: &str, ns: &str) {
    match cluster
        .tool("helm")
        .args(["uninstall", release, "--namespace", ns])
        .output()
    {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!(
            "helm uninstall {release}: {}",
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) => eprintln!("helm uninstall {release}: {e}"),
    }
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
    let listed = cluster.helm(&["list", "--all-namespaces", "--output", "json"]);
    let releases: Vec<Value> = serde_json::from_str(&listed).expect("helm list JSON");
    for release in releases {
        let name = release["name"].as_str().unwrap_or_default();
        if name.starts_with(E2E_PREFIX) {
            let ns = release["namespace"].as_str().unwrap_or_default();
            helm_uninstall(cluster, name, ns);
            delete_namespaces(client, &[ns, &format!("{ns}-app")]).await;
        }
    }
    delete_crds(client).await;
}

/// The chart's ServiceAccount, as a kubeconfig with a TokenRequest token; and a client of it.
pub(crate) async fn service_account_kubeconfig(
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
        helm_uninstall(&cluster, &release, &release);
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
    register_cluster(&mut api, cluster_name, "organizations/acme").await;

    let port = free_port();
    let url = format!("https://127.0.0.1:{port}/validate");
    let selector = json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name",
                                                "operator": "In", "values": [ns, app]}]});
    helm_install(
        cluster,
        "install",
        release,
        &[
            ("crds.install", json!(true)),
            ("agent.enabled", json!(true)),
            ("server.enabled", json!(false)),
            ("agent.cluster", json!(cluster_name)),
            ("agent.managementPlane.address", json!(mp.url)),
            ("agent.managementPlane.tls.insecure", json!(true)),
            ("agent.webhook.tls.mode", json!("external")),
            (
                "agent.webhook.tls.external.secretName",
                json!("agent-webhook"),
            ),
            ("agent.webhook.tls.external.caBundle", ca_bundle),
            ("agent.webhook.url", json!(url)),
            ("agent.webhook.namespaceSelector", selector),
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
        flux_apply(admin, ns, object).await;
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
    assert_manual_edit_reverted(admin, app).await;

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
    helm_uninstall(&cluster, &release, &release);
    delete_namespaces(&admin, &[&release]).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn upgrade_keeps_the_certificate(cluster: &Cluster, admin: &Client, release: &str) {
    // Scoped to its own namespace, where nothing is created: it never judges another test.
    let values = [
        ("crds.install", json!(false)),
        ("agent.rbac.create", json!(false)),
        ("server.enabled", json!(false)),
        ("agent.cluster", json!(release)),
        (
            "agent.managementPlane.address",
            json!("https://127.0.0.1:9443"),
        ),
        ("agent.webhook.tls.mode", json!("helm")),
        (
            "agent.webhook.namespaceSelector",
            json!({"matchLabels": {"kubernetes.io/metadata.name": release}}),
        ),
    ];
    let install = |verb| helm_install(cluster, verb, release, &values);
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
