//! The paging loop shared by the ticket and satisfaction-survey feeds: list newest first, 100
//! a page, `limit` and `order_by` re-sent with every cursor, stop at the first page reaching
//! past `since` (every later page is older still), each id once, unreadable items kept aside.
//! Cursors live only inside one call here; the ticket backfill (`tickets.rs`) reads one page
//! at a time and its caller keeps the cursor to resume, falling back to the first page when
//! Gorgias refuses a stored cursor (cursors are short-lived, contract `gorgias.md` §3).

use super::feed::Quarantined;
use super::limiter::Priority;
use super::wire::FactsPage;
use super::{GorgiasClient, GorgiasError, Result, fail};
use chrono::{DateTime, Utc};
use reqwest::Method;
use std::collections::HashSet;

/// What one pass of a support feed returned.
#[derive(Debug, Clone, PartialEq)]
pub struct FactsFeed<T> {
    /// Items at or after `since`, newest first, each id once.
    pub items: Vec<T>,
    /// Items that could not be read (skipped, logged by the caller).
    pub quarantined: Vec<Quarantined>,
    /// List calls made.
    pub pages: u32,
    /// Whether the feed listed everything down to the oldest item (no `since`).
    pub complete_history: bool,
}

/// One newest-first list endpoint.
pub(super) struct Listing<T> {
    pub op: &'static str,
    pub path: &'static str,
    pub order_by: &'static str,
    pub decode: fn(&'static str, &[u8]) -> std::result::Result<FactsPage<T>, GorgiasError>,
    /// The item's id and the datetime the order runs on (`None` sorts as oldest).
    pub key: fn(&T) -> (i64, Option<DateTime<Utc>>),
}

impl GorgiasClient {
    /// Pages `listing` newest first down to `since` (the whole history when `None`).
    pub(super) async fn newest_first<T>(
        &self,
        listing: &Listing<T>,
        since: Option<DateTime<Utc>>,
        priority: Priority,
    ) -> Result<FactsFeed<T>> {
        let mut feed = FactsFeed {
            items: Vec::new(),
            quarantined: Vec::new(),
            pages: 0,
            complete_history: since.is_none(),
        };
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.one_page(listing, cursor.as_deref(), priority).await?;
            feed.pages += 1;
            let mut reached_older = false;
            for item in page.items {
                let (id, at) = (listing.key)(&item);
                match (since, at) {
                    (Some(since), Some(at)) if at < since => reached_older = true,
                    (Some(_), None) => reached_older = true,
                    _ => {
                        if seen.insert(id) {
                            feed.items.push(item);
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

    /// One page of `listing` at `cursor` (the first page when `None`), 100 items at most.
    pub(super) async fn one_page<T>(
        &self,
        listing: &Listing<T>,
        cursor: Option<&str>,
        priority: Priority,
    ) -> Result<FactsPage<T>> {
        // limit and order_by are sent again with every cursor (pitfall 5).
        let mut query = vec![
            ("limit", self.t.cfg.page_size.clamp(1, 100).to_string()),
            ("order_by", listing.order_by.to_owned()),
        ];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_owned()));
        }
        let ans = self
            .t
            .send_as(
                priority,
                listing.op,
                Method::GET,
                listing.path,
                &query,
                None,
            )
            .await?;
        if !ans.status.is_success() {
            return Err(fail(listing.op, None, &ans));
        }
        (listing.decode)(listing.op, &ans.body)
    }
}
