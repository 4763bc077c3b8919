//! `tether conflicts list|show|resolve`: held conflicts (fields whose policy is `manual`)
//! on the command line. Resolving stores a person's choice, audited; the next cycle applies
//! it through the outbox. Owns argument handling and printing only; storing lives in
//! [`crate::store`], applying in [`crate::cycle`] and [`crate::engine`].

use super::{Global, UsageError};
use crate::domain::System;
use crate::store::{ConflictChoice, ConflictId, HeldConflict, SharedStore, StoreError};
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use std::fmt::Write as _;
use std::process::ExitCode;

/// `tether conflicts …`
#[derive(Debug, Args)]
pub struct ConflictsArgs {
    #[command(subcommand)]
    pub command: ConflictsCommand,
}

/// A side of a conflict, on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Side {
    Hubspot,
    Gorgias,
}

impl From<Side> for System {
    fn from(s: Side) -> System {
        match s {
            Side::Hubspot => System::Hubspot,
            Side::Gorgias => System::Gorgias,
        }
    }
}

/// The `conflicts` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// Held conflicts waiting for a person (or already resolved, not yet applied), newest
    /// first.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Also list closed conflicts (applied, or the sides agree again).
        #[arg(long)]
        all: bool,
    },
    /// One held conflict: both values, the base, and what was decided.
    Show {
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Settle a held conflict; the next sync writes the chosen value to both sides.
    Resolve {
        id: i64,
        /// Copy this side's value to the other side.
        #[arg(
            long,
            value_enum,
            conflicts_with = "value",
            required_unless_present = "value"
        )]
        take: Option<Side>,
        /// Write this value to both sides ("" empties the field).
        #[arg(long, value_name = "V")]
        value: Option<String>,
    },
}

fn shown(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("{v:?}"),
        None => "(empty)".into(),
    }
}

fn status_word(c: &HeldConflict) -> String {
    match (&c.resolution, c.closed_how.as_deref()) {
        (_, Some(how)) => format!("closed: {how}"),
        (Some(r), None) => format!("resolved: {r}; applied by the next sync"),
        (None, None) => "open".into(),
    }
}

/// One line per conflict.
pub fn line(c: &HeldConflict) -> String {
    format!(
        "#{:<5} {:<14} hubspot {} {}  gorgias {} {}  base {}  [{}]",
        c.id.0,
        c.field,
        c.hubspot_id,
        shown(&c.hubspot_value),
        c.gorgias_id,
        shown(&c.gorgias_value),
        shown(&c.base),
        status_word(c)
    )
}

/// The command that settles a conflict.
pub fn resolve_hint(id: ConflictId) -> String {
    format!("tether conflicts resolve {id} --take hubspot|gorgias (or --value V)")
}

fn show_text(c: &HeldConflict) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "conflict #{} on field {}", c.id, c.field);
    let _ = writeln!(
        s,
        "  HubSpot contact {:<12} {}",
        c.hubspot_id,
        shown(&c.hubspot_value)
    );
    let _ = writeln!(
        s,
        "  Gorgias customer {:<11} {}",
        c.gorgias_id,
        shown(&c.gorgias_value)
    );
    let _ = writeln!(s, "  base (last agreed)      {}", shown(&c.base));
    let _ = writeln!(
        s,
        "  held since {}, last seen {}",
        c.first_seen.to_rfc3339(),
        c.last_seen.to_rfc3339()
    );
    match (&c.resolution, &c.resolved_by, c.resolved_at) {
        (Some(r), Some(by), Some(at)) => {
            let _ = writeln!(s, "  resolved by {by} at {}: {r}", at.to_rfc3339());
        }
        _ => {
            let _ = writeln!(s, "  resolve: {}", resolve_hint(c.id));
        }
    }
    if let (Some(how), Some(at)) = (&c.closed_how, c.closed_at) {
        let _ = writeln!(s, "  closed at {} ({how})", at.to_rfc3339());
    }
    s
}

async fn read_store(global: &Global) -> anyhow::Result<SharedStore> {
    let loaded = global.load_config()?;
    super::open_store::reader(&loaded.settings.store)
        .await
        .context("cannot read the state store")
}

pub async fn run(global: &Global, args: ConflictsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ConflictsCommand::List { json, all } => {
            let store = read_store(global).await?;
            let cs = store.conflicts(all).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&cs)?);
            } else if cs.is_empty() {
                println!("no held conflicts");
            } else {
                for c in &cs {
                    println!("{}", line(c));
                }
                println!(
                    "settle one with: tether conflicts resolve ID --take hubspot|gorgias (or --value V)"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ConflictsCommand::Show { id, json } => {
            let store = read_store(global).await?;
            let Some(c) = store.conflict(ConflictId(id)).await? else {
                return Err(UsageError(format!(
                    "no held conflict #{id} (see `tether conflicts list`)"
                ))
                .into());
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print!("{}", show_text(&c));
            }
            Ok(ExitCode::SUCCESS)
        }
        ConflictsCommand::Resolve { id, take, value } => {
            let choice = match (take, value) {
                (Some(side), None) => ConflictChoice::Take(side.into()),
                (None, Some(v)) => ConflictChoice::Value(v),
                _ => {
                    return Err(UsageError(
                        "give either --take hubspot|gorgias or --value V".into(),
                    )
                    .into());
                }
            };
            let loaded = global.load_config()?;
            let store = super::open_store::writer(&loaded.settings.store)
                .await
                .context("cannot open the state store")?;
            let who = super::merges::actor();
            let done = store
                .resolve_conflict(ConflictId(id), &choice, &who, chrono::Utc::now())
                .await;
            store.close().await;
            let c = match done {
                Ok(c) => c,
                Err(StoreError::NotFound { .. }) => {
                    return Err(UsageError(format!(
                        "no held conflict #{id} (see `tether conflicts list`)"
                    ))
                    .into());
                }
                Err(StoreError::Conflict(why)) => return Err(UsageError(why).into()),
                Err(e) => return Err(e.into()),
            };
            println!(
                "#{id} resolved: {} of HubSpot contact {} / Gorgias customer {}: {choice}; the next sync writes it (preview with `tether plan`)",
                c.field, c.hubspot_id, c.gorgias_id
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
