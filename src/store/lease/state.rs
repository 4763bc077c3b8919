//! The writer lease's pure core: what a reply from the database means, when to renew, until
//! when the lease is certainly ours, and whether a fenced write may go on.
//!
//! Owns the lease's states and their transitions as plain values. Must never run SQL, read a
//! clock or sleep: the shell in `lease.rs` passes every `Instant` in, which is what lets these
//! rules be tested without a database.

use serde::Serialize;
use std::time::{Duration, Instant};

/// Who holds the lease, as its row says: for refusals, logs and `tether status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeaseHolder {
    pub pid: i64,
    pub host: String,
    pub epoch: i64,
    /// When this holder took the lease (RFC 3339, the database's clock), or `unknown`.
    pub since: String,
    /// Until when the lease is the holder's without a renewal (the database's clock).
    pub expires_at: String,
}

impl std::fmt::Display for LeaseHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {} on host {} (epoch {}, since {}, lease valid until {})",
            self.pid, self.host, self.epoch, self.since, self.expires_at
        )
    }
}

/// What this process is for its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Not holding the lease: writes nothing, waits to acquire.
    Standby,
    /// Holding the lease: the one writer.
    Leader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standby => "standby",
            Role::Leader => "leader",
        }
    }
}

/// The lease as this process knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Not holding it.
    Standby,
    /// Holding `epoch`; certainly ours until `valid_until` on this process's monotonic clock
    /// (which keeps running while the process is stopped, so a resumed process sees its
    /// deadline passed).
    Held { epoch: i64, valid_until: Instant },
}

impl LeaseState {
    pub fn role(self) -> Role {
        match self {
            LeaseState::Standby => Role::Standby,
            LeaseState::Held { .. } => Role::Leader,
        }
    }

    /// The epoch held, if any.
    pub fn epoch(self) -> Option<i64> {
        match self {
            LeaseState::Standby => None,
            LeaseState::Held { epoch, .. } => Some(epoch),
        }
    }

    /// Whether the lease is certainly ours at `now`: held, and its local deadline not passed.
    /// A holder whose renewals have failed (the database unreachable) stays `Held` until a
    /// renewal says otherwise, but is no longer certain, so it sends nothing outside.
    pub fn is_valid_at(self, now: Instant) -> bool {
        matches!(self, LeaseState::Held { valid_until, .. } if now < valid_until)
    }
}

/// What the database answered to one lease statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The acquiring upsert returned the row: ours, at this epoch.
    Acquired { epoch: i64 },
    /// The row belongs to another live holder (or a takeover could not get the row's lock in
    /// time: tried again later).
    HeldElsewhere,
    /// The renewal updated our row.
    Renewed,
    /// The renewal matched no row: another process took the lease over.
    NotRenewed,
}

/// How a reply changed the role, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Same role and epoch as before.
    Unchanged,
    /// This process became the leader at `epoch`.
    Gained { epoch: i64 },
    /// This process was the leader at `epoch` and is not any more.
    Lost { epoch: i64 },
}

/// The margin kept off the lease's end: the database's clock and this process's monotonic
/// clock run at the same rate give or take parts per million, so a tenth of the lease is
/// ample.
pub fn safety_margin(ttl: Duration) -> Duration {
    ttl / 10
}

/// Until when a lease whose statement was sent at `sent_at` is certainly ours. The database
/// sets `expires_at = now() + ttl` with its `now()` taken after the statement was sent, and
/// nobody takes a lease over before `expires_at`, so the lease lasts at least `ttl` past
/// `sent_at` (less the margin).
pub fn valid_until(sent_at: Instant, ttl: Duration) -> Instant {
    sent_at + ttl - safety_margin(ttl)
}

/// How often the keeper renews (or, on a standby, tries to acquire): three chances per lease.
pub fn renew_every(ttl: Duration) -> Duration {
    ttl / 3
}

/// How long an acquiring upsert waits for the row's lock (held while the leader's fenced
/// write transactions are in flight) before giving up until the next try.
pub fn lock_wait(ttl: Duration) -> Duration {
    renew_every(ttl)
}

