//! Misconfiguration says so (issue 17, part 5): each set-up mistake a new user can make leaves
//! the agent not ready with `/ready` naming the reason and the fix, and
//! `tsbridge_agent_not_ready{reason}` at 1; fixing it clears both.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};

use crate::chart_agent::service_account_kubeconfig;
use crate::distribute::{create_namespace, delete_namespace};
use crate::support::cluster::Cluster;
use crate::support::mp::{Mp, admin_get, free_port, register_cluster};
use crate::support::pki::Pki;
use crate::support::process::ChildProcess;
use crate::support::random_suffix;
use crate::support::wait::eventually;

const WAIT: Duration = Duration::from_secs(60);

/// `tsbridge agent` as cluster `cluster` on `kubeconfig`, talking to `server` with `mp_flags`
/// (`--insecure --token-file …`, or TLS flags), electing in `lease_ns`. Returns its admin URL.
fn agent(
    kubeconfig: &Path,
    cluster: &str,
    server: &str,
    lease_ns: &str,
    mp_flags: &[&str],
) -> (ChildProcess, String) {
    let admin = format!("127.0.0.1:{}", free_port());
    let mut args: Vec<String> = [
        "agent",
        "--cluster",
        cluster,
        "--server",
        server,
        "--kubeconfig",
        kubeconfig.to_str().expect("UTF-8"),
        "--lease-namespace",
        lease_ns,
        "--lease-name",
        &format!("tsbridge-{cluster}"),
        "--lease-duration",
        "3s",
        "--admin-listen",
        &admin,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    args.extend(mp_flags.iter().map(ToString::to_string));
    let process = ChildProcess::tsbridge(&args, &[("TSBRIDGE_LOG_LEVEL", "tsbridge=debug,warn")]);
    (process, format!("http://{admin}"))
}

fn insecure(mp: &Mp) -> [&str; 3] {
    [
        "--insecure",
        "--token-file",
        mp.token_file.to_str().expect("UTF-8"),
    ]
}

/// Waits until `/ready` answers `code` with a line for `reason` and the metric says 1 for it;
/// returns the body.
async fn reports(admin: &str, code: u16, reason: &str) -> String {
    let line = format!("- {reason}: ");
    let series = format!("tsbridge_agent_not_ready{{reason=\"{reason}\"}} 1");
    eventually(&format!("/ready {code} with {reason}"), WAIT, || async {
        let (answered, body) = admin_get(admin, "/ready").await?;
        let (_, metrics) = admin_get(admin, "/metrics").await?;
        (answered == code && body.contains(&line) && metrics.lines().any(|l| l == series))
            .then_some(body)
    })
    .await
}

/// Waits until `reason` is gone from `/ready` and its metric is 0.
async fn clears(admin: &str, reason: &str) -> String {
    let series = format!("tsbridge_agent_not_ready{{reason=\"{reason}\"}} 0");
    eventually(&format!("{reason} to clear"), WAIT, || async {
        let (_, body) = admin_get(admin, "/ready").await?;
        let (_, metrics) = admin_get(admin, "/metrics").await?;
        // By its line: `istio_crds_missing` contains `crds_missing`.
        let named = format!("- {reason}:");
        let gone = !body.lines().any(|l| l.starts_with(&named));
        (gone && metrics.lines().any(|l| l == series)).then_some(body)
    })
    .await
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn a_missing_lease_namespace_is_named_with_the_command_that_creates_it() {
    let kube = Cluster::attach("cluster-a");
    let client = kube.client().await;
    let namespace = format!("tsbridge-lease-{}", random_suffix());
    let server = format!("http://127.0.0.1:{}", free_port());
    let (_agent, admin) = agent(
        &kube.kubeconfig,
        "lease-ns",
        &server,
        &namespace,
        &["--insecure"],
    );
    let body = reports(&admin, 503, "lease_namespace_missing").await;
    assert!(
        body.starts_with("not ready\n")
            && body.contains(&format!("kubectl create namespace {namespace}")),
        "{body}"
    );
    // Fixed: the agent leads, and then says what is wrong next (nothing answers --server).
    create_namespace(&client, &namespace).await;
    clears(&admin, "lease_namespace_missing").await;
    let body = reports(&admin, 503, "server_unreachable").await;
    assert!(body.contains(&server), "{body}");
    delete_namespace(&client, &namespace).await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn a_lease_the_rbac_forbids_is_named_with_the_grant_it_needs() {
    let kube = Cluster::attach("cluster-a");
    let client = kube.client().await;
    let namespace = format!("tsbridge-rbac-{}", random_suffix());
    create_namespace(&client, &namespace).await;
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &namespace);
    let account: ServiceAccount =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "agent"}})).expect("SA");
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("service account");
    let dir = tempfile::tempdir().expect("temp dir");
    // The account has no RBAC at all: its Lease is forbidden (and so are its lists).
    let (kubeconfig, _) =
        service_account_kubeconfig(&kube, &client, &namespace, "agent", dir.path()).await;
    let server = format!("http://127.0.0.1:{}", free_port());
    let (_agent, admin) = agent(&kubeconfig, "rbac", &server, &namespace, &["--insecure"]);
    let body = reports(&admin, 503, "lease_forbidden").await;
    assert!(
        body.contains("grant get, create and update on leases.coordination.k8s.io"),
        "{body}"
    );
    delete_namespace(&client, &namespace).await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn an_unregistered_then_ungranted_cluster_is_named_with_the_ctl_command() {
    let kube = Cluster::attach("cluster-a");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let cluster = format!("unknown-{}", random_suffix());
    let (_agent, admin) = agent(
        &kube.kubeconfig,
        &cluster,
        &mp.url,
        "default",
        &insecure(&mp),
    );
    let body = reports(&admin, 503, "cluster_not_registered").await;
    assert!(
        body.contains(&format!("tsbridge ctl cluster create {cluster}")),
        "{body}"
    );
    // Registered without a grant: welcomed, but every push would be refused.
    let mut api = mp.clients(&mp.token).await;
    api.clusters
        .create_cluster(tsbridge::proto::v1::CreateClusterRequest {
            name: cluster.clone(),
        })
        .await
        .expect("register");
    let body = reports(&admin, 503, "cluster_not_granted").await;
    assert!(
        body.contains(&format!("tsbridge ctl cluster grant {cluster}")),
        "{body}"
    );
    assert!(!body.contains("cluster_not_registered"), "{body}");
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn certificates_outside_their_dates_are_named_on_either_side() {
    let kube = Cluster::attach("cluster-a");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let pki = Pki::new();
    let ip = || vec![rcgen::SanType::IpAddress("127.0.0.1".parse().expect("IP"))];
    // The MP's certificate starts 100 years from now: a clock far behind, as the agent sees it.
    let (future_crt, future_key) = pki.leaf_valid("future", ip(), Some(100..101));
    let ca = pki.path("ca.crt");
    let skewed = Mp::start_tls(
        &store,
        dir.path(),
        &[
            "--tls-cert",
            &future_crt,
            "--tls-key",
            &future_key,
            "--client-ca",
            &ca,
        ],
    )
    .await;
    let (crt, key) = pki.cluster("skew");
    let tls = ["--tls-cert", &crt, "--tls-key", &key, "--ca", &ca];
    let (_first, admin) = agent(&kube.kubeconfig, "skew", &skewed.url, "default", &tls);
    let body = reports(&admin, 503, "certificate_not_valid").await;
    assert!(
        body.contains("the management plane's certificate is not valid yet")
            && body.contains("check this host's clock"),
        "{body}"
    );

    // The agent's own certificate expired 25 years ago: named with its dates before any handshake.
    let other = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", other.path().join("mp.db").display());
    let (good_crt, good_key) = pki.leaf("mp", ip());
    let mp = Mp::start_tls(
        &store,
        other.path(),
        &[
            "--tls-cert",
            &good_crt,
            "--tls-key",
            &good_key,
            "--client-ca",
            &ca,
        ],
    )
    .await;
    let (old_crt, old_key) = pki.cluster_valid("expired", "expired", Some(-26..-25));
    let expired_in = i32::from(jiff::Zoned::now().year()) - 25;
    let tls = ["--tls-cert", &old_crt, "--tls-key", &old_key, "--ca", &ca];
    let (_second, admin) = agent(&kube.kubeconfig, "expired", &mp.url, "default", &tls);
    let body = reports(&admin, 503, "certificate_not_valid").await;
    assert!(
        body.contains(&format!("--tls-cert {old_crt}"))
            && body.contains(&format!("expired at {expired_in}")),
        "{body}"
    );
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn missing_crds_fail_readiness_and_missing_istio_crds_are_reported() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    // cluster-bare is this test's alone: no Istio CRDs, and ours only once installed here.
    let kube = Cluster::bare();
    let client = kube.client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    // Istio's one CRD a previous run may have left, then ours.
    let names = tsbridge::k8s::crds::all()
        .expect("CRDs")
        .into_iter()
        .map(|crd| crd.metadata.name.expect("named"));
    for name in std::iter::once(VIRTUAL_SERVICE_CRD.to_string()).chain(names) {
        let _ = crds.delete(&name, &Default::default()).await;
        eventually(&format!("CRD {name} to be gone"), WAIT, || async {
            crds.get_opt(&name).await.ok()?.is_none().then_some(())
        })
        .await;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    register_cluster(&mut api, "bare", "organizations/acme").await;
    let (_agent, admin) = agent(&kube.kubeconfig, "bare", &mp.url, "default", &insecure(&mp));
    let body = reports(&admin, 503, "crds_missing").await;
    assert!(
        body.contains("tenants.tsb.tetrate.io") && body.contains("tsbridge crds"),
        "{body}"
    );
    // Each watch finds its kind unserved on its own first list: Istio's come as they fail.
    let body = reports(&admin, 503, "istio_crds_missing").await;
    assert!(
        body.contains("degraded:\n- istio_crds_missing: ") && body.contains("networking.istio.io"),
        "{body}"
    );

    // Installed: the agent lists them and is ready, still saying Istio is missing.
    crate::crds::install_crds(&client).await;
    clears(&admin, "crds_missing").await;
    let body = reports(&admin, 200, "istio_crds_missing").await;
    assert!(body.starts_with("ready\n"), "{body}");

    // Istio's VirtualService CRD installed after the agent: no restart, its group is served.
    let virtual_services: CustomResourceDefinition =
        serde_json::from_value(virtual_service_crd()).expect("a CRD");
    crds.create(&PostParams::default(), &virtual_services)
        .await
        .expect("the VirtualService CRD");
    let picked_up = eventually("networking.istio.io to be served", WAIT, || async {
        let (_, body) = admin_get(&admin, "/ready").await?;
        (!body.contains("networking.istio.io") && body.contains("security.istio.io"))
            .then_some(body)
    })
    .await;
    assert!(picked_up.starts_with("ready\n"), "{picked_up}");
    let _ = crds.delete(VIRTUAL_SERVICE_CRD, &Default::default()).await;
}

const VIRTUAL_SERVICE_CRD: &str = "virtualservices.networking.istio.io";

/// Istio's VirtualService CRD, reduced to what serving it takes.
fn virtual_service_crd() -> serde_json::Value {
    let versions: Vec<serde_json::Value> = ["v1alpha3", "v1beta1", "v1"]
        .iter()
        .map(|version| {
            serde_json::json!({
                "name": version, "served": true, "storage": *version == "v1",
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            })
        })
        .collect();
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": VIRTUAL_SERVICE_CRD},
        "spec": {
            "group": "networking.istio.io",
            "names": {"kind": "VirtualService", "listKind": "VirtualServiceList",
                      "plural": "virtualservices", "singular": "virtualservice"},
            "scope": "Namespaced",
            "versions": versions
        }
    })
}
