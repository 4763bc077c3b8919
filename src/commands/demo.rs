//! `tether demo`: the README's main command. Starts both sandboxes on loopback, seeds them
//! with generated people ([`crate::generate::demo_people`]: overlaps, conflicting values,
//! near-duplicates), creates the HubSpot property the default mappings need, and, with a
//! temporary store, prints the plan, syncs, makes a few conflicting edits on both sides
//! (one on a field whose policy is `manual`, held for a person) while a HubSpot portal rule
//! refuses one create, plans and syncs again, works through the inbox
//! ([`super::demo_inbox`]: the conflict resolved, the rule lifted, one sync settles both),
//! shows that a last plan has nothing to do, and writes the HTML report. It stays calm: each
//! plan shows its summary and a handful of records ([`excerpt`]), the HTML report has them all.
//! Everything printed is what the real code did against the sandboxes over HTTP.
//!
//! The loopback pair it runs on is [`crate::sandbox::pair`] (re-exported here as
//! [`Sandboxes`]); this module adds what needs the commands' layers (`setup`, `cycle`).
//! Must never fake an outcome.

use super::Global;
use crate::cycle::{Cycle, CycleOptions};
use crate::generate::demo_people;
use crate::mappings::{self, MappingSet};
pub use crate::sandbox::pair::{Sandboxes, seed_sandboxes};
use crate::store::{SharedStore, StateStore};
use anyhow::Context;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default mappings shipped in `mappings/default.toml`, built in.
pub const DEFAULT_MAPPINGS: &str = include_str!("../../mappings/default.toml");

