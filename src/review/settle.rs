//! The review page's form posts that settle what the sync could not: take a side of a held
//! conflict (`POST /conflicts/{id}/resolve`), retry or dismiss a refused write
//! (`POST /refused/{id}/retry`, `POST /refused/{id}/dismiss`). Same rules as the proposal
//! forms: authenticated (cookie or token) and with the CSRF value, checked by the
//! `guard` layer before any handler here runs. Must never act on a request `auth` has
//! not accepted, and never write to a system: the next sync applies what is stored here.

use super::ReviewState;
use super::guard::Actor;
use super::html;
use super::pages::{base_of, not_done};
use crate::domain::System;
use crate::store::{ConflictChoice, ConflictId, RetrySelection, StoreError, UnsettledId};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};
use std::collections::HashMap;

fn store_error(base: &str, e: &StoreError) -> Response {
    let status = match e {
        StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
        StoreError::Conflict(_) => StatusCode::CONFLICT,
        _ => {
            tracing::error!(error = %e, "review action failed");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    not_done(base, status, &e.to_string())
}

fn bad_request(base: &str, why: &str) -> Response {
    not_done(base, StatusCode::BAD_REQUEST, why)
}

/// `POST /conflicts/{id}/resolve` with `take=hubspot|gorgias`.
pub async fn resolve(
    State(st): State<ReviewState>,
    OriginalUri(orig): OriginalUri,
    uri: Uri,
    Extension(Actor(who)): Extension<Actor>,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let base = base_of(&orig, &uri);
    let side = match form.get("take").map(String::as_str) {
        Some("hubspot") => System::Hubspot,
        Some("gorgias") => System::Gorgias,
        _ => return bad_request(&base, "Say which side to take: hubspot or gorgias."),
    };
    let choice = ConflictChoice::Take(side);
    match st
        .merger
        .store
        .resolve_conflict(ConflictId(id), &choice, who, chrono::Utc::now())
        .await
    {
        Ok(c) => Html(html::message_page(
            &base,
            "Resolved",
            &format!(
                "Conflict #{id} resolved: field {} will {choice} on the next sync.",
                c.field
            ),
        ))
        .into_response(),
        Err(e) => store_error(&base, &e),
    }
}

/// `POST /refused/{id}/retry`: the next cycle plans the record again.
pub async fn retry(
    State(st): State<ReviewState>,
    OriginalUri(orig): OriginalUri,
    uri: Uri,
    Extension(Actor(who)): Extension<Actor>,
    Path(id): Path<i64>,
    Form(_form): Form<HashMap<String, String>>,
) -> Response {
    let base = base_of(&orig, &uri);
    let which = RetrySelection::Ids(vec![UnsettledId(id)]);
    match st
        .merger
        .store
        .retry_unsettled(
            &which,
            "retry from the review page",
            who,
            chrono::Utc::now(),
        )
        .await
    {
        Ok(_) => Html(html::message_page(
            &base,
            "Retry scheduled",
            &format!("Refused write #{id}: the next sync tries it again."),
        ))
        .into_response(),
        Err(e) => store_error(&base, &e),
    }
}

/// `POST /refused/{id}/dismiss` with a required `reason`.
pub async fn dismiss(
    State(st): State<ReviewState>,
    OriginalUri(orig): OriginalUri,
    uri: Uri,
    Extension(Actor(who)): Extension<Actor>,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let base = base_of(&orig, &uri);
    let reason = form.get("reason").map(|r| r.trim()).unwrap_or("");
    if reason.is_empty() {
        return bad_request(&base, "A dismissal needs a reason (kept in the audit log).");
    }
    match st
        .merger
        .store
        .dismiss_unsettled(UnsettledId(id), reason, who, chrono::Utc::now())
        .await
    {
        Ok(_) => Html(html::message_page(
            &base,
            "Dismissed",
            &format!("Refused write #{id} dismissed: not retried until its record changes again."),
        ))
        .into_response(),
        Err(e) => store_error(&base, &e),
    }
}
