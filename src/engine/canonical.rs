//! Mapping a record through the field mappings: reading each side's value into the field's
//! canonical form, and writing a canonical value back in a side's shape (HubSpot property
//! strings, Gorgias top-level fields, phone channels and `data` paths).
//!
//! Pure. Must never guess: a value that does not fit (bad e-mail, phone, date, an enum value
//! outside the map) is an `Err` with the reason, and the caller skips that field.

use super::input::{GorgiasRecord, HubspotRecord};
use crate::domain::Region;
use crate::mappings::transform::{from_canonical, to_canonical};
use crate::mappings::{FieldMapping, GorgiasAccess, HubspotAccess, ValueKind};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A canonical value read from one side: `Ok(None)` is empty, `Err` says why it does not fit.
pub type Canon<'a> = Result<Option<Cow<'a, str>>, FieldError>;

/// Why a side's value of a field cannot be read. Callers match on the variant, never on the
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// A Gorgias list item has no `channels`: its phone is unknown, not invalid.
    #[error("the customer's channels were not loaded (pass the full customer, not a list item)")]
    ChannelsMissing,
    /// The value does not fit the field (bad e-mail, phone, date, a value outside the map).
    #[error("{0}")]
    Invalid(String),
}

impl From<String> for FieldError {
    fn from(reason: String) -> Self {
        FieldError::Invalid(reason)
    }
}

impl From<&str> for FieldError {
    fn from(reason: &str) -> Self {
        FieldError::Invalid(reason.to_owned())
    }
}

impl From<FieldError> for String {
    fn from(e: FieldError) -> Self {
        e.to_string()
    }
}

/// The side's text after the field's transforms; `None` when empty.
fn transformed<'a>(f: &FieldMapping, raw: Option<Cow<'a, str>>) -> Option<Cow<'a, str>> {
    let mut v = raw?;
    for t in &f.transforms {
        v = t.apply(v);
    }
    if v.trim().is_empty() { None } else { Some(v) }
}

/// The HubSpot text of field `f` after transforms, before conversion. `None` when empty.
pub fn hubspot_text<'a>(f: &FieldMapping, r: &'a HubspotRecord) -> Option<Cow<'a, str>> {
    let raw = match &f.hubspot {
        HubspotAccess::Id => Some(Cow::Borrowed(r.id.as_str())),
        HubspotAccess::Property(p) => r.properties.get(p).map(|s| Cow::Borrowed(s.as_str())),
        HubspotAccess::Join(a, b) => join(
            r.properties.get(a).map(String::as_str),
            r.properties.get(b).map(String::as_str),
        ),
    };
    transformed(f, raw)
}

/// The Gorgias text of field `f` after transforms, before conversion. `None` when empty.
pub fn gorgias_text<'a>(
    f: &FieldMapping,
    r: &'a GorgiasRecord,
) -> Result<Option<Cow<'a, str>>, FieldError> {
    let raw = match &f.gorgias {
        GorgiasAccess::Id => Some(Cow::Owned(r.id.to_string())),
        GorgiasAccess::Top(name) => json_text(r.fields.get(name), name)?,
        GorgiasAccess::JoinNames => join(
            r.fields.get("firstname").and_then(Value::as_str),
            r.fields.get("lastname").and_then(Value::as_str),
        ),
        GorgiasAccess::PhoneChannel => match r.fields.get("channels") {
            Some(Value::Array(chans)) => primary_channel(chans, "phone")
                .and_then(|i| chans.get(i))
                .and_then(|c| c.get("address"))
                .and_then(Value::as_str)
                .map(Cow::Borrowed),
            Some(Value::Null) | None => return Err(FieldError::ChannelsMissing),
            Some(_) => return Err("channels is not a list".into()),
        },
        GorgiasAccess::Data(path) => {
            let mut cur = r.fields.get("data");
            for seg in path {
                cur = match cur {
                    Some(Value::Object(m)) => m.get(seg),
                    Some(Value::Null) | None => None,
                    Some(_) => {
                        return Err(format!(
                            "data.{} crosses a value that is not an object",
                            path.join(".")
                        )
                        .into());
                    }
                };
            }
            json_text(cur, &format!("data.{}", path.join(".")))?
        }
        // Roll-ups are kept out of the engine's fields (`MappingSet::rollups`).
        GorgiasAccess::Computed(c) => {
            return Err(FieldError::Invalid(format!(
                "{} is a computed roll-up",
                c.source.name()
            )));
        }
    };
    Ok(transformed(f, raw))
}

