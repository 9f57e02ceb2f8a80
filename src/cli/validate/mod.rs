//! `tsbridge validate`: the offline analyzer for CI (tsb-model.md §4, §6.9).
//!
//! Depends on: `model` (every rule), serde-saphyr (YAML), clap. Never: `store`, a cluster or
//! the management plane: the verdict depends only on the files.
//!
//! Pipeline: [`input::load`] (paths → files → documents → objects with their source),
//! [`check::check`] (the model's L1 on each object, L2/L3 over the set), [`output::render`].
//! The benchmark (`tests/bench/validate.rs`) calls the same functions.

pub mod check;
pub mod input;
pub mod output;

#[cfg(test)]
mod tests;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

pub use check::{Finding, Report, check};
pub use input::{InputError, InputObject, Loaded, Source, load, parse_str, split_documents};
pub use output::{OutputFormat, render};

/// Exit code: no errors (warnings allowed).
pub const EXIT_OK: u8 = 0;
/// Exit code: the files have errors.
pub const EXIT_ERRORS: u8 = 1;
/// Exit code: usage, I/O or YAML errors (clap uses 2 for usage errors too).
pub const EXIT_INPUT: u8 = 2;

/// Flags of `tsbridge validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Files or directories of YAML to check; directories are searched recursively for
    /// *.yaml and *.yml. `-` reads standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(
        short = 'o',
        long,
        env = "TSBRIDGE_OUTPUT",
        value_enum,
        default_value_t = OutputFormat::Text
    )]
    pub output: OutputFormat,
    /// Also list the objects that were skipped because they are not configuration (text and
    /// SARIF; JSON always lists them).
    #[arg(
        short = 'v',
        long,
        env = "TSBRIDGE_VERBOSE",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub verbose: bool,
    /// Warnings fail too (exit 1): for CI that must not let a field that is not enforced, a
    /// deprecated field or an ignored annotation through.
    #[arg(
        long,
        env = "TSBRIDGE_VALIDATE_STRICT",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub strict: bool,
}

/// [`load`], with every reason the input cannot be read printed to stderr (then exit 2).
pub fn load_or_report(paths: &[PathBuf]) -> Result<Loaded, ExitCode> {
    load(paths).map_err(|errors| {
        for error in &errors {
            eprintln!("error: {error}");
        }
        ExitCode::from(EXIT_INPUT)
    })
}

/// Runs the analyzer: exit 0 without errors, 1 with errors, 2 when the input cannot be read.
pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let ValidateArgs {
        paths,
        output,
        verbose,
        strict,
    } = args;
    let mut loaded = match load_or_report(&paths) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let report = check(std::mem::take(&mut loaded.objects));
    let text = render(output, &loaded, &report, verbose);
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("error: writing the report: {err}");
        return Ok(ExitCode::from(EXIT_INPUT));
    }
    Ok(ExitCode::from(
        if report.errors() > 0 || (strict && report.warnings() > 0) {
            EXIT_ERRORS
        } else {
            EXIT_OK
        },
    ))
}
