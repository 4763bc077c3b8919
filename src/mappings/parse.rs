//! Reading mapping files: TOML text → validated [`MappingSet`], with errors that name the
//! file, the line, the key and what is expected.
//!
//! Owns the file format (the raw serde structs), its validation and the merging of several
//! files into one set. Reads files only in [`load_dir`]; everything else works on text. Must
//! never accept a mapping the engine could not apply safely (unknown paths, writes through
//! read-only accessors, enums without options, bad date formats, duplicate targets).

use super::model::*;
use super::transform::{self, Transform};
use super::value_map::ValueMap;
use crate::domain::Region;
use serde::Deserialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// One problem in a mapping file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub file: PathBuf,
    /// 1-based line (0 when the problem is not tied to a line, e.g. an unreadable file).
    pub line: usize,
    /// Dotted key, e.g. `fields.phone.direction`.
    pub key: String,
    /// What is wrong.
    pub problem: String,
    /// What would be accepted.
    pub expected: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {}; expected {}",
            self.file.display(),
            self.line,
            self.key,
            self.problem,
            self.expected
        )
    }
}

/// Every problem found in a mapping directory (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MappingErrors(pub Vec<MappingError>);

impl fmt::Display for MappingErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} problem{} in the mappings:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  {e}")?;
        }
        Ok(())
    }
}

// ---------- raw file format ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    version: Option<Spanned<i64>>,
    #[serde(default)]
    defaults: Option<Spanned<RawDefaults>>,
    #[serde(default)]
    records: Option<Spanned<RawRecords>>,
    #[serde(default)]
    fields: BTreeMap<Spanned<String>, Spanned<RawField>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    direction: Option<Spanned<Direction>>,
    conflict: Option<Spanned<ConflictPolicy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecords {
    require_email: Option<bool>,
    create_in_hubspot: Option<bool>,
    create_in_gorgias: Option<bool>,
    email_field: Option<Spanned<String>>,
    phone_field: Option<Spanned<String>>,
    #[serde(default)]
    only: Vec<Spanned<RawFilter>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilter {
    field: Spanned<String>,
    #[serde(rename = "in")]
    in_: Option<Vec<String>>,
    not_in: Option<Vec<String>>,
    present: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawAccess {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    hubspot: Spanned<RawAccess>,
    gorgias: Spanned<RawAccess>,
    #[serde(rename = "type")]
    kind: Option<Spanned<ValueKindName>>,
    #[serde(default)]
    transforms: Vec<Spanned<String>>,
    direction: Option<Spanned<Direction>>,
    conflict: Option<Spanned<ConflictPolicy>>,
    default: Option<Spanned<String>>,
    values: Option<Spanned<BTreeMap<String, String>>>,
    region: Option<Spanned<String>>,
    hubspot_format: Option<Spanned<String>>,
    gorgias_format: Option<Spanned<String>>,
    hubspot_property: Option<Spanned<RawProperty>>,
    /// Only for computed sources: `["spam", "trashed"]` (see `computed.rs`).
    include: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ValueKindName {
    String,
    Email,
    Phone,
    Number,
    Bool,
    Date,
    Datetime,
    Enum,
}

impl From<ValueKindName> for ValueKind {
    fn from(k: ValueKindName) -> Self {
        match k {
            ValueKindName::String => ValueKind::String,
            ValueKindName::Email => ValueKind::Email,
            ValueKindName::Phone => ValueKind::Phone,
            ValueKindName::Number => ValueKind::Number,
            ValueKindName::Bool => ValueKind::Bool,
            ValueKindName::Date => ValueKind::Date,
            ValueKindName::Datetime => ValueKind::Datetime,
            ValueKindName::Enum => ValueKind::Enum,
        }
    }
}

impl<'de> Deserialize<'de> for Direction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum N {
            Both,
            ToHubspot,
            ToGorgias,
        }
        Ok(match N::deserialize(d)? {
            N::Both => Direction::Both,
            N::ToHubspot => Direction::ToHubspot,
            N::ToGorgias => Direction::ToGorgias,
        })
    }
}

impl<'de> Deserialize<'de> for ConflictPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum N {
            Hubspot,
            Gorgias,
            Newest,
            Manual,
        }
        Ok(match N::deserialize(d)? {
            N::Hubspot => ConflictPolicy::Hubspot,
            N::Gorgias => ConflictPolicy::Gorgias,
            N::Newest => ConflictPolicy::Newest,
            N::Manual => ConflictPolicy::Manual,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProperty {
    label: Option<String>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    field_type: Option<Spanned<String>>,
    group: Option<String>,
    description: Option<String>,
    unique: Option<bool>,
    options: Option<Vec<RawOption>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    value: String,
    label: Option<String>,
}

// ---------- locating errors ----------

/// A source file's text with helpers to turn byte offsets into lines and keys.
pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    pub(super) fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text
            .as_bytes()
            .get(..end)
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
            + 1
    }

    /// The dotted key written at `offset`: the nearest table header before it plus the key
    /// on its line, if the line holds `key = value`.
    fn key_at(&self, offset: usize) -> String {
        let line_no = self.line_of(offset);
        let lines: Vec<&str> = self.text.lines().collect();
        let idx = line_no.saturating_sub(1).min(lines.len().saturating_sub(1));
        let here = lines.get(idx).copied().unwrap_or("").trim();
        let header = |l: &str| -> Option<String> {
            let l = l.trim();
            let inner = l.strip_prefix("[[").and_then(|r| r.split("]]").next());
            let inner = inner.or_else(|| l.strip_prefix('[').and_then(|r| r.split(']').next()));
            inner.map(|s| s.trim().to_owned())
        };
        if let Some(h) = header(here) {
            return h;
        }
        let table = lines
            .get(..idx)
            .unwrap_or(&[])
            .iter()
            .rev()
            .find_map(|l| header(l));
        let key = here
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_owned());
        match (table, key) {
            (Some(t), Some(k)) => format!("{t}.{k}"),
            (Some(t), None) => t,
            (None, Some(k)) => k,
            (None, None) => "(top level)".into(),
        }
    }

    pub(super) fn error<T>(
        &self,
        at: &Spanned<T>,
        key: impl Into<String>,
        problem: impl Into<String>,
        expected: impl Into<String>,
    ) -> MappingError {
        MappingError {
            file: self.path.to_owned(),
            line: self.line_of(at.span().start),
            key: key.into(),
            problem: problem.into(),
            expected: expected.into(),
        }
    }

    fn toml_error(&self, err: &toml::de::Error) -> MappingError {
        let offset = err.span().map_or(0, |s| s.start);
        // toml leaves the message empty for some errors (a control character in a comment):
        // name the character, so the error still says what is wrong.
        let message = match err.message().trim() {
            "" => match self.text.get(offset..).and_then(|s| s.chars().next()) {
                Some(c) => format!("unexpected character {c:?} (U+{:04X})", u32::from(c)),
                None => "unexpected end of the file".to_owned(),
            },
            m => m.to_owned(),
        };
        let (problem, expected) = split_expected(&message);
        MappingError {
            file: self.path.to_owned(),
            line: if err.span().is_some() {
                self.line_of(offset)
            } else {
                0
            },
            key: self.key_at(offset),
            problem,
            expected,
        }
    }
}

