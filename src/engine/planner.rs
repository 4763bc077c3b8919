//! [`plan`]: the engine's entry point, which sequences the pure steps (index, pair, filter,
//! link, diff, create, cap, sort) over one cycle's input.
//!
//! Pure and deterministic: hash maps are only used for lookups, every output list is sorted
//! at the end, and duplicate input records are reduced by a rule that ignores input order.
//!
//! Linking and creates are in `planner/create.rs`, diffing a linked pair in `pair.rs`, reading
//! match keys in `keys.rs`.

use super::canonical::{self, GorgiasPatch, gorgias_text, hubspot_text};
use super::caps;
use super::fxhash::{self, FxMap, FxSet};
use super::input::{
    Base, Choice, Excluded, GorgiasRecord, HubspotRecord, Input, Link, Options, Resolution,
};
use super::link::{self, Candidate, Outcome};
use super::plan::*;
use super::resolve::{Decision, FieldState, decide};
use crate::domain::{GorgiasId, HubspotId, System};
use crate::mappings::{Direction, FieldMapping, GorgiasAccess, HubspotAccess, MappingSet};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

mod create;
mod keys;
mod pair;

pub use keys::KeyReader;

struct Ctx<'a> {
    m: &'a MappingSet,
    o: &'a Options,
    email_field: Option<&'a FieldMapping>,
    phone_field: Option<&'a FieldMapping>,
    /// HubSpot property that holds the Gorgias id (`gorgias = "@id"` fields).
    gorgias_id_prop: Option<&'a str>,
    /// Gorgias top-level field or data path that holds the HubSpot id (`hubspot = "@id"`).
    hubspot_id_field: Option<&'a FieldMapping>,
    reviews: HashMap<(&'a HubspotId, GorgiasId, &'a str), &'a Choice>,
}

#[derive(Default)]
struct Out {
    links: Vec<NewLink>,
    hubspot_updates: Vec<HubspotUpdate>,
    gorgias_updates: Vec<GorgiasUpdate>,
    hubspot_creates: Vec<HubspotCreate>,
    gorgias_creates: Vec<GorgiasCreate>,
    base_updates: Vec<BaseUpdate>,
    changes: Vec<FieldChange>,
    conflicts: Vec<Conflict>,
    skips: Vec<Skip>,
    pairs: usize,
}

impl Out {
    fn skip(
        &mut self,
        h: Option<&HubspotId>,
        g: Option<GorgiasId>,
        field: Option<&str>,
        code: SkipCode,
        reason: impl Into<Cow<'static, str>>,
    ) {
        self.skips.push(Skip {
            hubspot_id: h.cloned(),
            gorgias_id: g,
            field: field.map(str::to_owned),
            code,
            reason: reason.into(),
        });
    }
}

/// Keeps one record per id: the newest, then (for exact ties) the greatest content, so the
/// choice never depends on input order.
fn dedup_hubspot(records: &[HubspotRecord]) -> FxMap<&HubspotId, &HubspotRecord> {
    let mut map: FxMap<&HubspotId, &HubspotRecord> = fxhash::map_with_capacity(records.len());
    for r in records {
        map.entry(&r.id)
            .and_modify(|cur| {
                if (r.updated_at, &r.properties) > (cur.updated_at, &cur.properties) {
                    *cur = r;
                }
            })
            .or_insert(r);
    }
    map
}

fn dedup_gorgias(records: &[GorgiasRecord]) -> FxMap<GorgiasId, &GorgiasRecord> {
    let mut map: FxMap<GorgiasId, &GorgiasRecord> = fxhash::map_with_capacity(records.len());
    for r in records {
        map.entry(r.id)
            .and_modify(|cur| {
                if (r.updated_at, r.fields.to_string()) > (cur.updated_at, cur.fields.to_string()) {
                    *cur = r;
                }
            })
            .or_insert(r);
    }
    map
}

static EMPTY_BASE: Base = Base::new();

