//! HubSpot-shaped error responses of the sandbox (contract §9): `status`, `message`,
//! `correlationId`, `category`, optional `errors[]`/`context`. Must never leak Rust errors
//! as-is to clients.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer: HTTP status plus the HubSpot error body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

/// A fresh correlation id (UUID, as the spec requires).
pub fn correlation_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl ApiError {
    /// A body with the three required fields.
    pub fn new(status: StatusCode, category: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: json!({
                "status": "error",
                "message": message.into(),
                "correlationId": correlation_id(),
                "category": category,
            }),
        }
    }

    /// Adds a `context` map.
    pub fn with_context(mut self, key: &str, values: Vec<String>) -> Self {
        if let Some(obj) = self.body.as_object_mut() {
            let ctx = obj.entry("context").or_insert_with(|| json!({}));
            if let Some(c) = ctx.as_object_mut() {
                c.insert(key.to_string(), json!(values));
            }
        }
        self
    }

    /// Adds an `errors[]` array.
    pub fn with_errors(mut self, errors: Vec<Value>) -> Self {
        if let Some(obj) = self.body.as_object_mut() {
            obj.insert("errors".into(), Value::Array(errors));
        }
        self
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn not_found(id: &str) -> Self {
        // The exact body for a missing numeric id is UNCONFIRMED; this follows the observed
        // non-numeric one.
        Self::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "Object not found.  objectId are usually numeric.",
        )
        .with_context("id", vec![id.to_string()])
    }

    pub fn conflict_existing(id: u64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!("Contact already exists. Existing ID: {id}"),
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        )
    }

    pub fn missing_scope(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MISSING_SCOPES",
            "This app hasn't been granted all required scopes to make this call.",
        )
        .with_errors(vec![json!({
            "message": "One or more of the following scopes are required.",
            "context": {"requiredGranularScopes": [scope]}
        })])
    }

    /// The JSON error object alone, as it appears inside a 207 `errors[]` (a `StandardError`,
    /// which also requires `context`, `errors` and `links`).
    pub fn into_standard_error(self) -> Value {
        let mut body = self.body;
        if let Some(o) = body.as_object_mut() {
            o.remove("correlationId");
            o.entry("context").or_insert_with(|| json!({}));
            o.entry("errors").or_insert_with(|| json!([]));
            o.entry("links").or_insert_with(|| json!({}));
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body)).into_response()
    }
}

/// One invalid property value, as HubSpot reports it (`PROPERTY_DOESNT_EXIST`, `INVALID_OPTION`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyProblem {
    pub name: String,
    pub code: &'static str,
    pub message: String,
}

/// The 400 for invalid property values: a JSON-ish list inside `message` plus `errors[]`.
pub fn property_errors(problems: &[PropertyProblem]) -> ApiError {
    let listed: Vec<Value> = problems
        .iter()
        .map(|p| json!({"isValid": false, "message": p.message, "error": p.code, "name": p.name}))
        .collect();
    let errors: Vec<Value> = problems
        .iter()
        .map(|p| {
            json!({"message": p.message, "code": p.code, "context": {"propertyName": [p.name]}})
        })
        .collect();
    ApiError::validation(format!(
        "Property values were not valid: {}",
        Value::Array(listed)
    ))
    .with_errors(errors)
}
