//! The Gorgias sidebar (issue 15), its pure core: the card tether serves to Gorgias's HTTP
//! integration ([`card`]), the widget templates and their HTML preview ([`template`]), and
//! the install plan that finds tether's own integration and widgets before creating or
//! updating them ([`install`]).
//!
//! Pure: no I/O, no clock (callers pass the time). The HTTP endpoint lives in
//! `crate::service::card`, the Gorgias calls in `crate::connectors::gorgias`, the command
//! in `crate::commands::gorgias`. Must never hold a secret's value in anything it renders.

pub mod card;
pub mod install;
pub mod template;

pub use card::{Card, CardInput, CrmContext, DealInfo, TetherState, build_card};
pub use install::{Installed, Step, find, plan_install, plan_uninstall};