fn split_expected(message: &str) -> (String, String) {
    if let Some((p, e)) = message.split_once(", expected ") {
        return (p.to_owned(), e.to_owned());
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return (message.to_owned(), format!("a {rest} key in this table"));
    }
    (
        message.to_owned(),
        "valid TOML in the mapping format (see docs/mappings.md)".into(),
    )
}

// ---------- validation ----------

const GORGIAS_TOP: &[&str] = &[
    "email",
    "name",
    "firstname",
    "lastname",
    "external_id",
    "note",
    "language",
    "timezone",
];
const GORGIAS_EXPECTED: &str = "\"@id\", one of email, name, firstname, lastname, external_id, note, \
language, timezone, \"channels.phone\", a \"data.<key>[.<key>...]\" path, [\"firstname\", \"lastname\"], \
or a computed source such as \"@tickets.count\" (docs/mappings.md)";
const HUBSPOT_EXPECTED: &str = "a HubSpot property name (lower-case letters, digits, _), \"@id\", \
or two property names to join, such as [\"firstname\", \"lastname\"]";

fn hubspot_name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn parse_hubspot_access(raw: &RawAccess) -> Option<HubspotAccess> {
    match raw {
        RawAccess::One(s) if s == "@id" => Some(HubspotAccess::Id),
        RawAccess::One(s) if hubspot_name_ok(s) => Some(HubspotAccess::Property(s.clone())),
        RawAccess::Many(v) => match v.as_slice() {
            [a, b] if hubspot_name_ok(a) && hubspot_name_ok(b) && a != b => {
                Some(HubspotAccess::Join(a.clone(), b.clone()))
            }
            _ => None,
        },
        RawAccess::One(_) => None,
    }
}

fn parse_gorgias_access(raw: &RawAccess) -> Option<GorgiasAccess> {
    match raw {
        RawAccess::One(s) if s == "@id" => Some(GorgiasAccess::Id),
        RawAccess::One(s) if s == "channels.phone" => Some(GorgiasAccess::PhoneChannel),
        RawAccess::One(s) if s.starts_with('@') => super::computed::access(s),
        RawAccess::One(s) if GORGIAS_TOP.contains(&s.as_str()) => {
            Some(GorgiasAccess::Top(s.clone()))
        }
        RawAccess::One(s) => {
            let rest = s.strip_prefix("data.")?;
            let parts: Vec<String> = rest.split('.').map(str::to_owned).collect();
            if parts
                .iter()
                .all(|p| !p.is_empty() && !p.contains(char::is_whitespace))
            {
                Some(GorgiasAccess::Data(parts))
            } else {
                None
            }
        }
        RawAccess::Many(v) if v.len() == 2 && v[0] == "firstname" && v[1] == "lastname" => {
            Some(GorgiasAccess::JoinNames)
        }
        RawAccess::Many(_) => None,
    }
}

/// The HubSpot (type, fieldType) a field of `kind` gets by default.
fn default_property_type(kind: ValueKind) -> (&'static str, &'static str) {
    match kind {
        ValueKind::String | ValueKind::Email => ("string", "text"),
        ValueKind::Phone => ("string", "phonenumber"),
        ValueKind::Number => ("number", "number"),
        ValueKind::Bool => ("bool", "booleancheckbox"),
        ValueKind::Date => ("date", "date"),
        ValueKind::Datetime => ("datetime", "date"),
        ValueKind::Enum => ("enumeration", "select"),
    }
}

fn allowed_field_types(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "string" => &["text", "textarea", "html", "phonenumber", "file"],
        "number" => &["number"],
        "bool" => &["booleancheckbox"],
        "enumeration" => &["select", "radio", "checkbox", "booleancheckbox"],
        "date" | "datetime" => &["date"],
        _ => return None,
    })
}

