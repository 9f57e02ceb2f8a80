use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<std::process::ExitCode> {
    // One process-wide TLS provider for kube, tonic, sqlx and our own listeners.
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a rustls crypto provider is already installed"))?;
    tsbridge::cli::Cli::parse().run().await
}
