//! The review router's one gate: an axum middleware layer ([`require`]) in front of every
//! route except sign-in and sign-out. It authenticates the request ([`ReviewState::authenticate`],
//! throttled), holds the JSON API to the Bearer token, checks the CSRF value of every form post
//! made with a cookie session, and hands the handler the [`Actor`] it proved to be. Handlers
//! behind it never check credentials themselves. Must never let a request through that `auth`
//! has not accepted, and never log or echo a token.

use super::auth::{self, Auth, Refusal};
use super::pages::base_of;
use super::{ReviewState, api, html, pages};
use axum::body::{Body, to_bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

/// Largest form body read for its CSRF value (axum's own default limit for `Form`).
const FORM_LIMIT: usize = 2 * 1024 * 1024;

/// Who a request proved to be, as the audit log names it; set by [`require`] as a request
/// extension for the handlers behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor(pub &'static str);

/// Whether a router-relative path belongs to the JSON API (Bearer token only).
fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The middleware: refuses, or runs the route with an [`Actor`] extension.
pub async fn require(State(st): State<ReviewState>, req: Request, next: Next) -> Response {
    let base = match req.extensions().get::<OriginalUri>() {
        Some(OriginalUri(orig)) => base_of(orig, req.uri()),
        None => base_of(req.uri(), req.uri()),
    };
    let found = st.authenticate(req.headers());
    let actor = if is_api(req.uri().path()) {
        match found {
            Ok(Auth::Bearer) => Actor("review:api"),
            Ok(Auth::Cookie) => return api::refused(Refusal::Unauthenticated),
            Err(r) => return api::refused(r),
        }
    } else {
        match found {
            Ok(Auth::Bearer) => Actor("review:token"),
            Ok(Auth::Cookie) => Actor("review:web"),
            Err(r) => return pages::refused(r, &base),
        }
    };
    let req = if actor.0 == "review:web" && req.method() == Method::POST {
        match with_csrf_checked(&st, req, &base).await {
            Ok(req) => req,
            Err(refusal) => return *refusal,
        }
    } else {
        req
    };
    let mut req = req;
    req.extensions_mut().insert(actor);
    next.run(req).await
}

/// Reads a cookie-session form post's body, checks its `csrf` field, and puts the body back.
async fn with_csrf_checked(
    st: &ReviewState,
    req: Request,
    base: &str,
) -> Result<Request, Box<Response>> {
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, FORM_LIMIT).await.map_err(|_| {
        Box::new(
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                Html(html::message_page(
                    base,
                    "Refused",
                    "This form is too large.",
                )),
            )
                .into_response(),
        )
    })?;
    let presented = url::form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned());
    if !auth::csrf_ok(&st.token, Auth::Cookie, presented.as_deref()) {
        return Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                Html(html::message_page(
                    base,
                    "Refused",
                    "This form did not come from the review page (missing or wrong CSRF value). Reload the queue and try again.",
                )),
            )
                .into_response(),
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

#[cfg(test)]
mod tests {
    use super::is_api;

    #[test]
    fn api_paths_are_told_apart() {
        assert!(is_api("/api/proposals"));
        assert!(is_api("/api"));
        assert!(!is_api("/apiary"));
        assert!(!is_api("/proposals/1/approve"));
    }
}
