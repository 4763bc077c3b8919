//! Duplicates in the sync cycle, over loopback against both sandboxes: near-duplicates are
//! proposed by a sync and refreshed (not duplicated) by the next, a rejected pair is never
//! proposed again, `plan` previews the proposals and writes none, and auto-merge applies at
//! most its per-cycle cap.

use super::cycle_support::*;
use serde_json::json;
use std::collections::BTreeMap;
use tether::cycle::{Cycle, CycleOptions};
use tether::domain::{GorgiasId, HubspotId, RecordRef};
use tether::merges::{PreviewAction, ProposalSettings};
use tether::store::{Decision, Pair, Proposal, StateStore};

fn h(id: &str) -> RecordRef {
    RecordRef::Hubspot(HubspotId::new(id).unwrap())
}

fn g(id: i64) -> RecordRef {
    RecordRef::Gorgias(GorgiasId::new(id).unwrap())
}

async fn pending_for(store: &dyn StateStore, pair: &Pair) -> Vec<Proposal> {
    store
        .pending_proposals(u32::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| &p.pair == pair)
        .collect()
}

/// Two HubSpot contacts of one person (the gmail address with and without its dot, the same
/// name and phone) and an unrelated one. Returns the ids of the two.
fn seed_hubspot_twins(sb: &tether::commands::demo::Sandboxes, tag: &str) -> (String, String) {
    let ids = sb.hubspot.seed_contacts(vec![
        contact(
            &format!("ann.{tag}@gmail.com"),
            "Ann",
            "Lindqvist",
            "+14155550100",
        ),
        contact(
            &format!("ann{tag}@gmail.com"),
            "Ann",
            "Lindqvist",
            "+14155550100",
        ),
        contact("zed@shop.test", "Zed", "Okafor", "+14155550999"),
    ]);
    (ids[0].clone(), ids[1].clone())
}

