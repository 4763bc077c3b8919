//! Reads of a contact's CRM context for the Gorgias sidebar card: the contact's companies
//! and deals through the associations API, those companies and deals by batch read, and
//! owners by id. Same transport, budget and retries as every other HubSpot call.
//!
//! Paths are built by [`context_path`] alone, from the client's `hubspot.api_version`
//! (dated forms, or the legacy `/crm/v3/…` and `/crm/v4/associations/…` forms on `v3`).
//! Must never make a sync decision and never write.

use super::http::Lane;
use super::paths::ApiVersion;
use super::types::{Contact, WireObject, decode};
use super::{HubspotClient, HubspotError, Result, wire};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Largest batch of ids one read or associations call takes.
pub const CONTEXT_BATCH_MAX: usize = 100;
/// The association type id of a contact's primary company (HUBSPOT_DEFINED).
pub const PRIMARY_COMPANY_TYPE_ID: i64 = 1;

/// Which CRM call a path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextCall<'a> {
    /// `POST …/{object}/batch/read` for `companies` or `deals`.
    BatchRead(&'a str),
    /// `POST …associations…/contacts/{to}/batch/read`.
    Associations(&'a str),
    /// `GET …/owners/{id}`.
    Owner(&'a str),
}

/// The path segments of `call` in API `version` (legacy forms on `v3`, else the dated ones).
/// The dated owners path (`/crm/owners/{V}/…`) follows the dated pattern but is UNCONFIRMED
/// (no dated owners page was found).
pub fn context_path(version: ApiVersion, call: ContextCall<'_>) -> Vec<String> {
    let v = version.as_str().to_owned();
    let legacy = version.is_legacy();
    let segs: Vec<String> = match call {
        ContextCall::BatchRead(object) if legacy => {
            vec!["crm".into(), "v3".into(), "objects".into(), object.into()]
        }
        ContextCall::BatchRead(object) => vec!["crm".into(), "objects".into(), v, object.into()],
        ContextCall::Associations(to) if legacy => vec![
            "crm".into(),
            "v4".into(),
            "associations".into(),
            "contacts".into(),
            to.into(),
        ],
        ContextCall::Associations(to) => vec![
            "crm".into(),
            "associations".into(),
            v,
            "contacts".into(),
            to.into(),
        ],
        ContextCall::Owner(id) if legacy => {
            return vec!["crm".into(), "v3".into(), "owners".into(), id.into()];
        }
        ContextCall::Owner(id) => return vec!["crm".into(), "owners".into(), v, id.into()],
    };
    let mut segs = segs;
    segs.push("batch".into());
    segs.push("read".into());
    segs
}

/// One associated record of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Associated {
    pub id: String,
    /// `associationTypes[].typeId` (1 = primary company).
    pub type_ids: Vec<i64>,
}

/// An owner as the sidebar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
}

impl Owner {
    /// "First Last", else the e-mail, else the id.
    pub fn display_name(&self) -> String {
        let name: Vec<&str> = [&self.first_name, &self.last_name]
            .into_iter()
            .filter_map(|s| s.as_deref())
            .filter(|s| !s.trim().is_empty())
            .collect();
        if !name.is_empty() {
            name.join(" ")
        } else {
            self.email.clone().unwrap_or_else(|| self.id.clone())
        }
    }
}

#[derive(Debug, Deserialize)]
struct AssocBatch {
    #[serde(default)]
    results: Vec<AssocResult>,
}

#[derive(Debug, Deserialize)]
struct AssocResult {
    from: AssocFrom,
    #[serde(default)]
    to: Vec<AssocTo>,
}

