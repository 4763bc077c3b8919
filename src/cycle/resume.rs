//! Resuming after a crash: before a cycle reads anything, the writes an earlier cycle left
//! `pending` in the outbox are sent. Updates are idempotent (the same values again); a
//! create is first looked up by e-mail (HubSpot batch read by e-mail, Gorgias customer
//! lookup), so a create whose answer was lost links to the record it made instead of making
//! a second one. Must never re-plan those writes: they are sent as persisted.

use super::apply::{self, Applied};
use super::{Cycle, CycleError};

/// Finishes every pending outbox write (creates resolved by e-mail first).
pub async fn finish_pending(ctx: &Cycle) -> Result<Applied, CycleError> {
    let pending = ctx.store.pending_writes(1).await?;
    if pending.is_empty() {
        return Ok(Applied::default());
    }
    tracing::info!("finishing writes left pending by an interrupted cycle");
    apply::drain(ctx, true).await
}
