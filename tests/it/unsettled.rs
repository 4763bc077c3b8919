//! Unsettled records (issue 12): a refused write keeps its record owed until a write
//! succeeds or a person dismisses it; every cycle re-plans the due ones with a backoff; the
//! plan lists them; `tether setup`, `tether retry` and `tether dismiss` act on them; `sync`
//! and `plan` refuse to run before `tether setup`.

use super::cycle_cli::{run, sandbox_env};
use super::cycle_support::*;
use chrono::Utc;
use serde_json::json;
use std::sync::Arc;
use tether::commands::demo::{Sandboxes, default_mappings};
use tether::cycle::Cycle;
use tether::cycle::precheck::{self, SetupError};
use tether::domain::{RecordRef, System};
use tether::sandbox::hubspot::{Fault, PortalRules};
use tether::store::{FailureClass, OpKind, RetrySelection, Store, UnsettledFilter, UnsettledId};

/// HubSpot batch create calls so far.
fn create_calls(sb: &Sandboxes) -> u64 {
    sb.hubspot.counters().calls("batch/create")
}

/// A portal rule refusing every HubSpot create, until the faults are cleared.
fn refuse_hubspot_creates(sb: &Sandboxes) {
    sb.hubspot.inject_fault(
        Fault::body(
            400,
            json!({
                "status": "error",
                "message": "Property values were not valid: lifecyclestage is required by a portal rule",
                "category": "VALIDATION_ERROR",
                "correlationId": "0b7c1a2e-6f0e-4a55-9d0c-4f9f2b0b0c11"
            })
            .to_string(),
            100_000,
        )
        .on_path("contacts/batch/create"),
    );
}

async fn open(c: &Cycle) -> Vec<tether::store::Unsettled> {
    c.store.unsettled(UnsettledFilter::Open).await.unwrap()
}

/// (a) The first sync ran before `tether setup`: HubSpot refused every write naming
/// `tether_gorgias_id`. After setup, later syncs create every missing record on both sides
/// and the next plan is empty (before issue 12 the refused creates were lost for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_before_setup_heals_after_setup() {
    let sb = sandboxes().await;
    seed_people(&sb, 12, 4);
    let mappings = default_mappings().unwrap();
    let store = Store::open_in_memory().await.unwrap();
    let cycle = sb.cycle(Arc::new(store), Arc::new(mappings.clone()), options());
    match precheck::check(&cycle).await {
        Err(SetupError::MissingProperties(p)) => assert_eq!(p, vec!["tether_gorgias_id"]),
        other => panic!("the pre-check let a cycle before setup through: {other:?}"),
    }

    // What an older tether (or a cycle run without the pre-check) did.
    let r = cycle.run().await.unwrap();
    assert!(r.applied.failed >= 8, "{:?}", r.applied);
    let owed = open(&cycle).await;
    let creates: Vec<_> = owed
        .iter()
        .filter(|u| u.op == OpKind::Create && u.target == System::Hubspot)
        .collect();
    assert_eq!(creates.len(), 8, "{owed:#?}");
    assert!(
        owed.iter().all(|u| u.class == FailureClass::Setup
            && u.reason.contains("tether setup")
            && u.attempts == 1),
        "{owed:#?}"
    );
    let plan = cycle.plan().await.unwrap();
    assert!(plan.owes_writes());
    assert_eq!(plan.unsettled.len(), owed.len());

    // `tether setup`: the property, and the backoff cleared.
    sb.setup(&mappings).await.unwrap();
    cycle
        .store
        .retry_unsettled(&RetrySelection::All, "tether setup", "test", Utc::now())
        .await
        .unwrap();
    for _ in 0..3 {
        settle(&sb).await;
        cycle.run().await.unwrap();
    }
    // 12 contacts + 8 Gorgias-only customers: 20 people, on both sides, all linked.
    assert_eq!(sb.hubspot.live_count(), 20);
    assert_eq!(sb.gorgias.customer_ids().len(), 20);
    assert_eq!(cycle.store.counts().await.unwrap().links, 20);
    assert!(open(&cycle).await.is_empty(), "{:#?}", open(&cycle).await);
    settle(&sb).await;
    let plan = cycle.plan().await.unwrap();
    assert!(!plan.owes_writes(), "{plan:#?}");
    assert!(plan.unsettled.is_empty() && !plan.has_changes());
}

