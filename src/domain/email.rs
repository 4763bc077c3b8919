//! [`Email`]: an e-mail address that has been trimmed, Unicode-normalised (NFC),
//! lower-cased and checked for syntax. Two addresses that differ only in case or
//! surrounding space are equal. Matching tricks (gmail dots, `+tags`) are not applied here:
//! they change who receives mail, so they belong to the matcher's keys, not to the value.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use std::str::FromStr;
use unicode_normalization::UnicodeNormalization;

/// Why a string is not an e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("e-mail address is empty")]
    Empty,
    #[error("{input:?} is not a valid e-mail address: {reason}")]
    Invalid { input: String, reason: String },
}

/// A normalised, syntactically valid e-mail address.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        let normal: String = trimmed.nfc().collect::<String>().to_lowercase();
        let invalid = |reason: &str| EmailError::Invalid {
            input: raw.to_owned(),
            reason: reason.to_owned(),
        };
        if normal.chars().any(char::is_whitespace) {
            return Err(invalid("contains white space"));
        }
        let (_, domain) = normal.rsplit_once('@').ok_or_else(|| invalid("no @"))?;
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid("the domain needs a dot between labels"));
        }
        email_address::EmailAddress::from_str(&normal).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self(normal))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or_default()
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }
}

impl FromStr for Email {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Email::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug masks the address: e-mails are personal data and Debug output ends up in logs.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", crate::pii::mask_email(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        let e = Email::parse("  Jane.Doe+shop@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "jane.doe+shop@example.com");
        assert_eq!(e, Email::parse("jane.doe+shop@example.com").unwrap());
        assert_eq!(e.local_part(), "jane.doe+shop");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn normalises_unicode_composition() {
        // "é" as e + combining acute vs precomposed.
        let a = Email::parse("rene\u{301}@example.fr").unwrap();
        let b = Email::parse("ren\u{e9}@example.fr").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_invalid_with_a_reason() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        for bad in [
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "ja ne@example.com",
            "a@b@c.com",
            "jane@.com",
        ] {
            let err = Email::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains("not a valid e-mail"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn debug_is_masked() {
        let e = Email::parse("jane.doe@example.com").unwrap();
        assert!(!format!("{e:?}").contains("jane.doe"));
    }
}
