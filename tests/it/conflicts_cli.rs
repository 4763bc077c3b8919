//! Held conflicts end to end (issue 12, test c): a `manual` field changed on both sides is
//! held and stored; `tether conflicts list|show|resolve`, `tether inbox` and
//! `tether explain` show it; one sync after `resolve` writes the chosen value to both
//! sides, and the next plan is empty. The real binary against both sandboxes on loopback.

use super::cycle_support::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;

struct World {
    sb: tether::commands::demo::Sandboxes,
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
    hubspot_id: String,
    gorgias_id: i64,
}

impl World {
    async fn tether(&self, args: &[&str]) -> (i32, String) {
        run(self.env.clone(), self.dir.path().to_path_buf(), args).await
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (code, out) = self.tether(args).await;
        assert_eq!(code, 0, "tether {args:?}: {out}");
        out
    }

    async fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Both sides change the name: a `manual` conflict.
    async fn diverge(&self, hubspot_first: &str, gorgias_name: &str) {
        self.sb
            .hubspot
            .edit_as_person(
                &self.hubspot_id,
                BTreeMap::from([("firstname".to_string(), hubspot_first.to_string())]),
            )
            .unwrap();
        self.sb
            .gorgias
            .edit_as_agent(self.gorgias_id, json!({ "name": gorgias_name }));
        settle(&self.sb).await;
    }

    fn names(&self) -> (String, String) {
        let c = self.sb.hubspot.contact(&self.hubspot_id).unwrap();
        let g = self.sb.gorgias.customer(self.gorgias_id).unwrap();
        (
            format!(
                "{} {}",
                c["properties"]["firstname"].as_str().unwrap_or(""),
                c["properties"]["lastname"].as_str().unwrap_or("")
            ),
            g["name"].as_str().unwrap_or("").to_owned(),
        )
    }
}

