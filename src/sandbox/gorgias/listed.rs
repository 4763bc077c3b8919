//! The tickets and satisfaction surveys of the in-memory account as an indexed list: the
//! objects in insertion order, plus one ordered index per datetime a list endpoint sorts on
//! (`(microseconds, id)` → positions) and an id lookup. The objects change only through
//! [`Listed::push`] and [`Listed::update`], which keep every index in step, so a list page is a
//! range lookup ([`Listed::page`]) instead of parsing and sorting every object on every call,
//! with exactly the answers [`super::paging::page`] gives over the sorted list. Must never
//! hand out a mutable object outside `update` (an index would go stale).

use super::paging::{self, Key, ListParams, Page};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::marker::PhantomData;
use std::ops::Bound::{self, Excluded, Included, Unbounded};

/// Which datetimes a kind of object is listed by.
pub trait Orders {
    /// The ordering fields, each with its own index.
    const FIELDS: &'static [&'static str];
}

/// Tickets: listed by `created_datetime` or `updated_datetime`.
#[derive(Debug, Default)]
pub struct TicketOrders;
impl Orders for TicketOrders {
    const FIELDS: &'static [&'static str] = &["created_datetime", "updated_datetime"];
}

/// Satisfaction surveys: listed by `created_datetime`.
#[derive(Debug, Default)]
pub struct SurveyOrders;
impl Orders for SurveyOrders {
    const FIELDS: &'static [&'static str] = &["created_datetime"];
}

/// Positions by sort key; the positions of one key in ascending order (the order a stable
/// sort of the list keeps them in).
type Index = BTreeMap<Key, Vec<usize>>;

/// Objects in insertion order with their indexes; see the module header.
pub struct Listed<O: Orders> {
    items: Vec<Value>,
    /// One index per [`Orders::FIELDS`] entry, same order.
    indexes: Vec<Index>,
    /// The first position of each id.
    by_id: HashMap<i64, usize>,
    _orders: PhantomData<O>,
}

impl<O: Orders> Default for Listed<O> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            indexes: O::FIELDS.iter().map(|_| Index::new()).collect(),
            by_id: HashMap::new(),
            _orders: PhantomData,
        }
    }
}

impl<O: Orders> fmt::Debug for Listed<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listed")
            .field("items", &self.items.len())
            .field("orders", &O::FIELDS)
            .finish()
    }
}

impl<O: Orders> std::ops::Index<usize> for Listed<O> {
    type Output = Value;
    fn index(&self, pos: usize) -> &Value {
        &self.items[pos]
    }
}

fn id_of(v: &Value) -> Option<i64> {
    v.get("id").and_then(Value::as_i64)
}

/// The walk over `index` within the key bounds: keys descending when `keys_desc`, the
/// positions of one key descending when `positions_desc`.
fn walk<'a>(
    index: &'a Index,
    bounds: (Bound<Key>, Bound<Key>),
    keys_desc: bool,
    positions_desc: bool,
) -> Box<dyn Iterator<Item = (Key, usize)> + 'a> {
    let range = index.range(bounds);
    let flat =
        move |(k, ps): (&'a Key, &'a Vec<usize>)| -> Box<dyn Iterator<Item = (Key, usize)> + 'a> {
            if positions_desc {
                Box::new(ps.iter().rev().map(move |p| (*k, *p)))
            } else {
                Box::new(ps.iter().map(move |p| (*k, *p)))
            }
        };
    if keys_desc {
        Box::new(range.rev().flat_map(flat))
    } else {
        Box::new(range.flat_map(flat))
    }
}

