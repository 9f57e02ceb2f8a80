//! `tsbridge ctl`: the management plane's API from the command line, like `tctl`.
//!
//! Never touches the store: everything goes through the gRPC API.

pub mod client;
mod ledger;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use futures::StreamExt;

use crate::model::metadata::StripRules;
use crate::model::{Converted, KubeObject};
use crate::proto::v1;

pub use client::Connection;
use output::{Format, print_list, print_one};

/// Connection and output flags shared by every `ctl` command.
#[derive(Debug, Clone, Args)]
pub struct CtlArgs {
    /// Management-plane URL: `https://host:port`, or `http://127.0.0.1:port` for --insecure servers.
    #[arg(long, env = "TSBRIDGE_SERVER", global = true)]
    pub server: Option<String>,
    /// File holding the API token.
    #[arg(long, env = "TSBRIDGE_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// CA bundle that signs the server's certificate.
    #[arg(long, env = "TSBRIDGE_CA", global = true)]
    pub ca: Option<PathBuf>,
    /// A YAML file with `server`, `tokenFile` and `ca` (flags win).
    #[arg(long, env = "TSBRIDGE_CTL_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long, env = "TSBRIDGE_OUTPUT", value_enum, default_value_t = Format::Table, global = true)]
    pub output: Format,
    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// `ctl` commands.
#[derive(Debug, Clone, Subcommand)]
pub enum CtlCommand {
    /// Create or replace objects from CR-shaped YAML files (as kept in Git), parents first.
    Apply {
        /// Files or directories (`-` for stdin).
        #[arg(
            short = 'f',
            long = "filename",
            env = "TSBRIDGE_APPLY_FILES",
            required = true,
            value_delimiter = ','
        )]
        files: Vec<PathBuf>,
        /// Validate on the server without storing anything.
        #[arg(long, env = "TSBRIDGE_DRY_RUN")]
        dry_run: bool,
        /// Overwrite objects that came from GitOps (audited).
        #[arg(long, env = "TSBRIDGE_FORCE")]
        force: bool,
    },
    /// Show one object.
    Get {
        /// Its FQN.
        fqn: String,
    },
    /// List objects.
    List {
        /// Only children of this FQN.
        #[arg(long, env = "TSBRIDGE_LIST_PARENT")]
        parent: Option<String>,
        /// Only this kind (name or alias, e.g. Workspace, tg).
        #[arg(long, env = "TSBRIDGE_LIST_KIND")]
        kind: Option<String>,
        /// Every descendant, not only direct children.
        #[arg(short = 'r', long, env = "TSBRIDGE_LIST_RECURSIVE")]
        recursive: bool,
    },
    /// Delete an object and everything below it.
    Delete {
        /// Its FQN.
        fqn: String,
        /// Override deletion protection and GitOps ownership (audited).
        #[arg(long, env = "TSBRIDGE_FORCE")]
        force: bool,
        /// Show what would be deleted.
        #[arg(long, env = "TSBRIDGE_DRY_RUN")]
        dry_run: bool,
    },
    /// Show an object's management-plane status.
    Status {
        /// Its FQN.
        fqn: String,
    },
    /// Query the audit ledger (newest first).
    Audit(ledger::AuditArgs),
    /// Every revision of an object: who made it, from where, and what became of it in each
    /// cluster (applied, failed and why, pruned, reverted; rollbacks marked).
    History {
        /// Its FQN.
        fqn: String,
    },
    /// Delivery ledger rows: what became of each change in each cluster (newest first).
    Deliveries(ledger::DeliveriesArgs),
    /// Per cluster over a window: changes applied, failed (top reasons), rolled back, drift
    /// reverted, time to apply p50/p99.
    Report(ledger::ReportArgs),
    /// Clusters and their write grants.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `ctl cluster …`.
