//! One HTTP exchange with Gorgias, done right: waits on the leaky bucket, authenticates,
//! honours `Retry-after` on 429, retries 5xx and transport failures with jittered backoff,
//! never retries anything else, counts every call, and never follows redirects (a 301 means
//! "merged", which the caller must see). Must never log a credential or a customer e-mail.

use super::config::GorgiasConfig;
use super::error::GorgiasError;
use super::limiter::{Limiter, Priority, parse_call_limit};
use super::metrics::Metrics;
use bytes::Bytes;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The header carrying `used/limit`.
pub const CALL_LIMIT_HEADER: &str = "x-gorgias-account-api-call-limit";

/// A non-retryable answer (any status but 429 and 5xx), for the caller to interpret.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
    pub location: Option<String>,
}

impl Answer {
    /// Decodes a JSON body.
    pub fn json<T: serde::de::DeserializeOwned>(
        &self,
        op: &'static str,
    ) -> Result<T, GorgiasError> {
        super::wire::json(op, &self.body)
    }
}

/// The shared HTTP machinery of a client.
pub struct Transport {
    pub cfg: GorgiasConfig,
    http: reqwest::Client,
    limiter: Mutex<Limiter>,
    pub metrics: Metrics,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base_url", &self.cfg.base_url)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Transport {
    pub fn new(cfg: GorgiasConfig) -> Result<Self, GorgiasError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .user_agent(concat!("tether/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GorgiasError::Config(format!("cannot build the HTTP client: {e}")))?;
        let limiter = Limiter::new(cfg.bucket_limit, cfg.real_window(), cfg.bucket_reserve);
        Ok(Self {
            cfg,
            http,
            limiter: Mutex::new(limiter),
            metrics: Metrics::default(),
        })
    }

    /// The steady rate the bucket allows now, in requests per real second.
    pub fn allowed_rate(&self) -> f64 {
        lock(&self.limiter).rate_per_second()
    }

    /// The bucket capacity as last told by the server.
    pub fn bucket_limit(&self) -> u32 {
        lock(&self.limiter).limit()
    }

    fn observe(&self, headers: &reqwest::header::HeaderMap) {
        if let Some((used, limit)) = headers
            .get(CALL_LIMIT_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_call_limit)
        {
            lock(&self.limiter).observe(Instant::now(), used, limit);
        }
    }

    fn retry_after(&self, headers: &reqwest::header::HeaderMap) -> Duration {
        let raw = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok());
        self.cfg
            .real(super::wire::retry_after(raw, self.cfg.max_retry_after))
    }

    /// Sends one request of live sync (writes, merges, the reads planning them): see
    /// [`Transport::send_as`].
    pub async fn send(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, GorgiasError> {
        self.send_as(Priority::Live, op, method, path, query, body)
            .await
    }

    /// Waits for a slot of the shared budget at `priority` (a lower priority waits while a
    /// more urgent request could use the slot).
    async fn acquire(&self, priority: Priority) {
        loop {
            let wait = lock(&self.limiter).try_acquire(Instant::now(), priority);
            match wait {
                Ok(()) => return,
                Err(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Sends one request, retrying what is transient. `path` starts with `/api/`; `query`
    /// pairs may repeat keys.
    pub async fn send_as(
        &self,
        priority: Priority,
        op: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Answer, GorgiasError> {
        let url = format!("{}{}", self.cfg.base_url, path);
        let mut failures: u32 = 0;
        let mut limited: u32 = 0;
        let mut attempts: u32 = 0;
        loop {
            self.acquire(priority).await;
            attempts += 1;
            self.metrics.count_call(op);
            let mut req = self.http.request(method.clone(), &url).query(query);
            req = match &self.cfg.bearer_token {
                Some(t) => req.bearer_auth(t.expose()),
                None => req.basic_auth(&self.cfg.username, Some(self.cfg.api_key.expose())),
            };
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    let e = e.without_url();
                    match self.cfg.backoff.jittered(failures) {
                        Some(d) => {
                            failures += 1;
                            self.metrics.count_retry();
                            tracing::debug!(op, attempt = attempts, error = %e, "gorgias transport failure; retrying");
                            tokio::time::sleep(d).await;
                            continue;
                        }
                        None => {
                            return Err(GorgiasError::Transport {
                                op,
                                attempts,
                                source: e,
                            });
                        }
                    }
                }
            };
            self.observe(resp.headers());
            let status = resp.status();
            if status == StatusCode::TOO_MANY_REQUESTS {
                self.metrics.count_rate_limited();
                lock(&self.limiter).saturate(Instant::now());
                limited += 1;
                if limited > self.cfg.max_rate_limited {
                    return Err(GorgiasError::RateLimited { op, attempts });
                }
                let d = self.retry_after(resp.headers());
                tracing::debug!(
                    op,
                    wait_ms = d.as_millis() as u64,
                    "gorgias answered 429; waiting"
                );
                self.metrics.count_retry();
                tokio::time::sleep(d).await;
                continue;
            }
            if status.is_server_error() || status == StatusCode::REQUEST_TIMEOUT {
                self.metrics.count_server_error();
                // A 503 may say when to come back; never wait less than it asks.
                let asked = if resp.headers().contains_key(reqwest::header::RETRY_AFTER) {
                    self.retry_after(resp.headers())
                } else {
                    Duration::ZERO
                };
                match self.cfg.backoff.jittered(failures) {
                    Some(d) => {
                        let d = d.max(asked);
                        failures += 1;
                        self.metrics.count_retry();
                        tracing::debug!(
                            op,
                            status = status.as_u16(),
                            "gorgias server error; retrying"
                        );
                        tokio::time::sleep(d).await;
                        continue;
                    }
                    None => {
                        return Err(GorgiasError::Server {
                            op,
                            status: status.as_u16(),
                            attempts,
                        });
                    }
                }
            }
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = match resp.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    let e = e.without_url();
                    match self.cfg.backoff.jittered(failures) {
                        Some(d) => {
                            failures += 1;
                            self.metrics.count_retry();
                            tokio::time::sleep(d).await;
                            continue;
                        }
                        None => {
                            return Err(GorgiasError::Transport {
                                op,
                                attempts,
                                source: e,
                            });
                        }
                    }
                }
            };
            return Ok(Answer {
                status,
                body,
                location,
            });
        }
    }
}
