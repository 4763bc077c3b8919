//! The raw file format: the serde structs a mapping file deserialises into, before any
//! validation. Must never validate or default anything beyond what serde does.

use super::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    #[serde(default)]
    pub(super) version: Option<Spanned<i64>>,
    #[serde(default)]
    pub(super) defaults: Option<Spanned<RawDefaults>>,
    #[serde(default)]
    pub(super) records: Option<Spanned<RawRecords>>,
    #[serde(default)]
    pub(super) fields: BTreeMap<Spanned<String>, Spanned<RawField>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) direction: Option<Spanned<Direction>>,
    pub(super) conflict: Option<Spanned<ConflictPolicy>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRecords {
    pub(super) require_email: Option<bool>,
    pub(super) create_in_hubspot: Option<bool>,
    pub(super) create_in_gorgias: Option<bool>,
    pub(super) email_field: Option<Spanned<String>>,
    pub(super) phone_field: Option<Spanned<String>>,
    pub(super) date_of_birth_field: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) only: Vec<Spanned<RawFilter>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFilter {
    pub(super) field: Spanned<String>,
    #[serde(rename = "in")]
    pub(super) in_: Option<Vec<String>>,
    pub(super) not_in: Option<Vec<String>>,
    pub(super) present: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawAccess {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawField {
    pub(super) hubspot: Spanned<RawAccess>,
    pub(super) gorgias: Spanned<RawAccess>,
    #[serde(rename = "type")]
    pub(super) kind: Option<Spanned<ValueKindName>>,
    #[serde(default)]
    pub(super) transforms: Vec<Spanned<String>>,
    pub(super) direction: Option<Spanned<Direction>>,
    pub(super) conflict: Option<Spanned<ConflictPolicy>>,
    pub(super) default: Option<Spanned<String>>,
    pub(super) values: Option<Spanned<BTreeMap<String, String>>>,
    pub(super) region: Option<Spanned<String>>,
    pub(super) hubspot_format: Option<Spanned<String>>,
    pub(super) gorgias_format: Option<Spanned<String>>,
    pub(super) hubspot_property: Option<Spanned<RawProperty>>,
    /// Only for computed sources: `["spam", "trashed"]` (see `computed.rs`).
    pub(super) include: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum ValueKindName {
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
pub(super) struct RawProperty {
    pub(super) label: Option<String>,
    #[serde(rename = "type")]
    pub(super) kind: Option<Spanned<String>>,
    pub(super) field_type: Option<Spanned<String>>,
    pub(super) group: Option<String>,
    pub(super) description: Option<String>,
    pub(super) unique: Option<bool>,
    pub(super) options: Option<Vec<RawOption>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOption {
    pub(super) value: String,
    pub(super) label: Option<String>,
}
