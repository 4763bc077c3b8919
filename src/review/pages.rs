//! The HTML handlers: the queue (or the login form), sign-in/out, and the approve/reject
//! form posts. The shell around `html`: calls the merger and renders. Every handler here but
//! sign-in and sign-out sits behind `guard`, which has authenticated the request and checked
//! its CSRF value before it runs. Must never be routed around the guard.

use super::ReviewState;
use super::auth::{self, COOKIE_NAME, Refusal};
use super::guard::Actor;
use super::html;
use super::proposal_html::{ProposalView, QueueFilter, choices_from_form};
use super::sections;
use crate::merges::MergeError;
use crate::store::{ProposalId, StoreError, UnsettledFilter};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form};
use std::collections::HashMap;

/// Where the router is mounted: the original path minus the router-relative one.
pub fn base_of(original: &Uri, inner: &Uri) -> String {
    let orig = original.path();
    orig.strip_suffix(inner.path())
        .unwrap_or(orig)
        .trim_end_matches('/')
        .to_owned()
}

/// The HTML answer to a request the guard refused (see `guard`).
pub(super) fn refused(r: Refusal, base: &str) -> Response {
    match r {
        Refusal::Disabled => (
            StatusCode::FORBIDDEN,
            Html(html::message_page(
                base,
                "Review disabled",
                "The review page is off: no server.review_token is configured.",
            )),
        )
            .into_response(),
        Refusal::Unauthenticated => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Html(html::login_page(base, None)),
        )
            .into_response(),
        Refusal::Throttled { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            Html(html::message_page(
                base,
                "Too many wrong tokens",
                &format!(
                    "Too many wrong tokens were tried lately. Try again in {retry_after_secs} s."
                ),
            )),
        )
            .into_response(),
    }
}

fn error_page(base: &str, e: &MergeError) -> Response {
    let status = match e {
        MergeError::NoSuchProposal(_) => StatusCode::NOT_FOUND,
        MergeError::BadChoice { .. } => StatusCode::BAD_REQUEST,
        // A second click racing the first: the store refuses the second decision.
        MergeError::NotPending { .. } | MergeError::Store(StoreError::Conflict(_)) => {
            StatusCode::CONFLICT
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %e, "review action failed");
    }
    not_done(base, status, &e.to_string())
}

/// The "Not done" page every refused review action answers with, and its status.
pub(super) fn not_done(base: &str, status: StatusCode, why: &str) -> Response {
    (status, Html(html::message_page(base, "Not done", why))).into_response()
}

/// `GET /`: the queue, or the login form.
pub async fn queue(
    State(st): State<ReviewState>,
    OriginalUri(orig): OriginalUri,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let base = base_of(&orig, &uri);
    let view = ProposalView {
        links: st.links().await,
        rules: st.merger.rules.clone(),
        filter: QueueFilter::from_query(&query),
        auto_threshold: st.auto_threshold,
        page_size: st.page_size as usize,
    };
    match st.merger.store.pending_proposals(u32::MAX).await {
        Ok(ps) => {
            let csrf = auth::csrf_value(&st.token);
            let page = html::queue_page(&base, &csrf, &ps, &view);
            match settle_sections(&st, &base, &csrf).await {
                Ok(sections) => Html(sections::append_to_body(&page, &sections)).into_response(),
                Err(e) => error_page(&base, &MergeError::from(e)),
            }
        }
        Err(e) => error_page(&base, &MergeError::from(e)),
    }
}

/// The Conflicts and Refused writes sections of the queue page.
async fn settle_sections(st: &ReviewState, base: &str, csrf: &str) -> Result<String, StoreError> {
    let store = &st.merger.store;
    let conflicts = store.conflicts(false).await?;
    let refused = store.unsettled(UnsettledFilter::Open).await?;
    Ok(format!(
        "{}{}",
        sections::conflicts_section(base, csrf, &conflicts),
        sections::refused_section(base, csrf, &refused)
    ))
}

fn cookie_header(value: &str, base: &str, max_age: i64) -> Option<HeaderValue> {
    let path = if base.is_empty() { "/" } else { base };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .ok()
}

fn see_other(base: &str, cookie: Option<HeaderValue>) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(loc) = HeaderValue::from_str(&html::home(base)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    if let Some(c) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    res
}

/// `POST /login` with `token`: sets the session cookie and goes back to the queue.
pub async fn login(
    State(st): State<ReviewState>,
    OriginalUri(orig): OriginalUri,
    uri: Uri,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let base = base_of(&orig, &uri);
    let presented = form.get("token").map(String::as_str).unwrap_or("");
    match st.check_login(presented) {
        Ok(()) => {}
        Err(Refusal::Unauthenticated) => {
            return (
                StatusCode::UNAUTHORIZED,
                Html(html::login_page(&base, Some("That token is not right."))),
            )
                .into_response();
        }
        Err(r) => return refused(r, &base),
    }
    see_other(
        &base,
        cookie_header(&auth::session_value(&st.token), &base, 12 * 3600),
    )
}

/// `POST /logout`: clears the session cookie.
pub async fn logout(OriginalUri(orig): OriginalUri, uri: Uri) -> Response {
    let base = base_of(&orig, &uri);
    see_other(&base, cookie_header("", &base, 0))
}

/// `POST /proposals/{id}/approve`: approves and merges through the APIs.
pub async fn approve(
    State(st): State<ReviewState>,
    OriginalUri(orig): OriginalUri,
    uri: Uri,
    Extension(Actor(who)): Extension<Actor>,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let base = base_of(&orig, &uri);
    let reason = form.get("reason").map(String::as_str).unwrap_or("");
    // The survivor and values the reviewer chose on the page.
    let choices = match st.merger.store.proposal(ProposalId(id)).await {
        Ok(Some(p)) => match choices_from_form(&form, &p) {
            Ok(c) => c,
            Err(msg) => {
                return not_done(&base, StatusCode::BAD_REQUEST, &msg);
            }
        },
        Ok(None) => return error_page(&base, &MergeError::NoSuchProposal(id)),
        Err(e) => return error_page(&base, &MergeError::from(e)),
    };
    match st
        .merger
        .approve_with(ProposalId(id), who, reason, &choices, chrono::Utc::now())
        .await
    {
        Ok(a) => {
            let title = if a.succeeded() {
                "Merged"
            } else {
                "Approved, not merged"
            };
            Html(html::message_page(&base, title, &html::describe(&a))).into_response()
        }
        Err(e) => error_page(&base, &e),
    }
}

/// `POST /proposals/{id}/reject` with an optional `reason`.
pub async fn reject(
    State(st): State<ReviewState>,
    OriginalUri(orig): OriginalUri,
    uri: Uri,
    Extension(Actor(who)): Extension<Actor>,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let base = base_of(&orig, &uri);
    let reason = form.get("reason").map(String::as_str).unwrap_or("");
    match st
        .merger
        .reject(ProposalId(id), who, reason, chrono::Utc::now())
        .await
    {
        Ok(p) => Html(html::message_page(
            &base,
            "Rejected",
            &format!(
                "Proposal #{id} rejected: {} and {} will not be proposed again.",
                p.pair.first(),
                p.pair.second()
            ),
        ))
        .into_response(),
        Err(e) => error_page(&base, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_the_mount_point() {
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(
            base_of(
                &u("/review/proposals/3/approve"),
                &u("/proposals/3/approve")
            ),
            "/review"
        );
        assert_eq!(base_of(&u("/review"), &u("/")), "/review");
        assert_eq!(base_of(&u("/review/"), &u("/")), "/review");
        assert_eq!(base_of(&u("/"), &u("/")), "");
    }
}
