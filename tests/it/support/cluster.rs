//! Real kube-apiservers from `tests/realk8s.sh`, one per cluster name.
//!
//! `Cluster::attach("cluster-a")` runs `realk8s.sh up` for that instance, which starts it or, when
//! it already runs (the test command brings clusters up before `cargo test`), just prints its
//! environment. Clients are made per test: a kube `Client` belongs to the runtime that made it.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use serde_json::Value;

use super::wait::eventually;
use super::{assert_loopback, random_suffix, repo_path};

/// Label put on every namespace a test creates, so leftovers can be found and removed.
pub const TEST_NS_LABEL: &str = "tsbridge.io/test";

/// One running control plane: the environment `realk8s.sh up` printed for it.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Instance name (`REALK8S_NAME`).
    pub name: String,
    /// Admin kubeconfig (client certificate; context `realk8s-NAME-token` uses a token).
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub api_url: String,
    /// The instance CA: trust anchor for the apiserver, and signer of test certificates.
    pub ca_cert: PathBuf,
    /// Directory of the `realk8s` binaries (helm among them).
    pub bin_dir: PathBuf,
    /// Everything the script exported.
    pub env: HashMap<String, String>,
}

impl Cluster {
    /// Attaches to the named instance, starting it if it does not run yet.
    pub fn attach(name: &str) -> Cluster {
        Cluster::attach_with(name, &[])
    }

    /// `cluster-bare`: an instance started without the Istio CRDs, where no test installs
    /// them (tests of an agent on a cluster that lacks CRDs).
    pub fn bare() -> Cluster {
        Cluster::attach_with("cluster-bare", &[("APPLY_ISTIO_CRDS", "0")])
    }

    /// [`Cluster::attach`] with settings of `realk8s.sh up` (used when it starts the instance).
    pub fn attach_with(name: &str, env: &[(&str, &str)]) -> Cluster {
        static CLUSTERS: OnceLock<Mutex<HashMap<String, Cluster>>> = OnceLock::new();
        let mut clusters = CLUSTERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cluster) = clusters.get(name) {
            return cluster.clone();
        }
        let output = Command::new(repo_path("tests/realk8s.sh"))
            .arg("up")
            .env("REALK8S_NAME", name)
            .envs(env.iter().copied())
            .output()
            .expect("tests/realk8s.sh runs");
        assert!(
            output.status.success(),
            "tests/realk8s.sh up for {name} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let env = parse_exports(&String::from_utf8_lossy(&output.stdout));
        let get = |key: &str| {
            env.get(key)
                .unwrap_or_else(|| panic!("realk8s.sh up printed no {key}"))
                .clone()
        };
        let cluster = Cluster {
            name: name.to_string(),
            kubeconfig: get("KUBECONFIG").into(),
            api_url: get("REALK8S_API_URL"),
            ca_cert: get("REALK8S_CA_CERT").into(),
            bin_dir: get("REALK8S_BIN").into(),
            env,
        };
        assert_loopback(&cluster.api_url);
        clusters.insert(name.to_string(), cluster.clone());
        cluster
    }

    /// The default instance of the test run (`cluster-a`).
    pub fn default_cluster() -> Cluster {
        Cluster::attach("cluster-a")
    }

    /// A kube client with the admin client certificate.
    pub async fn client(&self) -> Client {
        self.client_for_context(None).await
    }

    /// A kube client that authenticates with the admin bearer token instead.
    pub async fn token_client(&self) -> Client {
        let context = format!("realk8s-{}-token", self.name);
        self.client_for_context(Some(context)).await
    }

