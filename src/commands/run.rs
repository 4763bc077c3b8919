//! `tether run`: the long-running service. Takes the store's single-writer guard for the
//! life of the process (a second `tether run` on the same SQLite store is refused with the
//! holder's pid, host and since; on PostgreSQL it stands by until it holds the writer lease,
//! and leads from then on, `docs/service.md`), serves health, readiness, metrics and HubSpot webhooks,
//! and runs sync cycles on the cron schedule and on webhook demand until SIGTERM/SIGINT.
//!
//! Owns wiring only (configuration, store, connectors, the cycle runner). Must never hold
//! scheduling or sync logic: those live in `crate::service` and the cycle module.

use super::Global;
use crate::cycle::Cycle;
use crate::service::http::ApiSource;
use crate::service::ready_file::ReadyFile;
use crate::service::scheduler::Stopped;
use crate::service::shutdown::{self, Shutdown};
use crate::service::sync_runner::SyncRunner;
use crate::service::{CycleRunner, Service, ServiceOptions, metrics};
use anyhow::Context;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Seconds an in-flight cycle may go on after SIGTERM/SIGINT before it is abandoned
    /// (its unsent writes stay in the outbox for the next start).
    #[arg(long, default_value_t = 8, value_name = "SECS")]
    pub shutdown_grace: u64,
    /// Do not run a cycle at start-up; wait for the first scheduled time.
    #[arg(long)]
    pub no_initial_cycle: bool,
    /// Once the HTTP listener is bound, write its address (`127.0.0.1:PORT`) to this file,
    /// for scripts and tests that start tether on `server.listen = "127.0.0.1:0"`.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<std::path::PathBuf>,
}

pub async fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = loaded.settings;
    // Parsed and checked once, when the configuration loaded.
    let listen: SocketAddr = settings.server.listen;
    let schedule = settings.schedule.cron.schedule().clone();
    // The full duplicate scan's own schedule (`tether merges scan`), unless turned off
    // (validated when the configuration loaded).
    let scan_schedule = match settings.matching.scan_cron.trim() {
        "" => None,
        expr => Some(
            crate::service::scheduler::parse_schedule(expr)
                .map_err(|e| super::UsageError(format!("matching.scan_cron: {e}")))?,
        ),
    };

    // A stale ready file from an earlier run must not announce this one before it is bound.
    let ready = match &args.ready_file {
        Some(path) => Some(ReadyFile::clear(path).map_err(|e| super::UsageError(e.to_string()))?),
        None => None,
    };

    // Signals are handled from here on: one arriving during start-up stops the service
    // as soon as it is up, with exit code 0.
    let stop = Shutdown::new();
    let signals = shutdown::on_signal(stop.clone());

    // The writer guard (SQLite) or the writer lease (PostgreSQL: standing by while another
    // replica holds it), held until the store is closed at the end.
    let (store, lease) = super::open_store::replica(&settings.store)
        .await
        .context("tether run needs the store as its writer")?;
    if let Some(w) = store.writer() {
        tracing::info!(pid = w.pid, host = %w.host, since = %w.since, "writing to the state store");
    }

    let mut cycle = match Cycle::from_settings(&settings, store.clone()) {
        Ok(c) => c,
        Err(e) => {
            store.close().await;
            // Bad mappings or missing credentials: a configuration mistake (exit 2).
            return Err(super::UsageError(e.to_string()).into());
        }
    };
    // The first backfill lists every record: show how far it got (bar or log lines).
    cycle.options.progress = Some(crate::service::progress::cycle_hook(
        crate::service::progress::MIN_TOTAL,
    ));
    // No API batch goes out unless the lease is certainly held at that moment.
    cycle.options.lease = lease.clone();
    let mut api_sources: Vec<ApiSource> = {
        let (h, g) = (cycle.hubspot.clone(), cycle.gorgias.clone());
        vec![
            Arc::new(move || metrics::hubspot_snapshot(&h)),
            Arc::new(move || metrics::gorgias_snapshot(&g)),
        ]
    };
    // The Gorgias sidebar card, when a secret protects it (docs/sidebar.md).
    let card = match crate::service::card::CardConfig::from_settings(&settings.sidebar) {
        None => {
            tracing::info!("sidebar.card_secret is not set: the Gorgias card is not served");
            None
        }
        Some(cfg) => {
            let state =
                crate::service::card::CardState::new(cfg, store.clone(), cycle.hubspot.clone());
            api_sources.push(crate::service::card::metrics_source(state.counters.clone()));
            Some(crate::service::card::router(state))
        }
    };
    // The review page and its JSON API, when a token protects them (they refuse everything
    // without one, so they are not mounted at all then).
    let review = if settings.server.review_token.is_empty() {
        tracing::info!("server.review_token is not set: the review page is not served");
        None
    } else {
        let connectors = crate::merges::Connectors {
            hubspot: Some(Arc::new(cycle.hubspot.clone())),
            gorgias: Some(cycle.gorgias.clone()),
        };
        let merger = crate::merges::Merger::new(
            store.clone(),
            connectors,
            crate::merges::Survivorship::default(),
        );
        let state = crate::review::ReviewState::new(merger, settings.server.review_token.clone())
            .with_settings(&settings);
        Some(axum::Router::new().nest("/review", crate::review::router(state)))
    };
    let mut runner = SyncRunner::new(cycle);
    if let Some(schedule) = scan_schedule {
        runner = runner.with_scan(crate::service::sync_runner::ScanSchedule {
            schedule,
            since: chrono::Utc::now(),
        });
    }
    let runner: Arc<dyn CycleRunner> = Arc::new(runner);

    let opts = ServiceOptions {
        listen,
        schedule,
        run_at_start: !args.no_initial_cycle,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        client_secret: settings.hubspot.client_secret.clone(),
        extra: match (review, card) {
            (Some(r), Some(c)) => Some(r.merge(c)),
            (r, c) => r.or(c),
        },
        lease,
    };
    let service = match Service::start(opts, store.clone(), runner, api_sources, stop.clone()).await
    {
        Ok(s) => s,
        Err(e) => {
            store.close().await;
            return Err(e.into());
        }
    };
    // A ready file that cannot be written stops the service: its reader would wait forever.
    let announced = match &ready {
        Some(r) => r.announce(service.addr).inspect_err(|_| stop.trigger()),
        None => Ok(()),
    };
    let stopped = service.wait().await;
    signals.abort();
    store.close().await;
    if let Some(r) = ready {
        r.remove();
    }
    announced?;
    match stopped? {
        Stopped::Clean => tracing::info!("stopped"),
        Stopped::AbandonedCycle => {
            tracing::warn!("stopped; the abandoned cycle's writes resume at the next start")
        }
    }
    Ok(ExitCode::SUCCESS)
}
