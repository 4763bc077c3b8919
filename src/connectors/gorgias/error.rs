//! [`GorgiasError`]: every way a Gorgias call can fail, typed so the sync cycle can decide
//! (retry later, quarantine, follow a merge, give up). Gorgias's messages and bodies are
//! kept as [`NetText`]/[`NetJson`], so printing an error masks the e-mails and phones they
//! may hold (`log.mask_pii`). Must never carry a credential, and never a URL with a
//! customer's e-mail in it.

use crate::pii::{NetJson, NetText};
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
        msg: NetText,
        /// The `error.data` object: field → messages.
        fields: NetJson,
    },
    /// A 409 outside the cases the connector resolves itself.
    #[error("gorgias reported a conflict (409) during {op}: {msg}")]
    Conflict { op: &'static str, msg: NetText },
    /// A merge refused because both customers hold data of the same integration.
    #[error(
        "gorgias refused to merge {source_id} into {target_id}: both hold data of the same integration ({msg})"
    )]
    MergeConflict {
        source_id: i64,
        target_id: i64,
        msg: NetText,
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
        msg: NetText,
    },
    #[error("could not read gorgias answer during {op}: {reason}")]
    Decode { op: &'static str, reason: NetText },
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

/// `error.msg` and `error.data` of a Gorgias error body, leniently, as received (they are
/// masked when printed).
pub fn parse_error_body(body: &[u8]) -> (NetText, NetJson) {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let err = v.get("error").unwrap_or(&v);
            let msg = match err.get("msg").or_else(|| err.get("message")) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => truncate(&String::from_utf8_lossy(body)),
            };
            (
                NetText::new(msg),
                NetJson::new(err.get("data").cloned().unwrap_or(Value::Null)),
            )
        }
        Err(_) => (
            NetText::new(truncate(&String::from_utf8_lossy(body))),
            NetJson::default(),
        ),
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Whether a 400/409 body says an identifier (the e-mail) is already used.
pub fn says_already_used(msg: &NetText, fields: &NetJson) -> bool {
    let hay = format!("{} {}", msg.raw(), fields.raw()).to_ascii_lowercase();
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
        // Kept as received, printed masked.
        assert_eq!(msg, "Email john.doe@shop.test already used");
        assert_eq!(msg.to_string(), "Email j***@shop.test already used");
        let e = GorgiasError::Conflict {
            op: "create_customer",
            msg,
        };
        assert!(!e.to_string().contains("john.doe@shop.test"), "{e}");
        assert!(!format!("{e:?}").contains("john.doe@shop.test"), "{e:?}");
        let (msg, data) = parse_error_body(b"<html>oops</html>");
        assert_eq!(msg, "<html>oops</html>");
        assert!(data.raw().is_null());
        assert!(!says_already_used(
            &NetText::new("Failed"),
            &NetJson::new(serde_json::json!({"name":["bad"]}))
        ));
    }
}
