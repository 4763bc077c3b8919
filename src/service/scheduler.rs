//! The scheduler: runs a full cycle on the cron schedule (`schedule.cron`, seconds field
//! allowed) and a targeted cycle when webhooks name contacts, never two at once.
//!
//! A cycle that overruns its slot delays the next one: the next time is always computed
//! after the cycle ends, so missed ticks are skipped, never stacked. Targeted requests
//! arriving while a cycle runs are coalesced into one set and served by one targeted cycle.
//! On shutdown it takes no new work and gives the in-flight cycle a deadline to finish.
//! The schedule arithmetic and [`PendingTargets`] are pure. Must never run cycles itself
//! beyond calling the [`CycleRunner`]; what a cycle does is the cycle module's business.

use super::metrics::Metrics;
use super::{CycleRunner, CycleSummary, Health};
use crate::domain::HubspotId;
use crate::store::{CycleOutcome, Role};
use chrono::{DateTime, Utc};
use cron::Schedule;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// Most contact ids one targeted cycle carries; more turn the request into a full cycle.
pub const MAX_TARGETS: usize = 5_000;

/// Parses a cron expression (six or seven fields, seconds first).
pub fn parse_schedule(expr: &str) -> Result<Schedule, String> {
    expr.parse::<Schedule>()
        .map_err(|e| format!("{expr:?} is not a cron expression: {e}"))
}

/// The next fire time strictly after `now`: called when the previous cycle has ended, so
/// an overrun skips the ticks it covered instead of queueing them.
pub fn next_fire(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule.after(&now).next()
}

/// The schedule's nominal period near `now` (gap between its next two fire times); used for
/// staleness.
pub fn period(schedule: &Schedule, now: DateTime<Utc>) -> Option<Duration> {
    let mut it = schedule.after(&now);
    let a = it.next()?;
    let b = it.next()?;
    (b - a).to_std().ok()
}

/// The ids webhooks asked for, coalesced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PendingTargets {
    ids: BTreeSet<HubspotId>,
    /// Too many ids arrived: the next run should be a full cycle.
    overflow: bool,
}

/// What to run for the pending requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    Nothing,
    Targeted(Vec<HubspotId>),
    Full,
}

impl PendingTargets {
    /// Adds ids; past [`MAX_TARGETS`] the set collapses into "run a full cycle".
    pub fn add(&mut self, ids: impl IntoIterator<Item = HubspotId>) {
        if self.overflow {
            return;
        }
        self.ids.extend(ids);
        if self.ids.len() > MAX_TARGETS {
            self.ids.clear();
            self.overflow = true;
        }
    }

    /// Takes everything pending, leaving the set empty.
    pub fn take(&mut self) -> Work {
        let work = if self.overflow {
            Work::Full
        } else if self.ids.is_empty() {
            Work::Nothing
        } else {
            Work::Targeted(self.ids.iter().cloned().collect())
        };
        *self = PendingTargets::default();
        work
    }

    pub fn is_empty(&self) -> bool {
        !self.overflow && self.ids.is_empty()
    }
}

/// The channel from webhooks to the scheduler: requests coalesce in one set.
#[derive(Debug, Default)]
pub struct TargetRequests {
    pending: Mutex<PendingTargets>,
    notify: Notify,
}

impl TargetRequests {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues contacts for a targeted cycle and wakes the scheduler.
    pub fn request(&self, ids: impl IntoIterator<Item = HubspotId>) {
        self.lock().add(ids);
        self.notify.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PendingTargets> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes what is pending.
    pub fn take(&self) -> Work {
        self.lock().take()
    }

    /// Drops pending targets (a full cycle is about to cover them).
    pub fn clear(&self) {
        self.lock().take();
    }

    /// Whether anything is pending.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    async fn notified(&self) {
        self.notify.notified().await
    }
}