fn title(name: &str) -> String {
    let spaced = name.replace('_', " ");
    let mut c = spaced.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

struct Defaults {
    direction: Direction,
    conflict: ConflictPolicy,
}

fn build_field(
    src: &Source<'_>,
    name: &Spanned<String>,
    raw: &Spanned<RawField>,
    defaults: &Defaults,
    errors: &mut Vec<MappingError>,
) -> Option<FieldMapping> {
    let start = errors.len();
    let f = raw.get_ref();
    let key = |k: &str| format!("fields.{}.{k}", name.get_ref());
    let fname = name.get_ref();
    if !fname
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        errors.push(src.error(
            name,
            format!("fields.{fname}"),
            format!("field name {fname:?} has characters other than letters, digits and _"),
            "a name such as lifecycle_stage",
        ));
    }
    let hubspot = parse_hubspot_access(f.hubspot.get_ref());
    if hubspot.is_none() {
        errors.push(src.error(
            &f.hubspot,
            key("hubspot"),
            "not a HubSpot accessor",
            HUBSPOT_EXPECTED,
        ));
    }
    let gorgias = parse_gorgias_access(f.gorgias.get_ref());
    if gorgias.is_none() {
        errors.push(src.error(
            &f.gorgias,
            key("gorgias"),
            "not a Gorgias accessor",
            GORGIAS_EXPECTED,
        ));
    }
    let values = match &f.values {
        None => None,
        Some(v) if v.get_ref().is_empty() => {
            errors.push(src.error(
                v,
                key("values"),
                "the value map is empty",
                "at least one `hubspot_value = \"gorgias value\"` pair",
            ));
            None
        }
        Some(v) => match ValueMap::new(v.get_ref().iter().map(|(a, b)| (a.clone(), b.clone()))) {
            Ok(m) => Some(m),
            Err(e) => {
                errors.push(src.error(
                    v,
                    key("values"),
                    e.to_string(),
                    "a one-to-one map (each Gorgias value used once)",
                ));
                None
            }
        },
    };
    let kind: ValueKind = match (&f.kind, &f.values) {
        (Some(k), _) => (*k.get_ref()).into(),
        (None, Some(_)) => ValueKind::Enum,
        (None, None) => ValueKind::String,
    };
    if f.values.is_some() && !matches!(kind, ValueKind::Enum | ValueKind::String) {
        if let Some(k) = &f.kind {
            errors.push(src.error(
                k,
                key("type"),
                "a value map needs an enum field",
                "type = \"enum\" (or no type)",
            ));
        }
    }
    let kind = if f.values.is_some() {
        ValueKind::Enum
    } else {
        kind
    };
    let declared = f
        .kind
        .as_ref()
        .map(|k| (ValueKind::from(*k.get_ref()), k.span()));
    let (kind, gorgias) = super::computed::refine(
        src,
        fname,
        (kind, gorgias),
        declared,
        f.include.as_ref(),
        errors,
    );
    super::computed::check_target(
        src,
        fname,
        &f.hubspot,
        hubspot.as_ref(),
        gorgias.as_ref(),
        errors,
    );
    let direction = f
        .direction
        .as_ref()
        .map_or(defaults.direction, |d| *d.get_ref());
    let conflict = f
        .conflict
        .as_ref()
        .map_or(defaults.conflict, |c| *c.get_ref());
    if let (Some(h), Some(g)) = (&hubspot, &gorgias) {
        if !h.writable() && !g.writable() {
            errors.push(src.error(
                &f.gorgias,
                key("gorgias"),
                "both sides are read-only",
                "one writable side",
            ));
        } else if !h.writable() && direction != Direction::ToGorgias {
            let at = f.direction.as_ref().map_or(name.span(), |d| d.span());
            errors.push(MappingError {
                file: src.path.to_owned(),
                line: src.line_of(at.start),
                key: key("direction"),
                problem: format!(
                    "the HubSpot side ({:?}) cannot be written, but direction is {}",
                    f.hubspot.get_ref().label(),
                    direction_name(direction)
                ),
                expected: "direction = \"to_gorgias\"".into(),
            });
        } else if !g.writable() && direction != Direction::ToHubspot {
            let at = f.direction.as_ref().map_or(name.span(), |d| d.span());
            errors.push(MappingError {
                file: src.path.to_owned(),
                line: src.line_of(at.start),
                key: key("direction"),
                problem: format!(
                    "the Gorgias side ({:?}) cannot be written, but direction is {}",
                    f.gorgias.get_ref().label(),
                    direction_name(direction)
                ),
                expected: "direction = \"to_hubspot\"".into(),
            });
        }
        if matches!(g, GorgiasAccess::PhoneChannel) && kind != ValueKind::Phone {
            errors.push(src.error(
                &f.gorgias,
                key("type"),
                "channels.phone holds phone numbers",
                "type = \"phone\"",
            ));
        }
    }
    let mut transforms = Vec::new();
    for t in &f.transforms {
        match Transform::parse(t.get_ref()) {
            Some(x) => transforms.push(x),
            None => errors.push(src.error(
                t,
                key("transforms"),
                format!("unknown transform {:?}", t.get_ref()),
                format!(
                    "one of {} (e-mail, phone, number, bool and date conversions come from `type`)",
                    Transform::NAMES.join(", ")
                ),
            )),
        }
    }
    let region = match &f.region {
        None => None,
        Some(r) => match r.get_ref().parse::<Region>() {
            Ok(x) if kind == ValueKind::Phone => Some(x),
            Ok(_) => {
                errors.push(src.error(
                    r,
                    key("region"),
                    "region only applies to phone fields",
                    "type = \"phone\", or no region",
                ));
                None
            }
            Err(e) => {
                errors.push(src.error(
                    r,
                    key("region"),
                    e.to_string(),
                    "an ISO 3166 region code such as US, GB or FR",
                ));
                None
            }
        },
    };
    let mut format = |v: &Option<Spanned<String>>, k: &str| -> Option<String> {
        let s = v.as_ref()?;
        if !matches!(kind, ValueKind::Date | ValueKind::Datetime) {
            errors.push(src.error(
                s,
                key(k),
                "formats only apply to date and datetime fields",
                "type = \"date\" or \"datetime\"",
            ));
            return None;
        }
        if !transform::valid_format(s.get_ref()) {
            errors.push(src.error(
                s,
                key(k),
                format!("{:?} is not a valid date format", s.get_ref()),
                "a chrono/strftime format such as \"%d/%m/%Y\"",
            ));
            return None;
        }
        if kind == ValueKind::Date && !transform::formats_a_date(s.get_ref()) {
            errors.push(src.error(
                s,
                key(k),
                format!(
                    "{:?} asks for a time of day or an offset, which a date does not have",
                    s.get_ref()
                ),
                "a date-only format such as \"%d/%m/%Y\", or type = \"datetime\"",
            ));
            return None;
        }
        Some(s.get_ref().clone())
    };
    let hubspot_format = format(&f.hubspot_format, "hubspot_format");
    let gorgias_format = format(&f.gorgias_format, "gorgias_format");

    // Property definition.
    let mut hubspot_property = None;
    if let Some(p) = &f.hubspot_property {
        let pr = p.get_ref();
        match &hubspot {
            Some(HubspotAccess::Property(prop)) => {
                let (dk, dft) = default_property_type(kind);
                let ptype = pr
                    .kind
                    .as_ref()
                    .map_or(dk.to_owned(), |k| k.get_ref().clone());
                let allowed = allowed_field_types(&ptype);
                if allowed.is_none() {
                    let at = pr.kind.as_ref().map_or(p.span(), |k| k.span());
                    errors.push(MappingError {
                        file: src.path.to_owned(),
                        line: src.line_of(at.start),
                        key: key("hubspot_property.type"),
                        problem: format!("unknown HubSpot property type {ptype:?}"),
                        expected: "one of string, number, bool, enumeration, date, datetime".into(),
                    });
                }
                let field_type = pr.field_type.as_ref().map_or_else(
                    || {
                        if ptype == dk {
                            dft.to_owned()
                        } else {
                            allowed
                                .and_then(|a| a.first())
                                .map_or(dft, |v| v)
                                .to_owned()
                        }
                    },
                    |ft| ft.get_ref().clone(),
                );
                if let (Some(allowed), Some(ft)) = (allowed, &pr.field_type) {
                    if !allowed.contains(&ft.get_ref().as_str()) {
                        errors.push(src.error(
                            ft,
                            key("hubspot_property.field_type"),
                            format!(
                                "field type {:?} does not fit property type {ptype:?}",
                                ft.get_ref()
                            ),
                            format!("one of {}", allowed.join(", ")),
                        ));
                    }
                }
                let mut options: Vec<PropertyOption> = match (&pr.options, &values) {
                    (Some(o), _) => o
                        .iter()
                        .map(|o| (o.value.clone(), o.label.clone()))
                        .enumerate()
                        .map(|(i, (value, label))| PropertyOption {
                            label: label.unwrap_or_else(|| title(&value)),
                            value,
                            display_order: i as i32,
                            hidden: false,
                        })
                        .collect(),
                    (None, Some(m)) => m
                        .hubspot_values()
                        .enumerate()
                        .map(|(i, v)| PropertyOption {
                            label: title(v),
                            value: v.to_owned(),
                            display_order: i as i32,
                            hidden: false,
                        })
                        .collect(),
                    (None, None) => Vec::new(),
                };
                if ptype != "enumeration" {
                    options.clear();
                } else if options.is_empty() {
                    errors.push(src.error(
                        p,
                        key("hubspot_property.options"),
                        "an enumeration property needs options",
                        "`options = [{ value = \"...\", label = \"...\" }]` or a `values` map",
                    ));
                }
                hubspot_property = Some(PropertyDefinition {
                    name: prop.clone(),
                    label: pr.label.clone().unwrap_or_else(|| title(fname)),
                    kind: ptype,
                    field_type,
                    group_name: pr
                        .group
                        .clone()
                        .unwrap_or_else(|| super::computed::default_group(gorgias.as_ref()).into()),
                    description: pr.description.clone(),
                    options,
                    has_unique_value: pr.unique.unwrap_or(false),
                    form_field: false,
                });
            }
            Some(_) => errors.push(src.error(
                p,
                key("hubspot_property"),
                "a property definition needs a single HubSpot property",
                "hubspot = \"<property name>\"",
            )),
            None => {}
        }
    }
    if kind == ValueKind::Enum
        && f.values.is_none()
        && hubspot_property
            .as_ref()
            .is_none_or(|p| p.options.is_empty())
    {
        let at = f.kind.as_ref().map_or(name.span(), |k| k.span());
        errors.push(MappingError {
            file: src.path.to_owned(),
            line: src.line_of(at.start),
            key: key("type"),
            problem: "an enum field needs its options".into(),
            expected:
                "a `values` table (HubSpot value = Gorgias value) or hubspot_property.options"
                    .into(),
        });
    }
    let default = match &f.default {
        None => None,
        Some(d) => {
            let mut v: Cow<'_, str> = Cow::Borrowed(d.get_ref().as_str());
            for t in &transforms {
                v = t.apply(v);
            }
            let canon = if v.trim().is_empty() {
                Err("the default is empty".to_owned())
            } else {
                transform::to_canonical(kind, v, region.unwrap_or_default(), None)
                    .map(|c| c.into_owned())
            };
            let options_ok = |c: &str| {
                kind != ValueKind::Enum
                    || values.as_ref().is_none_or(|m| m.to_gorgias(c).is_some())
                        && hubspot_property.as_ref().is_none_or(|p| {
                            p.options.is_empty() || p.options.iter().any(|o| o.value == c)
                        })
            };
            match canon {
                Ok(c) if options_ok(&c) => Some(c),
                Ok(c) => {
                    errors.push(src.error(
                        d,
                        key("default"),
                        format!("{c:?} is not one of the field's options"),
                        "a HubSpot value from the `values` map or the property options",
                    ));
                    None
                }
                Err(e) => {
                    errors.push(src.error(
                        d,
                        key("default"),
                        e,
                        format!("a value of type {}", kind_name(kind)),
                    ));
                    None
                }
            }
        }
    };
    if errors.len() > start {
        return None;
    }
    Some(FieldMapping {
        name: fname.clone(),
        hubspot: hubspot?,
        gorgias: gorgias?,
        kind,
        transforms,
        direction,
        conflict,
        default,
        values,
        region,
        hubspot_format,
        gorgias_format,
        hubspot_property,
        origin: Origin {
            file: src.path.to_owned(),
            line: src.line_of(name.span().start),
        },
    })
}

