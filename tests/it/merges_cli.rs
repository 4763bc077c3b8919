//! `tether merges list|show|approve|reject` and `tether review`: the real binary on a store
//! written by the test.

use assert_cmd::Command;
use chrono::Utc;
use predicates::prelude::*;
use serde_json::json;
use tether::config::StoreSettings;
use tether::domain::{HubspotId, RecordRef};
use tether::store::{Pair, ProposalId, ProposalInsert, ProposalStatus, Store};

pub fn tether(url: &str) -> Command {
    let mut c = super::harness::tether_assert();
    c.env("TETHER__STORE__URL", url)
        .env("TETHER__HUBSPOT__TOKEN", "")
        .env("TETHER__SERVER__REVIEW_TOKEN", "")
        .current_dir(std::env::temp_dir());
    c
}

fn h(id: &str) -> RecordRef {
    RecordRef::Hubspot(HubspotId::new(id).unwrap())
}

async fn seeded(url: &str) -> (ProposalId, ProposalId) {
    let store = Store::open(&StoreSettings {
        url: url.parse().unwrap(),
        busy_timeout_ms: 5000,
        lease_seconds: 15,
    })
    .await
    .unwrap();
    let mut ids = vec![];
    for (a, b, score, name) in [("1", "2", 0.86, "Ann"), ("3", "4", 0.97, "Bo")] {
        let snap = json!({
            "a": {"record": {"system": "hubspot", "id": a}, "fields": {"first_name": name}},
            "b": {"record": {"system": "hubspot", "id": b}, "fields": {"first_name": name}},
        });
        let expl = json!({"prior": -5.0, "fields": [{"field": "first_name", "level": "exact", "weight": 3.5}], "relatives_guard": 0.0, "total": -1.5});
        let pair = Pair::new(h(a), h(b)).unwrap();
        let ProposalInsert::Created(id) = store
            .propose(&pair, score, &expl, &snap, Utc::now())
            .await
            .unwrap()
        else {
            panic!()
        };
        ids.push(id);
    }
    store.close().await;
    (ids[0], ids[1])
}

#[tokio::test]
async fn merges_commands_list_show_reject_and_approve() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let (low, high) = seeded(&url).await;

    let out = tether(&url)
        .args(["merges", "list", "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let list: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![high.0, low.0], "highest score first");
    tether(&url)
        .args(["merges", "show", &low.0.to_string()])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("hubspot:1"))
        .stdout(predicate::str::contains("first_name"))
        .stdout(predicate::str::contains("+3.50"))
        .stdout(predicate::str::contains("merged record (survivor hubspot:"))
        .stdout(predicate::str::contains("both records agree"));
    tether(&url)
        .args(["merges", "show", "999"])
        .assert()
        .code(2);
    // Choices name a record of the pair, for one proposal, as FIELD=VALUE.
    for bad in [
        vec!["--survivor", "hubspot:9"],
        vec!["--survivor", "nowhere"],
        vec!["--set", "city"],
    ] {
        tether(&url)
            .args(["merges", "approve", &low.0.to_string()])
            .args(&bad)
            .assert()
            .code(2);
    }
    tether(&url)
        .args(["merges", "approve", &low.0.to_string(), &high.0.to_string()])
        .args(["--set", "city=York"])
        .assert()
        .code(2);
    tether(&url)
        .args([
            "merges",
            "reject",
            &low.0.to_string(),
            "--reason",
            "siblings",
        ])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("will not be proposed again"));
    // Rejecting again: the proposal is no longer pending.
    tether(&url)
        .args(["merges", "reject", &low.0.to_string()])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not pending"));
    tether(&url).args(["merges", "approve"]).assert().code(2);
    // No HubSpot token: approved, reported as not merged, exit 1.
    tether(&url)
        .args(["merges", "approve", &high.0.to_string()])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("HubSpot is not configured"));
    tether(&url)
        .args(["merges", "list"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no pending merge proposals"));

    let store = Store::open_read_only(&StoreSettings {
        url: url.parse().unwrap(),
        busy_timeout_ms: 5000,
        lease_seconds: 15,
    })
    .await
    .unwrap();
    let p = store.proposal(low).await.unwrap().unwrap();
    assert_eq!(p.status, ProposalStatus::Rejected);
    assert_eq!(p.reason.as_deref(), Some("siblings"));
    assert!(p.decided_by.unwrap().starts_with("cli:"));
    let audit = store.audit_for(&h("3")).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "merge.failed"));
    store.close().await;
}

/// `merges show` links each record to its page: HubSpot's from the account details the
/// sandbox serves (its portal id, read once), Gorgias's from the configured account URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merges_show_links_each_record_to_its_page() {
    use crate::hubspot_support::{fast_sandbox, start};
    let (sb, running, _client) = start(fast_sandbox()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let (low, _) = seeded(&url).await;
    let portal = sb.config().portal_id;
    let token = "pat-na1-test";
    let out = tether(&url)
        .env("TETHER__HUBSPOT__BASE_URL", &running.base_url)
        .env("TETHER__HUBSPOT__TOKEN", token)
        .env("TETHER__GORGIAS__BASE_URL", "https://acme.gorgias.com")
        .args(["merges", "show", &low.0.to_string()])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    for id in ["1", "2"] {
        let link = format!("https://app.hubspot.com/contacts/{portal}/record/0-1/{id}");
        assert!(text.contains(&link), "{text}");
    }
    let json_out = tether(&url)
        .env("TETHER__HUBSPOT__BASE_URL", &running.base_url)
        .env("TETHER__HUBSPOT__TOKEN", token)
        .args(["merges", "show", &low.0.to_string(), "--json"])
        .assert()
        .code(0)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&json_out).unwrap();
    assert_eq!(
        v["links"]["hubspot:2"],
        format!("https://app.hubspot.com/contacts/{portal}/record/0-1/2")
    );
    // One account read per run, on the dated path.
    let calls = sb.counters();
    assert_eq!(
        calls.by_endpoint.get("GET /account-info/2026-03/details"),
        Some(&2),
        "{calls:?}"
    );
    // Without HubSpot credentials the records are listed, unlinked.
    tether(&url)
        .args(["merges", "show", &low.0.to_string()])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("hubspot:1"))
        .stdout(predicate::str::contains(
            "(unknown: the account could not be read)",
        ));
    running.stop().await;
}

#[test]
fn review_refuses_to_start_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    tether(&url)
        .args(["review", "--listen", "127.0.0.1:0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("review_token"));
}
