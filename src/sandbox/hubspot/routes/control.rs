//! The `/__sandbox/` control endpoints: seed, edit or merge as a person, read a contact,
//! counters and faults. Clearly apart from the HubSpot API: no auth, no rate limit, no
//! counting. Must never be mistaken for an API route.
//!
//! - `POST /__sandbox/seed` `{"contacts":[{prop: value}]}` → `{"ids":[…]}` (pre-indexed, one timestamp)
//! - `GET /__sandbox/contacts/{id}` → the record holding `id`, all properties and history
//! - `POST /__sandbox/contacts/{id}/edit` `{"properties":{…}}` → 204 (history `CRM_UI`)
//! - `POST /__sandbox/merge` `{"primary":"…","secondary":"…"}` → `{"id": survivor}`
//! - `GET /__sandbox/counters` (calls by endpoint, 429s, faults); `DELETE` resets them
//! - `POST /__sandbox/faults` `{"kind":"status|latency|timeout|malformed|rate_limit",
//!   "status":503,"millis":500,"times":3,"path":"batch/create"}`; `DELETE` disarms all
//! - `POST /__sandbox/portal-rules` `{"create_required":["zip"],"conditional_required":
//!   [{"if_property":"country","if_value":"France","require":"zip"}],"batch_mode":
//!   "per_record"|"whole_batch"}` (every key optional) → 204; `GET` → the rules;
//!   `DELETE` lifts every rule → 204
//! - `POST /__sandbox/legacy-paths` `{"mode":"answer"|"refuse"}` → 204; `GET` → the mode
//! - `POST /__sandbox/date-warnings` `{"enabled":true|false}` → 204
//! - `POST /__sandbox/webhook-target` `{"url":"http://…/webhooks/hubspot"}` → 204 (409 when
//!   webhooks are off); `GET` → `{"url": …|null}`: where webhook deliveries go, settable once
//!   the receiving app is bound

use super::super::HubspotSandbox;
use super::super::faults::Fault;
use super::super::rules::PortalRules;
use super::super::version::LegacyPaths;
use super::contacts::string_props;
use super::parse_body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub fn routes() -> Router<HubspotSandbox> {
    Router::new()
        .route("/__sandbox/seed", post(seed))
        .route("/__sandbox/contacts/{id}", get(contact))
        .route("/__sandbox/contacts/{id}/edit", post(edit))
        .route("/__sandbox/merge", post(merge))
        .route("/__sandbox/counters", get(counters).delete(reset_counters))
        .route("/__sandbox/faults", post(fault).delete(clear_faults))
        .route(
            "/__sandbox/portal-rules",
            post(set_rules).get(get_rules).delete(clear_rules),
        )
        .route("/__sandbox/legacy-paths", post(set_legacy).get(get_legacy))
        .route("/__sandbox/date-warnings", post(set_date_warnings))
        .route(
            "/__sandbox/webhook-target",
            post(set_webhook_target).get(get_webhook_target),
        )
}

fn bad(msg: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response()
}

#[derive(Deserialize)]
struct Seed {
    contacts: Vec<BTreeMap<String, Value>>,
}

async fn seed(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    match parse_body::<Seed>(&body) {
        Ok(s) => {
            let rows = s.contacts.into_iter().map(string_props).collect();
            Json(json!({"ids": sb.seed_contacts(rows)})).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn contact(State(sb): State<HubspotSandbox>, Path(id): Path<String>) -> Response {
    match sb.contact(&id) {
        Some(v) => Json(v).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct Edit {
    properties: BTreeMap<String, Value>,
}

async fn edit(State(sb): State<HubspotSandbox>, Path(id): Path<String>, body: Bytes) -> Response {
    match parse_body::<Edit>(&body) {
        Ok(e) => match sb.edit_as_person(&id, string_props(e.properties)) {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(m) => bad(m),
        },
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct MergeReq {
    primary: String,
    secondary: String,
}

async fn merge(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    match parse_body::<MergeReq>(&body) {
        Ok(m) => match sb.merge_as_person(&m.primary, &m.secondary) {
            Ok(id) => Json(json!({"id": id})).into_response(),
            Err(e) => bad(e),
        },
        Err(e) => e.into_response(),
    }
}

async fn counters(State(sb): State<HubspotSandbox>) -> Response {
    Json(sb.counters()).into_response()
}

async fn reset_counters(State(sb): State<HubspotSandbox>) -> Response {
    sb.reset_counters();
    StatusCode::NO_CONTENT.into_response()
}

async fn fault(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    match parse_body::<Fault>(&body) {
        Ok(f) => {
            sb.inject_fault(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn clear_faults(State(sb): State<HubspotSandbox>) -> Response {
    sb.clear_faults();
    StatusCode::NO_CONTENT.into_response()
}

async fn set_rules(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    match serde_json::from_slice::<PortalRules>(&body) {
        Ok(r) => {
            sb.set_portal_rules(r);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad(format!("bad portal rules: {e}")),
    }
}

async fn get_rules(State(sb): State<HubspotSandbox>) -> Response {
    Json(sb.portal_rules()).into_response()
}

async fn clear_rules(State(sb): State<HubspotSandbox>) -> Response {
    sb.clear_portal_rules();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyReq {
    mode: LegacyPaths,
}

async fn set_legacy(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    match serde_json::from_slice::<LegacyReq>(&body) {
        Ok(r) => {
            sb.set_legacy_paths(r.mode);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad(format!("bad legacy-paths request: {e}")),
    }
}

async fn get_legacy(State(sb): State<HubspotSandbox>) -> Response {
    Json(json!({"mode": sb.legacy_paths()})).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WarningsReq {
    enabled: bool,
}

async fn set_date_warnings(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    match serde_json::from_slice::<WarningsReq>(&body) {
        Ok(r) => {
            sb.set_date_warnings(r.enabled);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => bad(format!("bad date-warnings request: {e}")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetReq {
    url: String,
}

async fn set_webhook_target(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    match serde_json::from_slice::<TargetReq>(&body) {
        Ok(r) if url::Url::parse(&r.url).is_err() => bad(format!(
            "bad webhook-target request: {:?} is not a URL",
            r.url
        )),
        Ok(r) => {
            if sb.set_webhook_target(r.url) {
                StatusCode::NO_CONTENT.into_response()
            } else {
                (
                    StatusCode::CONFLICT,
                    Json(json!({"error": "webhook delivery is not configured"})),
                )
                    .into_response()
            }
        }
        Err(e) => bad(format!("bad webhook-target request: {e}")),
    }
}

async fn get_webhook_target(State(sb): State<HubspotSandbox>) -> Response {
    Json(json!({"url": sb.webhook_target()})).into_response()
}
