//! The change feed: customers changed since a watermark (list by `updated_datetime:desc`,
//! 100 a page, stop at the first page reaching past the watermark) and customer events
//! (deletions, merges) since a time. Cursors live only inside one call; never persisted.

use super::dto::{Customer, CustomerEvent, format_filter};
use super::limiter::Priority;
use super::wire;
use super::{GorgiasClient, Result, fail};
use chrono::{DateTime, Utc};
use reqwest::Method;
use std::collections::HashSet;

/// A list item that could not be read; its record must be skipped, not guessed at.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub id: Option<i64>,
    /// The decode error, which may quote the item's values: printed masked.
    pub reason: crate::pii::NetText,
}

/// What one pass of the feed returned.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    /// Changed customers (compact list items: no channels), newest first, each id once.
    pub customers: Vec<Customer>,
    pub quarantined: Vec<Quarantined>,
    /// List calls made.
    pub pages: u32,
}

/// The next watermark: the newest `updated_datetime` seen (callers subtract their overlap
/// before the next pass).
pub fn watermark_of(customers: &[Customer]) -> Option<DateTime<Utc>> {
    customers.iter().filter_map(|c| c.updated_datetime).max()
}

impl GorgiasClient {
    /// Customers updated at or after `since`. Pass the watermark minus the overlap: the feed
    /// has no server-side "since" filter, so it lists by `updated_datetime:desc` and stops as
    /// soon as a page reaches past `since` (every later page is older still).
    pub async fn changed_since(&self, since: DateTime<Utc>) -> Result<Vec<Customer>> {
        let feed = self.changed_since_feed(since).await?;
        for q in &feed.quarantined {
            tracing::warn!(id = ?q.id, reason = %q.reason, "gorgias customer skipped: unreadable list item");
        }
        Ok(feed.customers)
    }

    /// Customers updated at or after `watermark - overlap` (the whole account when there is
    /// no watermark yet).
    pub async fn changed_since_watermark(
        &self,
        watermark: Option<DateTime<Utc>>,
        overlap: chrono::Duration,
    ) -> Result<Feed> {
        let since = watermark
            .and_then(|w| w.checked_sub_signed(overlap))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        self.changed_since_feed(since).await
    }

    /// As [`GorgiasClient::changed_since`], with the unreadable items and the page count.
    pub async fn changed_since_feed(&self, since: DateTime<Utc>) -> Result<Feed> {
        let mut feed = Feed::default();
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            // limit and order_by are sent again with every cursor (pitfall 5).
            let mut query = vec![
                ("limit", self.t.cfg.page_size.clamp(1, 100).to_string()),
                ("order_by", "updated_datetime:desc".to_owned()),
            ];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let ans = self
                .t
                .send_as(
                    Priority::Feed,
                    "list_customers",
                    Method::GET,
                    "/api/customers",
                    &query,
                    None,
                )
                .await?;
            feed.pages += 1;
            if !ans.status.is_success() {
                return Err(fail("list_customers", None, &ans));
            }
            let page = wire::customer_page("list_customers", &ans.body)?;
            let mut reached_older = false;
            for c in page.customers {
                match c.updated_datetime {
                    Some(u) if u < since => reached_older = true,
                    _ => {
                        if seen.insert(c.id) {
                            feed.customers.push(c);
                        }
                    }
                }
            }
            feed.quarantined.extend(page.quarantined);
            match page.next_cursor {
                Some(next) if !reached_older => cursor = Some(next),
                _ => break,
            }
        }
        Ok(feed)
    }

    /// Customer deletions and merges recorded at or after `since`, oldest first.
    pub async fn events_since(&self, since: DateTime<Utc>) -> Result<Vec<CustomerEvent>> {
        self.events_of_types(since, &["customer-deleted", "customer-merged"])
            .await
    }

    /// Customer events of the given types recorded at or after `since`, oldest first.
    pub async fn events_of_types(
        &self,
        since: DateTime<Utc>,
        types: &[&str],
    ) -> Result<Vec<CustomerEvent>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![
                ("object_type", "Customer".to_owned()),
                ("created_datetime[gte]", format_filter(since)),
                ("order_by", "created_datetime:asc".to_owned()),
                ("limit", "100".to_owned()),
            ];
            for t in types {
                query.push(("types", (*t).to_owned()));
            }
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let ans = self
                .t
                .send_as(
                    Priority::Feed,
                    "list_events",
                    Method::GET,
                    "/api/events",
                    &query,
                    None,
                )
                .await?;
            if !ans.status.is_success() {
                return Err(fail("list_events", None, &ans));
            }
            let (events, skipped, next) = wire::event_page("list_events", &ans.body)?;
            if skipped > 0 {
                tracing::warn!(
                    skipped,
                    "gorgias events skipped: missing id, type or object_id"
                );
            }
            out.extend(events);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(out)
    }
}
