//! The per-account leaky bucket: pure arithmetic over instants passed in. Owns admission and
//! the `Retry-after` estimate; must never sleep or read the clock itself.

use std::time::{Duration, Instant};

/// A leaky bucket that drains `limit` requests per `window` (already divided by the time
/// scale) and admits a request only while the level stays within the request's limit.
#[derive(Debug)]
pub struct LeakyBucket {
    level: f64,
    last: Option<Instant>,
    /// Requests drained per real second, for the basic limit (`limit / window`).
    window: Duration,
}

/// What the bucket said about one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Admission {
    pub admitted: bool,
    /// The integer shown in `X-Gorgias-Account-Api-Call-Limit: used/limit`.
    pub used: u32,
    pub limit: u32,
    /// Real time until one slot frees, when refused.
    pub wait: Duration,
}

impl LeakyBucket {
    pub fn new(window: Duration) -> Self {
        Self {
            level: 0.0,
            last: None,
            window: window.max(Duration::from_micros(1)),
        }
    }

    fn drain(&mut self, now: Instant, limit: u32) {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            let rate = f64::from(limit) / self.window.as_secs_f64();
            self.level = (self.level - elapsed * rate).max(0.0);
        }
        self.last = Some(now);
    }

    /// Tries to admit one request whose account limit is `limit`.
    pub fn admit(&mut self, now: Instant, limit: u32) -> Admission {
        self.drain(now, limit);
        let cap = f64::from(limit);
        if self.level + 1.0 <= cap + 1e-9 {
            self.level += 1.0;
            Admission {
                admitted: true,
                used: self.used(),
                limit,
                wait: Duration::ZERO,
            }
        } else {
            let rate = cap / self.window.as_secs_f64();
            let excess = self.level + 1.0 - cap;
            Admission {
                admitted: false,
                used: self.used(),
                limit,
                wait: Duration::from_secs_f64((excess / rate).max(0.0)),
            }
        }
    }

    /// The current level, without admitting anything (for responses that were not counted).
    pub fn peek(&mut self, now: Instant, limit: u32) -> u32 {
        self.drain(now, limit);
        self.used()
    }

    fn used(&self) -> u32 {
        // Show whole requests: a partly drained slot still counts as used.
        self.level.ceil().clamp(0.0, f64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_a_burst_then_refuses_then_drains() {
        let mut b = LeakyBucket::new(Duration::from_secs(20));
        let t0 = Instant::now();
        for i in 1..=40 {
            let a = b.admit(t0, 40);
            assert!(a.admitted, "request {i}");
            assert_eq!(a.used, i);
        }
        let refused = b.admit(t0, 40);
        assert!(!refused.admitted);
        assert_eq!(refused.used, 40);
        assert!(
            refused.wait > Duration::from_millis(400) && refused.wait <= Duration::from_millis(500)
        );
        // Two requests per second drain: after one second two more fit.
        let later = t0 + Duration::from_secs(1);
        assert!(b.admit(later, 40).admitted);
        assert!(b.admit(later, 40).admitted);
        assert!(!b.admit(later, 40).admitted);
    }

    #[test]
    fn bearer_limit_is_larger() {
        let mut b = LeakyBucket::new(Duration::from_secs(20));
        let t0 = Instant::now();
        for _ in 0..80 {
            assert!(b.admit(t0, 80).admitted);
        }
        assert!(!b.admit(t0, 80).admitted);
    }
}
