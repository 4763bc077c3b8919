//! Layered configuration: built-in defaults < `tether.toml` (or `--config PATH`) <
//! environment variables `TETHER__SECTION__KEY`.
//!
//! Owns the [`Settings`] tree, its defaults, and turning every configuration mistake into a
//! [`ConfigError`] that names the key, where its value came from and what was expected.
//! Must never print a secret (they are [`Secret`]s) and never touch the network or the store.

use crate::connectors::hubspot::ApiVersion;
use crate::domain::Region;
use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

mod defaults;
mod layers;
mod typed;
mod validate;

pub use defaults::DEFAULTS;
pub use layers::{Loaded, Origin, Sources, load};
pub use typed::{
    ConnectionName, CronSchedule, HttpUrl, SettingValue, StoreUrl, StoreUrlError, redact_password,
};

/// The prefix of every environment variable tether reads.
pub const ENV_PREFIX: &str = "TETHER";
/// Separator between prefix, section and key: `TETHER__STORE__URL`.
pub const ENV_SEPARATOR: &str = "__";
/// The file read when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "tether.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub hubspot: HubspotSettings,
    pub gorgias: GorgiasSettings,
    pub store: StoreSettings,
    pub connection: ConnectionSettings,
    pub mappings: MappingsSettings,
    pub schedule: ScheduleSettings,
    pub server: ServerSettings,
    pub sync: SyncSettings,
    pub matching: MatchingSettings,
    pub log: LogSettings,
    pub sidebar: SidebarSettings,
    pub support: SupportSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubspotSettings {
    /// `https://api.hubapi.com` for the real service.
    #[serde(with = "typed")]
    pub base_url: HttpUrl,
    /// A private-app or OAuth access token, sent as `Authorization: Bearer`.
    pub token: Secret,
    /// The app's client secret, used to check webhook signatures (v3).
    pub client_secret: Secret,
    /// The HubSpot API version of every call: `2026-09` (default), `2026-03`, or `v3`
    /// (legacy, unsupported from September 2027).
    pub api_version: ApiVersion,
    /// Requests allowed per 10-second window (100 or 190 depending on the account tier).
    pub burst_limit: u32,
    /// Length of the burst window in milliseconds (10,000 for the real service).
    pub burst_window_ms: u64,
    /// Search requests allowed per second (5 for the real service).
    pub search_per_second: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GorgiasSettings {
    /// `https://{domain}.gorgias.com`: replace `{domain}` with the account's subdomain.
    pub base_url: String,
    /// The e-mail of the user the API key belongs to (Basic auth user name).
    pub username: String,
    pub api_key: Secret,
    /// Requests allowed per leaky-bucket window (40 per 20 s for Basic auth).
    pub bucket_limit: u32,
    /// Length of the leaky-bucket window in milliseconds (20,000 for the real service).
    pub bucket_window_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSettings {
    /// `sqlite://PATH` (created when missing), `sqlite::memory:`, or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (the connection's schema is created
    /// when missing).
    #[serde(with = "typed")]
    pub url: StoreUrl,
    /// How long a writer waits for a lock held by a reader before failing.
    pub busy_timeout_ms: u64,
    /// PostgreSQL only: how long the writer lease lasts without a renewal, in seconds
    /// (3 to 600); a standby takes over within about this long after the leader stops.
    pub lease_seconds: u64,
}

impl StoreSettings {
    /// The writer lease's time to live (`store.lease_seconds`).
    pub fn lease_ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.lease_seconds)
    }
}

