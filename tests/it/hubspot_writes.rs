//! Batch writes and reads against the sandbox: 207 partial failures mapped per input, 409
//! "Existing ID" turned into links, merges resolved through old ids.

use super::hubspot_support::*;
use tether::connectors::hubspot::{PropertyDefinition, ReadOutcome, WriteOutcome};
use tether::sandbox::hubspot::MergeIdMode;

fn created_id(o: &WriteOutcome) -> String {
    match o {
        WriteOutcome::Created(c) => c.id.clone(),
        other => panic!("expected Created, got {other:?}"),
    }
}

#[tokio::test]
async fn partial_failures_are_mapped_to_their_inputs() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    let mut bad = person(2);
    bad.insert("no_such_property".into(), "x".into());
    let mut bad_option = person(3);
    bad_option.insert("lifecyclestage".into(), "boss".into());
    let out = client
        .batch_create(&[person(1), bad, person(4), bad_option, person(1)])
        .await
        .unwrap();
    let ok1 = created_id(&out[0]);
    assert!(
        matches!(&out[1], WriteOutcome::Failed(e) if e.category == "VALIDATION_ERROR" && e.message.contains("PROPERTY_DOESNT_EXIST"))
    );
    let ok4 = created_id(&out[2]);
    assert!(matches!(&out[3], WriteOutcome::Failed(e) if e.message.contains("INVALID_OPTION")));
    assert!(matches!(&out[4], WriteOutcome::Failed(e) if e.category == "DUPLICATE_INPUT"));
    assert_eq!(
        sb.contact(&ok1).unwrap()["properties"]["email"],
        "person1@example.com"
    );
    assert_eq!(
        sb.contact(&ok4).unwrap()["properties"]["email"],
        "person4@example.com"
    );
    assert_eq!(sb.live_count(), 2);

    let out = client
        .batch_update(&[
            (ok1.clone(), props(&[("firstname", "Changed")])),
            ("99999999".into(), props(&[("firstname", "Ghost")])),
            (ok4.clone(), props(&[("nope", "1")])),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&out[0], WriteOutcome::Updated(c) if c.id == ok1 && c.prop("firstname") == Some("Changed"))
    );
    assert_eq!(out[1], WriteOutcome::NotFound);
    assert!(matches!(&out[2], WriteOutcome::Failed(e) if e.category == "VALIDATION_ERROR"));

    let read = client
        .batch_read(&[ok1.clone(), "99999999".into()], &["firstname"])
        .await
        .unwrap();
    assert!(
        matches!(&read[0].outcome, ReadOutcome::Found(c) if c.prop("firstname") == Some("Changed"))
    );
    assert_eq!(read[1].outcome, ReadOutcome::NotFound);
}

#[tokio::test]
async fn existing_emails_become_links_not_failures() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    let ids = sb.seed_contacts(vec![person(1), person(2)]);
    let mut dup = person(1);
    dup.insert("email".into(), "PERSON1@example.com".into());
    let out = client
        .batch_create(&[person(10), dup, person(11)])
        .await
        .unwrap();
    created_id(&out[0]);
    assert_eq!(out[1], WriteOutcome::ExistingContact(ids[0].clone()));
    created_id(&out[2]);
    // An address held as an additional e-mail (after a merge) also conflicts.
    let survivor = sb.merge_as_person(&ids[0], &ids[1]).unwrap();
    let out = client.batch_create(&[person(2)]).await.unwrap();
    assert_eq!(out[0], WriteOutcome::ExistingContact(survivor));
    assert_eq!(sb.live_count(), 3);
}

#[tokio::test]
async fn upsert_creates_then_updates_by_email() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    let out = client
        .batch_upsert(&[(
            "new@example.com".into(),
            props(&[("firstname", "N"), ("lastname", "L")]),
        )])
        .await
        .unwrap();
    let id = created_id(&out[0]);
    let out = client
        .batch_upsert(&[(
            "NEW@example.com".into(),
            props(&[("firstname", "M"), ("lastname", "L")]),
        )])
        .await
        .unwrap();
    assert!(matches!(&out[0], WriteOutcome::Updated(c) if c.id == id));
    assert_eq!(sb.contact(&id).unwrap()["properties"]["firstname"], "M");
}

