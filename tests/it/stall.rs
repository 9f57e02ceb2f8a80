//! Stall detection (issue 17, part 2): a link that stops moving without an error is noticed by
//! both sides within `--keepalive-interval` + `--keepalive-timeout`, shown in metrics and in
//! `ctl cluster list`, and healed by reconnecting; a cut link reconnects, and a slow one whose
//! bytes still move is left alone. The link is `support::proxy`.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tsbridge::proto::v1;
use tsbridge::proto::v1::agent_message::Message as Up;
use tsbridge::proto::v1::agent_sync_service_client::AgentSyncServiceClient;
use tsbridge::proto::v1::server_message::Message as Down;

use crate::crds::install_crds;
use crate::distribute::{create_namespace, delete_namespace, hierarchy, owned_versions};
use crate::restart::api_apply;
use crate::support::cluster::Cluster;
use crate::support::mp::{Mp, admin_get, register_cluster, service_route, start_agent_via};
use crate::support::proxy::{Mode, Proxy};
use crate::support::random_suffix;
use crate::support::wait::eventually;

const WAIT: Duration = Duration::from_secs(60);
/// Short keepalives for tests: a stall is noticed within 1 s + 2 s.
const KEEPALIVE: [&str; 4] = ["--keepalive-interval", "1s", "--keepalive-timeout", "2s"];
const BOUND: Duration = Duration::from_secs(3);
/// What polling the metrics (every 100 ms) and scheduling may add to the bound.
const SLACK: Duration = Duration::from_secs(2);

/// The sum of every sample of `name` whose labels contain `labels` (e.g. `cluster="eu"`).
fn sample(metrics: &str, name: &str, labels: &str) -> f64 {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (series, value) = rest.rsplit_once(' ')?;
            (series.is_empty() || series.starts_with('{'))
                .then_some(())
                .filter(|()| series.contains(labels))?;
            value.trim().parse::<f64>().ok()
        })
        .sum()
}

/// A metric of the process behind `admin_url`, 0 when it has no such sample yet.
async fn metric(admin_url: &str, name: &str, labels: &str) -> Option<f64> {
    let (_, text) = admin_get(admin_url, "/metrics").await?;
    Some(sample(&text, name, labels))
}

/// Whether `ctl cluster list` says the MP holds a stream of `cluster`.
fn connected(mp: &Mp, cluster: &str) -> Option<bool> {
    let out = mp.ctl(&["cluster", "list", "-o", "json"]);
    assert!(out.status.success(), "{out:?}");
    let clusters: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    clusters
        .as_array()?
        .iter()
        .find(|c| c["name"] == cluster)
        .map(|c| c["delivery"]["connected"] == Value::Bool(true))
}

async fn sqlite_mp(dir: &tempfile::TempDir) -> Mp {
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    Mp::start(&store, dir.path(), &KEEPALIVE).await
}

/// A sync stream that says hello as `cluster`, announcing heartbeats every 500 ms; the caller
/// sends them (or not) through the returned sender. Its connection is a plain tonic channel, so
/// hyper answers the MP's HTTP/2 PINGs whatever the stream does.
async fn raw_stream(
    mp: &Mp,
    cluster: &str,
) -> (
    mpsc::Sender<v1::AgentMessage>,
    tonic::Streaming<v1::ServerMessage>,
    v1::Welcome,
) {
    let channel = Endpoint::from_shared(mp.url.clone())
        .expect("URL")
        .connect()
        .await
        .expect("connects");
    let bearer = tsbridge::cli::ctl::client::Bearer::token(&mp.token).expect("token");
    let mut client = AgentSyncServiceClient::with_interceptor(channel, bearer);
    let (tx, rx) = mpsc::channel(16);
    tx.send(up(Up::Hello(v1::Hello {
        cluster: cluster.to_string(),
        agent_version: "test".into(),
        heartbeat_interval_ms: 500,
        ..Default::default()
    })))
    .await
    .expect("hello queued");
    let mut incoming = client
        .sync(ReceiverStream::new(rx))
        .await
        .expect("sync opens")
        .into_inner();
    let welcome = match incoming.message().await.expect("welcome") {
        Some(v1::ServerMessage {
            message: Some(Down::Welcome(welcome)),
        }) => welcome,
        other => panic!("not a welcome: {other:?}"),
    };
    (tx, incoming, welcome)
}

fn up(message: Up) -> v1::AgentMessage {
    v1::AgentMessage {
        message: Some(message),
    }
}

