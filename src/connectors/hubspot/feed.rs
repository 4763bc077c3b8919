//! The change feed: contacts whose `lastmodifieddate` falls in a window, read through search
//! sorted by `hs_object_id` and restarted from the last id seen before any page would pass
//! the 10,000-result cap (contract §5, §12.1). Terminates whatever the number of contacts
//! sharing a timestamp. Must never page past offset 10,000 or rely on the order of ties.

use super::http::Lane;
use super::types::Contact;
use super::wire;
use super::{HubspotClient, Result};
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Search never serves results past this offset.
const SEARCH_CAP: u64 = 10_000;

/// Search rejects request bodies longer than 3,000 characters; keep clear of it.
const SEARCH_BODY_MAX: usize = 2_800;

/// Properties the feed always asks for.
const FEED_SYSTEM: &[&str] = &["hs_object_id", "lastmodifieddate", "hs_merged_object_ids"];

/// The search body for one page: `lastmodifieddate ∈ [from, until]`, `hs_object_id > after_id`.
pub fn feed_query(
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    after_id: Option<u64>,
    properties: &[String],
    limit: u32,
    offset: u64,
) -> Value {
    let mut filters = vec![
        json!({"propertyName":"lastmodifieddate","operator":"GTE","value": from.timestamp_millis().to_string()}),
        json!({"propertyName":"lastmodifieddate","operator":"LTE","value": until.timestamp_millis().to_string()}),
    ];
    if let Some(id) = after_id {
        filters
            .push(json!({"propertyName":"hs_object_id","operator":"GT","value": id.to_string()}));
    }
    let mut body = json!({
        "filterGroups": [{"filters": filters}],
        "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
        "properties": properties,
        "limit": limit,
    });
    if offset > 0
        && let Some(o) = body.as_object_mut()
    {
        o.insert("after".into(), json!(offset.to_string()));
    }
    body
}

/// What the feed does after one search page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchStep {
    /// Every match of the window was seen.
    Finished,
    /// Ask for the page at this offset (greater than the current one, within the cap).
    NextPage(u64),
    /// Restart the window after this id (greater than the current restart id).
    RestartAfter(u64),
    /// The answer offers no way forward: an error, never an endless loop.
    NoProgress,
}

/// The paging decision after a search page (pure). `cut_short`: the page said there are more
/// matches than seen but offered no next page; `next`: its `paging.next.after` as a number;
/// `offset`: the page's own offset; `last_in_window`: the largest id seen since the window
/// (re)started at `after_id`. Every step either ends or moves strictly forward.
pub fn search_step(
    cut_short: bool,
    next: Option<u64>,
    offset: u64,
    limit: u32,
    last_in_window: Option<u64>,
    after_id: Option<u64>,
) -> SearchStep {
    let restart = || match last_in_window {
        Some(last) if Some(last) > after_id => SearchStep::RestartAfter(last),
        _ => SearchStep::NoProgress,
    };
    match next {
        None if !cut_short => SearchStep::Finished,
        None => match restart() {
            SearchStep::NoProgress => SearchStep::Finished,
            step => step,
        },
        Some(n)
            if n.checked_add(u64::from(limit))
                .is_some_and(|end| end <= SEARCH_CAP)
                && n > offset =>
        {
            SearchStep::NextPage(n)
        }
        // The next page would cross the cap: restart after the last id.
        Some(_) => restart(),
    }
}

impl HubspotClient {
    /// Contacts modified since `since` minus the configured overlap (index lag cover), up to
    /// now. Callers should store the time they *started* this call as the next `since`;
    /// duplicates across cycles are expected and harmless. Merged survivors carry their
    /// absorbed ids in [`Contact::merged_ids`].
    pub async fn changed_since(
        &self,
        since: DateTime<Utc>,
        properties: &[&str],
    ) -> Result<Vec<Contact>> {
        let overlap = chrono::Duration::from_std(self.t.config().feed_overlap)
            .unwrap_or_else(|_| chrono::Duration::zero());
        self.changed_between(since - overlap, Utc::now(), properties)
            .await
    }

