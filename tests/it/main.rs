//! Integration tests: one binary, one module per area (see ARCHITECTURE.md).
mod matcher_cli;
