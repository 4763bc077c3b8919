//! Gorgias HTTP integrations and sidebar widgets (contract `gorgias.md` §9,
//! `gorgias-support.md` §1): list (every page), create, update and delete, as typed data.
//! Used by `tether gorgias install-widget` / `uninstall-widget`.
//!
//! Must never decide what to install (that is `crate::sidebar::install`, pure) and never
//! print the secret header an integration carries (its `headers` stay a [`Secret`] map).

use super::dto::ListPage;
use super::{GorgiasClient, GorgiasError, Result, fail};
use crate::secret::Secret;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// An HTTP integration as listed. Trigger keys are kept as the server spelt them
/// (hyphens in the request schema, underscores on the object page: UNCONFIRMED which).
#[derive(Debug, Clone, PartialEq)]
pub struct Integration {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub url: Option<String>,
    pub method: Option<String>,
    /// Header names only: the values may be secrets and are never kept.
    pub header_names: Vec<String>,
    /// Triggers switched on.
    pub triggers: Vec<String>,
}

/// What tether asks Gorgias to store as an HTTP integration.
#[derive(Debug, Clone)]
pub struct IntegrationSpec {
    pub name: String,
    pub description: String,
    /// The URL, with Gorgias `{{ }}` templates.
    pub url: String,
    /// Headers Gorgias sends with each call (the card secret among them).
    pub headers: BTreeMap<String, Secret>,
    /// Trigger keys (`ticket-created`, …) switched on.
    pub triggers: Vec<String>,
}

impl IntegrationSpec {
    /// The request body of `POST`/`PUT /api/integrations`.
    pub fn body(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.expose().to_owned())))
            .collect();
        let triggers: serde_json::Map<String, Value> = self
            .triggers
            .iter()
            .map(|t| (t.clone(), Value::Bool(true)))
            .collect();
        json!({
            "name": self.name,
            "type": "http",
            "description": self.description,
            "http": {
                "url": self.url,
                "method": "GET",
                "request_content_type": "application/json",
                "response_content_type": "application/json",
                "headers": headers,
                "form": null,
                "triggers": triggers,
            }
        })
    }
}

/// A sidebar widget as listed (widgets have no name: tether recognises its own by type,
/// integration and template, see `crate::sidebar::install`).
#[derive(Debug, Clone, PartialEq)]
pub struct Widget {
    pub id: i64,
    pub kind: String,
    pub context: Option<String>,
    pub integration_id: Option<i64>,
    pub order: Option<i64>,
    pub template: Value,
}

/// What tether asks Gorgias to store as a widget.
#[derive(Debug, Clone, PartialEq)]
pub struct WidgetSpec {
    pub kind: String,
    pub context: String,
    pub integration_id: Option<i64>,
    pub order: i64,
    pub template: Value,
}

impl WidgetSpec {
    /// The request body of `POST`/`PUT /api/widgets`.
    pub fn body(&self) -> Value {
        let mut b = json!({
            "type": self.kind,
            "context": self.context,
            "order": self.order,
            "template": self.template,
        });
        if let Some(id) = self.integration_id {
            b["integration_id"] = json!(id);
        }
        b
    }
}

