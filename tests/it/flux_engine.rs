//! The real Flux in the loop (issue 18): source-controller and kustomize-controller v1.9.6 sync a
//! platform repository from a Git server on 127.0.0.1 into cluster-a, where a tsbridge agent
//! (webhook registered with the apiserver) forwards the CRs to the MP, and the MP distributes
//! the generated Istio objects to cluster-a and cluster-b. Every scenario is judged by what Flux
//! itself reports: each Kustomization's `Ready` condition (its `wait: true` health checks on our
//! CRs included) and the revision it applied.
//!
//! One test runs the scenarios in sequence on one Flux pair: first sync of the hierarchy, a
//! commit the MP rejects and its revert, a commit the webhook denies and its revert, a deleted
//! file, and a steady state over several reconciles in which nobody writes anything (a
//! direct-mode VirtualService synced by Flux and distributed to cluster-b included).

use std::time::{Duration, Instant};

use kube::api::{DeleteParams, DynamicObject, PostParams};
use serde_json::{Value, json};

use crate::gitops_stage::{
    Engine, Names, Stage, WAIT, assert_denied, await_crs_ready, crds_yaml, drain, force_delete_all,
    in_the_loop, live_objects, objects, stalled_message, yaml,
};
use crate::support::flux::{
    Flux, await_verdict, git_repositories, kustomization_events, kustomizations, reconcile_now,
};
use crate::support::wait::eventually;

/// The Kustomizations of the platform repository, in the order a first sync makes them Ready.
const KUSTOMIZATIONS: [&str; 5] = [
    "flux-system",
    "tsbridge-crds",
    "tenancy",
    "team-payments",
    "team-edge",
];

/// A Flux Kustomization of `path`, applied into `target` (if any), waiting on health.
fn kustomization(
    names: &Names,
    name: &str,
    path: &str,
    target: Option<&str>,
    depends: &[&str],
) -> Value {
    let mut spec = json!({
        "interval": "10s", "retryInterval": "5s", "timeout": "90s",
        "sourceRef": {"kind": "GitRepository", "name": "platform"},
        "path": path, "prune": true, "wait": true,
    });
    if let Some(target) = target {
        spec["targetNamespace"] = json!(target);
    }
    if !depends.is_empty() {
        spec["dependsOn"] = depends.iter().map(|d| json!({"name": d})).collect();
    }
    json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": name, "namespace": names.engine_ns}, "spec": spec})
}

/// `clusters/cluster-a/`: what the bootstrap Kustomization applies.
fn cluster_dir(names: &Names) -> Vec<Value> {
    let config = Some(names.config_ns.as_str());
    vec![
        kustomization(
            names,
            "tsbridge-crds",
            "./infrastructure/tsbridge",
            None,
            &[],
        ),
        kustomization(names, "tenancy", "./tenancy", config, &["tsbridge-crds"]),
        kustomization(
            names,
            "team-payments",
            "./teams/payments",
            config,
            &["tsbridge-crds"],
        ),
        kustomization(
            names,
            "team-edge",
            "./teams/edge",
            config,
            &["tsbridge-crds"],
        ),
    ]
}

type Loop = crate::gitops_stage::Loop<Flux>;

impl Engine for Flux {
    const NAME: &'static str = "Flux";

    async fn start(stage: &Stage) -> Flux {
        Flux::start(&stage.cluster_a, &stage.names.engine_ns).await
    }

    fn logs(&self) -> String {
        Flux::logs(self)
    }

    /// Commits, then waits until every Kustomization in `which` is Ready at that revision.
    async fn commit_and_sync(flow: &Loop, message: &str, which: &[&str]) -> String {
        let revision = flow.revision(message);
        for name in which {
            await_verdict(
                &flow.a,
                &flow.names.engine_ns,
                name,
                &format!("Ready at {revision}"),
                WAIT,
                |v| v.status == "True" && v.applied == revision,
            )
            .await;
        }
        revision
    }

    /// Removes the bootstrap Kustomization, so Flux prunes what it applied (not the CRDs:
    /// pruning is disabled on them) and drops its finalizers.
    async fn clean_up(&self, stage: &Stage) {
        let ks = kustomizations(&stage.a, &stage.names.engine_ns);
        let _ = ks.delete("flux-system", &DeleteParams::default()).await;
        drain(&ks).await;
        force_delete_all(&git_repositories(&stage.a, &stage.names.engine_ns)).await;
    }
}

