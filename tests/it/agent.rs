//! The agent on a real kube-apiserver with the real management-plane binary: GitOps-style
//! applies, rejections, outages of either side, grants, deletes and leader failover.
//!
//! Each test gets its own namespace, MP and cluster name; the agent watches only that
//! namespace (`--watch-namespace`), so tests run side by side in one control plane.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::crds::{dynamic_api, fixture_objects, install_crds};
use crate::support::cluster::{Cluster, with_temp_ns};
use crate::support::mp::{Clients, Mp, free_port, register_cluster};
use crate::support::pki::Pki;
use crate::support::process::ChildProcess;
use crate::support::wait::eventually;
use tsbridge::proto::v1;

const FLUX: &str = "kustomize-controller";
const WAIT: Duration = Duration::from_secs(60);

/// One test's world: a namespace in cluster-a, a management plane, and its agents.
struct World {
    cluster: Cluster,
    client: Client,
    ns: String,
    /// Holds the MP's store and token until the test ends.
    _dir: tempfile::TempDir,
    mp: Mp,
    api: Clients,
    /// With mTLS: the PKI whose client certificates name the cluster.
    pki: Option<Pki>,
}

impl World {
    async fn new(client: Client, ns: String, grant: &str) -> World {
        World::start(client, ns, grant, None).await
    }

    /// The MP serves TLS and the agent authenticates with a SPIFFE client certificate.
    async fn with_mtls(client: Client, ns: String, grant: &str) -> World {
        World::start(client, ns, grant, Some(Pki::new())).await
    }

    async fn start(client: Client, ns: String, grant: &str, pki: Option<Pki>) -> World {
        let cluster = Cluster::default_cluster();
        install_crds(&client).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = format!("sqlite:{}", dir.path().join("mp.db").display());
        let (mp, mut api) = match &pki {
            None => {
                let mp = Mp::start(&store, dir.path(), &[]).await;
                let api = mp.clients(&mp.token).await;
                (mp, api)
            }
            Some(pki) => {
                let (crt, key) = pki.leaf(
                    "server",
                    vec![rcgen::SanType::IpAddress("127.0.0.1".parse().expect("IP"))],
                );
                let ca = pki.path("ca.crt");
                let tls = ["--tls-cert", &crt, "--tls-key", &key, "--client-ca", &ca];
                let mp = Mp::start_tls(&store, dir.path(), &tls).await;
                let api =
                    Clients::connect(&mp.url, Some(&mp.token), Some(std::path::Path::new(&ca)))
                        .await
                        .expect("admin connects over TLS");
                (mp, api)
            }
        };
        register_cluster(&mut api, &ns, grant).await;
        World {
            cluster,
            client,
            ns,
            _dir: dir,
            mp,
            api,
            pki,
        }
    }

