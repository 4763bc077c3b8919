//! Properties API routes (contract §7): list, get, create with type/fieldType validation.
//! Must never let a custom property shadow a built-in one.

use super::super::HubspotSandbox;
use super::super::errors::ApiError;
use super::super::properties::{PropertyCreate, validate_create};
use super::parse_body;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

pub async fn list(State(sb): State<HubspotSandbox>) -> Response {
    let s = sb.store();
    let results: Vec<Value> = s.props.values().map(|d| d.to_json()).collect();
    Json(json!({ "results": results })).into_response()
}

pub async fn get_one(State(sb): State<HubspotSandbox>, Path(name): Path<String>) -> Response {
    let s = sb.store();
    match s.props.get(&name) {
        Some(d) => Json(d.to_json()).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("Unable to find property {name} for object type 0-1"),
        )
        .into_response(),
    }
}

pub async fn create(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    let req: PropertyCreate = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let def = match validate_create(req, chrono::Utc::now()) {
        Ok(d) => d,
        Err(msg) => return ApiError::validation(msg).into_response(),
    };
    let mut s = sb.store();
    if !s.prop_groups.contains_key(&def.group_name) {
        // HubSpot refuses a property in a group that does not exist (exact answer UNCONFIRMED).
        return ApiError::validation(format!("Property group {} does not exist", def.group_name))
            .into_response();
    }
    if s.props.contains_key(&def.name) {
        // 409 assumed (UNCONFIRMED).
        return ApiError::new(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            format!("A property named '{}' already exists.", def.name),
        )
        .into_response();
    }
    if def.has_unique_value && s.props.values().filter(|d| d.has_unique_value).count() >= 10 {
        return ApiError::validation("At most 10 unique properties per object").into_response();
    }
    let body = def.to_json();
    let location = format!("/crm/v3/properties/contacts/{}", def.name);
    s.props.insert(def.name.clone(), def);
    (StatusCode::CREATED, [("Location", location)], Json(body)).into_response()
}
