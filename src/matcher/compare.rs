//! Per-field comparisons of two prepared records: each field gets an agreement [`Level`]
//! (exact, equivalent, close, similar, different, missing) from exact keys, nicknames and
//! strsim Jaro-Winkler / edit distances. Pure; must never weigh or score (see `weights`).

use super::nicknames;
use super::normalize::{email_local, tail};
use super::record::Prepared;
use super::{gendered, mailbox};
use serde::{Deserialize, Serialize};

/// The fields the matcher compares, in explanation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    FirstName,
    LastName,
    Email,
    Phone,
    Address1,
    Address2,
    City,
    Zip,
    State,
    /// A date-of-birth-like field, when the records carry one (`MatchRecord::date_of_birth`).
    DateOfBirth,
}

impl Field {
    /// Every field, in explanation order.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::FirstName,
        Field::LastName,
        Field::Email,
        Field::Phone,
        Field::Address1,
        Field::Address2,
        Field::City,
        Field::Zip,
        Field::State,
        Field::DateOfBirth,
    ];

    /// The field's position in [`Field::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// How well one field agrees between two records, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Identical after normalisation.
    Exact,
    /// Different spellings of one value: a nickname, a swapped first/last name, the same
    /// mailbox at another domain.
    Equivalent,
    /// A typo away (Jaro-Winkler ≥ 0.92 or one edit).
    Close,
    /// Somewhat alike (Jaro-Winkler ≥ 0.80, an initial, one name inside the other).
    Similar,
    /// Both present and unlike.
    Different,
    /// Missing on at least one side: no evidence either way.
    Missing,
}

/// The levels of every field of a pair, indexed by [`Field::index`].
pub type Levels = [Level; FIELD_COUNT];

/// How many fields the matcher compares.
pub const FIELD_COUNT: usize = 10;

/// Compares every field of `a` and `b`.
pub fn compare(a: &Prepared, b: &Prepared) -> Levels {
    let (first, last) = names(a, b);
    [
        first,
        last,
        email(&a.email, &b.email, &[&a.first, &a.last, &b.first, &b.last]),
        phone(&a.phone, &b.phone),
        address(&a.address1_compact, &b.address1_compact),
        text(&a.address2, &b.address2),
        text(&a.city, &b.city),
        code(&a.zip, &b.zip),
        exact_only(&a.state, &b.state),
        date_of_birth(&a.dob, &b.dob),
    ]
}

/// First and last names, allowing for the two being swapped.
fn names(a: &Prepared, b: &Prepared) -> (Level, Level) {
    let first = first_name(&a.first, &b.first);
    let last = last_name(&a.last, &b.last);
    let weak = |l: Level| matches!(l, Level::Similar | Level::Different);
    let initial = |s: &str| s.as_bytes().first().copied();
    if weak(first)
        && weak(last)
        && initial(&a.first) == initial(&b.last)
        && initial(&a.last) == initial(&b.first)
    {
        let f2 = first_name(&a.first, &b.last);
        let l2 = last_name(&a.last, &b.first);
        if f2 <= Level::Close && l2 <= Level::Close {
            return (f2.max(Level::Equivalent), l2.max(Level::Equivalent));
        }
    }
    (first, last)
}

/// A first name: nicknames count as equivalent, an initial as similar. Two names that look
/// alike but are other names are not typos: the gendered forms of one name
/// (`stephen`/`stephanie`, `daniel`/`danielle`) and names three or more edits apart
/// (`ronald`/`rhonda`) are `different` (relatives are named that way). One edit apart, a
/// gendered form is as likely a typo (`samuel`/`samule`, `amelia`/`amelis` look gendered
/// by their endings) and keeps its typo level; a name that extends another at either end
/// (`paul`/`paula`, `ryan`/`bryan`) is only `similar`.
pub fn first_name(a: &str, b: &str) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    if a == b {
        return Level::Exact;
    }
    if nicknames::related(a, b) {
        return Level::Equivalent;
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() == 1 {
        return if long.starts_with(short) {
            Level::Similar
        } else {
            Level::Different
        };
    }
    // A name that extends another (`paul`/`paula`, `heath`/`heather`) is usually another
    // person's name, not a typo; so are short names one letter apart (`erin`/`eric`).
    let level = fuzzy(a, b);
    if level == Level::Different {
        return level;
    }
    let one_edit = within_one_edit(a, b);
    let extends = long.starts_with(short) || long.ends_with(short);
    if !one_edit && gendered::forms_of_one_name(a, b) {
        return Level::Different;
    }
    if !extends && !within_two_edits(a, b) {
        return Level::Different;
    }
    if level == Level::Close && (extends || !one_edit) {
        return Level::Similar;
    }
    level
}

