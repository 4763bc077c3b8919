//! The JSON report: the stable, documented document `tether.plan/1` (docs/plan-schema.md).
//!
//! The plan's own serde form with two keys in front: `schema` (`"tether.plan/1"`) and
//! `generated_at` (string or `null`). Pure. Must never rename or drop a key: consumers rely on
//! them, and a test pins the top-level keys.

use super::RenderOptions;
use crate::engine::Plan;
use serde_json::{Map, Value};

/// The document's `schema` value. Bumped only for a breaking change.
pub const SCHEMA: &str = "tether.plan/1";

/// The JSON document of `plan` as a value (for callers that embed or post-process it).
pub fn to_json_value(plan: &Plan, generated_at: Option<&str>) -> Value {
    let mut doc = Map::new();
    doc.insert("schema".into(), Value::String(SCHEMA.into()));
    doc.insert(
        "generated_at".into(),
        generated_at.map_or(Value::Null, |s| Value::String(s.into())),
    );
    // Serialising plain data with string keys cannot fail; an empty object is the fallback.
    if let Ok(Value::Object(fields)) = serde_json::to_value(plan) {
        doc.extend(fields);
    }
    Value::Object(doc)
}

/// Renders the pretty-printed JSON document, ending with a newline.
pub(crate) fn render(plan: &Plan, opts: &RenderOptions) -> String {
    let doc = to_json_value(plan, opts.generated_at.as_deref());
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    /// Changing this list is a breaking change of a public format: update
    /// docs/plan-schema.md, and bump the schema for anything but an addition at the end.
    const TOP_LEVEL: [&str; 15] = [
        "schema",
        "generated_at",
        "schema_version",
        "summary",
        "caps",
        "links",
        "hubspot_updates",
        "gorgias_updates",
        "hubspot_creates",
        "gorgias_creates",
        "base_updates",
        "changes",
        "conflicts",
        "skips",
        "unsettled",
    ];

    #[test]
    fn top_level_keys_are_pinned() {
        let s = render(&fixture::plan(), &RenderOptions::default());
        let v: Value = serde_json::from_str(&s).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, TOP_LEVEL);
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["generated_at"], Value::Null);
        assert_eq!(v["schema_version"], 1);
    }

    #[test]
    fn nested_keys_are_pinned() {
        let v = to_json_value(&fixture::plan(), Some("2026-11-25T17:00:00Z"));
        assert_eq!(v["generated_at"], "2026-11-25T17:00:00Z");
        let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
        assert_eq!(
            keys(&v["summary"]),
            [
                "pairs",
                "links",
                "hubspot_updates",
                "gorgias_updates",
                "hubspot_creates",
                "gorgias_creates",
                "field_writes",
                "base_updates",
                "conflicts",
                "skips"
            ]
        );
        assert_eq!(
            keys(&v["caps"]),
            [
                "creates",
                "max_creates",
                "overwrites",
                "max_overwrites",
                "exceeded",
                "allow_large",
                "blocked",
                "reason"
            ]
        );
        assert_eq!(
            keys(&v["changes"][0]),
            [
                "hubspot_id",
                "gorgias_id",
                "field",
                "target",
                "hubspot",
                "gorgias",
                "base",
                "value",
                "overwrites",
                "cause",
                "reason"
            ]
        );
        assert_eq!(
            keys(&v["skips"][0]),
            ["hubspot_id", "gorgias_id", "field", "code", "reason"]
        );
        assert_eq!(v["changes"][0]["hubspot_id"], "101");
        assert_eq!(v["changes"][0]["gorgias_id"], 7);
        assert_eq!(v["changes"][0]["target"], "gorgias");
        assert_eq!(v["changes"][0]["cause"], "changed_in_hubspot");
        assert_eq!(v["skips"][1]["code"], "create_disabled");
    }

    #[test]
    fn values_round_trip_unchanged() {
        let v: Value =
            serde_json::from_str(&render(&fixture::plan(), &RenderOptions::default())).unwrap();
        assert_eq!(v["base_updates"][0]["value"], fixture::NASTY);
    }
}
