//! Support activity read from Gorgias (tickets and satisfaction surveys) as plain facts, for
//! the roll-ups that land on HubSpot contacts. Pure: no HTTP, no SQL; the connector decodes
//! into these types and the cycle and store consume them.

pub mod facts;

pub use facts::{SurveyFacts, TicketFacts};
