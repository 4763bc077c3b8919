//! The Gorgias REST sandbox: an in-memory account served over HTTP by axum, following
//! `shared/contracts/gorgias.md` §13 (auth, leaky bucket, customers list/CRUD/merge/data,
//! events, tickets, satisfaction surveys, account) plus test controls under `/__sandbox/`.
//!
//! Owns the fake's behaviour and its configuration ([`SandboxConfig`]), including the
//! choices the contract leaves UNCONFIRMED (duplicate-email status, merge-conflict status,
//! the merged event's object). Must never be called by the sync code except over HTTP, and
//! must never be more forgiving than the real API where the contract is clear.
//!
//! Test controls (no auth, no limits), each mirrored by a method of [`GorgiasSandbox`]:
//! - `POST /__sandbox/customers` (object or array) → `{"ids":[…]}` ([`GorgiasSandbox::seed_customers`])
//! - `GET|PATCH|DELETE /__sandbox/customers/{id}`: read, edit or delete as an agent
//! - `POST /__sandbox/merge` `{"source_id","target_id"}`: merge as an agent
//! - `GET|DELETE /__sandbox/counters`: calls per endpoint, 429s sent; reset
//! - `POST|DELETE /__sandbox/faults`: queue a [`Fault`] (e.g.
//!   `{"kind":"rate_limit","retry_after":2,"times":5}`); clear
//! - `POST /__sandbox/tickets`: seed (open) tickets ([`GorgiasSandbox::seed_tickets`])
//! - `POST /__sandbox/tickets/{id}/{reply|close|open|trash|spam}`: act on a ticket as the
//!   customer or an agent ([`GorgiasSandbox::ticket_action`])
//! - `POST /__sandbox/satisfaction-surveys` `{"ticket_id","score"?}`: the ticket's survey
//!   ([`GorgiasSandbox::add_survey`]); `POST /__sandbox/satisfaction-surveys/{id}/score`
//!   `{"score"}`: the customer answers it ([`GorgiasSandbox::score_survey`])
//! - `POST /__sandbox/integrations/{id}/fire` `{"trigger","ticket"}`: fire an HTTP
//!   integration as Gorgias does ([`GorgiasSandbox::fire_integration`])

// Route helpers return an early `Response` as their error: it is sent as is, once, so boxing
// it would only add an allocation.
#![allow(clippy::result_large_err)]

mod auth;
mod bucket;
mod control;
mod customers;
mod data;
mod events;
pub mod faults;
mod gate;
mod generate;
pub mod integrations;
mod listed;
mod merge;
mod paging;
mod reply;
mod state;
mod support;
mod surveys;
mod tickets;
pub mod time;
mod validate;

pub use faults::{Fault, FaultKind};
pub use gate::CALL_LIMIT_HEADER;
pub use state::Counters;
pub use support::TicketAction;

