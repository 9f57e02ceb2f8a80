//! The real Argo CD in the loop (issue 18, part 4): the application-controller and repo-server of
//! v3.6.2 sync the platform repository (`gitops_stage.rs`, the same one Flux syncs in
//! `flux_engine.rs`) from a Git server on 127.0.0.1 into cluster-a, with tsbridge's health check
//! loaded from `argocd-cm`; the MP distributes the generated Istio objects to cluster-a and
//! cluster-b. Every scenario is judged by what Argo CD itself reports on its Applications: sync
//! status and revision, health (per resource, from our Lua script), and the last sync operation.
//!
//! Laid out as `docs/gitops.md` tells Argo CD users: an app of apps (`platform`) holding one
//! Application per layer, automated sync with prune and self-heal, `SkipDryRunOnMissingResource`
//! and a retry; server-side apply for the CRDs and the payments team, client-side apply for the
//! rest, so both of Argo CD's apply paths meet our CRs and webhook.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{DeleteParams, DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::gitops_stage::{
    Engine, Names, Stage, WAIT, assert_denied, await_crs_ready, crds_yaml, drain, in_the_loop,
    live_objects, objects, stalled_message, yaml,
};
use crate::support::argocd::{
    AppVerdict, ArgoCd, applications, await_app, operations, refresh, resource_health,
};
use crate::support::wait::eventually;

/// The Applications `clusters/cluster-a/` holds, and the app of apps that holds them.
const LAYERS: [&str; 4] = ["tsbridge-crds", "tenancy", "team-payments", "team-edge"];
const BOOTSTRAP: &str = "platform";

/// An Application of `path` in the platform repository, synced into `namespace` (if any).
fn application(
    names: &Names,
    repo: &str,
    name: &str,
    path: &str,
    namespace: Option<&str>,
    server_side: bool,
) -> Value {
    let mut options = vec!["SkipDryRunOnMissingResource=true"];
    if server_side {
        options.push("ServerSideApply=true");
    }
    let mut destination = json!({"server": "https://kubernetes.default.svc"});
    if let Some(namespace) = namespace {
        destination["namespace"] = json!(namespace);
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": names.engine_ns,
                     // Deleting the Application deletes what it applied (not the CRDs: see
                     // crds_yaml).
                     "finalizers": ["resources-finalizer.argocd.argoproj.io"]},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo, "targetRevision": "main", "path": path},
            "destination": destination,
            "syncPolicy": {
                "automated": {"prune": true, "selfHeal": true},
                "syncOptions": options,
                // docs/gitops.md suggests a longer backoff; short here so a denial is final soon.
                "retry": {"limit": 2, "backoff": {"duration": "2s", "factor": 2, "maxDuration": "10s"}},
            },
        },
    })
}

/// `clusters/cluster-a/`: the Applications the app of apps applies.
fn cluster_dir(names: &Names, repo: &str) -> Vec<Value> {
    let config = Some(names.config_ns.as_str());
    vec![
        application(
            names,
            repo,
            "tsbridge-crds",
            "infrastructure/tsbridge",
            None,
            true,
        ),
        application(names, repo, "tenancy", "tenancy", config, false),
        application(names, repo, "team-payments", "teams/payments", config, true),
        application(names, repo, "team-edge", "teams/edge", config, false),
    ]
}

type Loop = crate::gitops_stage::Loop<ArgoCd>;

impl Engine for ArgoCd {
    const NAME: &'static str = "Argo CD";

    async fn start(stage: &Stage) -> ArgoCd {
        ArgoCd::start(&stage.cluster_a, &stage.names.engine_ns).await
    }

    fn logs(&self) -> String {
        ArgoCd::logs(self)
    }

    /// Commits, asks Argo CD to look at Git (as a push webhook would) and waits until every
    /// Application in `which` is Synced, Healthy and synced at that commit.
    async fn commit_and_sync(flow: &Loop, message: &str, which: &[&str]) -> String {
        let revision = flow.commit(message, which).await;
        for name in which {
            flow.await_app(name, &format!("settled at {revision}"), |v| {
                v.settled_at(&revision)
            })
            .await;
        }
        revision
    }

    /// Deletes the app of apps alone, then each layer's Application, so Argo CD deletes what it
    /// applied (its finalizer) and lets the Application go.
    async fn clean_up(&self, stage: &Stage) {
        let apps = applications(&stage.a, &stage.names.engine_ns);
        let _ = apps.delete(BOOTSTRAP, &DeleteParams::default()).await;
        for name in LAYERS {
            let _ = apps.delete(name, &DeleteParams::default()).await;
        }
        drain(&apps).await;
    }
}

impl Loop {
    fn apps(&self) -> kube::Api<DynamicObject> {
        applications(&self.a, &self.names.engine_ns)
    }

