//! Webhook delivery of the HubSpot sandbox (contract `hubspot.md` §11): contact creations,
//! property changes, merges and deletions are recorded as the store changes them, then
//! POSTed to the configured target URL as JSON arrays of at most `max_batch` events, signed
//! with v3 (and v1), optionally duplicated and shuffled as the real service may do, retried
//! on failure with `attemptNumber` incremented.
//!
//! Owns the event queue and the delivery task. The recording calls are cheap and never block
//! on the network; the task ends when the sandbox is dropped. Must never change contacts.

use super::HubspotSandbox;
use super::config::SandboxConfig;
use super::store::Source;
use crate::secret::Secret;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// Where and how the sandbox delivers webhooks.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The app's target URL, e.g. `http://127.0.0.1:8080/webhooks/hubspot`.
    pub target_url: String,
    /// The app's client secret: the HMAC key of the v3 signature.
    pub client_secret: Secret,
    /// Most events per request (100 on the real service).
    pub max_batch: usize,
    /// How long events gather before a delivery (real time, not scaled).
    pub flush_every: Duration,
    /// Every Nth event is delivered twice (0 = never).
    pub duplicate_every: u32,
    /// Shuffle events before batching (delivery is not ordered).
    pub shuffle: bool,
    /// Deliveries of one batch, the first included (10 on the real service, over 24 h).
    pub max_attempts: u32,
    /// Delay before a failed batch is sent again.
    pub retry_delay: Duration,
    /// Properties whose changes fire `contact.propertyChange` (`None` = every property).
    pub properties: Option<Vec<String>>,
    /// Seed of the shuffling.
    pub seed: u64,
}

impl WebhookSettings {
    /// Delivery to `target_url` signed with `client_secret`, with the other knobs at
    /// realistic values (batches of 100, 100 ms gathering, shuffled, 1 in 7 duplicated).
    pub fn new(target_url: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            target_url: target_url.into(),
            client_secret,
            max_batch: 100,
            flush_every: Duration::from_millis(100),
            duplicate_every: 7,
            shuffle: true,
            max_attempts: 10,
            retry_delay: Duration::from_millis(500),
            properties: None,
            seed: 1,
        }
    }
}

/// What was delivered so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookStats {
    /// Events recorded (before duplication).
    pub recorded: u64,
    /// Requests answered with a 2xx.
    pub delivered_requests: u64,
    /// Events in those requests (duplicates included).
    pub delivered_events: u64,
    /// Requests that failed or got a non-2xx answer.
    pub failed_requests: u64,
    /// Batches given up after `max_attempts`.
    pub abandoned_batches: u64,
}

#[derive(Debug)]
struct Queue {
    settings: WebhookSettings,
    portal_id: u64,
    app_id: u64,
    events: Mutex<Vec<Value>>,
    notify: Notify,
    next_event_id: AtomicU64,
    stats: Mutex<WebhookStats>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records contact changes as webhook events; a no-op when webhooks are not configured.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    queue: Option<Arc<Queue>>,
}

fn change_source(source: &Source) -> (&'static str, Option<String>) {
    match source {
        Source::Integration => ("INTEGRATION", None),
        Source::Person(uid) => ("CRM_UI", Some(format!("userId:{uid}"))),
        Source::Import => ("IMPORT", None),
    }
}

impl Recorder {
    /// A recorder for `cfg` (inactive unless `cfg.webhooks` is set).
    pub fn new(cfg: &SandboxConfig) -> Self {
        Self {
            queue: cfg.webhooks.as_ref().map(|w| {
                Arc::new(Queue {
                    settings: w.clone(),
                    portal_id: cfg.portal_id,
                    app_id: cfg.app_id,
                    events: Mutex::new(vec![]),
                    notify: Notify::new(),
                    next_event_id: AtomicU64::new(1),
                    stats: Mutex::new(WebhookStats::default()),
                })
            }),
        }
    }

