//! [`HubspotError`]: every failure of the HubSpot connector, typed, carrying HubSpot's
//! `category` when there is one. HubSpot's messages and bodies are kept as
//! [`NetText`]/[`NetJson`], so printing an error masks the e-mails and phones they may hold
//! (`log.mask_pii`). Must never carry the token.

use crate::pii::{NetJson, NetText};

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

/// One failed input of a batch (from a 207 `errors[]` entry or a whole-batch error).
#[derive(Debug, Clone, PartialEq)]
pub struct ItemError {
    pub category: String,
    /// HubSpot's message (printed masked), or the connector's own error text.
    pub message: NetText,
}

impl From<&HubspotError> for ItemError {
    fn from(e: &HubspotError) -> Self {
        let message = match e {
            HubspotError::Api { message, .. } => message.clone(),
            other => NetText::new(other.to_string()),
        };
        ItemError {
            category: e.category().to_string(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
