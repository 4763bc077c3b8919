//! HubSpot API versions (contract `hubspot-2026.md` §1): tether on the default 2026-09 never
//! touches the legacy `/crm/v3/...` paths (so the sandbox's post-September-2027 switch that
//! refuses them changes nothing for it), and the same sync scenarios run on `v3`, `2026-03`
//! and `2026-09`.

use super::cycle_support::{SPEED, cycle, seed_people, settle};
use super::hubspot_support::*;
use serde_json::json;
use tether::commands::demo::Sandboxes;
use tether::connectors::hubspot::{ApiVersion, HubspotClient, HubspotConfig, WriteOutcome};
use tether::sandbox::hubspot::LegacyPaths;
use tether::store::CycleOutcome;

#[tokio::test]
async fn legacy_paths_refused_after_2027_while_tether_on_2026_09_never_uses_them() {
    let cfg = fast_sandbox();
    let (sb, run, client) = start(cfg.clone()).await;
    sb.set_legacy_paths(LegacyPaths::Refuse);
    // Everything the connector does, on its default version.
    client.check_token().await.unwrap();
    client.property_names().await.unwrap();
    let out = client.batch_create(&[person(1), person(2)]).await.unwrap();
    let ids: Vec<String> = out
        .iter()
        .map(|o| match o {
            WriteOutcome::Created(c) => c.id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    client
        .batch_update(&[(ids[0].clone(), props(&[("lastname", "X")]))])
        .await
        .unwrap();
    client
        .batch_upsert(&[("person3@example.com".into(), person(3))])
        .await
        .unwrap();
    client.batch_read(&ids, &["email"]).await.unwrap();
    client.get(&ids[0], &["email"]).await.unwrap().unwrap();
    client.list_all(&["email"]).await.unwrap();
    client.merge(&ids[0], &ids[1]).await.unwrap();
    let c = sb.counters();
    assert!(c.total >= 9, "{c:?}");
    assert_eq!(c.legacy_calls, 0, "tether on 2026-09 called /crm/v3: {c:?}");
    assert!(
        c.by_endpoint.keys().all(|k| !k.contains("/crm/v3/")),
        "{:?}",
        c.by_endpoint
    );
    assert!(c.calls("/crm/objects/2026-09/contacts/batch/create") >= 1);

    // A client still on v3 is refused, and the refusal is counted.
    let legacy = HubspotClient::new(HubspotConfig {
        api_version: ApiVersion::V3,
        ..client_config(&cfg, &run.base_url)
    })
    .unwrap();
    let err = legacy.check_token().await.unwrap_err();
    assert_eq!(err.status(), Some(410), "{err}");
    let c = sb.counters();
    assert_eq!((c.legacy_calls, c.legacy_refused), (1, 1));
    // Over HTTP too: the switch is a control.
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/__sandbox/legacy-paths", run.base_url))
        .json(&json!({"mode": "answer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    legacy.check_token().await.unwrap();
    assert_eq!(sb.counters().legacy_calls, 2);
}

/// The first-sync / echo / one-sided-edit scenario of `cycle_sync`, on `version`.
async fn sync_scenario(version: ApiVersion) {
    let sb = Sandboxes::start_on(SPEED, version).await.unwrap();
    seed_people(&sb, 8, 4);
    let cycle = cycle(&sb).await;
    let r1 = cycle.run().await.unwrap();
    assert_eq!(r1.outcome, CycleOutcome::Ok, "{version}: {r1:?}");
    assert_eq!(r1.plan.summary.links, 4, "{version}");
    assert_eq!(r1.plan.summary.hubspot_creates, 4, "{version}");
    assert_eq!(r1.plan.summary.gorgias_creates, 4, "{version}");
    assert_eq!(sb.hubspot.live_count(), 12, "{version}");
    settle(&sb).await;
    let before = sb.write_calls();
    let r2 = cycle.run().await.unwrap();
    assert!(!r2.plan.has_writes(), "{version}: echo {:?}", r2.plan);
    assert_eq!(sb.write_calls(), before, "{version}");

    let link = cycle.store.links().await.unwrap()[0].clone();
    sb.gorgias.edit_as_agent(
        link.gorgias.get(),
        json!({"channels": [{"type": "phone", "address": "+14155550199", "preferred": true}]}),
    );
    settle(&sb).await;
    let r3 = cycle.run().await.unwrap();
    assert_eq!(
        r3.plan.summary.hubspot_updates, 1,
        "{version}: {:?}",
        r3.plan
    );
    let c = sb.hubspot.contact(link.hubspot.as_str()).unwrap();
    assert_eq!(c["properties"]["phone"], "+14155550199", "{version}");

    // Every HubSpot call went to the paths of `version`, and only there.
    let counters = sb.hubspot.counters();
    let segment = match version {
        ApiVersion::V3 => "/crm/v3/",
        ApiVersion::V2026_03 => "/2026-03/",
        ApiVersion::V2026_09 => "/2026-09/",
    };
    assert!(
        counters.by_endpoint.keys().all(|k| k.contains(segment)),
        "{version}: {:?}",
        counters.by_endpoint
    );
    assert_eq!(
        counters.legacy_calls > 0,
        version == ApiVersion::V3,
        "{version}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_scenarios_run_on_legacy_v3() {
    sync_scenario(ApiVersion::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_scenarios_run_on_2026_03() {
    sync_scenario(ApiVersion::V2026_03).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_scenarios_run_on_2026_09() {
    sync_scenario(ApiVersion::V2026_09).await;
}
