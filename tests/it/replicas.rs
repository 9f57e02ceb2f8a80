//! Several management-plane replicas on one PostgreSQL: every replica sees every cluster's
//! edges, whichever replica the agent talks to; a held prune is confirmed through any of them;
//! an agent that moves to another replica resumes with deltas; a stale stream cannot touch a
//! newer one. Agents are sync streams opened by hand (the protocol, not Kubernetes), so this
//! runs without clusters.

use std::time::Duration;

use serde_json::json;
use tsbridge::proto::convert::json_to_struct;
use tsbridge::proto::v1;
use tsbridge::proto::v1::agent_message::Message as Up;

use crate::restart::Stream;
use crate::support::mp::{Clients, Mp, register_cluster};
use crate::support::postgres::Postgres;
use crate::support::wait::eventually;

const WAIT: Duration = Duration::from_secs(20);

fn apply(
    kind: &str,
    api_version: &str,
    name: &str,
    parent: &str,
    spec: serde_json::Value,
) -> v1::ApplyRequest {
    v1::ApplyRequest {
        resource: Some(v1::Resource {
            api_version: api_version.into(),
            kind: kind.into(),
            name: name.into(),
            parent_fqn: parent.into(),
            spec: Some(json_to_struct(&spec)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A tenant, a workspace selecting `*/app`, and a traffic group.
async fn hierarchy(api: &mut Clients) -> String {
    let tenant = "organizations/acme/tenants/t";
    let workspace = format!("{tenant}/workspaces/w");
    for request in [
        apply(
            "Tenant",
            "tsb.tetrate.io/v2",
            "t",
            "organizations/acme",
            json!({}),
        ),
        apply(
            "Workspace",
            "tsb.tetrate.io/v2",
            "w",
            tenant,
            json!({"namespaceSelector": {"names": ["*/app"]}}),
        ),
        apply(
            "Group",
            "traffic.tsb.tetrate.io/v2",
            "g",
            &workspace,
            json!({"configMode": "BRIDGED", "namespaceSelector": {"names": ["*/app"]}}),
        ),
    ] {
        api.config.apply(request).await.expect("hierarchy");
    }
    format!("{workspace}/trafficgroups/g")
}

fn setting(group: &str, host: &str) -> v1::ApplyRequest {
    apply(
        "TrafficSetting",
        "traffic.tsb.tetrate.io/v2",
        "ts",
        group,
        json!({"reachability": {"mode": "CUSTOM", "hosts": [host]}}),
    )
}

/// Opens `cluster`'s stream on `mp` holding `revision`/`checksum`, with a complete namespace
/// list of `app`.
async fn agent(mp: &Mp, cluster: &str, revision: u64, checksum: &str) -> Stream {
    let stream = Stream::open_with(
        mp,
        v1::Hello {
            cluster: cluster.into(),
            last_applied_revision: revision,
            checksum: checksum.into(),
            ..Default::default()
        },
    )
    .await;
    stream
        .send(Up::Namespaces(v1::NamespaceInventory {
            full: true,
            upserts: vec![v1::Namespace {
                name: "app".into(),
                ..Default::default()
            }],
            complete: true,
            ..Default::default()
        }))
        .await;
    stream
}

/// What a stream holds: its last complete revision and checksum, and whether any was full.
#[derive(Debug, Default)]
struct Held {
    revision: u64,
    checksum: String,
    fulls: usize,
    confirmed: bool,
    upserts: usize,
}

/// Reads deltas for `window`, acknowledging every complete revision (with `hold` on full ones
/// when given).
async fn drain(
    stream: &mut Stream,
    window: Duration,
    hold: Option<&v1::PruneHold>,
    held: &mut Held,
) {
    for delta in stream.deltas(window).await {
        held.upserts += delta.upserts.len();
        if delta.full && delta.last {
            held.fulls += 1;
        }
        held.confirmed |= delta.confirm_prune;
        if delta.last {
            held.revision = delta.revision;
            held.checksum.clone_from(&delta.checksum);
            stream
                .send(Up::Ack(v1::Ack {
                    revision: delta.revision,
                    prune_held: if delta.full { hold.cloned() } else { None },
                    ..Default::default()
                }))
                .await;
        }
    }
}

async fn status(api: &mut Clients, fqn: &str) -> v1::ResourceStatus {
    api.status
        .get_status(v1::GetStatusRequest { fqn: fqn.into() })
        .await
        .expect("status")
        .into_inner()
}

/// A replica killed with -9 never says its clusters are gone: the others stop counting them
/// connected once it has been silent for three heartbeats, not when their agents come back.
#[tokio::test]
async fn a_killed_replicas_clusters_are_shown_disconnected_by_the_others() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = Mp::start(&pg.url, dir.path(), &[]).await;
    let b = Mp::start(&pg.url, dir.path(), &[]).await;
    let mut api_a = a.clients(&a.token).await;
    let mut api_b = b.clients(&b.token).await;
    register_cluster(&mut api_a, "eu", "organizations/acme").await;
    hierarchy(&mut api_a).await;
    let mut eu = agent(&a, "eu", 0, "").await;
    drain(&mut eu, Duration::from_secs(2), None, &mut Held::default()).await;
    let connected = |api: &mut Clients| {
        let mut api = api.clone();
        async move {
            let cluster = api
                .clusters
                .get_cluster(v1::GetClusterRequest { name: "eu".into() })
                .await
                .ok()?
                .into_inner();
            cluster.delivery.map(|d| d.connected)
        }
    };
    eventually("replica b to show eu connected through a", WAIT, || {
        let shown = connected(&mut api_b);
        async move { (shown.await == Some(true)).then_some(()) }
    })
    .await;
    a.kill_9();
    eventually(
        "replica b to show eu disconnected",
        Duration::from_secs(40),
        || {
            let shown = connected(&mut api_b);
            async move { (shown.await == Some(false)).then_some(()) }
        },
    )
    .await;
    drop(eu);
}

/// A database that lost commits it had acknowledged (synchronous_commit=off and a crash, or a
/// failover to a lagging standby) is behind what the replica read: writing on would reuse
/// revisions already distributed. The write is refused by name, not retried as "busy" forever.
#[tokio::test]
async fn a_store_that_lost_acknowledged_commits_is_named_not_called_busy() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mp = Mp::start(&pg.url, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    let group = hierarchy(&mut api).await;
    api.config
        .apply(setting(&group, "./*"))
        .await
        .expect("setting");
    // The last commit is lost, as a crash with synchronous_commit=off loses it.
    let db = sqlx::PgPool::connect(&pg.url).await.expect("connect");
    let revision: i64 = sqlx::query_scalar("SELECT revision FROM meta WHERE id = 1")
        .fetch_one(&db)
        .await
        .expect("meta");
    for statement in [
        "DELETE FROM revisions WHERE revision = $1",
        "DELETE FROM resources WHERE revision = $1",
        "UPDATE meta SET revision = $1 - 1 WHERE id = 1",
    ] {
        sqlx::query(statement)
            .bind(revision)
            .execute(&db)
            .await
            .expect(statement);
    }
    let refused = api
        .config
        .apply(setting(&group, "./other"))
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    let expected = format!(
        "the store is at revision {}, behind this replica's {revision}",
        revision - 1
    );
    assert!(
        refused.message().contains(&expected) && refused.message().contains("restart"),
        "{refused:?}"
    );
    // A restarted replica reads the store as it is, and writes again.
    drop(api);
    drop(mp);
    let mp = Mp::start(&pg.url, dir.path(), &[]).await;
    let mut api = mp.clients(&mp.token).await;
    api.config
        .apply(setting(&group, "./other"))
        .await
        .expect("written after the restart");
}

#[tokio::test]
async fn every_replica_sees_every_cluster_and_an_agent_moves_between_them() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let a = Mp::start(&pg.url, dir.path(), &[]).await;
    let b = Mp::start(&pg.url, dir.path(), &[]).await;
    let mut api_a = a.clients(&a.token).await;
    let mut api_b = b.clients(&b.token).await;
    register_cluster(&mut api_a, "eu", "organizations/acme").await;
    register_cluster(&mut api_a, "us", "organizations/acme").await;
    let group = hierarchy(&mut api_a).await;

    // eu talks to replica a, us to replica b.
    let mut eu = agent(&a, "eu", 0, "").await;
    let mut us = agent(&b, "us", 0, "").await;
    let hold = v1::PruneHold {
        count: 7,
        owned: 8,
        message: "held by the test".into(),
        ..Default::default()
    };
    let (mut eu_held, mut us_held) = (Held::default(), Held::default());
    drain(&mut eu, Duration::from_secs(2), None, &mut eu_held).await;
    drain(&mut us, Duration::from_secs(2), Some(&hold), &mut us_held).await;
    assert_eq!(us_held.fulls, 1, "a new agent gets one full resync");

    // A change written through replica a reaches both; both replicas count both clusters.
    api_a
        .config
        .apply(setting(&group, "./*"))
        .await
        .expect("setting");
    drain(&mut eu, Duration::from_secs(2), None, &mut eu_held).await;
    drain(&mut us, Duration::from_secs(2), None, &mut us_held).await;
    assert!(
        eu_held.upserts > 0 && us_held.upserts > 0,
        "{eu_held:?} {us_held:?}"
    );
    let fqn = format!("{group}/settings/ts");
    for (name, api) in [("a", &mut api_a), ("b", &mut api_b)] {
        let api = &mut *api;
        let shown = eventually(
            &format!("replica {name} to count both clusters"),
            WAIT,
            || {
                let mut api = api.clone();
                let fqn = fqn.clone();
                async move {
                    let status = status(&mut api, &fqn).await;
                    (status.message == "applied in 2 of 2 clusters").then_some(status)
                }
            },
        )
        .await;
        let clusters: Vec<&str> = shown.clusters.iter().map(|c| c.cluster.as_str()).collect();
        assert_eq!(clusters, ["eu", "us"], "replica {name}");
    }

    // Both replicas say who serves us and that it is connected and up to date.
    let mut shown = Vec::new();
    for api in [&mut api_a, &mut api_b] {
        let cluster = api
            .clusters
            .get_cluster(v1::GetClusterRequest { name: "us".into() })
            .await
            .expect("cluster")
            .into_inner();
        let delivery = cluster.delivery.expect("us has connected");
        assert!(delivery.connected && delivery.behind == 0, "{delivery:?}");
        assert_eq!(delivery.held_prune, 7, "{delivery:?}");
        shown.push(delivery.replica);
    }
    assert_eq!(shown[0], shown[1], "the replicas disagree on who serves us");

    // us's agent held the prune of its full resync; replica a, which does not serve us,
    // confirms it, and replica b sends the confirmed full resync.
    api_a
        .clusters
        .confirm_deletions(v1::ConfirmDeletionsRequest {
            cluster: "us".into(),
        })
        .await
        .expect("confirm-deletions through the other replica");
    drain(&mut us, Duration::from_secs(3), None, &mut us_held).await;
    assert!(
        us_held.confirmed,
        "no confirmed full resync reached us: {us_held:?}"
    );

    // eu moves to replica b, holding exactly what it acknowledged: deltas only. Its old
    // stream on a stays open and is sent nothing more.
    let fulls = eu_held.fulls;
    let mut moved = agent(&b, "eu", eu_held.revision, &eu_held.checksum).await;
    let mut moved_held = Held {
        revision: eu_held.revision,
        checksum: eu_held.checksum.clone(),
        ..Held::default()
    };
    drain(&mut moved, Duration::from_secs(2), None, &mut moved_held).await;
    assert_eq!(
        moved_held.fulls, 0,
        "resumed with a full resync: {moved_held:?}"
    );
    api_a
        .config
        .apply(setting(&group, "istio-system/*"))
        .await
        .expect("change");
    drain(&mut moved, Duration::from_secs(2), None, &mut moved_held).await;
    assert!(
        moved_held.upserts > 0,
        "the change reached eu on its new replica"
    );
    drain(&mut us, Duration::from_secs(1), None, &mut us_held).await;
    let before = eu_held.upserts;
    drain(&mut eu, Duration::from_secs(1), None, &mut eu_held).await;
    assert_eq!(
        eu_held.upserts, before,
        "the stale stream on replica a was sent the change"
    );
    assert_eq!(eu_held.fulls, fulls);
    // And both replicas still count eu as applied.
    for (name, api) in [("a", &mut api_a), ("b", &mut api_b)] {
        let api = &mut *api;
        eventually(
            &format!("replica {name} to count both clusters again"),
            WAIT,
            || {
                let mut api = api.clone();
                let fqn = fqn.clone();
                async move {
                    let status = status(&mut api, &fqn).await;
                    (status.message == "applied in 2 of 2 clusters").then_some(())
                }
            },
        )
        .await;
    }
}

/// What the model says `cluster` must hold, by `Kind/namespace/name`, with each object's spec.
pub(crate) fn expected_specs(
    cluster: &str,
    config: &[serde_json::Value],
    namespaces: &[String],
) -> std::collections::BTreeMap<String, serde_json::Value> {
    crate::support::fanout::expected_translation(cluster, config, namespaces)
        .objects
        .values()
        .map(|g| {
            (
                format!("{}/{}/{}", g.kind, g.namespace, g.name),
                g.spec.clone(),
            )
        })
        .collect()
}

/// A ServiceRoute CR for `svc-<k>` in `ns` whose subset carries `version`.
fn churned_route(tenant: &str, ns: &str, k: usize, version: usize) -> serde_json::Value {
    json!({"apiVersion": "traffic.tsb.tetrate.io/v2", "kind": "ServiceRoute",
           "metadata": {"name": format!("svc-{k}"), "annotations": {
               "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": tenant,
               "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/trafficGroup": "tg"}},
           "spec": {"service": format!("{ns}/svc-{k}.{ns}.svc.cluster.local"),
                    "subsets": [{"name": "v1", "labels": {"version": format!("v{version}")}, "weight": 100}]}})
}

/// Times the agent said it connected to a management plane.
fn connections(agent: &crate::support::process::ChildProcess) -> usize {
    agent
        .output()
        .matches("connected to the management plane")
        .count()
}

/// Three replicas on one PostgreSQL and three real clusters, each agent at home on its own
/// replica with the other two as fallbacks. Config comes from cluster-a's CRs (so its agent
/// writes the status every replica computes); a churn of 1,000 CR changes runs while the
/// replica serving cluster-b is killed: its agent is on another replica within 5 s, every
/// cluster ends up holding exactly the translation of the final config, and every replica
/// counts the config applied in all three clusters.
#[tokio::test]
#[ignore = "needs the cluster-a, cluster-b and cluster-c control planes"]
async fn a_replica_killed_during_a_churn_loses_nothing_and_its_agent_moves_within_five_seconds() {
    use crate::crds::install_crds;
    use crate::distribute::{create_namespace, hierarchy, owned_specs};
    use crate::support::cluster::Cluster;
    use crate::support::mp::start_agent;

    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(Mp::start(&pg.url, dir.path(), &[]).await);
    }
    let mut api = replicas[0].clients(&replicas[0].token).await;
    let suffix = crate::support::random_suffix();
    let config_ns = format!("rep-{suffix}-config");
    let app = format!("rep-{suffix}-app");
    let tenant = format!("t-{suffix}");
    let mut members = Vec::new();
    for name in ["cluster-a", "cluster-b", "cluster-c"] {
        let cluster = Cluster::attach(name);
        let client = cluster.client().await;
        install_crds(&client).await;
        create_namespace(&client, &app).await;
        let registered = format!("{name}-{suffix}");
        register_cluster(&mut api, &registered, "organizations/acme").await;
        members.push((registered, cluster, client));
    }
    create_namespace(&members[0].2, &config_ns).await;
    let mut agents = Vec::new();
    for (i, (name, cluster, _)) in members.iter().enumerate() {
        let others = [
            "--server",
            &replicas[(i + 1) % 3].url,
            "--server",
            &replicas[(i + 2) % 3].url,
        ];
        agents.push(start_agent(&replicas[i], cluster, name, &config_ns, &others).0);
    }
    const ROUTES: usize = 20;
    let mut config = hierarchy(&tenant, &[format!("*/{app}")]);
    for k in 0..ROUTES {
        config.push(churned_route(&tenant, &app, k, 0));
    }
    for object in &config {
        crate::agent::flux_apply(&members[0].2, &config_ns, object).await;
    }

    // The churn: 1,000 changes to the routes' CRs, the way Flux applies them.
    let churn = {
        let client = members[0].2.clone();
        let (config_ns, app, tenant) = (config_ns.clone(), app.clone(), tenant.clone());
        tokio::spawn(async move {
            for n in 1..=1000 {
                let route = churned_route(&tenant, &app, n % ROUTES, n);
                crate::agent::flux_apply(&client, &config_ns, &route).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = connections(&agents[1]);
    replicas[1].kill_9();
    let killed = std::time::Instant::now();
    eventually(
        "cluster-b's agent to connect to another replica",
        WAIT,
        || async { (connections(&agents[1]) > before).then_some(()) },
    )
    .await;
    let moved_after = killed.elapsed();
    assert!(
        moved_after <= Duration::from_secs(5),
        "cluster-b's agent took {moved_after:?} to reach another replica"
    );
    churn.await.expect("churn");

    // The final config: the hierarchy and each route's last version.
    let mut last = hierarchy(&tenant, &[format!("*/{app}")]);
    for k in 0..ROUTES {
        let version = (1..=1000).filter(|n| n % ROUTES == k).max().unwrap_or(0);
        last.push(churned_route(&tenant, &app, k, version));
    }
    for (name, _, client) in &members {
        let expected = expected_specs(name, &last, std::slice::from_ref(&app));
        assert!(expected.len() > 2 * ROUTES, "{expected:?}");
        eventually(
            &format!("{name} to hold exactly the final config"),
            Duration::from_secs(90),
            || async {
                let live = owned_specs(client, name).await.ok()?;
                (live == expected).then_some(())
            },
        )
        .await;
    }
    // Every replica still standing counts the setting applied in all three clusters.
    let fqn =
        format!("organizations/acme/tenants/{tenant}/workspaces/ws/trafficgroups/tg/settings/ts");
    for index in [0, 2] {
        let api = replicas[index].clients(&replicas[index].token).await;
        eventually(
            &format!("replica {index} to count three clusters"),
            Duration::from_secs(60),
            || {
                let mut api = api.clone();
                let fqn = fqn.clone();
                async move {
                    let status = status(&mut api, &fqn).await;
                    eprintln!("replica {index}: {} {:?}", status.message, status.clusters);
                    (status.message == "applied in 3 of 3 clusters").then_some(())
                }
            },
        )
        .await;
    }
    // And the origin CR in cluster-a says so too.
    let ts = config
        .iter()
        .find(|o| o["kind"] == "TrafficSetting")
        .expect("setting");
    eventually("the TrafficSetting CR to say 3 of 3", WAIT, || async {
        let live = crate::crds::dynamic_api(&members[0].2, &config_ns, ts)
            .get("ts")
            .await
            .ok()?;
        let clusters = &live.data["status"]["tsb"]["clusters"];
        (clusters["applied"] == 3 && clusters["targeted"] == 3).then_some(())
    })
    .await;
    for (_, _, client) in &members {
        crate::distribute::delete_namespace(client, &app).await;
    }
    crate::distribute::delete_namespace(&members[0].2, &config_ns).await;
}
