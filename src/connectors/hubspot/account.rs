//! The HubSpot account the credential belongs to, read once for links to records' pages:
//! `GET /account-info/2026-03/details` (the dated form; no 2026-09 edition is published, so
//! both dated versions use 2026-03) or `/account-info/v3/details` (legacy), whose answer
//! carries `portalId` (the account, "Hub ID") and `uiDomain` (`app.hubspot.com`,
//! `app-eu1.hubspot.com`, … where the account's pages live). [`HubspotClient::account`]
//! reads it on first use and keeps it for the client's life (an account never changes).
//! Decoding is pure ([`decode_account`]); must never make a sync decision.

use super::paths::ApiVersion;
use super::types::decode;
use super::{HubspotClient, HubspotError, Result};
use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

/// The UI host when the answer names none (or one that is not a HubSpot host).
pub const DEFAULT_UI_DOMAIN: &str = "app.hubspot.com";

/// Where the account's records are shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The portal ("Hub ID").
    pub portal_id: u64,
    /// The UI host, e.g. `app.hubspot.com` or `app-eu1.hubspot.com`.
    pub ui_domain: String,
}

impl Account {
    /// The contact's page: `https://{uiDomain}/contacts/{portalId}/record/0-1/{id}`.
    pub fn contact_url(&self, id: &str) -> String {
        format!(
            "https://{}/contacts/{}/record/0-1/{id}",
            self.ui_domain, self.portal_id
        )
    }
}

/// The path of the account details for `version`.
pub fn account_path(version: ApiVersion) -> [&'static str; 3] {
    match version {
        ApiVersion::V3 => ["account-info", "v3", "details"],
        ApiVersion::V2026_03 | ApiVersion::V2026_09 => ["account-info", "2026-03", "details"],
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    portal_id: Value,
    #[serde(default)]
    ui_domain: Option<String>,
}

/// A host name HubSpot serves its UI from (`app.hubspot.com`, `app-eu1.hubspot.com`): only
/// letters, digits, dots and hyphens, under `hubspot.com`. Anything else is not put in a
/// link.
fn is_hubspot_host(host: &str) -> bool {
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && (host == "hubspot.com" || host.ends_with(".hubspot.com"))
}

/// Decodes the account details answer (pure). The portal id may come as a number or a
/// digit string; a missing or foreign `uiDomain` falls back to [`DEFAULT_UI_DOMAIN`].
pub fn decode_account(body: Value) -> Result<Account> {
    const ENDPOINT: &str = "account-info/details";
    let w: Wire = decode(ENDPOINT, body)?;
    let portal_id = match &w.portal_id {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|&p| p > 0)
    .ok_or_else(|| HubspotError::Decode {
        endpoint: ENDPOINT.into(),
        detail: "portalId is not a positive integer".to_owned().into(),
    })?;
    let ui_domain = w
        .ui_domain
        .map(|d| d.trim().to_ascii_lowercase())
        .filter(|d| is_hubspot_host(d))
        .unwrap_or_else(|| DEFAULT_UI_DOMAIN.to_owned());
    Ok(Account {
        portal_id,
        ui_domain,
    })
}

impl HubspotClient {
    /// The account (portal id and UI host), read from the API on first use and then kept:
    /// one call per client. An error is not kept, so a later call tries again.
    pub async fn account(&self) -> Result<Account> {
        self.account
            .get_or_try_init(|| async {
                let url = self.t.url(&account_path(self.paths().version()), &[])?;
                let a = self
                    .t
                    .send(Method::GET, url, None, super::Lane::Burst)
                    .await?;
                decode_account(a.body)
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_per_version() {
        assert_eq!(
            account_path(ApiVersion::V2026_09).join("/"),
            "account-info/2026-03/details"
        );
        assert_eq!(
            account_path(ApiVersion::V3).join("/"),
            "account-info/v3/details"
        );
    }

    #[test]
    fn decodes_the_documented_answer() {
        let a = decode_account(json!({
            "portalId": 123456, "accountType": "STANDARD", "timeZone": "US/Eastern",
            "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
            "utcOffsetMilliseconds": -18000000, "uiDomain": "app-eu1.hubspot.com",
            "dataHostingLocation": "eu1"
        }))
        .unwrap();
        assert_eq!(a.portal_id, 123456);
        assert_eq!(
            a.contact_url("501"),
            "https://app-eu1.hubspot.com/contacts/123456/record/0-1/501"
        );
        let bare = decode_account(json!({"portalId": "77"})).unwrap();
        assert_eq!(bare.ui_domain, DEFAULT_UI_DOMAIN);
        assert_eq!(bare.portal_id, 77);
    }

    #[test]
    fn refuses_what_cannot_be_linked() {
        assert!(decode_account(json!({"portalId": -1})).is_err());
        assert!(decode_account(json!({"portalId": null})).is_err());
        assert!(decode_account(json!([])).is_err());
        for host in [
            "evil.example/x",
            "app.hubspot.com.evil.io",
            "a b.hubspot.com",
            "",
        ] {
            let a = decode_account(json!({"portalId": 5, "uiDomain": host})).unwrap();
            assert_eq!(a.ui_domain, DEFAULT_UI_DOMAIN, "{host}");
        }
    }
}
