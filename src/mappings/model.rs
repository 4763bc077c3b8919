//! The typed mapping model: what one mapping set says, after parsing and validation.
//!
//! Owns the data types only (fields, accessors on each side, value kinds, policies, record
//! rules, HubSpot property definitions). Must never read files or hold parsing logic: that is
//! [`super::parse`]; must never touch records: that is the engine.

use super::computed::Computed;
use super::transform::Transform;
use super::value_map::ValueMap;
use crate::domain::Region;
use serde::Serialize;
use std::path::PathBuf;

/// A validated set of field mappings, merged from every `*.toml` file of a directory.
#[derive(Debug, Clone)]
pub struct MappingSet {
    /// Field mappings synced by the engine, sorted by canonical name.
    pub fields: Vec<FieldMapping>,
    /// Support roll-ups (`gorgias = "@tickets.…"`, `to_hubspot` only), sorted by name: written
    /// by the cycle's support step, never seen by the engine.
    pub rollups: Vec<FieldMapping>,
    /// Which records take part and whether counterparts are created.
    pub records: RecordRules,
    /// The files the set was read from, sorted.
    pub sources: Vec<PathBuf>,
}

impl MappingSet {
    /// The mapping of canonical field `name`, if any.
    pub fn field(&self, name: &str) -> Option<&FieldMapping> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Position of canonical field `name` in [`MappingSet::fields`].
    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Property groups tether creates for its own properties (name, label): the "Gorgias
    /// support" group when a roll-up property goes there.
    pub fn hubspot_property_groups(&self) -> Vec<(&'static str, &'static str)> {
        use super::computed::{PROPERTY_GROUP, PROPERTY_GROUP_LABEL};
        let needed = self
            .hubspot_properties()
            .iter()
            .any(|p| p.group_name == PROPERTY_GROUP);
        if needed {
            vec![(PROPERTY_GROUP, PROPERTY_GROUP_LABEL)]
        } else {
            vec![]
        }
    }

    /// HubSpot custom properties the mappings need, for `tether setup` to create when missing.
    pub fn hubspot_properties(&self) -> Vec<PropertyDefinition> {
        self.fields
            .iter()
            .chain(&self.rollups)
            .filter_map(|f| f.hubspot_property.clone())
            .collect()
    }
}

/// Where a mapping was declared, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub line: usize,
}

/// One canonical field and how it reads from and writes to each system.
#[derive(Debug, Clone)]
pub struct FieldMapping {
    /// Canonical name (the TOML table name under `[fields]`).
    pub name: String,
    pub hubspot: HubspotAccess,
    pub gorgias: GorgiasAccess,
    pub kind: ValueKind,
    /// String normalisations applied, in order, when reading either side.
    pub transforms: Vec<Transform>,
    pub direction: Direction,
    pub conflict: ConflictPolicy,
    /// Canonical value used when a side has no value.
    pub default: Option<String>,
    /// Enum ⇄ enum map: keys are HubSpot values (the canonical form), values Gorgias values.
    pub values: Option<ValueMap>,
    /// Region for reading national phone numbers; the sync default when absent.
    pub region: Option<Region>,
    /// chrono format of dates/datetimes on HubSpot (default ISO).
    pub hubspot_format: Option<String>,
    /// chrono format of dates/datetimes on Gorgias (default ISO).
    pub gorgias_format: Option<String>,
    /// A HubSpot custom property to create when missing.
    pub hubspot_property: Option<PropertyDefinition>,
    pub origin: Origin,
}

impl FieldMapping {
    /// Whether the field reads a computed support roll-up (kept in [`MappingSet::rollups`]).
    pub fn is_computed(&self) -> bool {
        matches!(self.gorgias, GorgiasAccess::Computed(_))
    }
}

/// How a field is found on a HubSpot contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubspotAccess {
    /// The contact id (read only).
    Id,
    /// One property.
    Property(String),
    /// Two properties joined by a space on read (`firstname` + `lastname`), split on write.
    Join(String, String),
}