/// Plans one cycle. See [`Input`] for what the cycle must pass in; the result is the same
/// for the same input in any order.
pub fn plan(input: &Input<'_>, mappings: &MappingSet, options: &Options) -> Plan {
    let ctx = Ctx::new(mappings, options, input.resolutions);
    let hs = dedup_hubspot(input.hubspot);
    let gs = dedup_gorgias(input.gorgias);
    let mut out = Out::default();
    let idx = LinkIndex::new(input.links);
    let mut pairs = ctx.linked_pairs(&idx, (&hs, &gs), input.excluded, &mut out);
    let (h_un, g_un) = ctx.unlinked(&idx, (&hs, &gs), input.excluded, &mut out);
    if !h_un.is_empty() || !g_un.is_empty() {
        ctx.link_and_create(
            &h_un,
            &g_un,
            &hs,
            &gs,
            &idx.h_link,
            &idx.g_link,
            &mut pairs,
            &mut out,
        );
    }

    out.pairs = pairs.len();
    for (h, g, base) in pairs {
        ctx.diff_pair(h, g, base, &mut out);
    }
    finish(out, options)
}

/// The stored links indexed by each side's id, with the contradictions found (one id
/// linked to two partners).
struct LinkIndex<'i> {
    h_link: FxMap<&'i HubspotId, &'i Link>,
    g_link: FxMap<GorgiasId, &'i Link>,
    bad_h: HashSet<&'i HubspotId>,
    bad_g: HashSet<GorgiasId>,
}

impl<'i> LinkIndex<'i> {
    fn new(links: &'i [Link]) -> Self {
        let mut idx = LinkIndex {
            h_link: fxhash::map_with_capacity(links.len()),
            g_link: fxhash::map_with_capacity(links.len()),
            bad_h: HashSet::new(),
            bad_g: HashSet::new(),
        };
        for l in links {
            if let Some(prev) = idx.h_link.insert(&l.hubspot_id, l) {
                if prev.gorgias_id != l.gorgias_id {
                    idx.bad_h.insert(&l.hubspot_id);
                    idx.bad_g.insert(prev.gorgias_id);
                    idx.bad_g.insert(l.gorgias_id);
                }
            }
            if let Some(prev) = idx.g_link.insert(l.gorgias_id, l) {
                if prev.hubspot_id != l.hubspot_id {
                    idx.bad_g.insert(l.gorgias_id);
                    idx.bad_h.insert(&prev.hubspot_id);
                    idx.bad_h.insert(&l.hubspot_id);
                }
            }
        }
        idx
    }
}

/// The input's records by id, after [`dedup_hubspot`] and [`dedup_gorgias`].
type Records<'m, 'i> = (
    &'m FxMap<&'i HubspotId, &'i HubspotRecord>,
    &'m FxMap<GorgiasId, &'i GorgiasRecord>,
);

/// A linked pair to diff: both records and the link's base.
type Pair<'i> = (&'i HubspotRecord, &'i GorgiasRecord, &'i Base);