#[derive(Debug, Clone, Subcommand)]
pub enum ClusterCommand {
    /// Register a cluster (its agent's certificate names it).
    Create {
        /// Cluster name.
        name: String,
    },
    /// List clusters.
    List,
    /// Let a cluster write inside an organization, tenant or workspace.
    Grant(GrantArgs),
    /// Take a grant back.
    Revoke(GrantArgs),
    /// Let the deletions the mass-deletion guard holds for a cluster proceed.
    ConfirmDeletions {
        /// Cluster name.
        name: String,
    },
}

/// The scope of a grant.
#[derive(Debug, Clone, Args)]
pub struct GrantArgs {
    /// Cluster name.
    pub name: String,
    /// Organization.
    #[arg(long, env = "TSBRIDGE_GRANT_ORGANIZATION")]
    pub organization: String,
    /// Tenant (narrows the grant).
    #[arg(long, env = "TSBRIDGE_GRANT_TENANT")]
    pub tenant: Option<String>,
    /// Workspace (narrows it further; needs --tenant).
    #[arg(long, env = "TSBRIDGE_GRANT_WORKSPACE", requires = "tenant")]
    pub workspace: Option<String>,
}

impl GrantArgs {
    fn scope(&self) -> String {
        let mut scope = format!("organizations/{}", self.organization);
        if let Some(tenant) = &self.tenant {
            scope.push_str(&format!("/tenants/{tenant}"));
            if let Some(workspace) = &self.workspace {
                scope.push_str(&format!("/workspaces/{workspace}"));
            }
        }
        scope
    }
}

/// `ctl token …`.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Create a token; the secret is printed once.
    Create {
        /// admin, editor or viewer.
        #[arg(long, env = "TSBRIDGE_TOKEN_ROLE")]
        role: String,
        /// The FQN it is bound to (`*` for everything).
        #[arg(long, env = "TSBRIDGE_TOKEN_SCOPE")]
        scope: String,
        /// Who it identifies.
        #[arg(long, env = "TSBRIDGE_TOKEN_SUBJECT")]
        subject: String,
        /// A unique name to list and revoke it by (default: SUBJECT-<8 hex digits>).
        #[arg(long, env = "TSBRIDGE_TOKEN_NAME")]
        name: Option<String>,
    },
    /// List tokens (names, subjects, roles, scopes, revocations; never secrets).
    List,
    /// Revoke a token: every replica refuses it at once; it stays listed as revoked.
    Revoke {
        /// The token's name (from `ctl token list`).
        name: String,
    },
}

/// Runs one `ctl` command; a server rejection prints its message and diagnostics and exits 1.
pub async fn run(args: CtlArgs) -> anyhow::Result<ExitCode> {
    let format = args.output;
    let connection = Connection::from_args(&args)?;
    let mut client = connection.connect().await?;
    let outcome = execute(&mut client, args.command, format).await;
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(Failure::Status(status)) => {
            eprintln!("{}", client::describe(&status));
            Ok(ExitCode::from(1))
        }
        Err(Failure::Other(error)) => Err(error),
    }
}

/// A command failure: a server answer, or anything else.
enum Failure {
    Status(tonic::Status),
    Other(anyhow::Error),
}

impl From<tonic::Status> for Failure {
    fn from(status: tonic::Status) -> Failure {
        Failure::Status(status)
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Other(error)
    }
}

