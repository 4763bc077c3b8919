//! `GET /gorgias/card?email=…&customer_id=…`: the live HubSpot card Gorgias's HTTP
//! integration fetches on ticket events (docs/sidebar.md). Authenticated by the secret
//! header `sidebar.card_header` (constant-time compare; 401 otherwise), throttled per
//! source address (requests per minute, and wrong secrets through `review::throttle`),
//! answered from the state store plus the contact's HubSpot context, cached per contact and
//! read in batches (`service::card_context`).
//!
//! Owns the handler, the cache and the card counters. Must never log a presented secret or
//! a customer's e-mail, never write to the store, and never answer an error for a customer
//! tether has not linked (that is the "not in HubSpot" card).

pub use super::card_context::{CONTACT_PROPERTIES, CrmCache};
use crate::connectors::hubspot::HubspotClient;
use crate::domain::{Email, GorgiasId, HubspotId, RecordRef, System};
use crate::review::throttle::{Throttle, retry_after_secs};
use crate::secret::Secret;
use crate::sidebar::{CardInput, TetherState, build_card};
use crate::store::{Link, SharedStore, StateStore, StoreError, UnsettledFilter};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the card is served.
pub const CARD_PATH: &str = "/gorgias/card";
/// Wrong secrets allowed per source per minute before that source is refused for a while.
pub const MAX_WRONG_SECRETS: usize = 10;
/// Longest a card request may take (a HubSpot read included) before it answers 504.
pub const CARD_TIMEOUT: Duration = Duration::from_secs(10);
/// Per-source budgets kept before they are swept.
const CACHE_SWEEP_AT: usize = 10_000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How the endpoint behaves (from `[sidebar]`).
#[derive(Debug, Clone)]
pub struct CardConfig {
    pub secret: Secret,
    pub header: HeaderName,
    pub cache_ttl: Duration,
    pub max_deals: usize,
    pub portal_id: Option<String>,
    pub app_url: String,
    pub requests_per_minute: u32,
}

impl CardConfig {
    /// From the settings; `None` while `sidebar.card_secret` is empty (endpoint off).
    pub fn from_settings(s: &crate::config::SidebarSettings) -> Option<CardConfig> {
        if s.card_secret.is_empty() {
            return None;
        }
        Some(CardConfig {
            secret: s.card_secret.clone(),
            header: s.card_header.parse().ok()?,
            cache_ttl: Duration::from_secs(s.cache_seconds),
            max_deals: s.max_deals as usize,
            portal_id: Some(s.hubspot_portal_id.clone()).filter(|p| !p.trim().is_empty()),
            app_url: s.hubspot_app_url.clone(),
            requests_per_minute: s.requests_per_minute,
        })
    }
}

/// Card request counters, read at scrape time into `tether_card_requests_total{outcome}`
/// and `tether_card_cache_lookups_total{result}`.
#[derive(Debug, Default)]
pub struct CardCounters {
    outcomes: Mutex<HashMap<&'static str, u64>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CardCounters {
    fn count(&self, outcome: &'static str) {
        *lock(&self.outcomes).entry(outcome).or_default() += 1;
    }

    /// (outcome, requests) sorted by outcome.
    pub fn requests(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<_> = lock(&self.outcomes).iter().map(|(k, n)| (*k, *n)).collect();
        v.sort();
        v
    }

