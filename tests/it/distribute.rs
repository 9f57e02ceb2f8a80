//! Distribution across three real control planes with one MP and three agents: config applied
//! in cluster-a lands as Istio objects in exactly the namespaces its selectors resolve to in
//! cluster-b and cluster-c, follows namespace changes, updates, deletes and drift, and the
//! originating CR shows how many clusters applied it.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::crds::{dynamic_api, install_crds};
use crate::support::cluster::{Cluster, TEST_NS_LABEL};
pub(crate) use crate::support::fanout::expected_objects;
use crate::support::mp::{Clients, Mp, register_cluster, service_route, start_agent};
use crate::support::process::ChildProcess;
use crate::support::random_suffix;
use crate::support::wait::eventually;
use tsbridge::proto::v1;

const WAIT: Duration = Duration::from_secs(60);

struct Member {
    name: String,
    cluster: Cluster,
    client: Client,
    _agent: Option<ChildProcess>,
}

struct Fleet {
    suffix: String,
    config_ns: String,
    members: Vec<Member>,
    mp: Mp,
    _api: Clients,
    _dir: tempfile::TempDir,
}

fn namespace(name: &str) -> Namespace {
    serde_json::from_value(json!({
        "metadata": { "name": name, "labels": { TEST_NS_LABEL: "true" } }
    }))
    .expect("namespace")
}

pub(crate) async fn create_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(&Default::default(), &namespace(name))
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
}

pub(crate) async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

impl Fleet {
    async fn start() -> Fleet {
        let suffix = random_suffix();
        let dir = tempfile::tempdir().expect("temp dir");
        let store = format!("sqlite:{}", dir.path().join("mp.db").display());
        let mp = Mp::start(&store, dir.path(), &[]).await;
        let mut api = mp.clients(&mp.token).await;
        let config_ns = format!("dist-{suffix}-config");
        let mut members = Vec::new();
        for cluster_name in ["cluster-a", "cluster-b", "cluster-c"] {
            let cluster = Cluster::attach(cluster_name);
            let client = cluster.client().await;
            install_crds(&client).await;
            let name = format!("{cluster_name}-{suffix}");
            register_cluster(&mut api, &name, "organizations/acme").await;
            members.push(Member {
                name,
                cluster,
                client,
                _agent: None,
            });
        }
        create_namespace(&members[0].client, &config_ns).await;
        let mut fleet = Fleet {
            suffix,
            config_ns,
            members,
            mp,
            _api: api,
            _dir: dir,
        };
        for index in 0..3 {
            fleet.start_agent(index);
        }
        fleet
    }

    fn start_agent(&mut self, index: usize) {
        let member = &self.members[index];
        let (agent, _) = start_agent(
            &self.mp,
            &member.cluster,
            &member.name,
            &self.config_ns,
            &[],
        );
        self.members[index]._agent = Some(agent);
    }

    fn app_ns(&self, part: &str) -> String {
        format!("dist-{}-{part}", self.suffix)
    }

    /// The hierarchy of [`hierarchy`]: the workspace selects `*/<app>` and `cluster-c-<s>/<prefix>*`.
    fn config(&self) -> Vec<Value> {
        let app = self.app_ns("app");
        let prefix = format!("{}*", self.app_ns("later-"));
        let c = &self.members[2].name;
        hierarchy(
            &format!("t-{}", self.suffix),
            &[format!("*/{app}"), format!("{c}/{prefix}")],
        )
    }

    /// Waits until the MP's status of `fqn` satisfies `done`, and returns it.
    async fn status_when(
        &self,
        what: &str,
        fqn: &str,
        done: impl Fn(&v1::ResourceStatus) -> bool,
    ) -> v1::ResourceStatus {
        let done = &done;
        eventually(what, WAIT, || {
            let mut api = self._api.clone();
            let fqn = fqn.to_string();
            async move {
                let status = api
                    .status
                    .get_status(v1::GetStatusRequest { fqn })
                    .await
                    .ok()?
                    .into_inner();
                done(&status).then_some(status)
            }
        })
        .await
    }

