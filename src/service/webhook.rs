//! HubSpot webhooks (contract `hubspot.md` §11): the v3 signature check, the event parser,
//! event de-duplication, and the axum handler that queues the named contacts for a targeted
//! cycle.
//!
//! The signature string, the check, the parser and [`Dedup`] are pure (the clock is passed
//! in). The handler answers at once (well inside HubSpot's 5 s) and never waits for a cycle.
//! Must never log the client secret, a signature or a property value (they may be PII).

use super::scheduler::TargetRequests;
use crate::domain::HubspotId;
use crate::secret::Secret;
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

/// Header carrying the v3 signature (header names are case-insensitive).
pub const SIGNATURE_HEADER: &str = "x-hubspot-signature-v3";
/// Header carrying the request time in epoch milliseconds.
pub const TIMESTAMP_HEADER: &str = "x-hubspot-request-timestamp";
/// Oldest request accepted, in milliseconds (both SDKs use 300,000).
pub const MAX_AGE_MS: i64 = 300_000;
/// How many recent event keys [`Dedup`] remembers.
pub const DEDUP_CAPACITY: usize = 20_000;

/// The percent-escapes HubSpot decodes in the URI before signing (contract §11 step 3).
const DECODED: &[(&str, &str)] = &[
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// Decodes exactly the escapes of the contract's table (either hex case), leaving every
/// other escape as it is.
pub fn decode_uri_escapes(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    let mut rest = uri;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        let hit = tail.get(..3).and_then(|esc| {
            DECODED
                .iter()
                .find(|(e, _)| e.eq_ignore_ascii_case(esc))
                .map(|(_, d)| *d)
        });
        match hit {
            Some(decoded) => {
                out.push_str(decoded);
                rest = &tail[3..];
            }
            None => {
                out.push('%');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The bytes HubSpot signs: `method + decoded uri + raw body + timestamp`, no separators.
pub fn signature_source(method: &str, uri: &str, body: &[u8], timestamp: &str) -> Vec<u8> {
    let uri = decode_uri_escapes(uri);
    let mut s = Vec::with_capacity(method.len() + uri.len() + body.len() + timestamp.len());
    s.extend_from_slice(method.as_bytes());
    s.extend_from_slice(uri.as_bytes());
    s.extend_from_slice(body);
    s.extend_from_slice(timestamp.as_bytes());
    s
}

/// `base64(HMAC-SHA256(secret, source))`, standard alphabet with padding.
pub fn sign_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(&signature_source(method, uri, body, timestamp));
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Why a webhook request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("webhooks are not configured (hubspot.client_secret is empty)")]
    NotConfigured,
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the timestamp header is not a number of milliseconds")]
    BadTimestamp,
    #[error("the request is {age_ms} ms old (more than 5 minutes from now)")]
    Stale { age_ms: i64 },
    #[error("the signature does not match")]
    BadSignature,
}

/// Checks a v3 signature: the timestamp within 5 minutes of `now_ms` (either way), then the
/// HMAC, compared in constant time.
pub fn verify_v3(
    secret: &Secret,
    method: &str,
    uri: &str,
    body: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    now_ms: i64,
) -> Result<(), Rejection> {
    if secret.is_empty() {
        return Err(Rejection::NotConfigured);
    }
    let signature = signature.ok_or(Rejection::MissingHeader("X-HubSpot-Signature-v3"))?;
    let timestamp = timestamp.ok_or(Rejection::MissingHeader("X-HubSpot-Request-Timestamp"))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    let age_ms = now_ms.saturating_sub(ts);
    if age_ms.saturating_abs() > MAX_AGE_MS {
        return Err(Rejection::Stale { age_ms });
    }
    let expected = sign_v3(secret.expose(), method, uri, body, timestamp);
    let same: bool =
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.trim().as_bytes()).into();
    if same {
        Ok(())
    } else {
        Err(Rejection::BadSignature)
    }
}

/// The URL HubSpot called, rebuilt from the request: scheme and host from
/// `X-Forwarded-Proto`/`X-Forwarded-Host` when a proxy set them, else `http` and `Host`.
pub fn public_uri(headers: &HeaderMap, path_and_query: &str) -> String {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(',').next().unwrap_or(v).trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
    let host = header("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or_default();
    format!("{scheme}://{host}{path_and_query}")
}

/// One event of a delivery, reduced to what tether uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `(eventId, subscriptionType, objectId, occurredAt)`: `eventId` alone is not unique.
    pub key: (u64, String, u64, i64),
    pub kind: String,
    pub occurred_at: i64,
    /// Every contact id the event names (object, merge winner, merged ids, new id).
    pub contacts: Vec<HubspotId>,
}

fn num(v: &Value, field: &str) -> Option<u64> {
    match v.get(field)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn id_of(n: u64) -> Option<HubspotId> {
    HubspotId::new(n.to_string()).ok()
}

/// Parses a delivery (a JSON array of events). Events that are not about contacts are
/// skipped; events are returned sorted by `occurredAt` (delivery is not ordered).
pub fn parse_events(body: &[u8]) -> Result<Vec<Event>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(items) = v else {
        return Err("expected a JSON array of events".into());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let kind = item
            .get("subscriptionType")
            .or_else(|| item.get("eventType"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let is_contact = kind.starts_with("contact.")
            || item.get("objectTypeId").and_then(Value::as_str) == Some("0-1");
        if !is_contact {
            continue;
        }
        let object = num(item, "objectId").unwrap_or(0);
        let occurred_at = num(item, "occurredAt").and_then(|n| i64::try_from(n).ok());
        let mut ids: BTreeSet<u64> = BTreeSet::new();
        for field in ["objectId", "primaryObjectId", "newObjectId"] {
            if let Some(n) = num(item, field) {
                ids.insert(n);
            }
        }
        if let Some(Value::Array(merged)) = item.get("mergedObjectIds") {
            ids.extend(merged.iter().filter_map(Value::as_u64));
        }
        let contacts: Vec<HubspotId> = ids.into_iter().filter_map(id_of).collect();
        if contacts.is_empty() {
            continue;
        }
        let occurred_at = occurred_at.unwrap_or(0);
        out.push(Event {
            key: (
                num(item, "eventId").unwrap_or(0),
                kind.clone(),
                object,
                occurred_at,
            ),
            kind,
            occurred_at,
            contacts,
        });
    }
    out.sort_by_key(|e| e.occurred_at);
    Ok(out)
}

/// Remembers the last [`DEDUP_CAPACITY`] event keys, forgetting the oldest first.
#[derive(Debug)]
pub struct Dedup {
    seen: HashSet<(u64, String, u64, i64)>,
    order: VecDeque<(u64, String, u64, i64)>,
    capacity: usize,
}

impl Dedup {
    /// A de-duplicator remembering `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// True the first time a key is offered, false for a repeat still remembered.
    pub fn first_time(&mut self, key: &(u64, String, u64, i64)) -> bool {
        if self.seen.contains(key) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        self.seen.insert(key.clone());
        self.order.push_back(key.clone());
        true
    }
}

/// What the webhook handler shares.
#[derive(Debug)]
pub struct WebhookState {
    pub client_secret: Secret,
    pub dedup: Mutex<Dedup>,
    pub targets: Arc<TargetRequests>,
    pub metrics: Arc<super::metrics::Metrics>,
}

impl WebhookState {
    pub fn new(
        client_secret: Secret,
        targets: Arc<TargetRequests>,
        metrics: Arc<super::metrics::Metrics>,
    ) -> Self {
        Self {
            client_secret,
            dedup: Mutex::new(Dedup::new(DEDUP_CAPACITY)),
            targets,
            metrics,
        }
    }
}

/// `POST /webhooks/hubspot`: 401 on a missing, stale or wrong signature, 400 on a body that
/// is not an event array, else 204 after queueing the named contacts.
pub async fn handle(
    State(state): State<Arc<WebhookState>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| uri.path().to_owned());
    let full = public_uri(&headers, &path_and_query);
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let now_ms = chrono::Utc::now().timestamp_millis();
    if let Err(why) = verify_v3(
        &state.client_secret,
        method.as_str(),
        &full,
        &body,
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        now_ms,
    ) {
        tracing::warn!(reason = %why, "webhook refused");
        state.metrics.webhook_request("unauthorized");
        return (StatusCode::UNAUTHORIZED, format!("{why}\n"));
    }
    let events = match parse_events(&body) {
        Ok(e) => e,
        Err(why) => {
            tracing::warn!(reason = %why, "webhook body refused");
            state.metrics.webhook_request("bad_request");
            return (StatusCode::BAD_REQUEST, format!("{why}\n"));
        }
    };
    let mut ids: Vec<HubspotId> = vec![];
    let (mut fresh, mut duplicate) = (0u64, 0u64);
    {
        let mut dedup = state.dedup.lock().unwrap_or_else(|p| p.into_inner());
        for e in events {
            if dedup.first_time(&e.key) {
                fresh += 1;
                ids.extend(e.contacts);
            } else {
                duplicate += 1;
            }
        }
    }
    state.metrics.webhook_events(fresh, duplicate);
    state.metrics.webhook_request("accepted");
    let queued = ids.len();
    if !ids.is_empty() {
        state.targets.request(ids);
    }
    tracing::debug!(fresh, duplicate, queued, "webhook accepted");
    (StatusCode::NO_CONTENT, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_of_the_table_are_decoded_others_kept() {
        assert_eq!(
            decode_uri_escapes("https://x.io/h%3Fa%3ab%2F%40%21%24%27%28%29%2A%2C%3B"),
            "https://x.io/h?a:b/@!$'()*,;"
        );
        assert_eq!(decode_uri_escapes("/a%20b%2"), "/a%20b%2");
        assert_eq!(decode_uri_escapes("%"), "%");
        assert_eq!(decode_uri_escapes("/é%3A"), "/é:");
    }

    #[test]
    fn source_is_method_uri_body_timestamp_without_separators() {
        let s = signature_source("POST", "https://h/p%3Fq", b"[1]", "1700");
        assert_eq!(s, b"POSThttps://h/p?q[1]1700".to_vec());
    }

    #[test]
    fn signature_matches_an_independent_hmac() {
        // HMAC-SHA256 test vector 2 of RFC 4231: key "Jefe", data "what do ya want for nothing?".
        let sig = sign_v3("Jefe", "what", " do ya want ", b"for nothing", "?");
        let expected = base64::engine::general_purpose::STANDARD.encode(
            hex::decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
                .unwrap(),
        );
        assert_eq!(sig, expected);
    }

    #[test]
    fn verify_accepts_good_and_refuses_bad_stale_or_missing() {
        let secret = Secret::new("s3cret");
        let (uri, body, now) = ("http://127.0.0.1:8080/webhooks/hubspot", b"[]", 1_000_000);
        let ts = "999000";
        let good = sign_v3("s3cret", "POST", uri, body, ts);
        assert_eq!(
            verify_v3(&secret, "POST", uri, body, Some(ts), Some(&good), now),
            Ok(())
        );
        assert_eq!(
            verify_v3(&secret, "POST", uri, b"[ ]", Some(ts), Some(&good), now),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify_v3(&secret, "GET", uri, body, Some(ts), Some(&good), now),
            Err(Rejection::BadSignature)
        );
        let old = (now - MAX_AGE_MS - 1).to_string();
        let sig_old = sign_v3("s3cret", "POST", uri, body, &old);
        assert!(matches!(
            verify_v3(&secret, "POST", uri, body, Some(&old), Some(&sig_old), now),
            Err(Rejection::Stale { .. })
        ));
        let edge = (now - MAX_AGE_MS).to_string();
        let sig_edge = sign_v3("s3cret", "POST", uri, body, &edge);
        assert_eq!(
            verify_v3(
                &secret,
                "POST",
                uri,
                body,
                Some(&edge),
                Some(&sig_edge),
                now
            ),
            Ok(())
        );
        assert!(matches!(
            verify_v3(&secret, "POST", uri, body, None, Some(&good), now),
            Err(Rejection::MissingHeader(_))
        ));
        assert_eq!(
            verify_v3(&secret, "POST", uri, body, Some("soon"), Some(&good), now),
            Err(Rejection::BadTimestamp)
        );
        assert_eq!(
            verify_v3(
                &Secret::new(""),
                "POST",
                uri,
                body,
                Some(ts),
                Some(&good),
                now
            ),
            Err(Rejection::NotConfigured)
        );
    }

    #[test]
    fn signed_encoded_uri_verifies_against_its_decoded_form() {
        let secret = Secret::new("k");
        let sig = sign_v3("k", "POST", "https://h/w?x=a:b", b"[]", "5");
        assert_eq!(
            verify_v3(
                &secret,
                "POST",
                "https://h/w?x=a%3Ab",
                b"[]",
                Some("5"),
                Some(&sig),
                5
            ),
            Ok(())
        );
    }

    #[test]
    fn public_uri_prefers_forwarded_headers() {
        let mut h = HeaderMap::new();
        h.insert("host", "internal:8080".parse().unwrap());
        assert_eq!(public_uri(&h, "/w?a=1"), "http://internal:8080/w?a=1");
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        h.insert(
            "x-forwarded-host",
            "tether.example.com, proxy".parse().unwrap(),
        );
        assert_eq!(public_uri(&h, "/w"), "https://tether.example.com/w");
    }

    #[test]
    fn events_parsed_sorted_and_contacts_collected() {
        let body = br#"[
          {"objectId":12,"eventId":2,"occurredAt":200,"subscriptionType":"contact.propertyChange","propertyName":"email","propertyValue":"a@b.c"},
          {"objectId":30,"eventId":1,"occurredAt":100,"subscriptionType":"contact.merge","primaryObjectId":30,"mergedObjectIds":[10,11],"newObjectId":30},
          {"objectId":99,"eventId":3,"occurredAt":50,"subscriptionType":"deal.creation"},
          {"objectId":"13","eventId":4,"occurredAt":300,"eventType":"contact.deletion"}
        ]"#;
        let events = parse_events(body).unwrap();
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].kind, "contact.merge");
        let ids: Vec<&str> = events[0].contacts.iter().map(|i| i.as_str()).collect();
        assert_eq!(ids, ["10", "11", "30"]);
        assert_eq!(events[2].contacts[0].as_str(), "13");
        assert!(parse_events(b"{}").is_err());
        assert!(parse_events(b"nope").is_err());
    }

    #[test]
    fn dedup_remembers_a_bounded_window() {
        let mut d = Dedup::new(2);
        let k = |n: u64| (n, "contact.creation".to_string(), n, 0);
        assert!(d.first_time(&k(1)));
        assert!(!d.first_time(&k(1)));
        assert!(d.first_time(&k(2)));
        assert!(d.first_time(&k(3)));
        // 1 fell out of the window.
        assert!(d.first_time(&k(1)));
        assert!(!d.first_time(&k(3)));
        // Same eventId, different object: not a duplicate.
        assert!(d.first_time(&(3, "contact.creation".into(), 4, 0)));
    }
}
