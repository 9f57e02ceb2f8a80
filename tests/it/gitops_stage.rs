//! The stage both GitOps engines play on (`flux_engine.rs`, `argocd_engine.rs`): an example
//! platform repository (tenancy, a BRIDGED payments team, a DIRECT edge team with a direct-mode
//! VirtualService) in a Git server on 127.0.0.1, the MP, and agents in cluster-a (serving the
//! admission webhook the apiserver calls) and cluster-b; and what both engines' scenarios judge:
//! the Istio objects the agents own, the CRs' resourceVersions, kstatus on every CR.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::crds::{dynamic_api, install_crds};
use crate::distribute::{create_namespace, delete_namespace, expected_objects, owned_versions};
use crate::support::admission::{Registered as RegisteredWebhook, register_webhook};
use crate::support::cluster::Cluster;
use crate::support::git::GitServer;
use crate::support::mp::{
    Clients, Mp, audit_entries, free_port, list_fqns, register_cluster, start_agent,
};
use crate::support::process::ChildProcess;
use crate::support::random_suffix;
use crate::support::wait::eventually;

pub const WAIT: Duration = Duration::from_secs(90);
pub const WEBHOOK: &str = "validate.tsbridge.io";

/// Names of one run (unique, so the test can run alongside others on the shared clusters).
pub struct Names {
    pub suffix: String,
    /// The engine's runtime namespace in cluster-a.
    pub engine_ns: String,
    /// Where the CRs live in cluster-a (the agent watches it); also selected by the edge team.
    pub config_ns: String,
    /// The application namespace, in both clusters.
    pub app_ns: String,
    pub tenant: String,
    pub clusters: [String; 2],
}

impl Names {
    /// `prefix` tells runs of the two engines apart in the clusters (`fx`, `ac`).
    pub fn new(prefix: &str) -> Names {
        let suffix = random_suffix();
        Names {
            engine_ns: format!("{prefix}-{suffix}-engine"),
            config_ns: format!("{prefix}-{suffix}"),
            app_ns: format!("{prefix}-{suffix}-app"),
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

    pub fn workspace(&self, name: &str, ns: &str) -> Value {
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
               "metadata": {"name": name, "annotations": {"tsb.tetrate.io/organization": "acme",
                                                          "tsb.tetrate.io/tenant": self.tenant}},
               "spec": {"namespaceSelector": {"names": [format!("*/{ns}")]}}})
    }

    /// A workspace that forgot its tenant annotation: the webhook denies it.
    pub fn orphan(&self) -> Value {
        let mut orphan = self.workspace("orphan", "elsewhere");
        orphan["metadata"]["annotations"]
            .as_object_mut()
            .expect("annotations")
            .remove("tsb.tetrate.io/tenant");
        orphan
    }

