//! `cargo bench --bench support`: support roll-ups (issue 14), each figure beside its target.
//!
//! Phase 1, the first backfill: 50,000 tickets over 5,000 customers (and 10,000 surveys) read
//! from the Gorgias sandbox through the real connector under the real limits (40 requests
//! per 20 s, Basic auth) scaled in time, as the cycle's support step reads them: the tickets
//! by the cycle's own resumable backfill (`cycle::support_backfill`, each page stored with its
//! cursor, the next page fetched meanwhile), then the surveys' feed, whose facts are stored
//! afterwards. Gorgias calls vs the lower bound ⌈tickets/100⌉ + ⌈surveys/100⌉, 429s (target
//! 0), and the achieved request rate as a share of the allowed rate over the whole read,
//! ticket pages' storing included (target ≥ 85 %; allowed = the bucket's burst plus its
//! drain over the elapsed time, as in `gorgias_backfill`).
//!
//! Phase 2, a steady cycle: 1,000 linked people with support history; after the first cycle,
//! 500 tickets of 500 different customers change; the next cycle's HubSpot write calls vs
//! ⌈changed contacts/100⌉ (HubSpot reads of the normal sync are shown for context).

#[path = "support/figure.rs"]
mod figure;
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tether::commands::demo::Sandboxes;
use tether::cycle::{CycleOptions, support_backfill};
use tether::mappings::parse_files;
use tether::sandbox::gorgias::{SandboxConfig, TicketAction};
use tether::store::Store;
use tether::support::Change;

const BENCH: &str = "support";
const CUSTOMERS: usize = 5_000;
const TICKETS: usize = 50_000;
const SURVEYS: usize = 10_000;
const SCALE: f64 = 20.0;
const PEOPLE: usize = 1_000;
const CHANGED: usize = 500;

async fn backfill() {
    let cfg = SandboxConfig {
        time_scale: SCALE,
        ..SandboxConfig::default()
    };
    // The pair's Gorgias sandbox runs the default limits scaled by SCALE, like `cfg`.
    let sb = Sandboxes::start(SCALE).await.expect("sandboxes");
    let customers = sb.gorgias.seed_customers(
        (0..CUSTOMERS)
            .map(|i| json!({"name": format!("Customer {i}"), "email": format!("c{i}@shop.test")}))
            .collect(),
    );
    let tickets = sb.gorgias.seed_tickets(
        (0..TICKETS)
            .map(|i| {
                json!({
                    "customer_id": customers[i % CUSTOMERS],
                    "subject": format!("Order {i}"),
                    "channel": if i % 3 == 0 { "chat" } else { "email" },
                    "status": if i % 4 == 0 { "closed" } else { "open" },
                })
            })
            .collect(),
    );
    for (i, t) in tickets.iter().take(SURVEYS).enumerate() {
        sb.gorgias
            .add_survey(*t, Some(1 + (i % 5) as u8))
            .expect("survey");
    }
    sb.gorgias.reset_counters();
    let store = Arc::new(Store::open_in_memory().await.expect("store"));
    // The backfill reads no mapping; the cycle it runs in needs a set.
    let mappings = tether::commands::demo::default_mappings().expect("default mappings");
    let cycle = sb.cycle(store.clone(), Arc::new(mappings), CycleOptions::default());
    let client = sb.gorgias_client.clone();

    let t0 = Instant::now();
    let b = support_backfill::run(&cycle, Utc::now())
        .await
        .expect("ticket backfill");
    let tickets_done = t0.elapsed();
    let s = client
        .surveys_since_last_seen(None, chrono::Duration::days(7))
        .await
        .expect("survey backfill");
    let elapsed = t0.elapsed();
    assert_eq!(b.tickets, TICKETS, "every ticket read");
    assert_eq!(s.items.len(), SURVEYS, "every survey read");
    let changes: Vec<Change> = s.items.into_iter().map(Change::Survey).collect();
    let t1 = Instant::now();
    store
        .apply_support_changes(&changes, Utc::now())
        .await
        .expect("store");
    let stored = t1.elapsed();
    let owed = store
        .support_owed(2 * CUSTOMERS as u32)
        .await
        .expect("owed");
    assert_eq!(owed.len(), CUSTOMERS, "every customer's roll-up owed");
    let st = store.support_status().await.expect("status");
    assert_eq!(
        (st.backfill_tickets, st.backfill_done),
        (TICKETS as u64, true)
    );

    let m = client.metrics();
    let calls = m.total_calls();
    let lower = (TICKETS.div_ceil(100) + SURVEYS.div_ceil(100)) as u64;
    let r429 = m.rate_limited + sb.gorgias.counters().rate_limited;
    let limit = f64::from(cfg.basic_limit);
    let window = cfg.bucket_window.as_secs_f64();
    let sandbox_secs = elapsed.as_secs_f64() * SCALE;
    let allowed = limit + sandbox_secs * limit / window;
    let share = calls as f64 / allowed * 100.0;
    println!(
        "phase 1: backfill of {TICKETS} tickets over {CUSTOMERS} customers, {SURVEYS} surveys (time scaled {SCALE}x)"
    );
    println!(
        "  Gorgias calls          {calls:>8}   lower bound {lower} (⌈tickets/100⌉ + survey pages)   {}",
        ok(calls == lower)
    );
    println!(
        "  429s                   {r429:>8}   target 0   {}",
        ok(r429 == 0)
    );
    println!(
        "  share of allowed rate  {share:>7.1}%   target ≥ 85 %   {}",
        ok(share >= 85.0)
    );
    println!(
        "    ({:.1} s of sandbox time = {:.2} s real, of which the ticket backfill {:.2} s with its 50,000 facts stored page by page; then 10,000 survey facts stored in {:.2} s)",
        sandbox_secs,
        elapsed.as_secs_f64(),
        tickets_done.as_secs_f64(),
        stored.as_secs_f64()
    );
    figure::record(
        BENCH,
        "backfill: Gorgias calls vs ⌈tickets/100⌉ + survey pages",
        &format!("{calls} vs {lower}"),
        "equal",
        Some(calls == lower),
    );
    figure::record(
        BENCH,
        "backfill: 429s",
        &r429.to_string(),
        "0",
        Some(r429 == 0),
    );
    figure::record(
        BENCH,
        "backfill: share of the allowed request rate",
        &format!("{share:.1} %"),
        "≥ 85 %",
        Some(share >= 85.0),
    );
    figure::record(
        BENCH,
        "backfill: 50,000 tickets read and stored (pipelined pages)",
        &format!("{:.2} s", tickets_done.as_secs_f64()),
        "—",
        None,
    );
    figure::record(
        BENCH,
        "backfill: 10,000 survey facts stored",
        &format!("{:.2} s", stored.as_secs_f64()),
        "—",
        None,
    );
}