    async fn client_for_context(&self, context: Option<String>) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig parses");
        let options = KubeConfigOptions {
            context,
            ..Default::default()
        };
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .expect("kubeconfig gives a client config");
        assert_loopback(&config.cluster_url.to_string());
        Client::try_from(config).expect("kube client builds")
    }

    /// Writes `DIR/{ca.crt,tls.crt,tls.key}`: a serving certificate for 127.0.0.1 signed by the
    /// instance CA, so the apiserver trusts a webhook that presents it.
    pub fn webhook_cert(&self, dir: &std::path::Path) {
        let output = Command::new(repo_path("tests/realk8s.sh"))
            .arg("webhook-cert")
            .arg(dir)
            .env("REALK8S_NAME", &self.name)
            .output()
            .expect("tests/realk8s.sh runs");
        assert!(
            output.status.success(),
            "webhook-cert failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// A `Command` for a binary the script built (e.g. `helm`), pointed at this cluster.
    pub fn tool(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(name));
        cmd.env("KUBECONFIG", &self.kubeconfig)
            .env(
                "HELM_CACHE_HOME",
                std::env::temp_dir().join("tsbridge-helm-cache"),
            )
            .env(
                "HELM_CONFIG_HOME",
                std::env::temp_dir().join("tsbridge-helm-config"),
            )
            .env(
                "HELM_DATA_HOME",
                std::env::temp_dir().join("tsbridge-helm-data"),
            );
        cmd
    }

    /// Runs helm against this cluster; panics with its output when it fails.
    pub fn helm(&self, args: &[&str]) -> String {
        let output = self.tool("helm").args(args).output().expect("helm runs");
        assert!(
            output.status.success(),
            "helm {args:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("helm prints UTF-8")
    }
}

/// Runs `test` with a fresh namespace, then deletes it (unless `TSBRIDGE_TEST_KEEP=1`), also
/// when the test panics; the panic is re-raised afterwards.
pub async fn with_temp_ns<F, Fut>(cluster: &Cluster, test: F)
where
    F: FnOnce(Client, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let client = cluster.client().await;
    let name = format!("test-{}", random_suffix());
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(&PostParams::default(), &test_namespace(&name))
        .await
        .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));

    let outcome = std::panic::AssertUnwindSafe(test(client, name.clone()))
        .catch_unwind()
        .await;

    if std::env::var("TSBRIDGE_TEST_KEEP").as_deref() == Ok("1") {
        eprintln!(
            "keeping namespace {name} in {} (TSBRIDGE_TEST_KEEP=1)",
            cluster.name
        );
    } else if let Err(e) = namespaces.delete(&name, &DeleteParams::default()).await {
        eprintln!("deleting namespace {name}: {e}");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// A namespace named `name` with the [`TEST_NS_LABEL`] cleanup label.
pub fn test_namespace(name: &str) -> Namespace {
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            labels: Some([(TEST_NS_LABEL.to_string(), "true".to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Parses the `export KEY='value'` lines `realk8s.sh` prints (values single-quoted for sh).
fn parse_exports(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|assignment| {
            let (key, quoted) = assignment.split_once('=')?;
            Some((key.to_string(), unquote_sh(quoted)?))
        })
        .collect()
}

/// Reads one single-quoted sh word (with `'\''` escapes) from the start of `s`.
fn unquote_sh(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    loop {
        let body = rest.strip_prefix('\'')?;
        let end = body.find('\'')?;
        out.push_str(&body[..end]);
        rest = &body[end + 1..];
        match rest.strip_prefix("\\'") {
            Some(after) => {
                out.push('\'');
                rest = after;
            }
            None => return Some(out),
        }
    }
}

#[test]
fn parses_realk8s_exports() {
    let env = parse_exports(
        "export KUBECONFIG='/tmp/x y/kubeconfig'\n\
         export REALK8S_NAME='it'\\''s'\n\
         export NO_PROXY='127.0.0.1' no_proxy='127.0.0.1'\n\
         case \":$PATH:\" in *) ;; esac\n",
    );
    assert_eq!(env["KUBECONFIG"], "/tmp/x y/kubeconfig");
    assert_eq!(env["REALK8S_NAME"], "it's");
    assert_eq!(env["NO_PROXY"], "127.0.0.1");
    assert_eq!(env.len(), 3);
}

/// Server-side applies the chart's CRDs (every cluster with an agent has them).
pub async fn install_crds(client: &Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in tsbridge::k8s::crds::all().expect("CRDs") {
        let name = crd.metadata.name.clone().expect("a named CRD");
        crds.patch(
            &name,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
    }
}

/// Server-side applies every CRD in `dir` (a release's own CRD files) and waits until the
/// CRDs named in `established` are served.
pub async fn apply_crd_files(client: &Client, dir: &std::path::Path, established: &[&str]) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("CRDs in {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no CRDs in {}", dir.display());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("CRD file reads");
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("CRD file parses");
        for crd in docs.into_iter().filter(Value::is_object) {
            let name = crd["metadata"]["name"].as_str().expect("named").to_string();
            crds.patch(
                &name,
                &PatchParams::apply("tsbridge-tests").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap_or_else(|e| panic!("applying CRD {name}: {e}"));
        }
    }
    for name in established {
        eventually(
            &format!("CRD {name} established"),
            std::time::Duration::from_secs(30),
            || async {
                let crd = crds.get(name).await.ok()?;
                crd.status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
                    .then_some(())
            },
        )
        .await;
    }
}
