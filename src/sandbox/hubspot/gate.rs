//! The middleware in front of every HubSpot route: counts calls by endpoint, serves injected
//! faults, checks the bearer token and scopes, and applies the rate limits with their headers.
//! Must never look at request bodies or touch the contact store.

use super::errors::ApiError;
use super::faults::{FaultKind, take};
use super::limits::{Limited, Limits};
use super::version::{LegacyPaths, PathVersion};
use super::{HubspotSandbox, lock};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What the sandbox has received.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// `"METHOD /route/template"` → calls (including refused ones).
    pub by_endpoint: BTreeMap<String, u64>,
    /// All calls.
    pub total: u64,
    /// 429s sent (by the limiter or by injected faults).
    pub rate_limited: u64,
    /// Faults served.
    pub faults: u64,
    /// Webhook requests sent (retries included).
    pub webhook_attempts: u64,
    /// Webhook events acknowledged with a 2xx.
    pub webhook_events_delivered: u64,
    /// Webhook events given up after the last attempt.
    pub webhook_events_dropped: u64,
    /// Calls on the legacy `/crm/v3/...` paths (answered or refused).
    pub legacy_calls: u64,
    /// Calls refused because legacy paths are switched off ([`super::LegacyPaths::Refuse`]).
    pub legacy_refused: u64,
}

impl Counters {
    /// Calls to endpoints whose key contains `needle`.
    pub fn calls(&self, needle: &str) -> u64 {
        self.by_endpoint
            .iter()
            .filter(|(k, _)| k.contains(needle))
            .map(|(_, v)| *v)
            .sum()
    }
}

/// The scope a call needs.
fn required_scope(method: &Method, path: &str) -> &'static str {
    // The account details need only `oauth`, which every token has.
    if path.starts_with("/account-info/") {
        return "oauth";
    }
    let read = method == Method::GET || path.ends_with("/search") || path.ends_with("/batch/read");
    // The sidebar card's reads (crm_context): each object needs its own read scope.
    if read {
        for (needle, scope) in [
            ("/companies", "crm.objects.companies.read"),
            ("/deals", "crm.objects.deals.read"),
            ("/owners/", "crm.objects.owners.read"),
        ] {
            if path.contains(needle) {
                return scope;
            }
        }
    }
    match (PathVersion::is_properties_path(path), read) {
        (true, true) => "crm.schemas.contacts.read",
        (true, false) => "crm.schemas.contacts.write",
        (false, true) => "crm.objects.contacts.read",
        (false, false) => "crm.objects.contacts.write",
    }
}

fn too_many(sb: &HubspotSandbox, limited: Limited) -> Response {
    lock(&sb.inner.counters).rate_limited += 1;
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(limited.body)).into_response();
    if sb.inner.cfg.retry_after_on_429 {
        let secs = limited.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert("Retry-After", v);
        }
    }
    resp
}

/// The middleware.
/// Long (about 120 lines) on purpose: the checks run in HubSpot's order (path version, faults,
/// token, scope, limits), and one function keeps that order visible.
pub async fn gate(
    State(sb): State<HubspotSandbox>,
    matched: Option<MatchedPath>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    let version = PathVersion::of_path(&path).unwrap_or(PathVersion::V3);
    req.extensions_mut().insert(version);
    let method = req.method().clone();
    let route = matched
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    {
        let mut c = lock(&sb.inner.counters);
        *c.by_endpoint
            .entry(format!("{method} {route}"))
            .or_default() += 1;
        c.total += 1;
        if version == PathVersion::V3 {
            c.legacy_calls += 1;
        }
    }
    if version == PathVersion::V3 && sb.legacy_paths() == LegacyPaths::Refuse {
        lock(&sb.inner.counters).legacy_refused += 1;
        // What HubSpot answers once v3 is unsupported is not published (UNCONFIRMED).
        return ApiError::new(
            StatusCode::GONE,
            "API_VERSION_UNSUPPORTED",
            "This API version is no longer supported. Use a date-based version such as /crm/objects/2026-09/contacts.",
        )
        .into_response();
    }
    let cfg = &sb.inner.cfg;
    let fault = take(&mut lock(&sb.inner.faults), &path);
    if let Some(f) = fault {
        lock(&sb.inner.counters).faults += 1;
        let delay = cfg.scaled(Duration::from_millis(f.millis.unwrap_or(0)));
        match f.kind {
            FaultKind::Latency => tokio::time::sleep(delay).await,
            FaultKind::Timeout => {
                tokio::time::sleep(delay).await;
                return ApiError::new(StatusCode::GATEWAY_TIMEOUT, "TIMEOUT", "Gateway timeout")
                    .into_response();
            }
            FaultKind::Status => {
                let code = StatusCode::from_u16(f.status.unwrap_or(503))
                    .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                if code == StatusCode::TOO_MANY_REQUESTS {
                    lock(&sb.inner.counters).rate_limited += 1;
                }
                return ApiError::new(code, "INTERNAL_ERROR", "Injected sandbox fault")
                    .into_response();
            }
            FaultKind::Malformed => {
                return Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/json")
                    .body(Body::from("{\"results\": [ {\"id\": "))
                    .unwrap_or_default();
            }
            FaultKind::Body => {
                return Response::builder()
                    .status(StatusCode::from_u16(f.status.unwrap_or(200)).unwrap_or(StatusCode::OK))
                    .header("content-type", "application/json")
                    .body(Body::from(f.body.unwrap_or_default()))
                    .unwrap_or_default();
            }
            FaultKind::RateLimit => {
                return too_many(
                    &sb,
                    Limited {
                        body: Limits::burst_429_body(),
                        retry_after: cfg.scaled(cfg.burst_window),
                    },
                );
            }
        }
    }
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !presented.is_some_and(|p| cfg.token.matches(p)) {
        return ApiError::unauthenticated().into_response();
    }
    let scope = required_scope(&method, &path);
    let has_scope = scope == "oauth"
        || cfg.scopes.iter().any(|s| s == scope)
        || (scope == "crm.schemas.contacts.read"
            && cfg.scopes.iter().any(|s| s == "crm.objects.contacts.read"));
    if !has_scope {
        return ApiError::missing_scope(scope).into_response();
    }
    let now = Instant::now();
    let headers = if path.ends_with("/search") {
        match lock(&sb.inner.limits).admit_search(cfg, now) {
            Ok(()) => None,
            Err(l) => return too_many(&sb, l),
        }
    } else {
        match lock(&sb.inner.limits).admit(cfg, now) {
            Ok(h) => Some(h),
            Err(l) => return too_many(&sb, l),
        }
    };
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&super::errors::correlation_id()) {
        h.insert("X-HubSpot-Correlation-Id", v);
    }
    for (k, v) in headers.map(|h| h.0).unwrap_or_default() {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    resp
}
