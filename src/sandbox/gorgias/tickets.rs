//! `GET /api/tickets` (filter `customer_id`, `trashed` default true, `order_by` created or
//! updated, asc or desc, default `created_datetime:desc`, cursor paging, the list envelope)
//! over the account's tickets (pages cut from the tickets' ordered indexes, `listed.rs`), and
//! `GET /api/account`. Must never create tickets from API calls.

use super::GorgiasSandbox;
use super::paging::{self, Query};
use super::reply;
use super::time;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

const ORDERS: &[&str] = &[
    "created_datetime:asc",
    "created_datetime:desc",
    "updated_datetime:asc",
    "updated_datetime:desc",
];

/// The sort key of an item: the ordering datetime in microseconds (0 when absent), then id.
pub fn key_of(t: &Value, field: &str) -> paging::Key {
    let micros = t
        .get(field)
        .and_then(Value::as_str)
        .and_then(time::parse_flexible)
        .map(|d| d.timestamp_micros())
        .unwrap_or(0);
    (micros, t.get("id").and_then(Value::as_i64).unwrap_or(0))
}

pub async fn list(State(sb): State<GorgiasSandbox>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let params = match paging::list_params(&q, ORDERS, "created_datetime:desc") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let customer = match q.get("customer_id").map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return reply::invalid_field(
                "Invalid query parameters.",
                "customer_id",
                "Not a valid integer.",
            );
        }
    };
    let include_trashed = !matches!(q.get("trashed"), Some("false") | Some("0"));
    let field = if params.order.starts_with("updated") {
        "updated_datetime"
    } else {
        "created_datetime"
    };
    let st = sb.state();
    // A range lookup in the order's index; only the page's items are cloned.
    let page = st.tickets.page(field, &params, |t| {
        customer.is_none_or(|c| t.pointer("/customer/id").and_then(Value::as_i64) == Some(c))
            && (include_trashed || t.get("trashed_datetime").is_none_or(Value::is_null))
    });
    let items: Vec<Value> = page.items.iter().map(|i| st.tickets[*i].clone()).collect();
    drop(st);
    let uri = paging::list_uri("/api/tickets", raw.as_deref());
    reply::json(
        StatusCode::OK,
        paging::envelope(items, &uri, page.prev, page.next),
    )
}

/// `GET /api/account`.
pub async fn account(State(sb): State<GorgiasSandbox>) -> Response {
    reply::json(
        StatusCode::OK,
        json!({
            "domain": sb.config().domain,
            "created_datetime": "2020-01-01T00:00:00.000000+00:00",
            "deactivated_datetime": null,
            "status": "active",
            "settings": [],
        }),
    )
}
