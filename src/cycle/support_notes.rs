//! The cycle's optional notes step (issue 14, `[support] notes = true`): records the notes
//! owed for the closed tickets the support feeds brought (before any HubSpot call), then
//! writes the owed notes of linked customers to HubSpot and associates them to the contacts.
//!
//! Never two notes for one ticket, even across a crash: each note is upserted by its unique
//! key property ([`crate::support::notes`]), so sending it again after a lost answer updates
//! the one note. A note HubSpot refuses stays owed (with its attempts and error) and is tried
//! again next cycle; a note whose customer is not linked yet waits for the link. A failing
//! note never fails the sync cycle. Sequencing only: what a note says is
//! [`crate::support::notes`]'s, the SQL the store's, the HTTP the connector's.

use super::{Cycle, CycleError, StopPoint};
use crate::domain::GorgiasId;
use crate::support::TicketFacts;
use crate::support::notes::{closed_at, note_key, note_properties, wants_note};
use chrono::{DateTime, Utc};

/// Owed notes handled per cycle, at most (the rest wait for the next cycle).
const MAX_PER_CYCLE: u32 = 10_000;
/// Notes per HubSpot batch call.
const BATCH: usize = 100;

/// What the notes step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotesReport {
    pub written: usize,
    /// Still owed after this cycle (refused, or their customer not linked yet).
    pub owed: usize,
}

/// Records a note owed for each of `tickets` that gets one (closed, not spam or trashed).
pub async fn owe(
    ctx: &Cycle,
    tickets: &[TicketFacts],
    now: DateTime<Utc>,
) -> Result<(), CycleError> {
    let owed: Vec<(i64, DateTime<Utc>)> = tickets
        .iter()
        .filter(|t| wants_note(t))
        .map(|t| (t.id, closed_at(t)))
        .collect();
    Ok(ctx.store.owe_support_notes(&owed, now).await?)
}

/// Writes the owed notes of linked customers; see the module header.
pub async fn write_owed(ctx: &Cycle) -> Result<NotesReport, CycleError> {
    let owed = ctx.store.support_notes_owed(MAX_PER_CYCLE).await?;
    let mut report = NotesReport {
        written: 0,
        owed: owed.len(),
    };
    let mut linked = vec![];
    for n in owed {
        let Ok(customer) = GorgiasId::new(n.ticket.customer_id) else {
            continue;
        };
        if let Some(link) = ctx.store.link_by_gorgias(customer).await? {
            linked.push((n.ticket, link.hubspot.as_str().to_owned()));
        }
    }
    if linked.is_empty() {
        return Ok(report);
    }
    let kind = match ctx.hubspot.note_contact_association().await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(error = %e, "support notes not written: no note → contact association type");
            return Ok(report);
        }
    };
    let app_base = ctx.gorgias.config().base_url.clone();
    for chunk in linked.chunks(BATCH) {
        let ids: Vec<i64> = chunk.iter().map(|(t, _)| t.id).collect();
        let notes: Vec<_> = chunk
            .iter()
            .map(|(t, _)| (note_key(t.id), note_properties(t, &app_base)))
            .collect();
        let made = match ctx.hubspot.upsert_notes(&notes).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, notes = ids.len(), "support notes refused; they stay owed");
                ctx.store
                    .support_notes_failed(&ids, &e.to_string(), Utc::now())
                    .await?;
                continue;
            }
        };
        if ctx.options.stop_at == Some(StopPoint::AfterNoteUpsert) {
            return Err(CycleError::Stopped(StopPoint::AfterNoteUpsert));
        }
        let pairs: Vec<(i64, String, String)> = chunk
            .iter()
            .filter_map(|(t, contact)| {
                made.get(&note_key(t.id))
                    .map(|note| (t.id, note.clone(), contact.clone()))
            })
            .collect();
        let to_associate: Vec<(String, String)> = pairs
            .iter()
            .map(|(_, n, c)| (n.clone(), c.clone()))
            .collect();
        let refused = match ctx.hubspot.associate_notes(&to_associate, &kind).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "support notes not associated; they stay owed");
                ctx.store
                    .support_notes_failed(&ids, &e.to_string(), Utc::now())
                    .await?;
                continue;
            }
        };
        let done: Vec<(i64, String, String)> = pairs
            .into_iter()
            .filter(|(_, n, _)| !refused.contains(n))
            .collect();
        // Refused, or left out of HubSpot's answer: owed still.
        let failed: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| !done.iter().any(|(t, _, _)| t == id))
            .collect();
        ctx.store.support_notes_written(&done, Utc::now()).await?;
        if !failed.is_empty() {
            ctx.store
                .support_notes_failed(&failed, "HubSpot wrote or associated no note", Utc::now())
                .await?;
        }
        report.written += done.len();
        report.owed -= done.len();
    }
    Ok(report)
}