    /// The tenancy layer: the tenant and one workspace per team.
    pub fn tenancy(&self) -> BTreeMap<String, Value> {
        BTreeMap::from([
            (
                "tenancy/tenant.yaml".into(),
                json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Tenant",
                       "metadata": {"name": self.tenant, "annotations": self.annotations(None, &[])},
                       "spec": {"displayName": "GitOps in the loop"}}),
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
    pub fn payments(&self) -> BTreeMap<String, Value> {
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
    /// VirtualService in it (the engine applies it in cluster-a, tsbridge copies it to cluster-b).
    pub fn edge(&self, host: &str) -> BTreeMap<String, Value> {
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
}

/// Multi-document YAML of `docs`.
pub fn yaml(docs: &[Value]) -> String {
    docs.iter()
        .map(|doc| format!("---\n{}", serde_saphyr::to_string(doc).expect("YAML")))
        .collect()
}

/// The tsbridge CRDs as the platform repository carries them, with `annotations` telling the
/// engine never to prune or delete them (they hold every CR; here they are also shared with
/// other tests).
pub fn crds_yaml(annotations: &[(&str, &str)]) -> String {
    let mut crds = tsbridge::k8s::crds::all().expect("CRDs");
    for crd in &mut crds {
        crd.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    }
    tsbridge::k8s::crds::to_yaml(&crds).expect("CRD YAML")
}

/// A GitOps engine that syncs the platform repository into cluster-a.
pub trait Engine: Sized {
    /// What the run's messages call it.
    const NAME: &'static str;
    /// Starts the engine against the stage's cluster-a.
    async fn start(stage: &Stage) -> Self;
    /// What the engine logged, for a failed scenario.
    fn logs(&self) -> String;
    /// Commits what the stage's Git holds and waits until the engine has synced each of
    /// `which` (its Kustomizations or Applications) at that commit; returns the engine's name
    /// for the revision.
    async fn commit_and_sync(flow: &Loop<Self>, message: &str, which: &[&str]) -> String;
    /// Deletes what bootstrapped the engine while its controllers still run, so they delete what
    /// they applied and let their finalizers go.
    async fn clean_up(&self, stage: &Stage);
}

/// An engine in the loop with the MP and the agents.
pub struct Loop<E> {
    pub stage: Stage,
    pub engine: E,
}

impl<E> std::ops::Deref for Loop<E> {
    type Target = Stage;
    fn deref(&self) -> &Stage {
        &self.stage
    }
}

/// The steps both engines' scenarios take alike.
impl<E: Engine> Loop<E> {
    /// See [`Engine::commit_and_sync`].
    pub async fn commit_and_sync(&self, message: &str, which: &[&str]) -> String {
        E::commit_and_sync(self, message, which).await
    }

    /// After the MP rejected the overlapping workspace `overlap` (`tenancy/workspace-overlap.yaml`),
    /// which changed nothing (`held`): its revert, which the engine prunes, changes nothing either.
    pub async fn revert_rejected(&self, overlap: &Value, held: &Held) {
        assert_eq!(
            &self.held().await,
            held,
            "a rejected commit changes nothing in the MP or a cluster"
        );
        self.git.remove("tenancy/workspace-overlap.yaml");
        self.commit_and_sync("tenancy: revert the overlapping workspace", &["tenancy"])
            .await;
        self.await_pruned(
            overlap,
            &format!("{} to prune the rejected workspace", E::NAME),
        )
        .await;
        assert_eq!(&self.held().await, held, "the revert changes nothing");
    }

    /// After the webhook denied the workspace `orphan` (`tenancy/workspace-orphan.yaml`): it is
    /// not in the cluster, nothing changed (`held`), and its revert syncs.
    pub async fn revert_denied(&self, orphan: &Value, held: &Held) {
        self.assert_absent(orphan).await;
        assert_eq!(&self.held().await, held, "a denied commit changes nothing");
        self.git.remove("tenancy/workspace-orphan.yaml");
        self.commit_and_sync("tenancy: revert the orphan workspace", &["tenancy"])
            .await;
    }

    /// Deletes the payments team's TrafficSetting file: the engine prunes the CR, the MP deletes
    /// it, and its Istio objects go from what `bridged` generated (`expected`). Returns what is
    /// left of `bridged`.
    pub async fn delete_traffic_setting(
        &self,
        payments: &BTreeMap<String, Value>,
        bridged: &[Value],
        expected: &[BTreeSet<String>; 2],
    ) -> Vec<Value> {
        let setting = &payments["teams/payments/traffic-setting.yaml"];
        self.git.remove("teams/payments/traffic-setting.yaml");
        self.commit_and_sync("payments: drop the traffic settings", &["team-payments"])
            .await;
        let remaining = without(bridged, "TrafficSetting");
        self.await_deleted(setting, &remaining, expected).await;
        remaining
    }
}

/// Runs `scenarios` with engine `E` on a stage of its own (names from `prefix`). Whether they
/// pass or panic, the engine cleans up and the stage is torn down; a panic then goes on, after
/// the engine's logs.
pub async fn in_the_loop<E: Engine>(prefix: &str, scenarios: impl AsyncFnOnce(&mut Loop<E>)) {
    let started = Instant::now();
    let stage = Stage::start(Names::new(prefix)).await;
    let engine = E::start(&stage).await;
    let setup = started.elapsed();
    let mut flow = Loop { stage, engine };

    let outcome =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(scenarios(&mut flow))).await;
    if outcome.is_err() {
        eprintln!("{}", flow.engine.logs());
    }
    let cleanup_started = Instant::now();
    flow.engine.clean_up(&flow.stage).await;
    eprintln!(
        "clean-up ({} deletes what it applied) took {:?}",
        E::NAME,
        cleanup_started.elapsed()
    );
    flow.stage.tear_down().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    eprintln!(
        "{} in the loop: set-up {setup:?}, total {:?}",
        E::NAME,
        started.elapsed()
    );
}

/// The MP, both clusters' agents (cluster-a's serving the webhook), the namespaces and the Git
/// server: everything but the engine.
pub struct Stage {
    pub names: Names,
    pub git: GitServer,
    pub cluster_a: Cluster,
    pub a: Client,
    pub b: Client,
    pub api: Clients,
    registered: Option<RegisteredWebhook>,
    _mp: Mp,
    _agents: Vec<ChildProcess>,
    _dir: tempfile::TempDir,
}

impl Stage {
    pub async fn start(names: Names) -> Stage {
        let cluster_a = Cluster::attach("cluster-a");
        let cluster_b = Cluster::attach("cluster-b");
        let (a, b) = (cluster_a.client().await, cluster_b.client().await);
        install_crds(&b).await;
        for (client, ns) in [
            (&a, &names.engine_ns),
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
        // cluster-a's agent serves the admission webhook the apiserver calls for the config
        // namespace.
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
        let (agent_a, _) = start_agent(
            &mp,
            &cluster_a,
            &names.clusters[0],
            &names.config_ns,
            &webhook_flags,
        );
        let (agent_b, _) = start_agent(&mp, &cluster_b, &names.clusters[1], &names.config_ns, &[]);
        let rules = json!([{ "operations": ["CREATE", "UPDATE", "DELETE"],
            "apiGroups": ["tsb.tetrate.io", "traffic.tsb.tetrate.io", "security.tsb.tetrate.io",
                          "gateway.tsb.tetrate.io", "istiointernal.tsb.tetrate.io",
                          "networking.istio.io", "security.istio.io", "extensions.istio.io"],
            "apiVersions": ["*"], "resources": ["*"] }]);
        let registered = register_webhook(
            &a,
            &format!("tsbridge-gitops-{}", names.suffix),
            WEBHOOK,
            &format!("https://127.0.0.1:{webhook_port}/validate"),
            std::fs::read(certs.join("ca.crt")).expect("ca.crt"),
            rules,
            &names.config_ns,
        )
        .await;
        Stage {
            names,
            git: GitServer::start().await,
            cluster_a,
            a,
            b,
            api,
            registered: Some(registered),
            _mp: mp,
            _agents: vec![agent_a, agent_b],
            _dir: dir,
        }
    }

    /// Removes the webhook and the run's namespaces (after the engine has pruned what it applied).
    pub async fn tear_down(&mut self) {
        if let Some(registered) = self.registered.take() {
            registered.delete().await;
        }
        let names = &self.names;
        for (client, ns) in [
            (&self.a, &names.config_ns),
            (&self.a, &names.app_ns),
            (&self.b, &names.config_ns),
            (&self.b, &names.app_ns),
            (&self.a, &names.engine_ns),
        ] {
            delete_namespace(client, ns).await;
        }
    }

    pub fn config_api(&self, object: &Value) -> Api<DynamicObject> {
        dynamic_api(&self.a, &self.names.config_ns, object)
    }

    pub fn write_all(&self, files: &BTreeMap<String, Value>) {
        for (path, object) in files {
            self.git.write(path, &yaml(std::slice::from_ref(object)));
        }
    }

    /// The Istio objects the agents own in (cluster-a, cluster-b), with resourceVersions.
    pub async fn owned(&self) -> [BTreeMap<String, String>; 2] {
        let a = owned_versions(&self.a, &self.names.clusters[0])
            .await
            .expect("list a");
        let b = owned_versions(&self.b, &self.names.clusters[1])
            .await
            .expect("list b");
        [a, b]
    }

    pub async fn await_owned(&self, expected: &[BTreeSet<String>; 2]) {
        eventually("the Istio objects in both clusters", WAIT, || async {
            let owned = self.owned().await;
            let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<BTreeSet<_>>();
            (keys(&owned[0]) == expected[0] && keys(&owned[1]) == expected[1]).then_some(())
        })
        .await;
    }

    /// resourceVersion of every object in the config namespace of cluster-a that `objects` names.
    pub async fn versions(&self, objects: &[Value]) -> BTreeMap<String, String> {
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

    /// The object `object` names is not in the config namespace.
    pub async fn assert_absent(&self, object: &Value) {
        let name = object["metadata"]["name"].as_str().expect("name");
        assert!(
            self.config_api(object)
                .get_opt(name)
                .await
                .expect("get")
                .is_none(),
            "{name} is not in the cluster"
        );
    }

    /// Waits until the object `object` names is gone from the config namespace.
    pub async fn await_pruned(&self, object: &Value, what: &str) {
        let name = object["metadata"]["name"].as_str().expect("name");
        eventually(what, WAIT, || async {
            self.config_api(object)
                .get_opt(name)
                .await
                .ok()?
                .is_none()
                .then_some(())
        })
        .await;
    }
}

/// What the MP and both clusters hold, to show that a refused commit moved nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct Held {
    owned: [BTreeMap<String, String>; 2],
    fqns: Vec<String>,
}

/// What a steady state must leave as it is: CRs, generated objects, the audit, the copy of the
/// direct-mode VirtualService.
#[derive(Debug, PartialEq, Eq)]
pub struct Quiet {
    crs: BTreeMap<String, String>,
    owned: [BTreeMap<String, String>; 2],
    audit: usize,
    copy: Option<String>,
}

impl Stage {
    /// The Istio objects the model generates for `config` in (cluster-a, cluster-b), plus the
    /// edge team's direct-mode VirtualService copied to cluster-b.
    pub fn expected(&self, config: &[Value]) -> [BTreeSet<String>; 2] {
        let names = &self.names;
        let app = std::slice::from_ref(&names.app_ns);
        let mut b = expected_objects(&names.clusters[1], config, app);
        b.insert(format!("VirtualService/{}/ratings", names.config_ns));
        [expected_objects(&names.clusters[0], config, app), b]
    }

    pub async fn held(&self) -> Held {
        Held {
            owned: self.owned().await,
            fqns: list_fqns(&self.api, "").await,
        }
    }

    /// After the engine pruned `setting`: the MP deletes it and the clusters hold what
    /// `remaining` generates, which must differ from `before`.
    pub async fn await_deleted(
        &self,
        setting: &Value,
        remaining: &[Value],
        before: &[BTreeSet<String>; 2],
    ) {
        let name = setting["metadata"]["name"].as_str().expect("name");
        self.await_pruned(setting, &format!("the engine to prune {name}"))
            .await;
        eventually(&format!("the MP to delete {name}"), WAIT, || async {
            let fqns = list_fqns(&self.api, "").await;
            (!fqns.iter().any(|f| f.ends_with(&format!("/{name}")))).then_some(())
        })
        .await;
        let after = self.expected(remaining);
        assert_ne!(&after, before, "the model says {name} generated something");
        self.await_owned(&after).await;
    }

    /// cluster-b's copy of the direct-mode VirtualService `vs`, once it routes to `host`.
    pub async fn await_copy(&self, vs: &Value, host: &str) -> Api<DynamicObject> {
        let copy_api = dynamic_api(&self.b, &self.names.config_ns, vs);
        eventually(
            "cluster-b's copy of ratings to follow Git",
            WAIT,
            || async {
                let copy = copy_api.get("ratings").await.ok()?;
                (copy.data["spec"]["hosts"] == json!([host])).then_some(())
            },
        )
        .await;
        copy_api
    }

    pub async fn quiet(&self, live: &[Value], copy_api: &Api<DynamicObject>) -> Quiet {
        Quiet {
            crs: self.versions(live).await,
            owned: self.owned().await,
            audit: audit_entries(&self.api).await.len(),
            copy: copy_api
                .get("ratings")
                .await
                .expect("copy")
                .metadata
                .resource_version,
        }
    }

    /// The steady state left everything as `before`, and each copy of the direct-mode
    /// VirtualService has one field manager: `engine` (its field manager) in cluster-a,
    /// tsbridge in cluster-b, where none of `engine_metadata` (label or annotation prefixes) is
    /// copied.
    pub async fn assert_quiet(
        &self,
        before: &Quiet,
        live: &[Value],
        copy_api: &Api<DynamicObject>,
        engine: &str,
        engine_metadata: &[&str],
    ) {
        let now = self.quiet(live, copy_api).await;
        assert_eq!(
            now.crs, before.crs,
            "no CR was written (by {engine} or the agent)"
        );
        assert_eq!(now.owned, before.owned, "no Istio object was rewritten");
        assert_eq!(now.audit, before.audit, "the MP recorded no change");
        assert_eq!(now.copy, before.copy, "cluster-b's copy stays put");
        let copy = copy_api.get("ratings").await.expect("copy");
        assert_eq!(
            managers(&copy),
            BTreeSet::from(["tsbridge".to_string()]),
            "only tsbridge manages the copy"
        );
        let vs = live
            .iter()
            .find(|o| o["kind"] == "VirtualService")
            .expect("the direct-mode VirtualService");
        let source = self
            .config_api(vs)
            .get("ratings")
            .await
            .expect("the Git-managed VirtualService");
        assert_eq!(
            managers(&source),
            BTreeSet::from([engine.to_string()]),
            "only the engine manages the VirtualService in its own cluster"
        );
        let metadata = copy
            .metadata
            .labels
            .iter()
            .flatten()
            .chain(copy.metadata.annotations.iter().flatten())
            .map(|(k, _)| k)
            .filter(|k| engine_metadata.iter().any(|p| k.starts_with(p)))
            .collect::<Vec<_>>();
        assert!(
            metadata.is_empty(),
            "the engine's metadata is not copied to cluster-b: {metadata:?}"
        );
    }
}

/// The CRs alive after the scenarios: tenancy, what is left of payments, the edge team.
pub fn live_objects(
    tenancy: &BTreeMap<String, Value>,
    remaining: &[Value],
    edge: &BTreeMap<String, Value>,
) -> Vec<Value> {
    tenancy
        .values()
        .cloned()
        .chain(
            remaining
                .iter()
                .filter(|o| o["kind"] != "Tenant" && o["kind"] != "Workspace")
                .cloned(),
        )
        .chain(edge.values().cloned())
        .collect()
}

/// `objects` less those of `kind`.
pub fn without(objects: &[Value], kind: &str) -> Vec<Value> {
    objects
        .iter()
        .filter(|o| o["kind"] != kind)
        .cloned()
        .collect()
}

/// `message` (what the engine reports) carries our webhook's denial of the orphan workspace, in
/// our words.
pub fn assert_denied(message: &str, engine: &str) {
    assert!(
        message.contains(&format!(
            "admission webhook \"{WEBHOOK}\" denied the request"
        )),
        "{engine} shows our webhook's denial: {message}"
    );
    assert!(
        message.contains("tsb.tetrate.io/tenant") && message.contains("(TSB1002)"),
        "with our message: {message}"
    );
}

/// The objects of every file in `layers`.
pub fn objects(layers: &[&BTreeMap<String, Value>]) -> Vec<Value> {
    layers.iter().flat_map(|f| f.values().cloned()).collect()
}

/// Every tsbridge CR of `objects` Ready=True for its generation (kstatus Current).
pub async fn await_crs_ready(client: &Client, ns: &str, objects: &[Value]) {
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

/// Field managers of `object`.
pub fn managers(object: &DynamicObject) -> BTreeSet<String> {
    object
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect()
}

/// The Stalled condition's message on a CR the MP refused (what `kubectl describe` shows).
pub fn stalled_message(live: &DynamicObject) -> String {
    let stalled = live.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Stalled" && c["status"] == "True")
        .unwrap_or_else(|| panic!("the rejected CR is Stalled: {}", live.data["status"]));
    stalled["message"].as_str().unwrap_or_default().to_string()
}

/// Waits until `api` lists nothing (the engine has pruned and dropped its finalizers); past
/// [`WAIT`] it says so and removes what is left. Returns whether the engine finished by itself.
pub async fn drain(api: &Api<DynamicObject>) -> bool {
    let gone = tokio::time::timeout(WAIT, async {
        loop {
            match api.list(&ListParams::default()).await {
                Ok(list) if list.items.is_empty() => return,
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    })
    .await;
    if gone.is_err() {
        eprintln!("the engine did not finish pruning; removing its finalizers");
        force_delete_all(api).await;
    }
    gone.is_ok()
}

/// Deletes everything `api` lists and strips the finalizers that would hold it.
pub async fn force_delete_all(api: &Api<DynamicObject>) {
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
