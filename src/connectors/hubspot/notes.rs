//! HubSpot notes for closed Gorgias tickets (issue 14, `[support] notes`; contract
//! `gorgias-support.md` §2.1): the note key property (`tether setup`), the notes written by
//! `POST …/objects/{V}/notes/batch/upsert` with `idProperty` set to that unique property (so a
//! note written twice is one note), their association to the contact
//! (`POST /crm/associations/{V}/notes/contacts/batch/create`, legacy
//! `/crm/v4/associations/notes/contacts/batch/create`), and the association type read from
//! the labels (`GET /crm/associations/{V}/notes/contacts/labels`, legacy `/crm/v4/…/labels`),
//! read once per client and cached. The dated association `batch/create` path follows the
//! dated labels and `batch/read` paths (UNCONFIRMED on its own).
//!
//! Must never decide which tickets get a note or what it says: that is
//! [`crate::support::notes`].

use super::http::Lane;
use super::types::PropertyDefinition;
use super::{HubspotClient, HubspotError, Result, wire};
use crate::support::notes::{
    AssociationLabel, NOTE_GROUP, NOTE_KEY_LABEL, NOTE_KEY_PROPERTY, note_to_contact_type,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Most inputs of one batch call.
const BATCH_MAX: usize = 100;

/// The note property `tether setup` creates: a unique text value per note.
pub fn note_key_definition() -> PropertyDefinition {
    PropertyDefinition {
        name: NOTE_KEY_PROPERTY.to_owned(),
        label: NOTE_KEY_LABEL.to_owned(),
        kind: "string".to_owned(),
        field_type: "text".to_owned(),
        group_name: NOTE_GROUP.0.to_owned(),
        description: Some(
            "The Gorgias ticket this note tells of (tether writes one note per ticket)".to_owned(),
        ),
        has_unique_value: true,
        form_field: false,
    }
}

/// The association API path `…/notes/contacts/{rest}` in the client's API version.
fn association_path(client: &HubspotClient, rest: &[&str]) -> Vec<String> {
    let v = client.paths().version();
    let mut segs: Vec<String> = if v.is_legacy() {
        vec!["crm".into(), "v4".into(), "associations".into()]
    } else {
        vec!["crm".into(), "associations".into(), v.as_str().into()]
    };
    segs.extend(["notes".into(), "contacts".into()]);
    segs.extend(rest.iter().map(|s| (*s).to_owned()));
    segs
}

/// Decodes a labels answer (`{results: [{category, typeId, label}]}`). Pure.
pub fn decode_labels(body: &Value) -> Result<Vec<AssociationLabel>> {
    let results = body
        .get("results")
        .and_then(Value::as_array)
        .ok_or_else(|| HubspotError::Decode {
            endpoint: "associations/labels".into(),
            detail: "no `results` list".to_owned().into(),
        })?;
    Ok(results
        .iter()
        .filter_map(|r| {
            Some(AssociationLabel {
                category: r.get("category")?.as_str()?.to_owned(),
                type_id: r.get("typeId")?.as_i64()?,
                label: r.get("label").and_then(Value::as_str).map(str::to_owned),
            })
        })
        .collect())
}

impl HubspotClient {
    /// Creates the note key property (and its group) when missing; returns whether it was
    /// created. Never alters an existing property.
    pub async fn ensure_note_key_property(&self) -> Result<bool> {
        self.ensure_property_groups_of("notes", &[NOTE_GROUP])
            .await?;
        let made = self
            .ensure_properties_of("notes", &[note_key_definition()])
            .await?;
        Ok(!made.is_empty())
    }

    /// The association type of a note → contact association, from HubSpot's labels (read
    /// once, then cached for the client's life).
    pub async fn note_contact_association(&self) -> Result<(String, i64)> {
        if let Some(t) = self.note_assoc_cached() {
            return Ok(t);
        }
        let path = association_path(self, &["labels"]);
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        let url = self.t.url(&segs, &[])?;
        let a = self.t.send(Method::GET, url, None, Lane::Burst).await?;
        let labels = decode_labels(&a.body)?;
        let t = note_to_contact_type(&labels).ok_or_else(|| HubspotError::Decode {
            endpoint: "associations/notes/contacts/labels".into(),
            detail: "no HubSpot-defined note → contact association type listed"
                .to_owned()
                .into(),
        })?;
        self.set_note_assoc_cache(t.clone());
        Ok(t)
    }

    /// Writes `notes` (unique key, properties) by `batch/upsert` on the key property, 100 a
    /// call: a note whose key exists is updated, never made twice. Returns each key's note id.
    pub async fn upsert_notes(
        &self,
        notes: &[(String, BTreeMap<String, String>)],
    ) -> Result<BTreeMap<String, String>> {
        let url = self
            .t
            .url(&self.paths().objects("notes", &["batch", "upsert"]), &[])?;
        let mut out = BTreeMap::new();
        for chunk in notes.chunks(BATCH_MAX) {
            let inputs: Vec<Value> = chunk
                .iter()
                .map(|(key, props)| json!({"idProperty": NOTE_KEY_PROPERTY, "id": key, "properties": props}))
                .collect();
            let a = self
                .t
                .send(
                    Method::POST,
                    url.clone(),
                    Some(&json!({"inputs": inputs})),
                    Lane::Burst,
                )
                .await?;
            let resp = wire::batch("notes/batch/upsert", a.body)?;
            for e in &resp.errors {
                tracing::warn!(category = %e.category, "a HubSpot note was refused");
            }
            for r in resp.results {
                if let Some(k) = r.properties.get(NOTE_KEY_PROPERTY).and_then(Value::as_str) {
                    out.insert(k.to_owned(), r.id);
                }
            }
        }
        Ok(out)
    }

    /// Associates each (note id, contact id) of `pairs` with association type `kind`
    /// (category, type id), 100 a call. Associating twice is harmless. Returns the note ids
    /// HubSpot refused (207 `errors[]` naming them; all of a chunk when none is named).
    pub async fn associate_notes(
        &self,
        pairs: &[(String, String)],
        kind: &(String, i64),
    ) -> Result<Vec<String>> {
        let path = association_path(self, &["batch", "create"]);
        let segs: Vec<&str> = path.iter().map(String::as_str).collect();
        let url = self.t.url(&segs, &[])?;
        let mut refused = vec![];
        for chunk in pairs.chunks(BATCH_MAX) {
            let inputs: Vec<Value> = chunk
                .iter()
                .map(|(note, contact)| {
                    json!({"from": {"id": note}, "to": {"id": contact},
                        "types": [{"associationCategory": kind.0, "associationTypeId": kind.1}]})
                })
                .collect();
            let a = self
                .t
                .send(
                    Method::POST,
                    url.clone(),
                    Some(&json!({"inputs": inputs})),
                    Lane::Burst,
                )
                .await?;
            let errors = a
                .body
                .get("errors")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if errors.is_empty() {
                continue;
            }
            let named: Vec<String> = chunk
                .iter()
                .filter(|(note, _)| errors.iter().any(|e| e.to_string().contains(note.as_str())))
                .map(|(note, _)| note.clone())
                .collect();
            if named.is_empty() {
                refused.extend(chunk.iter().map(|(n, _)| n.clone()));
            } else {
                refused.extend(named);
            }
        }
        Ok(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_decode_and_skip_junk() {
        let body = json!({"results": [
            {"category": "HUBSPOT_DEFINED", "typeId": 202, "label": null},
            {"category": "USER_DEFINED", "typeId": 7, "label": "Follow-up"},
            {"typeId": "x"}
        ]});
        let l = decode_labels(&body).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].type_id, 202);
        assert_eq!(l[0].label, None);
        assert_eq!(l[1].label.as_deref(), Some("Follow-up"));
        assert!(decode_labels(&json!({"x": 1})).is_err());
    }

    #[test]
    fn the_note_key_is_a_unique_text_property() {
        let d = note_key_definition();
        assert!(d.has_unique_value);
        assert_eq!(d.name, NOTE_KEY_PROPERTY);
        assert_eq!(d.group_name, NOTE_GROUP.0);
    }
}
