//! Merges through the HubSpot sandbox: the survivor gets a NEW id, links and aliases follow
//! it, the surviving values reach it, a rejected pair is never proposed again, and the
//! merged-away ids never come back as proposals.

use crate::hubspot_support::{fast_sandbox, props, start};
use chrono::Utc;
use std::collections::BTreeMap;
use std::sync::Arc;
use tether::connectors::hubspot::HubspotClient;
use tether::domain::{GorgiasId, HubspotId, RecordRef};
use tether::merges::{
    ApplyOutcome, Connectors, MergeRecord, Merger, ProposalSettings, Survivorship, propose,
    record::hubspot_properties,
};
use tether::store::{Pair, Store};

fn h(id: &str) -> RecordRef {
    RecordRef::Hubspot(HubspotId::new(id).unwrap())
}

async fn records(client: &HubspotClient) -> Vec<MergeRecord> {
    client
        .list_all(&hubspot_properties())
        .await
        .unwrap()
        .iter()
        .filter_map(MergeRecord::from_hubspot)
        .collect()
}

/// Ann Oak twice (gmail dots differ), plus an unrelated person.
fn seed() -> Vec<BTreeMap<String, String>> {
    vec![
        props(&[
            ("email", "ann.oak@gmail.com"),
            ("firstname", "Ann"),
            ("lastname", "Oak"),
            ("phone", "+44 20 7946 0101"),
            ("company", "Oak Ltd"),
            ("zip", "LS1 4AB"),
            ("state", "West Yorkshire"),
            ("address", "12 High Street"),
        ]),
        props(&[
            ("email", "annoak@gmail.com"),
            ("firstname", "Ann"),
            ("lastname", "Oak"),
            ("phone", "+442079460101"),
            ("company", "Oak Ltd"),
            ("city", "Leeds"),
        ]),
        props(&[
            ("email", "zed@example.com"),
            ("firstname", "Zed"),
            ("lastname", "Quill"),
        ]),
    ]
}