/// The built-in default mapping set.
pub fn default_mappings() -> anyhow::Result<MappingSet> {
    mappings::parse_str("default.toml", DEFAULT_MAPPINGS)
        .map_err(|e| anyhow::anyhow!("built-in default mappings: {e}"))
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// About how many people to generate (split across both systems, a third on both).
    #[arg(long, default_value_t = 320)]
    pub people: usize,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// How many times faster than real time the sandboxes' rate-limit windows run.
    #[arg(long, default_value_t = 50.0)]
    pub speed: f64,
    /// Where to write the HTML report (default ./tether-demo-report.html, else a temp dir).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// What `tether demo` and the cycle tests need of the sandbox pair beyond the sandbox module:
/// the HubSpot properties `tether setup` creates, and a cycle over both sandboxes.
impl Sandboxes {
    /// Creates the HubSpot custom properties `mappings` declare (what `tether setup` does).
    pub async fn setup(&self, mappings: &MappingSet) -> anyhow::Result<Vec<String>> {
        let defs: Vec<_> = mappings
            .hubspot_properties()
            .iter()
            .map(super::setup::property_definition)
            .collect();
        self.hubspot_client
            .ensure_property_groups(&mappings.hubspot_property_groups())
            .await?;
        Ok(self.hubspot_client.ensure_properties(&defs).await?)
    }

    /// A cycle over these sandboxes.
    pub fn cycle(
        &self,
        store: SharedStore,
        mappings: Arc<MappingSet>,
        options: CycleOptions,
    ) -> Cycle {
        Cycle {
            store,
            hubspot: self.hubspot_client.clone(),
            gorgias: self.gorgias_client.clone(),
            mappings,
            options,
        }
    }
}

/// Most contacts the report's roll-up section lists.
const ROLLUP_ROWS: usize = 20;

/// Up to [`ROLLUP_ROWS`] linked contacts with a ticket, and the roll-up properties HubSpot
/// holds for them (read back from the HubSpot sandbox), busiest first.
async fn rollup_rows(
    sb: &Sandboxes,
    store: &dyn StateStore,
) -> anyhow::Result<Vec<crate::report::support::RollupRow>> {
    let mut rows = vec![];
    for l in store.links().await? {
        let Some(c) = sb.hubspot.contact(l.hubspot.as_str()) else {
            continue;
        };
        let props: Vec<(String, String)> = c["properties"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("gorgias_"))
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .filter(|(_, v)| !v.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let count = props
            .iter()
            .find(|(k, _)| k == "gorgias_ticket_count")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(0);
        if count > 0 {
            rows.push((count, l.hubspot.as_str().to_owned(), props));
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(rows
        .into_iter()
        .take(ROLLUP_ROWS)
        .map(|(_, id, mut props)| {
            // The counts first, as the card and the docs show them.
            props.sort_by_key(|(k, _)| (!k.contains("count") && !k.contains("open"), k.clone()));
            (id, props)
        })
        .collect())
}

fn report_path(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(p) = explicit {
        return p;
    }
    let here = PathBuf::from("tether-demo-report.html");
    match std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&here)
    {
        Ok(_) => here,
        Err(_) => std::env::temp_dir().join("tether-demo-report.html"),
    }
}

/// A plan's text cut down for the terminal: its summary (and caps) and the first `records`
/// record blocks, then how many more there are and where to see them. The full text is
/// never printed by the demo: the HTML report (or `tether plan`) has every record.
fn excerpt(text: &str, records: usize, rest_in: &str) -> String {
    let blocks: Vec<&str> = text
        .split("\n\n")
        .map(|b| b.trim_matches('\n'))
        .filter(|b| !b.is_empty())
        .collect();
    let summary = blocks
        .iter()
        .position(|b| b.lines().any(|l| l.contains("Summary:")));
    let (head, body) = match summary {
        Some(i) => (blocks[i], blocks.get(i + 1..).unwrap_or(&[])),
        None => ("", &blocks[..]),
    };
    let mut out = String::new();
    if !head.is_empty() {
        out.push_str(head);
        out.push('\n');
    }
    for b in body.iter().take(records) {
        out.push('\n');
        out.push_str(b);
        out.push('\n');
    }
    let more = body.len().saturating_sub(records);
    if more > 0 {
        out.push_str(&format!("\n  … {more} more records ({rest_in}) …\n"));
    }
    out
}

/// What the first sync queued as duplicates: how many, and the top proposal with the
/// explanation of its score (both records' names and each field's weight in bits).
async fn duplicates(
    store: &dyn StateStore,
    r: &crate::cycle::CycleReport,
) -> anyhow::Result<String> {
    use std::fmt::Write as _;
    let pending = store.pending_proposals(u32::MAX).await?;
    let mut out = format!(
        "\n  duplicate proposals queued by this sync: {} (pending in the queue: {})\n",
        r.dedup.proposed,
        pending.len()
    );
    let Some(top) = pending.first() else {
        return Ok(out);
    };
    let name = |side: &str| {
        let get = |f: &str| {
            top.snapshot
                .pointer(&format!("/{side}/fields/{f}"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        format!(
            "{} {} <{}>",
            get("first_name"),
            get("last_name"),
            get("email")
        )
    };
    let _ = writeln!(
        out,
        "  top proposal #{} (score {:.4}): {} {} ~ {} {}",
        top.id.0,
        top.score,
        top.pair.first(),
        name("a"),
        top.pair.second(),
        name("b")
    );
    let e = &top.explanation;
    let mut parts = vec![];
    if let Some(p) = e.get("prior").and_then(Value::as_f64) {
        parts.push(format!("prior {p:+.1}"));
    }
    for c in e
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let w = c.get("weight").and_then(Value::as_f64).unwrap_or(0.0);
        if w != 0.0 {
            parts.push(format!(
                "{} {w:+.1} ({})",
                c.get("field").and_then(Value::as_str).unwrap_or("?"),
                c.get("level").and_then(Value::as_str).unwrap_or("?")
            ));
        }
    }
    if let Some(g) = e.get("relatives_guard").and_then(Value::as_f64)
        && g != 0.0
    {
        parts.push(format!("relatives guard {g:+.1}"));
    }
    let _ = writeln!(out, "    why (log2 odds): {}", parts.join(", "));
    let _ = writeln!(
        out,
        "  review them with `tether merges list` / `tether merges show ID`, or on the web page `tether review`"
    );
    Ok(out)
}

pub async fn run(_global: &Global, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let t0 = Instant::now();
    let color = crate::report::color_wanted(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        std::env::var("NO_COLOR").ok().as_deref(),
    );
    let sb = Sandboxes::start(args.speed).await?;
    let mappings = Arc::new(super::demo_inbox::demo_mappings()?);
    let people = demo_people(args.people, args.seed);
    let (nh, ng) = sb.seed(&people);
    println!("tether demo");
    println!(
        "  HubSpot sandbox {} with {nh} contacts; Gorgias sandbox {} with {ng} customers",
        sb.hubspot_running.base_url, sb.gorgias_running.base_url
    );
    println!(
        "  generated people: {} records for about {} persons (a third on both sides, some with conflicting values, some near-duplicates)",
        people.len(),
        args.people
    );
    println!(
        "  both sandboxes enforce their real rate limits, with time running {}x faster",
        args.speed
    );
    let created = sb.setup(&mappings).await?;
    println!("  setup: created HubSpot properties {created:?}");
    println!(
        "  mappings: the built-in defaults, with `{}` under `conflict = \"manual\"` (held for a person)",
        super::demo_inbox::MANUAL_FIELD
    );

    let dir = std::env::temp_dir().join(format!(
        "tether-demo-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).context("cannot create the temporary store directory")?;
    let db = dir.join("tether.db");
    let settings = crate::config::StoreSettings {
        url: format!("sqlite://{}", db.display())
            .parse()
            .context("the temporary store's path")?,
        busy_timeout_ms: 5_000,
        lease_seconds: crate::config::Settings::built_in().store.lease_seconds,
    };
    let store = super::open_store::writer(&settings)
        .await
        .context("cannot open the temporary store")?;
    println!("  temporary store: {}", db.display());
    let options = CycleOptions {
        overlap: Duration::from_secs(30),
        ..CycleOptions::default()
    };
    let cycle = sb.cycle(store.clone(), mappings.clone(), options);

    println!("\n== 1. tether plan (dry run: reads both sides, writes nothing) ==");
    let (first, pairs) = cycle.plan_with_proposals().await?;
    let first_proposals = crate::report::ProposalPreview {
        pairs,
        top: super::plan::TOP_PAIRS,
    };
    let first_text = super::plan::render(&first, super::plan::Format::Text, color);
    print!(
        "{}",
        excerpt(&first_text, 2, "the HTML report at the end has them all")
    );
    println!("  duplicates: {}", first_proposals.headline());

    println!("\n== 2. tether sync ==");
    let r = cycle.run().await?;
    print!("{}", super::sync::describe(&r));
    let rollups = rollup_rows(&sb, &*store).await?;
    if let Some((id, props)) = rollups.first() {
        let shown: Vec<String> = props
            .iter()
            .take(4)
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "  roll-ups landed in HubSpot, e.g. contact {id}: {}",
            shown.join(", ")
        );
    }
    print!("{}", duplicates(&*store, &r).await?);

    println!("\n== 3. people edit both systems ==");
    let links = store.links().await?;
    let mut edits = 0;
    if let Some(l) = links.first() {
        sb.hubspot
            .edit_as_person(
                l.hubspot.as_str(),
                BTreeMap::from([("firstname".to_string(), "Marketing-Edit".to_string())]),
            )
            .map_err(anyhow::Error::msg)?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        sb.gorgias
            .edit_as_agent(l.gorgias.get(), json!({"name": "Support Edit"}));
        println!(
            "  HubSpot {} and Gorgias {}: both renamed, differently (a conflict: the default policy is `newest`)",
            l.hubspot, l.gorgias
        );
        edits += 1;
    }
    if let Some(l) = links.get(1) {
        sb.gorgias.edit_as_agent(
            l.gorgias.get(),
            json!({"channels": [{"type": "phone", "address": "+14155550199", "preferred": true}]}),
        );
        println!("  Gorgias {}: an agent fixed the phone number", l.gorgias);
        edits += 1;
    }
    if let Some(l) = links.get(2) {
        sb.hubspot
            .edit_as_person(
                l.hubspot.as_str(),
                BTreeMap::from([("lifecyclestage".to_string(), "evangelist".to_string())]),
            )
            .map_err(anyhow::Error::msg)?;
        println!(
            "  HubSpot {}: marketing moved the lifecycle stage",
            l.hubspot
        );
        edits += 1;
    }
    if let Some(l) = links.get(3) {
        super::demo_inbox::edit_company_on_both_sides(&sb, l)?;
    }
    let newcomer = super::demo_inbox::refuse_a_create(&sb)?;
    // Let the HubSpot search index catch up with the edits (its lag is time-scaled too).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = cycle.plan().await?;
    print!(
        "{}",
        excerpt(
            &super::plan::render(&second, super::plan::Format::Text, color),
            5,
            "`tether plan` lists them all"
        )
    );
    println!(
        "  (the other pairs compared are the echo of cycle 1's own writes: re-read once because their update time moved, nothing to write)"
    );
    let r2 = cycle.run().await?;
    print!("{}", super::sync::describe(&r2));
    let _ = edits;

    println!("\n== 4. a person works through the inbox ==");
    super::demo_inbox::work_through(&sb, &cycle, &*store, newcomer).await?;

    println!("\n== 5. tether plan again ==");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (wh, wg) = sb.write_calls();
    let last = cycle.plan().await?;
    println!(
        "  {}",
        super::plan::render(&last, super::plan::Format::Text, color)
            .trim_end()
            .lines()
            .last()
            .unwrap_or("")
    );
    println!(
        "  pending: {} writes, {} links, {} bases ({})",
        last.summary.hubspot_updates
            + last.summary.gorgias_updates
            + last.summary.hubspot_creates
            + last.summary.gorgias_creates,
        last.summary.links,
        last.summary.base_updates,
        if last.has_changes() {
            "NOT converged"
        } else {
            "nothing to do"
        }
    );
    let (wh2, wg2) = sb.write_calls();
    let (ch, cg) = sb.total_calls();
    println!(
        "  API calls made by the whole demo: HubSpot {ch} (writes {wh2}), Gorgias {cg} (writes {wg2}); the last plan wrote {} ",
        (wh2 - wh) + (wg2 - wg)
    );

    let path = report_path(args.report);
    let html = super::plan::render_with_proposals(
        &first,
        &first_proposals,
        super::plan::Format::Html,
        false,
    );
    let html = crate::report::support::with_section(
        &html,
        &crate::report::support::rollups_section(&rollups),
    );
    std::fs::write(&path, html).with_context(|| format!("cannot write {}", path.display()))?;
    let shown = std::fs::canonicalize(&path).unwrap_or(path);
    println!("\nHTML report of the first plan: {}", shown.display());
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("demo finished in {:.1} s", t0.elapsed().as_secs_f64());
    Ok(if last.has_changes() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn an_excerpt_keeps_the_summary_and_a_few_records_and_counts_the_rest() {
        let plan = "tether plan\ngenerated now\n\nSummary: 4 pairs\nCaps: ok\n\n\
                    HubSpot 1 ⇄ Gorgias 1\n  a\n\nHubSpot 2 ⇄ Gorgias 2\n  b\n\n\
                    HubSpot 3 ⇄ Gorgias 3\n  c\n\nGorgias 4 (no HubSpot contact)\n  d\n";
        let short = excerpt(plan, 2, "see the report");
        assert_eq!(
            short,
            "Summary: 4 pairs\nCaps: ok\n\nHubSpot 1 ⇄ Gorgias 1\n  a\n\n\
             HubSpot 2 ⇄ Gorgias 2\n  b\n\n  … 2 more records (see the report) …\n"
        );
        let all = excerpt(plan, 10, "unused");
        assert!(all.contains("Gorgias 4") && !all.contains("more records"));
        assert!(!all.contains("generated now"));
    }
}
