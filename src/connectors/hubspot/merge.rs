//! Contact merge (contract §6): `POST /crm/objects/{V}/contacts/merge`. The survivor may carry
//! a new id. Must never assume the primary id survives.

use super::http::Lane;
use super::types::Contact;
use super::wire;
use super::{HubspotClient, Result};
use reqwest::Method;
use serde_json::json;

impl HubspotClient {
    /// Merges `secondary` into `primary`; returns the surviving record (whose id may be new:
    /// both old ids then resolve to it).
    pub async fn merge(&self, primary: &str, secondary: &str) -> Result<Contact> {
        let url = self.t.url(&self.paths().contacts(&["merge"]), &[])?;
        let body = json!({"primaryObjectId": primary, "objectIdToMerge": secondary});
        let a = self
            .t
            .send(Method::POST, url, Some(&body), Lane::Burst)
            .await?;
        wire::contact("contacts/merge", a.body)
    }
}
