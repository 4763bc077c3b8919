//! Retry timing shared by the connectors: capped exponential backoff with full jitter.
//! Pure arithmetic over an injected random source; the connectors own the sleeping and the
//! decision of what is retryable.

use std::time::Duration;

/// Backoff policy: attempt `n` (0-based) waits a random time in `[0, min(cap, base·2ⁿ)]`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(200),
            cap: Duration::from_secs(20),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0 = the first retry), given a uniform random
    /// number in `[0, 1)`. `None` once the attempts are used up.
    pub fn delay(&self, attempt: u32, unit_random: f64) -> Option<Duration> {
        if attempt + 1 >= self.max_attempts {
            return None;
        }
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(30)))
            .min(self.cap);
        Some(exp.mul_f64(unit_random.clamp(0.0, 1.0)))
    }

    /// As [`Backoff::delay`], with the thread's random generator.
    pub fn jittered(&self, attempt: u32) -> Option<Duration> {
        self.delay(attempt, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_and_stops() {
        let b = Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(1000),
            max_attempts: 6,
        };
        assert_eq!(b.delay(0, 1.0), Some(Duration::from_millis(100)));
        assert_eq!(b.delay(2, 1.0), Some(Duration::from_millis(400)));
        assert_eq!(b.delay(4, 1.0), Some(Duration::from_millis(1000)));
        assert_eq!(b.delay(1, 0.5), Some(Duration::from_millis(100)));
        assert_eq!(b.delay(5, 1.0), None);
        assert!(b.jittered(0).unwrap() <= Duration::from_millis(100));
    }
}