async fn execute(
    client: &mut client::Client,
    command: CtlCommand,
    format: Format,
) -> Result<(), Failure> {
    match command {
        CtlCommand::Apply {
            files,
            dry_run,
            force,
        } => apply(client, &files, dry_run, force, format).await,
        CtlCommand::Get { fqn } => {
            let resource = client
                .config
                .get(v1::GetRequest { fqn })
                .await?
                .into_inner();
            print_one(format, &resource).map_err(Failure::Other)
        }
        CtlCommand::List {
            parent,
            kind,
            recursive,
        } => {
            let listed = client
                .config
                .list(v1::ListRequest {
                    parent_fqn: parent.unwrap_or_default(),
                    kind: kind.unwrap_or_default(),
                    recursive,
                })
                .await?
                .into_inner();
            print_list(format, &listed.resources).map_err(Failure::Other)
        }
        CtlCommand::Delete {
            fqn,
            force,
            dry_run,
        } => {
            let deleted = client
                .config
                .delete(v1::DeleteRequest {
                    fqn,
                    force,
                    dry_run,
                    expected_etag: String::new(),
                })
                .await?
                .into_inner();
            let verb = if dry_run { "would delete" } else { "deleted" };
            for fqn in deleted.deleted {
                println!("{verb} {fqn}");
            }
            Ok(())
        }
        CtlCommand::Status { fqn } => {
            let status = client
                .status
                .get_status(v1::GetStatusRequest { fqn })
                .await?
                .into_inner();
            output::print_status(format, &status).map_err(Failure::Other)
        }
        CtlCommand::Audit(args) => {
            let entries = ledger::audit(client, args).await?;
            output::print_audit(format, &entries).map_err(Failure::Other)
        }
        CtlCommand::History { fqn } => {
            let history = client
                .ledger
                .history(v1::HistoryRequest { fqn })
                .await?
                .into_inner();
            ledger::print_history(format, &history).map_err(Failure::Other)
        }
        CtlCommand::Deliveries(args) => {
            let rows = ledger::deliveries(client, args).await?;
            ledger::print_deliveries(format, &rows).map_err(Failure::Other)
        }
        CtlCommand::Report(args) => {
            let request = ledger::report_request(args)?;
            let report = client.ledger.report(request).await?.into_inner();
            ledger::print_report(format, &report).map_err(Failure::Other)
        }
        CtlCommand::Cluster(command) => cluster(client, command, format).await,
        CtlCommand::Token(command) => token(client, command, format).await,
    }
}

async fn token(
    client: &mut client::Client,
    command: TokenCommand,
    format: Format,
) -> Result<(), Failure> {
    match command {
        TokenCommand::Create {
            role,
            scope,
            subject,
            name,
        } => {
            let created = client
                .clusters
                .create_token(v1::CreateTokenRequest {
                    role,
                    scope,
                    subject,
                    name: name.unwrap_or_default(),
                })
                .await?
                .into_inner();
            println!("{}", created.token);
            eprintln!(
                "token {} for user:{} ({} on {}); it is shown only once",
                created.name, created.subject, created.role, created.scope
            );
            Ok(())
        }
        TokenCommand::List => {
            let listed = client
                .clusters
                .list_tokens(v1::ListTokensRequest {})
                .await?
                .into_inner();
            output::print_tokens(format, &listed.tokens).map_err(Failure::Other)
        }
        TokenCommand::Revoke { name } => {
            let revoked = client
                .clusters
                .revoke_token(v1::RevokeTokenRequest { name })
                .await?
                .into_inner();
            if format == Format::Table {
                println!(
                    "token {} of user:{} revoked at {}",
                    revoked.name, revoked.subject, revoked.revoked
                );
                Ok(())
            } else {
                output::print_tokens(format, &[revoked]).map_err(Failure::Other)
            }
        }
    }
}

async fn cluster(
    client: &mut client::Client,
    command: ClusterCommand,
    format: Format,
) -> Result<(), Failure> {
    let clusters = match command {
        ClusterCommand::Create { name } => vec![
            client
                .clusters
                .create_cluster(v1::CreateClusterRequest { name })
                .await?
                .into_inner(),
        ],
        ClusterCommand::List => {
            client
                .clusters
                .list_clusters(v1::ListClustersRequest {})
                .await?
                .into_inner()
                .clusters
        }
        ClusterCommand::Grant(grant) => vec![
            client
                .clusters
                .grant(v1::GrantRequest {
                    scope: grant.scope(),
                    cluster: grant.name,
                })
                .await?
                .into_inner(),
        ],
        ClusterCommand::ConfirmDeletions { name } => {
            let confirmed = client
                .clusters
                .confirm_deletions(v1::ConfirmDeletionsRequest {
                    cluster: name.clone(),
                })
                .await?
                .into_inner();
            for fqn in &confirmed.deleted {
                println!("deleted {fqn}");
            }
            if confirmed.prune_confirmed > 0 {
                println!(
                    "confirmed: the agent of {name} prunes {} generated objects on the next full resync",
                    confirmed.prune_confirmed
                );
            }
            return Ok(());
        }
        ClusterCommand::Revoke(grant) => vec![
            client
                .clusters
                .revoke(v1::GrantRequest {
                    scope: grant.scope(),
                    cluster: grant.name,
                })
                .await?
                .into_inner(),
        ],
    };
    output::print_clusters(format, &clusters).map_err(Failure::Other)
}