#[derive(Debug, Deserialize)]
struct AssocFrom {
    id: Value,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssocTo {
    to_object_id: Value,
    #[serde(default)]
    association_types: Vec<AssocType>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssocType {
    #[serde(default)]
    type_id: Option<i64>,
}

fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Decodes an associations batch answer: contact id → associated records (pure).
pub fn decode_associations(body: Value) -> Result<BTreeMap<String, Vec<Associated>>> {
    let b: AssocBatch = decode("associations/batch/read", body)?;
    let mut out: BTreeMap<String, Vec<Associated>> = BTreeMap::new();
    for r in b.results {
        let Some(from) = id_text(&r.from.id) else {
            continue;
        };
        let list = out.entry(from).or_default();
        for t in r.to {
            if let Some(id) = id_text(&t.to_object_id) {
                list.push(Associated {
                    id,
                    type_ids: t
                        .association_types
                        .iter()
                        .filter_map(|a| a.type_id)
                        .collect(),
                });
            }
        }
    }
    Ok(out)
}

/// Decodes one owner (pure).
pub fn decode_owner(body: Value) -> Result<Owner> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct W {
        id: Value,
        #[serde(default)]
        first_name: Option<String>,
        #[serde(default)]
        last_name: Option<String>,
        #[serde(default)]
        email: Option<String>,
    }
    let w: W = decode("owners/{id}", body)?;
    Ok(Owner {
        id: id_text(&w.id).ok_or_else(|| HubspotError::Decode {
            endpoint: "owners/{id}".into(),
            detail: "owner id is neither a string nor a number"
                .to_owned()
                .into(),
        })?,
        first_name: w.first_name,
        last_name: w.last_name,
        email: w.email,
    })
}

impl HubspotClient {
    /// The records of type `to` (`companies`, `deals`) associated with each contact, in one
    /// call per 100 contacts. Contacts with none are absent from the map.
    pub async fn associations(
        &self,
        contact_ids: &[String],
        to: &str,
    ) -> Result<BTreeMap<String, Vec<Associated>>> {
        let path = context_path(self.paths().version(), ContextCall::Associations(to));
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        let url = self.t.url(&segs, &[])?;
        let mut out = BTreeMap::new();
        for chunk in contact_ids.chunks(CONTEXT_BATCH_MAX) {
            let inputs: Vec<Value> = chunk.iter().map(|id| json!({"id": id})).collect();
            let a = self
                .t
                .send(
                    Method::POST,
                    url.clone(),
                    Some(&json!({"inputs": inputs})),
                    Lane::Burst,
                )
                .await?;
            out.extend(decode_associations(a.body)?);
        }
        Ok(out)
    }

    /// `companies` or `deals` by id with `properties`, 100 per call; missing ids are left out.
    pub async fn read_objects(
        &self,
        object: &str,
        ids: &[String],
        properties: &[&str],
    ) -> Result<Vec<Contact>> {
        let path = context_path(self.paths().version(), ContextCall::BatchRead(object));
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        let url = self.t.url(&segs, &[])?;
        let mut out = vec![];
        for chunk in ids.chunks(CONTEXT_BATCH_MAX) {
            let inputs: Vec<Value> = chunk.iter().map(|id| json!({"id": id})).collect();
            let body = json!({"inputs": inputs, "properties": properties});
            let a = self
                .t
                .send(Method::POST, url.clone(), Some(&body), Lane::Burst)
                .await?;
            let resp = wire::batch("objects/batch/read", a.body)?;
            out.extend(
                resp.results
                    .into_iter()
                    .map(|w: WireObject| Contact::from(w)),
            );
        }
        Ok(out)
    }

    /// One owner by id; `Ok(None)` on 404 (a deactivated owner may be gone).
    pub async fn owner(&self, id: &str) -> Result<Option<Owner>> {
        let path = context_path(self.paths().version(), ContextCall::Owner(id));
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        let url = self.t.url(&segs, &[])?;
        match self.t.send(Method::GET, url, None, Lane::Burst).await {
            Ok(a) => Ok(Some(decode_owner(a.body)?)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_and_legacy_paths() {
        let p = |v, c| context_path(v, c).join("/");
        assert_eq!(
            p(ApiVersion::V2026_09, ContextCall::BatchRead("companies")),
            "crm/objects/2026-09/companies/batch/read"
        );
        assert_eq!(
            p(ApiVersion::V3, ContextCall::BatchRead("deals")),
            "crm/v3/objects/deals/batch/read"
        );
        assert_eq!(
            p(ApiVersion::V2026_09, ContextCall::Associations("deals")),
            "crm/associations/2026-09/contacts/deals/batch/read"
        );
        assert_eq!(
            p(ApiVersion::V3, ContextCall::Associations("companies")),
            "crm/v4/associations/contacts/companies/batch/read"
        );
        assert_eq!(
            p(ApiVersion::V2026_09, ContextCall::Owner("7")),
            "crm/owners/2026-09/7"
        );
        assert_eq!(
            p(ApiVersion::V3, ContextCall::Owner("7")),
            "crm/v3/owners/7"
        );
    }

    #[test]
    fn associations_decode_numbers_and_strings_and_skip_junk() {
        let body = json!({"status": "COMPLETE", "results": [
            {"from": {"id": "11"}, "to": [
                {"toObjectId": 5, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 1, "label": "Primary"}]},
                {"toObjectId": "6", "associationTypes": []},
                {"toObjectId": null}
            ]},
            {"from": {"id": null}, "to": []}
        ]});
        let m = decode_associations(body).unwrap();
        assert_eq!(m["11"].len(), 2);
        assert_eq!(m["11"][0].type_ids, vec![1]);
        assert_eq!(m["11"][1].id, "6");
        assert!(decode_associations(json!({"results": "x"})).is_err());
    }

    #[test]
    fn owner_name_falls_back_to_email_then_id() {
        let o = decode_owner(json!({"id": 41, "email": "o@x.test"})).unwrap();
        assert_eq!(o.display_name(), "o@x.test");
        let o = decode_owner(json!({"id": "41", "firstName": "Ada", "lastName": "L"})).unwrap();
        assert_eq!(o.display_name(), "Ada L");
    }
}
