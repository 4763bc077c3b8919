//! The CRM context around contacts in the HubSpot sandbox, for the Gorgias sidebar card:
//! owners (`GET /crm/v3/owners/{id}`, dated `/crm/owners/{V}/{id}` UNCONFIRMED), companies
//! and deals (`POST …/objects/{V|v3}/{companies|deals}/batch/read`) and contact
//! associations (`POST /crm/v4/associations/contacts/{to}/batch/read`, dated
//! `/crm/associations/{V}/contacts/{to}/batch/read`), seeded from `generate::crm_context`.
//!
//! Follows the contract's shapes: batch envelopes with `status`, 207 + `errors[]` for ids
//! not found, 100 inputs at most, numeric `toObjectId`, `associationTypes` with the primary
//! company as `typeId` 1. Whether an associations read answers 207 for a contact with no
//! associations is UNCONFIRMED (`SandboxConfig::associations_missing_as_errors`; off: 200,
//! the contact left out). Must never be reached but over HTTP.

use super::HubspotSandbox;
use super::errors::ApiError;
use super::routes::parse_body;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// API versions served in the dated form.
const DATED: &[&str] = &["2026-03", "2026-09"];
const MAX_INPUTS: usize = 100;
/// `typeId` of contact → primary company, contact → company (unlabeled), contact → deal.
pub const PRIMARY_COMPANY: i64 = 1;
pub const CONTACT_TO_COMPANY: i64 = 279;
pub const CONTACT_TO_DEAL: i64 = 4;

/// One association of a contact: (`companies` | `deals`, object id, type ids).
pub type Association = (&'static str, String, Vec<i64>);

/// Owners, companies, deals and the contacts' associations.
#[derive(Debug, Default)]
pub struct CrmObjects {
    next_id: u64,
    pub owners: BTreeMap<String, Value>,
    /// `companies` / `deals` → id → properties.
    pub objects: BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, String>>>,
    /// contact id → its associations.
    pub associations: BTreeMap<String, Vec<Association>>,
}

impl CrmObjects {
    fn alloc(&mut self) -> String {
        self.next_id += 1;
        (700_000 + self.next_id).to_string()
    }
}

fn kind(object: &str) -> Option<&'static str> {
    match object {
        "companies" => Some("companies"),
        "deals" => Some("deals"),
        _ => None,
    }
}

/// The routes, legacy and dated.
pub fn routes() -> Router<HubspotSandbox> {
    let mut r = Router::new()
        .route("/crm/v3/objects/companies/batch/read", post(read_companies))
        .route("/crm/v3/objects/deals/batch/read", post(read_deals))
        .route(
            "/crm/v4/associations/contacts/{to}/batch/read",
            post(associations),
        )
        .route("/crm/v3/owners/{id}", get(owner));
    for v in DATED {
        r = r
            .route(
                &format!("/crm/objects/{v}/companies/batch/read"),
                post(read_companies),
            )
            .route(
                &format!("/crm/objects/{v}/deals/batch/read"),
                post(read_deals),
            )
            .route(
                &format!("/crm/associations/{v}/contacts/{{to}}/batch/read"),
                post(associations),
            )
            .route(&format!("/crm/owners/{v}/{{id}}"), get(owner));
    }
    r
}

#[derive(Deserialize)]
struct Input {
    id: Value,
}

#[derive(Deserialize)]
struct ReadBody {
    inputs: Vec<Input>,
    #[serde(default)]
    properties: Vec<String>,
}

fn id_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn envelope(results: Vec<Value>, errors: Vec<Value>) -> Response {
    let mut out = json!({"status": "COMPLETE", "results": results,
        "startedAt": now(), "completedAt": now()});
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        out["numErrors"] = json!(errors.len());
        out["errors"] = Value::Array(errors);
        StatusCode::MULTI_STATUS
    };
    (status, axum::Json(out)).into_response()
}

async fn read_companies(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    read(sb, "companies", body)
}

async fn read_deals(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    read(sb, "deals", body)
}

