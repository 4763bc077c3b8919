//! The real [`CycleRunner`]: the sync cycle of [`crate::cycle`] behind the service's trait,
//! and the translation of its [`CycleReport`] into the [`CycleSummary`] the metrics read.
//!
//! Owns that adapter only. Must never change what a cycle does. A targeted request (contact
//! ids from webhooks) runs [`crate::cycle::run_targeted`]: the named contacts are read by id,
//! which HubSpot serves without the search index lag, so it runs at once (no settle delay)
//! and leaves the watermarks to the scheduled cycle.

use super::{CycleRunner, CycleSummary, RunError};
use crate::cycle::{Cycle, CycleReport};
use crate::domain::HubspotId;
use std::collections::BTreeMap;

/// Runs [`Cycle::run`] for scheduled requests and [`Cycle::run_targeted`] for webhook ones.
#[derive(Debug, Clone)]
pub struct SyncRunner {
    cycle: Cycle,
}

impl SyncRunner {
    /// A runner over `cycle`.
    pub fn new(cycle: Cycle) -> Self {
        Self { cycle }
    }
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
        Ok(summary_of(&report))
    }
}
