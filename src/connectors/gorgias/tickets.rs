//! The ticket feed: `GET /api/tickets?order_by=updated_datetime:desc`, tickets updated at or
//! after the watermark less an overlap, as plain [`TicketFacts`]; with no watermark yet, the
//! backfill of every ticket (trashed ones included: `trashed` defaults to true, and the
//! roll-ups need to see a ticket leave). Must never make roll-up decisions.

use super::limiter::Priority;
use super::support_feed::{FactsFeed, Listing};
use super::wire;
use super::wire::FactsPage;
use super::{GorgiasClient, Result};
use crate::support::TicketFacts;
use chrono::{DateTime, Utc};

/// What one pass of the ticket feed returned.
pub type TicketFeed = FactsFeed<TicketFacts>;

const TICKETS: Listing<TicketFacts> = Listing {
    op: "list_tickets",
    path: "/api/tickets",
    order_by: "updated_datetime:desc",
    decode: wire::ticket_page,
    key: |t| (t.id, Some(t.updated_datetime)),
};

/// The next ticket watermark: the newest `updated_datetime` seen, never older than the last.
pub fn ticket_watermark(
    previous: Option<DateTime<Utc>>,
    tickets: &[TicketFacts],
) -> Option<DateTime<Utc>> {
    tickets
        .iter()
        .map(|t| t.updated_datetime)
        .chain(previous)
        .max()
}

/// One page of the ticket backfill.
pub type TicketPage = FactsPage<TicketFacts>;

impl GorgiasClient {
    /// One page of the first backfill of every ticket (`updated_datetime:desc`, at backfill
    /// priority), from `cursor` (the first page when `None`). The caller stores the page's
    /// facts and the next cursor together, so a crash resumes at the next page.
    pub async fn ticket_backfill_page(&self, cursor: Option<&str>) -> Result<TicketPage> {
        let page = self.one_page(&TICKETS, cursor, Priority::Backfill).await?;
        for q in &page.quarantined {
            tracing::warn!(id = ?q.id, reason = %q.reason, "gorgias ticket skipped: unreadable list item");
        }
        Ok(page)
    }

    /// Tickets updated at or after `watermark - overlap`, newest first. With no watermark,
    /// every ticket of the account, at backfill priority (live sync and the incremental feeds
    /// keep their share of the budget meanwhile).
    pub async fn tickets_since_watermark(
        &self,
        watermark: Option<DateTime<Utc>>,
        overlap: chrono::Duration,
    ) -> Result<TicketFeed> {
        let since = watermark.map(|w| w.checked_sub_signed(overlap).unwrap_or(w));
        let priority = if since.is_some() {
            Priority::Feed
        } else {
            Priority::Backfill
        };
        let feed = self.newest_first(&TICKETS, since, priority).await?;
        for q in &feed.quarantined {
            tracing::warn!(id = ?q.id, reason = %q.reason, "gorgias ticket skipped: unreadable list item");
        }
        Ok(feed)
    }
}
