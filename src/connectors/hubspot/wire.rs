//! Pure decoding of HubSpot answers: body text → JSON, JSON → typed records and pages, error
//! bodies → [`HubspotError`], rate-limit headers → numbers. The transport and the client
//! calls go through these functions, and so do the fuzz targets (`fuzz/`) and the proptest
//! smoke suite (`tests/it/fuzz_smoke.rs`), so what is fuzzed is what runs.
//!
//! Must never do I/O, never panic on what the network sends, and never hide a malformed
//! answer: it becomes [`HubspotError::Decode`].

use super::error::HubspotError;
use super::types::{self, BatchResponse, Contact, ListPage, SearchPage, WireObject};
use crate::pii::NetText;
use serde_json::Value;
use std::time::Duration;

/// The JSON of a body as the transport reads it: `Null` when blank, `None` when not JSON.
pub fn parse_body(text: &str) -> Option<Value> {
    if text.trim().is_empty() {
        Some(Value::Null)
    } else {
        serde_json::from_str(text).ok()
    }
}

/// The error for a non-success answer `status` to `method endpoint` whose body is `body`
/// (HubSpot's `category`, `message` and `correlationId` when the body has them).
pub fn api_error(method: &str, endpoint: &str, status: u16, body: Value) -> HubspotError {
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    HubspotError::Api {
        endpoint: format!("{method} {endpoint}"),
        status,
        category: s("category")
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| format!("HTTP_{status}")),
        message: s("message").unwrap_or_default().into(),
        correlation_id: s("correlationId"),
        body: Box::new(body.into()),
    }
}

/// One entry of a 2xx answer's `warnings[]` (`{category, message, context}`, contract
/// `hubspot-2026.md` §1), e.g. `PROPERTY_VALUE_NORMALIZED`.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// The category, reduced to `A-Z`, `0-9` and `_` (at most 64 characters; `UNKNOWN`
    /// when nothing is left), so it is safe as a metric label.
    pub category: String,
    /// HubSpot's message (may name a value: printed masked).
    pub message: NetText,
}

/// The warnings of a 2xx answer: on the object itself and on each `results[]` entry of a
/// batch. Anything malformed is skipped: a warning never fails a call.
pub fn warnings(body: &Value) -> Vec<Warning> {
    let own = std::iter::once(body);
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    own.chain(results)
        .filter_map(|o| o.get("warnings").and_then(Value::as_array))
        .flatten()
        .filter(|w| w.is_object())
        .map(|w| {
            let text = |k: &str| w.get(k).and_then(Value::as_str).unwrap_or("");
            let category: String = text("category")
                .chars()
                .filter(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .take(64)
                .collect();
            Warning {
                category: if category.is_empty() {
                    "UNKNOWN".into()
                } else {
                    category
                },
                message: text("message").into(),
            }
        })
        .collect()
}

/// One `SimplePublicObject` (get, create, merge) as a [`Contact`].
pub fn contact(endpoint: &str, body: Value) -> Result<Contact, HubspotError> {
    Ok(types::decode::<WireObject>(endpoint, body)?.into())
}

/// A page of contacts (list or search) with the cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// Search only: matches in all.
    pub total: Option<u64>,
    pub contacts: Vec<Contact>,
    /// `paging.next.after` as a string (it may come as a number).
    pub next_after: Option<String>,
}

/// A page of `GET /crm/objects/{V}/contacts`.
pub fn list_page(body: Value) -> Result<Page, HubspotError> {
    let page: ListPage = types::decode("contacts", body)?;
    Ok(Page {
        total: None,
        next_after: page.paging.and_then(|p| p.next_after()),
        contacts: page.results.into_iter().map(Contact::from).collect(),
    })
}

/// A page of `POST /crm/objects/{V}/contacts/search`.
pub fn search_page(body: Value) -> Result<Page, HubspotError> {
    let page: SearchPage = types::decode("contacts/search", body)?;
    Ok(Page {
        total: page.total,
        next_after: page.paging.and_then(|p| p.next_after()),
        contacts: page.results.into_iter().map(Contact::from).collect(),
    })
}

/// A batch answer (read, create, update, upsert: 200, 201 or 207).
pub fn batch(endpoint: &str, body: Value) -> Result<BatchResponse, HubspotError> {
    types::decode(endpoint, body)
}

/// What the `X-HubSpot-RateLimit-*` and `Retry-After` headers of one answer say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub max: Option<u32>,
    pub interval: Option<Duration>,
    pub remaining: Option<u32>,
    pub daily_remaining: Option<u64>,
    pub retry_after: Option<Duration>,
}

