//! The first backfill of every Gorgias ticket (issue 14), resumable: one page at a time, each
//! page's facts, the notes its closed tickets owe and the backfill's next cursor and progress
//! stored in one transaction ([`crate::store::Store::apply_support_page`]), so a crash resumes
//! at the page after the last one stored instead of reading every ticket again. The last page
//! also sets the incremental ticket feed's watermark (the newest `updated_datetime` seen; a
//! ticket updated during the backfill is newer still, so the incremental feed reads it).
//!
//! Pipelined: once page N's `next` cursor is known, page N+1 is requested while page N is
//! stored (at most one page ahead, so memory stays bounded), and the pages follow each other
//! at the pace of the Gorgias budget rather than of Gorgias plus the store. Crash safety is
//! unchanged: what is stored with page N's facts is page N's own `next` cursor, so a page
//! fetched ahead but not yet stored when the backfill stops is simply fetched again.
//!
//! Cursors are short-lived (contract `gorgias.md` §3): a stored cursor Gorgias refuses on
//! resume (or a `next` cursor it refuses mid-way) starts the backfill again from the first
//! page (facts are stored idempotently).
//! Progress (pages, tickets, percent when Gorgias sends a total) is logged and kept in the
//! store for `tether status`. Sequencing only: the SQL is the store's, the HTTP the connector's.

use super::{Cycle, CycleError, StopPoint};
use crate::connectors::gorgias::{GorgiasError, TicketPage};
use crate::domain::GorgiasId;
use crate::store::{FeedPosition, SupportFeed};
use crate::support::notes::{closed_at, wants_note};
use crate::support::{Change, TicketFacts};
use chrono::{DateTime, Utc};

/// Pages between two progress lines at `info` (every page is logged at `debug`).
const LOG_EVERY: u64 = 10;

/// What the backfill did this cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackfillReport {
    /// Pages listed and tickets read this cycle (a resumed backfill counts from the resume).
    pub pages: u32,
    pub tickets: usize,
    /// Customers whose roll-up may have changed.
    pub customers_changed: usize,
    /// The page the backfill resumed after (0: it started from the first page).
    pub resumed_after: u64,
}

/// The percentage of `done` out of `total`, when the total is known and not zero. Pure.
pub fn percent(done: u64, total: Option<u64>) -> Option<u64> {
    total
        .filter(|t| *t > 0)
        .map(|t| (done.saturating_mul(100) / t).min(100))
}

/// Whether `e` is Gorgias refusing the request itself (a stale cursor), not a transient fault.
fn refused_request(e: &GorgiasError) -> bool {
    matches!(
        e,
        GorgiasError::Validation { .. } | GorgiasError::NotFound { .. }
    )
}

/// What one fetched page asks the store to keep, with the backfill's position after it.
struct PageWork {
    changes: Vec<Change>,
    notes: Vec<(i64, DateTime<Utc>)>,
    /// The incremental ticket feed's position, on the last page only.
    finished: Option<FeedPosition>,
    total: Option<u64>,
}

/// Moves `pos` past `page` (its `next` cursor, counts, the newest `updated_datetime`) and
/// gathers what storing it takes.
fn take_page(ctx: &Cycle, pos: &mut FeedPosition, page: TicketPage) -> PageWork {
    let items: Vec<TicketFacts> = page
        .items
        .into_iter()
        .filter(|t| GorgiasId::new(t.customer_id).is_ok())
        .collect();
    pos.pages += 1;
    pos.items += items.len() as u64;
    pos.at = items.iter().map(|t| t.updated_datetime).chain(pos.at).max();
    pos.cursor = page.next_cursor;
    pos.done = pos.cursor.is_none();
    let notes: Vec<(i64, DateTime<Utc>)> = if ctx.options.notes {
        items
            .iter()
            .filter(|t| wants_note(t))
            .map(|t| (t.id, closed_at(t)))
            .collect()
    } else {
        vec![]
    };
    let finished = pos.done.then(|| FeedPosition {
        at: pos.at,
        done: true,
        pages: pos.pages,
        items: pos.items,
        ..FeedPosition::default()
    });
    PageWork {
        changes: items.into_iter().map(Change::Ticket).collect(),
        notes,
        finished,
        total: page.total,
    }
}

/// The page fetched at `pos.cursor` (`got`); when Gorgias refuses that cursor (stale), the
/// backfill starts again from the first page.
async fn settle(
    ctx: &Cycle,
    pos: &mut FeedPosition,
    mut got: Result<TicketPage, GorgiasError>,
) -> Result<TicketPage, CycleError> {
    loop {
        match got {
            Ok(page) => return Ok(page),
            Err(e) if pos.cursor.is_some() && refused_request(&e) => {
                tracing::warn!(error = %e, "Gorgias refused the backfill cursor; the backfill starts again from the first page");
                *pos = FeedPosition::default();
                got = ctx.gorgias.ticket_backfill_page(None).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Runs (or resumes) the backfill to its last page; see the module header.
pub async fn run(ctx: &Cycle, now: DateTime<Utc>) -> Result<BackfillReport, CycleError> {
    let mut pos = ctx.store.support_feed(SupportFeed::TicketsBackfill).await?;
    if pos.done || pos.cursor.is_none() {
        // A new backfill (none yet, or a finished one that found no ticket to set a watermark).
        pos = FeedPosition::default();
    }
    let mut report = BackfillReport {
        resumed_after: pos.pages,
        ..BackfillReport::default()
    };
    if pos.pages > 0 {
        tracing::info!(
            pages = pos.pages,
            tickets = pos.items,
            "resuming the Gorgias ticket backfill after its last stored page"
        );
    }
    let first = ctx
        .gorgias
        .ticket_backfill_page(pos.cursor.as_deref())
        .await;
    let mut page = settle(ctx, &mut pos, first).await?;
    loop {
        let work = take_page(ctx, &mut pos, page);
        report.pages += 1;
        report.tickets += work.changes.len();
        let store = ctx.store.apply_support_page(
            &work.changes,
            &work.notes,
            &pos,
            work.finished.as_ref(),
            now,
        );
        // The next page is asked for while this one is stored (one page ahead at most).
        let (stored, ahead) = match pos.cursor.as_deref() {
            Some(next) => {
                let (stored, ahead) =
                    tokio::join!(store, ctx.gorgias.ticket_backfill_page(Some(next)));
                (stored, Some(ahead))
            }
            None => (store.await, None),
        };
        report.customers_changed += stored?.len();
        let pct = percent(pos.items, work.total);
        if pos.done || pos.pages % LOG_EVERY == 0 {
            tracing::info!(pages = pos.pages, tickets = pos.items, percent = ?pct, done = pos.done, "Gorgias ticket backfill");
        } else {
            tracing::debug!(pages = pos.pages, tickets = pos.items, percent = ?pct, "Gorgias ticket backfill");
        }
        if let Some(StopPoint::AfterSupportPages(n)) = ctx.options.stop_at
            && pos.pages >= u64::from(n)
            && !pos.done
        {
            // The page fetched ahead is dropped unstored: a resume fetches it again.
            return Err(CycleError::Stopped(StopPoint::AfterSupportPages(n)));
        }
        let Some(ahead) = ahead else {
            return Ok(report);
        };
        page = settle(ctx, &mut pos, ahead).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_only_with_a_known_total() {
        assert_eq!(percent(50, Some(200)), Some(25));
        assert_eq!(percent(250, Some(200)), Some(100));
        assert_eq!(percent(5, None), None);
        assert_eq!(percent(5, Some(0)), None);
    }
}
