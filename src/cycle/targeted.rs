//! The targeted cycle: the same resume, plan, apply, dedup and bookkeeping steps as
//! [`super::run_cycle`], over HubSpot contacts named by id (from webhooks) instead of the
//! change feeds (docs/cycle.md "Targeted cycles").
//!
//! Owns only that entry point. Must never advance a watermark: the scheduled cycle owns
//! them, and a targeted cycle reads no feed, so moving one would skip the changes it did
//! not read.

use super::{Cycle, CycleError, CycleReport, read};
use crate::domain::HubspotId;

/// Runs one cycle over the named contacts: batch-reads them by id (merges followed), reads
/// their linked Gorgias customers (or same-e-mail candidates when unlinked), then plans and
/// applies exactly as [`super::run_cycle`] does (outbox, bases, links, audit, records seen),
/// but leaves both watermarks where they are. Reading by id is not subject to HubSpot's
/// search index lag, so it may run as soon as a webhook arrives. An empty `ids` still
/// finishes pending outbox writes and records a cycle row.
pub async fn run_targeted(ctx: &Cycle, ids: &[HubspotId]) -> Result<CycleReport, CycleError> {
    super::run_from(ctx, read::Source::Contacts(ids)).await
}

impl Cycle {
    /// Runs a targeted cycle; see [`run_targeted`].
    pub async fn run_targeted(&self, ids: &[HubspotId]) -> Result<CycleReport, CycleError> {
        run_targeted(self, ids).await
    }
}