fn json_text<'a>(v: Option<&'a Value>, name: &str) -> Result<Option<Cow<'a, str>>, String> {
    Ok(match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Cow::Borrowed(s.as_str())),
        Some(Value::Number(n)) => Some(Cow::Owned(n.to_string())),
        Some(Value::Bool(b)) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Some(_) => return Err(format!("{name} holds a list or object, not a single value")),
    })
}

fn join<'a>(a: Option<&'a str>, b: Option<&'a str>) -> Option<Cow<'a, str>> {
    let a = a.map(str::trim).filter(|s| !s.is_empty());
    let b = b.map(str::trim).filter(|s| !s.is_empty());
    match (a, b) {
        (Some(a), Some(b)) => Some(Cow::Owned(format!("{a} {b}"))),
        (Some(x), None) | (None, Some(x)) => Some(Cow::Borrowed(x)),
        (None, None) => None,
    }
}

/// Index of the preferred channel of `kind`, else the first one.
fn primary_channel(chans: &[Value], kind: &str) -> Option<usize> {
    let of_kind = |c: &Value| c.get("type").and_then(Value::as_str) == Some(kind);
    chans
        .iter()
        .position(|c| of_kind(c) && c.get("preferred").and_then(Value::as_bool) == Some(true))
        .or_else(|| chans.iter().position(of_kind))
}

/// Converts transformed HubSpot text into the canonical form (value map keys are canonical).
pub fn hubspot_canon<'a>(
    f: &'a FieldMapping,
    text: Option<Cow<'a, str>>,
    region: Region,
) -> Canon<'a> {
    let Some(text) = text else {
        return Ok(f.default.as_deref().map(Cow::Borrowed));
    };
    if let Some(map) = &f.values {
        if map.to_gorgias(&text).is_none() {
            return Err(format!("HubSpot value {text:?} is not in the field's value map").into());
        }
        return Ok(Some(text));
    }
    check_options(
        f,
        to_canonical(
            f.kind,
            text,
            f.region.unwrap_or(region),
            f.hubspot_format.as_deref(),
        )?,
    )
    .map(Some)
    .map_err(FieldError::from)
}

/// Converts transformed Gorgias text into the canonical form (through the value map).
pub fn gorgias_canon<'a>(
    f: &'a FieldMapping,
    text: Option<Cow<'a, str>>,
    region: Region,
) -> Canon<'a> {
    let Some(text) = text else {
        return Ok(f.default.as_deref().map(Cow::Borrowed));
    };
    if let Some(map) = &f.values {
        return match map.to_hubspot(&text) {
            Some(h) => Ok(Some(Cow::Owned(h.to_owned()))),
            None => Err(format!("Gorgias value {text:?} is not in the field's value map").into()),
        };
    }
    check_options(
        f,
        to_canonical(
            f.kind,
            text,
            f.region.unwrap_or(region),
            f.gorgias_format.as_deref(),
        )?,
    )
    .map(Some)
    .map_err(FieldError::from)
}

fn check_options<'a>(f: &FieldMapping, v: Cow<'a, str>) -> Result<Cow<'a, str>, String> {
    if f.kind == ValueKind::Enum {
        if let Some(p) = &f.hubspot_property {
            if !p.options.is_empty() && !p.options.iter().any(|o| o.value == *v) {
                return Err(format!(
                    "{v:?} is not an option of HubSpot property {}",
                    p.name
                ));
            }
        }
    }
    Ok(v)
}

/// Reads field `f` of a HubSpot record in canonical form.
pub fn read_hubspot<'a>(f: &'a FieldMapping, r: &'a HubspotRecord, region: Region) -> Canon<'a> {
    hubspot_canon(f, hubspot_text(f, r), region)
}