/// How long a fenced write transaction may sit idle (its process stopped or cut off) before
/// the server ends it and rolls it back, releasing the lease row so a takeover can proceed.
pub fn idle_cutoff(ttl: Duration) -> Duration {
    ttl
}

/// What the keeper does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Renew { epoch: i64 },
    Acquire,
}

pub fn next_step(state: LeaseState) -> Step {
    match state {
        LeaseState::Held { epoch, .. } => Step::Renew { epoch },
        LeaseState::Standby => Step::Acquire,
    }
}

/// The state after `reply` to a statement sent at `sent_at`, and how the role changed.
pub fn apply(
    state: LeaseState,
    reply: &Reply,
    sent_at: Instant,
    ttl: Duration,
) -> (LeaseState, Change) {
    let lost = |s: LeaseState| match s.epoch() {
        Some(epoch) => Change::Lost { epoch },
        None => Change::Unchanged,
    };
    match (reply, state) {
        (Reply::Acquired { epoch }, _) => {
            let change = if state.epoch() == Some(*epoch) {
                Change::Unchanged
            } else {
                Change::Gained { epoch: *epoch }
            };
            let next = LeaseState::Held {
                epoch: *epoch,
                valid_until: valid_until(sent_at, ttl),
            };
            (next, change)
        }
        (Reply::HeldElsewhere | Reply::NotRenewed, s) => (LeaseState::Standby, lost(s)),
        (Reply::Renewed, LeaseState::Held { epoch, .. }) => (
            LeaseState::Held {
                epoch,
                valid_until: valid_until(sent_at, ttl),
            },
            Change::Unchanged,
        ),
        // A renewal this process did not ask for as a holder changes nothing.
        (Reply::Renewed, LeaseState::Standby) => (LeaseState::Standby, Change::Unchanged),
    }
}

/// Why a fenced write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// The lease's epoch now (`None`: no lease row at all).
    pub epoch_now: Option<i64>,
    /// The epoch this process holds (`None`: it holds none).
    pub mine: Option<i64>,
}

