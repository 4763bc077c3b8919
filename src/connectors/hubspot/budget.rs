//! Client-side request budgets: a sliding-window log per lane (the burst window, and search's
//! per-second limit), tightened from the `X-HubSpot-RateLimit-*` headers and blocked after a
//! 429. Pure over the `Instant` passed in; must never sleep or do I/O.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// At most `limit` sends in any `window` (plus a safety margin for arrival jitter).
#[derive(Debug, Clone)]
pub struct WindowBudget {
    limit: u32,
    window: Duration,
    sends: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl WindowBudget {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            sends: VecDeque::new(),
            blocked_until: None,
        }
    }

    /// The margin added to the window: 2 % of it, at least 5 ms, so that sends spaced a
    /// window apart also arrive a window apart.
    fn margin(&self) -> Duration {
        self.window.mul_f64(0.02).max(Duration::from_millis(5))
    }

    fn prune(&mut self, now: Instant) {
        let span = self.window + self.margin();
        while let Some(f) = self.sends.front() {
            if now.saturating_duration_since(*f) >= span {
                self.sends.pop_front();
            } else {
                break;
            }
        }
    }

    /// Takes a slot at `now`, or says how long to wait before asking again.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(b) = self.blocked_until {
            if now < b {
                return Err(b - now);
            }
            self.blocked_until = None;
        }
        self.prune(now);
        if (self.sends.len() as u32) < self.limit {
            self.sends.push_back(now);
            return Ok(());
        }
        let span = self.window + self.margin();
        let wait = self
            .sends
            .front()
            .map(|f| span.saturating_sub(now.saturating_duration_since(*f)))
            .unwrap_or(span);
        Err(wait.max(Duration::from_millis(1)))
    }

    /// Adapts to the server's view: `Max`, `Interval-Milliseconds` and `Remaining` headers.
    /// When the server has counted more calls than this client sent (another client shares
    /// the token), the difference is booked as sent now.
    pub fn observe(
        &mut self,
        max: Option<u32>,
        interval: Option<Duration>,
        remaining: Option<u32>,
        now: Instant,
    ) {
        if let Some(m) = max.filter(|m| *m > 0) {
            self.limit = m;
        }
        if let Some(w) = interval.filter(|w| !w.is_zero()) {
            self.window = w;
        }
        if let Some(r) = remaining {
            self.prune(now);
            let server_used = self.limit.saturating_sub(r) as usize;
            while self.sends.len() < server_used {
                self.sends.push_back(now);
            }
        }
    }

    /// Sends nothing before `now + d` (after a 429).
    pub fn block_for(&mut self, d: Duration, now: Instant) {
        let until = now + d;
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// The window in force.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The limit in force.
    pub fn limit(&self) -> u32 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_limit_per_window() {
        let mut b = WindowBudget::new(3, Duration::from_millis(1000));
        let t0 = Instant::now();
        for _ in 0..3 {
            b.try_acquire(t0).unwrap();
        }
        let wait = b.try_acquire(t0).unwrap_err();
        assert!(wait >= Duration::from_millis(1000));
        assert!(b.try_acquire(t0 + Duration::from_millis(999)).is_err());
        assert!(b.try_acquire(t0 + wait).is_ok());
    }

    #[test]
    fn adapts_to_headers_and_blocks() {
        let mut b = WindowBudget::new(100, Duration::from_secs(10));
        let t0 = Instant::now();
        b.try_acquire(t0).unwrap();
        b.observe(Some(5), Some(Duration::from_secs(1)), Some(1), t0);
        assert_eq!(b.limit(), 5);
        assert_eq!(b.window(), Duration::from_secs(1));
        b.try_acquire(t0).unwrap();
        assert!(b.try_acquire(t0).is_err(), "4 used by others + 1 own");
        let mut c = WindowBudget::new(10, Duration::from_secs(1));
        c.block_for(Duration::from_millis(500), t0);
        assert!(c.try_acquire(t0 + Duration::from_millis(499)).is_err());
        assert!(c.try_acquire(t0 + Duration::from_millis(500)).is_ok());
    }
}
