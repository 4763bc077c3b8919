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
use rand::seq::IndexedRandom;
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
        }
    }
}

const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Christopher",
    "Nancy",
    "Daniel",
    "Margaret",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Dorothy",
    "Donald",
    "Sandra",
    "Steven",
    "Ashley",
    "Andrew",
    "Kimberly",
    "Joshua",
    "Emily",
    "Kenneth",
    "Donna",
    "Kevin",
    "Michelle",
    "Brian",
    "Carol",
    "George",
    "Amanda",
    "Timothy",
    "Melissa",
    "Ronald",
    "Deborah",
    "Edward",
    "Stephanie",
    "Jason",
    "Rebecca",
    "Jeffrey",
    "Sharon",
    "Ryan",
    "Laura",
    "Jacob",
    "Cynthia",
    "Gary",
    "Kathleen",
    "Nicholas",
    "Amy",
    "Eric",
    "Angela",
    "Jonathan",
    "Shirley",
    "Stephen",
    "Anna",
    "Larry",
    "Brenda",
    "Justin",
    "Pamela",
    "Scott",
    "Emma",
    "Brandon",
    "Nicole",
    "Benjamin",
    "Helen",
    "Samuel",
    "Samantha",
    "Gregory",
    "Katherine",
    "Alexander",
    "Christine",
    "Patrick",
    "Debra",
    "Frank",
    "Rachel",
    "Raymond",
    "Carolyn",
    "Jack",
    "Janet",
    "Dennis",
    "Catherine",
    "Jerry",
    "Maria",
    "Tyler",
    "Heather",
    "Aaron",
    "Diane",
    "José",
    "Zoë",
    "François",
    "Renée",
    "Björn",
    "Chloé",
    "Łukasz",
    "Søren",
    "Inés",
    "Jürgen",
    "Siobhán",
    "Mónica",
    "Håkon",
    "Noémie",
    "Ольга",
    "Hiroshi",
    "Mei",
    "Aisha",
    "Mohammed",
    "Priya",
    "Arjun",
    "Fatima",
    "Kwame",
    "Oluwaseun",
    "Nguyễn",
    "Thảo",
    "Sebastián",
    "Ximena",
    "Mateo",
    "Valentina",
    "Luca",
    "Giulia",
    "Dmitri",
    "Anaïs",
    "Élodie",
    "Gaëlle",
    "Zoltán",
    "Dóra",
];

const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Müller",
    "Schröder",
    "García",
    "Núñez",
    "O'Brien",
    "Kowalski",
    "Wiśniewski",
    "Søndergaard",
    "Åberg",
    "Dubois",
    "Lefèvre",
    "Rossi",
    "Bianchi",
    "Yamamoto",
    "Tanaka",
    "Kim",
    "Park",
    "Chen",
    "Wang",
    "Singh",
    "Patel",
    "Okafor",
    "Mensah",
    "Ivanova",
    "Popescu",
    "Horváth",
    "Novák",
    "Fernández",
    "Gómez",
    "Díaz",
    "Alonso Tellez",
    "Van der Berg",
    "De la Cruz",
    "MacLeod",
    "Fitzgerald",
];

/// Surname syllables combined for variety beyond the list above.
const SYLLABLES_A: &[&str] = &[
    "Ash", "Bel", "Cor", "Dal", "Ell", "Fair", "Gar", "Hal", "Ing", "Kel", "Lang", "Mar", "Nor",
    "Orm", "Pen", "Quin", "Rad", "Stan", "Thorn", "Ul", "Vance", "Wex", "Yar", "Zell", "Brock",
    "Crans", "Dun", "Elm", "Fen", "Gold", "Hart", "Kirk", "Lind", "Mor", "Oak", "Pres", "Red",
    "Sher", "Tal", "Whit",
];
const SYLLABLES_M: &[&str] = &[
    "", "", "", "a", "e", "i", "o", "an", "en", "er", "in", "ing", "ow", "el", "et", "is", "ley",
    "mer", "ter", "ver",
];
const SYLLABLES_B: &[&str] = &[
    "ford", "ton", "by", "wood", "ley", "well", "man", "son", "dale", "field", "more", "worth",
    "stead", "brook", "combe", "ham", "hurst", "land", "wick", "ridge", "bury", "croft", "den",
    "gate", "holm", "ings", "mere", "park", "ston", "thwaite",
];