    /// `tsbridge ctl ARGS` against the MP; its standard output.
    fn ctl(&self, args: &[&str]) -> String {
        let out = self.mp.ctl(args);
        assert!(
            out.status.success(),
            "ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The first delivery ledger row of `fqn` that `wanted` picks, as `ctl history` shows
    /// it (JSON), once there is one.
    async fn delivery(&self, fqn: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        eventually(&format!("a ledger row of {fqn}"), WAIT, || async {
            let out = self.mp.ctl(&["history", fqn, "-o", "json"]);
            let history: Value = serde_json::from_slice(&out.stdout).ok()?;
            let rows = history["revisions"]
                .as_array()?
                .iter()
                .flat_map(|r| r["deliveries"].as_array().cloned().unwrap_or_default())
                .chain(
                    history["redeliveries"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default(),
                );
            rows.into_iter().find(|d| wanted(d))
        })
        .await
    }

    async fn apply(&self, object: &Value) {
        crate::agent::flux_apply(&self.members[0].client, &self.config_ns, object).await;
    }

    async fn delete(&self, object: &Value) {
        let name = object["metadata"]["name"].as_str().expect("name");
        dynamic_api(&self.members[0].client, &self.config_ns, object)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
    }

    /// What the model says `index` must hold when it has `namespaces`.
    fn expected(&self, index: usize, config: &[Value], namespaces: &[String]) -> BTreeSet<String> {
        expected_objects(&self.members[index].name, config, namespaces)
    }

    /// Every object the agent of `index` owns in its cluster, as `Kind/namespace/name`.
    async fn owned(&self, index: usize) -> BTreeSet<String> {
        let member = &self.members[index];
        owned_objects(&member.client, &member.name).await
    }

    async fn await_owned(&self, index: usize, expected: &BTreeSet<String>) {
        let what = format!("{} to hold exactly {expected:?}", self.members[index].name);
        eventually(&what, WAIT, || async {
            (self.owned(index).await == *expected).then_some(())
        })
        .await;
    }
}

/// A hierarchy whose workspace selects `names`: a BRIDGED traffic group and security group
/// with settings under tenant `tenant`.
pub(crate) fn hierarchy(tenant: &str, names: &[String]) -> Vec<Value> {
    let annotations = |extra: &[(&str, &str)]| {
        let mut annotations = json!({
            "tsb.tetrate.io/organization": "acme",
            "tsb.tetrate.io/tenant": tenant,
            "tsb.tetrate.io/workspace": "ws",
        });
        for (k, v) in extra {
            annotations[*k] = json!(v);
        }
        annotations
    };
    vec![
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Tenant",
               "metadata": {"name": tenant, "annotations": {"tsb.tetrate.io/organization": "acme"}},
               "spec": {"displayName": "dist"}}),
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
               "metadata": {"name": "ws", "annotations": {"tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant}},
               "spec": {"namespaceSelector": {"names": names}}}),
        json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
               "metadata": {"name": "tg", "annotations": annotations(&[])},
               "spec": {"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/*"]}}}),
        json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "TrafficSetting",
               "metadata": {"name": "ts", "annotations": annotations(&[("tsb.tetrate.io/trafficGroup", "tg")])},
               "spec": {"reachability": {"mode": "GROUP"},
                        "resilience": {"circuitBreakerSensitivity": "MEDIUM"}}}),
        json!({"apiVersion": "security.tsb.tetrate.io/v2", "kind": "Group",
               "metadata": {"name": "sg", "annotations": annotations(&[])},
               "spec": {"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/*"]}}}),
        json!({"apiVersion": "security.tsb.tetrate.io/v2", "kind": "SecuritySetting",
               "metadata": {"name": "ss", "annotations": annotations(&[("tsb.tetrate.io/securityGroup", "sg")])},
               "spec": {"authenticationSettings": {"trafficMode": "REQUIRED"}}}),
    ]
}

