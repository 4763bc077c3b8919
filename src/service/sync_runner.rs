//! The real [`CycleRunner`]: the sync cycle of [`crate::cycle`] behind the service's trait,
//! and the translation of its [`CycleReport`] into the [`CycleSummary`] the metrics read.
//!
//! Owns that adapter only. Must never change what a cycle does. A targeted request (contact
//! ids from webhooks) runs a full cycle: the cycle module has no targeted variant yet, and a
//! full cycle reads every change since the watermarks, those contacts included. Because
//! HubSpot's search (the change feed) shows a write only after an index lag, and a webhook
//! often arrives before that, a targeted request first waits [`DEFAULT_SETTLE`]; a change
//! still hidden then is picked up by the next scheduled cycle.

use super::{CycleRunner, CycleSummary};
use crate::cycle::{Cycle, CycleReport};
use crate::domain::HubspotId;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long a targeted request waits for HubSpot's search index before its full cycle.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);

/// Runs [`Cycle::run`] for every request.
#[derive(Debug, Clone)]
pub struct SyncRunner {
    cycle: Cycle,
    settle: Duration,
}

impl SyncRunner {
    /// A runner with the default settle delay for targeted requests.
    pub fn new(cycle: Cycle) -> Self {
        Self {
            cycle,
            settle: DEFAULT_SETTLE,
        }
    }

    /// Sets the delay a targeted request waits before its full cycle.
    pub fn with_settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }
}

/// The service's view of a cycle report. Counts keep the report's own names and add the
/// metric names: `write.<system>.planned` (updates and creates planned per system),
/// `write.all.<done|failed|pending>` (the report does not split outcomes by system) and
/// `conflicts`.
pub fn summary_of(r: &CycleReport) -> CycleSummary {
    let mut counts: BTreeMap<String, u64> = r.counts();
    let s = &r.plan.summary;
    let n = |v: usize| v as u64;
    counts.insert(
        "write.hubspot.planned".into(),
        n(s.hubspot_updates + s.hubspot_creates),
    );
    counts.insert(
        "write.gorgias.planned".into(),
        n(s.gorgias_updates + s.gorgias_creates),
    );
    counts.insert("write.all.done".into(), n(r.applied.done + r.resumed.done));
    counts.insert(
        "write.all.failed".into(),
        n(r.applied.failed + r.resumed.failed),
    );
    counts.insert(
        "write.all.pending".into(),
        n(r.applied.pending + r.resumed.pending),
    );
    CycleSummary {
        outcome: r.outcome,
        counts,
        error: r.refused.clone(),
    }
}

#[async_trait::async_trait]
impl CycleRunner for SyncRunner {
    async fn run(&self, targets: Option<Vec<HubspotId>>) -> Result<CycleSummary, String> {
        if let Some(ids) = &targets {
            tracing::debug!(
                contacts = ids.len(),
                settle_ms = self.settle.as_millis() as u64,
                "targeted request served by a full cycle after the settle delay"
            );
            tokio::time::sleep(self.settle).await;
        }
        let report = self.cycle.run().await.map_err(|e| e.to_string())?;
        Ok(summary_of(&report))
    }
}
