//! Value transforms: string normalisations (trim, case, white space) and the conversions
//! between a side's text and a field's canonical form (e-mail, E.164 phone, number, bool,
//! date, datetime).
//!
//! Pure functions over strings. Must never panic on user data: every conversion returns a
//! reason when a value does not fit, and date formats are checked before use.

use super::model::ValueKind;
use crate::domain::{Email, Phone, Region};
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::borrow::Cow;

/// A string normalisation applied when reading a value from either side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transform {
    /// Remove leading and trailing white space.
    Trim,
    /// Lower-case.
    Lowercase,
    /// Upper-case.
    Uppercase,
    /// Trim and collapse runs of white space into one space.
    CollapseSpaces,
}

impl Transform {
    /// The names accepted in `transforms = [...]`.
    pub const NAMES: &'static [&'static str] =
        &["trim", "lowercase", "uppercase", "collapse_spaces"];

    /// Parses a transform name.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "trim" => Transform::Trim,
            "lowercase" => Transform::Lowercase,
            "uppercase" => Transform::Uppercase,
            "collapse_spaces" => Transform::CollapseSpaces,
            _ => return None,
        })
    }

    /// Applies the transform, borrowing when the value is already normal.
    pub fn apply<'a>(self, value: Cow<'a, str>) -> Cow<'a, str> {
        match self {
            Transform::Trim => {
                let t = value.trim();
                if t.len() == value.len() {
                    value
                } else {
                    Cow::Owned(t.to_owned())
                }
            }
            Transform::Lowercase => {
                if value.chars().any(char::is_uppercase) {
                    Cow::Owned(value.to_lowercase())
                } else {
                    value
                }
            }
            Transform::Uppercase => {
                if value.chars().any(char::is_lowercase) {
                    Cow::Owned(value.to_uppercase())
                } else {
                    value
                }
            }
            Transform::CollapseSpaces => {
                let normal = value.split_whitespace().collect::<Vec<_>>().join(" ");
                if normal == *value {
                    value
                } else {
                    Cow::Owned(normal)
                }
            }
        }
    }
}

/// Whether a chrono format string is usable (no unknown `%` specifier).
pub fn valid_format(fmt: &str) -> bool {
    !fmt.is_empty() && !StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error))
}

/// Whether a (valid) format can write a date alone: no time of day, no offset. chrono's
/// formatter fails on those, and `to_string` would turn that failure into a panic.
pub fn formats_a_date(fmt: &str) -> bool {
    use std::fmt::Write;
    let sample = NaiveDate::from_ymd_opt(2000, 1, 31).unwrap_or_default();
    write!(String::new(), "{}", sample.format(fmt)).is_ok()
}

/// Reads a side's text into the canonical form of `kind`. `format` is the side's chrono
/// format for dates, `region` reads national phone numbers. The value is not empty.
pub fn to_canonical<'a>(
    kind: ValueKind,
    raw: Cow<'a, str>,
    region: Region,
    format: Option<&str>,
) -> Result<Cow<'a, str>, String> {
    match kind {
        ValueKind::String | ValueKind::Enum => Ok(raw),
        ValueKind::Email => {
            if simple_ascii_email(&raw) {
                return Ok(if raw.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(raw.to_ascii_lowercase())
                } else {
                    raw
                });
            }
            let email = Email::parse(&raw).map_err(|e| e.to_string())?;
            if email.as_str() == raw {
                Ok(raw)
            } else {
                Ok(Cow::Owned(email.as_str().to_owned()))
            }
        }
        ValueKind::Phone => {
            let phone = Phone::parse(&raw, region).map_err(|e| e.to_string())?;
            if phone.as_str() == raw {
                Ok(raw)
            } else {
                Ok(Cow::Owned(phone.as_str().to_owned()))
            }
        }
        ValueKind::Number => normal_number(&raw).map(Cow::Owned),
        ValueKind::Bool => parse_bool(&raw)
            .map(|b| Cow::Borrowed(if b { "true" } else { "false" }))
            .ok_or_else(|| format!("{raw:?} is not a boolean (expected true or false)")),
        ValueKind::Date => parse_date(&raw, format)
            .map(|d| Cow::Owned(d.format("%Y-%m-%d").to_string()))
            .ok_or_else(|| match format {
                Some(f) => format!("{raw:?} is not a date in format {f:?}"),
                None => format!("{raw:?} is not a date (expected YYYY-MM-DD)"),
            }),
        ValueKind::Datetime => parse_datetime(&raw, format)
            .map(|d| Cow::Owned(d.to_rfc3339_opts(SecondsFormat::Millis, true)))
            .ok_or_else(|| match format {
                Some(f) => format!("{raw:?} is not a date and time in format {f:?}"),
                None => format!("{raw:?} is not a date and time (expected RFC 3339)"),
            }),
    }
}