    /// (cache hits, cache misses).
    pub fn cache(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// The first held conflict and the first refused write of a linked pair, for the card, each
/// as one line a person reads (`field: HubSpot "a" / Gorgias "b"`, `create in hubspot: why`),
/// with the command that acts on it.
pub async fn held_conflict_and_refused_write(
    store: &dyn StateStore,
    link: &Link,
) -> Result<(Option<String>, Option<String>), StoreError> {
    let held = store
        .live_conflicts_of(&link.hubspot, link.gorgias)
        .await?
        .into_iter()
        .next()
        .map(|c| {
            let side = |v: &Option<String>| v.as_deref().unwrap_or("(empty)").to_owned();
            format!(
                "{}: HubSpot \"{}\" / Gorgias \"{}\" (tether conflicts show {})",
                c.field,
                side(&c.hubspot_value),
                side(&c.gorgias_value),
                c.id.0
            )
        });
    let mut refused = None;
    for r in [
        RecordRef::Hubspot(link.hubspot.clone()),
        RecordRef::Gorgias(link.gorgias),
    ] {
        if let Some(u) = store
            .unsettled(UnsettledFilter::Record(r))
            .await?
            .into_iter()
            .next()
        {
            refused = Some(format!(
                "{} in {}: {} (tether retry {})",
                u.op.as_str(),
                u.target.as_str(),
                u.reason,
                u.id.0
            ));
            break;
        }
    }
    Ok((held, refused))
}

/// Per-source budgets: requests per minute, and wrong secrets.
#[derive(Debug)]
struct Sources {
    rpm: usize,
    requests: HashMap<String, Throttle>,
    failures: HashMap<String, Throttle>,
}

impl Sources {
    fn check(&mut self, source: &str, now: Instant) -> Result<(), Duration> {
        if self.requests.len() > CACHE_SWEEP_AT {
            self.requests.clear();
            self.failures.retain(|_, t| t.check(now).is_err());
        }
        if let Some(t) = self.failures.get_mut(source) {
            t.check(now)?;
        }
        let rpm = self.rpm;
        let t = self
            .requests
            .entry(source.to_owned())
            .or_insert_with(|| Throttle::new(rpm, Duration::from_secs(60)));
        t.check(now)?;
        // The throttle counts "failures"; here every request counts against the minute.
        t.record_failure(now);
        Ok(())
    }

    fn wrong_secret(&mut self, source: &str, now: Instant) {
        self.failures
            .entry(source.to_owned())
            .or_insert_with(|| Throttle::new(MAX_WRONG_SECRETS, Duration::from_secs(60)))
            .record_failure(now);
    }
}

/// Everything the handler shares.
pub struct CardState {
    pub cfg: CardConfig,
    pub store: SharedStore,
    pub crm: CrmCache,
    pub counters: Arc<CardCounters>,
    sources: Mutex<Sources>,
}

impl CardState {
    pub fn new(cfg: CardConfig, store: SharedStore, hubspot: HubspotClient) -> Arc<Self> {
        // The context reads follow the client's `hubspot.api_version`, like every other path.
        let crm = CrmCache::new(hubspot, cfg.cache_ttl);
        let sources = Mutex::new(Sources {
            rpm: cfg.requests_per_minute as usize,
            requests: HashMap::new(),
            failures: HashMap::new(),
        });
        Arc::new(Self {
            cfg,
            store,
            crm,
            counters: Arc::new(CardCounters::default()),
            sources,
        })
    }
}

/// The card counters as a scrape-time source for `/metrics`.
pub fn metrics_source(counters: Arc<CardCounters>) -> super::http::ApiSource {
    Arc::new(move || super::metrics::ApiSnapshot {
        card_requests: counters.requests(),
        card_cache: Some(counters.cache()),
        ..Default::default()
    })
}

/// The card route, to merge into the service router.
pub fn router(state: Arc<CardState>) -> Router {
    Router::new()
        .route(CARD_PATH, get(handle))
        .with_state(state)
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response()
}

async fn handle(State(s): State<Arc<CardState>>, req: Request) -> Response {
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into());
    let now = Instant::now();
    if let Err(wait) = lock(&s.sources).check(&source, now) {
        s.counters.count("throttled");
        let mut r = json_response(
            StatusCode::TOO_MANY_REQUESTS,
            serde_json::json!({"error": "too many requests"}),
        );
        if let Ok(v) = retry_after_secs(wait).to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let presented = req
        .headers()
        .get(&s.cfg.header)
        .and_then(|v| v.to_str().ok());
    if !presented.is_some_and(|p| s.cfg.secret.matches(p)) {
        lock(&s.sources).wrong_secret(&source, now);
        s.counters.count("unauthorized");
        tracing::warn!(
            %source,
            header = %s.cfg.header,
            present = presented.is_some(),
            "card request refused: missing or wrong secret"
        );
        return json_response(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "unauthorized"}),
        );
    }
    let q: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    match answer(&s, &q).await {
        Ok((outcome, body)) => {
            s.counters.count(outcome);
            json_response(StatusCode::OK, body)
        }
        Err((status, outcome, why)) => {
            s.counters.count(outcome);
            if status.is_server_error() {
                tracing::warn!(error = %why, "card request failed");
            }
            json_response(status, serde_json::json!({"error": why}))
        }
    }
}

