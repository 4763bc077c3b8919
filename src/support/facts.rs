//! The facts tether keeps about one Gorgias ticket and one satisfaction survey: exactly what
//! the roll-ups need, nothing of the messages' content. Plain data, built by the connector's
//! pure decoders (`connectors::gorgias::wire`). Must never do I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One ticket as listed by `GET /api/tickets` (contract `gorgias.md` §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFacts {
    pub id: i64,
    /// The customer the ticket belongs to now (after a merge, the survivor).
    pub customer_id: i64,
    /// `open` or `closed` as Gorgias sends it (lower-cased).
    pub status: String,
    /// `email`, `chat`, `phone`, … as Gorgias sends it; empty when absent.
    pub channel: String,
    /// Empty when absent.
    pub subject: String,
    pub created_datetime: DateTime<Utc>,
    pub updated_datetime: DateTime<Utc>,
    pub closed_datetime: Option<DateTime<Utc>>,
    pub last_message_datetime: Option<DateTime<Utc>>,
    pub spam: bool,
    /// From `trashed_datetime` being set.
    pub trashed: bool,
    pub messages_count: u32,
}

impl TicketFacts {
    /// Whether the ticket is open (any status but `closed`).
    pub fn is_open(&self) -> bool {
        self.status != "closed"
    }
}

/// One satisfaction survey as listed by `GET /api/satisfaction-surveys` (one per ticket).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyFacts {
    pub id: i64,
    pub ticket_id: i64,
    pub customer_id: i64,
    /// 1..=5 once the customer answered; `None` before.
    pub score: Option<u8>,
    pub scored_datetime: Option<DateTime<Utc>>,
    pub created_datetime: Option<DateTime<Utc>>,
}

impl SurveyFacts {
    /// The score if it is a valid one (Gorgias scores run 1 to 5; anything else is ignored).
    pub fn valid_score(&self) -> Option<u8> {
        self.score.filter(|s| (1..=5).contains(s))
    }
}