fn ok(met: bool) -> &'static str {
    if met { "OK" } else { "MISSED" }
}

fn hubspot_calls(sb: &Sandboxes, write: bool) -> u64 {
    sb.hubspot
        .counters()
        .by_endpoint
        .iter()
        .filter(|(k, _)| {
            let w = k.contains("/batch/update")
                || k.contains("/batch/create")
                || k.contains("/batch/upsert");
            w == write
        })
        .map(|(_, v)| v)
        .sum()
}

async fn steady() {
    let sb = Sandboxes::start(50.0).await.expect("sandboxes");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let files: Vec<_> = [
        root.join("default.toml"),
        root.join("examples/support.toml"),
    ]
    .into_iter()
    .map(|p| {
        let text = std::fs::read_to_string(&p).expect("mapping file");
        (p, text)
    })
    .collect();
    let mappings = parse_files(&files).expect("mappings");
    sb.hubspot.seed_contacts(
        (0..PEOPLE)
            .map(|i| {
                BTreeMap::from([
                    ("email".to_owned(), format!("p{i}@shop.test")),
                    ("firstname".to_owned(), "Pat".to_owned()),
                    ("lastname".to_owned(), format!("Person{i}")),
                ])
            })
            .collect(),
    );
    let customers = sb.gorgias.seed_customers(
        (0..PEOPLE)
            .map(|i| json!({"name": format!("Pat Person{i}"), "email": format!("p{i}@shop.test"),
                "channels": [{"type": "email", "address": format!("p{i}@shop.test"), "preferred": true}]}))
            .collect(),
    );
    let tickets: Vec<i64> = customers
        .iter()
        .map(|c| sb.gorgias.open_ticket(*c, "Question", "email"))
        .collect();
    sb.setup(&mappings).await.expect("setup");
    let store = Store::open_in_memory().await.expect("store");
    let options = CycleOptions {
        overlap: Duration::from_secs(30),
        max_overwrites: 100_000,
        max_creates: 100_000,
        ..CycleOptions::default()
    };
    let cycle = sb.cycle(Arc::new(store), Arc::new(mappings), options);
    let first = cycle.run().await.expect("first cycle");
    assert_eq!(first.support.contacts_owed, 0, "{:?}", first.support);
    // A quiet cycle so the echo of the first cycle's writes is behind us.
    tokio::time::sleep(Duration::from_millis(200)).await;
    cycle.run().await.expect("second cycle");
    for t in tickets.iter().take(CHANGED) {
        sb.gorgias
            .ticket_action(*t, TicketAction::Close)
            .expect("close");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    sb.hubspot.reset_counters();
    let r = cycle.run().await.expect("steady cycle");
    let writes = hubspot_calls(&sb, true);
    let reads = hubspot_calls(&sb, false);
    let changed = r.support.contacts_written;
    let bound = changed.div_ceil(100) as u64;
    println!(
        "phase 2: steady cycle, {CHANGED} tickets of {CHANGED} customers changed ({PEOPLE} linked people)"
    );
    println!(
        "  contacts written       {changed:>8}   expected {CHANGED}   {}",
        ok(changed == CHANGED)
    );
    println!(
        "  HubSpot write calls    {writes:>8}   target ⌈changed contacts/100⌉ = {bound}   {}",
        ok(writes == bound)
    );
    println!("  HubSpot other calls    {reads:>8}   (the normal sync's reads, for context)");
    figure::record(
        BENCH,
        "steady cycle: contacts written for 500 changed tickets",
        &changed.to_string(),
        "500",
        Some(changed == CHANGED),
    );
    figure::record(
        BENCH,
        "steady cycle: HubSpot write calls vs ⌈changed contacts/100⌉",
        &format!("{writes} vs {bound}"),
        "equal",
        Some(writes == bound),
    );
    figure::record(
        BENCH,
        "steady cycle: HubSpot other calls (sync reads)",
        &reads.to_string(),
        "—",
        None,
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        backfill().await;
        steady().await;
    });
}
