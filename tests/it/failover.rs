//! An agent given several management-plane replicas (`--server` twice) on one PostgreSQL: when
//! the replica it is on dies (kill -9), it is on the other within 5 s, says so in its metrics,
//! and a change made afterwards reaches its cluster.

use std::time::{Duration, Instant};

use crate::crds::install_crds;
use crate::distribute::{create_namespace, delete_namespace, hierarchy, owned_versions};
use crate::restart::api_apply;
use crate::support::cluster::Cluster;
use crate::support::mp::{Mp, admin_get, register_cluster, service_route, start_agent};
use crate::support::postgres::Postgres;
use crate::support::random_suffix;
use crate::support::wait::eventually;

const WAIT: Duration = Duration::from_secs(60);
/// How long the agent may take to be on another replica (issue 16).
const FAILOVER: Duration = Duration::from_secs(5);

/// The address the agent's metrics say its stream is open to, if any.
async fn connected_to(agent_admin: &str) -> Option<String> {
    let (_, metrics) = admin_get(agent_admin, "/metrics").await?;
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix("tsbridge_agent_upstream_connected{server=\"")?;
        let (server, value) = rest.split_once("\"} ")?;
        (value.trim() == "1").then(|| server.to_string())
    })
}

/// How many VirtualServices the agent of `cluster` has generated.
async fn virtual_services(client: &kube::Client, cluster: &str) -> Option<usize> {
    let owned = owned_versions(client, cluster).await.ok()?;
    Some(
        owned
            .keys()
            .filter(|k| k.starts_with("VirtualService/"))
            .count(),
    )
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn an_agent_moves_to_another_replica_when_its_replica_dies() {
    let suffix = random_suffix();
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("temp dir");
    // Two replicas on one database; the second reads the admin token the first generated.
    let mut first = Mp::start(&pg.url, dir.path(), &[]).await;
    let second = Mp::start(&pg.url, dir.path(), &[]).await;
    let api = second.clients(&second.token).await;
    let mut admin = first.clients(&first.token).await;

    let kube = Cluster::attach("cluster-b");
    let client = kube.client().await;
    install_crds(&client).await;
    let name = format!("cluster-b-f{suffix}");
    let app = format!("failover-{suffix}");
    create_namespace(&client, &app).await;
    register_cluster(&mut admin, &name, "organizations/acme").await;
    let tenant = format!("f-{suffix}");
    for object in &hierarchy(&tenant, &[format!("*/{app}")]) {
        api_apply(&admin, object).await;
    }
    let group = format!("organizations/acme/tenants/{tenant}/workspaces/ws/trafficgroups/tg");
    admin
        .config
        .apply(service_route(&group, &app, 0))
        .await
        .expect("route 0");

    let (mut agent, agent_admin) =
        start_agent(&first, &kube, &name, &app, &["--server", &second.url]);
    let on = eventually("the agent to connect", WAIT, || async {
        connected_to(&agent_admin).await
    })
    .await;
    assert_eq!(on, first.url, "the agent starts on the first address");
    eventually("the first route in the cluster", WAIT, || async {
        (virtual_services(&client, &name).await? == 1).then_some(())
    })
    .await;

    // From the signal on: kill_9 returns once the process is reaped, and by then the agent may
    // already be on the other replica.
    let killed = Instant::now();
    first.kill_9();
    let on = eventually("the agent to be on the other replica", WAIT, || async {
        connected_to(&agent_admin)
            .await
            .filter(|server| *server == second.url)
    })
    .await;
    let took = killed.elapsed();
    eprintln!("on the other replica {took:?} after the kill");
    assert_eq!(on, second.url);
    assert!(
        took <= FAILOVER,
        "the agent took {took:?} to reach the other replica; agent log:\n{}",
        agent.output()
    );

    // A change made through the surviving replica after the kill reaches the cluster.
    let mut api = api;
    api.config
        .apply(service_route(&group, &app, 1))
        .await
        .expect("route 1");
    eventually(
        "the route made after the kill in the cluster",
        WAIT,
        || async { (virtual_services(&client, &name).await? == 2).then_some(()) },
    )
    .await;
    assert!(agent.is_running(), "{}", agent.output());
    agent.kill();
    delete_namespace(&client, &app).await;
}