/// Every Istio object the agent of `cluster` owns (by its labels), as `Kind/namespace/name`.
pub(crate) async fn owned_objects(client: &Client, cluster: &str) -> BTreeSet<String> {
    owned_versions(client, cluster)
        .await
        .unwrap_or_else(|e| panic!("listing {cluster}'s objects: {e}"))
        .into_keys()
        .collect()
}

/// The same, each with its resourceVersion (a rewrite changes it).
pub(crate) async fn owned_versions(
    client: &Client,
    cluster: &str,
) -> kube::Result<std::collections::BTreeMap<String, String>> {
    owned_with(client, cluster, |object| {
        object.metadata.resource_version.clone().unwrap_or_default()
    })
    .await
}

/// The same, each with its `spec`.
pub(crate) async fn owned_specs(
    client: &Client,
    cluster: &str,
) -> kube::Result<std::collections::BTreeMap<String, Value>> {
    owned_with(client, cluster, |object| object.data["spec"].clone()).await
}

/// Every Istio object the agent of `cluster` owns, as `Kind/namespace/name`, with `what` of it.
async fn owned_with<T>(
    client: &Client,
    cluster: &str,
    what: impl Fn(&DynamicObject) -> T,
) -> kube::Result<std::collections::BTreeMap<String, T>> {
    let selector = format!("tsbridge.io/managed-by=tsbridge,tsbridge.io/cluster={cluster}");
    let mut found = std::collections::BTreeMap::new();
    for (group, version, kind, plural) in ISTIO_KINDS {
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let api: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(&gvk, plural),
        );
        for object in api.list(&ListParams::default().labels(&selector)).await? {
            found.insert(
                format!(
                    "{kind}/{}/{}",
                    object.metadata.namespace.clone().unwrap_or_default(),
                    object.metadata.name.clone().unwrap_or_default()
                ),
                what(&object),
            );
        }
    }
    Ok(found)
}

/// Edits a generated Sidecar in `ns` by hand and waits until its agent puts it back.
pub(crate) async fn assert_manual_edit_reverted(client: &Client, ns: &str) {
    let sidecars: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("networking.istio.io", "v1", "Sidecar"),
            "sidecars",
        ),
    );
    let sidecar = sidecars
        .list(&ListParams::default().labels("tsbridge.io/managed-by=tsbridge"))
        .await
        .expect("list")
        .items
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("a generated Sidecar in {ns}"));
    let name = sidecar.metadata.name.clone().expect("name");
    let original = sidecar.data["spec"].clone();
    sidecars
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"egress": [{"hosts": ["./*", "edited/*"]}]}})),
        )
        .await
        .expect("manual edit");
    eventually("the manual edit to be reverted", WAIT, || async {
        let live = sidecars.get(&name).await.ok()?;
        (live.data["spec"] == original).then_some(())
    })
    .await;
}