/// Which sync connection this process serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSettings {
    /// `connection.name` (default `default`): keys every row of a PostgreSQL store (one
    /// schema `tether_<name>` per connection), so one database serves many brands. A
    /// SQLite file holds one connection; the name is not used there.
    #[serde(with = "typed")]
    pub name: ConnectionName,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingsSettings {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// A cron expression with a seconds field: `sec min hour day-of-month month day-of-week`.
    #[serde(with = "typed")]
    pub cron: CronSchedule,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    #[serde(with = "typed")]
    pub listen: SocketAddr,
    /// Token that protects the review page and its JSON API.
    pub review_token: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// ISO region used to read phone numbers written without a country code.
    #[serde(with = "typed")]
    pub default_region: Region,
    /// How far before the watermark each change feed starts again, in seconds.
    pub overlap_seconds: u64,
    /// Most counterparts one cycle may create before it refuses (see `--allow-large`).
    pub max_creates: u32,
    /// Most non-empty values one cycle may overwrite before it refuses.
    pub max_overwrites: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchingSettings {
    /// Pairs scoring at or above this are proposed for review.
    pub review_threshold: f64,
    /// Pairs scoring at or above this merge automatically; `1.01` (never) by default.
    pub auto_merge_threshold: f64,
    /// Most automatic merges in one cycle.
    pub auto_merge_cap: u32,
    /// A model written by `tether match train` to score with; empty: the hand-set weights.
    pub model: String,
    /// When `tether run` runs the full duplicate scan (`tether merges scan`), a cron
    /// expression like `schedule.cron`; empty: never.
    pub scan_cron: String,
}

impl MatchingSettings {
    /// The configured model file, if any.
    pub fn model_path(&self) -> Option<std::path::PathBuf> {
        (!self.model.trim().is_empty()).then(|| std::path::PathBuf::from(self.model.trim()))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Mask customer e-mails and phones in logs.
    pub mask_pii: bool,
}

/// The Gorgias sidebar (docs/sidebar.md): the widgets `tether setup` installs and the card
/// endpoint `tether run` serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SidebarSettings {
    /// What `tether setup` installs in Gorgias: `none`, `widget` (the `custom` widget over
    /// `data.tether`) or `card` (that widget plus the HTTP integration and its widget).
    pub install: String,
    /// Name of tether's HTTP integration in Gorgias and title of its widgets.
    pub name: String,
    /// tether's base URL as Gorgias reaches it (`https://sync.example.com`), for the card.
    pub public_url: String,
    /// Secret Gorgias sends in `card_header`; the card endpoint is off while it is empty.
    pub card_secret: Secret,
    /// Header carrying the secret.
    pub card_header: String,
    /// How long a contact's HubSpot context is reused before it is read again.
    pub cache_seconds: u64,
    /// Most open deals a card lists.
    pub max_deals: u32,
    /// The HubSpot portal (hub) id, for links to the contact record; no link when empty.
    pub hubspot_portal_id: String,
    /// Base URL of the HubSpot app, for those links.
    pub hubspot_app_url: String,
    /// Card requests allowed per source address per minute (and wrong secrets: 10 a minute).
    pub requests_per_minute: u32,
}
/// `[support]`: support activity (issue 14) beyond the mappings' roll-up fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportSettings {
    /// One HubSpot note on the contact per closed Gorgias ticket (off by default; needs
    /// `tether setup` for the notes' key property).
    pub notes: bool,
}

/// A configuration mistake, phrased for the person who made it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} cannot be read: {reason}")]
    FileUnreadable { path: PathBuf, reason: String },
    #[error("configuration file {path} is not valid TOML: {reason}")]
    FileSyntax { path: PathBuf, reason: String },
    #[error("configuration key `{key}` (from {origin}): {problem}; expected {expected}")]
    Key {
        key: String,
        origin: Origin,
        problem: String,
        expected: String,
    },
    #[error("configuration: {0}")]
    Other(String),
}

impl Settings {
    /// The settings of the built-in defaults alone (no file, no environment): the one
    /// source of the defaults other types' `Default` impls read (e.g. `CycleOptions`).
    pub fn built_in() -> Settings {
        load(Sources::default())
            .map(|l| l.settings)
            .expect("the built-in defaults are valid (config::tests checks them)")
    }

    /// The phone region (`sync.default_region`).
    pub fn default_region(&self) -> Region {
        self.sync.default_region
    }

    /// The SQLite file path in `store.url`, when it names one.
    pub fn store_path(&self) -> Option<PathBuf> {
        self.store.url.path().map(PathBuf::from)
    }

    /// Whether the Gorgias base URL still holds the `{domain}` placeholder.
    pub fn gorgias_configured(&self) -> bool {
        !self.gorgias.base_url.contains("{domain}")
    }
}

#[cfg(test)]
mod tests;