impl<'a> Ctx<'a> {
    /// The linked pairs that have a record in this input and pass the filters; the others
    /// are skipped with the reason (a contradictory link, an excluded record, a counterpart
    /// not loaded).
    fn linked_pairs<'i>(
        &self,
        idx: &LinkIndex<'i>,
        (hs, gs): Records<'_, 'i>,
        excluded: &Excluded,
        out: &mut Out,
    ) -> Vec<Pair<'i>> {
        let mut pairs: Vec<Pair<'i>> = Vec::new();
        let mut seen_links: FxSet<(&HubspotId, GorgiasId)> = FxSet::default();
        let touched = hs
            .keys()
            .filter_map(|h| idx.h_link.get(h))
            .chain(gs.keys().filter_map(|g| idx.g_link.get(g)));
        for &l in touched {
            if !seen_links.insert((&l.hubspot_id, l.gorgias_id)) {
                continue;
            }
            let (h, g) = (&l.hubspot_id, l.gorgias_id);
            if idx.bad_h.contains(h) || idx.bad_g.contains(&g) {
                out.skip(
                    Some(h),
                    Some(g),
                    None,
                    SkipCode::InconsistentLink,
                    "the store links one of these records to two partners; repair the links",
                );
                continue;
            }
            if excluded.hubspot.contains(h) || excluded.gorgias.contains(&g) {
                out.skip(
                    Some(h),
                    Some(g),
                    None,
                    SkipCode::Excluded,
                    "a record of this link was merged away or deleted; it is not synced or recreated",
                );
                continue;
            }
            match (hs.get(h), gs.get(&g)) {
                (Some(&hr), Some(&gr)) => {
                    if self.pair_passes(hr, gr) {
                        pairs.push((hr, gr, &l.base));
                    } else {
                        out.skip(Some(h), Some(g), None, SkipCode::FilteredOut, "neither record passes the mapping's filters");
                    }
                }
                (Some(_), None) => out.skip(Some(h), Some(g), None, SkipCode::CounterpartMissing, "the linked Gorgias customer was not loaded (deleted or not fetched); nothing is recreated"),
                (None, Some(_)) => out.skip(Some(h), Some(g), None, SkipCode::CounterpartMissing, "the linked HubSpot contact was not loaded (deleted or not fetched); nothing is recreated"),
                (None, None) => {}
            }
        }
        pairs
    }

    /// The records with no stored link that take part; excluded and filtered-out ones are
    /// skipped with the reason.
    #[allow(clippy::type_complexity)]
    fn unlinked<'i>(
        &self,
        idx: &LinkIndex<'i>,
        (hs, gs): Records<'_, 'i>,
        excluded: &Excluded,
        out: &mut Out,
    ) -> (Vec<&'i HubspotRecord>, Vec<&'i GorgiasRecord>) {
        let mut h_un: Vec<&'i HubspotRecord> = Vec::new();
        for (&id, &r) in hs.iter() {
            if idx.h_link.contains_key(id) {
                continue;
            }
            if excluded.hubspot.contains(id) {
                out.skip(
                    Some(id),
                    None,
                    None,
                    SkipCode::Excluded,
                    "merged away or deleted: never linked or recreated",
                );
            } else if let Err(why) = self.hubspot_passes(r) {
                out.skip(Some(id), None, None, SkipCode::FilteredOut, why);
            } else {
                h_un.push(r);
            }
        }
        let mut g_un: Vec<&'i GorgiasRecord> = Vec::new();
        for (&id, &r) in gs.iter() {
            if idx.g_link.contains_key(&id) {
                continue;
            }
            if excluded.gorgias.contains(&id) {
                out.skip(
                    None,
                    Some(id),
                    None,
                    SkipCode::Excluded,
                    "merged away or deleted: never linked or recreated",
                );
            } else if let Err(why) = self.gorgias_passes(r) {
                out.skip(None, Some(id), None, SkipCode::FilteredOut, why);
            } else {
                g_un.push(r);
            }
        }
        (h_un, g_un)
    }

    fn new(mappings: &'a MappingSet, options: &'a Options, resolutions: &'a [Resolution]) -> Self {
        let field_named = |n: &Option<String>| n.as_deref().and_then(|n| mappings.field(n));
        Ctx {
            m: mappings,
            o: options,
            email_field: field_named(&mappings.records.email_field),
            phone_field: field_named(&mappings.records.phone_field),
            gorgias_id_prop: mappings
                .fields
                .iter()
                .find_map(|f| match (&f.gorgias, &f.hubspot) {
                    (GorgiasAccess::Id, HubspotAccess::Property(p)) => Some(p.as_str()),
                    _ => None,
                }),
            hubspot_id_field: mappings
                .fields
                .iter()
                .find(|f| f.hubspot == HubspotAccess::Id),
            reviews: resolutions
                .iter()
                .map(|r| ((&r.hubspot_id, r.gorgias_id, r.field.as_str()), &r.choice))
                .collect(),
        }
    }

    fn hubspot_candidate<'r>(&self, r: &'r HubspotRecord) -> Candidate<'r, &'r HubspotId, GorgiasId>
    where
        'a: 'r,
    {
        let region = self.region();
        Candidate {
            id: &r.id,
            email: self.key(self.email_field, |f| canonical::read_hubspot(f, r, region)),
            phone: self.key(self.phone_field, |f| canonical::read_hubspot(f, r, region)),
            claim: self
                .gorgias_id_prop
                .and_then(|p| r.properties.get(p))
                .and_then(|v| v.trim().parse::<GorgiasId>().ok()),
        }
    }

    fn gorgias_candidate<'r>(&self, r: &'r GorgiasRecord) -> Candidate<'r, GorgiasId, HubspotId>
    where
        'a: 'r,
    {
        let region = self.region();
        Candidate {
            id: r.id,
            email: self.key(self.email_field, |f| canonical::read_gorgias(f, r, region)),
            phone: self.key(self.phone_field, |f| canonical::read_gorgias(f, r, region)),
            claim: self
                .hubspot_id_field
                .and_then(|f| gorgias_text(f, r).ok().flatten())
                .and_then(|v| HubspotId::new(v.trim()).ok()),
        }
    }
    fn region(&self) -> crate::domain::Region {
        self.o.default_region
    }

    fn hubspot_passes(&self, r: &HubspotRecord) -> Result<(), String> {
        self.passes(|f| canonical::read_hubspot(f, r, self.region()))
    }

    fn gorgias_passes(&self, r: &GorgiasRecord) -> Result<(), String> {
        self.passes(|f| canonical::read_gorgias(f, r, self.region()))
    }

    fn pair_passes(&self, h: &HubspotRecord, g: &GorgiasRecord) -> bool {
        let rules = &self.m.records;
        if !rules.require_email && rules.filters.is_empty() {
            return true;
        }
        self.hubspot_passes(h).is_ok() || self.gorgias_passes(g).is_ok()
    }

    fn passes<'x>(
        &self,
        read: impl Fn(&'x FieldMapping) -> canonical::Canon<'x>,
    ) -> Result<(), String>
    where
        'a: 'x,
    {
        let rules = &self.m.records;
        if rules.require_email {
            if let Some(f) = self.email_field {
                match read(f) {
                    Ok(Some(_)) => {}
                    Ok(None) => return Err("no e-mail, and the mapping requires one".into()),
                    Err(e) => {
                        return Err(format!("invalid e-mail, and the mapping requires one: {e}"));
                    }
                }
            }
        }
        for filter in &rules.filters {
            let Some(f) = self.m.field(&filter.field) else {
                continue;
            };
            let v = read(f).ok().flatten();
            if !filter.condition.holds(v.as_deref()) {
                return Err(format!(
                    "field {} does not pass the mapping's filter",
                    filter.field
                ));
            }
        }
        Ok(())
    }

    fn key<'r>(
        &self,
        f: Option<&'a FieldMapping>,
        read: impl Fn(&'a FieldMapping) -> canonical::Canon<'r>,
    ) -> Option<Cow<'r, str>> {
        f.and_then(|f| read(f).ok().flatten())
    }
}