    /// Contacts with `from ≤ lastmodifieddate ≤ until`, each once, by ascending id.
    pub async fn changed_between(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        properties: &[&str],
    ) -> Result<Vec<Contact>> {
        let mut props: Vec<String> = properties.iter().map(|s| s.to_string()).collect();
        for p in FEED_SYSTEM {
            if !props.iter().any(|x| x == p) {
                props.push(p.to_string());
            }
        }
        let limit = self.t.config().search_page_size.clamp(1, 200);
        // Too many properties for a search body: search for ids only, then read the rest.
        let wide = {
            let probe = feed_query(from, until, Some(u64::MAX), &props, limit, SEARCH_CAP);
            probe.to_string().len() > SEARCH_BODY_MAX
        };
        if wide {
            let ids: Vec<String> = Box::pin(self.changed_between(from, until, &[]))
                .await?
                .into_iter()
                .map(|c| c.id)
                .collect();
            let mut out = vec![];
            for r in self.batch_read(&ids, properties).await? {
                match r.outcome {
                    super::ReadOutcome::Found(c) | super::ReadOutcome::Merged(c) => out.push(c),
                    super::ReadOutcome::NotFound => {}
                }
            }
            out.sort_by_key(|c| c.id.parse::<u64>().unwrap_or(u64::MAX));
            out.dedup_by(|a, b| a.id == b.id);
            return Ok(out);
        }
        let url = self.t.url(&self.paths().contacts(&["search"]), &[])?;
        let mut out: BTreeMap<u64, Contact> = BTreeMap::new();
        let mut after_id: Option<u64> = None;
        'windows: loop {
            let mut offset: u64 = 0;
            let mut last_in_window: Option<u64> = None;
            loop {
                let body = feed_query(from, until, after_id, &props, limit, offset);
                let a = self
                    .t
                    .send(Method::POST, url.clone(), Some(&body), Lane::Search)
                    .await?;
                let page = wire::search_page(a.body)?;
                let seen_so_far = offset + page.contacts.len() as u64;
                // Without a next page, more results than seen means the cap cut the paging
                // short (HubSpot may stop offering pages at 10,000): restart after the last id.
                let cut_short =
                    page.total.is_some_and(|t| t > seen_so_far) && !page.contacts.is_empty();
                for c in page.contacts {
                    if let Ok(n) = c.id.parse::<u64>() {
                        last_in_window = Some(last_in_window.map_or(n, |m: u64| m.max(n)));
                        out.insert(n, c);
                    }
                }
                let next = page.next_after.and_then(|s| s.trim().parse::<u64>().ok());
                match search_step(cut_short, next, offset, limit, last_in_window, after_id) {
                    SearchStep::Finished => break 'windows,
                    SearchStep::NextPage(n) => offset = n,
                    SearchStep::RestartAfter(last) => {
                        after_id = Some(last);
                        continue 'windows;
                    }
                    SearchStep::NoProgress => {
                        return Err(super::HubspotError::Decode {
                            endpoint: "contacts/search".into(),
                            detail: "search paging made no progress".into(),
                        });
                    }
                }
            }
        }
        Ok(out.into_values().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by reading the code while writing the fuzz oracle for this step):
    /// a search page whose `paging.next.after` is "18446744073709551615" made
    /// `n + limit` overflow, a panic in debug builds and a wrapped offset in release ones.
    #[test]
    fn a_huge_next_offset_restarts_instead_of_overflowing() {
        let huge = Some(u64::MAX);
        assert_eq!(
            search_step(false, huge, 0, 200, Some(42), None),
            SearchStep::RestartAfter(42)
        );
        assert_eq!(
            search_step(false, huge, 0, 200, None, None),
            SearchStep::NoProgress
        );
        assert_eq!(
            search_step(false, Some(9_800), 9_600, 200, Some(1), None),
            SearchStep::NextPage(9_800)
        );
    }

    #[test]
    fn query_has_window_cursor_and_one_sort() {
        let from = DateTime::<Utc>::from_timestamp_millis(1_000).unwrap();
        let until = DateTime::<Utc>::from_timestamp_millis(2_000).unwrap();
        let q = feed_query(from, until, Some(42), &["email".into()], 200, 0);
        let f = &q["filterGroups"][0]["filters"];
        assert_eq!(f[0]["value"], "1000");
        assert_eq!(f[1]["operator"], "LTE");
        assert_eq!(f[2]["value"], "42");
        assert_eq!(q["sorts"].as_array().unwrap().len(), 1);
        assert!(q.get("after").is_none());
        let q = feed_query(from, until, None, &[], 200, 400);
        assert_eq!(q["after"], "400");
        assert_eq!(q["filterGroups"][0]["filters"].as_array().unwrap().len(), 2);
    }
}
