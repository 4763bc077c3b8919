//! Gorgias writes against the sandbox: partial update, channels kept, `data` subtree
//! read-modify-write keeping foreign keys, create recovering an existing e-mail (409 and
//! 400), merge conflict, validation never retried, account check.

use crate::gorgias_common::*;
use serde_json::json;
use tether::connectors::gorgias::{
    CreateOutcome, CustomerUpdate, GorgiasError, NewChannel, NewCustomer, SubtreeWrite,
};
use tether::sandbox::gorgias::SandboxConfig;

#[tokio::test]
async fn data_subtree_read_modify_write_keeps_foreign_keys() {
    let env = start().await;
    let id = env.sb.seed_customers(vec![json!({
        "name": "A", "channels": [{"type":"email","address":"a@x.test","preferred":true}],
        "data": {"shopify": {"orders": 3}, "tether": {"stale": true}}
    })])[0];
    let w = env
        .client
        .update_data_subtree(id, "tether", json!({"lifecycle": "customer"}))
        .await
        .unwrap();
    assert_eq!(w, SubtreeWrite::Written);
    assert_eq!(
        env.sb.customer(id).unwrap()["data"],
        json!({"shopify": {"orders": 3}, "tether": {"lifecycle": "customer"}})
    );
    // Another integration writes its own key; ours survives theirs and theirs ours.
    env.sb.edit_as_agent(id, json!({"data": {"shopify": {"orders": 3}, "tether": {"lifecycle": "customer"}, "klaviyo": {"score": 9}}}));
    env.client
        .update_data_subtree(id, "tether", json!({"lifecycle": "evangelist"}))
        .await
        .unwrap();
    assert_eq!(
        env.sb.customer(id).unwrap()["data"],
        json!({"shopify": {"orders": 3}, "tether": {"lifecycle": "evangelist"}, "klaviyo": {"score": 9}})
    );
    // Unchanged: read only, no write.
    let w = env
        .client
        .update_data_subtree(id, "tether", json!({"lifecycle": "evangelist"}))
        .await
        .unwrap();
    assert_eq!(w, SubtreeWrite::Unchanged);
    assert_eq!(env.client.metrics().calls_to("put_customer_data"), 2);
    assert_eq!(env.client.metrics().calls_to("get_customer"), 3);
    // A non-object `data` is never replaced.
    env.sb.edit_as_agent(id, json!({"data": ["legacy"]}));
    assert!(matches!(
        env.client.update_data_subtree(id, "tether", json!(1)).await,
        Err(GorgiasError::DataNotObject { .. })
    ));
    assert_eq!(env.sb.customer(id).unwrap()["data"], json!(["legacy"]));
}

async fn create_twice(cfg: SandboxConfig) {
    let env = start_with(cfg).await;
    let new = NewCustomer {
        email: Some("dup@x.test".into()),
        name: Some("Dup Licate".into()),
        channels: vec![
            NewChannel::email("dup@x.test", true),
            NewChannel::phone("+15550009", true),
        ],
        ..Default::default()
    };
    let first = env.client.create(&new).await.unwrap();
    let CreateOutcome::Created(c) = &first else {
        panic!("expected Created, got {first:?}")
    };
    assert_eq!(c.channel_addresses("phone").unwrap(), vec!["+15550009"]);
    let second = env.client.create(&new).await.unwrap();
    assert_eq!(second, CreateOutcome::Existing(second.customer().clone()));
    assert_eq!(second.customer().id, c.id);
    assert_eq!(env.sb.customer_ids().len(), 1);
    // A failure that is not "already used" stays an error and is not retried.
    let bad = NewCustomer {
        email: Some("other@x.test".into()),
        language: Some("english".into()),
        ..Default::default()
    };
    let before = env.sb.counters().calls_to("POST /api/customers");
    assert!(matches!(
        env.client.create(&bad).await,
        Err(GorgiasError::Validation { status: 400, .. })
    ));
    assert_eq!(
        env.sb.counters().calls_to("POST /api/customers") - before,
        1
    );
}

#[tokio::test]
async fn create_recovers_an_existing_email_on_409() {
    create_twice(SandboxConfig {
        time_scale: SCALE,
        ..SandboxConfig::default()
    })
    .await;
}

#[tokio::test]
async fn create_recovers_an_existing_email_on_400_already_used() {
    create_twice(SandboxConfig {
        time_scale: SCALE,
        duplicate_email_status: 400,
        ..SandboxConfig::default()
    })
    .await;
}

