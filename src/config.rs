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
use std::path::{Path, PathBuf};

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
    pub mappings: MappingsSettings,
    pub schedule: ScheduleSettings,
    pub server: ServerSettings,
    pub sync: SyncSettings,
    pub matching: MatchingSettings,
    pub log: LogSettings,
    pub sidebar: SidebarSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubspotSettings {
    /// `https://api.hubapi.com` for the real service.
    pub base_url: String,
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
    /// `sqlite://PATH` (created when missing) or `sqlite::memory:`.
    pub url: String,
    /// How long a writer waits for a lock held by a reader before failing.
    pub busy_timeout_ms: u64,
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
    pub cron: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub listen: String,
    /// Token that protects the review page and its JSON API.
    pub review_token: Secret,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// ISO region used to read phone numbers written without a country code.
    pub default_region: String,
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

/// The built-in defaults, as `(key, value)` pairs: the lowest configuration layer.
pub const DEFAULTS: &[(&str, &str)] = &[
    ("hubspot.base_url", "https://api.hubapi.com"),
    ("hubspot.token", ""),
    ("hubspot.client_secret", ""),
    ("hubspot.api_version", "2026-09"),
    ("hubspot.burst_limit", "100"),
    ("hubspot.burst_window_ms", "10000"),
    ("hubspot.search_per_second", "5"),
    ("gorgias.base_url", "https://{domain}.gorgias.com"),
    ("gorgias.username", ""),
    ("gorgias.api_key", ""),
    ("gorgias.bucket_limit", "40"),
    ("gorgias.bucket_window_ms", "20000"),
    ("store.url", "sqlite://tether.db"),
    ("store.busy_timeout_ms", "5000"),
    ("mappings.dir", "mappings"),
    ("schedule.cron", "0 */5 * * * *"),
    ("server.listen", "127.0.0.1:8080"),
    ("server.review_token", ""),
    ("sync.default_region", "US"),
    ("sync.overlap_seconds", "300"),
    ("sync.max_creates", "500"),
    ("sync.max_overwrites", "1000"),
    ("matching.review_threshold", "0.80"),
    ("matching.auto_merge_threshold", "1.01"),
    ("matching.auto_merge_cap", "20"),
    ("matching.model", ""),
    ("matching.scan_cron", "0 0 3 * * Sun"),
    ("log.mask_pii", "true"),
    ("sidebar.install", "none"),
    ("sidebar.name", "HubSpot (tether)"),
    ("sidebar.public_url", ""),
    ("sidebar.card_secret", ""),
    ("sidebar.card_header", "X-Tether-Card-Secret"),
    ("sidebar.cache_seconds", "300"),
    ("sidebar.max_deals", "3"),
    ("sidebar.hubspot_portal_id", ""),
    ("sidebar.hubspot_app_url", "https://app.hubspot.com"),
    ("sidebar.requests_per_minute", "600"),
];

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    Env(String),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Default => f.write_str("the built-in default"),
            Origin::File(p) => write!(f, "the file {}", p.display()),
            Origin::Env(v) => write!(f, "the environment variable {v}"),
        }
    }
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

/// Where the layers come from; tests pass their own environment.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The file to read; `None` reads nothing but defaults and environment.
    pub file: Option<PathBuf>,
    /// Environment variables (name, value); only `TETHER__…` ones are read.
    pub env: Vec<(String, String)>,
}

impl Sources {
    /// `--config PATH` when given (it must exist), else `tether.toml` when it exists, plus the
    /// process environment.
    pub fn from_process(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match explicit {
            Some(p) => {
                if !p.is_file() {
                    return Err(ConfigError::FileUnreadable {
                        path: p.to_owned(),
                        reason: "no such file (given by --config)".into(),
                    });
                }
                Some(p.to_owned())
            }
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                p.is_file().then_some(p)
            }
        };
        Ok(Self {
            file,
            env: std::env::vars().collect(),
        })
    }

    fn env_var_for(key: &str) -> String {
        format!(
            "{ENV_PREFIX}{ENV_SEPARATOR}{}",
            key.replace('.', ENV_SEPARATOR).to_ascii_uppercase()
        )
    }

    /// Which layer a key's effective value came from.
    pub fn origin_of(&self, key: &str, file_table: Option<&toml::Table>) -> Origin {
        let var = Self::env_var_for(key);
        if self.env.iter().any(|(k, _)| k == &var) {
            return Origin::Env(var);
        }
        if let (Some(path), Some(table)) = (&self.file, file_table) {
            let mut node: Option<&toml::Value> = None;
            let mut cur = table;
            let parts: Vec<&str> = key.split('.').collect();
            for (i, part) in parts.iter().enumerate() {
                match cur.get(*part) {
                    Some(toml::Value::Table(t)) if i + 1 < parts.len() => cur = t,
                    Some(v) if i + 1 == parts.len() => node = Some(v),
                    _ => break,
                }
            }
            if node.is_some() {
                return Origin::File(path.clone());
            }
        }
        Origin::Default
    }
}

