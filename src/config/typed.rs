//! The typed setting values parsed once, while the configuration loads: the listen address,
//! the cron schedule, the phone region, the HubSpot base URL and the store URL. Each is read
//! from its text with a message saying what the text is not (the loader adds the key, its
//! origin and what was expected) and written back as text, so that `Settings` still
//! serialises to the keys a person writes.
//!
//! Must never touch the network, the store or the file system.

use crate::domain::Region;
use serde::{Deserialize, Deserializer, Serializer};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A value a setting holds in typed form, read from (and shown as) its text.
pub trait SettingValue: Sized {
    /// The value of `text`, or what `text` is not (e.g. `"x" is not an address`).
    fn parse_setting(text: &str) -> Result<Self, String>;
    /// The text a person would write for the value.
    fn setting_text(&self) -> String;
}

/// Serde for a [`SettingValue`] field: `#[serde(with = "typed")]`.
pub(super) fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: SettingValue,
{
    let text = String::deserialize(d)?;
    T::parse_setting(&text).map_err(serde::de::Error::custom)
}

/// Serde for a [`SettingValue`] field: `#[serde(with = "typed")]`.
pub(super) fn serialize<S, T>(v: &T, s: S) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    T: SettingValue,
{
    s.serialize_str(&v.setting_text())
}

impl SettingValue for SocketAddr {
    fn parse_setting(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| format!("{text:?} is not an address"))
    }
    fn setting_text(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for Region {
    fn parse_setting(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| format!("{text:?} is not a region code"))
    }
    fn setting_text(&self) -> String {
        self.code().to_owned()
    }
}

/// A cron schedule with a seconds field, kept with the text it was read from.
#[derive(Clone)]
pub struct CronSchedule {
    schedule: cron::Schedule,
    text: String,
}

impl CronSchedule {
    /// The parsed schedule the scheduler follows.
    pub fn schedule(&self) -> &cron::Schedule {
        &self.schedule
    }
}

impl fmt::Debug for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronSchedule({:?})", self.text)
    }
}

impl fmt::Display for CronSchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for CronSchedule {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse_setting(text)
    }
}

impl SettingValue for CronSchedule {
    fn parse_setting(text: &str) -> Result<Self, String> {
        let schedule = text
            .parse::<cron::Schedule>()
            .map_err(|e| format!("{text:?} is not a cron expression ({e})"))?;
        Ok(Self {
            schedule,
            text: text.to_owned(),
        })
    }
    fn setting_text(&self) -> String {
        self.text.clone()
    }
}

/// An `http://` or `https://` base URL. Shown without a trailing `/`, so that paths are
/// appended to it as `{base}/crm/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl(url::Url);

impl HttpUrl {
    pub fn url(&self) -> &url::Url {
        &self.0
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str().trim_end_matches('/'))
    }
}

impl FromStr for HttpUrl {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse_setting(text)
    }
}

impl SettingValue for HttpUrl {
    fn parse_setting(text: &str) -> Result<Self, String> {
        match url::Url::parse(text) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => Ok(Self(u)),
            Ok(u) => Err(format!("{text:?} has scheme {:?}", u.scheme())),
            Err(e) => Err(format!("{text:?} is not a URL ({e})")),
        }
    }
    fn setting_text(&self) -> String {
        self.to_string()
    }
}

/// The name of the sync connection this process serves (`connection.name`): one PostgreSQL
/// database holds many connections, each in its own schema `tether_<name>`. Lower-case
/// ASCII letters, digits and `_`, starting with a letter, at most 40 characters, so that
/// the schema name derived from it is always a plain SQL identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionName(String);

impl ConnectionName {
    /// What a connection name must look like, for error messages.
    pub const EXPECTED: &'static str =
        "a lower-case name matching ^[a-z][a-z0-9_]{0,39}$, e.g. default or brand_a";

    /// The name, validated: `^[a-z][a-z0-9_]{0,39}$`.
    pub fn new(name: &str) -> Result<ConnectionName, String> {
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if first_ok && rest_ok && name.len() <= 40 {
            Ok(ConnectionName(name.to_owned()))
        } else {
            Err(format!("{name:?} is not a connection name"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PostgreSQL schema holding this connection's tables: `tether_<name>`. Safe to
    /// place in SQL as an identifier (validated above); nothing else ever is.
    pub fn schema(&self) -> String {
        format!("tether_{}", self.0)
    }
}

impl Default for ConnectionName {
    fn default() -> Self {
        ConnectionName("default".to_owned())
    }
}

impl fmt::Display for ConnectionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl SettingValue for ConnectionName {
    fn parse_setting(text: &str) -> Result<Self, String> {
        ConnectionName::new(text)
    }
    fn setting_text(&self) -> String {
        self.0.clone()
    }
}

/// Where the state store lives: a SQLite file (the default, one connection per file), in
/// memory, or a PostgreSQL database shared by several replicas and connections. Shown
/// (`Display`, `Debug`) without its password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH` (created when missing); `url` keeps any `?query` parameters.
    Sqlite { path: PathBuf, url: String },
    /// `sqlite::memory:` (or `?mode=memory`): nothing persists between runs.
    Memory { url: String },
    /// `postgres://…` or `postgresql://…`. `connection` is the `connection.name` whose
    /// schema the store works in: the configuration loader sets it from that key (it is
    /// `default` for a URL parsed on its own).
    Postgres {
        url: String,
        connection: ConnectionName,
    },
}

impl StoreUrl {
    /// The URL as written, for the database driver. May hold a password: show
    /// [`StoreUrl::redacted`] instead.
    pub fn as_str(&self) -> &str {
        match self {
            StoreUrl::Sqlite { url, .. } | StoreUrl::Memory { url } => url,
            StoreUrl::Postgres { url, .. } => url,
        }
    }

    /// The URL with any password replaced by `***`, for logs, errors and status output.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Postgres { url, .. } => redact_password(url),
            _ => self.as_str().to_owned(),
        }
    }

    /// The database file, or `None` in memory or on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match self {
            StoreUrl::Sqlite { path, .. } => Some(path),
            StoreUrl::Memory { .. } | StoreUrl::Postgres { .. } => None,
        }
    }
}

