//! `GET /api/tickets` (filter `customer_id`, `trashed` default true, the list envelope) over
//! seeded tickets, and `GET /api/account`. Must never create tickets from API calls.

use super::GorgiasSandbox;
use super::paging::{self, Query};
use super::reply;
use super::state::State as Account;
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

/// Stores one seeded ticket, filling `id`, `uri`, `customer` and datetimes when missing.
pub fn seed_one(st: &mut Account, ticket: Value) -> i64 {
    let mut obj = ticket.as_object().cloned().unwrap_or_default();
    let id = match obj.get("id").and_then(Value::as_i64) {
        Some(id) => id,
        None => st.alloc_id(),
    };
    obj.insert("id".into(), json!(id));
    obj.insert("uri".into(), json!(format!("/api/tickets/{id}/")));
    if let Some(cid) = obj.remove("customer_id").and_then(|v| v.as_i64()) {
        obj.insert("customer".into(), json!({"id": cid}));
    }
    let now = time::format(st.clock.tick());
    for key in ["created_datetime", "updated_datetime"] {
        obj.entry(key).or_insert_with(|| json!(now));
    }
    obj.entry("status").or_insert_with(|| json!("open"));
    obj.entry("trashed_datetime").or_insert(Value::Null);
    st.tickets.push(Value::Object(obj));
    id
}

fn key_of(t: &Value, field: &str) -> paging::Key {
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
    let mut rows: Vec<(paging::Key, Value)> = sb
        .state()
        .tickets
        .iter()
        .filter(|t| {
            customer.is_none_or(|c| t.pointer("/customer/id").and_then(Value::as_i64) == Some(c))
        })
        .filter(|t| include_trashed || t.get("trashed_datetime").is_none_or(Value::is_null))
        .map(|t| (key_of(t, field), t.clone()))
        .collect();
    rows.sort_by(|a, b| {
        if params.desc {
            b.0.cmp(&a.0)
        } else {
            a.0.cmp(&b.0)
        }
    });
    let page = paging::page(rows, &params);
    let uri = match raw.as_deref() {
        Some(r) if !r.is_empty() => format!("/api/tickets?{r}"),
        _ => "/api/tickets".to_owned(),
    };
    reply::json(
        StatusCode::OK,
        paging::envelope(page.items, &uri, page.prev, page.next),
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
