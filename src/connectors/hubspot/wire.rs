//! Pure decoding of HubSpot answers: body text → JSON, JSON → typed records and pages, error
//! bodies → [`HubspotError`], rate-limit headers → numbers. The transport and the client
//! calls go through these functions, and so do the fuzz targets (`fuzz/`) and the proptest
//! smoke suite (`tests/it/fuzz_smoke.rs`), so what is fuzzed is what runs.
//!
//! Must never do I/O, never panic on what the network sends, and never hide a malformed
//! answer: it becomes [`HubspotError::Decode`].

use super::error::HubspotError;
use super::types::{self, BatchResponse, Contact, ListPage, SearchPage, WireObject};
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
        category: s("category").unwrap_or_else(|| format!("HTTP_{status}")),
        message: s("message").unwrap_or_default(),
        correlation_id: s("correlationId"),
        body: Box::new(body),
    }
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

/// A page of `GET /crm/v3/objects/contacts`.
pub fn list_page(body: Value) -> Result<Page, HubspotError> {
    let page: ListPage = types::decode("contacts", body)?;
    Ok(Page {
        total: None,
        next_after: page.paging.and_then(|p| p.next_after()),
        contacts: page.results.into_iter().map(Contact::from).collect(),
    })
}

/// A page of `POST /crm/v3/objects/contacts/search`.
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
/// that are not numbers are ignored.
pub fn rate_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> RateHeaders {
    let num = |name: &str| get(name)?.trim().parse::<u64>().ok();
    RateHeaders {
        max: num("x-hubspot-ratelimit-max").map(|v| v as u32),
        interval: num("x-hubspot-ratelimit-interval-milliseconds").map(Duration::from_millis),
        remaining: num("x-hubspot-ratelimit-remaining").map(|v| v as u32),
        daily_remaining: num("x-hubspot-ratelimit-daily-remaining"),
        retry_after: num("retry-after").map(Duration::from_secs),
    }
}

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
}