use crate::secret::Secret;
use auth::AuthKind;
use axum::Router;
use axum::routing::{get, post, put};
use bucket::{Admission, LeakyBucket};
use serde_json::Value;
use state::{Actor, State};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How the sandbox behaves. `Default` is the real service's limits in real time.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The Basic-auth user name (the API key owner's e-mail).
    pub username: String,
    pub api_key: Secret,
    /// An OAuth access token to accept as `Authorization: Bearer`; none by default.
    pub bearer_token: Option<Secret>,
    /// Leaky-bucket capacity for Basic auth (40 on the real service).
    pub basic_limit: u32,
    /// Leaky-bucket capacity for Bearer tokens (80 on the real service).
    pub bearer_limit: u32,
    /// The bucket's window in sandbox time (20 s on the real service).
    pub bucket_window: Duration,
    /// How many times faster than real time the sandbox runs: the bucket drains this much
    /// faster, and `Retry-after` seconds are sandbox seconds (real = sandbox / scale).
    pub time_scale: f64,
    /// The account subdomain shown by `GET /api/account`.
    pub domain: String,
    /// Status for a create/update with an e-mail already used (409 per the docs; Nango saw 400).
    pub duplicate_email_status: u16,
    /// Status for a merge where both customers hold data of the same integration
    /// (UNCONFIRMED; 409 per one third-party client).
    pub merge_conflict_status: u16,
    /// Send `Location: /api/customers/{target}` with the 301 for a merged id (UNCONFIRMED).
    pub merged_location_header: bool,
    /// Record `customer-merged` on the source id instead of the target (UNCONFIRMED).
    pub merge_event_on_source: bool,
    /// Extra keys accepted on create beyond the official schema (e.g. `note`), UNCONFIRMED.
    pub create_extra_keys: Vec<String>,
    /// Real delay before a `PUT …/data` takes effect (Gorgias processes it asynchronously and
    /// answers 202 at once); zero applies it before answering.
    pub data_apply_delay: Duration,
    /// User id of the API key's owner (`user_id` of events caused by API writes).
    pub api_user_id: i64,
    /// User id of the agent who makes UI edits through the controls.
    pub agent_user_id: i64,
    /// Status of a created integration or widget (201 per the widgets page; for
    /// integrations "201 likely", UNCONFIRMED).
    pub integration_create_status: u16,
    /// Echo HTTP-integration trigger keys with underscores (`ticket_created`, as the object
    /// page shows) instead of as sent (hyphens in the request schema). UNCONFIRMED.
    pub echo_triggers_with_underscores: bool,
    /// Whether a customer merge bumps `updated_datetime` of the tickets it moves to the
    /// survivor (UNCONFIRMED; off: only the `customer-merged` event tells).
    pub merge_touches_tickets: bool,
    /// The order of `GET /api/satisfaction-surveys` when no `order_by` is sent (UNCONFIRMED:
    /// the reference lists no values; `created_datetime:desc` like tickets).
    pub survey_default_order: String,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            username: "api@sandbox.gorgias.test".into(),
            api_key: Secret::new("sandbox-api-key"),
            bearer_token: None,
            basic_limit: 40,
            bearer_limit: 80,
            bucket_window: Duration::from_secs(20),
            time_scale: 1.0,
            domain: "sandbox".into(),
            duplicate_email_status: 409,
            merge_conflict_status: 409,
            merged_location_header: true,
            merge_event_on_source: false,
            create_extra_keys: Vec::new(),
            data_apply_delay: Duration::ZERO,
            api_user_id: 1,
            agent_user_id: 2,
            integration_create_status: 201,
            echo_triggers_with_underscores: false,
            merge_touches_tickets: false,
            survey_default_order: "created_datetime:desc".into(),
        }
    }
}

impl SandboxConfig {
    /// The bucket window in real time.
    pub fn real_window(&self) -> Duration {
        let scale = if self.time_scale.is_finite() && self.time_scale > 0.0 {
            self.time_scale
        } else {
            1.0
        };
        self.bucket_window.div_f64(scale)
    }
}

struct Inner {
    cfg: SandboxConfig,
    state: Mutex<State>,
    bucket: Mutex<LeakyBucket>,
    faults: Mutex<faults::Faults>,
    counters: Mutex<Counters>,
    registry: Mutex<integrations::Registry>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running account: cheap to clone, shared by the router and the in-process controls.
#[derive(Clone)]
pub struct GorgiasSandbox {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GorgiasSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GorgiasSandbox")
            .field("domain", &self.inner.cfg.domain)
            .finish()
    }
}

impl GorgiasSandbox {
    pub fn new(cfg: SandboxConfig) -> Self {
        let window = cfg.real_window();
        let mut state = State::new();
        state.merge_touches_tickets = cfg.merge_touches_tickets;
        Self {
            inner: Arc::new(Inner {
                cfg,
                state: Mutex::new(state),
                bucket: Mutex::new(LeakyBucket::new(window)),
                faults: Mutex::new(faults::Faults::default()),
                counters: Mutex::new(Counters::default()),
                registry: Mutex::new(integrations::Registry::default()),
            }),
        }
    }

    /// Binds `addr` and serves the sandbox in the background.
    pub async fn start(
        cfg: SandboxConfig,
        addr: SocketAddr,
    ) -> std::io::Result<(GorgiasSandbox, crate::sandbox::Running)> {
        let sb = GorgiasSandbox::new(cfg);
        let running = crate::sandbox::serve(sb.router(), addr).await?;
        Ok((sb, running))
    }