/// (d) A refused record is attempted at most once per cycle, then waits for its backoff; a
/// dismissed one waits for its record to change; `retry` clears the backoff; a success
/// settles the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dismiss_and_retry_behave_as_described() {
    let sb = sandboxes().await;
    let ids = sb.gorgias.seed_customers(vec![
        customer("ann@shop.test", "Ann Able", ""),
        customer("bob@shop.test", "Bob Baker", ""),
        customer("cy@shop.test", "Cy Cole", ""),
    ]);
    let cycle = cycle(&sb).await;
    // The portal rule answers per record (207), as the contract reads: one batch call a
    // cycle carries all three refused creates. (A whole-batch 400 is narrowed down by the
    // connector, in a bounded number of calls: tests/it/hubspot_validation.rs.)
    sb.hubspot.set_portal_rules(PortalRules {
        create_required: vec!["lifecyclestage".into()],
        ..PortalRules::default()
    });

    let before = create_calls(&sb);
    cycle.run().await.unwrap();
    assert_eq!(create_calls(&sb) - before, 1, "one batch attempt per cycle");
    let owed = open(&cycle).await;
    assert_eq!(owed.len(), 3);
    assert!(owed.iter().all(|u| u.class == FailureClass::Record
        && u.reason.contains("lifecyclestage")
        && u.attempts == 1));

    // Due at the next cycle, refused again: the backoff starts.
    settle(&sb).await;
    let before = create_calls(&sb);
    cycle.run().await.unwrap();
    assert_eq!(create_calls(&sb) - before, 1);
    let owed = open(&cycle).await;
    assert!(
        owed.iter().all(|u| u.attempts == 2
            && u.next_retry_at >= u.last_failed_at + chrono::Duration::minutes(5))
    );

    // Not due: no attempt, yet the plan lists them and owes writes.
    settle(&sb).await;
    let before = create_calls(&sb);
    cycle.run().await.unwrap();
    assert_eq!(
        create_calls(&sb),
        before,
        "a record in backoff was sent again"
    );
    let plan = cycle.plan().await.unwrap();
    assert!(plan.owes_writes() && !plan.has_changes());
    assert_eq!(plan.unsettled.len(), 3);

    // Dismiss Ann; lift the rule; retry --all (Ann stays dismissed).
    let ann = RecordRef::Gorgias(tether::domain::GorgiasId::new(ids[0]).unwrap());
    let ann_item = owed.iter().find(|u| u.record == ann).unwrap().id;
    cycle
        .store
        .dismiss_unsettled(ann_item, "not a customer", "test", Utc::now())
        .await
        .unwrap();
    sb.hubspot.clear_portal_rules();
    let retried = cycle
        .store
        .retry_unsettled(&RetrySelection::All, "tether retry", "test", Utc::now())
        .await
        .unwrap();
    assert_eq!(retried.len(), 2);
    cycle.run().await.unwrap();
    assert_eq!(sb.hubspot.live_count(), 2, "Bob and Cy created, Ann not");
    assert!(open(&cycle).await.is_empty());
    let all = cycle.store.unsettled(UnsettledFilter::All).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].dismissed.as_ref().unwrap().reason, "not a customer");
    settle(&sb).await;
    let plan = cycle.plan().await.unwrap();
    assert!(!plan.owes_writes(), "a dismissed write is not owed");

    // Ann changes: planned again, created, and her item settled.
    settle(&sb).await;
    assert!(
        sb.gorgias
            .edit_as_agent(ids[0], json!({"name": "Ann Able-Changed"}))
    );
    settle(&sb).await;
    cycle.run().await.unwrap();
    assert_eq!(sb.hubspot.live_count(), 3);
    assert!(
        cycle
            .store
            .unsettled(UnsettledFilter::All)
            .await
            .unwrap()
            .is_empty()
    );
    let actions: Vec<String> = cycle
        .store
        .audit_for(&ann)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .filter(|a| a.starts_with("unsettled."))
        .collect();
    assert_eq!(
        actions,
        vec![
            "unsettled.refused",
            "unsettled.refused",
            "unsettled.dismissed",
            "unsettled.settled"
        ]
    );
}