/// Loaded settings and where each came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub sources: Sources,
    file_table: Option<toml::Table>,
}

impl Loaded {
    pub fn origin_of(&self, key: &str) -> Origin {
        self.sources.origin_of(key, self.file_table.as_ref())
    }
}

/// Reads and checks the configuration from its layers.
pub fn load(sources: Sources) -> Result<Loaded, ConfigError> {
    use config::{Config, Environment, File, FileFormat};

    let file_table = match &sources.file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::FileUnreadable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::FileSyntax {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
            Some((text, table))
        }
        None => None,
    };

    let mut builder = Config::builder();
    for (k, v) in DEFAULTS {
        builder = builder
            .set_default(*k, *v)
            .map_err(|e| ConfigError::Other(e.to_string()))?;
    }
    if let Some((text, _)) = &file_table {
        builder = builder.add_source(File::from_str(text, FileFormat::Toml));
    }
    let env_map: config::Map<String, String> = sources
        .env
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}{ENV_SEPARATOR}")))
        .cloned()
        .collect();
    builder = builder.add_source(
        Environment::with_prefix(ENV_PREFIX)
            .prefix_separator(ENV_SEPARATOR)
            .separator(ENV_SEPARATOR)
            .source(Some(env_map)),
    );
    let table = file_table.map(|(_, t)| t);
    let cfg = builder
        .build()
        .map_err(|e| ConfigError::Other(e.to_string()))?;

    let settings: Settings = cfg
        .try_deserialize()
        .map_err(|e| describe_deserialize_error(&e.to_string(), &sources, table.as_ref()))?;
    let loaded = Loaded {
        settings,
        sources,
        file_table: table,
    };
    validate(&loaded)?;
    Ok(loaded)
}

/// Turns the `config` crate's message into one that names the key and its origin.
fn describe_deserialize_error(
    msg: &str,
    sources: &Sources,
    table: Option<&toml::Table>,
) -> ConfigError {
    // The crate says "<problem> for key `section.key`"; for an unknown key the problem is
    // "unknown field `x`, expected `a` or `b`" and the key is the enclosing section.
    let between = |s: &str, open: &str| {
        s.split(open)
            .nth(1)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    let context = between(msg, "for key `");
    let problem = msg.split(" for key").next().unwrap_or(msg).to_owned();
    if let Some(field) = between(msg, "unknown field `") {
        let key = match context {
            Some(section) if !section.is_empty() => format!("{section}.{field}"),
            _ => field,
        };
        let expected = problem
            .split(", expected ")
            .nth(1)
            .map(|keys| format!("one of {keys} (see README.md, Configuration)"))
            .unwrap_or_else(|| "one of the keys listed in README.md (Configuration)".into());
        return ConfigError::Key {
            origin: sources.origin_of(&key, table),
            key,
            problem: "unknown key".into(),
            expected,
        };
    }
    match context {
        Some(key) => ConfigError::Key {
            origin: sources.origin_of(&key, table),
            expected: expected_for(&key),
            key,
            problem,
        },
        None => ConfigError::Other(msg.to_owned()),
    }
}

fn expected_for(key: &str) -> String {
    if key == "hubspot.api_version" {
        return ApiVersion::NAMES.into();
    }
    let numeric = DEFAULTS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.parse::<f64>().is_ok())
        .unwrap_or(false);
    let boolean = DEFAULTS
        .iter()
        .any(|(k, v)| *k == key && (*v == "true" || *v == "false"));
    if boolean {
        "true or false".into()
    } else if numeric {
        "a number".into()
    } else {
        "a string".into()
    }
}

fn key_error(
    loaded: &Loaded,
    key: &str,
    problem: impl Into<String>,
    expected: &str,
) -> ConfigError {
    ConfigError::Key {
        key: key.to_owned(),
        origin: loaded.origin_of(key),
        problem: problem.into(),
        expected: expected.to_owned(),
    }
}

