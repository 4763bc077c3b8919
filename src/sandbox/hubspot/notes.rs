//! Notes in the HubSpot sandbox (contract `gorgias-support.md` §2.1, issue 14's optional
//! notes): note properties and their groups (`…/properties/{V|v3}/notes[/groups]`), batch
//! upsert by a unique property (`…/objects/{V|v3}/notes/batch/upsert`, `idProperty` must name
//! a note property with `hasUniqueValue`; `hs_timestamp` required on create), association
//! labels (`GET /crm/associations/{V}/notes/contacts/labels`, legacy `/crm/v4/…`) and batch
//! association create (`POST …/notes/contacts/batch/create`, the type must be one the labels
//! list; associating twice is a no-op).
//!
//! The note → contact association type is [`SandboxConfig::note_contact_type_id`]
//! (HubSpot's docs give 202; a test sets another, or changes it with
//! `set_note_contact_type`, to check the client reads the labels).
//! Must never be reached but over HTTP, and never accept what the contract refuses.
//!
//! [`SandboxConfig::note_contact_type_id`]: super::SandboxConfig::note_contact_type_id

use super::HubspotSandbox;
use super::errors::ApiError;
use super::properties::{PropertyCreate, PropertyDef, valid_name, validate_create};
use super::routes::parse_body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

const DATED: &[&str] = &["2026-03", "2026-09"];
const MAX_INPUTS: usize = 100;
/// A user-defined label every portal of the sandbox has, so a client picking any listed
/// type rather than the plain one is caught.
pub const USER_LABEL_TYPE_ID: i64 = 9_001;

