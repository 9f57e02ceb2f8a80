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

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::crds::{dynamic_api, install_crds};
use crate::distribute::{create_namespace, delete_namespace, expected_objects, owned_versions};
use crate::support::admission::register_webhook;
use crate::support::cluster::Cluster;
use crate::support::flux::{
    Flux, await_verdict, git_repositories, kustomization_events, kustomizations, reconcile_now,
};
use crate::support::git::GitServer;
use crate::support::mp::{Clients, Mp, audit_entries, free_port, list_fqns, register_cluster};
use crate::support::process::ChildProcess;
use crate::support::random_suffix;
use crate::support::wait::eventually;

const WAIT: Duration = Duration::from_secs(90);
const WEBHOOK: &str = "validate.tsbridge.io";
/// The Kustomizations of the platform repository, in the order a first sync makes them Ready.
const KUSTOMIZATIONS: [&str; 5] = [
    "flux-system",
    "tsbridge-crds",
    "tenancy",
    "team-payments",
    "team-edge",
];

/// Names of one run (unique, so the test can run alongside others on the shared clusters).
struct Names {
    suffix: String,
    /// Flux's runtime namespace in cluster-a.
    flux_ns: String,
    /// Where the CRs live in cluster-a (the agent watches it); also selected by the edge team.
    config_ns: String,
    /// The application namespace, in both clusters.
    app_ns: String,
    tenant: String,
    clusters: [String; 2],
}

impl Names {
    fn new() -> Names {
        let suffix = random_suffix();
        Names {
            flux_ns: format!("fx-{suffix}-flux"),
            config_ns: format!("fx-{suffix}"),
            app_ns: format!("fx-{suffix}-app"),
            tenant: format!("t-{suffix}"),
            clusters: [format!("cluster-a-{suffix}"), format!("cluster-b-{suffix}")],
            suffix,
        }
    }

    fn annotations(&self, workspace: Option<&str>, extra: &[(&str, &str)]) -> Value {
        let mut annotations = json!({"tsb.tetrate.io/organization": "acme"});
        if let Some(workspace) = workspace {
            annotations["tsb.tetrate.io/tenant"] = json!(self.tenant);
            annotations["tsb.tetrate.io/workspace"] = json!(workspace);
        }
        for (k, v) in extra {
            annotations[*k] = json!(v);
        }
        annotations
    }