/// Reads the rate-limit headers through `get` (a case-insensitive header lookup). Values
/// that are not numbers are ignored; numbers beyond what HubSpot can mean are capped, so a
/// hostile or garbled header can neither overflow the budget's clock arithmetic nor make it
/// book billions of slots: at most [`MAX_LIMIT`] calls per window, windows and waits of at
/// most [`MAX_WAIT`].
pub fn rate_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> RateHeaders {
    let num = |name: &str| get(name)?.trim().parse::<u64>().ok();
    let count = |v: u64| u32::try_from(v).unwrap_or(u32::MAX).min(MAX_LIMIT);
    RateHeaders {
        max: num("x-hubspot-ratelimit-max").map(count),
        interval: num("x-hubspot-ratelimit-interval-milliseconds")
            .map(|v| Duration::from_millis(v).min(MAX_WAIT)),
        remaining: num("x-hubspot-ratelimit-remaining").map(count),
        daily_remaining: num("x-hubspot-ratelimit-daily-remaining"),
        retry_after: num("retry-after").map(|v| Duration::from_secs(v).min(MAX_WAIT)),
    }
}

/// Largest per-window limit believed from a header (HubSpot's largest tier is 250 per 10 s).
pub const MAX_LIMIT: u32 = 10_000;

/// Longest window or `Retry-After` believed from a header (HubSpot's windows are seconds; the
/// daily limit is handled apart, by stopping).
pub const MAX_WAIT: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_and_errors() {
        assert_eq!(parse_body("  "), Some(Value::Null));
        assert_eq!(parse_body("<html>"), None);
        let e = api_error(
            "POST",
            "/crm/v3/objects/contacts",
            409,
            json!({"category": "CONFLICT", "message": "Contact already exists. Existing ID: 7"}),
        );
        assert_eq!(e.category(), "CONFLICT");
        assert_eq!(e.existing_id(), Some("7".into()));
        assert_eq!(
            api_error("GET", "/x", 502, Value::Null).category(),
            "HTTP_502"
        );
    }

    /// Regression (found by `fuzz/run.sh hubspot` after 3.6 million runs): an error body with
    /// `"category": ""` gave an error with an empty category (`answered 409 : ...`), which
    /// callers match on; an empty category now counts as a missing one.
    #[test]
    fn an_empty_category_falls_back_to_the_status() {
        let body: Value = serde_json::from_str(r#"{"sttaus":"a24-","category":""}"#).unwrap();
        assert_eq!(api_error("POST", "/x", 409, body).category(), "HTTP_409");
    }

    #[test]
    fn pages_carry_their_cursor() {
        let p = search_page(
            json!({"total": 3, "results": [{"id": "1"}], "paging": {"next": {"after": 100}}}),
        )
        .unwrap();
        assert_eq!((p.total, p.next_after.as_deref()), (Some(3), Some("100")));
        assert!(matches!(
            list_page(json!({"results": {}})),
            Err(HubspotError::Decode { .. })
        ));
    }

    /// Regression (found by `fuzz/run.sh hubspot` after 2.9 million runs, as an
    /// out-of-memory): `X-HubSpot-RateLimit-Max: 9222222222222222` was truncated to a u32 of
    /// about 2.1 billion and, with `Remaining: 1`, the budget booked that many slots. Also
    /// capped: `Retry-After` or an interval of 18446744073709551615, which made
    /// `Instant + Duration` overflow and panic.
    #[test]
    fn huge_rate_headers_are_capped() {
        let reproducer = "X-HubSpot-RateLimit-Max:9222222222222222\n0ateLim%tItx: 190\n\
                          X-HubSpot-RateLimit-Remaining: 1\nX-H\n";
        let lines: Vec<(String, &str)> = reproducer
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v))
            .collect();
        let h = rate_headers(|n| lines.iter().find(|(k, _)| k == n).map(|(_, v)| *v));
        assert_eq!((h.max, h.remaining), (Some(MAX_LIMIT), Some(1)));
        let huge = rate_headers(|n| match n {
            "retry-after" | "x-hubspot-ratelimit-interval-milliseconds" => {
                Some("18446744073709551615")
            }
            _ => None,
        });
        assert_eq!(
            (huge.retry_after, huge.interval),
            (Some(MAX_WAIT), Some(MAX_WAIT))
        );
        let mut b = super::super::WindowBudget::new(100, Duration::from_secs(10));
        let now = std::time::Instant::now();
        b.observe(h.max, huge.interval, h.remaining, now, now);
        b.block_for(huge.retry_after.unwrap_or_default(), now);
        assert!(b.try_acquire(now).is_err());
    }
}