/// One note.
#[derive(Debug, Clone)]
pub struct Note {
    pub properties: BTreeMap<String, String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Notes, their properties, and their associations to contacts.
#[derive(Debug, Default)]
pub struct Notes {
    next_id: u64,
    pub props: BTreeMap<String, PropertyDef>,
    pub groups: BTreeMap<String, Value>,
    pub notes: BTreeMap<u64, Note>,
    /// (note id, contact id, association type id).
    pub associations: BTreeSet<(u64, u64, i64)>,
    /// The HubSpot-defined note → contact type the labels list.
    pub contact_type_id: i64,
}

impl Notes {
    pub fn new(contact_type_id: i64) -> Self {
        let groups = [("noteinformation", "Note information")]
            .into_iter()
            .map(|(n, l)| {
                (
                    n.to_owned(),
                    json!({"name": n, "label": l, "displayOrder": 0, "archived": false}),
                )
            })
            .collect();
        Notes {
            next_id: 0,
            groups,
            contact_type_id,
            ..Notes::default()
        }
    }
}

/// The routes, legacy and dated.
pub fn routes() -> Router<HubspotSandbox> {
    let mut r = Router::new()
        .route("/crm/v3/objects/notes/batch/upsert", post(upsert))
        .route(
            "/crm/v3/properties/notes",
            get(list_props).post(create_prop),
        )
        .route(
            "/crm/v3/properties/notes/groups",
            get(list_groups).post(create_group),
        )
        .route("/crm/v4/associations/notes/contacts/labels", get(labels))
        .route(
            "/crm/v4/associations/notes/contacts/batch/create",
            post(associate),
        );
    for v in DATED {
        r = r
            .route(
                &format!("/crm/objects/{v}/notes/batch/upsert"),
                post(upsert),
            )
            .route(
                &format!("/crm/properties/{v}/notes"),
                get(list_props).post(create_prop),
            )
            .route(
                &format!("/crm/properties/{v}/notes/groups"),
                get(list_groups).post(create_group),
            )
            .route(
                &format!("/crm/associations/{v}/notes/contacts/labels"),
                get(labels),
            )
            .route(
                &format!("/crm/associations/{v}/notes/contacts/batch/create"),
                post(associate),
            );
    }
    r
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn list_props(State(sb): State<HubspotSandbox>) -> Response {
    let n = sb.notes_state();
    let results: Vec<Value> = n.props.values().map(PropertyDef::to_json).collect();
    Json(json!({"results": results})).into_response()
}

async fn create_prop(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    let req: PropertyCreate = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let def = match validate_create(req, chrono::Utc::now()) {
        Ok(d) => d,
        Err(msg) => return ApiError::validation(msg).into_response(),
    };
    let mut n = sb.notes_state();
    if !n.groups.contains_key(&def.group_name) {
        return ApiError::validation(format!("Property group {} does not exist", def.group_name))
            .into_response();
    }
    if n.props.contains_key(&def.name) {
        return ApiError::new(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            format!("A property named '{}' already exists.", def.name),
        )
        .into_response();
    }
    let out = def.to_json();
    n.props.insert(def.name.clone(), def);
    (StatusCode::CREATED, Json(out)).into_response()
}

async fn list_groups(State(sb): State<HubspotSandbox>) -> Response {
    let n = sb.notes_state();
    let results: Vec<Value> = n.groups.values().cloned().collect();
    Json(json!({"results": results})).into_response()
}

#[derive(Deserialize)]
struct GroupCreate {
    name: Option<String>,
    label: Option<String>,
}

async fn create_group(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    let req: GroupCreate = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let (Some(name), Some(label)) = (req.name, req.label) else {
        return ApiError::validation("name and label are required").into_response();
    };
    if !valid_name(&name) {
        return ApiError::validation(format!("{name:?} is not a valid group name")).into_response();
    }
    let mut n = sb.notes_state();
    if n.groups.contains_key(&name) {
        return ApiError::new(
            StatusCode::CONFLICT,
            "OBJECT_ALREADY_EXISTS",
            format!("A property group named '{name}' already exists."),
        )
        .into_response();
    }
    let g = json!({"name": name, "label": label, "displayOrder": -1, "archived": false});
    n.groups.insert(name, g.clone());
    (StatusCode::CREATED, Json(g)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpsertInput {
    id_property: Option<String>,
    id: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct UpsertBody {
    inputs: Vec<UpsertInput>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn note_json(id: u64, n: &Note, new: bool) -> Value {
    json!({"id": id.to_string(), "properties": n.properties, "createdAt": n.created_at,
        "updatedAt": n.updated_at, "archived": false, "new": new})
}

fn envelope(results: Vec<Value>, errors: Vec<Value>, ok: StatusCode) -> Response {
    let mut out = json!({"status": "COMPLETE", "results": results,
        "startedAt": now(), "completedAt": now()});
    if errors.is_empty() {
        return (ok, Json(out)).into_response();
    }
    out["numErrors"] = json!(errors.len());
    out["errors"] = json!(errors);
    (StatusCode::MULTI_STATUS, Json(out)).into_response()
}

fn item_error(message: String, context: Value) -> Value {
    json!({"status": "error", "category": "VALIDATION_ERROR", "message": message,
        "context": context, "errors": [], "links": {}})
}

async fn upsert(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    let req: UpsertBody = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if req.inputs.len() > MAX_INPUTS {
        return ApiError::validation(format!("at most {MAX_INPUTS} inputs")).into_response();
    }
    let mut n = sb.notes_state();
    let (mut results, mut errors) = (vec![], vec![]);
    for input in req.inputs {
        let (Some(prop), Some(key)) = (input.id_property, input.id) else {
            return ApiError::validation("every input needs idProperty and id").into_response();
        };
        if !n.props.get(&prop).is_some_and(|d| d.has_unique_value) {
            return ApiError::validation(format!("{prop} is not a unique-value property of notes"))
                .into_response();
        }
        let mut props: BTreeMap<String, String> = input
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), text(v)))
            .collect();
        props.insert(prop.clone(), key.clone());
        let found = n
            .notes
            .iter()
            .find(|(_, note)| note.properties.get(&prop) == Some(&key))
            .map(|(id, _)| *id);
        match found {
            Some(id) => {
                let note = n.notes.get_mut(&id).expect("found above");
                note.properties.extend(props);
                note.updated_at = now();
                results.push(note_json(id, note, false));
            }
            None if !props.contains_key("hs_timestamp") => errors.push(item_error(
                "hs_timestamp is required to create a note".into(),
                json!({"id": [key]}),
            )),
            None => {
                n.next_id += 1;
                let id = 800_000 + n.next_id;
                let note = Note {
                    properties: props,
                    created_at: now(),
                    updated_at: now(),
                };
                results.push(note_json(id, &note, true));
                n.notes.insert(id, note);
            }
        }
    }
    envelope(results, errors, StatusCode::OK)
}

/// The labels of note → contact associations in this sandbox.
fn label_list(sb: &HubspotSandbox) -> Vec<Value> {
    let type_id = sb.notes_state().contact_type_id;
    vec![
        json!({"category": "USER_DEFINED", "typeId": USER_LABEL_TYPE_ID, "label": "Support follow-up"}),
        json!({"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null}),
    ]
}

async fn labels(State(sb): State<HubspotSandbox>) -> Response {
    Json(json!({"results": label_list(&sb)})).into_response()
}

fn id_num(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

async fn associate(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    let req: Map<String, Value> = match parse_body(&body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let Some(inputs) = req.get("inputs").and_then(Value::as_array) else {
        return ApiError::validation("inputs is required").into_response();
    };
    if inputs.len() > MAX_INPUTS {
        return ApiError::validation(format!("at most {MAX_INPUTS} inputs")).into_response();
    }
    let known: Vec<(String, i64)> = label_list(&sb)
        .iter()
        .filter_map(|l| Some((l["category"].as_str()?.to_owned(), l["typeId"].as_i64()?)))
        .collect();
    let contacts: Vec<Option<u64>> = {
        let s = sb.store();
        inputs
            .iter()
            .map(|i| {
                let raw = id_num(i.pointer("/to/id"))?;
                s.resolve(raw)
            })
            .collect()
    };
    let mut n = sb.notes_state();
    let (mut results, mut errors) = (vec![], vec![]);
    for (i, contact) in inputs.iter().zip(contacts) {
        let note = id_num(i.pointer("/from/id")).filter(|id| n.notes.contains_key(id));
        let types: Vec<(String, i64)> = i
            .get("types")
            .and_then(Value::as_array)
            .map(|ts| {
                ts.iter()
                    .filter_map(|t| {
                        Some((
                            t.get("associationCategory")?.as_str()?.to_owned(),
                            t.get("associationTypeId")?.as_i64()?,
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (Some(note), Some(contact)) = (note, contact) else {
            errors.push(item_error(
                "the note or the contact does not exist".into(),
                json!({"fromObjectId": [text(i.pointer("/from/id").unwrap_or(&Value::Null))]}),
            ));
            continue;
        };
        if types.is_empty() || !types.iter().all(|t| known.contains(t)) {
            errors.push(item_error(
                format!("invalid association type for notes to contacts: {types:?}"),
                json!({"fromObjectId": [note.to_string()]}),
            ));
            continue;
        }
        for (_, type_id) in &types {
            n.associations.insert((note, contact, *type_id));
        }
        results.push(json!({"fromObjectTypeId": "0-46", "fromObjectId": note,
            "toObjectTypeId": "0-1", "toObjectId": contact,
            "labels": types.iter().map(|_| Value::Null).collect::<Vec<_>>()}));
    }
    envelope(results, errors, StatusCode::CREATED)
}

impl HubspotSandbox {
    /// Changes the HubSpot-defined note → contact association type the labels list.
    pub fn set_note_contact_type(&self, type_id: i64) {
        self.notes_state().contact_type_id = type_id;
    }

    /// Every note: `{id, properties, contacts: [[contact id, type id], …]}`, by id.
    pub fn notes(&self) -> Vec<Value> {
        let n = self.notes_state();
        n.notes
            .iter()
            .map(|(id, note)| {
                let contacts: Vec<Value> = n
                    .associations
                    .iter()
                    .filter(|(nid, _, _)| nid == id)
                    .map(|(_, c, t)| json!([c.to_string(), t]))
                    .collect();
                json!({"id": id.to_string(), "properties": note.properties, "contacts": contacts})
            })
            .collect()
    }
}
