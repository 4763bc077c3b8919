//! The matcher's input record ([`MatchRecord`]) and its normalised form ([`Prepared`]) that
//! blocking and comparison read. Owns the mapping from raw fields to keys; must never do I/O.

use super::compare::FIELD_COUNT;
use super::normalize;
use super::phonetic::soundex;
use crate::domain::{Region, System};
use rayon::prelude::*;
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
    /// A date of birth (or another date-like field that one person keeps), when the
    /// records carry one; see [`normalize::date_of_birth`] for the spellings read.
    #[serde(default)]
    pub date_of_birth: String,
}

/// A record's normalised fields, computed once per record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prepared {
    pub source: Option<System>,
    pub first: String,
    pub last: String,
    /// Normalised e-mail (see [`normalize::email`]), empty when missing or invalid.
    pub email: String,
    /// Phone digits (E.164 without `+` when it parses), empty when missing.
    pub phone: String,
    pub address1: String,
    /// `address1` without spaces (`pridhamstreet` and `pridham street` agree).
    pub address1_compact: String,
    pub address2: String,
    pub city: String,
    pub zip: String,
    pub state: String,
    /// Date of birth as `YYYYMMDD`, empty when missing or unreadable.
    pub dob: String,
    pub first_soundex: Option<[u8; 4]>,
    pub last_soundex: Option<[u8; 4]>,
    /// For each field (in `Field::ALL` order), the share of records in the batch holding
    /// this record's value; 0 when unknown. Filled by [`apply_frequencies`]; an exact
    /// agreement on a common value (one postcode for a whole town) is worth less.
    pub share: [f32; FIELD_COUNT],
    /// For each field, how much more common this record's value is than the batch's
    /// typical value of that field (its count over the count-weighted mean count); 0 when
    /// unknown. Filled by [`apply_frequencies`]; see `Weights::contact_adjustment`.
    pub commonness: [f32; FIELD_COUNT],
}

/// Fields whose exact-agreement weight is adjusted by how common the value is.
const FREQUENCY_FIELDS: [usize; 8] = [0, 1, 2, 3, 4, 6, 7, 8];
/// Of those, the ones whose share caps an exact agreement's weight (names and places); the
/// contact fields (e-mail, phone, street) get their [`Prepared::commonness`] instead, which
/// stays meaningful in a batch of five records where a share would not.
const SHARE_FIELDS: [usize; 6] = [0, 1, 4, 6, 7, 8];
/// The fields whose [`Prepared::commonness`] is measured: e-mail, phone, street.
const COMMONNESS_FIELDS: [usize; 3] = [2, 3, 4];

fn field_value(p: &Prepared, field: usize) -> &str {
    match field {
        0 => &p.first,
        1 => &p.last,
        2 => &p.email,
        3 => &p.phone,
        4 => &p.address1_compact,
        6 => &p.city,
        7 => &p.zip,
        8 => &p.state,
        _ => "",
    }
}

