//! People and their records: a household of relatives at one address, the record of a
//! person, and its duplicates (typos, nicknames, e-mail variants, reformatted phones).
//!
//! Pure given the seeded random source it is handed; must never do I/O or read the clock.

use super::GeneratedProfile;
use super::names::*;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// A person before any record is written.
#[derive(Debug, Clone)]
pub(super) struct Person {
    entity: u64,
    first: String,
    last: String,
    email: String,
    phone_digits: String, // ten NANP digits
    street_no: u32,
    street: &'static str,
    suffix: (&'static str, &'static str),
    unit: Option<u32>,
    city: usize,
    zip: String,
}

/// ASCII e-mail form of a name part: accents dropped, letters only.
fn email_part(s: &str) -> String {
    let folded = crate::matcher::normalize::fold(s);
    let ascii: String = folded
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    if ascii.is_empty() {
        "user".into()
    } else {
        ascii
    }
}

pub(super) struct Gen {
    pub(super) rng: StdRng,
    pub(super) next_entity: u64,
    pub(super) next_record: u64,
    /// Personal e-mails handed out so far: a mailbox belongs to one person.
    pub(super) used_emails: std::collections::HashSet<String>,
}

impl Gen {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        // Every list above is non-empty; fall back to the first element defensively.
        *items.choose(&mut self.rng).unwrap_or(&items[0])
    }

    fn last_name(&mut self) -> String {
        if self.rng.random_bool(0.3) {
            self.pick(LAST_NAMES).to_owned()
        } else {
            format!(
                "{}{}{}",
                self.pick(SYLLABLES_A),
                self.pick(SYLLABLES_M),
                self.pick(SYLLABLES_B)
            )
        }
    }

    fn phone(&mut self, city: usize) -> String {
        let area = CITIES.get(city).map_or("206", |c| c.3);
        let exchange = self.rng.random_range(201..=989);
        let line = self.rng.random_range(0..10_000);
        format!("{area}{exchange:03}{line:04}")
    }

    fn email(&mut self, first: &str, last: &str) -> String {
        let (f, l) = (
            email_part(first).to_lowercase(),
            email_part(last).to_lowercase(),
        );
        let domain = self.pick(DOMAINS);
        let n = self.rng.random_range(1..100);
        let local = match self.rng.random_range(0..5) {
            0 => format!("{f}.{l}"),
            1 => format!("{}{l}", f.chars().next().unwrap_or('x')),
            2 => format!("{f}{l}{n}"),
            3 => format!("{l}{n}"),
            _ => format!("{f}_{l}"),
        };
        self.unique_email(&local, domain)
    }

    /// `local@domain`, or with a number after the local part when another person has it.
    fn unique_email(&mut self, local: &str, domain: &str) -> String {
        let mut email = format!("{local}@{domain}");
        let mut k = 1;
        while !self.used_emails.insert(email.clone()) {
            k += 1;
            email = format!("{local}{k}@{domain}");
        }
        email
    }

    pub(super) fn household(&mut self, size: usize) -> Vec<Person> {
        let city = self.rng.random_range(0..CITIES.len());
        let zip = format!(
            "{}{:02}",
            CITIES.get(city).map_or("000", |c| c.2),
            self.rng.random_range(0..100)
        );
        let last = self.last_name();
        let street_no = self.rng.random_range(1..9999);
        let street = self.pick(STREETS);
        let suffix = self.pick(SUFFIXES);
        let unit = self
            .rng
            .random_bool(0.2)
            .then(|| self.rng.random_range(1..400));
        let shared_phone = self.phone(city);
        let share_phone = size > 1 && self.rng.random_bool(0.6);
        let family_email = (size > 1 && self.rng.random_bool(0.4)).then(|| {
            let domain = self.pick(DOMAINS);
            let local = format!("{}family", email_part(&last).to_lowercase());
            self.unique_email(&local, domain)
        });
        let mut firsts: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for _ in 0..size {
            let mut first = self.pick(FIRST_NAMES);
            let mut tries = 0;
            // Relatives have different first names (nor a nickname of one another).
            // (`Katherine`/`Catherine` is one name spelt two ways, not two relatives).
            while firsts.iter().any(|f| {
                let (x, y) = (
                    crate::matcher::normalize::name(f),
                    crate::matcher::normalize::name(first),
                );
                crate::matcher::nicknames::related(&x, &y)
                    || crate::matcher::compare::within_one_edit(&x, &y)
            }) && tries < 20
            {
                first = self.pick(FIRST_NAMES);
                tries += 1;
            }
            firsts.push(first);
            let entity = self.next_entity;
            self.next_entity += 1;
            let email = match &family_email {
                Some(e) if self.rng.random_bool(0.7) => e.clone(),
                _ => self.email(first, &last),
            };
            let phone_digits = if share_phone {
                shared_phone.clone()
            } else {
                self.phone(city)
            };
            out.push(Person {
                entity,
                first: first.to_owned(),
                last: last.clone(),
                email,
                phone_digits,
                street_no,
                street,
                suffix,
                unit,
                city,
                zip: zip.clone(),
            });
        }
        out
    }

    /// The clean record of a person.
    pub(super) fn record(&mut self, p: &Person) -> GeneratedProfile {
        let (city, state) = CITIES.get(p.city).map_or(("", ""), |c| (c.0, c.1));
        self.next_record += 1;
        GeneratedProfile {
            record_id: format!("r{}", self.next_record),
            entity_id: format!("e{}", p.entity),
            source: None,
            first_name: p.first.clone(),
            last_name: p.last.clone(),
            email: p.email.clone(),
            phone: format_phone(&p.phone_digits, 0),
            address1: format!("{} {} {}", p.street_no, p.street, p.suffix.0),
            address2: p.unit.map(|u| format!("Apt {u}")).unwrap_or_default(),
            city: city.to_owned(),
            zip: p.zip.clone(),
            state: state.to_owned(),
            country: "US".to_owned(),
        }
    }

    /// A duplicate of a person's record with one to three realistic changes.
    pub(super) fn duplicate(&mut self, p: &Person) -> GeneratedProfile {
        let mut r = self.record(p);
        let changes = self.rng.random_range(1..=3);
        for _ in 0..changes {
            match self.rng.random_range(0..12) {
                0 => r.first_name = typo(&mut self.rng, &r.first_name),
                1 => r.last_name = typo(&mut self.rng, &r.last_name),
                2 => {
                    if let Some((_, nick)) = NICKNAMES.iter().find(|(f, _)| *f == r.first_name) {
                        r.first_name = (*nick).to_owned();
                    } else {
                        r.first_name = r.first_name.to_uppercase();
                    }
                }
                3 => r.email = email_variant(&mut self.rng, &r.email),
                4 => r.email = String::new(),
                5 => {
                    let style = self.rng.random_range(1..5);
                    r.phone = format_phone(&p.phone_digits, style);
                }
                6 => r.phone = String::new(),
                7 => {
                    r.address1 = format!("{} {} {}", p.street_no, p.street, p.suffix.1);
                    r.address2 = String::new();
                }
                8 => {
                    r.first_name = crate::matcher::normalize::fold(&r.first_name);
                    r.last_name = crate::matcher::normalize::fold(&r.last_name);
                }
                9 => r.address1 = typo(&mut self.rng, &r.address1),
                10 => r.city = r.city.to_lowercase(),
                _ => {
                    let style = self.rng.random_range(1..5);
                    r.phone = format_phone(&p.phone_digits, style);
                    r.email = r.email.to_uppercase();
                }
            }
        }
        r
    }
}

