//! The real [`CycleRunner`]: the sync cycle of [`crate::cycle`] behind the service's trait,
//! and the translation of its [`CycleReport`] into the [`CycleSummary`] the metrics read.
//!
//! Owns that adapter only. Must never change what a cycle does. A targeted request (contact
//! ids from webhooks) runs [`crate::cycle::run_targeted`]: the named contacts are read by id,
//! which HubSpot serves without the search index lag, so it runs at once (no settle delay)
//! and leaves the watermarks to the scheduled cycle. After a scheduled cycle, when
//! `matching.scan_cron` has fired since the last scan, it runs the full duplicate scan
//! (`merges::scan`) in the same turn, so a scan never overlaps a cycle.

use super::{CycleRunner, CycleSummary, RunError};
use crate::cycle::{Cycle, CycleReport};
use crate::domain::HubspotId;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Runs [`Cycle::run`] for scheduled requests and [`Cycle::run_targeted`] for webhook ones.
#[derive(Debug, Clone)]
pub struct SyncRunner {
    cycle: Cycle,
    scan: Option<ScanSchedule>,
}

/// When the full duplicate scan runs.
#[derive(Debug, Clone)]
pub struct ScanSchedule {
    pub schedule: cron::Schedule,
    /// Before any scan was recorded, the first is due at the first fire time after this.
    pub since: DateTime<Utc>,
}

impl SyncRunner {
    /// A runner over `cycle`.
    pub fn new(cycle: Cycle) -> Self {
        Self { cycle, scan: None }
    }

    /// The same runner, also running the full scan on `scan`'s schedule.
    pub fn with_scan(self, scan: ScanSchedule) -> Self {
        Self {
            scan: Some(scan),
            ..self
        }
    }

    /// Runs the scan when it is due; a failure is logged, never the cycle's.
    async fn scan_if_due(&self) {
        let (Some(s), Some(settings)) = (&self.scan, &self.cycle.options.proposals) else {
            return;
        };
        let last = match self.cycle.store.scans(1).await {
            Ok(l) => l.into_iter().next().map(|s| s.started_at),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the scan log");
                return;
            }
        };
        let now = Utc::now();
        if !scan_due(&s.schedule, last, s.since, now) {
            return;
        }
        let mut progress = |m: &str| tracing::info!("duplicate scan: {m}");
        match crate::merges::scan::scan(&*self.cycle.store, settings, None, now, &mut progress)
            .await
        {
            Ok(r) => tracing::info!(
                created = r.proposals.created.len(),
                refreshed = r.proposals.refreshed.len(),
                "duplicate scan done"
            ),
            Err(e) => tracing::warn!(error = %e, "duplicate scan failed; it runs again next turn"),
        }
    }
}

/// Whether the scan is due at `now`: the schedule fired after the last scan started (or,
/// with none recorded, after `since`). Pure.
pub fn scan_due(
    schedule: &cron::Schedule,
    last_started: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> bool {
    let from = last_started.unwrap_or(since);
    schedule.after(&from).next().is_some_and(|fire| fire <= now)
}

/// The service's view of a cycle report. Counts keep the report's own names and add the
/// metric names: `read.<system>` (records read), `write.<system>.planned` (updates and
/// creates planned per system), `write.<system>.<done|failed|pending>` (outcomes of this
/// cycle's writes and of the resumed ones, per system) and `conflicts`.
pub fn summary_of(r: &CycleReport) -> CycleSummary {
    let mut counts: BTreeMap<String, u64> = r.counts();
    let s = &r.plan.summary;
    let n = |v: usize| v as u64;
    counts.insert("read.hubspot".into(), n(r.read_hubspot));
    counts.insert("read.gorgias".into(), n(r.read_gorgias));
    counts.insert(
        "write.hubspot.planned".into(),
        n(s.hubspot_updates + s.hubspot_creates),
    );
    counts.insert(
        "write.gorgias.planned".into(),
        n(s.gorgias_updates + s.gorgias_creates),
    );
    for (system, mut w) in [
        ("hubspot", r.applied.hubspot),
        ("gorgias", r.applied.gorgias),
    ] {
        let resumed = if system == "hubspot" {
            r.resumed.hubspot
        } else {
            r.resumed.gorgias
        };
        w.add(resumed);
        counts.insert(format!("write.{system}.done"), n(w.done));
        counts.insert(format!("write.{system}.failed"), n(w.failed));
        counts.insert(format!("write.{system}.pending"), n(w.pending));
    }
    CycleSummary {
        outcome: r.outcome,
        counts,
        error: r.refused.clone(),
    }
}

#[async_trait::async_trait]
impl CycleRunner for SyncRunner {
    async fn run(&self, targets: Option<Vec<HubspotId>>) -> Result<CycleSummary, RunError> {
        let report = match &targets {
            Some(ids) => {
                tracing::debug!(contacts = ids.len(), "targeted cycle");
                self.cycle.run_targeted(ids).await
            }
            None => self.cycle.run().await,
        }?;
        if targets.is_none() {
            self.scan_if_due().await;
        }
        Ok(summary_of(&report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_scan_is_due_once_its_schedule_fired_since_the_last() {
        // Weekly, Sunday 03:00 UTC. 2026-12-06 is a Sunday.
        let weekly: cron::Schedule = "0 0 3 * * Sun".parse().unwrap();
        let t = |d: u32, h: u32| Utc.with_ymd_and_hms(2026, 12, d, h, 0, 0).unwrap();
        let started = t(2, 12);
        // No scan yet: not before the first Sunday 03:00 after the service started.
        assert!(!scan_due(&weekly, None, started, t(6, 2)));
        assert!(scan_due(&weekly, None, started, t(6, 3)));
        // Scanned at 03:00 on the 6th: not again until the 13th.
        assert!(!scan_due(&weekly, Some(t(6, 3)), started, t(12, 23)));
        assert!(scan_due(&weekly, Some(t(6, 3)), started, t(13, 4)));
    }
}
