//! The [`Plan`]: everything one cycle would do, as data. Writes per side (only changed
//! fields, with the base values to store once each write succeeds), links to make, creates,
//! conflicts held for review, and skips with reasons.
//!
//! Serialises to the public JSON plan format (docs/plan-schema.md, `schema_version` 1): add
//! fields only, never rename or remove. Must never hold I/O handles or anything that makes the
//! plan depend on time or input order: every list is sorted.

use super::resolve::Cause;
use crate::domain::{GorgiasId, HubspotId, System};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Version of the JSON plan format.
pub const SCHEMA_VERSION: u32 = 1;

/// What one cycle would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub schema_version: u32,
    pub summary: Summary,
    /// Safety caps: counts against limits, and whether the plan is blocked.
    pub caps: CapsReport,
    /// New links (made before the writes of the same pair).
    pub links: Vec<NewLink>,
    pub hubspot_updates: Vec<HubspotUpdate>,
    pub gorgias_updates: Vec<GorgiasUpdate>,
    pub hubspot_creates: Vec<HubspotCreate>,
    pub gorgias_creates: Vec<GorgiasCreate>,
    /// Bases that move without any write (both sides already agree).
    pub base_updates: Vec<BaseUpdate>,
    /// One entry per field written to an existing record, with the values seen and why.
    pub changes: Vec<FieldChange>,
    /// Fields changed on both sides under `manual`: nothing written, held for review.
    pub conflicts: Vec<Conflict>,
    /// Records or fields left alone, with the reason.
    pub skips: Vec<Skip>,
    /// Records still owed a write (refused, re-planned with a backoff) or left out
    /// (quarantined): never made by the planner, filled by the cycle from the store so that
    /// the plan never says "nothing to do" while any exist. Newest first.
    pub unsettled: Vec<Unsettled>,
}

/// Why a record is in [`Plan::unsettled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsettledKind {
    /// A write for it was refused; retried after `next_retry_at` (`tether retry` now).
    Refused,
    /// Its answer could not be used; read again every cycle until it can.
    Quarantined,
}

/// One record in [`Plan::unsettled`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unsettled {
    pub kind: UnsettledKind,
    /// The id for `tether retry ID` / `tether dismiss ID` (refused writes only).
    pub id: Option<i64>,
    /// The record's system and id (for a refused create, the record whose counterpart is
    /// missing).
    pub system: System,
    pub record_id: String,
    /// The system the refused write goes to, and whether it creates or updates.
    pub target: Option<System>,
    pub op: Option<String>,
    /// `transient`, `record` (refused for this record) or `setup` (refused because of the
    /// setup: run `tether setup`, check the credentials).
    pub class: Option<String>,
    pub reason: String,
    /// Cycles whose write failed (0 for a quarantined record).
    pub attempts: u32,
    /// The first refusal, or when the record went into quarantine.
    pub since: DateTime<Utc>,
    /// When the next cycle may try again (`None`: every cycle).
    pub next_retry_at: Option<DateTime<Utc>>,
}

impl Plan {
    /// Whether applying the plan would write anything to either system.
    pub fn has_writes(&self) -> bool {
        !(self.hubspot_updates.is_empty()
            && self.gorgias_updates.is_empty()
            && self.hubspot_creates.is_empty()
            && self.gorgias_creates.is_empty())
    }

    /// Whether the plan changes anything at all (writes, links or bases).
    pub fn has_changes(&self) -> bool {
        self.has_writes() || !self.links.is_empty() || !self.base_updates.is_empty()
    }

    /// Whether tether still owes writes: the plan changes something, or a refused write
    /// waits for its retry (what `tether plan --detailed-exitcode` reports as 2).
    pub fn owes_writes(&self) -> bool {
        self.has_changes()
            || self
                .unsettled
                .iter()
                .any(|u| u.kind == UnsettledKind::Refused)
    }
}

/// Counts for the report headline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Linked pairs compared (existing and new links).
    pub pairs: usize,
    pub links: usize,
    pub hubspot_updates: usize,
    pub gorgias_updates: usize,
    pub hubspot_creates: usize,
    pub gorgias_creates: usize,
    /// Field writes across all updates.
    pub field_writes: usize,
    pub base_updates: usize,
    pub conflicts: usize,
    pub skips: usize,
}

/// How a new link was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKind {
    /// One side carries the other's id (e.g. `tether_gorgias_id`, `external_id`).
    RecordedId,
    /// Same normalised e-mail, unique on both sides.
    Email,
    /// Same E.164 phone, unique on both sides, no contradicting e-mails.
    Phone,
}

