//! `tether sandbox`: serves both sandboxes in the foreground and prints how to reach them
//! (base URLs and the credentials they accept), so a person can point tether, curl or another
//! client at them; `tether sandbox generate` writes a labelled CSV of synthetic profiles.
//!
//! Must never be used as a production endpoint: the sandboxes keep everything in memory.

use super::Global;
use super::generate::GenerateArgs;
use crate::sandbox::gorgias::{GorgiasSandbox, SandboxConfig as GorgiasSandboxConfig};
use crate::sandbox::hubspot::{
    BatchMode, HubspotSandbox, LegacyPaths, PortalRules, SandboxConfig as HubspotSandboxConfig,
};
use crate::secret::Secret;
use rand::Rng;
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub action: Option<SandboxAction>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum SandboxAction {
    /// Write a labelled CSV of synthetic profiles with duplicates and households.
    Generate(GenerateArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address of the HubSpot sandbox (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub hubspot_addr: SocketAddr,
    /// Address of the Gorgias sandbox (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub gorgias_addr: SocketAddr,
    /// Generated people to seed across both systems (overlaps, conflicts, near-duplicates).
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
    /// A contact property HubSpot's portal requires on create (repeatable); enforced on the
    /// 2026-09 API paths, as HubSpot does since that version.
    #[arg(long = "hubspot-require-on-create", value_name = "PROP")]
    pub hubspot_require_on_create: Vec<String>,
    /// How a HubSpot batch answers inputs that break a portal rule: one 207 error per
    /// input, or one 400 for the whole batch (HubSpot does not document which).
    #[arg(long, value_enum, default_value_t = ValidationBatch::PerRecord)]
    pub hubspot_validation_batch: ValidationBatch,
    /// How the legacy `/crm/v3/...` paths are answered: as today, or refused as they may be
    /// once HubSpot stops supporting them (September 2027).
    #[arg(long, value_enum, default_value_t = LegacyAnswer::Answer)]
    pub hubspot_legacy_paths: LegacyAnswer,
}

/// `--hubspot-validation-batch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ValidationBatch {
    PerRecord,
    WholeBatch,
}

/// `--hubspot-legacy-paths`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LegacyAnswer {
    Answer,
    Refuse,
}

fn portal_rules(args: &ServeArgs) -> PortalRules {
    PortalRules {
        create_required: args.hubspot_require_on_create.clone(),
        conditional_required: vec![],
        batch_mode: match args.hubspot_validation_batch {
            ValidationBatch::PerRecord => BatchMode::PerRecord,
            ValidationBatch::WholeBatch => BatchMode::WholeBatch,
        },
    }
}

pub async fn run(_global: &Global, args: SandboxArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        Some(SandboxAction::Generate(g)) => super::generate::run(g),
        None => serve(args.serve).await,
    }
}

fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let rules = portal_rules(&args);
    let token = args
        .hubspot_token
        .unwrap_or_else(|| format!("pat-sandbox-{}", random_hex(12)));
    let username = args
        .gorgias_username
        .unwrap_or_else(|| format!("sandbox-{}@example.com", random_hex(3)));
    let api_key = args.gorgias_api_key.unwrap_or_else(|| random_hex(16));
    let hcfg = HubspotSandboxConfig {
        token: Secret::new(token.clone()),
        portal_rules: rules,
        legacy_paths: match args.hubspot_legacy_paths {
            LegacyAnswer::Answer => LegacyPaths::Answer,
            LegacyAnswer::Refuse => LegacyPaths::Refuse,
        },
        ..HubspotSandboxConfig::default()
    };
    let gcfg = GorgiasSandboxConfig {
        username: username.clone(),
        api_key: Secret::new(api_key.clone()),
        ..GorgiasSandboxConfig::default()
    };
    let (hubspot, hubspot_running) = HubspotSandbox::start(hcfg, args.hubspot_addr)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot serve the HubSpot sandbox on {}: {e}",
                args.hubspot_addr
            )
        })?;
    let (gorgias, gorgias_running) = GorgiasSandbox::start(gcfg, args.gorgias_addr)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot serve the Gorgias sandbox on {}: {e}",
                args.gorgias_addr
            )
        })?;
    if args.records > 0 {
        let people = crate::generate::demo_people(args.records, args.seed);
        let (h, g) = super::demo::seed_sandboxes(&hubspot, &gorgias, &people);
        println!(
            "Seeded {h} HubSpot contacts and {g} Gorgias customers (seed {}).",
            args.seed
        );
    }
    // Listen for the stop signals before announcing how to stop: a SIGTERM sent as soon as
    // the banner is read must not find the default handler (which kills without cleanup).
    let stop = crate::service::shutdown::listen();
    println!("HubSpot sandbox: {}", hubspot_running.base_url);
    println!("  bearer token:  {token}");
    println!("Gorgias sandbox: {}", gorgias_running.base_url);
    println!("  username:      {username}");
    println!("  api key:       {api_key}");
    println!();
    println!("Point tether at them with:");
    println!(
        "  export TETHER__HUBSPOT__BASE_URL={}",
        hubspot_running.base_url
    );
    println!("  export TETHER__HUBSPOT__TOKEN={token}");
    println!(
        "  export TETHER__GORGIAS__BASE_URL={}",
        gorgias_running.base_url
    );
    println!("  export TETHER__GORGIAS__USERNAME={username}");
    println!("  export TETHER__GORGIAS__API_KEY={api_key}");
    println!();
    println!("Test controls live under /__sandbox/ on each. Press Ctrl-C to stop.");
    stop.await;
    eprintln!("stopping the sandboxes");
    hubspot_running.stop().await;
    gorgias_running.stop().await;
    Ok(ExitCode::SUCCESS)
}
