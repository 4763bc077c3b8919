//! API versions the HubSpot sandbox serves (contract `hubspot-2026.md` §1): the legacy
//! `/crm/v3/...` paths and the dated `/crm/objects/{V}/...`, `/crm/properties/{V}/...` ones,
//! all answered by one implementation. Owns the version found in a path and how legacy paths
//! are answered after September 2027. Must never hold a business rule.

use serde::{Deserialize, Serialize};

/// The API version of a request, read from its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PathVersion {
    /// `/crm/v3/objects/contacts`, `/crm/v3/properties/contacts`.
    #[serde(rename = "v3")]
    V3,
    /// `/crm/objects/2026-03/contacts`, `/crm/properties/2026-03/contacts`.
    #[serde(rename = "2026-03")]
    V2026_03,
    /// `/crm/objects/2026-09/contacts`, `/crm/properties/2026-09/contacts`.
    #[serde(rename = "2026-09")]
    V2026_09,
}

impl PathVersion {
    /// Every version served.
    pub const ALL: [PathVersion; 3] = [
        PathVersion::V3,
        PathVersion::V2026_03,
        PathVersion::V2026_09,
    ];

    /// The path segment (`v3`, `2026-03`, `2026-09`).
    pub fn segment(self) -> &'static str {
        match self {
            PathVersion::V3 => "v3",
            PathVersion::V2026_03 => "2026-03",
            PathVersion::V2026_09 => "2026-09",
        }
    }

    /// Path of the contacts object API in this version.
    pub fn objects(self) -> String {
        match self {
            PathVersion::V3 => "/crm/v3/objects/contacts".into(),
            v => format!("/crm/objects/{}/contacts", v.segment()),
        }
    }

    /// Path of the contact properties API in this version.
    pub fn properties(self) -> String {
        match self {
            PathVersion::V3 => "/crm/v3/properties/contacts".into(),
            v => format!("/crm/properties/{}/contacts", v.segment()),
        }
    }

    /// The version of a request path, `None` for a path outside the CRM APIs.
    pub fn of_path(path: &str) -> Option<PathVersion> {
        Self::ALL
            .into_iter()
            .find(|v| path.starts_with(&v.objects()) || path.starts_with(&v.properties()))
            .or_else(|| {
                // The account details (`/account-info/{V}/details`), read for record links.
                Self::ALL
                    .into_iter()
                    .find(|v| path.starts_with(&format!("/account-info/{}/", v.segment())))
            })
    }

    /// Whether the path is on the properties API.
    pub fn is_properties_path(path: &str) -> bool {
        Self::ALL
            .into_iter()
            .any(|v| path.starts_with(&v.properties()))
    }
}

/// How the legacy `/crm/v3/...` paths are answered. What HubSpot does after September 2027
/// ("unsupported") is not published (UNCONFIRMED), so both readings exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegacyPaths {
    /// Answered as usual, each call counted in `Counters::legacy_calls` (today's behaviour).
    #[default]
    Answer,
    /// Refused with 410 `API_VERSION_UNSUPPORTED`, as a switched-off API might (and counted).
    Refuse,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_paths() {
        assert_eq!(
            PathVersion::of_path("/crm/v3/objects/contacts/batch/create"),
            Some(PathVersion::V3)
        );
        assert_eq!(
            PathVersion::of_path("/crm/objects/2026-09/contacts/12"),
            Some(PathVersion::V2026_09)
        );
        assert_eq!(
            PathVersion::of_path("/crm/properties/2026-03/contacts"),
            Some(PathVersion::V2026_03)
        );
        assert_eq!(PathVersion::of_path("/crm/objects/2027-03/contacts"), None);
        assert!(PathVersion::is_properties_path(
            "/crm/properties/2026-09/contacts/email"
        ));
        assert!(!PathVersion::is_properties_path(
            "/crm/objects/2026-09/contacts"
        ));
    }
}
