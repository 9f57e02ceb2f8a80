//! The fault-injection soak (issue 17): three real clusters, the management plane (one replica
//! on SQLite, or two on one PostgreSQL), and an agent per cluster that reaches every replica
//! through a TCP proxy the harness controls. A driver changes the config the way Flux does
//! (server-side apply of creates and updates, deletes, and a tenancy change that moves every
//! generated object out of two clusters and back) while an injector performs faults drawn from
//! a seeded list. At the end, with no fault pending:
//!
//! * every cluster holds exactly the translation of the final config (no object Git does not
//!   hold, none missing, every spec equal: the same check as a checksum, with the difference
//!   named when it fails);
//! * the MP holds exactly the config's objects;
//! * every CR is Ready for its current generation (`observedGeneration == generation`);
//! * the audit shows no change twice (no entry repeats the one before it for the same object).
//!
//! Each fault's heal time (from undoing it until every cluster's agent is connected to a live
//! replica again, by the MP's view and its own, and answers ready) is printed with p50 and max, with the seed to replay.
//!
//! The control planes are `soak-a`, `soak-b` and `soak-c`, used by nothing else (an apiserver
//! restart would break other tests running at the same time); `tests/test.sh` starts them.
//!
//! Short by default, as CI runs it. `tests/soak.sh` runs the long one. Settings (environment):
//! `TSBRIDGE_SOAK_CHANGES` (500), `TSBRIDGE_SOAK_FAULTS` (10), `TSBRIDGE_SOAK_SEED` (random),
//! `TSBRIDGE_SOAK_PREFIX` (`soak`: the control planes' names).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::DeleteParams;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::support::cluster::Cluster;
use crate::support::mp::{Mp, register_cluster, start_agent_via};
use crate::support::postgres::Postgres;
use crate::support::process::ChildProcess;
use crate::support::proxy::{Mode, Proxy};
use crate::support::wait::eventually;

/// Control planes of its own: an apiserver restart must not hit other tests running meanwhile.
/// `TSBRIDGE_SOAK_PREFIX` (default `soak`) names them `<prefix>-a`, `-b`, `-c`.
fn clusters() -> [String; 3] {
    let prefix = std::env::var("TSBRIDGE_SOAK_PREFIX").unwrap_or_else(|_| "soak".into());
    ["a", "b", "c"].map(|c| format!("{prefix}-{c}"))
}
const ROUTES: usize = 12;
/// Short bounds so that a black hole heals in seconds (`docs/distribution.md`).
const KEEPALIVE: [&str; 4] = ["--keepalive-interval", "1s", "--keepalive-timeout", "3s"];

#[derive(Debug, Clone, Copy)]
struct Settings {
    changes: usize,
    faults: usize,
    seed: u64,
}

impl Settings {
    fn from_env() -> Settings {
        let number = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number")))
                .unwrap_or(default)
        };
        Settings {
            changes: usize::try_from(number("TSBRIDGE_SOAK_CHANGES", 500)).expect("fits"),
            faults: usize::try_from(number("TSBRIDGE_SOAK_FAULTS", 10)).expect("fits"),
            seed: number("TSBRIDGE_SOAK_SEED", rand::random::<u32>().into()),
        }
    }
}

/// One fault, with what it hits.
#[derive(Debug, Clone)]
enum Fault {
    /// kill -9 of a replica, started again after the pause.
    KillMp { replica: usize, down: Duration },
    /// SIGSTOP of a replica for a while.
    FreezeMp { replica: usize, frozen: Duration },
    /// kill -9 of an agent, started again at once.
    KillAgent { cluster: usize },
    /// A rolling update: the new agent starts, the old one gets SIGTERM (its Lease handed over).
    RollAgent { cluster: usize },
    /// SIGSTOP of an agent for a while.
    FreezeAgent { cluster: usize, frozen: Duration },
    /// The cluster's kube-apiserver killed and started again.
    RestartApiserver { cluster: usize },
    /// PostgreSQL killed and started again (crash recovery).
    RestartPostgres,
    /// A cluster's links to every replica cut, black-holed or slowed for a while.
    Link {
        cluster: usize,
        mode: Mode,
        lasting: Duration,
    },
}

