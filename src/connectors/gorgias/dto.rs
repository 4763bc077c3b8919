//! Wire types: the customer (full and compact), channels, events, the list envelope, and the
//! datetime forms Gorgias sends and accepts. Parsing is lenient where the contract says
//! shapes vary; must never panic on what the network sends.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Parses Gorgias datetimes: offset or naive (UTC), `T` or space, with or without fraction.
/// Years outside 0..=9999 are refused: Gorgias never sends them, they would not survive being
/// written back out as RFC 3339, and one far-future `updated_datetime` would become the feed's
/// watermark and hide every real change after it.
pub fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    parse_any_datetime(raw).filter(|d| (0..=9999).contains(&d.year()))
}

fn parse_any_datetime(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, fmt) {
            return Some(dt.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// The `version` form sent with `PUT …/data` (naive UTC with microseconds, as documented).
pub fn format_version(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

/// The form sent in `created_datetime[gte]` (the one Airbyte uses in production).
pub fn format_filter(dt: DateTime<Utc>) -> String {
    dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(super) fn opt_datetime<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => parse_datetime(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not a datetime: {s:?}"))),
    }
}

/// A customer channel as read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    #[serde(default)]
    pub preferred: bool,
}

/// A channel to write: all three fields are required by Gorgias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewChannel {
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    pub preferred: bool,
}

impl NewChannel {
    pub fn email(address: &str, preferred: bool) -> Self {
        Self {
            kind: "email".into(),
            address: address.to_owned(),
            preferred,
        }
    }

    pub fn phone(address: &str, preferred: bool) -> Self {
        Self {
            kind: "phone".into(),
            address: address.to_owned(),
            preferred,
        }
    }
}

impl From<&Channel> for NewChannel {
    fn from(c: &Channel) -> Self {
        Self {
            kind: c.kind.clone(),
            address: c.address.clone(),
            preferred: c.preferred,
        }
    }
}

/// A customer. From the list endpoint `channels` and `integrations` are `None` (the
/// compact projection); from `GET /api/customers/{id}` they are present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub id: i64,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub language: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub meta: Value,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub channels: Option<Vec<Channel>>,
    #[serde(default)]
    pub integrations: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "opt_datetime")]
    pub created_datetime: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "opt_datetime")]
    pub updated_datetime: Option<DateTime<Utc>>,
}

impl Customer {
    /// Addresses of the channels of one type (`None` when this is a compact list item).
    pub fn channel_addresses(&self, kind: &str) -> Option<Vec<&str>> {
        self.channels.as_ref().map(|chs| {
            chs.iter()
                .filter(|c| c.kind == kind)
                .map(|c| c.address.as_str())
                .collect()
        })
    }
}

/// A partial update: only `Some` fields are sent; `Some(None)` clears a field with `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CustomerUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Option<String>>,
    /// `note` on update is accepted in practice but UNCONFIRMED in the official schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Option<String>>,
    /// Replaces the whole channel list when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<NewChannel>>,
}

impl CustomerUpdate {
    pub fn is_empty(&self) -> bool {
        *self == CustomerUpdate::default()
    }
}

/// A customer to create (only keys of the official create schema).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NewCustomer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    pub channels: Vec<NewChannel>,
}

/// The kind of a customer event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    Created,
    Updated,
    Deleted,
    Merged,
    Other(String),
}

impl EventKind {
    fn parse(s: &str) -> Self {
        match s {
            "customer-created" => Self::Created,
            "customer-updated" => Self::Updated,
            "customer-deleted" => Self::Deleted,
            "customer-merged" => Self::Merged,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// One event of `GET /api/events`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerEvent {
    pub id: i64,
    pub kind: EventKind,
    pub object_id: i64,
    pub user_id: Option<i64>,
    pub created: Option<DateTime<Utc>>,
    /// Raw `data`; its content for customer events is UNCONFIRMED.
    pub data: Value,
}

impl CustomerEvent {
    /// Reads an event leniently; `None` when `id`/`type`/`object_id` are missing.
    pub fn from_value(v: &Value) -> Option<Self> {
        Some(Self {
            id: v.get("id")?.as_i64()?,
            kind: EventKind::parse(v.get("type")?.as_str()?),
            object_id: v.get("object_id")?.as_i64()?,
            user_id: v.get("user_id").and_then(Value::as_i64),
            created: v
                .get("created_datetime")
                .and_then(Value::as_str)
                .and_then(parse_datetime),
            data: v.get("data").cloned().unwrap_or(Value::Null),
        })
    }

    /// For a merge: `(source, target)` when `data` names them (`source_id`/`target_id`,
    /// UNCONFIRMED); otherwise `(None, None)` and the caller resolves by reading its links.
    pub fn merge_ids(&self) -> (Option<i64>, Option<i64>) {
        let pick = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| self.data.get(*k).and_then(Value::as_i64))
        };
        (
            pick(&["source_id", "source_customer_id", "merged_customer_id"]),
            pick(&["target_id", "target_customer_id"]),
        )
    }
}

