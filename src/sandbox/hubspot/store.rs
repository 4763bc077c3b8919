//! The in-memory contact store of the HubSpot sandbox: records, e-mail uniqueness (primary and
//! additional), merge aliases, property history and the lagging search index. Pure state
//! transitions over a `now` passed in; must never do HTTP or read the clock itself.

use super::config::{MergeIdMode, SandboxConfig};
use super::errors::{ApiError, PropertyProblem};
use super::properties::{LIFECYCLE, PropertyDef, iso, normalise_value};
use axum::http::StatusCode;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use super::render::render_values;

/// Who made a change, for property history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A call with the app's token: `INTEGRATION` + app id.
    Integration,
    /// An edit made in the UI by a person: `CRM_UI` + `userId:N`.
    Person(u64),
    /// Imported seed data: `IMPORT`.
    Import,
}

/// One history entry of one property.
#[derive(Debug, Clone)]
pub struct HistEntry {
    pub value: String,
    pub timestamp: DateTime<Utc>,
    pub source: Source,
}

/// What search sees of a contact: a snapshot taken when it was written.
#[derive(Debug, Clone)]
pub struct IndexDoc {
    pub id: u64,
    pub props: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl IndexDoc {
    /// The value of a property, system properties included.
    pub fn value(&self, name: &str) -> Option<String> {
        system_value(name, self.id, self.created_at, self.updated_at)
            .or_else(|| self.props.get(name).cloned())
    }
}

fn system_value(
    name: &str,
    id: u64,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
) -> Option<String> {
    match name {
        "hs_object_id" => Some(id.to_string()),
        "createdate" => Some(iso(created)),
        "lastmodifieddate" | "hs_lastmodifieddate" => Some(iso(updated)),
        _ => None,
    }
}

/// Index versions of a record: (visible from, snapshot or removed), oldest first.
pub type IndexVersions = Vec<(Instant, Option<Arc<IndexDoc>>)>;

/// What `propertiesWithHistory` renders: the names asked, the history, the app id.
pub type HistoryView<'a> = (&'a [String], &'a BTreeMap<String, Vec<HistEntry>>, u64);

/// One contact record.
#[derive(Debug, Clone)]
pub struct ContactRec {
    pub id: u64,
    /// Non-empty values only.
    pub props: BTreeMap<String, String>,
    /// Oldest first.
    pub history: BTreeMap<String, Vec<HistEntry>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub archived_at: Option<DateTime<Utc>>,
    /// Merges this record took part in (itself and its ancestors).
    pub merges: u32,
}

impl ContactRec {
    fn doc(&self) -> IndexDoc {
        IndexDoc {
            id: self.id,
            props: self.props.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The value of a property, system properties included.
    pub fn value(&self, name: &str) -> Option<String> {
        system_value(name, self.id, self.created_at, self.updated_at)
            .or_else(|| self.props.get(name).cloned())
    }
}

/// What search sees of one record at `at`, compacting versions no longer needed.
pub fn visible(versions: &mut IndexVersions, at: Instant) -> Option<Arc<IndexDoc>> {
    let pos = versions.iter().rposition(|(t, _)| *t <= at)?;
    if pos > 0 {
        versions.drain(..pos);
    }
    versions.first().and_then(|(_, d)| d.clone())
}

/// A change that a webhook subscription may report (contract §11).
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    /// `contact.creation`, `contact.propertyChange`, `contact.deletion`, `contact.merge`.
    pub kind: &'static str,
    pub object_id: u64,
    pub occurred_at: DateTime<Utc>,
    pub source: Source,
    /// `(propertyName, propertyValue)` of a property change.
    pub property: Option<(String, String)>,
    /// `(primaryObjectId, mergedObjectIds, newObjectId, numberOfPropertiesMoved)`.
    pub merge: Option<(u64, Vec<u64>, u64, u32)>,
}

/// Why a create failed.
#[derive(Debug)]
pub enum WriteError {
    Conflict(u64),
    Invalid(Vec<PropertyProblem>),
    Api(ApiError),
}

/// The store.
#[derive(Debug)]
pub struct Store {
    pub contacts: BTreeMap<u64, ContactRec>,
    /// Merged-away id → surviving id.
    pub aliases: HashMap<u64, u64>,
    /// Lower-cased e-mail (primary or additional) → live contact id.
    pub emails: HashMap<String, u64>,
    pub props: BTreeMap<String, PropertyDef>,
    /// Contact property groups, name → group (`routes/groups.rs`).
    pub prop_groups: BTreeMap<String, serde_json::Value>,
    pub next_id: u64,
    pub lowercase_emails: bool,
    pub lag: Duration,
    pub merge_mode: MergeIdMode,
    pub merged_ids_include_survivor: bool,
    /// Changes waiting for webhook delivery (`None`: webhooks off, nothing is kept).
    pub events: Option<Vec<ChangeEvent>>,
    /// See [`SandboxConfig::search_next_at_cap`].
    pub search_next_at_cap: bool,
    /// What search sees, by id (merged-away and archived ids until the index catches up).
    pub index: BTreeMap<u64, IndexVersions>,
    /// The app id written as `sourceId` of integration writes.
    pub app_id: u64,
}

/// A monotonic stamp: never earlier than, and always after, the previous one.
fn stamp(now: DateTime<Utc>, prev: DateTime<Utc>) -> DateTime<Utc> {
    if now > prev {
        now
    } else {
        prev + ChronoDuration::milliseconds(1)
    }
}

/// Truncates to whole milliseconds, as HubSpot timestamps are.
pub fn ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

impl Store {
    pub fn new(cfg: &SandboxConfig) -> Self {
        Self {
            contacts: BTreeMap::new(),
            aliases: HashMap::new(),
            emails: HashMap::new(),
            props: PropertyDef::builtins()
                .into_iter()
                .map(|d| (d.name.clone(), d))
                .collect(),
            prop_groups: super::routes::groups::builtin_groups(),
            next_id: cfg.first_id,
            lowercase_emails: cfg.lowercase_emails,
            lag: cfg.scaled(cfg.search_index_lag),
            merge_mode: cfg.merge_id_mode,
            merged_ids_include_survivor: cfg.merged_ids_include_survivor,
            search_next_at_cap: cfg.search_next_at_cap,
            events: cfg.webhook.as_ref().map(|_| vec![]),
            index: BTreeMap::new(),
            app_id: cfg.app_id,
        }
    }

