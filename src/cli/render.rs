//! `tsbridge render`: the Istio objects a cluster's agent would apply, offline, for review
//! ("what does this pull request produce in cluster X").
//!
//! The management plane's path, without the management plane: `validate`'s loader and checks
//! (an object the MP would refuse is an error here too), the model's conversion, resolution
//! and translation per cluster ([`translate_cluster`]), the MP's exclusions (a direct-mode
//! object in its own namespace of its origin cluster; objects over [`MAX_GENERATED_BYTES`]) and
//! the agent's ownership labels ([`owned_by`]).
//!
//! Depends on: `model`, `cli::validate`. Never: `store`, a cluster or the management plane.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

use crate::cli::validate::{EXIT_ERRORS, EXIT_INPUT, EXIT_OK, OutputFormat, check, load_or_report};
use crate::model::metadata::StripRules;
use crate::model::resolve::{ClusterNamespaces, ClusterService};
use crate::model::translate::{MAX_GENERATED_BYTES, is_passthrough, owned_by, translate_cluster};
use crate::model::{Converted, Resource};

/// Output of `render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderFormat {
    /// YAML documents, each preceded by a comment naming its cluster.
    Yaml,
    /// A JSON array of the objects.
    Json,
}

/// Flags of `tsbridge render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Files or directories of YAML, as for `validate`; `-` reads standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The cluster to render for (its registered name).
    #[arg(
        long,
        env = "TSBRIDGE_RENDER_CLUSTER",
        required_unless_present = "inventory",
        conflicts_with = "inventory"
    )]
    pub cluster: Option<String>,
    /// That cluster's namespaces, comma-separated (what its agent would report).
    #[arg(
        long,
        env = "TSBRIDGE_RENDER_NAMESPACES",
        value_delimiter = ',',
        requires = "cluster"
    )]
    pub namespaces: Vec<String>,
    /// A YAML file mapping each cluster name to its list of namespaces, or to its
    /// `namespaces` and `services` (name, namespace, ports, selector): renders every cluster.
    #[arg(long, env = "TSBRIDGE_RENDER_INVENTORY")]
    pub inventory: Option<PathBuf>,
    /// The cluster the files are synced into. There, a direct-mode object written in its own
    /// target namespace is the CR itself, and nothing is rendered for it (as the MP sends
    /// nothing).
    #[arg(long, env = "TSBRIDGE_RENDER_ORIGIN")]
    pub origin: Option<String>,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        env = "TSBRIDGE_RENDER_OUTPUT",
        value_enum,
        default_value_t = RenderFormat::Yaml
    )]
    pub output: RenderFormat,
}

/// One rendered object and the cluster it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The cluster.
    pub cluster: String,
    /// The object as the agent applies it.
    pub object: Value,
}

/// What rendering a set of resources for some clusters gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Output {
    /// Objects by cluster (in the order given), then by (group, kind, namespace, name).
    pub objects: Vec<Rendered>,
    /// Resources that did not translate in a cluster, one line each.
    pub errors: Vec<String>,
    /// What translation left out in a cluster (e.g. a ServiceSecuritySetting whose Service the
    /// cluster does not have), one line each.
    pub warnings: Vec<String>,
}

/// Renders `resources` for each cluster (pure: the CLI and the tests call exactly this).
pub fn render_clusters(
    resources: &[Resource],
    clusters: &[ClusterNamespaces],
    origin: Option<&str>,
) -> Output {
    let by_fqn: BTreeMap<String, &Resource> =
        resources.iter().map(|r| (r.fqn.to_string(), r)).collect();
    let mut output = Output::default();
    for cluster in clusters {
        let translation = translate_cluster(cluster, resources);
        for (fqn, diagnostic) in &translation.errors {
            output
                .errors
                .push(format!("cluster {}: {fqn}: {diagnostic}", cluster.cluster));
        }
        for (fqn, diagnostic) in &translation.warnings {
            output
                .warnings
                .push(format!("cluster {}: {fqn}: {diagnostic}", cluster.cluster));
        }
        let home = origin == Some(cluster.cluster.as_str());
        let passthrough: BTreeSet<_> = translation
            .sources
            .iter()
            .filter(|_| home)
            .flat_map(|(source, keys)| {
                keys.iter()
                    .filter(|key| by_fqn.get(source).is_some_and(|r| is_passthrough(r, key)))
            })
            .collect();
        for (key, generated) in &translation.objects {
            if passthrough.contains(key) {
                continue;
            }
            let object = generated.to_object();
            let bytes = object.to_string().len();
            if bytes > MAX_GENERATED_BYTES {
                output.errors.push(format!(
                    "cluster {}: {key}: {bytes} bytes, over the {MAX_GENERATED_BYTES}-byte limit \
                     of one generated object; the management plane would not send it",
                    cluster.cluster
                ));
                continue;
            }
            output.objects.push(Rendered {
                cluster: cluster.cluster.clone(),
                object: owned_by(object, &cluster.cluster),
            });
        }
    }
    output
}