/// Objects of one hierarchy level `ctl apply` keeps in flight: enough to fill the server's
/// group commits, few enough to stay far below any per-identity rate limit's burst.
const APPLY_CONCURRENCY: usize = 16;

/// Reads CR-shaped YAML, converts each object as the agent would, and applies parents first.
async fn apply(
    client: &mut client::Client,
    files: &[PathBuf],
    dry_run: bool,
    force: bool,
    format: Format,
) -> Result<(), Failure> {
    let loaded = crate::cli::validate::input::load(files).map_err(|errors| {
        Failure::Other(anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ))
    })?;
    let strip = StripRules::default();
    let mut resources = Vec::new();
    for input in &loaded.objects {
        let object: KubeObject = serde_json::from_value(input.value.clone())
            .with_context(|| format!("{}: not a Kubernetes object", input.source.file))?;
        match crate::model::convert(&object, &strip) {
            Converted::Resource { resource, .. } => resources.push(*resource),
            Converted::Ignored(reason) => {
                eprintln!(
                    "{}: skipping {}/{}: {}",
                    input.source.file,
                    object.kind,
                    object.metadata.name,
                    reason.message()
                );
            }
            Converted::Invalid(diagnostics) => {
                let lines: Vec<String> = diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .map(|d| format!("{}: {d}", input.source.file))
                    .collect();
                return Err(Failure::Other(anyhow::anyhow!("{}", lines.join("\n"))));
            }
        }
    }
    // Parents before children, so a whole hierarchy applies in one go: one hierarchy level at
    // a time, up to APPLY_CONCURRENCY objects of a level in flight, answers printed in input
    // order. A refusal stops the apply (writes already in flight still land).
    resources.sort_by_key(|r| r.fqn.to_string().matches('/').count());
    let mut applied = Vec::new();
    let mut levels = resources.into_iter().peekable();
    while let Some(first) = levels.next() {
        let depth = first.fqn.to_string().matches('/').count();
        let mut level = vec![first];
        while let Some(next) = levels.next_if(|r| r.fqn.to_string().matches('/').count() == depth) {
            level.push(next);
        }
        let mut answers = futures::stream::iter(level.into_iter().map(|resource| {
            let mut config = client.config.clone();
            let request = v1::ApplyRequest {
                // The API takes no origin from clients: the server records the caller.
                resource: Some(v1::Resource {
                    origin: None,
                    ..crate::proto::convert::resource_to_proto(&resource)
                }),
                dry_run,
                expected_etag: String::new(),
                force,
            };
            async move { (resource, config.apply(request).await) }
        }))
        .buffered(APPLY_CONCURRENCY);
        while let Some((resource, answer)) = answers.next().await {
            let response = answer?.into_inner();
            for warning in &response.warnings {
                eprintln!(
                    "warning[{}] {}: {}: {}; fix: {}",
                    warning.rule, warning.object, warning.field, warning.message, warning.fix
                );
            }
            if format == Format::Table {
                let verb = match (dry_run, response.created) {
                    (true, _) => "validated (dry run)",
                    (false, true) => "created",
                    (false, false) => "configured",
                };
                println!("{} {} {verb}", resource.kind.name(), resource.fqn);
            }
            applied.extend(response.resource);
        }
    }
    if format != Format::Table {
        print_list(format, &applied).map_err(Failure::Other)?;
    }
    Ok(())
}
