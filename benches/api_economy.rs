//! API economy of one sync cycle on a mixed scenario, against both sandboxes over loopback.
//!
//! Run: `cargo bench --bench api_economy`. Seeds linked pairs and one-sided records, runs the
//! first sync and a settling cycle, then makes a mixed set of edits (one-sided on each side,
//! conflicts, identical edits on both sides, new records on each side, the rest unchanged)
//! and measures the one cycle that syncs them:
//! - writes issued / writes necessary (target 1.00): record writes confirmed by the systems
//!   (outbox items done) against the writes the scenario requires;
//! - calls / lower bound (target ≤ 1.10): every API call the sandboxes received during the
//!   cycle against the fewest calls a correct client needs (formula printed below);
//! - Gorgias calls / lower bound over three cycles (target ≤ 1.10, issue 14): the cycle with
//!   the writes, the next one (their echo) and a quiet one.

#[path = "support/figure.rs"]
mod figure;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tether::commands::demo::{Sandboxes, default_mappings};
use tether::cycle::CycleOptions;
use tether::store::Store;

const PAIRS: usize = 150;
const ONLY_H: usize = 25;
const ONLY_G: usize = 25;
const EDIT_H: usize = 20; // phone changed in HubSpot → Gorgias write
const EDIT_G: usize = 20; // name changed in Gorgias → HubSpot write
const CONFLICTS: usize = 10; // name changed on both sides, differently → newest wins
const SAME: usize = 5; // name changed on both sides to the same value → no write
const NEW_H: usize = 10; // new HubSpot contacts → Gorgias creates
const NEW_G: usize = 10; // new Gorgias customers → HubSpot creates

fn contact(email: &str, first: &str, last: &str, phone: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("email".to_string(), email.to_string()),
        ("firstname".to_string(), first.to_string()),
        ("lastname".to_string(), last.to_string()),
        ("phone".to_string(), phone.to_string()),
        ("lifecyclestage".to_string(), "lead".to_string()),
    ])
}

fn customer(email: &str, name: &str) -> serde_json::Value {
    json!({"email": email, "name": name,
           "channels": [{"type": "email", "address": email, "preferred": true}]})
}

fn phone(i: usize) -> String {
    format!("+1415555{:04}", i % 10_000)
}

