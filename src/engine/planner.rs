//! [`plan`]: the engine's entry point, which sequences the pure steps (index, pair, filter,
//! link, diff, create, cap, sort) over one cycle's input.
//!
//! Pure and deterministic: hash maps are only used for lookups, every output list is sorted
//! at the end, and duplicate input records are reduced by a rule that ignores input order.

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

    // Links: index, and find contradictions (one id linked to two partners).
    let mut h_link: FxMap<&HubspotId, &Link> = fxhash::map_with_capacity(input.links.len());
    let mut g_link: FxMap<GorgiasId, &Link> = fxhash::map_with_capacity(input.links.len());
    let mut bad_h: HashSet<&HubspotId> = HashSet::new();
    let mut bad_g: HashSet<GorgiasId> = HashSet::new();
    for l in input.links {
        if let Some(prev) = h_link.insert(&l.hubspot_id, l) {
            if prev.gorgias_id != l.gorgias_id {
                bad_h.insert(&l.hubspot_id);
                bad_g.insert(prev.gorgias_id);
                bad_g.insert(l.gorgias_id);
            }
        }
        if let Some(prev) = g_link.insert(l.gorgias_id, l) {
            if prev.hubspot_id != l.hubspot_id {
                bad_g.insert(l.gorgias_id);
                bad_h.insert(&prev.hubspot_id);
                bad_h.insert(&l.hubspot_id);
            }
        }
    }

    // Linked pairs that have a record in this input.
    let mut pairs: Vec<(&HubspotRecord, &GorgiasRecord, &Base)> = Vec::new();
    let mut seen_links: FxSet<(&HubspotId, GorgiasId)> = FxSet::default();
    let touched = hs
        .keys()
        .filter_map(|h| h_link.get(h))
        .chain(gs.keys().filter_map(|g| g_link.get(g)));
    for l in touched {
        if !seen_links.insert((&l.hubspot_id, l.gorgias_id)) {
            continue;
        }
        let (h, g) = (&l.hubspot_id, l.gorgias_id);
        if bad_h.contains(h) || bad_g.contains(&g) {
            out.skip(
                Some(h),
                Some(g),
                None,
                SkipCode::InconsistentLink,
                "the store links one of these records to two partners; repair the links",
            );
            continue;
        }
        if input.excluded.hubspot.contains(h) || input.excluded.gorgias.contains(&g) {
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
            (Some(hr), Some(gr)) => {
                if ctx.pair_passes(hr, gr) {
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

    // Unlinked records.
    let mut h_un: Vec<&HubspotRecord> = Vec::new();
    for (id, r) in &hs {
        if h_link.contains_key(id) {
            continue;
        }
        if input.excluded.hubspot.contains(*id) {
            out.skip(
                Some(id),
                None,
                None,
                SkipCode::Excluded,
                "merged away or deleted: never linked or recreated",
            );
        } else if let Err(why) = ctx.hubspot_passes(r) {
            out.skip(Some(id), None, None, SkipCode::FilteredOut, why);
        } else {
            h_un.push(r);
        }
    }
    let mut g_un: Vec<&GorgiasRecord> = Vec::new();
    for (id, r) in &gs {
        if g_link.contains_key(id) {
            continue;
        }
        if input.excluded.gorgias.contains(id) {
            out.skip(
                None,
                Some(*id),
                None,
                SkipCode::Excluded,
                "merged away or deleted: never linked or recreated",
            );
        } else if let Err(why) = ctx.gorgias_passes(r) {
            out.skip(None, Some(*id), None, SkipCode::FilteredOut, why);
        } else {
            g_un.push(r);
        }
    }
    if !h_un.is_empty() || !g_un.is_empty() {
        ctx.link_and_create(
            &h_un, &g_un, &hs, &gs, &h_link, &g_link, &mut pairs, &mut out,
        );
    }

    out.pairs = pairs.len();
    for (h, g, base) in pairs {
        ctx.diff_pair(h, g, base, &mut out);
    }
    finish(out, options)
}

impl<'a> Ctx<'a> {
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

    #[allow(clippy::too_many_arguments)]
    fn link_and_create<'r>(
        &self,
        h_un: &[&'r HubspotRecord],
        g_un: &[&'r GorgiasRecord],
        hs: &FxMap<&'r HubspotId, &'r HubspotRecord>,
        gs: &FxMap<GorgiasId, &'r GorgiasRecord>,
        h_link: &FxMap<&HubspotId, &Link>,
        g_link: &FxMap<GorgiasId, &Link>,
        pairs: &mut Vec<(&'r HubspotRecord, &'r GorgiasRecord, &'r Base)>,
        out: &mut Out,
    ) where
        'a: 'r,
    {
        let region = self.region();
        let hc: Vec<link::HubspotCandidate<'r>> =
            h_un.iter().map(|r| self.hubspot_candidate(r)).collect();
        let gc: Vec<link::GorgiasCandidate<'r>> =
            g_un.iter().map(|r| self.gorgias_candidate(r)).collect();
        // E-mails of linked records in this input: a new record with one is a likely duplicate.
        let mut linked_emails: Vec<Cow<'r, str>> = Vec::new();
        if let Some(f) = self.email_field {
            for (id, r) in hs {
                if h_link.contains_key(id) {
                    if let Ok(Some(e)) = canonical::read_hubspot(f, r, region) {
                        linked_emails.push(e);
                    }
                }
            }
            for (id, r) in gs {
                if g_link.contains_key(id) {
                    if let Ok(Some(e)) = canonical::read_gorgias(f, r, region) {
                        linked_emails.push(e);
                    }
                }
            }
        }
        let linked_set: HashSet<&str> = linked_emails.iter().map(|e| e.as_ref()).collect();
        let result = link::link(&hc, &gc, &linked_set);
        for (i, outcome) in result.hubspot.iter().enumerate() {
            let (Some(r), Some(c)) = (h_un.get(i), hc.get(i)) else {
                continue;
            };
            match outcome {
                Outcome::Linked(gi, kind) => {
                    let (Some(g), Some(gcand)) = (g_un.get(*gi), gc.get(*gi)) else {
                        continue;
                    };
                    let key = match kind {
                        MatchKind::RecordedId => format!("{}/{}", r.id, g.id),
                        MatchKind::Email => c.email.as_deref().unwrap_or_default().to_owned(),
                        MatchKind::Phone => gcand.phone.as_deref().unwrap_or_default().to_owned(),
                    };
                    out.links.push(NewLink {
                        hubspot_id: r.id.clone(),
                        gorgias_id: g.id,
                        matched_by: *kind,
                        key,
                    });
                    pairs.push((r, g, &EMPTY_BASE));
                }
                Outcome::Skipped(code, why) => {
                    out.skip(Some(&r.id), None, None, *code, why.clone())
                }
                Outcome::Unmatched => self.create_gorgias(r, c.email.is_some(), out),
            }
        }
        for (i, outcome) in result.gorgias.iter().enumerate() {
            let (Some(r), Some(c)) = (g_un.get(i), gc.get(i)) else {
                continue;
            };
            match outcome {
                Outcome::Linked(..) => {}
                Outcome::Skipped(code, why) => out.skip(None, Some(r.id), None, *code, why.clone()),
                Outcome::Unmatched => self.create_hubspot(r, c.email.is_some(), out),
            }
        }
    }

    fn create_gorgias(&self, r: &HubspotRecord, has_email: bool, out: &mut Out) {
        if !self.m.records.create_in_gorgias {
            out.skip(
                Some(&r.id),
                None,
                None,
                SkipCode::CreateDisabled,
                "no Gorgias counterpart, and records.create_in_gorgias is off",
            );
            return;
        }
        if !has_email {
            out.skip(Some(&r.id), None, None, SkipCode::NoEmailForCreate, "no Gorgias counterpart, and no valid e-mail to create one without risking a duplicate");
            return;
        }
        let mut patch = GorgiasPatch::new(None);
        let mut bases = BTreeMap::new();
        for f in &self.m.fields {
            if f.direction == Direction::ToHubspot || !f.gorgias.writable() {
                continue;
            }
            match canonical::read_hubspot(f, r, self.region()) {
                Ok(None) => {}
                Ok(Some(v)) => match patch.set(f, Some(&v)) {
                    Ok(()) => {
                        bases.insert(f.name.clone(), Some(v.into_owned()));
                    }
                    Err(e) => out.skip(Some(&r.id), None, Some(&f.name), SkipCode::CannotWrite, e),
                },
                Err(e) => out.skip(
                    Some(&r.id),
                    None,
                    Some(&f.name),
                    SkipCode::InvalidValue,
                    format!("HubSpot value left out of the create: {e}"),
                ),
            }
        }
        let (fields, data) = patch.finish();
        out.gorgias_creates.push(GorgiasCreate {
            from_hubspot: r.id.clone(),
            fields,
            data,
            bases,
        });
    }

    fn create_hubspot(&self, r: &GorgiasRecord, has_email: bool, out: &mut Out) {
        if !self.m.records.create_in_hubspot {
            out.skip(
                None,
                Some(r.id),
                None,
                SkipCode::CreateDisabled,
                "no HubSpot counterpart, and records.create_in_hubspot is off",
            );
            return;
        }
        if !has_email {
            out.skip(None, Some(r.id), None, SkipCode::NoEmailForCreate, "no HubSpot counterpart, and no valid e-mail to create one without risking a duplicate");
            return;
        }
        let mut properties = BTreeMap::new();
        let mut bases = BTreeMap::new();
        for f in &self.m.fields {
            if f.direction == Direction::ToGorgias || !f.hubspot.writable() {
                continue;
            }
            match canonical::read_gorgias(f, r, self.region()) {
                // A list item has no channels: its phone is unknown, not invalid; the pair's
                // next cycle (with the full customer) fills it in.
                Ok(None) => {}
                Err(canonical::FieldError::ChannelsMissing) => {}
                Ok(Some(v)) => match canonical::write_hubspot(f, Some(&v), None, &mut properties) {
                    Ok(()) => {
                        bases.insert(f.name.clone(), Some(v.into_owned()));
                    }
                    Err(e) => out.skip(None, Some(r.id), Some(&f.name), SkipCode::CannotWrite, e),
                },
                Err(e) => out.skip(
                    None,
                    Some(r.id),
                    Some(&f.name),
                    SkipCode::InvalidValue,
                    format!("Gorgias value left out of the create: {e}"),
                ),
            }
        }
        out.hubspot_creates.push(HubspotCreate {
            from_gorgias: r.id,
            properties,
            bases,
        });
    }

    /// Diffs every mapped field of one linked pair and records the writes.
    fn diff_pair(&self, h: &HubspotRecord, g: &GorgiasRecord, base: &Base, out: &mut Out) {
        let region = self.region();
        let mut props: BTreeMap<String, String> = BTreeMap::new();
        let mut h_bases: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut patch: Option<GorgiasPatch> = None;
        let mut g_bases: BTreeMap<String, Option<String>> = BTreeMap::new();
        for f in &self.m.fields {
            let b = base.get(&f.name).map(String::as_str);
            let ht = hubspot_text(f, h);
            let gt = gorgias_text(f, g);
            // Fast path: the same text on both sides has the same canonical value, and when
            // it is the base itself nothing can change.
            let same_form = f.values.is_none() && f.hubspot_format == f.gorgias_format;
            if same_form {
                if let Ok(gt) = &gt {
                    if ht.as_deref() == gt.as_deref() && ht.is_some() && ht.as_deref() == b {
                        continue;
                    }
                }
            }
            // Channels not loaded (a list item) while HubSpot has a value the base lacks: the
            // change is pending and cannot be compared; skip before parsing anything.
            if let Err(e @ canonical::FieldError::ChannelsMissing) = &gt {
                if f.direction == Direction::Both && ht.is_some() && b.is_none() {
                    out.skip(
                        Some(&h.id),
                        Some(g.id),
                        Some(&f.name),
                        SkipCode::InvalidValue,
                        format!("Gorgias value does not fit: {e}"),
                    );
                    continue;
                }
            }
            let hv = canonical::hubspot_canon(f, ht, region);
            let gv = match gt {
                Ok(t) => canonical::gorgias_canon(f, t, region),
                Err(e) => Err(e),
            };
            let (hv, gv) = match (hv, gv, f.direction) {
                (Ok(hv), Ok(gv), _) => (hv, gv),
                (Err(e), _, Direction::Both | Direction::ToGorgias) => {
                    out.skip(
                        Some(&h.id),
                        Some(g.id),
                        Some(&f.name),
                        SkipCode::InvalidValue,
                        format!("HubSpot value does not fit: {e}"),
                    );
                    continue;
                }
                // Channels not loaded and nothing pending on HubSpot: nothing to say.
                (Ok(hv), Err(canonical::FieldError::ChannelsMissing), Direction::Both)
                    if hv.as_deref() == b =>
                {
                    continue;
                }
                (_, Err(e), Direction::Both | Direction::ToHubspot) => {
                    out.skip(
                        Some(&h.id),
                        Some(g.id),
                        Some(&f.name),
                        SkipCode::InvalidValue,
                        format!("Gorgias value does not fit: {e}"),
                    );
                    continue;
                }
                // One-way with an unreadable target: the source overwrites it.
                (Ok(hv), Err(_), Direction::ToGorgias) => {
                    let v = hv.as_deref();
                    self.write(
                        f,
                        h,
                        g,
                        (v, None, b),
                        (
                            System::Gorgias,
                            v,
                            super::resolve::Cause::OneWay,
                            "one-way field; the Gorgias value did not fit",
                        ),
                        &mut props,
                        &mut h_bases,
                        &mut patch,
                        &mut g_bases,
                        out,
                        true,
                    );
                    continue;
                }
                (Err(_), Ok(gv), Direction::ToHubspot) => {
                    let v = gv.as_deref();
                    self.write(
                        f,
                        h,
                        g,
                        (None, v, b),
                        (
                            System::Hubspot,
                            v,
                            super::resolve::Cause::OneWay,
                            "one-way field; the HubSpot value did not fit",
                        ),
                        &mut props,
                        &mut h_bases,
                        &mut patch,
                        &mut g_bases,
                        out,
                        true,
                    );
                    continue;
                }
            };
            let state = FieldState {
                hubspot: hv.as_deref(),
                gorgias: gv.as_deref(),
                base: b,
                hubspot_updated: h.updated_at,
                gorgias_updated: g.updated_at,
            };
            let review = match self.reviews.get(&(&h.id, g.id, f.name.as_str())) {
                Some(Choice::Take(side)) => Some(*side),
                Some(Choice::Value(v)) => {
                    let v = Some(v.as_str()).filter(|v| !v.is_empty());
                    self.write_value(
                        f,
                        (h, g),
                        &state,
                        v,
                        &mut props,
                        &mut h_bases,
                        &mut patch,
                        &mut g_bases,
                        out,
                    );
                    continue;
                }
                None => None,
            };
            match decide(f.direction, f.conflict, review, &state) {
                Decision::Nothing => {}
                Decision::Base(v) => out.base_updates.push(BaseUpdate {
                    hubspot_id: h.id.clone(),
                    gorgias_id: g.id,
                    field: f.name.clone(),
                    value: v.map(str::to_owned),
                }),
                Decision::Held => out.conflicts.push(Conflict {
                    hubspot_id: h.id.clone(),
                    gorgias_id: g.id,
                    field: f.name.clone(),
                    hubspot: state.hubspot.map(str::to_owned),
                    gorgias: state.gorgias.map(str::to_owned),
                    base: b.map(str::to_owned),
                    hubspot_updated_at: h.updated_at,
                    gorgias_updated_at: g.updated_at,
                }),
                Decision::Write {
                    to,
                    value,
                    cause,
                    winner_note,
                } => {
                    let target_nonempty = match to {
                        System::Hubspot => state.hubspot.is_some(),
                        System::Gorgias => state.gorgias.is_some(),
                    };
                    self.write(
                        f,
                        h,
                        g,
                        (state.hubspot, state.gorgias, b),
                        (to, value, cause, winner_note),
                        &mut props,
                        &mut h_bases,
                        &mut patch,
                        &mut g_bases,
                        out,
                        target_nonempty,
                    );
                }
            }
        }
        if !props.is_empty() {
            out.hubspot_updates.push(HubspotUpdate {
                id: h.id.clone(),
                gorgias_id: g.id,
                properties: props,
                bases: h_bases,
            });
        } else {
            move_bases(h, g, h_bases, out);
        }
        let (fields, data) = patch.map(GorgiasPatch::finish).unwrap_or_default();
        if !fields.is_empty() || data.is_some() {
            out.gorgias_updates.push(GorgiasUpdate {
                id: g.id,
                hubspot_id: h.id.clone(),
                fields,
                data,
                bases: g_bases,
            });
        } else {
            move_bases(h, g, g_bases, out);
        }
    }

    /// A reviewer's own value (`Choice::Value`): written to each side that does not hold
    /// it; when both already do, only the base moves.
    #[allow(clippy::too_many_arguments)]
    fn write_value(
        &self,
        f: &FieldMapping,
        (h, g): (&HubspotRecord, &GorgiasRecord),
        state: &FieldState<'_>,
        v: Option<&str>,
        props: &mut BTreeMap<String, String>,
        h_bases: &mut BTreeMap<String, Option<String>>,
        patch: &mut Option<GorgiasPatch>,
        g_bases: &mut BTreeMap<String, Option<String>>,
        out: &mut Out,
    ) {
        let mut wrote = false;
        for (to, now) in [
            (System::Hubspot, state.hubspot),
            (System::Gorgias, state.gorgias),
        ] {
            if now != v {
                wrote = true;
                self.write(
                    f,
                    h,
                    g,
                    (state.hubspot, state.gorgias, state.base),
                    (
                        to,
                        v,
                        super::resolve::Cause::ReviewDecision,
                        "reviewer's value",
                    ),
                    props,
                    h_bases,
                    patch,
                    g_bases,
                    out,
                    now.is_some(),
                );
            }
        }
        if !wrote && v != state.base {
            out.base_updates.push(BaseUpdate {
                hubspot_id: h.id.clone(),
                gorgias_id: g.id,
                field: f.name.clone(),
                value: v.map(str::to_owned),
            });
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &self,
        f: &FieldMapping,
        h: &HubspotRecord,
        g: &GorgiasRecord,
        seen: (Option<&str>, Option<&str>, Option<&str>),
        what: (System, Option<&str>, super::resolve::Cause, &'static str),
        props: &mut BTreeMap<String, String>,
        h_bases: &mut BTreeMap<String, Option<String>>,
        patch: &mut Option<GorgiasPatch>,
        g_bases: &mut BTreeMap<String, Option<String>>,
        out: &mut Out,
        overwrites: bool,
    ) {
        let (to, value, cause, note) = what;
        let result = match to {
            System::Hubspot => canonical::write_hubspot(f, value, Some(h), props),
            System::Gorgias => patch
                .get_or_insert_with(|| GorgiasPatch::new(Some(g)))
                .set(f, value),
        };
        if let Err(e) = result {
            out.skip(
                Some(&h.id),
                Some(g.id),
                Some(&f.name),
                SkipCode::CannotWrite,
                format!("cannot write to {}: {e}", side_name(to)),
            );
            return;
        }
        let bases = if to == System::Hubspot {
            h_bases
        } else {
            g_bases
        };
        bases.insert(f.name.clone(), value.map(str::to_owned));
        out.changes.push(FieldChange {
            hubspot_id: h.id.clone(),
            gorgias_id: g.id,
            field: f.name.clone(),
            target: to,
            hubspot: seen.0.map(str::to_owned),
            gorgias: seen.1.map(str::to_owned),
            base: seen.2.map(str::to_owned),
            value: value.map(str::to_owned),
            overwrites,
            cause,
            reason: Cow::Borrowed(note),
        });
    }
}

/// Bases planned with a write that turned out empty move with no write.
fn move_bases(
    h: &HubspotRecord,
    g: &GorgiasRecord,
    bases: BTreeMap<String, Option<String>>,
    out: &mut Out,
) {
    for (field, value) in bases {
        out.base_updates.push(BaseUpdate {
            hubspot_id: h.id.clone(),
            gorgias_id: g.id,
            field,
            value,
        });
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

/// Reads the matching keys of records for [`super::link::link_keys`], applying the same
/// exclusions and filters as [`plan`].
pub struct KeyReader<'a> {
    ctx: Ctx<'a>,
    excluded: &'a Excluded,
}

impl<'a> KeyReader<'a> {
    pub fn new(mappings: &'a MappingSet, options: &'a Options, excluded: &'a Excluded) -> Self {
        Self {
            ctx: Ctx::new(mappings, options, &[]),
            excluded,
        }
    }

    fn owned<X, I, O>(c: Candidate<'_, X, O>, id: I) -> Candidate<'static, I, O> {
        Candidate {
            id,
            email: c.email.map(|e| Cow::Owned(e.into_owned())),
            phone: c.phone.map(|p| Cow::Owned(p.into_owned())),
            claim: c.claim,
        }
    }

    /// The keys of an unlinked HubSpot record, or why it does not take part.
    pub fn hubspot(&self, r: &HubspotRecord) -> Result<link::HubspotKeys, Skip> {
        let skip = |code, reason: Cow<'static, str>| Skip {
            hubspot_id: Some(r.id.clone()),
            gorgias_id: None,
            field: None,
            code,
            reason,
        };
        if self.excluded.hubspot.contains(&r.id) {
            return Err(skip(
                SkipCode::Excluded,
                "merged away or deleted: never linked or recreated".into(),
            ));
        }
        self.ctx
            .hubspot_passes(r)
            .map_err(|why| skip(SkipCode::FilteredOut, Cow::Owned(why)))?;
        let c = self.ctx.hubspot_candidate(r);
        let claim = c.claim;
        Ok(Self::owned(
            Candidate {
                id: (),
                email: c.email,
                phone: c.phone,
                claim,
            },
            r.id.clone(),
        ))
    }

    /// The keys of an unlinked Gorgias record, or why it does not take part.
    pub fn gorgias(&self, r: &GorgiasRecord) -> Result<link::GorgiasKeys, Skip> {
        let skip = |code, reason: Cow<'static, str>| Skip {
            hubspot_id: None,
            gorgias_id: Some(r.id),
            field: None,
            code,
            reason,
        };
        if self.excluded.gorgias.contains(&r.id) {
            return Err(skip(
                SkipCode::Excluded,
                "merged away or deleted: never linked or recreated".into(),
            ));
        }
        self.ctx
            .gorgias_passes(r)
            .map_err(|why| skip(SkipCode::FilteredOut, Cow::Owned(why)))?;
        let c = self.ctx.gorgias_candidate(r);
        Ok(Self::owned(c, r.id))
    }
}
