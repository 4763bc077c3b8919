//! Contact property definitions and the value rules of contract §7 (types, fieldTypes,
//! options, date/datetime/bool/number/multi-checkbox). Pure: never touches HTTP or the clock.

use super::errors::PropertyProblem;
use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One enumeration option.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    pub label: String,
    pub value: String,
    #[serde(default)]
    pub hidden: bool,
    #[serde(default)]
    pub display_order: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A property definition (the parts the sandbox uses).
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyDef {
    pub name: String,
    pub label: String,
    pub kind: String,
    pub field_type: String,
    pub group_name: String,
    pub description: String,
    pub options: Vec<PropertyOption>,
    pub has_unique_value: bool,
    pub hubspot_defined: bool,
    pub read_only_value: bool,
    pub form_field: bool,
    pub created_at: DateTime<Utc>,
}

/// Allowed `type` → `fieldType` pairs (contract §7).
pub fn field_type_allowed(kind: &str, field_type: &str) -> bool {
    let allowed: &[&str] = match kind {
        "string" => &[
            "text",
            "textarea",
            "html",
            "phonenumber",
            "file",
            "calculation_equation",
        ],
        "number" => &["number", "calculation_equation"],
        "bool" => &["booleancheckbox", "calculation_equation"],
        "enumeration" => &[
            "select",
            "radio",
            "checkbox",
            "booleancheckbox",
            "calculation_equation",
        ],
        "date" | "datetime" => &["date"],
        "phone_number" => &["phonenumber", "text"],
        _ => &[],
    };
    allowed.contains(&field_type)
}

/// Whether a property name is acceptable for a custom property.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PropertyDef {
    fn builtin(name: &str, label: &str, kind: &str, field_type: &str, read_only: bool) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind: kind.into(),
            field_type: field_type.into(),
            group_name: "contactinformation".into(),
            description: String::new(),
            options: vec![],
            has_unique_value: false,
            hubspot_defined: true,
            read_only_value: read_only,
            form_field: !read_only,
            created_at: DateTime::<Utc>::from_timestamp_millis(1_262_304_000_000)
                .unwrap_or_default(),
        }
    }

    /// The built-in contact properties the sandbox knows.
    pub fn builtins() -> Vec<PropertyDef> {
        let mut v = vec![
            Self::builtin("email", "Email", "string", "text", false),
            Self::builtin("firstname", "First Name", "string", "text", false),
            Self::builtin("lastname", "Last Name", "string", "text", false),
            Self::builtin("phone", "Phone Number", "string", "phonenumber", false),
            Self::builtin(
                "mobilephone",
                "Mobile Phone Number",
                "string",
                "phonenumber",
                false,
            ),
            Self::builtin("company", "Company Name", "string", "text", false),
            Self::builtin("jobtitle", "Job Title", "string", "text", false),
            Self::builtin("website", "Website URL", "string", "text", false),
            Self::builtin("address", "Street Address", "string", "text", false),
            Self::builtin("city", "City", "string", "text", false),
            Self::builtin("state", "State/Region", "string", "text", false),
            Self::builtin("zip", "Postal Code", "string", "text", false),
            Self::builtin("country", "Country/Region", "string", "text", false),
            Self::builtin("fax", "Fax Number", "string", "text", false),
            Self::builtin("date_of_birth", "Date of birth", "date", "date", false),
            Self::builtin("hubspot_owner_id", "Contact owner", "string", "text", false),
            Self::builtin(
                "hs_additional_emails",
                "Additional email addresses",
                "enumeration",
                "checkbox",
                true,
            ),
            Self::builtin(
                "hs_merged_object_ids",
                "Merged record IDs",
                "enumeration",
                "checkbox",
                true,
            ),
            Self::builtin("hs_object_id", "Record ID", "number", "number", true),
            Self::builtin("createdate", "Create Date", "datetime", "date", true),
            Self::builtin(
                "lastmodifieddate",
                "Last Modified Date",
                "datetime",
                "date",
                true,
            ),
            Self::builtin(
                "hs_lastmodifieddate",
                "Object last modified date/time",
                "datetime",
                "date",
                true,
            ),
        ];
        let mut stage = Self::builtin(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            false,
        );
        stage.options = LIFECYCLE
            .iter()
            .enumerate()
            .map(|(i, v)| PropertyOption {
                label: v.to_string(),
                value: v.to_string(),
                hidden: false,
                display_order: i as i64,
                description: None,
            })
            .collect();
        v.push(stage);
        let mut lead = Self::builtin(
            "hs_lead_status",
            "Lead Status",
            "enumeration",
            "radio",
            false,
        );
        lead.options = LEAD_STATUS
            .iter()
            .enumerate()
            .map(|(i, v)| PropertyOption {
                label: v.to_string(),
                value: v.to_string(),
                hidden: false,
                display_order: i as i64,
                description: None,
            })
            .collect();
        v.push(lead);
        v
    }

    /// The `Property` JSON of the properties API.
    pub fn to_json(&self) -> Value {
        let ts = iso(self.created_at);
        json!({
            "name": self.name,
            "label": self.label,
            "type": self.kind,
            "fieldType": self.field_type,
            "groupName": self.group_name,
            "description": self.description,
            "options": self.options,
            "displayOrder": -1,
            "hidden": false,
            "formField": self.form_field,
            "hasUniqueValue": self.has_unique_value,
            "hubspotDefined": self.hubspot_defined,
            "calculated": false,
            "externalOptions": false,
            "createdAt": ts,
            "updatedAt": ts,
            "archived": false,
            "modificationMetadata": {
                "archivable": !self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
        })
    }
}

