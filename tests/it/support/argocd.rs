//! Argo CD's own application-controller and repo-server (v3.6.2, one multi-call binary built from
//! the argo-cd/v3 module by `tests/setup.sh`, see `docs/testing.md`), with a private Redis from
//! Debian's package, run out of cluster against a test apiserver; and readers of what Argo CD
//! reports on an Application: sync status, health, the last operation and per-resource health.
//!
//! The controller reconciles only the Applications of its own namespace (`--namespace`), so
//! concurrent runs on one apiserver never see each other's Applications. Its destination
//! `https://kubernetes.default.svc` is the apiserver it runs against: `ARGOCD_FAKE_IN_CLUSTER`
//! makes the in-cluster destination use the controller's kubeconfig (what Argo CD's own local
//! development set-up does).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::mp::free_port;
use super::process::ChildProcess;
use super::repo_path;
use super::wait::eventually;

/// Where `tests/setup.sh` puts the binary and the CRDs (`bin/`, `crds/`).
pub fn argocd_dir() -> PathBuf {
    super::cached_tool_dir("TSBRIDGE_ARGOCD_DIR", "argocd")
}

/// The Application resource (`argoproj.io/v1alpha1`).
pub fn applications(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "applications"),
    )
}

fn app_projects(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "appprojects"),
    )
}

/// A running Redis, repo-server and application-controller for one Argo CD namespace.
pub struct ArgoCd {
    pub ns: String,
    redis: ChildProcess,
    repo_server: ChildProcess,
    controller: ChildProcess,
    _scratch: tempfile::TempDir,
}

impl ArgoCd {
    /// Installs the release's Application and AppProject CRDs into `cluster`, writes what an
    /// Argo CD install keeps in namespace `ns` (which must exist: `argocd-cm` with tsbridge's
    /// health check from `charts/tsbridge/argocd/argocd-cm.yaml`, `argocd-secret`, the `default`
    /// project) and starts the three processes.
    pub async fn start(cluster: &Cluster, ns: &str) -> ArgoCd {
        let dir = argocd_dir();
        let bin = dir.join("bin");
        assert!(
            bin.join("argocd").is_file(),
            "no Argo CD in {} (tests/setup.sh builds it: source tests/setup.sh && setup_all)",
            bin.display()
        );
        let client = cluster.client().await;
        super::cluster::apply_crd_files(
            &client,
            &dir.join("crds"),
            &["applications.argoproj.io", "appprojects.argoproj.io"],
        )
        .await;
        install_settings(&client, ns).await;

        let scratch = tempfile::tempdir().expect("Argo CD scratch dir");
        let redis_port = free_port();
        let mut redis = Command::new("redis-server");
        redis.args([
            "--port",
            &redis_port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        let redis_addr = format!("127.0.0.1:{redis_port}");
        let repo_port = free_port();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut repo_server = Command::new(bin.join("argocd-repo-server"));
        repo_server
            // git-verify-wrapper.sh, which the repo-server runs on every commit, is in bin/.
            .env("PATH", &path)
            .env("TMPDIR", scratch.path())
            .env("ARGOCD_GPG_ENABLED", "false")
            .env("ARGOCD_ASK_PASS_SOCK", scratch.path().join("askpass.sock"))
            .args([
                "--address",
                "127.0.0.1",
                "--port",
                &repo_port.to_string(),
                "--metrics-address",
                "127.0.0.1",
                "--metrics-port",
                &free_port().to_string(),
                "--redis",
                &redis_addr,
                "--disable-tls",
                "--client-ca-path",
                "",
                // A Git webhook would tell Argo CD of a push; the test asks for a refresh
                // instead, so `main` must not stay resolved to an older commit for 3 minutes.
                "--revision-cache-expiration",
                "1s",
                "--loglevel",
                "info",
            ]);
        let mut controller = Command::new(bin.join("argocd-application-controller"));
        controller
            .env("KUBECONFIG", &cluster.kubeconfig)
            .env("ARGOCD_FAKE_IN_CLUSTER", "true")
            .env("TMPDIR", scratch.path())
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .args([
                "--namespace",
                ns,
                "--repo-server",
                &format!("127.0.0.1:{repo_port}"),
                "--repo-server-plaintext",
                "--redis",
                &redis_addr,
                "--metrics-port",
                &free_port().to_string(),
                // Compare with Git every 10 s (default 120 s with up to 60 s of jitter).
                "--app-resync",
                "10",
                "--app-resync-jitter",
                "0",
                // Argo CD 3 keeps each resource's health in Redis for its UI; this puts it on
                // the Application too, where the test (and `kubectl get application`) reads it.
                "--persist-resource-health",
                "--status-processors",
                "4",
                "--operation-processors",
                "4",
                "--loglevel",
                "info",
            ]);
        ArgoCd {
            ns: ns.to_string(),
            redis: ChildProcess::spawn(redis),
            repo_server: ChildProcess::spawn(repo_server),
            controller: ChildProcess::spawn(controller),
            _scratch: scratch,
        }
    }

    /// Fails the test when a process has exited.
    pub fn assert_running(&mut self) {
        for (name, process) in [
            ("redis-server", &mut self.redis),
            ("argocd-repo-server", &mut self.repo_server),
            ("argocd-application-controller", &mut self.controller),
        ] {
            assert!(process.is_running(), "{name} exited:\n{}", process.output());
        }
    }

    /// The repo-server's and the controller's logs (for failure messages).
    pub fn logs(&self) -> String {
        format!(
            "--- argocd-repo-server ---\n{}\n--- argocd-application-controller ---\n{}",
            self.repo_server.output(),
            self.controller.output()
        )
    }
}

/// `argocd-cm` (tsbridge's health check merged in, as `docs/gitops.md` tells users),
/// `argocd-secret` and the `default` AppProject.
async fn install_settings(client: &Client, ns: &str) {
    let snippet = std::fs::read_to_string(repo_path("charts/tsbridge/argocd/argocd-cm.yaml"))
        .expect("charts/tsbridge/argocd/argocd-cm.yaml");
    let snippet: Value = serde_saphyr::from_str(&snippet).expect("the argocd-cm snippet parses");
    let mut cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "argocd-cm", "labels": {"app.kubernetes.io/part-of": "argocd"}},
        "data": snippet["data"],
    }))
    .expect("argocd-cm");
    cm.metadata.namespace = Some(ns.to_string());
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &cm)
        .await
        .expect("argocd-cm");
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "argocd-secret", "labels": {"app.kubernetes.io/part-of": "argocd"}},
        "stringData": {"server.secretkey": super::random_suffix()},
    }))
    .expect("argocd-secret");
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("argocd-secret");
    let project: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "default"},
        "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                 "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}}))
    .expect("AppProject");
    app_projects(client, ns)
        .create(&PostParams::default(), &project)
        .await
        .expect("the default AppProject");
}

