//! The command line: clap definitions and the mapping of outcomes to exit codes
//! (0 ok, 1 runtime failure, 2 bad usage or configuration).
//!
//! Owns argument parsing and dispatch only. Each subcommand's work lives in
//! [`crate::commands`]; this module must never grow logic beyond choosing which to call.

use crate::commands::{self, Global};
use crate::telemetry::{self, LogFormat};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "tether", version, about = "Two-way customer sync between HubSpot and Gorgias", long_about = None)]
pub struct Cli {
    /// Configuration file (default: tether.toml in the working directory, when present).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log line format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// More log detail (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less log detail (-q warnings, -qq errors only).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the state store: schema version, counts, watermarks, last cycle.
    Status(commands::status::StatusArgs),
    /// Explain one customer: each mapped field on both sides, the base, what a sync would
    /// do and why, and the history from the audit log (`tether explain EMAIL|ID`).
    Explain(commands::explain::ExplainArgs),
    /// Check the configuration, the store and the credentials of each system.
    Doctor,
    /// Serve the HubSpot and Gorgias sandboxes in the foreground.
    Sandbox(commands::sandbox::SandboxArgs),
    /// Work with the field mapping files (`tether mappings check [DIR]`).
    Mappings(commands::mappings::MappingsArgs),
    /// Duplicate matching tools: evaluate the matcher on labelled data.
    Match(commands::matching::MatchArgs),
    /// Run the service: cycles on the schedule and on webhooks, health, metrics.
    Run(commands::run::RunArgs),
    /// Duplicate merge proposals: list, show, approve (merges now), reject.
    Merges(commands::merges::MergesArgs),
    /// Held conflicts (fields whose policy is `manual`): list, show, resolve.
    Conflicts(commands::conflicts::ConflictsArgs),
    /// Everything waiting for a person, newest first, each with the command that acts on it.
    Inbox(commands::inbox::InboxArgs),
    /// Serve the merge review page and its JSON API.
    Review(commands::review::ReviewArgs),
    /// Run one sync cycle (read both sides, plan, apply, record).
    Sync(commands::sync::SyncArgs),
    /// Dry run: show what a sync would do, writing nothing anywhere.
    Plan(commands::plan::PlanArgs),
    /// Create the HubSpot custom properties the mappings declare, the Gorgias sidebar
    /// widgets when `sidebar.install` asks for them, and retry refused writes at the next
    /// cycle.
    Setup,
    /// Gorgias sidebar: `install-widget [--card]`, `uninstall-widget`.
    Gorgias(commands::gorgias::GorgiasArgs),
    /// Plan refused writes again at the next cycle (`tether retry ID…` or `--all`).
    Retry(commands::unsettled::RetryArgs),
    /// Settle refused writes without a write (`tether dismiss ID… --reason R`).
    Dismiss(commands::unsettled::DismissArgs),
    /// Run a complete demo against local sandboxes (the README's main command).
    Demo(commands::demo::DemoArgs),
}

/// Parses the process arguments, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = cli.verbose as i8 - cli.quiet as i8;
    telemetry::init(cli.log_format, verbosity);
    let global = Global {
        config: cli.config.clone(),
        log_format: cli.log_format,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Status(args) => commands::status::run(&global, args).await,
            Command::Explain(args) => commands::explain::run(&global, args).await,
            Command::Doctor => commands::doctor::run(&global).await,
            Command::Sandbox(args) => commands::sandbox::run(&global, args).await,
            Command::Mappings(args) => commands::mappings::run(&global, args).await,
            Command::Match(args) => commands::matching::run(&global, args).await,
            Command::Run(args) => commands::run::run(&global, args).await,
            Command::Merges(args) => commands::merges::run(&global, args).await,
            Command::Conflicts(args) => commands::conflicts::run(&global, args).await,
            Command::Inbox(args) => commands::inbox::run(&global, args).await,
            Command::Review(args) => commands::review::run(&global, args).await,
            Command::Sync(args) => commands::sync::run(&global, args).await,
            Command::Plan(args) => commands::plan::run(&global, args).await,
            Command::Setup => commands::setup::run(&global).await,
            Command::Gorgias(args) => commands::gorgias::run(&global, args).await,
            Command::Retry(args) => commands::unsettled::retry(&global, args).await,
            Command::Dismiss(args) => commands::unsettled::dismiss(&global, args).await,
            Command::Demo(args) => commands::demo::run(&global, args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(err) => {
            let code = commands::exit_code_for(&err);
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}
