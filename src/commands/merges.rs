//! `tether merges list|show|approve|reject|scan`: the review queue on the command line, and
//! the full duplicate scan over the store's record snapshots. Approving
//! merges through the systems' APIs at once (connectors built from the configuration) and
//! records the outcome. Owns argument handling and printing only; proposing, survivorship
//! and applying live in [`crate::merges`].

use super::{Global, UsageError};
use crate::config::Settings;
use crate::connectors::gorgias::{GorgiasClient, GorgiasConfig};
use crate::connectors::hubspot::{HubspotClient, HubspotConfig};
use crate::merges::{Applied, Connectors, Merger, Survivorship};
use crate::review::html::describe;
use crate::store::{Proposal, ProposalId};
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
    /// One proposal: both records side by side, the explanation of its score, and the
    /// merged record survivorship would produce (field by field, which value wins and why).
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
        /// The record that survives (one proposal only), e.g. `hubspot:123`.
        #[arg(long, value_name = "REF", conflicts_with = "above")]
        survivor: Option<String>,
        /// A value the merged record gets (one proposal only); repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE", conflicts_with = "above")]
        set: Vec<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Compare every record the store keeps (both systems) and propose the duplicates the
    /// cycles could not see; resumes an interrupted scan.
    Scan {
        /// Only propose pairs with a record seen at or after this time (RFC 3339 or
        /// YYYY-MM-DD); every record is still compared.
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
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

/// `--survivor REF` and `--set FIELD=VALUE` as a reviewer's choices.
fn choices_from_args(
    survivor: Option<&str>,
    set: &[String],
) -> Result<crate::merges::Choices, UsageError> {
    let survivor = survivor
        .map(|s| {
            let (system, id) = s
                .split_once(':')
                .ok_or_else(|| UsageError(format!("--survivor {s:?}: expected SYSTEM:ID")))?;
            let system: crate::domain::System = system
                .parse()
                .map_err(|e| UsageError(format!("--survivor {s:?}: {e}")))?;
            crate::domain::RecordRef::parse(system, id)
                .map_err(|e| UsageError(format!("--survivor {s:?}: {e}")))
        })
        .transpose()?;
    let mut overrides = std::collections::BTreeMap::new();
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| UsageError(format!("--set {kv:?}: expected FIELD=VALUE")))?;
        overrides.insert(k.trim().to_owned(), v.to_owned());
    }
    Ok(crate::merges::Choices {
        survivor,
        overrides,
    })
}

/// `--since`: an RFC 3339 time or a date (midnight UTC).
fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, UsageError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| UsageError(format!("--since {s:?}: expected RFC 3339 or YYYY-MM-DD")))
}

/// The proposal settings of the configuration, scoring with `matching.model` when set.
pub fn proposal_settings(settings: &Settings) -> anyhow::Result<crate::merges::ProposalSettings> {
    let base = crate::merges::ProposalSettings::from_settings(
        &settings.matching,
        settings.default_region(),
    );
    match settings.matching.model_path() {
        None => Ok(base),
        Some(path) => {
            let model = super::matching::read_model(&path)?;
            Ok(base.with_weights(model.weights))
        }
    }
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
            let store = super::open_store::reader(&settings.store)
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
            let store = super::open_store::reader(&settings.store)
                .await
                .context("cannot read the state store")?;
            let Some(p) = store.proposal(ProposalId(id)).await? else {
                return Err(UsageError(format!("no proposal #{id}")).into());
            };
            let merged = crate::merges::merged::records_of(&p.snapshot).and_then(|(a, b)| {
                crate::merges::merged::preview(
                    &Survivorship::default(),
                    &a,
                    &b,
                    &crate::merges::Choices::default(),
                )
                .ok()
            });
            if json {
                let mut v = serde_json::to_value(&p)?;
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("merged".into(), serde_json::to_value(&merged)?);
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print!("{}", show_text(&p));
                if let Some(m) = &merged {
                    print!("{}", crate::merges::merged::to_text(m));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        MergesCommand::Approve {
            ids,
            above,
            reason,
            survivorship,
            survivor,
            set,
            json,
        } => {
            if ids.is_empty() && above.is_none() {
                return Err(UsageError("give proposal ids or --above SCORE".into()).into());
            }
            let choices = choices_from_args(survivor.as_deref(), &set)?;
            if !choices.is_empty() && ids.len() != 1 {
                return Err(UsageError(
                    "--survivor and --set apply to one proposal at a time".into(),
                )
                .into());
            }
            let rules = survivorship_from(survivorship.as_deref())?;
            let store = super::open_store::writer(&settings.store)
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
                    let applied = match merger
                        .approve_with(ProposalId(id), &who, &reason, &choices, now)
                        .await
                    {
                        Err(e @ crate::merges::MergeError::BadChoice { .. }) => {
                            return Err(UsageError(e.to_string()).into());
                        }
                        other => other.with_context(|| format!("cannot approve #{id}"))?,
                    };
                    done.push(applied);
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
        MergesCommand::Scan { since, json } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let proposal_settings = proposal_settings(settings)?;
            let store = super::open_store::writer(&settings.store)
                .await
                .context("cannot open the state store")?;
            let mut progress = |s: &str| eprintln!("scan: {s}");
            let report = crate::merges::scan::scan(
                &*store,
                &proposal_settings,
                since,
                chrono::Utc::now(),
                &mut progress,
            )
            .await?;
            store.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "scan #{}: {} records ({} HubSpot, {} Gorgias); {} new proposals, {} \
                     refreshed, {} auto-approved{}",
                    report.scan_id,
                    report.hubspot_records + report.gorgias_records,
                    report.hubspot_records,
                    report.gorgias_records,
                    report.proposals.created.len(),
                    report.proposals.refreshed.len(),
                    report.proposals.auto_approved.len(),
                    if report.unreadable > 0 {
                        format!("; {} unreadable snapshots skipped", report.unreadable)
                    } else {
                        String::new()
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        MergesCommand::Reject { ids, reason } => {
            let store = super::open_store::writer(&settings.store)
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
