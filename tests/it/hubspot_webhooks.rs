//! Webhook delivery of the sandbox: signed v3 JSON arrays of contact events, retried after a
//! failed delivery, merge events with the new id.

use super::hubspot_support::*;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tether::sandbox::hubspot::WebhookConfig;
use tether::secret::Secret;

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, String)>>>);

async fn hook(State(seen): State<Seen>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut s = seen.0.lock().unwrap();
    s.push((headers, String::from_utf8_lossy(&body).into_owned()));
    if s.len() == 1 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

#[tokio::test]
async fn events_arrive_signed_batched_and_retried() {
    let seen = Seen::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(seen.clone());
    let recv = tether::sandbox::serve(app, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let target = format!("{}/hook?x=1", recv.base_url);
    let mut cfg = fast_sandbox();
    let mut wh = WebhookConfig::new(target.clone(), Secret::new("client-secret"));
    wh.tick = Duration::from_millis(200); // 10 ms scaled
    wh.retry_delay = Duration::from_millis(400);
    wh.properties = vec!["firstname".into(), "email".into()];
    cfg.webhook = Some(wh);
    let (sb, _run, client) = start(cfg).await;
    let out = client.batch_create(&[person(1), person(2)]).await.unwrap();
    let ids: Vec<String> = out
        .iter()
        .map(|o| match o {
            tether::connectors::hubspot::WriteOutcome::Created(c) => c.id.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    client
        .batch_update(&[(
            ids[0].clone(),
            props(&[("firstname", "Renamed"), ("lastname", "X")]),
        )])
        .await
        .unwrap();
    let survivor = client.merge(&ids[0], &ids[1]).await.unwrap();
    let mut events: Vec<Value> = vec![];
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        events = seen
            .0
            .lock()
            .unwrap()
            .iter()
            .skip(1)
            .flat_map(|(_, b)| serde_json::from_str::<Vec<Value>>(b).unwrap())
            .collect();
        if events
            .iter()
            .any(|e| e["subscriptionType"] == "contact.merge")
        {
            break;
        }
    }
    let requests = seen.0.lock().unwrap().clone();
    assert!(requests.len() >= 2, "first delivery failed and was retried");
    for (h, body) in &requests {
        let ts = h["x-hubspot-request-timestamp"].to_str().unwrap();
        assert_eq!(ts.len(), 13, "epoch ms");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"client-secret").unwrap();
        mac.update(format!("POST{target}{body}{ts}").as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(h["x-hubspot-signature-v3"].to_str().unwrap(), expected);
        let arr: Vec<Value> = serde_json::from_str(body).unwrap();
        assert!(!arr.is_empty() && arr.len() <= 100);
    }
    assert!(
        events.iter().any(|e| e["attemptNumber"] == 1),
        "the retried batch says so"
    );
    let rename = events
        .iter()
        .find(|e| {
            e["subscriptionType"] == "contact.propertyChange" && e["propertyValue"] == "Renamed"
        })
        .expect("firstname change");
    assert_eq!(rename["objectId"].to_string(), ids[0]);
    assert_eq!(rename["changeSource"], "INTEGRATION");
    assert!(rename["occurredAt"].is_i64());
    assert!(
        !events.iter().any(|e| e["propertyName"] == "lastname"),
        "not subscribed"
    );
    let merge = events
        .iter()
        .find(|e| e["subscriptionType"] == "contact.merge")
        .unwrap();
    assert_eq!(merge["newObjectId"].to_string(), survivor.id);
    assert_eq!(merge["primaryObjectId"].to_string(), ids[0]);
    assert_eq!(merge["mergedObjectIds"][0].to_string(), ids[1]);
    assert!(sb.counters().webhook_events_delivered > 0);
}

/// `deploy/hubspot-project/`: a private, static-auth project app (a Service Key cannot send
/// webhooks) whose webhooks target the service's route and subscribe to every event and
/// every mapped property tether needs.
#[test]
fn the_project_app_files_match_the_service_and_the_default_mappings() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy/hubspot-project");
    let read = |rel: &str| -> Value {
        let p = dir.join(rel);
        serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let project = read("hsproject.json");
    assert_eq!(project["srcDir"], "src");
    let app = read("src/app/app-hsmeta.json");
    assert_eq!(app["type"], "app");
    assert_eq!(app["config"]["distribution"], "private");
    assert_eq!(app["config"]["auth"]["type"], "static");
    let scopes = app["config"]["auth"]["requiredScopes"].as_array().unwrap();
    for s in [
        "crm.objects.contacts.read",
        "crm.objects.contacts.write",
        "crm.schemas.contacts.read",
        "crm.schemas.contacts.write",
    ] {
        assert!(scopes.iter().any(|x| x == s), "missing scope {s}");
    }
    let hooks = read("src/app/webhooks/webhooks-hsmeta.json");
    assert_eq!(hooks["type"], "webhooks");
    assert_ne!(
        hooks["uid"], app["uid"],
        "uids must differ within a project"
    );
    let target = hooks["config"]["settings"]["targetUrl"].as_str().unwrap();
    assert_eq!(
        target,
        format!("https://YOUR-HOST{}", tether::service::http::WEBHOOKS)
    );
    let subs = hooks["config"]["subscriptions"]["legacyCrmObjects"]
        .as_array()
        .unwrap();
    let has = |kind: &str, prop: Option<&str>| {
        subs.iter().any(|s| {
            s["subscriptionType"] == kind
                && s["active"] == true
                && prop.is_none_or(|p| s["propertyName"] == p)
        })
    };
    for kind in ["contact.creation", "contact.merge", "contact.deletion"] {
        assert!(has(kind, None), "no {kind} subscription");
    }
    let mappings = tether::commands::demo::default_mappings().unwrap();
    for p in tether::cycle::read::hubspot_properties(&mappings) {
        if !p.starts_with("tether_") {
            assert!(
                has("contact.propertyChange", Some(&p)),
                "no propertyChange subscription for mapped property {p}"
            );
        }
    }
}
