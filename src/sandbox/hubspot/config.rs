//! [`SandboxConfig`]: every knob of the HubSpot sandbox, including the behaviours the contract
//! marks UNCONFIRMED (so tests can pin either reading). Pure data; must never hold state.

use super::rules::PortalRules;
use super::version::{LegacyPaths, PathVersion};
use crate::secret::Secret;
use std::time::Duration;

/// What a merge leaves behind as the surviving id (contract §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeIdMode {
    /// The default since HubSpot's merge change: both inputs fold into a record with a new id.
    NewId,
    /// The "Primary ID Preservation" beta: the primary keeps its id.
    KeepPrimary,
}

/// How `batch/upsert` by e-mail treats properties absent from an input for an existing
/// contact. The contract only says "partial upserts are not supported"; the exact effect is
/// UNCONFIRMED, so both readings are available.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertEmailMode {
    /// Omitted writable properties are cleared (punishes partial upserts; the default).
    ClearOmitted,
    /// Omitted properties are kept.
    KeepOmitted,
}

/// Webhook delivery of the sandbox (contract §11): contact events POSTed as JSON arrays to
/// `target_url`, signed v3 with `client_secret`, retried on non-2xx or no answer in 5 s.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Full URL events are POSTed to at start; `None` until the app it points at is bound
    /// (events then wait, undelivered, until [`super::HubspotSandbox::set_webhook_target`]).
    pub target_url: Option<String>,
    /// The app's client secret (signature key).
    pub client_secret: Secret,
    /// Property names with a `contact.propertyChange` subscription (empty: every property).
    pub properties: Vec<String>,
    /// Events per request (≤ 100).
    pub max_batch: usize,
    /// Delivery attempts per batch (10 on the real service).
    pub max_attempts: u32,
    /// Delay before retry n is `retry_delay × n` (real: spread over 24 h).
    pub retry_delay: Duration,
    /// Every Nth event is delivered twice (at-least-once); 0 = never.
    pub duplicate_every: u32,
    /// Pause between delivery rounds.
    pub tick: Duration,
}

impl WebhookConfig {
    /// Delivery to `target_url` signed with `client_secret`, other knobs at their defaults.
    pub fn new(target_url: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            target_url: Some(target_url.into()),
            ..Self::unaddressed(client_secret)
        }
    }

    /// Delivery signed with `client_secret` to a target set later, once the receiving app is
    /// bound (port 0): events wait until [`super::HubspotSandbox::set_webhook_target`].
    pub fn unaddressed(client_secret: Secret) -> Self {
        Self {
            target_url: None,
            client_secret,
            properties: vec![],
            max_batch: 100,
            max_attempts: 10,
            retry_delay: Duration::from_secs(60),
            duplicate_every: 7,
            tick: Duration::from_millis(500),
        }
    }
}

