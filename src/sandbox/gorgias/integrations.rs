//! HTTP integrations and sidebar widgets of the Gorgias sandbox (contract `gorgias.md` §9,
//! `gorgias-support.md` §1): `GET|POST /api/integrations`, `GET|PUT|DELETE
//! /api/integrations/{id}`, `GET|POST /api/widgets`, `GET|PUT|DELETE /api/widgets/{id}`, with
//! Gorgias's validation (only `http` integrations are creatable, methods and content types,
//! widget `type` and `context` enums, a `wrapper` template root, `integration_id` for `http`
//! widgets), and the firing of an integration's triggers the way Gorgias does: the URL and
//! headers rendered over the ticket, a server-side call, the JSON answer stored under
//! `customer.integrations["<id>"]`.
//!
//! Must never be more forgiving than the contract: unknown enums are 400s.

use super::paging::{self, Query};
use super::reply;
use super::time;
use super::{GorgiasSandbox, lock};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"];
const REQUEST_TYPES: &[&str] = &["application/json", "application/x-www-form-urlencoded"];
const WIDGET_TYPES: &[&str] = &[
    "bigcommerce",
    "custom",
    "customer_external_data",
    "http",
    "magento2",
    "recharge",
    "shopify",
    "smile",
    "standalone",
    "yotpo",
    "klaviyo",
    "stripe",
    "woocommerce",
];
const CONTEXTS: &[&str] = &["ticket", "customer", "user"];
/// Trigger keys, in the request schema's hyphen spelling (underscores are accepted too:
/// which one the server echoes is UNCONFIRMED, so both are kept as sent).
const TRIGGERS: &[&str] = &[
    "ticket-created",
    "ticket-updated",
    "ticket-message-created",
    "ticket-self-unsnoozed",
    "ticket-message-failed",
    "ticket-assignment-updated",
    "ticket-status-updated",
    "ticket-handed-over",
];

/// Integrations and widgets of the account.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: i64,
    pub integrations: BTreeMap<i64, Value>,
    pub widgets: BTreeMap<i64, Value>,
}

impl Registry {
    fn alloc(&mut self) -> i64 {
        self.next_id += 1;
        9000 + self.next_id
    }
}

fn parse(body: &Bytes) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(reply::error(
            StatusCode::BAD_REQUEST,
            "The request body must be a JSON object.",
        )),
    }
}

fn one_of(v: Option<&Value>, allowed: &[&str], field: &str) -> Result<(), Response> {
    match v {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(()),
        Some(_) => Err(reply::invalid_field(
            "Invalid data.",
            field,
            &format!("Must be one of: {}.", allowed.join(", ")),
        )),
    }
}

/// Checks an integration body; `partial` for PUT (name still required).
fn check_integration(b: &Map<String, Value>, partial: bool) -> Result<(), Response> {
    if b.get("name")
        .and_then(Value::as_str)
        .is_none_or(|n| n.trim().is_empty())
    {
        return Err(reply::invalid_field(
            "Invalid data.",
            "name",
            "Missing data for required field.",
        ));
    }
    match b.get("type").and_then(Value::as_str) {
        Some("http") => {}
        None if partial => {}
        _ => {
            return Err(reply::invalid_field(
                "Invalid data.",
                "type",
                "Only integrations of type http can be created.",
            ));
        }
    }
    let Some(http) = b.get("http") else {
        return if partial {
            Ok(())
        } else {
            Err(reply::invalid_field(
                "Invalid data.",
                "http",
                "Missing data for required field.",
            ))
        };
    };
    let Some(http) = http.as_object() else {
        return Err(reply::invalid_field(
            "Invalid data.",
            "http",
            "Not a valid mapping type.",
        ));
    };
    if http
        .get("url")
        .and_then(Value::as_str)
        .is_none_or(|u| u.trim().is_empty())
    {
        return Err(reply::invalid_field(
            "Invalid data.",
            "http.url",
            "Missing data for required field.",
        ));
    }
    one_of(http.get("method"), METHODS, "http.method")?;
    one_of(
        http.get("request_content_type"),
        REQUEST_TYPES,
        "http.request_content_type",
    )?;
    one_of(
        http.get("response_content_type"),
        &["application/json"],
        "http.response_content_type",
    )?;
    if let Some(t) = http.get("triggers") {
        let Some(t) = t.as_object() else {
            return Err(reply::invalid_field(
                "Invalid data.",
                "http.triggers",
                "Not a valid mapping type.",
            ));
        };
        for k in t.keys() {
            if !TRIGGERS.contains(&k.replace('_', "-").as_str()) {
                return Err(reply::invalid_field(
                    "Invalid data.",
                    "http.triggers",
                    &format!("Unknown trigger {k}."),
                ));
            }
        }
    }
    if let Some(h) = http.get("headers")
        && !(h.is_null()
            || h.as_object()
                .is_some_and(|m| m.values().all(Value::is_string)))
    {
        return Err(reply::invalid_field(
            "Invalid data.",
            "http.headers",
            "Not a valid mapping of strings.",
        ));
    }
    Ok(())
}

