//! Slows down guessing of `server.review_token`: after [`MAX_FAILURES`] wrong tokens (at the
//! login form or as a Bearer header) within [`WINDOW`], every further attempt — right or
//! wrong — is refused with `429 Too Many Requests` until the oldest failure leaves the
//! window. One budget for the whole page, not per client address: behind a proxy every
//! client has the proxy's address, and a page for a handful of people can afford to make
//! its own users wait a minute while somebody is guessing. Pure: the caller passes the
//! time in; never sees a token, never does I/O.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Wrong tokens allowed within [`WINDOW`] before attempts are refused.
pub const MAX_FAILURES: usize = 10;
/// How long a wrong token counts against the budget.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Recent failed attempts; see the module comment.
#[derive(Debug)]
pub struct Throttle {
    max_failures: usize,
    window: Duration,
    failures: VecDeque<Instant>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(MAX_FAILURES, WINDOW)
    }
}

impl Throttle {
    /// A throttle allowing `max_failures` wrong tokens per `window` (at least one).
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Throttle {
            max_failures: max_failures.max(1),
            window,
            failures: VecDeque::new(),
        }
    }

    fn forget_old(&mut self, now: Instant) {
        while let Some(&oldest) = self.failures.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.failures.pop_front();
            } else {
                break;
            }
        }
    }

    /// `Ok` when an attempt may be checked now; otherwise how long until one may.
    pub fn check(&mut self, now: Instant) -> Result<(), Duration> {
        self.forget_old(now);
        if self.failures.len() < self.max_failures {
            return Ok(());
        }
        let oldest = self.failures.front().copied().unwrap_or(now);
        Err(self
            .window
            .saturating_sub(now.saturating_duration_since(oldest))
            .max(Duration::from_secs(1)))
    }

    /// Counts one wrong token.
    pub fn record_failure(&mut self, now: Instant) {
        self.forget_old(now);
        self.failures.push_back(now);
    }
}

/// Whole seconds for a `Retry-After` header (rounded up, at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    let s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    s.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_up_to_the_budget_then_refuses_until_the_oldest_failure_expires() {
        let t0 = Instant::now();
        let mut t = Throttle::new(3, Duration::from_secs(60));
        for i in 0..3 {
            assert!(t.check(t0 + Duration::from_secs(i)).is_ok(), "attempt {i}");
            t.record_failure(t0 + Duration::from_secs(i));
        }
        // The fourth attempt, 10 s after the first failure, waits the remaining 50 s.
        assert_eq!(
            t.check(t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(50))
        );
        // Once the first failure is a window old, one more attempt is allowed.
        assert!(t.check(t0 + Duration::from_secs(60)).is_ok());
        t.record_failure(t0 + Duration::from_secs(60));
        assert!(t.check(t0 + Duration::from_secs(60)).is_err());
        assert!(t.check(t0 + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn failures_spread_wider_than_the_window_never_lock_out() {
        let t0 = Instant::now();
        let mut t = Throttle::new(2, Duration::from_secs(10));
        for i in 0..20 {
            let now = t0 + Duration::from_secs(6 * i);
            assert!(t.check(now).is_ok(), "attempt {i}");
            t.record_failure(now);
        }
    }

    #[test]
    fn a_zero_budget_still_allows_one_failure() {
        let t0 = Instant::now();
        let mut t = Throttle::new(0, Duration::from_secs(10));
        assert!(t.check(t0).is_ok());
        t.record_failure(t0);
        assert!(t.check(t0).is_err());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(50)), 50);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