impl<O: Orders> Listed<O> {
    /// Every object, in insertion order.
    pub fn iter(&self) -> std::slice::Iter<'_, Value> {
        self.items.iter()
    }

    /// Every object, cloned, in insertion order.
    pub fn to_vec(&self) -> Vec<Value> {
        self.items.clone()
    }

    /// The object with `id` (the first one, should ids repeat).
    pub fn by_id(&self, id: i64) -> Option<&Value> {
        self.by_id.get(&id).map(|p| &self.items[*p])
    }

    fn index_in(&mut self, pos: usize) {
        let item = &self.items[pos];
        for (field, index) in O::FIELDS.iter().zip(self.indexes.iter_mut()) {
            let at = index
                .entry(super::tickets::key_of(item, field))
                .or_default();
            if let Err(i) = at.binary_search(&pos) {
                at.insert(i, pos);
            }
        }
    }

    fn index_out(&mut self, pos: usize) {
        let item = &self.items[pos];
        for (field, index) in O::FIELDS.iter().zip(self.indexes.iter_mut()) {
            let key = super::tickets::key_of(item, field);
            if let Some(at) = index.get_mut(&key) {
                at.retain(|p| *p != pos);
                if at.is_empty() {
                    index.remove(&key);
                }
            }
        }
    }

    /// Appends `item` and indexes it.
    pub fn push(&mut self, item: Value) {
        let pos = self.items.len();
        if let Some(id) = id_of(&item) {
            self.by_id.entry(id).or_insert(pos);
        }
        self.items.push(item);
        self.index_in(pos);
    }

    /// Changes the object with `id` through `f` (its id must stay) and re-indexes it. `None`
    /// when there is no such object (or it is not a JSON object).
    pub fn update<R>(
        &mut self,
        id: i64,
        f: impl FnOnce(&mut Map<String, Value>) -> R,
    ) -> Option<R> {
        let pos = *self.by_id.get(&id)?;
        self.update_at(pos, f)
    }

    fn update_at<R>(
        &mut self,
        pos: usize,
        f: impl FnOnce(&mut Map<String, Value>) -> R,
    ) -> Option<R> {
        self.items[pos].as_object()?;
        self.index_out(pos);
        let out = self.items[pos].as_object_mut().map(f);
        self.index_in(pos);
        out
    }

    /// Changes every object `pick` selects through `f` (ids must stay), re-indexing each.
    pub fn update_where(
        &mut self,
        pick: impl Fn(&Value) -> bool,
        mut f: impl FnMut(&mut Map<String, Value>),
    ) {
        let picked: Vec<usize> = (0..self.items.len())
            .filter(|p| pick(&self.items[*p]))
            .collect();
        for pos in picked {
            self.update_at(pos, &mut f);
        }
    }

    /// One list page ordered by `field` (one of [`Orders::FIELDS`]; the first otherwise) over
    /// the objects `keep` selects: the positions of its items and its cursors, as
    /// [`paging::page`] cuts them out of the sorted list, by range lookups.
    pub fn page(&self, field: &str, p: &ListParams, keep: impl Fn(&Value) -> bool) -> Page<usize> {
        let which = O::FIELDS.iter().position(|f| *f == field).unwrap_or(0);
        let index = &self.indexes[which];
        let desc = p.desc;
        let keep = |row: &(Key, usize)| keep(&self.items[row.1]);
        // Display order is `walk(.., desc, false)`; its exact reverse is `walk(.., !desc, true)`.
        let (rows, has_prev, has_next) = match &p.cursor {
            None => {
                let mut it = walk(index, (Unbounded, Unbounded), desc, false).filter(keep);
                let rows: Vec<(Key, usize)> = it.by_ref().take(p.limit).collect();
                (rows, false, it.next().is_some())
            }
            Some(c) if c.forward => {
                let (after, up_to) = if desc {
                    ((Unbounded, Excluded(c.key)), (Included(c.key), Unbounded))
                } else {
                    ((Excluded(c.key), Unbounded), (Unbounded, Included(c.key)))
                };
                let mut it = walk(index, after, desc, false).filter(keep);
                let rows: Vec<(Key, usize)> = it.by_ref().take(p.limit).collect();
                let has_next = it.next().is_some();
                let has_prev = walk(index, up_to, !desc, true).any(|r| keep(&r));
                (rows, has_prev, has_next)
            }
            Some(c) => {
                let (before, from) = if desc {
                    ((Excluded(c.key), Unbounded), (Unbounded, Included(c.key)))
                } else {
                    ((Unbounded, Excluded(c.key)), (Included(c.key), Unbounded))
                };
                let mut it = walk(index, before, !desc, true).filter(keep);
                let mut rows: Vec<(Key, usize)> = it.by_ref().take(p.limit).collect();
                rows.reverse();
                let has_prev = it.next().is_some();
                let has_next = walk(index, from, desc, false).any(|r| keep(&r));
                (rows, has_prev, has_next)
            }
        };
        paging::cut(rows, has_prev, has_next, p)
    }
}

#[cfg(test)]
mod tests {
    use super::super::paging::Query;
    use super::*;
    use serde_json::json;

