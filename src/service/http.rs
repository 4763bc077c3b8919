//! The service's HTTP server (axum): `/healthz` (alive), `/readyz` (JSON: the lease role;
//! store readable, and on the leader last cycle not failed, not stale), `/metrics` (OpenMetrics text) and `POST /webhooks/hubspot`.
//! Other routers (the review page and its JSON API) are nested through [`router`]'s `extra`.
//!
//! Owns routing and the probe answers. Must never run a cycle inline (webhooks only queue
//! work) and never expose customer data or secrets.

use super::Health;
use super::metrics::{ApiSnapshot, CONTENT_TYPE, Metrics};
use super::scheduler::TargetRequests;
use super::webhook::{self, WebhookState};
use crate::secret::Secret;
use crate::store::SharedStore;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Path of the liveness probe.
pub const HEALTHZ: &str = "/healthz";
/// Path of the readiness probe.
pub const READYZ: &str = "/readyz";
/// Path of the metrics.
pub const METRICS: &str = "/metrics";
/// Path HubSpot delivers webhooks to.
pub const WEBHOOKS: &str = "/webhooks/hubspot";
/// The default `server.listen` port.
pub const DEFAULT_PORT: u16 = 8080;

/// Reads the connectors' counters at scrape time.
pub type ApiSource = Arc<dyn Fn() -> ApiSnapshot + Send + Sync>;

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: SharedStore,
    pub health: Arc<Health>,
    pub metrics: Arc<Metrics>,
    pub targets: Arc<TargetRequests>,
    pub api_sources: Vec<ApiSource>,
    pub webhook: Arc<WebhookState>,
    /// The store's writer lease, when it has one (PostgreSQL).
    pub lease: Option<Arc<crate::store::Lease>>,
}

impl AppState {
    /// State for a service on `store` whose webhooks are checked with `client_secret`.
    pub fn new(
        store: SharedStore,
        health: Arc<Health>,
        metrics: Arc<Metrics>,
        targets: Arc<TargetRequests>,
        client_secret: Secret,
        api_sources: Vec<ApiSource>,
    ) -> Self {
        let webhook = Arc::new(WebhookState::new(
            client_secret,
            targets.clone(),
            metrics.clone(),
        ));
        Self {
            store,
            health,
            metrics,
            targets,
            api_sources,
            webhook,
            lease: None,
        }
    }
}

/// The service router; `extra` (e.g. the review page) is merged in beside the built-in
/// routes.
pub fn router(state: AppState, extra: Option<Router>) -> Router {
    let webhooks = Router::new()
        .route(WEBHOOKS, post(webhook::handle))
        .with_state(state.webhook.clone());
    let base = Router::new()
        .route(HEALTHZ, get(healthz))
        .route(READYZ, get(readyz))
        .route(METRICS, get(metrics))
        .with_state(state)
        .merge(webhooks)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(4),
        ));
    match extra {
        Some(r) => base.merge(r),
        None => base,
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// `200 {"ready":true,"role":"leader"|"standby"}` or `503 {"ready":false,"role":…,"why":[…]}`.
/// A healthy standby answers 200: Kubernetes keeps it in rotation and a rolling update of two
/// replicas can proceed; which replica writes is the lease's business, not the probe's.
async fn readyz(State(s): State<AppState>) -> Response {
    let store_ok = s.store.schema_state().await.is_ok();
    let role = s
        .lease
        .as_ref()
        .map_or(crate::store::Role::Leader, |l| l.role());
    let verdict = super::readiness(
        &s.health.state(),
        store_ok,
        role,
        s.health.started_at,
        s.health.stale_after,
        chrono::Utc::now(),
    );
    let (status, body) = match verdict {
        Ok(()) => (
            StatusCode::OK,
            serde_json::json!({"ready": true, "role": role}),
        ),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"ready": false, "role": role, "why": why}),
        ),
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    match s.store.counts().await {
        Ok(c) => s.metrics.set_store_counts(&c),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count store rows"),
    }
    s.metrics
        .set_lease(&super::metrics::LeaseSnapshot::of(s.lease.as_deref()));
    for source in &s.api_sources {
        s.metrics.set_api(&source());
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], s.metrics.encode()).into_response()
}

/// A bound server, stopped by [`Server::wait`] after `shutdown` resolves.
pub struct Server {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Waits for the server to stop.
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Binds `addr` and serves `app` until `shutdown` resolves (in-flight requests finish).
pub async fn serve(
    app: Router,
    addr: SocketAddr,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<Server> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // The peer address reaches handlers that throttle per source (the Gorgias card).
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    });
    Ok(Server { addr, task })
}
