//! The review page and its JSON API: the queue of merge proposals, approve/reject buttons,
//! protected by `server.review_token` (see `auth`). [`router`] is nested by the service
//! (`tether run`) and served alone by `tether review --listen ADDR`. See `docs/merges.md`.
//!
//! Routes (relative to where the router is mounted):
//! `GET /` (queue or login form), `POST /login`, `POST /logout`,
//! `POST /proposals/{id}/approve`, `POST /proposals/{id}/reject` (forms, CSRF value
//! required with a cookie session), `GET /api/proposals`, `GET /api/proposals/{id}`,
//! `POST /api/proposals/{id}/approve`, `POST /api/proposals/{id}/reject` (JSON; Bearer
//! token). Must never render a value unescaped, nor act on a request it has not
//! authenticated.

pub mod api;
pub mod auth;
pub mod html;
pub mod pages;

use crate::merges::Merger;
use crate::secret::Secret;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

/// What the review handlers need: the merger (store, connectors, survivorship) and the token.
#[derive(Debug, Clone)]
pub struct ReviewState {
    pub merger: Merger,
    /// `server.review_token`; empty turns the whole router into refusals.
    pub token: Secret,
    /// Most pending proposals shown and listed at once.
    pub page_size: u32,
}

impl ReviewState {
    pub fn new(merger: Merger, token: Secret) -> Self {
        ReviewState {
            merger,
            token,
            page_size: 200,
        }
    }
}

/// The review router (HTML page and JSON API) over `state`.
pub fn router(state: ReviewState) -> Router {
    Router::new()
        .route("/", get(pages::queue))
        .route("/login", post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/proposals/{id}/approve", post(pages::approve))
        .route("/proposals/{id}/reject", post(pages::reject))
        .route("/api/proposals", get(api::list))
        .route("/api/proposals/{id}", get(api::show))
        .route("/api/proposals/{id}/approve", post(api::approve))
        .route("/api/proposals/{id}/reject", post(api::reject))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Headers on every answer: no scripts, no framing, no caching, no referrer.
async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
}
