//! [`Profile`]: one customer as tether sees it, in canonical fields, independent of which
//! system it came from. The engine maps each system's record into a `Profile` through the
//! field mappings; the matcher compares `Profile`s.

use super::{Email, Phone};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Canonical customer fields. Standard fields are typed; everything else a mapping names is
/// kept in `custom` under its canonical field name, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_emails: Vec<Email>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<Phone>,
    pub company: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub zip: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
}

impl Profile {
    /// "First Last", or whichever part exists.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_name_joins_present_parts() {
        let mut p = Profile::default();
        assert_eq!(p.full_name(), None);
        p.last_name = Some("Doe".into());
        assert_eq!(p.full_name().as_deref(), Some("Doe"));
        p.first_name = Some(" Jane ".into());
        assert_eq!(p.full_name().as_deref(), Some("Jane Doe"));
    }
}