/// Reads field `f` of a Gorgias record in canonical form.
pub fn read_gorgias<'a>(f: &'a FieldMapping, r: &'a GorgiasRecord, region: Region) -> Canon<'a> {
    gorgias_canon(f, gorgias_text(f, r)?, region)
}

/// Splits a full name into (first, last), keeping the current first (or last) name when the
/// new full name still starts (or ends) with it, else splitting at the first space.
pub fn split_name(full: &str, cur_first: Option<&str>, cur_last: Option<&str>) -> (String, String) {
    let full = full.trim();
    if let Some(cf) = cur_first.map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(rest) = full.strip_prefix(cf) {
            if rest.is_empty() || rest.starts_with(char::is_whitespace) {
                return (cf.to_owned(), rest.trim().to_owned());
            }
        }
    }
    if let Some(cl) = cur_last.map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(rest) = full.strip_suffix(cl) {
            if !rest.is_empty() && rest.ends_with(char::is_whitespace) {
                return (rest.trim().to_owned(), cl.to_owned());
            }
        }
    }
    match full.split_once(char::is_whitespace) {
        Some((a, b)) => (a.to_owned(), b.trim().to_owned()),
        None => (full.to_owned(), String::new()),
    }
}

/// Puts canonical `value` of field `f` into HubSpot `props` (only properties that differ
/// from `current`; `""` clears). `current` is `None` for a create.
pub fn write_hubspot(
    f: &FieldMapping,
    value: Option<&str>,
    current: Option<&HubspotRecord>,
    props: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    let cur = |p: &str| {
        current
            .and_then(|r| r.properties.get(p))
            .map(String::as_str)
    };
    // A create sends only non-empty values; an update sends what differs.
    let mut put = |p: &str, v: String, always: bool| {
        let send = match current {
            None => !v.is_empty(),
            Some(_) => always || cur(p).unwrap_or("").trim() != v.trim(),
        };
        if send {
            props.insert(p.to_owned(), v);
        }
    };
    match &f.hubspot {
        HubspotAccess::Id => Err("the HubSpot id cannot be written".into()),
        HubspotAccess::Property(p) => {
            let text = match value {
                None => String::new(),
                Some(v) => from_canonical(f.kind, v, f.hubspot_format.as_deref())?.into_owned(),
            };
            put(p, text, true);
            Ok(())
        }
        HubspotAccess::Join(a, b) => {
            let (first, last) = match value {
                None => (String::new(), String::new()),
                Some(v) => split_name(v, cur(a), cur(b)),
            };
            put(a, first, false);
            put(b, last, false);
            Ok(())
        }
    }
}

/// Changes to one Gorgias customer, built field by field from its current state.
#[derive(Debug, Clone)]
pub struct GorgiasPatch {
    /// Top-level fields to send (`email`, `name`, `external_id`, ..., and `channels`).
    pub fields: Map<String, Value>,
    /// The whole new `data` object when any data path changed (`PUT .../data` replaces it).
    pub data: Option<Value>,
    channels: Option<Vec<Value>>,
    channels_changed: bool,
    base_data: Value,
}

impl GorgiasPatch {
    /// An empty patch over `current` (`None` for a create).
    pub fn new(current: Option<&GorgiasRecord>) -> Self {
        let channels = match current {
            None => Some(Vec::new()),
            Some(r) => r
                .fields
                .get("channels")
                .and_then(Value::as_array)
                .map(|chans| {
                    chans
                        .iter()
                        .map(|c| {
                            let mut m = Map::new();
                            for k in ["type", "address", "preferred"] {
                                m.insert(k.into(), c.get(k).cloned().unwrap_or(Value::Null));
                            }
                            if m.get("preferred").is_some_and(Value::is_null) {
                                m.insert("preferred".into(), Value::Bool(false));
                            }
                            Value::Object(m)
                        })
                        .collect()
                }),
        };
        let base_data = current
            .and_then(|r| r.fields.get("data"))
            .filter(|d| d.is_object())
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        Self {
            fields: Map::new(),
            data: None,
            channels,
            channels_changed: false,
            base_data,
        }
    }

