//! One customer's support roll-up: counts, newest datetimes, the newest ticket, and the
//! satisfaction scores, worked out from the customer's ticket and survey facts.
//!
//! Pure and order-independent (the same facts in any order give the same roll-up), so an
//! aggregate recomputed from the store's rows after an incremental update equals one built
//! from scratch. Must never decide what to write: that is [`super::writes`].

use super::facts::{SurveyFacts, TicketFacts};
use crate::mappings::{ComputedSource, Include};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeSet;

/// The newest ticket (by creation, then id) of a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastTicket {
    pub id: i64,
    pub created: DateTime<Utc>,
    /// Empty when Gorgias sent none (as the two below).
    pub subject: String,
    pub channel: String,
    pub status: String,
}

/// The order of scored surveys: when scored, then the survey id.
pub type ScoreKey = (Option<DateTime<Utc>>, i64);

/// One customer's aggregates for one [`Include`] setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollup {
    pub count: u64,
    pub open_count: u64,
    pub last_created: Option<DateTime<Utc>>,
    pub last_message: Option<DateTime<Utc>>,
    pub last_closed: Option<DateTime<Utc>>,
    pub last_ticket: Option<LastTicket>,
    /// Scored surveys counted.
    pub csat_count: u64,
    pub csat_sum: u64,
    /// The score of the most recently scored survey: ((scored at, survey id), score).
    pub csat_last: Option<(ScoreKey, u8)>,
}

/// Whether a ticket counts under `include` (spam and trashed are left out by default).
pub fn counts(t: &TicketFacts, include: Include) -> bool {
    (include.spam || !t.spam) && (include.trashed || !t.trashed)
}

/// The roll-up of one customer's `tickets` and `surveys`. A survey whose ticket is among
/// `tickets` but does not count (spam, trashed) does not count either.
pub fn rollup<'a>(
    tickets: impl IntoIterator<Item = &'a TicketFacts>,
    surveys: impl IntoIterator<Item = &'a SurveyFacts>,
    include: Include,
) -> Rollup {
    let mut r = Rollup::default();
    let mut left_out = BTreeSet::new();
    for t in tickets {
        if !counts(t, include) {
            left_out.insert(t.id);
            continue;
        }
        r.count += 1;
        if t.is_open() {
            r.open_count += 1;
        }
        r.last_created = r.last_created.max(Some(t.created_datetime));
        r.last_message = r.last_message.max(t.last_message_datetime);
        r.last_closed = r.last_closed.max(t.closed_datetime);
        let newer = r
            .last_ticket
            .as_ref()
            .is_none_or(|l| (t.created_datetime, t.id) > (l.created, l.id));
        if newer {
            r.last_ticket = Some(LastTicket {
                id: t.id,
                created: t.created_datetime,
                subject: t.subject.clone(),
                channel: t.channel.clone(),
                status: t.status.clone(),
            });
        }
    }
    for s in surveys {
        let Some(score) = s.valid_score() else {
            continue;
        };
        if left_out.contains(&s.ticket_id) {
            continue;
        }
        r.csat_count += 1;
        r.csat_sum += u64::from(score);
        let key = (s.scored_datetime, s.id);
        if r.csat_last.as_ref().is_none_or(|(k, _)| key > *k) {
            r.csat_last = Some((key, score));
        }
    }
    r
}

