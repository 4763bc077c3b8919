//! Contact search (contract §5): filter groups (OR of ANDs), the operators, one sort, `limit`
//! ≤ 200, the `after` offset with the 10,000-result cap, free-text `query`, evaluated over
//! the lagging index so fresh writes are not yet visible. Must never see the live records
//! directly or return archived or merged-away records once the index has caught up.

use super::errors::ApiError;
use super::properties::parse_instant;
use super::store::{IndexDoc, Store, render_values, visible};
use serde::Deserialize;
use serde_json::{Value, json};
use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Largest reachable offset + 1.
pub const MAX_RESULTS: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default)]
    pub filter_groups: Vec<FilterGroup>,
    #[serde(default)]
    pub sorts: Vec<Value>,
    #[serde(default)]
    pub properties: Option<Vec<String>>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub after: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct FilterGroup {
    #[serde(default)]
    pub filters: Vec<Filter>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    pub property_name: String,
    pub operator: String,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub high_value: Option<Value>,
    #[serde(default)]
    pub values: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Number,
    Time,
    Enum,
    Text,
}

fn kind_of(store: &Store, name: &str) -> Kind {
    match store.props.get(name).map(|d| d.kind.as_str()) {
        Some("number") => Kind::Number,
        Some("date") | Some("datetime") => Kind::Time,
        Some("enumeration") | Some("bool") => Kind::Enum,
        _ => Kind::Text,
    }
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Compares a stored value with a filter value by the property's type.
fn compare(kind: Kind, stored: &str, given: &Value) -> Option<Ordering> {
    match kind {
        Kind::Number => {
            let a: f64 = stored.parse().ok()?;
            let b: f64 = as_text(given)?.trim().parse().ok()?;
            a.partial_cmp(&b)
        }
        Kind::Time => {
            let a = parse_instant(&Value::String(stored.to_string()))?;
            let b = parse_instant(given)?;
            Some(a.cmp(&b))
        }
        Kind::Enum => Some(stored.cmp(&as_text(given)?)),
        Kind::Text => Some(stored.to_lowercase().cmp(&as_text(given)?.to_lowercase())),
    }
}

/// A value typed for comparison.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Typed {
    Num(f64),
    Time(i64),
    Str(String),
}

fn typed_text(kind: Kind, s: &str) -> Option<Typed> {
    match kind {
        Kind::Number => s.trim().parse().ok().map(Typed::Num),
        Kind::Time => {
            parse_instant(&Value::String(s.to_string())).map(|t| Typed::Time(t.timestamp_millis()))
        }
        Kind::Enum => Some(Typed::Str(s.to_string())),
        Kind::Text => Some(Typed::Str(s.to_lowercase())),
    }
}

/// A stored value, with fast paths for the system properties.
fn typed_stored(doc: &IndexDoc, name: &str, kind: Kind) -> Option<Typed> {
    match name {
        "hs_object_id" => Some(Typed::Num(doc.id as f64)),
        "lastmodifieddate" | "hs_lastmodifieddate" => {
            Some(Typed::Time(doc.updated_at.timestamp_millis()))
        }
        "createdate" => Some(Typed::Time(doc.created_at.timestamp_millis())),
        _ => typed_text(kind, doc.props.get(name).filter(|v| !v.is_empty())?),
    }
}

fn typed_given(kind: Kind, v: &Value) -> Option<Typed> {
    match kind {
        Kind::Time => parse_instant(v).map(|t| Typed::Time(t.timestamp_millis())),
        _ => typed_text(kind, &as_text(v)?),
    }
}

fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if let Some(pos) = rest.find(part) {
            rest = &rest[pos + part.len()..];
        } else {
            return false;
        }
    }
    parts
        .last()
        .is_none_or(|l| l.is_empty() || text.ends_with(l))
}

