//! The pure sync engine: changed records of both sides + links + bases + mappings → [`Plan`].
//!
//! Maps each record through the field mappings into canonical values ([`canonical`]), diffs
//! each field three ways against the base ([`diff`]), resolves conflicts by policy
//! ([`resolve`]), links unlinked records by recorded ids, e-mail, then phone ([`link`]),
//! plans creates, and checks the safety caps ([`caps`]). Owns no I/O, no clock and no
//! randomness: the same input, in any order, gives the same plan. Must never call a
//! connector or the store; the cycle does that with the plan.

pub mod canonical;
pub mod caps;
pub mod diff;
mod fxhash;
pub mod input;
pub mod link;
pub mod plan;
mod planner;
pub mod resolve;

pub use input::{
    Base, Choice, Excluded, GorgiasRecord, HubspotRecord, Input, Link, Options, Resolution,
};
pub use link::{GorgiasKeys, HubspotKeys, KeyLinking, link_keys};
pub use plan::*;
pub use planner::{KeyReader, plan};
pub use resolve::Cause;

#[cfg(test)]
mod tests;
