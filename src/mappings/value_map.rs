//! [`ValueMap`]: a one-to-one map between HubSpot enum values and Gorgias values.
//!
//! Owns the lookup in both directions and the check that the map can be inverted. Pure;
//! must never guess a value that is not in the map (an unmapped value is a skip, not a copy).

use std::collections::BTreeMap;

/// A bijective enum ⇄ enum map. Keys are HubSpot values (the canonical form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueMap {
    to_gorgias: BTreeMap<String, String>,
    to_hubspot: BTreeMap<String, String>,
}

/// Why a set of pairs is not a one-to-one map: two HubSpot values map to one Gorgias value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HubSpot values {first:?} and {second:?} both map to Gorgias value {gorgias:?}")]
pub struct NotInvertible {
    pub first: String,
    pub second: String,
    pub gorgias: String,
}

impl ValueMap {
    /// Builds the map from `(hubspot, gorgias)` pairs; fails if it cannot be inverted.
    pub fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Result<Self, NotInvertible> {
        let mut to_gorgias = BTreeMap::new();
        let mut to_hubspot: BTreeMap<String, String> = BTreeMap::new();
        for (h, g) in pairs {
            if let Some(first) = to_hubspot.get(&g) {
                return Err(NotInvertible {
                    first: first.clone(),
                    second: h,
                    gorgias: g,
                });
            }
            to_hubspot.insert(g.clone(), h.clone());
            to_gorgias.insert(h, g);
        }
        Ok(Self {
            to_gorgias,
            to_hubspot,
        })
    }

    /// The Gorgias value for a HubSpot (canonical) value.
    pub fn to_gorgias(&self, hubspot: &str) -> Option<&str> {
        self.to_gorgias.get(hubspot).map(String::as_str)
    }

    /// The HubSpot (canonical) value for a Gorgias value.
    pub fn to_hubspot(&self, gorgias: &str) -> Option<&str> {
        self.to_hubspot.get(gorgias).map(String::as_str)
    }

    /// The HubSpot values, sorted.
    pub fn hubspot_values(&self) -> impl Iterator<Item = &str> {
        self.to_gorgias.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.to_gorgias.len()
    }

    pub fn is_empty(&self) -> bool {
        self.to_gorgias.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn maps_both_ways() {
        let m = ValueMap::new(pairs(&[("lead", "Lead"), ("customer", "Customer")])).unwrap();
        assert_eq!(m.to_gorgias("lead"), Some("Lead"));
        assert_eq!(m.to_hubspot("Customer"), Some("customer"));
        assert_eq!(m.to_hubspot("customer"), None);
        assert_eq!(m.to_gorgias("other"), None);
        assert_eq!(m.hubspot_values().collect::<Vec<_>>(), ["customer", "lead"]);
    }

    #[test]
    fn rejects_two_keys_for_one_value() {
        let err = ValueMap::new(pairs(&[("lead", "L"), ("mql", "L")])).unwrap_err();
        assert_eq!(err.gorgias, "L");
        assert!(err.to_string().contains("both map to"));
    }
}