/// How the scheduler runs.
#[derive(Clone)]
pub struct SchedulerConfig {
    pub schedule: Schedule,
    /// Run one full cycle at start-up before following the schedule.
    pub run_at_start: bool,
    /// How long an in-flight cycle may go on after shutdown is asked.
    pub shutdown_grace: Duration,
    /// The store lease's role (PostgreSQL): no cycle runs while standby, and one full cycle
    /// runs at once on becoming leader (resuming the former leader's outbox). `None`: always
    /// leader (a SQLite store).
    pub leader: Option<watch::Receiver<Role>>,
}

/// Waits until `roles` says leader; `false` when shutdown came first.
async fn wait_until_leader(
    roles: &mut watch::Receiver<Role>,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    loop {
        if *shutdown.borrow() {
            return false;
        }
        if *roles.borrow_and_update() == Role::Leader {
            return true;
        }
        tokio::select! {
            r = shutdown.changed() => if r.is_err() { return false },
            r = roles.changed() => if r.is_err() {
                // The lease is gone (the store closed): nothing will lead again.
                let _ = shutdown.changed().await;
                return false;
            },
        }
    }
}

/// Resolves when the role changes (never without a lease).
async fn role_changed(roles: &mut Option<watch::Receiver<Role>>) {
    let Some(r) = roles else {
        return std::future::pending().await;
    };
    if r.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Whether cycles may run now.
fn leading(roles: &Option<watch::Receiver<Role>>) -> bool {
    roles.as_ref().is_none_or(|r| *r.borrow() == Role::Leader)
}

/// How the scheduler loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// Shutdown asked, no cycle was running or it finished in time.
    Clean,
    /// Shutdown asked and the in-flight cycle was abandoned at the deadline (its unsent
    /// writes stay in the outbox).
    AbandonedCycle,
}

/// Runs cycles until `shutdown` turns true.
pub async fn run(
    cfg: SchedulerConfig,
    runner: Arc<dyn CycleRunner>,
    targets: Arc<TargetRequests>,
    health: Arc<Health>,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) -> Stopped {
    let mut first = cfg.run_at_start;
    let mut roles = cfg.leader.clone();
    loop {
        if *shutdown.borrow() {
            return Stopped::Clean;
        }
        if let Some(r) = roles.as_mut()
            && *r.borrow() != Role::Leader
        {
            tracing::info!("standby: another process holds the store's lease; no cycle runs");
            if !wait_until_leader(r, &mut shutdown).await {
                return Stopped::Clean;
            }
            tracing::info!("leader: a full cycle runs now, resuming the outbox");
            first = true;
        }
        let work = if first {
            first = false;
            Work::Full
        } else {
            let now = Utc::now();
            let wait = next_fire(&cfg.schedule, now)
                .and_then(|t| (t - now).to_std().ok())
                // A schedule with no future time: wait for webhooks or shutdown only.
                .unwrap_or(Duration::from_secs(86_400 * 365));
            let pending = targets.take();
            if pending != Work::Nothing {
                pending
            } else {
                tokio::select! {
                    r = shutdown.changed() => {
                        if r.is_err() {
                            return Stopped::Clean;
                        }
                        continue;
                    }
                    _ = tokio::time::sleep(wait) => Work::Full,
                    _ = role_changed(&mut roles) => continue,
                    _ = targets.notified() => {
                        match targets.take() {
                            Work::Nothing => continue,
                            w => w,
                        }
                    }
                }
            }
        };
        if !leading(&roles) {
            // Lost the lease while waiting: the work waits for the next leadership.
            continue;
        }
        let target_ids = match work {
            Work::Nothing => continue,
            Work::Full => {
                targets.clear();
                None
            }
            Work::Targeted(ids) => Some(ids),
        };
        let kind = if target_ids.is_some() {
            "targeted"
        } else {
            "full"
        };
        let n_targets = target_ids.as_ref().map_or(0, Vec::len);
        tracing::info!(kind, targets = n_targets, "cycle starting");
        health.cycle_started();
        let started = Instant::now();
        let cycle = runner.run(target_ids);
        tokio::pin!(cycle);
        let outcome = tokio::select! {
            r = &mut cycle => Some(r),
            _ = stop_after_grace(shutdown.clone(), cfg.shutdown_grace) => None,
        };
        let elapsed = started.elapsed();
        let Some(result) = outcome else {
            tracing::warn!(
                kind,
                grace_secs = cfg.shutdown_grace.as_secs_f64(),
                "shutdown: the cycle did not finish within the grace period; abandoned (the outbox keeps its unsent writes)"
            );
            health.cycle_abandoned();
            return Stopped::AbandonedCycle;
        };
        let summary = match result {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(kind, error = %e, "cycle failed");
                CycleSummary::failed(e.to_string())
            }
        };
        tracing::info!(
            kind,
            outcome = summary.outcome.as_str(),
            secs = elapsed.as_secs_f64(),
            "cycle finished"
        );
        metrics.observe_cycle(kind, &summary, elapsed);
        health.cycle_finished(summary.outcome, Utc::now());
    }
}