fn draw(rng: &mut StdRng, replicas: usize, postgres: bool) -> Fault {
    let cluster = rng.random_range(0..3);
    let replica = rng.random_range(0..replicas);
    let pause = Duration::from_millis(rng.random_range(1_000..5_000));
    let choices = if postgres { 10 } else { 9 };
    match rng.random_range(0..choices) {
        0 => Fault::KillMp {
            replica,
            down: pause,
        },
        1 => Fault::FreezeMp {
            replica,
            frozen: pause,
        },
        2 => Fault::KillAgent { cluster },
        3 => Fault::RollAgent { cluster },
        4 => Fault::FreezeAgent {
            cluster,
            frozen: pause,
        },
        5 => Fault::RestartApiserver { cluster },
        6 => Fault::Link {
            cluster,
            mode: Mode::Cut,
            lasting: pause,
        },
        7 => Fault::Link {
            cluster,
            mode: Mode::BlackHole,
            lasting: pause + Duration::from_secs(3),
        },
        8 => Fault::Link {
            cluster,
            mode: Mode::slow(64 * 1024),
            lasting: pause,
        },
        _ => Fault::RestartPostgres,
    }
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid}");
}

/// One cluster under test: its control plane, its agent, and its proxies (one per replica).
struct Member {
    registered: String,
    cluster: Cluster,
    client: Client,
    proxies: Vec<Proxy>,
    agent: ChildProcess,
    admin: String,
}

/// Everything the soak runs.
struct Rig {
    pg: Option<Postgres>,
    replicas: Vec<Mp>,
    members: Vec<Member>,
    config_ns: String,
    app: String,
    tenant: String,
}

impl Rig {
    async fn start(postgres: bool, dir: &std::path::Path) -> Rig {
        let (pg, store, count) = if postgres {
            let pg = Postgres::start();
            let url = pg.url.clone();
            (Some(pg), url, 2)
        } else {
            let store = format!("sqlite:{}", dir.join("mp.db").display());
            (None, store, 1)
        };
        let mut replicas = Vec::new();
        for _ in 0..count {
            replicas.push(Mp::start(&store, dir, &KEEPALIVE).await);
        }
        let mut api = replicas[0].clients(&replicas[0].token).await;
        let suffix = crate::support::random_suffix();
        let config_ns = format!("soak-{suffix}-config");
        let app = format!("soak-{suffix}-app");
        let tenant = format!("t-{suffix}");
        let mut members = Vec::new();
        for name in clusters() {
            let cluster = Cluster::attach(&name);
            let client = cluster.client().await;
            crate::crds::install_crds(&client).await;
            crate::distribute::create_namespace(&client, &app).await;
            crate::distribute::create_namespace(&client, &config_ns).await;
            let registered = format!("{name}-{suffix}");
            register_cluster(&mut api, &registered, "organizations/acme").await;
            let mut proxies = Vec::new();
            for mp in &replicas {
                let target = mp.url.trim_start_matches("http://").parse().expect("addr");
                proxies.push(Proxy::start(target).await);
            }
            let (agent, admin) =
                spawn_agent(&replicas[0], &cluster, &registered, &config_ns, &proxies);
            members.push(Member {
                registered,
                cluster,
                client,
                proxies,
                agent,
                admin,
            });
        }
        Rig {
            pg,
            replicas,
            members,
            config_ns,
            app,
            tenant,
        }
    }

