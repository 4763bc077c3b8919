//! The sync cycle over loopback against both sandboxes: echo suppression, a held `manual`
//! conflict, the 409 / e-mail-already-used create path, and the safety caps.

use super::cycle_support::*;
use serde_json::json;
use std::collections::BTreeMap;
use tether::cycle::{CycleOptions, StopPoint, apply};
use tether::domain::{GorgiasId, HubspotId};
use tether::store::CycleOutcome;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_followed_at_once_by_another_writes_nothing() {
    let sb = sandboxes().await;
    seed_people(&sb, 12, 6);
    let cycle = cycle(&sb).await;
    let r1 = cycle.run().await.unwrap();
    assert_eq!(r1.outcome, CycleOutcome::Ok, "{r1:?}");
    assert_eq!(r1.plan.summary.links, 6);
    assert_eq!(r1.plan.summary.hubspot_creates, 6);
    assert_eq!(r1.plan.summary.gorgias_creates, 6);
    assert!(r1.applied.done > 0);
    let (h_writes, g_writes) = sb.write_calls();
    assert!(h_writes > 0 && g_writes > 0);
    assert_eq!(sb.hubspot.live_count(), 18);
    assert_eq!(sb.gorgias.customer_ids().len(), 18);

    settle(&sb).await;
    let r2 = cycle.run().await.unwrap();
    assert_eq!(r2.outcome, CycleOutcome::Ok);
    assert!(!r2.plan.has_writes(), "{:?}", r2.plan);
    assert_eq!(
        sb.write_calls(),
        (h_writes, g_writes),
        "the echo wrote again"
    );
    assert!(!cycle.plan().await.unwrap().has_changes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_sided_edit_propagates_once_then_nothing() {
    let sb = sandboxes().await;
    seed_people(&sb, 4, 4);
    let cycle = cycle(&sb).await;
    cycle.run().await.unwrap();
    let link = cycle.store.links().await.unwrap()[0].clone();
    sb.gorgias.edit_as_agent(
        link.gorgias.get(),
        json!({"channels": [{"type": "phone", "address": "+14155550199", "preferred": true}]}),
    );
    settle(&sb).await;
    let before = sb.write_calls();
    let r = cycle.run().await.unwrap();
    assert_eq!(r.plan.summary.hubspot_updates, 1, "{:?}", r.plan);
    assert_eq!(r.plan.summary.gorgias_updates, 0);
    let after = sb.write_calls();
    assert_eq!(after.0, before.0 + 1);
    assert_eq!(after.1, before.1);
    let c = sb.hubspot.contact(link.hubspot.as_str()).unwrap();
    assert_eq!(c["properties"]["phone"], "+14155550199");
    settle(&sb).await;
    let r = cycle.run().await.unwrap();
    assert!(!r.plan.has_writes());
    assert_eq!(sb.write_calls(), after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_conflict_is_held_and_shown_in_plan() {
    let sb = sandboxes().await;
    sb.hubspot
        .seed_contacts(vec![contact("jane@shop.test", "Jane", "Doe", "")]);
    sb.gorgias
        .seed_customers(vec![customer("jane@shop.test", "Jane Doe", "")]);
    let cycle = cycle_with(&sb, manual_name_mappings(), options()).await;
    let r = cycle.run().await.unwrap();
    assert_eq!(r.plan.summary.links, 1, "{:#?}", r.plan);
    let link = cycle.store.links().await.unwrap()[0].clone();
    sb.hubspot
        .edit_as_person(
            link.hubspot.as_str(),
            BTreeMap::from([("firstname".to_string(), "Janet".to_string())]),
        )
        .unwrap();
    sb.gorgias
        .edit_as_agent(link.gorgias.get(), json!({"name": "Jane Smith"}));
    settle(&sb).await;

    let plan = cycle.plan().await.unwrap();
    assert_eq!(plan.conflicts.len(), 1, "{plan:?}");
    let c = &plan.conflicts[0];
    assert_eq!(c.field, "name");
    assert_eq!(c.hubspot.as_deref(), Some("Janet Doe"));
    assert_eq!(c.gorgias.as_deref(), Some("Jane Smith"));
    assert_eq!(c.base.as_deref(), Some("Jane Doe"));
    assert!(!plan.has_writes());
    let text = tether::commands::plan::render(&plan, tether::commands::plan::Format::Text, false);
    assert!(text.contains("hold for review"), "{text}");

    let before = sb.write_calls();
    let r = cycle.run().await.unwrap();
    assert_eq!(r.plan.conflicts.len(), 1);
    assert_eq!(sb.write_calls(), before, "a held conflict was written");
    let audit = cycle
        .store
        .audit_for(&tether::domain::RecordRef::Hubspot(link.hubspot.clone()))
        .await
        .unwrap();
    assert!(audit.iter().any(|a| a.action == "conflict.held"));
    // Still held next time: the base did not move.
    settle(&sb).await;
    assert_eq!(cycle.plan().await.unwrap().conflicts.len(), 1);
    let c = sb.hubspot.contact(link.hubspot.as_str()).unwrap();
    assert_eq!(c["properties"]["firstname"], "Janet");
    let g = sb.gorgias.customer(link.gorgias.get()).unwrap();
    assert_eq!(g["name"], "Jane Smith");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_of_existing_emails_resolve_to_links_not_duplicates() {
    let sb = sandboxes().await;
    sb.hubspot
        .seed_contacts(vec![contact("anchor@shop.test", "An", "Chor", "")]);
    let opts = CycleOptions {
        stop_at: Some(StopPoint::AfterOutbox),
        ..options()
    };
    let cycle = cycle_with(
        &sb,
        tether::commands::demo::default_mappings().unwrap(),
        opts,
    )
    .await;
    // One unmatched record on each side: the plan creates its counterpart.
    sb.hubspot
        .seed_contacts(vec![contact("only-h@shop.test", "Olly", "Hub", "")]);
    let only_g = sb
        .gorgias
        .seed_customers(vec![customer("only-g@shop.test", "Olga Gor", "")]);
    let err = cycle.run().await.unwrap_err();
    assert!(matches!(err, tether::cycle::CycleError::Stopped(_)));
    let pending = cycle.store.pending_writes(100).await.unwrap();
    // A HubSpot create for only-g, Gorgias creates for only-h and the anchor.
    assert_eq!(pending.len(), 3, "{pending:?}");
    // Meanwhile someone creates the very same people on the other side.
    let h_new = sb
        .hubspot
        .seed_contacts(vec![contact("only-g@shop.test", "Olga", "Other", "")]);
    let g_new = sb
        .gorgias
        .seed_customers(vec![customer("only-h@shop.test", "Olly Other", "")]);
    let (h_before, g_before) = (sb.hubspot.live_count(), sb.gorgias.customer_ids().len());
    // Sent as is (no lookup first): HubSpot answers 409 Existing ID, Gorgias "already used".
    let a = apply::drain(&cycle, false).await.unwrap();
    assert_eq!(a.failed, 0, "{a:?}");
    assert_eq!(a.resolved_existing, 2, "{a:?}");
    assert_eq!(
        sb.hubspot.live_count(),
        h_before,
        "a duplicate contact was created"
    );
    assert_eq!(
        sb.gorgias.customer_ids().len(),
        g_before + 1,
        "only the anchor's customer may be new"
    );
    let h = HubspotId::new(h_new[0].clone()).unwrap();
    let l = cycle
        .store
        .link_by_hubspot(&h)
        .await
        .unwrap()
        .expect("linked");
    assert_eq!(l.gorgias, GorgiasId::new(only_g[0]).unwrap());
    let g = GorgiasId::new(g_new[0]).unwrap();
    assert!(cycle.store.link_by_gorgias(g).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_block_a_large_cycle_unless_allowed() {
    let sb = sandboxes().await;
    seed_people(&sb, 6, 0);
    let small = CycleOptions {
        max_creates: 5,
        ..options()
    };
    let cycle = cycle_with(
        &sb,
        tether::commands::demo::default_mappings().unwrap(),
        small,
    )
    .await;
    let r = cycle.run().await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Refused);
    assert!(
        r.refused.as_deref().unwrap_or("").contains("create"),
        "{:?}",
        r.refused
    );
    assert!(r.plan.caps.blocked);
    assert_eq!(
        r.plan.summary.hubspot_creates + r.plan.summary.gorgias_creates,
        12
    );
    assert_eq!(sb.write_calls(), (0, 0));
    assert!(cycle.store.links().await.unwrap().is_empty());
    assert!(cycle.store.pending_writes(10).await.unwrap().is_empty());
    assert_eq!(
        cycle.store.last_cycle().await.unwrap().unwrap().outcome,
        Some(CycleOutcome::Refused)
    );

    let mut allowed = cycle.clone();
    allowed.options.allow_large = true;
    let r = allowed.run().await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Ok, "{r:?}");
    assert_eq!(cycle.store.links().await.unwrap().len(), 12);
    assert_eq!(sb.hubspot.live_count(), 12);
    assert_eq!(sb.gorgias.customer_ids().len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_record_is_quarantined_and_the_cycle_goes_on() {
    let sb = sandboxes().await;
    seed_people(&sb, 3, 3);
    let mut bad = customer("broken@shop.test", "Bro Ken", "");
    bad["data"] = json!(["not", "an", "object"]);
    let bad_id = sb.gorgias.seed_customers(vec![bad])[0];
    let cycle = cycle(&sb).await;
    let r = cycle.run().await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Partial, "{r:?}");
    assert_eq!(r.quarantined, 1);
    assert_eq!(r.plan.summary.links, 3);
    assert_eq!(cycle.store.links().await.unwrap().len(), 3);
    let q = cycle
        .store
        .quarantined(&tether::domain::RecordRef::Gorgias(
            GorgiasId::new(bad_id).unwrap(),
        ))
        .await
        .unwrap()
        .expect("quarantined");
    assert!(q.reason.contains("data"), "{}", q.reason);
    // Never written, never created from, and not counted again.
    assert_eq!(sb.hubspot.live_count(), 3);
    settle(&sb).await;
    let r = cycle.run().await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Ok);
    assert_eq!(r.quarantined, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hubspot_merge_moves_the_link_to_the_survivor_and_recreates_nothing() {
    let sb = sandboxes().await;
    let ids = sb.hubspot.seed_contacts(vec![
        contact("ann@shop.test", "Ann", "Lee", ""),
        contact("", "Ann", "Lee", "+14155550123"),
    ]);
    sb.gorgias
        .seed_customers(vec![customer("ann@shop.test", "Ann Lee", "")]);
    let cycle = cycle(&sb).await;
    let r = cycle.run().await.unwrap();
    assert_eq!(r.plan.summary.links, 1, "{:?}", r.plan);
    let survivor = sb.hubspot.merge_as_person(&ids[0], &ids[1]).unwrap();
    assert_ne!(survivor, ids[0], "a merge makes a new id");
    settle(&sb).await;
    let (h_live, g_live) = (sb.hubspot.live_count(), sb.gorgias.customer_ids().len());
    let r = cycle.run().await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Ok, "{r:?}");
    assert_eq!(
        r.plan.summary.hubspot_creates + r.plan.summary.gorgias_creates,
        0
    );
    let links = cycle.store.links().await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].hubspot.as_str(), survivor);
    assert_eq!(sb.hubspot.live_count(), h_live);
    assert_eq!(sb.gorgias.customer_ids().len(), g_live);
    settle(&sb).await;
    let before = sb.write_calls();
    let r = cycle.run().await.unwrap();
    assert!(!r.plan.has_writes(), "{:?}", r.plan);
    assert_eq!(sb.write_calls(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gorgias_merge_moves_the_link_to_the_target_and_recreates_nothing() {
    let sb = sandboxes().await;
    sb.hubspot
        .seed_contacts(vec![contact("bo@shop.test", "Bo", "Kim", "")]);
    let g = sb.gorgias.seed_customers(vec![
        customer("bo@shop.test", "Bo Kim", ""),
        json!({"name": "Bo Kim", "channels": [{"type": "phone", "address": "+14155550142", "preferred": true}]}),
    ]);
    let cycle = cycle(&sb).await;
    let r = cycle.run().await.unwrap();
    assert_eq!(r.plan.summary.links, 1, "{:?}", r.plan);
    assert!(sb.gorgias.merge_as_agent(g[0], g[1]));
    settle(&sb).await;
    let (h_live, g_live) = (sb.hubspot.live_count(), sb.gorgias.customer_ids().len());
    let r = cycle.run().await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Ok, "{r:?}");
    assert_eq!(
        r.plan.summary.hubspot_creates + r.plan.summary.gorgias_creates,
        0
    );
    let links = cycle.store.links().await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].gorgias.get(), g[1]);
    assert_eq!(sb.hubspot.live_count(), h_live);
    assert_eq!(sb.gorgias.customer_ids().len(), g_live);
    settle(&sb).await;
    let before = sb.write_calls();
    let r = cycle.run().await.unwrap();
    assert!(!r.plan.has_writes(), "{:?}", r.plan);
    assert_eq!(sb.write_calls(), before);
}
