//! A management plane (`tsbridge server`) as a child process, and gRPC clients for it.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::process::ChildProcess;
use super::wait::eventually;

/// A free loopback port (the tiny race with other binders is accepted in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// A running management plane.
#[derive(Debug)]
pub struct Mp {
    /// The child; killed on drop.
    pub process: ChildProcess,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The admin token.
    pub token: String,
    /// Where the admin token file is.
    pub token_file: PathBuf,
    /// Admin listener.
    pub admin_url: String,
    /// `--store` it runs with.
    pub store: String,
    args: Vec<String>,
}

impl Mp {
    /// Starts `tsbridge server --insecure` on loopback with `store`, organization `acme`, and the
    /// admin token in `dir`; waits until it answers.
    pub async fn start(store: &str, dir: &Path, extra: &[&str]) -> Mp {
        Mp::start_with(store, dir, "http", &[&["--insecure"][..], extra].concat()).await
    }

    /// Starts it with TLS flags (`--tls-cert …`) instead of `--insecure`.
    pub async fn start_tls(store: &str, dir: &Path, tls: &[&str]) -> Mp {
        Mp::start_with(store, dir, "https", tls).await
    }

    async fn start_with(store: &str, dir: &Path, scheme: &str, extra: &[&str]) -> Mp {
        let token_file = dir.join("admin.token");
        let port = free_port();
        let admin = free_port();
        let mut args: Vec<String> = [
            "server",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
            "--store",
            store,
            "--organization",
            "acme",
            "--bootstrap-token-file",
            token_file.to_str().expect("UTF-8 path"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut mp = Mp {
            process: ChildProcess::tsbridge(
                &args,
                &[("TSBRIDGE_LOG_LEVEL", "tsbridge=debug,warn")],
            ),
            url: format!("{scheme}://127.0.0.1:{port}"),
            token: String::new(),
            token_file,
            admin_url: format!("http://127.0.0.1:{admin}"),
            store: store.to_string(),
            args,
        };
        mp.wait_ready().await;
        mp
    }

    async fn wait_ready(&mut self) {
        let url = self.url.clone();
        let token_file = self.token_file.clone();
        let process = &mut self.process;
        let token = eventually(
            "the management plane to serve",
            Duration::from_secs(60),
            || {
                let running = process.is_running();
                let url = url.clone();
                let token_file = token_file.clone();
                async move {
                    assert!(running, "the management plane exited");
                    let token = std::fs::read_to_string(&token_file).ok()?;
                    let address = url.split_once("://")?.1.to_string();
                    tokio::net::TcpStream::connect(address).await.ok()?;
                    Some(token.trim().to_string())
                }
            },
        )
        .await;
        self.token = token;
    }

    /// Kills the process with SIGKILL (no shutdown at all) and waits for it.
    pub fn kill_9(&mut self) {
        if !self.process.is_running() {
            return;
        }
        let _ = std::process::Command::new("kill")
            .args(["-9", &self.process.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.process.is_running() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the same server again (same ports, store and token file).
    pub async fn restart(&mut self) {
        self.kill_9();
        self.process =
            ChildProcess::tsbridge(&self.args, &[("TSBRIDGE_LOG_LEVEL", "tsbridge=debug,warn")]);
        self.wait_ready().await;
    }

    /// Starts it again on another store (same ports and token file): an MP whose store was
    /// replaced, e.g. restored from an empty or old backup.
    pub async fn restart_on(&mut self, store: &str) {
        let at = self
            .args
            .iter()
            .position(|a| a == "--store")
            .expect("--store is set");
        self.args[at + 1] = store.to_string();
        self.store = store.to_string();
        self.restart().await;
    }

    /// Runs `tsbridge ctl ARGS` against this server with the admin token.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_tsbridge"))
            .arg("ctl")
            .args(["--server", &self.url, "--token-file"])
            .arg(&self.token_file)
            .args(args)
            .output()
            .expect("tsbridge ctl runs")
    }

    /// Clients authenticated with `token`.
    pub async fn clients(&self, token: &str) -> Clients {
        clients(&self.url, Some(token)).await
    }
}

/// Clients of every service (the ones `tsbridge ctl` uses).
pub type Clients = tsbridge::cli::ctl::client::Client;

/// Connects to `url` with an optional bearer token.
pub async fn clients(url: &str, token: Option<&str>) -> Clients {
    super::assert_loopback(url);
    Clients::connect(url, token, None).await.expect("connects")
}

/// Registers cluster `name` with the MP behind `api` and grants it `scope`.
pub async fn register_cluster(api: &mut Clients, name: &str, scope: &str) {
    use tsbridge::proto::v1;
    api.clusters
        .create_cluster(v1::CreateClusterRequest {
            name: name.to_string(),
        })
        .await
        .unwrap_or_else(|e| panic!("registering cluster {name}: {e}"));
    api.clusters
        .grant(v1::GrantRequest {
            cluster: name.to_string(),
            scope: scope.to_string(),
        })
        .await
        .unwrap_or_else(|e| panic!("granting {scope} to {name}: {e}"));
}

/// An API write of ServiceRoute `svc-<k>` under traffic group `group` for a service in `ns`
/// (one VirtualService and one DestinationRule wherever `ns` is selected).
pub fn service_route(group: &str, ns: &str, k: usize) -> tsbridge::proto::v1::ApplyRequest {
    use tsbridge::proto::v1;
    v1::ApplyRequest {
        resource: Some(v1::Resource {
            api_version: "traffic.tsb.tetrate.io/v2".into(),
            kind: "ServiceRoute".into(),
            name: format!("svc-{k}"),
            parent_fqn: group.to_string(),
            spec: Some(tsbridge::proto::convert::json_to_struct(
                &serde_json::json!({
                    "service": format!("{ns}/svc-{k}.{ns}.svc.cluster.local"),
                    "subsets": [{"name": "v1", "labels": {"version": "v1"}, "weight": 100}]
                }),
            )),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// GET `path` on an admin listener (`http://127.0.0.1:PORT`) over a bare HTTP/1.0 exchange:
/// the status code and body, or `None` when nothing answers.
pub async fn admin_get(admin_url: &str, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    super::assert_loopback(admin_url);
    let address = admin_url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(address).await.ok()?;
    tcp.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((code, body.to_string()))
}

/// The FQNs of every object the MP behind `api` holds below `parent` ("" for all).
pub async fn list_fqns(api: &Clients, parent: &str) -> Vec<String> {
    let mut api = api.clone();
    api.config
        .list(tsbridge::proto::v1::ListRequest {
            parent_fqn: parent.to_string(),
            recursive: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .resources
        .into_iter()
        .map(|r| r.fqn)
        .collect()
}

/// Every audit entry the MP behind `api` holds (up to 100,000), newest first.
pub async fn audit_entries(api: &Clients) -> Vec<tsbridge::proto::v1::AuditEntry> {
    let mut api = api.clone();
    api.audit
        .query(tsbridge::proto::v1::AuditQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .expect("audit query")
        .into_inner()
        .entries
}

/// Starts `tsbridge agent` as cluster `name` (registered with `mp`) on the control plane
/// `kube`, watching `watch_ns`, electing through the 4 s Lease `tsbridge-<name>` in `default`,
/// with a 1 s delete grace and `extra` flags. Returns it and its admin URL.
pub fn start_agent(
    mp: &Mp,
    kube: &super::cluster::Cluster,
    name: &str,
    watch_ns: &str,
    extra: &[&str],
) -> (ChildProcess, String) {
    start_agent_logging(mp, kube, name, watch_ns, extra, "tsbridge=debug,warn")
}

/// [`start_agent`] with `TSBRIDGE_LOG_LEVEL=log_level` (benches log less).
pub fn start_agent_logging(
    mp: &Mp,
    kube: &super::cluster::Cluster,
    name: &str,
    watch_ns: &str,
    extra: &[&str],
    log_level: &str,
) -> (ChildProcess, String) {
    start_agent_via(&mp.url, mp, kube, name, watch_ns, extra, log_level)
}

/// [`start_agent_logging`] with `--server server` (a proxy in front of `mp`, say) instead of
/// the MP's own address.
pub fn start_agent_via(
    server: &str,
    mp: &Mp,
    kube: &super::cluster::Cluster,
    name: &str,
    watch_ns: &str,
    extra: &[&str],
    log_level: &str,
) -> (ChildProcess, String) {
    let admin = format!("127.0.0.1:{}", free_port());
    let mut args: Vec<String> = [
        "agent",
        "--cluster",
        name,
        "--server",
        server,
        "--insecure",
        "--token-file",
        mp.token_file.to_str().expect("UTF-8"),
        "--kubeconfig",
        kube.kubeconfig.to_str().expect("UTF-8"),
        "--watch-namespace",
        watch_ns,
        "--lease-namespace",
        "default",
        "--lease-name",
        &format!("tsbridge-{name}"),
        "--lease-duration",
        "4s",
        "--admin-listen",
        &admin,
        "--delete-grace",
        "1s",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    args.extend(extra.iter().map(ToString::to_string));
    let agent = ChildProcess::tsbridge(&args, &[("TSBRIDGE_LOG_LEVEL", log_level)]);
    (agent, format!("http://{admin}"))
}
