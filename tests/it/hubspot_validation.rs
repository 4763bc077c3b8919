//! HubSpot 2026-09 portal validation rules (contract `hubspot-2026.md` §2) against the
//! sandbox: the `/__sandbox/portal-rules` control, per-record 207 and whole-batch 400
//! refusals mapped to the one input at fault, conditional rules on update, and the rules
//! left unenforced on the legacy v3 paths.

use super::hubspot_support::*;
use serde_json::{Value, json};
use tether::connectors::hubspot::{ItemError, MAX_NARROWING_CALLS, Refusal, WriteOutcome};
use tether::sandbox::hubspot::{BatchMode, ConditionalRequired, Fault, FaultKind, PortalRules};

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

#[tokio::test]
async fn a_whole_batch_400_is_narrowed_down_in_few_calls() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    sb.set_portal_rules(zip_on_create(BatchMode::WholeBatch));
    let mut inputs: Vec<_> = (0..100).map(with_zip).collect();
    inputs[37] = person(37);
    sb.reset_counters();
    let out = client.batch_create(&inputs).await.unwrap();
    for (i, o) in out.iter().enumerate() {
        if i == 37 {
            let e = refused(o);
            assert_eq!(e.codes, vec!["MISSING_REQUIRED_PROPERTY"]);
            assert_eq!(e.property_names, vec!["zip"]);
            assert_eq!(e.refusal(), Refusal::ForRecord);
        } else {
            assert!(matches!(o, WriteOutcome::Created(_)), "input {i}: {o:?}");
        }
    }
    assert_eq!(sb.live_count(), 99, "every valid input is written");
    // Binary narrowing: the first call, then two per halving (⌈log2 100⌉ = 7).
    let calls = sb.counters().calls("batch/create");
    assert!(calls <= 1 + 2 * 7, "{calls} calls for one bad input");
    assert!(calls > 1, "the refused batch was narrowed down");
}

#[tokio::test]
async fn narrowing_stops_at_set_up_refusals_and_at_its_budget() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    // A whole-batch 400 naming a property that does not exist: every record would fail
    // alike, so the batch is not split.
    let body = json!({"status": "error", "category": "VALIDATION_ERROR",
        "correlationId": "c0ffee00-0000-4000-8000-000000000000",
        "message": "Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"x\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"x\"}]"});
    sb.inject_fault(Fault {
        kind: FaultKind::Body,
        status: Some(400),
        millis: None,
        times: 1,
        path: Some("batch/create".into()),
        body: Some(body.to_string()),
    });
    let inputs: Vec<_> = (0..40).map(person).collect();
    sb.reset_counters();
    let out = client.batch_create(&inputs).await.unwrap();
    assert_eq!(sb.counters().calls("batch/create"), 1);
    for o in &out {
        assert_eq!(refused(o).refusal(), Refusal::ForSetup, "{o:?}");
    }
    // Every input breaking a record rule: narrowing gives up at its budget, not at one
    // call per record.
    sb.set_portal_rules(zip_on_create(BatchMode::WholeBatch));
    sb.reset_counters();
    let inputs: Vec<_> = (100..200).map(person).collect();
    let out = client.batch_create(&inputs).await.unwrap();
    assert!(out.iter().all(|o| matches!(o, WriteOutcome::Failed(_))));
    let calls = sb.counters().calls("batch/create") as usize;
    assert!(calls <= 1 + MAX_NARROWING_CALLS, "{calls} calls");
    assert_eq!(sb.live_count(), 0);
}