    fn workspace(&self, name: &str, ns: &str) -> Value {
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
               "metadata": {"name": name, "annotations": {"tsb.tetrate.io/organization": "acme",
                                                          "tsb.tetrate.io/tenant": self.tenant}},
               "spec": {"namespaceSelector": {"names": [format!("*/{ns}")]}}})
    }

    /// The tenancy layer: the tenant and one workspace per team.
    fn tenancy(&self) -> BTreeMap<String, Value> {
        BTreeMap::from([
            (
                "tenancy/tenant.yaml".into(),
                json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Tenant",
                       "metadata": {"name": self.tenant, "annotations": self.annotations(None, &[])},
                       "spec": {"displayName": "Flux in the loop"}}),
            ),
            (
                "tenancy/workspace-payments.yaml".into(),
                self.workspace("payments", &self.app_ns),
            ),
            (
                "tenancy/workspace-edge.yaml".into(),
                self.workspace("edge", &self.config_ns),
            ),
        ])
    }

    /// The payments team: BRIDGED traffic and security groups with their settings.
    fn payments(&self) -> BTreeMap<String, Value> {
        let ws = Some("payments");
        BTreeMap::from([
            (
                "teams/payments/traffic-group.yaml".into(),
                json!({
                "apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
                "metadata": {"name": "payments-traffic", "annotations": self.annotations(ws, &[])},
                "spec": {"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/*"]}}}),
            ),
            (
                "teams/payments/traffic-setting.yaml".into(),
                json!({
                "apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "TrafficSetting",
                "metadata": {"name": "payments-traffic-settings", "annotations":
                    self.annotations(ws, &[("tsb.tetrate.io/trafficGroup", "payments-traffic")])},
                "spec": {"reachability": {"mode": "GROUP"},
                         "resilience": {"circuitBreakerSensitivity": "MEDIUM"}}}),
            ),
            (
                "teams/payments/security-group.yaml".into(),
                json!({
                "apiVersion": "security.tsb.tetrate.io/v2", "kind": "Group",
                "metadata": {"name": "payments-security", "annotations": self.annotations(ws, &[])},
                "spec": {"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/*"]}}}),
            ),
            (
                "teams/payments/security-setting.yaml".into(),
                json!({
                "apiVersion": "security.tsb.tetrate.io/v2", "kind": "SecuritySetting",
                "metadata": {"name": "payments-security-settings", "annotations":
                    self.annotations(ws, &[("tsb.tetrate.io/securityGroup", "payments-security")])},
                "spec": {"authenticationSettings": {"trafficMode": "REQUIRED"}}}),
            ),
        ])
    }

    /// The edge team: a DIRECT traffic group over the config namespace and a direct-mode
    /// VirtualService in it (Flux applies it in cluster-a, tsbridge copies it to cluster-b).
    fn edge(&self, host: &str) -> BTreeMap<String, Value> {
        let ws = Some("edge");
        BTreeMap::from([
            (
                "teams/edge/traffic-group.yaml".into(),
                json!({
                "apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
                "metadata": {"name": "edge-direct", "annotations": self.annotations(ws, &[])},
                "spec": {"configMode": "DIRECT",
                         "namespaceSelector": {"names": [format!("*/{}", self.config_ns)]}}}),
            ),
            (
                "teams/edge/ratings.yaml".into(),
                json!({
                "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "ratings", "labels": {"istio.io/rev": "tsb"},
                             "annotations": self.annotations(ws, &[("tsb.tetrate.io/trafficGroup", "edge-direct")])},
                "spec": {"hosts": [host],
                         "http": [{"route": [{"destination": {"host": host}}]}]}}),
            ),
        ])
    }

    /// A Flux Kustomization of `path`, applied into `target` (if any), waiting on health.
    fn kustomization(
        &self,
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
               "metadata": {"name": name, "namespace": self.flux_ns}, "spec": spec})
    }

    /// `clusters/cluster-a/`: what the bootstrap Kustomization applies.
    fn cluster_dir(&self) -> Vec<Value> {
        let config = Some(self.config_ns.as_str());
        vec![
            self.kustomization("tsbridge-crds", "./infrastructure/tsbridge", None, &[]),
            self.kustomization("tenancy", "./tenancy", config, &["tsbridge-crds"]),
            self.kustomization(
                "team-payments",
                "./teams/payments",
                config,
                &["tsbridge-crds"],
            ),
            self.kustomization("team-edge", "./teams/edge", config, &["tsbridge-crds"]),
        ]
    }
}

fn yaml(docs: &[Value]) -> String {
    docs.iter()
        .map(|doc| format!("---\n{}", serde_saphyr::to_string(doc).expect("YAML")))
        .collect()
}

/// The tsbridge CRDs as the platform repository carries them. Flux never prunes them (they hold
/// every CR; here they are also shared with other tests).
fn crds_yaml() -> String {
    let mut crds = tsbridge::k8s::crds::all().expect("CRDs");
    for crd in &mut crds {
        crd.metadata.annotations = Some(
            [(
                "kustomize.toolkit.fluxcd.io/prune".to_string(),
                "disabled".to_string(),
            )]
            .into(),
        );
    }
    tsbridge::k8s::crds::to_yaml(&crds).expect("CRD YAML")
}

struct Loop {
    names: Names,
    git: GitServer,
    a: Client,
    b: Client,
    _mp: Mp,
    api: Clients,
    flux: Flux,
    _agents: Vec<ChildProcess>,
    _dir: tempfile::TempDir,
}

impl Loop {
    fn config_api(&self, object: &Value) -> Api<DynamicObject> {
        dynamic_api(&self.a, &self.names.config_ns, object)
    }

    fn write_all(&self, files: &BTreeMap<String, Value>) {
        for (path, object) in files {
            self.git.write(path, &yaml(std::slice::from_ref(object)));
        }
    }

    /// Commits, then waits until every Kustomization in `which` is Ready at that revision.
    async fn commit_and_sync(&self, message: &str, which: &[&str]) -> String {
        let revision = self.revision(message);
        for name in which {
            await_verdict(
                &self.a,
                &self.names.flux_ns,
                name,
                &format!("Ready at {revision}"),
                WAIT,
                |v| v.status == "True" && v.applied == revision,
            )
            .await;
        }
        revision
    }

