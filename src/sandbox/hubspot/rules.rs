//! Portal validation rules of the HubSpot sandbox (contract `hubspot-2026.md` §2): properties
//! required on create (record-creator settings) and properties required when another one has
//! a given value (conditional required). Pure: which writes break which rule, and the
//! HubSpot-shaped 400 saying so. Must never touch the store or decide which API versions
//! enforce the rules (the routes ask [`super::HubspotSandbox`] for that).

use super::errors::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A property required when another property has a given value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalRequired {
    /// The property whose value triggers the rule (`country`).
    pub if_property: String,
    /// The value that triggers it (`France`; compared exactly).
    pub if_value: String,
    /// The property then required (`zip`).
    pub require: String,
}

/// How a batch answers when some inputs break a rule. Undocumented by HubSpot (UNCONFIRMED),
/// so both readings exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchMode {
    /// 207 with one error per bad input, keyed by `objectWriteTraceId` (only when every
    /// input carries one; otherwise the whole request fails with 400).
    #[default]
    PerRecord,
    /// One 400 for the whole request; nothing is written.
    WholeBatch,
}

/// The portal's rules (`POST /__sandbox/portal-rules`; every key optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalRules {
    /// Properties a create must set (non-empty).
    #[serde(default)]
    pub create_required: Vec<String>,
    /// Properties required when another property has a value (creates and updates).
    #[serde(default)]
    pub conditional_required: Vec<ConditionalRequired>,
    /// Batch answer to broken rules.
    #[serde(default)]
    pub batch_mode: BatchMode,
}

impl PortalRules {
    /// True when no rule is set (writes are never refused).
    pub fn is_empty(&self) -> bool {
        self.create_required.is_empty() && self.conditional_required.is_empty()
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `MISSING_REQUIRED_PROPERTY` or `MISSING_CONDITIONAL_REQUIRED_PROPERTY`.
    pub code: &'static str,
    /// The property that must be provided.
    pub property: String,
    pub message: String,
}

fn filled(props: &BTreeMap<String, String>, name: &str) -> bool {
    props.get(name).is_some_and(|v| !v.trim().is_empty())
}

/// The rules a write breaks. `current` is the record before the write (`None` for a create).
/// A create must set every `create_required` property; a create or update must leave the
/// record with `require` set whenever `if_property` equals `if_value`. An update only
/// answers for a conditional rule it touches (sets either property), so a record that was
/// already out of line (made before the rule) can still be edited elsewhere (UNCONFIRMED).
pub fn check(
    rules: &PortalRules,
    current: Option<&BTreeMap<String, String>>,
    write: &BTreeMap<String, String>,
) -> Vec<Violation> {
    let mut out = vec![];
    if current.is_none() {
        for p in rules.create_required.iter().filter(|p| !filled(write, p)) {
            out.push(Violation {
                code: "MISSING_REQUIRED_PROPERTY",
                property: p.clone(),
                message: format!("A value for {p} must be provided"),
            });
        }
    }
    let mut merged = current.cloned().unwrap_or_default();
    merged.extend(write.iter().map(|(k, v)| (k.clone(), v.clone())));
    for r in &rules.conditional_required {
        let touched = current.is_none()
            || write.contains_key(&r.if_property)
            || write.contains_key(&r.require);
        let triggered = merged.get(&r.if_property).map(|v| v.trim()) == Some(r.if_value.trim());
        let already = out.iter().any(|v| v.property == r.require);
        if touched && triggered && !filled(&merged, &r.require) && !already {
            out.push(Violation {
                code: "MISSING_CONDITIONAL_REQUIRED_PROPERTY",
                property: r.require.clone(),
                message: format!(
                    "{} is required because of a conditional property rule based on [{}]",
                    r.require, r.if_property
                ),
            });
        }
    }
    out
}

/// The 400 `VALIDATION_ERROR` for broken rules (body shape of the contract's examples).
pub fn refusal(violations: &[Violation]) -> ApiError {
    let errors: Vec<Value> = violations
        .iter()
        .map(|v| {
            json!({"code": v.code, "message": v.message,
                   "context": {"propertyName": [v.property]}})
        })
        .collect();
    ApiError::validation("The property values provided are invalid").with_errors(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rules() -> PortalRules {
        PortalRules {
            create_required: vec!["firstname".into()],
            conditional_required: vec![ConditionalRequired {
                if_property: "country".into(),
                if_value: "France".into(),
                require: "zip".into(),
            }],
            batch_mode: BatchMode::PerRecord,
        }
    }

    #[test]
    fn create_needs_required_and_conditional_properties() {
        let v = check(&rules(), None, &props(&[("country", "France")]));
        let codes: Vec<_> = v.iter().map(|v| (v.code, v.property.as_str())).collect();
        assert_eq!(
            codes,
            vec![
                ("MISSING_REQUIRED_PROPERTY", "firstname"),
                ("MISSING_CONDITIONAL_REQUIRED_PROPERTY", "zip")
            ]
        );
        let ok = props(&[("firstname", "A"), ("country", "France"), ("zip", "75001")]);
        assert!(check(&rules(), None, &ok).is_empty());
        assert!(check(&rules(), None, &props(&[("firstname", " ")])).len() == 1);
    }

    #[test]
    fn update_answers_only_for_conditional_rules_it_touches() {
        let before = props(&[("country", "Spain")]);
        // No create rule on update.
        assert!(check(&rules(), Some(&before), &props(&[("lastname", "B")])).is_empty());
        let v = check(&rules(), Some(&before), &props(&[("country", "France")]));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].code, "MISSING_CONDITIONAL_REQUIRED_PROPERTY");
        let with_zip = props(&[("country", "France"), ("zip", "1")]);
        assert!(check(&rules(), Some(&with_zip), &props(&[("country", "France")])).is_empty());
        // Clearing the required property while the condition holds is refused.
        assert_eq!(
            check(&rules(), Some(&with_zip), &props(&[("zip", "")])).len(),
            1
        );
        // Untouched rule on an already out-of-line record: not this write's business.
        let stale = props(&[("country", "France")]);
        assert!(check(&rules(), Some(&stale), &props(&[("lastname", "C")])).is_empty());
    }

    #[test]
    fn rules_parse_with_every_key_optional() {
        let r: PortalRules = serde_json::from_str("{}").unwrap();
        assert!(r.is_empty());
        assert_eq!(r.batch_mode, BatchMode::PerRecord);
        let r: PortalRules = serde_json::from_str(
            r#"{"create_required":["zip"],"batch_mode":"whole_batch",
                "conditional_required":[{"if_property":"country","if_value":"France","require":"zip"}]}"#,
        )
        .unwrap();
        assert_eq!(r.batch_mode, BatchMode::WholeBatch);
        assert!(serde_json::from_str::<PortalRules>(r#"{"nope":1}"#).is_err());
        let body = refusal(&check(&r, None, &props(&[]))).body;
        assert_eq!(body["category"], "VALIDATION_ERROR");
        assert_eq!(body["errors"][0]["code"], "MISSING_REQUIRED_PROPERTY");
        assert_eq!(body["errors"][0]["context"]["propertyName"][0], "zip");
    }
}
