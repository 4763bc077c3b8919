//! Webhook delivery of the sandbox (contract §11): contact events from the store, in batches
//! of at most 100 as a JSON array, out of order, with occasional duplicates, signed v3
//! (`X-HubSpot-Signature-v3`, ms `X-HubSpot-Request-Timestamp`), retried on non-2xx or no
//! answer within 5 s. Sent to the target in force at each round: set at start or later, once
//! the receiving app is bound (`HubspotSandbox::set_webhook_target`); until then events wait.
//! Must never hold the store lock across a network call.

use super::config::WebhookConfig;
use super::store::{ChangeEvent, Source};
use super::{Shared, lock};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// `base64(HMAC-SHA256(secret, method + uri + body + timestamp))`.
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &str, timestamp: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body.as_bytes());
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The JSON of one event (attempt number set at send time).
pub fn payload(ev: &ChangeEvent, event_id: u64, app_id: u64, portal_id: u64) -> Value {
    let (change_source, source_id) = match &ev.source {
        Source::Integration => ("INTEGRATION", Some(app_id.to_string())),
        Source::Person(u) => ("CRM_UI", Some(format!("userId:{u}"))),
        Source::Import => ("IMPORT", None),
    };
    let mut v = json!({
        "eventId": event_id,
        "subscriptionId": subscription_id(ev.kind),
        "portalId": portal_id,
        "appId": app_id,
        "occurredAt": ev.occurred_at.timestamp_millis(),
        "subscriptionType": ev.kind,
        "attemptNumber": 0,
        "objectId": ev.object_id,
        "changeSource": change_source,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(s) = source_id {
            o.insert("sourceId".into(), json!(s));
        }
        match ev.kind {
            "contact.creation" => {
                o.insert("changeFlag".into(), json!("CREATED"));
            }
            "contact.deletion" => {
                o.insert("changeFlag".into(), json!("DELETED"));
            }
            _ => {}
        }
        if let Some((k, val)) = &ev.property {
            o.insert("propertyName".into(), json!(k));
            o.insert("propertyValue".into(), json!(val));
        }
        if let Some((primary, merged, new_id, moved)) = &ev.merge {
            o.insert("primaryObjectId".into(), json!(primary));
            o.insert("mergedObjectIds".into(), json!(merged));
            o.insert("newObjectId".into(), json!(new_id));
            o.insert("numberOfPropertiesMoved".into(), json!(moved));
        }
    }
    v
}

fn subscription_id(kind: &str) -> u64 {
    match kind {
        "contact.creation" => 1,
        "contact.deletion" => 2,
        "contact.propertyChange" => 3,
        _ => 4,
    }
}

fn subscribed(cfg: &WebhookConfig, ev: &ChangeEvent) -> bool {
    match (&ev.property, ev.kind) {
        (Some((k, _)), "contact.propertyChange") => {
            k != "hs_lastmodifieddate"
                && (cfg.properties.is_empty() || cfg.properties.iter().any(|p| p == k))
        }
        _ => true,
    }
}

struct Batch {
    events: Vec<Value>,
    attempt: u32,
    due: Instant,
}

/// Starts delivery for the sandbox behind `shared`; ends once the sandbox is dropped.
pub(super) fn spawn(shared: &Arc<Shared>) -> Option<tokio::task::JoinHandle<()>> {
    let cfg = shared.cfg.webhook.clone()?;
    let scale = shared.cfg.time_scale;
    let (app_id, portal_id) = (shared.cfg.app_id, shared.cfg.portal_id);
    let weak: Weak<Shared> = Arc::downgrade(shared);
    Some(tokio::spawn(async move {
        let scaled = |d: Duration| d.mul_f64(scale.max(0.0));
        let http = match reqwest::Client::builder()
            .timeout(scaled(Duration::from_secs(5)).max(Duration::from_millis(50)))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "sandbox webhook client");
                return;
            }
        };
        let mut queue: Vec<Batch> = vec![];
        let mut next_id: u64 = 1;
        loop {
            tokio::time::sleep(scaled(cfg.tick).max(Duration::from_millis(5))).await;
            let Some(sh) = weak.upgrade() else { return };
            let drained: Vec<ChangeEvent> = lock(&sh.store)
                .events
                .as_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            let mut fresh: Vec<Value> = vec![];
            for ev in drained.iter().filter(|e| subscribed(&cfg, e)) {
                let p = payload(ev, next_id, app_id, portal_id);
                if cfg.duplicate_every > 0 && next_id % u64::from(cfg.duplicate_every) == 0 {
                    fresh.push(p.clone());
                }
                fresh.push(p);
                next_id += 1;
            }
            for chunk in fresh.chunks(cfg.max_batch.clamp(1, 100)) {
                let mut events = chunk.to_vec();
                events.reverse(); // delivery is not ordered
                queue.push(Batch {
                    events,
                    attempt: 0,
                    due: Instant::now(),
                });
            }
            // The target in force this round; without one, every batch waits for it.
            let Some(target) = lock(&sh.webhook_target).clone() else {
                continue;
            };
            drop(sh);
            let now = Instant::now();
            let (due, later): (Vec<Batch>, Vec<Batch>) =
                queue.drain(..).partition(|b| b.due <= now);
            queue = later;
            for mut b in due {
                for e in b.events.iter_mut() {
                    if let Some(o) = e.as_object_mut() {
                        o.insert("attemptNumber".into(), json!(b.attempt));
                    }
                }
                let body = Value::Array(b.events.clone()).to_string();
                let ts = chrono::Utc::now().timestamp_millis().to_string();
                let sig = sign_v3(cfg.client_secret.expose(), "POST", &target, &body, &ts);
                let ok = http
                    .post(&target)
                    .header("content-type", "application/json")
                    .header("X-HubSpot-Signature-v3", sig)
                    .header("X-HubSpot-Request-Timestamp", ts)
                    .header("X-HubSpot-Signature-Version", "v3")
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let Some(sh) = weak.upgrade() else { return };
                let mut c = lock(&sh.counters);
                c.webhook_attempts += 1;
                if ok {
                    c.webhook_events_delivered += b.events.len() as u64;
                } else {
                    b.attempt += 1;
                    if b.attempt >= cfg.max_attempts {
                        c.webhook_events_dropped += b.events.len() as u64;
                    } else {
                        b.due = Instant::now() + scaled(cfg.retry_delay) * b.attempt;
                        queue.push(b);
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_signature_depends_on_secret_and_body() {
        // Checked against an independent HMAC in tests/it/hubspot_webhooks.rs.
        let s = sign_v3(
            "secret",
            "POST",
            "https://example.com/hook?x=1",
            "[]",
            "1700000000000",
        );
        assert_eq!(s.len(), 44);
        assert_ne!(
            s,
            sign_v3(
                "secret",
                "POST",
                "https://example.com/hook?x=1",
                "[ ]",
                "1700000000000"
            )
        );
        assert_ne!(
            s,
            sign_v3(
                "other",
                "POST",
                "https://example.com/hook?x=1",
                "[]",
                "1700000000000"
            )
        );
    }
}