#[tokio::test]
async fn partial_update_and_channels_keep_what_tether_does_not_manage() {
    let env = start().await;
    let id = env.sb.seed_customers(vec![json!({
        "name": "Old Name", "note": "agent note", "language": "en",
        "channels": [
            {"type":"email","address":"p@x.test","preferred":true},
            {"type":"phone","address":"+15550001","preferred":true},
            {"type":"instagram","address":"@p","preferred":false}
        ]
    })])[0];
    let updated = env
        .client
        .update(
            id,
            &CustomerUpdate {
                name: Some(Some("New Name".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("New Name"));
    assert_eq!(updated.note.as_deref(), Some("agent note"));
    assert_eq!(updated.language.as_deref(), Some("en"));
    assert!(
        env.client
            .update(id, &CustomerUpdate::default())
            .await
            .unwrap()
            .is_none()
    );
    let c = env
        .client
        .set_channels(id, &["phone"], &[NewChannel::phone("+15550002", true)])
        .await
        .unwrap();
    let mut got: Vec<(String, String)> = c
        .channels
        .unwrap()
        .into_iter()
        .map(|ch| (ch.kind, ch.address))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("email".into(), "p@x.test".into()),
            ("instagram".into(), "@p".into()),
            ("phone".into(), "+15550002".into()),
        ]
    );
    // Same again: one read, no write.
    let puts = env.client.metrics().calls_to("update_customer");
    env.client
        .set_channels(id, &["phone"], &[NewChannel::phone("+15550002", true)])
        .await
        .unwrap();
    assert_eq!(env.client.metrics().calls_to("update_customer"), puts);
}

#[tokio::test]
async fn merge_conflict_is_typed_and_validation_is_never_retried() {
    let env = start().await;
    let ids = env.sb.seed_customers(vec![
        json!({"name": "S", "integrations": {"5": {"x": 1}}, "channels": [{"type":"email","address":"s@x.test","preferred":true}]}),
        json!({"name": "T", "integrations": {"5": {"x": 2}}, "channels": [{"type":"email","address":"t@x.test","preferred":true}]}),
    ]);
    let body = CustomerUpdate {
        name: Some(Some("T".into())),
        ..Default::default()
    };
    match env.client.merge(ids[0], ids[1], &body).await {
        Err(GorgiasError::MergeConflict {
            source_id,
            target_id,
            ..
        }) => {
            assert_eq!((source_id, target_id), (ids[0], ids[1]))
        }
        other => panic!("expected MergeConflict, got {other:?}"),
    }
    assert!(matches!(
        env.client
            .merge(ids[0], ids[1], &CustomerUpdate::default())
            .await,
        Err(GorgiasError::InvalidInput(_))
    ));
    let bad = CustomerUpdate {
        timezone: Some(Some("Mars/Olympus Mons".into())),
        language: Some(Some("klingon".into())),
        ..Default::default()
    };
    let err = env.client.update(ids[0], &bad).await.unwrap_err();
    assert!(!err.is_transient());
    match err {
        GorgiasError::Validation { fields, .. } => assert!(fields.raw().get("language").is_some()),
        other => panic!("expected Validation, got {other:?}"),
    }
    assert_eq!(env.sb.counters().calls_to("PUT /api/customers/{id}"), 1);
    assert_eq!(env.client.metrics().retries, 0);
}

#[tokio::test]
async fn account_check_for_doctor() {
    let env = start().await;
    assert!(env.client.check_account().await.is_ok());
    let cfg = SandboxConfig {
        api_key: tether::secret::Secret::new("wrong-key"),
        ..SandboxConfig::default()
    };
    let wrong = client_for(&cfg, &env.running.base_url);
    assert!(matches!(
        wrong.check_account().await,
        Err(GorgiasError::Unauthorized)
    ));
}

#[tokio::test]
async fn data_writes_are_asynchronous_and_ordered_by_version() {
    let env = start_with(SandboxConfig {
        time_scale: SCALE,
        data_apply_delay: std::time::Duration::from_millis(150),
        ..SandboxConfig::default()
    })
    .await;
    let id = env.sb.seed_customers(vec![json!({
        "name": "A", "channels": [{"type":"email","address":"a@x.test","preferred":true}],
        "data": {"shopify": {"orders": 1}}
    })])[0];
    env.client
        .update_data_subtree(id, "tether", json!({"v": 1}))
        .await
        .unwrap();
    // Accepted (202) but not applied yet: a read right after still shows the old data.
    assert_eq!(
        env.sb.customer(id).unwrap()["data"],
        json!({"shopify": {"orders": 1}})
    );
    // ...and the new subtree once the sandbox has applied it.
    let applied = json!({"shopify": {"orders": 1}, "tether": {"v": 1}});
    super::harness::eventually(
        std::time::Duration::from_secs(2),
        "the data applied",
        || (env.sb.customer(id).unwrap()["data"] == applied).then_some(()),
    )
    .await;
}