    const ORDERS: &[&str] = &[
        "created_datetime:asc",
        "created_datetime:desc",
        "updated_datetime:asc",
        "updated_datetime:desc",
    ];

    fn stamp(micros: i64) -> String {
        super::super::time::format(
            chrono::DateTime::from_timestamp_micros(1_700_000_000_000_000 + micros).unwrap(),
        )
    }

    /// The old way: filter, parse and sort every object, then cut the page.
    fn by_sorting(l: &Listed<TicketOrders>, field: &str, p: &ListParams, odd: bool) -> Page<usize> {
        let mut rows: Vec<(Key, usize)> = l
            .iter()
            .enumerate()
            .filter(|(_, t)| !odd || t["customer"]["id"].as_i64().unwrap_or(0) % 2 == 1)
            .map(|(i, t)| (super::super::tickets::key_of(t, field), i))
            .collect();
        paging::sort(&mut rows, p.desc);
        paging::page(rows, p)
    }

    fn urlenc(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    /// Every order, limit and filter, walked forward to the end and back from every page,
    /// gives exactly the pages (items and cursors) the sort-every-time way gives, after
    /// updates that move objects in the order and with repeated datetimes and ids.
    #[test]
    fn pages_match_sorting_everything() {
        let mut l: Listed<TicketOrders> = Listed::default();
        for i in 0..60i64 {
            // Repeated datetimes (i / 4) and one repeated id (7) among them.
            let id = if i == 40 { 7 } else { i };
            l.push(json!({
                "id": id,
                "customer": {"id": i % 5},
                "created_datetime": stamp(i / 4),
                "updated_datetime": stamp((i * 37) % 23),
            }));
        }
        for id in [3, 11, 12, 50] {
            l.update(id, |t| {
                t.insert("updated_datetime".into(), json!(stamp(100 + id)));
            });
        }
        l.update_where(
            |t| t["customer"]["id"] == 2,
            |t| {
                t.insert("customer".into(), json!({"id": 3}));
            },
        );
        for order in ORDERS {
            let field = order.split(':').next().unwrap();
            for limit in [1, 7, 30, 100] {
                for odd in [false, true] {
                    let mut cursor: Option<String> = None;
                    loop {
                        let mut q = format!("limit={limit}&order_by={order}");
                        if let Some(c) = &cursor {
                            q.push_str(&format!("&cursor={}", urlenc(c)));
                        }
                        let p = paging::list_params(&Query::parse(Some(&q)), ORDERS, ORDERS[0])
                            .unwrap();
                        let keep =
                            |t: &Value| !odd || t["customer"]["id"].as_i64().unwrap_or(0) % 2 == 1;
                        let got = l.page(field, &p, keep);
                        let want = by_sorting(&l, field, &p, odd);
                        assert_eq!(got.items, want.items, "{q}");
                        assert_eq!((&got.prev, &got.next), (&want.prev, &want.next), "{q}");
                        if let Some(prev) = &got.prev {
                            let q =
                                format!("limit={limit}&order_by={order}&cursor={}", urlenc(prev));
                            let p = paging::list_params(&Query::parse(Some(&q)), ORDERS, ORDERS[0])
                                .unwrap();
                            let back = l.page(field, &p, keep);
                            let want = by_sorting(&l, field, &p, odd);
                            assert_eq!(back.items, want.items, "{q}");
                            assert_eq!((&back.prev, &back.next), (&want.prev, &want.next), "{q}");
                        }
                        match got.next {
                            Some(n) => cursor = Some(n),
                            None => break,
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn updates_keep_the_id_lookup_and_every_index() {
        let mut l: Listed<SurveyOrders> = Listed::default();
        l.push(json!({"id": 1, "created_datetime": stamp(5)}));
        l.push(json!({"id": 2, "created_datetime": stamp(1)}));
        assert_eq!(
            l.update(2, |s| s.insert("created_datetime".into(), json!(stamp(9))))
                .map(|_| ()),
            Some(())
        );
        assert!(l.update(3, |_| ()).is_none());
        assert_eq!(l.by_id(2).unwrap()["created_datetime"], stamp(9));
        let p = paging::list_params(
            &Query::parse(Some("order_by=created_datetime:desc")),
            &["created_datetime:desc"],
            "created_datetime:desc",
        )
        .unwrap();
        assert_eq!(l.page("created_datetime", &p, |_| true).items, vec![1, 0]);
        assert_eq!(l.iter().count(), 2);
    }
}
