//! Checks of each setting's meaning (URLs, addresses, cron, region, thresholds, limits),
//! each refusal naming the key, its origin and what was expected.
//! Must never read a layer itself (that is `layers.rs`).

use super::ConfigError;
use super::layers::Loaded;

fn key_error(
    loaded: &Loaded,
    key: &str,
    problem: impl Into<String>,
    expected: &str,
) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        origin: loaded.origin_of(key),
        problem: problem.into(),
        expected: expected.to_owned(),
    }
}

/// `matching.scan_cron`: empty (never) or a cron expression like `schedule.cron`.
fn validate_scan_cron(loaded: &Loaded) -> Result<(), ConfigError> {
    let scan_cron = loaded.settings.matching.scan_cron.trim();
    if !scan_cron.is_empty()
        && let Err(e) = scan_cron.parse::<cron::Schedule>()
    {
        return Err(key_error(
            loaded,
            "matching.scan_cron",
            format!("{scan_cron:?} is not a cron expression ({e})"),
            "six or seven fields like schedule.cron (e.g. \"0 0 3 * * Sun\", weekly), or empty for never",
        ));
    }
    Ok(())
}

fn validate_sidebar(loaded: &Loaded) -> Result<(), ConfigError> {
    let sb = &loaded.settings.sidebar;
    if !["none", "widget", "card"].contains(&sb.install.as_str()) {
        return Err(key_error(
            loaded,
            "sidebar.install",
            format!("{:?} is not a choice", sb.install),
            "none, widget or card",
        ));
    }
    if sb.name.trim().is_empty() {
        return Err(key_error(loaded, "sidebar.name", "is empty", "a name"));
    }
    if sb.card_header.parse::<axum::http::HeaderName>().is_err() {
        return Err(key_error(
            loaded,
            "sidebar.card_header",
            format!("{:?} is not a header name", sb.card_header),
            "an HTTP header name such as X-Tether-Card-Secret",
        ));
    }
    if !sb.public_url.is_empty()
        && !url::Url::parse(&sb.public_url)
            .is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http")
    {
        return Err(key_error(
            loaded,
            "sidebar.public_url",
            format!("{:?} is not a URL", sb.public_url),
            "an http:// or https:// URL",
        ));
    }
    if sb.install == "card" && (sb.public_url.is_empty() || sb.card_secret.is_empty()) {
        return Err(key_error(
            loaded,
            "sidebar.install",
            "\"card\" needs sidebar.public_url and sidebar.card_secret",
            "both set, or install = \"widget\"",
        ));
    }
    for (key, v) in [
        ("sidebar.cache_seconds", sb.cache_seconds),
        ("sidebar.max_deals", sb.max_deals as u64),
        ("sidebar.requests_per_minute", sb.requests_per_minute as u64),
    ] {
        if v == 0 {
            return Err(key_error(loaded, key, "is 0", "a number above 0"));
        }
    }
    Ok(())
}

/// `store.lease_seconds`: long enough to renew three times over a slow network, short enough
/// that a standby takes over in minutes at worst.
fn validate_lease(loaded: &Loaded) -> Result<(), ConfigError> {
    let v = loaded.settings.store.lease_seconds;
    if !(3..=600).contains(&v) {
        return Err(key_error(
            loaded,
            "store.lease_seconds",
            format!("{v} is out of range"),
            "a number of seconds from 3 to 600 (15 by default)",
        ));
    }
    Ok(())
}

pub(super) fn validate(loaded: &Loaded) -> Result<(), ConfigError> {
    let s = &loaded.settings;
    // The Gorgias base URL may still be the `{domain}` template (then Gorgias is not
    // configured), so it stays text; it must still be a URL once the domain is filled in.
    let (key, value) = ("gorgias.base_url", &s.gorgias.base_url);
    let shown = value.replace("{domain}", "domain");
    if let Err(problem) = <super::HttpUrl as super::SettingValue>::parse_setting(&shown) {
        // Named with the text as written, `{domain}` included.
        let problem = problem.replacen(&format!("{shown:?}"), &format!("{value:?}"), 1);
        return Err(key_error(
            loaded,
            key,
            problem,
            "an http:// or https:// URL",
        ));
    }
    validate_scan_cron(loaded)?;
    validate_sidebar(loaded)?;
    validate_lease(loaded)?;
    // The listen address, cron schedule, region, HubSpot base URL and store URL are typed
    // values, refused while loading (`typed.rs`).
    for (key, v) in [
        ("matching.review_threshold", s.matching.review_threshold),
        (
            "matching.auto_merge_threshold",
            s.matching.auto_merge_threshold,
        ),
    ] {
        if !(0.0..=1.01).contains(&v) {
            return Err(key_error(
                loaded,
                key,
                format!("{v} is out of range"),
                "a score between 0 and 1 (1.01 turns auto-merge off)",
            ));
        }
    }
    // The matcher caps pairs that look like relatives (same household, different first
    // names) at RELATIVES_CAP; an auto-merge threshold at or below it would merge them.
    let auto = s.matching.auto_merge_threshold;
    if auto <= crate::matcher::RELATIVES_CAP {
        return Err(key_error(
            loaded,
            "matching.auto_merge_threshold",
            format!(
                "{auto} would merge relatives without review (they score up to {})",
                crate::matcher::RELATIVES_CAP
            ),
            "a score above 0.90 (0.99 recommended), or 1.01 to keep auto-merge off",
        ));
    }
    if auto < s.matching.review_threshold {
        return Err(key_error(
            loaded,
            "matching.auto_merge_threshold",
            format!(
                "{auto} is below matching.review_threshold ({})",
                s.matching.review_threshold
            ),
            "a score at or above the review threshold",
        ));
    }
    for (key, v) in [
        ("hubspot.burst_limit", s.hubspot.burst_limit as u64),
        ("hubspot.burst_window_ms", s.hubspot.burst_window_ms),
        (
            "hubspot.search_per_second",
            s.hubspot.search_per_second as u64,
        ),
        ("gorgias.bucket_limit", s.gorgias.bucket_limit as u64),
        ("gorgias.bucket_window_ms", s.gorgias.bucket_window_ms),
    ] {
        if v == 0 {
            return Err(key_error(
                loaded,
                key,
                "0 would allow no request",
                "a positive number",
            ));
        }
    }
    Ok(())
}
