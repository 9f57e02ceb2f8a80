//! `--log-level` / `--log-format` and the tracing subscriber behind them.

use tracing_subscriber::EnvFilter;

/// Logging flags shared by every long-running subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Tracing filter directives, e.g. `tsbridge=debug,kube=info`.
    #[arg(long, env = "TSBRIDGE_LOG_LEVEL", default_value = "tsbridge=info,warn")]
    pub log_level: String,
    /// Output format of log lines.
    #[arg(long, env = "TSBRIDGE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Errors from logging set-up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `--log-level` directives do not parse.
    #[error(
        "--log-level {directives:?} is not a valid filter ({source}); use e.g. `tsbridge=debug,warn`"
    )]
    Filter {
        /// The directives as given.
        directives: String,
        /// The parser's complaint.
        source: tracing_subscriber::filter::ParseError,
    },
    /// Another subscriber is already installed (only in tests that call this twice).
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

impl LogArgs {
    /// Installs the global subscriber; call once per process.
    pub fn init(&self) -> Result<(), Error> {
        let LogArgs {
            log_level,
            log_format,
        } = self;
        let filter = EnvFilter::try_new(log_level).map_err(|source| Error::Filter {
            directives: log_level.clone(),
            source,
        })?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let result = match log_format {
            LogFormat::Plain => builder.try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        result.map_err(|_| Error::AlreadyInstalled)
    }
}
