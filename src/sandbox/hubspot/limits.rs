//! Rate limits of the sandbox (contract §8): the rolling burst window per token, the daily
//! counter, and search's own per-second limit, with the `X-HubSpot-RateLimit-*` headers and
//! the 429 bodies. Pure over the `Instant` passed in; must never sleep.

use super::config::SandboxConfig;
use super::errors::correlation_id;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Limiter state.
#[derive(Debug, Default)]
pub struct Limits {
    burst: VecDeque<Instant>,
    search: VecDeque<Instant>,
    daily_used: u64,
}

/// A 429 to send.
#[derive(Debug, Clone)]
pub struct Limited {
    pub body: Value,
    /// Until the window frees a slot.
    pub retry_after: Duration,
}

/// Headers to add to a non-search response.
#[derive(Debug, Clone)]
pub struct RateHeaders(pub Vec<(&'static str, String)>);

fn rate_limit_body(message: &str, policy: &str) -> Value {
    json!({
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "requestId": correlation_id(),
    })
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while let Some(front) = q.front() {
        if now.duration_since(*front) >= window {
            q.pop_front();
        } else {
            break;
        }
    }
}

impl Limits {
    /// Admits or refuses a non-search call at `now`.
    pub fn admit(&mut self, cfg: &SandboxConfig, now: Instant) -> Result<RateHeaders, Limited> {
        let window = cfg.scaled(cfg.burst_window);
        if self.daily_used >= cfg.daily_limit {
            return Err(Limited {
                body: rate_limit_body("You have reached your daily limit.", "DAILY"),
                retry_after: Duration::from_secs(3600),
            });
        }
        prune(&mut self.burst, now, window);
        if self.burst.len() >= cfg.burst_limit as usize {
            let wait = self
                .burst
                .front()
                .map(|f| window.saturating_sub(now.duration_since(*f)))
                .unwrap_or(window);
            return Err(Limited {
                body: rate_limit_body(
                    "You have reached your ten_secondly_rolling limit.",
                    "TEN_SECONDLY_ROLLING",
                ),
                retry_after: wait,
            });
        }
        self.burst.push_back(now);
        self.daily_used += 1;
        let remaining = cfg.burst_limit as usize - self.burst.len();
        Ok(RateHeaders(vec![
            ("X-HubSpot-RateLimit-Daily", cfg.daily_limit.to_string()),
            (
                "X-HubSpot-RateLimit-Daily-Remaining",
                (cfg.daily_limit - self.daily_used).to_string(),
            ),
            (
                "X-HubSpot-RateLimit-Interval-Milliseconds",
                window.as_millis().to_string(),
            ),
            ("X-HubSpot-RateLimit-Max", cfg.burst_limit.to_string()),
            ("X-HubSpot-RateLimit-Remaining", remaining.to_string()),
        ]))
    }

    /// Admits or refuses a search call (its own limit; no headers; counts toward the day).
    pub fn admit_search(&mut self, cfg: &SandboxConfig, now: Instant) -> Result<(), Limited> {
        let window = cfg.scaled(cfg.search_window);
        if self.daily_used >= cfg.daily_limit {
            return Err(Limited {
                body: rate_limit_body("You have reached your daily limit.", "DAILY"),
                retry_after: Duration::from_secs(3600),
            });
        }
        prune(&mut self.search, now, window);
        if self.search.len() >= cfg.search_limit as usize {
            return Err(Limited {
                body: rate_limit_body(
                    "You have reached your secondly limit.",
                    &cfg.search_policy_name,
                ),
                retry_after: window,
            });
        }
        self.search.push_back(now);
        self.daily_used += 1;
        Ok(())
    }

    /// A synthetic burst 429 (fault injection).
    pub fn burst_429_body() -> Value {
        rate_limit_body(
            "You have reached your ten_secondly_rolling limit.",
            "TEN_SECONDLY_ROLLING",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_window_rolls_and_daily_stops() {
        let cfg = SandboxConfig {
            burst_limit: 3,
            burst_window: Duration::from_millis(100),
            daily_limit: 5,
            ..Default::default()
        };
        let mut l = Limits::default();
        let t0 = Instant::now();
        for i in 0..3 {
            let h = l.admit(&cfg, t0).unwrap();
            let rem =
                h.0.iter()
                    .find(|(k, _)| *k == "X-HubSpot-RateLimit-Remaining")
                    .unwrap();
            assert_eq!(rem.1, (2 - i).to_string());
        }
        let e = l.admit(&cfg, t0 + Duration::from_millis(50)).unwrap_err();
        assert_eq!(e.body["policyName"], "TEN_SECONDLY_ROLLING");
        assert_eq!(e.body["errorType"], "RATE_LIMIT");
        assert!(l.admit(&cfg, t0 + Duration::from_millis(100)).is_ok());
        assert!(l.admit(&cfg, t0 + Duration::from_millis(100)).is_ok());
        let e = l.admit(&cfg, t0 + Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.body["policyName"], "DAILY");
    }

    #[test]
    fn search_has_its_own_secondly_limit() {
        let cfg = SandboxConfig {
            search_limit: 2,
            ..Default::default()
        };
        let mut l = Limits::default();
        let t0 = Instant::now();
        l.admit_search(&cfg, t0).unwrap();
        l.admit_search(&cfg, t0).unwrap();
        let e = l.admit_search(&cfg, t0).unwrap_err();
        assert_eq!(e.body["message"], "You have reached your secondly limit.");
        assert!(l.admit(&cfg, t0).is_ok());
        assert!(l.admit_search(&cfg, t0 + Duration::from_secs(1)).is_ok());
    }
}
