//! Support roll-ups end to end (issue 14): the real cycle against both sandboxes with the
//! default mappings plus `mappings/examples/support.toml`. The roll-ups on the HubSpot
//! contacts are exact after the first backfill and after incremental changes (a new ticket,
//! a closed ticket, a trashed ticket, a late survey score, a customer merged in Gorgias whose
//! tickets then count for the survivor), and unchanged values are never written again.

use crate::cycle_support::{cycle_with, options, sandboxes, seed_people, settle};
use serde_json::Value;
use std::path::Path;
use tether::commands::demo::Sandboxes;
use tether::cycle::Cycle;
use tether::domain::GorgiasId;
use tether::mappings::{MappingSet, parse_files};
use tether::sandbox::gorgias::TicketAction;

pub fn mappings() -> MappingSet {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let files: Vec<_> = [
        root.join("default.toml"),
        root.join("examples/support.toml"),
    ]
    .into_iter()
    .map(|p| {
        let text = std::fs::read_to_string(&p).unwrap();
        (p, text)
    })
    .collect();
    parse_files(&files).unwrap_or_else(|e| panic!("{e}"))
}

/// The roll-up properties of the contact linked to Gorgias customer `g`.
pub async fn rollups_of(sb: &Sandboxes, c: &Cycle, g: i64) -> Value {
    let link = c
        .store
        .link_by_gorgias(GorgiasId::new(g).unwrap())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("customer {g} is not linked"));
    let contact = sb.hubspot.contact(link.hubspot.as_str()).unwrap();
    contact["properties"].clone()
}

pub fn prop<'a>(props: &'a Value, name: &str) -> &'a str {
    props[name].as_str().unwrap_or("")
}