fn check_widget(b: &Map<String, Value>, reg: &Registry) -> Result<(), Response> {
    match b.get("type").and_then(Value::as_str) {
        Some(t) if WIDGET_TYPES.contains(&t) => {}
        _ => {
            return Err(reply::invalid_field(
                "Invalid data.",
                "type",
                &format!("Must be one of: {}.", WIDGET_TYPES.join(", ")),
            ));
        }
    }
    let root_ok = b.get("template").is_some_and(|t| {
        t.get("type").and_then(Value::as_str) == Some("wrapper")
            && t.get("widgets").is_some_and(Value::is_array)
    });
    if !root_ok {
        return Err(reply::invalid_field(
            "Invalid data.",
            "template",
            "The template root must be {\"type\": \"wrapper\", \"widgets\": [...]}.",
        ));
    }
    one_of(b.get("context"), CONTEXTS, "context")?;
    if let Some(o) = b.get("order")
        && o.as_i64().is_none_or(|n| n < 0)
    {
        return Err(reply::invalid_field(
            "Invalid data.",
            "order",
            "Must be greater than or equal to 0.",
        ));
    }
    let integration = b.get("integration_id").and_then(Value::as_i64);
    if b.get("type").and_then(Value::as_str) == Some("http") {
        match integration {
            Some(id) if reg.integrations.contains_key(&id) => {}
            Some(_) => {
                return Err(reply::invalid_field(
                    "Invalid data.",
                    "integration_id",
                    "Integration not found.",
                ));
            }
            None => {
                return Err(reply::invalid_field(
                    "Invalid data.",
                    "integration_id",
                    "An http widget needs its integration.",
                ));
            }
        }
    }
    Ok(())
}

fn now() -> String {
    time::format(chrono::Utc::now())
}

fn integration_object(id: i64, b: &Map<String, Value>, created: &str, underscores: bool) -> Value {
    let mut http = b.get("http").cloned().unwrap_or_else(|| json!({}));
    if underscores && let Some(t) = http.get_mut("triggers").and_then(Value::as_object_mut) {
        *t = t
            .iter()
            .map(|(k, v)| (k.replace('-', "_"), v.clone()))
            .collect();
    }
    if let Some(h) = http.as_object_mut() {
        h.insert("id".into(), json!(id));
        h.entry("method").or_insert(json!("GET"));
        h.entry("headers").or_insert(json!({}));
        h.entry("form").or_insert(Value::Null);
        h.entry("request_content_type")
            .or_insert(json!("application/json"));
        h.entry("response_content_type")
            .or_insert(json!("application/json"));
        h.entry("triggers").or_insert(json!({}));
    }
    json!({
        "id": id, "name": b.get("name"), "type": "http",
        "description": b.get("description").cloned().unwrap_or(Value::Null),
        "created_datetime": created, "updated_datetime": now(), "deactivated_datetime": null,
        "http": http, "uri": format!("/api/integrations/{id}/"),
    })
}

