//! The long-running service behind `tether run`: the scheduler, the HTTP server (health,
//! readiness, metrics, HubSpot webhooks), graceful shutdown and progress reporting.
//!
//! Owns the [`CycleRunner`] abstraction the scheduler calls, the [`CycleSummary`] it gets
//! back and the [`Health`] the readiness probe reads. Must never hold sync logic: a cycle is
//! whatever the runner does; the service only decides when to run one and reports on it.

pub mod card;
pub mod card_context;
pub mod http;
pub mod metrics;
pub mod progress;
pub mod ready_file;
pub mod scheduler;
pub mod shutdown;
pub mod sync_runner;
pub mod webhook;

use crate::domain::HubspotId;
use crate::store::CycleOutcome;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// What a finished cycle reports to the service.
///
/// `counts` uses these names (others are kept but not exported as metrics):
/// `read.<system>` records read, `write.<system>.<outcome>` writes (`ok`, `failed`, ...),
/// `conflicts`, `proposals` (new merge proposals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleSummary {
    pub outcome: CycleOutcome,
    pub counts: BTreeMap<String, u64>,
    pub error: Option<String>,
}

/// One sync cycle, as the service sees it: `targets = None` is a full cycle over the change
/// feeds, `Some(ids)` syncs just these HubSpot contacts (named by webhooks).
#[async_trait::async_trait]
pub trait CycleRunner: Send + Sync {
    async fn run(&self, targets: Option<Vec<HubspotId>>) -> Result<CycleSummary, RunError>;
}

/// Why a [`CycleRunner`] could not finish a cycle (the scheduler records it as a failed
/// cycle and goes on).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The sync cycle stopped with an error (store, API, configuration).
    #[error(transparent)]
    Cycle(#[from] crate::cycle::CycleError),
}

/// What readiness knows about the cycles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CycleState {
    pub last_outcome: Option<CycleOutcome>,
    pub last_finished: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub running_since: Option<DateTime<Utc>>,
}

/// Why the service is not ready, or `Ok` when it is. A standby (another replica holds the
/// store's lease) runs no cycle, so only its store counts: it is ready to take over.
pub fn readiness(
    state: &CycleState,
    store_ok: bool,
    role: crate::store::Role,
    started_at: DateTime<Utc>,
    stale_after: Duration,
    now: DateTime<Utc>,
) -> Result<(), Vec<String>> {
    let mut why = vec![];
    if !store_ok {
        why.push("the store cannot be read".to_owned());
    }
    if role == crate::store::Role::Standby {
        return if why.is_empty() { Ok(()) } else { Err(why) };
    }
    if state.last_outcome == Some(CycleOutcome::Failed) {
        why.push("the last cycle failed".to_owned());
    }
    // Fresh means a success (or, before the first one, the start) recent enough; a cycle
    // running right now that started recently counts too (a long first backfill).
    let reference = [state.last_success, Some(started_at), state.running_since]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(started_at);
    let stale = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
    if now - reference > stale {
        why.push(format!(
            "no successful cycle for more than {} s",
            stale_after.as_secs()
        ));
    }
    if why.is_empty() { Ok(()) } else { Err(why) }
}

/// The staleness limit for a schedule period: three periods, and never under 5 minutes.
pub fn stale_after(period: Option<Duration>) -> Duration {
    let floor = Duration::from_secs(300);
    period.map(|p| (p * 3).max(floor)).unwrap_or(floor)
}

/// Shared, mutable health of the service.
#[derive(Debug)]
pub struct Health {
    pub started_at: DateTime<Utc>,
    pub stale_after: Duration,
    state: Mutex<CycleState>,
}

