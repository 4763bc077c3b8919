//! Webhook delivery of the sandbox: signed v3 JSON arrays of contact events, retried after a
//! failed delivery, merge events with the new id.

use super::harness::eventually;
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

/// A webhook receiver on port 0 serving [`hook`] at `/hook`, recording into `seen`.
async fn receiver(seen: &Seen) -> tether::sandbox::Running {
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(seen.clone());
    tether::sandbox::serve(app, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn events_arrive_signed_batched_and_retried() {
    let seen = Seen::default();
    let recv = receiver(&seen).await;
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
    let delivered = || -> Vec<Value> {
        seen.0
            .lock()
            .unwrap()
            .iter()
            .skip(1)
            .flat_map(|(_, b)| serde_json::from_str::<Vec<Value>>(b).unwrap())
            .collect()
    };
    let events = eventually(Duration::from_secs(3), "the merge event", || {
        let events = delivered();
        events
            .iter()
            .any(|e| e["subscriptionType"] == "contact.merge")
            .then_some(events)
    })
    .await;
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
    // The sandbox counts a delivery once the target's answer is back, which can come just
    // after the target has recorded the body: polled, not read once.
    eventually(Duration::from_secs(3), "the delivery counted", || {
        (sb.counters().webhook_events_delivered > 0).then_some(())
    })
    .await;
}

/// A sandbox started before the app it delivers to knows no target: its events wait,
/// unattempted, until the target is set over the control endpoint, then arrive signed for it.
#[tokio::test]
async fn events_wait_for_a_target_set_after_start() {
    let mut cfg = fast_sandbox();
    let mut wh = WebhookConfig::unaddressed(Secret::new("client-secret"));
    wh.tick = Duration::from_millis(200); // 10 ms scaled
    cfg.webhook = Some(wh);
    let (sb, run, client) = start(cfg).await;
    let http = reqwest::Client::new();
    let control = format!("{}/__sandbox/webhook-target", run.base_url);
    let now: Value = http
        .get(&control)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["url"], Value::Null);
    client.batch_create(&[person(1)]).await.unwrap();

    // Only now is the receiver bound (port 0), and the sandbox pointed at it.
    let seen = Seen::default();
    seen.0.lock().unwrap().push((HeaderMap::new(), "[]".into())); // `hook` fails the first
    let recv = receiver(&seen).await;
    let target = format!("{}/hook", recv.base_url);
    let bad = http
        .post(&control)
        .json(&serde_json::json!({"url": "not a url"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let set = http
        .post(&control)
        .json(&serde_json::json!({ "url": target }))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    assert_eq!(sb.webhook_target().as_deref(), Some(target.as_str()));
    let (headers, body) = eventually(Duration::from_secs(3), "the waiting event", || {
        seen.0.lock().unwrap().get(1).cloned()
    })
    .await;
    let events: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["subscriptionType"] == "contact.creation"),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| e["attemptNumber"] == 0),
        "attempted before a target was set: {events:?}"
    );
    let attempts = eventually(Duration::from_secs(3), "the delivery counted", || {
        let n = sb.counters().webhook_attempts;
        (n >= 1).then_some(n)
    })
    .await;
    assert_eq!(attempts, 1, "one delivery, no earlier try");
    let ts = headers["x-hubspot-request-timestamp"].to_str().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"client-secret").unwrap();
    mac.update(format!("POST{target}{body}{ts}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        headers["x-hubspot-signature-v3"].to_str().unwrap(),
        expected,
        "signed for the target set"
    );

    // Without webhook delivery there is no target to set.
    let (_plain, plain_run, _) = start(fast_sandbox()).await;
    let off = http
        .post(format!("{}/__sandbox/webhook-target", plain_run.base_url))
        .json(&serde_json::json!({ "url": target }))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 409);
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