fn contains_token(stored: &str, token: &str) -> bool {
    let s = stored.to_lowercase();
    let t = token.to_lowercase();
    if t.contains('*') {
        return glob(&t, &s);
    }
    s == t || s.split(|c: char| !c.is_alphanumeric()).any(|w| w == t)
}

/// A filter with its property type looked up and its values parsed once per query.
struct Prepared<'a> {
    f: &'a Filter,
    kind: Kind,
    value: Option<Typed>,
    high: Option<Typed>,
}

fn prepare<'a>(store: &Store, f: &'a Filter) -> Prepared<'a> {
    let kind = kind_of(store, &f.property_name);
    Prepared {
        f,
        kind,
        value: f.value.as_ref().and_then(|v| typed_given(kind, v)),
        high: f.high_value.as_ref().and_then(|v| typed_given(kind, v)),
    }
}

fn matches(p: &Prepared<'_>, doc: &IndexDoc) -> bool {
    let (f, kind) = (p.f, p.kind);
    let typed = typed_stored(doc, &f.property_name, kind);
    let cmp = |v: &Option<Typed>| -> Option<Ordering> { typed.as_ref()?.partial_cmp(v.as_ref()?) };
    let has = || doc.value(&f.property_name).filter(|v| !v.is_empty());
    match f.operator.as_str() {
        "HAS_PROPERTY" => has().is_some(),
        "NOT_HAS_PROPERTY" => has().is_none(),
        "EQ" => cmp(&p.value) == Some(Ordering::Equal),
        "NEQ" => cmp(&p.value) != Some(Ordering::Equal),
        "LT" => cmp(&p.value) == Some(Ordering::Less),
        "LTE" => matches!(cmp(&p.value), Some(Ordering::Less | Ordering::Equal)),
        "GT" => cmp(&p.value) == Some(Ordering::Greater),
        "GTE" => matches!(cmp(&p.value), Some(Ordering::Greater | Ordering::Equal)),
        "BETWEEN" => {
            matches!(cmp(&p.value), Some(Ordering::Greater | Ordering::Equal))
                && matches!(cmp(&p.high), Some(Ordering::Less | Ordering::Equal))
        }
        "IN" | "NOT_IN" => {
            let stored = has();
            let hit = stored.as_deref().is_some_and(|s| {
                let s = if kind == Kind::Text {
                    s.to_lowercase()
                } else {
                    s.to_string()
                };
                f.values.iter().flatten().any(|v| {
                    if matches!(kind, Kind::Number | Kind::Time) {
                        compare(kind, &s, v) == Some(Ordering::Equal)
                    } else {
                        as_text(v).as_deref() == Some(s.as_str())
                    }
                })
            });
            (f.operator == "IN") == hit
        }
        "CONTAINS_TOKEN" | "NOT_CONTAINS_TOKEN" => {
            let stored = has();
            let hit = match (&stored, f.value.as_ref().and_then(as_text)) {
                (Some(s), Some(t)) => contains_token(s, &t),
                _ => false,
            };
            (f.operator == "CONTAINS_TOKEN") == hit
        }
        _ => false,
    }
}

const OPERATORS: &[&str] = &[
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
];

const SEARCHABLE: &[&str] = &[
    "firstname",
    "lastname",
    "email",
    "phone",
    "hs_additional_emails",
    "fax",
    "mobilephone",
    "company",
];

fn parse_sort(v: &Value) -> Option<(String, bool)> {
    match v {
        Value::String(s) => match s.strip_prefix('-') {
            Some(name) => Some((name.to_string(), false)),
            None => Some((s.clone(), true)),
        },
        Value::Object(o) => {
            let name = o.get("propertyName")?.as_str()?.to_string();
            let asc = o.get("direction").and_then(Value::as_str) != Some("DESCENDING");
            Some((name, asc))
        }
        _ => None,
    }
}