#[tokio::test]
async fn hubspot_merge_gets_a_new_id_and_links_aliases_and_values_follow() {
    let (sb, running, client) = start(fast_sandbox()).await;
    let ids = sb.seed_contacts(seed());
    let (a, b) = (ids[0].clone(), ids[1].clone());
    // B is edited later: its company is the newest value; A stays the most complete record.
    sb.edit_as_person(&b, props(&[("company", "Oak Limited")]))
        .unwrap();
    let store = Store::open_in_memory().await.unwrap();
    // B is linked to a Gorgias customer: the link must follow the new survivor.
    let g = GorgiasId::new(77).unwrap();
    store
        .create_link(
            &HubspotId::new(b.clone()).unwrap(),
            g,
            &BTreeMap::new(),
            "test",
            Utc::now(),
        )
        .await
        .unwrap();

    let recs = records(&client).await;
    let report = propose(&store, &recs, &ProposalSettings::default(), Utc::now())
        .await
        .unwrap();
    let pending = store.pending_proposals(10).await.unwrap();
    let pair = Pair::new(h(&a), h(&b)).unwrap();
    let p = pending
        .iter()
        .find(|p| p.pair == pair)
        .unwrap_or_else(|| panic!("the duplicate pair is proposed: {report:?} {pending:?}"));
    assert!(p.score >= 0.8, "{}", p.score);
    assert!(
        !pending
            .iter()
            .any(|q| q.pair.first().id_string() == ids[2] || q.pair.second().id_string() == ids[2])
    );
    assert_eq!(p.snapshot["a"]["record"]["system"], "hubspot");
    assert!(p.explanation["fields"].as_array().unwrap().len() >= 5);

    let merger = Merger::new(
        Arc::new(store.clone()),
        Connectors {
            hubspot: Some(Arc::new(client)),
            gorgias: None,
        },
        Survivorship::default(),
    );
    let applied = merger
        .approve(p.id, "test:reviewer", "same person", Utc::now())
        .await
        .unwrap();
    let ApplyOutcome::Merged {
        survivor_before,
        merged_away,
        survivor,
        written,
        write_error,
    } = &applied.outcome
    else {
        panic!("expected a merge: {applied:?}");
    };
    assert_eq!(survivor_before, &h(&a), "the most complete record survives");
    assert_eq!(merged_away, &h(&b));
    assert_ne!(survivor, &h(&a), "the sandbox gives the survivor a new id");
    assert_ne!(survivor, &h(&b));
    assert_eq!(write_error, &None);
    assert_eq!(
        written.get("company").map(String::as_str),
        Some("Oak Limited")
    );

    // In HubSpot: one record under the new id, with the newest company and B's city.
    let new_id = survivor.id_string();
    let c = sb.contact(&new_id).expect("survivor exists");
    assert_eq!(c["id"], new_id.as_str());
    assert_eq!(c["properties"]["company"], "Oak Limited", "{c}");
    assert_eq!(c["properties"]["city"], "Leeds");
    assert_eq!(
        c["properties"]["email"], "ann.oak@gmail.com",
        "survivor keeps its e-mail"
    );

    // In the store: both old ids resolve to the survivor, the link followed it.
    assert_eq!(store.resolve(&h(&a)).await.unwrap(), *survivor);
    assert_eq!(store.resolve(&h(&b)).await.unwrap(), *survivor);
    let link = store.link_by_gorgias(g).await.unwrap().unwrap();
    assert_eq!(link.hubspot.as_str(), new_id);
    let audit = store.audit_for(&h(&a)).await.unwrap();
    assert!(
        audit.iter().any(|e| e.action == "proposal.approved"),
        "{audit:?}"
    );
    assert!(
        audit
            .iter()
            .any(|e| e.action == "merge.applied" && e.detail["proposal"] == p.id.0)
    );
    assert!(audit.iter().any(|e| e.action == "alias.added"));

    // Settled: applying pending approvals does nothing more; the next cycle proposes nothing
    // about the merged-away ids, and never a pair of the survivor with itself.
    assert!(
        merger
            .apply_pending("cycle", Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    let again = propose(
        &store,
        &records(&merger.connectors.hubspot.clone().unwrap()).await,
        &ProposalSettings::default(),
        Utc::now(),
    )
    .await
    .unwrap();
    assert!(again.created.is_empty(), "{again:?}");
    // Even when a stale read still lists the merged-away ids, they are skipped as aliases.
    let mut stale = recs.clone();
    stale.retain(|r| r.record == h(&a) || r.record == h(&b));
    let stale_report = propose(&store, &stale, &ProposalSettings::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(stale_report.merged_away, 2);
    assert!(stale_report.created.is_empty());
    running.stop().await;
}

#[tokio::test]
async fn a_rejected_hubspot_pair_is_never_proposed_again() {
    let (sb, running, client) = start(fast_sandbox()).await;
    let ids = sb.seed_contacts(seed());
    let store = Store::open_in_memory().await.unwrap();
    let settings = ProposalSettings::default();
    propose(&store, &records(&client).await, &settings, Utc::now())
        .await
        .unwrap();
    let pair = Pair::new(h(&ids[0]), h(&ids[1])).unwrap();
    let p = store
        .pending_proposals(10)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.pair == pair)
        .unwrap();
    let merger = Merger::new(
        Arc::new(store.clone()),
        Connectors::default(),
        Survivorship::default(),
    );
    merger
        .reject(p.id, "test", "twins", Utc::now())
        .await
        .unwrap();
    // Edited since (a fresh snapshot, a different score): still not proposed.
    sb.edit_as_person(&ids[1], props(&[("city", "York")]))
        .unwrap();
    let again = propose(&store, &records(&client).await, &settings, Utc::now())
        .await
        .unwrap();
    assert_eq!(again.previously_rejected, 1, "{again:?}");
    assert!(
        store
            .pending_proposals(10)
            .await
            .unwrap()
            .iter()
            .all(|q| q.pair != pair)
    );
    assert!(store.is_rejected(&pair).await.unwrap());
    // And a rejected proposal cannot be approved later by mistake.
    assert!(merger.approve(p.id, "test", "", Utc::now()).await.is_err());
    assert!(sb.contact(&ids[1]).is_some(), "nothing was merged");
    running.stop().await;
}
