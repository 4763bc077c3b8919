//! `tether inbox [--json]`: everything waiting for a person, newest first, each with the
//! command that acts on it. Owns reading the store (read-only) and printing; the list is
//! built by the pure [`crate::report::inbox`].

use super::Global;
use crate::report::inbox;
use crate::store::UnsettledFilter;
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;

/// `tether inbox`
#[derive(Debug, Args)]
pub struct InboxArgs {
    /// Print the `tether.inbox/1` JSON document instead of text.
    #[arg(long)]
    pub json: bool,
    /// Most merge proposals listed.
    #[arg(long, default_value_t = 200)]
    pub limit: u32,
}

pub async fn run(global: &Global, args: InboxArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let store = super::open_store::reader(&loaded.settings.store)
        .await
        .context("cannot read the state store")?;
    let unsettled = store.unsettled(UnsettledFilter::Open).await?;
    let conflicts = store.conflicts(false).await?;
    let quarantine = store.quarantine_list().await?;
    let proposals = store.pending_proposals(args.limit).await?;
    let items = inbox::build(&inbox::Sources {
        unsettled: &unsettled,
        conflicts: &conflicts,
        quarantine: &quarantine,
        proposals: &proposals,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inbox::json(&items))?);
    } else {
        print!("{}", inbox::text(&items));
    }
    Ok(ExitCode::SUCCESS)
}
