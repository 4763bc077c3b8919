//! Query-string parsing (repeated keys kept) and cursor pagination shared by every list
//! endpoint: opaque keyset cursors over `(datetime, id)`, `limit` 1..=100 (default 30), the
//! `{data, object, uri, meta:{prev_cursor,next_cursor}}` envelope. Pure.

use super::reply;
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

/// The parsed query string, keys in order, repeats kept.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Self(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (for `types=a&types=b`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A sort key: microseconds of the ordering datetime, then id.
pub type Key = (i64, i64);

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub forward: bool,
    pub order: String,
    pub key: Key,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let dir = if self.forward { "next" } else { "prev" };
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{dir}__{}__{}__{}",
            self.order, self.key.0, self.key.1
        ))
    }

    pub fn decode(raw: &str) -> Option<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(raw.trim())
            .ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut parts = text.split("__");
        let forward = match parts.next()? {
            "next" => true,
            "prev" => false,
            _ => return None,
        };
        let order = parts.next()?.to_owned();
        let micros = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        Some(Self {
            forward,
            order,
            key: (micros, id),
        })
    }
}

/// The common list parameters.
#[derive(Debug)]
pub struct ListParams {
    pub limit: usize,
    pub cursor: Option<Cursor>,
    pub order: String,
    pub desc: bool,
}

/// Reads `limit`, `cursor` and `order_by`, answering 400 for anything out of range.
pub fn list_params(
    q: &Query,
    orders: &[&str],
    default_order: &str,
) -> Result<ListParams, Response> {
    let limit = match q.get("limit") {
        None => 30,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(reply::invalid_field(
                    "Invalid query parameters.",
                    "limit",
                    "Must be greater than or equal to 1 and less than or equal to 100.",
                ));
            }
        },
    };
    let order = q.get("order_by").unwrap_or(default_order).to_owned();
    if !orders.contains(&order.as_str()) {
        return Err(reply::invalid_field(
            "Invalid query parameters.",
            "order_by",
            &format!("Must be one of: {}.", orders.join(", ")),
        ));
    }
    let cursor = match q.get("cursor") {
        None | Some("") => None,
        Some(raw) => match Cursor::decode(raw) {
            Some(c) if c.order == order => Some(c),
            _ => {
                return Err(reply::invalid_field(
                    "Invalid query parameters.",
                    "cursor",
                    "Invalid cursor.",
                ));
            }
        },
    };
    let desc = order.ends_with(":desc");
    Ok(ListParams {
        limit,
        cursor,
        order,
        desc,
    })
}

/// One page out of items already sorted in display order.
pub struct Page<T> {
    pub items: Vec<T>,
    pub prev: Option<String>,
    pub next: Option<String>,
}

fn before(a: Key, b: Key, desc: bool) -> bool {
    if desc { a > b } else { a < b }
}

/// Cuts one page out of `sorted` (display order) following the cursor.
pub fn page<T>(sorted: Vec<(Key, T)>, p: &ListParams) -> Page<T> {
    let (start, end) = match &p.cursor {
        None => (0, p.limit.min(sorted.len())),
        Some(c) if c.forward => {
            let s = sorted.partition_point(|(k, _)| !before(c.key, *k, p.desc));
            (s, (s + p.limit).min(sorted.len()))
        }
        Some(c) => {
            let e = sorted.partition_point(|(k, _)| before(*k, c.key, p.desc));
            (e.saturating_sub(p.limit), e)
        }
    };
    let has_prev = start > 0;
    let has_next = end < sorted.len();
    let rows: Vec<(Key, T)> = sorted.into_iter().skip(start).take(end - start).collect();
    cut(rows, has_prev, has_next, p)
}

