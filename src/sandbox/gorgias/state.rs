//! The in-memory account: customers, channels, the merge map, the event log, tickets,
//! satisfaction surveys and counters, plus the operations on them. No HTTP here: routes and controls call these
//! methods under the sandbox lock. Must never block or sleep.

use super::listed::{Listed, SurveyOrders, TicketOrders};
use super::time::{self, Clock};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// One customer channel as stored.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub kind: String,
    pub address: String,
    pub preferred: bool,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// One customer as stored.
#[derive(Debug, Clone)]
pub struct StoredCustomer {
    pub id: i64,
    pub external_id: Option<String>,
    pub active: bool,
    pub email: Option<String>,
    pub name: Option<String>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub note: Option<String>,
    pub meta: Value,
    pub data: Value,
    pub data_version: Option<DateTime<Utc>>,
    pub integrations: Map<String, Value>,
    pub custom_fields: Map<String, Value>,
    pub channels: Vec<Channel>,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl StoredCustomer {
    /// `firstname`/`lastname` as Gorgias derives them from `name` (split at the first space).
    fn split_name(&self) -> (String, String) {
        match self.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => match n.split_once(' ') {
                Some((f, l)) => (f.to_owned(), l.trim().to_owned()),
                None => (n.to_owned(), String::new()),
            },
            _ => (String::new(), String::new()),
        }
    }

    /// The compact projection served by the list endpoint (no channels, no integrations).
    pub fn compact(&self) -> Value {
        let (first, last) = self.split_name();
        json!({
            "id": self.id,
            "external_id": self.external_id,
            "active": self.active,
            "email": self.email,
            "name": self.name,
            "firstname": first,
            "lastname": last,
            "language": self.language,
            "timezone": self.timezone,
            "created_datetime": time::format(self.created),
            "updated_datetime": time::format(self.updated),
            "meta": self.meta,
            "data": self.data,
            "note": self.note,
            "custom_fields": self.custom_fields,
        })
    }

    /// The full object served by `GET /api/customers/{id}`.
    pub fn full(&self) -> Value {
        let (first, last) = self.split_name();
        let channels: Vec<Value> = self
            .channels
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "type": c.kind,
                    "address": c.address,
                    "preferred": c.preferred,
                    "created_datetime": time::format(c.created),
                    "updated_datetime": time::format(c.updated),
                    "deleted_datetime": null,
                    "user": {"id": self.id, "name": self.name},
                    "customer": {"id": self.id, "name": self.name},
                })
            })
            .collect();
        json!({
            "id": self.id,
            "external_id": self.external_id,
            "active": self.active,
            "email": self.email,
            "name": self.name,
            "firstname": first,
            "lastname": last,
            "channels": channels,
            "language": self.language,
            "timezone": self.timezone,
            "created_datetime": time::format(self.created),
            "updated_datetime": time::format(self.updated),
            "meta": self.meta,
            "data": self.data,
            "customer": null,
            "integrations": self.integrations,
            "note": self.note,
            "custom_fields": self.custom_fields,
            "external_data": {},
            "ecommerce_data": {},
        })
    }

    fn has_email(&self, email: &str) -> bool {
        self.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email))
            || self
                .channels
                .iter()
                .any(|c| c.kind == "email" && c.address.eq_ignore_ascii_case(email))
    }
}

/// One entry of the events log.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    pub object_id: i64,
    pub created: DateTime<Utc>,
    pub user_id: Option<i64>,
    pub data: Value,
}

impl Event {
    pub fn render(&self) -> Value {
        json!({
            "id": self.id,
            "context": null,
            "created_datetime": time::format(self.created),
            "data": self.data,
            "object_id": self.object_id,
            "object_type": "Customer",
            "type": self.kind,
            "user_id": self.user_id,
            "uri": format!("/api/events/{}/", self.id),
        })
    }
}

/// Calls received per endpoint and responses of note, for tests and benchmarks.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Counters {
    /// `"METHOD /route"` → requests received (before auth and limits).
    pub calls: BTreeMap<String, u64>,
    /// 429 responses sent (bucket and injected).
    pub rate_limited: u64,
    /// 401 responses sent.
    pub unauthorized: u64,
    /// Faults served.
    pub faults: u64,
}