/// Options of the default `hs_lead_status` property (shown on the Gorgias sidebar card).
const LEAD_STATUS: &[&str] = &[
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
];

/// Lifecycle stages in their forward order.
pub const LIFECYCLE: &[&str] = &[
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
];

/// ISO-8601 UTC with milliseconds and `Z`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses a timestamp given as epoch ms (string or number) or ISO-8601.
pub fn parse_instant(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => n.as_i64().and_then(DateTime::<Utc>::from_timestamp_millis),
        Value::String(s) => {
            let s = s.trim();
            if let Ok(ms) = s.parse::<i64>() {
                return DateTime::<Utc>::from_timestamp_millis(ms);
            }
            if let Ok(d) = DateTime::parse_from_rfc3339(s) {
                return Some(d.with_timezone(&Utc));
            }
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| Utc.from_utc_datetime(&d))
        }
        _ => None,
    }
}

fn problem(name: &str, code: &'static str, message: String) -> PropertyProblem {
    PropertyProblem {
        name: name.to_string(),
        code,
        message,
    }
}

/// Checks and normalises one written value. `current` is the stored value (for the
/// multi-checkbox `;` append). Returns the value to store (`""` means cleared).
/// Long (about 120 lines): one short match arm per HubSpot property type.
pub fn normalise_value(
    def: Option<&PropertyDef>,
    name: &str,
    value: &str,
    current: Option<&str>,
    lowercase_emails: bool,
) -> Result<String, PropertyProblem> {
    let Some(def) = def else {
        return Err(problem(
            name,
            "PROPERTY_DOESNT_EXIST",
            format!("Property \"{name}\" does not exist"),
        ));
    };
    if def.read_only_value {
        return Err(problem(
            name,
            "READ_ONLY_VALUE",
            format!("\"{name}\" is a read only property; its value cannot be set."),
        ));
    }
    if value.is_empty() {
        return Ok(String::new());
    }
    match def.kind.as_str() {
        "number" => value
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|_| value.trim().to_string())
            .ok_or_else(|| {
                problem(
                    name,
                    "INVALID_INTEGER",
                    format!("{value} is not a valid number"),
                )
            }),
        "bool" => match value.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(value.to_ascii_lowercase()),
            _ => Err(problem(
                name,
                "INVALID_OPTION",
                format!("{value} was not one of the allowed options: [true, false]"),
            )),
        },
        "date" => {
            let t = parse_instant(&Value::String(value.to_string())).ok_or_else(|| {
                problem(name, "INVALID_DATE", format!("{value} is not a valid date"))
            })?;
            if t.timestamp_millis() % 86_400_000 != 0 {
                return Err(problem(
                    name,
                    "INVALID_DATE",
                    format!("{value} is not at midnight UTC"),
                ));
            }
            Ok(t.format("%Y-%m-%d").to_string())
        }
        "datetime" => parse_instant(&Value::String(value.to_string()))
            .map(iso)
            .ok_or_else(|| {
                problem(
                    name,
                    "INVALID_DATETIME",
                    format!("{value} is not a valid datetime"),
                )
            }),
        "enumeration" => {
            let allowed: Vec<&str> = def.options.iter().map(|o| o.value.as_str()).collect();
            let multi = def.field_type == "checkbox";
            let bad = |v: &str| {
                problem(
                    name,
                    "INVALID_OPTION",
                    format!(
                        "{v} was not one of the allowed options: [{}]",
                        allowed.join(", ")
                    ),
                )
            };
            if multi {
                let (append, rest) = match value.strip_prefix(';') {
                    Some(r) => (true, r),
                    None => (false, value),
                };
                let mut out: Vec<String> = if append {
                    current
                        .unwrap_or("")
                        .split(';')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                } else {
                    vec![]
                };
                for v in rest.split(';').filter(|s| !s.is_empty()) {
                    if !allowed.contains(&v) {
                        return Err(bad(v));
                    }
                    if !out.iter().any(|o| o == v) {
                        out.push(v.to_string());
                    }
                }
                Ok(out.join(";"))
            } else if allowed.contains(&value) {
                Ok(value.to_string())
            } else {
                Err(bad(value))
            }
        }
        _ => {
            if value.chars().count() > 65_536 {
                return Err(problem(name, "INVALID_STRING", "value too long".into()));
            }
            if name == "email" && lowercase_emails {
                Ok(value.trim().to_lowercase())
            } else {
                Ok(value.to_string())
            }
        }
    }
}

