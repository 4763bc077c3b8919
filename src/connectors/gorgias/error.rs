//! [`GorgiasError`]: every way a Gorgias call can fail, typed so the sync cycle can decide
//! (retry later, quarantine, follow a merge, give up). Must never carry a credential, and
//! never a URL with a customer's e-mail in it.

use serde_json::Value;

/// A failed Gorgias call.
#[derive(Debug, thiserror::Error)]
pub enum GorgiasError {
    #[error("gorgias configuration: {0}")]
    Config(String),
    #[error("gorgias rejected the credentials (401): check gorgias.username and gorgias.api_key")]
    Unauthorized,
    #[error("gorgias refused the operation (403): the API key's user lacks the permission")]
    Forbidden,
    #[error("gorgias customer {id} does not exist (404)")]
    NotFound { id: i64 },
    /// The id was merged into another customer (301); `into` when the answer said where.
    #[error("gorgias customer {id} was merged into another customer (301){}", .into.map(|t| format!(" {t}")).unwrap_or_default())]
    Merged { id: i64, into: Option<i64> },
    /// A 400 (or 422): the request was invalid. Never retried.
    #[error("gorgias rejected the request ({status}) during {op}: {msg}")]
    Validation {
        op: &'static str,
        status: u16,
        msg: String,
        /// The `error.data` object: field → messages.
        fields: Value,
    },
    /// A 409 outside the cases the connector resolves itself.
    #[error("gorgias reported a conflict (409) during {op}: {msg}")]
    Conflict { op: &'static str, msg: String },
    /// A merge refused because both customers hold data of the same integration.
    #[error(
        "gorgias refused to merge {source_id} into {target_id}: both hold data of the same integration ({msg})"
    )]
    MergeConflict {
        source_id: i64,
        target_id: i64,
        msg: String,
    },
    /// A create answered "already used" but no customer with that e-mail could be found.
    #[error("gorgias says the e-mail is already used, yet no customer with it was found")]
    ExistingNotFound,
    /// `data` holds something other than an object, so a subtree cannot be replaced safely.
    #[error("gorgias customer {id} has non-object `data`; refusing to replace it")]
    DataNotObject { id: i64 },
    #[error("invalid request built by the caller: {0}")]
    InvalidInput(String),
    #[error("gorgias kept answering 429 during {op} after {attempts} attempts")]
    RateLimited { op: &'static str, attempts: u32 },
    #[error("gorgias answered {status} during {op} after {attempts} attempts")]
    Server {
        op: &'static str,
        status: u16,
        attempts: u32,
    },
    #[error("could not reach gorgias during {op} after {attempts} attempts: {source}")]
    Transport {
        op: &'static str,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error("unexpected gorgias answer {status} during {op}: {msg}")]
    Unexpected {
        op: &'static str,
        status: u16,
        msg: String,
    },
    #[error("could not read gorgias answer during {op}: {reason}")]
    Decode { op: &'static str, reason: String },
}

impl GorgiasError {
    /// Whether trying the same call again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GorgiasError::RateLimited { .. }
                | GorgiasError::Server { .. }
                | GorgiasError::Transport { .. }
        )
    }
}

/// `error.msg` and `error.data` of a Gorgias error body, leniently.
pub fn parse_error_body(body: &[u8]) -> (String, Value) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let err = v.get("error").unwrap_or(&v);
            let msg = match err.get("msg").or_else(|| err.get("message")) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => truncate(&String::from_utf8_lossy(body)),
            };
            (scrub(&msg), err.get("data").cloned().unwrap_or(Value::Null))
        }
        Err(_) => (
            scrub(&truncate(&String::from_utf8_lossy(body))),
            Value::Null,
        ),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Masks anything that looks like an e-mail in a server message, so errors can be logged.
fn scrub(msg: &str) -> String {
    msg.split(' ')
        .map(|w| {
            if w.contains('@') {
                crate::pii::mask_email(w)
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a 400/409 body says an identifier (the e-mail) is already used.
pub fn says_already_used(msg: &str, fields: &Value) -> bool {
    let hay = format!("{msg} {fields}").to_ascii_lowercase();
    hay.contains("already")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_bodies() {
        let (msg, data) =
            parse_error_body(br#"{"error":{"msg":"Failed","data":{"email":["Email address already used by another customer."]}}}"#);
        assert_eq!(msg, "Failed");
        assert!(says_already_used(&msg, &data));
        let (msg, _) =
            parse_error_body(br#"{"error":{"msg":"Email john.doe@shop.test already used"}}"#);
        assert!(!msg.contains("john.doe@shop.test"), "{msg}");
        assert!(msg.starts_with("Email ") && msg.ends_with(" already used"));
        let (msg, data) = parse_error_body(b"<html>oops</html>");
        assert_eq!(msg, "<html>oops</html>");
        assert!(data.is_null());
        assert!(!says_already_used(
            "Failed",
            &serde_json::json!({"name":["bad"]})
        ));
    }
}