    /// The API routes (behind the gate) and the `/__sandbox/` controls.
    pub fn router(&self) -> Router {
        let api = Router::new()
            .route(
                "/api/customers",
                get(customers::list)
                    .post(customers::create)
                    .delete(customers::bulk_delete),
            )
            .route("/api/customers/merge", put(merge::merge))
            .route(
                "/api/customers/{id}",
                get(customers::get_one)
                    .put(customers::update)
                    .delete(customers::delete_one),
            )
            .route("/api/customers/{id}/data", put(data::put_data))
            .route("/api/events", get(events::list))
            .route("/api/tickets", get(tickets::list))
            .route("/api/satisfaction-surveys", get(surveys::list))
            .route("/api/account", get(tickets::account))
            .route(
                "/api/integrations",
                get(integrations::list_integrations).post(integrations::create_integration),
            )
            .route(
                "/api/integrations/{id}",
                get(integrations::get_integration)
                    .put(integrations::update_integration)
                    .delete(integrations::delete_integration),
            )
            .route(
                "/api/widgets",
                get(integrations::list_widgets).post(integrations::create_widget),
            )
            .route(
                "/api/widgets/{id}",
                get(integrations::get_widget)
                    .put(integrations::update_widget)
                    .delete(integrations::delete_widget),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                self.clone(),
                gate::gate,
            ));
        let controls = Router::new()
            .route("/__sandbox/customers", post(control::seed))
            .route(
                "/__sandbox/customers/{id}",
                get(control::get_customer)
                    .patch(control::edit)
                    .delete(control::delete),
            )
            .route("/__sandbox/merge", post(control::merge))
            .route(
                "/__sandbox/counters",
                get(control::counters).delete(control::reset_counters),
            )
            .route(
                "/__sandbox/faults",
                post(control::add_fault).delete(control::clear_faults),
            )
            .route("/__sandbox/tickets", post(control::seed_tickets))
            .route(
                "/__sandbox/tickets/{id}/{action}",
                post(control::ticket_action),
            )
            .route("/__sandbox/satisfaction-surveys", post(control::add_survey))
            .route(
                "/__sandbox/satisfaction-surveys/{id}/score",
                post(control::score_survey),
            )
            .route("/__sandbox/integrations/{id}/fire", post(control::fire));
        api.merge(controls)
            .fallback(|| async { reply::not_found() })
            .method_not_allowed_fallback(|| async {
                reply::error(
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    "The specified HTTP method is not allowed.",
                )
            })
            .with_state(self.clone())
    }

    /// The configuration this sandbox runs with (credentials to print, limits).
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.cfg
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    pub(crate) fn count_call(&self, key: &str) {
        let mut c = lock(&self.inner.counters);
        *c.calls.entry(key.to_owned()).or_default() += 1;
    }

    pub(crate) fn with_counters(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut lock(&self.inner.counters));
    }

    fn limit_for(&self, kind: AuthKind) -> u32 {
        match kind {
            AuthKind::Basic => self.inner.cfg.basic_limit,
            AuthKind::Bearer => self.inner.cfg.bearer_limit,
        }
    }

    pub(crate) fn admit(&self, kind: AuthKind) -> Admission {
        let limit = self.limit_for(kind);
        lock(&self.inner.bucket).admit(Instant::now(), limit)
    }

    pub(crate) fn peek_bucket(&self, kind: AuthKind) -> (u32, u32) {
        let limit = self.limit_for(kind);
        (lock(&self.inner.bucket).peek(Instant::now(), limit), limit)
    }

    pub(crate) fn take_fault(&self, method: &str, path: &str) -> Option<FaultKind> {
        lock(&self.inner.faults).take(method, path)
    }

    pub(crate) fn api_actor(&self) -> Actor {
        Actor::Api(self.inner.cfg.api_user_id)
    }

    fn agent(&self) -> Actor {
        Actor::Agent(self.inner.cfg.agent_user_id)
    }

    // ----- in-process controls (mirrors of `/__sandbox/`) -----

    /// Creates customers as an agent would, without validation or limits. Accepts the full
    /// object's keys (`channels`, `data`, `integrations`, `note`, `meta`, and
    /// `created_datetime`/`updated_datetime` to backdate). Returns the new ids in order.
    pub fn seed_customers(&self, customers: Vec<Value>) -> Vec<i64> {
        let agent = self.agent();
        let mut st = self.state();
        customers
            .into_iter()
            .map(|c| {
                let body = c.as_object().cloned().unwrap_or_default();
                st.create(&body, agent)
            })
            .collect()
    }

    /// Applies a partial edit as an agent in the UI (any stored key, including `data` and
    /// `integrations`); bumps `updated_datetime`. False when the customer does not exist.
    pub fn edit_as_agent(&self, id: i64, patch: Value) -> bool {
        let agent = self.agent();
        let mut st = self.state();
        if st.lookup(id).is_err() {
            return false;
        }
        let body = patch.as_object().cloned().unwrap_or_default();
        st.update(id, &body, agent);
        true
    }

    /// Merges `source` into `target` as an agent (no conflict check). False when either is
    /// missing or they are the same.
    pub fn merge_as_agent(&self, source: i64, target: i64) -> bool {
        let agent = self.agent();
        let on_source = self.inner.cfg.merge_event_on_source;
        let mut st = self.state();
        if source == target || st.lookup(source).is_err() || st.lookup(target).is_err() {
            return false;
        }
        st.merge(source, target, &serde_json::Map::new(), agent, on_source);
        true
    }

    /// Deletes a customer as an agent. False when it does not exist.
    pub fn delete_as_agent(&self, id: i64) -> bool {
        let agent = self.agent();
        self.state().delete(id, agent)
    }

    /// The full object of a live customer.
    pub fn customer(&self, id: i64) -> Option<Value> {
        self.state().lookup(id).ok().map(|c| c.full())
    }

    /// Every live customer id, ascending.
    pub fn customer_ids(&self) -> Vec<i64> {
        self.state().customers.keys().copied().collect()
    }

    /// Calls received and 429s sent so far.
    pub fn counters(&self) -> Counters {
        lock(&self.inner.counters).clone()
    }

    /// Zeroes the counters.
    pub fn reset_counters(&self) {
        *lock(&self.inner.counters) = Counters::default();
    }

    /// Queues a fault for the next matching API requests.
    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.inner.faults).push(fault);
    }

    /// Drops every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Seeds `count` generated customers (deterministic for a given `seed`): names, e-mail and
    /// phone channels, some with foreign `data`. Returns their ids.
    pub fn seed_generated(&self, count: usize, seed: u64) -> Vec<i64> {
        self.seed_customers(generate::customers(count, seed))
    }

    /// Adds tickets (objects shaped like list items; `customer.id` or `customer_id` links
    /// them; what is absent is filled as Gorgias would, status open). Returns their ids.
    pub fn seed_tickets(&self, tickets: Vec<Value>) -> Vec<i64> {
        let mut st = self.state();
        tickets
            .into_iter()
            .map(|t| support::seed_ticket(&mut st, t))
            .collect()
    }

    /// Opens a new ticket for `customer` (the customer writes in on `channel`).
    pub fn open_ticket(&self, customer: i64, subject: &str, channel: &str) -> i64 {
        let body =
            serde_json::json!({"customer_id": customer, "subject": subject, "channel": channel});
        support::seed_ticket(&mut self.state(), body)
    }

    /// Replies to, closes, reopens, trashes or marks a ticket as spam; returns the ticket as
    /// listed, `None` when it does not exist.
    pub fn ticket_action(&self, id: i64, action: TicketAction) -> Option<Value> {
        support::act(&mut self.state(), id, action)
    }

    /// Sends the satisfaction survey of a ticket (scored at once when `score` is given).
    /// `None` when the ticket does not exist or already has its survey.
    pub fn add_survey(&self, ticket_id: i64, score: Option<u8>) -> Option<i64> {
        support::add_survey(&mut self.state(), ticket_id, score)
    }

    /// The customer scores survey `id` (1..=5). False when there is no such survey or the
    /// score is out of range.
    pub fn score_survey(&self, id: i64, score: u8) -> bool {
        (1..=5).contains(&score) && support::score_survey(&mut self.state(), id, score)
    }

    /// Seeds generated support history for `customers` (tickets, and surveys on most closed
    /// ones), deterministic for a given `seed`. Returns how many tickets and surveys.
    pub fn seed_support_history(&self, customers: &[i64], seed: u64) -> (usize, usize) {
        let history = crate::generate_support::history(customers, seed, chrono::Utc::now());
        let mut surveys = 0;
        let mut st = self.state();
        for s in &history {
            let id = support::seed_ticket(&mut st, s.ticket.clone());
            if let Some(score) = s.survey
                && support::add_survey(&mut st, id, score).is_some()
            {
                surveys += 1;
            }
        }
        (history.len(), surveys)
    }

    /// Every ticket as listed, in creation order.
    pub fn tickets(&self) -> Vec<Value> {
        self.state().tickets.to_vec()
    }
}