/// True when the optimal-string-alignment distance of `a` and `b` is at most two (only
/// called for look-alike names, so the allocation does not matter).
fn within_two_edits(a: &str, b: &str) -> bool {
    strsim::osa_distance(a, b) <= 2
}

/// A last name: one inside the other (a double-barrelled name) counts as similar.
pub fn last_name(a: &str, b: &str) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    if a == b {
        return Level::Exact;
    }
    let level = fuzzy(a, b);
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if level > Level::Similar && short.len() >= 4 && long.contains(short) {
        return Level::Similar;
    }
    level
}

/// Jaro-Winkler similarity (prefix scale 0.1, up to four characters), as strsim computes
/// it; ASCII strings up to 64 bytes take an allocation-free path, others go to strsim.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    if !a.is_ascii() || !b.is_ascii() || x.len() > 64 || y.len() > 64 {
        return strsim::jaro_winkler(a, b);
    }
    if x.is_empty() && y.is_empty() {
        return 1.0;
    }
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    let window = (x.len().max(y.len()) / 2).saturating_sub(1);
    let mut x_flags = [false; 64];
    let mut y_flags = [false; 64];
    let mut matches = 0usize;
    for (i, &cx) in x.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(y.len());
        for j in lo..hi {
            if !y_flags[j] && y[j] == cx {
                x_flags[i] = true;
                y_flags[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut k = 0usize;
    for (i, &cx) in x.iter().enumerate() {
        if x_flags[i] {
            while !y_flags[k] {
                k += 1;
            }
            if cx != y[k] {
                transpositions += 1;
            }
            k += 1;
        }
    }
    let m = matches as f64;
    let jaro =
        (m / x.len() as f64 + m / y.len() as f64 + (m - (transpositions / 2) as f64) / m) / 3.0;
    if jaro <= 0.7 {
        return jaro;
    }
    let prefix = x.iter().zip(y).take(4).take_while(|(p, q)| p == q).count();
    jaro + 0.1 * prefix as f64 * (1.0 - jaro)
}

/// True when `a` and `b` are at most one edit apart (a substituted, inserted, deleted or
/// two swapped adjacent bytes): the optimal-string-alignment distance ≤ 1, in linear time
/// and without allocating.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (la, lb) = (a.len(), b.len());
    if la.abs_diff(lb) > 1 {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    if prefix == la && prefix == lb {
        return true;
    }
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    if la == lb {
        // One substitution, or one adjacent transposition.
        if ra.get(1..) == rb.get(1..) {
            return true;
        }
        return ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra.get(2..) == rb.get(2..);
    }
    // One insertion or deletion.
    if la > lb {
        ra.get(1..) == Some(rb)
    } else {
        rb.get(1..) == Some(ra)
    }
}

/// Typo-level closeness of two non-empty, unequal strings.
fn fuzzy(a: &str, b: &str) -> Level {
    let jw = jaro_winkler(a, b);
    let min_len = a.len().min(b.len());
    if jw >= 0.92 || (min_len >= 5 && within_one_edit(a, b)) {
        Level::Close
    } else if jw >= 0.80 {
        Level::Similar
    } else {
        Level::Different
    }
}

/// Normalised e-mails: a one-edit typo is close; the same mailbox name at another domain is
/// `equivalent` when the mailbox name is distinctive (`donohue91@`), but only `similar` when
/// it is spelt from the pair's `names` (`cmiller@`, `jonesfamily@`: namesakes and relatives
/// get those too, see `mailbox`).
pub fn email(a: &str, b: &str, names: &[&str]) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    if a == b {
        return Level::Exact;
    }
    // A typo, unless the edit is in a number: `jsmith2@` and `jsmith@` are two people.
    let digits = |s: &str| s.bytes().filter(u8::is_ascii_digit).collect::<Vec<u8>>();
    if within_one_edit(a, b) && digits(a) == digits(b) {
        return Level::Close;
    }
    let (la, lb) = (email_local(a), email_local(b));
    // The mailbox name without its separators: `dennis.roberts` and `dennis_roberts` (or
    // gmail's dot-free spelling) are one name.
    let key = |s: &str| {
        s.bytes()
            .filter(|b| !matches!(b, b'.' | b'_' | b'-'))
            .collect::<Vec<u8>>()
    };
    if la.len() >= 4 && key(la) == key(lb) {
        return if mailbox::built_from_names(la, names) {
            Level::Similar
        } else {
            Level::Equivalent
        };
    }
    // `smith@` and `john.smith@`: one name-built mailbox is the other without the given
    // name, at any domain: as close as `smith@`/`jsmith@` at one domain (one edit). Only
    // when both records carry a given name: without one, `smith@` may as well be the
    // household's mailbox.
    let letters = |s: &str| {
        s.bytes()
            .filter(u8::is_ascii_lowercase)
            .collect::<Vec<u8>>()
    };
    let (xa, xb) = (letters(la), letters(lb));
    let (short, long) = if xa.len() <= xb.len() {
        (&xa, &xb)
    } else {
        (&xb, &xa)
    };
    if names.len() == 4
        && !names[0].is_empty()
        && !names[2].is_empty()
        && short.len() >= 4
        && short.len() < long.len()
        && long.ends_with(short)
        && given_name_or_initial(&long[..long.len() - short.len()], [names[0], names[2]])
        && digits(la) == digits(lb)
        && mailbox::built_from_names(la, names)
        && mailbox::built_from_names(lb, names)
    {
        return Level::Close;
    }
    Level::Different
}

/// True when `prefix` (letters) is one of the `given` names or its initial.
fn given_name_or_initial(prefix: &[u8], given: [&str; 2]) -> bool {
    given.iter().any(|g| {
        prefix == g.as_bytes() || (prefix.len() == 1 && g.as_bytes().first() == prefix.first())
    })
}

/// Phone digits: equal last nine digits is exact (national and international spellings),
/// one edit in them close.
pub fn phone(a: &str, b: &str) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    let (ta, tb) = (tail(a, 9), tail(b, 9));
    if ta == tb {
        return Level::Exact;
    }
    if ta.len() == tb.len() && within_one_edit(ta, tb) {
        return Level::Close;
    }
    Level::Different
}

