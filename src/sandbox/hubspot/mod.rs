//! The HubSpot CRM sandbox: contacts, batch, search, merge, properties, property history,
//! notes with their association labels (`notes.rs`) and rate limits, in memory, served over real HTTP on the legacy `/crm/v3` paths and the
//! dated `2026-03` / `2026-09` ones, following `shared/contracts/hubspot.md` and
//! `hubspot-2026.md` (portal validation rules, `warnings[]`, the post-2027 legacy switch).
//!
//! Owns the sandbox's public API ([`HubspotSandbox`], [`SandboxConfig`]) and the in-process
//! controls that mirror the `/__sandbox/` HTTP control endpoints. Must never be called by sync
//! code except over HTTP, and never relax a contract rule for a client's convenience.

mod account;
mod config;
mod crm_context;
mod errors;
mod faults;
mod gate;
mod limits;
mod notes;
mod properties;
mod render;
mod routes;
mod rules;
mod search;
mod store;
mod version;
mod webhooks;

pub use config::{MergeIdMode, SandboxConfig, UpsertEmailMode, WebhookConfig};
pub use faults::{Fault, FaultKind};
pub use gate::Counters;
pub use rules::{BatchMode, ConditionalRequired, PortalRules};
pub use version::{LegacyPaths, PathVersion};
pub use webhooks::sign_v3;

use store::{Source, Store, WriteError};

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Shared state behind every handler.
#[derive(Debug)]
struct Shared {
    cfg: SandboxConfig,
    store: Mutex<Store>,
    limits: Mutex<limits::Limits>,
    counters: Mutex<Counters>,
    faults: Mutex<Vec<Fault>>,
    portal: Mutex<Portal>,
    crm: Mutex<crm_context::CrmObjects>,
    notes: Mutex<notes::Notes>,
    /// Where webhook deliveries go (from [`WebhookConfig::target_url`], changed by
    /// [`HubspotSandbox::set_webhook_target`]); `None`: events wait for a target.
    webhook_target: Mutex<Option<String>>,
}

/// The run-time switches of the portal (set from the config, changed by the controls).
#[derive(Debug, Clone)]
struct Portal {
    rules: PortalRules,
    legacy: LegacyPaths,
    date_warnings: bool,
}

