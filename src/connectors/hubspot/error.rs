//! [`HubspotError`]: every failure of the HubSpot connector, typed, carrying HubSpot's
//! `category` when there is one. HubSpot's messages and bodies are kept as
//! [`NetText`]/[`NetJson`], so printing an error masks the e-mails and phones they may hold
//! (`log.mask_pii`). Must never carry the token.

use crate::pii::{NetJson, NetText};
use serde_json::Value;

/// An error from the HubSpot connector.
#[derive(Debug, thiserror::Error)]
pub enum HubspotError {
    /// HubSpot answered an error status (not retried, or retries exhausted).
    #[error("HubSpot {endpoint} answered {status} {category}: {message}")]
    Api {
        /// `METHOD /path`.
        endpoint: String,
        status: u16,
        /// HubSpot's `category` (`VALIDATION_ERROR`, `CONFLICT`, `OBJECT_NOT_FOUND`, ...).
        category: String,
        /// HubSpot's `message` (may quote an e-mail or phone: printed masked).
        message: NetText,
        correlation_id: Option<String>,
        /// The whole error body, for callers that need `errors[]`/`context`.
        body: Box<NetJson>,
    },
    /// The daily request limit is used up: stop writing until it resets.
    #[error("HubSpot daily request limit reached; calls stop until it resets")]
    DailyLimit,
    /// 429s kept coming after the allowed retries.
    #[error("HubSpot kept rate limiting {endpoint} ({policy}) after {attempts} attempts")]
    RateLimited {
        endpoint: String,
        policy: String,
        attempts: u32,
    },
    /// The request never got an answer (connect failure, timeout), retries exhausted.
    #[error("could not reach HubSpot {endpoint}: {source}")]
    Transport {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// The answer was not the JSON expected.
    #[error("unreadable answer from HubSpot {endpoint}: {detail}")]
    Decode { endpoint: String, detail: NetText },
    /// The caller passed something that cannot be sent.
    #[error("invalid request to HubSpot: {0}")]
    Input(String),
}

impl HubspotError {
    /// HubSpot's category, or a connector-side one (`RATE_LIMIT`, `TRANSPORT`, `DECODE`, `INPUT`).
    pub fn category(&self) -> &str {
        match self {
            HubspotError::Api { category, .. } => category,
            HubspotError::DailyLimit | HubspotError::RateLimited { .. } => "RATE_LIMIT",
            HubspotError::Transport { .. } => "TRANSPORT",
            HubspotError::Decode { .. } => "DECODE",
            HubspotError::Input(_) => "INPUT",
        }
    }

    /// The HTTP status, when HubSpot answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HubspotError::Api { status, .. } => Some(*status),
            HubspotError::DailyLimit | HubspotError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// True for 401/403 (bad token or missing scopes).
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// The id in a 409 `Contact already exists. Existing ID: N`.
    pub fn existing_id(&self) -> Option<String> {
        match self {
            HubspotError::Api {
                status: 409,
                message,
                ..
            } => parse_existing_id(message.raw()),
            _ => None,
        }
    }
}

/// Parses `Existing ID:\s*(\d+)` out of a HubSpot message.
pub fn parse_existing_id(message: &str) -> Option<String> {
    let idx = message.find("Existing ID:")?;
    let rest = message.get(idx + "Existing ID:".len()..)?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// Whether a refused write is the record's business or tether's set-up's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The record itself is refused (portal validation rules such as
    /// `MISSING_REQUIRED_PROPERTY`, bad values, an invalid enum option, a duplicate in the
    /// batch, ...): keep it aside; it heals when the record or the portal's rules change.
    ForRecord,
    /// tether's set-up is wrong (a property that does not exist, a missing scope, a
    /// rejected credential): every record would fail the same way until it is fixed.
    ForSetup,
}

/// Error codes and categories that mean tether's set-up is at fault, not the record.
const SETUP_CODES: &[&str] = &[
    "PROPERTY_DOESNT_EXIST",
    "MISSING_SCOPES",
    "INVALID_AUTHENTICATION",
];

/// One failed input of a batch (from a 207 `errors[]` entry or a whole-batch error).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub category: String,
    /// HubSpot's message (printed masked), or the connector's own error text.
    pub message: NetText,
    /// HubSpot's `errors[].code`s (`MISSING_REQUIRED_PROPERTY`,
    /// `MISSING_CONDITIONAL_REQUIRED_PROPERTY`, `INVALID_OPTION`, ...), in order, deduplicated.
    pub codes: Vec<String>,
    /// The properties named by the error (`errors[].context.propertyName`, or the `name`s
    /// of a "Property values were not valid" message), in order, deduplicated.
    pub property_names: Vec<String>,
}

impl ItemError {
    /// An error with a category and message only (no codes or property names).
    pub fn new(category: impl Into<String>, message: impl Into<NetText>) -> Self {
        ItemError {
            category: category.into(),
            message: message.into(),
            codes: vec![],
            property_names: vec![],
        }
    }