const ISTIO_KINDS: [(&str, &str, &str, &str); 8] = [
    (
        "networking.istio.io",
        "v1",
        "VirtualService",
        "virtualservices",
    ),
    (
        "networking.istio.io",
        "v1",
        "DestinationRule",
        "destinationrules",
    ),
    ("networking.istio.io", "v1", "Gateway", "gateways"),
    ("networking.istio.io", "v1", "Sidecar", "sidecars"),
    (
        "networking.istio.io",
        "v1",
        "ServiceEntry",
        "serviceentries",
    ),
    (
        "security.istio.io",
        "v1",
        "PeerAuthentication",
        "peerauthentications",
    ),
    (
        "security.istio.io",
        "v1",
        "AuthorizationPolicy",
        "authorizationpolicies",
    ),
    (
        "networking.istio.io",
        "v1alpha3",
        "EnvoyFilter",
        "envoyfilters",
    ),
];

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn config_reaches_exactly_the_selected_namespaces_of_every_cluster() {
    let mut fleet = Fleet::start().await;
    let app = fleet.app_ns("app");
    let later = fleet.app_ns("later-one");
    // b and c have the app namespace; a has none of them.
    create_namespace(&fleet.members[1].client, &app).await;
    create_namespace(&fleet.members[2].client, &app).await;
    let config = fleet.config();
    for object in &config {
        fleet.apply(object).await;
    }
    let expected_b = fleet.expected(1, &config, std::slice::from_ref(&app));
    assert!(!expected_b.is_empty(), "the hierarchy generates objects");
    fleet.await_owned(1, &expected_b).await;
    fleet
        .await_owned(2, &fleet.expected(2, &config, std::slice::from_ref(&app)))
        .await;
    fleet.await_owned(0, &BTreeSet::new()).await;

    // The originating CR shows propagation: applied in 2 of 2 clusters.
    let setting = config
        .iter()
        .find(|o| o["kind"] == "TrafficSetting")
        .expect("setting");
    eventually("the CR to show 2 of 2 clusters", WAIT, || async {
        let live = dynamic_api(&fleet.members[0].client, &fleet.config_ns, setting)
            .get(setting["metadata"]["name"].as_str().expect("name"))
            .await
            .ok()?;
        let clusters = &live.data["status"]["tsb"]["clusters"];
        (clusters["applied"] == 2 && clusters["targeted"] == 2).then_some(())
    })
    .await;
    // The MP says READY, with both clusters' edge states, and its workspace aggregates it.
    let mut api = fleet._api.clone();
    let fqn = format!(
        "organizations/acme/tenants/t-{}/workspaces/ws/trafficgroups/tg/settings/ts",
        fleet.suffix
    );
    let status = api
        .status
        .get_status(v1::GetStatusRequest { fqn: fqn.clone() })
        .await
        .unwrap_or_else(|e| panic!("status of {fqn}: {e}"))
        .into_inner();
    assert_eq!(status.status, "READY", "{status:?}");
    let edges: BTreeSet<(String, String)> = status
        .clusters
        .iter()
        .map(|c| (c.cluster.clone(), c.state.clone()))
        .collect();
    let applied: BTreeSet<(String, String)> = [1, 2]
        .iter()
        .map(|i| (fleet.members[*i].name.clone(), "APPLIED".to_string()))
        .collect();
    assert_eq!(edges, applied);
    // Its workspace produces nothing of its own and takes its subtree's status and counts,
    // through the API and `ctl status` alike (docs/status.md).
    let workspace = format!(
        "organizations/acme/tenants/t-{}/workspaces/ws",
        fleet.suffix
    );
    let ws = fleet
        .status_when("the workspace to be READY", &workspace, |s| {
            s.status == "READY"
        })
        .await;
    assert_eq!(
        (ws.last_event.as_str(), ws.message.as_str()),
        ("XCP_APPLIED", "applied in 2 of 2 clusters"),
        "{ws:?}"
    );
    let ws_edges: BTreeSet<(String, String)> = ws
        .clusters
        .iter()
        .map(|c| (c.cluster.clone(), c.state.clone()))
        .collect();
    assert_eq!(ws_edges, applied);
    let printed = fleet.ctl(&["status", &workspace]);
    let row = printed
        .lines()
        .find(|l| l.starts_with(&workspace))
        .unwrap_or_else(|| panic!("a row for the workspace: {printed}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        columns[1..],
        [
            "READY",
            "XCP_APPLIED",
            "applied",
            "in",
            "2",
            "of",
            "2",
            "clusters"
        ],
        "{printed}"
    );

    // A namespace created later that matches the prefix entry (only in c) gets config.
    create_namespace(&fleet.members[2].client, &later).await;
    let both = [app.clone(), later.clone()];
    fleet
        .await_owned(2, &fleet.expected(2, &config, &both))
        .await;
    // The same namespace in b matches nothing (the prefix entry names cluster c).
    create_namespace(&fleet.members[1].client, &later).await;
    fleet.await_owned(1, &expected_b).await;

    // A manual edit in b is reverted.
    assert_manual_edit_reverted(&fleet.members[1].client, &app).await;

    // A delete prunes everywhere; agent b down meanwhile converges after restart.
    fleet.members[1]._agent = None;
    let security = config
        .iter()
        .find(|o| o["kind"] == "SecuritySetting")
        .expect("ss");
    fleet.delete(security).await;
    let remaining: Vec<Value> = config
        .iter()
        .filter(|o| o["kind"] != "SecuritySetting")
        .cloned()
        .collect();
    fleet
        .await_owned(2, &fleet.expected(2, &remaining, &both))
        .await;
    // A change while b is down: the held interim status is written once the hold expires
    // (accepted, applied in 1 of 2 clusters), and turns Applied when b is back.
    let mut changed = setting.clone();
    changed["spec"]["resilience"]["circuitBreakerSensitivity"] = json!("HIGH");
    fleet.apply(&changed).await;
    let propagated = |live: &DynamicObject| {
        let status = &live.data["status"];
        let generation = live.metadata.generation.unwrap_or_default();
        let condition = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Propagated")
            .cloned()
            .unwrap_or_default();
        (status["observedGeneration"] == generation).then(|| {
            (
                status["tsb"]["clusters"]["applied"].clone(),
                condition["status"].clone(),
                condition["reason"].clone(),
            )
        })
    };
    let setting_api = dynamic_api(&fleet.members[0].client, &fleet.config_ns, setting);
    eventually("the CR to show 1 of 2 clusters, Pending", WAIT, || async {
        let live = setting_api.get("ts").await.ok()?;
        (propagated(&live)? == (json!(1), json!("False"), json!("Pending"))).then_some(())
    })
    .await;
    fleet.start_agent(1);
    eventually("the CR to show 2 of 2 clusters, Applied", WAIT, || async {
        let live = setting_api.get("ts").await.ok()?;
        (propagated(&live)? == (json!(2), json!("True"), json!("Applied"))).then_some(())
    })
    .await;
    fleet
        .await_owned(
            1,
            &fleet.expected(1, &remaining, std::slice::from_ref(&app)),
        )
        .await;

    // MP restart: nothing duplicated or lost.
    fleet.mp.restart().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    fleet
        .await_owned(
            1,
            &fleet.expected(1, &remaining, std::slice::from_ref(&app)),
        )
        .await;
    fleet
        .await_owned(2, &fleet.expected(2, &remaining, &both))
        .await;

    // A namespace deleted loses its config.
    delete_namespace(&fleet.members[2].client, &later).await;
    fleet
        .await_owned(
            2,
            &fleet.expected(2, &remaining, std::slice::from_ref(&app)),
        )
        .await;

    for (index, ns) in [(1, &app), (2, &app), (1, &later)] {
        delete_namespace(&fleet.members[index].client, ns).await;
    }
    delete_namespace(&fleet.members[0].client, &fleet.config_ns).await;
}

/// Tenant, workspace and a DIRECT traffic group `direct` over `scope`, then `object` in it.
pub(crate) fn direct_hierarchy(tenant: &str, scope: &str, object: Value) -> [Value; 4] {
    [
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Tenant",
               "metadata": {"name": tenant, "annotations": {"tsb.tetrate.io/organization": "acme"}},
               "spec": {}}),
        json!({"apiVersion": "tsb.tetrate.io/v2", "kind": "Workspace",
               "metadata": {"name": "ws", "annotations": {"tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant}},
               "spec": {"namespaceSelector": {"names": [scope]}}}),
        json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "Group",
               "metadata": {"name": "direct", "annotations": {"tsb.tetrate.io/organization": "acme",
                   "tsb.tetrate.io/tenant": tenant, "tsb.tetrate.io/workspace": "ws"}},
               "spec": {"configMode": "DIRECT", "namespaceSelector": {"names": [scope]}}}),
        object,
    ]
}