/// The clusters to render for: `--cluster` with `--namespaces`, or the `--inventory` file.
fn clusters(args: &RenderArgs) -> Result<Vec<ClusterNamespaces>, String> {
    if let Some(cluster) = &args.cluster {
        return Ok(vec![ClusterNamespaces::new(
            cluster.clone(),
            args.namespaces.iter().cloned().collect(),
        )]);
    }
    let path = args
        .inventory
        .as_ref()
        .ok_or("give --cluster NAME --namespaces NS[,NS...] or --inventory FILE")?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--inventory {}: {e}", path.display()))?;
    parse_inventory(&text).map_err(|e| format!("--inventory {}: {e}", path.display()))
}

/// One cluster of an `--inventory` file: its namespaces (the short form), or its namespaces
/// and Services.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum InventoryEntry {
    Namespaces(Vec<String>),
    Full(ClusterEntry),
}

/// The long form of an inventory entry.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ClusterEntry {
    /// The cluster's namespaces (those of its Services are added).
    namespaces: Vec<String>,
    /// The cluster's Services: name, namespace, ports and selector.
    services: Vec<ClusterService>,
}

/// Parses an inventory: each cluster name maps to its list of namespaces, or to
/// `{namespaces: [...], services: [{name, namespace, ports, selector}]}`.
pub fn parse_inventory(text: &str) -> Result<Vec<ClusterNamespaces>, String> {
    let inventory: BTreeMap<String, InventoryEntry> = serde_saphyr::from_str(text).map_err(|e| {
        format!(
            "{e}; write one key per cluster with its list of namespaces, e.g. `east: [bookinfo, \
             istio-system]`, or with its namespaces and Services, e.g. `east: {{namespaces: \
             [bookinfo], services: [{{name: details, namespace: bookinfo, selector: {{app: \
             details}}}}]}}`"
        )
    })?;
    Ok(inventory
        .into_iter()
        .map(|(cluster, entry)| {
            let entry = match entry {
                InventoryEntry::Namespaces(namespaces) => ClusterEntry {
                    namespaces,
                    ..ClusterEntry::default()
                },
                InventoryEntry::Full(entry) => entry,
            };
            let mut namespaces: BTreeSet<String> = entry.namespaces.into_iter().collect();
            namespaces.extend(entry.services.iter().map(|s| s.namespace.clone()));
            ClusterNamespaces::new(cluster, namespaces).with_services(entry.services)
        })
        .collect())
}

/// The rendered objects as YAML documents or a JSON array.
pub fn format(output: &Output, format: RenderFormat) -> anyhow::Result<String> {
    Ok(match format {
        RenderFormat::Json => {
            let objects: Vec<&Value> = output.objects.iter().map(|r| &r.object).collect();
            serde_json::to_string_pretty(&objects)? + "\n"
        }
        RenderFormat::Yaml => {
            let mut text = String::new();
            for rendered in &output.objects {
                text.push_str(&format!("---\n# cluster: {}\n", rendered.cluster));
                text.push_str(&serde_saphyr::to_string(&rendered.object)?);
            }
            text
        }
    })
}

/// What `render` makes of some files: `validate`'s findings as text, and the objects unless
/// the findings hold an error.
#[derive(Debug)]
pub struct Rendering {
    /// Errors and warnings as `validate` prints them (empty when there are none).
    pub diagnostics: String,
    /// The rendered objects; `None` when the configuration has errors.
    pub output: Option<Output>,
}

/// Loads, checks and renders `paths` for `clusters`: the whole of `render` but the printing
/// (the golden tests call exactly this). `Err`: the input could not be read (reported).
pub fn render_paths(
    paths: &[PathBuf],
    clusters: &[ClusterNamespaces],
    origin: Option<&str>,
) -> Result<Rendering, ExitCode> {
    let mut loaded = load_or_report(paths)?;
    let inputs = std::mem::take(&mut loaded.objects);
    let strip = StripRules::default();
    let resources: Vec<Resource> = inputs
        .iter()
        .filter_map(
            |input| match crate::k8s::convert::to_resource(&input.value, &strip) {
                Ok(Converted::Resource { resource, .. }) => Some(*resource),
                _ => None,
            },
        )
        .collect();
    // The MP's verdict first: what it would refuse is not rendered.
    let report = check(inputs);
    let diagnostics = if report.errors() > 0 || report.warnings() > 0 {
        crate::cli::validate::render(OutputFormat::Text, &loaded, &report, false)
    } else {
        String::new()
    };
    let output = (report.errors() == 0).then(|| render_clusters(&resources, clusters, origin));
    Ok(Rendering {
        diagnostics,
        output,
    })
}

/// Runs `render`: exit 0 when everything rendered, 1 when the configuration has errors (a
/// validation error renders nothing; a translation error renders the rest), 2 when the input
/// cannot be read.
pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let clusters = match clusters(&args) {
        Ok(clusters) => clusters,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(EXIT_INPUT));
        }
    };
    let rendering = match render_paths(&args.paths, &clusters, args.origin.as_deref()) {
        Ok(rendering) => rendering,
        Err(code) => return Ok(code),
    };
    eprint!("{}", rendering.diagnostics);
    let Some(output) = rendering.output else {
        return Ok(ExitCode::from(EXIT_ERRORS));
    };
    for error in &output.errors {
        eprintln!("error: {error}");
    }
    for warning in &output.warnings {
        eprintln!("warning: {warning}");
    }
    let text = format(&output, args.output)?;
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(err.into());
    }
    Ok(ExitCode::from(if output.errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_ERRORS
    }))
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