/// The command line: `sync` and `plan` before `tether setup` exit 2 and write nothing;
/// `retry` and `dismiss` act on refused writes and refuse unknown ids with exit 2; `plan`
/// lists what is owed and exits 2 with `--detailed-exitcode`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_refuse_before_setup_and_act_on_refused_writes() {
    let sb = sandboxes().await;
    sb.gorgias
        .seed_customers(vec![customer("dee@shop.test", "Dee Dunn", "")]);
    let dir = tempfile::tempdir().unwrap();
    let env = sandbox_env(&sb, dir.path());
    let d = dir.path().to_path_buf();
    for cmd in ["sync", "plan"] {
        let (code, out) = run(env.clone(), d.clone(), &[cmd]).await;
        assert_eq!(code, 2, "{cmd}: {out}");
        assert!(
            out.contains("tether_gorgias_id") && out.contains("run `tether setup`"),
            "{cmd}: {out}"
        );
    }
    assert_eq!(sb.write_calls(), (0, 0));

    let (code, out) = run(env.clone(), d.clone(), &["setup"]).await;
    assert_eq!(code, 0, "{out}");
    refuse_hubspot_creates(&sb);
    let (code, out) = run(env.clone(), d.clone(), &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(env.clone(), d.clone(), &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("Unsettled records") && out.contains("lifecyclestage"),
        "{out}"
    );
    assert!(!out.contains("Nothing to do"), "{out}");
    let (code, out) = run(env.clone(), d.clone(), &["status"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 refused writes still owed"), "{out}");

    let (code, out) = run(env.clone(), d.clone(), &["retry", "999"]).await;
    assert_eq!(code, 2, "{out}");
    let (code, out) = run(env.clone(), d.clone(), &["dismiss", "1"]).await;
    assert_eq!(code, 2, "--reason is required: {out}");
    let (code, out) = run(env.clone(), d.clone(), &["retry", "--all"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 unsettled record(s)"), "{out}");
    let (code, out) = run(
        env.clone(),
        d.clone(),
        &["dismiss", "1", "--reason", "a test record"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("dismissed by cli:"), "{out}");
    let (code, out) = run(env.clone(), d.clone(), &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "a dismissed write is not owed: {out}");

    let store = Store::open_read_only(&tether::config::StoreSettings {
        url: format!("sqlite://{}", dir.path().join("t.db").display())
            .parse()
            .unwrap(),
        busy_timeout_ms: 5000,
        lease_seconds: 15,
    })
    .await
    .unwrap();
    let all = store
        .unsettled(UnsettledFilter::Ids(vec![UnsettledId(1)]))
        .await
        .unwrap();
    assert_eq!(all[0].dismissed.as_ref().unwrap().reason, "a test record");
}

/// (b) A portal rule (company required on create) refuses some creates: the others sync,
/// each refused record is attempted once in the cycle, the plan lists them and exits 2. The
/// rule is lifted: the next sync creates them all and the plan is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_rule_refuses_some_creates_and_they_heal_when_it_is_lifted() {
    let sb = sandboxes().await;
    let mut people = vec![];
    for i in 0..7 {
        let mut c = customer(&format!("p{i}@shop.test"), &format!("Pat Person{i}"), "");
        if i < 4 {
            c["data"] = json!({"tether": {"company": format!("Acme {i}")}});
        }
        people.push(c);
    }
    sb.gorgias.seed_customers(people);
    sb.hubspot.set_portal_rules(PortalRules {
        create_required: vec!["company".into()],
        ..PortalRules::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let env = sandbox_env(&sb, dir.path());
    let d = dir.path().to_path_buf();
    let (code, out) = run(env.clone(), d.clone(), &["setup"]).await;
    assert_eq!(code, 0, "{out}");

    let before = create_calls(&sb);
    let (code, out) = run(env.clone(), d.clone(), &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        sb.hubspot.live_count(),
        4,
        "the creates with a company went through"
    );
    assert_eq!(
        create_calls(&sb) - before,
        1,
        "one batch, each refused record in it once"
    );
    settle(&sb).await;
    let (code, out) = run(env.clone(), d.clone(), &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 2, "{out}");
    assert_eq!(out.matches("create in hubspot").count(), 3, "{out}");
    assert!(
        out.contains("| record |") && out.contains("company"),
        "{out}"
    );

    sb.hubspot.clear_portal_rules();
    let (code, out) = run(env.clone(), d.clone(), &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(sb.hubspot.live_count(), 7);
    settle(&sb).await;
    let (code, out) = run(env.clone(), d.clone(), &["sync"]).await;
    assert_eq!(code, 0, "{out}");
    settle(&sb).await;
    let (code, out) = run(env.clone(), d.clone(), &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Nothing to do"), "{out}");
}

/// A change of the mappings or `[sync]` settings clears the backoff: the next cycle plans the
/// refused records again at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_setting_clears_the_backoff() {
    let sb = sandboxes().await;
    sb.gorgias
        .seed_customers(vec![customer("eve@shop.test", "Eve Eden", "")]);
    let cycle = cycle(&sb).await;
    refuse_hubspot_creates(&sb);
    for _ in 0..2 {
        cycle.run().await.unwrap();
        settle(&sb).await;
    }
    let before = create_calls(&sb);
    cycle.run().await.unwrap();
    assert_eq!(create_calls(&sb), before, "in its backoff");
    let mut changed = cycle.clone();
    changed.options.max_creates += 1;
    settle(&sb).await;
    changed.run().await.unwrap();
    assert_eq!(
        create_calls(&sb) - before,
        1,
        "the changed setting retried it"
    );
    let retries: Vec<String> = changed
        .store
        .recent_audit(50)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "unsettled.retry")
        .map(|a| a.detail["extra"]["why"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(retries, vec!["the mappings or settings changed"]);
}

/// Under the other (UNCONFIRMED) reading of a batch broken by a portal rule, one 400 for the
/// whole batch, the connector narrows the batch down (issue 13), so the valid inputs are
/// written in the same cycle and only the refused ones are kept unsettled; none is lost, and
/// they heal once the rule is lifted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_batch_refusal_keeps_every_input_and_heals() {
    let sb = sandboxes().await;
    let mut people = vec![];
    for i in 0..4 {
        let mut c = customer(&format!("w{i}@shop.test"), &format!("Wes Whole{i}"), "");
        if i < 2 {
            c["data"] = json!({"tether": {"company": format!("Acme {i}")}});
        }
        people.push(c);
    }
    sb.gorgias.seed_customers(people);
    let cycle = cycle(&sb).await;
    sb.hubspot.set_portal_rules(PortalRules {
        create_required: vec!["company".into()],
        batch_mode: tether::sandbox::hubspot::BatchMode::WholeBatch,
        ..PortalRules::default()
    });
    cycle.run().await.unwrap();
    let created = sb.hubspot.live_count();
    let owed = open(&cycle).await;
    assert_eq!(
        created, 2,
        "the two valid creates are written in the same cycle"
    );
    assert_eq!(owed.len(), 2, "{owed:#?}");
    sb.hubspot.clear_portal_rules();
    settle(&sb).await;
    cycle.run().await.unwrap();
    assert_eq!(sb.hubspot.live_count(), 4);
    assert!(open(&cycle).await.is_empty());
}
