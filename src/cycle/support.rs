//! The cycle's support step (issue 14): read the Gorgias ticket and satisfaction-survey
//! feeds, store the facts, recompute the roll-ups of the customers they changed, and write
//! only the changed roll-up values to the linked HubSpot contacts, in batches of 100 through
//! the outbox.
//!
//! With `[support] notes` on, closed tickets also owe a HubSpot note (`support_notes.rs`).
//!
//! Runs only when the mappings have roll-up fields (`@tickets.*`, `@satisfaction.*`) or
//! notes are on. The
//! first run reads every ticket and survey once (at backfill priority; the tickets page by
//! page, resumably, in `support_backfill.rs`); later runs read from
//! the feeds' watermarks less the overlap (surveys less a re-check window, for late scores).
//! A customer whose roll-up may have changed stays owed in the store until its contact's
//! write succeeds (or nothing differs), so a crash or a refused write never loses a change;
//! values a finished write already set before a crash kept them from being recorded are
//! recorded, not sent again.
//! Sequencing only: the roll-ups and what to write are [`crate::support`]'s pure functions;
//! the SQL is the store's, the HTTP the connectors'.

use super::apply::{self, Payload};
use super::{Cycle, CycleError};
use crate::connectors::gorgias::{TicketFeed, survey_watermark, ticket_watermark};
use crate::domain::{GorgiasId, RecordRef};
use crate::mappings::Include;
use crate::store::{CycleId, FeedPosition, NewWrite, OutboxStatus, SupportFeed};
use crate::support::{Change, Rollup, contact_writes, desired_values, includes, rollup};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// How long after its creation a survey is listed again, so a score given later is seen.
/// (How late customers answer is not documented; a week covers the usual reminder.)
pub const SURVEY_RECHECK: chrono::Duration = chrono::Duration::days(7);

/// Owed customers handled per round (facts read, writes enqueued and sent).
const ROUND: usize = 1000;

/// What the support step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SupportReport {
    /// Whether the step ran (the mappings have roll-up fields).
    pub ran: bool,
    pub tickets_read: usize,
    pub surveys_read: usize,
    /// Gorgias pages listed (tickets and surveys).
    pub pages: u32,
    /// Customers whose roll-up may have changed this cycle.
    pub customers_changed: usize,
    /// Contacts written (values changed), and their writes still owed (refused or pending).
    pub contacts_written: usize,
    pub contacts_owed: usize,
    /// HubSpot notes for closed tickets (`[support] notes`).
    pub notes: super::support_notes::NotesReport,
}

/// Runs the support step; see the module header.
pub async fn run(ctx: &Cycle, cycle: CycleId) -> Result<SupportReport, CycleError> {
    let mut report = SupportReport::default();
    if ctx.mappings.rollups.is_empty() && !ctx.options.notes {
        return Ok(report);
    }
    report.ran = true;
    let now = Utc::now();
    let overlap = chrono::Duration::from_std(ctx.options.overlap).unwrap_or_default();
    let tpos = ctx.store.support_feed(SupportFeed::Tickets).await?;
    let spos = ctx.store.support_feed(SupportFeed::Surveys).await?;
    // The first run backfills every ticket, page by page, resumably (its own transactions);
    // later runs read the incremental feed.
    let backfill = match tpos.at {
        None => Some(super::support_backfill::run(ctx, now).await?),
        Some(_) => None,
    };
    let tickets = match &backfill {
        Some(_) => TicketFeed {
            items: vec![],
            quarantined: vec![],
            pages: 0,
            complete_history: true,
        },
        None => {
            ctx.gorgias
                .tickets_since_watermark(tpos.at, overlap)
                .await?
        }
    };
    let surveys = ctx
        .gorgias
        .surveys_since_last_seen(spos.at, SURVEY_RECHECK)
        .await?;
    let b = backfill.unwrap_or_default();
    report.tickets_read = tickets.items.len() + b.tickets;
    report.surveys_read = surveys.items.len();
    report.pages = tickets.pages + b.pages + surveys.pages;
    report.customers_changed = b.customers_changed;
    tracing::info!(
        tickets = report.tickets_read,
        surveys = report.surveys_read,
        pages = report.pages,
        backfill = tpos.at.is_none(),
        "support feeds read"
    );
    let backfilled = tpos.at.is_none();
    let mut changes = gorgias_merges(ctx).await?;
    changes.extend(
        tickets
            .items
            .iter()
            .filter(|t| known_customer(t.customer_id, "ticket", t.id))
            .cloned()
            .map(Change::Ticket),
    );
    changes.extend(
        surveys
            .items
            .iter()
            .filter(|s| known_customer(s.customer_id, "survey", s.id))
            .cloned()
            .map(Change::Survey),
    );
    let changed = ctx.store.apply_support_changes(&changes, now).await?;
    report.customers_changed += changed.len();
    if ctx.options.notes {
        // The intent is recorded before the feeds move on and before any HubSpot call.
        super::support_notes::owe(ctx, &tickets.items, now).await?;
    }
    // The facts are stored (and their customers owed): the feeds may move on.
    let next =
        |pos: &FeedPosition, at: Option<DateTime<Utc>>, pages: u32, items: usize| FeedPosition {
            at,
            tie_break: None,
            cursor: None,
            done: true,
            pages: pos.pages + u64::from(pages),
            items: pos.items + items as u64,
        };
    let t_at = ticket_watermark(tpos.at, &tickets.items);
    let s_at = survey_watermark(spos.at, &surveys.items);
    if !backfilled {
        // (The backfill's last page set the ticket feed's position with its facts.)
        ctx.store
            .set_support_feed(
                SupportFeed::Tickets,
                &next(&tpos, t_at, tickets.pages, tickets.items.len()),
                now,
            )
            .await?;
    }
    ctx.store
        .set_support_feed(
            SupportFeed::Surveys,
            &next(&spos, s_at, surveys.pages, surveys.items.len()),
            now,
        )
        .await?;
    // A customer linked since its tickets were read gets its roll-ups now.
    let linked = ctx.store.owe_newly_linked_support(now).await?;
    if linked > 0 {
        tracing::info!(customers = linked, "roll-ups owed to newly linked contacts");
    }
    let (written, owed) = write_owed(ctx, cycle).await?;
    report.contacts_written = written;
    report.contacts_owed = owed;
    if ctx.options.notes {
        report.notes = super::support_notes::write_owed(ctx).await?;
    }
    Ok(report)
}