    /// Commits and returns Flux's name for the revision (`main@sha1:<hash>`).
    fn revision(&self, message: &str) -> String {
        format!("main@sha1:{}", self.git.commit(message))
    }

    /// The Istio objects the agents own in (cluster-a, cluster-b), with resourceVersions.
    async fn owned(&self) -> [BTreeMap<String, String>; 2] {
        let a = owned_versions(&self.a, &self.names.clusters[0])
            .await
            .expect("list a");
        let b = owned_versions(&self.b, &self.names.clusters[1])
            .await
            .expect("list b");
        [a, b]
    }

    async fn await_owned(&self, expected: &[BTreeSet<String>; 2]) {
        eventually("the Istio objects in both clusters", WAIT, || async {
            let owned = self.owned().await;
            let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<BTreeSet<_>>();
            (keys(&owned[0]) == expected[0] && keys(&owned[1]) == expected[1]).then_some(())
        })
        .await;
    }

    /// resourceVersion of every object in the config namespace of cluster-a that `objects` names.
    async fn versions(&self, objects: &[Value]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for object in objects {
            let name = object["metadata"]["name"].as_str().expect("name");
            let live = self
                .config_api(object)
                .get(name)
                .await
                .expect("the CR exists");
            out.insert(
                format!("{}/{name}", object["kind"].as_str().unwrap_or_default()),
                live.metadata.resource_version.unwrap_or_default(),
            );
        }
        out
    }
}

