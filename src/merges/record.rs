//! [`MergeRecord`]: one customer record as the merge code sees it (its reference, its
//! created/updated times and its fields by canonical name), built from a HubSpot contact or a
//! Gorgias customer, and turned into the matcher's input. Pure; must never do I/O.

use crate::connectors::gorgias::Customer;
use crate::connectors::hubspot::Contact;
use crate::domain::{GorgiasId, HubspotId, RecordRef};
use crate::matcher::MatchRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Canonical field names a merge knows, with their HubSpot property.
pub const HUBSPOT_FIELDS: &[(&str, &str)] = &[
    ("email", "email"),
    ("first_name", "firstname"),
    ("last_name", "lastname"),
    ("phone", "phone"),
    ("company", "company"),
    ("address", "address"),
    ("city", "city"),
    ("zip", "zip"),
    ("state", "state"),
    ("country", "country"),
];

/// The HubSpot properties a merge reads (created/updated times come with every contact).
pub fn hubspot_properties() -> Vec<&'static str> {
    HUBSPOT_FIELDS.iter().map(|(_, p)| *p).collect()
}

/// A record's snapshot: what the review page shows and survivorship reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    pub record: RecordRef,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Non-empty values by canonical name (`email`, `first_name`, `last_name`, `phone`,
    /// `company`, `address`, `city`, `zip`, `state`, `country`, `note`).
    pub fields: BTreeMap<String, String>,
}

fn put(fields: &mut BTreeMap<String, String>, key: &str, value: Option<&str>) {
    if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
        fields.insert(key.to_owned(), v.to_owned());
    }
}

impl MergeRecord {
    /// From a HubSpot contact; `None` when its id is not a HubSpot id.
    pub fn from_hubspot(c: &Contact) -> Option<MergeRecord> {
        let id = HubspotId::new(c.id.clone()).ok()?;
        let mut fields = BTreeMap::new();
        for (name, prop) in HUBSPOT_FIELDS {
            put(&mut fields, name, c.prop(prop));
        }
        Some(MergeRecord {
            record: RecordRef::Hubspot(id),
            created_at: c.created_at,
            updated_at: c.updated_at,
            fields,
        })
    }

    /// From a Gorgias customer; `None` when its id is not positive. The name is split at
    /// the first space when `firstname`/`lastname` are absent.
    pub fn from_gorgias(c: &Customer) -> Option<MergeRecord> {
        let id = GorgiasId::new(c.id).ok()?;
        let mut fields = BTreeMap::new();
        put(&mut fields, "email", c.email.as_deref());
        let (first, last) = match (c.firstname.as_deref(), c.lastname.as_deref()) {
            (None, None) | (Some(""), Some("")) => {
                let name = c.name.as_deref().unwrap_or("").trim();
                match name.split_once(' ') {
                    Some((f, l)) => (Some(f), Some(l)),
                    None => (Some(name), None),
                }
            }
            other => other,
        };
        put(&mut fields, "first_name", first);
        put(&mut fields, "last_name", last);
        if let Some(phones) = c.channel_addresses("phone") {
            put(&mut fields, "phone", phones.first().copied());
        }
        if !fields.contains_key("email")
            && let Some(emails) = c.channel_addresses("email")
        {
            put(&mut fields, "email", emails.first().copied());
        }
        put(&mut fields, "note", c.note.as_deref());
        Some(MergeRecord {
            record: RecordRef::Gorgias(id),
            created_at: c.created_datetime,
            updated_at: c.updated_datetime,
            fields,
        })
    }

    /// A field's value, if set.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// How many fields hold a value (for the `most_complete` rule).
    pub fn completeness(&self) -> usize {
        self.fields.len()
    }

    /// The full name (`first last`), if any part is set.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = ["first_name", "last_name"]
            .iter()
            .filter_map(|f| self.get(f))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The matcher's view of this record (its source set to its system).
    pub fn to_match_record(&self) -> MatchRecord {
        let f = |k: &str| self.get(k).unwrap_or("").to_owned();
        MatchRecord {
            id: self.record.to_string(),
            source: Some(self.record.system()),
            first_name: f("first_name"),
            last_name: f("last_name"),
            email: f("email"),
            phone: f("phone"),
            address1: f("address"),
            address2: String::new(),
            city: f("city"),
            zip: f("zip"),
            state: f("state"),
            country: f("country"),
            date_of_birth: f("date_of_birth"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(v: serde_json::Value) -> Customer {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn gorgias_names_split_and_channels_fill_gaps() {
        let c = customer(serde_json::json!({
            "id": 7, "name": "Ann Lee Smith", "email": null,
            "channels": [
                {"type": "email", "address": "ann@x.test", "preferred": true},
                {"type": "phone", "address": "+14155550100", "preferred": true}
            ]
        }));
        let r = MergeRecord::from_gorgias(&c).unwrap();
        assert_eq!(r.get("first_name"), Some("Ann"));
        assert_eq!(r.get("last_name"), Some("Lee Smith"));
        assert_eq!(r.get("email"), Some("ann@x.test"));
        assert_eq!(r.get("phone"), Some("+14155550100"));
        assert_eq!(r.completeness(), 4);
        let m = r.to_match_record();
        assert_eq!(m.id, "gorgias:7");
        assert_eq!(m.source, Some(crate::domain::System::Gorgias));
        assert!(MergeRecord::from_gorgias(&customer(serde_json::json!({"id": 0}))).is_none());
    }
}
