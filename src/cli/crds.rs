//! `tsbridge crds`: prints the CRDs generated from the Rust types.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::k8s::crds;

/// Flags of `tsbridge crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {
    /// Write one file per CRD (`<plural>.<group>.yaml`) into this directory instead of printing
    /// one YAML stream; the chart's `files/crds/` is made this way.
    #[arg(long, env = "TSBRIDGE_CRDS_OUTPUT_DIR", value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

/// Prints every CRD as a multi-document YAML stream, or writes them into a directory.
pub fn run(args: CrdsArgs) -> anyhow::Result<ExitCode> {
    let CrdsArgs { output_dir } = args;
    let all = crds::all()?;
    match output_dir {
        None => {
            let yaml = crds::to_yaml(&all)?;
            std::io::stdout().lock().write_all(yaml.as_bytes())?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in &all {
                let path = dir.join(crds::file_name(crd));
                let yaml = crds::to_yaml(std::slice::from_ref(crd))?;
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
