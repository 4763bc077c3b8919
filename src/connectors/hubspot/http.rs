//! The HTTP transport of the HubSpot connector: builds URLs, holds the two budgets, sends with
//! the bearer token, and applies the retry policy (429 per policy, 423/5xx/timeouts with
//! jittered backoff, validation errors never). Must never log the token or a request body.

use super::budget::{Ticket, WindowBudget};
use super::config::HubspotConfig;
use super::error::HubspotError;
use super::wire;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Which budget a call spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Everything but search: the burst window.
    Burst,
    /// `POST …/search`: its own per-second limit, no headers.
    Search,
}

/// Counters of what the connector sent and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounters {
    /// Requests sent (retries included).
    pub calls: u64,
    /// Of which search requests.
    pub search_calls: u64,
    /// 429s received.
    pub rate_limited: u64,
    /// Retries after 423/5xx/timeouts/unreadable bodies.
    pub retries: u64,
}

#[derive(Debug, Default)]
struct Atomics {
    calls: AtomicU64,
    search_calls: AtomicU64,
    rate_limited: AtomicU64,
    retries: AtomicU64,
}

/// The transport.
#[derive(Debug)]
pub struct Transport {
    http: reqwest::Client,
    cfg: HubspotConfig,
    burst: Mutex<WindowBudget>,
    search: Mutex<WindowBudget>,
    daily_exhausted: AtomicBool,
    counters: Atomics,
    warnings: Mutex<BTreeMap<String, u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A successful answer: the JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub body: Value,
}

