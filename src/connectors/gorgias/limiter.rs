//! The client-side leaky bucket and the one Gorgias budget's priorities: pure arithmetic over
//! instants passed in. Models the account's bucket from our own sends and corrects it from the
//! `X-Gorgias-Account-Api-Call-Limit: used/limit` header of each answer. Every call of the
//! client (customer reads, writes and merges, the customer, ticket and survey feeds, the
//! ticket backfill) takes its slot here with a [`Priority`]: a lower priority may only fill
//! the bucket up to a lower level, so the slots above it stay free for the higher ones and a
//! backfill never starves live sync. Must never sleep or read the clock itself.

use std::time::{Duration, Instant};

/// Who is asking for a slot, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Live sync: writes of changes, merges, and the reads planning them. May fill the bucket.
    Live,
    /// Incremental feeds (customers, tickets, surveys changed since the watermark).
    Feed,
    /// Backfills (the first full pass over every ticket).
    Backfill,
}

impl Priority {
    /// The share of the bucket this priority may fill, in tenths.
    fn tenths(self) -> u32 {
        match self {
            Priority::Live => 10,
            Priority::Feed => 9,
            Priority::Backfill => 8,
        }
    }
}

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

    /// The level up to which `p` may fill the bucket: all of it (less the reserve) for live
    /// sync, 90 % for feeds, 80 % for backfills, never less than one slot.
    fn cap_for(&self, p: Priority) -> f64 {
        let full = self.limit.saturating_sub(self.reserve).max(1);
        f64::from((full * p.tenths() / 10).max(1))
    }

    /// Takes one slot for a request of priority `p` now, or says how long to wait before
    /// asking again (nothing is booked then, so a more urgent request arriving meanwhile is
    /// served first).
    pub fn try_acquire(&mut self, now: Instant, p: Priority) -> Result<(), Duration> {
        self.drain(now);
        let over = self.level + 1.0 - self.cap_for(p);
        if over <= 1e-9 {
            self.level += 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(over / self.rate()))
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
            assert_eq!(l.try_acquire(t0, Priority::Live), Ok(()));
        }
        // The 40th waits half a second (2 per second drain); nothing is booked by asking, so
        // it is served once that half second has passed, and the next one waits again.
        assert_eq!(
            l.try_acquire(t0, Priority::Live),
            Err(Duration::from_millis(500))
        );
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(l.try_acquire(t1, Priority::Live), Ok(()));
        assert_eq!(
            l.try_acquire(t1, Priority::Live),
            Err(Duration::from_millis(500))
        );
    }

    #[test]
    fn header_corrects_upwards_only() {
        let mut l = Limiter::new(40, Duration::from_secs(20), 0);
        let t0 = Instant::now();
        l.observe(t0, 40, 40);
        assert!(l.try_acquire(t0, Priority::Live).is_err());
        let mut l = Limiter::new(40, Duration::from_secs(20), 0);
        l.try_acquire(t0, Priority::Live).unwrap();
        l.try_acquire(t0, Priority::Live).unwrap();
        l.observe(t0, 1, 80);
        assert_eq!(l.limit(), 80);
        // level stays 2, not 1.
        for _ in 0..78 {
            assert_eq!(l.try_acquire(t0, Priority::Live), Ok(()));
        }
        assert!(l.try_acquire(t0, Priority::Live).is_err());
        assert_eq!(parse_call_limit(" 10/40"), Some((10, 40)));
        assert_eq!(parse_call_limit("x/40"), None);
        assert_eq!(parse_call_limit("1/0"), None);
    }

    /// A backfill asking for slots without pause fills only its share: feeds and live sync
    /// still find free slots at once, and a feed leaves the last ones to live sync.
    #[test]
    fn a_backfill_leaves_room_for_feeds_and_live_sync() {
        let mut l = Limiter::new(40, Duration::from_secs(20), 1);
        let t0 = Instant::now();
        let mut backfill = 0;
        while l.try_acquire(t0, Priority::Backfill).is_ok() {
            backfill += 1;
        }
        assert_eq!(backfill, 31);
        let mut feed = 0;
        while l.try_acquire(t0, Priority::Feed).is_ok() {
            feed += 1;
        }
        assert_eq!(feed, 4);
        let mut live = 0;
        while l.try_acquire(t0, Priority::Live).is_ok() {
            live += 1;
        }
        assert_eq!(live, 4);
    }

    /// Under contention, step by step in simulated time: every slot the bucket frees goes to
    /// the most urgent waiter, so live requests are served in order while a backfill and a
    /// feed keep asking, the feed before the backfill, and the backfill only once nothing
    /// more urgent waits.
    #[test]
    fn freed_slots_go_to_the_most_urgent_waiter() {
        let mut l = Limiter::new(40, Duration::from_secs(20), 1);
        let mut now = Instant::now();
        while l.try_acquire(now, Priority::Live).is_ok() {}
        // Waiting: 5 live writes, 5 feed pages, 5 backfill pages; each tick every waiter asks
        // once, most urgent first (the order of asking must not matter, so ask backfill first).
        let mut waiting = [
            (Priority::Backfill, 5),
            (Priority::Feed, 5),
            (Priority::Live, 5),
        ];
        let mut served = Vec::new();
        for _ in 0..400 {
            now += Duration::from_millis(100);
            for (p, left) in waiting.iter_mut() {
                if *left > 0 && l.try_acquire(now, *p).is_ok() {
                    *left -= 1;
                    served.push(*p);
                }
            }
        }
        let want: Vec<Priority> = [Priority::Live, Priority::Feed, Priority::Backfill]
            .iter()
            .flat_map(|p| [*p; 5])
            .collect();
        assert_eq!(served, want);
    }
}
