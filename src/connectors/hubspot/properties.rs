//! Custom properties (contract §7) of contacts, and of notes for `[support] notes`: make
//! sure the ones tether writes exist. Must never
//! alter or delete an existing property.

use super::http::Lane;
use super::types::PropertyDefinition;
use super::{HubspotClient, Result};
use reqwest::Method;
use serde_json::Value;
use std::collections::HashSet;

impl HubspotClient {
    /// Names of the contact properties that exist.
    pub async fn property_names(&self) -> Result<HashSet<String>> {
        self.property_names_of("contacts").await
    }

    /// Names of the properties of `object` (`contacts`, `notes`, ...) that exist.
    pub async fn property_names_of(&self, object: &str) -> Result<HashSet<String>> {
        let url = self.t.url(&self.paths().properties(object, &[]), &[])?;
        let a = self.t.send(Method::GET, url, None, Lane::Burst).await?;
        Ok(a.body
            .get("results")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Creates the contact property groups of `groups` (name, label) that do not exist yet
    /// (`GET`, then `POST /crm/properties/{version}/contacts/groups`); returns the names
    /// created. A 409 (made meanwhile) counts as existing. Never alters a group.
    pub async fn ensure_property_groups(&self, groups: &[(&str, &str)]) -> Result<Vec<String>> {
        self.ensure_property_groups_of("contacts", groups).await
    }

    /// [`Self::ensure_property_groups`] for the properties of `object`.
    pub async fn ensure_property_groups_of(
        &self,
        object: &str,
        groups: &[(&str, &str)],
    ) -> Result<Vec<String>> {
        if groups.is_empty() {
            return Ok(vec![]);
        }
        let url = self
            .t
            .url(&self.paths().properties(object, &["groups"]), &[])?;
        let a = self
            .t
            .send(Method::GET, url.clone(), None, Lane::Burst)
            .await?;
        let existing: HashSet<String> = a
            .body
            .get("results")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|g| g.get("name").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut created = vec![];
        for (name, label) in groups.iter().filter(|(n, _)| !existing.contains(*n)) {
            let body = serde_json::json!({"name": name, "label": label});
            match self
                .t
                .send(Method::POST, url.clone(), Some(&body), Lane::Burst)
                .await
            {
                Ok(_) => created.push((*name).to_owned()),
                Err(e) if e.status() == Some(409) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }

    /// Creates those of `defs` that do not exist yet; returns the names created. A 409 (made
    /// meanwhile by someone else) counts as existing.
    pub async fn ensure_properties(&self, defs: &[PropertyDefinition]) -> Result<Vec<String>> {
        self.ensure_properties_of("contacts", defs).await
    }

    /// [`Self::ensure_properties`] for the properties of `object`.
    pub async fn ensure_properties_of(
        &self,
        object: &str,
        defs: &[PropertyDefinition],
    ) -> Result<Vec<String>> {
        let existing = self.property_names_of(object).await?;
        let url = self.t.url(&self.paths().properties(object, &[]), &[])?;
        let mut created = vec![];
        for d in defs.iter().filter(|d| !existing.contains(&d.name)) {
            let body =
                serde_json::to_value(d).map_err(|e| super::HubspotError::Input(e.to_string()))?;
            match self
                .t
                .send(Method::POST, url.clone(), Some(&body), Lane::Burst)
                .await
            {
                Ok(_) => created.push(d.name.clone()),
                Err(e) if e.status() == Some(409) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(created)
    }
}