/// `GET /api/account`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
}

/// The list envelope, items left raw so one bad item does not sink the page.
#[derive(Debug, Deserialize)]
pub struct ListPage {
    #[serde(default)]
    pub data: Vec<Value>,
    #[serde(default)]
    pub meta: Option<ListMeta>,
}

#[derive(Debug, Deserialize)]
pub struct ListMeta {
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// How many items the whole listing holds, when the server says (some OpenAPI blocks
    /// list `meta.total_resources`; UNCONFIRMED for tickets). Only used to show progress.
    #[serde(default)]
    pub total_resources: Option<u64>,
}

impl ListPage {
    /// The next cursor, treating empty strings as the end.
    pub fn next_cursor(&self) -> Option<&str> {
        self.meta
            .as_ref()
            .and_then(|m| m.next_cursor.as_deref())
            .filter(|c| !c.is_empty())
    }

    /// `meta.total_resources`, when sent.
    pub fn total(&self) -> Option<u64> {
        self.meta.as_ref().and_then(|m| m.total_resources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_recorded_shapes() {
        let full: Customer = serde_json::from_value(json!({
            "id": 486721622, "external_id": null, "active": true, "email": "nango@example.com",
            "name": null, "firstname": "", "lastname": "",
            "channels": [{"id": 611625690, "type": "email", "address": "nango@example.com", "preferred": true,
                          "created_datetime": "2025-02-06T14:47:40.133539+00:00", "deleted_datetime": null}],
            "language": null, "timezone": null,
            "created_datetime": "2025-02-06T14:47:40.122719+00:00",
            "updated_datetime": "2025-02-06T14:47:40.123675+00:00",
            "meta": {"name_set_via": "agent"}, "data": null, "customer": null, "integrations": {},
            "note": null, "custom_fields": {}, "external_data": {}, "ecommerce_data": {}
        }))
        .unwrap();
        assert_eq!(
            full.channel_addresses("email").unwrap(),
            vec!["nango@example.com"]
        );
        assert_eq!(
            full.updated_datetime.unwrap().timestamp_micros() % 1_000_000,
            123_675
        );
        let compact: Customer = serde_json::from_value(
            json!({"id": 1, "updated_datetime": "2019-04-13T03:27:56.973873"}),
        )
        .unwrap();
        assert!(compact.channels.is_none());
        assert!(
            serde_json::from_value::<Customer>(json!({"id": 1, "updated_datetime": "nope"}))
                .is_err()
        );
    }

    /// Regression (found by `fuzz/run.sh gorgias` after 396,513 runs): `"-125-02-06T14:47:40"`
    /// parsed (chrono's `%Y` takes a sign) into a year that serialises as `-0125-…Z`, which
    /// could not be read back; a customer did not survive its own round trip.
    #[test]
    fn years_outside_four_digits_are_refused() {
        assert_eq!(parse_datetime("-125-02-06T14:47:40.123675+00:00"), None);
        assert_eq!(parse_datetime("+10000-01-01 00:00:00"), None);
        let c: Customer =
            serde_json::from_value(json!({"id": 1, "updated_datetime": "0001-01-01T00:00:00Z"}))
                .unwrap();
        let back: Customer = serde_json::from_slice(&serde_json::to_vec(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert!(
            serde_json::from_value::<Customer>(
                json!({"id": 1, "updated_datetime": "-125-02-06T14:47:40"})
            )
            .is_err()
        );
    }

    #[test]
    fn partial_update_sends_only_what_is_set() {
        let u = CustomerUpdate {
            name: Some(Some("A B".into())),
            note: Some(None),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&u).unwrap(),
            json!({"name": "A B", "note": null})
        );
        assert!(CustomerUpdate::default().is_empty());
        let v = parse_datetime("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(format_version(v), "2024-01-01T00:00:00.000000");
        assert_eq!(format_filter(v), "2024-01-01T00:00:00Z");
    }
}
