//! `GET /api/satisfaction-surveys`: the account's surveys, cursor paged, ordered by
//! `created_datetime` (asc or desc; the accepted values are UNCONFIRMED, the default is
//! [`super::SandboxConfig::survey_default_order`]), filter `ticket_id`; pages cut from the
//! surveys' ordered index (`listed.rs`). Must never create or score surveys from API calls.

use super::GorgiasSandbox;
use super::paging::{self, Query};
use super::reply;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

const ORDERS: &[&str] = &["created_datetime:asc", "created_datetime:desc"];

pub async fn list(State(sb): State<GorgiasSandbox>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let default_order = sb.config().survey_default_order.clone();
    let params = match paging::list_params(&q, ORDERS, &default_order) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let ticket = match q.get("ticket_id").map(str::parse::<i64>) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(_)) => {
            return reply::invalid_field(
                "Invalid query parameters.",
                "ticket_id",
                "Not a valid integer.",
            );
        }
    };
    let st = sb.state();
    let page = st.surveys.page("created_datetime", &params, |s| {
        ticket.is_none_or(|t| s.get("ticket_id").and_then(Value::as_i64) == Some(t))
    });
    let items: Vec<Value> = page.items.iter().map(|i| st.surveys[*i].clone()).collect();
    drop(st);
    let uri = paging::list_uri("/api/satisfaction-surveys", raw.as_deref());
    reply::json(
        StatusCode::OK,
        paging::envelope(items, &uri, page.prev, page.next),
    )
}