/// `url` with its password (if any) replaced by `***`.
pub fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_owned(),
        // Unparseable: keep only the scheme, in case the rest holds a secret.
        Err(_) => format!("{}://…", url.split("://").next().unwrap_or("?")),
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreUrl::Sqlite { path, url } => f
                .debug_struct("Sqlite")
                .field("path", path)
                .field("url", url)
                .finish(),
            StoreUrl::Memory { url } => f.debug_struct("Memory").field("url", url).finish(),
            StoreUrl::Postgres { url, connection } => f
                .debug_struct("Postgres")
                .field("url", &redact_password(url))
                .field("connection", connection)
                .finish(),
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Why a text is not a store URL: the problem alone (the caller names the key or the URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    #[error("{0:?} is not a SQLite or PostgreSQL URL")]
    NotSqlite(String),
    #[error("{0:?} names no file (the path is empty)")]
    EmptyPath(String),
    #[error("{0} is not a PostgreSQL URL ({1})")]
    BadPostgres(String, String),
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;
    fn from_str(url: &str) -> Result<Self, StoreUrlError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // No host is allowed: the driver then uses `?host=` or the local socket.
            return match url::Url::parse(url) {
                Ok(_) => Ok(StoreUrl::Postgres {
                    url: url.to_owned(),
                    connection: ConnectionName::default(),
                }),
                Err(e) => Err(StoreUrlError::BadPostgres(
                    redact_password(url),
                    e.to_string(),
                )),
            };
        }
        let rest = url
            .strip_prefix("sqlite:")
            .ok_or_else(|| StoreUrlError::NotSqlite(url.to_owned()))?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, params) = rest.split_once('?').unwrap_or((rest, ""));
        if path == ":memory:" || params.split('&').any(|p| p == "mode=memory") {
            return Ok(StoreUrl::Memory {
                url: url.to_owned(),
            });
        }
        if path.is_empty() {
            return Err(StoreUrlError::EmptyPath(url.to_owned()));
        }
        Ok(StoreUrl::Sqlite {
            path: PathBuf::from(path),
            url: url.to_owned(),
        })
    }
}

impl SettingValue for StoreUrl {
    fn parse_setting(text: &str) -> Result<Self, String> {
        text.parse().map_err(|e: StoreUrlError| e.to_string())
    }
    fn setting_text(&self) -> String {
        self.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_a_file_or_memory() {
        let u: StoreUrl = "sqlite://data/t.db?mode=rwc".parse().unwrap();
        assert_eq!(u.path(), Some(Path::new("data/t.db")));
        assert_eq!(u.as_str(), "sqlite://data/t.db?mode=rwc");
        for m in ["sqlite::memory:", "sqlite://x.db?mode=memory"] {
            assert!(
                matches!(m.parse::<StoreUrl>(), Ok(StoreUrl::Memory { .. })),
                "{m}"
            );
        }
        assert_eq!(
            "mysql://x".parse::<StoreUrl>(),
            Err(StoreUrlError::NotSqlite("mysql://x".into()))
        );
        for pg in ["postgres://u:pw@db:5432/tether", "postgresql://db/tether"] {
            let u: StoreUrl = pg.parse().unwrap();
            assert!(
                matches!(&u, StoreUrl::Postgres { connection, .. } if connection.as_str() == "default"),
                "{pg}"
            );
            assert_eq!(u.as_str(), pg);
            assert_eq!(u.path(), None);
            assert!(!u.to_string().contains("pw"), "{u}");
            assert!(!format!("{u:?}").contains("pw"), "{u:?}");
        }
        assert!(matches!(
            "postgres://u:s3cret@[::1/x".parse::<StoreUrl>(),
            Err(StoreUrlError::BadPostgres(shown, _)) if !shown.contains("s3cret")
        ));
        assert!(matches!(
            "sqlite://".parse::<StoreUrl>(),
            Err(StoreUrlError::EmptyPath(_))
        ));
    }

    #[test]
    fn connection_names_are_plain_identifiers() {
        for good in ["default", "brand_a", "a", "b2", &"x".repeat(40)] {
            let n = ConnectionName::new(good).unwrap();
            assert_eq!(n.schema(), format!("tether_{good}"));
        }
        for bad in [
            "",
            "A",
            "1a",
            "_a",
            "brand-a",
            "brand a",
            "é",
            "a;drop",
            &"x".repeat(41),
        ] {
            assert!(ConnectionName::new(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ConnectionName::default().as_str(), "default");
    }

    #[test]
    fn values_read_back_as_the_text_written() {
        let c = CronSchedule::parse_setting("0 */5 * * * *").unwrap();
        assert_eq!(c.setting_text(), "0 */5 * * * *");
        assert!(c.schedule().upcoming(chrono::Utc).next().is_some());
        let u = HttpUrl::parse_setting("https://api.hubapi.com").unwrap();
        assert_eq!(u.to_string(), "https://api.hubapi.com");
        assert!(
            HttpUrl::parse_setting("ftp://x")
                .unwrap_err()
                .contains("scheme")
        );
        assert_eq!(Region::parse_setting("gb").unwrap().setting_text(), "GB");
        assert!(SocketAddr::parse_setting("localhost").is_err());
    }
}
