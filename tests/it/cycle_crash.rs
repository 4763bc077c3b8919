//! Crash safety: a cycle killed between the outbox and the apply, then restarted, loses no
//! write and doubles none; a create whose answer was lost resolves by e-mail.

use super::cycle_support::*;
use tether::cycle::{CycleError, CycleOptions, StopPoint};
use tether::store::{CycleOutcome, OutboxStatus};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_between_outbox_and_apply_loses_and_doubles_nothing() {
    let sb = sandboxes().await;
    seed_people(&sb, 10, 5);
    let crashing = CycleOptions {
        stop_at: Some(StopPoint::AfterOutbox),
        ..options()
    };
    let cycle = cycle_with(
        &sb,
        tether::commands::demo::default_mappings().unwrap(),
        crashing,
    )
    .await;
    let err = cycle.run().await.unwrap_err();
    assert!(matches!(err, CycleError::Stopped(StopPoint::AfterOutbox)));
    // Killed: the writes are in the outbox, none was sent.
    let pending = cycle.store.pending_writes(1000).await.unwrap();
    assert_eq!(
        pending.len(),
        5 + 5 + 5 + 5,
        "5 updates and 5 creates per side"
    );
    assert_eq!(sb.write_calls(), (0, 0));
    let keys: Vec<String> = pending.iter().map(|p| p.idempotency_key.clone()).collect();

    // A create whose answer was lost: it happened, but the outbox never heard.
    let lost = pending
        .iter()
        .find(|p| p.payload["kind"] == "gorgias_create")
        .unwrap();
    let email = lost.payload["fields"]["email"].as_str().unwrap().to_owned();
    sb.gorgias
        .seed_customers(vec![customer(&email, "Made Before Crash", "")]);
    assert_eq!(sb.gorgias.customer_ids().len(), 11);

    // Restart.
    let mut restarted = cycle.clone();
    restarted.options.stop_at = None;
    let r = restarted.run().await.unwrap();
    assert_eq!(r.outcome, CycleOutcome::Ok, "{r:?}");
    assert_eq!(r.resumed.done, 20, "{:?}", r.resumed);
    assert_eq!(
        r.resumed.resolved_existing, 1,
        "the lost create must resolve by e-mail"
    );
    for k in &keys {
        let item = cycle.store.outbox_by_key(k).await.unwrap().unwrap();
        assert_eq!(item.status, OutboxStatus::Done, "{k}");
    }
    // Nothing doubled: one record per person on each side.
    assert_eq!(sb.hubspot.live_count(), 15);
    assert_eq!(sb.gorgias.customer_ids().len(), 15);
    assert_eq!(cycle.store.links().await.unwrap().len(), 15);
    // Nothing lost: once the cycle after the restart is done, both sides agree.
    settle(&sb).await;
    let before = sb.write_calls();
    let r = restarted.run().await.unwrap();
    assert!(!r.plan.has_writes(), "{:?}", r.plan);
    assert_eq!(sb.write_calls(), before);
    for l in cycle.store.links().await.unwrap() {
        let h = sb.hubspot.contact(l.hubspot.as_str()).unwrap();
        let g = sb.gorgias.customer(l.gorgias.get()).unwrap();
        assert_eq!(
            h["properties"]["tether_gorgias_id"].as_str(),
            Some(l.gorgias.get().to_string().as_str())
        );
        assert_eq!(g["external_id"].as_str(), Some(l.hubspot.as_str()));
    }
}
