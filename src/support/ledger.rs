//! The support bookkeeping that keeps roll-ups exact under incremental updates: the newest
//! facts of every ticket and survey seen, and the Gorgias customer merges, with the set of
//! customers each change affects.
//!
//! Pure and in memory; the store's support tables (`store/support.rs`) keep the same rules
//! in SQL, and the property tests here pin them: refreshing only the affected customers
//! after each change gives the same roll-ups as building them from scratch. Rules:
//! - a ticket read again replaces the older version; a version older than the one kept (an
//!   overlap re-read) is ignored;
//! - a survey, once scored, never goes back to unscored;
//! - a survey counts for the customer of its ticket when the ticket is known (tickets move
//!   with merges), else for its own customer;
//! - after `Merge { from, into }`, every ticket of `from` (and any read later) counts for
//!   `into` (following chains).

use super::facts::{SurveyFacts, TicketFacts};
use super::rollup::{Rollup, rollup};
use crate::domain::GorgiasId;
use crate::mappings::Include;
use std::collections::{BTreeMap, BTreeSet};

/// Longest merge chain followed (a loop is never recorded, this only bounds bad data).
const MAX_HOPS: usize = 64;

/// One change read from the Gorgias feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Ticket(TicketFacts),
    Survey(SurveyFacts),
    /// Customer `from` was merged into `into` in Gorgias.
    Merge {
        from: GorgiasId,
        into: GorgiasId,
    },
}

/// The facts kept, and the merges followed.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    tickets: BTreeMap<i64, TicketFacts>,
    surveys: BTreeMap<i64, SurveyFacts>,
    /// Gorgias customer ids (as the facts carry them): merged away → survivor.
    merged: BTreeMap<i64, i64>,
}

impl Ledger {
    /// The customer `c` now lives as (itself, or the end of its merge chain).
    pub fn resolve(&self, c: i64) -> i64 {
        let mut cur = c;
        for _ in 0..MAX_HOPS {
            match self.merged.get(&cur) {
                Some(n) => cur = *n,
                None => break,
            }
        }
        cur
    }

    /// The customer a survey counts for.
    pub fn survey_owner(&self, s: &SurveyFacts) -> i64 {
        match self.tickets.get(&s.ticket_id) {
            Some(t) => t.customer_id,
            None => self.resolve(s.customer_id),
        }
    }

