//! Masking of personal data for logs. Owns how an e-mail or phone is shown when the
//! `log.mask_pii` setting is on (the default), the process-wide switch that setting sets,
//! and [`NetText`] / [`NetJson`]: text and JSON received from the network (API error
//! messages and bodies), whose `Display` and `Debug` mask every e-mail address and
//! phone-like number in them while the switch is on. Must never log, and must never hand
//! out the raw text through a formatting trait (only through an explicit `raw()`).

use serde_json::Value;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static MASKING: AtomicBool = AtomicBool::new(true);

/// Turns masking on or off for the whole process (from `log.mask_pii`, once at start-up).
pub fn set_masking(on: bool) {
    MASKING.store(on, Ordering::Relaxed);
}

/// Whether personal data is masked in what is printed (on unless configured off).
pub fn masking() -> bool {
    MASKING.load(Ordering::Relaxed)
}

/// `jane.doe@example.com` → `j***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// `+14155552671` → `+*******2671` (only the last four digits stay).
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    let keep = 4.min(chars.len());
    let head = chars.len() - keep;
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < head && c.is_ascii_digit() {
                '*'
            } else {
                *c
            }
        })
        .collect()
}

/// Fewest and most digits of a run taken for a phone number (E.164 has at most 15).
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

fn is_local_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_domain_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-')
}

fn is_phone_sep(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')')
}

/// The e-mail address around the `@` at `at`, as a char range, if it looks like one.
fn email_at(chars: &[char], at: usize) -> Option<(usize, usize)> {
    let mut start = at;
    while start > 0 && chars.get(start - 1).is_some_and(|c| is_local_char(*c)) {
        start -= 1;
    }
    let mut end = at + 1;
    while chars.get(end).is_some_and(|c| is_domain_char(*c)) {
        end += 1;
    }
    while end > at + 1 && chars.get(end - 1).is_some_and(|c| matches!(c, '.' | '-')) {
        end -= 1;
    }
    let domain: String = chars.get(at + 1..end)?.iter().collect();
    let dot = domain.find('.')?;
    (start < at && dot > 0).then_some((start, end))
}

/// Whether the text before `start` labels what follows as an identifier (`Existing ID: 123`,
/// `objectId 123`): ids stay readable.
fn labelled_as_id(chars: &[char], start: usize) -> bool {
    let mut j = start;
    while j > 0
        && chars
            .get(j - 1)
            .is_some_and(|c| matches!(c, ' ' | ':' | '#' | '='))
    {
        j -= 1;
    }
    let mut rev: Vec<char> = vec![];
    while j > 0 && rev.len() < 32 {
        match chars.get(j - 1) {
            Some(c) if c.is_alphanumeric() || *c == '_' => rev.push(*c),
            _ => break,
        }
        j -= 1;
    }
    let word: String = rev.into_iter().rev().collect();
    let lower = word.to_lowercase();
    // `ID`, `ids`, `objectId`, `customer_id`; not `valid` or `INVALID`.
    matches!(lower.as_str(), "id" | "ids")
        || word.ends_with("Id")
        || word.ends_with("Ids")
        || lower.ends_with("_id")
        || lower.ends_with("_ids")
}

/// The phone-like number starting at `start` (a `+`, `(` or digit not glued to a word), as a
/// char range, if it is one: 7 to 15 digits with single spaces, dashes, dots or brackets
/// between them; not a date (`2024-01-31`), an IPv4 address or a labelled id.
fn phone_at(chars: &[char], start: usize) -> Option<(usize, usize)> {
    let first = *chars.get(start)?;
    if !(first == '+' || first == '(' || first.is_ascii_digit()) {
        return None;
    }
    if start > 0
        && chars
            .get(start - 1)
            .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '+' | '.' | '-' | '/'))
    {
        return None;
    }
    let mut i = start + 1;
    let (mut end, mut digits) = if first.is_ascii_digit() {
        (start + 1, 1)
    } else {
        (start, 0)
    };
    loop {
        match chars.get(i) {
            // Longer than any phone: not one (and the scan stays short on long digit runs).
            Some(c) if c.is_ascii_digit() && digits >= *PHONE_DIGITS.end() => return None,
            Some(c) if c.is_ascii_digit() => {
                i += 1;
                end = i;
                digits += 1;
            }
            Some(c) if is_phone_sep(*c) => {
                // At most two separators in a row (`) ` or ` (`), and a digit after them.
                let mut j = i;
                while j < i + 2 && chars.get(j).is_some_and(|c| is_phone_sep(*c)) {
                    j += 1;
                }
                if chars.get(j).is_some_and(char::is_ascii_digit) {
                    i = j;
                } else {
                    break;
                }
            }
            _ => break,
        }
    }
    let span: String = chars.get(start..end)?.iter().collect();
    if !PHONE_DIGITS.contains(&digits) {
        return None;
    }
    if chars
        .get(end)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '@')
    {
        return None;
    }
    let groups: Vec<&str> = span.split(['-', '.']).collect();
    let is_date = span.contains('-')
        && groups.len() == 3
        && groups.iter().map(|g| g.len()).eq([4, 2, 2])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()));
    let is_ipv4 = span.contains('.')
        && groups.len() == 4
        && groups
            .iter()
            .all(|g| (1..=3).contains(&g.len()) && g.chars().all(|c| c.is_ascii_digit()));
    if is_date || is_ipv4 || labelled_as_id(chars, start) {
        return None;
    }
    Some((start, end))
}

