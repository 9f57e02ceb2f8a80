//! The `tsbridge` command line: parses flags and dispatches to subcommands.
//!
//! Depends on: every module (`mod.rs` only builds and dispatches); clap.
//! Never: `ctl`, `validate` and `crds` touch `store`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod crds;
pub mod ctl;
pub mod diff;
pub mod promote;
pub mod render;
pub mod validate;

/// GitOps for TSB-style service-mesh configuration: agent, admission webhook, management plane.
#[derive(Debug, Parser)]
#[command(name = "tsbridge", version, about, long_about = None)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions generated from tsbridge's Rust types (YAML).
    Crds(crds::CrdsArgs),
    /// Check TSB-style configuration files offline, as CI would (L1, L2 and L3 rules).
    Validate(validate::ValidateArgs),
    /// Print the Istio objects a cluster's agent would apply for configuration files, offline.
    Render(render::RenderArgs),
    /// Compare two config trees, or a tree and a management plane (`mp:`): TSB objects by FQN
    /// and, with --inventory, Istio objects per cluster. Exit 0 equal, 1 different, 2 error.
    Diff(diff::DiffArgs),
    /// Write into a target config tree the objects that differ from a source tree, keeping
    /// the target's environment-specific values; prints a commit-message summary.
    Promote(promote::PromoteArgs),
    /// Run the management plane: gRPC API, hierarchy validation, audit ledger.
    Server(crate::server::Args),
    /// Run the agent of one cluster: watch TSB CRs, sync them to the management plane, write status.
    Agent(crate::agent::Args),
    /// Use the management plane's API: apply, get, list, delete, status, audit, clusters, tokens.
    Ctl(ctl::CtlArgs),
}

impl Cli {
    /// Runs the selected subcommand and returns the process exit code.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Crds(args) => crds::run(args),
            Command::Validate(args) => validate::run(args),
            Command::Render(args) => render::run(args),
            Command::Ctl(args) => ctl::run(args).await,
            Command::Diff(args) => diff::run(args).await,
            Command::Promote(args) => promote::run(args),
            Command::Server(args) => {
                crate::server::run(args).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Agent(args) => {
                crate::agent::run(args).await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// Every flag of every subcommand can also be set from the environment (the chart uses both).
    #[test]
    fn every_flag_has_an_env_var() {
        fn walk(cmd: &clap::Command, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_positional() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_env().is_none() {
                    missing.push(format!("{} --{id}", cmd.get_name()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), &mut missing);
        assert!(missing.is_empty(), "flags without env: {missing:?}");
    }
}