    /// Puts canonical `value` of field `f` into the patch.
    pub fn set(&mut self, f: &FieldMapping, value: Option<&str>) -> Result<(), String> {
        let text: Option<Cow<'_, str>> = match value {
            None => None,
            Some(v) => {
                let v = match &f.values {
                    Some(map) => map.to_gorgias(v).ok_or_else(|| {
                        format!("no Gorgias value for {v:?} in the field's value map")
                    })?,
                    None => v,
                };
                Some(from_canonical(f.kind, v, f.gorgias_format.as_deref())?)
            }
        };
        match &f.gorgias {
            GorgiasAccess::Id | GorgiasAccess::JoinNames | GorgiasAccess::Computed(_) => {
                Err("this Gorgias field cannot be written".into())
            }
            GorgiasAccess::Top(name) => {
                let json = text
                    .as_deref()
                    .map_or(Value::Null, |t| Value::String(t.to_owned()));
                if name == "email" {
                    self.set_channel("email", text.as_deref(), false);
                }
                self.fields.insert(name.clone(), json);
                Ok(())
            }
            GorgiasAccess::PhoneChannel => {
                if self.channels.is_none() {
                    return Err(FieldError::ChannelsMissing.to_string());
                }
                self.set_channel("phone", text.as_deref(), true);
                Ok(())
            }
            GorgiasAccess::Data(path) => {
                let json = text.as_deref().map(|t| typed_json(f.kind, t));
                let data = self.data.get_or_insert_with(|| self.base_data.clone());
                set_path(data, path, json)
            }
        }
    }

    /// Updates the primary channel of `kind` (if the channels are known).
    fn set_channel(&mut self, kind: &str, address: Option<&str>, remove_when_empty: bool) {
        let Some(chans) = self.channels.as_mut() else {
            return;
        };
        match (primary_channel(chans, kind), address) {
            (Some(i), Some(a)) => {
                if let Some(Value::Object(c)) = chans.get_mut(i) {
                    if c.get("address").and_then(Value::as_str) == Some(a) {
                        return;
                    }
                    c.insert("address".into(), Value::String(a.to_owned()));
                }
            }
            (Some(i), None) if remove_when_empty => {
                chans.remove(i);
            }
            (Some(_), None) => return,
            (None, Some(a)) => {
                let mut c = Map::new();
                c.insert("type".into(), Value::String(kind.to_owned()));
                c.insert("address".into(), Value::String(a.to_owned()));
                c.insert("preferred".into(), Value::Bool(true));
                chans.push(Value::Object(c));
            }
            (None, None) => return,
        }
        self.channels_changed = true;
    }

    /// Whether the patch changes anything.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.data.is_none() && !self.channels_changed
    }

    /// The top-level fields to send (with `channels` when they changed) and the new `data`.
    pub fn finish(mut self) -> (Map<String, Value>, Option<Value>) {
        if self.channels_changed {
            if let Some(ch) = self.channels.take() {
                self.fields.insert("channels".into(), Value::Array(ch));
            }
        }
        (self.fields, self.data)
    }
}

/// A canonical value as the JSON type Gorgias `data` should hold.
fn typed_json(kind: ValueKind, text: &str) -> Value {
    match kind {
        ValueKind::Number => serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_number)
            .unwrap_or_else(|| Value::String(text.to_owned())),
        ValueKind::Bool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_owned()),
        },
        _ => Value::String(text.to_owned()),
    }
}