/// The page of `rows` (its items in display order, keys beside them): a previous cursor at
/// its first item when `has_prev`, a next cursor at its last when `has_next`.
pub fn cut<T>(rows: Vec<(Key, T)>, has_prev: bool, has_next: bool, p: &ListParams) -> Page<T> {
    let first_key = rows.first().map(|(k, _)| *k);
    let last_key = rows.last().map(|(k, _)| *k);
    let items: Vec<T> = rows.into_iter().map(|(_, t)| t).collect();
    let make = |forward: bool, key: Key| {
        Cursor {
            forward,
            order: p.order.clone(),
            key,
        }
        .encode()
    };
    Page {
        items,
        prev: first_key.filter(|_| has_prev).map(|k| make(false, k)),
        next: last_key.filter(|_| has_next).map(|k| make(true, k)),
    }
}

/// Puts `rows` in display order: by key, newest first when `desc`.
pub fn sort<T>(rows: &mut [(Key, T)], desc: bool) {
    rows.sort_by(|a, b| if desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) });
}

/// The `uri` a list answer names: the path with the query as asked.
pub fn list_uri(path: &str, raw: Option<&str>) -> String {
    match raw {
        Some(r) if !r.is_empty() => format!("{path}?{r}"),
        _ => path.to_owned(),
    }
}

/// The list envelope.
pub fn envelope(items: Vec<Value>, uri: &str, prev: Option<String>, next: Option<String>) -> Value {
    json!({
        "data": items,
        "object": "list",
        "uri": uri,
        "meta": {"prev_cursor": prev, "next_cursor": next},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> ListParams {
        list_params(
            &Query::parse(Some(q)),
            &["created_datetime:asc", "created_datetime:desc"],
            "created_datetime:desc",
        )
        .unwrap()
    }

    #[test]
    fn walks_forward_and_back() {
        let items: Vec<(Key, i64)> = (0..7).rev().map(|i| ((i * 10, i), i)).collect();
        let p = params("limit=3");
        let first = page(items.clone(), &p);
        assert_eq!(first.items, vec![6, 5, 4]);
        assert!(first.prev.is_none());
        let next = first.next.unwrap();
        let p2 = params(&format!("limit=3&cursor={}", urlenc(&next)));
        let second = page(items.clone(), &p2);
        assert_eq!(second.items, vec![3, 2, 1]);
        let p3 = params(&format!("limit=3&cursor={}", urlenc(&second.next.unwrap())));
        let third = page(items.clone(), &p3);
        assert_eq!(third.items, vec![0]);
        assert!(third.next.is_none());
        let back = params(&format!("limit=3&cursor={}", urlenc(&second.prev.unwrap())));
        assert_eq!(page(items, &back).items, vec![6, 5, 4]);
    }

    fn urlenc(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    #[test]
    fn every_limit_walks_every_item_once() {
        for desc in [true, false] {
            let mut items: Vec<(Key, i64)> = (0..53).map(|i| ((i / 3, i), i)).collect();
            if desc {
                items.reverse();
            }
            let order = if desc {
                "created_datetime:desc"
            } else {
                "created_datetime:asc"
            };
            for limit in [1, 7, 30, 53, 100] {
                let mut got = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let mut q = format!("limit={limit}&order_by={order}");
                    if let Some(c) = &cursor {
                        q.push_str(&format!("&cursor={}", urlenc(c)));
                    }
                    let p = params(&q);
                    let page = page(items.clone(), &p);
                    got.extend(page.items);
                    match page.next {
                        Some(n) => cursor = Some(n),
                        None => break,
                    }
                }
                let want: Vec<i64> = items.iter().map(|(_, v)| *v).collect();
                assert_eq!(got, want, "limit {limit} desc {desc}");
            }
        }
    }

    #[test]
    fn rejects_bad_limits_and_orders() {
        let q = Query::parse(Some("limit=101"));
        assert!(list_params(&q, &["a"], "a").is_err());
        let q = Query::parse(Some("limit=0"));
        assert!(list_params(&q, &["a"], "a").is_err());
        let q = Query::parse(Some("order_by=name"));
        assert!(list_params(&q, &["a"], "a").is_err());
        let q = Query::parse(Some("types=a&types=b"));
        assert_eq!(q.all("types"), vec!["a", "b"]);
    }
}
