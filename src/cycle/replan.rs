//! The records to re-plan this cycle: records the feeds may not name again (their watermark
//! moved past them) or name at a version already seen, yet which still owe something. One
//! set, read by id in one pass by [`super::read`] (HubSpot batch read of 100 a call, Gorgias
//! one get per customer, inside the clients' rate budgets), then planned like any record:
//! - **quarantined** records (a malformed answer): released when they read cleanly;
//! - **unsettled** records (a refused write, `store::unsettled`) whose backoff is over;
//! - **held** records (their pair holds a conflict for review), so `plan` keeps showing it,
//!   and the records of every live stored conflict (`store::conflicts`), so a resolution a
//!   person chose is applied by the next cycle even when neither side changed again.
//!
//! A record is in the set once, for the first reason in that order. Owns the set and the
//! fingerprint of the mappings and settings (a change clears the unsettled records'
//! backoff). Must never read a system or decide what to write.

use super::Cycle;
use super::read::HELD_KEY;
use crate::domain::RecordRef;
use crate::engine;
use crate::store::{RetrySelection, StoreError, UnsettledFilter};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Why a record is re-planned this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// In quarantine: released if it now reads cleanly.
    Quarantined,
    /// A write for it was refused and its backoff is over.
    Unsettled,
    /// Its pair holds a conflict for review.
    Held,
}

/// The records to re-plan, each with its reason.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replan {
    pub records: BTreeMap<RecordRef, Why>,
}

impl Replan {
    /// Adds records for a reason; one already in keeps its first reason.
    pub fn add(&mut self, why: Why, records: impl IntoIterator<Item = RecordRef>) {
        for r in records {
            self.records.entry(r).or_insert(why);
        }
    }

    /// The records re-planned for `why`.
    pub fn of(&self, why: Why) -> impl Iterator<Item = &RecordRef> {
        self.records
            .iter()
            .filter(move |(_, w)| **w == why)
            .map(|(r, _)| r)
    }
}

/// The store key of the fingerprint of the mappings and settings that last ran a cycle.
pub const FINGERPRINT_KEY: &str = "cycle.fingerprint";

/// A fingerprint of what decides the writes: the mappings and the `[sync]` options that
/// shape a plan. Pure.
pub fn fingerprint(ctx: &Cycle) -> String {
    let o = &ctx.options;
    let text = format!(
        "{:?}|{:?}|{}|{}",
        ctx.mappings, o.default_region, o.max_creates, o.max_overwrites
    );
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// Whether the mappings or settings changed since the last cycle (never true for a store
/// that has not run one).
pub async fn settings_changed(ctx: &Cycle) -> Result<bool, StoreError> {
    Ok(ctx
        .store
        .meta(FINGERPRINT_KEY)
        .await?
        .is_some_and(|f| f != fingerprint(ctx)))
}

/// Before a writing cycle: when the mappings or settings changed, clears the backoff of
/// every open unsettled record (a changed mapping may be what they waited for), then
/// stores the new fingerprint.
pub async fn note_settings(ctx: &Cycle, now: DateTime<Utc>) -> Result<(), StoreError> {
    let current = fingerprint(ctx);
    let stored = ctx.store.meta(FINGERPRINT_KEY).await?;
    if stored.as_deref() == Some(current.as_str()) {
        return Ok(());
    }
    if stored.is_some() {
        let n = ctx
            .store
            .retry_unsettled(
                &RetrySelection::All,
                "the mappings or settings changed",
                &ctx.options.actor,
                now,
            )
            .await?
            .len();
        if n > 0 {
            tracing::info!(
                records = n,
                "mappings or settings changed: unsettled records retried now"
            );
        }
    }
    ctx.store.set_meta(FINGERPRINT_KEY, &current).await
}

/// The records to re-plan at `now`. With `all_unsettled` every open unsettled record is
/// due (the dry run after a change of the mappings, which the writing cycle would clear).
pub async fn due(
    ctx: &Cycle,
    now: DateTime<Utc>,
    all_unsettled: bool,
) -> Result<Replan, StoreError> {
    let mut out = Replan::default();
    out.add(
        Why::Quarantined,
        ctx.store
            .quarantine_list()
            .await?
            .into_iter()
            .map(|q| q.record),
    );
    let filter = if all_unsettled {
        UnsettledFilter::Open
    } else {
        UnsettledFilter::Due(now)
    };
    out.add(
        Why::Unsettled,
        ctx.store
            .unsettled(filter)
            .await?
            .into_iter()
            .map(|u| u.record),
    );
    out.add(Why::Held, ctx.store.records_with_key(HELD_KEY).await?);
    // Both records of every live stored conflict: one a person resolved since the last
    // cycle is applied even when neither side changed again.
    out.add(
        Why::Held,
        ctx.store.conflicts(false).await?.into_iter().flat_map(|c| {
            [
                RecordRef::Hubspot(c.hubspot_id),
                RecordRef::Gorgias(c.gorgias_id),
            ]
        }),
    );
    Ok(out)
}

/// The plan's section of unsettled records ([`crate::engine::Plan::unsettled`]): every open
/// refused write and every quarantined record, newest first.
pub async fn plan_section(ctx: &Cycle) -> Result<Vec<engine::Unsettled>, StoreError> {
    let mut out: Vec<engine::Unsettled> = ctx
        .store
        .unsettled(UnsettledFilter::Open)
        .await?
        .into_iter()
        .map(|u| engine::Unsettled {
            kind: engine::UnsettledKind::Refused,
            id: Some(u.id.0),
            system: u.record.system(),
            record_id: u.record.id_string(),
            target: Some(u.target),
            op: Some(u.op.as_str().to_owned()),
            class: Some(u.class.as_str().to_owned()),
            reason: u.reason,
            attempts: u.attempts,
            since: u.first_failed_at,
            next_retry_at: Some(u.next_retry_at),
        })
        .collect();
    out.extend(
        ctx.store
            .quarantine_list()
            .await?
            .into_iter()
            .rev()
            .map(|q| engine::Unsettled {
                kind: engine::UnsettledKind::Quarantined,
                id: None,
                system: q.record.system(),
                record_id: q.record.id_string(),
                target: None,
                op: None,
                class: None,
                reason: q.reason,
                attempts: 0,
                since: q.since,
                next_retry_at: None,
            }),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};

    #[test]
    fn a_record_keeps_its_first_reason() {
        let h = RecordRef::Hubspot(HubspotId::new("5").unwrap());
        let g = RecordRef::Gorgias(GorgiasId::new(5).unwrap());
        let mut r = Replan::default();
        r.add(Why::Quarantined, [h.clone()]);
        r.add(Why::Unsettled, [h.clone(), g.clone()]);
        r.add(Why::Held, [g.clone()]);
        assert_eq!(r.records[&h], Why::Quarantined);
        assert_eq!(r.records[&g], Why::Unsettled);
        assert_eq!(r.of(Why::Unsettled).collect::<Vec<_>>(), vec![&g]);
    }
}
