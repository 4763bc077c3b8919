//! The matcher's input record ([`MatchRecord`]) and its normalised form ([`Prepared`]) that
//! blocking and comparison read. Owns the mapping from raw fields to keys; must never do I/O.

use super::normalize;
use super::phonetic::soundex;
use crate::domain::{Region, System};
use serde::{Deserialize, Serialize};

/// One customer profile as the matcher sees it. Empty strings are missing values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRecord {
    /// The record's id in its system (or in the labelled file).
    pub id: String,
    /// The system it lives in; in linking mode only pairs from different sources are
    /// candidates.
    pub source: Option<System>,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub zip: String,
    pub state: String,
    /// ISO 3166 alpha-2 country, also the region national phone numbers are read in.
    pub country: String,
}

/// A record's normalised fields, computed once per record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    pub source: Option<System>,
    pub first: String,
    pub last: String,
    /// Normalised e-mail (see [`normalize::email`]), empty when missing or invalid.
    pub email: String,
    /// Phone digits (E.164 without `+` when it parses), empty when missing.
    pub phone: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub zip: String,
    pub state: String,
    pub first_soundex: Option<[u8; 4]>,
    pub last_soundex: Option<[u8; 4]>,
}

impl Prepared {
    /// Normalises `r`, reading national phone numbers in its country or `default_region`.
    pub fn new(r: &MatchRecord, default_region: Region) -> Self {
        let first = normalize::name(&r.first_name);
        let last = normalize::name(&r.last_name);
        let region = normalize::region_for(&r.country, default_region);
        Prepared {
            source: r.source,
            first_soundex: soundex(&first),
            last_soundex: soundex(&last),
            first,
            last,
            email: normalize::email(&r.email).unwrap_or_default(),
            phone: normalize::phone(&r.phone, region).unwrap_or_default(),
            address1: normalize::text(&r.address1),
            address2: normalize::text(&r.address2),
            city: normalize::text(&r.city),
            zip: normalize::name(&r.zip),
            state: normalize::name(&r.state),
        }
    }
}
