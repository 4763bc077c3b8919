//! The HubSpot CRM connector (contracts `shared/contracts/hubspot.md` and `hubspot-2026.md`;
//! date-versioned paths from [`paths`]): the change feed over
//! search, batch read/create/update/upsert, merge, custom properties, the token check and
//! the account's portal id (for links to records' pages, `account`),
//! held under the account's rate limits and retrying only what is transient.
//!
//! Works against the real HubSpot unchanged: it relies on nothing the sandbox offers beyond
//! the contract. Must never hold sync decisions (what to write is the engine's call).

mod account;
mod batch;
mod budget;
mod config;
mod context;
mod error;
mod feed;
mod http;
mod merge;
mod notes;
pub mod paths;
mod properties;
mod types;
pub mod wire;

pub use account::{Account, DEFAULT_UI_DOMAIN, account_path, decode_account};
pub use batch::{MAX_NARROWING_CALLS, ReadOutcome, ReadResult, WriteOutcome};
pub use budget::WindowBudget;
pub use config::HubspotConfig;
pub use context::{Associated, ContextCall, Owner, PRIMARY_COMPANY_TYPE_ID, context_path};
pub use error::{HubspotError, ItemError, Refusal, parse_existing_id};
pub use feed::{SearchStep, search_step};
pub use http::{CallCounters, Lane};
pub use notes::{decode_labels, note_key_definition};
pub use paths::{ApiVersion, Paths};
pub use types::{
    BatchResponse, Contact, HistoryEntry, PropertyDefinition, StandardError, WireObject,
};

use http::Transport;
use reqwest::Method;
use std::sync::Arc;

/// Result alias of the connector.
pub type Result<T, E = HubspotError> = std::result::Result<T, E>;

/// A HubSpot client. Cheap to clone; clones share budgets and counters.
#[derive(Debug, Clone)]
pub struct HubspotClient {
    t: Arc<Transport>,
    /// The account details, read once (see `account`).
    account: Arc<tokio::sync::OnceCell<Account>>,
    /// The note → contact association type, once read from HubSpot's labels.
    note_assoc: Arc<std::sync::Mutex<Option<(String, i64)>>>,
}

impl HubspotClient {
    /// A client for `cfg` (no call is made).
    pub fn new(cfg: HubspotConfig) -> Result<Self> {
        Ok(Self {
            t: Arc::new(Transport::new(cfg)?),
            account: Arc::default(),
            note_assoc: Arc::default(),
        })
    }

    fn note_assoc_cached(&self) -> Option<(String, i64)> {
        self.note_assoc
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_note_assoc_cache(&self, t: (String, i64)) {
        *self.note_assoc.lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
    }

    /// The path builder of the configured API version (`hubspot.api_version`).
    pub fn paths(&self) -> Paths {
        self.t.paths()
    }

    /// What was sent and received so far (calls, search calls, 429s, retries).
    pub fn counters(&self) -> CallCounters {
        self.t.counters()
    }

    /// `warnings[]` received on 2xx answers so far, by category (never a failure).
    pub fn warnings(&self) -> std::collections::BTreeMap<String, u64> {
        self.t.warnings()
    }

    /// True once the daily limit is used up: the caller should stop writing and report.
    pub fn daily_limit_reached(&self) -> bool {
        self.t.daily_exhausted()
    }

    /// Clears the daily-limit stop (call at the account's midnight).
    pub fn reset_daily_limit(&self) {
        self.t.reset_daily()
    }

    /// One cheap call (`GET /crm/objects/{V}/contacts?limit=1`) that proves the token works
    /// and has the contacts read scope. 401/403 come back as [`HubspotError::Api`] with
    /// category `INVALID_AUTHENTICATION` or `MISSING_SCOPES`.
    pub async fn check_token(&self) -> Result<()> {
        let url = self
            .t
            .url(&self.paths().contacts(&[]), &[("limit", "1".into())])?;
        self.t.send(Method::GET, url, None, Lane::Burst).await?;
        Ok(())
    }

    /// One cheap call (`GET /crm/properties/{V}/contacts/email`) that proves the credential
    /// may read property definitions (`crm.schemas.contacts.read`, or the contacts read
    /// scope). A 403 names the missing scope ([`HubspotError::missing_scopes`]).
    pub async fn check_properties_read(&self) -> Result<()> {
        let url = self
            .t
            .url(&self.paths().properties("contacts", &["email"]), &[])?;
        self.t.send(Method::GET, url, None, Lane::Burst).await?;
        Ok(())
    }

    /// `GET /crm/objects/{V}/contacts/{id}`; `Ok(None)` on 404. A merged-away id answers with
    /// the survivor (check `contact.id`).
    pub async fn get(&self, id: &str, properties: &[&str]) -> Result<Option<Contact>> {
        let segs = self.paths().contacts(&[id]);
        let mut q = vec![];
        if !properties.is_empty() {
            q.push(("properties", properties.join(",")));
        }
        let url = self.t.url(&segs, &q)?;
        match self.t.send(Method::GET, url, None, Lane::Burst).await {
            Ok(a) => Ok(Some(wire::contact("contacts/{id}", a.body)?)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every live contact through the list endpoint (`limit=100`, `after` cursor), for a
    /// full backfill without search's 10,000 cap.
    pub async fn list_all(&self, properties: &[&str]) -> Result<Vec<Contact>> {
        let mut out = vec![];
        let mut after: Option<String> = None;
        loop {
            let mut q = vec![("limit", "100".to_string())];
            if !properties.is_empty() {
                q.push(("properties", properties.join(",")));
            }
            if let Some(a) = &after {
                q.push(("after", a.clone()));
            }
            let url = self.t.url(&self.paths().contacts(&[]), &q)?;
            let a = self.t.send(Method::GET, url, None, Lane::Burst).await?;
            let page = wire::list_page(a.body)?;
            out.extend(page.contacts);
            match page.next_after {
                Some(n) if Some(&n) != after.as_ref() => after = Some(n),
                _ => return Ok(out),
            }
        }
    }
}