/// Street address, compared without spaces (`pridhamstreet` and `pridham street`), aware of
/// the house number: two different numbers on one street are two houses (a neighbour, not
/// a typo), so they are `different` however alike the rest is; a number one keystroke
/// away (`177`/`171`) is at best `similar`.
pub fn address(a: &str, b: &str) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    if a == b {
        return Level::Exact;
    }
    let level = fuzzy(a, b);
    match (house_number(a), house_number(b)) {
        (Some(x), Some(y)) if x != y => {
            if within_one_edit(x, y) {
                level.max(Level::Similar)
            } else {
                Level::Different
            }
        }
        _ => level,
    }
}

/// The leading house number of a normalised street address (`12a` of `12a oak st`), if any.
pub fn house_number(address: &str) -> Option<&str> {
    let end = address
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(address.len());
    (end > 0).then(|| &address[..end])
}

/// Free text such as a city: exact, or fuzzy.
pub fn text(a: &str, b: &str) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    if a == b {
        return Level::Exact;
    }
    match fuzzy(a, b) {
        Level::Close => Level::Close,
        _ => Level::Different,
    }
}

/// A code such as a postcode: exact, or one edit away (close).
pub fn code(a: &str, b: &str) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    if a == b {
        return Level::Exact;
    }
    if a.len() == b.len() && within_one_edit(a, b) {
        return Level::Close;
    }
    Level::Different
}