fn read(sb: HubspotSandbox, object: &'static str, body: Bytes) -> Response {
    let b: ReadBody = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if b.inputs.len() > MAX_INPUTS {
        return ApiError::validation(format!(
            "The maximum number of inputs supported in a batch request is {MAX_INPUTS}."
        ))
        .into_response();
    }
    let crm = sb.crm();
    let table = crm.objects.get(object);
    let (mut results, mut missing) = (vec![], vec![]);
    for input in &b.inputs {
        let id = id_of(&input.id);
        match table.and_then(|t| t.get(&id)) {
            Some(props) => {
                let mut shown: BTreeMap<&str, Value> = BTreeMap::new();
                shown.insert("hs_object_id", json!(id));
                for p in &b.properties {
                    shown.insert(p, props.get(p).map_or(Value::Null, |v| json!(v)));
                }
                results.push(
                    json!({"id": id, "properties": shown, "createdAt": "2026-01-05T10:00:00.000Z",
                    "updatedAt": "2026-11-20T10:00:00.000Z", "archived": false}),
                );
            }
            None => missing.push(id),
        }
    }
    let errors = if missing.is_empty() {
        vec![]
    } else {
        vec![
            ApiError::new(
                StatusCode::NOT_FOUND,
                "OBJECT_NOT_FOUND",
                format!(
                    "Could not get some {} objects, they may be deleted or not exist. Check that ids are valid.",
                    if object == "deals" { "DEAL" } else { "COMPANY" }
                ),
            )
            .with_context("ids", missing)
            .into_standard_error(),
        ]
    };
    envelope(results, errors)
}

async fn associations(
    State(sb): State<HubspotSandbox>,
    Path(to): Path<String>,
    body: Bytes,
) -> Response {
    let Some(to) = kind(&to) else {
        return ApiError::validation(format!("Unable to infer object type from: {to}"))
            .into_response();
    };
    let b: ReadBody = match parse_body(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if b.inputs.len() > MAX_INPUTS {
        return ApiError::validation(format!(
            "The maximum number of inputs supported in a batch request is {MAX_INPUTS}."
        ))
        .into_response();
    }
    let requested: Vec<String> = b.inputs.iter().map(|i| id_of(&i.id)).collect();
    // A merged-away contact id reads as its survivor.
    let resolved: Vec<(String, Option<String>)> = requested
        .iter()
        .map(|id| (id.clone(), sb.resolve_contact(id)))
        .collect();
    let crm = sb.crm();
    let mut results = vec![];
    let mut none = vec![];
    for (asked, live) in resolved {
        let Some(live) = live else {
            none.push(asked);
            continue;
        };
        let to_list: Vec<Value> = crm
            .associations
            .get(&live)
            .into_iter()
            .flatten()
            .filter(|(k, _, _)| *k == to)
            .map(|(_, id, type_ids)| {
                let types: Vec<Value> = type_ids
                    .iter()
                    .map(|t| {
                        let label = (*t == PRIMARY_COMPANY).then_some("Primary");
                        json!({"category": "HUBSPOT_DEFINED", "typeId": t, "label": label})
                    })
                    .collect();
                json!({"toObjectId": id.parse::<u64>().unwrap_or(0), "associationTypes": types})
            })
            .collect();
        if to_list.is_empty() {
            none.push(asked);
        } else {
            results.push(json!({"from": {"id": asked}, "to": to_list}));
        }
    }
    let errors = if sb.config().associations_missing_as_errors && !none.is_empty() {
        vec![
            ApiError::new(
                StatusCode::NOT_FOUND,
                "OBJECT_NOT_FOUND",
                format!("No {to} is associated with the given contacts."),
            )
            .with_context("fromObjectId", none)
            .into_standard_error(),
        ]
    } else {
        vec![]
    };
    envelope(results, errors)
}

async fn owner(State(sb): State<HubspotSandbox>, Path(id): Path<String>) -> Response {
    match sb.crm().owners.get(&id) {
        Some(o) => axum::Json(o.clone()).into_response(),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            format!("Owner {id} not found"),
        )
        .into_response(),
    }
}

