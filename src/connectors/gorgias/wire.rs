//! Pure decoding of Gorgias answers: JSON bodies → customers, list pages (one unreadable item
//! quarantined, not the page), event pages, error answers → [`GorgiasError`], and the
//! `Retry-after` and call-limit headers. The transport and the client calls go through these
//! functions, and so do the fuzz targets (`fuzz/`) and the proptest smoke suite
//! (`tests/it/fuzz_smoke.rs`), so what is fuzzed is what runs.
//!
//! Must never do I/O and never panic on what the network sends.

use super::dto::{Customer, CustomerEvent, ListPage};
use super::error::{GorgiasError, parse_error_body};
use super::feed::Quarantined;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

pub use super::limiter::parse_call_limit;

/// Decodes a JSON body, mapping failures to [`GorgiasError::Decode`].
pub fn json<T: DeserializeOwned>(op: &'static str, body: &[u8]) -> Result<T, GorgiasError> {
    serde_json::from_slice(body).map_err(|e| GorgiasError::Decode {
        op,
        reason: e.to_string().into(),
    })
}

/// One customer (`GET /api/customers/{id}`, create, update, merge).
pub fn customer(op: &'static str, body: &[u8]) -> Result<Customer, GorgiasError> {
    json(op, body)
}

/// One item of a customer list: the customer, or why it must be skipped.
pub fn list_item(item: &Value) -> Result<Customer, Quarantined> {
    serde_json::from_value::<Customer>(item.clone()).map_err(|e| Quarantined {
        id: item.get("id").and_then(Value::as_i64),
        reason: e.to_string().into(),
    })
}

/// A page of `GET /api/customers`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPage {
    /// Items read, in page order.
    pub customers: Vec<Customer>,
    /// Items that could not be read.
    pub quarantined: Vec<Quarantined>,
    /// The next cursor (`None` at the end, or when the page was empty).
    pub next_cursor: Option<String>,
}

/// Decodes a customer list page; an unreadable envelope is an error, an unreadable item is
/// quarantined.
pub fn customer_page(op: &'static str, body: &[u8]) -> Result<CustomerPage, GorgiasError> {
    let page: ListPage = json(op, body)?;
    let mut out = CustomerPage {
        customers: vec![],
        quarantined: vec![],
        next_cursor: next_cursor(&page),
    };
    for item in &page.data {
        match list_item(item) {
            Ok(c) => out.customers.push(c),
            Err(q) => out.quarantined.push(q),
        }
    }
    Ok(out)
}

/// A page of `GET /api/events`: the events read, how many items were skipped (no id, type
/// or object id) and the next cursor.
pub fn event_page(
    op: &'static str,
    body: &[u8],
) -> Result<(Vec<CustomerEvent>, usize, Option<String>), GorgiasError> {
    let page: ListPage = json(op, body)?;
    let events: Vec<CustomerEvent> = page
        .data
        .iter()
        .filter_map(CustomerEvent::from_value)
        .collect();
    let skipped = page.data.len() - events.len();
    Ok((events, skipped, next_cursor(&page)))
}

/// The cursor to follow: none when the page was empty (a server repeating a cursor with no
/// data would otherwise loop forever).
fn next_cursor(page: &ListPage) -> Option<String> {
    page.next_cursor()
        .filter(|_| !page.data.is_empty())
        .map(str::to_owned)
}

/// The error for a non-success answer `status` to `op` on customer `id`, with its body and
/// `Location` header.
pub fn error(
    op: &'static str,
    id: Option<i64>,
    status: u16,
    body: &[u8],
    location: Option<&str>,
) -> GorgiasError {
    let (msg, fields) = parse_error_body(body);
    match status {
        401 => GorgiasError::Unauthorized,
        403 => GorgiasError::Forbidden,
        404 => GorgiasError::NotFound {
            id: id.unwrap_or(0),
        },
        301 | 302 | 307 | 308 => GorgiasError::Merged {
            id: id.unwrap_or(0),
            into: location.and_then(id_from_location),
        },
        400 | 422 => GorgiasError::Validation {
            op,
            status,
            msg,
            fields,
        },
        409 => GorgiasError::Conflict { op, msg },
        status => GorgiasError::Unexpected { op, status, msg },
    }
}

/// The last numeric path segment of a `Location` (`/api/customers/123/` → 123).
pub fn id_from_location(loc: &str) -> Option<i64> {
    let path = loc.split(['?', '#']).next().unwrap_or(loc);
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .and_then(|s| s.parse().ok())
}

/// How long a `Retry-after` header (seconds, possibly fractional) asks to wait, at most
/// `max`; one second when absent or unreadable.
pub fn retry_after(raw: Option<&str>, max: Duration) -> Duration {
    let secs = raw
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(1.0);
    // `from_secs_f64` panics past u64::MAX seconds; such a wait is "as long as allowed".
    Duration::try_from_secs_f64(secs).map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_ids() {
        assert_eq!(id_from_location("/api/customers/123"), Some(123));
        assert_eq!(
            id_from_location("https://a.gorgias.com/api/customers/9/?x=1"),
            Some(9)
        );
        assert_eq!(id_from_location("/api/customers/merge"), None);
    }

    #[test]
    fn pages_quarantine_bad_items() {
        let p = customer_page(
            "list",
            br#"{"data":[{"id":1},{"id":2,"updated_datetime":"nope"},{"x":1}],"meta":{"next_cursor":"c"}}"#,
        )
        .unwrap();
        assert_eq!(p.customers.len(), 1);
        assert_eq!(p.quarantined.len(), 2);
        assert_eq!(p.quarantined[0].id, Some(2));
        assert_eq!(p.next_cursor.as_deref(), Some("c"));
        let empty = customer_page("list", br#"{"data":[],"meta":{"next_cursor":"c"}}"#).unwrap();
        assert_eq!(empty.next_cursor, None);
        assert!(matches!(
            customer_page("list", br#"{"data": 5}"#),
            Err(GorgiasError::Decode { .. })
        ));
    }

    #[test]
    fn errors_by_status() {
        assert!(matches!(
            error("get", Some(5), 301, b"", Some("/api/customers/9/")),
            GorgiasError::Merged {
                id: 5,
                into: Some(9)
            }
        ));
        assert!(matches!(
            error("create", None, 400, br#"{"error":{"msg":"bad"}}"#, None),
            GorgiasError::Validation { status: 400, .. }
        ));
        assert_eq!(
            retry_after(Some("2.5"), Duration::from_secs(60)),
            Duration::from_millis(2500)
        );
        assert_eq!(
            retry_after(Some("-1"), Duration::from_secs(60)),
            Duration::from_secs(1)
        );
    }

    /// Regression (found by `fuzz/run.sh gorgias` in 2,145 runs): `Retry-after:
    /// 18446744073709551615` made `Duration::from_secs_f64` panic inside the transport, so one
    /// answer of a misbehaving server or proxy killed the sync task.
    #[test]
    fn a_huge_retry_after_waits_the_maximum() {
        let max = Duration::from_secs(60);
        assert_eq!(retry_after(Some("18446744073709551615"), max), max);
        assert_eq!(retry_after(Some("1e300"), max), max);
    }
}
