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
use serde_json::Value;

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

/// Settles the pending updates whose target was changed after they were planned (found by
/// the chaos suite: a person's edit made while tether was down was overwritten by the
/// resumed write). When the target already holds every value of the write, it landed before
/// the crash: marked done. Otherwise someone else changed it: given up as superseded, and
/// the plan decides again. A target that cannot be read is left to the write itself.
async fn drop_superseded(ctx: &Cycle) -> Result<(), CycleError> {
    for item in ctx.store.pending_writes(10_000).await? {
        let (Some(target), OpKind::Update) = (&item.target, item.op) else {
            continue;
        };
        let (changed_at, in_effect) = match target {
            RecordRef::Hubspot(id) => {
                let want = item.payload["properties"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                let names: Vec<&str> = want.keys().map(String::as_str).collect();
                match ctx.hubspot.get(id.as_str(), &names).await.ok().flatten() {
                    Some(c) => (
                        c.updated_at,
                        want.iter().all(|(k, v)| {
                            let have = c.properties.get(k).map(String::as_str).unwrap_or("");
                            v.as_str().is_some_and(|v| v == have)
                        }),
                    ),
                    None => (None, false),
                }
            }
            RecordRef::Gorgias(id) => match ctx.gorgias.get(id.get()).await {
                Ok(c) => {
                    let have = serde_json::to_value(&c).unwrap_or(Value::Null);
                    let fields_ok = item.payload["fields"]
                        .as_object()
                        .is_none_or(|w| w.iter().all(|(k, v)| contains(&have[k], v)));
                    let data_ok = match &item.payload["data"] {
                        Value::Null => true,
                        want => contains(&have["data"], want),
                    };
                    (c.updated_datetime, fields_ok && data_ok)
                }
                Err(_) => (None, false),
            },
        };
        if changed_at.is_none_or(|t| t <= item.enqueued_at) {
            continue;
        }
        if in_effect {
            ctx.store
                .mark_done(
                    item.id,
                    Some(&serde_json::json!({"resumed": "already in effect"})),
                    &ctx.options.actor,
                    Utc::now(),
                )
                .await?;
        } else {
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

/// Whether `have` holds everything `want` says (objects by key, arrays item by item).
fn contains(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w
            .iter()
            .all(|(k, v)| contains(h.get(k).unwrap_or(&Value::Null), v)),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(x, y)| contains(x, y))
        }
        _ => have == want,
    }
}