impl Counters {
    /// Calls to one endpoint key, e.g. `"GET /api/customers"`.
    pub fn calls_to(&self, key: &str) -> u64 {
        self.calls.get(key).copied().unwrap_or(0)
    }

    /// Calls to every endpoint.
    pub fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// Why an operation on a customer id failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    NotFound,
    /// The id was merged into this target.
    Merged(i64),
}

/// The whole account.
#[derive(Debug, Default)]
pub struct State {
    pub customers: BTreeMap<i64, StoredCustomer>,
    pub merged_into: HashMap<i64, i64>,
    pub events: Vec<Event>,
    /// Tickets as listed, indexed by their list orders (changed only through `Listed`).
    pub tickets: Listed<TicketOrders>,
    /// Satisfaction surveys (one per ticket), as listed.
    pub surveys: Listed<SurveyOrders>,
    /// Whether moving tickets to a merge's survivor bumps their `updated_datetime`
    /// (UNCONFIRMED; [`super::SandboxConfig::merge_touches_tickets`]).
    pub merge_touches_tickets: bool,
    pub clock: Clock,
    next_id: i64,
    next_channel_id: i64,
    next_event_id: i64,
}

/// Where a change came from: the API user (key holder) or an agent in the UI.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    Api(i64),
    Agent(i64),
}

impl Actor {
    fn user_id(self) -> i64 {
        match self {
            Actor::Api(id) | Actor::Agent(id) => id,
        }
    }
}

fn opt_string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

impl State {
    pub fn new() -> Self {
        Self {
            next_id: 1000,
            next_channel_id: 50_000,
            next_event_id: 1,
            ..Self::default()
        }
    }

    pub fn alloc_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// Finds a live customer, or says whether it was merged or never existed.
    pub fn lookup(&self, id: i64) -> Result<&StoredCustomer, Lookup> {
        if let Some(c) = self.customers.get(&id) {
            return Ok(c);
        }
        match self.merged_into.get(&id) {
            Some(target) => Err(Lookup::Merged(self.final_target(*target))),
            None => Err(Lookup::NotFound),
        }
    }

    fn final_target(&self, mut id: i64) -> i64 {
        let mut hops = 0;
        while let Some(next) = self.merged_into.get(&id) {
            id = *next;
            hops += 1;
            if hops > 64 {
                break;
            }
        }
        id
    }

    /// Whether another customer (not `except`) already uses this e-mail.
    pub fn email_taken(&self, email: &str, except: Option<i64>) -> bool {
        self.customers
            .values()
            .any(|c| Some(c.id) != except && c.has_email(email))
    }

    pub fn record_event(&mut self, kind: &str, object_id: i64, actor: Actor, data: Value) {
        let created = self.clock.tick();
        let id = self.next_event_id;
        self.next_event_id += 1;
        self.events.push(Event {
            id,
            kind: kind.to_owned(),
            object_id,
            created,
            user_id: Some(actor.user_id()),
            data,
        });
    }