    fn agent(&self, identity: &str, extra: &[&str]) -> ChildProcess {
        let admin = format!("127.0.0.1:{}", free_port());
        let credentials: Vec<String> = match &self.pki {
            None => vec![
                "--insecure".into(),
                "--token-file".into(),
                self.mp.token_file.to_str().expect("UTF-8").into(),
            ],
            Some(pki) => {
                let (crt, key) = pki.cluster(&self.ns);
                vec![
                    "--tls-cert".into(),
                    crt,
                    "--tls-key".into(),
                    key,
                    "--ca".into(),
                    pki.path("ca.crt"),
                ]
            }
        };
        let mut args: Vec<String> = [
            "agent",
            "--cluster",
            &self.ns,
            "--server",
            &self.mp.url,
            "--kubeconfig",
            self.cluster.kubeconfig.to_str().expect("UTF-8"),
            "--watch-namespace",
            &self.ns,
            "--lease-namespace",
            &self.ns,
            "--lease-duration",
            "4s",
            "--identity",
            identity,
            "--admin-listen",
            &admin,
            "--delete-grace",
            "1s",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        args.extend(credentials);
        args.extend(extra.iter().map(ToString::to_string));
        ChildProcess::tsbridge(&args, &[("TSBRIDGE_LOG_LEVEL", "tsbridge=debug,warn")])
    }

    /// Starts an agent, applies the whole fixture and waits until every CR is Ready.
    async fn agent_with_fixture(&self, identity: &str) -> (ChildProcess, Vec<Value>) {
        let objects = fixture_objects();
        let agent = self.agent(identity, &[]);
        for object in &objects {
            self.apply(object).await;
        }
        for object in &objects {
            self.await_ready(object, "True", "Accepted").await;
        }
        (agent, objects)
    }

    /// Server-side apply as Flux's kustomize-controller does it.
    async fn apply(&self, object: &Value) {
        flux_apply(&self.client, &self.ns, object).await;
    }

    async fn delete(&self, object: &Value) {
        let name = object["metadata"]["name"].as_str().expect("name");
        dynamic_api(&self.client, &self.ns, object)
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
    }

    async fn live(&self, object: &Value) -> Option<DynamicObject> {
        let name = object["metadata"]["name"].as_str().expect("name");
        dynamic_api(&self.client, &self.ns, object)
            .get_opt(name)
            .await
            .expect("get")
    }

    /// Waits until `object` has a Ready condition with `status` and `reason` for its current
    /// generation; returns the live object.
    async fn await_ready(&self, object: &Value, status: &str, reason: &str) -> DynamicObject {
        await_ready(&self.client, &self.ns, object, status, reason).await
    }

    async fn mp_fqns(&self) -> BTreeSet<String> {
        crate::support::mp::list_fqns(&self.api, "")
            .await
            .into_iter()
            .collect()
    }

    async fn await_mp_fqns(&self, expected: &BTreeSet<String>) {
        eventually(
            "the MP to hold exactly the cluster's objects",
            WAIT,
            || async { (self.mp_fqns().await == *expected).then_some(()) },
        )
        .await;
    }
}

/// The fixture object of `kind` (the first, where there are several).
fn of_kind<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| panic!("the fixture has a {kind}"))
}

fn ready_condition(live: &DynamicObject) -> Option<Value> {
    live.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .cloned()
}

/// Server-side apply of `object` into `ns` as Flux's kustomize-controller does it.
pub(crate) async fn flux_apply(client: &Client, ns: &str, object: &Value) {
    let name = object["metadata"]["name"].as_str().expect("name");
    dynamic_api(client, ns, object)
        .patch(
            name,
            &PatchParams::apply(FLUX).force(),
            &Patch::Apply(object),
        )
        .await
        .unwrap_or_else(|e| panic!("applying {} {name}: {e}", object["kind"]));
}