/// A custom property as sent to `POST /crm/v3/properties/contacts`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyCreate {
    pub name: Option<String>,
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub field_type: Option<String>,
    pub group_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub options: Vec<PropertyOption>,
    #[serde(default)]
    pub has_unique_value: bool,
    #[serde(default)]
    pub form_field: bool,
}

/// Validates a property creation into a definition, or the list of problems.
pub fn validate_create(req: PropertyCreate, now: DateTime<Utc>) -> Result<PropertyDef, String> {
    let (Some(name), Some(label), Some(kind), Some(field_type), Some(group_name)) = (
        req.name,
        req.label,
        req.kind,
        req.field_type,
        req.group_name,
    ) else {
        return Err("name, label, type, fieldType and groupName are required".into());
    };
    if !valid_name(&name) {
        return Err(format!("Invalid property name {name:?}"));
    }
    if matches!(kind.as_str(), "object_coordinates" | "json") {
        return Err(format!("Properties of type {kind} cannot be created"));
    }
    if !field_type_allowed(&kind, &field_type) {
        return Err(format!(
            "fieldType {field_type} is not valid for a property of type {kind}"
        ));
    }
    if kind == "enumeration" && field_type != "booleancheckbox" && req.options.is_empty() {
        return Err("Enumeration properties need options".into());
    }
    Ok(PropertyDef {
        name,
        label,
        kind,
        field_type,
        group_name,
        description: req.description.unwrap_or_default(),
        options: req.options,
        has_unique_value: req.has_unique_value,
        hubspot_defined: false,
        read_only_value: false,
        form_field: req.form_field,
        created_at: now,
    })
}

