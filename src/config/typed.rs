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

/// Where the state store lives. SQLite today; a `Postgres` variant can be added beside it
/// (DESIGN.md, section 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// `sqlite://PATH` (created when missing); `url` keeps any `?query` parameters.
    Sqlite { path: PathBuf, url: String },
    /// `sqlite::memory:` (or `?mode=memory`): nothing persists between runs.
    Memory { url: String },
}

impl StoreUrl {
    /// The URL as written, for the database driver.
    pub fn as_str(&self) -> &str {
        match self {
            StoreUrl::Sqlite { url, .. } | StoreUrl::Memory { url } => url,
        }
    }

    /// The database file, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        match self {
            StoreUrl::Sqlite { path, .. } => Some(path),
            StoreUrl::Memory { .. } => None,
        }
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text is not a store URL: the problem alone (the caller names the key or the URL).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreUrlError {
    #[error("{0:?} is not a SQLite URL")]
    NotSqlite(String),
    #[error("{0:?} names no file (the path is empty)")]
    EmptyPath(String),
}

impl FromStr for StoreUrl {
    type Err = StoreUrlError;
    fn from_str(url: &str) -> Result<Self, StoreUrlError> {
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
            "postgres://x".parse::<StoreUrl>(),
            Err(StoreUrlError::NotSqlite("postgres://x".into()))
        );
        assert!(matches!(
            "sqlite://".parse::<StoreUrl>(),
            Err(StoreUrlError::EmptyPath(_))
        ));
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