/// Two dates of birth as normalised `YYYYMMDD` digits (`normalize::date_of_birth`):
/// `exact`; `equivalent` when day and month are transposed (`1970-03-04` / `1970-04-03`, a
/// US/European spelling mix-up); `close` when one digit is off or two neighbouring digits
/// are swapped (`1965`/`1956`); `similar` when only the year agrees; else `different`.
pub fn date_of_birth(a: &str, b: &str) -> Level {
    if a.len() != 8 || b.len() != 8 {
        return Level::Missing;
    }
    if a == b {
        return Level::Exact;
    }
    let (ya, ma, da) = (&a[..4], &a[4..6], &a[6..]);
    let (yb, mb, db) = (&b[..4], &b[4..6], &b[6..]);
    if ya == yb && ma == db && da == mb {
        return Level::Equivalent;
    }
    if within_one_edit(a, b) {
        return Level::Close;
    }
    if ya == yb {
        return Level::Similar;
    }
    Level::Different
}

/// Exact or different.
pub fn exact_only(a: &str, b: &str) -> Level {
    if a.is_empty() || b.is_empty() {
        Level::Missing
    } else if a == b {
        Level::Exact
    } else {
        Level::Different
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_names_use_nicknames_and_typos() {
        assert_eq!(first_name("robert", "robert"), Level::Exact);
        assert_eq!(first_name("robert", "bob"), Level::Equivalent);
        assert_eq!(first_name("michelle", "michele"), Level::Close);
        assert_eq!(first_name("j", "john"), Level::Similar);
        assert_eq!(first_name("erin", "eric"), Level::Similar);
        assert_eq!(first_name("michelle", "michael"), Level::Different);
        assert_eq!(first_name("paul", "paula"), Level::Similar);
        assert_eq!(first_name("erin", "david"), Level::Different);
        assert_eq!(first_name("", "david"), Level::Missing);
    }

    #[test]
    fn look_alike_first_names_of_other_people_are_not_typos() {
        // Gendered forms of one name: relatives, not typos.
        assert_eq!(first_name("stephen", "stephanie"), Level::Different);
        assert_eq!(first_name("daniel", "danielle"), Level::Different);
        assert_eq!(first_name("christian", "christine"), Level::Different);
        // One edit apart it may be a typo: the ending alone does not decide.
        assert_eq!(first_name("samuel", "samule"), Level::Close);
        assert_eq!(first_name("amelia", "amelis"), Level::Close);
        // Three or more edits apart: another name.
        assert_eq!(first_name("ronald", "rhonda"), Level::Different);
        assert_eq!(first_name("darnell", "daniela"), Level::Different);
        // A name extending another at either end is only similar.
        assert_eq!(first_name("ryan", "bryan"), Level::Similar);
        // Typos stay typos: one or two substitutions, a dropped letter.
        assert_eq!(first_name("stephanie", "stephagir"), Level::Similar);
        assert_eq!(first_name("brandon", "btandpn"), Level::Similar);
        assert_eq!(first_name("mike", "myke"), Level::Similar);
        assert_eq!(first_name("michelle", "michele"), Level::Close);
        assert_eq!(first_name("katherine", "katherien"), Level::Close);
    }

    #[test]
    fn emails_phones_and_codes() {
        let email_fn = email;
        let email = |a: &str, b: &str| email_fn(a, b, &["john", "smith", "erin", "chau"]);
        assert_eq!(email("a.b@x.com", "a.b@x.com"), Level::Exact);
        assert_eq!(email("jsmith@x.com", "jsmiht@x.com"), Level::Close);
        assert_eq!(email("jsmith@x.com", "jsmith2@x.com"), Level::Different);
        assert_eq!(email("jsmith1@x.com", "jsmith2@x.com"), Level::Different);
        // The same mailbox at another domain: distinctive, or spelt from the names.
        assert_eq!(
            email("chau13@outlook.com", "chau13@uni.edu"),
            Level::Equivalent
        );
        assert_eq!(
            email("jsmith@outlook.com", "jsmith@uni.edu"),
            Level::Similar
        );
        assert_eq!(
            email("smithfamily@yahoo.com", "smithfamily@gmail.com"),
            Level::Similar
        );
        assert_eq!(
            email("chau13@outlook.com", "erin@outlook.com"),
            Level::Different
        );
        // One name-built mailbox is the other without the given name: close.
        assert_eq!(email("smith@work.com", "john.smith@x.org"), Level::Close);
        // One name spelt with other separators is the same mailbox name, not a dropped name.
        assert_eq!(
            email("john.smith@x.org", "john_smith@y.com"),
            Level::Similar
        );
        // What is dropped must be a given name or its initial (`aisha.rossi@`/`arossi@`).
        let rossi = email_fn(
            "arossi@x.org",
            "aisha.rossi@y.com",
            &["aisha", "rossi", "aisha", "rossi"],
        );
        assert_eq!(rossi, Level::Different);
        // Not when a given name is missing (`smith@` may be the household's mailbox).
        let no_first = email_fn(
            "smith@work.com",
            "john.smith@x.org",
            &["", "smith", "john", "smith"],
        );
        assert_eq!(no_first, Level::Different);
        assert_eq!(phone("61419004242", "419004242"), Level::Exact);
        assert_eq!(phone("61419004242", "61419004243"), Level::Close);
        assert_eq!(phone("61419004242", "61455555555"), Level::Different);
        assert_eq!(code("4011", "4012"), Level::Close);
        assert_eq!(address("177pridhamst", "177pridhamst"), Level::Exact);
        assert_eq!(address("177pridhamst", "177pridhamsr"), Level::Close);
        // Another house on the same street is a neighbour; a number typo at best similar.
        assert_eq!(address("12oakst", "14oakst"), Level::Similar);
        assert_eq!(address("12oakst", "212oakst"), Level::Similar);
        assert_eq!(address("12oakst", "48oakst"), Level::Different);
        assert_eq!(address("oakst", "oaks"), Level::Close);
        assert_eq!(house_number("12a oak st"), Some("12"));
        assert_eq!(house_number("oak st"), None);
    }

    #[test]
    fn dates_of_birth_by_level() {
        let d = |s: &str| crate::matcher::normalize::date_of_birth(s).unwrap_or_default();
        let l = |x: &str, y: &str| date_of_birth(&d(x), &d(y));
        assert_eq!(l("1970-03-04", "19700304"), Level::Exact);
        assert_eq!(l("1970-03-04", "1970-04-03"), Level::Equivalent);
        assert_eq!(l("1970-03-04", "1970-03-05"), Level::Close);
        assert_eq!(l("1965-03-04", "1956-03-04"), Level::Close);
        assert_eq!(l("1970-03-04", "1970-11-21"), Level::Similar);
        assert_eq!(l("1970-03-04", "1982-11-21"), Level::Different);
        assert_eq!(l("1970-03-04", ""), Level::Missing);
        assert_eq!(l("not a date", "1970-03-04"), Level::Missing);
    }

    #[test]
    fn fast_jaro_winkler_agrees_with_strsim() {
        let words = [
            "martha",
            "marhta",
            "dwayne",
            "duane",
            "dixon",
            "dicksonx",
            "a",
            "ab",
            "",
            "jones",
            "johnson",
            "crate",
            "trace",
            "müller",
            "mueller",
            "abcdefghij",
            "jihgfedcba",
        ];
        for x in words {
            for y in words {
                let (fast, slow) = (jaro_winkler(x, y), strsim::jaro_winkler(x, y));
                assert!((fast - slow).abs() < 1e-12, "{x:?} {y:?} {fast} {slow}");
            }
        }
    }

    #[test]
    fn one_edit_matches_osa_distance() {
        let words = [
            "", "a", "ab", "ba", "abc", "acb", "abd", "abcd", "xbcd", "abdc", "bacd",
        ];
        for x in words {
            for y in words {
                assert_eq!(
                    within_one_edit(x, y),
                    strsim::osa_distance(x, y) <= 1,
                    "{x:?} {y:?}"
                );
            }
        }
    }

    #[test]
    fn swapped_names_are_equivalent() {
        let a = Prepared {
            first: "smith".into(),
            last: "john".into(),
            ..Prepared::default()
        };
        let b = Prepared {
            first: "john".into(),
            last: "smith".into(),
            ..Prepared::default()
        };
        let l = compare(&a, &b);
        assert_eq!(l[Field::FirstName.index()], Level::Equivalent);
        assert_eq!(l[Field::LastName.index()], Level::Equivalent);
    }
}