impl RawAccess {
    fn label(&self) -> String {
        match self {
            RawAccess::One(s) => s.clone(),
            RawAccess::Many(v) => v.join("+"),
        }
    }
}

fn direction_name(d: Direction) -> &'static str {
    match d {
        Direction::Both => "both",
        Direction::ToHubspot => "to_hubspot",
        Direction::ToGorgias => "to_gorgias",
    }
}

fn kind_name(k: ValueKind) -> &'static str {
    match k {
        ValueKind::String => "string",
        ValueKind::Email => "email",
        ValueKind::Phone => "phone",
        ValueKind::Number => "number",
        ValueKind::Bool => "bool",
        ValueKind::Date => "date",
        ValueKind::Datetime => "datetime",
        ValueKind::Enum => "enum",
    }
}

struct Parsed<'a> {
    src: Source<'a>,
    file: RawFile,
}

/// Parses and validates mapping files given as `(path, text)` pairs, merged into one set.
pub fn parse_files(files: &[(PathBuf, String)]) -> Result<MappingSet, MappingErrors> {
    let mut errors = Vec::new();
    let mut parsed: Vec<Parsed<'_>> = Vec::new();
    for (path, text) in files {
        let src = Source { path, text };
        match toml::from_str::<RawFile>(text) {
            Ok(file) => parsed.push(Parsed { src, file }),
            Err(e) => errors.push(src.toml_error(&e)),
        }
    }
    if files.is_empty() {
        errors.push(MappingError {
            file: PathBuf::from("."),
            line: 0,
            key: "(files)".into(),
            problem: "no mapping files".into(),
            expected: "at least one *.toml file (see mappings/default.toml)".into(),
        });
    }
    // Singletons: [defaults] and [records] may each appear in one file only.
    let mut defaults = Defaults {
        direction: Direction::Both,
        conflict: ConflictPolicy::Newest,
    };
    let mut defaults_from: Option<(&Path, usize)> = None;
    let mut records_from: Option<(&Path, usize, &RawRecords)> = None;
    for p in &parsed {
        if let Some(v) = &p.file.version {
            if *v.get_ref() != 1 {
                errors.push(p.src.error(
                    v,
                    "version",
                    format!("unsupported mapping format version {}", v.get_ref()),
                    "version = 1",
                ));
            }
        }
        if let Some(d) = &p.file.defaults {
            let line = p.src.line_of(d.span().start);
            if let Some((other, oline)) = defaults_from {
                errors.push(p.src.error(
                    d,
                    "defaults",
                    format!("[defaults] is also defined in {}:{oline}", other.display()),
                    "[defaults] in one file only",
                ));
            } else {
                defaults_from = Some((p.src.path, line));
                if let Some(x) = &d.get_ref().direction {
                    defaults.direction = *x.get_ref();
                }
                if let Some(x) = &d.get_ref().conflict {
                    defaults.conflict = *x.get_ref();
                }
            }
        }
        if let Some(r) = &p.file.records {
            let line = p.src.line_of(r.span().start);
            if let Some((other, oline, _)) = records_from {
                errors.push(p.src.error(
                    r,
                    "records",
                    format!("[records] is also defined in {}:{oline}", other.display()),
                    "[records] in one file only",
                ));
            } else {
                records_from = Some((p.src.path, line, r.get_ref()));
            }
        }
    }
    // Fields, with duplicates across files named by both files.
    let mut fields: Vec<FieldMapping> = Vec::new();
    let mut seen: BTreeMap<String, Origin> = BTreeMap::new();
    for p in &parsed {
        for (name, raw) in &p.file.fields {
            let line = p.src.line_of(name.span().start);
            if let Some(first) = seen.get(name.get_ref()) {
                errors.push(p.src.error(
                    name,
                    format!("fields.{}", name.get_ref()),
                    format!(
                        "field {:?} is already defined in {}:{}",
                        name.get_ref(),
                        first.file.display(),
                        first.line
                    ),
                    "each field name defined once across all mapping files",
                ));
                continue;
            }
            seen.insert(
                name.get_ref().clone(),
                Origin {
                    file: p.src.path.to_owned(),
                    line,
                },
            );
            if let Some(f) = build_field(&p.src, name, raw, &defaults, &mut errors) {
                fields.push(f);
            }
        }
    }
    fields.sort_by(|a, b| a.name.cmp(&b.name));
    check_targets(&fields, &mut errors);
    let records = build_records(&parsed, records_from, &fields, &seen, &mut errors);
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line, &a.key).cmp(&(&b.file, b.line, &b.key)));
        errors.dedup();
        return Err(MappingErrors(errors));
    }
    let mut sources: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    sources.sort();
    let (rollups, fields): (Vec<_>, _) = fields.into_iter().partition(FieldMapping::is_computed);
    let rollups = rollups
        .into_iter()
        .map(super::computed::with_property)
        .collect();
    Ok(MappingSet {
        fields,
        rollups,
        records,
        sources,
    })
}

