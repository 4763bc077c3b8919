//! The account details of the HubSpot sandbox (`GET /account-info/2026-03/details` and the
//! legacy `/account-info/v3/details`), shaped as HubSpot documents them: `portalId` (the
//! configured `SandboxConfig::portal_id`), `uiDomain` `app.hubspot.com`, `dataHostingLocation`
//! `na1` and the account's time zone and currency. Needs no scope beyond a valid token (the
//! documented requirement is `oauth`, which every app has). Must never be reached but over
//! HTTP.

use super::HubspotSandbox;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

/// Path versions the account details are served in (no 2026-09 edition is published).
pub const VERSIONS: [&str; 2] = ["v3", "2026-03"];

/// The routes.
pub fn routes() -> Router<HubspotSandbox> {
    VERSIONS.into_iter().fold(Router::new(), |r, v| {
        r.route(&format!("/account-info/{v}/details"), get(details))
    })
}

async fn details(State(sb): State<HubspotSandbox>) -> Response {
    axum::Json(json!({
        "portalId": sb.config().portal_id,
        "accountType": "STANDARD",
        "timeZone": "US/Eastern",
        "companyCurrency": "USD",
        "additionalCurrencies": [],
        "utcOffset": "-05:00",
        "utcOffsetMilliseconds": -18_000_000,
        "uiDomain": "app.hubspot.com",
        "dataHostingLocation": "na1",
    }))
    .into_response()
}