const STREETS: &[&str] = &[
    "Main",
    "Oak",
    "Pine",
    "Maple",
    "Cedar",
    "Elm",
    "Washington",
    "Lake",
    "Hill",
    "Park",
    "Sunset",
    "Highland",
    "Forest",
    "River",
    "Spring",
    "Church",
    "Walnut",
    "Willow",
    "Meadow",
    "Lincoln",
    "Jackson",
    "Franklin",
    "Chestnut",
    "Cherry",
    "Ridge",
    "Valley",
    "Birch",
    "Mill",
    "Orchard",
    "Harbor",
    "Summit",
    "Prospect",
    "Magnolia",
    "Aspen",
    "Juniper",
    "Laurel",
    "Hawthorne",
    "Sycamore",
    "Poplar",
    "Dogwood",
];
const SUFFIXES: &[(&str, &str)] = &[
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Road", "Rd"),
    ("Drive", "Dr"),
    ("Lane", "Ln"),
    ("Court", "Ct"),
    ("Place", "Pl"),
    ("Boulevard", "Blvd"),
];

/// City, state, ZIP prefix (three digits), area code.
const CITIES: &[(&str, &str, &str, &str)] = &[
    ("Seattle", "WA", "981", "206"),
    ("Bellevue", "WA", "980", "425"),
    ("Portland", "OR", "972", "503"),
    ("San Francisco", "CA", "941", "415"),
    ("Los Angeles", "CA", "900", "213"),
    ("San Diego", "CA", "921", "619"),
    ("Denver", "CO", "802", "303"),
    ("Austin", "TX", "787", "512"),
    ("Dallas", "TX", "752", "214"),
    ("Houston", "TX", "770", "713"),
    ("Chicago", "IL", "606", "312"),
    ("Minneapolis", "MN", "554", "612"),
    ("Detroit", "MI", "482", "313"),
    ("Columbus", "OH", "432", "614"),
    ("Atlanta", "GA", "303", "404"),
    ("Miami", "FL", "331", "305"),
    ("Orlando", "FL", "328", "407"),
    ("Charlotte", "NC", "282", "704"),
    ("Nashville", "TN", "372", "615"),
    ("Boston", "MA", "021", "617"),
    ("New York", "NY", "100", "212"),
    ("Brooklyn", "NY", "112", "718"),
    ("Philadelphia", "PA", "191", "215"),
    ("Pittsburgh", "PA", "152", "412"),
    ("Baltimore", "MD", "212", "410"),
    ("Phoenix", "AZ", "850", "602"),
    ("Salt Lake City", "UT", "841", "801"),
    ("Las Vegas", "NV", "891", "702"),
    ("Kansas City", "MO", "641", "816"),
    ("St. Louis", "MO", "631", "314"),
    ("New Orleans", "LA", "701", "504"),
    ("Albuquerque", "NM", "871", "505"),
    ("Milwaukee", "WI", "532", "414"),
    ("Indianapolis", "IN", "462", "317"),
    ("Raleigh", "NC", "276", "919"),
    ("Richmond", "VA", "232", "804"),
    ("Honolulu", "HI", "968", "808"),
    ("Anchorage", "AK", "995", "907"),
    ("Boise", "ID", "837", "208"),
    ("Omaha", "NE", "681", "402"),
];

const DOMAINS: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "aol.com",
    "fastmail.com",
];

/// Nicknames the generator uses; every pair is in the matcher's shipped table.
const NICKNAMES: &[(&str, &str)] = &[
    ("Robert", "Bob"),
    ("William", "Bill"),
    ("Elizabeth", "Liz"),
    ("Margaret", "Peggy"),
    ("Richard", "Dick"),
    ("James", "Jim"),
    ("Michael", "Mike"),
    ("Jennifer", "Jenny"),
    ("Katherine", "Kate"),
    ("Christopher", "Chris"),
    ("Daniel", "Dan"),
    ("Matthew", "Matt"),
    ("Anthony", "Tony"),
    ("Joseph", "Joe"),
    ("Thomas", "Tom"),
    ("Patricia", "Pat"),
    ("Samuel", "Sam"),
    ("Rebecca", "Becky"),
    ("Benjamin", "Ben"),
    ("Alexander", "Alex"),
    ("Nicholas", "Nick"),
    ("Deborah", "Debbie"),
    ("Timothy", "Tim"),
    ("Edward", "Ed"),
    ("Steven", "Steve"),
];

