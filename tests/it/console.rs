//! The web console in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, installed by tests/setup.sh) driven over WebDriver, against a real MP
//! with real agents on cluster-a and cluster-b. With `TSBRIDGE_SCREENSHOTS=docs/console` the
//! test writes a screenshot of each page there (docs/console.md shows them).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use serde_json::json;

use crate::agent::flux_apply;
use crate::crds::install_crds;
use crate::distribute::{
    RefusalPolicy, create_namespace, delete_namespace, direct_hierarchy, hierarchy,
};
use crate::support::cluster::Cluster;
use crate::support::mp::{Mp, free_port, register_cluster, start_agent};
use crate::support::process::ChildProcess;
use crate::support::random_suffix;
use crate::support::wait::eventually;
use tsbridge::proto::v1;

const WAIT: Duration = Duration::from_secs(90);

/// chromedriver and one browser session in it.
struct Chromium {
    browser: Browser,
    _driver: ChildProcess,
    shots: Option<PathBuf>,
    console: String,
}

impl Chromium {
    async fn start(console: &str) -> Chromium {
        let port = free_port();
        let mut command = Command::new("chromedriver");
        command.arg(format!("--port={port}"));
        let driver = ChildProcess::spawn(command);
        // CI runs as root, where Chromium's sandbox cannot start.
        let capabilities = json!({"goog:chromeOptions": {"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1400,900"]}});
        let capabilities = capabilities.as_object().expect("an object").clone();
        let url = format!("http://127.0.0.1:{port}");
        let browser = eventually("chromedriver to open a Chromium session", WAIT, || {
            let capabilities = capabilities.clone();
            let url = url.clone();
            async move {
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&url)
                    .await
                    .ok()
            }
        })
        .await;
        Chromium {
            browser,
            _driver: driver,
            shots: std::env::var_os("TSBRIDGE_SCREENSHOTS")
                .map(|dir| crate::support::repo_path(&dir.to_string_lossy())),
            console: console.to_string(),
        }
    }

    async fn open(&self, path: &str) {
        self.browser
            .goto(&format!("{}{path}", self.console))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    async fn sign_in(&self, token: &str) {
        self.open("/login").await;
        let field = self
            .browser
            .find(Locator::Id("token"))
            .await
            .expect("token field");
        field.send_keys(token).await.expect("typing the token");
        self.browser
            .find(Locator::Id("sign-in"))
            .await
            .expect("sign-in button")
            .click()
            .await
            .expect("signing in");
        self.text_when("signed in", "header .who", |_| true).await;
    }

    async fn sign_out(&self) {
        self.browser
            .find(Locator::Css("header form button"))
            .await
            .expect("sign-out button")
            .click()
            .await
            .expect("signing out");
        self.text_when("the login page", "#sign-in", |_| true).await;
    }

    /// The text of `css` once `done` holds for it, read from the page as it is (never
    /// reloaded: live updates must bring changes).
    async fn text_when(&self, what: &str, css: &str, done: impl Fn(&str) -> bool) -> String {
        let done = &done;
        eventually(what, WAIT, || async move {
            let element = self.browser.find(Locator::Css(css)).await.ok()?;
            let text = element.text().await.ok()?;
            done(&text).then_some(text)
        })
        .await
    }

    async fn body(&self) -> String {
        self.text_when("the page", "body", |_| true).await
    }

    async fn screenshot(&self, name: &str) {
        let Some(dir) = &self.shots else { return };
        std::fs::create_dir_all(dir).expect("screenshot directory");
        let png = self.browser.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("writing the screenshot");
    }
}

fn signal(process: &ChildProcess, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), process.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name}");
}

