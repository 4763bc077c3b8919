//! [`HubspotConfig`]: how the connector reaches HubSpot and paces itself. Pure data; must
//! never hold a connection or state.

use super::paths::ApiVersion;
use crate::config::HubspotSettings;
use crate::connectors::retry::Backoff;
use crate::secret::Secret;
use std::time::Duration;

/// Connector settings. The limits are the account's; the connector stays under them.
#[derive(Debug, Clone)]
pub struct HubspotConfig {
    /// `https://api.hubapi.com` for the real service.
    pub base_url: String,
    /// Bearer credential: a Service Key, a project app's static token, or a legacy
    /// private-app token.
    pub token: Secret,
    /// The API version of every path (`hubspot.api_version`).
    pub api_version: ApiVersion,
    /// Requests per burst window (100 or 190); adapted from `X-HubSpot-RateLimit-Max`.
    pub burst_limit: u32,
    /// The burst window (10 s); adapted from `X-HubSpot-RateLimit-Interval-Milliseconds`.
    pub burst_window: Duration,
    /// Search requests per search window (5 per second on the real service).
    pub search_per_second: u32,
    /// The search window (1 s on the real service).
    pub search_window: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Retry policy for 5xx, 423, timeouts and unreadable bodies.
    pub backoff: Backoff,
    /// Least wait after a 423 (HubSpot asks for ≥ 2 s).
    pub locked_wait: Duration,
    /// 429s tolerated on one call before giving up.
    pub max_rate_limit_retries: u32,
    /// Lookback subtracted from `since` by the change feed, to cover search index lag.
    pub feed_overlap: Duration,
    /// Search page size (≤ 200).
    pub search_page_size: u32,
}

impl Default for HubspotConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.hubapi.com".into(),
            token: Secret::default(),
            api_version: ApiVersion::default(),
            burst_limit: 100,
            burst_window: Duration::from_secs(10),
            search_per_second: 5,
            search_window: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            locked_wait: Duration::from_secs(2),
            max_rate_limit_retries: 8,
            feed_overlap: Duration::from_secs(120),
            search_page_size: 200,
        }
    }
}

impl HubspotConfig {
    /// From the `[hubspot]` settings section.
    pub fn from_settings(s: &HubspotSettings) -> Self {
        Self {
            base_url: s.base_url.to_string(),
            token: s.token.clone(),
            api_version: s.api_version,
            burst_limit: s.burst_limit.max(1),
            burst_window: Duration::from_millis(s.burst_window_ms.max(1)),
            search_per_second: s.search_per_second.max(1),
            ..Self::default()
        }
    }
}
