//! Pure decoding of Gorgias answers: JSON bodies → customers, list pages (one unreadable item
//! quarantined, not the page), event pages, ticket and satisfaction-survey pages (→ the plain
//! [`TicketFacts`] and [`SurveyFacts`]), error answers → [`GorgiasError`], and the
//! `Retry-after` and call-limit headers. The transport and the client calls go through these
//! functions, and so do the fuzz targets (`fuzz/`) and the proptest smoke suite
//! (`tests/it/fuzz_smoke.rs`), so what is fuzzed is what runs.
//!
//! Must never do I/O and never panic on what the network sends.

use super::dto::{Customer, CustomerEvent, ListPage, opt_datetime};
use super::error::{GorgiasError, parse_error_body};
use super::feed::Quarantined;
use crate::support::{SurveyFacts, TicketFacts};
use chrono::{DateTime, Utc};
use serde::Deserialize;
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

/// A page of a support list (`GET /api/tickets`, `GET /api/satisfaction-surveys`).
#[derive(Debug, Clone, PartialEq)]
pub struct FactsPage<T> {
    /// Items read, in page order.
    pub items: Vec<T>,
    /// Items that could not be read (skipped, never guessed at).
    pub quarantined: Vec<Quarantined>,
    /// The next cursor (`None` at the end, or when the page was empty).
    pub next_cursor: Option<String>,
    /// Items in the whole listing, when the server says (`meta.total_resources`).
    pub total: Option<u64>,
}

