//! `tether merges list|show|approve|reject`: the review queue on the command line. Approving
//! merges through the systems' APIs at once (connectors built from the configuration) and
//! records the outcome. Owns argument handling and printing only; proposing, survivorship
//! and applying live in [`crate::merges`].

use super::{Global, UsageError};
use crate::config::Settings;
use crate::connectors::gorgias::{GorgiasClient, GorgiasConfig};
use crate::connectors::hubspot::{HubspotClient, HubspotConfig};
use crate::merges::{Applied, Connectors, Merger, Survivorship};
use crate::review::html::describe;
use crate::store::{Proposal, ProposalId, Store};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// `tether merges …`
#[derive(Debug, Args)]
pub struct MergesArgs {
    #[command(subcommand)]
    pub command: MergesCommand,
}

/// The `merges` subcommands.
#[derive(Debug, Subcommand)]
pub enum MergesCommand {
    /// Pending merge proposals, highest score first.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Most proposals listed.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// One proposal: both records side by side and the explanation of its score.
    Show {
        id: i64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve proposals and merge them now through the HubSpot / Gorgias APIs.
    Approve {
        /// Proposal ids.
        ids: Vec<i64>,
        /// Approve every pending proposal scoring at least this instead.
        #[arg(long, value_name = "SCORE", conflicts_with = "ids")]
        above: Option<f64>,
        /// Why (kept in the audit log).
        #[arg(long, default_value = "")]
        reason: String,
        /// Survivorship rules (TOML, `[merge]` table; see docs/merges.md). Default: the
        /// most complete record survives, newest values win, the survivor keeps its e-mail.
        #[arg(long, value_name = "FILE")]
        survivorship: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reject proposals: these pairs are never proposed again.
    Reject {
        #[arg(required = true)]
        ids: Vec<i64>,
        /// Why (kept with the decision).
        #[arg(long, default_value = "")]
        reason: String,
    },
}

/// The connectors a merge may need, from the configuration; a system without credentials
/// (or with an unusable base URL) has none, and its merges fail with that reason.
pub fn connectors_from(settings: &Settings) -> Connectors {
    let hubspot = (!settings.hubspot.token.is_empty())
        .then(|| HubspotClient::new(HubspotConfig::from_settings(&settings.hubspot)).ok())
        .flatten()
        .map(Arc::new);
    let gorgias = (!settings.gorgias.api_key.is_empty())
        .then(|| {
            GorgiasConfig::from_settings(&settings.gorgias)
                .ok()
                .and_then(|c| GorgiasClient::new(c).ok())
        })
        .flatten()
        .map(Arc::new);
    Connectors { hubspot, gorgias }
}

/// The survivorship rules from `file`, or the defaults.
pub fn survivorship_from(file: Option<&Path>) -> anyhow::Result<Survivorship> {
    let Some(path) = file else {
        return Ok(Survivorship::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read survivorship rules {}", path.display()))?;
    Survivorship::from_toml(&text)
        .map_err(|e| UsageError(format!("{}: {e}", path.display())).into())
}

/// Who the audit log names for a command run by a person: `cli:$USER`.
pub(crate) fn actor() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn line(p: &Proposal) -> String {
    format!(
        "#{:<6} {:.4}  {} ↔ {}",
        p.id.0,
        p.score,
        p.pair.first(),
        p.pair.second()
    )
}

fn show_text(p: &Proposal) -> String {
    use std::fmt::Write as _;
    let mut s = format!("{}  [{:?}]\n", line(p), p.status);
    let fields = |side: &str| -> Vec<(String, String)> {
        p.snapshot
            .pointer(&format!("/{side}/fields"))
            .and_then(|f| f.as_object())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (a, b) = (fields("a"), fields("b"));
    let mut names: Vec<&String> = a.iter().chain(b.iter()).map(|(k, _)| k).collect();
    names.sort();
    names.dedup();
    let get = |f: &[(String, String)], k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    for k in names {
        let _ = writeln!(s, "  {k:<12} {:<32} {}", get(&a, k), get(&b, k));
    }
    let _ = writeln!(s, "explanation (log2 odds):");
    if let Some(prior) = p.explanation.get("prior").and_then(|v| v.as_f64()) {
        let _ = writeln!(s, "  {:<12} {prior:+.2}", "prior");
    }
    for c in p
        .explanation
        .get("fields")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            s,
            "  {:<12} {:+.2}  ({})",
            c.get("field").and_then(|v| v.as_str()).unwrap_or("?"),
            c.get("weight").and_then(|v| v.as_f64()).unwrap_or(0.0),
            c.get("level").and_then(|v| v.as_str()).unwrap_or("?"),
        );
    }
    if let Some(g) = p
        .explanation
        .get("relatives_guard")
        .and_then(|v| v.as_f64())
        && g != 0.0
    {
        let _ = writeln!(s, "  {:<12} {g:+.2}", "relatives");
    }
    if let (Some(by), Some(at)) = (&p.decided_by, p.decided_at) {
        let _ = writeln!(
            s,
            "decided by {by} at {}: {}",
            at.to_rfc3339(),
            p.reason.as_deref().unwrap_or("")
        );
    }
    s
}

/// Long (about 105 lines): one short arm per `tether merges` subcommand.
pub async fn run(global: &Global, args: MergesArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = &loaded.settings;
    match args.command {
        MergesCommand::List { json, limit } => {
            let store = Store::open_read_only(&settings.store)
                .await
                .context("cannot read the state store")?;
            let ps = store.pending_proposals(limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ps)?);
            } else if ps.is_empty() {
                println!("no pending merge proposals");
            } else {
                for p in &ps {
                    println!("{}", line(p));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        MergesCommand::Show { id, json } => {
            let store = Store::open_read_only(&settings.store)
                .await
                .context("cannot read the state store")?;
            let Some(p) = store.proposal(ProposalId(id)).await? else {
                return Err(UsageError(format!("no proposal #{id}")).into());
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                print!("{}", show_text(&p));
            }
            Ok(ExitCode::SUCCESS)
        }
        MergesCommand::Approve {
            ids,
            above,
            reason,
            survivorship,
            json,
        } => {
            if ids.is_empty() && above.is_none() {
                return Err(UsageError("give proposal ids or --above SCORE".into()).into());
            }
            let rules = survivorship_from(survivorship.as_deref())?;
            let store = Store::open(&settings.store)
                .await
                .context("cannot open the state store")?;
            let merger = Merger::new(store.clone(), connectors_from(settings), rules);
            let who = actor();
            let now = chrono::Utc::now();
            let mut done: Vec<Applied> = Vec::new();
            if let Some(min) = above {
                done = merger.approve_above(min, &who, now).await?;
            } else {
                for id in ids {
                    done.push(
                        merger
                            .approve(ProposalId(id), &who, &reason, now)
                            .await
                            .with_context(|| format!("cannot approve #{id}"))?,
                    );
                }
            }
            store.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&done)?);
            } else if done.is_empty() {
                println!("nothing to approve");
            } else {
                for a in &done {
                    println!("{}", describe(a));
                }
            }
            Ok(if done.iter().all(Applied::succeeded) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        MergesCommand::Reject { ids, reason } => {
            let store = Store::open(&settings.store)
                .await
                .context("cannot open the state store")?;
            let merger = Merger::new(
                store.clone(),
                Connectors::default(),
                Survivorship::default(),
            );
            let who = actor();
            for id in ids {
                let p = merger
                    .reject(ProposalId(id), &who, &reason, chrono::Utc::now())
                    .await
                    .with_context(|| format!("cannot reject #{id}"))?;
                println!(
                    "#{id} rejected: {} and {} will not be proposed again",
                    p.pair.first(),
                    p.pair.second()
                );
            }
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
    }
}