/// Every tsbridge CR of `objects` Ready=True for its generation (kstatus Current).
async fn await_crs_ready(client: &Client, ns: &str, objects: &[Value]) {
    for object in objects.iter().filter(|o| {
        o["apiVersion"]
            .as_str()
            .is_some_and(|v| v.contains("tsb.tetrate.io"))
    }) {
        let name = object["metadata"]["name"].as_str().expect("name");
        let api = dynamic_api(client, ns, object);
        eventually(
            &format!("{} {name} Ready", object["kind"]),
            WAIT,
            || async {
                let live = api.get(name).await.ok()?;
                let current =
                    tsbridge::model::status::kstatus::kstatus(&serde_json::to_value(&live).ok()?);
                (current.as_str() == "Current").then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs kube-apiserver"]
async fn flux_syncs_the_platform_repository_through_every_scenario() {
    let started = Instant::now();
    let names = Names::new();
    let cluster_a = Cluster::attach("cluster-a");
    let cluster_b = Cluster::attach("cluster-b");
    let (a, b) = (cluster_a.client().await, cluster_b.client().await);
    install_crds(&b).await;
    for (client, ns) in [
        (&a, &names.flux_ns),
        (&a, &names.config_ns),
        (&a, &names.app_ns),
        (&b, &names.config_ns),
        (&b, &names.app_ns),
    ] {
        create_namespace(client, ns).await;
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    for name in &names.clusters {
        register_cluster(&mut api, name, "organizations/acme").await;
    }
    // cluster-a's agent serves the admission webhook the apiserver calls for the config namespace.
    let certs = dir.path().join("webhook");
    std::fs::create_dir_all(&certs).expect("cert dir");
    cluster_a.webhook_cert(&certs);
    let webhook_port = free_port();
    let cert = |f: &str| certs.join(f).display().to_string();
    let webhook_flags = [
        "--webhook-listen".to_string(),
        format!("127.0.0.1:{webhook_port}"),
        "--webhook-cert".into(),
        cert("tls.crt"),
        "--webhook-key".into(),
        cert("tls.key"),
    ];
    let webhook_flags: Vec<&str> = webhook_flags.iter().map(String::as_str).collect();
    let (agent_a, _) = crate::support::mp::start_agent(
        &mp,
        &cluster_a,
        &names.clusters[0],
        &names.config_ns,
        &webhook_flags,
    );
    let (agent_b, _) =
        crate::support::mp::start_agent(&mp, &cluster_b, &names.clusters[1], &names.config_ns, &[]);
    let rules = json!([{ "operations": ["CREATE", "UPDATE", "DELETE"],
        "apiGroups": ["tsb.tetrate.io", "traffic.tsb.tetrate.io", "security.tsb.tetrate.io",
                      "gateway.tsb.tetrate.io", "istiointernal.tsb.tetrate.io",
                      "networking.istio.io", "security.istio.io", "extensions.istio.io"],
        "apiVersions": ["*"], "resources": ["*"] }]);
    let registered = register_webhook(
        &a,
        &format!("tsbridge-flux-{}", names.suffix),
        WEBHOOK,
        &format!("https://127.0.0.1:{webhook_port}/validate"),
        std::fs::read(certs.join("ca.crt")).expect("ca.crt"),
        rules,
        &names.config_ns,
    )
    .await;

    let git = GitServer::start().await;
    let flux = Flux::start(&cluster_a, &names.flux_ns).await;
    let setup = started.elapsed();
    let mut flow = Loop {
        names,
        git,
        a,
        b,
        _mp: mp,
        api,
        flux,
        _agents: vec![agent_a, agent_b],
        _dir: dir,
    };

    let outcome =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenarios(&mut flow))).await;
    if outcome.is_err() {
        eprintln!("{}", flow.flux.logs());
    }
    let cleanup_started = Instant::now();
    cleanup(&flow).await;
    eprintln!(
        "clean-up (Flux prunes) took {:?}",
        cleanup_started.elapsed()
    );
    registered.delete().await;
    let names = &flow.names;
    for (client, ns) in [
        (&flow.a, &names.config_ns),
        (&flow.a, &names.app_ns),
        (&flow.b, &names.config_ns),
        (&flow.b, &names.app_ns),
        (&flow.a, &names.flux_ns),
    ] {
        delete_namespace(client, ns).await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    eprintln!(
        "flux in the loop: set-up {setup:?}, total {:?}",
        started.elapsed()
    );
}

/// Removes the bootstrap Kustomization while the controllers still run, so Flux prunes what it
/// applied (not the CRDs: pruning is disabled on them) and drops its finalizers.
async fn cleanup(flow: &Loop) {
    let ks = kustomizations(&flow.a, &flow.names.flux_ns);
    let _ = ks.delete("flux-system", &DeleteParams::default()).await;
    let gone = tokio::time::timeout(WAIT, async {
        loop {
            match ks.list(&ListParams::default()).await {
                Ok(list) if list.items.is_empty() => return,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    })
    .await;
    if gone.is_err() {
        eprintln!("Flux did not finish pruning; removing its finalizers");
    }
    for api in [ks, git_repositories(&flow.a, &flow.names.flux_ns)] {
        let _ = api
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await;
        for object in api
            .list(&ListParams::default())
            .await
            .map(|l| l.items)
            .unwrap_or_default()
        {
            let name = object.metadata.name.unwrap_or_default();
            let _ = api
                .patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await;
        }
    }
}

async fn scenarios(flow: &mut Loop) {
    let names = &flow.names;
    let (tenancy, payments, edge) = (names.tenancy(), names.payments(), names.edge("ratings"));

    // The platform repository, laid out the Flux way: cluster entry point, infrastructure,
    // tenancy, one directory per team (no kustomization.yaml: Flux generates one).
    flow.git.write(
        "clusters/cluster-a/platform.yaml",
        &yaml(&names.cluster_dir()),
    );
    flow.git
        .write("infrastructure/tsbridge/crds.yaml", &crds_yaml());
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
    git_repositories(&flow.a, &names.flux_ns)
        .create(&PostParams::default(), &source)
        .await
        .expect("GitRepository");
    let mut bootstrap = names.kustomization("flux-system", "./clusters/cluster-a", None, &[]);
    bootstrap["spec"]["wait"] = json!(false);
    let bootstrap: DynamicObject = serde_json::from_value(bootstrap).expect("Kustomization");
    kustomizations(&flow.a, &names.flux_ns)
        .create(&PostParams::default(), &bootstrap)
        .await
        .expect("Kustomization");

    // 1. First sync: every Kustomization Ready at the first commit, every CR Ready, the Istio
    //    objects in both clusters.
    let sync_started = Instant::now();
    let phase = Instant::now();
    for name in KUSTOMIZATIONS {
        flow.flux.assert_running();
        await_verdict(
            &flow.a,
            &names.flux_ns,
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
    let all: Vec<Value> = [&tenancy, &payments, &edge]
        .into_iter()
        .flat_map(|f| f.values().cloned())
        .collect();
    await_crs_ready(&flow.a, &names.config_ns, &all).await;
    let bridged: Vec<Value> = [&tenancy, &payments]
        .into_iter()
        .flat_map(|f| f.values().cloned())
        .collect();
    let app = std::slice::from_ref(&names.app_ns);
    let expected = |config: &[Value]| {
        let mut b = expected_objects(&names.clusters[1], config, app);
        b.insert(format!("VirtualService/{}/ratings", names.config_ns));
        [expected_objects(&names.clusters[0], config, app), b]
    };
    let all_expected = expected(&bridged);
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
    let snapshot = flow.owned().await;
    let fqns = list_fqns(&flow.api, "").await;
    flow.git.write(
        "tenancy/workspace-overlap.yaml",
        &yaml(&[names.workspace("overlap", &names.app_ns)]),
    );
    let rejected = flow.revision("tenancy: a workspace over the payments namespace");
    let verdict = await_verdict(
        &flow.a,
        &names.flux_ns,
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
    let stalled = live.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Stalled" && c["status"] == "True")
        .unwrap_or_else(|| panic!("the rejected CR is Stalled: {}", live.data["status"]));
    let reason = stalled["message"].as_str().unwrap_or_default();
    eprintln!("the rejected CR says: {reason}");
    assert!(
        reason.starts_with("Workspace/overlap: ") && reason.contains("(TSB1011)"),
        "tsbridge's message names the object: {reason}"
    );
    assert_eq!(
        flow.owned().await,
        snapshot,
        "a rejected commit changes no cluster"
    );
    assert_eq!(
        list_fqns(&flow.api, "").await,
        fqns,
        "a rejected commit changes nothing in the MP"
    );
    flow.git.remove("tenancy/workspace-overlap.yaml");
    flow.commit_and_sync("tenancy: revert the overlapping workspace", &["tenancy"])
        .await;
    eventually("Flux to prune the rejected workspace", WAIT, || async {
        flow.config_api(&overlap)
            .get_opt("overlap")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        flow.owned().await,
        snapshot,
        "the revert changes no cluster"
    );

    eprintln!(
        "phase done: rejection and revert after {:?}",
        phase.elapsed()
    );
    let phase = Instant::now();
    // 3. A commit the webhook denies: a workspace without its tenant annotation.
    let mut orphan = names.workspace("orphan", "elsewhere");
    orphan["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove("tsb.tetrate.io/tenant");
    flow.git
        .write("tenancy/workspace-orphan.yaml", &yaml(&[orphan.clone()]));
    let denied = flow.revision("tenancy: a workspace that forgot its tenant");
    let verdict = await_verdict(
        &flow.a,
        &names.flux_ns,
        "tenancy",
        "not Ready at the denied commit",
        WAIT,
        |v| v.status == "False" && v.attempted == denied,
    )
    .await;
    eprintln!("Flux on the webhook's denial: {verdict:?}");
    assert!(
        verdict.message.contains(&format!(
            "admission webhook \"{WEBHOOK}\" denied the request"
        )),
        "Flux shows our webhook's denial: {verdict:?}"
    );
    assert!(
        verdict.message.contains("tsb.tetrate.io/tenant") && verdict.message.contains("(TSB1002)"),
        "with our message: {verdict:?}"
    );
    // The same words in a Warning event on the Kustomization.
    let events = kustomization_events(&flow.a, &names.flux_ns).await;
    assert!(
        events
            .keys()
            .any(|(object, reason, message)| object == "tenancy"
                && reason == "ReconciliationFailed"
                && message.contains("denied the request")
                && message.contains("(TSB1002)")),
        "a ReconciliationFailed event with the denial: {events:#?}"
    );
    assert!(
        flow.config_api(&orphan)
            .get_opt("orphan")
            .await
            .expect("get")
            .is_none()
    );
    assert_eq!(
        flow.owned().await,
        snapshot,
        "a denied commit changes no cluster"
    );
    flow.git.remove("tenancy/workspace-orphan.yaml");
    flow.commit_and_sync("tenancy: revert the orphan workspace", &["tenancy"])
        .await;

    eprintln!("phase done: denial and revert after {:?}", phase.elapsed());
    let phase = Instant::now();
    // 4. Deleting a file: Flux prunes the CR, the MP deletes it, its Istio objects go.
    let setting = &payments["teams/payments/traffic-setting.yaml"];
    flow.git.remove("teams/payments/traffic-setting.yaml");
    flow.commit_and_sync("payments: drop the traffic settings", &["team-payments"])
        .await;
    eventually("Flux to prune the TrafficSetting", WAIT, || async {
        flow.config_api(setting)
            .get_opt("payments-traffic-settings")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    eventually("the MP to delete the TrafficSetting", WAIT, || async {
        let fqns = list_fqns(&flow.api, "").await;
        (!fqns
            .iter()
            .any(|f| f.ends_with("/payments-traffic-settings")))
        .then_some(())
    })
    .await;
    let remaining: Vec<Value> = bridged
        .iter()
        .filter(|o| o["kind"] != "TrafficSetting")
        .cloned()
        .collect();
    let after_delete = expected(&remaining);
    assert_ne!(
        after_delete, all_expected,
        "the model says the settings generated something"
    );
    flow.await_owned(&after_delete).await;

    eprintln!("phase done: deleted file after {:?}", phase.elapsed());
    let phase = Instant::now();
    // 5. A change to the direct-mode VirtualService reaches cluster-b; then a steady state over
    //    several reconciles: Flux finds no drift on our CRs, the agents write nothing, the MP
    //    records nothing, and neither copy of the VirtualService changes hands.
    let edge_v2 = names.edge("ratings-v2");
    flow.write_all(&edge_v2);
    flow.commit_and_sync("edge: ratings moves to ratings-v2", &["team-edge"])
        .await;
    let vs = &edge_v2["teams/edge/ratings.yaml"];
    let copy_api = dynamic_api(&flow.b, &names.config_ns, vs);
    eventually(
        "cluster-b's copy of ratings to follow Git",
        WAIT,
        || async {
            let copy = copy_api.get("ratings").await.ok()?;
            (copy.data["spec"]["hosts"] == json!(["ratings-v2"])).then_some(())
        },
    )
    .await;
    let live_objects: Vec<Value> = [&tenancy]
        .into_iter()
        .flat_map(|f| f.values().cloned())
        .chain(
            remaining
                .iter()
                .filter(|o| o["kind"] != "Tenant" && o["kind"] != "Workspace")
                .cloned(),
        )
        .chain(edge_v2.values().cloned())
        .collect();
    await_crs_ready(&flow.a, &names.config_ns, &live_objects).await;
    let crs_before = flow.versions(&live_objects).await;
    let owned_before = flow.owned().await;
    let audit_before = audit_entries(&flow.api).await.len();
    let copy_before = copy_api
        .get("ratings")
        .await
        .expect("copy")
        .metadata
        .resource_version;
    let events_before = kustomization_events(&flow.a, &names.flux_ns).await;
    let ks = kustomizations(&flow.a, &names.flux_ns);
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
        await_verdict(&flow.a, &names.flux_ns, name, "still Ready", WAIT, |v| {
            v.status == "True"
        })
        .await;
    }
    assert_eq!(
        flow.versions(&live_objects).await,
        crs_before,
        "no CR was written (by Flux or the agent)"
    );
    assert_eq!(
        flow.owned().await,
        owned_before,
        "no Istio object was rewritten"
    );
    assert_eq!(
        audit_entries(&flow.api).await.len(),
        audit_before,
        "the MP recorded no change"
    );
    let copy = copy_api.get("ratings").await.expect("copy");
    assert_eq!(
        copy.metadata.resource_version, copy_before,
        "cluster-b's copy stays put"
    );
    let managers = |object: &DynamicObject| -> BTreeSet<String> {
        object
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter_map(|m| m.manager.clone())
            .collect()
    };
    assert_eq!(
        managers(&copy),
        BTreeSet::from(["tsbridge".to_string()]),
        "only tsbridge manages the copy"
    );
    let source = flow
        .config_api(vs)
        .get("ratings")
        .await
        .expect("the Git-managed VirtualService");
    assert_eq!(
        managers(&source),
        BTreeSet::from(["kustomize-controller".to_string()]),
        "only Flux manages the VirtualService in its own cluster"
    );
    let copy_labels = copy.metadata.labels.clone().unwrap_or_default();
    assert!(
        !copy_labels
            .keys()
            .any(|k| k.starts_with("kustomize.toolkit.fluxcd.io/")),
        "Flux's ownership labels are not copied to cluster-b: {copy_labels:?}"
    );
    // Every event Flux emitted meanwhile: reconciles finished, none applied a change.
    let events = kustomization_events(&flow.a, &names.flux_ns).await;
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