impl HubspotSandbox {
    pub(crate) fn crm(&self) -> std::sync::MutexGuard<'_, CrmObjects> {
        super::lock(&self.inner.crm)
    }

    fn resolve_contact(&self, id: &str) -> Option<String> {
        let s = self.store();
        s.resolve(id.trim().parse().ok()?).map(|n| n.to_string())
    }

    /// Adds an owner; returns its id.
    pub fn seed_owner(&self, first: &str, last: &str, email: &str) -> String {
        let mut crm = self.crm();
        let id = crm.alloc();
        let user_id = 9_000_000 + crm.next_id;
        crm.owners.insert(
            id.clone(),
            json!({"id": id, "email": email, "type": "PERSON", "firstName": first,
                   "lastName": last, "userId": user_id, "archived": false,
                   "createdAt": "2025-01-01T00:00:00.000Z", "updatedAt": "2025-01-01T00:00:00.000Z"}),
        );
        id
    }

    /// Adds a company or a deal (`object` = `companies` | `deals`); returns its id.
    pub fn seed_object(
        &self,
        object: &str,
        properties: BTreeMap<String, String>,
    ) -> Option<String> {
        let object = kind(object)?;
        let mut crm = self.crm();
        let id = crm.alloc();
        crm.objects
            .entry(object)
            .or_default()
            .insert(id.clone(), properties);
        Some(id)
    }

    /// Associates a contact with a company (`primary` or unlabeled) or a deal.
    pub fn associate(&self, contact_id: &str, object: &str, object_id: &str, primary: bool) {
        let Some(object) = kind(object) else { return };
        // A primary company association also carries the unlabeled one.
        let type_ids = match (object, primary) {
            ("companies", true) => vec![PRIMARY_COMPANY, CONTACT_TO_COMPANY],
            ("companies", false) => vec![CONTACT_TO_COMPANY],
            _ => vec![CONTACT_TO_DEAL],
        };
        let mut crm = self.crm();
        let list = crm.associations.entry(contact_id.to_owned()).or_default();
        list.retain(|(k, id, _)| !(*k == object && id == object_id));
        list.push((object, object_id.to_owned(), type_ids));
    }

    /// Seeds the CRM context of every live contact (see [`HubspotSandbox::seed_crm_context`]).
    pub fn seed_crm_context_all(&self, seed: u64) -> usize {
        let ids: Vec<String> = self
            .store()
            .contacts
            .values()
            .filter(|c| c.archived_at.is_none())
            .map(|c| c.id.to_string())
            .collect();
        self.seed_crm_context(&ids, seed);
        ids.len()
    }

    /// Seeds owners, companies and deals around `contact_ids` from
    /// [`crate::generate::crm_context`], setting each contact's `hubspot_owner_id`.
    pub fn seed_crm_context(&self, contact_ids: &[String], seed: u64) {
        let g = crate::generate::crm_context(contact_ids.len(), seed);
        let owners: Vec<String> = g
            .owners
            .iter()
            .map(|(f, l, e)| self.seed_owner(f, l, e))
            .collect();
        let companies: Vec<Option<String>> = g
            .companies
            .iter()
            .map(|(name, domain)| {
                self.seed_object(
                    "companies",
                    [
                        ("name".to_owned(), name.clone()),
                        ("domain".to_owned(), domain.clone()),
                    ]
                    .into(),
                )
            })
            .collect();
        for (cid, ctx) in contact_ids.iter().zip(&g.contacts) {
            if let Some(o) = ctx.owner.and_then(|i| owners.get(i)) {
                let _ =
                    self.edit_as_person(cid, [("hubspot_owner_id".to_owned(), o.clone())].into());
            }
            if let Some(Some(company)) = ctx.company.and_then(|i| companies.get(i)) {
                self.associate(cid, "companies", company, true);
            }
            for (name, stage, amount, close) in &ctx.deals {
                let closed = stage.starts_with("closed");
                let props: BTreeMap<String, String> = [
                    ("dealname", name.as_str()),
                    ("dealstage", stage.as_str()),
                    ("amount", amount.as_str()),
                    ("closedate", close.as_str()),
                    ("hs_is_closed", if closed { "true" } else { "false" }),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
                if let Some(d) = self.seed_object("deals", props) {
                    self.associate(cid, "deals", &d, false);
                }
            }
        }
    }
}
