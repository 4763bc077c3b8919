//! `tether review --listen ADDR`: serves the review page and its JSON API alone (the
//! service mounts the same router). Owns binding and shutdown only; refuses to start
//! without `server.review_token`, since the page would refuse everything anyway.

use super::merges::{connectors_from, survivorship_from};
use super::{Global, UsageError};
use crate::merges::Merger;
use crate::review::{self, ReviewState};

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `tether review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Address to listen on (default: server.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Survivorship rules for the merges approved on the page (see `tether merges approve`).
    #[arg(long, value_name = "FILE")]
    pub survivorship: Option<PathBuf>,
}

pub async fn run(global: &Global, args: ReviewArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = &loaded.settings;
    if settings.server.review_token.is_empty() {
        return Err(UsageError(
            "server.review_token is not set (e.g. TETHER__SERVER__REVIEW_TOKEN): the review page refuses everything without it"
                .into(),
        )
        .into());
    }
    let rules = survivorship_from(args.survivorship.as_deref())?;
    let store = super::open_store::writer(&settings.store)
        .await
        .context("cannot open the state store")?;
    let merger = Merger::new(store.clone(), connectors_from(settings), rules);
    let state =
        ReviewState::new(merger, settings.server.review_token.clone()).with_settings(settings);
    let addr = args
        .listen
        .unwrap_or_else(|| settings.server.listen.to_string());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| UsageError(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    println!("review page on http://{local}/");
    axum::serve(listener, review::router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .context("the review server failed")?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