/// A running-or-not HubSpot sandbox. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct HubspotSandbox {
    inner: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HubspotSandbox {
    /// An empty sandbox with `cfg`.
    pub fn new(cfg: SandboxConfig) -> Self {
        let store = Store::new(&cfg);
        let note_type = cfg.note_contact_type_id;
        let portal = Portal {
            rules: cfg.portal_rules.clone(),
            legacy: cfg.legacy_paths,
            date_warnings: cfg.date_warnings,
        };
        let webhook_target = cfg.webhook.as_ref().and_then(|w| w.target_url.clone());
        Self {
            inner: Arc::new(Shared {
                portal: Mutex::new(portal),
                webhook_target: Mutex::new(webhook_target),
                cfg,
                store: Mutex::new(store),
                limits: Mutex::new(limits::Limits::default()),
                counters: Mutex::new(Counters::default()),
                faults: Mutex::new(vec![]),
                crm: Mutex::new(crm_context::CrmObjects::default()),
                notes: Mutex::new(notes::Notes::new(note_type)),
            }),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.cfg
    }

    /// The HubSpot API routes plus the `/__sandbox/` controls.
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }

    /// Serves a new sandbox on `addr` (port 0 = any free port), and starts webhook delivery
    /// when [`SandboxConfig::webhook`] is set (it ends when the sandbox is dropped).
    pub async fn start(
        cfg: SandboxConfig,
        addr: SocketAddr,
    ) -> std::io::Result<(HubspotSandbox, crate::sandbox::Running)> {
        let sb = HubspotSandbox::new(cfg);
        let running = crate::sandbox::serve(sb.router(), addr).await?;
        let _ = webhooks::spawn(&sb.inner);
        Ok((sb, running))
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }

    fn notes_state(&self) -> MutexGuard<'_, notes::Notes> {
        lock(&self.inner.notes)
    }

    /// Seeds contacts as pre-existing, already-indexed records (history source `IMPORT`),
    /// all stamped with the same `createdate`/`lastmodifieddate`, as a bulk import does.
    /// Returns the id of each row; a row whose e-mail is taken yields the existing id, an
    /// invalid row is skipped.
    pub fn seed_contacts(&self, rows: Vec<BTreeMap<String, String>>) -> Vec<String> {
        let mut s = self.store();
        // Pre-existing data: no webhook events.
        let events = s.events.take();
        let (clock, at) = (chrono::Utc::now(), Instant::now());
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            match s.create(&row, Source::Import, clock, at, true) {
                Ok(id) | Err(WriteError::Conflict(id)) => ids.push(id.to_string()),
                Err(e) => tracing::warn!(error = ?e, "sandbox seed row rejected"),
            }
        }
        s.events = events;
        ids
    }

    /// Edits a contact as a person in the UI would (history `CRM_UI`, `userId:1`).
    pub fn edit_as_person(&self, id: &str, props: BTreeMap<String, String>) -> Result<(), String> {
        let mut s = self.store();
        let target = s
            .lookup(id, false)
            .ok_or_else(|| format!("no contact {id}"))?;
        s.update(
            target,
            &props,
            Source::Person(1),
            chrono::Utc::now(),
            Instant::now(),
        )
        .map_err(|e| format!("{e:?}"))
    }

    /// Merges two contacts as a person would; returns the surviving id.
    pub fn merge_as_person(&self, primary: &str, secondary: &str) -> Result<String, String> {
        let mut s = self.store();
        let p = primary.parse().map_err(|_| format!("bad id {primary}"))?;
        let q = secondary
            .parse()
            .map_err(|_| format!("bad id {secondary}"))?;
        s.merge(p, q, chrono::Utc::now(), Instant::now())
            .map(|id| id.to_string())
            .map_err(|e| e.body.to_string())
    }

    /// The current record holding `id` (aliases followed), with every set property and its
    /// history, or `None`.
    pub fn contact(&self, id: &str) -> Option<Value> {
        let s = self.store();
        let rid = s.resolve(id.trim().parse().ok()?)?;
        let c = s.contacts.get(&rid)?;
        let names: Vec<String> = c.props.keys().cloned().collect();
        Some(s.render(c, Some(&names), &names))
    }

    /// Whether search sees every write made so far (the index lag has passed for each):
    /// what tests await instead of sleeping through the lag.
    pub fn search_index_current(&self) -> bool {
        let now = Instant::now();
        self.store()
            .index
            .values()
            .all(|v| v.last().is_none_or(|(t, _)| *t <= now))
    }

    /// Number of live (not archived, not merged-away) contacts.
    pub fn live_count(&self) -> usize {
        self.store()
            .contacts
            .values()
            .filter(|c| c.archived_at.is_none())
            .count()
    }

    /// Calls received by endpoint, 429s sent, faults served.
    pub fn counters(&self) -> Counters {
        lock(&self.inner.counters).clone()
    }

    /// Zeroes the counters.
    pub fn reset_counters(&self) {
        *lock(&self.inner.counters) = Counters::default();
    }

    /// Arms a fault.
    pub fn inject_fault(&self, fault: Fault) {
        lock(&self.inner.faults).push(fault);
    }

    /// Disarms every fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.faults).clear();
    }

    /// Sets the portal's validation rules (replacing any set before).
    pub fn set_portal_rules(&self, rules: PortalRules) {
        lock(&self.inner.portal).rules = rules;
    }

    /// Lifts every portal validation rule.
    pub fn clear_portal_rules(&self) {
        lock(&self.inner.portal).rules = PortalRules::default();
    }

    /// The portal validation rules in force.
    pub fn portal_rules(&self) -> PortalRules {
        lock(&self.inner.portal).rules.clone()
    }

    /// The rules a write on `version` must follow: `None` when that version does not enforce
    /// them ([`SandboxConfig::rules_versions`]) or no rule is set.
    fn rules_for(&self, version: PathVersion) -> Option<PortalRules> {
        if !self.inner.cfg.rules_versions.contains(&version) {
            return None;
        }
        let rules = self.portal_rules();
        (!rules.is_empty()).then_some(rules)
    }

    /// How legacy `/crm/v3/...` paths are answered from now on.
    pub fn set_legacy_paths(&self, mode: LegacyPaths) {
        lock(&self.inner.portal).legacy = mode;
    }

    /// How legacy `/crm/v3/...` paths are answered.
    pub fn legacy_paths(&self) -> LegacyPaths {
        lock(&self.inner.portal).legacy
    }

    /// Turns the 2026-09 `PROPERTY_VALUE_NORMALIZED` warnings on or off.
    pub fn set_date_warnings(&self, on: bool) {
        lock(&self.inner.portal).date_warnings = on;
    }

    /// Points webhook delivery at `url` from the next delivery round on (batches waiting for
    /// a target or for a retry go there too), so a test can start the sandbox first and the
    /// app on port 0 after. Returns false, changing nothing, when webhooks are not configured.
    pub fn set_webhook_target(&self, url: impl Into<String>) -> bool {
        if self.inner.cfg.webhook.is_none() {
            return false;
        }
        *lock(&self.inner.webhook_target) = Some(url.into());
        true
    }

    /// Where webhook deliveries go now (`None`: nowhere yet, events wait).
    pub fn webhook_target(&self) -> Option<String> {
        lock(&self.inner.webhook_target).clone()
    }

    /// Whether a write on `version` gets `warnings[]` for normalised date values.
    pub fn date_warnings_for(&self, version: PathVersion) -> bool {
        version == PathVersion::V2026_09 && lock(&self.inner.portal).date_warnings
    }
}