    fn push(&self, kind: &str, object_id: u64, at_ms: i64, source: &Source, extra: Value) {
        let Some(q) = &self.queue else { return };
        let (change_source, source_id) = change_source(source);
        let mut e = json!({
            "objectId": object_id,
            "eventId": q.next_event_id.fetch_add(1, Ordering::Relaxed),
            "subscriptionId": 1000 + kind.len() as u64,
            "portalId": q.portal_id,
            "appId": q.app_id,
            "occurredAt": at_ms,
            "subscriptionType": kind,
            "attemptNumber": 0,
            "changeSource": change_source,
        });
        if let (Some(obj), Some(sid)) = (e.as_object_mut(), source_id) {
            obj.insert("sourceId".into(), Value::String(sid));
        }
        if let (Some(obj), Value::Object(more)) = (e.as_object_mut(), extra) {
            obj.extend(more);
        }
        lock(&q.events).push(e);
        lock(&q.stats).recorded += 1;
        q.notify.notify_one();
    }

    /// `contact.creation`.
    pub fn creation(&self, id: u64, at_ms: i64, source: &Source) {
        self.push(
            "contact.creation",
            id,
            at_ms,
            source,
            json!({"changeFlag": "CREATED"}),
        );
    }

    /// `contact.propertyChange` for one property (the value always a string).
    pub fn property_change(&self, id: u64, name: &str, value: &str, at_ms: i64, source: &Source) {
        let Some(q) = &self.queue else { return };
        if let Some(props) = &q.settings.properties
            && !props.iter().any(|p| p == name)
        {
            return;
        }
        self.push(
            "contact.propertyChange",
            id,
            at_ms,
            source,
            json!({"propertyName": name, "propertyValue": value}),
        );
    }

    /// `contact.deletion` (archive).
    pub fn deletion(&self, id: u64, at_ms: i64, source: &Source) {
        self.push(
            "contact.deletion",
            id,
            at_ms,
            source,
            json!({"changeFlag": "DELETED"}),
        );
    }

    /// `contact.merge`: `primary` and `secondary` folded into `survivor`.
    pub fn merge(&self, survivor: u64, primary: u64, secondary: u64, moved: usize, at_ms: i64) {
        let merged: Vec<u64> = [primary, secondary]
            .into_iter()
            .filter(|id| *id != survivor)
            .collect();
        self.push(
            "contact.merge",
            survivor,
            at_ms,
            &Source::Integration,
            json!({
                "primaryObjectId": primary,
                "mergedObjectIds": merged,
                "newObjectId": survivor,
                "numberOfPropertiesMoved": moved,
            }),
        );
    }

    /// Starts the delivery task on the current tokio runtime (nothing without webhooks or
    /// outside a runtime). The task ends once every recorder clone is dropped.
    pub fn spawn_delivery(&self) {
        let Some(q) = &self.queue else { return };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("sandbox webhooks configured outside a tokio runtime: not delivered");
            return;
        };
        let weak = Arc::downgrade(q);
        rt.spawn(deliver_loop(weak));
    }

    fn stats(&self) -> WebhookStats {
        self.queue
            .as_ref()
            .map(|q| lock(&q.stats).clone())
            .unwrap_or_default()
    }
}

/// v3: `base64(HMAC-SHA256(secret, method + uri + body + timestamp))`.
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(method.as_bytes());
    mac.update(uri.as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

fn sign_v1(secret: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(secret.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// Duplicates every `every`-th event (0 = none) and shuffles when asked.
fn prepare(
    mut events: Vec<Value>,
    every: u32,
    shuffle: bool,
    rng: &mut rand::rngs::StdRng,
) -> Vec<Value> {
    if every > 0 {
        let dups: Vec<Value> = events
            .iter()
            .enumerate()
            .filter(|(i, _)| (i + 1) % every as usize == 0)
            .map(|(_, e)| e.clone())
            .collect();
        events.extend(dups);
    }
    if shuffle {
        events.shuffle(rng);
    }
    events
}

async fn deliver_loop(weak: Weak<Queue>) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "sandbox webhooks: cannot build an HTTP client");
            return;
        }
    };
    let seed = weak.upgrade().map(|q| q.settings.seed).unwrap_or(1);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    loop {
        let Some(q) = weak.upgrade() else { return };
        let flush = q.settings.flush_every.max(Duration::from_millis(1));
        tokio::select! {
            _ = q.notify.notified() => {}
            _ = tokio::time::sleep(flush * 5) => {}
        }
        // Let a burst of changes gather into one batch.
        tokio::time::sleep(flush).await;
        let events = std::mem::take(&mut *lock(&q.events));
        if events.is_empty() {
            continue;
        }
        let s = q.settings.clone();
        let events = prepare(events, s.duplicate_every, s.shuffle, &mut rng);
        for chunk in events.chunks(s.max_batch.max(1)) {
            send_with_retries(&http, &q, &s, chunk.to_vec()).await;
        }
    }
}

