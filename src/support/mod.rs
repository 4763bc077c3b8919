//! Support roll-ups (issue 14): Gorgias tickets and satisfaction surveys as plain facts,
//! per-customer aggregates, and the HubSpot property values they give through the mapping's
//! computed fields (`@tickets.*`, `@satisfaction.*`, see [`crate::mappings::computed`]).
//!
//! The functional core between the Gorgias ticket/survey feeds and HubSpot: plain facts in
//! ([`TicketFacts`], [`SurveyFacts`], which the connector's pure decoders build), aggregates
//! ([`rollup`]), the bookkeeping that keeps them exact under incremental updates ([`Ledger`],
//! which the store's support tables mirror), and the per-contact writes ([`writes`]). Pure:
//! no HTTP, no SQL, no clock. Must never read or write either system or the store: the
//! cycle's support step (`cycle/support.rs`) does that.

pub mod facts;
pub mod ledger;
pub mod notes;
pub mod rollup;
pub mod writes;

pub use facts::{SurveyFacts, TicketFacts};
pub use ledger::{Change, Ledger};
pub use rollup::{Rollup, rollup};
pub use writes::{RollupWrite, contact_writes, desired_values, includes};