#[tokio::test]
async fn the_mp_closes_a_stream_whose_agent_falls_silent_though_its_connection_answers_pings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mp = sqlite_mp(&dir).await;
    let mut api = mp.clients(&mp.token).await;
    register_cluster(&mut api, "quiet", "organizations/acme").await;
    let (tx, mut incoming, welcome) = raw_stream(&mp, "quiet").await;
    assert_eq!(
        welcome.heartbeat_interval_ms, 1_000,
        "the MP announces --keepalive-interval"
    );
    assert_eq!(connected(&mp, "quiet"), Some(true));

    // Heartbeats every 500 ms keep the stream open well past the bound (500 ms + 2 s).
    let beating = tokio::spawn({
        let tx = tx.clone();
        async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if tx.send(up(Up::Heartbeat(v1::Heartbeat {}))).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut heard = 0;
    let alive_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < alive_until {
        match tokio::time::timeout_at(alive_until.into(), incoming.message()).await {
            Err(_) => break,
            Ok(Ok(Some(v1::ServerMessage {
                message: Some(Down::Heartbeat(_)),
            }))) => heard += 1,
            Ok(Ok(Some(_))) => {}
            Ok(other) => panic!("the stream ended while the agent sent heartbeats: {other:?}"),
        }
    }
    beating.await.expect("heartbeats sent");
    assert!(
        heard >= 3,
        "the MP sends its own heartbeats ({heard} in 5 s)"
    );
    assert_eq!(
        metric(
            &mp.admin_url,
            "tsbridge_server_agent_stalls_total",
            "cluster=\"quiet\""
        )
        .await,
        Some(0.0)
    );

    // Then silence: the stream stays open (the sender lives), the connection answers PINGs,
    // and still the MP ends the stream once the bound has passed.
    let silent_since = Instant::now();
    let ended = loop {
        match tokio::time::timeout(WAIT, incoming.message()).await {
            Err(_) => panic!("the MP kept a silent stream open for {WAIT:?}"),
            Ok(Ok(Some(_))) => {}
            Ok(ended) => break ended,
        }
    };
    let took = silent_since.elapsed();
    drop(tx);
    let status = ended.expect_err("the MP ends the stream with an error");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
    assert!(status.message().contains("stalled"), "{status}");
    let allowed = Duration::from_millis(500) + Duration::from_secs(2);
    assert!(
        took + Duration::from_millis(100) >= allowed && took <= allowed + SLACK,
        "ended after {took:?}; the bound is {allowed:?}"
    );
    eventually("the MP to count the stall", WAIT, || async {
        let stalls = metric(
            &mp.admin_url,
            "tsbridge_server_agent_stalls_total",
            "cluster=\"quiet\"",
        )
        .await?;
        (stalls == 1.0).then_some(())
    })
    .await;
    assert_eq!(connected(&mp, "quiet"), Some(false), "ctl cluster list");
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

/// The agent's and the MP's view of one link, read from their metrics.
struct Link<'a> {
    mp: &'a Mp,
    agent_admin: &'a str,
    server: String,
    cluster: &'a str,
}

impl Link<'_> {
    async fn agent(&self, name: &str) -> Option<f64> {
        metric(
            self.agent_admin,
            name,
            &format!("server=\"{}\"", self.server),
        )
        .await
    }

    async fn mp(&self, name: &str) -> Option<f64> {
        metric(
            &self.mp.admin_url,
            name,
            &format!("cluster=\"{}\"", self.cluster),
        )
        .await
    }

    /// (agent stalls, MP stalls, agent reconnects).
    async fn counts(&self) -> Option<(f64, f64, f64)> {
        Some((
            self.agent("tsbridge_agent_upstream_stalls_total").await?,
            self.mp("tsbridge_server_agent_stalls_total").await?,
            self.agent("tsbridge_agent_upstream_reconnects_total")
                .await?,
        ))
    }

    async fn up(&self) -> Option<()> {
        let on = self.agent("tsbridge_agent_upstream_connected").await?;
        (on == 1.0 && connected(self.mp, self.cluster)?).then_some(())
    }
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn an_agent_behind_a_black_holed_cut_or_slow_link_notices_reconnects_and_catches_up() {
    let suffix = random_suffix();
    let dir = tempfile::tempdir().expect("temp dir");
    let mp = sqlite_mp(&dir).await;
    let target = mp
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let proxy = Proxy::start(target).await;
    let mut api = mp.clients(&mp.token).await;

    let kube = Cluster::attach("cluster-c");
    let client = kube.client().await;
    install_crds(&client).await;
    let name = format!("cluster-c-s{suffix}");
    let app = format!("stall-{suffix}");
    create_namespace(&client, &app).await;
    register_cluster(&mut api, &name, "organizations/acme").await;
    let tenant = format!("s-{suffix}");
    for object in &hierarchy(&tenant, &[format!("*/{app}")]) {
        api_apply(&api, object).await;
    }
    let group = format!("organizations/acme/tenants/{tenant}/workspaces/ws/trafficgroups/tg");
    let mut routes = 0;
    let mut add_route = async |api: &mut crate::support::mp::Clients| {
        api.config
            .apply(service_route(&group, &app, routes))
            .await
            .expect("route");
        routes += 1;
        routes
    };
    add_route(&mut api).await;

    let server = proxy.url("http");
    let (mut agent, agent_admin) = start_agent_via(
        &server,
        &mp,
        &kube,
        &name,
        &app,
        &KEEPALIVE,
        "tsbridge=debug,warn",
    );
    let link = Link {
        mp: &mp,
        agent_admin: &agent_admin,
        server: server.clone(),
        cluster: &name,
    };
    let holds = |n: usize| {
        let client = client.clone();
        let name = name.clone();
        async move { (virtual_services(&client, &name).await? == n).then_some(()) }
    };
    eventually("the agent to connect through the proxy", WAIT, || link.up()).await;
    eventually("the first route in the cluster", WAIT, || holds(1)).await;
    assert_eq!(link.counts().await, Some((0.0, 0.0, 0.0)));

    // Black hole: nothing moves and nothing closes. Both sides notice within the bound.
    proxy.set(Mode::BlackHole);
    let holed = Instant::now();
    let (mut agent_took, mut mp_took, mut ready) = (None, None, None);
    while agent_took.is_none() || mp_took.is_none() {
        assert!(
            holed.elapsed() < WAIT,
            "no stall noticed in {WAIT:?}: {:?}\nagent:\n{}\nMP:\n{}",
            link.counts().await,
            agent.output(),
            mp.process.output()
        );
        if let Some((agent_stalls, mp_stalls, _)) = link.counts().await {
            if agent_stalls >= 1.0 && agent_took.is_none() {
                agent_took = Some(holed.elapsed());
                // Right away: the agent's next attempt, held in the black hole, ends later.
                ready = admin_get(&agent_admin, "/ready").await;
            }
            if mp_stalls >= 1.0 {
                mp_took.get_or_insert(holed.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (agent_took, mp_took) = (agent_took.expect("set"), mp_took.expect("set"));
    eprintln!("black hole noticed by the agent after {agent_took:?}, by the MP after {mp_took:?}");
    for (side, took) in [("agent", agent_took), ("MP", mp_took)] {
        assert!(
            took <= BOUND + SLACK,
            "the {side} took {took:?} (bound {BOUND:?})"
        );
    }
    assert_eq!(connected(&mp, &name), Some(false), "ctl cluster list");
    // Welcomed before, so an outage keeps the agent ready (the webhook stays in service), and
    // says why nothing moves.
    let (code, ready) = ready.expect("/ready answers");
    assert_eq!(code, 200, "{ready}");
    assert!(
        ready.contains("degraded:\n- upstream_stalled: "),
        "/ready says why: {ready}"
    );

    // A change made meanwhile arrives once the link passes again, on a new stream.
    let expected = add_route(&mut api).await;
    proxy.set(Mode::Pass);
    eventually("the agent to reconnect", WAIT, || link.up()).await;
    eventually("the route made during the black hole", WAIT, || {
        holds(expected)
    })
    .await;
    let (_, _, reconnects) = link.counts().await.expect("metrics");
    assert!(reconnects >= 1.0, "reconnects counted: {reconnects}");

    // Cut: an error at once, not a stall; the agent is back once the link is.
    let before = link.counts().await.expect("metrics");
    proxy.set(Mode::Cut);
    eventually("the MP to see the cut", WAIT, || async {
        (!connected(&mp, &name)?).then_some(())
    })
    .await;
    let expected = add_route(&mut api).await;
    proxy.set(Mode::Pass);
    eventually("the agent to reconnect after the cut", WAIT, || link.up()).await;
    eventually("the route made during the cut", WAIT, || holds(expected)).await;
    let after = link.counts().await.expect("metrics");
    assert_eq!(
        (after.0, after.1),
        (before.0, before.1),
        "a cut is no stall"
    );
    assert!(after.2 > before.2, "the reconnect is counted");

    // Slow: bytes move at 32 KiB/s for three times the bound; nothing counts as a stall and
    // a change still arrives over the same stream.
    let before = link.counts().await.expect("metrics");
    proxy.set(Mode::slow(32 * 1024));
    let slowed = Instant::now();
    let expected = add_route(&mut api).await;
    eventually("the route made over the slow link", WAIT, || {
        holds(expected)
    })
    .await;
    while slowed.elapsed() < 3 * BOUND {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        link.counts().await,
        Some(before),
        "a slow link is not a stall"
    );
    link.up().await.expect("still connected over the slow link");
    proxy.set(Mode::Pass);

    assert!(agent.is_running(), "{}", agent.output());
    agent.kill();
    delete_namespace(&client, &app).await;
}
