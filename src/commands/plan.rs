//! `tether plan [--format text|json|markdown|html] [--output FILE] [--detailed-exitcode]`:
//! the dry run. Reads both systems, runs the same planner as `tether sync`, and writes
//! nothing anywhere: no system is written, and the store is opened read-only (an in-memory
//! empty store stands in when none exists yet). After the plan it lists the duplicate pairs
//! the next cycle would propose and merge automatically (`merges::preview`).
//!
//! Edge code only: rendering is `crate::report`'s (the formats and the JSON schema are
//! documented in docs/reports.md and docs/plan-schema.md). Must never write.

use super::Global;
use crate::engine::Plan;
pub use crate::report::Format;
use crate::report::{ProposalPreview, RenderOptions};
use anyhow::Context;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 0 when there is nothing to do, 2 when changes are pending or a refused write is
    /// still owed (an unsettled record).
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan as if `--allow-large` were given to `tether sync`.
    #[arg(long)]
    pub allow_large: bool,
}

pub async fn run(global: &Global, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = &loaded.settings;
    let store = match super::open_store::reader(&settings.store).await {
        Ok(s) => s,
        Err(e) if e.is_missing() => super::open_store::in_memory()
            .await
            .context("cannot open an empty in-memory store")?,
        Err(e) => return Err(e).context("cannot read the state store"),
    };
    let cycle = super::sync::build_cycle(settings, store.clone(), args.allow_large)?;
    if let Err(e) = super::sync::precheck(&cycle).await {
        store.close().await;
        return Err(e);
    }
    let planned = cycle.plan_with_proposals().await;
    store.close().await;
    let (plan, pairs) = planned.context("cannot plan")?;
    let proposals = ProposalPreview {
        pairs,
        top: TOP_PAIRS,
    };
    let color = args.output.is_none()
        && crate::report::color_wanted(
            std::io::stdout().is_terminal(),
            std::env::var("NO_COLOR").ok().as_deref(),
        );
    let text = render_with_proposals(&plan, &proposals, args.format, color);
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("plan written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(if args.detailed_exitcode && plan.owes_writes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Renders a plan for people or scripts, stamped with the current time.
pub fn render(plan: &Plan, format: Format, color: bool) -> String {
    crate::report::render(plan, format, &options(color))
}

/// How many duplicate pairs the text, Markdown and HTML outputs list.
pub const TOP_PAIRS: usize = 10;

/// [`render`] followed by the duplicates the next cycle would propose (in JSON: the
/// top-level `proposals` key, docs/plan-schema.md).
pub fn render_with_proposals(
    plan: &Plan,
    proposals: &ProposalPreview,
    format: Format,
    color: bool,
) -> String {
    crate::report::render_with_proposals(plan, format, &options(color), proposals)
}

fn options(color: bool) -> RenderOptions {
    RenderOptions {
        color,
        title: "tether plan".into(),
        generated_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        ..RenderOptions::default()
    }
}