/// Resolves `grace` after shutdown is asked; never before.
async fn stop_after_grace(mut shutdown: watch::Receiver<bool>, grace: Duration) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            // The sender is gone: nobody can ask for shutdown any more.
            std::future::pending::<()>().await;
        }
    }
    tracing::info!(
        grace_secs = grace.as_secs_f64(),
        "shutdown asked: letting the in-flight cycle finish"
    );
    tokio::time::sleep(grace).await;
}

impl CycleSummary {
    /// The summary of a cycle that returned an error.
    pub fn failed(error: String) -> Self {
        Self {
            outcome: CycleOutcome::Failed,
            counts: Default::default(),
            error: Some(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, s).unwrap()
    }

    fn ids(v: &[&str]) -> Vec<HubspotId> {
        v.iter().map(|s| HubspotId::new(*s).unwrap()).collect()
    }

    #[test]
    fn every_second_and_every_five_minutes() {
        let s = parse_schedule("* * * * * *").unwrap();
        assert_eq!(next_fire(&s, at(0, 0, 0)), Some(at(0, 0, 1)));
        assert_eq!(period(&s, at(0, 0, 0)), Some(Duration::from_secs(1)));
        let s = parse_schedule("0 */5 * * * *").unwrap();
        assert_eq!(next_fire(&s, at(0, 0, 0)), Some(at(0, 5, 0)));
        assert_eq!(next_fire(&s, at(0, 4, 59)), Some(at(0, 5, 0)));
        assert_eq!(period(&s, at(0, 1, 0)), Some(Duration::from_secs(300)));
        assert!(parse_schedule("every minute").is_err());
    }

    #[test]
    fn an_overrun_skips_missed_ticks_instead_of_stacking() {
        let s = parse_schedule("0 */5 * * * *").unwrap();
        // The cycle fired at 00:05 and ran until 00:17:30: ticks at 00:10 and 00:15 are
        // skipped, the next is 00:20.
        assert_eq!(next_fire(&s, at(0, 17, 30)), Some(at(0, 20, 0)));
        // Ending exactly on a tick waits for the following one.
        assert_eq!(next_fire(&s, at(0, 20, 0)), Some(at(0, 25, 0)));
    }

    #[test]
    fn pending_targets_coalesce_and_overflow_to_full() {
        let mut p = PendingTargets::default();
        assert_eq!(p.take(), Work::Nothing);
        p.add(ids(&["2", "1"]));
        p.add(ids(&["2", "3"]));
        assert_eq!(p.take(), Work::Targeted(ids(&["1", "2", "3"])));
        assert!(p.is_empty());
        let many: Vec<HubspotId> = (0..=MAX_TARGETS)
            .map(|i| HubspotId::new(i.to_string()).unwrap())
            .collect();
        p.add(many);
        p.add(ids(&["7"]));
        assert_eq!(p.take(), Work::Full);
        assert_eq!(p.take(), Work::Nothing);
    }
}