    /// An error from a HubSpot error body (`Error` or `StandardError`): category, message,
    /// and the codes and property names of its `errors[]` (or of the property list inside
    /// the message of a format-validation error).
    pub fn from_body(category: &str, message: NetText, body: &Value) -> Self {
        let mut e = ItemError::new(category, message);
        for d in body
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = d.get("code").and_then(Value::as_str) {
                push_unique(&mut e.codes, c);
            }
            let names = d
                .get("context")
                .and_then(|c| c.get("propertyName"))
                .and_then(Value::as_array);
            for n in names.into_iter().flatten().filter_map(Value::as_str) {
                push_unique(&mut e.property_names, n);
            }
        }
        for (code, name) in listed_problems(e.message.raw()) {
            push_unique(&mut e.codes, &code);
            push_unique(&mut e.property_names, &name);
        }
        e
    }

    /// Whether the record or tether's set-up is at fault. Never retried either way.
    pub fn refusal(&self) -> Refusal {
        let setup = SETUP_CODES.contains(&self.category.as_str())
            || self.codes.iter().any(|c| SETUP_CODES.contains(&c.as_str()));
        if setup {
            Refusal::ForSetup
        } else {
            Refusal::ForRecord
        }
    }
}

fn push_unique(v: &mut Vec<String>, s: &str) {
    if !s.is_empty() && !v.iter().any(|x| x == s) {
        v.push(s.to_string());
    }
}

/// The `(error, name)` pairs of `Property values were not valid: [{...}]` (the JSON list
/// HubSpot puts inside the message of a format-validation error); empty when absent.
fn listed_problems(message: &str) -> Vec<(String, String)> {
    let Some(at) = message.find("Property values were not valid:") else {
        return vec![];
    };
    let rest = message
        .get(at + "Property values were not valid:".len()..)
        .unwrap_or("")
        .trim();
    let Ok(list) = serde_json::from_str::<Vec<Value>>(rest) else {
        return vec![];
    };
    list.iter()
        .filter_map(|p| {
            let code = p.get("error").and_then(Value::as_str)?;
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            Some((code.to_string(), name.to_string()))
        })
        .collect()
}

impl From<&HubspotError> for ItemError {
    fn from(e: &HubspotError) -> Self {
        match e {
            HubspotError::Api {
                category,
                message,
                body,
                ..
            } => ItemError::from_body(category, message.clone(), body.raw()),
            other => ItemError::new(other.category(), NetText::new(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rule_refusals_carry_codes_and_properties_and_are_for_the_record() {
        let body = json!({"status":"error","category":"VALIDATION_ERROR",
            "message":"The property values provided are invalid",
            "errors":[{"code":"MISSING_REQUIRED_PROPERTY","message":"A value for zip must be provided",
                       "context":{"propertyName":["zip"]}},
                      {"code":"MISSING_CONDITIONAL_REQUIRED_PROPERTY","message":"…",
                       "context":{"propertyName":["zip","state"]}}]});
        let e = ItemError::from_body(
            "VALIDATION_ERROR",
            "The property values provided are invalid".into(),
            &body,
        );
        assert_eq!(
            e.codes,
            vec![
                "MISSING_REQUIRED_PROPERTY",
                "MISSING_CONDITIONAL_REQUIRED_PROPERTY"
            ]
        );
        assert_eq!(e.property_names, vec!["zip", "state"]);
        assert_eq!(e.refusal(), Refusal::ForRecord);
    }

    #[test]
    fn missing_properties_and_scopes_are_for_the_setup() {
        let msg = r#"Property values were not valid: [{"isValid":false,"message":"Property \"x\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"x"}]"#;
        let e = ItemError::from_body("VALIDATION_ERROR", msg.into(), &json!({}));
        assert_eq!(e.codes, vec!["PROPERTY_DOESNT_EXIST"]);
        assert_eq!(e.property_names, vec!["x"]);
        assert_eq!(e.refusal(), Refusal::ForSetup);
        assert_eq!(
            ItemError::new("MISSING_SCOPES", "no").refusal(),
            Refusal::ForSetup
        );
        let alpha = r#"Property values were not valid: [{"isValid":false,"message":"Enter only letters","error":"INVALID_ALPHA","name":"firstname"}]"#;
        let e = ItemError::from_body("VALIDATION_ERROR", alpha.into(), &json!({}));
        assert_eq!(e.refusal(), Refusal::ForRecord);
        assert_eq!(e.property_names, vec!["firstname"]);
        assert_eq!(
            ItemError::new("DUPLICATE_INPUT", "twice").refusal(),
            Refusal::ForRecord
        );
    }

    #[test]
    fn existing_id_is_parsed_from_the_message() {
        assert_eq!(
            parse_existing_id("Contact already exists. Existing ID: 37765128953"),
            Some("37765128953".into())
        );
        assert_eq!(
            parse_existing_id("Contact already exists. Existing ID:42."),
            Some("42".into())
        );
        assert_eq!(parse_existing_id("Contact already exists."), None);
        assert_eq!(parse_existing_id("Existing ID: x"), None);
    }
}
