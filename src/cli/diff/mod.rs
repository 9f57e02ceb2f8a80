//! `tsbridge diff FROM TO`: the TSB objects added, removed and changed between two config trees
//! or a tree and a management plane (`mp:`), and with `--inventory` the Istio objects that
//! change in each cluster. See `docs/day-two.md`.
//!
//! Depends on: `model` (conversion, [`crate::model::diff`], translation), `cli::validate`
//! (loading), `cli::render` (the render path), `cli::ctl::client` (the `mp:` side), clap.
//! Never: `store`.
//!
//! The comparison itself is pure ([`compare`]); this module reads the sides and prints.

pub mod output;
pub mod tree;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

use crate::cli::ctl::client::Client;
use crate::cli::render::{parse_inventory, render_clusters};
use crate::model::diff::mapping::{MappingFile, Rewrite};
use crate::model::diff::{Entry, IstioKey, ObjectChange, diff_maps};
use crate::model::fqn::Fqn;
use crate::model::metadata::StripRules;
use crate::model::object::Resource;
use crate::model::resolve::ClusterNamespaces;
use crate::proto::v1;

pub use output::DiffFormat;
use output::Report;

/// Exit code: the sides are equal.
pub const EXIT_EQUAL: u8 = 0;
/// Exit code: the sides differ.
pub const EXIT_DIFFERENT: u8 = 1;
/// Exit code: a side could not be read (I/O, YAML, invalid object, mapping, server).
pub const EXIT_ERROR: u8 = 2;

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// A directory (or file) of YAML.
    Tree(PathBuf),
    /// What the management plane holds now (`mp:`).
    Mp,
}

impl FromStr for Side {
    type Err = String;

    fn from_str(s: &str) -> Result<Side, String> {
        match s.strip_prefix("mp:") {
            Some("") => Ok(Side::Mp),
            Some(_) => Err(format!(
                "{s:?}: the management plane side is written `mp:` (use --only FQN to narrow it)"
            )),
            None => Ok(Side::Tree(PathBuf::from(s))),
        }
    }
}

/// How to reach a management plane (as `ctl`, with the same flags and variables).
#[derive(Debug, Clone, clap::Args)]
pub struct MpArgs {
    /// Management-plane URL for an `mp:` side (as for `ctl`).
    #[arg(long, env = "TSBRIDGE_SERVER")]
    pub server: Option<String>,
    /// File holding the API token (as for `ctl`).
    #[arg(long, env = "TSBRIDGE_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// CA bundle that signs the server's certificate (as for `ctl`).
    #[arg(long, env = "TSBRIDGE_CA")]
    pub ca: Option<PathBuf>,
}

/// The mapping flags `diff` and `promote` share.
#[derive(Debug, Clone, clap::Args)]
pub struct MappingArgs {
    /// A YAML file naming each environment's own values (clusters, hosts, values): they are
    /// rewritten from the FROM environment's into the TO environment's before comparing.
    #[arg(long, env = "TSBRIDGE_MAPPING")]
    pub mapping: Option<PathBuf>,
    /// The FROM side's environment in the mapping (default: the FROM directory's name).
    #[arg(long, env = "TSBRIDGE_FROM_ENV", requires = "mapping")]
    pub from_env: Option<String>,
    /// The TO side's environment in the mapping (default: the TO directory's name).
    #[arg(long, env = "TSBRIDGE_TO_ENV", requires = "mapping")]
    pub to_env: Option<String>,
}

/// Flags of `tsbridge diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The old side: a directory or file of YAML, or `mp:` (the management plane's objects).
    pub from: Side,
    /// The new side: a directory or file of YAML, or `mp:`.
    pub to: Side,
    /// Values that differ between environments by design.
    #[command(flatten)]
    pub mapping: MappingArgs,
    /// Only objects at or below this FQN.
    #[arg(long, env = "TSBRIDGE_DIFF_ONLY")]
    pub only: Option<Fqn>,
    /// An inventory file (as for `render`, in the TO environment's names): also compare the
    /// Istio objects each cluster would get.
    #[arg(long, env = "TSBRIDGE_DIFF_INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        env = "TSBRIDGE_DIFF_OUTPUT",
        value_enum,
        default_value_t = DiffFormat::Text
    )]
    pub output: DiffFormat,
    /// The management plane, for an `mp:` side.
    #[command(flatten)]
    pub mp: MpArgs,
}

/// The environment name a side stands for: the flag, else the directory's name.
fn environment(flag: Option<&String>, side: &Side, which: &str) -> anyhow::Result<String> {
    if let Some(name) = flag {
        return Ok(name.clone());
    }
    let name = match side {
        Side::Tree(path) => std::fs::canonicalize(path)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())),
        Side::Mp => None,
    };
    name.ok_or_else(|| anyhow!("--mapping needs --{which}-env NAME for the {which} side"))
}

