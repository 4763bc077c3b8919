//! Tests of the [`StateStore`] trait: it forwards to the store, and callers can hold it as
//! `&dyn StateStore` or [`SharedStore`].

use super::*;
use crate::store::test_support::*;
use serde_json::json;

/// Callers can hold the store as `&dyn StateStore`.
async fn link_and_read(s: &dyn StateStore) -> Option<Link> {
    s.create_link(&hs("5"), gg(6), &BTreeMap::new(), "t", t(0))
        .await
        .unwrap();
    s.link_for(&RecordRef::Gorgias(gg(6))).await.unwrap()
}

#[tokio::test]
async fn the_trait_forwards_to_the_store() {
    let s = mem().await;
    let l = link_and_read(&s).await.unwrap();
    assert_eq!(l.hubspot, hs("5"));
    let dyn_store: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(s.clone());
    let n = dyn_store
        .enqueue_writes(
            &[NewWrite {
                idempotency_key: "k".into(),
                system: System::Gorgias,
                op: OpKind::Update,
                target: Some(RecordRef::Gorgias(gg(6))),
                payload: json!({}),
            }],
            t(1),
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(s.counts().await.unwrap().outbox_pending, 1);
}

#[tokio::test]
async fn the_trait_forwards_unsettled_records() {
    let s = mem().await;
    let dyn_store: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(s.clone());
    let r = NewRefusal {
        record: RecordRef::Gorgias(gg(6)),
        target: System::Hubspot,
        op: OpKind::Create,
        class: FailureClass::Record,
        reason: "refused".into(),
    };
    let u = dyn_store
        .record_refusal(&r, |_| chrono::Duration::zero(), "t", t(0))
        .await
        .unwrap();
    assert_eq!(
        s.unsettled(UnsettledFilter::Due(t(0))).await.unwrap(),
        vec![u.clone()]
    );
    let d = dyn_store
        .dismiss_unsettled(u.id, "why", "t", t(1))
        .await
        .unwrap();
    assert!(d.dismissed.is_some());
    let back = dyn_store
        .retry_unsettled(&RetrySelection::Ids(vec![u.id]), "retry", "t", t(2))
        .await
        .unwrap();
    assert!(back[0].dismissed.is_none());
    let n = dyn_store
        .settle_unsettled(&r.record, None, "done", "t", t(3))
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(
        dyn_store
            .unsettled(UnsettledFilter::All)
            .await
            .unwrap()
            .is_empty()
    );
}