impl Health {
    pub fn new(started_at: DateTime<Utc>, stale_after: Duration) -> Self {
        Self {
            started_at,
            stale_after,
            state: Mutex::new(CycleState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CycleState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A snapshot.
    pub fn state(&self) -> CycleState {
        self.lock().clone()
    }

    pub fn cycle_started(&self) {
        self.lock().running_since = Some(Utc::now());
    }

    pub fn cycle_abandoned(&self) {
        self.lock().running_since = None;
    }

    pub fn cycle_finished(&self, outcome: CycleOutcome, at: DateTime<Utc>) {
        let mut s = self.lock();
        s.running_since = None;
        s.last_outcome = Some(outcome);
        s.last_finished = Some(at);
        if matches!(outcome, CycleOutcome::Ok | CycleOutcome::Partial) {
            s.last_success = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_run_error_keeps_the_cycle_error_and_its_message() {
        let e: RunError = crate::cycle::CycleError::Config("no mappings".into()).into();
        assert!(matches!(
            e,
            RunError::Cycle(crate::cycle::CycleError::Config(_))
        ));
        assert_eq!(e.to_string(), "configuration: no mappings");
    }

    use super::*;
    use crate::store::Role;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn readiness(
        state: &CycleState,
        store_ok: bool,
        started_at: DateTime<Utc>,
        limit: Duration,
        now: DateTime<Utc>,
    ) -> Result<(), Vec<String>> {
        super::readiness(state, store_ok, Role::Leader, started_at, limit, now)
    }

    #[test]
    fn a_standby_is_ready_while_its_store_reads() {
        let limit = Duration::from_secs(300);
        let s = CycleState {
            last_outcome: Some(CycleOutcome::Failed),
            ..CycleState::default()
        };
        // It runs no cycle: neither staleness nor the last cycle's outcome counts.
        let r = super::readiness(&s, true, Role::Standby, t(0), limit, t(10_000));
        assert_eq!(r, Ok(()));
        let r = super::readiness(&s, false, Role::Standby, t(0), limit, t(10));
        assert_eq!(r, Err(vec!["the store cannot be read".to_owned()]));
        // The same state on a leader is not ready.
        assert!(readiness(&s, true, t(0), limit, t(10_000)).is_err());
    }

    #[test]
    fn ready_when_fresh_store_ok_and_not_failed() {
        let limit = Duration::from_secs(300);
        let mut s = CycleState::default();
        assert_eq!(readiness(&s, true, t(0), limit, t(10)), Ok(()));
        assert!(readiness(&s, false, t(0), limit, t(10)).is_err());
        // No success for too long since start.
        assert!(readiness(&s, true, t(0), limit, t(301)).is_err());
        s.last_outcome = Some(CycleOutcome::Ok);
        s.last_success = Some(t(200));
        assert_eq!(readiness(&s, true, t(0), limit, t(400)), Ok(()));
        s.last_outcome = Some(CycleOutcome::Failed);
        let why = readiness(&s, true, t(0), limit, t(400)).unwrap_err();
        assert_eq!(why, ["the last cycle failed"]);
        // A long-running cycle started recently keeps it fresh.
        s.last_outcome = Some(CycleOutcome::Ok);
        s.running_since = Some(t(1000));
        assert_eq!(readiness(&s, true, t(0), limit, t(1100)), Ok(()));
    }

    #[test]
    fn staleness_is_three_periods_with_a_floor() {
        assert_eq!(
            stale_after(Some(Duration::from_secs(300))),
            Duration::from_secs(900)
        );
        assert_eq!(
            stale_after(Some(Duration::from_secs(1))),
            Duration::from_secs(300)
        );
        assert_eq!(stale_after(None), Duration::from_secs(300));
    }
}

/// How the service runs (from the configuration and `tether run`'s flags).
pub struct ServiceOptions {
    pub listen: std::net::SocketAddr,
    pub schedule: cron::Schedule,
    /// Run one full cycle at start-up.
    pub run_at_start: bool,
    /// How long an in-flight cycle may go on after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// The HubSpot app's client secret, for webhook signatures.
    pub client_secret: crate::secret::Secret,
    /// More routes (the review page) merged into the server.
    pub extra: Option<axum::Router>,
    /// The store's writer lease (PostgreSQL): cycles run only while it is held, `/readyz`
    /// and `/metrics` show it. `None`: a SQLite store, whose single writer always leads.
    pub lease: Option<std::sync::Arc<crate::store::Lease>>,
}

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server stopped with an error: {0}")]
    Server(#[source] std::io::Error),
}

/// A started service: HTTP bound, scheduler running.
pub struct Service {
    /// The address the HTTP server listens on (useful when the port was 0).
    pub addr: std::net::SocketAddr,
    pub health: std::sync::Arc<Health>,
    pub metrics: std::sync::Arc<metrics::Metrics>,
    pub targets: std::sync::Arc<scheduler::TargetRequests>,
    task: tokio::task::JoinHandle<Result<scheduler::Stopped, ServiceError>>,
}

impl Service {
    /// Binds the server and starts the scheduler; both stop when `shutdown` is triggered.
    pub async fn start(
        opts: ServiceOptions,
        store: crate::store::SharedStore,
        runner: std::sync::Arc<dyn CycleRunner>,
        api_sources: Vec<http::ApiSource>,
        shutdown: shutdown::Shutdown,
    ) -> Result<Service, ServiceError> {
        use std::sync::Arc;
        let now = Utc::now();
        let health = Arc::new(Health::new(
            now,
            stale_after(scheduler::period(&opts.schedule, now)),
        ));
        let metrics = Arc::new(metrics::Metrics::new());
        let targets = Arc::new(scheduler::TargetRequests::new());
        let mut state = http::AppState::new(
            store,
            health.clone(),
            metrics.clone(),
            targets.clone(),
            opts.client_secret,
            api_sources,
        );
        state.lease = opts.lease.clone();
        let app = http::router(state, opts.extra);
        let server = {
            let s = shutdown.clone();
            http::serve(app, opts.listen, async move { s.wait().await })
                .await
                .map_err(|source| ServiceError::Bind {
                    addr: opts.listen,
                    source,
                })?
        };
        let addr = server.addr;
        tracing::info!(%addr, "listening on {addr}: /healthz, /readyz, /metrics, /webhooks/hubspot");
        let cfg = scheduler::SchedulerConfig {
            schedule: opts.schedule,
            run_at_start: opts.run_at_start,
            shutdown_grace: opts.shutdown_grace,
            leader: opts.lease.as_ref().map(|l| l.subscribe()),
        };
        let task = tokio::spawn({
            let (health, metrics, targets) = (health.clone(), metrics.clone(), targets.clone());
            async move {
                let stopped =
                    scheduler::run(cfg, runner, targets, health, metrics, shutdown.subscribe())
                        .await;
                // The scheduler only returns on shutdown; make sure the server follows.
                shutdown.trigger();
                server.wait().await.map_err(ServiceError::Server)?;
                Ok(stopped)
            }
        });
        Ok(Service {
            addr,
            health,
            metrics,
            targets,
            task,
        })
    }

    /// Waits until the service has stopped.
    pub async fn wait(self) -> Result<scheduler::Stopped, ServiceError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServiceError::Server(std::io::Error::other(e))),
        }
    }
}