    fn build_channels(&mut self, raw: &Value, now: DateTime<Utc>) -> Vec<Channel> {
        let mut out = Vec::new();
        for item in raw.as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let kind = item.get("type").and_then(Value::as_str).unwrap_or("email");
            let address = item.get("address").and_then(Value::as_str).unwrap_or("");
            let preferred = item
                .get("preferred")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            self.next_channel_id += 1;
            out.push(Channel {
                id: self.next_channel_id,
                kind: kind.to_owned(),
                address: address.to_owned(),
                preferred,
                created: now,
                updated: now,
            });
        }
        out
    }

    /// Applies already-validated fields to a customer (partial update: absent keys untouched,
    /// `channels` replaces the list). Keys outside the customer schema are ignored here.
    pub fn apply_fields(&mut self, id: i64, body: &Map<String, Value>, now: DateTime<Utc>) {
        let channels = body
            .get("channels")
            .map(|raw| self.build_channels(raw, now));
        let Some(c) = self.customers.get_mut(&id) else {
            return;
        };
        for (k, v) in body {
            match k.as_str() {
                "email" => c.email = opt_string(v),
                "external_id" => c.external_id = opt_string(v),
                "name" => c.name = opt_string(v),
                "language" => c.language = opt_string(v),
                "timezone" => c.timezone = opt_string(v),
                "note" => c.note = opt_string(v),
                "meta" => c.meta = v.clone(),
                "data" => c.data = v.clone(),
                "active" => c.active = v.as_bool().unwrap_or(true),
                "integrations" => {
                    c.integrations = v.as_object().cloned().unwrap_or_default();
                }
                "custom_fields" => {
                    c.custom_fields = v.as_object().cloned().unwrap_or_default();
                }
                "updated_datetime" => {
                    if let Some(dt) = v.as_str().and_then(time::parse_flexible) {
                        c.updated = dt;
                    }
                }
                "created_datetime" => {
                    if let Some(dt) = v.as_str().and_then(time::parse_flexible) {
                        c.created = dt;
                    }
                }
                _ => {}
            }
        }
        if let Some(ch) = channels {
            c.channels = ch;
        }
        if c.email.is_none()
            && let Some(ch) = c
                .channels
                .iter()
                .find(|ch| ch.kind == "email" && ch.preferred)
                .or_else(|| c.channels.iter().find(|ch| ch.kind == "email"))
        {
            c.email = Some(ch.address.clone());
        }
    }

    /// Creates a customer from validated fields and records `customer-created`.
    pub fn create(&mut self, body: &Map<String, Value>, actor: Actor) -> i64 {
        let now = self.clock.tick();
        let id = self.alloc_id();
        self.customers.insert(
            id,
            StoredCustomer {
                id,
                external_id: None,
                active: true,
                email: None,
                name: None,
                language: None,
                timezone: None,
                note: None,
                meta: Value::Null,
                data: Value::Null,
                data_version: None,
                integrations: Map::new(),
                custom_fields: Map::new(),
                channels: Vec::new(),
                created: now,
                updated: now,
            },
        );
        self.apply_fields(id, body, now);
        self.record_event("customer-created", id, actor, Value::Null);
        id
    }

    /// Partial update; bumps `updated_datetime` and records `customer-updated`.
    pub fn update(&mut self, id: i64, body: &Map<String, Value>, actor: Actor) {
        let now = self.clock.tick();
        if let Some(c) = self.customers.get_mut(&id) {
            c.updated = now;
        }
        self.apply_fields(id, body, now);
        self.record_event("customer-updated", id, actor, Value::Null);
    }

    /// Replaces `data` unless `version` is older than the stored one. Returns whether it
    /// was applied.
    pub fn set_data(
        &mut self,
        id: i64,
        data: Value,
        version: Option<DateTime<Utc>>,
        actor: Actor,
    ) -> bool {
        let now = self.clock.tick();
        let Some(c) = self.customers.get_mut(&id) else {
            return false;
        };
        if let (Some(stored), Some(v)) = (c.data_version, version)
            && v < stored
        {
            return false;
        }
        c.data = data;
        if version.is_some() {
            c.data_version = version;
        }
        c.updated = now;
        self.record_event("customer-updated", id, actor, Value::Null);
        true
    }

    /// Deletes a live customer and records `customer-deleted`.
    pub fn delete(&mut self, id: i64, actor: Actor) -> bool {
        if self.customers.remove(&id).is_none() {
            return false;
        }
        self.record_event("customer-deleted", id, actor, Value::Null);
        true
    }

    /// Whether both customers hold data of the same integration (the merge conflict).
    pub fn integration_conflict(&self, source: i64, target: i64) -> Option<String> {
        let s = self.customers.get(&source)?;
        let t = self.customers.get(&target)?;
        s.integrations
            .keys()
            .find(|k| t.integrations.contains_key(*k))
            .cloned()
    }

    /// Moves the source's channels, integrations, tickets and surveys onto the target, applies the
    /// body to the target, deletes the source and remembers where it went.
    pub fn merge(
        &mut self,
        source: i64,
        target: i64,
        body: &Map<String, Value>,
        actor: Actor,
        event_object_is_source: bool,
    ) {
        let now = self.clock.tick();
        let Some(src) = self.customers.remove(&source) else {
            return;
        };
        if let Some(t) = self.customers.get_mut(&target) {
            for ch in src.channels {
                let dup = t
                    .channels
                    .iter()
                    .any(|c| c.kind == ch.kind && c.address.eq_ignore_ascii_case(&ch.address));
                if !dup {
                    t.channels.push(Channel {
                        preferred: false,
                        ..ch
                    });
                }
            }
            for (k, v) in src.integrations {
                t.integrations.entry(k).or_insert(v);
            }
            if t.data.is_null() {
                t.data = src.data;
            }
            t.updated = now;
        }
        self.apply_fields(target, body, now);
        let touch = self.merge_touches_tickets;
        super::support::move_to_survivor(self, source, target, touch);
        self.merged_into.insert(source, target);
        let object = if event_object_is_source {
            source
        } else {
            target
        };
        self.record_event(
            "customer-merged",
            object,
            actor,
            json!({"source_id": source, "target_id": target}),
        );
    }

    /// Checks a create/update body against the uniqueness of e-mails.
    pub fn email_conflict(&self, body: &Map<String, Value>, except: Option<i64>) -> bool {
        let mut emails: Vec<&str> = Vec::new();
        if let Some(e) = body.get("email").and_then(Value::as_str) {
            emails.push(e);
        }
        if let Some(chs) = body.get("channels").and_then(Value::as_array) {
            for ch in chs {
                if ch.get("type").and_then(Value::as_str) == Some("email")
                    && let Some(a) = ch.get("address").and_then(Value::as_str)
                {
                    emails.push(a);
                }
            }
        }
        emails.iter().any(|e| self.email_taken(e, except))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn create_update_and_views() {
        let mut s = State::new();
        let id = s.create(
            &body(json!({"name":"Ada Lovelace","channels":[{"type":"email","address":"ada@x.test","preferred":true},{"type":"phone","address":"+15550001","preferred":true}]})),
            Actor::Api(1),
        );
        let c = s.lookup(id).unwrap();
        assert_eq!(c.email.as_deref(), Some("ada@x.test"));
        let full = c.full();
        assert_eq!(full["firstname"], "Ada");
        assert_eq!(full["lastname"], "Lovelace");
        assert_eq!(full["channels"].as_array().unwrap().len(), 2);
        let compact = c.compact();
        assert!(compact.get("channels").is_none());
        assert!(compact.get("integrations").is_none());
        let before = c.updated;
        s.update(id, &body(json!({"note":"vip"})), Actor::Agent(2));
        let c = s.lookup(id).unwrap();
        assert!(c.updated > before);
        assert_eq!(c.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(c.channels.len(), 2);
        assert!(s.email_taken("ADA@x.test", None));
        assert!(!s.email_taken("ada@x.test", Some(id)));
    }

    #[test]
    fn data_version_rule() {
        let mut s = State::new();
        let id = s.create(&Map::new(), Actor::Api(1));
        let v2 = time::parse_flexible("2025-01-02T00:00:00").unwrap();
        let v1 = time::parse_flexible("2025-01-01T00:00:00").unwrap();
        assert!(s.set_data(id, json!({"a":1}), Some(v2), Actor::Api(1)));
        assert!(!s.set_data(id, json!({"a":0}), Some(v1), Actor::Api(1)));
        assert_eq!(s.lookup(id).unwrap().data, json!({"a":1}));
        assert!(s.set_data(id, json!({"a":2}), Some(v2), Actor::Api(1)));
        assert!(s.set_data(id, json!({"a":3}), None, Actor::Api(1)));
        assert_eq!(s.lookup(id).unwrap().data, json!({"a":3}));
    }

    #[test]
    fn merge_moves_and_redirects() {
        let mut s = State::new();
        let a = s.create(
            &body(json!({"channels":[{"type":"email","address":"a@x.test","preferred":true}]})),
            Actor::Api(1),
        );
        let b = s.create(
            &body(json!({"channels":[{"type":"phone","address":"+1555","preferred":true}]})),
            Actor::Api(1),
        );
        s.merge(a, b, &body(json!({"name":"B"})), Actor::Api(1), false);
        assert_eq!(s.lookup(a).unwrap_err(), Lookup::Merged(b));
        let t = s.lookup(b).unwrap();
        assert_eq!(t.channels.len(), 2);
        assert_eq!(t.name.as_deref(), Some("B"));
        let ev = s.events.last().unwrap();
        assert_eq!(ev.kind, "customer-merged");
        assert_eq!(ev.object_id, b);
    }
}
