//! Field normalisation for matching: Unicode folding to ASCII, e-mail canonical forms (case,
//! gmail dots, `+tags`), phones to E.164 digits with a default region, names and addresses
//! lowercased and folded. Pure functions of their input; must never do I/O or log values.

use crate::domain::{Phone, Region};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds `s` to lowercase ASCII where sensible: decomposes (NFKD), drops combining marks,
/// maps a few letters that do not decompose (ß, æ, ø, ł…) and lowercases. Characters with no
/// ASCII form (CJK, Cyrillic…) are kept, lowercased.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'ß' => out.push_str("ss"),
            'æ' | 'Æ' => out.push_str("ae"),
            'œ' | 'Œ' => out.push_str("oe"),
            'ø' | 'Ø' => out.push('o'),
            'ł' | 'Ł' => out.push('l'),
            'đ' | 'Đ' | 'ð' | 'Ð' => out.push('d'),
            'þ' | 'Þ' => out.push_str("th"),
            'ı' => out.push('i'),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// A name as a matching key: folded, letters and digits only (spaces, hyphens and
/// apostrophes removed, so `O'Brien-Smith` and `obrien smith` agree). Empty when missing.
pub fn name(s: &str) -> String {
    fold(s).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Free text (addresses, cities) as a matching key: folded, punctuation turned into spaces,
/// common street words abbreviated (`street`→`st`, `avenue`→`ave`…), spaces collapsed.
pub fn text(s: &str) -> String {
    let folded: String = fold(s)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut out = String::with_capacity(folded.len());
    for word in folded.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(abbreviate(word));
    }
    out
}

fn abbreviate(word: &str) -> &str {
    match word {
        "street" => "st",
        "avenue" => "ave",
        "road" => "rd",
        "drive" => "dr",
        "place" => "pl",
        "court" => "ct",
        "crescent" => "cres",
        "circuit" => "cct",
        "close" => "cl",
        "lane" => "ln",
        "boulevard" => "blvd",
        "highway" => "hwy",
        "parade" => "pde",
        "terrace" => "tce",
        "square" => "sq",
        "apartment" => "apt",
        "suite" => "ste",
        "north" => "n",
        "south" => "s",
        "east" => "e",
        "west" => "w",
        other => other,
    }
}

/// An e-mail address in the form two spellings of one mailbox share: trimmed, folded,
/// lowercased, `+tag` removed, and for gmail.com/googlemail.com the dots of the local part
/// removed and the domain unified to gmail.com. `None` when there is no `local@domain`.
pub fn email(s: &str) -> Option<String> {
    let folded = fold(s.trim());
    let (local, domain) = folded.rsplit_once('@')?;
    let local = local.trim();
    let domain = domain.trim().trim_end_matches('.');
    if local.is_empty() || domain.is_empty() || !domain.contains('.') {
        return None;
    }
    let local = match local.split_once('+') {
        Some((head, _tag)) if !head.is_empty() => head,
        _ => local,
    };
    if domain == "gmail.com" || domain == "googlemail.com" {
        let local: String = local.chars().filter(|&c| c != '.').collect();
        if local.is_empty() {
            return None;
        }
        return Some(format!("{local}@gmail.com"));
    }
    Some(format!("{local}@{domain}"))
}

/// The local part of a normalised e-mail (before the `@`).
pub fn email_local(normalised: &str) -> &str {
    normalised.split_once('@').map_or(normalised, |(l, _)| l)
}

/// The region to read national phone numbers in: the record's country when it is an ISO
/// 3166 code the phone library knows (`AU`, `gb`…), else `default`.
pub fn region_for(country: &str, default: Region) -> Region {
    let c = country.trim();
    if c.len() == 2 {
        c.parse().unwrap_or(default)
    } else {
        default
    }
}

/// A phone as digits: the E.164 digits when it parses for `region` (so `(04) 1900 4242` in
/// AU and `+61 419 004 242` agree), else the bare digits when there are at least six of
/// them, else `None`.
pub fn phone(s: &str, region: Region) -> Option<String> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return None;
    }
    // Fast path: already E.164 (`+` and digits); the library adds nothing but time.
    if let Some(rest) = trimmed.strip_prefix('+')
        && (8..=15).contains(&rest.len())
        && rest.bytes().all(|b| b.is_ascii_digit())
        && !rest.starts_with('0')
    {
        return Some(rest.to_owned());
    }
    // Fast path: a North American number spelt with the usual separators.
    if matches!(region.code(), "US" | "CA")
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_digit() || b" ()-.+".contains(&b))
    {
        let digits: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
        let plus = trimmed.starts_with('+');
        match digits.len() {
            10 if !plus && !digits.starts_with(['0', '1']) => return Some(format!("1{digits}")),
            11 if digits.starts_with('1') => return Some(digits),
            _ => {}
        }
    }
    if let Ok(p) = Phone::parse(trimmed, region) {
        return Some(p.digits().to_owned());
    }
    let digits: String = trimmed.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits.len() >= 6).then_some(digits)
}

