//! Tests of the outbox payload format and the pure parts of applying a plan. Must never
//! send anything over the network.

use super::*;

#[test]
fn update_fields_convert_or_name_the_bad_key() {
    let f: Map<String, Value> = serde_json::from_value(json!({
        "name": "Jane", "note": null,
        "channels": [{"type": "phone", "address": "+14155550100", "preferred": true}]
    }))
    .unwrap();
    let u = customer_update(&f).unwrap();
    assert_eq!(u.name, Some(Some("Jane".into())));
    assert_eq!(u.note, Some(None));
    assert_eq!(u.channels.unwrap()[0].address, "+14155550100");
    let bad: Map<String, Value> = serde_json::from_value(json!({"firstname": "J"})).unwrap();
    assert!(customer_update(&bad).unwrap_err().contains("firstname"));
}

#[test]
fn keys_are_deterministic_and_change_with_cycle_and_content() {
    let p = Payload::HubspotUpdate {
        id: HubspotId::new("101").unwrap(),
        gorgias_id: GorgiasId::new(7).unwrap(),
        properties: BTreeMap::from([("phone".into(), "+1".into())]),
        bases: BTreeMap::new(),
    };
    let a = p.to_write(CycleId(1)).unwrap();
    assert_eq!(
        a.idempotency_key,
        p.to_write(CycleId(1)).unwrap().idempotency_key
    );
    assert_ne!(
        a.idempotency_key,
        p.to_write(CycleId(2)).unwrap().idempotency_key
    );
    let mut q = p.clone();
    if let Payload::HubspotUpdate { properties, .. } = &mut q {
        properties.insert("phone".into(), "+2".into());
    }
    assert_ne!(
        a.idempotency_key,
        q.to_write(CycleId(1)).unwrap().idempotency_key
    );
    assert_eq!(a.op, OpKind::Update);
    let back: Payload = serde_json::from_value(a.payload).unwrap();
    assert_eq!(back, p);
}