fn set_path(data: &mut Value, path: &[String], value: Option<Value>) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty data path".into());
    };
    let mut cur = data;
    for seg in parents {
        let Value::Object(m) = cur else {
            return Err(format!(
                "data.{} crosses a value that is not an object",
                path.join(".")
            ));
        };
        let next = m
            .entry(seg.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if next.is_null() {
            *next = Value::Object(Map::new());
        }
        cur = next;
    }
    let Value::Object(m) = cur else {
        return Err(format!(
            "data.{} crosses a value that is not an object",
            path.join(".")
        ));
    };
    match value {
        Some(v) => {
            m.insert(last.clone(), v);
        }
        None => {
            m.shift_remove(last);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{GorgiasId, HubspotId};
    use crate::mappings::parse_str;
    use chrono::DateTime;
    use serde_json::json;

    const MAP: &str = r#"
[fields.email]
hubspot = "email"
gorgias = "email"
type = "email"
[fields.name]
hubspot = ["firstname", "lastname"]
gorgias = "name"
transforms = ["collapse_spaces"]
[fields.phone]
hubspot = "phone"
gorgias = "channels.phone"
type = "phone"
[fields.stage]
hubspot = "lifecyclestage"
gorgias = "data.tether.lifecycle_stage"
values = { lead = "Lead", customer = "Customer" }
[fields.orders]
hubspot = "orders"
gorgias = "data.orders"
type = "number"
[fields.vip]
hubspot = "vip"
gorgias = "data.vip"
type = "bool"
default = "false"
"#;

    fn hs(props: &[(&str, &str)]) -> HubspotRecord {
        HubspotRecord {
            id: HubspotId::new("1").unwrap(),
            updated_at: DateTime::from_timestamp(0, 0).unwrap(),
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn gs(v: Value) -> GorgiasRecord {
        GorgiasRecord {
            id: GorgiasId::new(7).unwrap(),
            updated_at: DateTime::from_timestamp(0, 0).unwrap(),
            fields: v,
        }
    }

    fn read_h(
        m: &crate::mappings::MappingSet,
        f: &str,
        r: &HubspotRecord,
    ) -> Result<Option<String>, String> {
        read_hubspot(m.field(f).unwrap(), r, Region::default())
            .map(|o| o.map(Cow::into_owned))
            .map_err(String::from)
    }
    fn read_g(
        m: &crate::mappings::MappingSet,
        f: &str,
        r: &GorgiasRecord,
    ) -> Result<Option<String>, String> {
        read_gorgias(m.field(f).unwrap(), r, Region::default())
            .map(|o| o.map(Cow::into_owned))
            .map_err(String::from)
    }

    #[test]
    fn reads_both_sides_into_canonical_form() {
        let m = parse_str("t.toml", MAP).unwrap();
        let h = hs(&[
            ("email", "Jane@X.com"),
            ("firstname", "Jane"),
            ("lastname", " Doe "),
            ("phone", "(415) 555-2671"),
            ("lifecyclestage", "lead"),
            ("orders", "3.0"),
        ]);
        assert_eq!(
            read_h(&m, "email", &h).unwrap().as_deref(),
            Some("jane@x.com")
        );
        assert_eq!(read_h(&m, "name", &h).unwrap().as_deref(), Some("Jane Doe"));
        assert_eq!(
            read_h(&m, "phone", &h).unwrap().as_deref(),
            Some("+14155552671")
        );
        assert_eq!(read_h(&m, "stage", &h).unwrap().as_deref(), Some("lead"));
        assert_eq!(read_h(&m, "orders", &h).unwrap().as_deref(), Some("3"));
        assert_eq!(
            read_h(&m, "vip", &h).unwrap().as_deref(),
            Some("false"),
            "default"
        );
        let g = gs(json!({"email": "jane@x.com", "name": "Jane  Doe",
            "channels": [{"type": "email", "address": "jane@x.com", "preferred": true},
                         {"type": "phone", "address": "+14155550000", "preferred": false},
                         {"type": "phone", "address": "+14155552671", "preferred": true}],
            "data": {"tether": {"lifecycle_stage": "Customer"}, "orders": 3, "vip": true}}));
        assert_eq!(read_g(&m, "name", &g).unwrap().as_deref(), Some("Jane Doe"));
        assert_eq!(
            read_g(&m, "phone", &g).unwrap().as_deref(),
            Some("+14155552671"),
            "preferred phone"
        );
        assert_eq!(
            read_g(&m, "stage", &g).unwrap().as_deref(),
            Some("customer"),
            "value map reversed"
        );
        assert_eq!(read_g(&m, "orders", &g).unwrap().as_deref(), Some("3"));
        assert_eq!(read_g(&m, "vip", &g).unwrap().as_deref(), Some("true"));
    }

    #[test]
    fn values_that_do_not_fit_are_errors() {
        let m = parse_str("t.toml", MAP).unwrap();
        let h = hs(&[
            ("email", "not-an-email"),
            ("phone", "12"),
            ("lifecyclestage", "evangelist"),
        ]);
        assert!(
            read_h(&m, "email", &h)
                .unwrap_err()
                .contains("not a valid e-mail")
        );
        assert!(
            read_h(&m, "phone", &h)
                .unwrap_err()
                .contains("not a phone number")
        );
        assert!(
            read_h(&m, "stage", &h)
                .unwrap_err()
                .contains("not in the field's value map")
        );
        let g = gs(json!({"email": "a@b.co", "data": {"tether": "flat"}}));
        assert!(
            read_g(&m, "phone", &g)
                .unwrap_err()
                .contains("channels were not loaded")
        );
        assert!(
            read_g(&m, "stage", &g)
                .unwrap_err()
                .contains("not an object")
        );
    }

    #[test]
    fn writes_hubspot_split_names_and_only_changed_properties() {
        let m = parse_str("t.toml", MAP).unwrap();
        let h = hs(&[("firstname", "Mary Ann"), ("lastname", "Smith")]);
        let mut props = BTreeMap::new();
        write_hubspot(
            m.field("name").unwrap(),
            Some("Mary Ann Jones"),
            Some(&h),
            &mut props,
        )
        .unwrap();
        assert_eq!(
            props,
            BTreeMap::from([("lastname".to_string(), "Jones".to_string())])
        );
        let mut props = BTreeMap::new();
        write_hubspot(
            m.field("phone").unwrap(),
            None,
            Some(&hs(&[("phone", "+1")])),
            &mut props,
        )
        .unwrap();
        assert_eq!(
            props.get("phone").map(String::as_str),
            Some(""),
            "empty clears"
        );
        assert_eq!(
            split_name("Jean Claude Van Damme", None, None),
            ("Jean".into(), "Claude Van Damme".into())
        );
        assert_eq!(
            split_name("Anna Van Damme", Some("X"), Some("Van Damme")),
            ("Anna".into(), "Van Damme".into())
        );
    }

    #[test]
    fn writes_gorgias_channels_and_whole_data() {
        let m = parse_str("t.toml", MAP).unwrap();
        let g = gs(
            json!({"email": "a@b.co", "channels": [{"id": 5, "type": "email", "address": "a@b.co", "preferred": true}],
            "data": {"keep": 1, "tether": {"lifecycle_stage": "Lead"}}}),
        );
        let mut p = GorgiasPatch::new(Some(&g));
        p.set(m.field("phone").unwrap(), Some("+14155552671"))
            .unwrap();
        p.set(m.field("stage").unwrap(), Some("customer")).unwrap();
        p.set(m.field("orders").unwrap(), Some("2.5")).unwrap();
        let (fields, data) = p.finish();
        assert_eq!(
            fields["channels"],
            json!([
            {"type": "email", "address": "a@b.co", "preferred": true},
            {"type": "phone", "address": "+14155552671", "preferred": true}])
        );
        assert_eq!(
            data.unwrap(),
            json!({"keep": 1, "tether": {"lifecycle_stage": "Customer"}, "orders": 2.5})
        );
        let mut p = GorgiasPatch::new(Some(&g));
        assert!(
            p.set(m.field("stage").unwrap(), Some("other"))
                .unwrap_err()
                .contains("no Gorgias value")
        );
        let list_item = gs(json!({"email": "a@b.co"}));
        let mut p = GorgiasPatch::new(Some(&list_item));
        assert!(
            p.set(m.field("phone").unwrap(), Some("+14155552671"))
                .is_err()
        );
    }

    #[test]
    fn a_list_item_without_channels_is_a_typed_error_not_a_message() {
        let m = parse_str("t.toml", MAP).unwrap();
        let phone = m.field("phone").unwrap();
        let item = gs(json!({"email": "a@b.co"}));
        assert_eq!(
            read_gorgias(phone, &item, Region::default()),
            Err(FieldError::ChannelsMissing)
        );
        let bad = gs(json!({"channels": [{"type": "phone", "address": "not a phone"}]}));
        assert!(matches!(
            read_gorgias(phone, &bad, Region::default()),
            Err(FieldError::Invalid(_))
        ));
        // The message a person reads is unchanged.
        assert!(
            FieldError::ChannelsMissing
                .to_string()
                .contains("channels were not loaded")
        );
    }
}
