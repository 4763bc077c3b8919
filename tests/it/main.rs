//! Integration tests: one binary, one module per area (see ARCHITECTURE.md).
mod gorgias_common;
mod gorgias_faults;
mod gorgias_feed;
mod gorgias_sandbox;
mod gorgias_writes;