/// Writes a canonical value in a side's text form (dates in `format`, the rest as is).
pub fn from_canonical<'a>(
    kind: ValueKind,
    canonical: &'a str,
    format: Option<&str>,
) -> Result<Cow<'a, str>, String> {
    use std::fmt::Write;
    // chrono reports a specifier the value cannot fill as a formatting error: an `Err` here,
    // never the panic of `to_string`.
    let written = |shown: &dyn std::fmt::Display| {
        let mut out = String::new();
        write!(out, "{shown}")
            .map(|()| Cow::Owned(out))
            .map_err(|_| format!("{canonical:?} cannot be written in format {format:?}"))
    };
    match (kind, format) {
        (ValueKind::Date, Some(f)) => parse_date(canonical, None)
            .ok_or_else(|| format!("{canonical:?} is not a date"))
            .and_then(|d| written(&d.format(f))),
        (ValueKind::Datetime, Some(f)) => parse_datetime(canonical, None)
            .ok_or_else(|| format!("{canonical:?} is not a date and time"))
            .and_then(|d| written(&d.format(f))),
        _ => Ok(Cow::Borrowed(canonical)),
    }
}

/// Whether `s` is a plain ASCII address (`local@label.label`, letters, digits and `._%+-`,
/// no leading, trailing or double dots, labels not starting or ending with `-`). Such an
/// address is valid and its canonical form is just its lower-case: the fast path that skips
/// Unicode normalisation and the full parser, which still handle everything else.
pub fn simple_ascii_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b));
    if !local_ok || s.len() > 254 || domain.len() > 253 {
        return false;
    }
    let mut labels = 0;
    for label in domain.split('.') {
        labels += 1;
        let ok = (1..=63).contains(&label.len())
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return false;
        }
    }
    labels >= 2
        && domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_alphabetic()))
}

/// `true`/`false` and the usual spellings (yes/no, 1/0, on/off), any case.
pub fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "on" => Some(true),
        "false" | "no" | "n" | "0" | "off" => Some(false),
        _ => None,
    }
}

/// A decimal number without leading or trailing zeros: `"017.50"` → `"17.5"`.
pub fn normal_number(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let bad = || format!("{raw:?} is not a number");
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let plain = !body.is_empty()
        && body != "."
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit());
    if plain {
        let int = int.trim_start_matches('0');
        let frac = frac.trim_end_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let mut out = String::with_capacity(body.len() + 1);
        if neg && !(int == "0" && frac.is_empty()) {
            out.push('-');
        }
        out.push_str(int);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        return Ok(out);
    }
    let f: f64 = t.parse().map_err(|_| bad())?;
    if !f.is_finite() {
        return Err(bad());
    }
    normal_number(&format!("{f}")).map_err(|_| bad())
}

fn epoch_millis(raw: &str) -> Option<DateTime<Utc>> {
    if raw.is_empty() || raw.len() > 15 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    DateTime::from_timestamp_millis(raw.parse().ok()?)
}