/// How a field is found on a Gorgias customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GorgiasAccess {
    /// The customer id (read only).
    Id,
    /// A top-level customer field such as `email`, `name`, `external_id`, `note`.
    Top(String),
    /// `firstname` + `lastname` joined by a space (read only: Gorgias derives them from `name`).
    JoinNames,
    /// The preferred (else first) phone channel's address: `channels.phone`.
    PhoneChannel,
    /// A path inside the customer's `data` object: `data.tether.lifecycle_stage` → `["tether", "lifecycle_stage"]`.
    Data(Vec<String>),
    /// A support roll-up worked out by tether (`@tickets.count`, ...): read only.
    Computed(Computed),
}

impl GorgiasAccess {
    /// Whether tether can write through this accessor.
    pub fn writable(&self) -> bool {
        !matches!(
            self,
            GorgiasAccess::Id | GorgiasAccess::JoinNames | GorgiasAccess::Computed(_)
        )
    }
}

impl HubspotAccess {
    /// Whether tether can write through this accessor.
    pub fn writable(&self) -> bool {
        !matches!(self, HubspotAccess::Id)
    }
}

/// The kind of value a field holds, which fixes its canonical form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    /// Free text (after transforms).
    String,
    /// A normalised e-mail address.
    Email,
    /// An E.164 phone number.
    Phone,
    /// A decimal number, canonical without trailing zeros (`"1.5"`, `"17"`).
    Number,
    /// `"true"` / `"false"`.
    Bool,
    /// `YYYY-MM-DD`.
    Date,
    /// RFC 3339 UTC with milliseconds: `2024-09-11T13:27:39.356Z`.
    Datetime,
    /// One of a fixed set of options (the value map's keys or the property's options).
    Enum,
}

/// Which way a field flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Both,
    ToHubspot,
    ToGorgias,
}

/// Who wins when both sides changed a `both` field to different values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConflictPolicy {
    Hubspot,
    Gorgias,
    /// The record updated most recently wins; HubSpot on a tie.
    Newest,
    /// Held for review: no write until someone decides.
    Manual,
}

/// Which records take part, and whether missing counterparts are created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordRules {
    /// Only records with a valid e-mail take part.
    pub require_email: bool,
    /// Every filter must hold (on the record's own canonical values).
    pub filters: Vec<Filter>,
    /// Create a HubSpot contact for an unmatched Gorgias customer.
    pub create_in_hubspot: bool,
    /// Create a Gorgias customer for an unmatched HubSpot contact.
    pub create_in_gorgias: bool,
    /// Canonical field used to link by e-mail (default `email` when mapped).
    pub email_field: Option<String>,
    /// Canonical field used to link by phone (default `phone` when mapped).
    pub phone_field: Option<String>,
    /// Canonical field (type `date`) the duplicate matcher compares as a date of birth
    /// (`records.date_of_birth_field`; none by default).
    pub date_of_birth_field: Option<String>,
}

/// A condition on one canonical field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub field: String,
    pub condition: Condition,
}

/// What a [`Filter`] requires of its field's canonical value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// The value is one of these.
    In(Vec<String>),
    /// The value is empty or none of these.
    NotIn(Vec<String>),
    /// The value is not empty.
    Present,
    /// The value is empty.
    Absent,
}

impl Condition {
    /// Whether a canonical value satisfies the condition.
    pub fn holds(&self, value: Option<&str>) -> bool {
        match self {
            Condition::In(set) => value.is_some_and(|v| set.iter().any(|s| s == v)),
            Condition::NotIn(set) => !value.is_some_and(|v| set.iter().any(|s| s == v)),
            Condition::Present => value.is_some(),
            Condition::Absent => value.is_none(),
        }
    }
}

/// A HubSpot contact property definition, in the shape of the properties API create body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyDefinition {
    pub name: String,
    pub label: String,
    /// `string`, `number`, `bool`, `enumeration`, `date`, `datetime`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `text`, `textarea`, `number`, `booleancheckbox`, `select`, `radio`, `checkbox`, `date`, ...
    pub field_type: String,
    pub group_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PropertyOption>,
    pub has_unique_value: bool,
    pub form_field: bool,
}

/// One option of an enumeration property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    pub label: String,
    pub value: String,
    pub display_order: i32,
    pub hidden: bool,
}
