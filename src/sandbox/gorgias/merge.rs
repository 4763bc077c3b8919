//! `PUT /api/customers/merge?source_id=&target_id=`: ids in the query, at least one body
//! field, conflict when both customers hold data of the same integration, source deleted and
//! answering 301 afterwards. Must never merge on a validation failure.

use super::GorgiasSandbox;
use super::customers::{gone, object_body};
use super::paging::Query;
use super::reply;
use super::state::StoredCustomer;
use super::validate::{self, MERGE_KEYS};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

fn query_id(q: &Query, key: &str) -> Option<i64> {
    q.get(key)?.parse::<i64>().ok().filter(|n| *n > 0)
}

pub async fn merge(
    State(sb): State<GorgiasSandbox>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let mut errs = Map::new();
    let source = query_id(&q, "source_id");
    let target = query_id(&q, "target_id");
    if source.is_none() {
        errs.insert(
            "source_id".into(),
            json!(["Missing data for required field."]),
        );
    }
    if target.is_none() {
        errs.insert(
            "target_id".into(),
            json!(["Missing data for required field."]),
        );
    }
    let (Some(source), Some(target)) = (source, target) else {
        return reply::invalid("Failed to merge customers", errs);
    };
    if source == target {
        return reply::invalid_field(
            "Failed to merge customers",
            "source_id",
            "Source and target must be different customers.",
        );
    }
    let body = match object_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if body.is_empty() {
        return reply::invalid_field(
            "Failed to merge customers",
            "_schema",
            "At least one field is required.",
        );
    }
    let fields = validate::customer_body(&body, MERGE_KEYS, false);
    if !fields.is_empty() {
        return reply::invalid("Failed to merge customers", fields.into_map());
    }
    let actor = sb.api_actor();
    let on_source = sb.config().merge_event_on_source;
    let mut st = sb.state();
    for id in [source, target] {
        if let Err(l) = st.lookup(id) {
            drop(st);
            return gone(&sb, l);
        }
    }
    if let Some(key) = st.integration_conflict(source, target) {
        drop(st);
        let status =
            StatusCode::from_u16(sb.config().merge_conflict_status).unwrap_or(StatusCode::CONFLICT);
        return reply::json(
            status,
            json!({"error": {
                "msg": "Both customers have data for the same integration.",
                "data": {"integrations": [format!("Integration {key} has data on both customers.")]}
            }}),
        );
    }
    let mut fields = body;
    fields.remove("id");
    st.merge(source, target, &fields, actor, on_source);
    let full = st
        .lookup(target)
        .map(StoredCustomer::full)
        .unwrap_or(Value::Null);
    reply::json(StatusCode::OK, full)
}