/// Whether a write transaction may go on, given the lease row it read under lock
/// (`(epoch, holder token)`), this process's token and the epoch it believes it holds.
pub fn fence_verdict(
    row: Option<(i64, Option<&str>)>,
    me: &str,
    mine: Option<i64>,
) -> Result<i64, Refusal> {
    match (row, mine) {
        (Some((epoch, Some(holder))), Some(m)) if epoch == m && holder == me => Ok(epoch),
        (row, mine) => Err(Refusal {
            epoch_now: row.map(|(e, _)| e),
            mine,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(15);

    fn held(epoch: i64, at: Instant) -> LeaseState {
        LeaseState::Held {
            epoch,
            valid_until: valid_until(at, TTL),
        }
    }

    #[test]
    fn an_acquired_lease_is_valid_until_the_ttl_less_the_margin() {
        let t0 = Instant::now();
        let (s, change) = apply(LeaseState::Standby, &Reply::Acquired { epoch: 7 }, t0, TTL);
        assert_eq!(change, Change::Gained { epoch: 7 });
        assert_eq!(s.role(), Role::Leader);
        assert_eq!(s.epoch(), Some(7));
        assert!(s.is_valid_at(t0));
        assert!(s.is_valid_at(t0 + Duration::from_millis(13_499)));
        assert!(!s.is_valid_at(t0 + Duration::from_millis(13_500)));
        assert!(!s.is_valid_at(t0 + TTL));
    }

    #[test]
    fn a_renewal_extends_from_when_it_was_sent() {
        let t0 = Instant::now();
        let s = held(3, t0);
        let later = t0 + Duration::from_secs(5);
        let (s2, change) = apply(s, &Reply::Renewed, later, TTL);
        assert_eq!(change, Change::Unchanged);
        assert_eq!(s2, held(3, later));
        assert!(s2.is_valid_at(t0 + Duration::from_secs(18)));
        // A renewal never turns a standby into a leader.
        let (s3, change) = apply(LeaseState::Standby, &Reply::Renewed, later, TTL);
        assert_eq!((s3, change), (LeaseState::Standby, Change::Unchanged));
    }

    #[test]
    fn a_renewal_matching_no_row_or_a_row_held_elsewhere_loses_the_lease() {
        let t0 = Instant::now();
        for reply in [Reply::NotRenewed, Reply::HeldElsewhere] {
            let (s, change) = apply(held(4, t0), &reply, t0, TTL);
            assert_eq!(s, LeaseState::Standby);
            assert_eq!(change, Change::Lost { epoch: 4 });
            assert!(!s.is_valid_at(t0));
            assert_eq!(s.role(), Role::Standby);
        }
        // A standby that stays one loses nothing.
        let (s, change) = apply(LeaseState::Standby, &Reply::HeldElsewhere, t0, TTL);
        assert_eq!((s, change), (LeaseState::Standby, Change::Unchanged));
    }

    #[test]
    fn reacquiring_the_same_epoch_is_no_change_and_a_new_epoch_is_a_gain() {
        let t0 = Instant::now();
        let (_, same) = apply(held(5, t0), &Reply::Acquired { epoch: 5 }, t0, TTL);
        assert_eq!(same, Change::Unchanged);
        let (_, new) = apply(held(5, t0), &Reply::Acquired { epoch: 6 }, t0, TTL);
        assert_eq!(new, Change::Gained { epoch: 6 });
    }

    #[test]
    fn a_stopped_holder_is_no_longer_certain_when_it_resumes() {
        // The monotonic clock kept running while the process was stopped (SIGSTOP): on
        // resume, its deadline has passed although its state still says held.
        let t0 = Instant::now();
        let s = held(2, t0);
        let resumed = t0 + Duration::from_secs(60);
        assert_eq!(s.role(), Role::Leader);
        assert!(!s.is_valid_at(resumed));
    }

    #[test]
    fn the_keeper_renews_what_it_holds_and_otherwise_tries_to_acquire() {
        let t0 = Instant::now();
        assert_eq!(next_step(held(9, t0)), Step::Renew { epoch: 9 });
        assert_eq!(next_step(LeaseState::Standby), Step::Acquire);
        assert_eq!(renew_every(TTL), Duration::from_secs(5));
        // One failed renewal still leaves time for the next before the local deadline.
        assert!(renew_every(TTL) * 2 < TTL - safety_margin(TTL));
        assert!(lock_wait(TTL) < TTL && idle_cutoff(TTL) <= TTL);
    }

    #[test]
    fn the_fence_passes_only_our_token_at_our_epoch() {
        assert_eq!(fence_verdict(Some((3, Some("me"))), "me", Some(3)), Ok(3));
        let refusals = [
            // Taken over: a higher epoch, another holder.
            (Some((4, Some("other"))), Some(3), Some(4)),
            // Same epoch number but another token (cannot happen with the upsert; refused).
            (Some((3, Some("other"))), Some(3), Some(3)),
            // Ours by token but a later epoch than we think: refused (we lost and regained
            // it in between; the caller must re-read its state).
            (Some((4, Some("me"))), Some(3), Some(4)),
            // No holder recorded.
            (Some((3, None)), Some(3), Some(3)),
            // No lease row at all.
            (None, Some(3), None),
            // This process holds nothing.
            (Some((3, Some("me"))), None, Some(3)),
        ];
        for (row, mine, epoch_now) in refusals {
            assert_eq!(
                fence_verdict(row, "me", mine),
                Err(Refusal { epoch_now, mine }),
                "{row:?} {mine:?}"
            );
        }
    }

    #[test]
    fn roles_read_as_lowercase_words() {
        assert_eq!(serde_json::to_string(&Role::Leader).unwrap(), "\"leader\"");
        assert_eq!(Role::Standby.as_str(), "standby");
        let h = LeaseHolder {
            pid: 42,
            host: "box".into(),
            epoch: 3,
            since: "2026-12-07T10:00:00.000000Z".into(),
            expires_at: "2026-12-07T10:00:15.000000Z".into(),
        };
        let shown = h.to_string();
        for part in ["pid 42", "host box", "epoch 3", "since 2026-12-07T10:00:00"] {
            assert!(shown.contains(part), "{shown}");
        }
    }
}