    /// Undoes nothing: performs `fault` and undoes it; returns when it is over.
    async fn inflict(&mut self, fault: &Fault) {
        match fault {
            Fault::KillMp { replica, down } => {
                self.replicas[*replica].kill_9();
                tokio::time::sleep(*down).await;
                self.replicas[*replica].restart().await;
            }
            Fault::FreezeMp { replica, frozen } => {
                let pid = self.replicas[*replica].process.id();
                signal(pid, "-STOP");
                tokio::time::sleep(*frozen).await;
                signal(pid, "-CONT");
            }
            Fault::KillAgent { cluster } => {
                self.members[*cluster].agent.kill();
                self.respawn(*cluster);
            }
            Fault::RollAgent { cluster } => {
                let old = self.respawn(*cluster);
                signal(old.id(), "-TERM");
                // Dropped (and killed if still running) once the new one has taken over.
                tokio::time::sleep(Duration::from_secs(2)).await;
                drop(old);
            }
            Fault::FreezeAgent { cluster, frozen } => {
                let pid = self.members[*cluster].agent.id();
                signal(pid, "-STOP");
                tokio::time::sleep(*frozen).await;
                signal(pid, "-CONT");
            }
            Fault::RestartApiserver { cluster } => {
                let name = &clusters()[*cluster];
                let status =
                    std::process::Command::new(crate::support::repo_path("tests/realk8s.sh"))
                        .arg("restart-apiserver")
                        .env("REALK8S_NAME", name)
                        .status()
                        .expect("realk8s.sh runs");
                assert!(status.success(), "restarting {name}'s apiserver");
            }
            Fault::RestartPostgres => {
                if let Some(pg) = &mut self.pg {
                    pg.crash_restart();
                }
            }
            Fault::Link {
                cluster,
                mode,
                lasting,
            } => {
                for proxy in &self.members[*cluster].proxies {
                    proxy.set(*mode);
                }
                tokio::time::sleep(*lasting).await;
                for proxy in &self.members[*cluster].proxies {
                    proxy.set(Mode::Pass);
                }
            }
        }
    }

    /// Starts a new agent for `cluster`; returns the one it replaces.
    fn respawn(&mut self, cluster: usize) -> ChildProcess {
        let member = &mut self.members[cluster];
        let (agent, admin) = spawn_agent(
            &self.replicas[0],
            &member.cluster,
            &member.registered,
            &self.config_ns,
            &member.proxies,
        );
        member.admin = admin;
        std::mem::replace(&mut member.agent, agent)
    }

    /// Waits until every cluster's agent is connected to a live replica and answers ready;
    /// returns how long that took.
    async fn healed(&self) -> Duration {
        let started = Instant::now();
        eventually(
            "every agent to be connected and ready again",
            Duration::from_secs(180),
            || async {
                let mut api = self.replicas[0].clients(&self.replicas[0].token).await;
                let clusters = api
                    .clusters
                    .list_clusters(tsbridge::proto::v1::ListClustersRequest::default())
                    .await
                    .ok()?
                    .into_inner()
                    .clusters;
                for member in &self.members {
                    let row = clusters.iter().find(|c| c.name == member.registered)?;
                    if !row.delivery.as_ref().is_some_and(|d| d.connected) {
                        return None;
                    }
                    // The agent's own view too: a replica restarted after kill -9 still
                    // shows the rows its predecessor wrote as connected until agents return.
                    let (code, body) =
                        crate::support::mp::admin_get(&member.admin, "/ready").await?;
                    if code != 200 || body.contains("degraded:") {
                        return None;
                    }
                }
                Some(())
            },
        )
        .await;
        started.elapsed()
    }
}

fn spawn_agent(
    mp: &Mp,
    cluster: &Cluster,
    name: &str,
    config_ns: &str,
    proxies: &[Proxy],
) -> (ChildProcess, String) {
    let urls: Vec<String> = proxies.iter().map(|p| p.url("http")).collect();
    let mut extra: Vec<&str> = KEEPALIVE.to_vec();
    for url in &urls[1..] {
        extra.extend(["--server", url]);
    }
    start_agent_via(
        &urls[0],
        mp,
        cluster,
        name,
        config_ns,
        &extra,
        "tsbridge=info,warn",
    )
}

/// A ServiceRoute CR for `svc-<k>` whose subset carries `version`.
fn route(tenant: &str, app: &str, k: usize, version: usize) -> Value {
    json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "ServiceRoute",
           "metadata": {"name": format!("svc-{k}"), "annotations": {
               "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant,
               "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/trafficGroup": "tg"}},
           "spec": {"service": format!("{app}/svc-{k}.{app}.svc.cluster.local"),
                    "subsets": [{"name": "v1", "labels": {"version": format!("v{version}")}, "weight": 100}]}})
}

/// What Git holds: the hierarchy (its workspace selecting `selector`) and the live routes.
#[derive(Debug, Clone)]
struct Git {
    tenant: String,
    app: String,
    selector: String,
    routes: BTreeMap<usize, usize>,
}

impl Git {
    fn objects(&self) -> Vec<Value> {
        let mut objects =
            crate::distribute::hierarchy(&self.tenant, std::slice::from_ref(&self.selector));
        for (k, version) in &self.routes {
            objects.push(route(&self.tenant, &self.app, *k, *version));
        }
        objects
    }
}

