//! Property groups API routes (`hubspot-2026.md` §1): list and create contact property
//! groups. A property can only be created in a group that exists (the built-in groups, or
//! one created here). Must never delete or rename a group.

use super::super::HubspotSandbox;
use super::super::errors::ApiError;
use super::parse_body;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The groups every portal has (a subset of HubSpot's defaults), name → label.
pub fn builtin_groups() -> BTreeMap<String, Value> {
    [
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("conversioninformation", "Conversion information"),
        ("sales_properties", "Sales properties"),
        ("analyticsinformation", "Web analytics history"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (name, label))| (name.to_owned(), group_json(name, label, i as i64)))
    .collect()
}

fn group_json(name: &str, label: &str, order: i64) -> Value {
    json!({"name": name, "label": label, "displayOrder": order, "archived": false})
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupCreate {
    name: Option<String>,
    label: Option<String>,
    display_order: Option<i64>,
}

pub async fn list(State(sb): State<HubspotSandbox>) -> Response {
    let s = sb.store();
    let results: Vec<Value> = s.prop_groups.values().cloned().collect();
    Json(json!({ "results": results })).into_response()
}

pub async fn create(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    let req: GroupCreate = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let (Some(name), Some(label)) = (req.name, req.label) else {
        return ApiError::validation("name and label are required").into_response();
    };
    if !super::super::properties::valid_name(&name) {
        return ApiError::validation(format!("{name:?} is not a valid group name")).into_response();
    }
    let mut s = sb.store();
    if s.prop_groups.contains_key(&name) {
        // 409 assumed, as for properties (UNCONFIRMED).
        return ApiError::new(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            format!("A property group named '{name}' already exists."),
        )
        .into_response();
    }
    let g = group_json(&name, &label, req.display_order.unwrap_or(-1));
    s.prop_groups.insert(name, g.clone());
    (StatusCode::CREATED, Json(g)).into_response()
}
