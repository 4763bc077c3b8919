//! `tether retry [ID…|--all]` and `tether dismiss ID… --reason R`: a person acts on
//! unsettled records (refused writes tether still owes, `store::unsettled`). `retry` clears
//! the backoff so that the next cycle plans the records again (naming an id also lifts its
//! dismissal); `dismiss` settles items without a write: they are not retried until their
//! record changes again. Both are audited with the person's name (`cli:$USER`).
//!
//! Edge code only: argument handling and printing. Must never write to a system: the next
//! cycle does.

use super::{Global, UsageError};
use crate::store::{RetrySelection, StoreError, Unsettled, UnsettledId};
use anyhow::Context;
use chrono::SecondsFormat;
use std::process::ExitCode;

/// `tether retry …`
#[derive(Debug, clap::Args)]
pub struct RetryArgs {
    /// Unsettled record ids (as `tether plan` and `tether status` list them).
    #[arg(required_unless_present = "all")]
    pub ids: Vec<i64>,
    /// Every unsettled record not dismissed.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
}

/// `tether dismiss …`
#[derive(Debug, clap::Args)]
pub struct DismissArgs {
    /// Unsettled record ids.
    #[arg(required = true)]
    pub ids: Vec<i64>,
    /// Why no write is owed any more (kept in the audit log).
    #[arg(long)]
    pub reason: String,
}

/// One line about an item.
pub fn line(u: &Unsettled) -> String {
    let state = match &u.dismissed {
        Some(d) => format!("dismissed by {} ({})", d.by, d.reason),
        None => format!(
            "next retry {}",
            u.next_retry_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    };
    format!(
        "#{} {} {} in {} [{}] {} attempt(s), {state}: {}",
        u.id,
        u.record,
        u.op.as_str(),
        u.target.as_str(),
        u.class.as_str(),
        u.attempts,
        u.reason
    )
}

fn usage_if_unknown(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::NotFound { what } => {
            UsageError(format!("{what}: see `tether plan` or `tether status`")).into()
        }
        other => anyhow::Error::new(other),
    }
}

pub async fn retry(global: &Global, args: RetryArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let store = super::open_store::writer(&loaded.settings.store)
        .await
        .context("cannot open the state store as its writer")?;
    let which = if args.all {
        RetrySelection::All
    } else {
        RetrySelection::Ids(args.ids.iter().copied().map(UnsettledId).collect())
    };
    let who = super::merges::actor();
    let done = store
        .retry_unsettled(&which, "tether retry", &who, chrono::Utc::now())
        .await;
    store.close().await;
    let items = done.map_err(usage_if_unknown)?;
    for u in &items {
        println!("{}", line(u));
    }
    println!(
        "{} unsettled record(s) will be planned again by the next cycle",
        items.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn dismiss(global: &Global, args: DismissArgs) -> anyhow::Result<ExitCode> {
    if args.reason.trim().is_empty() {
        return Err(UsageError("--reason must say why no write is owed".into()).into());
    }
    let loaded = global.load_config()?;
    let store = super::open_store::writer(&loaded.settings.store)
        .await
        .context("cannot open the state store as its writer")?;
    let who = super::merges::actor();
    let mut out = vec![];
    let mut err = None;
    for id in &args.ids {
        match store
            .dismiss_unsettled(UnsettledId(*id), &args.reason, &who, chrono::Utc::now())
            .await
        {
            Ok(u) => out.push(u),
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    store.close().await;
    for u in &out {
        println!("{}", line(u));
    }
    if let Some(e) = err {
        return Err(usage_if_unknown(e));
    }
    Ok(ExitCode::SUCCESS)
}
