//! Client-side request budgets: a sliding-window log per lane (the burst window, and search's
//! per-second limit), tightened from the `X-HubSpot-RateLimit-*` headers and blocked after a
//! 429. Pure over the `Instant` passed in; must never sleep or do I/O.
//!
//! A slot is dated by when its answer came back, not when it was sent: the server counted the
//! call somewhere in between, so a call sent one window after the previous answer is sure to
//! arrive one window after the server counted it, whatever the network jitter. A call still in
//! flight holds its slot.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A taken slot, to hand back to [`WindowBudget::complete`] when the answer arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

#[derive(Debug, Clone, Copy)]
struct Slot {
    ticket: u64,
    /// Send time while in flight, answer time once done.
    at: Instant,
    done: bool,
}

/// At most `limit` calls counted in any `window`.
#[derive(Debug, Clone)]
pub struct WindowBudget {
    limit: u32,
    window: Duration,
    slots: VecDeque<Slot>,
    next: u64,
    blocked_until: Option<Instant>,
}

/// Extra spacing for clock granularity.
const MARGIN: Duration = Duration::from_millis(1);

impl WindowBudget {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            slots: VecDeque::new(),
            next: 0,
            blocked_until: None,
        }
    }

    fn expired(&self, s: &Slot, now: Instant) -> bool {
        s.done && now.saturating_duration_since(s.at) >= self.window + MARGIN
    }

    fn prune(&mut self, now: Instant) {
        let (window, slots) = (self.window, &mut self.slots);
        slots.retain(|s| !(s.done && now.saturating_duration_since(s.at) >= window + MARGIN));
    }

    /// Takes a slot at `now`, or says how long to wait before asking again.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Ticket, Duration> {
        if let Some(b) = self.blocked_until {
            if now < b {
                return Err(b - now);
            }
            self.blocked_until = None;
        }
        self.prune(now);
        if (self.slots.len() as u32) < self.limit {
            let t = self.next;
            self.next += 1;
            self.slots.push_back(Slot {
                ticket: t,
                at: now,
                done: false,
            });
            return Ok(Ticket(t));
        }
        // The earliest a done slot frees up; in-flight slots are polled.
        let poll = (self.window / 50).clamp(Duration::from_millis(1), Duration::from_millis(20));
        let wait = self
            .slots
            .iter()
            .filter(|s| s.done && !self.expired(s, now))
            .map(|s| (s.at + self.window + MARGIN).saturating_duration_since(now))
            .min()
            .unwrap_or(poll);
        Err(wait.max(Duration::from_millis(1)))
    }

    /// Dates a slot by the arrival of its answer (or failure).
    pub fn complete(&mut self, ticket: Ticket, now: Instant) {
        if let Some(s) = self.slots.iter_mut().find(|s| s.ticket == ticket.0) {
            s.at = now;
            s.done = true;
        }
    }

    /// Adapts to the server's view: `Max`, `Interval-Milliseconds` and `Remaining` headers
    /// of a call sent at `sent_at`. When the server counted more calls than this client held
    /// live when it sent that call (another client shares the token), the difference is booked
    /// as answered `now`. (Slots that expired between send and answer are no sign of another
    /// client: the server counted at arrival.)
    pub fn observe(
        &mut self,
        max: Option<u32>,
        interval: Option<Duration>,
        remaining: Option<u32>,
        sent_at: Instant,
        now: Instant,
    ) {
        if let Some(m) = max.filter(|m| *m > 0) {
            self.limit = m;
        }
        if let Some(w) = interval.filter(|w| !w.is_zero()) {
            self.window = w;
        }
        if let Some(r) = remaining {
            let server_used = self.limit.saturating_sub(r) as usize;
            let live_at_send = self
                .slots
                .iter()
                .filter(|s| !self.expired(s, sent_at))
                .count();
            for _ in live_at_send..server_used {
                let t = self.next;
                self.next += 1;
                self.slots.push_back(Slot {
                    ticket: t,
                    at: now,
                    done: true,
                });
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
    fn never_more_than_limit_per_window_counted_from_answers() {
        let mut b = WindowBudget::new(3, Duration::from_millis(1000));
        let t0 = Instant::now();
        let tickets: Vec<Ticket> = (0..3).map(|_| b.try_acquire(t0).unwrap()).collect();
        // All in flight: poll.
        assert!(b.try_acquire(t0).unwrap_err() <= Duration::from_millis(20));
        let answered = t0 + Duration::from_millis(30);
        for t in tickets {
            b.complete(t, answered);
        }
        let wait = b.try_acquire(answered).unwrap_err();
        assert!(wait >= Duration::from_millis(1000), "{wait:?}");
        assert!(
            b.try_acquire(t0 + Duration::from_millis(1000)).is_err(),
            "window runs from the answers"
        );
        assert!(
            b.try_acquire(answered + Duration::from_millis(1001))
                .is_ok()
        );
    }

    #[test]
    fn slots_expiring_during_a_call_are_not_taken_for_another_client() {
        let ms = Duration::from_millis;
        let mut b = WindowBudget::new(2, ms(100));
        let t0 = Instant::now();
        let a = b.try_acquire(t0).unwrap();
        b.complete(a, t0);
        let c = b.try_acquire(t0 + ms(50)).unwrap();
        b.complete(c, t0 + ms(50));
        let sent = t0 + ms(102);
        let d = b.try_acquire(sent).unwrap();
        b.complete(d, t0 + ms(160));
        // The server counted c and d: nothing from anyone else.
        b.observe(None, None, Some(0), sent, t0 + ms(160));
        assert!(b.try_acquire(t0 + ms(160)).is_ok());
        // Three counted while two were ours: one phantom.
        let mut e = WindowBudget::new(3, ms(100));
        let x = e.try_acquire(t0).unwrap();
        e.complete(x, t0 + ms(1));
        let y = e.try_acquire(t0 + ms(2)).unwrap();
        e.complete(y, t0 + ms(3));
        e.observe(None, None, Some(0), t0 + ms(2), t0 + ms(3));
        assert!(e.try_acquire(t0 + ms(4)).is_err());
    }

    #[test]
    fn adapts_to_headers_and_blocks() {
        let mut b = WindowBudget::new(100, Duration::from_secs(10));
        let t0 = Instant::now();
        let t = b.try_acquire(t0).unwrap();
        b.complete(t, t0);
        b.observe(Some(5), Some(Duration::from_secs(1)), Some(1), t0, t0);
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
