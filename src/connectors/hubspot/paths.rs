//! Every HubSpot CRM path the connector calls, built in one place from the configured API
//! version (`hubspot.api_version`, contract `hubspot-2026.md` §1): the date-versioned
//! `/crm/objects/{V}/{objectType}` and `/crm/properties/{V}/{objectType}` (2026-09 by
//! default, 2026-03), or the legacy `/crm/v3/objects/...` kept for existing private apps.
//! Any object type (contacts, companies, deals, owners' objects, ...) goes through
//! [`Paths::objects`] and [`Paths::properties`]. Pure; must never make a call.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The HubSpot API version tether speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ApiVersion {
    /// `2026-09`: current since 8 September 2026; enforces portal validation rules.
    #[default]
    #[serde(rename = "2026-09")]
    V2026_09,
    /// `2026-03`: supported until about September 2027 (computed, not published).
    #[serde(rename = "2026-03")]
    V2026_03,
    /// `/crm/v3/...`: legacy, unsupported from September 2027.
    #[serde(rename = "v3")]
    V3,
}

impl ApiVersion {
    /// Every accepted value, as spelled in `hubspot.api_version`.
    pub const NAMES: &'static str = "2026-09 (default), 2026-03, or v3 (legacy)";

    /// The path segment (`2026-09`, `2026-03`, `v3`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V2026_09 => "2026-09",
            ApiVersion::V2026_03 => "2026-03",
            ApiVersion::V3 => "v3",
        }
    }

    /// True for `v3`, which HubSpot stops supporting in September 2027.
    pub fn is_legacy(self) -> bool {
        self == ApiVersion::V3
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ApiVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "2026-09" => Ok(ApiVersion::V2026_09),
            "2026-03" => Ok(ApiVersion::V2026_03),
            "v3" => Ok(ApiVersion::V3),
            other => Err(format!(
                "unknown HubSpot API version {other:?}; expected {}",
                ApiVersion::NAMES
            )),
        }
    }
}

/// Path builder for one API version: segments to append to the base URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paths {
    version: ApiVersion,
}

impl Paths {
    pub fn new(version: ApiVersion) -> Self {
        Self { version }
    }

    /// The version the paths are built for.
    pub fn version(&self) -> ApiVersion {
        self.version
    }

    /// `crm/objects/{V}/{object_type}` (or `crm/v3/objects/{object_type}`), then `rest`.
    pub fn objects<'a>(&self, object_type: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        self.api("objects", object_type, rest)
    }

    /// `crm/properties/{V}/{object_type}` (or `crm/v3/properties/{object_type}`), then `rest`.
    pub fn properties<'a>(&self, object_type: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        self.api("properties", object_type, rest)
    }

    /// The contacts object API, then `rest` (`["batch", "create"]`, `[id]`, ...).
    pub fn contacts<'a>(&self, rest: &[&'a str]) -> Vec<&'a str> {
        self.objects("contacts", rest)
    }

    fn api<'a>(&self, api: &'static str, object_type: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
        let mut v: Vec<&'a str> = match self.version {
            ApiVersion::V3 => vec!["crm", "v3", api, object_type],
            d => vec!["crm", api, d.as_str(), object_type],
        };
        v.extend_from_slice(rest);
        v
    }

    /// The path as text (`/crm/objects/2026-09/contacts/batch/read`), for messages.
    pub fn display(segments: &[&str]) -> String {
        format!("/{}", segments.join("/"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_and_legacy_paths() {
        let p = Paths::new(ApiVersion::default());
        assert_eq!(
            Paths::display(&p.contacts(&["batch", "create"])),
            "/crm/objects/2026-09/contacts/batch/create"
        );
        assert_eq!(
            Paths::display(&p.properties("contacts", &[])),
            "/crm/properties/2026-09/contacts"
        );
        assert_eq!(
            Paths::display(&Paths::new(ApiVersion::V2026_03).objects("deals", &["7"])),
            "/crm/objects/2026-03/deals/7"
        );
        let legacy = Paths::new(ApiVersion::V3);
        assert_eq!(
            Paths::display(&legacy.contacts(&["search"])),
            "/crm/v3/objects/contacts/search"
        );
        assert_eq!(
            Paths::display(&legacy.properties("contacts", &["email"])),
            "/crm/v3/properties/contacts/email"
        );
    }

    #[test]
    fn versions_parse_as_configured() {
        assert_eq!("2026-09".parse(), Ok(ApiVersion::V2026_09));
        assert_eq!(" v3 ".parse(), Ok(ApiVersion::V3));
        assert!("2025-01".parse::<ApiVersion>().is_err());
        assert!(ApiVersion::V3.is_legacy() && !ApiVersion::default().is_legacy());
        let v: ApiVersion = serde_json::from_str("\"2026-03\"").unwrap();
        assert_eq!(v, ApiVersion::V2026_03);
    }
}
