//! Canonical domain types shared by every layer.
//!
//! Owns the value types whose constructors are the only way in, so that a value of the
//! type is valid by construction: ids that cannot be confused across systems, a normalised
//! [`Email`], an E.164 [`Phone`], and the [`Profile`] of canonical fields. Pure: no I/O,
//! no clock, no logging. Must never accept an unvalidated string as one of these types.

mod email;
mod ids;
mod phone;
mod profile;

pub use email::{Email, EmailError};
pub use ids::{GorgiasId, HubspotId, IdError, RecordRef, System};
pub use phone::{Phone, PhoneError, Region};
pub use profile::Profile;