#[tokio::test]
async fn merged_ids_resolve_to_the_survivor() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    let ids = sb.seed_contacts(vec![person(1), person(2), person(3)]);
    let survivor = client.merge(&ids[0], &ids[1]).await.unwrap();
    assert!(
        survivor.id != ids[0] && survivor.id != ids[1],
        "a new id by default"
    );
    let got = client.get(&ids[0], &["email"]).await.unwrap().unwrap();
    assert_eq!(got.id, survivor.id);
    let read = client
        .batch_read(
            &[ids[0].clone(), ids[1].clone(), ids[2].clone()],
            &["email", "hs_additional_emails"],
        )
        .await
        .unwrap();
    for r in &read[..2] {
        match &r.outcome {
            ReadOutcome::Merged(c) => {
                assert_eq!(c.id, survivor.id);
                assert_eq!(c.prop("email"), Some("person1@example.com"));
                assert_eq!(c.prop("hs_additional_emails"), Some("person2@example.com"));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(&read[2].outcome, ReadOutcome::Found(c) if c.id == ids[2]));
    // Updating through an old id lands on the survivor.
    let out = client
        .batch_update(&[(ids[1].clone(), props(&[("lastname", "Merged")]))])
        .await
        .unwrap();
    assert!(matches!(&out[0], WriteOutcome::Updated(c) if c.id == survivor.id));
    assert_eq!(
        sb.contact(&survivor.id).unwrap()["properties"]["lastname"],
        "Merged"
    );
}

#[tokio::test]
async fn merge_can_keep_the_primary_id() {
    let mut cfg = fast_sandbox();
    cfg.merge_id_mode = MergeIdMode::KeepPrimary;
    let (sb, _run, client) = start(cfg).await;
    let ids = sb.seed_contacts(vec![person(1), person(2)]);
    let survivor = client.merge(&ids[0], &ids[1]).await.unwrap();
    assert_eq!(survivor.id, ids[0]);
    let read = client.batch_read(&[ids[1].clone()], &[]).await.unwrap();
    assert!(matches!(&read[0].outcome, ReadOutcome::Merged(c) if c.id == ids[0]));
}

#[tokio::test]
async fn custom_properties_are_ensured_once_and_usable() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    let def = PropertyDefinition {
        name: "gorgias_customer_id".into(),
        label: "Gorgias customer ID".into(),
        kind: "string".into(),
        field_type: "text".into(),
        group_name: "contactinformation".into(),
        description: None,
        has_unique_value: true,
        form_field: false,
    };
    let created = client
        .ensure_properties(std::slice::from_ref(&def))
        .await
        .unwrap();
    assert_eq!(created, vec!["gorgias_customer_id".to_string()]);
    let again = client.ensure_properties(&[def]).await.unwrap();
    assert!(again.is_empty());
    let mut p = person(1);
    p.insert("gorgias_customer_id".into(), "42".into());
    let out = client.batch_create(&[p]).await.unwrap();
    let id = created_id(&out[0]);
    assert_eq!(
        sb.contact(&id).unwrap()["properties"]["gorgias_customer_id"],
        "42"
    );
}

#[tokio::test]
async fn read_by_email_sees_fresh_and_additional_emails() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    let ids = sb.seed_contacts(vec![person(1), person(2)]);
    let survivor = sb.merge_as_person(&ids[0], &ids[1]).unwrap();
    let out = client
        .batch_create(&[props(&[("email", "fresh@example.com")])])
        .await
        .unwrap();
    let fresh = created_id(&out[0]);
    let got = client
        .batch_read_by_email(
            &[
                "Person2@example.com".into(),
                "fresh@example.com".into(),
                "nobody@example.com".into(),
            ],
            &["email"],
        )
        .await
        .unwrap();
    assert_eq!(got[0].0, "person2@example.com");
    assert_eq!(got[0].1.as_ref().unwrap().id, survivor);
    assert_eq!(got[1].1.as_ref().unwrap().id, fresh);
    assert!(got[2].1.is_none());
}

#[tokio::test]
async fn unique_custom_property_values_cannot_be_shared() {
    let (_sb, _run, client) = start(fast_sandbox()).await;
    let def = PropertyDefinition {
        name: "gorgias_customer_id".into(),
        label: "Gorgias customer ID".into(),
        kind: "string".into(),
        field_type: "text".into(),
        group_name: "contactinformation".into(),
        description: None,
        has_unique_value: true,
        form_field: false,
    };
    client.ensure_properties(&[def]).await.unwrap();
    let mut a = person(1);
    a.insert("gorgias_customer_id".into(), "7".into());
    let mut b = person(2);
    b.insert("gorgias_customer_id".into(), "7".into());
    let out = client.batch_create(&[a]).await.unwrap();
    let first = created_id(&out[0]);
    let out = client.batch_create(&[b, person(3)]).await.unwrap();
    assert!(matches!(&out[0], WriteOutcome::Failed(e) if e.category == "VALIDATION_ERROR"));
    let third = created_id(&out[1]);
    let out = client
        .batch_update(&[
            (third, props(&[("gorgias_customer_id", "7")])),
            (first, props(&[("gorgias_customer_id", "7")])),
        ])
        .await
        .unwrap();
    assert!(matches!(&out[0], WriteOutcome::Failed(_)));
    assert!(
        matches!(&out[1], WriteOutcome::Updated(_)),
        "its own value is no conflict"
    );
}
