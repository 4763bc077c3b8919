//! Merges through the Gorgias sandbox: ids in the query and the surviving values in the
//! body, the alias and the link following the target, and the integration-data conflict
//! reported as a failed merge with its reason, never retried blindly.

use crate::gorgias_common::{Env, start};
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tether::domain::{GorgiasId, HubspotId, RecordRef};
use tether::merges::{
    ApplyOutcome, Connectors, MergeRecord, Merger, ProposalSettings, Survivorship, ValueRule,
    propose,
};
use tether::store::{Pair, Proposal, Store};

fn g(id: i64) -> RecordRef {
    RecordRef::Gorgias(GorgiasId::new(id).unwrap())
}

fn person(email: &str, note: &str, integration: Option<&str>) -> serde_json::Value {
    let mut v = json!({
        "name": "Ann Oak",
        "note": note,
        "channels": [
            {"type": "email", "address": email, "preferred": true},
            {"type": "phone", "address": "+442079460101", "preferred": true}
        ],
    });
    if let Some(k) = integration {
        v["integrations"] =
            json!({ k: {"__integration_type__": "shopify", "customer": {"id": 1}} });
    }
    v
}

async fn proposed(env: &Env, store: &Store, ids: &[i64]) -> Proposal {
    let mut recs = Vec::new();
    for id in ids {
        let c = env.client.get(*id).await.unwrap();
        recs.push(MergeRecord::from_gorgias(&c).unwrap());
    }
    propose(store, &recs, &ProposalSettings::default(), Utc::now())
        .await
        .unwrap();
    let pair = Pair::new(g(ids[0]), g(ids[1])).unwrap();
    store
        .pending_proposals(10)
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.pair == pair)
        .expect("the pair is proposed")
}

fn merger(env: Env, store: &Store, rules: Survivorship) -> (Merger, Env) {
    let client = crate::gorgias_common::client_for(env.sb.config(), &env.running.base_url);
    (
        Merger::new(
            Arc::new(store.clone()),
            Connectors {
                hubspot: None,
                gorgias: Some(Arc::new(client)),
            },
            rules,
        ),
        env,
    )
}

#[tokio::test]
async fn gorgias_merge_carries_surviving_values_and_links_follow() {
    let env = start().await;
    let ids = env.sb.seed_customers(vec![
        person("ann.oak@gmail.com", "short", None),
        person("annoak@gmail.com", "a much longer note about Ann", None),
    ]);
    let store = Store::open_in_memory().await.unwrap();
    // The second customer is linked to a HubSpot contact.
    store
        .create_link(
            &HubspotId::new("501").unwrap(),
            GorgiasId::new(ids[1]).unwrap(),
            &BTreeMap::new(),
            "test",
            Utc::now(),
        )
        .await
        .unwrap();
    let p = proposed(&env, &store, &ids).await;
    let rules = Survivorship {
        survivor: tether::merges::SurvivorRule::Oldest,
        values: ValueRule::Survivor,
        fields: BTreeMap::from([("note".to_owned(), ValueRule::Longest)]),
    };
    let (m, env) = merger(env, &store, rules);
    let a = m.approve(p.id, "test", "same", Utc::now()).await.unwrap();
    let ApplyOutcome::Merged {
        survivor,
        merged_away,
        written,
        ..
    } = &a.outcome
    else {
        panic!("expected a merge: {a:?}");
    };
    assert_eq!(survivor, &g(ids[0]), "the oldest survives and keeps its id");
    assert_eq!(merged_away, &g(ids[1]));
    assert_eq!(written["note"], "a much longer note about Ann");
    assert_eq!(written["name"], "Ann Oak");
    let target = env.sb.customer(ids[0]).expect("target exists");
    assert_eq!(target["note"], "a much longer note about Ann", "{target}");
    assert_eq!(target["email"], "ann.oak@gmail.com");
    assert!(env.client.get(ids[1]).await.is_err(), "the source is gone");
    assert_eq!(store.resolve(&g(ids[1])).await.unwrap(), g(ids[0]));
    let link = store
        .link_by_hubspot(&HubspotId::new("501").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.gorgias.get(), ids[0], "the link follows the survivor");
    // A later cycle reading a stale list skips the merged-away id.
    let stale = MergeRecord {
        record: g(ids[1]),
        created_at: None,
        updated_at: None,
        fields: BTreeMap::new(),
    };
    let r = propose(&store, &[stale], &ProposalSettings::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(r.merged_away, 1);
    env.running.stop().await;
}

#[tokio::test]
async fn gorgias_integration_conflict_is_a_failed_merge_not_retried() {
    let env = start().await;
    let ids = env.sb.seed_customers(vec![
        person("ann.oak@gmail.com", "x", Some("12")),
        person("annoak@gmail.com", "y", Some("12")),
    ]);
    let store = Store::open_in_memory().await.unwrap();
    let p = proposed(&env, &store, &ids).await;
    let (m, env) = merger(env, &store, Survivorship::default());
    let a = m.approve(p.id, "test", "same", Utc::now()).await.unwrap();
    let ApplyOutcome::Failed { reason } = &a.outcome else {
        panic!("expected the integration conflict: {a:?}");
    };
    assert!(reason.contains("integration"), "{reason}");
    assert!(!a.succeeded());
    // Both customers are untouched, nothing was aliased.
    assert!(env.sb.customer(ids[0]).is_some() && env.sb.customer(ids[1]).is_some());
    assert_eq!(store.resolve(&g(ids[1])).await.unwrap(), g(ids[1]));
    let audit = store.audit_for(&g(ids[0])).await.unwrap();
    let failed = audit
        .iter()
        .find(|e| e.action == "merge.failed")
        .expect("audited");
    assert!(
        failed.detail["result"]["reason"]
            .as_str()
            .unwrap()
            .contains("integration")
    );
    // Not retried blindly: the pending-application pass leaves it alone, and the pair is not
    // proposed again either.
    assert!(
        m.apply_pending("cycle", Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    let recs = vec![
        MergeRecord::from_gorgias(&env.client.get(ids[0]).await.unwrap()).unwrap(),
        MergeRecord::from_gorgias(&env.client.get(ids[1]).await.unwrap()).unwrap(),
    ];
    let again = propose(&store, &recs, &ProposalSettings::default(), Utc::now())
        .await
        .unwrap();
    assert_eq!(again.already_approved, 1, "{again:?}");
    assert!(again.created.is_empty());
    env.running.stop().await;
}