/// Two fields writing the same place would fight; each target is owned by one field.
fn check_targets(fields: &[FieldMapping], errors: &mut Vec<MappingError>) {
    let mut hub: BTreeMap<String, &FieldMapping> = BTreeMap::new();
    let mut gor: BTreeMap<String, &FieldMapping> = BTreeMap::new();
    for f in fields {
        let hs_targets: Vec<String> = match (&f.hubspot, f.direction) {
            (_, Direction::ToGorgias) | (HubspotAccess::Id, _) => vec![],
            (HubspotAccess::Property(p), _) => vec![p.clone()],
            (HubspotAccess::Join(a, b), _) => vec![a.clone(), b.clone()],
        };
        let g_target: Option<String> = match (&f.gorgias, f.direction) {
            (_, Direction::ToHubspot) => None,
            (GorgiasAccess::Top(t), _) => Some(t.clone()),
            (GorgiasAccess::PhoneChannel, _) => Some("channels.phone".into()),
            (GorgiasAccess::Data(p), _) => Some(format!("data.{}", p.join("."))),
            _ => None,
        };
        for t in hs_targets {
            if let Some(first) = hub.get(&t) {
                errors.push(dup_target(f, first, &format!("HubSpot property {t:?}")));
            } else {
                hub.insert(t, f);
            }
        }
        if let Some(t) = g_target {
            // A data path nested inside another written path also collides.
            let clash = gor.iter().find(|(k, _)| {
                **k == t || t.starts_with(&format!("{k}.")) || k.starts_with(&format!("{t}."))
            });
            if let Some((_, first)) = clash {
                errors.push(dup_target(f, first, &format!("Gorgias {t:?}")));
            } else {
                gor.insert(t, f);
            }
        }
    }
}

