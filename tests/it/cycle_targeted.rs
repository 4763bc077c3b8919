//! The targeted cycle (`tether::cycle::run_targeted`) over loopback against both sandboxes:
//! one edited contact synced by id with a handful of calls and no search, watermarks left
//! to the scheduled cycle; a contact new on HubSpot created on Gorgias.

use super::cycle_support::*;
use std::collections::BTreeMap;
use tether::domain::{HubspotId, System};
use tether::store::CycleOutcome;

fn search_calls(sb: &tether::commands::demo::Sandboxes) -> u64 {
    sb.hubspot
        .counters()
        .by_endpoint
        .iter()
        .filter(|(k, _)| k.contains("search"))
        .map(|(_, n)| *n)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targeted_cycle_syncs_one_contact_by_id_and_keeps_watermarks() {
    let sb = sandboxes().await;
    seed_people(&sb, 6, 6);
    let cycle = cycle(&sb).await;
    let r = cycle.run().await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Ok, "{r:?}");
    assert!(r.watermarks_advanced);
    let wm_h = cycle.store.watermark(System::Hubspot).await.unwrap();
    let wm_g = cycle.store.watermark(System::Gorgias).await.unwrap();
    assert!(wm_h.is_some() && wm_g.is_some());
    let link = cycle.store.links().await.unwrap()[0].clone();
    sb.hubspot
        .edit_as_person(
            link.hubspot.as_str(),
            BTreeMap::from([("phone".to_string(), "+14155550177".to_string())]),
        )
        .unwrap();
    sb.hubspot.reset_counters();
    sb.gorgias.reset_counters();
    let before = sb.write_calls();
    // No settle: a read by id does not wait for the search index.
    let r = cycle
        .run_targeted(std::slice::from_ref(&link.hubspot))
        .await
        .unwrap();
    assert_eq!(r.outcome, CycleOutcome::Ok, "{r:?}");
    assert_eq!(r.plan.summary.gorgias_updates, 1, "{:?}", r.plan);
    assert_eq!(r.plan.summary.hubspot_updates, 0, "{:?}", r.plan);
    assert!(!r.watermarks_advanced);
    assert_eq!(r.read_hubspot, 1, "{r:?}");
    assert_eq!(r.read_gorgias, 1, "{r:?}");
    assert_eq!(r.applied.gorgias.done, 1, "{r:?}");
    assert_eq!(r.applied.hubspot.done, 0, "{r:?}");
    let g = sb.gorgias.customer(link.gorgias.get()).unwrap();
    let channels = g["channels"].to_string();
    assert!(channels.contains("+14155550177"), "{g}");
    assert_eq!(search_calls(&sb), 0, "{:?}", sb.hubspot.counters());
    let h_calls = sb.hubspot.counters().total;
    let g_calls: u64 = sb.gorgias.counters().calls.values().sum();
    eprintln!(
        "targeted cycle, one edited contact: {h_calls} HubSpot calls {:?}, {g_calls} Gorgias calls {:?}",
        sb.hubspot.counters().by_endpoint,
        sb.gorgias.counters().calls
    );
    assert!(h_calls <= 3, "{:?}", sb.hubspot.counters());
    assert!(g_calls <= 4, "{:?}", sb.gorgias.counters());
    assert_eq!(sb.write_calls().0, before.0);
    assert_eq!(sb.write_calls().1, before.1 + 1);
    assert_eq!(cycle.store.watermark(System::Hubspot).await.unwrap(), wm_h);
    assert_eq!(cycle.store.watermark(System::Gorgias).await.unwrap(), wm_g);

    // The scheduled cycle then sees the edit (and our echo) as already processed.
    settle(&sb).await;
    let w = sb.write_calls();
    let r = cycle.run().await.unwrap();
    assert!(!r.plan.has_writes(), "{:?}", r.plan);
    assert_eq!(sb.write_calls(), w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targeted_cycle_creates_the_counterpart_of_a_new_contact() {
    let sb = sandboxes().await;
    seed_people(&sb, 3, 3);
    let cycle = cycle(&sb).await;
    cycle.run().await.unwrap();
    let ids = sb
        .hubspot
        .seed_contacts(vec![contact("new@shop.test", "Nora", "New", "")]);
    let id = HubspotId::new(ids[0].clone()).unwrap();
    sb.hubspot.reset_counters();
    let r = cycle.run_targeted(std::slice::from_ref(&id)).await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Ok, "{r:?}");
    assert_eq!(r.plan.summary.gorgias_creates, 1, "{:?}", r.plan);
    assert_eq!(search_calls(&sb), 0, "{:?}", sb.hubspot.counters());
    assert!(
        cycle
            .store
            .link_for(&tether::domain::RecordRef::Hubspot(id))
            .await
            .unwrap()
            .is_some()
    );
}