/// The rewrite of `--mapping` from the FROM environment into the TO environment (nothing
/// without a mapping).
pub fn rewrite(args: &MappingArgs, from: &Side, to: &Side) -> anyhow::Result<Rewrite> {
    let Some(path) = &args.mapping else {
        return Ok(Rewrite::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--mapping {}", path.display()))?;
    let file: MappingFile = serde_saphyr::from_str(&text).map_err(|e| {
        anyhow!(
            "--mapping {}: {e}; expected `environments: {{NAME: {{clusters: {{..}}, hosts: \
             {{..}}, values: {{..}}}}}}`",
            path.display()
        )
    })?;
    let from_env = environment(args.from_env.as_ref(), from, "from")?;
    let to_env = environment(args.to_env.as_ref(), to, "to")?;
    file.rewrite(&from_env, &to_env)
        .with_context(|| format!("--mapping {}", path.display()))
}

/// The objects of one side, and what to call it.
#[derive(Debug, Clone, Default)]
pub struct SideObjects {
    /// `staging/`, `mp:http://…`.
    pub label: String,
    /// Its resources (rewritten for the FROM side).
    pub resources: Vec<Resource>,
}

/// Reads a side; the FROM side is rewritten with `rewrite`.
async fn read_side(side: &Side, rewrite: &Rewrite, mp: &MpArgs) -> anyhow::Result<SideObjects> {
    match side {
        Side::Tree(path) => {
            let tree = tree::load_tree(path, rewrite).map_err(|errors| {
                anyhow!(
                    "{} cannot be compared:\n  {}",
                    path.display(),
                    errors.join("\n  ")
                )
            })?;
            Ok(SideObjects {
                label: path.display().to_string(),
                resources: tree.resources(),
            })
        }
        Side::Mp => {
            let Some(server) = &mp.server else {
                bail!("an mp: side needs --server URL (or TSBRIDGE_SERVER)");
            };
            let client =
                Client::connect_with_token_file(server, mp.token_file.as_deref(), mp.ca.as_deref())
                    .await?;
            Ok(SideObjects {
                label: format!("mp:{server}"),
                resources: mp_resources(client, rewrite).await?,
            })
        }
    }
}

/// Every object the token may read, as model resources (the same conversion the management
/// plane runs on a write).
async fn mp_resources(mut client: Client, rewrite: &Rewrite) -> anyhow::Result<Vec<Resource>> {
    let listed = client
        .config
        .list(v1::ListRequest {
            parent_fqn: String::new(),
            kind: String::new(),
            recursive: true,
        })
        .await
        .map_err(|status| {
            anyhow!(
                "listing the management plane's objects: {}",
                describe(&status)
            )
        })?
        .into_inner();
    let strip = StripRules::default();
    listed
        .resources
        .iter()
        .map(|proto| {
            let mut envelope = crate::server::convert::proto_to_envelope(proto);
            rewrite.value(&mut envelope.spec);
            rewrite.metadata(&mut envelope.labels);
            rewrite.metadata(&mut envelope.annotations);
            Resource::from_envelope(&envelope, &strip).map_err(|diagnostics| {
                let first = diagnostics.first().map(ToString::to_string);
                anyhow!(
                    "the management plane's {} does not convert: {}",
                    proto.fqn,
                    first.unwrap_or_default()
                )
            })
        })
        .collect()
}

fn describe(status: &tonic::Status) -> String {
    crate::cli::ctl::client::describe(status)
}

/// The comparison of two sides: pure, so the tests call exactly what the CLI runs.
pub fn compare(
    from: &[Resource],
    to: &[Resource],
    only: Option<&Fqn>,
    clusters: Option<&[ClusterNamespaces]>,
) -> (Vec<ObjectChange<Fqn>>, Option<Vec<ObjectChange<IstioKey>>>) {
    let documents = |resources: &[Resource]| -> BTreeMap<Fqn, Value> {
        resources
            .iter()
            .filter(|r| tree::within(&r.fqn, only))
            .map(|r| (r.fqn.clone(), Entry::of(r).document))
            .collect()
    };
    let objects = diff_maps(&documents(from), &documents(to));
    let istio = clusters.map(|clusters| {
        let rendered = |resources: &[Resource]| -> BTreeMap<IstioKey, Value> {
            let kept: Vec<Resource> = resources
                .iter()
                .filter(|r| tree::within(&r.fqn, only))
                .cloned()
                .collect();
            render_clusters(&kept, clusters, None)
                .objects
                .into_iter()
                .map(|r| (IstioKey::of(&r.cluster, &r.object), r.object))
                .collect()
        };
        diff_maps(&rendered(from), &rendered(to))
    });
    (objects, istio)
}

fn read_inventory(path: &Path) -> anyhow::Result<Vec<ClusterNamespaces>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("--inventory {}", path.display()))?;
    parse_inventory(&text).map_err(|e| anyhow!("--inventory {}: {e}", path.display()))
}

async fn execute(args: DiffArgs) -> anyhow::Result<bool> {
    let DiffArgs {
        from,
        to,
        mapping,
        only,
        inventory,
        output,
        mp,
    } = args;
    let rewrite = rewrite(&mapping, &from, &to)?;
    let clusters = inventory.as_deref().map(read_inventory).transpose()?;
    let from_side = read_side(&from, &rewrite, &mp).await?;
    let to_side = read_side(&to, &Rewrite::default(), &mp).await?;
    let (objects, istio) = compare(
        &from_side.resources,
        &to_side.resources,
        only.as_ref(),
        clusters.as_deref(),
    );
    let report = Report {
        from: from_side.label,
        to: to_side.label,
        mapped: !rewrite.is_identity(),
        objects,
        istio,
    };
    let text = output::render(output, &report);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .context("writing the report")?;
    Ok(report.is_different())
}

/// Runs `diff`: exit 0 when the sides are equal, 1 when they differ, 2 when a side cannot be
/// read (the reason on stderr, prefixed `error:`).
pub async fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    Ok(ExitCode::from(match execute(args).await {
        Ok(false) => EXIT_EQUAL,
        Ok(true) => EXIT_DIFFERENT,
        Err(err) => {
            eprintln!("error: {err:#}");
            EXIT_ERROR
        }
    }))
}

#[cfg(test)]
mod tests;
