//! Deciding one field of a linked pair: direction, three-way diff and the conflict policy
//! (`hubspot`, `gorgias`, `newest`, `manual`) or a reviewer's decision.
//!
//! Pure. Must never write anything or look at the clock: `newest` compares the records'
//! `updated_at`, HubSpot winning a tie, so the result is the same on every run.

use super::diff::{Change, classify};
use crate::domain::System;
use crate::mappings::{ConflictPolicy, Direction};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Changed on HubSpot since the base; copied to Gorgias.
    ChangedInHubspot,
    /// Changed on Gorgias since the base; copied to HubSpot.
    ChangedInGorgias,
    /// Both changed; the field's policy chose the winner.
    ConflictPolicy,
    /// A reviewer chose the winner.
    ReviewDecision,
    /// A one-way field: the source side is copied whenever the sides differ.
    OneWay,
}

/// What to do with one field of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'v> {
    /// Nothing: sides and base agree.
    Nothing,
    /// No write; the base becomes this value.
    Base(Option<&'v str>),
    /// Write `value` to `to`; the base becomes `value`.
    Write {
        to: System,
        value: Option<&'v str>,
        cause: Cause,
        winner_note: &'static str,
    },
    /// Both changed under `manual`: held for review, no write, base unchanged.
    Held,
}

/// Inputs of one field decision (canonical values, `None` = empty).
#[derive(Debug, Clone, Copy)]
pub struct FieldState<'v> {
    pub hubspot: Option<&'v str>,
    pub gorgias: Option<&'v str>,
    pub base: Option<&'v str>,
    pub hubspot_updated: DateTime<Utc>,
    pub gorgias_updated: DateTime<Utc>,
}

/// The winner of a conflict under `policy`; `None` means held for review.
pub fn winner(
    policy: ConflictPolicy,
    hubspot_updated: DateTime<Utc>,
    gorgias_updated: DateTime<Utc>,
) -> Option<System> {
    match policy {
        ConflictPolicy::Hubspot => Some(System::Hubspot),
        ConflictPolicy::Gorgias => Some(System::Gorgias),
        ConflictPolicy::Newest if gorgias_updated > hubspot_updated => Some(System::Gorgias),
        ConflictPolicy::Newest => Some(System::Hubspot),
        ConflictPolicy::Manual => None,
    }
}

fn write_from<'v>(
    winner: System,
    s: &FieldState<'v>,
    cause: Cause,
    note: &'static str,
) -> Decision<'v> {
    match winner {
        System::Hubspot => Decision::Write {
            to: System::Gorgias,
            value: s.hubspot,
            cause,
            winner_note: note,
        },
        System::Gorgias => Decision::Write {
            to: System::Hubspot,
            value: s.gorgias,
            cause,
            winner_note: note,
        },
    }
}

