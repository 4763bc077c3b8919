//! The engine's plain input types: records of each side as the connectors deliver them,
//! links with their bases, tombstones, review decisions, and planning options.
//!
//! Owns data shapes only. Must never do I/O: connectors and the store convert into these.

use crate::domain::{GorgiasId, HubspotId, Region, System};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// A HubSpot contact: its id, `updatedAt`, and property values (strings; `""` or absent
/// means empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubspotRecord {
    pub id: HubspotId,
    pub updated_at: DateTime<Utc>,
    pub properties: BTreeMap<String, String>,
}

/// A Gorgias customer: its id, `updated_datetime`, and the customer object as JSON
/// (`email`, `name`, `firstname`, `lastname`, `external_id`, `note`, `language`, `timezone`,
/// `channels` [{type, address, preferred}], `data`). Pass the full object (GET by id):
/// list items lack `channels`, and phone fields are then skipped rather than guessed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GorgiasRecord {
    pub id: GorgiasId,
    pub updated_at: DateTime<Utc>,
    pub fields: serde_json::Value,
}

/// Canonical values both sides last agreed on, per field name. Absent means empty.
pub type Base = BTreeMap<String, String>;

/// A known HubSpot ⇄ Gorgias pair and its base values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub hubspot_id: HubspotId,
    pub gorgias_id: GorgiasId,
    #[serde(default)]
    pub base: Base,
}

/// Ids that must never take part again: merged-away or deleted records. A link touching
/// one is skipped, and no counterpart is ever created for or from one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Excluded {
    pub hubspot: HashSet<HubspotId>,
    pub gorgias: HashSet<GorgiasId>,
}

/// A reviewer's decision on a held conflict (`tether conflicts resolve`, the review page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    pub hubspot_id: HubspotId,
    pub gorgias_id: GorgiasId,
    pub field: String,
    pub choice: Choice,
}

/// What a reviewer chose for one held field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    /// This side's current value is copied to the other side.
    Take(System),
    /// This canonical value is written to every side that does not hold it (`""` = empty).
    Value(String),
}

/// Everything one planning run looks at. Records may come in any order; the plan does not
/// depend on it.
///
/// - `hubspot` / `gorgias`: the changed records of each side **and** their counterparts (read by
///   id), **and**, for each unlinked record, the other side's records sharing its e-mail
///   (looked up by the cycle): the engine only links and creates from what it is given.
/// - `links`: at least every link touching one of those records (more is harmless).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub hubspot: &'a [HubspotRecord],
    pub gorgias: &'a [GorgiasRecord],
    pub links: &'a [Link],
    pub excluded: &'a Excluded,
    pub resolutions: &'a [Resolution],
}

/// Planning options (from `[sync]` settings and the command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Region for phone numbers written without a country code.
    pub default_region: Region,
    /// Most counterparts one plan may create before it is blocked.
    pub max_creates: usize,
    /// Most non-empty values one plan may overwrite before it is blocked.
    pub max_overwrites: usize,
    /// Lift the caps (`--allow-large`).
    pub allow_large: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            default_region: Region::default(),
            max_creates: 500,
            max_overwrites: 1000,
            allow_large: false,
        }
    }
}