/// A person before any record is written.
#[derive(Debug, Clone)]
struct Person {
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

struct Gen {
    rng: StdRng,
    next_entity: u64,
    next_record: u64,
    /// Personal e-mails handed out so far: a mailbox belongs to one person.
    used_emails: std::collections::HashSet<String>,
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

    fn household(&mut self, size: usize) -> Vec<Person> {
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
    fn record(&mut self, p: &Person) -> GeneratedProfile {
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
    fn duplicate(&mut self, p: &Person) -> GeneratedProfile {
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
fn format_phone(d: &str, style: u32) -> String {
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
fn email_variant(rng: &mut StdRng, email: &str) -> String {
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

/// Owners, companies and deals around a set of HubSpot contacts, for the sandbox's CRM
/// context (the Gorgias sidebar card). Pure given the seed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmSeed {
    /// (first name, last name, e-mail) of each owner; owner `i` gets id `100 + i`.
    pub owners: Vec<(String, String, String)>,
    /// (name, domain) of each company.
    pub companies: Vec<(String, String)>,
    /// Per contact (by index): owner index, primary company index, deals
    /// (name, stage, amount, close date `YYYY-MM-DD`).
    pub contacts: Vec<ContactContext>,
}

/// The CRM context of one generated contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactContext {
    pub owner: Option<usize>,
    pub company: Option<usize>,
    pub deals: Vec<(String, String, String, String)>,
}

/// Deal stages of HubSpot's default pipeline.
pub const DEAL_STAGES: &[&str] = &[
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
];

/// The CRM context of `contacts` contacts: three owners, a company per four contacts
/// (most contacts have one), up to three deals each, some closed.
pub fn crm_context(contacts: usize, seed: u64) -> CrmSeed {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_c0de);
    let owners = vec![
        (
            "Olivia".into(),
            "Owens".into(),
            "olivia.owens@sales.example".into(),
        ),
        (
            "Marcus".into(),
            "Reed".into(),
            "marcus.reed@sales.example".into(),
        ),
        (
            "Ines".into(),
            "Duarte".into(),
            "ines.duarte@sales.example".into(),
        ),
    ];
    const STEMS: &[&str] = &[
        "Acme",
        "Northwind",
        "Bluebird",
        "Larkspur",
        "Cobalt",
        "Juniper",
    ];
    const KINDS: &[&str] = &["Outfitters", "Goods", "Supply", "Studio"];
    let n_companies = contacts.div_ceil(4).max(1);
    let companies: Vec<(String, String)> = (0..n_companies)
        .map(|i| {
            let stem = STEMS[i % STEMS.len()];
            let kind = KINDS[(i / STEMS.len()) % KINDS.len()];
            let name = format!("{stem} {kind}");
            let domain = format!("{}{}.example", stem.to_lowercase(), i);
            (name, domain)
        })
        .collect();
    let contexts = (0..contacts)
        .map(|_| {
            let owner = rng
                .random_bool(0.85)
                .then(|| rng.random_range(0..owners.len()));
            let company = rng
                .random_bool(0.8)
                .then(|| rng.random_range(0..n_companies));
            let deals = (0..rng.random_range(0..=3))
                .map(|d| {
                    let stage = DEAL_STAGES[rng.random_range(0..DEAL_STAGES.len())];
                    let amount = format!("{}", rng.random_range(5..200) * 50);
                    let close = format!(
                        "2027-{:02}-{:02}",
                        rng.random_range(1..=12),
                        rng.random_range(1..=28)
                    );
                    (format!("Order {}", d + 1), stage.to_owned(), amount, close)
                })
                .collect();
            ContactContext {
                owner,
                company,
                deals,
            }
        })
        .collect();
    CrmSeed {
        owners,
        companies,
        contacts: contexts,
    }
}

#[cfg(test)]
mod crm_tests {
    use super::*;

    #[test]
    fn crm_context_is_deterministic_and_shaped() {
        let a = crm_context(20, 7);
        assert_eq!(a, crm_context(20, 7));
        assert_eq!(a.contacts.len(), 20);
        assert!(a.contacts.iter().all(|c| c.deals.len() <= 3));
        assert!(a.contacts.iter().any(|c| c.company.is_some()));
        assert!(a.contacts.iter().flat_map(|c| &c.deals).count() > 0);
    }
}