impl Loop {
    /// Commits and returns Flux's name for the revision (`main@sha1:<hash>`).
    fn revision(&self, message: &str) -> String {
        format!("main@sha1:{}", self.git.commit(message))
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver"]
async fn flux_syncs_the_platform_repository_through_every_scenario() {
    in_the_loop::<Flux>("fx", scenarios).await;
}

async fn scenarios(flow: &mut Loop) {
    let names = &flow.stage.names;
    let (tenancy, payments, edge) = (names.tenancy(), names.payments(), names.edge("ratings"));

    // The platform repository, laid out the Flux way: cluster entry point, infrastructure,
    // tenancy, one directory per team (no kustomization.yaml: Flux generates one).
    flow.git.write(
        "clusters/cluster-a/platform.yaml",
        &yaml(&cluster_dir(names)),
    );
    flow.git.write(
        "infrastructure/tsbridge/crds.yaml",
        &crds_yaml(&[("kustomize.toolkit.fluxcd.io/prune", "disabled")]),
    );
    for files in [&tenancy, &payments, &edge] {
        flow.write_all(files);
    }
    let first = flow.revision("platform: tsbridge CRDs, tenancy and two teams");

    // What `flux bootstrap` would leave: the source and the entry-point Kustomization.
    let source: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "platform"},
        "spec": {"url": flow.git.url, "ref": {"branch": "main"}, "interval": "10s"}}))
    .expect("GitRepository");
    git_repositories(&flow.a, &names.engine_ns)
        .create(&PostParams::default(), &source)
        .await
        .expect("GitRepository");
    let mut bootstrap = kustomization(names, "flux-system", "./clusters/cluster-a", None, &[]);
    bootstrap["spec"]["wait"] = json!(false);
    let bootstrap: DynamicObject = serde_json::from_value(bootstrap).expect("Kustomization");
    kustomizations(&flow.a, &names.engine_ns)
        .create(&PostParams::default(), &bootstrap)
        .await
        .expect("Kustomization");

    // 1. First sync: every Kustomization Ready at the first commit, every CR Ready, the Istio
    //    objects in both clusters.
    let sync_started = Instant::now();
    let phase = Instant::now();
    for name in KUSTOMIZATIONS {
        flow.engine.assert_running();
        await_verdict(
            &flow.a,
            &names.engine_ns,
            name,
            "Ready at the first commit",
            WAIT,
            |v| v.status == "True" && v.applied == first,
        )
        .await;
    }
    eprintln!(
        "first sync: every Kustomization Ready after {:?}",
        sync_started.elapsed()
    );
    await_crs_ready(
        &flow.a,
        &names.config_ns,
        &objects(&[&tenancy, &payments, &edge]),
    )
    .await;
    let bridged = objects(&[&tenancy, &payments]);
    let all_expected = flow.expected(&bridged);
    assert!(
        !all_expected[0].is_empty(),
        "the model generates objects for the payments team"
    );
    flow.await_owned(&all_expected).await;
    eprintln!(
        "first sync: Istio objects in both clusters after {:?}",
        sync_started.elapsed()
    );

    eprintln!("phase done: first sync after {:?}", phase.elapsed());
    let phase = Instant::now();
    // 2. A commit the MP rejects: a workspace overlapping payments'.
    let held = flow.held().await;
    flow.git.write(
        "tenancy/workspace-overlap.yaml",
        &yaml(&[names.workspace("overlap", &names.app_ns)]),
    );
    let rejected = flow.revision("tenancy: a workspace over the payments namespace");
    let verdict = await_verdict(
        &flow.a,
        &names.engine_ns,
        "tenancy",
        "not Ready at the rejected commit",
        WAIT,
        |v| v.status == "False" && v.attempted == rejected,
    )
    .await;
    eprintln!("Flux on the MP's rejection: {verdict:?}");
    assert!(
        verdict.message.contains("Workspace") && verdict.message.contains("overlap"),
        "Flux names the rejected object: {verdict:?}"
    );
    let overlap = names.workspace("overlap", &names.app_ns);
    let live = flow
        .config_api(&overlap)
        .get("overlap")
        .await
        .expect("Flux applied it");
    // Flux names the object; the reason is tsbridge's, on the CR (`kubectl describe`).
    let reason = stalled_message(&live);
    eprintln!("the rejected CR says: {reason}");
    assert!(
        reason.starts_with("Workspace/overlap: ") && reason.contains("(TSB1011)"),
        "tsbridge's message names the object: {reason}"
    );
    flow.revert_rejected(&overlap, &held).await;

    eprintln!(
        "phase done: rejection and revert after {:?}",
        phase.elapsed()
    );
    let phase = Instant::now();
    // 3. A commit the webhook denies: a workspace without its tenant annotation.
    let orphan = names.orphan();
    flow.git.write(
        "tenancy/workspace-orphan.yaml",
        &yaml(std::slice::from_ref(&orphan)),
    );
    let denied = flow.revision("tenancy: a workspace that forgot its tenant");
    let verdict = await_verdict(
        &flow.a,
        &names.engine_ns,
        "tenancy",
        "not Ready at the denied commit",
        WAIT,
        |v| v.status == "False" && v.attempted == denied,
    )
    .await;
    eprintln!("Flux on the webhook's denial: {verdict:?}");
    assert_denied(&verdict.message, "Flux");
    // The same words in a Warning event on the Kustomization.
    let events = kustomization_events(&flow.a, &names.engine_ns).await;
    assert!(
        events
            .keys()
            .any(|(object, reason, message)| object == "tenancy"
                && reason == "ReconciliationFailed"
                && message.contains("denied the request")
                && message.contains("(TSB1002)")),
        "a ReconciliationFailed event with the denial: {events:#?}"
    );
    flow.revert_denied(&orphan, &held).await;

    eprintln!("phase done: denial and revert after {:?}", phase.elapsed());
    let phase = Instant::now();
    // 4. Deleting a file: Flux prunes the CR, the MP deletes it, its Istio objects go.
    let remaining = flow
        .delete_traffic_setting(&payments, &bridged, &all_expected)
        .await;

    eprintln!("phase done: deleted file after {:?}", phase.elapsed());
    let phase = Instant::now();
    // 5. A change to the direct-mode VirtualService reaches cluster-b; then a steady state over
    //    several reconciles: Flux finds no drift on our CRs, the agents write nothing, the MP
    //    records nothing, and neither copy of the VirtualService changes hands.
    let edge_v2 = names.edge("ratings-v2");
    flow.write_all(&edge_v2);
    flow.commit_and_sync("edge: ratings moves to ratings-v2", &["team-edge"])
        .await;
    let copy_api = flow
        .await_copy(&edge_v2["teams/edge/ratings.yaml"], "ratings-v2")
        .await;
    let live = live_objects(&tenancy, &remaining, &edge_v2);
    await_crs_ready(&flow.a, &names.config_ns, &live).await;
    let quiet = flow.quiet(&live, &copy_api).await;
    let events_before = kustomization_events(&flow.a, &names.engine_ns).await;
    let ks = kustomizations(&flow.a, &names.engine_ns);
    let steady_started = Instant::now();
    for round in 0..3 {
        for name in KUSTOMIZATIONS {
            reconcile_now(&ks, name, &format!("steady-{}-{round}", names.suffix), WAIT).await;
        }
    }
    // And at least one reconcile by interval (10 s) on top of the requested ones.
    eventually("an interval to pass", Duration::from_secs(30), || async {
        (steady_started.elapsed() > Duration::from_secs(12)).then_some(())
    })
    .await;
    for name in KUSTOMIZATIONS {
        await_verdict(&flow.a, &names.engine_ns, name, "still Ready", WAIT, |v| {
            v.status == "True"
        })
        .await;
    }
    flow.assert_quiet(
        &quiet,
        &live,
        &copy_api,
        "kustomize-controller",
        &["kustomize.toolkit.fluxcd.io/"],
    )
    .await;
    // Every event Flux emitted meanwhile: reconciles finished, none applied a change.
    let events = kustomization_events(&flow.a, &names.engine_ns).await;
    let new: Vec<_> = events
        .iter()
        .filter(|(key, count)| events_before.get(*key).is_none_or(|before| *count > before))
        .map(|(key, _)| key)
        .collect();
    eprintln!("Flux's events in the steady state: {new:#?}");
    assert!(
        new.iter()
            .any(|(_, reason, _)| reason == "ReconciliationSucceeded"),
        "Flux reconciled meanwhile: {new:#?}"
    );
    for (object, reason, message) in &new {
        assert!(
            !["created", "configured", "deleted"]
                .iter()
                .any(|verb| message.contains(verb)),
            "Flux changed something on {object} in the steady state ({reason}): {message}"
        );
    }
    eprintln!(
        "steady state held over {:?} (phase with the edge change: {:?})",
        steady_started.elapsed(),
        phase.elapsed()
    );
}