fn facts_page<T>(
    op: &'static str,
    body: &[u8],
    item: fn(&Value) -> Result<T, String>,
) -> Result<FactsPage<T>, GorgiasError> {
    let page: ListPage = json(op, body)?;
    let mut out = FactsPage {
        items: vec![],
        quarantined: vec![],
        next_cursor: next_cursor(&page),
        total: page.total(),
    };
    for v in &page.data {
        match item(v) {
            Ok(t) => out.items.push(t),
            Err(reason) => out.quarantined.push(Quarantined {
                id: v.get("id").and_then(Value::as_i64),
                reason: reason.into(),
            }),
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct IdRef {
    id: i64,
}

/// The keys of a ticket list item tether reads (contract `gorgias.md` §5).
#[derive(Deserialize)]
struct TicketItem {
    id: i64,
    customer: Option<IdRef>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default, deserialize_with = "opt_datetime")]
    created_datetime: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_datetime")]
    updated_datetime: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_datetime")]
    closed_datetime: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_datetime")]
    last_message_datetime: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_datetime")]
    trashed_datetime: Option<DateTime<Utc>>,
    #[serde(default)]
    spam: Option<bool>,
    #[serde(default)]
    messages_count: Option<i64>,
}

/// One ticket list item → its facts, or why it must be skipped (no customer, no
/// `created_datetime`/`updated_datetime`, a negative or huge `messages_count`).
pub fn ticket_item(item: &Value) -> Result<TicketFacts, String> {
    let t = TicketItem::deserialize(item).map_err(|e| e.to_string())?;
    let customer_id = t
        .customer
        .map(|c| c.id)
        .ok_or("ticket without a customer")?;
    let created = t
        .created_datetime
        .ok_or("ticket without created_datetime")?;
    let updated = t
        .updated_datetime
        .ok_or("ticket without updated_datetime")?;
    let messages_count = u32::try_from(t.messages_count.unwrap_or(0))
        .map_err(|_| "messages_count out of range".to_owned())?;
    Ok(TicketFacts {
        id: t.id,
        customer_id,
        status: t.status.unwrap_or_default().trim().to_ascii_lowercase(),
        channel: t.channel.unwrap_or_default(),
        subject: t.subject.unwrap_or_default(),
        created_datetime: created,
        updated_datetime: updated,
        closed_datetime: t.closed_datetime,
        last_message_datetime: t.last_message_datetime,
        spam: t.spam.unwrap_or(false),
        trashed: t.trashed_datetime.is_some(),
        messages_count,
    })
}

/// A page of `GET /api/tickets`.
pub fn ticket_page(op: &'static str, body: &[u8]) -> Result<FactsPage<TicketFacts>, GorgiasError> {
    facts_page(op, body, ticket_item)
}

/// The keys of a satisfaction survey tether reads.
#[derive(Deserialize)]
struct SurveyItem {
    id: i64,
    ticket_id: Option<i64>,
    customer_id: Option<i64>,
    #[serde(default)]
    score: Option<i64>,
    #[serde(default, deserialize_with = "opt_datetime")]
    scored_datetime: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_datetime")]
    created_datetime: Option<DateTime<Utc>>,
}

/// One survey list item → its facts, or why it must be skipped (no ticket or customer, a
/// score outside 1..=5).
pub fn survey_item(item: &Value) -> Result<SurveyFacts, String> {
    let s = SurveyItem::deserialize(item).map_err(|e| e.to_string())?;
    let score = match s.score {
        None => None,
        Some(n @ 1..=5) => Some(n as u8),
        Some(n) => return Err(format!("score {n} outside 1..=5")),
    };
    Ok(SurveyFacts {
        id: s.id,
        ticket_id: s.ticket_id.ok_or("survey without ticket_id")?,
        customer_id: s.customer_id.ok_or("survey without customer_id")?,
        score,
        scored_datetime: s.scored_datetime,
        created_datetime: s.created_datetime,
    })
}

/// A page of `GET /api/satisfaction-surveys`.
pub fn survey_page(op: &'static str, body: &[u8]) -> Result<FactsPage<SurveyFacts>, GorgiasError> {
    facts_page(op, body, survey_item)
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

    #[test]
    fn ticket_items_become_facts() {
        // The recorded page of `GET /api/tickets` (Nango mock, shared/specs/gorgias).
        let body = include_bytes!("../../../fuzz/corpus/gorgias/tickets.json");
        let p = ticket_page("list_tickets", &body[1..]).unwrap();
        assert_eq!(p.items.len(), 1);
        let t = &p.items[0];
        assert_eq!((t.id, t.customer_id), (152984388, 400696060));
        assert_eq!((t.status.as_str(), t.channel.as_str()), ("open", "email"));
        assert_eq!(t.messages_count, 1);
        assert!(!t.spam && !t.trashed && t.closed_datetime.is_none());
        assert_eq!(
            t.updated_datetime.to_rfc3339(),
            "2024-11-14T12:05:26.415204+00:00"
        );
        let bad = ticket_page(
            "list_tickets",
            br#"{"data":[{"id":1,"customer":null,"created_datetime":"2024-01-01","updated_datetime":"2024-01-01"},
                {"id":2,"customer":{"id":3},"created_datetime":"2024-01-01","updated_datetime":"2024-01-01","messages_count":-4},
                {"id":3,"customer":{"id":3},"created_datetime":"2024-01-01","updated_datetime":"2024-01-02","trashed_datetime":"2024-01-02","status":"CLOSED"}],
              "meta":{"next_cursor":null}}"#,
        )
        .unwrap();
        assert_eq!(bad.quarantined.len(), 2);
        assert_eq!(bad.items[0].status, "closed");
        assert!(bad.items[0].trashed && !bad.items[0].is_open());
    }

    #[test]
    fn survey_items_become_facts() {
        let p = survey_page(
            "list_surveys",
            br#"{"data":[{"id":1234,"body_text":"Such speed","created_datetime":"2019-11-16T15:59:41.966927","customer_id":120,"score":2,"scored_datetime":"2019-11-25T15:59:41.966927","ticket_id":9},
                {"id":5,"customer_id":1,"ticket_id":2,"score":null},
                {"id":6,"customer_id":1,"ticket_id":2,"score":9},
                {"id":7,"customer_id":1}],"meta":{"next_cursor":"c"}}"#,
        )
        .unwrap();
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].score, Some(2));
        assert_eq!((p.items[0].ticket_id, p.items[0].customer_id), (9, 120));
        assert_eq!(p.items[1].score, None);
        assert_eq!(p.quarantined.len(), 2);
        assert_eq!(p.next_cursor.as_deref(), Some("c"));
    }
}
