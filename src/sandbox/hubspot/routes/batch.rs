//! Batch routes (contract §4): read, create, update, upsert, archive; at most 100 inputs (50
//! with history), 400 on duplicate ids, 207 with per-input errors, `objectWriteTraceId`
//! echoed, upsert `new`. Must never apply part of a batch that the contract says fails whole.

use super::super::HubspotSandbox;
use super::super::config::UpsertEmailMode;
use super::super::errors::{ApiError, PropertyProblem, property_errors};
use super::super::properties::iso;
use super::super::rules::{self, BatchMode, Violation};
use super::super::store::{Source, Store, WriteError};
use super::super::version::PathVersion;
use super::contacts::string_props;
use super::{param, parse_body, query_pairs};
use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

const MAX_INPUTS: usize = 100;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Input {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    id_property: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, Value>,
    #[serde(default)]
    object_write_trace_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    #[serde(default)]
    inputs: Vec<Input>,
    #[serde(default)]
    properties: Option<Vec<String>>,
    #[serde(default)]
    properties_with_history: Vec<String>,
    #[serde(default)]
    id_property: Option<String>,
}

fn parse(body: &Bytes, max: usize) -> Result<Batch, ApiError> {
    let b: Batch = parse_body(body)?;
    if b.inputs.len() > max {
        // Exact text UNCONFIRMED.
        return Err(ApiError::validation(format!(
            "Batch input may contain at most {max} items; got {}",
            b.inputs.len()
        )));
    }
    Ok(b)
}

fn duplicates(keys: impl Iterator<Item = String>) -> Option<ApiError> {
    let mut seen = BTreeSet::new();
    let mut dups = BTreeSet::new();
    for k in keys {
        if !seen.insert(k.clone()) {
            dups.insert(k);
        }
    }
    if dups.is_empty() {
        return None;
    }
    let list: Vec<String> = dups.into_iter().collect();
    Some(
        ApiError::validation(format!(
            "Duplicate IDs found in batch input: [{}]. IDs must be unique",
            list.join(", ")
        ))
        .with_context("ids", list),
    )
}

fn envelope(
    results: Vec<Value>,
    errors: Vec<Value>,
    started: DateTime<Utc>,
    ok: StatusCode,
    reorder: bool,
) -> Response {
    let mut results = results;
    if reorder {
        results.reverse();
    }
    let mut out = json!({
        "status": "COMPLETE",
        "results": results,
        "startedAt": iso(started),
        "completedAt": iso(Utc::now()),
    });
    let status = if errors.is_empty() {
        ok
    } else {
        if let Some(o) = out.as_object_mut() {
            o.insert("numErrors".into(), json!(errors.len()));
            o.insert("errors".into(), Value::Array(errors));
        }
        StatusCode::MULTI_STATUS
    };
    (status, Json(out)).into_response()
}

fn not_found_error(ids: Vec<String>) -> Value {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
    )
    .with_context("ids", ids)
    .into_standard_error()
}

fn traced_error(e: ApiError, trace: &str) -> Value {
    e.with_context("objectWriteTraceId", vec![trace.to_string()])
        .into_standard_error()
}

/// The answer to broken portal rules in a batch (contract `hubspot-2026.md` §2, batch mode
/// UNCONFIRMED): per input (a 207 error keyed by `objectWriteTraceId`) when the mode is
/// per-record and every input of the request carries a trace id; otherwise one 400 for the
/// whole request. `Ok` holds one slot per input, `Some` for a refused one.
fn rule_gate(
    mode: BatchMode,
    every_traced: bool,
    per_input: Vec<Traced<Vec<Violation>>>,
) -> Result<Vec<Option<Value>>, ApiError> {
    if per_input.iter().all(|(_, v)| v.is_empty()) {
        return Ok(vec![None; per_input.len()]);
    }
    if mode == BatchMode::WholeBatch || !every_traced {
        let all: Vec<Violation> = per_input.into_iter().flat_map(|(_, v)| v).collect();
        return Err(rules::refusal(&all));
    }
    Ok(per_input
        .into_iter()
        .map(|(t, v)| match (v.is_empty(), t) {
            (false, Some(t)) => Some(traced_error(rules::refusal(&v), &t)),
            _ => None,
        })
        .collect())
}