fn dup_target(f: &FieldMapping, first: &FieldMapping, what: &str) -> MappingError {
    MappingError {
        file: f.origin.file.clone(),
        line: f.origin.line,
        key: format!("fields.{}", f.name),
        problem: format!(
            "{what} is also written by field {:?} ({}:{})",
            first.name,
            first.origin.file.display(),
            first.origin.line
        ),
        expected: "each property or path written by one field only".into(),
    }
}

fn build_records(
    parsed: &[Parsed<'_>],
    from: Option<(&Path, usize, &RawRecords)>,
    fields: &[FieldMapping],
    declared: &BTreeMap<String, Origin>,
    errors: &mut Vec<MappingError>,
) -> RecordRules {
    let by_name = |n: &str| fields.iter().find(|f| f.name == n && !f.is_computed());
    let mut rules = RecordRules {
        email_field: by_name("email")
            .filter(|f| f.kind == ValueKind::Email)
            .map(|f| f.name.clone()),
        phone_field: by_name("phone")
            .filter(|f| f.kind == ValueKind::Phone)
            .map(|f| f.name.clone()),
        ..RecordRules::default()
    };
    let Some((path, _, raw)) = from else {
        return rules;
    };
    let Some(src) = parsed.iter().find(|p| p.src.path == path).map(|p| &p.src) else {
        return rules;
    };
    rules.require_email = raw.require_email.unwrap_or(false);
    rules.create_in_hubspot = raw.create_in_hubspot.unwrap_or(false);
    rules.create_in_gorgias = raw.create_in_gorgias.unwrap_or(false);
    let mut pick =
        |v: &Option<Spanned<String>>, k: &str, kind: ValueKind, slot: &mut Option<String>| {
            if let Some(n) = v {
                match by_name(n.get_ref()) {
                    Some(f) if f.kind == kind => *slot = Some(f.name.clone()),
                    Some(_) => errors.push(src.error(
                        n,
                        format!("records.{k}"),
                        format!("field {:?} is not of type {}", n.get_ref(), kind_name(kind)),
                        format!("the name of a field with type = \"{}\"", kind_name(kind)),
                    )),
                    None if declared.contains_key(n.get_ref()) => {}
                    None => errors.push(src.error(
                        n,
                        format!("records.{k}"),
                        format!("no field named {:?}", n.get_ref()),
                        "the name of a field under [fields]",
                    )),
                }
            }
        };
    pick(
        &raw.email_field,
        "email_field",
        ValueKind::Email,
        &mut rules.email_field,
    );
    pick(
        &raw.phone_field,
        "phone_field",
        ValueKind::Phone,
        &mut rules.phone_field,
    );
    if rules.require_email && rules.email_field.is_none() && errors.is_empty() {
        errors.push(MappingError {
            file: path.to_owned(),
            line: 0,
            key: "records.require_email".into(),
            problem: "require_email is set but no e-mail field is mapped".into(),
            expected: "a field named `email` with type = \"email\", or records.email_field".into(),
        });
    }
    for f in &raw.only {
        let r = f.get_ref();
        let conds = [r.in_.is_some(), r.not_in.is_some(), r.present.is_some()];
        let condition = match (&r.in_, &r.not_in, r.present) {
            _ if conds.iter().filter(|c| **c).count() != 1 => None,
            (Some(v), _, _) => Some(Condition::In(v.clone())),
            (_, Some(v), _) => Some(Condition::NotIn(v.clone())),
            (_, _, Some(true)) => Some(Condition::Present),
            (_, _, Some(false)) => Some(Condition::Absent),
            _ => None,
        };
        let Some(condition) = condition else {
            errors.push(src.error(
                f,
                "records.only",
                "a filter needs exactly one condition",
                "one of `in = [...]`, `not_in = [...]`, `present = true|false`",
            ));
            continue;
        };
        if by_name(r.field.get_ref()).is_none() {
            if !declared.contains_key(r.field.get_ref()) {
                errors.push(src.error(
                    &r.field,
                    "records.only.field",
                    format!("no field named {:?}", r.field.get_ref()),
                    "the name of a field under [fields]",
                ));
            }
            continue;
        }
        rules.filters.push(Filter {
            field: r.field.get_ref().clone(),
            condition,
        });
    }
    rules
}

/// Reads every `*.toml` file directly in `dir` (not in sub-directories), sorted by name,
/// and parses them into one set.
pub fn load_dir(dir: &Path) -> Result<MappingSet, MappingErrors> {
    let io_error = |path: &Path, e: std::io::Error| {
        MappingErrors(vec![MappingError {
            file: path.to_owned(),
            line: 0,
            key: "(file)".into(),
            problem: format!("cannot read: {e}"),
            expected: "a readable directory of *.toml mapping files".into(),
        }])
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| io_error(&p, e))?;
        files.push((p, text));
    }
    if files.is_empty() {
        return Err(MappingErrors(vec![MappingError {
            file: dir.to_owned(),
            line: 0,
            key: "(files)".into(),
            problem: "no *.toml mapping files in this directory".into(),
            expected: "at least one *.toml file (see mappings/default.toml)".into(),
        }]));
    }
    parse_files(&files)
}