/// A fact whose customer id is not a valid Gorgias id is left out, with a warning.
fn known_customer(customer: i64, what: &'static str, id: i64) -> bool {
    let ok = GorgiasId::new(customer).is_ok();
    if !ok {
        tracing::warn!(
            what,
            id,
            customer,
            "support fact skipped: not a Gorgias customer id"
        );
    }
    ok
}

/// The Gorgias merges tether knows of (the store's aliases), for the roll-ups to follow:
/// a merged-away customer's tickets count for the survivor. Already followed ones are no-ops.
async fn gorgias_merges(ctx: &Cycle) -> Result<Vec<Change>, CycleError> {
    Ok(ctx
        .store
        .aliases()
        .await?
        .into_iter()
        .filter_map(|(from, into)| match (from, into) {
            (RecordRef::Gorgias(from), RecordRef::Gorgias(into)) => {
                Some(Change::Merge { from, into })
            }
            _ => None,
        })
        .collect())
}

/// Whether the newest finished write to `contact` already set every one of `props` to its
/// value: a roll-up write done before a crash kept it from being recorded.
async fn already_sent(
    ctx: &Cycle,
    contact: &crate::domain::HubspotId,
    props: &BTreeMap<String, String>,
) -> Result<bool, CycleError> {
    let Some(p) = ctx
        .store
        .last_done_write_payload(&RecordRef::Hubspot(contact.clone()))
        .await?
    else {
        return Ok(false);
    };
    let sent = &p["properties"];
    Ok(p["kind"] == "hubspot_update"
        && props
            .iter()
            .all(|(k, v)| sent.get(k).and_then(serde_json::Value::as_str) == Some(v.as_str())))
}

/// One owed customer's roll-ups, one per `include` setting the fields use.
fn rollups_of(facts: &crate::store::CustomerFacts, incs: &[Include]) -> BTreeMap<Include, Rollup> {
    incs.iter()
        .map(|i| (*i, rollup(&facts.tickets, &facts.surveys, *i)))
        .collect()
}

/// Writes the owed roll-ups: per linked contact, the values that differ from those last
/// written, through the outbox (batches of 100). Settles the customers whose write
/// succeeded or who need none. Returns (contacts written, contacts still owed).
async fn write_owed(ctx: &Cycle, cycle: CycleId) -> Result<(usize, usize), CycleError> {
    let fields = &ctx.mappings.rollups;
    let incs = includes(fields);
    let app_base = ctx.gorgias.config().base_url.clone();
    let owed = ctx.store.support_owed(u32::MAX).await?;
    let (mut written, mut still_owed) = (0, 0);
    for round in owed.chunks(ROUND) {
        let facts = ctx.store.support_facts(round).await?;
        let mut settled: Vec<GorgiasId> = vec![];
        let mut recorded = vec![];
        let mut pending = vec![];
        for (customer, f) in &facts {
            let Some(link) = ctx.store.link_by_gorgias(*customer).await? else {
                // No contact to write (yet, or merged away): nothing owed to HubSpot.
                settled.push(*customer);
                continue;
            };
            let (want, problems) = desired_values(fields, &rollups_of(f, &incs), &app_base);
            for p in problems {
                tracing::warn!(customer = customer.get(), problem = %p, "roll-up value not written");
            }
            let last = ctx
                .store
                .support_written(std::slice::from_ref(&link.hubspot))
                .await?
                .remove(&link.hubspot)
                .unwrap_or_default();
            let props = contact_writes(&want, &last);
            if props.is_empty() {
                settled.push(*customer);
                continue;
            }
            if already_sent(ctx, &link.hubspot, &props).await? {
                // Written before a crash kept it from being recorded: record, don't resend.
                settled.push(*customer);
                recorded.push((link.hubspot.clone(), props));
                continue;
            }
            let payload = Payload::HubspotUpdate {
                id: link.hubspot.clone(),
                gorgias_id: *customer,
                properties: props.clone(),
                bases: BTreeMap::new(),
            };
            let write: NewWrite = payload.to_write(cycle)?;
            pending.push((*customer, link.hubspot, props, write));
        }
        if !pending.is_empty() {
            let writes: Vec<NewWrite> = pending.iter().map(|p| p.3.clone()).collect();
            ctx.store.enqueue_writes(&writes, Utc::now()).await?;
            apply::drain(ctx, false).await?;
            if ctx.options.stop_at == Some(super::StopPoint::AfterRollupWrites) {
                return Err(CycleError::Stopped(super::StopPoint::AfterRollupWrites));
            }
        }
        let mut done = recorded;
        for (customer, contact, props, write) in pending {
            let status = ctx
                .store
                .outbox_by_key(&write.idempotency_key)
                .await?
                .map(|i| i.status);
            if status == Some(OutboxStatus::Done) {
                settled.push(customer);
                done.push((contact, props));
            } else {
                still_owed += 1;
            }
        }
        written += done.len();
        ctx.store
            .settle_support(&settled, &done, Utc::now())
            .await?;
    }
    Ok((written, still_owed))
}