/// Validates the request shape (limits of contract §5).
pub fn validate(req: &SearchRequest) -> Result<(usize, usize), ApiError> {
    if req.filter_groups.len() > 5 {
        return Err(ApiError::validation(
            "Too many filter groups: at most 5 are allowed",
        ));
    }
    let total: usize = req.filter_groups.iter().map(|g| g.filters.len()).sum();
    if req.filter_groups.iter().any(|g| g.filters.len() > 6) || total > 18 {
        return Err(ApiError::validation(
            "Too many filters: at most 6 per group and 18 in total are allowed",
        ));
    }
    for f in req.filter_groups.iter().flat_map(|g| &g.filters) {
        if !OPERATORS.contains(&f.operator.as_str()) {
            return Err(ApiError::validation(format!(
                "Unknown filter operator {}",
                f.operator
            )));
        }
    }
    let limit = req.limit.unwrap_or(10);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 200"));
    }
    let after = match &req.after {
        None => 0,
        Some(v) => as_text(v)
            .and_then(|s| s.trim().parse::<usize>().ok())
            .ok_or_else(|| ApiError::validation("after must be formatted as an integer"))?,
    };
    if after >= MAX_RESULTS {
        // Exact message UNCONFIRMED.
        return Err(ApiError::validation(
            "Paging past 10000 results is not supported. Narrow the search with filters.",
        ));
    }
    Ok((limit as usize, after))
}

