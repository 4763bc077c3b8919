//! The facts tether keeps about one Gorgias ticket and one satisfaction survey: exactly the
//! fields the roll-ups need, so counts stay exact without re-listing a customer's history.
//!
//! Plain data. Must never hold HTTP or SQL shapes: the Gorgias connector converts its list
//! items into these, and the store keeps one row per ticket and per survey.

use crate::domain::GorgiasId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A ticket's status. Gorgias documents `open` and `closed`; anything else is kept verbatim
/// (counted as a ticket, never as open).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum TicketStatus {
    Open,
    Closed,
    Other(String),
}

impl TicketStatus {
    pub fn as_str(&self) -> &str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Closed => "closed",
            TicketStatus::Other(s) => s,
        }
    }
}

impl From<String> for TicketStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "open" => TicketStatus::Open,
            "closed" => TicketStatus::Closed,
            _ => TicketStatus::Other(s),
        }
    }
}

impl From<TicketStatus> for String {
    fn from(s: TicketStatus) -> Self {
        s.as_str().to_owned()
    }
}

/// What tether keeps of one Gorgias ticket (the newest version read wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketFacts {
    pub id: i64,
    pub customer_id: GorgiasId,
    pub status: TicketStatus,
    pub channel: Option<String>,
    pub subject: Option<String>,
    pub created_datetime: DateTime<Utc>,
    pub updated_datetime: DateTime<Utc>,
    pub closed_datetime: Option<DateTime<Utc>>,
    pub last_message_datetime: Option<DateTime<Utc>>,
    pub spam: bool,
    pub trashed: bool,
}

/// What tether keeps of one satisfaction survey (one per ticket, per the Gorgias docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyFacts {
    pub id: i64,
    pub ticket_id: i64,
    pub customer_id: GorgiasId,
    /// 1 to 5 once scored; `None` while the customer has not answered.
    pub score: Option<u8>,
    pub scored_datetime: Option<DateTime<Utc>>,
}

impl SurveyFacts {
    /// The score if it is a valid one (Gorgias scores run 1 to 5; anything else is ignored).
    pub fn valid_score(&self) -> Option<u8> {
        self.score.filter(|s| (1..=5).contains(s))
    }
}
