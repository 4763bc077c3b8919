//! The satisfaction-survey feed: `GET /api/satisfaction-surveys`, newest first by
//! `created_datetime` (the endpoint pages by cursor and `order_by` only: no filter), read down
//! to the newest survey already seen less a re-check window, so a survey created earlier and
//! scored later is read again while the window lasts. Must never make roll-up decisions.
//!
//! The accepted `order_by` values of this endpoint are UNCONFIRMED (the reference lists none;
//! Airbyte's stream uses `created_datetime` as its cursor field); tether sends
//! `created_datetime:desc`, as for every other list.

use super::limiter::Priority;
use super::support_feed::{FactsFeed, Listing};
use super::wire;
use super::{GorgiasClient, Result};
use crate::support::SurveyFacts;
use chrono::{DateTime, Utc};

/// What one pass of the survey feed returned.
pub type SurveyFeed = FactsFeed<SurveyFacts>;

const SURVEYS: Listing<SurveyFacts> = Listing {
    op: "list_satisfaction_surveys",
    path: "/api/satisfaction-surveys",
    order_by: "created_datetime:desc",
    decode: wire::survey_page,
    key: |s| (s.id, s.created_datetime),
};

/// The newest `created_datetime` seen, never older than the last: the feed's "last seen".
pub fn survey_watermark(
    previous: Option<DateTime<Utc>>,
    surveys: &[SurveyFacts],
) -> Option<DateTime<Utc>> {
    surveys
        .iter()
        .filter_map(|s| s.created_datetime)
        .chain(previous)
        .max()
}

impl GorgiasClient {
    /// Surveys created at or after `last_seen - recheck`, newest first (every survey when
    /// nothing was seen yet, at backfill priority). A survey created inside the window is
    /// listed again on every pass, so a score given later is seen within the window.
    pub async fn surveys_since_last_seen(
        &self,
        last_seen: Option<DateTime<Utc>>,
        recheck: chrono::Duration,
    ) -> Result<SurveyFeed> {
        let since = last_seen.map(|w| w.checked_sub_signed(recheck).unwrap_or(w));
        let priority = if since.is_some() {
            Priority::Feed
        } else {
            Priority::Backfill
        };
        let feed = self.newest_first(&SURVEYS, since, priority).await?;
        for q in &feed.quarantined {
            tracing::warn!(id = ?q.id, reason = %q.reason, "gorgias survey skipped: unreadable list item");
        }
        Ok(feed)
    }
}
