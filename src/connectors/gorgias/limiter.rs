//! The client-side leaky bucket: pure arithmetic over instants passed in. Models the
//! account's bucket from our own sends and corrects it from the
//! `X-Gorgias-Account-Api-Call-Limit: used/limit` header of each answer. Must never sleep or
//! read the clock itself.

use std::time::{Duration, Instant};

/// Our estimate of the account's bucket.
#[derive(Debug, Clone)]
pub struct Limiter {
    level: f64,
    last: Option<Instant>,
    limit: u32,
    /// The bucket window in real time.
    window: Duration,
    /// Slots left free for other clients of the account.
    reserve: u32,
}

/// Parses `used/limit`.
pub fn parse_call_limit(raw: &str) -> Option<(u32, u32)> {
    let (used, limit) = raw.trim().split_once('/')?;
    let used = used.trim().parse().ok()?;
    let limit: u32 = limit.trim().parse().ok()?;
    (limit > 0).then_some((used, limit))
}

impl Limiter {
    pub fn new(limit: u32, window: Duration, reserve: u32) -> Self {
        Self {
            level: 0.0,
            last: None,
            limit: limit.max(1),
            window: window.max(Duration::from_micros(1)),
            reserve,
        }
    }

    fn rate(&self) -> f64 {
        f64::from(self.limit) / self.window.as_secs_f64()
    }

    fn drain(&mut self, now: Instant) {
        if let Some(last) = self.last
            && now > last
        {
            let elapsed = now.duration_since(last).as_secs_f64();
            self.level = (self.level - elapsed * self.rate()).max(0.0);
            self.last = Some(now);
        } else if self.last.is_none() {
            self.last = Some(now);
        }
    }

    fn cap(&self) -> f64 {
        f64::from(self.limit.saturating_sub(self.reserve).max(1))
    }

    /// Books one request and returns how long to wait before sending it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        self.drain(now);
        let over = self.level + 1.0 - self.cap();
        self.level += 1.0;
        if over <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(over / self.rate())
        }
    }

    /// Corrects the estimate from an answer's header: the server's count wins when higher,
    /// and its limit replaces ours (80 for OAuth, other tiers).
    pub fn observe(&mut self, now: Instant, used: u32, limit: u32) {
        self.drain(now);
        self.limit = limit.max(1);
        self.level = self.level.max(f64::from(used));
    }

    /// After a 429: the bucket is full as far as we know.
    pub fn saturate(&mut self, now: Instant) {
        self.drain(now);
        self.level = self.level.max(f64::from(self.limit));
    }

    /// The current limit (as last told by the server).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The allowed steady rate in requests per real second.
    pub fn rate_per_second(&self) -> f64 {
        self.rate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces() {
        let mut l = Limiter::new(40, Duration::from_secs(20), 1);
        let t0 = Instant::now();
        for _ in 0..39 {
            assert_eq!(l.reserve(t0), Duration::ZERO);
        }
        // The 40th waits half a second (2 per second drain), the 41st one second.
        assert_eq!(l.reserve(t0), Duration::from_millis(500));
        assert_eq!(l.reserve(t0), Duration::from_millis(1000));
    }

    #[test]
    fn header_corrects_upwards_only() {
        let mut l = Limiter::new(40, Duration::from_secs(20), 0);
        let t0 = Instant::now();
        l.observe(t0, 40, 40);
        assert!(l.reserve(t0) > Duration::ZERO);
        let mut l = Limiter::new(40, Duration::from_secs(20), 0);
        l.reserve(t0);
        l.reserve(t0);
        l.observe(t0, 1, 80);
        assert_eq!(l.limit(), 80);
        // level stays 2, not 1.
        for _ in 0..78 {
            assert_eq!(l.reserve(t0), Duration::ZERO);
        }
        assert!(l.reserve(t0) > Duration::ZERO);
        assert_eq!(parse_call_limit(" 10/40"), Some((10, 40)));
        assert_eq!(parse_call_limit("x/40"), None);
        assert_eq!(parse_call_limit("1/0"), None);
    }
}