/// Batch-update calls HubSpot counted so far.
pub fn hubspot_updates(sb: &Sandboxes) -> u64 {
    sb.hubspot
        .counters()
        .by_endpoint
        .iter()
        .filter(|(k, _)| k.starts_with("POST") && k.ends_with("/batch/update"))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollups_are_exact_after_the_backfill_and_after_incremental_changes() {
    let sb = sandboxes().await;
    seed_people(&sb, 4, 4);
    let g = sb.gorgias.customer_ids();
    assert_eq!(g.len(), 4);
    // Support history before tether's first run.
    let t1 = sb.gorgias.open_ticket(g[0], "Where is my order?", "email");
    let t2 = sb.gorgias.open_ticket(g[0], "Refund", "chat");
    sb.gorgias.ticket_action(t1, TicketAction::Close).unwrap();
    let s1 = sb.gorgias.add_survey(t1, Some(4)).unwrap();
    let t3 = sb.gorgias.open_ticket(g[1], "Sizing", "email");
    let spam = sb.gorgias.open_ticket(g[1], "WIN A PRIZE", "email");
    sb.gorgias.ticket_action(spam, TicketAction::Spam).unwrap();
    let t4 = sb.gorgias.open_ticket(g[2], "Damaged", "phone");
    let t5 = sb.gorgias.open_ticket(g[3], "Exchange", "chat");
    let _ = (s1, t2, t5);

    let c = cycle_with(&sb, mappings(), options()).await;
    let r = c.run().await.unwrap();
    assert!(r.support.ran);
    assert_eq!(r.support.tickets_read, 6);
    assert_eq!(r.support.contacts_owed, 0);
    let p0 = rollups_of(&sb, &c, g[0]).await;
    assert_eq!(prop(&p0, "gorgias_ticket_count"), "2");
    assert_eq!(prop(&p0, "gorgias_open_tickets"), "1");
    assert_eq!(prop(&p0, "gorgias_csat_count"), "1");
    assert_eq!(prop(&p0, "gorgias_last_csat"), "4");
    assert_eq!(prop(&p0, "gorgias_avg_csat"), "4");
    assert_eq!(prop(&p0, "gorgias_last_subject"), "Refund");
    assert_eq!(prop(&p0, "gorgias_last_channel"), "chat");
    assert_eq!(prop(&p0, "gorgias_last_status"), "open");
    assert!(
        prop(&p0, "gorgias_last_ticket_url").ends_with(&format!("/app/ticket/{t2}")),
        "{p0}"
    );
    assert!(!prop(&p0, "gorgias_last_closed_at").is_empty(), "{p0}");
    let p1 = rollups_of(&sb, &c, g[1]).await;
    assert_eq!(prop(&p1, "gorgias_ticket_count"), "1", "spam left out");
    assert_eq!(
        prop(&p1, "gorgias_ticket_count_all"),
        "2",
        "include = [spam, trashed]"
    );
    assert_eq!(prop(&p1, "gorgias_csat_count"), "0");
    assert_eq!(
        prop(&p1, "gorgias_last_csat"),
        "",
        "never scored: not written"
    );

    // Nothing changed: nothing is written.
    settle(&sb).await;
    let before = hubspot_updates(&sb);
    let r = c.run().await.unwrap();
    assert_eq!(r.support.contacts_written, 0, "{:?}", r.support);
    assert_eq!(
        hubspot_updates(&sb),
        before,
        "unchanged values are never written"
    );

    // Incremental: a new ticket, a closed ticket, a trashed ticket, a survey sent now and
    // scored later, a customer merged into another.
    let t6 = sb.gorgias.open_ticket(g[2], "Late delivery", "email");
    sb.gorgias.ticket_action(t3, TicketAction::Close).unwrap();
    sb.gorgias.ticket_action(t4, TicketAction::Trash).unwrap();
    let late = sb.gorgias.add_survey(t3, None).unwrap();
    settle(&sb).await;
    let r = c.run().await.unwrap();
    assert!(r.support.customers_changed >= 2, "{:?}", r.support);
    let p1 = rollups_of(&sb, &c, g[1]).await;
    assert_eq!(prop(&p1, "gorgias_open_tickets"), "0");
    assert_eq!(prop(&p1, "gorgias_last_status"), "closed");
    assert_eq!(prop(&p1, "gorgias_csat_count"), "0", "not scored yet");
    let p2 = rollups_of(&sb, &c, g[2]).await;
    assert_eq!(
        prop(&p2, "gorgias_ticket_count"),
        "1",
        "the trashed one left out"
    );
    assert_eq!(prop(&p2, "gorgias_ticket_count_all"), "2");
    assert_eq!(prop(&p2, "gorgias_last_subject"), "Late delivery");
    assert!(prop(&p2, "gorgias_last_ticket_url").ends_with(&format!("/app/ticket/{t6}")));

    assert!(sb.gorgias.score_survey(late, 2));
    settle(&sb).await;
    c.run().await.unwrap();
    let p1 = rollups_of(&sb, &c, g[1]).await;
    assert_eq!(prop(&p1, "gorgias_csat_count"), "1", "a late score is seen");
    assert_eq!(prop(&p1, "gorgias_last_csat"), "2");

    // g[3] merged into g[0] in Gorgias: its ticket counts for the survivor.
    assert!(sb.gorgias.merge_as_agent(g[3], g[0]));
    settle(&sb).await;
    c.run().await.unwrap();
    settle(&sb).await;
    c.run().await.unwrap();
    let p0 = rollups_of(&sb, &c, g[0]).await;
    assert_eq!(prop(&p0, "gorgias_ticket_count"), "3", "{p0}");
    assert_eq!(prop(&p0, "gorgias_open_tickets"), "2", "{p0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_creates_the_support_group_and_typed_properties_idempotently() {
    let sb = sandboxes().await;
    let m = mappings();
    let created = sb.setup(&m).await.unwrap();
    for p in [
        "gorgias_ticket_count",
        "gorgias_last_ticket_at",
        "gorgias_last_subject",
        "gorgias_avg_csat",
    ] {
        assert!(
            created.iter().any(|c| c == p),
            "{p} not created: {created:?}"
        );
    }
    let h = &sb.hubspot_client;
    // The group exists now: asking again creates nothing.
    let again = h
        .ensure_property_groups(&m.hubspot_property_groups())
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert!(sb.setup(&m).await.unwrap().is_empty(), "idempotent");
    let base = &sb.hubspot_running.base_url;
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}{path}"))
                .bearer_auth("pat-na1-demo")
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let groups = get("/crm/properties/2026-09/contacts/groups".into()).await;
    let support: Vec<&Value> = groups["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["name"] == "gorgias_support")
        .collect();
    assert_eq!(support.len(), 1, "{groups}");
    assert_eq!(support[0]["label"], "Gorgias support");
    for (name, kind) in [
        ("gorgias_ticket_count", "number"),
        ("gorgias_last_ticket_at", "datetime"),
        ("gorgias_last_subject", "string"),
        ("gorgias_avg_csat", "number"),
    ] {
        let p = get(format!("/crm/properties/2026-09/contacts/{name}")).await;
        assert_eq!(
            (p["type"].as_str(), p["groupName"].as_str()),
            (Some(kind), Some("gorgias_support")),
            "{p}"
        );
    }
    // A property in a group that does not exist is refused.
    let r = http
        .post(format!("{base}/crm/properties/2026-09/contacts"))
        .bearer_auth("pat-na1-demo")
        .json(&serde_json::json!({"name": "x_y", "label": "X", "type": "string", "fieldType": "text", "groupName": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
