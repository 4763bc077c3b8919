//! `tether sandbox`: serves both sandboxes in the foreground and prints how to reach them.

use super::Global;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Address of the HubSpot sandbox (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub hubspot_addr: SocketAddr,
    /// Address of the Gorgias sandbox (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub gorgias_addr: SocketAddr,
    /// Generated customers to seed.
    #[arg(long, default_value_t = 0)]
    pub records: usize,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// HubSpot bearer token to accept (random unless given).
    #[arg(long)]
    pub hubspot_token: Option<String>,
    /// Gorgias Basic-auth user name to accept (random unless given).
    #[arg(long)]
    pub gorgias_username: Option<String>,
    /// Gorgias API key to accept (random unless given).
    #[arg(long)]
    pub gorgias_api_key: Option<String>,
}

pub async fn run(_global: &Global, _args: SandboxArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("tether sandbox is not implemented yet")
}
