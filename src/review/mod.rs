//! The review page and its JSON API: the queue of merge proposals, approve/reject buttons,
//! and the held conflicts and refused writes with their buttons (`sections`, `settle`),
//! protected by `server.review_token` (see `auth`). [`router`] is nested by the service
//! (`tether run`) and served alone by `tether review --listen ADDR`. See `docs/merges.md`.
//!
//! Routes (relative to where the router is mounted):
//! `GET /` (queue or login form; `?band=review|auto&system=hubspot|gorgias|cross&page=N`
//! filter and page it), `POST /login`, `POST /logout`,
//! `POST /proposals/{id}/approve`, `POST /proposals/{id}/reject`,
//! `POST /conflicts/{id}/resolve`, `POST /refused/{id}/retry`, `POST /refused/{id}/dismiss`
//! (forms, CSRF value required with a cookie session), `GET /api/proposals`, `GET /api/proposals/{id}`,
//! `POST /api/proposals/{id}/approve`, `POST /api/proposals/{id}/reject` (JSON; Bearer
//! token). Authentication, the API's Bearer rule and the forms' CSRF check are one
//! middleware layer (`guard`) in front of every route but sign-in and sign-out. Must never
//! render a value unescaped, nor act on a request it has not authenticated.

pub mod api;
pub mod auth;
pub mod guard;
pub mod html;
pub mod pages;
pub mod proposal_html;
pub mod sections;
pub mod settle;
pub mod throttle;

use crate::merges::Merger;
use crate::secret::Secret;
use auth::{Auth, Refusal};
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use throttle::Throttle;

/// How long the page waits for the HubSpot account details (record links) on first use.
const ACCOUNT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The HubSpot account for record links (read once per client, see
/// `HubspotClient::account`), or `None` with a warning when HubSpot does not answer within
/// [`ACCOUNT_WAIT`] or refuses: records are then shown unlinked.
pub async fn hubspot_account(
    client: &crate::connectors::hubspot::HubspotClient,
) -> Option<crate::connectors::hubspot::Account> {
    match tokio::time::timeout(ACCOUNT_WAIT, client.account()).await {
        Ok(Ok(account)) => Some(account),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "no links to HubSpot records: the account details failed");
            None
        }
        Err(_) => {
            tracing::warn!("no links to HubSpot records: the account details timed out");
            None
        }
    }
}

/// What the review handlers need: the merger (store, connectors, survivorship) and the token.
#[derive(Debug, Clone)]
pub struct ReviewState {
    pub merger: Merger,
    /// `server.review_token`; empty turns the whole router into refusals.
    pub token: Secret,
    /// Most pending proposals shown and listed at once.
    pub page_size: u32,
    /// Wrong tokens lately, shared by every handler (see `throttle`).
    pub throttle: Arc<Mutex<Throttle>>,
    /// Where each system shows a record (links on the page).
    pub links: proposal_html::RecordLinks,
    /// The auto-merge threshold the page's band filter uses.
    pub auto_threshold: f64,
}

impl ReviewState {
    pub fn new(merger: Merger, token: Secret) -> Self {
        ReviewState {
            merger,
            token,
            page_size: 200,
            throttle: Arc::new(Mutex::new(Throttle::default())),
            links: proposal_html::RecordLinks::default(),
            auto_threshold: crate::matcher::RECOMMENDED_AUTO_THRESHOLD,
        }
    }

    /// The same state with record links and the auto-merge threshold of the configuration.
    pub fn with_settings(self, settings: &crate::config::Settings) -> Self {
        let m = &settings.matching;
        ReviewState {
            links: proposal_html::RecordLinks::from_settings(settings),
            auto_threshold: if m.auto_merge_threshold <= 1.0 {
                m.auto_merge_threshold
            } else {
                crate::matcher::RECOMMENDED_AUTO_THRESHOLD
            },
            ..self
        }
    }

    /// The record links, with the HubSpot account read from the API on first use (the
    /// client keeps it, so one call per process) when it is not known yet. HubSpot slow or
    /// refusing leaves HubSpot records unlinked on this page, never the page unserved.
    pub async fn links(&self) -> proposal_html::RecordLinks {
        let mut links = self.links.clone();
        if links.hubspot.is_none()
            && let Some(client) = &self.merger.connectors.hubspot
        {
            links.hubspot = hubspot_account(client).await;
        }
        links
    }

    fn throttle(&self) -> std::sync::MutexGuard<'_, Throttle> {
        // The throttle holds no invariant a panicking holder could break halfway.
        self.throttle.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn throttled(&self) -> Result<(), Refusal> {
        self.throttle()
            .check(Instant::now())
            .map_err(|wait| Refusal::Throttled {
                retry_after_secs: throttle::retry_after_secs(wait),
            })
    }

    fn wrong_token(&self) {
        self.throttle().record_failure(Instant::now());
        tracing::warn!("review page: a wrong token was presented");
    }

    /// Checks a request's credentials ([`auth::authenticate`]); a request presenting an
    /// `Authorization` header is a token guess, so it is throttled and counted when wrong.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Auth, Refusal> {
        let presents_token = !self.token.is_empty() && headers.contains_key(header::AUTHORIZATION);
        if presents_token {
            self.throttled()?;
        }
        let result = auth::authenticate(&self.token, headers);
        if presents_token && result == Err(Refusal::Unauthenticated) {
            self.wrong_token();
        }
        result
    }

    /// Checks a token typed into the login form, throttled and counted like a header.
    pub fn check_login(&self, presented: &str) -> Result<(), Refusal> {
        if self.token.is_empty() {
            return Err(Refusal::Disabled);
        }
        self.throttled()?;
        if self.token.matches(presented) {
            Ok(())
        } else {
            self.wrong_token();
            Err(Refusal::Unauthenticated)
        }
    }
}

/// The review router (HTML page and JSON API) over `state`: every route but sign-in and
/// sign-out behind the one `guard` layer.
pub fn router(state: ReviewState) -> Router {
    let guarded = Router::new()
        .route("/", get(pages::queue))
        .route("/proposals/{id}/approve", post(pages::approve))
        .route("/proposals/{id}/reject", post(pages::reject))
        .route("/conflicts/{id}/resolve", post(settle::resolve))
        .route("/refused/{id}/retry", post(settle::retry))
        .route("/refused/{id}/dismiss", post(settle::dismiss))
        .route("/api/proposals", get(api::list))
        .route("/api/proposals/{id}", get(api::show))
        .route("/api/proposals/{id}/approve", post(api::approve))
        .route("/api/proposals/{id}/reject", post(api::reject))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::require,
        ));
    Router::new()
        .merge(guarded)
        .route("/login", post(pages::login))
        .route("/logout", post(pages::logout))
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