type Failure = (StatusCode, &'static str, String);

fn store_err(e: crate::store::StoreError) -> Failure {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "error",
        format!("state store: {e}"),
    )
}

/// The Gorgias customer the request names (by id, else by e-mail among records seen).
async fn gorgias_record(
    store: &dyn StateStore,
    q: &HashMap<String, String>,
) -> Result<Option<RecordRef>, Failure> {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, "bad_request", m.to_owned());
    if let Some(raw) = q
        .get("customer_id")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        let id = raw
            .parse::<i64>()
            .ok()
            .and_then(|n| GorgiasId::new(n).ok())
            .ok_or_else(|| bad("customer_id must be a positive integer"))?;
        return Ok(Some(RecordRef::Gorgias(id)));
    }
    let Some(raw) = q.get("email").map(|s| s.trim()).filter(|s| !s.is_empty()) else {
        return Err(bad("give customer_id or email"));
    };
    let Ok(email) = Email::parse(raw) else {
        return Ok(None);
    };
    let found = store.records_with_email(&email).await.map_err(store_err)?;
    Ok(found.into_iter().find(|r| r.system() == System::Gorgias))
}

async fn tether_state(
    store: &dyn StateStore,
    link: Option<&Link>,
    refs: &[RecordRef],
) -> Result<TetherState, Failure> {
    let mut st = TetherState::default();
    for r in refs {
        if let Some(seen) = store.record_seen(r).await.map_err(store_err)? {
            st.last_sync = st.last_sync.max(Some(seen.seen_at));
        }
        if st.quarantined.is_none() {
            st.quarantined = store
                .quarantined(r)
                .await
                .map_err(store_err)?
                .map(|q| q.reason);
        }
    }
    let pending = store.pending_proposals(1000).await.map_err(store_err)?;
    st.pending_merge_proposal = pending
        .iter()
        .find(|p| refs.contains(p.pair.first()) || refs.contains(p.pair.second()))
        .map(|p| p.id.0);
    if let Some(link) = link {
        (st.held_conflict, st.refused_write) = held_conflict_and_refused_write(store, link)
            .await
            .map_err(store_err)?;
    }
    Ok(st)
}

async fn answer(
    s: &CardState,
    q: &HashMap<String, String>,
) -> Result<(&'static str, serde_json::Value), Failure> {
    let store = &*s.store;
    let asked = gorgias_record(store, q).await?;
    let (link, merged_into, mut refs) = match &asked {
        Some(r) => {
            let survivor = store.resolve(r).await.map_err(store_err)?;
            let merged_into = match (&survivor, r) {
                (RecordRef::Gorgias(to), RecordRef::Gorgias(from)) if to != from => Some(to.get()),
                _ => None,
            };
            let link = store.link_for(&survivor).await.map_err(store_err)?;
            (link, merged_into, vec![survivor])
        }
        None => (None, None, vec![]),
    };
    let input = match &link {
        None => CardInput::NotInHubspot {
            tether: tether_state(store, None, &refs).await?,
            merged_into,
        },
        Some(l) => {
            let hubspot = store
                .resolve(&RecordRef::Hubspot(l.hubspot.clone()))
                .await
                .map_err(store_err)?;
            refs.push(hubspot.clone());
            let hid = match &hubspot {
                RecordRef::Hubspot(h) => h.clone(),
                RecordRef::Gorgias(_) => l.hubspot.clone(),
            };
            let (crm, hit) = s.crm.get(HubspotId::as_str(&hid)).await.map_err(|e| {
                (
                    StatusCode::BAD_GATEWAY,
                    "hubspot_error",
                    format!("HubSpot: {e}"),
                )
            })?;
            let c = &s.counters;
            if hit { &c.hits } else { &c.misses }.fetch_add(1, Ordering::Relaxed);
            CardInput::Linked {
                crm,
                tether: tether_state(store, Some(l), &refs).await?,
                merged_into,
            }
        }
    };
    let card = build_card(
        &input,
        s.cfg.portal_id.as_deref(),
        &s.cfg.app_url,
        s.cfg.max_deals,
        chrono::Utc::now(),
    );
    let outcome = card.status;
    let body = serde_json::to_value(&card)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, "error", e.to_string()))?;
    Ok((outcome, body))
}