fn div_ceil(a: usize, b: usize) -> usize {
    a.div_ceil(b).max(if a > 0 { 1 } else { 0 })
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let sb = Sandboxes::start(50.0).await.expect("sandboxes");
    let mappings = Arc::new(default_mappings().expect("mappings"));
    sb.setup(&mappings).await.expect("setup");
    let mut contacts = vec![];
    let mut customers = vec![];
    for i in 0..PAIRS {
        let e = format!("pair{i}@shop.test");
        contacts.push(contact(&e, "Pat", &format!("Pair{i}"), &phone(i)));
        let mut c = customer(&e, &format!("Pat Pair{i}"));
        c["channels"]
            .as_array_mut()
            .expect("list")
            .push(json!({"type": "phone", "address": phone(i), "preferred": false}));
        customers.push(c);
    }
    for i in 0..ONLY_H {
        contacts.push(contact(
            &format!("oh{i}@shop.test"),
            "Hal",
            &format!("Only{i}"),
            "",
        ));
    }
    for i in 0..ONLY_G {
        customers.push(customer(
            &format!("og{i}@shop.test"),
            &format!("Gil Only{i}"),
        ));
    }
    sb.hubspot.seed_contacts(contacts);
    sb.gorgias.seed_customers(customers);
    let store = Store::open_in_memory().await.expect("store");
    let options = CycleOptions {
        overlap: Duration::from_secs(1),
        ..CycleOptions::default()
    };
    let cycle = sb.cycle(Arc::new(store.clone()), mappings, options);
    let first = cycle.run().await.expect("first sync");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let settle = cycle.run().await.expect("settling cycle");
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    println!(
        "setup: first sync {} writes ({} links, {} creates); settling cycle {} writes",
        first.applied.done,
        first.plan.summary.links,
        first.plan.summary.hubspot_creates + first.plan.summary.gorgias_creates,
        settle.applied.done
    );

    // The mixed scenario.
    let links = store.links().await.expect("links");
    let mut pairs: Vec<_> = links
        .iter()
        .filter(|l| {
            sb.hubspot
                .contact(l.hubspot.as_str())
                .and_then(|c| {
                    c["properties"]["email"]
                        .as_str()
                        .map(|e| e.starts_with("pair"))
                })
                .unwrap_or(false)
        })
        .cloned()
        .collect();
    pairs.sort_by_key(|l| l.hubspot.as_str().parse::<u64>().unwrap_or(0));
    assert!(
        pairs.len() >= EDIT_H + EDIT_G + CONFLICTS + SAME,
        "not enough linked pairs"
    );
    let mut it = pairs.iter();
    for (k, l) in it.by_ref().take(EDIT_H).enumerate() {
        sb.hubspot
            .edit_as_person(
                l.hubspot.as_str(),
                BTreeMap::from([("phone".to_string(), phone(5000 + k))]),
            )
            .expect("edit");
    }
    for (k, l) in it.by_ref().take(EDIT_G).enumerate() {
        sb.gorgias
            .edit_as_agent(l.gorgias.get(), json!({"name": format!("Gia Edited{k}")}));
    }
    let conflicts: Vec<_> = it.by_ref().take(CONFLICTS).collect();
    for (k, l) in conflicts.iter().enumerate() {
        sb.hubspot
            .edit_as_person(
                l.hubspot.as_str(),
                BTreeMap::from([("lastname".to_string(), format!("Marketing{k}"))]),
            )
            .expect("edit");
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    for (k, l) in conflicts.iter().enumerate() {
        sb.gorgias
            .edit_as_agent(l.gorgias.get(), json!({"name": format!("Pat Support{k}")}));
    }
    for (k, l) in it.by_ref().take(SAME).enumerate() {
        sb.hubspot
            .edit_as_person(
                l.hubspot.as_str(),
                BTreeMap::from([("lastname".to_string(), format!("Same{k}"))]),
            )
            .expect("edit");
        sb.gorgias
            .edit_as_agent(l.gorgias.get(), json!({"name": format!("Pat Same{k}")}));
    }
    sb.hubspot.seed_contacts(
        (0..NEW_H)
            .map(|i| contact(&format!("nh{i}@shop.test"), "Nia", &format!("New{i}"), ""))
            .collect(),
    );
    sb.gorgias.seed_customers(
        (0..NEW_G)
            .map(|i| customer(&format!("ng{i}@shop.test"), &format!("Ned New{i}")))
            .collect(),
    );
    tokio::time::sleep(Duration::from_millis(150)).await; // search index lag (scaled)

    let (h0, g0) = sb.total_calls();
    let t = Instant::now();
    let r = cycle.run().await.expect("scenario cycle");
    let took = t.elapsed();
    let (h1, g1) = sb.total_calls();
    let calls = (h1 - h0) + (g1 - g0);

    let writes_issued = r.applied.done + r.applied.failed + r.applied.pending;
    let writes_needed = EDIT_H + EDIT_G + CONFLICTS + 2 * NEW_H + 2 * NEW_G;

    // The fewest calls a correct client needs for this cycle.
    let changed_h = EDIT_H + CONFLICTS + SAME + NEW_H;
    let changed_g = EDIT_G + CONFLICTS + SAME + NEW_G;
    let lb_h = div_ceil(changed_h, 200) // search feed
        + div_ceil(EDIT_G, 100) // batch read of counterparts of Gorgias-only edits
        + div_ceil(NEW_G, 100) // batch read by e-mail: are the new customers in HubSpot?
        + div_ceil(EDIT_G + CONFLICTS + NEW_G, 100) // batch update (edits, conflicts, ids)
        + div_ceil(NEW_G, 100); // batch create
    let lb_g = div_ceil(changed_g, 100) // list feed
        + 1 // events (deletions, merges)
        + changed_g // GET each changed customer (the list has no channels)
        + EDIT_H // GET the counterparts of HubSpot-only edits
        + NEW_H // lookup by e-mail: are the new contacts in Gorgias?
        + EDIT_H // PUT the phone channel
        + NEW_H * 2 // POST create + PUT data
        + NEW_G; // PUT external_id on the customers HubSpot contacts were created from
    let lower_bound = lb_h + lb_g;

    println!(
        "scenario: {PAIRS} linked pairs; {EDIT_H} HubSpot-only edits, {EDIT_G} Gorgias-only edits, {CONFLICTS} conflicts (newest wins), {SAME} identical edits on both sides, {NEW_H} new HubSpot contacts, {NEW_G} new Gorgias customers; the rest unchanged"
    );
    println!(
        "cycle: {} ({} pairs compared, {} field writes, {} conflicts held) in {:.2} s",
        r.outcome.as_str(),
        r.plan.summary.pairs,
        r.plan.summary.field_writes,
        r.plan.summary.conflicts,
        took.as_secs_f64()
    );
    println!(
        "writes issued / writes necessary = {writes_issued} / {writes_needed} = {:.2}   (target 1.00)",
        writes_issued as f64 / writes_needed as f64
    );
    figure::record(
        "api_economy",
        "writes issued / writes necessary",
        &format!(
            "{writes_issued} / {writes_needed} = {:.2}",
            writes_issued as f64 / writes_needed as f64
        ),
        "1.00",
        Some(writes_issued == writes_needed),
    );
    figure::record(
        "api_economy",
        "API calls / lower bound (one incremental cycle)",
        &format!(
            "{calls} / {lower_bound} = {:.3}",
            calls as f64 / lower_bound as f64
        ),
        "≤ 1.10",
        Some(calls as f64 <= 1.10 * lower_bound as f64),
    );
    println!(
        "calls / lower bound = {calls} / {lower_bound} = {:.3}   (target ≤ 1.10)   [HubSpot {} vs ≥{lb_h}, Gorgias {} vs ≥{lb_g}]",
        calls as f64 / lower_bound as f64,
        h1 - h0,
        g1 - g0
    );

    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (wh, wg) = sb.write_calls();
    let (h2, g2) = sb.total_calls();
    let echo = cycle.run().await.expect("echo cycle");
    let (h3, g3) = sb.total_calls();
    println!(
        "next cycle (echo of our own writes): {} writes planned, {} write calls sent, {} calls (reads of the records just written)",
        echo.applied.done,
        (sb.write_calls().0 - wh) + (sb.write_calls().1 - wg),
        (h3 - h2) + (g3 - g2)
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let quiet = cycle.run().await.expect("quiet cycle");
    let (_, g4) = sb.total_calls();
    // Issue 14: Gorgias calls over the three cycles (the writes, their echo, a quiet one)
    // against the fewest a correct client needs: the echo cycle lists the customers just
    // written (no full read: nothing changed since tether's own write) and the events; the
    // quiet cycle one list page and the events.
    let written_g = EDIT_H + NEW_H + NEW_G + CONFLICTS;
    let lb_g3 = lb_g + (div_ceil(written_g, 100) + 1) + (1 + 1);
    let g_calls3 = g4 - g0;
    println!(
        "Gorgias calls over three cycles (writes, echo, quiet) / lower bound = {g_calls3} / {lb_g3} = {:.3}   (target ≤ 1.10)   [echo cycle {}, quiet cycle {}; {} writes in the quiet cycle]",
        g_calls3 as f64 / lb_g3 as f64,
        g3 - g2,
        g4 - g3,
        quiet.applied.done
    );
    figure::record(
        "api_economy",
        "Gorgias calls / lower bound (three cycles: writes, echo, quiet)",
        &format!(
            "{g_calls3} / {lb_g3} = {:.3}",
            g_calls3 as f64 / lb_g3 as f64
        ),
        "≤ 1.10",
        Some(g_calls3 as f64 <= 1.10 * lb_g3 as f64),
    );
    let last = cycle.plan().await.expect("plan");
    figure::record(
        "api_economy",
        "converged after one cycle (next plan empty)",
        if last.has_changes() { "no" } else { "yes" },
        "yes",
        Some(!last.has_changes()),
    );
    println!(
        "converged: {}",
        if last.has_changes() {
            "NO"
        } else {
            "yes (plan has nothing to do)"
        }
    );
}