/// 2026-09 normalisation of date values that are not at midnight UTC (contract
/// `hubspot-2026.md` §2, from third-party reports, UNCONFIRMED): the value is moved to its
/// day's midnight instead of being refused, and a `PROPERTY_VALUE_NORMALIZED` warning
/// (`{category, message, context}`) says so. Returns the warnings; `props` is rewritten.
pub fn normalise_dates(
    defs: &BTreeMap<String, PropertyDef>,
    props: &mut BTreeMap<String, String>,
) -> Vec<Value> {
    let mut warnings = vec![];
    for (name, value) in props.iter_mut() {
        if defs.get(name).map(|d| d.kind.as_str()) != Some("date") {
            continue;
        }
        let Some(t) = parse_instant(&Value::String(value.clone())) else {
            continue;
        };
        let ms = t.timestamp_millis();
        if ms.rem_euclid(86_400_000) == 0 {
            continue;
        }
        let midnight = ms - ms.rem_euclid(86_400_000);
        warnings.push(serde_json::json!({
            "category": "PROPERTY_VALUE_NORMALIZED",
            "message": format!("{name} was normalized"),
            "context": {"propertyName": name, "rawValue": value.clone(),
                        "normalizedValue": midnight.to_string()},
        }));
        *value = midnight.to_string();
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: &str, ft: &str, options: &[&str]) -> PropertyDef {
        let mut d = PropertyDef::builtin("p", "P", kind, ft, false);
        d.options = options
            .iter()
            .map(|o| PropertyOption {
                label: o.to_string(),
                value: o.to_string(),
                hidden: false,
                display_order: 0,
                description: None,
            })
            .collect();
        d
    }

    #[test]
    fn value_rules_by_type() {
        let n = def("number", "number", &[]);
        assert_eq!(
            normalise_value(Some(&n), "p", "1.5", None, true).unwrap(),
            "1.5"
        );
        assert_eq!(
            normalise_value(Some(&n), "p", "abc", None, true)
                .unwrap_err()
                .code,
            "INVALID_INTEGER"
        );
        let b = def("bool", "booleancheckbox", &[]);
        assert_eq!(
            normalise_value(Some(&b), "p", "TRUE", None, true).unwrap(),
            "true"
        );
        assert!(normalise_value(Some(&b), "p", "yes", None, true).is_err());
        let d = def("date", "date", &[]);
        assert_eq!(
            normalise_value(Some(&d), "p", "1430438400000", None, true).unwrap(),
            "2015-05-01"
        );
        assert!(normalise_value(Some(&d), "p", "1430438400001", None, true).is_err());
        let dt = def("datetime", "date", &[]);
        assert_eq!(
            normalise_value(Some(&dt), "p", "1582947017000", None, true).unwrap(),
            "2020-02-29T03:30:17.000Z"
        );
        let e = def("enumeration", "checkbox", &["A", "B", "C"]);
        assert_eq!(
            normalise_value(Some(&e), "p", "A;B", None, true).unwrap(),
            "A;B"
        );
        assert_eq!(
            normalise_value(Some(&e), "p", ";C", Some("A;B"), true).unwrap(),
            "A;B;C"
        );
        assert_eq!(
            normalise_value(Some(&e), "p", "C", Some("A;B"), true).unwrap(),
            "C"
        );
        assert_eq!(
            normalise_value(Some(&e), "p", "Z", None, true)
                .unwrap_err()
                .code,
            "INVALID_OPTION"
        );
        assert_eq!(
            normalise_value(Some(&e), "p", "", Some("A"), true).unwrap(),
            ""
        );
        assert_eq!(
            normalise_value(None, "nope", "x", None, true)
                .unwrap_err()
                .code,
            "PROPERTY_DOESNT_EXIST"
        );
    }

    #[test]
    fn create_validation() {
        let now = Utc::now();
        let ok = PropertyCreate {
            name: Some("gorgias_customer_id".into()),
            label: Some("G".into()),
            kind: Some("string".into()),
            field_type: Some("text".into()),
            group_name: Some("contactinformation".into()),
            description: None,
            options: vec![],
            has_unique_value: true,
            form_field: false,
        };
        assert!(validate_create(ok.clone(), now).is_ok());
        let mut bad = ok.clone();
        bad.field_type = Some("number".into());
        assert!(validate_create(bad, now).is_err());
        let mut bad = ok.clone();
        bad.name = Some("Bad Name".into());
        assert!(validate_create(bad, now).is_err());
        let mut bad = ok;
        bad.kind = Some("enumeration".into());
        bad.field_type = Some("select".into());
        assert!(validate_create(bad, now).is_err());
    }
}