impl Transport {
    pub fn new(cfg: HubspotConfig) -> Result<Self, HubspotError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.request_timeout)
            .user_agent(concat!("tether/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HubspotError::Input(format!("cannot build HTTP client: {e}")))?;
        url::Url::parse(&cfg.base_url)
            .map_err(|e| HubspotError::Input(format!("bad base URL {:?}: {e}", cfg.base_url)))?;
        Ok(Self {
            http,
            burst: Mutex::new(WindowBudget::new(cfg.burst_limit, cfg.burst_window)),
            search: Mutex::new(WindowBudget::new(cfg.search_per_second, cfg.search_window)),
            cfg,
            daily_exhausted: AtomicBool::new(false),
            counters: Atomics::default(),
            warnings: Mutex::new(BTreeMap::new()),
        })
    }

    pub fn config(&self) -> &HubspotConfig {
        &self.cfg
    }

    pub fn counters(&self) -> CallCounters {
        CallCounters {
            calls: self.counters.calls.load(Ordering::Relaxed),
            search_calls: self.counters.search_calls.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
        }
    }

    /// `warnings[]` received on 2xx answers so far, by category.
    pub fn warnings(&self) -> BTreeMap<String, u64> {
        lock(&self.warnings).clone()
    }

    /// Counts and logs (debug) the `warnings[]` of a 2xx answer; they never fail a call.
    fn note_warnings(&self, endpoint: &str, body: &Value) {
        let found = wire::warnings(body);
        if found.is_empty() {
            return;
        }
        let mut w = lock(&self.warnings);
        for warn in found {
            tracing::debug!(
                endpoint,
                category = %warn.category,
                message = %warn.message,
                "HubSpot answered with a warning"
            );
            *w.entry(warn.category).or_default() += 1;
        }
    }

    /// True once a `DAILY` 429 was received (writes stop until the process restarts or
    /// [`Transport::reset_daily`] is called at the account's midnight).
    pub fn daily_exhausted(&self) -> bool {
        self.daily_exhausted.load(Ordering::Relaxed)
    }

    pub fn reset_daily(&self) {
        self.daily_exhausted.store(false, Ordering::Relaxed);
    }

    /// The path builder of the configured API version.
    pub fn paths(&self) -> super::paths::Paths {
        super::paths::Paths::new(self.cfg.api_version)
    }

    /// Builds `base + segments` with each segment percent-encoded on its own.
    pub fn url(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<url::Url, HubspotError> {
        let mut u = url::Url::parse(&self.cfg.base_url)
            .map_err(|e| HubspotError::Input(format!("bad base URL: {e}")))?;
        {
            let mut p = u
                .path_segments_mut()
                .map_err(|_| HubspotError::Input("base URL cannot take a path".into()))?;
            p.pop_if_empty();
            for s in segments {
                p.push(s);
            }
        }
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(u)
    }

    fn budget(&self, lane: Lane) -> std::sync::MutexGuard<'_, WindowBudget> {
        match lane {
            Lane::Burst => lock(&self.burst),
            Lane::Search => lock(&self.search),
        }
    }

    async fn acquire(&self, lane: Lane) -> Ticket {
        loop {
            let wait = match self.budget(lane).try_acquire(Instant::now()) {
                Ok(t) => return t,
                Err(w) => w,
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends one logical call, retrying what is transient.
    /// Long (about 150 lines) on purpose: one retry loop whose arms (success, each kind of 429,
    /// 5xx, transport failures) share the attempt and limit counters and the budget.
    pub async fn send(
        &self,
        method: Method,
        url: url::Url,
        body: Option<&Value>,
        lane: Lane,
    ) -> Result<Answer, HubspotError> {
        let endpoint = url.path().to_string();
        let mut attempt: u32 = 0;
        let mut limited: u32 = 0;
        loop {
            if self.daily_exhausted() {
                return Err(HubspotError::DailyLimit);
            }
            let ticket = self.acquire(lane).await;
            let sent_at = Instant::now();
            self.counters.calls.fetch_add(1, Ordering::Relaxed);
            if lane == Lane::Search {
                self.counters.search_calls.fetch_add(1, Ordering::Relaxed);
            }
            let mut req = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(self.cfg.token.expose());
            if let Some(b) = body {
                req = req.json(b);
            }
            let sent = req.send().await;
            self.budget(lane).complete(ticket, Instant::now());
            let resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    // Timeouts and connection failures are transient.
                    if let Some(d) = self.cfg.backoff.jittered(attempt) {
                        tracing::warn!(%endpoint, attempt, error = %e, "HubSpot call failed; retrying");
                        self.counters.retries.fetch_add(1, Ordering::Relaxed);
                        attempt += 1;
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(HubspotError::Transport {
                        endpoint,
                        source: e,
                    });
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            let rate = wire::rate_headers(|name| headers.get(name)?.to_str().ok());
            if lane == Lane::Burst {
                lock(&self.burst).observe(
                    rate.max,
                    rate.interval,
                    rate.remaining,
                    sent_at,
                    Instant::now(),
                );
            }
            if rate.daily_remaining == Some(0) {
                tracing::warn!("HubSpot daily limit used up; further calls will stop");
                self.daily_exhausted.store(true, Ordering::Relaxed);
            }
            let text = resp.text().await;
            let text = match text {
                Ok(t) => t,
                Err(e) => {
                    if let Some(d) = self.cfg.backoff.jittered(attempt) {
                        self.counters.retries.fetch_add(1, Ordering::Relaxed);
                        attempt += 1;
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    return Err(HubspotError::Transport {
                        endpoint,
                        source: e,
                    });
                }
            };
            let parsed = wire::parse_body(&text);
            if status.is_success() {
                match parsed {
                    Some(body) => {
                        self.note_warnings(&endpoint, &body);
                        return Ok(Answer { body });
                    }
                    None => {
                        if let Some(d) = self.cfg.backoff.jittered(attempt) {
                            tracing::warn!(%endpoint, attempt, "unreadable HubSpot body; retrying");
                            self.counters.retries.fetch_add(1, Ordering::Relaxed);
                            attempt += 1;
                            tokio::time::sleep(d).await;
                            continue;
                        }
                        return Err(HubspotError::Decode {
                            endpoint,
                            detail: "success status with a body that is not JSON".into(),
                        });
                    }
                }
            }
            let body = parsed.unwrap_or(Value::Null);
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                let policy = body
                    .get("policyName")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let message = body.get("message").and_then(Value::as_str).unwrap_or("");
                if policy == "DAILY" || message.contains("daily limit") {
                    self.daily_exhausted.store(true, Ordering::Relaxed);
                    return Err(HubspotError::DailyLimit);
                }
                limited += 1;
                if limited > self.cfg.max_rate_limit_retries {
                    return Err(HubspotError::RateLimited {
                        endpoint,
                        policy,
                        attempts: limited,
                    });
                }
                let retry_after = rate.retry_after;
                let secondly = lane == Lane::Search
                    || policy == "SECONDLY"
                    || message.contains("secondly limit");
                let now = Instant::now();
                if secondly {
                    let mut b = lock(&self.search);
                    let w = retry_after.unwrap_or(b.window());
                    b.block_for(w, now);
                } else {
                    let mut b = lock(&self.burst);
                    let w = retry_after.unwrap_or(b.window());
                    b.block_for(w, now);
                }
                tracing::warn!(%endpoint, %policy, "HubSpot rate limit hit; waiting for the window");
                continue;
            }
            let code = status.as_u16();
            let transient = matches!(code, 423 | 477 | 500 | 502 | 503 | 504 | 521 | 523 | 524);
            if transient && let Some(mut d) = self.cfg.backoff.jittered(attempt) {
                if code == 423 {
                    d = d.max(self.cfg.locked_wait);
                }
                if let Some(ra) = rate.retry_after {
                    d = d.max(ra);
                }
                tracing::warn!(%endpoint, status = code, attempt, "transient HubSpot error; retrying");
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
                tokio::time::sleep(d).await;
                continue;
            }
            return Err(wire::api_error(method.as_str(), &endpoint, code, body));
        }
    }
}
