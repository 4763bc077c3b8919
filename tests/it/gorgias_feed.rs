//! The Gorgias change feed against the sandbox: watermark with overlap while agents edit,
//! early stop at the watermark, backfill paging, deletions and merges via events.

use crate::gorgias_common::*;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use tether::connectors::gorgias::{CustomerUpdate, EventKind, GorgiasError, watermark_of};
use tether::sandbox::gorgias::{Fault, FaultKind};

fn updated_of(v: &serde_json::Value) -> DateTime<Utc> {
    tether::connectors::gorgias::parse_datetime(v["updated_datetime"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn watermark_feed_with_overlap_misses_nothing_while_agents_edit() {
    let env = start().await;
    let seeds: Vec<_> = (0..400)
        .map(|i| {
            let mut s = customer_seed(i);
            s["updated_datetime"] = json!(format!("2024-01-01T00:00:{:02}.{:06}+00:00", i % 60, i));
            s
        })
        .collect();
    let ids = env.sb.seed_customers(seeds);
    // Slow every list call down so the edits land between pages of the first cycle.
    env.sb.inject_fault(Fault {
        kind: FaultKind::Delay { ms: 40 },
        times: 1000,
        method: Some("GET".into()),
        path_prefix: Some("/api/customers".into()),
    });
    let sb = env.sb.clone();
    let edited: Vec<i64> = (0..25).map(|k| ids[(k * 37) % ids.len()]).collect();
    let to_edit = edited.clone();
    let editor = tokio::spawn(async move {
        for (k, id) in to_edit.into_iter().enumerate() {
            // The pacing of the edits is the scenario (they land between pages): it stays.
            tokio::time::sleep(Duration::from_millis(12)).await;
            assert!(sb.edit_as_agent(id, json!({"note": format!("edit {k}")})));
        }
    });
    let first = env
        .client
        .changed_since(DateTime::<Utc>::MIN_UTC)
        .await
        .unwrap();
    editor.await.unwrap();
    let watermark = watermark_of(&first).unwrap();
    let overlap = ChronoDuration::seconds(2);
    let second = env.client.changed_since(watermark - overlap).await.unwrap();
    // Every customer's final state was seen by one of the two cycles.
    let mut seen: HashMap<i64, DateTime<Utc>> = HashMap::new();
    for c in first.iter().chain(second.iter()) {
        let u = c.updated_datetime.unwrap();
        let e = seen.entry(c.id).or_insert(u);
        if u > *e {
            *e = u;
        }
    }
    for id in &ids {
        let final_state = env.sb.customer(*id).unwrap();
        assert_eq!(
            seen.get(id),
            Some(&updated_of(&final_state)),
            "customer {id}"
        );
    }
    // The second cycle is small: only what changed since the watermark (and the overlap).
    assert!(second.len() <= edited.len(), "{}", second.len());
    assert!(edited.iter().all(|id| seen.contains_key(id)));
}

#[tokio::test]
async fn feed_stops_at_the_watermark_and_backfill_pages_by_100() {
    let env = start().await;
    let seeds: Vec<_> = (0..500)
        .map(|i| {
            let mut s = customer_seed(i);
            s["updated_datetime"] = json!("2024-01-01T00:00:00.000000+00:00");
            s
        })
        .collect();
    let ids = env.sb.seed_customers(seeds);
    for id in &ids[10..13] {
        env.sb.edit_as_agent(*id, json!({"name": "Changed"}));
    }
    let feed = env
        .client
        .changed_since_feed(Utc::now() - ChronoDuration::minutes(5))
        .await
        .unwrap();
    assert_eq!(feed.customers.len(), 3);
    assert_eq!(feed.pages, 1, "one page reaches past the watermark");
    assert!(
        feed.customers
            .iter()
            .all(|c| c.name.as_deref() == Some("Changed"))
    );
    assert!(
        feed.customers.iter().all(|c| c.channels.is_none()),
        "list items are compact"
    );
    let before = env.sb.counters().calls_to("GET /api/customers");
    let all = env
        .client
        .changed_since_feed(DateTime::<Utc>::MIN_UTC)
        .await
        .unwrap();
    assert_eq!(all.customers.len(), 500);
    assert_eq!(all.pages, 5);
    assert_eq!(env.sb.counters().calls_to("GET /api/customers") - before, 5);
    assert!(all.quarantined.is_empty());
}

#[tokio::test]
async fn deletions_and_merges_come_from_events() {
    let env = start().await;
    let t0 = Utc::now() - ChronoDuration::seconds(1);
    let ids = env.sb.seed_customers((0..4).map(customer_seed).collect());
    env.sb.delete_as_agent(ids[0]);
    let merged = env
        .client
        .merge(
            ids[1],
            ids[2],
            &CustomerUpdate {
                name: Some(Some("Customer 2".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(merged.id, ids[2]);
    env.client.delete(ids[3]).await.unwrap();
    let events = env.client.events_since(t0).await.unwrap();
    let kinds: Vec<(EventKind, i64)> = events
        .iter()
        .map(|e| (e.kind.clone(), e.object_id))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (EventKind::Deleted, ids[0]),
            (EventKind::Merged, ids[2]),
            (EventKind::Deleted, ids[3]),
        ]
    );
    assert_eq!(events[1].merge_ids(), (Some(ids[1]), Some(ids[2])));
    // Our own API writes carry the API user; the agent's carry the agent.
    assert_eq!(events[0].user_id, Some(2));
    assert_eq!(events[2].user_id, Some(1));
    // The merged-away id answers 301 and says where it went; the deleted one 404.
    match env.client.get(ids[1]).await {
        Err(GorgiasError::Merged { id, into }) => assert_eq!((id, into), (ids[1], Some(ids[2]))),
        other => panic!("expected Merged, got {other:?}"),
    }
    assert!(matches!(
        env.client.get(ids[0]).await,
        Err(GorgiasError::NotFound { .. })
    ));
    // Nothing before the window.
    let later = env
        .client
        .events_since(Utc::now() + ChronoDuration::seconds(5))
        .await
        .unwrap();
    assert!(later.is_empty());
}