#[tokio::test]
#[ignore = "needs kube-apiserver"]
async fn the_console_shows_config_moving_to_the_clusters_and_only_what_a_token_may_see() {
    let suffix = random_suffix();
    let dir = tempfile::tempdir().expect("temp dir");
    let ui = format!("127.0.0.1:{}", free_port());
    let store = format!("sqlite:{}", dir.path().join("mp.db").display());
    let mp = Mp::start(&store, dir.path(), &["--ui-listen", &ui]).await;
    let mut api = mp.clients(&mp.token).await;
    let config_ns = format!("console-{suffix}-config");
    let app = format!("console-{suffix}-app");
    let mut members = Vec::new();
    for cluster in ["cluster-a", "cluster-b"] {
        let kube = Cluster::attach(cluster);
        let client = kube.client().await;
        install_crds(&client).await;
        let name = format!("{cluster}-{suffix}");
        register_cluster(&mut api, &name, "organizations/acme").await;
        create_namespace(&client, &config_ns).await;
        create_namespace(&client, &app).await;
        let (agent, _) = start_agent(&mp, &kube, &name, &config_ns, &[]);
        members.push((name, client, agent));
    }
    let source = members[0].1.clone();
    let tenant = format!("t-{suffix}");
    let config = hierarchy(&tenant, &[format!("*/{app}")]);
    let workspace = format!("organizations/acme/tenants/{tenant}/workspaces/ws");
    let group = format!("{workspace}/trafficgroups/tg");
    let setting = format!("{group}/settings/ts");
    for object in &config[..3] {
        flux_apply(&source, &config_ns, object).await;
    }
    mp_holds(&api, "the traffic group", &group).await;

    // Both agents hold their full set (an agent that has not sent its namespaces yet is not
    // sent anything, so freezing it then would show no pending edge).
    for (name, _, _) in &members {
        eventually("the agent to acknowledge a revision", WAIT, || {
            let mut api = api.clone();
            let name = name.clone();
            async move {
                let cluster = api
                    .clusters
                    .get_cluster(v1::GetClusterRequest { name })
                    .await
                    .ok()?
                    .into_inner();
                cluster
                    .delivery
                    .filter(|d| d.connected && d.acked_revision > 0)
                    .map(|_| ())
            }
        })
        .await;
    }

    // An admin opens the workspace, then its traffic group.
    let chromium = Chromium::start(&format!("http://{ui}")).await;
    chromium.sign_in(&mp.token).await;
    chromium.open(&format!("/hierarchy?fqn={workspace}")).await;
    chromium
        .text_when("the workspace's groups", "#children", |t| t.contains("tg"))
        .await;
    chromium.screenshot("hierarchy").await;
    chromium.open(&format!("/hierarchy?fqn={group}")).await;

    // A TrafficSetting is added in Git (the CR in cluster-a) while cluster-b's agent is
    // frozen: the page shows it pending in cluster-b, then applied in both once it thaws.
    let agent_b = &members[1].2;
    signal(agent_b, "STOP");
    flux_apply(&source, &config_ns, &config[3]).await;
    let row = format!("tr[data-fqn='{setting}']");
    let pending = chromium
        .text_when("the setting pending in cluster-b", &row, |t| {
            t.contains("applied in 1 of 2 clusters")
        })
        .await;
    chromium.screenshot("hierarchy-pending").await;
    signal(agent_b, "CONT");
    let applied = chromium
        .text_when("the setting applied in both clusters", &row, |t| {
            t.contains("applied in 2 of 2 clusters")
        })
        .await;
    assert!(applied.contains("READY"), "{pending} → {applied}");

    chromium.open(&format!("/object?fqn={setting}")).await;
    let edges = chromium
        .text_when("both edges applied", "#edges", |t| {
            t.matches("APPLIED").count() == 2
        })
        .await;
    for (name, _, _) in &members {
        assert!(edges.contains(name.as_str()), "{edges}");
    }
    // Its history from the delivery ledger: the revision cluster-a's agent pushed, applied in
    // both clusters.
    let history = chromium
        .text_when("the revision applied in both clusters", "#history", |t| {
            t.matches("applied").count() >= 2
        })
        .await;
    assert!(
        history.contains(&format!("by cluster:{}", members[0].0)),
        "{history}"
    );
    for (name, _, _) in &members {
        assert!(history.contains(name.as_str()), "{history}");
    }
    let page = chromium.body().await;
    assert!(
        page.contains("cluster:"),
        "the audit rows of the object: {page}"
    );
    chromium.screenshot("object").await;

    // Cluster-b refuses a direct-mode VirtualService: its NACK reason is on the object page.
    let refusal =
        RefusalPolicy::install(&members[1].1, &config_ns, &suffix, "refused.example").await;
    let other = format!("n-{suffix}");
    let b = members[1].0.clone();
    let virtual_service = json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "reviews", "labels": {"istio.io/rev": "tsb"}, "annotations": {
            "tsb.tetrate.io/organization": "acme", "tsb.tetrate.io/tenant": other,
            "tsb.tetrate.io/workspace": "ws", "tsb.tetrate.io/trafficGroup": "direct"}},
        "spec": {"hosts": ["refused.example"],
                 "http": [{"route": [{"destination": {"host": "reviews"}}]}]}});
    for object in &direct_hierarchy(&other, &format!("{b}/{config_ns}"), virtual_service) {
        flux_apply(&source, &config_ns, object).await;
    }
    let refused = format!(
        "organizations/acme/tenants/{other}/workspaces/ws/trafficgroups/direct/virtualservices/reviews"
    );
    mp_holds(&api, "the VirtualService", &refused).await;
    chromium.open(&format!("/object?fqn={refused}")).await;
    let nack = chromium
        .text_when("cluster-b's NACK reason", "#edges", |t| {
            t.contains("ERRORED") && t.contains("refused.example is not allowed")
        })
        .await;
    assert!(nack.contains(&b), "{nack}");
    // The reason on the edge is the ledger's failed row, which the history lists too.
    let failed = chromium
        .text_when("the refusal in the history", "#history", |t| {
            t.contains("failed") && t.contains("refused.example is not allowed")
        })
        .await;
    assert!(failed.contains(&b), "{failed}");
    chromium.screenshot("object-nack").await;

    chromium.open("/clusters").await;
    let clusters = chromium
        .text_when("both clusters connected", "#clusters", |t| {
            t.matches("connected").count() >= 2 && !t.contains("disconnected")
        })
        .await;
    let a_row = format!("tr[data-cluster='{}'] td.applied", members[0].0);
    let admin_applied: u32 = chromium
        .text_when("cluster-a's applied count", &a_row, |_| true)
        .await
        .parse()
        .expect("a count");
    assert!(admin_applied >= 1, "{clusters}");
    chromium.screenshot("clusters").await;

    chromium
        .open(&format!(
            "/activity?fqn_prefix=organizations/acme/tenants/{tenant}"
        ))
        .await;
    chromium
        .text_when("the tenant's activity", "main", |t| t.contains("apply"))
        .await;
    chromium.screenshot("activity").await;

    // A viewer scoped to the other tenant sees neither the first tenant's objects, nor their
    // counts on the clusters page, nor their audit rows.
    let viewer = api
        .clusters
        .create_token(v1::CreateTokenRequest {
            role: "viewer".into(),
            scope: format!("organizations/acme/tenants/{other}"),
            subject: "vera".into(),
            name: String::new(),
        })
        .await
        .expect("viewer token")
        .into_inner()
        .token;
    chromium.sign_out().await;
    chromium.sign_in(&viewer).await;
    let landing = chromium
        .text_when("the viewer's tenant", "main", |t| t.contains("ws"))
        .await;
    assert!(!landing.contains(&tenant), "{landing}");
    chromium.open("/hierarchy?fqn=organizations/acme").await;
    let organization = chromium.body().await;
    assert!(organization.contains(&other), "{organization}");
    assert!(!organization.contains(&tenant), "{organization}");
    chromium.open(&format!("/object?fqn={setting}")).await;
    let denied = chromium.body().await;
    assert!(denied.contains("outside its scope"), "{denied}");
    chromium.open("/clusters").await;
    let viewer_applied: u32 = chromium
        .text_when("cluster-a's applied count", &a_row, |_| true)
        .await
        .parse()
        .expect("a count");
    assert_eq!(
        viewer_applied, 0,
        "the viewer's tenant targets only cluster-b"
    );
    chromium
        .open(&format!(
            "/activity?fqn_prefix=organizations/acme/tenants/{tenant}"
        ))
        .await;
    let activity = chromium.body().await;
    assert!(!activity.contains(&tenant), "{activity}");
    assert!(activity.contains(&other), "{activity}");
    chromium.screenshot("viewer").await;

    let _ = chromium.browser.close().await;
    refusal.remove().await;
    for (_, client, _) in &members {
        delete_namespace(client, &app).await;
        delete_namespace(client, &config_ns).await;
    }
}

/// Waits until the MP behind `api` holds `fqn` (its status answers).
async fn mp_holds(api: &crate::support::mp::Clients, what: &str, fqn: &str) {
    eventually(&format!("the MP to hold {what}"), WAIT, || {
        let mut api = api.clone();
        let fqn = fqn.to_string();
        async move {
            api.status
                .get_status(v1::GetStatusRequest { fqn })
                .await
                .ok()
        }
    })
    .await;
}