/// Masks every e-mail address (`j***@example.com`) and phone-like number (`+* (***)
/// ***-2671`: all digits but the last four) inside free text; the rest stays as it is.
pub fn mask_text(text: &str) -> String {
    if !text.chars().any(|c| c == '@' || c.is_ascii_digit()) {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    // Spans to mask, in order: e-mails first (their digits are not phones).
    let mut emails: Vec<(usize, usize)> = vec![];
    for (i, c) in chars.iter().enumerate() {
        if *c == '@'
            && let Some((s, e)) = email_at(&chars, i)
            && emails.last().is_none_or(|(_, pe)| *pe <= s)
        {
            emails.push((s, e));
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut next_email = emails.iter().peekable();
    while i < chars.len() {
        if let Some((s, e)) = next_email.peek().copied().copied()
            && s == i
        {
            let addr: String = chars.get(s..e).unwrap_or_default().iter().collect();
            out.push_str(&mask_email(&addr));
            next_email.next();
            i = e;
            continue;
        }
        let limit = next_email.peek().map_or(chars.len(), |(s, _)| *s);
        if let Some((s, e)) = phone_at(&chars, i).filter(|(_, e)| *e <= limit) {
            let num: String = chars.get(s..e).unwrap_or_default().iter().collect();
            out.push_str(&mask_phone(&num));
            i = e;
            continue;
        }
        if let Some(c) = chars.get(i) {
            out.push(*c);
        }
        i += 1;
    }
    out
}

/// Text received from the network (an API's error message, a decode error quoting the
/// answer): it may hold customers' e-mails and phones. `Display` and `Debug` mask them
/// while [`masking`] is on, so that any log line or report printing it is safe; the raw
/// text stays available through [`NetText::raw`] for the code that must parse it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NetText(String);

impl NetText {
    pub fn new(text: impl Into<String>) -> Self {
        NetText(text.into())
    }

    /// The text as received, unmasked: for parsing only, never for printing.
    pub fn raw(&self) -> &str {
        &self.0
    }

    /// The text as it may be printed: masked, or raw when `mask` is false.
    pub fn shown(&self, mask: bool) -> String {
        if mask {
            mask_text(&self.0)
        } else {
            self.0.clone()
        }
    }

    /// Whether the raw text contains `pattern`.
    pub fn contains(&self, pattern: &str) -> bool {
        self.0.contains(pattern)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for NetText {
    fn from(s: String) -> Self {
        NetText(s)
    }
}

impl From<&str> for NetText {
    fn from(s: &str) -> Self {
        NetText(s.to_owned())
    }
}

impl PartialEq<str> for NetText {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for NetText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for NetText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown(masking()))
    }
}

impl fmt::Debug for NetText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown(masking()))
    }
}

/// A JSON document received from the network (an error body): like [`NetText`], its
/// `Display` and `Debug` mask e-mails and phones while [`masking`] is on.
#[derive(Clone, Default, PartialEq)]
pub struct NetJson(Value);

impl NetJson {
    pub fn new(v: Value) -> Self {
        NetJson(v)
    }

    /// The document as received: for reading fields, never for printing.
    pub fn raw(&self) -> &Value {
        &self.0
    }
}

impl From<Value> for NetJson {
    fn from(v: Value) -> Self {
        NetJson(v)
    }
}

impl fmt::Display for NetJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.to_string();
        if masking() {
            f.write_str(&mask_text(&s))
        } else {
            f.write_str(&s)
        }
    }
}

