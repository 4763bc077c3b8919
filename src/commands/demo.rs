//! `tether demo`: the README's main command. Starts both sandboxes on loopback, seeds them
//! with generated people ([`crate::generate::demo_people`]: overlaps, conflicting values,
//! near-duplicates), creates the HubSpot property the default mappings need, and, with a
//! temporary store, prints the plan, syncs, makes a few conflicting edits on both sides
//! (one on a field whose policy is `manual`, held for a person) while a HubSpot portal rule
//! refuses one create, plans and syncs again, works through the inbox
//! ([`super::demo_inbox`]: the conflict resolved, the rule lifted, one sync settles both),
//! shows that a last plan has nothing to do, and writes the HTML report. Everything printed is what the real code did against the sandboxes over HTTP.
//!
//! Also owns [`Sandboxes`], the loopback pair with matching clients that the cycle's
//! integration tests and the API-economy benchmark use. Must never fake an outcome.

use super::Global;
use crate::connectors::gorgias::{GorgiasClient, GorgiasConfig};
use crate::connectors::hubspot::{ApiVersion, HubspotClient, HubspotConfig};
use crate::connectors::retry::Backoff;
use crate::cycle::{Cycle, CycleOptions};
use crate::domain::System;
use crate::generate::{GeneratedProfile as Profile, demo_people};
use crate::mappings::{self, MappingSet};
use crate::sandbox::Running;
use crate::sandbox::gorgias::{GorgiasSandbox, SandboxConfig as GorgiasSandboxConfig};
use crate::sandbox::hubspot::{HubspotSandbox, SandboxConfig as HubspotSandboxConfig};
use crate::secret::Secret;
use crate::store::{Mode, Store};
use anyhow::Context;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
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

/// Both sandboxes on loopback, with clients paced for their (time-scaled) limits.
#[derive(Debug)]
pub struct Sandboxes {
    pub hubspot: HubspotSandbox,
    pub gorgias: GorgiasSandbox,
    pub hubspot_running: Running,
    pub gorgias_running: Running,
    pub hubspot_client: HubspotClient,
    pub gorgias_client: Arc<GorgiasClient>,
}

impl Sandboxes {
    /// Starts both sandboxes with their real limits running `speed` times faster, the
    /// HubSpot client on the default API version (2026-09).
    pub async fn start(speed: f64) -> anyhow::Result<Sandboxes> {
        Self::start_on(speed, ApiVersion::default()).await
    }

    /// As [`Sandboxes::start`], with the HubSpot client on `api_version`.
    pub async fn start_on(speed: f64, api_version: ApiVersion) -> anyhow::Result<Sandboxes> {
        let speed = if speed.is_finite() && speed >= 1.0 {
            speed
        } else {
            1.0
        };
        let addr: SocketAddr = "127.0.0.1:0".parse()?;
        let hcfg = HubspotSandboxConfig {
            token: Secret::new("pat-na1-demo"),
            time_scale: 1.0 / speed,
            ..HubspotSandboxConfig::default()
        };
        let (hubspot, hubspot_running) = HubspotSandbox::start(hcfg.clone(), addr).await?;
        let gcfg = GorgiasSandboxConfig {
            time_scale: speed,
            ..GorgiasSandboxConfig::default()
        };
        let (gorgias, gorgias_running) = GorgiasSandbox::start(gcfg.clone(), addr).await?;
        let fast = Backoff {
            base: Duration::from_millis(5),
            cap: Duration::from_millis(100),
            max_attempts: 8,
        };
        let hubspot_client = HubspotClient::new(HubspotConfig {
            base_url: hubspot_running.base_url.clone(),
            token: hcfg.token.clone(),
            api_version,
            burst_limit: hcfg.burst_limit,
            burst_window: hcfg.scaled(hcfg.burst_window),
            search_per_second: hcfg.search_limit,
            search_window: hcfg.scaled(hcfg.search_window),
            request_timeout: Duration::from_secs(10),
            backoff: fast,
            locked_wait: Duration::from_millis(50),
            max_rate_limit_retries: 20,
            feed_overlap: Duration::from_secs(1),
            search_page_size: 200,
        })?;
        let mut gc = GorgiasConfig::new(
            gorgias_running.base_url.clone(),
            gcfg.username.clone(),
            gcfg.api_key.clone(),
        );
        gc.time_scale = gcfg.time_scale;
        gc.timeout = Duration::from_secs(10);
        gc.backoff = fast;
        let gorgias_client = Arc::new(GorgiasClient::new(gc)?);
        Ok(Sandboxes {
            hubspot,
            gorgias,
            hubspot_running,
            gorgias_running,
            hubspot_client,
            gorgias_client,
        })
    }

    /// Creates the HubSpot custom properties `mappings` declare (what `tether setup` does).
    pub async fn setup(&self, mappings: &MappingSet) -> anyhow::Result<Vec<String>> {
        let defs: Vec<_> = mappings
            .hubspot_properties()
            .iter()
            .map(super::setup::property_definition)
            .collect();
        Ok(self.hubspot_client.ensure_properties(&defs).await?)
    }

    /// A cycle over these sandboxes.
    pub fn cycle(&self, store: Store, mappings: Arc<MappingSet>, options: CycleOptions) -> Cycle {
        Cycle {
            store,
            hubspot: self.hubspot_client.clone(),
            gorgias: self.gorgias_client.clone(),
            mappings,
            options,
        }
    }