fn widget_object(id: i64, b: &Map<String, Value>, created: &str) -> Value {
    let context = match b.get("context").and_then(Value::as_str) {
        Some("user") => "customer",
        Some(c) => c,
        None => "ticket",
    };
    json!({
        "id": id, "type": b.get("type"), "context": context,
        "integration_id": b.get("integration_id").cloned().unwrap_or(Value::Null),
        "app_id": b.get("app_id").cloned().unwrap_or(Value::Null),
        "order": b.get("order").cloned().unwrap_or(json!(0)),
        "template": b.get("template"),
        "created_datetime": created, "updated_datetime": now(),
        "deactivated_datetime": b.get("deactivated_datetime").cloned().unwrap_or(Value::Null),
        "uri": format!("/api/widgets/{id}/"),
    })
}

fn list(items: Vec<Value>, raw: Option<&str>, base: &str, orders: &[&str]) -> Response {
    let q = Query::parse(raw);
    let params = match paging::list_params(&q, orders, "created_datetime:asc") {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut rows: Vec<(paging::Key, Value)> = items
        .into_iter()
        .map(|v| {
            let id = v.get("id").and_then(Value::as_i64).unwrap_or(0);
            ((id, id), v)
        })
        .collect();
    if params.desc {
        rows.reverse();
    }
    let page = paging::page(rows, &params);
    let uri = paging::list_uri(base, raw);
    reply::json(
        StatusCode::OK,
        paging::envelope(page.items, &uri, page.prev, page.next),
    )
}

fn created_status(sb: &GorgiasSandbox) -> StatusCode {
    StatusCode::from_u16(sb.config().integration_create_status).unwrap_or(StatusCode::CREATED)
}

pub async fn list_integrations(
    State(sb): State<GorgiasSandbox>,
    RawQuery(raw): RawQuery,
) -> Response {
    let q = Query::parse(raw.as_deref());
    let kind = q.get("type").map(str::to_owned);
    let items: Vec<Value> = sb
        .registry()
        .integrations
        .values()
        .filter(|i| kind.as_deref().is_none_or(|k| i["type"] == k))
        .cloned()
        .collect();
    list(
        items,
        raw.as_deref(),
        "/api/integrations",
        &["created_datetime:asc", "created_datetime:desc"],
    )
}

pub async fn create_integration(State(sb): State<GorgiasSandbox>, body: Bytes) -> Response {
    let b = match parse(&body).and_then(|b| check_integration(&b, false).map(|_| b)) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut reg = sb.registry();
    let id = reg.alloc();
    let obj = integration_object(id, &b, &now(), sb.config().echo_triggers_with_underscores);
    reg.integrations.insert(id, obj.clone());
    reply::json(created_status(&sb), obj)
}

pub async fn get_integration(State(sb): State<GorgiasSandbox>, Path(id): Path<i64>) -> Response {
    match sb.registry().integrations.get(&id) {
        Some(v) => reply::json(StatusCode::OK, v.clone()),
        None => reply::not_found(),
    }
}

pub async fn update_integration(
    State(sb): State<GorgiasSandbox>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let b = match parse(&body).and_then(|b| check_integration(&b, true).map(|_| b)) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut reg = sb.registry();
    let Some(old) = reg.integrations.get(&id).cloned() else {
        return reply::not_found();
    };
    let mut merged = old.as_object().cloned().unwrap_or_default();
    for (k, v) in b {
        merged.insert(k, v);
    }
    let created = old["created_datetime"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let obj = integration_object(
        id,
        &merged,
        &created,
        sb.config().echo_triggers_with_underscores,
    );
    reg.integrations.insert(id, obj.clone());
    reply::json(StatusCode::OK, obj)
}

pub async fn delete_integration(State(sb): State<GorgiasSandbox>, Path(id): Path<i64>) -> Response {
    match sb.registry().integrations.remove(&id) {
        Some(_) => reply::empty(StatusCode::NO_CONTENT),
        None => reply::not_found(),
    }
}

pub async fn list_widgets(State(sb): State<GorgiasSandbox>, RawQuery(raw): RawQuery) -> Response {
    let q = Query::parse(raw.as_deref());
    let integration = q.get("integration_id").and_then(|s| s.parse::<i64>().ok());
    let items: Vec<Value> = sb
        .registry()
        .widgets
        .values()
        .filter(|w| integration.is_none_or(|i| w["integration_id"] == i))
        .cloned()
        .collect();
    list(
        items,
        raw.as_deref(),
        "/api/widgets",
        &["created_datetime:asc", "created_datetime:desc"],
    )
}

pub async fn create_widget(State(sb): State<GorgiasSandbox>, body: Bytes) -> Response {
    let b = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut reg = sb.registry();
    if let Err(r) = check_widget(&b, &reg) {
        return r;
    }
    let id = reg.alloc();
    let obj = widget_object(id, &b, &now());
    reg.widgets.insert(id, obj.clone());
    reply::json(StatusCode::CREATED, obj)
}

pub async fn get_widget(State(sb): State<GorgiasSandbox>, Path(id): Path<i64>) -> Response {
    match sb.registry().widgets.get(&id) {
        Some(v) => reply::json(StatusCode::OK, v.clone()),
        None => reply::not_found(),
    }
}

pub async fn update_widget(
    State(sb): State<GorgiasSandbox>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    let b = match parse(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut reg = sb.registry();
    let Some(old) = reg.widgets.get(&id).cloned() else {
        return reply::not_found();
    };
    let mut merged = old.as_object().cloned().unwrap_or_default();
    for (k, v) in b {
        merged.insert(k, v);
    }
    if let Err(r) = check_widget(&merged, &reg) {
        return r;
    }
    let created = old["created_datetime"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let obj = widget_object(id, &merged, &created);
    reg.widgets.insert(id, obj.clone());
    reply::json(StatusCode::OK, obj)
}

pub async fn delete_widget(State(sb): State<GorgiasSandbox>, Path(id): Path<i64>) -> Response {
    match sb.registry().widgets.remove(&id) {
        Some(_) => reply::empty(StatusCode::NO_CONTENT),
        None => reply::not_found(),
    }
}

/// Renders `{{ a.b.c }}` (and `a.b[-1]`-free paths) over `ctx`; `encode` percent-encodes
/// each substituted value (for URLs).
pub fn render_template(template: &str, ctx: &Value, encode: bool) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let path = after[..end].trim();
        let v = path
            .split('.')
            .try_fold(ctx, |v, k| v.get(k))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            })
            .unwrap_or_default();
        if encode {
            out.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        } else {
            out.push_str(&v);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// What firing an integration did.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    /// The rendered URL called.
    pub url: String,
    /// The status answered (0 when the call failed).
    pub status: u16,
    /// The JSON stored under `customer.integrations[id]` (`None` when not stored).
    pub stored: Option<Value>,
}

impl GorgiasSandbox {
    pub(crate) fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        lock(&self.inner.registry)
    }

    /// The integrations and widgets stored now (as `GET` would show them).
    pub fn integrations_and_widgets(&self) -> (Vec<Value>, Vec<Value>) {
        let reg = self.registry();
        (
            reg.integrations.values().cloned().collect(),
            reg.widgets.values().cloned().collect(),
        )
    }

    /// Fires `trigger` of integration `id` for `ticket` (an object with `id` and `customer`),
    /// as Gorgias does: nothing when the trigger is off; otherwise the URL and headers are
    /// rendered over `{"ticket": …}`, the call is made, and a 2xx JSON object answer is
    /// stored under the ticket customer's `integrations["<id>"]` (anything else is ignored,
    /// UNCONFIRMED). Errors name what is missing.
    pub async fn fire_integration(
        &self,
        id: i64,
        trigger: &str,
        ticket: Value,
    ) -> Result<Fired, String> {
        let integ = self
            .registry()
            .integrations
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("no integration {id}"))?;
        let http = &integ["http"];
        let on = |k: &str| http["triggers"][k].as_bool() == Some(true);
        if !on(trigger) && !on(&trigger.replace('-', "_")) && !on(&trigger.replace('_', "-")) {
            return Err(format!("trigger {trigger} is off for integration {id}"));
        }
        let customer_id = ticket
            .pointer("/customer/id")
            .and_then(Value::as_i64)
            .ok_or("the ticket has no customer.id")?;
        let ctx = json!({ "ticket": ticket });
        let url = render_template(http["url"].as_str().unwrap_or_default(), &ctx, true);
        let method = http["method"].as_str().unwrap_or("GET");
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = reqwest::Client::new().request(method, &url);
        for (k, v) in http["headers"].as_object().into_iter().flatten() {
            req = req.header(
                k,
                render_template(v.as_str().unwrap_or_default(), &ctx, false),
            );
        }
        let (status, body) = match req.send().await {
            Ok(r) => {
                let s = r.status().as_u16();
                (s, r.bytes().await.ok())
            }
            Err(_) => (0, None),
        };
        let stored = body
            .filter(|_| (200..300).contains(&status))
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .filter(Value::is_object);
        if let Some(v) = &stored {
            let mut st = self.state();
            let target = st
                .lookup(customer_id)
                .map(|c| c.id)
                .map_err(|_| format!("no customer {customer_id}"))?;
            if let Some(c) = st.customers.get_mut(&target) {
                c.integrations.insert(id.to_string(), v.clone());
            }
        }
        Ok(Fired {
            url,
            status,
            stored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_render_nested_paths_and_encode_for_urls() {
        let ctx = json!({"ticket": {"id": 5, "customer": {"email": "a+b@x.test", "id": 9}}});
        assert_eq!(
            render_template(
                "https://h/c?email={{ticket.customer.email}}&t={{ ticket.id }}",
                &ctx,
                true
            ),
            "https://h/c?email=a%2Bb%40x.test&t=5"
        );
        assert_eq!(render_template("S {{ticket.nope}}", &ctx, false), "S ");
    }

    #[test]
    fn validation_refuses_non_http_and_bad_roots() {
        let b = |v: Value| v.as_object().cloned().unwrap();
        assert!(
            check_integration(
                &b(json!({"name": "n", "type": "shopify", "http": {"url": "u"}})),
                false
            )
            .is_err()
        );
        assert!(
            check_integration(
                &b(json!({"name": "n", "type": "http", "http": {"url": "u", "method": "TRACE"}})),
                false
            )
            .is_err()
        );
        assert!(check_integration(&b(json!({"name": "n", "type": "http", "http": {"url": "u", "triggers": {"ticket_created": true}}})), false).is_ok());
        let reg = Registry::default();
        assert!(
            check_widget(
                &b(json!({"type": "custom", "template": {"type": "card", "widgets": []}})),
                &reg
            )
            .is_err()
        );
        assert!(check_widget(&b(json!({"type": "custom", "context": "page", "template": {"type": "wrapper", "widgets": []}})), &reg).is_err());
        assert!(
            check_widget(
                &b(json!({"type": "http", "template": {"type": "wrapper", "widgets": []}})),
                &reg
            )
            .is_err()
        );
        assert!(
            check_widget(
                &b(json!({"type": "custom", "template": {"type": "wrapper", "widgets": []}})),
                &reg
            )
            .is_ok()
        );
    }
}
