//! Integration tests: one binary, one module per area (see ARCHITECTURE.md).
mod store;
mod hubspot_feed;
mod hubspot_limits;
mod hubspot_sandbox;
mod hubspot_spec;
mod hubspot_support;
mod hubspot_writes;
mod gorgias_common;
mod gorgias_faults;
mod gorgias_feed;
mod gorgias_sandbox;
mod gorgias_writes;
mod mappings_cli;
mod matcher_cli;
mod merges_gorgias;
mod merges_hubspot;
mod review_page;