/// The last `n` characters of `digits` (all of them when shorter): national and
/// international spellings of one number share their tail.
pub fn tail(digits: &str, n: usize) -> &str {
    let len = digits.len();
    digits.get(len.saturating_sub(n)..).unwrap_or(digits)
}

/// A date of birth as `YYYYMMDD` digits, from the spellings profiles and exports use:
/// ISO `1970-03-04` (a time after it is ignored), `1970/03/04`, `19700304` (FEBRL), and
/// `04/03/1970` or `04.03.1970` read day first unless the second number cannot be a month
/// (`03/24/1970` is then month first; a day/month mix-up that both readings allow is what
/// the comparison's transposed level is for). `None` for anything else or an impossible
/// date (month 13, day 32, year before 1850).
pub fn date_of_birth(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s.split(['T', ' ']).next().unwrap_or("");
    let nums: Vec<&str> = s.split(['-', '/', '.']).collect();
    let parse = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.len() <= 4 && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (y, m, d) = match nums.as_slice() {
        [one] if one.len() == 8 => (parse(&one[..4])?, parse(&one[4..6])?, parse(&one[6..])?),
        [y, m, d] if y.len() == 4 => (parse(y)?, parse(m)?, parse(d)?),
        [a, b, y] if y.len() == 4 => {
            let (a, b) = (parse(a)?, parse(b)?);
            if b > 12 {
                (parse(y)?, a, b)
            } else {
                (parse(y)?, b, a)
            }
        }
        _ => return None,
    };
    ((1850..=2100).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d))
        .then(|| format!("{y:04}{m:02}{d:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_accents_and_special_letters() {
        assert_eq!(fold("José Ñúñez"), "jose nunez");
        assert_eq!(fold("Straße Øster Łódź"), "strasse oster lodz");
        assert_eq!(fold("Zoë ÆON"), "zoe aeon");
        assert_eq!(name("O'Brien-Smith"), "obriensmith");
        assert_eq!(name("  Renée "), "renee");
    }

    #[test]
    fn gmail_dots_tags_and_case_collapse() {
        let a = email("John.Smith+shop@GoogleMail.com").unwrap();
        let b = email("johnsmith@gmail.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, "johnsmith@gmail.com");
        // Dots matter outside gmail; tags do not.
        assert_eq!(
            email("J.Smith+x@Example.org").unwrap(),
            "j.smith@example.org"
        );
        assert_ne!(email("j.smith@example.org"), email("jsmith@example.org"));
        assert_eq!(email("not an address"), None);
        assert_eq!(email("a@b"), None);
        assert_eq!(email_local("ab@c.d"), "ab");
    }

    #[test]
    fn phones_agree_across_formats() {
        let au = region_for("AU", Region::default());
        let a = phone("(04) 1900 4242", au).unwrap();
        let b = phone("+61 419 004 242", au).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, "61419004242");
        let us = region_for("", Region::default());
        assert_eq!(phone("(206) 412-1411", us).unwrap(), "12064121411");
        assert_eq!(phone("206.412.1411", us).unwrap(), "12064121411");
        assert_eq!(phone("+1 206 412 1411", us).unwrap(), "12064121411");
        assert_eq!(phone("+44 20 7946 0000", us).unwrap(), "442079460000");
        assert_eq!(phone("+12064121411", us).unwrap(), "12064121411");
        // Unparseable but digit-rich: bare digits.
        assert_eq!(phone("12-34-56", us).unwrap(), "123456");
        assert_eq!(phone("n/a", us), None);
        assert_eq!(tail("61419004242", 9), "419004242");
        assert_eq!(tail("123", 9), "123");
    }

    #[test]
    fn addresses_abbreviate_street_words() {
        assert_eq!(text("12 Pridham Street,  Apt 4"), "12 pridham st apt 4");
        assert_eq!(text("1501 Interlake Avenue North"), "1501 interlake ave n");
    }

    #[test]
    fn dates_of_birth_in_common_spellings() {
        for (text, want) in [
            ("1970-03-04", Some("19700304")),
            ("1970-03-04T00:00:00Z", Some("19700304")),
            ("1970/3/4", Some("19700304")),
            ("19560409", Some("19560409")),
            ("04/03/1970", Some("19700304")),
            ("04.03.1970", Some("19700304")),
            ("03/24/1970", Some("19700324")),
            ("1970-13-01", None),
            ("1970-02-32", None),
            ("1700-01-01", None),
            ("", None),
            ("yesterday", None),
            ("1970", None),
        ] {
            assert_eq!(date_of_birth(text).as_deref(), want, "{text:?}");
        }
    }
}