/// Decides one field.
pub fn decide<'v>(
    direction: Direction,
    policy: ConflictPolicy,
    review: Option<System>,
    s: &FieldState<'v>,
) -> Decision<'v> {
    let source = match direction {
        Direction::ToGorgias => Some(System::Hubspot),
        Direction::ToHubspot => Some(System::Gorgias),
        Direction::Both => None,
    };
    if let Some(src) = source {
        let (from, to) = match src {
            System::Hubspot => (s.hubspot, s.gorgias),
            System::Gorgias => (s.gorgias, s.hubspot),
        };
        return if from != to {
            write_from(src, s, Cause::OneWay, "one-way field")
        } else if from != s.base {
            Decision::Base(from)
        } else {
            Decision::Nothing
        };
    }
    match classify(s.hubspot, s.gorgias, s.base) {
        Change::Unchanged => Decision::Nothing,
        Change::Agreed => Decision::Base(s.hubspot),
        _ if review.is_some() => write_from(
            review.unwrap_or(System::Hubspot),
            s,
            Cause::ReviewDecision,
            "reviewer's choice",
        ),
        Change::HubspotChanged => write_from(
            System::Hubspot,
            s,
            Cause::ChangedInHubspot,
            "changed in HubSpot",
        ),
        Change::GorgiasChanged => write_from(
            System::Gorgias,
            s,
            Cause::ChangedInGorgias,
            "changed in Gorgias",
        ),
        Change::BothChanged => match winner(policy, s.hubspot_updated, s.gorgias_updated) {
            None => Decision::Held,
            Some(w) => {
                let note = match (policy, w) {
                    (ConflictPolicy::Newest, System::Hubspot) => {
                        "both changed; HubSpot record is newer (or same age)"
                    }
                    (ConflictPolicy::Newest, System::Gorgias) => {
                        "both changed; Gorgias record is newer"
                    }
                    (_, System::Hubspot) => "both changed; policy: HubSpot wins",
                    (_, System::Gorgias) => "both changed; policy: Gorgias wins",
                };
                write_from(w, s, Cause::ConflictPolicy, note)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st<'v>(
        h: Option<&'v str>,
        g: Option<&'v str>,
        b: Option<&'v str>,
        hs: i64,
        gs: i64,
    ) -> FieldState<'v> {
        FieldState {
            hubspot: h,
            gorgias: g,
            base: b,
            hubspot_updated: DateTime::from_timestamp(hs, 0).unwrap(),
            gorgias_updated: DateTime::from_timestamp(gs, 0).unwrap(),
        }
    }

    #[test]
    fn one_sided_changes_propagate() {
        let d = decide(
            Direction::Both,
            ConflictPolicy::Manual,
            None,
            &st(Some("b"), Some("a"), Some("a"), 0, 0),
        );
        assert!(matches!(
            d,
            Decision::Write {
                to: System::Gorgias,
                value: Some("b"),
                cause: Cause::ChangedInHubspot,
                ..
            }
        ));
        let d = decide(
            Direction::Both,
            ConflictPolicy::Manual,
            None,
            &st(Some("a"), None, Some("a"), 0, 0),
        );
        assert!(
            matches!(
                d,
                Decision::Write {
                    to: System::Hubspot,
                    value: None,
                    ..
                }
            ),
            "a clear propagates"
        );
    }

    #[test]
    fn policies_pick_winners() {
        let s = st(Some("h"), Some("g"), Some("b"), 10, 20);
        let to = |p| match decide(Direction::Both, p, None, &s) {
            Decision::Write { to, .. } => Some(to),
            _ => None,
        };
        assert_eq!(to(ConflictPolicy::Hubspot), Some(System::Gorgias));
        assert_eq!(to(ConflictPolicy::Gorgias), Some(System::Hubspot));
        assert_eq!(
            to(ConflictPolicy::Newest),
            Some(System::Hubspot),
            "gorgias newer writes hubspot"
        );
        assert_eq!(
            decide(Direction::Both, ConflictPolicy::Manual, None, &s),
            Decision::Held
        );
        let tie = st(Some("h"), Some("g"), None, 5, 5);
        assert!(matches!(
            decide(Direction::Both, ConflictPolicy::Newest, None, &tie),
            Decision::Write {
                to: System::Gorgias,
                ..
            }
        ));
        let d = decide(
            Direction::Both,
            ConflictPolicy::Manual,
            Some(System::Gorgias),
            &s,
        );
        assert!(matches!(
            d,
            Decision::Write {
                to: System::Hubspot,
                value: Some("g"),
                cause: Cause::ReviewDecision,
                ..
            }
        ));
    }

    #[test]
    fn agreement_moves_only_the_base_and_one_way_mirrors() {
        assert_eq!(
            decide(
                Direction::Both,
                ConflictPolicy::Manual,
                None,
                &st(Some("x"), Some("x"), Some("a"), 0, 0)
            ),
            Decision::Base(Some("x"))
        );
        assert_eq!(
            decide(
                Direction::Both,
                ConflictPolicy::Manual,
                None,
                &st(Some("x"), Some("x"), Some("x"), 0, 0)
            ),
            Decision::Nothing
        );
        let d = decide(
            Direction::ToGorgias,
            ConflictPolicy::Manual,
            None,
            &st(Some("h"), Some("g"), Some("g"), 0, 0),
        );
        assert!(matches!(
            d,
            Decision::Write {
                to: System::Gorgias,
                value: Some("h"),
                cause: Cause::OneWay,
                ..
            }
        ));
        assert_eq!(
            decide(
                Direction::ToHubspot,
                ConflictPolicy::Manual,
                None,
                &st(Some("g"), Some("g"), None, 0, 0)
            ),
            Decision::Base(Some("g"))
        );
    }
}