/// Behaviour of one HubSpot sandbox. Durations are real-time values; [`SandboxConfig::time_scale`]
/// multiplies every window and lag so tests can run faster than real time.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The bearer token accepted (private-app style).
    pub token: Secret,
    /// Scopes granted to the token; a call needing another answers 403 `MISSING_SCOPES`.
    pub scopes: Vec<String>,
    /// The app id written as `sourceId` of integration writes in property history.
    pub app_id: u64,
    /// The portal (account) id.
    pub portal_id: u64,
    /// Requests allowed per burst window (100 Free/Starter, 190 Pro/Enterprise).
    pub burst_limit: u32,
    /// The rolling burst window (10 s on the real service).
    pub burst_window: Duration,
    /// Requests allowed per day (250,000 Free/Starter).
    pub daily_limit: u64,
    /// Search requests per search window (5 per second).
    pub search_limit: u32,
    /// The search window (1 s).
    pub search_window: Duration,
    /// `policyName` of the search 429 (UNCONFIRMED: `SECONDLY` assumed).
    pub search_policy_name: String,
    /// Send a `Retry-After` header (seconds) with 429s (UNCONFIRMED for REST calls; off).
    pub retry_after_on_429: bool,
    /// Delay before a write becomes visible to search (seconds to ~30 s on the real service).
    pub search_index_lag: Duration,
    /// Which id survives a merge.
    pub merge_id_mode: MergeIdMode,
    /// Whether the new id of a new-id merge is also listed in `hs_merged_object_ids`
    /// (UNCONFIRMED; off).
    pub merged_ids_include_survivor: bool,
    /// Behaviour of partial upserts by e-mail.
    pub upsert_email_mode: UpsertEmailMode,
    /// Whether list `limit` above 100 is rejected with 400 (true) or clamped (false); UNCONFIRMED.
    pub reject_list_limit_over_100: bool,
    /// Whether search still offers `paging.next` (`after` = 10000) when the next page would
    /// pass the 10,000 cap, answering 400 if it is requested (on), or stops offering pages
    /// there (off). UNCONFIRMED.
    pub search_next_at_cap: bool,
    /// Whether stored e-mails are lower-cased (UNCONFIRMED; on).
    pub lowercase_emails: bool,
    /// Whether batch results are shuffled (reversed) instead of following input order, to
    /// catch clients that rely on order (UNCONFIRMED; on).
    pub reorder_batch_results: bool,
    /// Whether an associations batch read lists a contact with no associations of the type
    /// in `errors[]` (207) instead of leaving it out (200). UNCONFIRMED; off.
    pub associations_missing_as_errors: bool,
    /// The HubSpot-defined type of a plain note → contact association, as the labels list it
    /// (HubSpot's docs give 202; tests set another to check clients read the labels).
    pub note_contact_type_id: i64,
    /// Multiplies every window, lag and injected latency (1.0 = real time).
    pub time_scale: f64,
    /// First id handed out.
    pub first_id: u64,
    /// Webhook delivery (off unless set; started by [`super::HubspotSandbox::start`]).
    pub webhook: Option<WebhookConfig>,
    /// Portal validation rules at start (changed at run time by the controls).
    pub portal_rules: PortalRules,
    /// API versions that enforce the portal rules (HubSpot: 2026-09 onwards; whether v3 and
    /// 2026-03 keep ignoring them is UNCONFIRMED, hence configurable).
    pub rules_versions: Vec<PathVersion>,
    /// How legacy `/crm/v3/...` paths are answered at start (today: answered).
    pub legacy_paths: LegacyPaths,
    /// Whether 2026-09 writes of non-midnight date values answer with a
    /// `PROPERTY_VALUE_NORMALIZED` warning (UNCONFIRMED, from third-party reports; on).
    pub date_warnings: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            token: Secret::new("pat-na1-sandbox-token"),
            scopes: vec![
                "crm.objects.contacts.read".into(),
                "crm.objects.contacts.write".into(),
                "crm.schemas.contacts.read".into(),
                "crm.schemas.contacts.write".into(),
                "crm.objects.companies.read".into(),
                "crm.objects.deals.read".into(),
                "crm.objects.owners.read".into(),
            ],
            app_id: 8_151_242,
            portal_id: 4_242_424,
            burst_limit: 100,
            burst_window: Duration::from_secs(10),
            daily_limit: 250_000,
            search_limit: 5,
            search_window: Duration::from_secs(1),
            search_policy_name: "SECONDLY".into(),
            retry_after_on_429: false,
            search_index_lag: Duration::from_secs(2),
            merge_id_mode: MergeIdMode::NewId,
            merged_ids_include_survivor: false,
            upsert_email_mode: UpsertEmailMode::ClearOmitted,
            reject_list_limit_over_100: true,
            search_next_at_cap: true,
            lowercase_emails: true,
            reorder_batch_results: true,
            associations_missing_as_errors: false,
            note_contact_type_id: 202,
            time_scale: 1.0,
            first_id: 1001,
            webhook: None,
            portal_rules: PortalRules::default(),
            rules_versions: vec![PathVersion::V2026_09],
            legacy_paths: LegacyPaths::Answer,
            date_warnings: true,
        }
    }
}

impl SandboxConfig {
    /// A duration after applying [`SandboxConfig::time_scale`].
    pub fn scaled(&self, d: Duration) -> Duration {
        d.mul_f64(self.time_scale.max(0.0))
    }
}