async fn send_with_retries(
    http: &reqwest::Client,
    q: &Queue,
    s: &WebhookSettings,
    mut batch: Vec<Value>,
) {
    for attempt in 0..s.max_attempts.max(1) {
        for e in batch.iter_mut() {
            if let Some(o) = e.as_object_mut() {
                o.insert("attemptNumber".into(), json!(attempt));
            }
        }
        let body = serde_json::to_vec(&batch).unwrap_or_default();
        let ts = chrono::Utc::now().timestamp_millis().to_string();
        let secret = s.client_secret.expose();
        let result = http
            .post(&s.target_url)
            .header("content-type", "application/json")
            .header(
                "X-HubSpot-Signature-v3",
                sign_v3(secret, "POST", &s.target_url, &body, &ts),
            )
            .header("X-HubSpot-Request-Timestamp", &ts)
            .header("X-HubSpot-Signature", sign_v1(secret, &body))
            .header("X-HubSpot-Signature-Version", "v1")
            .body(body)
            .send()
            .await;
        match result {
            Ok(r) if r.status().is_success() => {
                let mut st = lock(&q.stats);
                st.delivered_requests += 1;
                st.delivered_events += batch.len() as u64;
                return;
            }
            Ok(r) => {
                tracing::debug!(status = %r.status(), attempt, "sandbox webhook refused");
                lock(&q.stats).failed_requests += 1;
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt, "sandbox webhook not delivered");
                lock(&q.stats).failed_requests += 1;
            }
        }
        tokio::time::sleep(s.retry_delay).await;
    }
    lock(&q.stats).abandoned_batches += 1;
}

impl HubspotSandbox {
    /// Webhook deliveries so far (all zero when webhooks are not configured).
    pub fn webhook_stats(&self) -> WebhookStats {
        self.store().hooks.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_every_nth_and_keeps_all() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let events: Vec<Value> = (0..10).map(|i| json!({"eventId": i})).collect();
        let out = prepare(events.clone(), 5, true, &mut rng);
        assert_eq!(out.len(), 12);
        for e in &events {
            assert!(out.contains(e));
        }
        let plain = prepare(events.clone(), 0, false, &mut rng);
        assert_eq!(plain, events);
    }

    #[test]
    fn recorder_is_inert_without_settings_and_records_with() {
        let r = Recorder::new(&SandboxConfig::default());
        r.creation(1, 0, &Source::Import);
        assert_eq!(r.stats(), WebhookStats::default());
        let cfg = SandboxConfig {
            webhooks: Some(WebhookSettings {
                properties: Some(vec!["email".into()]),
                ..WebhookSettings::new("http://127.0.0.1:1/x", Secret::new("s"))
            }),
            ..SandboxConfig::default()
        };
        let r = Recorder::new(&cfg);
        r.creation(1, 5, &Source::Person(3));
        r.property_change(1, "firstname", "A", 6, &Source::Integration);
        r.property_change(1, "email", "a@b.c", 6, &Source::Integration);
        r.merge(9, 1, 2, 3, 7);
        assert_eq!(r.stats().recorded, 3);
        let q = r.queue.as_ref().unwrap();
        let events = lock(&q.events).clone();
        assert_eq!(events[0]["changeSource"], "CRM_UI");
        assert_eq!(events[0]["sourceId"], "userId:3");
        assert_eq!(events[1]["propertyName"], "email");
        assert_eq!(events[2]["mergedObjectIds"], json!([1, 2]));
        assert_eq!(events[2]["newObjectId"], 9);
        let ids: Vec<u64> = events
            .iter()
            .map(|e| e["eventId"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2, 3]);
    }

    #[test]
    fn v3_signature_is_hmac_of_the_concatenation() {
        let a = sign_v3("k", "POST", "http://h/w", b"[]", "1");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"k").unwrap();
        mac.update(b"POSThttp://h/w[]1");
        let b = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(a, b);
    }
}
