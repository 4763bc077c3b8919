//! [`GorgiasConfig`]: where the account is, how to authenticate, and the limits to hold to.
//! Must never print the API key (it is a [`Secret`]).

use super::error::GorgiasError;
use crate::connectors::retry::Backoff;
use crate::secret::Secret;
use std::time::Duration;

/// Connector settings. Build with [`GorgiasConfig::new`] or [`GorgiasConfig::from_settings`]
/// and adjust fields.
#[derive(Debug, Clone)]
pub struct GorgiasConfig {
    /// `https://acme.gorgias.com` (no trailing `/api`).
    pub base_url: String,
    /// The API key owner's e-mail (Basic auth user name).
    pub username: String,
    pub api_key: Secret,
    /// An OAuth access token; when set it is sent as Bearer instead of Basic auth.
    pub bearer_token: Option<Secret>,
    /// Leaky-bucket capacity assumed until the server's header says otherwise (40 for Basic).
    pub bucket_limit: u32,
    /// Leaky-bucket window (20 s for the real service).
    pub bucket_window: Duration,
    /// Slots of the bucket left for other clients of the same account.
    pub bucket_reserve: u32,
    /// Only for tests against a time-scaled sandbox: how many times faster than real time the
    /// server's clock runs (bucket window and `Retry-after` are divided by it). 1 in production.
    pub time_scale: f64,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry policy for 5xx answers and transport failures.
    pub backoff: Backoff,
    /// 429 answers tolerated in a row for one call before giving up.
    pub max_rate_limited: u32,
    /// Longest `Retry-after` honoured (longer values are capped, as careful clients do).
    pub max_retry_after: Duration,
    /// Page size for lists (100 is the maximum and the cheapest).
    pub page_size: u32,
}

impl GorgiasConfig {
    /// Real-service defaults for one account.
    pub fn new(base_url: impl Into<String>, username: impl Into<String>, api_key: Secret) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            username: username.into(),
            api_key,
            bearer_token: None,
            bucket_limit: 40,
            bucket_window: Duration::from_secs(20),
            bucket_reserve: 1,
            time_scale: 1.0,
            timeout: Duration::from_secs(30),
            backoff: Backoff::default(),
            max_rate_limited: 10,
            max_retry_after: Duration::from_secs(60),
            page_size: 100,
        }
    }

    /// From the `[gorgias]` settings; refuses a `base_url` still holding `{domain}` and
    /// missing credentials.
    pub fn from_settings(s: &crate::config::GorgiasSettings) -> Result<Self, GorgiasError> {
        let url = s.base_url.trim();
        if url.contains("{domain}") {
            return Err(GorgiasError::Config(format!(
                "gorgias.base_url is still the template {url:?}: replace {{domain}} with the account's subdomain (e.g. https://acme.gorgias.com)"
            )));
        }
        let parsed = url::Url::parse(url).map_err(|e| {
            GorgiasError::Config(format!("gorgias.base_url {url:?} is not a URL: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(GorgiasError::Config(format!(
                "gorgias.base_url {url:?} must start with https://"
            )));
        }
        if s.username.trim().is_empty() {
            return Err(GorgiasError::Config(
                "gorgias.username is empty: set it to the e-mail of the API key's user".into(),
            ));
        }
        if s.api_key.is_empty() {
            return Err(GorgiasError::Config(
                "gorgias.api_key is empty: create one in Gorgias under Settings → REST API".into(),
            ));
        }
        let mut cfg = Self::new(
            url.trim_end_matches('/')
                .trim_end_matches("/api")
                .trim_end_matches('/'),
            s.username.trim(),
            s.api_key.clone(),
        );
        cfg.bucket_limit = s.bucket_limit.max(1);
        cfg.bucket_window = Duration::from_millis(s.bucket_window_ms.max(1));
        Ok(cfg)
    }

    /// The bucket window in real time.
    pub fn real_window(&self) -> Duration {
        self.bucket_window.div_f64(self.scale())
    }

    /// Turns server seconds into real time.
    pub fn real(&self, d: Duration) -> Duration {
        d.div_f64(self.scale())
    }

    fn scale(&self) -> f64 {
        if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GorgiasSettings;

    fn settings(url: &str) -> GorgiasSettings {
        GorgiasSettings {
            base_url: url.into(),
            username: "api@shop.test".into(),
            api_key: Secret::new("k"),
            bucket_limit: 40,
            bucket_window_ms: 20_000,
        }
    }

    #[test]
    fn refuses_the_template() {
        let err =
            GorgiasConfig::from_settings(&settings("https://{domain}.gorgias.com")).unwrap_err();
        assert!(err.to_string().contains("{domain}"));
        let ok = GorgiasConfig::from_settings(&settings("https://acme.gorgias.com/api/")).unwrap();
        assert_eq!(ok.base_url, "https://acme.gorgias.com");
        assert_eq!(ok.bucket_window, Duration::from_secs(20));
        let mut s = settings("https://acme.gorgias.com");
        s.api_key = Secret::new("");
        assert!(GorgiasConfig::from_settings(&s).is_err());
        assert!(!format!("{ok:?}").contains("\"k\""));
    }
}