    /// Seeds generated people into the system each belongs to. Returns (contacts, customers).
    pub fn seed(&self, people: &[Profile]) -> (usize, usize) {
        seed_sandboxes(&self.hubspot, &self.gorgias, people)
    }

    /// Writes issued so far: HubSpot batch create/update/upsert calls and Gorgias
    /// create/update/data calls, as the sandboxes counted them.
    pub fn write_calls(&self) -> (u64, u64) {
        let h = self.hubspot.counters();
        let g = self.gorgias.counters();
        let h_writes = h
            .by_endpoint
            .iter()
            .filter(|(k, _)| {
                k.contains("batch/create")
                    || k.contains("batch/update")
                    || k.contains("batch/upsert")
                    || (k.starts_with("PATCH") && k.contains("contacts"))
                    || (k.starts_with("POST ")
                        && k.contains("/objects/")
                        && k.trim_end().ends_with("/contacts"))
            })
            .map(|(_, v)| *v)
            .sum();
        let g_writes = g
            .calls
            .iter()
            .filter(|(k, _)| k.starts_with("PUT ") || k.as_str() == "POST /api/customers")
            .map(|(_, v)| *v)
            .sum();
        (h_writes, g_writes)
    }

    /// All API calls so far (HubSpot, Gorgias), as the sandboxes counted them.
    pub fn total_calls(&self) -> (u64, u64) {
        (
            self.hubspot.counters().total,
            self.gorgias.counters().total_calls(),
        )
    }
}

fn stage_for(i: usize) -> &'static str {
    [
        "subscriber",
        "lead",
        "customer",
        "opportunity",
        "lead",
        "customer",
    ][i % 6]
}

/// Seeds generated people into the sandboxes of their `source` system, with the Gorgias
/// customers' support history; returns how many contacts and customers were created. Used by `tether demo` and `tether sandbox --records`.
pub fn seed_sandboxes(
    hubspot: &HubspotSandbox,
    gorgias: &GorgiasSandbox,
    people: &[Profile],
) -> (usize, usize) {
    let mut h_rows = vec![];
    let mut g_rows = vec![];
    for (i, p) in people.iter().enumerate() {
        match p.source {
            Some(System::Hubspot) => h_rows.push(hubspot_row(p, i)),
            Some(System::Gorgias) => g_rows.push(gorgias_row(p)),
            None => {}
        }
    }
    // A row whose e-mail is already taken answers with the existing record's id: count
    // distinct ids, not rows.
    let h: HashSet<String> = hubspot.seed_contacts(h_rows).into_iter().collect();
    let g: HashSet<i64> = gorgias.seed_customers(g_rows).into_iter().collect();
    // Support history (issue 14): tickets and satisfaction surveys of the customers.
    let mut ids: Vec<i64> = g.iter().copied().collect();
    ids.sort_unstable();
    gorgias.seed_support_history(&ids, ids.len() as u64);
    (h.len(), g.len())
}

fn hubspot_row(p: &Profile, i: usize) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for (k, v) in [
        ("email", p.email.as_str()),
        ("firstname", p.first_name.as_str()),
        ("lastname", p.last_name.as_str()),
        ("phone", p.phone.as_str()),
        ("city", p.city.as_str()),
    ] {
        if !v.trim().is_empty() {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m.insert("lifecyclestage".into(), stage_for(i).into());
    m
}

fn gorgias_row(p: &Profile) -> Value {
    let name = format!("{} {}", p.first_name, p.last_name)
        .trim()
        .to_string();
    let mut channels = vec![];
    if !p.email.trim().is_empty() {
        channels.push(json!({"type": "email", "address": p.email, "preferred": true}));
    }
    if !p.phone.trim().is_empty() {
        channels.push(json!({"type": "phone", "address": p.phone, "preferred": false}));
    }
    let mut c = json!({"name": name, "channels": channels});
    if !p.email.trim().is_empty() {
        c["email"] = json!(p.email);
    }
    c
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

fn short(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    if all.len() <= lines + 8 {
        return text.to_string();
    }
    let head = all
        .iter()
        .take(lines)
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let tail_start = all
        .iter()
        .position(|l| l.starts_with("Summary:"))
        .unwrap_or(all.len());
    let tail = all.get(tail_start..).unwrap_or(&[]).join("\n");
    format!(
        "{head}\n  … {} more lines (the HTML report has them all) …\n\n{tail}\n",
        tail_start.saturating_sub(lines)
    )
}

/// What the first sync queued as duplicates: how many, and the top proposal with the
/// explanation of its score (both records' names and each field's weight in bits).
async fn duplicates(store: &Store, r: &crate::cycle::CycleReport) -> anyhow::Result<String> {
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
    let store = Store::open_url(&format!("sqlite://{}", db.display()), 5_000, Mode::Writer)
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
    print!("{}", short(&first_text, 30));
    println!("  duplicates: {}", first_proposals.headline());

    println!("\n== 2. tether sync ==");
    let r = cycle.run().await?;
    print!("{}", super::sync::describe(&r));
    print!("{}", duplicates(&store, &r).await?);

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
        short(
            &super::plan::render(&second, super::plan::Format::Text, color),
            20
        )
    );
    println!(
        "  (the other pairs compared are the echo of cycle 1's own writes: re-read once because their update time moved, nothing to write)"
    );
    let r2 = cycle.run().await?;
    print!("{}", super::sync::describe(&r2));
    let _ = edits;

    println!("\n== 4. a person works through the inbox ==");
    super::demo_inbox::work_through(&sb, &cycle, &store, newcomer).await?;

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
