//! Resuming after a crash: before a cycle reads anything, the writes an earlier cycle left
//! `pending` in the outbox are sent. Updates are idempotent (the same values again); a
//! create is first looked up by e-mail (HubSpot batch read by e-mail, Gorgias customer
//! lookup), so a create whose answer was lost links to the record it made instead of making
//! a second one. Must never re-plan those writes: they are sent as persisted, except that an
//! update whose target changed after the write was planned is given up as superseded (its
//! bases were never stored, so this cycle's plan decides again with the newer value instead
//! of overwriting it).

use super::apply::{self, Applied};
use super::{Cycle, CycleError};
use crate::domain::RecordRef;
use crate::store::OpKind;
use chrono::Utc;

/// Finishes every pending outbox write (creates resolved by e-mail first).
pub async fn finish_pending(ctx: &Cycle) -> Result<Applied, CycleError> {
    let pending = ctx.store.pending_writes(1).await?;
    if pending.is_empty() {
        return Ok(Applied::default());
    }
    tracing::info!("finishing writes left pending by an interrupted cycle");
    drop_superseded(ctx).await?;
    apply::drain(ctx, true).await
}

/// Gives up the pending updates whose target was changed after they were planned (found by
/// the chaos suite: a person's edit made while tether was down was overwritten by the
/// resumed write). A target that cannot be read is left to the write itself.
async fn drop_superseded(ctx: &Cycle) -> Result<(), CycleError> {
    for item in ctx.store.pending_writes(10_000).await? {
        let (Some(target), OpKind::Update) = (&item.target, item.op) else {
            continue;
        };
        let changed_at = match target {
            RecordRef::Hubspot(id) => ctx
                .hubspot
                .get(id.as_str(), &[])
                .await
                .ok()
                .flatten()
                .and_then(|c| c.updated_at),
            RecordRef::Gorgias(id) => ctx
                .gorgias
                .get(id.get())
                .await
                .ok()
                .and_then(|c| c.updated_datetime),
        };
        if changed_at.is_some_and(|t| t > item.enqueued_at) {
            tracing::info!(record = %target, "pending update superseded by a newer change");
            ctx.store
                .mark_failed(
                    item.id,
                    "superseded: the record changed after this write was planned; the plan decides again",
                    &ctx.options.actor,
                    Utc::now(),
                )
                .await?;
        }
    }
    Ok(())
}