impl fmt::Debug for NetJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask_email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(mask_phone("+14155552671"), "+*******2671");
        assert_eq!(mask_phone("12"), "12");
    }

    #[test]
    fn masks_emails_inside_text() {
        for (raw, want) in [
            (
                "Contact jane.doe@example.com already exists",
                "Contact j***@example.com already exists",
            ),
            (
                "Email 'jane.doe+vip@example.com' already used.",
                "Email 'j***@example.com' already used.",
            ),
            (
                r#"{"message":"Jane.Doe@Example.COM: duplicate"}"#,
                r#"{"message":"J***@Example.COM: duplicate"}"#,
            ),
            ("a@b.co,c@d.io", "a***@b.co,c***@d.io"),
            ("ünïcode@exämple.de.", "ü***@exämple.de."),
            // Not addresses: no local part, no dot in the domain, a bare @.
            (
                "@handle, user@localhost, 5 @ 6",
                "@handle, user@localhost, 5 @ 6",
            ),
        ] {
            assert_eq!(mask_text(raw), want, "{raw}");
        }
    }

    #[test]
    fn masks_phone_like_numbers_inside_text() {
        for (raw, want) in [
            ("phone +14155552671 invalid", "phone +*******2671 invalid"),
            ("call +1 (415) 555-2671.", "call +* (***) ***-2671."),
            ("(415) 555-2671", "(***) ***-2671"),
            ("415.555.2671", "***.***.2671"),
            ("tel:4155552671", "tel:******2671"),
            (
                "INVALID 4155552671, not valid 4155552671",
                "INVALID ******2671, not valid ******2671",
            ),
            ("\"+44 20 7946 0958\"", "\"+** ** **** 0958\""),
        ] {
            assert_eq!(mask_text(raw), want, "{raw}");
        }
    }

    #[test]
    fn leaves_ids_dates_and_small_numbers_readable() {
        for raw in [
            "Contact already exists. Existing ID: 37765128953",
            "objectId 1234567890 not found",
            "customer_id=12345678 and ids: 7654321",
            "answered 503 after 3 attempts",
            "updated 2024-01-31 at 12:00",
            "2024-01-31T12:00:00.000Z",
            "host 192.168.100.200 refused",
            "trace a1b2c3d4-12345678-9999",
            "sha 0123456789abcdef",
        ] {
            assert_eq!(mask_text(raw), raw);
        }
    }

    #[test]
    fn net_text_shows_masked_or_raw_and_keeps_the_raw_text() {
        let t = NetText::new("Contact jane@example.com (+1 415 555 2671) exists. Existing ID: 42");
        assert_eq!(
            t.shown(true),
            "Contact j***@example.com (+* *** *** 2671) exists. Existing ID: 42"
        );
        assert_eq!(t.shown(false), t.raw());
        assert!(t.raw().contains("jane@example.com"));
        assert!(t.contains("Existing ID"));
        // Masking is on unless start-up turned it off (never in unit tests).
        assert!(!format!("{t}").contains("jane@"));
        assert!(!format!("{t:?}").contains("jane@"));
        let j = NetJson::new(serde_json::json!({"message": "jane@example.com"}));
        assert!(!format!("{j}").contains("jane@") && !format!("{j:?}").contains("jane@"));
        assert_eq!(j.raw()["message"], "jane@example.com");
    }

    /// Hostile answers can be huge: masking stays linear (every scan is bounded), so a
    /// megabyte of adversarial text is masked in well under a second even unoptimised.
    #[test]
    fn masking_huge_adversarial_text_stays_fast() {
        for unit in [
            "1 ",
            "a@b.c ",
            "x@",
            "+1 (415) 555-2671 ",
            "ID: 12345678 ",
            "((((",
            "9",
            " ",
        ] {
            let text = unit.repeat(1_000_000 / unit.len());
            let started = std::time::Instant::now();
            let out = mask_text(&text);
            let took = started.elapsed();
            assert!(!out.is_empty());
            assert!(took.as_secs_f64() < 5.0, "{unit:?}: {took:?}");
        }
    }

    #[test]
    fn masking_never_panics_on_odd_text() {
        for raw in [
            "",
            "@",
            "@@@",
            "a@",
            "+",
            "(((((",
            "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8",
            "\u{202e}ü@ü.ü 😀+1(415)555-2671😀",
            "9999999999999999999999999999",
        ] {
            let _ = mask_text(raw);
        }
        assert_eq!(
            mask_text("9999999999999999999999999999"),
            "9999999999999999999999999999"
        );
    }
}