    /// Follows merge aliases to the record now holding `id` (live or archived).
    pub fn resolve(&self, id: u64) -> Option<u64> {
        let mut cur = id;
        for _ in 0..1000 {
            if self.contacts.contains_key(&cur) {
                return Some(cur);
            }
            cur = *self.aliases.get(&cur)?;
        }
        None
    }

    /// Resolves a path/body id string (or an e-mail when `by_email`) to a live record id.
    pub fn lookup(&self, raw: &str, by_email: bool) -> Option<u64> {
        let id = if by_email {
            *self.emails.get(&raw.trim().to_lowercase())?
        } else {
            self.resolve(raw.trim().parse().ok()?)?
        };
        self.contacts
            .get(&id)
            .filter(|c| c.archived_at.is_none())
            .map(|c| c.id)
    }

    /// Normalises written properties against the definitions.
    pub fn validate(
        &self,
        input: &BTreeMap<String, String>,
        current: Option<&ContactRec>,
    ) -> Result<BTreeMap<String, String>, Vec<PropertyProblem>> {
        let mut out = BTreeMap::new();
        let mut problems = vec![];
        for (k, v) in input {
            let cur = current.and_then(|c| c.props.get(k)).map(String::as_str);
            match normalise_value(self.props.get(k), k, v, cur, self.lowercase_emails) {
                Ok(n) => {
                    out.insert(k.clone(), n);
                }
                Err(p) => problems.push(p),
            }
        }
        // lifecyclestage only moves forward (clear it first to move it back).
        if let (Some(new), Some(cur)) = (
            out.get("lifecyclestage"),
            current.and_then(|c| c.props.get("lifecyclestage")),
        ) {
            let pos = |s: &str| LIFECYCLE.iter().position(|x| *x == s);
            if !new.is_empty() && pos(new) < pos(cur) {
                problems.push(PropertyProblem {
                    name: "lifecyclestage".into(),
                    code: "INVALID_OPTION",
                    message: format!(
                        "lifecyclestage cannot move backwards from {cur} to {new}; clear it first"
                    ),
                });
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }

    /// A value of a custom `hasUniqueValue` property already held by another live contact
    /// (400 assumed; UNCONFIRMED).
    pub fn unique_conflict(
        &self,
        props: &BTreeMap<String, String>,
        target: Option<u64>,
    ) -> Option<ApiError> {
        for (k, v) in props {
            if v.is_empty() || !self.props.get(k).is_some_and(|d| d.has_unique_value) {
                continue;
            }
            if let Some(other) = self.contacts.values().find(|c| {
                Some(c.id) != target && c.archived_at.is_none() && c.props.get(k) == Some(v)
            }) {
                return Some(ApiError::validation(format!(
                    "Cannot set PropertyValueCoordinates{{propertyName={k}, value={v}}} on {}. {} already has that value.",
                    target
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "a new object".into()),
                    other.id
                )));
            }
        }
        None
    }

    fn emit(&mut self, ev: ChangeEvent) {
        if let Some(q) = self.events.as_mut() {
            q.push(ev);
        }
    }

    fn emit_change(&mut self, id: u64, at: DateTime<Utc>, source: &Source, k: String, v: String) {
        self.emit(ChangeEvent {
            kind: "contact.propertyChange",
            object_id: id,
            occurred_at: at,
            source: source.clone(),
            property: Some((k, v)),
            merge: None,
        });
    }

    fn owner_of(&self, email: &str) -> Option<u64> {
        self.emails.get(&email.to_lowercase()).copied()
    }

    fn reindex(&mut self, id: u64, at: Instant) {
        if let Some(c) = self.contacts.get(&id) {
            let doc = if c.archived_at.is_none() {
                Some(Arc::new(c.doc()))
            } else {
                None
            };
            self.index.entry(id).or_default().push((at, doc));
        }
    }

    fn write_emails(&mut self, id: u64) {
        self.emails.retain(|_, v| *v != id);
        let Some(c) = self.contacts.get(&id) else {
            return;
        };
        if c.archived_at.is_some() {
            return;
        }
        let mut all: Vec<String> = vec![];
        if let Some(e) = c.props.get("email") {
            all.push(e.to_lowercase());
        }
        if let Some(extra) = c.props.get("hs_additional_emails") {
            all.extend(
                extra
                    .split(';')
                    .filter(|s| !s.is_empty())
                    .map(str::to_lowercase),
            );
        }
        for e in all {
            self.emails.insert(e, id);
        }
    }

    /// Creates a contact. `clock` is the wall time, `at` the instant it is written.
    pub fn create(
        &mut self,
        input: &BTreeMap<String, String>,
        source: Source,
        clock: DateTime<Utc>,
        at: Instant,
        index_now: bool,
    ) -> Result<u64, WriteError> {
        let props = self.validate(input, None).map_err(WriteError::Invalid)?;
        let has_identity = ["email", "firstname", "lastname"]
            .iter()
            .any(|k| props.get(*k).is_some_and(|v| !v.is_empty()));
        if !has_identity {
            return Err(WriteError::Api(ApiError::validation(
                "At least one of email, firstname or lastname is required",
            )));
        }
        if let Some(email) = props.get("email").filter(|e| !e.is_empty())
            && let Some(other) = self.owner_of(email)
        {
            return Err(WriteError::Conflict(other));
        }
        if let Some(e) = self.unique_conflict(&props, None) {
            return Err(WriteError::Api(e));
        }
        let id = self.next_id;
        self.next_id += 1;
        let now = ms(clock);
        let mut rec = ContactRec {
            id,
            props: BTreeMap::new(),
            history: BTreeMap::new(),
            created_at: now,
            updated_at: now,
            archived_at: None,
            merges: 0,
        };
        for (k, v) in props {
            if v.is_empty() {
                continue;
            }
            rec.history.entry(k.clone()).or_default().push(HistEntry {
                value: v.clone(),
                timestamp: now,
                source: source.clone(),
            });
            rec.props.insert(k, v);
        }
        let set: Vec<(String, String)> = rec
            .props
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.contacts.insert(id, rec);
        self.emit(ChangeEvent {
            kind: "contact.creation",
            object_id: id,
            occurred_at: now,
            source: source.clone(),
            property: None,
            merge: None,
        });
        for (k, v) in set {
            self.emit_change(id, now, &source, k, v);
        }
        self.write_emails(id);
        let visible = if index_now { at } else { at + self.lag };
        self.reindex(id, visible);
        Ok(id)
    }

    /// Applies a partial update to a live record.
    pub fn update(
        &mut self,
        id: u64,
        input: &BTreeMap<String, String>,
        source: Source,
        clock: DateTime<Utc>,
        at: Instant,
    ) -> Result<(), WriteError> {
        let Some(current) = self.contacts.get(&id) else {
            return Err(WriteError::Api(ApiError::not_found(&id.to_string())));
        };
        let props = self
            .validate(input, Some(current))
            .map_err(WriteError::Invalid)?;
        if let Some(e) = self.unique_conflict(&props, Some(id)) {
            return Err(WriteError::Api(e));
        }
        if let Some(email) = props.get("email").filter(|e| !e.is_empty())
            && let Some(other) = self.owner_of(email).filter(|o| *o != id)
        {
            return Err(WriteError::Api(ApiError::validation(format!(
                "Cannot set PropertyValueCoordinates{{portalId=0, objectTypeId=ObjectTypeId{{legacyObjectType=CONTACT}}, propertyName=email, value={email}}} on {id}. {other} already has that value."
            ))));
        }
        self.apply(id, props, source, clock, at);
        Ok(())
    }

    /// Writes already-validated values, recording history; bumps `lastmodifieddate` if
    /// anything changed.
    pub fn apply(
        &mut self,
        id: u64,
        props: BTreeMap<String, String>,
        source: Source,
        clock: DateTime<Utc>,
        at: Instant,
    ) {
        let Some(c) = self.contacts.get_mut(&id) else {
            return;
        };
        let now = stamp(ms(clock), c.updated_at);
        let mut changes: Vec<(String, String)> = vec![];
        for (k, v) in props {
            if c.props.get(&k).map(String::as_str).unwrap_or("") == v {
                continue;
            }
            changes.push((k.clone(), v.clone()));
            c.history.entry(k.clone()).or_default().push(HistEntry {
                value: v.clone(),
                timestamp: now,
                source: source.clone(),
            });
            if v.is_empty() {
                c.props.remove(&k);
            } else {
                c.props.insert(k, v);
            }
        }
        if !changes.is_empty() {
            c.updated_at = now;
            self.write_emails(id);
            let lag = self.lag;
            self.reindex(id, at + lag);
            for (k, v) in changes {
                self.emit_change(id, now, &source, k, v);
            }
        }
    }

    /// Archives a record (a no-op for unknown ids).
    pub fn archive(&mut self, id: u64, clock: DateTime<Utc>, at: Instant) {
        if let Some(c) = self.contacts.get_mut(&id)
            && c.archived_at.is_none()
        {
            let now = stamp(ms(clock), c.updated_at);
            c.archived_at = Some(now);
            c.updated_at = now;
            self.write_emails(id);
            let lag = self.lag;
            self.reindex(id, at + lag);
            self.emit(ChangeEvent {
                kind: "contact.deletion",
                object_id: id,
                occurred_at: now,
                source: Source::Integration,
                property: None,
                merge: None,
            });
        }
    }

    /// Merges `secondary` into `primary`; returns the surviving id.
    /// Long (about 130 lines) on purpose: checks, values, history, e-mails, aliases and the
    /// change events are one state transition; split, each step would see a half-merged store.
    pub fn merge(
        &mut self,
        primary: u64,
        secondary: u64,
        clock: DateTime<Utc>,
        at: Instant,
    ) -> Result<u64, ApiError> {
        if primary == secondary {
            return Err(ApiError::validation("Cannot merge a record with itself"));
        }
        let live = |s: &Self, id: u64| {
            s.contacts
                .get(&id)
                .filter(|c| c.archived_at.is_none())
                .cloned()
        };
        let (Some(p), Some(s)) = (live(self, primary), live(self, secondary)) else {
            // Merging a merged-away or archived id: UNCONFIRMED; 400 assumed.
            return Err(ApiError::validation(format!(
                "Unable to merge {primary} and {secondary}: one of them does not exist or is not live"
            )));
        };
        let merges = p.merges + s.merges + 1;
        if merges >= 250 {
            return Err(ApiError::new(
                StatusCode::URI_TOO_LONG,
                "VALIDATION_ERROR",
                "Cannot have more than 250 identities on a profile",
            ));
        }
        let now = stamp(ms(clock), p.updated_at.max(s.updated_at));
        // Current values: the primary's win, the secondary fills gaps.
        let mut props = s.props.clone();
        for (k, v) in &p.props {
            props.insert(k.clone(), v.clone());
        }
        let mut extra: Vec<String> = vec![];
        for c in [&p, &s] {
            if let Some(x) = c.props.get("hs_additional_emails") {
                extra.extend(x.split(';').filter(|e| !e.is_empty()).map(str::to_string));
            }
        }
        if let Some(e) = s.props.get("email")
            && Some(e) != p.props.get("email")
        {
            extra.push(e.clone());
        }
        extra.dedup();
        if !extra.is_empty() {
            props.insert("hs_additional_emails".into(), extra.join(";"));
        }
        let survivor = match self.merge_mode {
            MergeIdMode::KeepPrimary => primary,
            MergeIdMode::NewId => {
                let id = self.next_id;
                self.next_id += 1;
                id
            }
        };
        let mut merged_ids: Vec<String> = vec![];
        for c in [&p, &s] {
            if let Some(x) = c.props.get("hs_merged_object_ids") {
                merged_ids.extend(x.split(';').filter(|e| !e.is_empty()).map(str::to_string));
            }
        }
        for id in [primary, secondary] {
            if id != survivor {
                merged_ids.push(id.to_string());
            }
        }
        if self.merged_ids_include_survivor {
            merged_ids.push(survivor.to_string());
        }
        merged_ids.dedup();
        props.insert("hs_merged_object_ids".into(), merged_ids.join(";"));
        // History from both, newest entries last.
        let mut history = s.history.clone();
        for (k, entries) in &p.history {
            let h = history.entry(k.clone()).or_default();
            h.extend(entries.iter().cloned());
            h.sort_by_key(|e| e.timestamp);
        }
        for k in ["hs_additional_emails", "hs_merged_object_ids"] {
            if let Some(v) = props.get(k) {
                history.entry(k.into()).or_default().push(HistEntry {
                    value: v.clone(),
                    timestamp: now,
                    source: Source::Integration,
                });
            }
        }
        for id in [primary, secondary] {
            if id != survivor {
                self.contacts.remove(&id);
                self.aliases.insert(id, survivor);
                self.emails.retain(|_, v| *v != id);
            }
        }
        let rec = ContactRec {
            id: survivor,
            props,
            history,
            created_at: p.created_at,
            updated_at: now,
            archived_at: None,
            merges,
        };
        self.contacts.insert(survivor, rec);
        self.write_emails(survivor);
        let vis = at + self.lag;
        for id in [primary, secondary] {
            if id != survivor {
                // Merged-away ids drop out of search once the index catches up.
                self.index.entry(id).or_default().push((vis, None));
            }
        }
        self.reindex(survivor, vis);
        let moved = s.props.keys().filter(|k| !p.props.contains_key(*k)).count() as u32;
        self.emit(ChangeEvent {
            kind: "contact.merge",
            object_id: survivor,
            occurred_at: now,
            source: Source::Integration,
            property: None,
            merge: Some((primary, vec![secondary], survivor, moved)),
        });
        Ok(survivor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn store() -> Store {
        let cfg = SandboxConfig {
            search_index_lag: Duration::ZERO,
            ..Default::default()
        };
        Store::new(&cfg)
    }

    #[test]
    fn email_uniqueness_covers_additional_emails() {
        let mut s = store();
        let (now, at) = (Utc::now(), Instant::now());
        let a = s
            .create(
                &props(&[("email", "A@x.com")]),
                Source::Integration,
                now,
                at,
                true,
            )
            .unwrap();
        assert_eq!(s.contacts[&a].props["email"], "a@x.com");
        let b = s
            .create(
                &props(&[("email", "b@x.com")]),
                Source::Integration,
                now,
                at,
                true,
            )
            .unwrap();
        assert!(matches!(
            s.create(&props(&[("email", "a@x.com")]), Source::Integration, now, at, true),
            Err(WriteError::Conflict(x)) if x == a
        ));
        assert!(matches!(
            s.update(b, &props(&[("email", "a@x.com")]), Source::Integration, now, at),
            Err(WriteError::Api(e)) if e.status == StatusCode::BAD_REQUEST
        ));
        let m = s.merge(a, b, now, at).unwrap();
        assert!(m != a && m != b);
        assert_eq!(s.resolve(a), Some(m));
        assert_eq!(s.resolve(b), Some(m));
        let rec = &s.contacts[&m];
        assert_eq!(rec.props["hs_additional_emails"], "b@x.com");
        assert_eq!(rec.props["hs_merged_object_ids"], format!("{a};{b}"));
        assert!(rec.updated_at >= rec.created_at);
        assert!(matches!(
            s.create(&props(&[("email", "b@x.com")]), Source::Integration, now, at, true),
            Err(WriteError::Conflict(x)) if x == m
        ));
    }

    #[test]
    fn create_requires_identity_and_known_properties() {
        let mut s = store();
        let (now, at) = (Utc::now(), Instant::now());
        assert!(matches!(
            s.create(
                &props(&[("phone", "1")]),
                Source::Integration,
                now,
                at,
                true
            ),
            Err(WriteError::Api(_))
        ));
        assert!(matches!(
            s.create(&props(&[("email", "a@x.com"), ("nope", "1")]), Source::Integration, now, at, true),
            Err(WriteError::Invalid(p)) if p[0].code == "PROPERTY_DOESNT_EXIST"
        ));
        assert!(matches!(
            s.create(&props(&[("email", "a@x.com"), ("lifecyclestage", "boss")]), Source::Integration, now, at, true),
            Err(WriteError::Invalid(p)) if p[0].code == "INVALID_OPTION"
        ));
    }

    #[test]
    fn updates_move_lastmodified_and_record_history_newest_first() {
        let mut s = store();
        let (now, at) = (Utc::now(), Instant::now());
        let a = s
            .create(
                &props(&[("email", "a@x.com"), ("firstname", "A")]),
                Source::Integration,
                now,
                at,
                true,
            )
            .unwrap();
        let before = s.contacts[&a].updated_at;
        s.update(a, &props(&[("firstname", "B")]), Source::Person(7), now, at)
            .unwrap();
        let rec = &s.contacts[&a];
        assert!(rec.updated_at > before);
        let v = s.render(rec, Some(&["firstname".into()]), &["firstname".into()]);
        let h = &v["propertiesWithHistory"]["firstname"];
        assert_eq!(h[0]["value"], "B");
        assert_eq!(h[0]["sourceType"], "CRM_UI");
        assert_eq!(h[1]["value"], "A");
        assert_eq!(h[1]["sourceType"], "INTEGRATION");
        assert_eq!(v["updatedAt"], v["properties"]["lastmodifieddate"]);
        // "" clears.
        s.update(
            a,
            &props(&[("firstname", "")]),
            Source::Integration,
            now,
            at,
        )
        .unwrap();
        let v = s.render(&s.contacts[&a], Some(&["firstname".into()]), &[]);
        assert_eq!(v["properties"]["firstname"], Value::Null);
    }

    #[test]
    fn merge_limit_is_414() {
        let mut s = store();
        let (now, at) = (Utc::now(), Instant::now());
        let mut keep = s
            .create(
                &props(&[("email", "k@x.com")]),
                Source::Integration,
                now,
                at,
                true,
            )
            .unwrap();
        s.contacts.get_mut(&keep).unwrap().merges = 249;
        let other = s
            .create(
                &props(&[("email", "o@x.com")]),
                Source::Integration,
                now,
                at,
                true,
            )
            .unwrap();
        let e = s.merge(keep, other, now, at).unwrap_err();
        assert_eq!(e.status, StatusCode::URI_TOO_LONG);
        keep = s.resolve(keep).unwrap();
        assert!(s.contacts.contains_key(&keep));
    }
}