/// Parses one mapping text (for tests and tools); `name` is used in messages.
pub fn parse_str(name: &str, text: &str) -> Result<MappingSet, MappingErrors> {
    parse_files(&[(PathBuf::from(name), text.to_owned())])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> MappingSet {
        parse_str("m.toml", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn errs(text: &str) -> Vec<MappingError> {
        parse_str("m.toml", text).unwrap_err().0
    }

    /// The one error of `text`, checked to name file, line and key.
    fn one_error(text: &str, line: usize, key: &str) -> MappingError {
        let e = errs(text);
        assert_eq!(e.len(), 1, "{e:#?}");
        let e = e.into_iter().next().unwrap();
        assert_eq!(e.file, PathBuf::from("m.toml"));
        assert_eq!((e.line, e.key.as_str()), (line, key), "{e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("m.toml:{line}: `{key}`")),
            "{shown}"
        );
        e
    }

    /// Regression (found by fuzzing): a control character in a comment gave an error whose
    /// problem was empty (`m.toml:1: \`(top level)\`: ; expected valid TOML`).
    #[test]
    fn a_control_character_in_a_comment_is_named() {
        let e = one_error("# G\u{f}rgias note\n", 1, "(top level)");
        assert!(e.problem.contains("U+000F"), "{e}");
    }

    const EMAIL: &str =
        "[fields.email]\nhubspot = \"email\"\ngorgias = \"email\"\ntype = \"email\"\n";

    #[test]
    fn one_to_one_fields_with_defaults() {
        let m = ok(EMAIL);
        let f = m.field("email").unwrap();
        assert_eq!(f.hubspot, HubspotAccess::Property("email".into()));
        assert_eq!(f.gorgias, GorgiasAccess::Top("email".into()));
        assert_eq!(
            (f.kind, f.direction, f.conflict),
            (ValueKind::Email, Direction::Both, ConflictPolicy::Newest)
        );
        assert_eq!(f.origin.line, 1);
        assert_eq!(
            m.records.email_field.as_deref(),
            Some("email"),
            "linking defaults to the email field"
        );
    }

    #[test]
    fn names_phones_and_data_paths() {
        let m = ok(r#"
[fields.name]
hubspot = ["firstname", "lastname"]
gorgias = "name"
[fields.phone]
hubspot = "phone"
gorgias = "channels.phone"
type = "phone"
region = "GB"
[fields.stage]
hubspot = "lifecyclestage"
gorgias = "data.tether.lifecycle_stage"
values = { lead = "Lead" }
"#);
        assert_eq!(
            m.field("name").unwrap().hubspot,
            HubspotAccess::Join("firstname".into(), "lastname".into())
        );
        assert_eq!(
            m.field("phone").unwrap().gorgias,
            GorgiasAccess::PhoneChannel
        );
        assert_eq!(m.field("phone").unwrap().region.unwrap().code(), "GB");
        let stage = m.field("stage").unwrap();
        assert_eq!(
            stage.gorgias,
            GorgiasAccess::Data(vec!["tether".into(), "lifecycle_stage".into()])
        );
        assert_eq!(stage.kind, ValueKind::Enum, "a value map makes an enum");
        assert_eq!(
            stage.values.as_ref().unwrap().to_gorgias("lead"),
            Some("Lead")
        );
        assert_eq!(m.records.phone_field.as_deref(), Some("phone"));
    }

    #[test]
    fn defaults_directions_policies_and_transforms() {
        let m = ok(r#"
[defaults]
direction = "to_gorgias"
conflict = "manual"
[fields.a]
hubspot = "a"
gorgias = "note"
transforms = ["trim", "uppercase"]
default = " x "
[fields.b]
hubspot = "b"
gorgias = "data.b"
direction = "both"
conflict = "gorgias"
type = "number"
default = "3.50"
"#);
        let a = m.field("a").unwrap();
        assert_eq!(
            (a.direction, a.conflict),
            (Direction::ToGorgias, ConflictPolicy::Manual)
        );
        assert_eq!(a.transforms, vec![Transform::Trim, Transform::Uppercase]);
        assert_eq!(
            a.default.as_deref(),
            Some("X"),
            "defaults are stored canonical"
        );
        let b = m.field("b").unwrap();
        assert_eq!(
            (b.direction, b.conflict),
            (Direction::Both, ConflictPolicy::Gorgias)
        );
        assert_eq!(b.default.as_deref(), Some("3.5"));
    }

    #[test]
    fn records_filters_and_creates() {
        let m = ok(&format!(
            "{EMAIL}{}",
            r#"
[fields.stage]
hubspot = "lifecyclestage"
gorgias = "data.stage"
[records]
require_email = true
create_in_gorgias = true
[[records.only]]
field = "stage"
in = ["customer"]
[[records.only]]
field = "email"
present = true
"#
        ));
        let r = &m.records;
        assert!(r.require_email && r.create_in_gorgias && !r.create_in_hubspot);
        assert_eq!(r.filters.len(), 2);
        assert_eq!(
            r.filters[0].condition,
            Condition::In(vec!["customer".into()])
        );
        assert!(
            r.filters[0].condition.holds(Some("customer")) && !r.filters[0].condition.holds(None)
        );
        assert_eq!(r.filters[1].condition, Condition::Present);
    }

    #[test]
    fn hubspot_property_definitions() {
        let m = ok(r#"
[fields.tier]
hubspot = "loyalty_tier"
gorgias = "data.tier"
values = { gold_tier = "Gold", silver = "Silver" }
[fields.tier.hubspot_property]
label = "Loyalty tier"
[fields.gid]
hubspot = "tether_gorgias_id"
gorgias = "@id"
direction = "to_hubspot"
[fields.gid.hubspot_property]
unique = true
"#);
        let props = m.hubspot_properties();
        let gid = props
            .iter()
            .find(|p| p.name == "tether_gorgias_id")
            .unwrap();
        assert_eq!(
            (
                gid.kind.as_str(),
                gid.field_type.as_str(),
                gid.label.as_str()
            ),
            ("string", "text", "Gid")
        );
        assert!(gid.has_unique_value);
        let tier = props.iter().find(|p| p.name == "loyalty_tier").unwrap();
        assert_eq!(
            (tier.kind.as_str(), tier.field_type.as_str()),
            ("enumeration", "select")
        );
        let opts: Vec<(&str, &str)> = tier
            .options
            .iter()
            .map(|o| (o.value.as_str(), o.label.as_str()))
            .collect();
        assert_eq!(opts, [("gold_tier", "Gold tier"), ("silver", "Silver")]);
        let json = serde_json::to_value(tier).unwrap();
        assert_eq!(json["fieldType"], "select");
        assert_eq!(json["groupName"], "contactinformation");
    }

    #[test]
    fn syntax_and_unknown_keys_name_line_and_key() {
        let e = one_error(
            &format!("{EMAIL}[fields.x]\nhubspot = \"x\"\ngorgias = \"note\"\ncolour = 3\n"),
            8,
            "fields.x.colour",
        );
        assert!(e.problem.contains("unknown field `colour`"));
        assert!(e.expected.contains("`direction`"));
        let e = one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"note\"\ndirection = \"sideways\"\n",
            4,
            "fields.x.direction",
        );
        assert!(e.expected.contains("`to_hubspot`"));
        let e = one_error("[fields.x]\nhubspot = \"x\"\n", 1, "fields.x");
        assert!(e.problem.contains("missing field `gorgias`"));
        let e = one_error("[fields.x\nhubspot = 1\n", 1, "fields.x");
        assert!(!e.problem.is_empty());
    }

    #[test]
    fn semantic_errors_name_line_key_and_expectation() {
        let e = one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"emial\"\n",
            3,
            "fields.x.gorgias",
        );
        assert!(e.expected.contains("channels.phone"));
        let e = one_error(
            "[fields.x]\nhubspot = \"Bad-Name\"\ngorgias = \"note\"\n",
            2,
            "fields.x.hubspot",
        );
        assert!(e.expected.contains("lower-case"));
        let e = one_error(
            "[fields.x]\nhubspot = \"@id\"\ngorgias = \"external_id\"\n",
            1,
            "fields.x.direction",
        );
        assert!(e.expected.contains("to_gorgias"));
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = [\"firstname\", \"lastname\"]\ndirection = \"both\"\n",
            4,
            "fields.x.direction",
        );
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"enum\"\n",
            4,
            "fields.x.type",
        );
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"date\"\nhubspot_format = \"%Q\"\n",
            5,
            "fields.x.hubspot_format",
        );
        // Regression (found by fuzzing): a date format with a time of day was accepted and
        // panicked when a date was written in it.
        let e = one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"date\"\ngorgias_format = \"%d/~%m/%Y-%d %H:%M:%S\"\n",
            5,
            "fields.x.gorgias_format",
        );
        assert!(e.problem.contains("time of day"), "{e}");
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntransforms = [\"trim\", \"shout\"]\n",
            4,
            "fields.x.transforms",
        );
        let e = one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"bool\"\ndefault = \"maybe\"\n",
            5,
            "fields.x.default",
        );
        assert!(e.expected.contains("bool"));
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"channels.phone\"\n",
            3,
            "fields.x.type",
        );
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\nvalues = { a = \"A\", b = \"A\" }\n",
            4,
            "fields.x.values",
        );
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"note\"\n[records]\n[[records.only]]\nfield = \"nope\"\nin = [\"a\"]\n",
            6,
            "records.only.field",
        );
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"note\"\n[records]\n[[records.only]]\nfield = \"x\"\n",
            5,
            "records.only",
        );
        one_error(
            "[fields.x]\nhubspot = \"x\"\ngorgias = \"data.x\"\ntype = \"number\"\n[fields.x.hubspot_property]\ntype = \"number\"\nfield_type = \"select\"\n",
            7,
            "fields.x.hubspot_property.field_type",
        );
    }

    #[test]
    fn two_fields_writing_one_target_is_an_error() {
        let e = errs(
            "[fields.a]\nhubspot = \"x\"\ngorgias = \"data.t\"\n[fields.b]\nhubspot = \"y\"\ngorgias = \"data.t.u\"\n",
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].problem.contains("also written by field \"a\""),
            "{}",
            e[0]
        );
    }

    #[test]
    fn files_merge_and_duplicates_name_both_files() {
        let a = (PathBuf::from("dir/a.toml"), EMAIL.to_owned());
        let b = (
            PathBuf::from("dir/b.toml"),
            "[fields.note]\nhubspot = \"note\"\ngorgias = \"note\"\n".to_owned(),
        );
        let m = parse_files(&[a.clone(), b]).unwrap();
        assert_eq!(m.fields.len(), 2);
        assert_eq!(m.sources.len(), 2);
        let dup = (PathBuf::from("dir/c.toml"), format!("\n\n{EMAIL}"));
        let e = parse_files(&[a, dup]).unwrap_err().0;
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].file.to_str().unwrap(), e[0].line), ("dir/c.toml", 3));
        assert!(e[0].problem.contains("dir/a.toml:1"), "{}", e[0]);
        let r1 = (
            PathBuf::from("x.toml"),
            "[records]\nrequire_email = false\n".to_owned(),
        );
        let r2 = (
            PathBuf::from("y.toml"),
            format!("{EMAIL}[records]\ncreate_in_gorgias = true\n"),
        );
        let e = parse_files(&[r1, r2]).unwrap_err().0;
        assert!(
            e.iter()
                .any(|e| e.key == "records" && e.problem.contains("x.toml")),
            "{e:?}"
        );
    }

    #[test]
    fn shipped_default_and_examples_are_valid() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        let m = load_dir(&root).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.sources.len(), 1, "examples/ is not loaded");
        assert!(
            m.hubspot_properties()
                .iter()
                .any(|p| p.name == "tether_gorgias_id")
        );
        let gid = m.field("gorgias_id").unwrap();
        assert_eq!(
            (&gid.gorgias, gid.direction),
            (&GorgiasAccess::Id, Direction::ToHubspot)
        );
        let hid = m.field("hubspot_id").unwrap();
        assert_eq!(
            (&hid.hubspot, &hid.gorgias),
            (
                &HubspotAccess::Id,
                &GorgiasAccess::Top("external_id".into())
            )
        );
        for entry in std::fs::read_dir(root.join("examples")).unwrap() {
            let p = entry.unwrap().path();
            let text = std::fs::read_to_string(&p).unwrap();
            parse_files(&[(p.clone(), text)]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}
