//! `PUT /api/customers/{id}/data`: replaces the whole `data`, answers 202 with an empty body,
//! ignores (still 202) a write whose `version` is older than the stored one, 301 for merged
//! ids. Must never merge `data` objects: replacement is the contract.

use super::GorgiasSandbox;
use super::customers::{gone, object_body, parse_id};
use super::reply;
use super::time;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

pub async fn put_data(
    State(sb): State<GorgiasSandbox>,
    Path(raw): Path<String>,
    body: Bytes,
) -> Response {
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(r) => return r,
    };
    if let Err(l) = sb.state().lookup(id) {
        return gone(&sb, l);
    }
    let body = match object_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut errs = Map::new();
    for k in body.keys() {
        if k != "data" && k != "version" {
            errs.insert(k.clone(), json!(["Unknown field."]));
        }
    }
    let Some(data) = body.get("data").cloned() else {
        errs.insert("data".into(), json!(["Missing data for required field."]));
        return reply::invalid("Failed to update customer data", errs);
    };
    let version = match body.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match time::parse_flexible(s) {
            Some(v) => Some(v),
            None => {
                errs.insert("version".into(), json!(["Not a valid datetime."]));
                None
            }
        },
        Some(_) => {
            errs.insert("version".into(), json!(["Not a valid datetime."]));
            None
        }
    };
    if !errs.is_empty() {
        return reply::invalid("Failed to update customer data", errs);
    }
    let actor = sb.api_actor();
    let delay = sb.config().data_apply_delay;
    if delay.is_zero() {
        sb.state().set_data(id, data, version, actor);
    } else {
        let later = sb.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            later.state().set_data(id, data, version, actor);
        });
    }
    reply::empty(StatusCode::ACCEPTED)
}
