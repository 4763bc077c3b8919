//! The synthetic people generator: realistic customer profiles (names from built-in lists,
//! non-ASCII included; e-mails, phones, addresses), with duplicates (typos, nicknames, gmail
//! variants, reformatted phones, dropped accents, missing fields) and households (relatives
//! sharing an address, a surname, often a phone or a family e-mail, with different first
//! names), each labelled with its entity id. It writes `tether sandbox generate` files, feeds
//! the matcher benchmark and seeds the `tether demo` sandboxes ([`demo_people`]).
//!
//! Pure given the seed: the same options give the same people. Must never do I/O, read the
//! clock or use an unseeded random source.

use crate::domain::System;
use crate::matcher::MatchRecord;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenOptions {
    /// Number of profiles (rows) to produce.
    pub records: usize,
    pub seed: u64,
    /// Probability that a person gets duplicate records.
    pub duplicate_rate: f64,
    /// Probability that a new address holds a household of two to four relatives.
    pub household_rate: f64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            records: 1000,
            seed: 1,
            duplicate_rate: 0.25,
            household_rate: 0.15,
        }
    }
}

/// One generated profile, in the labelled CSV's shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GeneratedProfile {
    pub record_id: String,
    /// The ground truth: equal for records of one person.
    pub entity_id: String,
    /// The system the record lives in (set by [`demo_people`], empty otherwise).
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
    pub country: String,
}

impl GeneratedProfile {
    /// The record as the matcher reads it.
    pub fn to_match_record(&self) -> MatchRecord {
        MatchRecord {
            id: self.record_id.clone(),
            source: self.source,
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            phone: self.phone.clone(),
            address1: self.address1.clone(),
            address2: self.address2.clone(),
            city: self.city.clone(),
            zip: self.zip.clone(),
            state: self.state.clone(),
            country: self.country.clone(),
            date_of_birth: String::new(),
        }
    }
}

mod crm;
mod names;
mod people;
pub mod xorshift;

pub use crm::{ContactContext, CrmSeed, DEAL_STAGES, crm_context};
use people::Gen;
#[cfg(test)]
use people::{email_variant, format_phone};

/// Generates `opts.records` labelled profiles (no `source`): people, their duplicates and
/// households, in a deterministic order.
pub fn generate(opts: &GenOptions) -> Vec<GeneratedProfile> {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(opts.seed),
        next_entity: 0,
        next_record: 0,
        used_emails: Default::default(),
    };
    let mut out = Vec::with_capacity(opts.records);
    while out.len() < opts.records {
        let size = if g.rng.random_bool(opts.household_rate.clamp(0.0, 1.0)) {
            g.rng.random_range(2..=4)
        } else {
            1
        };
        for person in g.household(size) {
            out.push(g.record(&person));
            if g.rng.random_bool(opts.duplicate_rate.clamp(0.0, 1.0)) {
                let dups = if g.rng.random_bool(0.2) { 2 } else { 1 };
                for _ in 0..dups {
                    out.push(g.duplicate(&person));
                }
            }
        }
    }
    out.truncate(opts.records);
    out
}

/// People for the `tether demo` sandboxes: about `people` persons split across HubSpot and
/// Gorgias. About a third appear on both sides (the same person, sometimes with conflicting
/// values: another phone spelling, a typo, a nickname, a changed e-mail), a few are
/// duplicated inside one system, and households put relatives side by side. Each profile
/// carries its `source` and `entity_id`.
pub fn demo_people(people: usize, seed: u64) -> Vec<GeneratedProfile> {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(seed),
        next_entity: 0,
        next_record: 0,
        used_emails: Default::default(),
    };
    let mut out = Vec::new();
    let mut persons = 0;
    while persons < people {
        let size = if g.rng.random_bool(0.15) {
            g.rng.random_range(2..=3)
        } else {
            1
        };
        for person in g.household(size) {
            persons += 1;
            let home = if g.rng.random_bool(0.5) {
                System::Hubspot
            } else {
                System::Gorgias
            };
            let mut first = g.record(&person);
            first.source = Some(home);
            out.push(first);
            if g.rng.random_bool(0.35) {
                let mut other = if g.rng.random_bool(0.5) {
                    g.record(&person)
                } else {
                    g.duplicate(&person)
                };
                other.source = Some(home.other());
                out.push(other);
            }
            if g.rng.random_bool(0.05) {
                let mut dup = g.duplicate(&person);
                dup.source = Some(home);
                out.push(dup);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn same_seed_same_people_other_seed_others() {
        let opts = GenOptions {
            records: 300,
            seed: 7,
            ..GenOptions::default()
        };
        let a = generate(&opts);
        assert_eq!(a.len(), 300);
        assert_eq!(a, generate(&opts));
        let b = generate(&GenOptions { seed: 8, ..opts });
        assert_ne!(a, b);
    }

    #[test]
    fn has_duplicates_households_and_non_ascii() {
        let people = generate(&GenOptions {
            records: 2000,
            seed: 3,
            ..GenOptions::default()
        });
        let mut per_entity: HashMap<&str, usize> = HashMap::new();
        for p in &people {
            *per_entity.entry(&p.entity_id).or_default() += 1;
        }
        let dup_entities = per_entity.values().filter(|&&n| n > 1).count();
        assert!(dup_entities > 100, "{dup_entities}");
        assert!(people.iter().any(|p| !p.first_name.is_ascii()));
        // Households: same address and surname, different entities and first names.
        let mut by_address: HashMap<(&str, &str), Vec<&GeneratedProfile>> = HashMap::new();
        for p in &people {
            by_address.entry((&p.address1, &p.zip)).or_default().push(p);
        }
        let households = by_address
            .values()
            .filter(|v| {
                v.iter().any(|p| {
                    v.iter().any(|q| {
                        q.entity_id != p.entity_id
                            && q.last_name == p.last_name
                            && q.first_name != p.first_name
                    })
                })
            })
            .count();
        assert!(households > 20, "{households}");
        let ids: std::collections::HashSet<&str> =
            people.iter().map(|p| p.record_id.as_str()).collect();
        assert_eq!(ids.len(), people.len());
    }

    #[test]
    fn demo_people_overlap_across_systems() {
        let people = demo_people(200, 11);
        assert!(people.iter().all(|p| p.source.is_some()));
        let mut sides: HashMap<&str, (bool, bool)> = HashMap::new();
        for p in &people {
            let e = sides.entry(&p.entity_id).or_default();
            match p.source {
                Some(System::Hubspot) => e.0 = true,
                Some(System::Gorgias) => e.1 = true,
                None => {}
            }
        }
        let both = sides.values().filter(|(h, g)| *h && *g).count();
        assert!(both > 30, "{both}");
        assert!(sides.values().any(|(h, g)| *h && !*g));
        assert!(sides.values().any(|(h, g)| !*h && *g));
        assert_eq!(people, demo_people(200, 11));
    }

    #[test]
    fn variants_keep_the_mailbox() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..20 {
            let v = email_variant(&mut rng, "jane.doe@gmail.com");
            assert_eq!(
                crate::matcher::normalize::email(&v).unwrap(),
                "janedoe@gmail.com",
                "{v}"
            );
        }
        assert_eq!(format_phone("2065550134", 1), "(206) 555-0134");
        assert_eq!(format_phone("2065550134", 0), "+12065550134");
    }
}