fn validate_sidebar(loaded: &Loaded) -> Result<(), ConfigError> {
    let sb = &loaded.settings.sidebar;
    if !["none", "widget", "card"].contains(&sb.install.as_str()) {
        return Err(key_error(
            loaded,
            "sidebar.install",
            format!("{:?} is not a choice", sb.install),
            "none, widget or card",
        ));
    }
    if sb.name.trim().is_empty() {
        return Err(key_error(loaded, "sidebar.name", "is empty", "a name"));
    }
    if sb.card_header.parse::<axum::http::HeaderName>().is_err() {
        return Err(key_error(
            loaded,
            "sidebar.card_header",
            format!("{:?} is not a header name", sb.card_header),
            "an HTTP header name such as X-Tether-Card-Secret",
        ));
    }
    if !sb.public_url.is_empty()
        && !url::Url::parse(&sb.public_url)
            .is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http")
    {
        return Err(key_error(
            loaded,
            "sidebar.public_url",
            format!("{:?} is not a URL", sb.public_url),
            "an http:// or https:// URL",
        ));
    }
    if sb.install == "card" && (sb.public_url.is_empty() || sb.card_secret.is_empty()) {
        return Err(key_error(
            loaded,
            "sidebar.install",
            "\"card\" needs sidebar.public_url and sidebar.card_secret",
            "both set, or install = \"widget\"",
        ));
    }
    for (key, v) in [
        ("sidebar.cache_seconds", sb.cache_seconds),
        ("sidebar.max_deals", sb.max_deals as u64),
        ("sidebar.requests_per_minute", sb.requests_per_minute as u64),
    ] {
        if v == 0 {
            return Err(key_error(loaded, key, "is 0", "a number above 0"));
        }
    }
    Ok(())
}

fn validate(loaded: &Loaded) -> Result<(), ConfigError> {
    let s = &loaded.settings;
    for (key, value) in [
        ("hubspot.base_url", &s.hubspot.base_url),
        ("gorgias.base_url", &s.gorgias.base_url),
    ] {
        let shown = value.replace("{domain}", "domain");
        match url::Url::parse(&shown) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            Ok(u) => {
                return Err(key_error(
                    loaded,
                    key,
                    format!("{value:?} has scheme {:?}", u.scheme()),
                    "an http:// or https:// URL",
                ));
            }
            Err(e) => {
                return Err(key_error(
                    loaded,
                    key,
                    format!("{value:?} is not a URL ({e})"),
                    "an http:// or https:// URL",
                ));
            }
        }
    }
    validate_sidebar(loaded)?;
    if !(s.store.url.starts_with("sqlite:")) {
        return Err(key_error(
            loaded,
            "store.url",
            format!("{:?} is not a SQLite URL", s.store.url),
            "sqlite://PATH or sqlite::memory:",
        ));
    }
    if let Err(e) = s.schedule.cron.parse::<cron::Schedule>() {
        return Err(key_error(
            loaded,
            "schedule.cron",
            format!("{:?} is not a cron expression ({e})", s.schedule.cron),
            "six or seven fields: sec min hour day-of-month month day-of-week [year], e.g. \"0 */5 * * * *\"",
        ));
    }
    let scan_cron = s.matching.scan_cron.trim();
    if !scan_cron.is_empty()
        && let Err(e) = scan_cron.parse::<cron::Schedule>()
    {
        return Err(key_error(
            loaded,
            "matching.scan_cron",
            format!("{scan_cron:?} is not a cron expression ({e})"),
            "six or seven fields like schedule.cron (e.g. \"0 0 3 * * Sun\", weekly), or empty for never",
        ));
    }
    if s.server.listen.parse::<SocketAddr>().is_err() {
        return Err(key_error(
            loaded,
            "server.listen",
            format!("{:?} is not an address", s.server.listen),
            "IP:PORT such as 127.0.0.1:8080",
        ));
    }
    if s.sync.default_region.parse::<Region>().is_err() {
        return Err(key_error(
            loaded,
            "sync.default_region",
            format!("{:?} is not a region code", s.sync.default_region),
            "an ISO 3166 alpha-2 code such as US, GB or FR",
        ));
    }
    for (key, v) in [
        ("matching.review_threshold", s.matching.review_threshold),
        (
            "matching.auto_merge_threshold",
            s.matching.auto_merge_threshold,
        ),
    ] {
        if !(0.0..=1.01).contains(&v) {
            return Err(key_error(
                loaded,
                key,
                format!("{v} is out of range"),
                "a score between 0 and 1 (1.01 turns auto-merge off)",
            ));
        }
    }
    // The matcher caps pairs that look like relatives (same household, different first
    // names) at RELATIVES_CAP; an auto-merge threshold at or below it would merge them.
    let auto = s.matching.auto_merge_threshold;
    if auto <= crate::matcher::RELATIVES_CAP {
        return Err(key_error(
            loaded,
            "matching.auto_merge_threshold",
            format!(
                "{auto} would merge relatives without review (they score up to {})",
                crate::matcher::RELATIVES_CAP
            ),
            "a score above 0.90 (0.99 recommended), or 1.01 to keep auto-merge off",
        ));
    }
    if auto < s.matching.review_threshold {
        return Err(key_error(
            loaded,
            "matching.auto_merge_threshold",
            format!(
                "{auto} is below matching.review_threshold ({})",
                s.matching.review_threshold
            ),
            "a score at or above the review threshold",
        ));
    }
    for (key, v) in [
        ("hubspot.burst_limit", s.hubspot.burst_limit as u64),
        ("hubspot.burst_window_ms", s.hubspot.burst_window_ms),
        (
            "hubspot.search_per_second",
            s.hubspot.search_per_second as u64,
        ),
        ("gorgias.bucket_limit", s.gorgias.bucket_limit as u64),
        ("gorgias.bucket_window_ms", s.gorgias.bucket_window_ms),
    ] {
        if v == 0 {
            return Err(key_error(
                loaded,
                key,
                "0 would allow no request",
                "a positive number",
            ));
        }
    }
    Ok(())
}