/// What Argo CD says of an Application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppVerdict {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub sync: String,
    /// The commit the sync status compares against.
    pub revision: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Missing`, `Unknown` or `Suspended`.
    pub health: String,
    /// The last operation's phase (`Succeeded`, `Failed`, `Error`, `Running`), its message with
    /// each resource's result message after it, and the commit it synced.
    pub phase: String,
    pub message: String,
    pub synced_revision: String,
    /// `ComparisonError` and the like.
    pub conditions: Vec<String>,
}

impl AppVerdict {
    pub fn of(app: &DynamicObject) -> AppVerdict {
        let status = &app.data["status"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let operation = &status["operationState"];
        AppVerdict {
            sync: text(&status["sync"]["status"]),
            revision: text(&status["sync"]["revision"]),
            health: text(&status["health"]["status"]),
            phase: text(&operation["phase"]),
            message: std::iter::once(text(&operation["message"]))
                .chain(
                    operation["syncResult"]["resources"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| text(&r["message"]))
                        .filter(|m| !m.is_empty()),
                )
                .collect::<Vec<_>>()
                .join("; "),
            synced_revision: text(&operation["syncResult"]["revision"]),
            conditions: status["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{}: {}", text(&c["type"]), text(&c["message"])))
                .collect(),
        }
    }

    /// Synced to `revision`, Healthy, and no sync running. (What is already in the cluster
    /// needs no sync: the CRDs other tests installed, or a revert of a commit never applied.)
    pub fn settled_at(&self, revision: &str) -> bool {
        self.sync == "Synced"
            && self.revision == revision
            && self.health == "Healthy"
            && !matches!(self.phase.as_str(), "Running" | "Terminating")
    }
}

/// Waits until Argo CD's verdict on Application `name` satisfies `done`; returns it.
pub async fn await_app(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&AppVerdict) -> bool,
) -> AppVerdict {
    let api = applications(client, ns);
    let last = std::sync::Mutex::new(None);
    let waited = tokio::time::timeout(
        timeout,
        eventually(what, timeout + Duration::from_secs(1), || async {
            let app = api.get(name).await.ok()?;
            let verdict = AppVerdict::of(&app);
            *last.lock().expect("lock") = Some(verdict.clone());
            done(&verdict).then_some(verdict)
        }),
    )
    .await;
    waited.unwrap_or_else(|_| {
        panic!(
            "Application {name}: timed out after {timeout:?} waiting for {what}; last verdict: {:?}",
            last.lock().expect("lock")
        )
    })
}

/// Asks Argo CD to compare Application `name` with Git now (`argocd app get --refresh`, what a
/// Git webhook triggers) and waits until the controller has taken the request.
pub async fn refresh(api: &Api<DynamicObject>, name: &str, timeout: Duration) {
    const KEY: &str = "argocd.argoproj.io/refresh";
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {KEY: "normal"}}})),
    )
    .await
    .unwrap_or_else(|e| panic!("requesting a refresh of {name}: {e}"));
    eventually(
        &format!("Argo CD to take the refresh of {name}"),
        timeout,
        || async {
            let app = api.get(name).await.ok()?;
            let annotations = app.metadata.annotations.unwrap_or_default();
            (!annotations.contains_key(KEY)).then_some(())
        },
    )
    .await;
}

/// Argo CD's health of the resource `kind`/`name` in Application `app`: (status, message).
pub fn resource_health(app: &DynamicObject, kind: &str, name: &str) -> Option<(String, String)> {
    let resource = app.data["status"]["resources"]
        .as_array()?
        .iter()
        .find(|r| r["kind"] == kind && r["name"] == name)?;
    let health = &resource["health"];
    Some((
        health["status"].as_str().unwrap_or_default().to_string(),
        health["message"].as_str().unwrap_or_default().to_string(),
    ))
}

/// How many sync operations Application `app` has run (its `status.history`), and when the last
/// one started: a steady state adds neither.
pub fn operations(app: &DynamicObject) -> (usize, String) {
    let status = &app.data["status"];
    (
        status["history"].as_array().map_or(0, Vec::len),
        status["operationState"]["startedAt"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}