/// One change, as Flux makes it: an apply or a delete, retried while the apiserver is away.
async fn flux(client: &Client, ns: &str, object: &Value, delete: bool) {
    let api = crate::crds::dynamic_api(client, ns, object);
    let name = object["metadata"]["name"].as_str().expect("name");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = if delete {
            match api.delete(name, &DeleteParams::default()).await {
                Ok(_) => true,
                Err(kube::Error::Api(e)) if e.code == 404 => true,
                Err(_) => false,
            }
        } else {
            api.patch(
                name,
                &kube::api::PatchParams::apply("kustomize-controller").force(),
                &kube::api::Patch::Apply(object),
            )
            .await
            .is_ok()
        };
        if done {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the apiserver refused for 120 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn soak(postgres: bool) {
    let settings = Settings::from_env();
    let store = if postgres {
        "postgres (2 replicas)"
    } else {
        "sqlite"
    };
    eprintln!(
        "soak on {store}: {} changes, {} faults, TSBRIDGE_SOAK_SEED={}",
        settings.changes, settings.faults, settings.seed
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rig = Rig::start(postgres, dir.path()).await;
    let everywhere = format!("*/{}", rig.app);
    let mut git = Git {
        tenant: rig.tenant.clone(),
        app: rig.app.clone(),
        selector: everywhere.clone(),
        routes: (0..ROUTES).map(|k| (k, 0)).collect(),
    };
    let source = rig.members[0].client.clone();
    let config_ns = rig.config_ns.clone();
    for object in git.objects() {
        flux(&source, &config_ns, &object, false).await;
    }
    rig.healed().await;

    // The driver: its own task, so faults land in the middle of changes.
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let driver = {
        let mut git = git.clone();
        let mut rng = StdRng::seed_from_u64(settings.seed ^ 0x5eed);
        let (client, ns) = (source.clone(), config_ns.clone());
        let only_a = format!("{}/{}", rig.members[0].registered, rig.app);
        let changes = settings.changes;
        // Spread over the faults (about 8 s each with their heal), so faults land mid-churn.
        let pace =
            Duration::from_millis((8_000 * settings.faults as u64 / changes.max(1) as u64).max(20));
        tokio::spawn(async move {
            for n in 1..=changes {
                let k = rng.random_range(0..ROUTES);
                if n % 100 == 50 || n % 100 == 60 {
                    // Tenancy: the workspace moves to cluster-a alone, then back.
                    git.selector = if n % 100 == 50 {
                        only_a.clone()
                    } else {
                        everywhere.clone()
                    };
                    let workspace = crate::distribute::hierarchy(
                        &git.tenant,
                        std::slice::from_ref(&git.selector),
                    )
                    .into_iter()
                    .find(|o| o["kind"] == "Workspace")
                    .expect("workspace");
                    flux(&client, &ns, &workspace, false).await;
                } else if git.routes.contains_key(&k) && rng.random_range(0..10) == 0 {
                    git.routes.remove(&k);
                    flux(&client, &ns, &route(&git.tenant, &git.app, k, 0), true).await;
                } else {
                    git.routes.insert(k, n);
                    flux(&client, &ns, &route(&git.tenant, &git.app, k, n), false).await;
                }
                tokio::time::sleep(pace).await;
            }
            git.selector = everywhere;
            let workspace =
                crate::distribute::hierarchy(&git.tenant, std::slice::from_ref(&git.selector))
                    .into_iter()
                    .find(|o| o["kind"] == "Workspace")
                    .expect("workspace");
            flux(&client, &ns, &workspace, false).await;
            git
        })
    };

    // The injector: faults spread over the churn, each undone and healed before the next.
    let mut heals = Vec::new();
    for n in 0..settings.faults {
        let fault = draw(&mut rng, rig.replicas.len(), postgres);
        let started = Instant::now();
        rig.inflict(&fault).await;
        let heal = rig.healed().await;
        eprintln!(
            "fault {n}: {fault:?}: {:.1} s, healed {:.1} s later",
            started.elapsed().as_secs_f64(),
            heal.as_secs_f64()
        );
        heals.push(heal);
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1_500))).await;
    }
    git = driver.await.expect("driver");
    heals.sort();
    if let (Some(max), false) = (heals.last(), heals.is_empty()) {
        eprintln!(
            "soak on {store}: {} faults healed in p50 {:.1} s, max {:.1} s (TSBRIDGE_SOAK_SEED={})",
            heals.len(),
            heals[heals.len() / 2].as_secs_f64(),
            max.as_secs_f64(),
            settings.seed
        );
    }
    verify(&rig, &git).await;
    for member in &rig.members {
        crate::distribute::delete_namespace(&member.client, &rig.app).await;
        crate::distribute::delete_namespace(&member.client, &rig.config_ns).await;
    }
}