/// A datetime in the canonical form of datetime fields (RFC 3339 UTC, milliseconds).
pub fn canonical_datetime(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `n / 100` as a canonical number: no trailing zeros (`450` → `"4.5"`, `400` → `"4"`).
fn hundredths(n: u64) -> String {
    let (whole, frac) = (n / 100, n % 100);
    match frac {
        0 => whole.to_string(),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    }
}

impl Rollup {
    /// The canonical value of `source` (`None`: nothing to show, the property is cleared).
    /// `app_base` is the Gorgias app's base URL (`https://acme.gorgias.com`), for links.
    pub fn value(&self, source: ComputedSource, app_base: &str) -> Option<String> {
        use ComputedSource as S;
        let last = self.last_ticket.as_ref();
        match source {
            S::TicketsCount => Some(self.count.to_string()),
            S::TicketsOpenCount => Some(self.open_count.to_string()),
            S::TicketsLastCreatedDatetime => self.last_created.map(canonical_datetime),
            S::TicketsLastMessageDatetime => self.last_message.map(canonical_datetime),
            S::TicketsLastClosedDatetime => self.last_closed.map(canonical_datetime),
            S::TicketsLastSubject => last.map(|l| l.subject.clone()).filter(|v| !v.is_empty()),
            S::TicketsLastChannel => last.map(|l| l.channel.clone()).filter(|v| !v.is_empty()),
            S::TicketsLastStatus => last.map(|l| l.status.clone()).filter(|v| !v.is_empty()),
            S::TicketsLastUrl => {
                last.map(|l| format!("{}/app/ticket/{}", app_base.trim_end_matches('/'), l.id))
            }
            S::SatisfactionCount => Some(self.csat_count.to_string()),
            S::SatisfactionLastScore => self.csat_last.as_ref().map(|(_, s)| s.to_string()),
            S::SatisfactionAverageScore => (self.csat_count > 0).then(|| {
                // Rounded half up to two decimals, in integers (no float drift).
                let n = self.csat_count;
                hundredths((self.csat_sum * 200 + n) / (2 * n))
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub fn at(min: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + min * 60, 0).unwrap()
    }

    pub fn ticket(id: i64, customer: i64, created: i64) -> TicketFacts {
        TicketFacts {
            id,
            customer_id: customer,
            status: "open".into(),
            channel: "email".into(),
            subject: format!("ticket {id}"),
            created_datetime: at(created),
            updated_datetime: at(created),
            closed_datetime: None,
            last_message_datetime: Some(at(created)),
            spam: false,
            trashed: false,
            messages_count: 1,
        }
    }

    pub fn survey(
        id: i64,
        ticket: i64,
        customer: i64,
        score: Option<u8>,
        at_min: i64,
    ) -> SurveyFacts {
        SurveyFacts {
            id,
            ticket_id: ticket,
            customer_id: customer,
            score,
            scored_datetime: score.map(|_| at(at_min)),
            created_datetime: Some(at(at_min)),
        }
    }

    #[test]
    fn counts_newest_and_scores() {
        let mut closed = ticket(2, 1, 20);
        closed.status = "closed".into();
        closed.closed_datetime = Some(at(30));
        let mut spam = ticket(3, 1, 40);
        spam.spam = true;
        let mut trashed = ticket(4, 1, 50);
        trashed.trashed = true;
        let tickets = [ticket(1, 1, 10), closed, spam, trashed];
        let surveys = [
            survey(1, 1, 1, Some(5), 60),
            survey(2, 2, 1, Some(2), 70),
            survey(3, 3, 1, Some(1), 80), // on a spam ticket: left out by default
            survey(4, 4, 1, None, 0),
        ];
        let r = rollup(&tickets, &surveys, Include::default());
        let v = |s| r.value(s, "https://acme.gorgias.com/");
        use ComputedSource as S;
        assert_eq!(v(S::TicketsCount).as_deref(), Some("2"));
        assert_eq!(v(S::TicketsOpenCount).as_deref(), Some("1"));
        assert_eq!(
            v(S::TicketsLastCreatedDatetime),
            Some(canonical_datetime(at(20)))
        );
        assert_eq!(
            v(S::TicketsLastClosedDatetime),
            Some(canonical_datetime(at(30)))
        );
        assert_eq!(v(S::TicketsLastStatus).as_deref(), Some("closed"));
        assert_eq!(v(S::TicketsLastSubject).as_deref(), Some("ticket 2"));
        assert_eq!(v(S::TicketsLastChannel).as_deref(), Some("email"));
        assert_eq!(
            v(S::TicketsLastUrl).as_deref(),
            Some("https://acme.gorgias.com/app/ticket/2")
        );
        assert_eq!(v(S::SatisfactionCount).as_deref(), Some("2"));
        assert_eq!(v(S::SatisfactionLastScore).as_deref(), Some("2"));
        assert_eq!(v(S::SatisfactionAverageScore).as_deref(), Some("3.5"));

        let all = rollup(
            &tickets,
            &surveys,
            Include {
                spam: true,
                trashed: true,
            },
        );
        assert_eq!((all.count, all.open_count, all.csat_count), (4, 3, 3));
        assert_eq!(
            all.value(S::SatisfactionAverageScore, "").as_deref(),
            Some("2.67")
        );
        assert_eq!(
            all.value(S::SatisfactionLastScore, "").as_deref(),
            Some("1")
        );
    }

    #[test]
    fn a_customer_without_tickets_has_zero_counts_and_no_other_values() {
        let r = rollup([], [], Include::default());
        for s in ComputedSource::ALL {
            let v = r.value(s, "https://x.gorgias.com");
            match s {
                ComputedSource::TicketsCount
                | ComputedSource::TicketsOpenCount
                | ComputedSource::SatisfactionCount => assert_eq!(v.as_deref(), Some("0")),
                _ => assert_eq!(v, None, "{s:?}"),
            }
        }
    }

    #[test]
    fn averages_round_half_up_without_trailing_zeros() {
        assert_eq!(hundredths(400), "4");
        assert_eq!(hundredths(450), "4.5");
        assert_eq!(hundredths(467), "4.67");
        assert_eq!(hundredths(405), "4.05");
        let r = Rollup {
            csat_count: 3,
            csat_sum: 13,
            ..Rollup::default()
        };
        // 13 / 3 = 4.333…
        assert_eq!(
            r.value(ComputedSource::SatisfactionAverageScore, "")
                .as_deref(),
            Some("4.33")
        );
        let r = Rollup {
            csat_count: 8,
            csat_sum: 31,
            ..Rollup::default()
        };
        // 31 / 8 = 3.875 → 3.88
        assert_eq!(
            r.value(ComputedSource::SatisfactionAverageScore, "")
                .as_deref(),
            Some("3.88")
        );
    }
}
