//! HubSpot 2026-09 portal validation rules (contract `hubspot-2026.md` §2) against the
//! sandbox: the `/__sandbox/portal-rules` control, per-record 207 and whole-batch 400
//! refusals mapped to the one input at fault, conditional rules on update, and the rules
//! left unenforced on the legacy v3 paths.

use super::hubspot_support::*;
use serde_json::{Value, json};
use tether::connectors::hubspot::{ItemError, Refusal, WriteOutcome};
use tether::sandbox::hubspot::{BatchMode, ConditionalRequired, PortalRules};

fn refused(o: &WriteOutcome) -> &ItemError {
    match o {
        WriteOutcome::Failed(e) => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn zip_on_create(mode: BatchMode) -> PortalRules {
    PortalRules {
        create_required: vec!["zip".into()],
        conditional_required: vec![],
        batch_mode: mode,
    }
}

fn with_zip(i: usize) -> std::collections::BTreeMap<String, String> {
    let mut p = person(i);
    p.insert("zip".into(), format!("750{i:02}"));
    p
}

#[tokio::test]
async fn portal_rules_control_sets_reads_and_lifts_rules_over_http() {
    let (sb, run, _client) = start(fast_sandbox()).await;
    let http = reqwest::Client::new();
    let url = format!("{}/__sandbox/portal-rules", run.base_url);
    let body = json!({"create_required": ["zip"],
        "conditional_required": [{"if_property": "country", "if_value": "France", "require": "zip"}],
        "batch_mode": "whole_batch"});
    let r = http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let got: Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(got, body);
    assert_eq!(sb.portal_rules().batch_mode, BatchMode::WholeBatch);
    // Every key is optional; the batch mode defaults to per-record.
    let r = http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(sb.portal_rules(), PortalRules::default());
    let r = http
        .post(&url)
        .json(&json!({"batch_mode": "sometimes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    sb.set_portal_rules(zip_on_create(BatchMode::PerRecord));
    let r = http.delete(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert!(sb.portal_rules().is_empty());
}

#[tokio::test]
async fn a_207_refusal_names_the_rule_and_spares_the_other_inputs() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    sb.set_portal_rules(zip_on_create(BatchMode::PerRecord));
    let out = client
        .batch_create(&[with_zip(1), person(2), with_zip(3)])
        .await
        .unwrap();
    assert!(matches!(&out[0], WriteOutcome::Created(_)), "{out:?}");
    let e = refused(&out[1]);
    assert_eq!(e.category, "VALIDATION_ERROR");
    assert_eq!(e.codes, vec!["MISSING_REQUIRED_PROPERTY"]);
    assert_eq!(e.property_names, vec!["zip"]);
    assert_eq!(e.refusal(), Refusal::ForRecord);
    assert!(matches!(&out[2], WriteOutcome::Created(_)), "{out:?}");
    assert_eq!(sb.live_count(), 2);
    assert_eq!(sb.counters().calls("batch/create"), 1, "one call, a 207");
    // Lifted rule: the same record goes through.
    sb.clear_portal_rules();
    let out = client.batch_create(&[person(2)]).await.unwrap();
    assert!(matches!(&out[0], WriteOutcome::Created(_)), "{out:?}");
}

#[tokio::test]
async fn conditional_rules_refuse_updates_and_upserts_that_break_them() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    let ids = sb.seed_contacts(vec![person(1), person(2)]);
    sb.set_portal_rules(PortalRules {
        create_required: vec![],
        conditional_required: vec![ConditionalRequired {
            if_property: "country".into(),
            if_value: "France".into(),
            require: "zip".into(),
        }],
        batch_mode: BatchMode::PerRecord,
    });
    let out = client
        .batch_update(&[
            (ids[0].clone(), props(&[("country", "France")])),
            (
                ids[1].clone(),
                props(&[("country", "France"), ("zip", "75001")]),
            ),
        ])
        .await
        .unwrap();
    let e = refused(&out[0]);
    assert_eq!(e.codes, vec!["MISSING_CONDITIONAL_REQUIRED_PROPERTY"]);
    assert_eq!(e.property_names, vec!["zip"]);
    assert_eq!(e.refusal(), Refusal::ForRecord);
    assert!(matches!(&out[1], WriteOutcome::Updated(_)), "{out:?}");
    assert!(
        sb.contact(&ids[0]).unwrap()["properties"]
            .get("country")
            .is_none_or(|c| c != "France"),
        "the refused update wrote nothing"
    );
    // An upsert creating a contact follows the same rule.
    let out = client
        .batch_upsert(&[
            ("new@example.com".into(), props(&[("country", "France")])),
            ("ok@example.com".into(), props(&[("country", "Spain")])),
        ])
        .await
        .unwrap();
    assert_eq!(
        refused(&out[0]).codes,
        vec!["MISSING_CONDITIONAL_REQUIRED_PROPERTY"]
    );
    assert!(matches!(&out[1], WriteOutcome::Created(_)), "{out:?}");
}

#[tokio::test]
async fn single_writes_answer_the_rule_400_and_v3_paths_ignore_rules() {
    let (sb, run, _client) = start(fast_sandbox()).await;
    sb.set_portal_rules(zip_on_create(BatchMode::PerRecord));
    let http = reqwest::Client::new();
    let token = fast_sandbox().token.expose().to_string();
    let post = |path: &str, body: Value| {
        http.post(format!("{}{path}", run.base_url))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = post(
        "/crm/objects/2026-09/contacts",
        json!({"properties": {"email": "a@example.com"}}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert_eq!(body["errors"][0]["code"], "MISSING_REQUIRED_PROPERTY");
    assert_eq!(body["errors"][0]["context"]["propertyName"], json!(["zip"]));
    assert!(body["correlationId"].is_string());
    // The same write on v3 and 2026-03 is not subject to the 2026-09 rules.
    for v in ["/crm/v3/objects/contacts", "/crm/objects/2026-03/contacts"] {
        let email = format!("{}@example.com", v.len());
        let r = post(v, json!({"properties": {"email": email}}))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{v}");
    }
    // A batch without objectWriteTraceId on every input cannot be answered per record.
    let r = post(
        "/crm/objects/2026-09/contacts/batch/create",
        json!({"inputs": [
            {"properties": {"email": "b@example.com", "zip": "1"}, "objectWriteTraceId": "0"},
            {"properties": {"email": "c@example.com"}}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(sb.live_count(), 2);
}
