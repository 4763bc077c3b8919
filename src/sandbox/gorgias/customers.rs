//! Customer routes: list (cursor, limit, four orders, filters; compact items), get (full),
//! create (201; channels required; unknown keys 400; duplicate e-mail 409), partial PUT,
//! single and bulk DELETE (204). Must never let a merged id act like a live one (301).

use super::GorgiasSandbox;
use super::paging::{self, Query};
use super::reply;
use super::state::{Lookup, StoredCustomer};
use super::validate::{self, CREATE_KEYS, UPDATE_KEYS};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

const ORDERS: &[&str] = &[
    "created_datetime:asc",
    "created_datetime:desc",
    "updated_datetime:asc",
    "updated_datetime:desc",
];

/// A path id: a positive integer, or 404.
pub(super) fn parse_id(raw: &str) -> Result<i64, Response> {
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(reply::not_found()),
    }
}

/// The answer for an id that is not live: 404, or 301 when it was merged away.
pub(super) fn gone(sb: &GorgiasSandbox, lookup: Lookup) -> Response {
    match lookup {
        Lookup::NotFound => reply::not_found(),
        Lookup::Merged(target) => {
            let mut resp = reply::error(
                StatusCode::MOVED_PERMANENTLY,
                "Customer was merged with another one.",
            );
            if sb.config().merged_location_header
                && let Ok(v) = HeaderValue::from_str(&format!("/api/customers/{target}"))
            {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
    }
}

/// Parses a JSON object body, or answers 400.
pub(super) fn object_body(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(reply::invalid_field(
            "Invalid request body.",
            "_schema",
            "Invalid input type.",
        )),
        Err(_) => Err(reply::error(
            StatusCode::BAD_REQUEST,
            "The request body is not valid JSON.",
        )),
    }
}

fn duplicate(sb: &GorgiasSandbox, action: &str) -> Response {
    let status =
        StatusCode::from_u16(sb.config().duplicate_email_status).unwrap_or(StatusCode::CONFLICT);
    let msg = if status == StatusCode::CONFLICT {
        "The resource already exists.".to_owned()
    } else {
        format!("Failed to {action} customer")
    };
    let mut data = Map::new();
    data.insert(
        "email".into(),
        json!(["Email address already used by another customer."]),
    );
    reply::json(status, json!({"error": {"msg": msg, "data": data}}))
}

fn matches(c: &StoredCustomer, q: &Query) -> bool {
    let eq = |field: &Option<String>, want: Option<&str>| match want {
        None => true,
        Some(w) => field.as_deref() == Some(w),
    };
    if let Some(e) = q.get("email")
        && !c
            .email
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case(e))
    {
        return false;
    }
    if !eq(&c.external_id, q.get("external_id"))
        || !eq(&c.name, q.get("name"))
        || !eq(&c.language, q.get("language"))
        || !eq(&c.timezone, q.get("timezone"))
    {
        return false;
    }
    let ctype = q.get("channel_type");
    let caddr = q.get("channel_address");
    if ctype.is_some() || caddr.is_some() {
        return c.channels.iter().any(|ch| {
            ctype.is_none_or(|t| ch.kind == t)
                && caddr.is_none_or(|a| ch.address.eq_ignore_ascii_case(a))
        });
    }
    true
}

/// `GET /api/customers`.
pub async fn list(State(sb): State<GorgiasSandbox>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let params = match paging::list_params(&q, ORDERS, "created_datetime:desc") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let by_updated = params.order.starts_with("updated");
    // Sort and cut on keys, then render only the page's items.
    let st = sb.state();
    let mut rows: Vec<(paging::Key, i64)> = st
        .customers
        .values()
        .filter(|c| matches(c, &q))
        .map(|c| {
            let dt = if by_updated { c.updated } else { c.created };
            ((dt.timestamp_micros(), c.id), c.id)
        })
        .collect();
    paging::sort(&mut rows, params.desc);
    let page = paging::page(rows, &params);
    let items: Vec<Value> = page
        .items
        .iter()
        .filter_map(|id| st.customers.get(id).map(StoredCustomer::compact))
        .collect();
    drop(st);
    let uri = paging::list_uri("/api/customers", raw.as_deref());
    reply::json(
        StatusCode::OK,
        paging::envelope(items, &uri, page.prev, page.next),
    )
}

/// `GET /api/customers/{id}`.
pub async fn get_one(State(sb): State<GorgiasSandbox>, Path(raw): Path<String>) -> Response {
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let found = sb.state().lookup(id).map(StoredCustomer::full);
    match found {
        Ok(v) => reply::json(StatusCode::OK, v),
        Err(l) => gone(&sb, l),
    }
}

/// `POST /api/customers`.
pub async fn create(State(sb): State<GorgiasSandbox>, body: Bytes) -> Response {
    let body = match object_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let extra: Vec<&str> = sb
        .config()
        .create_extra_keys
        .iter()
        .map(String::as_str)
        .collect();
    let allowed: Vec<&str> = CREATE_KEYS.iter().copied().chain(extra).collect();
    let errs = validate::customer_body(&body, &allowed, true);
    if !errs.is_empty() {
        return reply::invalid("Failed to create customer", errs.into_map());
    }
    let actor = sb.api_actor();
    let mut st = sb.state();
    if st.email_conflict(&body, None) {
        drop(st);
        return duplicate(&sb, "create");
    }
    let id = st.create(&body, actor);
    let full = st
        .lookup(id)
        .map(StoredCustomer::full)
        .unwrap_or(Value::Null);
    reply::json(StatusCode::CREATED, full)
}

/// `PUT /api/customers/{id}`: partial; `channels` replaces the list.
pub async fn update(
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
    let errs = validate::customer_body(&body, UPDATE_KEYS, false);
    if !errs.is_empty() {
        return reply::invalid("Failed to update customer", errs.into_map());
    }
    let actor = sb.api_actor();
    let mut st = sb.state();
    if st.email_conflict(&body, Some(id)) {
        drop(st);
        return duplicate(&sb, "update");
    }
    if st.lookup(id).is_err() {
        drop(st);
        return reply::not_found();
    }
    st.update(id, &body, actor);
    let full = st
        .lookup(id)
        .map(StoredCustomer::full)
        .unwrap_or(Value::Null);
    reply::json(StatusCode::OK, full)
}

/// `DELETE /api/customers/{id}`.
pub async fn delete_one(State(sb): State<GorgiasSandbox>, Path(raw): Path<String>) -> Response {
    let id = match parse_id(&raw) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let actor = sb.api_actor();
    let looked = sb.state().lookup(id).map(|_| ());
    if let Err(l) = looked {
        return gone(&sb, l);
    }
    sb.state().delete(id, actor);
    reply::empty(StatusCode::NO_CONTENT)
}

/// `DELETE /api/customers` with `{"ids":[…]}`: deletes the live ones, 204.
pub async fn bulk_delete(State(sb): State<GorgiasSandbox>, body: Bytes) -> Response {
    let body = match object_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let ids: Option<Vec<i64>> = body.get("ids").and_then(Value::as_array).map(|a| {
        a.iter()
            .map(|v| v.as_i64().filter(|n| *n > 0).unwrap_or(0))
            .collect()
    });
    let ids = match ids {
        Some(ids) if !ids.is_empty() && ids.iter().all(|n| *n > 0) => ids,
        _ => {
            return reply::invalid_field(
                "Failed to delete customers",
                "ids",
                "Missing data for required field.",
            );
        }
    };
    let actor = sb.api_actor();
    let mut st = sb.state();
    for id in ids {
        st.delete(id, actor);
    }
    reply::empty(StatusCode::NO_CONTENT)
}