    fn survey_owners_of_ticket(&self, ticket: i64) -> impl Iterator<Item = i64> + '_ {
        self.surveys
            .values()
            .filter(move |s| s.ticket_id == ticket)
            .map(|s| self.survey_owner(s))
    }

    /// Applies one change; returns the customers whose roll-up it may have changed.
    pub fn apply(&mut self, change: Change) -> BTreeSet<i64> {
        let mut affected = BTreeSet::new();
        match change {
            Change::Ticket(mut t) => {
                if self
                    .tickets
                    .get(&t.id)
                    .is_some_and(|old| old.updated_datetime > t.updated_datetime)
                {
                    return affected;
                }
                t.customer_id = self.resolve(t.customer_id);
                affected.extend(self.survey_owners_of_ticket(t.id));
                if let Some(old) = self.tickets.get(&t.id) {
                    affected.insert(old.customer_id);
                }
                affected.insert(t.customer_id);
                self.tickets.insert(t.id, t);
            }
            Change::Survey(s) => {
                if self
                    .surveys
                    .get(&s.id)
                    .is_some_and(|old| old.score.is_some() && s.score.is_none())
                {
                    return affected;
                }
                if let Some(old) = self.surveys.get(&s.id) {
                    affected.insert(self.survey_owner(old));
                }
                affected.insert(self.survey_owner(&s));
                self.surveys.insert(s.id, s);
            }
            Change::Merge { from, into } => {
                let (from, into) = (from.get(), self.resolve(into.get()));
                if into == from || self.merged.contains_key(&from) {
                    return affected;
                }
                self.merged.insert(from, into);
                for t in self.tickets.values_mut() {
                    if t.customer_id == from {
                        t.customer_id = into;
                    }
                }
                affected.extend([from, into]);
            }
        }
        affected
    }

    /// The roll-up of customer `c` (its tickets and the surveys it owns).
    pub fn rollup(&self, c: i64, include: Include) -> Rollup {
        rollup(
            self.tickets.values().filter(|t| t.customer_id == c),
            self.surveys.values().filter(|s| self.survey_owner(s) == c),
            include,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::rollup::tests::{at, survey, ticket};
    use proptest::prelude::*;

    const CUSTOMERS: i64 = 6;
    const INCLUDES: [Include; 2] = [
        Include {
            spam: false,
            trashed: false,
        },
        Include {
            spam: true,
            trashed: true,
        },
    ];

    fn gid(n: i64) -> GorgiasId {
        GorgiasId::new(n).unwrap()
    }

    /// An event as generated: the step index is its time, so later events are newer.
    #[derive(Debug, Clone)]
    enum Ev {
        Ticket {
            id: i64,
            customer: i64,
            status: u8,
            spam: bool,
            trashed: bool,
        },
        Survey {
            id: i64,
            ticket: i64,
            customer: i64,
            score: Option<u8>,
        },
        Merge {
            from: i64,
            into: i64,
        },
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            4 => (1..12i64, 1..=CUSTOMERS, 0..3u8, prop::bool::weighted(0.15), prop::bool::weighted(0.15))
                .prop_map(|(id, customer, status, spam, trashed)| Ev::Ticket { id, customer, status, spam, trashed }),
            2 => (1..8i64, 1..12i64, 1..=CUSTOMERS, prop::option::of(0..7u8))
                .prop_map(|(id, ticket, customer, score)| Ev::Survey { id, ticket, customer, score }),
            1 => (1..CUSTOMERS, 1..=CUSTOMERS).prop_map(|(from, into)| Ev::Merge { from, into }),
        ]
    }

    fn change(step: i64, e: &Ev) -> Change {
        match *e {
            Ev::Ticket {
                id,
                customer,
                status,
                spam,
                trashed,
            } => {
                let mut t = ticket(id, customer, id);
                t.updated_datetime = at(step);
                t.status = ["open", "closed", "snoozed"][usize::from(status)].into();
                if t.status == "closed" {
                    t.closed_datetime = Some(at(step));
                }
                t.last_message_datetime = Some(at(step));
                t.spam = spam;
                t.trashed = trashed;
                Change::Ticket(t)
            }
            Ev::Survey {
                id,
                ticket,
                customer,
                score,
            } => Change::Survey(survey(id, ticket, customer, score, step)),
            Ev::Merge { from, into } => Change::Merge {
                from: gid(from),
                into: gid(into),
            },
        }
    }

    /// From scratch, independently of [`Ledger::apply`]: the last version of each ticket and
    /// survey (a scored survey never unscored), customers resolved through the final merges.
    fn from_scratch(changes: &[Change]) -> BTreeMap<(i64, Include), Rollup> {
        let mut merged: BTreeMap<i64, i64> = BTreeMap::new();
        let mut tickets: BTreeMap<i64, TicketFacts> = BTreeMap::new();
        let mut surveys: BTreeMap<i64, SurveyFacts> = BTreeMap::new();
        let resolve = |m: &BTreeMap<i64, i64>, mut c: i64| {
            while let Some(n) = m.get(&c) {
                c = *n;
            }
            c
        };
        for c in changes {
            match c {
                Change::Ticket(t) => {
                    tickets.insert(t.id, t.clone());
                }
                Change::Survey(s) => {
                    let keep_old =
                        surveys.get(&s.id).is_some_and(|o| o.score.is_some()) && s.score.is_none();
                    if !keep_old {
                        surveys.insert(s.id, s.clone());
                    }
                }
                Change::Merge { from, into } => {
                    let (from, into) = (from.get(), resolve(&merged, into.get()));
                    if into != from && !merged.contains_key(&from) {
                        merged.insert(from, into);
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        for c in 1..=CUSTOMERS {
            let mine: Vec<&TicketFacts> = tickets
                .values()
                .filter(|t| resolve(&merged, t.customer_id) == c)
                .collect();
            let owned: Vec<&SurveyFacts> = surveys
                .values()
                .filter(|s| {
                    let owner = tickets
                        .get(&s.ticket_id)
                        .map_or(s.customer_id, |t| t.customer_id);
                    resolve(&merged, owner) == c
                })
                .collect();
            for inc in INCLUDES {
                out.insert(
                    (c, inc),
                    rollup(mine.iter().copied(), owned.iter().copied(), inc),
                );
            }
        }
        out
    }

    proptest! {
        #[test]
        fn refreshing_only_affected_customers_equals_from_scratch(evs in prop::collection::vec(ev(), 0..60)) {
            let changes: Vec<Change> = evs.iter().enumerate().map(|(i, e)| change(i as i64, e)).collect();
            let mut ledger = Ledger::default();
            let mut cached: BTreeMap<(i64, Include), Rollup> = BTreeMap::new();
            for c in 1..=CUSTOMERS {
                for inc in INCLUDES {
                    cached.insert((c, inc), Rollup::default());
                }
            }
            for c in &changes {
                for who in ledger.apply(c.clone()) {
                    for inc in INCLUDES {
                        cached.insert((who, inc), ledger.rollup(who, inc));
                    }
                }
            }
            prop_assert_eq!(cached, from_scratch(&changes));
        }
    }

    #[test]
    fn an_older_version_read_again_is_ignored() {
        let mut l = Ledger::default();
        let mut newer = ticket(1, 1, 0);
        newer.updated_datetime = at(10);
        newer.status = "closed".into();
        l.apply(Change::Ticket(newer));
        let older = ticket(1, 1, 0);
        assert!(l.apply(Change::Ticket(older)).is_empty());
        assert_eq!(l.rollup(1, Include::default()).open_count, 0);
    }

    #[test]
    fn a_merged_customers_tickets_count_for_the_survivor() {
        let mut l = Ledger::default();
        l.apply(Change::Ticket(ticket(1, 1, 0)));
        l.apply(Change::Ticket(ticket(2, 2, 1)));
        l.apply(Change::Survey(survey(1, 1, 1, Some(4), 2)));
        let affected = l.apply(Change::Merge {
            from: gid(1),
            into: gid(2),
        });
        assert_eq!(affected, BTreeSet::from([1, 2]));
        let r = l.rollup(2, Include::default());
        assert_eq!((r.count, r.csat_count), (2, 1));
        assert_eq!(l.rollup(1, Include::default()), Rollup::default());
        // A ticket read later under the merged-away id counts for the survivor too.
        l.apply(Change::Ticket(ticket(3, 1, 5)));
        assert_eq!(l.rollup(2, Include::default()).count, 3);
    }
}