/// A NANP number in one of several spellings: 0 E.164, 1 `(206) 555-0134`, 2 `206-555-0134`,
/// 3 `+1 206 555 0134`, 4 `206.555.0134`.
pub(super) fn format_phone(d: &str, style: u32) -> String {
    let (a, b, c) = (
        d.get(..3).unwrap_or(""),
        d.get(3..6).unwrap_or(""),
        d.get(6..).unwrap_or(""),
    );
    match style {
        1 => format!("({a}) {b}-{c}"),
        2 => format!("{a}-{b}-{c}"),
        3 => format!("+1 {a} {b} {c}"),
        4 => format!("{a}.{b}.{c}"),
        _ => format!("+1{d}"),
    }
}

/// One keyboard slip: a substituted, dropped, doubled or swapped letter.
fn typo(rng: &mut StdRng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    if chars.len() < 3 {
        return s.to_owned();
    }
    let i = rng.random_range(1..chars.len() - 1);
    match rng.random_range(0..4) {
        0 => {
            let c = (b'a' + rng.random_range(0..26u8)) as char;
            chars[i] = c;
        }
        1 => {
            chars.remove(i);
        }
        2 => {
            let c = chars[i];
            chars.insert(i, c);
        }
        _ => chars.swap(i, i + 1),
    }
    chars.into_iter().collect()
}

/// The same mailbox spelt differently: gmail dots, a `+tag`, or upper case.
pub(super) fn email_variant(rng: &mut StdRng, email: &str) -> String {
    let Some((local, domain)) = email.split_once('@') else {
        return email.to_owned();
    };
    match rng.random_range(0..3) {
        0 if domain == "gmail.com" => {
            let plain: String = local.chars().filter(|&c| c != '.').collect();
            let mid = plain.len() / 2;
            let (x, y) = plain.split_at(plain.char_indices().nth(mid).map_or(0, |(i, _)| i));
            let dom = if rng.random_bool(0.3) {
                "googlemail.com"
            } else {
                "gmail.com"
            };
            format!("{x}.{y}@{dom}")
        }
        1 => format!("{local}+shop@{domain}"),
        _ => email.to_uppercase(),
    }
}
