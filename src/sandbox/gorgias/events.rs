//! `GET /api/events`: the customer event log (`customer-created|updated|deleted|merged`),
//! filterable by repeated `types`, `object_type`, `object_id`, `created_datetime[gte|gt|lte|lt]`,
//! cursor paginated. Must never invent events other than those the state recorded.

use super::GorgiasSandbox;
use super::paging::{self, Query};
use super::reply;
use super::time;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::Value;

const ORDERS: &[&str] = &["created_datetime:asc", "created_datetime:desc"];

fn bound(q: &Query, op: &str) -> Result<Option<DateTime<Utc>>, Response> {
    let key = format!("created_datetime[{op}]");
    match q.get(&key) {
        None => Ok(None),
        Some(raw) => time::parse_flexible(raw).map(Some).ok_or_else(|| {
            reply::invalid_field("Invalid query parameters.", &key, "Not a valid datetime.")
        }),
    }
}

pub async fn list(State(sb): State<GorgiasSandbox>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let params = match paging::list_params(&q, ORDERS, "created_datetime:desc") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut bounds = Vec::new();
    for op in ["gte", "gt", "lte", "lt"] {
        match bound(&q, op) {
            Ok(b) => bounds.push((op, b)),
            Err(r) => return r,
        }
    }
    let mut types: Vec<&str> = q.all("types");
    types.extend(q.all("types[]"));
    let object_type = q.get("object_type");
    let object_id = match q.get("object_id").map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return reply::invalid_field(
                "Invalid query parameters.",
                "object_id",
                "Not a valid integer.",
            );
        }
    };
    let mut rows: Vec<(paging::Key, Value)> = {
        let st = sb.state();
        st.events
            .iter()
            .filter(|e| types.is_empty() || types.contains(&e.kind.as_str()))
            .filter(|_| object_type.is_none_or(|t| t == "Customer"))
            .filter(|e| object_id.is_none_or(|id| id == e.object_id))
            .filter(|e| {
                bounds.iter().all(|(op, b)| match (op, b) {
                    (_, None) => true,
                    (&"gte", Some(b)) => e.created >= *b,
                    (&"gt", Some(b)) => e.created > *b,
                    (&"lte", Some(b)) => e.created <= *b,
                    (_, Some(b)) => e.created < *b,
                })
            })
            .map(|e| ((e.created.timestamp_micros(), e.id), e.render()))
            .collect()
    };
    paging::sort(&mut rows, params.desc);
    let page = paging::page(rows, &params);
    let uri = paging::list_uri("/api/events", raw.as_deref());
    reply::json(
        StatusCode::OK,
        paging::envelope(page.items, &uri, page.prev, page.next),
    )
}