/// Runs a search at index time `at`.
pub fn run(store: &mut Store, req: &SearchRequest, at: Instant) -> Result<Value, ApiError> {
    let (limit, after) = validate(req)?;
    let query_tokens: Vec<String> = req
        .query
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let groups: Vec<Vec<Prepared<'_>>> = req
        .filter_groups
        .iter()
        .map(|g| g.filters.iter().map(|f| prepare(store, f)).collect())
        .collect();
    let keep = |d: &IndexDoc| {
        let groups_ok = groups.is_empty() || groups.iter().any(|g| g.iter().all(|p| matches(p, d)));
        groups_ok
            && query_tokens.iter().all(|t| {
                SEARCHABLE.iter().any(|p| {
                    d.value(p)
                        .is_some_and(|v| v.to_lowercase().contains(t.as_str()))
                })
            })
    };
    // One pass over the index (ordered by id): visible versions that match.
    let mut docs: Vec<Arc<IndexDoc>> = store
        .index
        .values_mut()
        .filter_map(|v| visible(v, at))
        .filter(|d| keep(d))
        .collect();
    // Ids gone from the index for good (archived or merged away, caught up) are dropped.
    store
        .index
        .retain(|_, v| !(v.len() == 1 && v.first().is_some_and(|(t, d)| d.is_none() && *t <= at)));
    let store = &*store;
    match req.sorts.first().and_then(parse_sort) {
        // Already in id order.
        Some((name, true)) if name == "hs_object_id" => {}
        Some((name, asc)) => {
            let kind = kind_of(store, &name);
            let mut keyed: Vec<(Option<Typed>, Arc<IndexDoc>)> = docs
                .drain(..)
                .map(|d| (typed_stored(&d, &name, kind), d))
                .collect();
            keyed.sort_by(|(ka, a), (kb, b)| {
                let o = match (ka, kb) {
                    (Some(x), Some(y)) => {
                        let o = x.partial_cmp(y).unwrap_or(Ordering::Equal);
                        if asc { o } else { o.reverse() }
                    }
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                };
                o.then(a.id.cmp(&b.id))
            });
            docs = keyed.into_iter().map(|(_, d)| d).collect();
        }
        None => docs.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id))),
    }
    let total = docs.len();
    let results: Vec<Value> = docs
        .iter()
        .skip(after)
        .take(limit)
        .map(|d| {
            render_values(
                d.id,
                |k| d.value(k),
                |k| store.props.contains_key(k),
                d.created_at,
                d.updated_at,
                None,
                req.properties.as_deref(),
                None,
            )
        })
        .collect();
    let mut out = json!({"total": total, "results": results});
    let offer_next = store.search_next_at_cap || after + limit < MAX_RESULTS;
    if after + limit < total
        && offer_next
        && let Some(o) = out.as_object_mut()
    {
        o.insert(
            "paging".into(),
            json!({"next": {"after": (after + limit).to_string()}}),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::hubspot::config::SandboxConfig;
    use crate::sandbox::hubspot::store::Source;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn req(v: Value) -> SearchRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn filters_sorts_pages_and_lags() {
        let cfg = SandboxConfig {
            search_index_lag: Duration::from_secs(30),
            ..Default::default()
        };
        let mut s = Store::new(&cfg);
        let (now, at) = (chrono::Utc::now(), Instant::now());
        for i in 0..25 {
            let mut p = BTreeMap::new();
            p.insert("email".to_string(), format!("u{i}@Example.com"));
            s.create(&p, Source::Import, now, at, true).unwrap();
        }
        let mut p = BTreeMap::new();
        p.insert("email".to_string(), "fresh@example.com".to_string());
        s.create(&p, Source::Integration, now, at, false).unwrap();
        let r = run(
            &mut s,
            &req(json!({"filterGroups":[{"filters":[
                {"propertyName":"hs_object_id","operator":"GT","value":"1005"}]}],
                "sorts":[{"propertyName":"hs_object_id","direction":"DESCENDING"}],"limit":10})),
            at,
        )
        .unwrap();
        assert_eq!(
            r["total"], 20,
            "1006..=1025; the fresh 1026 is not indexed yet"
        );
        assert_eq!(r["results"][0]["id"], "1025");
        assert_eq!(r["paging"]["next"]["after"], "10");
        let r = run(
            &mut s,
            &req(json!({"filterGroups":[{"filters":[
                {"propertyName":"email","operator":"CONTAINS_TOKEN","value":"*@example.com"}]}],
                "limit":200})),
            at,
        )
        .unwrap();
        assert_eq!(r["total"], 25, "the fresh contact is not indexed yet");
        assert!(r.get("paging").is_none());
        let later = at + Duration::from_secs(31);
        let r = run(&mut s, &req(json!({"limit":200})), later).unwrap();
        assert_eq!(r["total"], 26);
        let r = run(
            &mut s,
            &req(json!({"filterGroups":[{"filters":[
                {"propertyName":"email","operator":"IN","values":["u3@example.com","u4@example.com"]}]}]})),
            later,
        )
        .unwrap();
        assert_eq!(r["total"], 2);
        let ms = now.timestamp_millis();
        for v in [
            json!(ms.to_string()),
            json!(ms),
            json!(crate::sandbox::hubspot::properties::iso(now)),
        ] {
            let r = run(
                &mut s,
                &req(json!({"filterGroups":[{"filters":[
                    {"propertyName":"lastmodifieddate","operator":"GTE","value":v}]}]})),
                later,
            )
            .unwrap();
            assert_eq!(r["total"], 26);
        }
    }

    #[test]
    fn limits_are_enforced() {
        assert!(validate(&req(json!({"limit":201}))).is_err());
        assert!(validate(&req(json!({"after":"10000"}))).is_err());
        assert!(validate(&req(json!({"after":"9999"}))).is_ok());
        let f = json!({"propertyName":"email","operator":"HAS_PROPERTY"});
        let groups: Vec<Value> = (0..6).map(|_| json!({"filters":[f.clone()]})).collect();
        assert!(validate(&req(json!({"filterGroups": groups}))).is_err());
        let many: Vec<Value> = (0..7).map(|_| f.clone()).collect();
        assert!(validate(&req(json!({"filterGroups":[{"filters": many}]}))).is_err());
        assert!(
            validate(&req(json!({"filterGroups":[{"filters":[
            {"propertyName":"email","operator":"LIKE","value":"x"}]}]})))
            .is_err()
        );
    }
}
