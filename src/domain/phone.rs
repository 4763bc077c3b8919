//! [`Phone`]: a telephone number in E.164 (`+14155550123`), parsed with the `phonenumber`
//! crate. National numbers need a default [`Region`]; a number that does not parse or is not
//! a valid number for its region is rejected with the reason.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Why a string is not a telephone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("{input:?} is not a phone number: {reason}")]
    Invalid { input: String, reason: String },
    #[error("{0:?} is not an ISO 3166 region code such as US, GB or FR")]
    UnknownRegion(String),
}

/// An ISO 3166-1 alpha-2 region, used to read national-format numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Region(phonenumber::country::Id);

impl Region {
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl Default for Region {
    fn default() -> Self {
        Region(phonenumber::country::Id::US)
    }
}

impl FromStr for Region {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        phonenumber::country::Id::from_str(&s.trim().to_ascii_uppercase())
            .map(Region)
            .map_err(|_| PhoneError::UnknownRegion(s.to_owned()))
    }
}

impl Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A valid telephone number, held in E.164.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    /// Parses `raw` in international form, or in the national form of `region`.
    pub fn parse(raw: &str, region: Region) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let invalid = |reason: &str| PhoneError::Invalid {
            input: raw.to_owned(),
            reason: reason.to_owned(),
        };
        // "00" international prefix is common in exports; phonenumber wants "+".
        let candidate = match trimmed.strip_prefix("00") {
            Some(rest) if trimmed.len() > 8 => format!("+{rest}"),
            _ => trimmed.to_owned(),
        };
        let number =
            phonenumber::parse(Some(region.0), &candidate).map_err(|e| invalid(&e.to_string()))?;
        if !phonenumber::is_valid(&number) {
            return Err(invalid("not a valid number for its region"));
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// An already-E.164 string, as the store and the mappings hold it.
    pub fn from_e164(raw: &str) -> Result<Self, PhoneError> {
        if !raw.starts_with('+') {
            return Err(PhoneError::Invalid {
                input: raw.to_owned(),
                reason: "E.164 numbers start with +".into(),
            });
        }
        Self::parse(raw, Region::default())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the `+`, as a matching key.
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl TryFrom<String> for Phone {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Phone::from_e164(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Debug masks the number: phones are personal data and Debug output ends up in logs.
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", crate::pii::mask_phone(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Region {
        "US".parse().unwrap()
    }

    #[test]
    fn formats_to_e164() {
        assert_eq!(
            Phone::parse("(415) 555-2671", us()).unwrap().as_str(),
            "+14155552671"
        );
        assert_eq!(
            Phone::parse("+44 20 7946 0958", us()).unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            Phone::parse("0044 20 7946 0958", us()).unwrap().as_str(),
            "+442079460958"
        );
        let gb: Region = "gb".parse().unwrap();
        assert_eq!(
            Phone::parse("020 7946 0958", gb).unwrap().as_str(),
            "+442079460958"
        );
        let fr: Region = "FR".parse().unwrap();
        assert_eq!(
            Phone::parse("06 12 34 56 78", fr).unwrap().as_str(),
            "+33612345678"
        );
    }

    #[test]
    fn rejects_invalid_with_a_reason() {
        assert_eq!(Phone::parse("  ", us()), Err(PhoneError::Empty));
        for bad in ["hello", "123", "+1 555", "+999 1234 5678"] {
            let err = Phone::parse(bad, us()).unwrap_err();
            assert!(
                err.to_string().contains("is not a phone number"),
                "{bad}: {err}"
            );
        }
        assert!(matches!(
            "XX".parse::<Region>(),
            Err(PhoneError::UnknownRegion(_))
        ));
    }

    #[test]
    fn serde_keeps_e164_and_checks_it() {
        let p = Phone::parse("415-555-2671", us()).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"+14155552671\"");
        assert_eq!(serde_json::from_str::<Phone>(&json).unwrap(), p);
        assert!(serde_json::from_str::<Phone>("\"4155552671\"").is_err());
        assert_eq!(p.digits(), "14155552671");
        assert!(!format!("{p:?}").contains("5552671"));
    }
}