fn decode_integration(v: &Value) -> Option<Integration> {
    let http = v.get("http");
    let s = |x: Option<&Value>| x.and_then(Value::as_str).map(str::to_owned);
    Some(Integration {
        id: v.get("id")?.as_i64()?,
        name: s(v.get("name")).unwrap_or_default(),
        kind: s(v.get("type")).unwrap_or_default(),
        url: s(http.and_then(|h| h.get("url"))),
        method: s(http.and_then(|h| h.get("method"))),
        header_names: http
            .and_then(|h| h.get("headers"))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default(),
        triggers: http
            .and_then(|h| h.get("triggers"))
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter(|(_, on)| on.as_bool() == Some(true))
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn decode_widget(v: &Value) -> Option<Widget> {
    Some(Widget {
        id: v.get("id")?.as_i64()?,
        kind: v.get("type")?.as_str()?.to_owned(),
        context: v.get("context").and_then(Value::as_str).map(str::to_owned),
        integration_id: v.get("integration_id").and_then(Value::as_i64),
        order: v.get("order").and_then(Value::as_i64),
        template: v.get("template").cloned().unwrap_or(Value::Null),
    })
}

impl GorgiasClient {
    /// Every page of a list endpoint, decoded item by item (an item that cannot be read is
    /// an error: tether must not install a duplicate because it misread a list).
    async fn list_all<T>(
        &self,
        op: &'static str,
        path: &str,
        extra: &[(&str, String)],
        decode: fn(&Value) -> Option<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query: Vec<(&str, String)> = extra.to_vec();
            query.push(("limit", "100".to_owned()));
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let ans = self.t.send(op, Method::GET, path, &query, None).await?;
            if !ans.status.is_success() {
                return Err(fail(op, None, &ans));
            }
            let page: ListPage = ans.json(op)?;
            for item in &page.data {
                out.push(decode(item).ok_or_else(|| GorgiasError::Decode {
                    op,
                    reason: format!("a listed item lacks its id or type: {item}").into(),
                })?);
            }
            match page.next_cursor() {
                Some(next) if !page.data.is_empty() => cursor = Some(next.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// `GET /api/integrations?type=http`, every page.
    pub async fn http_integrations(&self) -> Result<Vec<Integration>> {
        self.list_all(
            "list_integrations",
            "/api/integrations",
            &[("type", "http".to_owned())],
            decode_integration,
        )
        .await
    }

    /// `POST /api/integrations` (or `PUT /api/integrations/{id}` when `id` is given).
    pub async fn put_integration(&self, id: Option<i64>, spec: &IntegrationSpec) -> Result<i64> {
        let (op, method, path) = match id {
            None => (
                "create_integration",
                Method::POST,
                "/api/integrations".into(),
            ),
            Some(id) => (
                "update_integration",
                Method::PUT,
                format!("/api/integrations/{id}"),
            ),
        };
        let ans = self
            .t
            .send(op, method, &path, &[], Some(&spec.body()))
            .await?;
        if !ans.status.is_success() {
            return Err(fail(op, id, &ans));
        }
        let v: Value = ans.json(op)?;
        decode_integration(&v)
            .map(|i| i.id)
            .ok_or_else(|| GorgiasError::Decode {
                op,
                reason: "the answer has no integration id".to_owned().into(),
            })
    }

    /// `GET /api/widgets`, every page.
    pub async fn widgets(&self) -> Result<Vec<Widget>> {
        self.list_all("list_widgets", "/api/widgets", &[], decode_widget)
            .await
    }

    /// `POST /api/widgets` (or `PUT /api/widgets/{id}` when `id` is given).
    pub async fn put_widget(&self, id: Option<i64>, spec: &WidgetSpec) -> Result<i64> {
        let (op, method, path) = match id {
            None => ("create_widget", Method::POST, "/api/widgets".into()),
            Some(id) => ("update_widget", Method::PUT, format!("/api/widgets/{id}")),
        };
        let ans = self
            .t
            .send(op, method, &path, &[], Some(&spec.body()))
            .await?;
        if !ans.status.is_success() {
            return Err(fail(op, id, &ans));
        }
        let v: Value = ans.json(op)?;
        decode_widget(&v)
            .map(|w| w.id)
            .ok_or_else(|| GorgiasError::Decode {
                op,
                reason: "the answer has no widget id".to_owned().into(),
            })
    }

    /// `DELETE /api/integrations/{id}` (204; a 404 counts as already gone).
    pub async fn delete_integration(&self, id: i64) -> Result<()> {
        self.delete_setup("delete_integration", format!("/api/integrations/{id}"), id)
            .await
    }

    /// `DELETE /api/widgets/{id}` (204; a 404 counts as already gone).
    pub async fn delete_widget(&self, id: i64) -> Result<()> {
        self.delete_setup("delete_widget", format!("/api/widgets/{id}"), id)
            .await
    }

    async fn delete_setup(&self, op: &'static str, path: String, id: i64) -> Result<()> {
        let ans = self.t.send(op, Method::DELETE, &path, &[], None).await?;
        if ans.status.is_success() || ans.status.as_u16() == 404 {
            Ok(())
        } else {
            Err(fail(op, Some(id), &ans))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_body_carries_the_secret_header_and_triggers() {
        let spec = IntegrationSpec {
            name: "n".into(),
            description: "d".into(),
            url: "https://x/gorgias/card?email={{ticket.customer.email}}".into(),
            headers: [("X-Secret".to_owned(), Secret::new("s3"))].into(),
            triggers: vec!["ticket-created".into()],
        };
        let b = spec.body();
        assert_eq!(b["type"], "http");
        assert_eq!(b["http"]["headers"]["X-Secret"], "s3");
        assert_eq!(b["http"]["triggers"]["ticket-created"], true);
        assert!(!format!("{spec:?}").contains("s3"));
    }

    #[test]
    fn listed_integration_keeps_header_names_only() {
        let v = json!({"id": 4, "name": "n", "type": "http",
            "http": {"url": "u", "headers": {"X-Secret": "s3"},
                     "triggers": {"ticket_created": true, "ticket_updated": false}}});
        let i = decode_integration(&v).unwrap();
        assert_eq!(i.header_names, vec!["X-Secret"]);
        assert_eq!(i.triggers, vec!["ticket_created"]);
        assert!(!format!("{i:?}").contains("s3"));
    }
}
