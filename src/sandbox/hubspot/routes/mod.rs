//! HTTP wiring of the HubSpot sandbox: the route table, request parsing helpers and the
//! HubSpot-shaped answers to malformed requests. Must never hold business rules (they live in
//! `store`, `search`, `properties`).

mod batch;
mod contacts;
mod control;
pub mod groups;
mod props;

use super::HubspotSandbox;
use super::errors::ApiError;
use super::gate::gate;
use super::version::PathVersion;
use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use serde::de::DeserializeOwned;

/// The API routes of one version (the same handlers for every version).
fn versioned(v: PathVersion) -> Router<HubspotSandbox> {
    let (o, p) = (v.objects(), v.properties());
    Router::new()
        .route(&o, get(contacts::list).post(contacts::create))
        .route(&format!("{o}/search"), post(contacts::search))
        .route(&format!("{o}/merge"), post(contacts::merge))
        .route(
            &format!("{o}/{{id}}"),
            get(contacts::get_one)
                .patch(contacts::patch)
                .delete(contacts::archive),
        )
        .route(&format!("{o}/batch/read"), post(batch::read))
        .route(&format!("{o}/batch/create"), post(batch::create))
        .route(&format!("{o}/batch/update"), post(batch::update))
        .route(&format!("{o}/batch/upsert"), post(batch::upsert))
        .route(&format!("{o}/batch/archive"), post(batch::archive))
        .route(&p, get(props::list).post(props::create))
        .route(
            &format!("{p}/groups"),
            get(groups::list).post(groups::create),
        )
        .route(&format!("{p}/{{name}}"), get(props::get_one))
}

/// The full router: API routes of every version behind the gate, controls beside them.
pub fn router(sb: HubspotSandbox) -> Router {
    let api = PathVersion::ALL
        .into_iter()
        .fold(Router::new(), |r, v| r.merge(versioned(v)))
        .merge(super::crm_context::routes())
        .merge(super::account::routes())
        .merge(super::notes::routes())
        .route_layer(axum::middleware::from_fn_with_state(sb.clone(), gate));
    api.merge(control::routes()).with_state(sb)
}

/// Parses a JSON body into `T`, or a HubSpot 400.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("Invalid input JSON on line 1: {e}")))
}

/// Query pairs (repeated keys kept).
pub fn query_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A list parameter given comma-separated and/or repeated; `None` when absent.
pub fn list_param(pairs: &[(String, String)], key: &str) -> Option<Vec<String>> {
    let vals: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == key)
        .flat_map(|(_, v)| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if pairs.iter().any(|(k, _)| k == key) {
        Some(vals)
    } else {
        None
    }
}

/// A single query parameter.
pub fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
