//! Seeded synthetic support history for the Gorgias sandbox (`tether demo`, `tether sandbox`):
//! for each customer, zero to a few tickets over the last 90 days (channels, subjects, most
//! closed, some open, the odd spam or trashed one, one to a dozen messages), and a
//! satisfaction survey on most closed tickets, scored or still unanswered. Pure given its
//! seed and `now`: no clock, no I/O.

use crate::generate::xorshift::XorShift;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

const SUBJECTS: &[&str] = &[
    "Where is my order?",
    "Refund request",
    "Wrong size delivered",
    "Change my shipping address",
    "Discount code not working",
    "Package arrived damaged",
    "Cancel my subscription",
    "Question about sizing",
];
const CHANNELS: &[&str] = &[
    "email",
    "email",
    "email",
    "chat",
    "chat",
    "phone",
    "sms",
    "contact_form",
];

/// One generated ticket and the survey it gets, if any (`Some(None)`: sent, not answered).
#[derive(Debug, Clone, PartialEq)]
pub struct SupportSeed {
    /// A ticket body for `GorgiasSandbox::seed_tickets`.
    pub ticket: Value,
    pub survey: Option<Option<u8>>,
}

fn wire(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()
}

/// The support history of `customers` as of `now`, deterministic for a given `seed`.
pub fn history(customers: &[i64], seed: u64, now: DateTime<Utc>) -> Vec<SupportSeed> {
    let mut rng = XorShift::new(seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut out = Vec::new();
    for &customer in customers {
        // 0 tickets for ~40 %, else 1..=4.
        let n = match rng.below(10) {
            0..=3 => 0,
            4..=6 => 1,
            7..=8 => 2,
            _ => 2 + rng.below(3),
        };
        for _ in 0..n {
            let created = now - Duration::minutes(60 + rng.below(90 * 24 * 60) as i64);
            let messages = 1 + rng.below(12);
            let last = created + Duration::minutes(rng.below(3 * 24 * 60) as i64);
            let last = last.min(now);
            let closed = rng.below(10) < 7;
            let spam = rng.below(40) == 0;
            let trashed = !spam && rng.below(30) == 0;
            let closed_at = closed.then(|| (last + Duration::minutes(30)).min(now));
            let updated = closed_at.unwrap_or(last);
            let ticket = json!({
                "customer_id": customer,
                "subject": rng.pick(SUBJECTS),
                "channel": rng.pick(CHANNELS),
                "status": if closed { "closed" } else { "open" },
                "messages_count": messages,
                "spam": spam,
                "created_datetime": wire(created),
                "last_message_datetime": wire(last),
                "updated_datetime": wire(updated),
                "closed_datetime": closed_at.map(wire),
                "trashed_datetime": trashed.then(|| wire(updated)),
            });
            let survey = (closed && !spam && rng.below(10) < 8).then(|| {
                (rng.below(10) < 7).then(|| {
                    // Mostly happy customers: 5 and 4 most often.
                    [5u8, 5, 5, 4, 4, 3, 2, 1][rng.below(8) as usize]
                })
            });
            out.push(SupportSeed { ticket, survey });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_plausible_history() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let customers: Vec<i64> = (1..=200).collect();
        let a = history(&customers, 7, now);
        assert_eq!(a, history(&customers, 7, now));
        assert_ne!(a, history(&customers, 8, now));
        assert!(a.len() > 150 && a.len() < 400, "{}", a.len());
        let closed = a.iter().filter(|s| s.ticket["status"] == "closed").count();
        assert!(closed > a.len() / 2);
        for s in &a {
            let t = &s.ticket;
            let created = t["created_datetime"].as_str().unwrap();
            let updated = t["updated_datetime"].as_str().unwrap();
            assert!(created <= updated && updated <= "2026-12-06T08:00:00.000000+00:00");
            assert_eq!(t["status"] == "closed", t["closed_datetime"].is_string());
            if s.survey.is_some() {
                assert_eq!(t["status"], "closed");
            }
            if let Some(Some(score)) = s.survey {
                assert!((1..=5).contains(&score));
            }
        }
        assert!(
            a.iter().any(|s| s.survey == Some(None)),
            "some surveys unanswered"
        );
    }
}