#[tokio::test]
async fn warnings_on_dated_writes_are_counted_and_never_fail_a_write() {
    let (sb, _run, client) = start(fast_sandbox()).await;
    let ids = sb.seed_contacts(vec![person(1)]);
    let out = client
        .batch_update(&[(
            ids[0].clone(),
            props(&[("date_of_birth", "1990-01-01T10:30:00Z")]),
        )])
        .await
        .unwrap();
    assert!(matches!(&out[0], WriteOutcome::Updated(_)), "{out:?}");
    assert_eq!(
        client.warnings().get("PROPERTY_VALUE_NORMALIZED"),
        Some(&1),
        "{:?}",
        client.warnings()
    );
    assert_eq!(
        sb.contact(&ids[0]).unwrap()["properties"]["date_of_birth"],
        "1990-01-01"
    );
    let out = client
        .batch_create(&[{
            let mut p = person(2);
            p.insert("date_of_birth".into(), "1985-06-15T23:00:00Z".into());
            p
        }])
        .await
        .unwrap();
    assert!(matches!(&out[0], WriteOutcome::Created(_)), "{out:?}");
    assert_eq!(client.warnings().get("PROPERTY_VALUE_NORMALIZED"), Some(&2));
    // Switched off, the 2026-09 sandbox refuses such a value as v3 does.
    sb.set_date_warnings(false);
    let out = client
        .batch_update(&[(
            ids[0].clone(),
            props(&[("date_of_birth", "1990-01-02T10:30:00Z")]),
        )])
        .await
        .unwrap();
    assert!(matches!(&out[0], WriteOutcome::Failed(_)), "{out:?}");
    assert_eq!(client.warnings().get("PROPERTY_VALUE_NORMALIZED"), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_writes_the_valid_creates_of_a_batch_refused_whole() {
    use super::cycle_support::{customer, cycle, sandboxes};
    let sb = sandboxes().await;
    sb.gorgias.seed_customers(vec![
        customer("a@shop.test", "Ann Able", ""),
        customer("b@shop.test", "Bo Refused", ""),
        customer("c@shop.test", "Cy Cole", ""),
        customer("d@shop.test", "Di Dane", ""),
        customer("e@shop.test", "Ed Eves", ""),
        customer("f@shop.test", "Fa Fox", ""),
    ]);
    let cycle = cycle(&sb).await;
    sb.hubspot.set_portal_rules(PortalRules {
        create_required: vec![],
        conditional_required: vec![ConditionalRequired {
            if_property: "lastname".into(),
            if_value: "Refused".into(),
            require: "zip".into(),
        }],
        batch_mode: BatchMode::WholeBatch,
    });
    sb.hubspot.reset_counters();
    let r = cycle.run().await.unwrap();
    assert_eq!(r.plan.summary.hubspot_creates, 6, "{:?}", r.plan);
    assert_eq!(
        sb.hubspot.live_count(),
        5,
        "the five valid creates are written"
    );
    assert_eq!(cycle.store.links().await.unwrap().len(), 5);
    let calls = sb.hubspot.counters().calls("batch/create");
    assert!(
        (2..=1 + 2 * 3).contains(&calls),
        "{calls} batch/create calls for 6 inputs"
    );
}

#[tokio::test]
async fn tether_sandbox_flags_set_the_portal_rules_and_the_legacy_switch() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = super::harness::tether_command()
        .args([
            "sandbox",
            "--hubspot-token",
            "pat-rules",
            "--hubspot-require-on-create",
            "zip",
            "--hubspot-require-on-create",
            "city",
            "--hubspot-validation-batch",
            "whole-batch",
            "--hubspot-legacy-paths",
            "refuse",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let hs = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.trim()
                    .strip_prefix("HubSpot sandbox:")
                    .map(|v| v.trim().to_owned())
            })
    })
    .await
    .unwrap()
    .expect("the banner names the HubSpot sandbox");
    let http = reqwest::Client::new();
    let rules: Value = http
        .get(format!("{hs}/__sandbox/portal-rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let legacy = http
        .get(format!("{hs}/crm/v3/objects/contacts?limit=1"))
        .bearer_auth("pat-rules")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let dated = http
        .post(format!("{hs}/crm/objects/2026-09/contacts"))
        .bearer_auth("pat-rules")
        .json(&json!({"properties": {"email": "x@example.com", "zip": "1"}}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        rules,
        json!({"create_required": ["zip", "city"], "conditional_required": [],
               "batch_mode": "whole_batch"})
    );
    assert_eq!(legacy, 410, "legacy paths refused");
    assert_eq!(dated, 400, "city is required on create");
}
