//! Fan-out on the real sync protocol: 20 simulated agents (`support::sim_agent`) against the
//! real server binary on SQLite each get the full desired set, one TrafficSetting change
//! reaches and is acknowledged by all of them, and the MP's status of that setting says it is
//! applied in 20 of 20 clusters. `cargo bench --bench fanout` is the same at scale, timed.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tsbridge::proto::v1;

use crate::support::fanout::{
    APP_NS, config, expected_objects, marker, register_all, traffic_setting, traffic_setting_fqn,
    write_all, write_config,
};
use crate::support::mp::Mp;
use crate::support::sim_agent::{SimAgent, channels, spawn_fleet};
use crate::support::wait::eventually;

const AGENTS: usize = 20;
const ROUTES: usize = 10;
const WAIT: Duration = Duration::from_secs(20);

fn held_set(agent: &SimAgent) -> BTreeSet<String> {
    agent
        .held()
        .objects
        .keys()
        .map(ToString::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_reaches_every_simulated_cluster_and_counts_as_applied_in_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &[]).await;
    let api = mp.clients(&mp.token).await;
    let config = config(ROUTES);
    write_config(&api, ROUTES).await;
    let names: Vec<String> = (0..AGENTS).map(|i| format!("sim-{i}")).collect();
    register_all(&api, &names, 4).await;

    // Two connections, ten streams on each (the bench can share connections too).
    let channels = channels(&mp.url, 2).await;
    let (marker_tx, marker_rx) = watch::channel(None);
    let (acked_tx, mut acked) = mpsc::channel(4 * 1024);
    let namespaces = [APP_NS.to_string(), "kube-system".to_string()];
    let agents = spawn_fleet(
        &channels,
        &mp.token,
        &names,
        &namespaces,
        &marker_rx,
        &acked_tx,
    );

    // Every agent holds exactly what the model generates for its cluster: the routes' objects
    // and the setting's Sidecar, in the selected namespace only.
    for agent in &agents {
        let expected = expected_objects(&agent.cluster, &config, &[APP_NS.to_string()]);
        assert_eq!(expected.len(), 2 * ROUTES + 1, "{expected:?}");
        let what = format!("{} to hold {} objects", agent.cluster, expected.len());
        eventually(&what, WAIT, || async {
            (held_set(agent) == expected).then_some(())
        })
        .await;
    }
    while acked.try_recv().is_ok() {}
    let before: Vec<u64> = agents.iter().map(|a| a.held().revision).collect();

    // One change of the setting: every agent receives a revision with the new Sidecar and
    // acknowledges it.
    marker_tx.send_replace(Some(marker(1)));
    write_all(&api, &[traffic_setting(1)], 1).await;
    let mut reached = BTreeSet::new();
    while reached.len() < AGENTS {
        let ack = tokio::time::timeout(WAIT, acked.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "only {} of {AGENTS} agents acknowledged the change",
                    reached.len()
                )
            })
            .expect("agents run");
        if ack.marked {
            assert!(!ack.full, "a change is sent as a delta, not a full resync");
            reached.insert(ack.agent);
        }
    }
    for (agent, before) in agents.iter().zip(before) {
        let held = agent.held();
        assert!(held.revision > before, "{}: {held:?}", agent.cluster);
        assert_eq!(held.objects.len(), 2 * ROUTES + 1, "{}", agent.cluster);
        assert_eq!(
            held.full_resyncs, 1,
            "{}: one full sync, then deltas",
            agent.cluster
        );
        assert_eq!(
            agent.sessions(),
            1,
            "{}: {}",
            agent.cluster,
            agent.last_error()
        );
    }

    // The MP counts the setting as applied in every cluster.
    let fqn = traffic_setting_fqn();
    let status = eventually(
        "the setting to be applied in 20 of 20 clusters",
        WAIT,
        || {
            let mut api = api.clone();
            let fqn = fqn.clone();
            async move {
                let status = api
                    .status
                    .get_status(v1::GetStatusRequest { fqn })
                    .await
                    .ok()?
                    .into_inner();
                let applied = status
                    .clusters
                    .iter()
                    .filter(|c| c.state == "APPLIED")
                    .count();
                (applied == AGENTS).then_some(status)
            }
        },
    )
    .await;
    assert_eq!(status.status, "READY", "{status:?}");
    let clusters: BTreeSet<String> = status.clusters.iter().map(|c| c.cluster.clone()).collect();
    assert_eq!(clusters, names.iter().cloned().collect());
}
