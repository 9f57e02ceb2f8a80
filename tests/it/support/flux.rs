//! Flux's own source-controller and kustomize-controller (v1.9.6, built from their Go modules by
//! `tests/setup.sh`, see `docs/testing.md`), run out of cluster against a test apiserver, and
//! readers of what they report: Kustomization conditions and events.
//!
//! Each pair watches only its runtime namespace (`--watch-all-namespaces=false`), so pairs of
//! concurrent test runs on the same apiserver never see each other's objects.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use kube::Client;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::mp::free_port;
use super::process::ChildProcess;
use super::wait::eventually;

/// Where `tests/setup.sh` puts the controllers and their CRDs (`bin/`, `crds/`).
pub fn flux_dir() -> PathBuf {
    super::cached_tool_dir("TSBRIDGE_FLUX_DIR", "flux")
}

/// The Kustomization resource (`kustomize.toolkit.fluxcd.io/v1`).
pub fn kustomizations(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "kustomizations"),
    )
}

/// The GitRepository resource (`source.toolkit.fluxcd.io/v1`).
pub fn git_repositories(client: &Client, ns: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", "GitRepository");
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, "gitrepositories"),
    )
}

/// A running source-controller and kustomize-controller pair for one runtime namespace.
pub struct Flux {
    /// The namespace the pair watches (its `RUNTIME_NAMESPACE`).
    pub ns: String,
    source: ChildProcess,
    kustomize: ChildProcess,
    _storage: tempfile::TempDir,
}

impl Flux {
    /// Installs the Flux CRDs of the built release into `cluster` and starts both controllers
    /// for namespace `ns` (which must exist), artifact storage on a loopback port.
    pub async fn start(cluster: &Cluster, ns: &str) -> Flux {
        let dir = flux_dir();
        let bin = dir.join("bin");
        assert!(
            bin.join("source-controller").is_file() && bin.join("kustomize-controller").is_file(),
            "no Flux controllers in {} (tests/setup.sh builds them: source tests/setup.sh && setup_all)",
            bin.display()
        );
        super::cluster::apply_crd_files(
            &cluster.client().await,
            &dir.join("crds"),
            &[
                "gitrepositories.source.toolkit.fluxcd.io",
                "kustomizations.kustomize.toolkit.fluxcd.io",
            ],
        )
        .await;
        let storage = tempfile::tempdir().expect("artifact storage dir");
        let storage_addr = format!("127.0.0.1:{}", free_port());
        let common = |binary: &str| {
            let mut cmd = Command::new(bin.join(binary));
            cmd.env("KUBECONFIG", &cluster.kubeconfig)
                .env("RUNTIME_NAMESPACE", ns)
                .env_remove("KUBERNETES_SERVICE_HOST")
                .env_remove("KUBERNETES_SERVICE_PORT")
                .args([
                    "--watch-all-namespaces=false",
                    "--enable-leader-election=false",
                    "--log-level=debug",
                    "--log-encoding=console",
                    &format!("--metrics-addr=127.0.0.1:{}", free_port()),
                    &format!("--health-addr=127.0.0.1:{}", free_port()),
                ]);
            cmd
        };
        let mut source = common("source-controller");
        source.args([
            &format!("--storage-path={}", storage.path().display()),
            &format!("--storage-addr={storage_addr}"),
            &format!("--storage-adv-addr={storage_addr}"),
        ]);
        let mut kustomize = common("kustomize-controller");
        // A failed dependsOn is looked at again after this (default 30 s).
        kustomize.arg("--requeue-dependency=2s");
        Flux {
            ns: ns.to_string(),
            source: ChildProcess::spawn(source),
            kustomize: ChildProcess::spawn(kustomize),
            _storage: storage,
        }
    }

    /// Fails the test when a controller has exited.
    pub fn assert_running(&mut self) {
        for (name, process) in [
            ("source-controller", &mut self.source),
            ("kustomize-controller", &mut self.kustomize),
        ] {
            assert!(process.is_running(), "{name} exited:\n{}", process.output());
        }
    }

    /// Both controllers' logs (for failure messages).
    pub fn logs(&self) -> String {
        format!(
            "--- source-controller ---\n{}\n--- kustomize-controller ---\n{}",
            self.source.output(),
            self.kustomize.output()
        )
    }
}

/// The `Ready` condition of a Flux object, if any.
pub fn ready(object: &DynamicObject) -> Option<&Value> {
    object.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

/// What Flux says of a Kustomization: Ready status, reason, message and the revision it last
/// applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub applied: String,
    pub attempted: String,
}

/// The current verdict on `kustomization` (for its current generation), if it has one.
pub fn verdict(kustomization: &DynamicObject) -> Option<Verdict> {
    let status = &kustomization.data["status"];
    let generation = kustomization.metadata.generation?;
    if status["observedGeneration"].as_i64() != Some(generation) {
        return None;
    }
    let ready = ready(kustomization)?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Some(Verdict {
        status: text(&ready["status"]),
        reason: text(&ready["reason"]),
        message: text(&ready["message"]),
        applied: text(&status["lastAppliedRevision"]),
        attempted: text(&status["lastAttemptedRevision"]),
    })
}

/// Waits until Flux's verdict on Kustomization `name` satisfies `done`; returns it.
pub async fn await_verdict(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&Verdict) -> bool,
) -> Verdict {
    let api = kustomizations(client, ns);
    let last = std::sync::Mutex::new(None);
    let waited = tokio::time::timeout(
        timeout,
        eventually(what, timeout + Duration::from_secs(1), || async {
            let object = api.get(name).await.ok()?;
            let verdict = verdict(&object)?;
            *last.lock().expect("lock") = Some(verdict.clone());
            done(&verdict).then_some(verdict)
        }),
    )
    .await;
    waited.unwrap_or_else(|_| {
        panic!(
            "Kustomization {name}: timed out after {timeout:?} waiting for {what}; last verdict: {:?}",
            last.lock().expect("lock")
        )
    })
}

/// Asks Flux to reconcile `kind`/`name` now (`reconcile.fluxcd.io/requestedAt`, what `flux
/// reconcile` does) and waits until it has handled that request.
pub async fn reconcile_now(api: &Api<DynamicObject>, name: &str, token: &str, timeout: Duration) {
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}}),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("requesting a reconcile of {name}: {e}"));
    eventually(
        &format!("Flux to handle reconcile request {token} of {name}"),
        timeout,
        || async {
            let object = api.get(name).await.ok()?;
            (object.data["status"]["lastHandledReconcileAt"] == token).then_some(())
        },
    )
    .await;
}

/// Every Event about the Kustomizations in `ns`: (object, reason, message) with its count
/// (the recorder folds repeats of one message into a count).
pub async fn kustomization_events(
    client: &Client,
    ns: &str,
) -> BTreeMap<(String, String, String), i32> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    events
        .list(&ListParams::default().fields("involvedObject.kind=Kustomization"))
        .await
        .unwrap_or_else(|e| panic!("listing events in {ns}: {e}"))
        .items
        .into_iter()
        .map(|e| {
            let key = (
                e.involved_object.name.unwrap_or_default(),
                e.reason.unwrap_or_default(),
                e.message.unwrap_or_default(),
            );
            (key, e.count.unwrap_or(1))
        })
        .fold(BTreeMap::new(), |mut all, (key, count)| {
            *all.entry(key).or_insert(0) += count;
            all
        })
}