/// The verdict, with no fault pending.
async fn verify(rig: &Rig, git: &Git) {
    let config = git.objects();
    // Every cluster: exactly the translation of the final config.
    for member in &rig.members {
        let expected = crate::replicas::expected_specs(
            &member.registered,
            &config,
            std::slice::from_ref(&rig.app),
        );
        assert!(!expected.is_empty());
        let mut last = BTreeMap::new();
        let settled = tokio::time::timeout(Duration::from_secs(120), async {
            loop {
                if let Ok(live) =
                    crate::distribute::owned_specs(&member.client, &member.registered).await
                {
                    if live == expected {
                        return;
                    }
                    last = live;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await;
        if settled.is_err() {
            let extra: Vec<_> = last.keys().filter(|k| !expected.contains_key(*k)).collect();
            let missing: Vec<_> = expected.keys().filter(|k| !last.contains_key(*k)).collect();
            let differ: Vec<_> = expected
                .iter()
                .filter(|(k, v)| last.get(*k).is_some_and(|l| l != *v))
                .map(|(k, _)| k)
                .collect();
            panic!(
                "{} does not hold the final config: extra {extra:?}, missing {missing:?}, different {differ:?}",
                member.registered
            );
        }
    }
    // The MP: exactly the config's objects (by name under the tenant).
    let api = rig.replicas[0].clients(&rig.replicas[0].token).await;
    let prefix = format!("organizations/acme/tenants/{}", rig.tenant);
    let held = crate::support::mp::list_fqns(&api, &prefix).await;
    let routes: Vec<&String> = held
        .iter()
        .filter(|f| f.contains("/serviceroutes/"))
        .collect();
    assert_eq!(
        routes.len(),
        git.routes.len(),
        "the MP holds {routes:?}; Git holds routes {:?}",
        git.routes.keys().collect::<Vec<_>>()
    );
    // Every CR: Ready for its current generation.
    for object in &config {
        let api = crate::crds::dynamic_api(&rig.members[0].client, &rig.config_ns, object);
        let name = object["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        eventually(
            &format!("{} {name} to be Ready for its generation", object["kind"]),
            Duration::from_secs(60),
            || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let live = api.get(&name).await.ok()?;
                    let generation = live.metadata.generation?;
                    let status = &live.data["status"];
                    let ready = status["conditions"]
                        .as_array()?
                        .iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True");
                    (ready && status["observedGeneration"] == generation).then_some(())
                }
            },
        )
        .await;
    }
    // The audit: no change recorded twice in a row for one object.
    let entries = crate::support::mp::audit_entries(&api).await;
    let mut last: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    for entry in entries
        .iter()
        .rev()
        .filter(|e| e.outcome == "ok" && e.fqn.starts_with(&prefix))
    {
        let now = (entry.before_hash.as_str(), entry.after_hash.as_str());
        assert_ne!(
            last.insert(entry.fqn.as_str(), now),
            Some(now),
            "{} was audited twice for the same change ({}: {} → {})",
            entry.fqn,
            entry.operation,
            entry.before_hash,
            entry.after_hash
        );
    }
}

#[tokio::test]
#[ignore = "needs the soak-a, soak-b and soak-c control planes"]
async fn a_soak_of_changes_and_faults_on_sqlite_ends_with_every_cluster_equal_to_git() {
    soak(false).await;
}

#[tokio::test]
#[ignore = "needs the soak-a, soak-b and soak-c control planes"]
async fn a_soak_of_changes_and_faults_on_postgres_with_two_replicas_ends_equal_to_git() {
    soak(true).await;
}