/// One pair linked by a first sync, with the `manual` name mapping.
async fn world() -> World {
    let sb = sandboxes().await;
    sb.hubspot
        .seed_contacts(vec![contact("jane@shop.test", "Jane", "Doe", "")]);
    sb.gorgias
        .seed_customers(vec![customer("jane@shop.test", "Jane Doe", "")]);
    let dir = tempfile::tempdir().unwrap();
    let mappings = dir.path().join("mappings");
    std::fs::create_dir(&mappings).unwrap();
    std::fs::write(mappings.join("manual.toml"), MANUAL_NAME_TOML).unwrap();
    let env = cli_env(&sb, dir.path(), &mappings);
    let mut w = World {
        sb,
        env,
        dir,
        hubspot_id: String::new(),
        gorgias_id: 0,
    };
    w.ok(&["setup"]).await;
    w.ok(&["sync"]).await;
    settle(&w.sb).await;
    let store = tether::store::Store::open_read_only(&tether::config::StoreSettings {
        url: format!("sqlite://{}", w.dir.path().join("t.db").display())
            .parse()
            .unwrap(),
        busy_timeout_ms: 2_000,
        lease_seconds: 15,
    })
    .await
    .unwrap();
    let link = store
        .links()
        .await
        .unwrap()
        .pop()
        .expect("the pair is linked");
    store.close().await;
    w.hubspot_id = link.hubspot.as_str().to_owned();
    w.gorgias_id = link.gorgias.get();
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_conflict_is_resolved_from_the_command_line_and_applied_by_one_sync() {
    let w = world().await;
    w.diverge("Janet", "Jane Smith").await;
    w.ok(&["sync"]).await;

    // Listed, with the fields a script relies on.
    let list = w.json(&["conflicts", "list", "--json"]).await;
    let [c] = list.as_array().unwrap().as_slice() else {
        panic!("one held conflict: {list:#}")
    };
    assert_eq!(c["field"], "name");
    assert_eq!(c["hubspot_id"], json!(w.hubspot_id));
    assert_eq!(c["gorgias_id"], json!(w.gorgias_id));
    assert_eq!(c["hubspot_value"], "Janet Doe");
    assert_eq!(c["gorgias_value"], "Jane Smith");
    assert_eq!(c["base"], "Jane Doe");
    assert_eq!(c["status"], "open");
    let id = c["id"].as_i64().unwrap().to_string();
    let text = w.ok(&["conflicts", "list"]).await;
    assert!(
        text.contains("Janet Doe") && text.contains("Jane Smith"),
        "{text}"
    );
    let shown = w.ok(&["conflicts", "show", &id]).await;
    assert!(shown.contains("base (last agreed)"), "{shown}");
    assert!(
        shown.contains(&format!("tether conflicts resolve {id}")),
        "{shown}"
    );

    // Still held by the next sync, and not duplicated.
    settle(&w.sb).await;
    w.ok(&["sync"]).await;
    assert_eq!(
        w.json(&["conflicts", "list", "--json"])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // In the inbox, with the command that acts on it.
    let inbox = w.json(&["inbox", "--json"]).await;
    assert_eq!(inbox["schema"], "tether.inbox/1");
    let item = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "held_conflict")
        .unwrap_or_else(|| panic!("{inbox:#}"));
    assert_eq!(item["id"], json!(id));
    assert!(
        item["actions"][1]
            .as_str()
            .unwrap()
            .starts_with(&format!("tether conflicts resolve {id} "))
    );

    // Unknown ids and contradictory flags are usage errors.
    let (code, out) = w
        .tether(&["conflicts", "resolve", "999", "--take", "gorgias"])
        .await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no held conflict #999"), "{out}");
    let (code, out) = w.tether(&["conflicts", "show", "999"]).await;
    assert_eq!(code, 2, "{out}");
    let (code, out) = w.tether(&["conflicts", "resolve", &id]).await;
    assert_eq!(code, 2, "{out}");
    let (code, out) = w
        .tether(&[
            "conflicts",
            "resolve",
            &id,
            "--take",
            "gorgias",
            "--value",
            "x",
        ])
        .await;
    assert_eq!(code, 2, "{out}");

    // Resolved: the plan now writes the Gorgias value to HubSpot, and explain says why.
    let before = w.sb.write_calls();
    let out = w
        .ok(&["conflicts", "resolve", &id, "--take", "gorgias"])
        .await;
    assert!(out.contains("resolved"), "{out}");
    assert_eq!(
        w.sb.write_calls(),
        before,
        "resolve writes nothing to a system"
    );
    let (code, out) = w.tether(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 2, "{out}");
    let explained = w.ok(&["explain", "jane@shop.test"]).await;
    assert!(explained.contains("reviewer's choice"), "{explained}");
    assert!(explained.contains("conflict.resolved"), "{explained}");

    // One sync applies it, with no new change on either side.
    w.ok(&["sync"]).await;
    assert_eq!(
        w.names(),
        ("Jane Smith".to_string(), "Jane Smith".to_string())
    );
    settle(&w.sb).await;
    let (code, out) = w.tether(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
    assert!(
        w.json(&["conflicts", "list", "--json"])
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    let all = w.json(&["conflicts", "list", "--all", "--json"]).await;
    assert_eq!(all[0]["status"], "closed");
    assert_eq!(all[0]["closed_how"], "applied");
    let (code, out) = w
        .tether(&["conflicts", "resolve", &id, "--take", "hubspot"])
        .await;
    assert_eq!(code, 2, "a closed conflict cannot be resolved again: {out}");
    let explained = w.ok(&["explain", "jane@shop.test"]).await;
    assert!(explained.contains("conflict.closed"), "{explained}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_of_ones_own_is_written_to_both_sides() {
    let w = world().await;
    w.diverge("Janet", "Jane Smith").await;
    w.ok(&["sync"]).await;
    let list = w.json(&["conflicts", "list", "--json"]).await;
    let id = list[0]["id"].as_i64().unwrap().to_string();
    w.ok(&["conflicts", "resolve", &id, "--value", "Janet Smith"])
        .await;
    w.ok(&["sync"]).await;
    assert_eq!(
        w.names(),
        ("Janet Smith".to_string(), "Janet Smith".to_string())
    );
    settle(&w.sb).await;
    let (code, out) = w.tether(&["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{out}");
    let inbox = w.ok(&["inbox"]).await;
    assert!(inbox.contains("Inbox empty"), "{inbox}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_whose_sides_agree_again_closes_by_itself() {
    let w = world().await;
    w.diverge("Janet", "Jane Smith").await;
    w.ok(&["sync"]).await;
    assert_eq!(
        w.json(&["conflicts", "list", "--json"])
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Someone fixes HubSpot by hand to what Gorgias holds.
    w.sb.hubspot
        .edit_as_person(
            &w.hubspot_id,
            BTreeMap::from([
                ("firstname".to_string(), "Jane".to_string()),
                ("lastname".to_string(), "Smith".to_string()),
            ]),
        )
        .unwrap();
    settle(&w.sb).await;
    w.ok(&["sync"]).await;
    let all = w.json(&["conflicts", "list", "--all", "--json"]).await;
    assert_eq!(all[0]["status"], "closed", "{all:#}");
    assert_eq!(all[0]["closed_how"], "agreed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_lists_every_kind_newest_first_with_its_command() {
    use chrono::{Duration, Utc};
    use tether::domain::{GorgiasId, HubspotId, RecordRef, System};
    use tether::store::{FailureClass, NewRefusal, OpKind, Pair, SeenConflict, Store};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::open(&tether::config::StoreSettings {
        url: url.parse().unwrap(),
        busy_timeout_ms: 2_000,
        lease_seconds: 15,
    })
    .await
    .unwrap();
    let t0 = Utc::now() - Duration::hours(4);
    let h = |s: &str| HubspotId::new(s).unwrap();
    let g = |n: i64| GorgiasId::new(n).unwrap();
    store
        .record_refusal(
            &NewRefusal {
                record: RecordRef::Gorgias(g(9)),
                target: System::Hubspot,
                op: OpKind::Create,
                class: FailureClass::Record,
                reason: "VALIDATION_ERROR: company is required".into(),
            },
            |_| Duration::minutes(5),
            "sync",
            t0,
        )
        .await
        .unwrap();
    store
        .hold_conflicts(
            &[SeenConflict {
                hubspot_id: h("101"),
                gorgias_id: g(7),
                field: "name".into(),
                hubspot_value: Some("Janet Doe".into()),
                gorgias_value: Some("Jane Smith".into()),
                base: Some("Jane Doe".into()),
            }],
            t0 + Duration::hours(1),
        )
        .await
        .unwrap();
    store
        .quarantine(
            &RecordRef::Hubspot(h("55")),
            "the contact has no updatedAt",
            &json!({}),
            "sync",
            t0 + Duration::hours(2),
        )
        .await
        .unwrap();
    store
        .propose(
            &Pair::new(RecordRef::Hubspot(h("1")), RecordRef::Hubspot(h("2"))).unwrap(),
            0.93,
            &json!({}),
            &json!({}),
            t0 + Duration::hours(3),
        )
        .await
        .unwrap();
    store.close().await;

    let env = vec![("TETHER__STORE__URL".to_string(), url)];
    let (code, out) = run(env.clone(), dir.path().to_path_buf(), &["inbox", "--json"]).await;
    assert_eq!(code, 0, "{out}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let items = doc["items"].as_array().unwrap();
    let kinds: Vec<&str> = items.iter().map(|i| i["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "merge_proposal",
            "quarantined",
            "held_conflict",
            "refused_write"
        ],
        "newest first: {doc:#}"
    );
    let first_action = |k: &str| {
        items.iter().find(|i| i["kind"] == k).unwrap()["actions"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(first_action("refused_write").starts_with("tether retry "));
    assert!(first_action("held_conflict").starts_with("tether conflicts show "));
    assert!(first_action("merge_proposal").starts_with("tether merges show "));
    assert_eq!(first_action("quarantined"), "tether explain hubspot:55");
    let (code, text) = run(env, dir.path().to_path_buf(), &["inbox"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("4 items waiting for a person"), "{text}");
    assert!(
        text.contains("tether dismiss ") && text.contains("--reason"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolution_whose_write_is_refused_stays_live_until_the_write_succeeds() {
    use tether::domain::System;
    use tether::sandbox::hubspot::Fault;
    use tether::store::{ConflictChoice, ConflictStatus};
    let sb = sandboxes().await;
    sb.hubspot
        .seed_contacts(vec![contact("jane@shop.test", "Jane", "Doe", "")]);
    sb.gorgias
        .seed_customers(vec![customer("jane@shop.test", "Jane Doe", "")]);
    let cycle = cycle_with(&sb, manual_name_mappings(), options()).await;
    cycle.run().await.unwrap();
    let link = cycle.store.links().await.unwrap()[0].clone();
    sb.hubspot
        .edit_as_person(
            link.hubspot.as_str(),
            BTreeMap::from([("firstname".to_string(), "Janet".to_string())]),
        )
        .unwrap();
    sb.gorgias
        .edit_as_agent(link.gorgias.get(), json!({"name": "Jane Smith"}));
    settle(&sb).await;
    cycle.run().await.unwrap();
    let [held] = cycle
        .store
        .conflicts(false)
        .await
        .unwrap()
        .try_into()
        .unwrap();
    cycle
        .store
        .resolve_conflict(
            held.id,
            &ConflictChoice::Take(System::Gorgias),
            "test",
            chrono::Utc::now(),
        )
        .await
        .unwrap();

    // HubSpot refuses the update: the resolution stays, the conflict is not closed.
    sb.hubspot.inject_fault(
        Fault::body(
            400,
            json!({
                "status": "error",
                "message": "Property values were not valid: a portal rule refuses this value",
                "category": "VALIDATION_ERROR",
                "correlationId": "0b7c1a2e-6f0e-4a55-9d0c-4f9f2b0b0c12"
            })
            .to_string(),
            100_000,
        )
        .on_path("contacts/batch/update"),
    );
    let r = cycle.run().await.unwrap();
    assert_eq!(r.applied.failed, 1, "{r:#?}");
    let still = cycle.store.conflict(held.id).await.unwrap().unwrap();
    assert_eq!(still.status, ConflictStatus::Resolved, "{still:#?}");
    assert_eq!(
        sb.hubspot.contact(link.hubspot.as_str()).unwrap()["properties"]["firstname"],
        "Janet"
    );

    // The cause is lifted: the next sync (once the record's backoff allows) applies it.
    sb.hubspot.clear_faults();
    cycle
        .store
        .retry_unsettled(
            &tether::store::RetrySelection::All,
            "test",
            "test",
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    settle(&sb).await;
    cycle.run().await.unwrap();
    let c = sb.hubspot.contact(link.hubspot.as_str()).unwrap();
    assert_eq!(c["properties"]["firstname"], "Jane");
    assert_eq!(c["properties"]["lastname"], "Smith");
    let closed = cycle.store.conflict(held.id).await.unwrap().unwrap();
    assert_eq!(closed.closed_how.as_deref(), Some("applied"), "{closed:#?}");
}
