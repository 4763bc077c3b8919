//! HTTP clients for the two systems: the only code that talks to HubSpot or Gorgias.
//!
//! Each connector follows its contract in `shared/contracts/` to the letter (it must work
//! against the real service unchanged), holds itself under the service's rate limits,
//! retries only what is transient, and turns every response into typed data or a typed
//! error. Must never hold sync decisions, and never panic on what the network sends.

pub mod gorgias;
pub mod hubspot;
pub mod retry;