fn every_traced(inputs: &[Input]) -> bool {
    inputs.iter().all(|i| i.object_write_trace_id.is_some())
}

fn with_trace(mut v: Value, trace: Option<&String>) -> Value {
    if let (Some(t), Some(o)) = (trace, v.as_object_mut()) {
        o.insert("objectWriteTraceId".into(), json!(t));
    }
    v
}

pub async fn read(
    State(sb): State<HubspotSandbox>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let started = Utc::now();
    let archived = param(&query_pairs(q.as_deref()), "archived") == Some("true");
    let b = match parse_body::<Batch>(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if !b.properties_with_history.is_empty() && b.inputs.len() > 50 {
        return ApiError::validation("The maximum number of inputs supported in a batch request for property histories is 50. Please reduce the number of items and try again").into_response();
    }
    if b.inputs.len() > MAX_INPUTS {
        return parse(&body, MAX_INPUTS)
            .err()
            .map(IntoResponse::into_response)
            .unwrap_or_default();
    }
    let ids: Vec<String> = b
        .inputs
        .iter()
        .map(|i| i.id.clone().unwrap_or_default())
        .collect();
    if let Some(e) = duplicates(ids.iter().cloned()) {
        return e.into_response();
    }
    let by_email = b.id_property.as_deref() == Some("email");
    let s = sb.store();
    let mut results = vec![];
    let mut seen = BTreeSet::new();
    let mut missing = vec![];
    for raw in &ids {
        let found = if archived {
            raw.parse()
                .ok()
                .and_then(|n| s.resolve(n))
                .and_then(|n| s.contacts.get(&n))
                .filter(|c| c.archived_at.is_some())
        } else {
            s.lookup(raw, by_email).and_then(|n| s.contacts.get(&n))
        };
        match found {
            Some(c) => {
                if seen.insert(c.id) {
                    results.push(s.render(c, b.properties.as_deref(), &b.properties_with_history));
                }
            }
            None => missing.push(raw.clone()),
        }
    }
    let errors = if missing.is_empty() {
        vec![]
    } else {
        vec![not_found_error(missing)]
    };
    envelope(
        results,
        errors,
        started,
        StatusCode::OK,
        sb.inner.cfg.reorder_batch_results,
    )
}

/// A value tagged with its input's `objectWriteTraceId`.
type Traced<T> = (Option<String>, T);

/// Splits inputs by validity: with trace ids a bad input becomes a 207 error; without, the
/// whole request fails.
fn triage<T>(
    outcomes: Vec<Traced<Result<T, ApiError>>>,
) -> Result<(Vec<Traced<T>>, Vec<Value>), ApiError> {
    let mut ok = vec![];
    let mut errors = vec![];
    for (trace, r) in outcomes {
        match (r, trace) {
            (Ok(v), t) => ok.push((t, v)),
            (Err(e), Some(t)) => errors.push(traced_error(e, &t)),
            (Err(e), None) => return Err(e),
        }
    }
    Ok((ok, errors))
}

fn invalid(p: Vec<PropertyProblem>) -> ApiError {
    property_errors(&p)
}

pub async fn create(
    State(sb): State<HubspotSandbox>,
    Extension(v): Extension<PathVersion>,
    body: Bytes,
) -> Response {
    let started = Utc::now();
    let b = match parse(&body, MAX_INPUTS) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let traced = every_traced(&b.inputs);
    let inputs: Vec<(Option<String>, BTreeMap<String, String>)> = b
        .inputs
        .into_iter()
        .map(|i| (i.object_write_trace_id, string_props(i.properties)))
        .collect();
    let emails = inputs
        .iter()
        .filter_map(|(_, p)| p.get("email"))
        .filter(|e| !e.is_empty())
        .map(|e| e.trim().to_lowercase());
    if let Some(e) = duplicates(emails) {
        return e.into_response();
    }
    let mut s = sb.store();
    // An e-mail already taken fails the whole batch (first conflict only).
    for (_, p) in &inputs {
        if let Some(e) = p.get("email").filter(|e| !e.is_empty())
            && let Some(owner) = s.emails.get(&e.trim().to_lowercase())
        {
            return ApiError::conflict_existing(*owner).into_response();
        }
    }
    let rules = sb.rules_for(v);
    let broken = inputs
        .iter()
        .map(|(t, p)| {
            let v = rules.as_ref().map(|r| rules::check(r, None, p));
            (t.clone(), v.unwrap_or_default())
        })
        .collect();
    let refused = match rule_gate(sb.portal_rules().batch_mode, traced, broken) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut errors: Vec<Value> = vec![];
    let mut kept = vec![];
    for (input, refusal) in inputs.into_iter().zip(refused) {
        match refusal {
            Some(e) => errors.push(e),
            None => kept.push(input),
        }
    }
    let checked: Vec<Traced<Result<BTreeMap<String, String>, ApiError>>> = kept
        .into_iter()
        .map(|(t, p)| {
            let r = s.validate(&p, None).map(|_| p).map_err(invalid);
            (t, r)
        })
        .collect();
    match triage(checked) {
        Ok((ok, more)) => {
            errors.extend(more);
            create_valid(&sb, &mut s, ok, errors, started)
        }
        Err(e) => e.into_response(),
    }
}

fn create_valid(
    sb: &HubspotSandbox,
    s: &mut Store,
    ok: Vec<Traced<BTreeMap<String, String>>>,
    mut errors: Vec<Value>,
    started: DateTime<Utc>,
) -> Response {
    let (clock, at) = (Utc::now(), Instant::now());
    let mut results = vec![];
    for (trace, props) in ok {
        match s.create(&props, Source::Integration, clock, at, false) {
            Ok(id) => {
                if let Some(c) = s.contacts.get(&id) {
                    let names: Vec<String> = props.keys().cloned().collect();
                    results.push(with_trace(s.render(c, Some(&names), &[]), trace.as_ref()));
                }
            }
            Err(e) => {
                let e = super::contacts::write_error(e);
                match trace {
                    Some(t) => errors.push(traced_error(e, &t)),
                    None => return e.into_response(),
                }
            }
        }
    }
    envelope(
        results,
        errors,
        started,
        StatusCode::CREATED,
        sb.inner.cfg.reorder_batch_results,
    )
}

pub async fn update(
    State(sb): State<HubspotSandbox>,
    Extension(v): Extension<PathVersion>,
    body: Bytes,
) -> Response {
    let started = Utc::now();
    let b = match parse(&body, MAX_INPUTS) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Some(e) = duplicates(b.inputs.iter().map(|i| i.id.clone().unwrap_or_default())) {
        return e.into_response();
    }
    let traced = every_traced(&b.inputs);
    let (clock, at) = (Utc::now(), Instant::now());
    let mut s = sb.store();
    let mut missing = vec![];
    let mut found = vec![];
    for i in b.inputs {
        let raw = i.id.clone().unwrap_or_default();
        let by_email = i.id_property.as_deref() == Some("email");
        match s.lookup(&raw, by_email) {
            Some(target) => {
                found.push((i.object_write_trace_id, target, string_props(i.properties)))
            }
            None => missing.push(raw),
        }
    }
    let rules = sb.rules_for(v);
    let broken = found
        .iter()
        .map(|(t, target, p)| {
            let current = s.contacts.get(target).map(|c| &c.props);
            let v = rules.as_ref().map(|r| rules::check(r, current, p));
            (t.clone(), v.unwrap_or_default())
        })
        .collect();
    let refused = match rule_gate(sb.portal_rules().batch_mode, traced, broken) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut errors = vec![];
    let mut planned = vec![];
    for ((trace, target, props), refusal) in found.into_iter().zip(refused) {
        match refusal {
            Some(e) => errors.push(e),
            None => {
                let r = check_update(&s, target, &props).map(|p| (target, p));
                planned.push((trace, r));
            }
        }
    }
    let ok = match triage(planned) {
        Ok((ok, more)) => {
            errors.extend(more);
            ok
        }
        Err(e) => return e.into_response(),
    };
    let mut results = vec![];
    for (trace, (target, props)) in ok {
        let names: Vec<String> = props.keys().cloned().collect();
        s.apply(target, props, Source::Integration, clock, at);
        if let Some(c) = s.contacts.get(&target) {
            results.push(with_trace(s.render(c, Some(&names), &[]), trace.as_ref()));
        }
    }
    if !missing.is_empty() {
        errors.push(not_found_error(missing));
    }
    envelope(
        results,
        errors,
        started,
        StatusCode::OK,
        sb.inner.cfg.reorder_batch_results,
    )
}

fn check_update(
    s: &Store,
    target: u64,
    props: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let current = s.contacts.get(&target);
    let normalised = s.validate(props, current).map_err(invalid)?;
    if let Some(e) = s.unique_conflict(&normalised, Some(target)) {
        return Err(e);
    }
    if let Some(email) = normalised.get("email").filter(|e| !e.is_empty())
        && let Some(other) = s
            .emails
            .get(&email.to_lowercase())
            .filter(|o| **o != target)
    {
        return Err(ApiError::validation(format!(
            "Cannot set PropertyValueCoordinates{{propertyName=email, value={email}}} on {target}. {other} already has that value."
        )));
    }
    Ok(normalised)
}

pub async fn upsert(
    State(sb): State<HubspotSandbox>,
    Extension(v): Extension<PathVersion>,
    body: Bytes,
) -> Response {
    let started = Utc::now();
    let b = match parse(&body, MAX_INPUTS) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    if let Some(e) = duplicates(
        b.inputs
            .iter()
            .map(|i| i.id.clone().unwrap_or_default().trim().to_lowercase()),
    ) {
        return e.into_response();
    }
    let traced = every_traced(&b.inputs);
    let (clock, at) = (Utc::now(), Instant::now());
    let mode = sb.inner.cfg.upsert_email_mode;
    let mut s = sb.store();
    // Portal rules: the create branch follows the create rules (UNCONFIRMED, assumed),
    // the update branch the conditional ones.
    let rules = sb.rules_for(v);
    let broken = b
        .inputs
        .iter()
        .map(|i| {
            let v = rules.as_ref().map(|r| {
                let mut props = string_props(i.properties.clone());
                if let (Some(p), Some(k)) = (&i.id_property, &i.id) {
                    props.insert(p.clone(), k.clone());
                }
                let current = upsert_target(&s, i).and_then(|t| s.contacts.get(&t));
                rules::check(r, current.map(|c| &c.props), &props)
            });
            (i.object_write_trace_id.clone(), v.unwrap_or_default())
        })
        .collect();
    let refused = match rule_gate(sb.portal_rules().batch_mode, traced, broken) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let mut results = vec![];
    let mut errors = vec![];
    for (i, refusal) in b.inputs.into_iter().zip(refused) {
        if let Some(e) = refusal {
            errors.push(e);
            continue;
        }
        match upsert_one(&mut s, i, mode, clock, at) {
            Ok(v) => results.push(v),
            Err(e) => match e.1 {
                Some(t) => errors.push(traced_error(e.0, &t)),
                None => return e.0.into_response(),
            },
        }
    }
    envelope(
        results,
        errors,
        started,
        StatusCode::OK,
        sb.inner.cfg.reorder_batch_results,
    )
}

/// The live contact an upsert input would update (`None`: it would create one).
fn upsert_target(s: &Store, i: &Input) -> Option<u64> {
    let key = i.id.clone().unwrap_or_default();
    match i.id_property.as_deref()? {
        "email" => s.emails.get(&key.trim().to_lowercase()).copied(),
        p => s
            .contacts
            .values()
            .find(|c| c.archived_at.is_none() && c.props.get(p) == Some(&key))
            .map(|c| c.id),
    }
}

fn upsert_one(
    s: &mut Store,
    i: Input,
    mode: UpsertEmailMode,
    clock: DateTime<Utc>,
    at: Instant,
) -> Result<Value, (ApiError, Option<String>)> {
    let trace = i.object_write_trace_id.clone();
    let fail = |e: ApiError| (e, trace.clone());
    let existing = upsert_target(s, &i);
    let key = i.id.clone().unwrap_or_default();
    let id_prop = i
        .id_property
        .clone()
        .ok_or_else(|| fail(ApiError::validation("idProperty is required for upsert")))?;
    let unique = id_prop == "email" || s.props.get(&id_prop).is_some_and(|d| d.has_unique_value);
    if !unique {
        return Err(fail(ApiError::validation(format!(
            "{id_prop} is not a unique identifier property"
        ))));
    }
    let mut props = string_props(i.properties);
    props.insert(id_prop.clone(), key.clone());

    let names: Vec<String> = props.keys().cloned().collect();
    match existing {
        Some(target) => {
            if id_prop == "email" {
                // The stored e-mail may be the primary or an additional one; keep it as is.
                props.remove("email");
                if mode == UpsertEmailMode::ClearOmitted
                    && let Some(c) = s.contacts.get(&target)
                {
                    let clear: Vec<String> = c
                        .props
                        .keys()
                        .filter(|k| !props.contains_key(*k) && *k != "email")
                        .filter(|k| s.props.get(*k).is_some_and(|d| !d.read_only_value))
                        .cloned()
                        .collect();
                    for k in clear {
                        props.insert(k, String::new());
                    }
                }
            }
            let normalised = check_update(s, target, &props).map_err(fail)?;
            s.apply(target, normalised, Source::Integration, clock, at);
            let c = s
                .contacts
                .get(&target)
                .ok_or_else(|| fail(ApiError::not_found(&key)))?;
            let mut v = with_trace(s.render(c, Some(&names), &[]), trace.as_ref());
            if let Some(o) = v.as_object_mut() {
                o.insert("new".into(), json!(false));
            }
            Ok(v)
        }
        None => {
            let id = s
                .create(&props, Source::Integration, clock, at, false)
                .map_err(|e| {
                    fail(match e {
                        WriteError::Conflict(id) => ApiError::conflict_existing(id),
                        WriteError::Invalid(p) => invalid(p),
                        WriteError::Api(a) => a,
                    })
                })?;
            let c = s
                .contacts
                .get(&id)
                .ok_or_else(|| fail(ApiError::not_found(&key)))?;
            let mut v = with_trace(s.render(c, Some(&names), &[]), trace.as_ref());
            if let Some(o) = v.as_object_mut() {
                o.insert("new".into(), json!(true));
            }
            Ok(v)
        }
    }
}

pub async fn archive(State(sb): State<HubspotSandbox>, body: Bytes) -> Response {
    let b = match parse(&body, MAX_INPUTS) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (clock, at) = (Utc::now(), Instant::now());
    let mut s = sb.store();
    for i in b.inputs {
        if let Some(t) = s.lookup(&i.id.unwrap_or_default(), false) {
            s.archive(t, clock, at);
        }
    }
    StatusCode::NO_CONTENT.into_response()
}