/// Fills [`Prepared::share`] from the value frequencies of the batch. Counts by sorting the
/// values' hashes (in parallel), which stays fast when a million distinct values would not
/// fit a cache as a hash map.
pub fn apply_frequencies(records: &mut [Prepared]) {
    let n = records.len().max(1) as f64;
    for field in FREQUENCY_FIELDS {
        let mut hashed: Vec<(u64, u32)> = records
            .par_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let v = field_value(r, field);
                (!v.is_empty()).then(|| (super::block::hash(0, &[v.as_bytes()]), i as u32))
            })
            .collect();
        hashed.par_sort_unstable();
        let mut shares = vec![0.0f32; records.len()];
        let mut counts = vec![0.0f32; records.len()];
        // Σ k² / Σ k over the values: the count of the value a random record holds.
        let (mut sum_k2, mut sum_k) = (0.0f64, 0.0f64);
        for run in hashed.chunk_by(|x, y| x.0 == y.0) {
            let k = run.len() as f64;
            (sum_k2, sum_k) = (sum_k2 + k * k, sum_k + k);
            let share = (k / n) as f32;
            for &(_, i) in run {
                if let Some(slot) = shares.get_mut(i as usize) {
                    *slot = share;
                }
                if let Some(slot) = counts.get_mut(i as usize) {
                    *slot = k as f32;
                }
            }
        }
        let typical = if sum_k > 0.0 { sum_k2 / sum_k } else { 1.0 };
        records
            .par_iter_mut()
            .zip(shares.into_par_iter().zip(counts))
            .for_each(|(r, (share, k))| {
                if let Some(slot) = r.share.get_mut(field)
                    && SHARE_FIELDS.contains(&field)
                {
                    *slot = share;
                }
                if let Some(slot) = r.commonness.get_mut(field)
                    && COMMONNESS_FIELDS.contains(&field)
                {
                    *slot = if k > 0.0 {
                        (f64::from(k) / typical) as f32
                    } else {
                        0.0
                    };
                }
            });
    }
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
            address1_compact: normalize::text(&r.address1).replace(' ', ""),
            address1: normalize::text(&r.address1),
            address2: normalize::text(&r.address2),
            city: normalize::text(&r.city),
            zip: normalize::name(&r.zip),
            state: normalize::name(&r.state),
            dob: normalize::date_of_birth(&r.date_of_birth).unwrap_or_default(),
            share: [0.0; FIELD_COUNT],
            commonness: [0.0; FIELD_COUNT],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::compare::Field;
    use crate::matcher::weights::exact_weight;

    fn rec(first: &str, zip: &str) -> MatchRecord {
        MatchRecord {
            id: first.into(),
            first_name: first.into(),
            last_name: "Lee".into(),
            email: format!(" {first}@Example.org "),
            phone: "(206) 555-0134".into(),
            address1: "12 Oak Street".into(),
            zip: zip.into(),
            country: "US".into(),
            ..MatchRecord::default()
        }
    }

    #[test]
    fn prepares_normalised_fields() {
        let p = Prepared::new(&rec("Zoë", "98101"), Region::default());
        assert_eq!(p.first, "zoe");
        assert_eq!(p.email, "zoe@example.org");
        assert_eq!(p.phone, "12065550134");
        assert_eq!(p.address1, "12 oak st");
        assert_eq!(p.address1_compact, "12oakst");
        assert_eq!(p.first_soundex, Some(*b"Z000"));
    }

    #[test]
    fn common_values_weigh_less() {
        // Nine records share postcode 00000, one has 98101.
        let mut recs: Vec<Prepared> = (0..9)
            .map(|i| Prepared::new(&rec(&format!("p{i}"), "00000"), Region::default()))
            .collect();
        recs.push(Prepared::new(&rec("q", "98101"), Region::default()));
        apply_frequencies(&mut recs);
        let zip = Field::Zip.index();
        assert!((recs[0].share[zip] - 0.9).abs() < 1e-6);
        assert!((recs[9].share[zip] - 0.1).abs() < 1e-6);
        let common = exact_weight(Field::Zip, recs[0].share[zip]);
        let rare = exact_weight(Field::Zip, recs[9].share[zip]);
        assert!(common < 0.1, "{common}");
        assert!(rare > common);
        // Surname "lee" is everyone's: its exact agreement is worth (almost) nothing.
        assert!(exact_weight(Field::LastName, recs[0].share[Field::LastName.index()]) < 0.1);
    }

    #[test]
    fn shared_contact_values_are_common() {
        // A family of four shares one e-mail; six others each have their own.
        let mut recs: Vec<Prepared> = (0..10)
            .map(|i| {
                let mut r = rec(&format!("p{i}"), "98101");
                if i < 4 {
                    r.email = "leefamily@example.org".into();
                }
                r.phone = format!("+1206555{i:04}");
                Prepared::new(&r, Region::default())
            })
            .collect();
        apply_frequencies(&mut recs);
        let email = Field::Email.index();
        // Σk²/Σk = (16 + 6) / 10 = 2.2: the family's value is 4 / 2.2 as common.
        assert!((recs[0].commonness[email] - 4.0 / 2.2).abs() < 1e-5);
        assert!((recs[9].commonness[email] - 1.0 / 2.2).abs() < 1e-5);
        // Every phone is its own: all equally common.
        assert!((recs[0].commonness[Field::Phone.index()] - 1.0).abs() < 1e-6);
    }
}