/// A link to record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct NewLink {
    pub hubspot_id: HubspotId,
    pub gorgias_id: GorgiasId,
    pub matched_by: MatchKind,
    /// The value that matched (an e-mail, a phone, or an id).
    pub key: String,
}

/// A PATCH of one HubSpot contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubspotUpdate {
    pub id: HubspotId,
    /// The linked Gorgias customer (whose link the bases belong to).
    pub gorgias_id: GorgiasId,
    /// Properties to send (`""` clears).
    pub properties: BTreeMap<String, String>,
    /// Base values (canonical, `null` = empty) to store once the write succeeds.
    pub bases: BTreeMap<String, Option<String>>,
}

/// An update of one Gorgias customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GorgiasUpdate {
    pub id: GorgiasId,
    pub hubspot_id: HubspotId,
    /// Top-level fields for `PUT /api/customers/{id}` (`channels` is the whole new list).
    pub fields: Map<String, Value>,
    /// The whole new `data` object for `PUT /api/customers/{id}/data`, when it changed.
    pub data: Option<Value>,
    pub bases: BTreeMap<String, Option<String>>,
}

/// A HubSpot contact to create for an unmatched Gorgias customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubspotCreate {
    pub from_gorgias: GorgiasId,
    pub properties: BTreeMap<String, String>,
    /// Bases of the new link (source id + created id), to store once created.
    pub bases: BTreeMap<String, Option<String>>,
}

/// A Gorgias customer to create for an unmatched HubSpot contact.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GorgiasCreate {
    pub from_hubspot: HubspotId,
    /// Create body (`channels` included).
    pub fields: Map<String, Value>,
    /// `data` to set after the create, when any data path is mapped.
    pub data: Option<Value>,
    pub bases: BTreeMap<String, Option<String>>,
}

/// A base that moves with no write.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BaseUpdate {
    pub hubspot_id: HubspotId,
    pub gorgias_id: GorgiasId,
    pub field: String,
    pub value: Option<String>,
}

/// One field written to an existing record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FieldChange {
    pub hubspot_id: HubspotId,
    pub gorgias_id: GorgiasId,
    pub field: String,
    /// The side written.
    pub target: System,
    /// Canonical values before the write.
    pub hubspot: Option<String>,
    pub gorgias: Option<String>,
    pub base: Option<String>,
    /// The canonical value written (`null` clears).
    pub value: Option<String>,
    /// Whether a non-empty value is overwritten (counts against the overwrite cap).
    pub overwrites: bool,
    pub cause: Cause,
    pub reason: Cow<'static, str>,
}

/// A field held for review.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Conflict {
    pub hubspot_id: HubspotId,
    pub gorgias_id: GorgiasId,
    pub field: String,
    pub hubspot: Option<String>,
    pub gorgias: Option<String>,
    pub base: Option<String>,
    pub hubspot_updated_at: DateTime<Utc>,
    pub gorgias_updated_at: DateTime<Utc>,
}

/// Why something is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipCode {
    /// The id was merged away or deleted; it never takes part again.
    Excluded,
    /// A linked record's counterpart was not in the input (not loaded, or deleted).
    CounterpartMissing,
    /// The store holds contradictory links for this record.
    InconsistentLink,
    /// The record does not pass the mapping's filters.
    FilteredOut,
    /// Several records share the e-mail or phone: no guess is made.
    AmbiguousMatch,
    /// The e-mail belongs to a record already linked to another one (a likely duplicate).
    DuplicateOfLinked,
    /// No counterpart, and the mapping does not create one on that side.
    CreateDisabled,
    /// No counterpart, and no valid e-mail to create one safely.
    NoEmailForCreate,
    /// A side's value does not fit the field (e-mail, phone, date, enum option, ...).
    InvalidValue,
    /// The value cannot be written in the target's shape.
    CannotWrite,
}

/// A record or field left alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Skip {
    pub hubspot_id: Option<HubspotId>,
    pub gorgias_id: Option<GorgiasId>,
    /// The field, for a field-level skip.
    pub field: Option<String>,
    pub code: SkipCode,
    pub reason: Cow<'static, str>,
}

/// Safety caps of one plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapsReport {
    pub creates: usize,
    pub max_creates: usize,
    pub overwrites: usize,
    pub max_overwrites: usize,
    /// Some limit is exceeded.
    pub exceeded: bool,
    pub allow_large: bool,
    /// Exceeded and not allowed: the cycle must write nothing.
    pub blocked: bool,
    /// Human explanation when exceeded.
    pub reason: Option<String>,
}

/// Which system a pair-level note is about (used by the report).
pub fn side_name(s: System) -> &'static str {
    match s {
        System::Hubspot => "HubSpot",
        System::Gorgias => "Gorgias",
    }
}
