//! Wire shapes of HubSpot CRM v3 (contract §2, §4, §5, §10) and the connector's [`Contact`].
//! Tolerant parsing: unknown fields ignored, optional fields optional, property values taken
//! as strings. Must never panic on what the network sends.

use super::error::HubspotError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One entry of `propertiesWithHistory` (newest first as HubSpot sends them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub value: String,
    pub timestamp: String,
    #[serde(default)]
    pub source_type: Option<String>,
    #[serde(default)]
    pub source_id: Option<String>,
    #[serde(default)]
    pub updated_by_user_id: Option<i64>,
}

/// A `SimplePublicObject` (or upsert object) as received.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireObject {
    pub id: String,
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub properties_with_history: BTreeMap<String, Vec<HistoryEntry>>,
    #[serde(default)]
    pub object_write_trace_id: Option<String>,
    #[serde(default)]
    pub new: Option<bool>,
}

/// A HubSpot contact as the connector hands it on.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// The record id (a merged-away id never appears here: this is the survivor's).
    pub id: String,
    /// Property values; `null`s dropped.
    pub properties: BTreeMap<String, String>,
    pub created_at: Option<DateTime<Utc>>,
    /// `updatedAt` = `lastmodifieddate`.
    pub updated_at: Option<DateTime<Utc>>,
    pub archived: bool,
    /// `propertiesWithHistory`, newest first.
    pub history: BTreeMap<String, Vec<HistoryEntry>>,
    /// Ids this record absorbed (`hs_merged_object_ids`).
    pub merged_ids: Vec<String>,
}

impl Contact {
    /// A property's value, if set and non-empty.
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.properties
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Whether this record stands for `id` (its own id or one it absorbed).
    pub fn answers_to(&self, id: &str) -> bool {
        self.id == id || self.merged_ids.iter().any(|m| m == id)
    }

    /// Lower-cased e-mails of the record (primary then additional).
    pub fn emails(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .prop("email")
            .map(str::to_lowercase)
            .into_iter()
            .collect();
        if let Some(extra) = self.prop("hs_additional_emails") {
            v.extend(
                extra
                    .split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_lowercase),
            );
        }
        v
    }
}

/// Parses a HubSpot timestamp: ISO-8601 or epoch milliseconds.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(ms) = s.trim().parse::<i64>() {
        return DateTime::<Utc>::from_timestamp_millis(ms);
    }
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

impl From<WireObject> for Contact {
    fn from(w: WireObject) -> Self {
        let properties: BTreeMap<String, String> = w
            .properties
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::Null => None,
                Value::String(s) => Some((k, s)),
                other => Some((k, other.to_string())),
            })
            .collect();
        let merged_ids = properties
            .get("hs_merged_object_ids")
            .map(|s| {
                s.split(';')
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let updated_at = w.updated_at.as_deref().and_then(parse_time).or_else(|| {
            properties
                .get("lastmodifieddate")
                .and_then(|s| parse_time(s))
        });
        Contact {
            id: w.id,
            created_at: w.created_at.as_deref().and_then(parse_time),
            updated_at,
            archived: w.archived,
            history: w.properties_with_history,
            merged_ids,
            properties,
        }
    }
}

/// A batch answer (200/201/207).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    #[serde(default)]
    pub results: Vec<WireObject>,
    #[serde(default)]
    pub errors: Vec<StandardError>,
}

/// A `StandardError` of a 207.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct StandardError {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub context: BTreeMap<String, Vec<String>>,
    /// `errors[]` details (`code`, `message`, `context.propertyName`), kept as received.
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// A page of search results.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchPage {
    /// Matches in all (not capped at 10,000).
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub results: Vec<WireObject>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// A page of the list endpoint.
#[derive(Debug, Clone, Deserialize)]
pub struct ListPage {
    #[serde(default)]
    pub results: Vec<WireObject>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub next: Option<NextPage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NextPage {
    /// Opaque for lists, an integer offset for search; may come as a string or a number.
    pub after: Value,
}

impl Paging {
    /// The next cursor as a string, if any.
    pub fn next_after(&self) -> Option<String> {
        match self.next.as_ref().map(|n| &n.after) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// A custom property to make sure exists (`POST /crm/v3/properties/contacts`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDefinition {
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub field_type: String,
    pub group_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub has_unique_value: bool,
    pub form_field: bool,
}

/// Decodes JSON, mapping failures to [`HubspotError::Decode`].
pub fn decode<T: for<'de> Deserialize<'de>>(endpoint: &str, v: Value) -> Result<T, HubspotError> {
    serde_json::from_value(v).map_err(|e| HubspotError::Decode {
        endpoint: endpoint.to_string(),
        detail: e.to_string().into(),
    })
}
