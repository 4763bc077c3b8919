//! Single-record contact routes: list, get, create, PATCH, DELETE, plus search and merge
//! (contract §3, §5, §6). Must never bypass the store's validation.

use super::super::HubspotSandbox;
use super::super::errors::{ApiError, property_errors};
use super::super::rules;
use super::super::search::{SearchRequest, run};
use super::super::store::{Source, WriteError};
use super::super::version::PathVersion;
use super::{list_param, param, parse_body, query_pairs};
use axum::Json;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// Maps a store write error to the HTTP answer of a single-record call.
pub fn write_error(e: WriteError) -> ApiError {
    match e {
        WriteError::Conflict(id) => ApiError::conflict_existing(id),
        WriteError::Invalid(p) => property_errors(&p),
        WriteError::Api(a) => a,
    }
}

pub async fn list(
    State(sb): State<HubspotSandbox>,
    Extension(v): Extension<PathVersion>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = query_pairs(q.as_deref());
    let mut limit: usize = match param(&pairs, "limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if n >= 1 => n,
        _ => return ApiError::validation("limit must be a positive integer").into_response(),
    };
    if limit > 100 {
        if sb.inner.cfg.reject_list_limit_over_100 {
            return ApiError::validation("limit may not exceed 100").into_response();
        }
        limit = 100;
    }
    let history = list_param(&pairs, "propertiesWithHistory").unwrap_or_default();
    if !history.is_empty() {
        limit = limit.min(50);
    }
    let after: u64 = match param(&pairs, "after").map(str::parse::<u64>) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return ApiError::validation("Invalid after cursor").into_response(),
    };
    let archived = param(&pairs, "archived") == Some("true");
    let props = list_param(&pairs, "properties");
    let s = sb.store();
    let mut page: Vec<Value> = vec![];
    let mut next = None;
    for c in s
        .contacts
        .range(after..)
        .map(|(_, c)| c)
        .filter(|c| c.archived_at.is_some() == archived)
    {
        if page.len() == limit {
            next = Some(c.id);
            break;
        }
        page.push(s.render(c, props.as_deref(), &history));
    }
    let mut out = json!({ "results": page });
    if let (Some(n), Some(o)) = (next, out.as_object_mut()) {
        o.insert(
            "paging".into(),
            json!({"next": {"after": n.to_string(),
                "link": format!("{}?after={n}", v.objects())}}),
        );
    }
    Json(out).into_response()
}

pub async fn get_one(
    State(sb): State<HubspotSandbox>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = query_pairs(q.as_deref());
    let by_email = param(&pairs, "idProperty") == Some("email");
    let archived = param(&pairs, "archived") == Some("true");
    let s = sb.store();
    let found = if archived {
        id.parse()
            .ok()
            .and_then(|n| s.resolve(n))
            .and_then(|n| s.contacts.get(&n))
            .filter(|c| c.archived_at.is_some())
    } else {
        s.lookup(&id, by_email).and_then(|n| s.contacts.get(&n))
    };
    match found {
        Some(c) => {
            let props = list_param(&pairs, "properties");
            let history = list_param(&pairs, "propertiesWithHistory").unwrap_or_default();
            Json(s.render(c, props.as_deref(), &history)).into_response()
        }
        None => ApiError::not_found(&id).into_response(),
    }
}

#[derive(Deserialize)]
struct PropsBody {
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

/// Property values must be strings (or null, read as ""); numbers/bools are accepted as
/// their text, as HubSpot coerces them.
pub fn string_props(raw: BTreeMap<String, Value>) -> BTreeMap<String, String> {
    raw.into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
}

fn echo_names(props: &BTreeMap<String, String>) -> Vec<String> {
    props.keys().cloned().collect()
}

pub async fn create(
    State(sb): State<HubspotSandbox>,
    Extension(v): Extension<PathVersion>,
    body: Bytes,
) -> Response {
    let req: PropsBody = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let props = string_props(req.properties);
    if let Some(r) = sb.rules_for(v) {
        let broken = rules::check(&r, None, &props);
        if !broken.is_empty() {
            return rules::refusal(&broken).into_response();
        }
    }
    let mut s = sb.store();
    match s.create(
        &props,
        Source::Integration,
        Utc::now(),
        Instant::now(),
        false,
    ) {
        Ok(id) => match s.contacts.get(&id) {
            Some(c) => (
                StatusCode::CREATED,
                Json(s.render(c, Some(&echo_names(&props)), &[])),
            )
                .into_response(),
            None => ApiError::not_found(&id.to_string()).into_response(),
        },
        Err(e) => write_error(e).into_response(),
    }
}

pub async fn patch(
    State(sb): State<HubspotSandbox>,
    Extension(v): Extension<PathVersion>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let pairs = query_pairs(q.as_deref());
    let by_email = param(&pairs, "idProperty") == Some("email");
    let req: PropsBody = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let props = string_props(req.properties);
    let mut s = sb.store();
    let Some(target) = s.lookup(&id, by_email) else {
        return ApiError::not_found(&id).into_response();
    };
    if let (Some(r), Some(c)) = (sb.rules_for(v), s.contacts.get(&target)) {
        let broken = rules::check(&r, Some(&c.props), &props);
        if !broken.is_empty() {
            return rules::refusal(&broken).into_response();
        }
    }
    match s.update(
        target,
        &props,
        Source::Integration,
        Utc::now(),
        Instant::now(),
    ) {
        Ok(()) => match s.contacts.get(&target) {
            Some(c) => Json(s.render(c, Some(&echo_names(&props)), &[])).into_response(),
            None => ApiError::not_found(&id).into_response(),
        },
        Err(e) => write_error(e).into_response(),
    }
}

pub async fn archive(State(sb): State<HubspotSandbox>, Path(id): Path<String>) -> Response {
    let mut s = sb.store();
    if let Some(target) = s.lookup(&id, false) {
        s.archive(target, Utc::now(), Instant::now());
    }
    StatusCode::NO_CONTENT.into_response()
}

pub async fn search(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    if body.len() > 3000 {
        return ApiError::validation("Request body may not exceed 3000 characters").into_response();
    }
    let req: SearchRequest = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut s = sb.store();
    match run(&mut s, &req, Instant::now()) {
        Ok(v) => Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MergeBody {
    primary_object_id: Option<String>,
    object_id_to_merge: Option<String>,
}

pub async fn merge(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    let req: MergeBody = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let (Some(p), Some(q)) = (
        req.primary_object_id.and_then(|s| s.parse::<u64>().ok()),
        req.object_id_to_merge.and_then(|s| s.parse::<u64>().ok()),
    ) else {
        return ApiError::validation("primaryObjectId and objectIdToMerge are required")
            .into_response();
    };
    let mut s = sb.store();
    match s.merge(p, q, Utc::now(), Instant::now()) {
        Ok(id) => match s.contacts.get(&id) {
            Some(c) => Json(s.render(c, None, &[])).into_response(),
            None => ApiError::not_found(&id.to_string()).into_response(),
        },
        Err(e) => e.into_response(),
    }
}
