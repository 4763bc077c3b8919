//! tether keeps customer profiles in sync, in both directions, between HubSpot and Gorgias.
//!
//! The crate is a functional core inside an imperative shell; `ARCHITECTURE.md` is the code
//! map. In short:
//! - [`domain`]: canonical, validated value types (ids, e-mail, phone, profile). Pure.
//! - [`engine`]: mapping, three-way diff, conflict resolution, planning. Pure.
//! - [`matcher`]: duplicate detection and scoring. Pure.
//! - [`store`]: the SQLite state store, the only module with SQL.
//! - [`connectors`]: HTTP clients for HubSpot and Gorgias, the only modules that call them.
//! - [`sandbox`]: faithful in-memory fakes of both APIs, for `tether demo` and the tests.
//! - [`cli`] and [`commands`]: the edge, where errors become exit codes.

pub mod cli;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod cycle;
pub mod domain;
pub mod engine;
pub mod generate;
pub mod generate_support;
pub mod html_text;
pub mod mappings;
pub mod matcher;
pub mod merges;
pub mod pii;
pub mod report;
pub mod review;
pub mod sandbox;
pub mod secret;
pub mod service;
pub mod sidebar;
pub mod store;
pub mod support;
pub mod telemetry;