fn finish(mut out: Out, o: &Options) -> Plan {
    out.links.sort();
    out.hubspot_updates.sort_by(|a, b| a.id.cmp(&b.id));
    out.gorgias_updates.sort_by_key(|u| u.id);
    out.hubspot_creates.sort_by_key(|c| c.from_gorgias);
    out.gorgias_creates
        .sort_by(|a, b| a.from_hubspot.cmp(&b.from_hubspot));
    out.base_updates.sort();
    out.changes.sort();
    out.conflicts.sort();
    out.skips.sort();
    out.skips.dedup();
    let creates = out.hubspot_creates.len() + out.gorgias_creates.len();
    let overwrites = out.changes.iter().filter(|c| c.overwrites).count();
    let caps = caps::check(
        creates,
        overwrites,
        o.max_creates,
        o.max_overwrites,
        o.allow_large,
    );
    let summary = Summary {
        pairs: out.pairs,
        links: out.links.len(),
        hubspot_updates: out.hubspot_updates.len(),
        gorgias_updates: out.gorgias_updates.len(),
        hubspot_creates: out.hubspot_creates.len(),
        gorgias_creates: out.gorgias_creates.len(),
        field_writes: out.changes.len(),
        base_updates: out.base_updates.len(),
        conflicts: out.conflicts.len(),
        skips: out.skips.len(),
    };
    Plan {
        schema_version: SCHEMA_VERSION,
        summary,
        caps,
        links: out.links,
        hubspot_updates: out.hubspot_updates,
        gorgias_updates: out.gorgias_updates,
        hubspot_creates: out.hubspot_creates,
        gorgias_creates: out.gorgias_creates,
        base_updates: out.base_updates,
        changes: out.changes,
        conflicts: out.conflicts,
        skips: out.skips,
        unsettled: vec![],
    }
}