impl Settings {
    /// The phone region, already validated by [`load`].
    pub fn default_region(&self) -> Region {
        self.sync.default_region.parse().unwrap_or_default()
    }

    /// The SQLite file path in `store.url`, when it names one.
    pub fn store_path(&self) -> Option<PathBuf> {
        let rest = self.store.url.strip_prefix("sqlite:")?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let rest = rest.split('?').next().unwrap_or(rest);
        (!rest.is_empty() && rest != ":memory:").then(|| PathBuf::from(rest))
    }

    /// Whether the Gorgias base URL still holds the `{domain}` placeholder.
    pub fn gorgias_configured(&self) -> bool {
        !self.gorgias.base_url.contains("{domain}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_alone() {
        let l = load(Sources::default()).unwrap();
        assert_eq!(l.settings.hubspot.base_url, "https://api.hubapi.com");
        assert_eq!(l.settings.store.url, "sqlite://tether.db");
        assert_eq!(l.settings.mappings.dir, PathBuf::from("mappings"));
        assert_eq!(l.settings.server.listen, "127.0.0.1:8080");
        assert!(!l.settings.gorgias_configured());
        assert_eq!(l.origin_of("store.url"), Origin::Default);
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let f = file("[store]\nurl = \"sqlite://from-file.db\"\n[mappings]\ndir = \"maps\"\n");
        let l = load(Sources {
            file: Some(f.path().to_owned()),
            env: env(&[
                ("TETHER__STORE__URL", "sqlite://from-env.db"),
                ("TETHER__HUBSPOT__TOKEN", "pat-123"),
                ("TETHER__GORGIAS__BASE_URL", "https://acme.gorgias.com"),
                ("UNRELATED", "x"),
            ]),
        })
        .unwrap();
        assert_eq!(l.settings.store.url, "sqlite://from-env.db");
        assert_eq!(l.settings.mappings.dir, PathBuf::from("maps"));
        assert_eq!(l.settings.hubspot.token.expose(), "pat-123");
        assert!(l.settings.gorgias_configured());
        assert_eq!(
            l.origin_of("store.url"),
            Origin::Env("TETHER__STORE__URL".into())
        );
        assert_eq!(
            l.origin_of("mappings.dir"),
            Origin::File(f.path().to_owned())
        );
        assert_eq!(l.settings.store_path(), Some(PathBuf::from("from-env.db")));
    }

    #[test]
    fn env_numbers_are_parsed() {
        let l = load(Sources {
            file: None,
            env: env(&[
                ("TETHER__HUBSPOT__BURST_LIMIT", "190"),
                ("TETHER__LOG__MASK_PII", "false"),
            ]),
        })
        .unwrap();
        assert_eq!(l.settings.hubspot.burst_limit, 190);
        assert!(!l.settings.log.mask_pii);
    }

    #[test]
    fn a_bad_value_names_key_origin_and_expectation() {
        let err = load(Sources {
            file: None,
            env: env(&[("TETHER__HUBSPOT__BURST_LIMIT", "lots")]),
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("hubspot.burst_limit"), "{err}");
        assert!(err.contains("TETHER__HUBSPOT__BURST_LIMIT"), "{err}");
        assert!(err.contains("a number"), "{err}");

        let f = file("[schedule]\ncron = \"every day\"\n");
        let err = load(Sources {
            file: Some(f.path().to_owned()),
            env: vec![],
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("schedule.cron"), "{err}");
        assert!(err.contains(&f.path().display().to_string()), "{err}");
        assert!(err.contains("sec min hour"), "{err}");
    }

    #[test]
    fn an_auto_merge_threshold_that_would_merge_relatives_is_refused() {
        let err = load(Sources {
            file: None,
            env: vec![(
                "TETHER__MATCHING__AUTO_MERGE_THRESHOLD".into(),
                "0.85".into(),
            )],
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("matching.auto_merge_threshold"), "{err}");
        assert!(
            err.contains("TETHER__MATCHING__AUTO_MERGE_THRESHOLD"),
            "{err}"
        );
        assert!(err.contains("relatives"), "{err}");
        let ok = load(Sources {
            file: None,
            env: vec![(
                "TETHER__MATCHING__AUTO_MERGE_THRESHOLD".into(),
                "0.99".into(),
            )],
        });
        assert!(ok.is_ok(), "{:?}", ok.err());
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_refused() {
        let f = file("[store]\nurll = \"x\"\n");
        let err = load(Sources {
            file: Some(f.path().to_owned()),
            env: vec![],
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("urll") && err.contains("unknown key"), "{err}");

        let f = file("[store\nurl = 1");
        let err = load(Sources {
            file: Some(f.path().to_owned()),
            env: vec![],
        })
        .unwrap_err();
        assert!(matches!(err, ConfigError::FileSyntax { .. }), "{err}");
    }

    #[test]
    fn bad_urls_regions_and_addresses_are_refused() {
        for (var, val, key) in [
            ("TETHER__HUBSPOT__BASE_URL", "ftp://x", "hubspot.base_url"),
            ("TETHER__HUBSPOT__BASE_URL", "not a url", "hubspot.base_url"),
            ("TETHER__SYNC__DEFAULT_REGION", "ZZ", "sync.default_region"),
            ("TETHER__SERVER__LISTEN", "localhost", "server.listen"),
            ("TETHER__STORE__URL", "postgres://x", "store.url"),
        ] {
            let err = load(Sources {
                file: None,
                env: env(&[(var, val)]),
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains(key) && err.contains(var), "{var}={val}: {err}");
        }
    }

    #[test]
    fn sidebar_keys_are_checked() {
        for (pairs, key) in [
            (
                vec![("TETHER__SIDEBAR__INSTALL", "always")],
                "sidebar.install",
            ),
            (
                vec![("TETHER__SIDEBAR__INSTALL", "card")],
                "sidebar.install",
            ),
            (
                vec![("TETHER__SIDEBAR__CARD_HEADER", "bad header")],
                "sidebar.card_header",
            ),
            (
                vec![("TETHER__SIDEBAR__PUBLIC_URL", "sync.example.com")],
                "sidebar.public_url",
            ),
            (
                vec![("TETHER__SIDEBAR__CACHE_SECONDS", "0")],
                "sidebar.cache_seconds",
            ),
        ] {
            let err = load(Sources {
                file: None,
                env: env(&pairs),
            })
            .unwrap_err()
            .to_string();
            assert!(err.contains(key), "{pairs:?}: {err}");
        }
        let l = load(Sources {
            file: None,
            env: env(&[
                ("TETHER__SIDEBAR__INSTALL", "card"),
                ("TETHER__SIDEBAR__PUBLIC_URL", "https://sync.example.com"),
                ("TETHER__SIDEBAR__CARD_SECRET", "s3cret"),
            ]),
        })
        .unwrap();
        assert_eq!(l.settings.sidebar.cache_seconds, 300);
        assert!(!format!("{:?}", l.settings).contains("s3cret"));
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_serialised_settings() {
        let l = load(Sources {
            file: None,
            env: env(&[
                ("TETHER__HUBSPOT__TOKEN", "pat-na1-SECRET1"),
                ("TETHER__GORGIAS__API_KEY", "SECRET2"),
            ]),
        })
        .unwrap();
        let dbg = format!("{:?}", l.settings);
        let json = serde_json::to_string(&l.settings).unwrap();
        let toml = toml::to_string(&l.settings).unwrap();
        for out in [dbg, json, toml] {
            assert!(
                !out.contains("SECRET1") && !out.contains("SECRET2"),
                "{out}"
            );
        }
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err = Sources::from_process(Some(Path::new("/nonexistent/tether.toml"))).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tether.toml"));
    }
}
