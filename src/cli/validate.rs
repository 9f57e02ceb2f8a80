//! `tsbridge validate`: the offline analyzer (being built; see the model issue).

use std::path::PathBuf;
use std::process::ExitCode;

/// Flags of `tsbridge validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Files or directories of YAML to check.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Runs the analyzer.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let ValidateArgs { paths } = args;
    anyhow::bail!("validate is not built yet ({} paths given)", paths.len())
}
