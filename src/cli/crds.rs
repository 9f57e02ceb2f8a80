//! `tsbridge crds`: prints the CRDs generated from the Rust types.

use std::process::ExitCode;

/// Flags of `tsbridge crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {}

/// Prints every CRD as a multi-document YAML stream.
pub fn run(args: CrdsArgs) -> anyhow::Result<ExitCode> {
    let CrdsArgs {} = args;
    anyhow::bail!("crds is not built yet")
}