/// Reads a date in `format`, or ISO (`YYYY-MM-DD`, an RFC 3339 datetime, epoch ms).
pub fn parse_date(raw: &str, format: Option<&str>) -> Option<NaiveDate> {
    let raw = raw.trim();
    if let Some(f) = format {
        return NaiveDate::parse_from_str(raw, f).ok();
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .or_else(|| parse_datetime(raw, None).map(|d| d.date_naive()))
}

/// Reads a date and time in `format` (UTC unless it has an offset), or RFC 3339, ISO
/// without offset (as UTC), epoch milliseconds, or a bare date (midnight UTC).
pub fn parse_datetime(raw: &str, format: Option<&str>) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Some(f) = format {
        return DateTime::parse_from_str(raw, f)
            .map(|d| d.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDateTime::parse_from_str(raw, f)
                    .ok()
                    .map(|n| n.and_utc())
            });
    }
    if let Some(d) = epoch_millis(raw) {
        return Some(d);
    }
    if let Ok(d) = DateTime::parse_from_rfc3339(raw) {
        return Some(d.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(raw, f) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(kind: ValueKind, raw: &str) -> Result<String, String> {
        to_canonical(kind, Cow::Borrowed(raw), Region::default(), None).map(|c| c.into_owned())
    }

    #[test]
    fn string_transforms() {
        let t = |tr: Transform, s: &str| tr.apply(Cow::Borrowed(s)).into_owned();
        assert_eq!(t(Transform::Trim, "  a b "), "a b");
        assert_eq!(t(Transform::Lowercase, "AbC"), "abc");
        assert_eq!(t(Transform::Uppercase, "fr"), "FR");
        assert_eq!(
            t(Transform::CollapseSpaces, " Mary   Ann\tSmith "),
            "Mary Ann Smith"
        );
        assert!(matches!(
            Transform::Trim.apply(Cow::Borrowed("x")),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            Transform::parse("collapse_spaces"),
            Some(Transform::CollapseSpaces)
        );
        assert_eq!(Transform::parse("titlecase"), None);
    }

    #[test]
    fn emails_and_phones() {
        assert_eq!(
            canon(ValueKind::Email, " Jane@Example.COM").unwrap(),
            "jane@example.com"
        );
        assert!(
            canon(ValueKind::Email, "jane@")
                .unwrap_err()
                .contains("not a valid e-mail")
        );
        assert_eq!(
            canon(ValueKind::Phone, "(415) 555-2671").unwrap(),
            "+14155552671"
        );
        let gb: Region = "GB".parse().unwrap();
        let p = to_canonical(ValueKind::Phone, Cow::Borrowed("020 7946 0958"), gb, None).unwrap();
        assert_eq!(p, "+442079460958");
        assert!(canon(ValueKind::Phone, "12").is_err());
    }

    #[test]
    fn the_email_fast_path_agrees_with_the_parser() {
        for ok in [
            "a@b.co",
            "Jane.Doe+shop@Example.COM",
            "x_y%z-1@mail-1.example.org",
        ] {
            assert!(simple_ascii_email(ok), "{ok}");
            assert_eq!(Email::parse(ok).unwrap().as_str(), ok.to_ascii_lowercase());
        }
        for no in [
            "a@b",
            ".a@b.co",
            "a.@b.co",
            "a..b@c.co",
            "a@-b.co",
            "a@b-.co",
            "a@b..co",
            " a@b.co",
            "é@b.co",
            "a@b.c0m",
            "a b@c.co",
            "a@b@c.co",
        ] {
            assert!(!simple_ascii_email(no), "{no}");
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_path_never_accepts_what_the_parser_rejects(s in "[aZ0._+%-]{0,5}@?[a-z0.-]{0,6}(\\.[a-zA-Z]{0,3})?") {
            if simple_ascii_email(&s) {
                let parsed = Email::parse(&s);
                proptest::prop_assert!(parsed.is_ok(), "{s}: {parsed:?}");
                proptest::prop_assert_eq!(parsed.unwrap().as_str().to_owned(), s.to_ascii_lowercase());
            }
        }
    }

    #[test]
    fn numbers_and_bools() {
        assert_eq!(canon(ValueKind::Number, "017.50").unwrap(), "17.5");
        assert_eq!(canon(ValueKind::Number, "17.0").unwrap(), "17");
        assert_eq!(canon(ValueKind::Number, "-0").unwrap(), "0");
        assert_eq!(canon(ValueKind::Number, "1e3").unwrap(), "1000");
        assert_eq!(
            canon(ValueKind::Number, "123456789012345678901").unwrap(),
            "123456789012345678901"
        );
        assert!(canon(ValueKind::Number, "12a").is_err());
        assert!(canon(ValueKind::Number, "NaN").is_err());
        assert_eq!(canon(ValueKind::Bool, "Yes").unwrap(), "true");
        assert_eq!(canon(ValueKind::Bool, "0").unwrap(), "false");
        assert!(canon(ValueKind::Bool, "maybe").is_err());
    }

    /// Regression (found by `fuzz/run.sh mappings` in 205,451 runs): writing a date in a
    /// format with a time of day (`%H`) panicked in `to_string`; now it is an error.
    #[test]
    fn a_date_in_a_format_with_a_time_is_an_error_not_a_panic() {
        let w = from_canonical(ValueKind::Date, "2015-05-01", Some("%d/~%m/%Y-%d %H:%M:%S"));
        assert!(w.unwrap_err().contains("cannot be written"));
    }

    #[test]
    fn dates_and_datetimes() {
        assert_eq!(canon(ValueKind::Date, "2015-05-01").unwrap(), "2015-05-01");
        assert_eq!(
            canon(ValueKind::Date, "1430438400000").unwrap(),
            "2015-05-01"
        );
        assert_eq!(
            canon(ValueKind::Date, "2015-05-01T10:00:00Z").unwrap(),
            "2015-05-01"
        );
        let d = to_canonical(
            ValueKind::Date,
            Cow::Borrowed("01/05/2015"),
            Region::default(),
            Some("%d/%m/%Y"),
        );
        assert_eq!(d.unwrap(), "2015-05-01");
        assert_eq!(
            from_canonical(ValueKind::Date, "2015-05-01", Some("%d/%m/%Y")).unwrap(),
            "01/05/2015"
        );
        assert!(canon(ValueKind::Date, "May 1st").is_err());
        assert_eq!(
            canon(ValueKind::Datetime, "2020-02-29T04:30:17+01:00").unwrap(),
            "2020-02-29T03:30:17.000Z"
        );
        assert_eq!(
            canon(ValueKind::Datetime, "2019-04-13T03:27:56.973873").unwrap(),
            "2019-04-13T03:27:56.973Z"
        );
        assert_eq!(
            canon(ValueKind::Datetime, "1430438400000").unwrap(),
            "2015-05-01T00:00:00.000Z"
        );
        assert!(valid_format("%d/%m/%Y"));
        assert!(formats_a_date("%d/%m/%Y") && !formats_a_date("%Y-%m-%d %H:%M"));
        assert!(!valid_format("%Q"));
    }
}