/// A ValidatingAdmissionPolicy (built into the apiserver) by which `client`'s cluster refuses
/// VirtualServices for `host` in `namespace`: the agent's apply fails and it NACKs. Remove it
/// with [`RefusalPolicy::remove`].
pub(crate) struct RefusalPolicy {
    policies: Api<DynamicObject>,
    bindings: Api<DynamicObject>,
    name: String,
}

impl RefusalPolicy {
    pub(crate) async fn install(
        client: &Client,
        namespace: &str,
        suffix: &str,
        host: &str,
    ) -> RefusalPolicy {
        let policy_name = format!("refuse-{suffix}");
        let policies: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(
                    "admissionregistration.k8s.io",
                    "v1",
                    "ValidatingAdmissionPolicy",
                ),
                "validatingadmissionpolicies",
            ),
        );
        let bindings: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(
                    "admissionregistration.k8s.io",
                    "v1",
                    "ValidatingAdmissionPolicyBinding",
                ),
                "validatingadmissionpolicybindings",
            ),
        );
        let policy: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{"apiGroups": ["networking.istio.io"],
                     "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["virtualservices"]}]},
                 "validations": [{"expression": format!("!object.spec.hosts.exists(h, h == '{host}')"),
                                  "message": format!("{host} is not allowed in this cluster")}]}
    }))
    .expect("policy");
        policies
            .create(&Default::default(), &policy)
            .await
            .expect("policy");
        let binding: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy_name},
        "spec": {"policyName": policy_name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": namespace}}}}
    }))
    .expect("binding");
        bindings
            .create(&Default::default(), &binding)
            .await
            .expect("binding");
        // Policies take effect asynchronously: wait until a dry-run is refused.
        let probe: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            namespace,
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
                "virtualservices",
            ),
        );
        eventually("the admission policy to refuse", WAIT, || async {
            let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "probe"}, "spec": {"hosts": [host]}}))
            .ok()?;
            probe
                .create(
                    &kube::api::PostParams {
                        dry_run: true,
                        ..Default::default()
                    },
                    &object,
                )
                .await
                .is_err()
                .then_some(())
        })
        .await;
        RefusalPolicy {
            policies,
            bindings,
            name: policy_name,
        }
    }

    pub(crate) async fn remove(&self) {
        let _ = self
            .bindings
            .delete(&self.name, &DeleteParams::default())
            .await;
        let _ = self
            .policies
            .delete(&self.name, &DeleteParams::default())
            .await;
    }
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn an_object_a_cluster_refuses_is_errored_for_that_cluster_and_on_the_cr() {
    let fleet = Fleet::start().await;
    let b = fleet.members[1].name.clone();
    // The direct-mode object's namespace exists in cluster-b, which alone is selected, and
    // cluster-b's apiserver refuses the object (a ValidatingAdmissionPolicy, built in).
    create_namespace(&fleet.members[1].client, &fleet.config_ns).await;
    let refusal = RefusalPolicy::install(
        &fleet.members[1].client,
        &fleet.config_ns,
        &fleet.suffix,
        "refused.example",
    )
    .await;
    let tenant = format!("t-{}", fleet.suffix);
    let scope = format!("{b}/{}", fleet.config_ns);
    let virtual_service = json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "reviews", "labels": {"istio.io/rev": "tsb"}, "annotations": {
            "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant,
            "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/trafficGroup": "direct"}},
        "spec": {"hosts": ["refused.example"],
                 "http": [{"route": [{"destination": {"host": "reviews"}}]}]}});
    let config = direct_hierarchy(&tenant, &scope, virtual_service.clone());
    for object in &config {
        fleet.apply(object).await;
    }
    let fqn = format!(
        "organizations/acme/tenants/{tenant}/workspaces/ws/trafficgroups/direct/virtualservices/reviews"
    );
    let status = fleet
        .status_when("the MP to report cluster-b ERRORED", &fqn, |s| {
            s.status == "FAILED"
        })
        .await;
    let edges: Vec<(String, String)> = status
        .clusters
        .iter()
        .map(|c| (c.cluster.clone(), c.state.clone()))
        .collect();
    assert_eq!(edges, vec![(b.clone(), "ERRORED".to_string())]);

    // The delivery ledger: the change failed in cluster-b, with the apiserver's reason, and
    // the report and the audit of that target cluster say so.
    let failed = fleet
        .delivery(&fqn, |d| {
            d["cluster"] == b.as_str() && d["outcome"] == "failed"
        })
        .await;
    let reason = "refused.example is not allowed in this cluster";
    assert!(
        failed["message"]
            .as_str()
            .is_some_and(|m| m.contains(reason)),
        "{failed}"
    );
    assert!(
        failed["change"].as_i64().is_some_and(|c| c > 0),
        "caused by its change: {failed}"
    );
    let tenant_fqn = format!("organizations/acme/tenants/{tenant}");
    let report: Value =
        serde_json::from_str(&fleet.ctl(&["report", "--fqn-prefix", &tenant_fqn, "-o", "json"]))
            .expect("report JSON");
    let of_b = report["clusters"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["cluster"] == b.as_str()))
        .unwrap_or_else(|| panic!("cluster-b in the report: {report}"));
    assert!(of_b["failed"].as_u64() >= Some(1), "{of_b}");
    assert!(
        of_b["topFailures"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(reason)),
        "{of_b}"
    );
    let audit = fleet.ctl(&["audit", "--cluster", &b, "--fqn-prefix", &tenant_fqn]);
    assert!(
        audit.contains(&fqn),
        "the audit of what reached cluster-b: {audit}"
    );
    let table = fleet.ctl(&["history", &fqn]);
    assert!(table.contains("failed") && table.contains(&b), "{table}");

    // The CR in cluster-a (a direct-mode object: Events, not status) says so.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(fleet.members[0].client.clone(), &fleet.config_ns);
    eventually("an Errored event on the VirtualService", WAIT, || async {
        events
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .find(|e| {
                e.reason.as_deref() == Some("Errored")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("reviews")
            })
            .map(|_| ())
    })
    .await;
    refusal.remove().await;
    delete_namespace(&fleet.members[1].client, &fleet.config_ns).await;
    delete_namespace(&fleet.members[0].client, &fleet.config_ns).await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn a_direct_mode_object_is_applied_elsewhere_and_left_alone_where_it_came_from() {
    let fleet = Fleet::start().await;
    let (a, c) = (fleet.members[0].name.clone(), fleet.members[2].name.clone());
    // `*/<config_ns>` selects the CR's own namespace in cluster-a and the same name in cluster-c.
    create_namespace(&fleet.members[2].client, &fleet.config_ns).await;
    let tenant = format!("t-{}", fleet.suffix);
    let scope = format!("*/{}", fleet.config_ns);
    let config = direct_hierarchy(
        &tenant,
        &scope,
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": "ratings", "labels": {"istio.io/rev": "tsb"}, "annotations": {
                   "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant,
                   "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/trafficGroup": "direct"}},
               "spec": {"hosts": ["ratings"],
                        "http": [{"route": [{"destination": {"host": "ratings"}}]}]}}),
    );
    for object in &config {
        fleet.apply(object).await;
    }
    let fqn = format!(
        "organizations/acme/tenants/{tenant}/workspaces/ws/trafficgroups/direct/virtualservices/ratings"
    );
    // READY in both clusters: cluster-a holds it as the CR itself, cluster-c applied the copy.
    // (Until cluster-c's agent reports the new namespace, cluster-a alone is targeted.)
    let status = fleet
        .status_when(
            "the MP to report the VirtualService READY in two clusters",
            &fqn,
            |s| s.status == "READY" && s.clusters.len() == 2,
        )
        .await;
    let edges: BTreeSet<(String, String)> = status
        .clusters
        .iter()
        .map(|c| (c.cluster.clone(), c.state.clone()))
        .collect();
    assert_eq!(
        edges,
        BTreeSet::from([
            (a, "APPLIED".to_string()),
            (c.clone(), "APPLIED".to_string())
        ])
    );
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService");
    let virtual_services = |index: usize| -> Api<DynamicObject> {
        Api::namespaced_with(
            fleet.members[index].client.clone(),
            &fleet.config_ns,
            &ApiResource::from_gvk_with_plural(&gvk, "virtualservices"),
        )
    };
    let copy = virtual_services(2)
        .get("ratings")
        .await
        .expect("the copy in cluster-c");
    assert_eq!(
        copy.metadata
            .labels
            .unwrap_or_default()
            .get("tsbridge.io/managed-by")
            .map(String::as_str),
        Some("tsbridge")
    );
    // The Git-managed CR carries nothing of tsbridge's: no label, no field manager.
    let source = virtual_services(0).get("ratings").await.expect("the CR");
    let labels = source.metadata.labels.unwrap_or_default();
    assert!(
        !labels.contains_key("tsbridge.io/managed-by"),
        "the CR got tsbridge's ownership label: {labels:?}"
    );
    let managers: Vec<String> = source
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        !managers.iter().any(|m| m == "tsbridge"),
        "tsbridge wrote the CR: {managers:?}"
    );

    // Someone edits the copy in cluster-c: the agent puts it back and the ledger says so.
    virtual_services(2)
        .patch(
            "ratings",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"hosts": ["edited-by-hand"]}})),
        )
        .await
        .expect("edit the copy");
    let reverted = fleet
        .delivery(&fqn, |d| {
            d["cluster"] == c.as_str() && d["outcome"] == "reverted"
        })
        .await;
    assert!(
        reverted["message"]
            .as_str()
            .is_some_and(|m| m.contains("ratings was changed")),
        "{reverted}"
    );
    delete_namespace(&fleet.members[2].client, &fleet.config_ns).await;
    delete_namespace(&fleet.members[0].client, &fleet.config_ns).await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn a_burst_sent_while_an_agent_is_frozen_arrives_whole() {
    // More revisions than the stream's outbox holds (1,024 messages) and HTTP/2's windows
    // buffer: none may be dropped while the agent does not read.
    const ROUTES: usize = 3000;
    let mut fleet = Fleet::start().await;
    let app = fleet.app_ns("burst");
    create_namespace(&fleet.members[1].client, &app).await;
    let tenant = format!("t-{}", fleet.suffix);
    let config = hierarchy(&tenant, std::slice::from_ref(&format!("*/{app}")));
    for object in &config {
        fleet.apply(object).await;
    }
    let before = fleet.expected(1, &config, std::slice::from_ref(&app));
    fleet.await_owned(1, &before).await;

    let agent = fleet.members[1]._agent.as_ref().expect("agent b").id();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), agent.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} {agent}");
    };
    signal("STOP");
    let group = format!("organizations/acme/tenants/{tenant}/workspaces/ws/trafficgroups/tg");
    let mut api = fleet.mp.clients(&fleet.mp.token).await;
    for k in 0..ROUTES {
        let request = service_route(&group, &app, k);
        if let Err(status) = api.config.apply(request).await {
            signal("CONT");
            panic!("applying ServiceRoute svc-{k}: {status}");
        }
    }
    signal("CONT");
    let what = format!("cluster-b to hold {ROUTES} VirtualServices");
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService");
    let virtual_services: Api<DynamicObject> = Api::namespaced_with(
        fleet.members[1].client.clone(),
        &app,
        &ApiResource::from_gvk_with_plural(&gvk, "virtualservices"),
    );
    eventually(&what, Duration::from_secs(180), || async {
        let held = virtual_services
            .list_metadata(&ListParams::default().labels("tsbridge.io/managed-by=tsbridge"))
            .await
            .ok()?
            .items
            .len();
        (held == ROUTES).then_some(())
    })
    .await;
    fleet.members[1]._agent = None;
    delete_namespace(&fleet.members[1].client, &app).await;
    delete_namespace(&fleet.members[0].client, &fleet.config_ns).await;
}