    /// Commits and asks Argo CD to refresh the Applications in `which`.
    async fn commit(&self, message: &str, which: &[&str]) -> String {
        let revision = self.git.commit(message);
        for name in which {
            refresh(&self.apps(), name, WAIT).await;
        }
        revision
    }

    async fn await_app(
        &self,
        name: &str,
        what: &str,
        done: impl Fn(&AppVerdict) -> bool,
    ) -> AppVerdict {
        await_app(&self.a, &self.names.engine_ns, name, what, WAIT, done).await
    }

    async fn app(&self, name: &str) -> DynamicObject {
        self.apps().get(name).await.expect("the Application")
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver"]
async fn argocd_syncs_the_platform_repository_through_every_scenario() {
    in_the_loop::<ArgoCd>("ac", scenarios).await;
}

async fn scenarios(flow: &mut Loop) {
    let names = &flow.stage.names;
    let repo = flow.git.url.clone();
    let (tenancy, payments, edge) = (names.tenancy(), names.payments(), names.edge("ratings"));

    // The platform repository as Argo CD users lay it out: the Applications per cluster,
    // infrastructure, tenancy, one directory per team (plain YAML: Argo CD's directory source).
    flow.git.write(
        "clusters/cluster-a/applications.yaml",
        &yaml(&cluster_dir(names, &repo)),
    );
    flow.git.write(
        "infrastructure/tsbridge/crds.yaml",
        &crds_yaml(&[(
            "argocd.argoproj.io/sync-options",
            "Prune=false,Delete=false",
        )]),
    );
    for files in [&tenancy, &payments, &edge] {
        flow.write_all(files);
    }
    let first = flow
        .git
        .commit("platform: tsbridge CRDs, tenancy and two teams");

    // What `argocd app create` (or a bootstrap manifest) leaves: the app of apps.
    let mut bootstrap = application(
        names,
        &repo,
        BOOTSTRAP,
        "clusters/cluster-a",
        Some(&names.engine_ns),
        false,
    );
    // Deleting the app of apps must not cascade here: clean-up deletes each layer itself.
    bootstrap["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("finalizers");
    let bootstrap: DynamicObject = serde_json::from_value(bootstrap).expect("Application");
    flow.apps()
        .create(&PostParams::default(), &bootstrap)
        .await
        .expect("the app of apps");

    // 1. First sync: every Application Synced and Healthy at the first commit (our CRs' health
    //    from the Lua check), every CR Ready, the Istio objects in both clusters.
    let sync_started = Instant::now();
    for name in std::iter::once(BOOTSTRAP).chain(LAYERS) {
        flow.engine.assert_running();
        let verdict = flow
            .await_app(name, "Synced and Healthy at the first commit", |v| {
                v.settled_at(&first)
            })
            .await;
        assert!(
            verdict.conditions.is_empty(),
            "{name} has no error conditions: {verdict:?}"
        );
    }
    eprintln!(
        "first sync: every Application Synced and Healthy after {:?}",
        sync_started.elapsed()
    );
    await_crs_ready(
        &flow.a,
        &names.config_ns,
        &objects(&[&tenancy, &payments, &edge]),
    )
    .await;
    let tenancy_app = flow.app("tenancy").await;
    for object in tenancy.values() {
        let (kind, name) = (
            object["kind"].as_str().expect("kind"),
            object["metadata"]["name"].as_str().expect("name"),
        );
        assert_eq!(
            resource_health(&tenancy_app, kind, name).map(|(status, _)| status),
            Some("Healthy".to_string()),
            "Argo CD judges {kind}/{name} with tsbridge's health check"
        );
    }
    let bridged = objects(&[&tenancy, &payments]);
    let all_expected = flow.expected(&bridged);
    flow.await_owned(&all_expected).await;
    eprintln!(
        "first sync: Istio objects in both clusters after {:?}",
        sync_started.elapsed()
    );

    // 2. A commit the MP rejects: a workspace overlapping payments'. Argo CD applies it (the
    //    webhook admits it: the overlap is the MP's to judge) and shows it Degraded with
    //    tsbridge's message; nothing changes anywhere else.
    let phase = Instant::now();
    let held = flow.held().await;
    flow.git.write(
        "tenancy/workspace-overlap.yaml",
        &yaml(&[names.workspace("overlap", &names.app_ns)]),
    );
    let rejected = flow
        .commit(
            "tenancy: a workspace over the payments namespace",
            &["tenancy"],
        )
        .await;
    let verdict = flow
        .await_app("tenancy", "Degraded at the rejected commit", |v| {
            v.sync == "Synced" && v.revision == rejected && v.health == "Degraded"
        })
        .await;
    eprintln!("Argo CD on the MP's rejection: {verdict:?}");
    let (health, message) = resource_health(&flow.app("tenancy").await, "Workspace", "overlap")
        .expect("Argo CD lists the rejected workspace");
    eprintln!("Argo CD's health of the rejected workspace: {health}: {message}");
    let overlap = names.workspace("overlap", &names.app_ns);
    let live = flow
        .config_api(&overlap)
        .get("overlap")
        .await
        .expect("Argo CD applied it");
    let reason = stalled_message(&live);
    assert_eq!(health, "Degraded");
    assert!(
        message.contains(&reason) && reason.contains("(TSB1011)"),
        "Argo CD shows tsbridge's message ({reason}): {message}"
    );
    flow.revert_rejected(&overlap, &held).await;
    eprintln!(
        "phase done: rejection and revert after {:?}",
        phase.elapsed()
    );

    // 3. A commit the webhook denies: a workspace without its tenant annotation. The sync
    //    operation fails with our webhook's words and the Application stays OutOfSync.
    let phase = Instant::now();
    let orphan = names.orphan();
    flow.git.write(
        "tenancy/workspace-orphan.yaml",
        &yaml(std::slice::from_ref(&orphan)),
    );
    let denied = flow
        .commit("tenancy: a workspace that forgot its tenant", &["tenancy"])
        .await;
    let verdict = flow
        .await_app("tenancy", "a failed sync of the denied commit", |v| {
            v.synced_revision == denied && matches!(v.phase.as_str(), "Failed" | "Error")
        })
        .await;
    eprintln!("Argo CD on the webhook's denial: {verdict:?}");
    assert_denied(&verdict.message, "Argo CD");
    assert_eq!(verdict.sync, "OutOfSync", "{verdict:?}");
    flow.revert_denied(&orphan, &held).await;
    eprintln!("phase done: denial and revert after {:?}", phase.elapsed());

    // 4. Deleting a file: Argo CD prunes the CR, the MP deletes it, its Istio objects go.
    let phase = Instant::now();
    let remaining = flow
        .delete_traffic_setting(&payments, &bridged, &all_expected)
        .await;
    eprintln!("phase done: deleted file after {:?}", phase.elapsed());

    // 5. A change to the direct-mode VirtualService reaches cluster-b; then a steady state over
    //    several refreshes and resyncs: every Application stays Synced (our status and defaults
    //    are no drift), self-heal runs no sync, the agents write nothing, the MP records nothing,
    //    and neither copy of the VirtualService changes hands.
    let phase = Instant::now();
    let edge_v2 = names.edge("ratings-v2");
    flow.write_all(&edge_v2);
    let last = flow
        .commit_and_sync("edge: ratings moves to ratings-v2", &["team-edge"])
        .await;
    let copy_api = flow
        .await_copy(&edge_v2["teams/edge/ratings.yaml"], "ratings-v2")
        .await;
    for name in std::iter::once(BOOTSTRAP).chain(LAYERS) {
        flow.await_app(name, "Synced and Healthy at the last commit", |v| {
            v.sync == "Synced" && v.revision == last && v.health == "Healthy"
        })
        .await;
    }
    let live = live_objects(&tenancy, &remaining, &edge_v2);
    await_crs_ready(&flow.a, &names.config_ns, &live).await;
    let quiet = flow.quiet(&live, &copy_api).await;
    let mut operations_before = BTreeMap::new();
    for name in std::iter::once(BOOTSTRAP).chain(LAYERS) {
        operations_before.insert(name, operations(&flow.app(name).await));
    }
    let steady_started = Instant::now();
    for _ in 0..3 {
        for name in std::iter::once(BOOTSTRAP).chain(LAYERS) {
            refresh(&flow.apps(), name, WAIT).await;
        }
    }
    // And at least one resync by interval (10 s) on top of the requested refreshes.
    eventually(
        "a resync interval to pass",
        Duration::from_secs(30),
        || async { (steady_started.elapsed() > Duration::from_secs(12)).then_some(()) },
    )
    .await;
    for name in std::iter::once(BOOTSTRAP).chain(LAYERS) {
        let verdict = flow
            .await_app(name, "still Synced and Healthy", |v| {
                v.sync == "Synced" && v.health == "Healthy"
            })
            .await;
        assert_eq!(verdict.revision, last, "{name}: {verdict:?}");
        assert_eq!(
            operations(&flow.app(name).await),
            operations_before[name],
            "Argo CD ran no sync of {name} in the steady state (self-heal found nothing)"
        );
    }
    flow.assert_quiet(
        &quiet,
        &live,
        &copy_api,
        "argocd-controller",
        // Argo CD's tracking and kubectl's last-applied configuration.
        &["argocd.argoproj.io/", "kubectl.kubernetes.io/"],
    )
    .await;
    eprintln!(
        "steady state held over {:?} (phase with the edge change: {:?})",
        steady_started.elapsed(),
        phase.elapsed()
    );
}
