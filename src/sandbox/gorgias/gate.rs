//! The middleware in front of every `/api/` route: counts the call, checks credentials (401),
//! applies the leaky bucket (429 + `Retry-after`), serves injected faults, and stamps
//! `X-Gorgias-Account-Api-Call-Limit` on every response. Must never touch customer data.

use super::GorgiasSandbox;
use super::auth::{self, AuthKind};
use super::faults::FaultKind;
use super::reply;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// The rate-limit header name.
pub const CALL_LIMIT_HEADER: &str = "x-gorgias-account-api-call-limit";

fn stamp(resp: &mut Response, used: u32, limit: u32) {
    if let Ok(v) = HeaderValue::from_str(&format!("{used}/{limit}")) {
        resp.headers_mut().insert(CALL_LIMIT_HEADER, v);
    }
}

fn too_many(retry_after: u64) -> Response {
    let mut resp = reply::error(StatusCode::TOO_MANY_REQUESTS, "Too many requests.");
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        resp.headers_mut().insert("retry-after", v);
    }
    resp
}

pub async fn gate(
    State(sb): State<GorgiasSandbox>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let route = matched
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    sb.count_call(&format!("{method} {route}"));
    let cfg = sb.config();
    let Some(kind) = auth::check(cfg, req.headers()) else {
        let (used, limit) = sb.peek_bucket(AuthKind::Basic);
        sb.with_counters(|c| c.unauthorized += 1);
        let mut resp = reply::error(StatusCode::UNAUTHORIZED, "Authentication required.");
        stamp(&mut resp, used, limit);
        return resp;
    };
    let adm = sb.admit(kind);
    if !adm.admitted {
        // Retry-after in whole sandbox seconds, at least 1.
        let secs = (adm.wait.as_secs_f64() * cfg.time_scale).ceil().max(1.0) as u64;
        sb.with_counters(|c| c.rate_limited += 1);
        let mut resp = too_many(secs);
        stamp(&mut resp, adm.used, adm.limit);
        return resp;
    }
    let fault = sb.take_fault(&method, &path);
    if fault.is_some() {
        sb.with_counters(|c| c.faults += 1);
    }
    let mut resp = match fault {
        Some(FaultKind::RateLimit { retry_after }) => {
            sb.with_counters(|c| c.rate_limited += 1);
            too_many(retry_after)
        }
        Some(FaultKind::Status {
            status,
            after_apply,
        }) => {
            if after_apply {
                let _ = next.run(req).await;
            }
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            reply::error(code, "Injected fault.")
        }
        Some(FaultKind::Body { status, body }) => {
            let mut resp = Response::new(axum::body::Body::from(body));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            resp.headers_mut().insert(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Some(FaultKind::Delay { ms }) => {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            next.run(req).await
        }
        None => next.run(req).await,
    };
    stamp(&mut resp, adm.used, adm.limit);
    resp
}