fn touch_contact(sb: &tether::commands::demo::Sandboxes, id: &str, company: &str) {
    sb.hubspot
        .edit_as_person(
            id,
            BTreeMap::from([("company".to_string(), company.to_string())]),
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_near_duplicates_are_proposed_once_then_refreshed() {
    let sb = sandboxes().await;
    let (a, b) = seed_hubspot_twins(&sb, "lq");
    let cycle = cycle(&sb).await;
    let pair = Pair::new(h(&a), h(&b)).unwrap();

    let r1 = cycle.run().await.unwrap();
    assert!(r1.dedup.proposed >= 1, "{:?}", r1.dedup);
    assert_eq!(r1.counts()["merge_proposals"], r1.dedup.proposed as u64);
    let first = pending_for(&*cycle.store, &pair).await;
    assert_eq!(first.len(), 1, "{:?}", r1.dedup);
    assert!(first[0].score >= 0.8);
    assert_eq!(first[0].snapshot["a"]["fields"]["first_name"], "Ann");
    // Nothing merges by itself with the defaults.
    assert_eq!(r1.dedup.auto_approved, 0);
    assert_eq!(r1.dedup.merges_applied, 0);
    let text = tether::commands::sync::describe(&r1);
    assert!(text.contains("new merge proposals"), "{text}");
    // Every record the cycle read is kept for `tether merges scan`.
    let kept: Vec<_> = cycle
        .store
        .snapshots()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.record)
        .collect();
    assert!(kept.contains(&h(&a)) && kept.contains(&h(&b)), "{kept:?}");

    // Both records change, so the next cycle has both in hand again.
    settle(&sb).await;
    touch_contact(&sb, &a, "Acme");
    touch_contact(&sb, &b, "Acme Inc");
    settle(&sb).await;
    let r2 = cycle.run().await.unwrap();
    let again = pending_for(&*cycle.store, &pair).await;
    assert_eq!(
        again.len(),
        1,
        "the pair was proposed twice: {:?}",
        r2.dedup
    );
    assert_eq!(again[0].id, first[0].id);
    assert!(r2.dedup.refreshed >= 1, "{:?}", r2.dedup);
    let company = |side: &str| {
        again[0].snapshot[side]["fields"]["company"]
            .as_str()
            .is_some()
    };
    assert!(
        company("a") && company("b"),
        "the snapshot was not refreshed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_gorgias_pair_is_not_proposed_again() {
    let sb = sandboxes().await;
    let ids = sb.gorgias.seed_customers(vec![
        customer("bo.dalgaard@gmail.com", "Bo Dalgaard", "+14155550123"),
        customer("bodalgaard@gmail.com", "Bo Dalgaard", "+14155550123"),
        customer("una@shop.test", "Una Ferreira", ""),
    ]);
    let cycle = cycle(&sb).await;
    let pair = Pair::new(g(ids[0]), g(ids[1])).unwrap();
    let r1 = cycle.run().await.unwrap();
    let p = pending_for(&*cycle.store, &pair).await;
    assert_eq!(p.len(), 1, "{:?}", r1.dedup);
    cycle
        .store
        .decide(
            p[0].id,
            Decision::Reject,
            "different people",
            "test",
            chrono::Utc::now(),
        )
        .await
        .unwrap();

    settle(&sb).await;
    assert!(sb.gorgias.edit_as_agent(ids[0], json!({"note": "vip"})));
    assert!(sb.gorgias.edit_as_agent(ids[1], json!({"note": "vip too"})));
    settle(&sb).await;
    let r2 = cycle.run().await.unwrap();
    assert!(
        r2.dedup.previously_rejected >= 1,
        "the pair was not compared again: {:?}",
        r2.dedup
    );
    assert!(pending_for(&*cycle.store, &pair).await.is_empty());
    assert!(cycle.store.is_rejected(&pair).await.unwrap());
    // Nor does `plan` show it.
    let (_, lines) = cycle.plan_with_proposals().await.unwrap();
    assert!(
        !lines
            .iter()
            .any(|l| Pair::new(l.a.clone(), l.b.clone()).unwrap() == pair),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_would_be_proposal_and_writes_nothing() {
    let sb = sandboxes().await;
    let (a, b) = seed_hubspot_twins(&sb, "pv");
    // The same person on both sides by e-mail: the plan links them, so they are no
    // cross-system candidate.
    sb.hubspot
        .seed_contacts(vec![contact("kai@shop.test", "Kai", "Moreau", "")]);
    sb.gorgias
        .seed_customers(vec![customer("kai@shop.test", "Kai Moreau", "")]);
    let cycle = cycle(&sb).await;
    let (plan, lines) = cycle.plan_with_proposals().await.unwrap();
    assert!(plan.summary.links >= 1);
    let want = Pair::new(h(&a), h(&b)).unwrap();
    let line = lines
        .iter()
        .find(|l| Pair::new(l.a.clone(), l.b.clone()).unwrap() == want)
        .unwrap_or_else(|| panic!("not previewed: {lines:?}"));
    assert_eq!(line.action, PreviewAction::Review);
    assert_eq!(line.a_name.as_deref(), Some("Ann Lindqvist"));
    assert!(
        lines
            .iter()
            .all(|l| l.a.system() == l.b.system() || l.a_name.as_deref() != Some("Kai Moreau")),
        "a pair the plan links was previewed: {lines:?}"
    );
    // Nothing written: no proposal, no link, no write to either system.
    assert!(
        cycle
            .store
            .pending_proposals(u32::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(cycle.store.approved_proposals().await.unwrap().is_empty());
    assert!(cycle.store.links().await.unwrap().is_empty());
    assert_eq!(sb.write_calls(), (0, 0));

    let preview = tether::report::ProposalPreview {
        pairs: lines.clone(),
        top: 10,
    };
    let text = tether::commands::plan::render_with_proposals(
        &plan,
        &preview,
        tether::commands::plan::Format::Text,
        false,
    );
    assert!(
        text.contains(&format!("would propose {} duplicate pair", lines.len())),
        "{text}"
    );
    assert!(text.contains("Ann Lindqvist"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&tether::commands::plan::render_with_proposals(
            &plan,
            &preview,
            tether::commands::plan::Format::Json,
            false,
        ))
        .unwrap();
    assert_eq!(json["proposals"]["would_propose"], lines.len());

    // The sync then proposes exactly what the plan showed.
    let r = cycle.run().await.unwrap();
    assert_eq!(
        pending_for(&*cycle.store, &want).await.len(),
        1,
        "{:?}",
        r.dedup
    );
    let shown: std::collections::BTreeSet<String> = lines
        .iter()
        .map(|l| format!("{} {} {:.6}", l.a, l.b, l.score))
        .collect();
    let proposed: std::collections::BTreeSet<String> = cycle
        .store
        .pending_proposals(u32::MAX)
        .await
        .unwrap()
        .iter()
        .map(|p| format!("{} {} {:.6}", p.pair.first(), p.pair.second(), p.score))
        .collect();
    assert_eq!(shown, proposed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_merge_applies_at_most_its_cap_per_cycle() {
    let sb = sandboxes().await;
    let (a1, b1) = seed_hubspot_twins(&sb, "one");
    let ids = sb.hubspot.seed_contacts(vec![
        contact("maud.perrin@gmail.com", "Maud", "Perrin", "+14155550777"),
        contact("maudperrin@gmail.com", "Maud", "Perrin", "+14155550777"),
    ]);
    let options = CycleOptions {
        proposals: Some(ProposalSettings {
            auto_merge_threshold: 0.99,
            auto_merge_cap: 1,
            ..ProposalSettings::default()
        }),
        ..options()
    };
    let cycle: Cycle = cycle_with(
        &sb,
        tether::commands::demo::default_mappings().unwrap(),
        options,
    )
    .await;
    let live_before = sb.hubspot.live_count();
    let r1 = cycle.run().await.unwrap();
    assert_eq!(r1.dedup.auto_approved, 1, "{:?}", r1.dedup);
    assert!(r1.dedup.held_by_cap >= 1, "{:?}", r1.dedup);
    assert_eq!(r1.dedup.merges_applied, 1, "{:?}", r1.dedup);
    assert_eq!(r1.dedup.merges_failed, 0, "{:?}", r1.dedup);
    assert_eq!(r1.counts()["merges_applied"], 1);
    // Gorgias counterparts were created for the 5 contacts, then one HubSpot pair merged.
    assert_eq!(
        sb.hubspot.live_count(),
        live_before - 1,
        "exactly one HubSpot merge"
    );
    let approved = cycle.store.approved_proposals().await.unwrap();
    assert_eq!(approved.len(), 1);
    assert_eq!(approved[0].decided_by.as_deref(), Some("auto-merge"));
    let merged = [
        Pair::new(h(&a1), h(&b1)).unwrap(),
        Pair::new(h(&ids[0]), h(&ids[1])).unwrap(),
    ];
    assert!(merged.contains(&approved[0].pair));
    // The other pair waits for a person, or for the next cycle's cap.
    let held = merged.iter().find(|p| **p != approved[0].pair).unwrap();
    assert_eq!(pending_for(&*cycle.store, held).await.len(), 1);

    settle(&sb).await;
    let r2 = cycle.run().await.unwrap();
    assert!(r2.dedup.merges_applied <= 1, "{:?}", r2.dedup);
    assert!(r2.dedup.auto_approved <= 1, "{:?}", r2.dedup);
    // The merged-away contact's Gorgias counterpart lost its link: it is held, not given a
    // new HubSpot contact (which would bring the duplicate back).
    assert_eq!(
        r2.plan.summary.hubspot_creates, 0,
        "{:?}",
        r2.plan.hubspot_creates
    );
    assert!(
        r2.plan
            .skips
            .iter()
            .any(|s| s.gorgias_id.is_some() && s.hubspot_id.is_none()),
        "{:?}",
        r2.plan.skips
    );
    // Later cycles keep merging at most one pair each, and never recreate a contact.
    for _ in 0..4 {
        settle(&sb).await;
        let r = cycle.run().await.unwrap();
        assert!(r.dedup.merges_applied <= 1, "{:?}", r.dedup);
        assert_eq!(r.plan.summary.hubspot_creates, 0);
    }
}