/// Waits until `object` in `ns` has a Ready condition with `status` and `reason` for its
/// current generation; returns the live object.
pub(crate) async fn await_ready(
    client: &Client,
    ns: &str,
    object: &Value,
    status: &str,
    reason: &str,
) -> DynamicObject {
    let name = object["metadata"]["name"].as_str().expect("name");
    let api = dynamic_api(client, ns, object);
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = Value::Null;
    loop {
        if let Some(live) = api.get_opt(name).await.expect("get") {
            let generation = live.metadata.generation.unwrap_or_default();
            if let Some(ready) = ready_condition(&live)
                && ready["status"] == status
                && ready["reason"] == reason
                && ready["observedGeneration"] == json!(generation)
                && live.data["status"]["observedGeneration"] == json!(generation)
            {
                return live;
            }
            last = live.data["status"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {} {name} to be Ready={status}/{reason}; last status: {last}",
            object["kind"],
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn fqn_of(object: &Value) -> String {
    let resource = tsbridge::k8s::convert::to_resource(
        object,
        &tsbridge::model::metadata::StripRules::default(),
    )
    .expect("converts");
    match resource {
        tsbridge::model::Converted::Resource { resource, .. } => resource.fqn.to_string(),
        other => panic!("not a resource: {other:?}"),
    }
}

/// Flux order: everything at once, sorted by kind then name, so children often come first.
fn flux_order(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by(|a, b| {
        let key = |o: &Value| {
            (
                o["kind"].as_str().unwrap_or_default().to_string(),
                o["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        };
        key(b).cmp(&key(a))
    });
    objects
}

fn with_annotation(object: &Value, key: &str, value: &str) -> Value {
    let mut object = object.clone();
    object["metadata"]["annotations"][key] = json!(value);
    object
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn flux_style_apply_ends_ready_and_the_mp_holds_exactly_the_cluster() {
    with_temp_ns(&Cluster::default_cluster(), |client, ns| async move {
        let world = World::new(client, ns, "organizations/acme").await;
        let _agent = world.agent("solo", &["--resync-interval", "2s"]);
        let objects = flux_order(fixture_objects());
        for object in &objects {
            world.apply(object).await;
        }
        for object in &objects {
            let live = world.await_ready(object, "True", "Accepted").await;
            let status = &live.data["status"];
            assert_eq!(status["tsb"]["fqn"], json!(fqn_of(object)));
            assert!(
                !status["tsb"]["etag"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
            );
            let conditions = status["conditions"].as_array().expect("conditions");
            assert!(
                conditions.iter().all(|c| c["type"] == "Ready"
                    || c["type"] == "Propagated"
                    || c["status"] != "True"),
                "Ready=True with another condition True: {conditions:?}"
            );
            let managers: Vec<&str> = live
                .metadata
                .managed_fields
                .iter()
                .flatten()
                .filter_map(|m| m.manager.as_deref())
                .collect();
            assert!(
                managers.contains(&"tsbridge-agent"),
                "status manager: {managers:?}"
            );
        }
        let expected: BTreeSet<String> = objects.iter().map(fqn_of).collect();
        world.await_mp_fqns(&expected).await;

        // Resyncs (every 2 s here) re-send the inventory: no MP write, no status write.
        let versions = |objects: Vec<Option<DynamicObject>>| -> Vec<Option<String>> {
            objects
                .into_iter()
                .map(|o| o.and_then(|o| o.metadata.resource_version))
                .collect()
        };
        let mut before = Vec::new();
        for object in &objects {
            before.push(world.live(object).await);
        }
        let audit_before = audit_count(&world).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let mut after = Vec::new();
        for object in &objects {
            after.push(world.live(object).await);
        }
        assert_eq!(versions(before), versions(after), "a resync rewrote CRs");
        assert_eq!(
            audit_count(&world).await,
            audit_before,
            "a resync wrote to the MP"
        );

        // Annotation-only churn (a CD tool's bookkeeping) changes nothing in the MP.
        let tenant = of_kind(&objects, "Tenant");
        world
            .apply(&with_annotation(
                tenant,
                "argocd.argoproj.io/tracking-id",
                "app:x/Tenant:ns/payments",
            ))
            .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            audit_count(&world).await,
            audit_before,
            "annotation churn wrote to the MP"
        );

        // A spec change is one MP write and a new etag on the CR.
        let etag =
            world.await_ready(tenant, "True", "Accepted").await.data["status"]["tsb"]["etag"]
                .clone();
        let mut changed = tenant.clone();
        changed["spec"]["description"] = json!("changed");
        world.apply(&changed).await;
        eventually("the new etag on the CR", WAIT, || async {
            let live = world.await_ready(&changed, "True", "Accepted").await;
            (live.data["status"]["tsb"]["etag"] != etag).then_some(())
        })
        .await;
    })
    .await;
}

async fn audit_count(world: &World) -> usize {
    let mut api = world.api.clone();
    api.audit
        .query(v1::AuditQuery::default())
        .await
        .expect("audit")
        .into_inner()
        .entries
        .len()
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn mp_rejections_stall_and_grants_are_enforced() {
    with_temp_ns(&Cluster::default_cluster(), |client, ns| async move {
        // mTLS: the cluster is who its certificate says. Granted only tenant payments.
        let world = World::with_mtls(client, ns, "organizations/acme/tenants/payments").await;
        let _agent = world.agent("solo", &[]);
        let objects = fixture_objects();
        let tenant = of_kind(&objects, "Tenant");
        let workspace = of_kind(&objects, "Workspace");

        // The tenant object itself sits at organizations/acme/tenants/payments: granted.
        world.apply(tenant).await;
        world.apply(workspace).await;
        world.await_ready(workspace, "True", "Accepted").await;

        // Outside the grant.
        let mut other = tenant.clone();
        other["metadata"]["name"] = json!("other");
        world.apply(&other).await;
        let live = world.await_ready(&other, "False", "PermissionDenied").await;
        let stalled = live.data["status"]["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .find(|c| c["type"] == "Stalled")
            .cloned()
            .expect("Stalled condition");
        assert_eq!(stalled["status"], "True");
        assert!(
            stalled["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not granted"),
            "{stalled}"
        );

        // An L2 rejection: a second workspace selecting the same namespaces.
        let mut overlapping = workspace.clone();
        overlapping["metadata"]["name"] = json!("overlapping-ws");
        world.apply(&overlapping).await;
        let live = world
            .await_ready(&overlapping, "False", "WorkspaceOverlap")
            .await;
        let message = ready_condition(&live).expect("ready")["message"].clone();
        assert!(
            message.as_str().unwrap_or_default().contains("bookinfo"),
            "{message}"
        );

        // An object the webhook would deny (none runs here) is reported, not pushed, and the
        // watch goes on.
        let mut malformed: Value = serde_saphyr::from_str(
            &std::fs::read_to_string(crate::support::repo_path(
                "tests/fixtures/validate/bad/inline-secret.yaml",
            ))
            .expect("fixture"),
        )
        .expect("parses");
        malformed["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("namespace");
        world.apply(&malformed).await;
        let live = world.await_ready(&malformed, "False", "Invalid").await;
        let message = ready_condition(&live).expect("ready")["message"].clone();
        assert!(
            message.as_str().unwrap_or_default().contains("privateKey"),
            "{message}"
        );

        // Fixing it in Git clears the stall.
        let mut fixed = overlapping.clone();
        fixed["spec"]["namespaceSelector"]["names"] = json!(["eu-west-1/reviews"]);
        world.apply(&fixed).await;
        world.await_ready(&fixed, "True", "Accepted").await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn an_mp_outage_is_reconciling_and_recovers_without_loss() {
    with_temp_ns(&Cluster::default_cluster(), |client, ns| async move {
        let mut world = World::new(client, ns, "organizations/acme").await;
        let _agent = world.agent("solo", &[]);
        let objects = fixture_objects();
        let firsts: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "Tenant" || o["kind"] == "Workspace")
            .collect();
        for object in &firsts {
            world.apply(object).await;
        }
        for object in &firsts {
            world.await_ready(object, "True", "Accepted").await;
        }

        world.mp.kill_9();
        for object in &firsts {
            world
                .await_ready(object, "False", "ManagementPlaneUnavailable")
                .await;
        }
        // Changes made meanwhile are not lost.
        let rest: Vec<&Value> = objects.iter().filter(|o| !firsts.contains(o)).collect();
        for object in &rest {
            world.apply(object).await;
        }
        world.mp.restart().await;
        for object in &objects {
            world.await_ready(object, "True", "Accepted").await;
        }
        let expected: BTreeSet<String> = objects.iter().map(fqn_of).collect();
        world.await_mp_fqns(&expected).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn changes_while_the_agent_is_down_are_reconciled_from_the_inventory() {
    with_temp_ns(&Cluster::default_cluster(), |client, ns| async move {
        let world = World::new(client, ns, "organizations/acme").await;
        let (mut agent, objects) = world.agent_with_fixture("first").await;
        agent.kill();

        // Meanwhile: one created, one changed, two deleted (below the mass-deletion share).
        let leaves: Vec<&Value> = objects
            .iter()
            .filter(|o| {
                matches!(
                    o["kind"].as_str(),
                    Some("TrafficSetting" | "ServiceRoute" | "SecuritySetting")
                )
            })
            .collect();
        assert!(leaves.len() >= 3, "fixture leaves: {}", leaves.len());
        world.delete(leaves[0]).await;
        world.delete(leaves[1]).await;
        let mut changed = leaves[2].clone();
        changed["metadata"]["labels"]["release"] = json!("v2");
        world.apply(&changed).await;
        let tenant = of_kind(&objects, "Tenant");
        let mut created = tenant.clone();
        created["metadata"]["name"] = json!("late");
        world.apply(&created).await;

        let _agent = world.agent("second", &[]);
        world.await_ready(&created, "True", "Accepted").await;
        let mut expected: BTreeSet<String> = objects.iter().map(fqn_of).collect();
        expected.remove(&fqn_of(leaves[0]));
        expected.remove(&fqn_of(leaves[1]));
        expected.insert(fqn_of(&created));
        world.await_mp_fqns(&expected).await;
        let mut api = world.api.clone();
        let stored = api
            .config
            .get(v1::GetRequest {
                fqn: fqn_of(&changed),
            })
            .await
            .expect("get")
            .into_inner();
        assert_eq!(stored.labels.get("release").map(String::as_str), Some("v2"));
    })
    .await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn mass_deletions_are_held_until_confirmed_and_recreates_coalesce() {
    with_temp_ns(&Cluster::default_cluster(), |client, ns| async move {
        let world = World::new(client, ns, "organizations/acme").await;
        let (mut agent, objects) = world.agent_with_fixture("first").await;

        // Delete and re-create the tenant within the grace: one update, children stay.
        let tenant = of_kind(&objects, "Tenant");
        world.delete(tenant).await;
        world.apply(tenant).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let all: BTreeSet<String> = objects.iter().map(fqn_of).collect();
        assert_eq!(
            world.mp_fqns().await,
            all,
            "a re-create within the grace deleted MP objects"
        );

        // Agent down, most objects pruned from Git: the MP holds the deletes.
        agent.kill();
        let leaves: Vec<&Value> = objects
            .iter()
            .filter(|o| !matches!(o["kind"].as_str(), Some("Tenant" | "Workspace")))
            .collect();
        for object in &leaves {
            world.delete(object).await;
        }
        let _agent = world.agent("second", &[]);
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(world.mp_fqns().await, all, "held deletes were applied");
        let api = world.api.clone();
        let confirmed = eventually("held deletions to confirm", WAIT, || {
            let mut api = api.clone();
            let cluster = world.ns.clone();
            async move {
                api.clusters
                    .confirm_deletions(v1::ConfirmDeletionsRequest { cluster })
                    .await
                    .ok()
                    .map(|r| r.into_inner().deleted)
            }
        })
        .await;
        assert!(!confirmed.is_empty());
        let kept: BTreeSet<String> = objects
            .iter()
            .filter(|o| matches!(o["kind"].as_str(), Some("Tenant" | "Workspace")))
            .map(fqn_of)
            .collect();
        assert_eq!(world.mp_fqns().await, kept);
    })
    .await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn a_standby_replica_takes_over_when_the_leader_dies() {
    with_temp_ns(&Cluster::default_cluster(), |client, ns| async move {
        let world = World::new(client, ns, "organizations/acme").await;
        let objects = fixture_objects();
        let tenant = of_kind(&objects, "Tenant");
        let mut first = world.agent("replica-1", &[]);
        let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(world.client.clone(), &world.ns);
        let lease_name = format!("tsbridge-agent-{}", world.ns);
        let await_holder = |holder: &'static str| {
            let (leases, lease_name) = (leases.clone(), lease_name.clone());
            async move {
                eventually(&format!("{holder} to hold the lease"), WAIT, || async {
                    let lease = leases.get_opt(&lease_name).await.ok()??;
                    (lease.spec?.holder_identity? == holder).then_some(())
                })
                .await;
            }
        };
        await_holder("replica-1").await;
        let _second = world.agent("replica-2", &[]);
        world.apply(tenant).await;
        world.await_ready(tenant, "True", "Accepted").await;

        first.kill();
        await_holder("replica-2").await;
        let workspace = of_kind(&objects, "Workspace");
        world.apply(workspace).await;
        world.await_ready(workspace, "True", "Accepted").await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn kstatus_says_in_progress_until_the_agent_has_processed_a_cr() {
    with_temp_ns(&Cluster::default_cluster(), |client, ns| async move {
        let world = World::new(client, ns, "organizations/acme").await;
        let objects = fixture_objects();
        let tenant = of_kind(&objects, "Tenant");
        world.apply(tenant).await;
        let unprocessed = world.live(tenant).await.expect("created");
        let as_json = serde_json::to_value(&unprocessed).expect("JSON");
        assert_eq!(
            as_json["status"]["observedGeneration"],
            json!(-1),
            "CRD default"
        );
        assert_eq!(crate::support::kstatus::kstatus_of(&as_json), "InProgress");

        let _agent = world.agent("solo", &[]);
        let processed = world.await_ready(tenant, "True", "Accepted").await;
        let as_json = serde_json::to_value(&processed).expect("JSON");
        assert_eq!(crate::support::kstatus::kstatus_of(&as_json), "Current");
        assert_eq!(
            tsbridge::model::status::kstatus::kstatus(&as_json),
            tsbridge::model::status::kstatus::KStatus::Current
        );
    })
    .await;
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn the_agent_reports_its_namespaces_and_their_changes() {
    use k8s_openapi::api::core::v1::Namespace;
    with_temp_ns(&Cluster::default_cluster(), |client, ns| async move {
        let world = World::new(client.clone(), ns, "organizations/acme").await;
        let _agent = world.agent("solo", &[]);
        let namespaces_of = || async {
            let mut api = world.api.clone();
            api.clusters
                .get_cluster(v1::GetClusterRequest {
                    name: world.ns.clone(),
                })
                .await
                .expect("cluster")
                .into_inner()
                .namespaces
        };
        eventually("the test namespace in the inventory", WAIT, || async {
            namespaces_of()
                .await
                .iter()
                .find(|n| n.name == world.ns)
                .filter(|n| n.labels.get("tsbridge.io/test").map(String::as_str) == Some("true"))
                .map(|_| ())
        })
        .await;

        let extra = format!("{}-extra", world.ns);
        let api: Api<Namespace> = Api::all(client);
        let namespace: Namespace = serde_json::from_value(json!({
            "metadata": { "name": extra, "labels": { "tsbridge.io/test": "true", "team": "a" } }
        }))
        .expect("namespace");
        api.create(&Default::default(), &namespace)
            .await
            .expect("create");
        eventually("the new namespace with its labels", WAIT, || async {
            namespaces_of()
                .await
                .iter()
                .find(|n| n.name == extra)
                .filter(|n| n.labels.get("team").map(String::as_str) == Some("a"))
                .map(|_| ())
        })
        .await;
        api.delete(&extra, &DeleteParams::default())
            .await
            .expect("delete");
        eventually(
            "the deleted namespace to leave the inventory",
            WAIT,
            || async { (!namespaces_of().await.iter().any(|n| n.name == extra)).then_some(()) },
        )
        .await;
    })
    .await;
}
