//! Record identifiers. A [`HubspotId`] is never a [`GorgiasId`]: HubSpot ids are strings of
//! digits on the wire, Gorgias ids are integers. Both reject values that cannot be real ids.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("HubSpot id {0:?} is not a non-empty string of digits")]
    Hubspot(String),
    #[error("Gorgias id {0:?} is not a positive integer")]
    Gorgias(String),
}

/// A HubSpot contact id (`hs_object_id`), kept as the string HubSpot sends.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct HubspotId(String);

impl HubspotId {
    pub fn new(raw: impl Into<String>) -> Result<Self, IdError> {
        let raw = raw.into();
        if !raw.is_empty() && raw.len() <= 20 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw))
        } else {
            Err(IdError::Hubspot(raw))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for HubspotId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        HubspotId::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl FromStr for HubspotId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl fmt::Display for HubspotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HubspotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HubspotId({})", self.0)
    }
}

/// A Gorgias customer id: a positive integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct GorgiasId(i64);

impl GorgiasId {
    pub fn new(raw: i64) -> Result<Self, IdError> {
        if raw > 0 {
            Ok(Self(raw))
        } else {
            Err(IdError::Gorgias(raw.to_string()))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for GorgiasId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        GorgiasId::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl FromStr for GorgiasId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<i64>()
            .map_err(|_| IdError::Gorgias(s.to_owned()))
            .and_then(Self::new)
    }
}

impl fmt::Display for GorgiasId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for GorgiasId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GorgiasId({})", self.0)
    }
}

/// The two systems tether connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    Hubspot,
    Gorgias,
}

impl System {
    pub fn as_str(self) -> &'static str {
        match self {
            System::Hubspot => "hubspot",
            System::Gorgias => "gorgias",
        }
    }

    pub fn other(self) -> System {
        match self {
            System::Hubspot => System::Gorgias,
            System::Gorgias => System::Hubspot,
        }
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for System {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hubspot" => Ok(System::Hubspot),
            "gorgias" => Ok(System::Gorgias),
            other => Err(format!(
                "unknown system {other:?} (expected hubspot or gorgias)"
            )),
        }
    }
}

/// A record in one of the two systems: the system is carried by the variant, so a HubSpot
/// id can never be looked up in Gorgias.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "system", content = "id", rename_all = "lowercase")]
pub enum RecordRef {
    Hubspot(HubspotId),
    Gorgias(GorgiasId),
}

impl RecordRef {
    pub fn system(&self) -> System {
        match self {
            RecordRef::Hubspot(_) => System::Hubspot,
            RecordRef::Gorgias(_) => System::Gorgias,
        }
    }

    /// The id as the text the store keeps.
    pub fn id_string(&self) -> String {
        match self {
            RecordRef::Hubspot(id) => id.to_string(),
            RecordRef::Gorgias(id) => id.to_string(),
        }
    }

    /// Rebuilds a reference from the store's `(system, id)` text pair.
    pub fn parse(system: System, id: &str) -> Result<Self, IdError> {
        Ok(match system {
            System::Hubspot => RecordRef::Hubspot(id.parse()?),
            System::Gorgias => RecordRef::Gorgias(id.parse()?),
        })
    }
}

impl fmt::Display for RecordRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.system(), self.id_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hubspot_ids_are_digit_strings() {
        assert!(HubspotId::new("12345").is_ok());
        assert!(HubspotId::new("").is_err());
        assert!(HubspotId::new("12a").is_err());
        assert!(HubspotId::new("-1").is_err());
        assert!(serde_json::from_str::<HubspotId>("\"77\"").is_ok());
        assert!(serde_json::from_str::<HubspotId>("77").is_err());
    }

    #[test]
    fn gorgias_ids_are_positive() {
        assert_eq!(GorgiasId::new(5).unwrap().get(), 5);
        assert!(GorgiasId::new(0).is_err());
        assert!("x".parse::<GorgiasId>().is_err());
        assert!(serde_json::from_str::<GorgiasId>("-3").is_err());
    }

    #[test]
    fn record_refs_round_trip_through_store_text() {
        let r = RecordRef::Gorgias(GorgiasId::new(42).unwrap());
        assert_eq!(RecordRef::parse(r.system(), &r.id_string()).unwrap(), r);
        let h = RecordRef::Hubspot(HubspotId::new("901").unwrap());
        assert_eq!(h.to_string(), "hubspot:901");
        assert!(RecordRef::parse(System::Hubspot, "abc").is_err());
    }
}
