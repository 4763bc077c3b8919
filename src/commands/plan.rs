//! `tether plan [--format text|json|markdown|html] [--output FILE] [--detailed-exitcode]`:
//! the dry run. Reads both systems, runs the same planner as `tether sync`, and writes
//! nothing anywhere: no system is written, and the store is opened read-only (an in-memory
//! empty store stands in when none exists yet).
//!
//! Edge code only. Holds a minimal plan formatter until `crate::report` lands
//! (TODO(report): swap [`render`] for `crate::report::render`). Must never write.

use super::Global;
use crate::engine::{Plan, SkipCode};
use crate::store::{Store, StoreError};
use anyhow::Context;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// Output formats of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    Html,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 0 when there is nothing to do, 2 when changes are pending.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan as if `--allow-large` were given to `tether sync`.
    #[arg(long)]
    pub allow_large: bool,
}

pub async fn run(global: &Global, args: PlanArgs) -> anyhow::Result<ExitCode> {
    let loaded = global.load_config()?;
    let settings = &loaded.settings;
    let store = match Store::open_read_only(&settings.store).await {
        Ok(s) => s,
        Err(StoreError::Missing { .. }) => Store::open_in_memory()
            .await
            .context("cannot open an empty in-memory store")?,
        Err(e) => return Err(e).context("cannot read the state store"),
    };
    let cycle = super::sync::build_cycle(settings, store.clone(), args.allow_large)?;
    let plan = cycle.plan().await;
    store.close().await;
    let plan = plan.context("cannot plan")?;
    let text = render(&plan, args.format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("plan written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn v(x: &Option<String>) -> &str {
    x.as_deref().unwrap_or("—")
}

/// One table row per field decision (`field`, HubSpot, Gorgias, base, action, reason), per
/// customer pair.
type Rows = BTreeMap<(String, i64), Vec<[String; 6]>>;

fn rows(plan: &Plan) -> Rows {
    let mut out: Rows = BTreeMap::new();
    for c in &plan.changes {
        out.entry((c.hubspot_id.as_str().to_owned(), c.gorgias_id.get()))
            .or_default()
            .push([
                c.field.clone(),
                v(&c.hubspot).to_owned(),
                v(&c.gorgias).to_owned(),
                v(&c.base).to_owned(),
                format!(
                    "write {} → {}",
                    crate::engine::side_name(c.target),
                    v(&c.value)
                ),
                c.reason.to_string(),
            ]);
    }
    for c in &plan.conflicts {
        out.entry((c.hubspot_id.as_str().to_owned(), c.gorgias_id.get()))
            .or_default()
            .push([
                c.field.clone(),
                v(&c.hubspot).to_owned(),
                v(&c.gorgias).to_owned(),
                v(&c.base).to_owned(),
                "HOLD for review".into(),
                "both sides changed (manual policy)".into(),
            ]);
    }
    out
}

fn headline(plan: &Plan) -> String {
    let s = &plan.summary;
    format!(
        "{} pairs compared · {} new links · {} HubSpot updates · {} Gorgias updates · {} HubSpot creates · {} Gorgias creates · {} field writes · {} bases agreed · {} conflicts held · {} skipped",
        s.pairs,
        s.links,
        s.hubspot_updates,
        s.gorgias_updates,
        s.hubspot_creates,
        s.gorgias_creates,
        s.field_writes,
        s.base_updates,
        s.conflicts,
        s.skips
    )
}

fn skip_counts(plan: &Plan) -> BTreeMap<SkipCode, usize> {
    let mut m = BTreeMap::new();
    for s in &plan.skips {
        *m.entry(s.code).or_insert(0) += 1;
    }
    m
}

fn caps_line(plan: &Plan) -> Option<String> {
    plan.caps.reason.as_ref().map(|r| {
        if plan.caps.blocked {
            format!(
                "BLOCKED by the safety caps, a sync would write nothing: {r} (use --allow-large)"
            )
        } else {
            format!("safety caps exceeded but allowed: {r}")
        }
    })
}

/// Renders a plan (minimal local formatter; TODO(report): use `crate::report`).
pub fn render(plan: &Plan, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(plan).unwrap_or_default() + "\n",
        Format::Text => text(plan),
        Format::Markdown => markdown(plan),
        Format::Html => html(plan),
    }
}

fn text(plan: &Plan) -> String {
    let mut o = String::new();
    for ((h, g), rs) in rows(plan) {
        let _ = writeln!(o, "HubSpot {h} ⇄ Gorgias {g}");
        for r in rs {
            let _ = writeln!(
                o,
                "  {:<16} hubspot={:<28} gorgias={:<28} base={:<20} {} ({})",
                r[0], r[1], r[2], r[3], r[4], r[5]
            );
        }
    }
    for c in &plan.hubspot_creates {
        let _ = writeln!(
            o,
            "create HubSpot contact for Gorgias {} ({})",
            c.from_gorgias,
            c.properties.get("email").map_or("", String::as_str)
        );
    }
    for c in &plan.gorgias_creates {
        let _ = writeln!(
            o,
            "create Gorgias customer for HubSpot {} ({})",
            c.from_hubspot,
            c.fields.get("email").and_then(|e| e.as_str()).unwrap_or("")
        );
    }
    for l in &plan.links {
        let _ = writeln!(
            o,
            "link HubSpot {} ⇄ Gorgias {} by {:?} {}",
            l.hubspot_id, l.gorgias_id, l.matched_by, l.key
        );
    }
    let _ = writeln!(o, "\nSummary: {}", headline(plan));
    for (code, n) in skip_counts(plan) {
        let _ = writeln!(o, "  skipped {n} × {code:?}");
    }
    if let Some(c) = caps_line(plan) {
        let _ = writeln!(o, "{c}");
    }
    if !plan.has_changes() {
        let _ = writeln!(o, "Nothing to do: both systems agree.");
    }
    o
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn markdown(plan: &Plan) -> String {
    let mut o = String::from("# tether plan\n\n");
    let _ = writeln!(o, "{}\n", headline(plan));
    if let Some(c) = caps_line(plan) {
        let _ = writeln!(o, "**{}**\n", md_cell(&c));
    }
    for ((h, g), rs) in rows(plan) {
        let _ = writeln!(o, "## HubSpot {h} ⇄ Gorgias {g}\n");
        o.push_str(
            "| field | HubSpot | Gorgias | base | action | reason |\n|---|---|---|---|---|---|\n",
        );
        for r in rs {
            let cells: Vec<String> = r.iter().map(|c| md_cell(c)).collect();
            let _ = writeln!(o, "| {} |", cells.join(" | "));
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "Creates: {} in HubSpot, {} in Gorgias. Links: {}.",
        plan.hubspot_creates.len(),
        plan.gorgias_creates.len(),
        plan.links.len()
    );
    o
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn html(plan: &Plan) -> String {
    let mut o = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>tether plan</title>\
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}\
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f4f4f4}.hold{color:#b00}</style>\
</head><body><h1>tether plan</h1>",
    );
    let _ = write!(o, "<p>{}</p>", esc(&headline(plan)));
    if let Some(c) = caps_line(plan) {
        let _ = write!(o, "<p class=\"hold\"><strong>{}</strong></p>", esc(&c));
    }
    for ((h, g), rs) in rows(plan) {
        let _ = write!(
            o,
            "<h2>HubSpot {} ⇄ Gorgias {}</h2><table><tr><th>field</th><th>HubSpot</th><th>Gorgias</th><th>base</th><th>action</th><th>reason</th></tr>",
            esc(&h),
            g
        );
        for r in rs {
            o.push_str("<tr>");
            for c in r {
                let _ = write!(o, "<td>{}</td>", esc(&c));
            }
            o.push_str("</tr>");
        }
        o.push_str("</table>");
    }
    let _ = writeln!(
        o,
        "<p>Creates: {} in HubSpot, {} in Gorgias. New links: {}. Skips: {}.</p></body></html>",
        plan.hubspot_creates.len(),
        plan.gorgias_creates.len(),
        plan.links.len(),
        plan.skips.len()
    );
    o
}
