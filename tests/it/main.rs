//! Integration tests: one binary, one module per area (see ARCHITECTURE.md).
mod hubspot_feed;
mod hubspot_limits;
mod hubspot_sandbox;
mod hubspot_spec;
mod hubspot_support;
mod hubspot_webhooks;
mod hubspot_writes;
