//! Rendering a sandbox contact as HubSpot's `SimplePublicObject` JSON: the requested
//! properties (or the defaults), the always-returned system properties, the archive stamp and
//! `propertiesWithHistory`. Pure: must never change the store, do HTTP or read the clock.

use super::properties::iso;
use super::store::{ContactRec, HistEntry, HistoryView, Source, Store};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

impl Store {
    /// Renders a record as a `SimplePublicObject`.
    pub fn render(
        &self,
        c: &ContactRec,
        properties: Option<&[String]>,
        with_history: &[String],
    ) -> Value {
        render_values(
            c.id,
            |k| c.value(k),
            |k| self.props.contains_key(k),
            c.created_at,
            c.updated_at,
            c.archived_at,
            properties,
            Some((with_history, &c.history, self.app_id)),
        )
    }
}

/// The default properties of GET/list/search when `properties` is absent.
pub const DEFAULT_PROPERTIES: &[&str] = &[
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
];

/// Always returned system properties.
const ALWAYS: &[&str] = &["createdate", "hs_object_id", "lastmodifieddate"];

/// Builds a `SimplePublicObject` JSON from values.
#[allow(clippy::too_many_arguments)]
pub fn render_values(
    id: u64,
    value: impl Fn(&str) -> Option<String>,
    known: impl Fn(&str) -> bool,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
    archived_at: Option<DateTime<Utc>>,
    properties: Option<&[String]>,
    history: Option<HistoryView<'_>>,
) -> Value {
    let mut names: Vec<String> = match properties {
        Some(list) => list.iter().filter(|k| known(k)).cloned().collect(),
        None => DEFAULT_PROPERTIES.iter().map(|s| s.to_string()).collect(),
    };
    for a in ALWAYS {
        if !names.iter().any(|n| n == a) {
            names.push(a.to_string());
        }
    }
    names.sort();
    names.dedup();
    let mut props = Map::new();
    for n in names {
        props.insert(
            n.clone(),
            value(&n).map(Value::String).unwrap_or(Value::Null),
        );
    }
    let mut obj = json!({
        "id": id.to_string(),
        "properties": props,
        "createdAt": iso(created),
        "updatedAt": iso(updated),
        "archived": archived_at.is_some(),
    });
    if let Some(a) = archived_at
        && let Some(o) = obj.as_object_mut()
    {
        o.insert("archivedAt".into(), Value::String(iso(a)));
    }
    if let Some((names, hist, app_id)) = history
        && !names.is_empty()
        && let Some(o) = obj.as_object_mut()
    {
        let mut out = Map::new();
        for n in names.iter().filter(|k| known(k)) {
            let entries: Vec<Value> = hist
                .get(n)
                .map(|h| h.iter().rev().map(|e| history_json(e, app_id)).collect())
                .unwrap_or_default();
            out.insert(n.clone(), Value::Array(entries));
        }
        o.insert("propertiesWithHistory".into(), Value::Object(out));
    }
    obj
}

fn history_json(e: &HistEntry, app_id: u64) -> Value {
    let mut v = json!({"value": e.value, "timestamp": iso(e.timestamp)});
    if let Some(o) = v.as_object_mut() {
        match &e.source {
            Source::Integration => {
                o.insert("sourceType".into(), json!("INTEGRATION"));
                o.insert("sourceId".into(), json!(app_id.to_string()));
            }
            Source::Person(uid) => {
                o.insert("sourceType".into(), json!("CRM_UI"));
                o.insert("sourceId".into(), json!(format!("userId:{uid}")));
                o.insert("updatedByUserId".into(), json!(uid));
            }
            Source::Import => {
                o.insert("sourceType".into(), json!("IMPORT"));
            }
        }
    }
    v
}
