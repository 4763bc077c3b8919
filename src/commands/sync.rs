//! `tether sync [--once] [--allow-large]`: one sync cycle against the configured systems,
//! as the store's single writer. Also the shared edge helpers that build a
//! [`crate::cycle::Cycle`] from the configuration (used by `plan` and `setup`).
//!
//! Edge code only: loads settings and mappings, opens the store, builds the clients, runs
//! [`crate::cycle::run_cycle`] and prints its report. Must never hold sync logic.

use super::{Global, UsageError};
use crate::config::Settings;
use crate::connectors::gorgias::{GorgiasClient, GorgiasConfig};
use crate::connectors::hubspot::{HubspotClient, HubspotConfig};
use crate::cycle::{Cycle, CycleError, CycleReport};
use crate::mappings::{self, MappingSet};
use crate::store::{CycleOutcome, SharedStore};
use anyhow::Context;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Run one cycle and exit (the default; `tether run` is the scheduled service).
    #[arg(long, default_value_t = true)]
    pub once: bool,
    /// Apply the plan even when it exceeds the safety caps (`sync.max_creates`,
    /// `sync.max_overwrites`).
    #[arg(long)]
    pub allow_large: bool,
}

/// The mapping set named by the settings; a bad mapping is a configuration error (exit 2).
pub fn load_mappings(settings: &Settings) -> anyhow::Result<MappingSet> {
    mappings::load_dir(&settings.mappings.dir)
        .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))
        .with_context(|| format!("mappings in {}", settings.mappings.dir.display()))
}

/// Both clients from the settings.
pub fn clients(settings: &Settings) -> anyhow::Result<(HubspotClient, Arc<GorgiasClient>)> {
    if settings.hubspot.token.is_empty() {
        return Err(UsageError(
            "hubspot.token is empty: set TETHER__HUBSPOT__TOKEN (a private app token)".into(),
        )
        .into());
    }
    let hubspot = HubspotClient::new(HubspotConfig::from_settings(&settings.hubspot))
        .context("HubSpot client")?;
    let gcfg = GorgiasConfig::from_settings(&settings.gorgias)
        .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))?;
    let gorgias = GorgiasClient::new(gcfg).context("Gorgias client")?;
    Ok((hubspot, Arc::new(gorgias)))
}

/// A cycle context over `store` from the settings (configuration mistakes exit 2).
pub fn build_cycle(
    settings: &Settings,
    store: SharedStore,
    allow_large: bool,
) -> anyhow::Result<Cycle> {
    let mut cycle = Cycle::from_settings(settings, store).map_err(|e| match e {
        CycleError::Config(msg) => anyhow::Error::new(UsageError(msg)),
        other => anyhow::Error::new(other),
    })?;
    cycle.options.allow_large = allow_large;
    Ok(cycle)
}

/// The setup pre-check ([`crate::cycle::precheck`]): a missing mapped HubSpot property or
/// refused credentials exit 2 with what to do, before anything is read or written.
pub async fn precheck(cycle: &Cycle) -> anyhow::Result<()> {
    match crate::cycle::precheck::check(cycle).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_setup() => Err(UsageError(e.to_string()).into()),
        Err(e) => Err(anyhow::Error::new(e)),
    }
}

/// One human line per cycle figure.
pub fn describe(r: &CycleReport) -> String {
    let s = &r.plan.summary;
    let mut out = format!(
        "cycle #{} {}: {} pairs compared, {} links made, {} HubSpot + {} Gorgias updates, {} + {} creates, {} field writes, {} conflicts held, {} skips\n",
        r.id.0,
        r.outcome.as_str(),
        s.pairs,
        s.links,
        s.hubspot_updates,
        s.gorgias_updates,
        s.hubspot_creates,
        s.gorgias_creates,
        s.field_writes,
        s.conflicts,
        s.skips
    );
    if let Some(f) = &r.follow_up {
        out.push_str(&format!(
            "  follow-up over new links: {} HubSpot + {} Gorgias updates (ids written back)\n",
            f.summary.hubspot_updates, f.summary.gorgias_updates
        ));
    }
    out.push_str(&format!(
        "  writes: {} done, {} failed, {} pending; {} resumed from an interrupted cycle; {} creates resolved to an existing record; {} records quarantined\n",
        r.applied.done,
        r.applied.failed,
        r.applied.pending,
        r.resumed.done,
        r.applied.resolved_existing + r.resumed.resolved_existing,
        r.quarantined
    ));
    let refused = r.applied.failed + r.resumed.failed;
    if refused > 0 {
        out.push_str(&format!(
            "  {refused} refused write(s) kept: their records stay unsettled and are retried with a backoff; `tether plan` lists them, `tether retry` / `tether dismiss` act on them\n"
        ));
    }
    let d = &r.dedup;
    if d.records > 0 || d.merges_applied + d.merges_failed > 0 {
        out.push_str(&format!(
            "  duplicates: {} records compared, {} new merge proposals ({} refreshed, {} rejected before), {} auto-approved ({} held by the per-cycle cap), {} merges applied, {} failed\n",
            d.records,
            d.proposed,
            d.refreshed,
            d.previously_rejected,
            d.auto_approved,
            d.held_by_cap,
            d.merges_applied,
            d.merges_failed
        ));
        for f in &d.failures {
            out.push_str(&format!("  merge failed {f}\n"));
        }
    }
    if let Some(why) = &r.refused {
        out.push_str(&format!(
            "  REFUSED, nothing written: {why}\n  review it with `tether plan`, then rerun with --allow-large to apply it\n"
        ));
    }
    out
}

pub async fn run(global: &Global, args: SyncArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = &loaded.settings;
    let store = super::open_store::writer(&settings.store)
        .await
        .context("cannot open the state store as its writer")?;
    let mut cycle = build_cycle(settings, store.clone(), args.allow_large)?;
    if let Err(e) = precheck(&cycle).await {
        store.close().await;
        return Err(e);
    }
    // The first backfill lists every record: show how far it got.
    cycle.options.progress = Some(crate::service::progress::cycle_hook(
        crate::service::progress::MIN_TOTAL,
    ));
    let result = cycle.run().await;
    store.close().await;
    let report = result.context("the sync cycle failed")?;
    print!("{}", describe(&report));
    Ok(match report.outcome {
        CycleOutcome::Ok => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}
