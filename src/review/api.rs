//! The review JSON API: list and show pending proposals, approve (which merges) and
//! reject. Bearer token only (`Authorization: Bearer`), so a browser can never be tricked
//! into calling it; `guard` checks it before any handler here runs. Must never be routed
//! around the guard.

use super::ReviewState;
use super::auth::Refusal;
use crate::merges::MergeError;
use crate::store::{ProposalId, StoreError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

fn error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

/// The JSON answer to a request the guard refused (see `guard`).
pub(super) fn refused(r: Refusal) -> Response {
    match r {
        Refusal::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({"error": "send Authorization: Bearer <server.review_token>"})),
        )
            .into_response(),
        Refusal::Throttled { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            Json(json!({
                "error": format!("too many wrong tokens lately; try again in {retry_after_secs} s")
            })),
        )
            .into_response(),
        Refusal::Disabled => error(
            StatusCode::FORBIDDEN,
            "the review API is off: no server.review_token is configured",
        ),
    }
}

fn merge_error(e: &MergeError) -> Response {
    match e {
        MergeError::NoSuchProposal(_) => error(StatusCode::NOT_FOUND, &e.to_string()),
        MergeError::BadChoice { .. } => error(StatusCode::BAD_REQUEST, &e.to_string()),
        MergeError::NotPending { .. } | MergeError::Store(StoreError::Conflict(_)) => {
            error(StatusCode::CONFLICT, &e.to_string())
        }
        _ => {
            tracing::error!(error = %e, "review API action failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    }
}

/// The optional `reason` of a JSON body (an empty or absent body is no reason).
fn reason_of(body: &Bytes) -> Result<String, Box<Response>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(String::new());
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            &format!("body is not JSON: {e}"),
        ))
    })?;
    Ok(v.get("reason")
        .and_then(|r| r.as_str())
        .unwrap_or("")
        .to_owned())
}

/// `GET /api/proposals`: pending proposals, highest score first.
pub async fn list(State(st): State<ReviewState>) -> Response {
    match st.merger.store.pending_proposals(st.page_size).await {
        Ok(ps) => Json(json!({ "proposals": ps })).into_response(),
        Err(e) => merge_error(&e.into()),
    }
}

/// `GET /api/proposals/{id}`: one proposal, any status.
pub async fn show(State(st): State<ReviewState>, Path(id): Path<i64>) -> Response {
    match st.merger.store.proposal(ProposalId(id)).await {
        Ok(Some(p)) => Json(p).into_response(),
        Ok(None) => merge_error(&MergeError::NoSuchProposal(id)),
        Err(e) => merge_error(&e.into()),
    }
}

/// `POST /api/proposals/{id}/approve` (body `{"reason": "..."}` optional): approves and
/// merges; answers what happened (`outcome`: `merged`, `linked` or `failed` with `reason`).
pub async fn approve(State(st): State<ReviewState>, Path(id): Path<i64>, body: Bytes) -> Response {
    let reason = match reason_of(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    match st
        .merger
        .approve(ProposalId(id), "review:api", &reason, chrono::Utc::now())
        .await
    {
        Ok(a) => {
            let status = if a.succeeded() {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            (status, Json(a)).into_response()
        }
        Err(e) => merge_error(&e),
    }
}

/// `POST /api/proposals/{id}/reject` (body `{"reason": "..."}` optional).
pub async fn reject(State(st): State<ReviewState>, Path(id): Path<i64>, body: Bytes) -> Response {
    let reason = match reason_of(&body) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    match st
        .merger
        .reject(ProposalId(id), "review:api", &reason, chrono::Utc::now())
        .await
    {
        Ok(p) => Json(p).into_response(),
        Err(e) => merge_error(&e),
    }
}
