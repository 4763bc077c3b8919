//! Response helpers: JSON bodies, the `{"error":{"msg","data"}}` error shape, empty 202/204.
//! Must never put anything but JSON (or nothing) in a body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A JSON response with the given status.
pub fn json(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// `{"error":{"msg": msg}}` with the given status.
pub fn error(status: StatusCode, msg: &str) -> Response {
    json(status, json!({"error": {"msg": msg}}))
}

/// A 400 validation error: `{"error":{"msg": msg, "data": {field: [messages]}}}`.
pub fn invalid(msg: &str, data: Map<String, Value>) -> Response {
    json(
        StatusCode::BAD_REQUEST,
        json!({"error": {"msg": msg, "data": data}}),
    )
}

/// A 400 naming a single field.
pub fn invalid_field(msg: &str, field: &str, message: &str) -> Response {
    let mut data = Map::new();
    data.insert(field.to_owned(), json!([message]));
    invalid(msg, data)
}

pub fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Resource not found.")
}

/// An empty-bodied response (202, 204).
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}
