//! Reading for one cycle: both change feeds from their watermarks minus the overlap, merges
//! and deletions (HubSpot `hs_merged_object_ids`, Gorgias events), the counterparts of
//! linked records (HubSpot batch read by id, Gorgias get by id), the other side's records
//! sharing an unlinked record's e-mail, and the links with their bases; then the conversion
//! of connector types into the engine's input types. Malformed records are quarantined with
//! the reason and left out; the cycle goes on.
//!
//! Owns what to read and how to convert it. Must never decide what to write, and in
//! [`Mode::ReadOnly`] must never write to the store (merges are then followed in memory).

use super::replan::{self, Replan};
use super::{Cycle, CycleError};
use crate::connectors::gorgias::{Customer, GorgiasError};
use crate::connectors::hubspot::{Contact, ReadOutcome, ReadResult};
use crate::domain::{Email, GorgiasId, HubspotId, RecordRef, System};
use crate::engine::{self, Excluded, GorgiasRecord, HubspotRecord, Input};
use crate::mappings::{GorgiasAccess, HubspotAccess, MappingSet};
use crate::store::{LinkId, RecordSeen, Watermark};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The matching key marking a record whose pair holds a conflict for review: such records
/// are read again every cycle (so `plan` keeps showing the conflict) until it is resolved.
pub const HELD_KEY: &str = "held:conflict";

/// Whether the read may write to the store (quarantine, relinks after merges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    ReadOnly,
}

/// Everything read for one plan, in the engine's types, plus what to record once the
/// cycle's writes all succeed.
#[derive(Debug, Default)]
pub struct Gathered {
    pub hubspot: Vec<HubspotRecord>,
    pub gorgias: Vec<GorgiasRecord>,
    pub links: Vec<engine::Link>,
    pub excluded: Excluded,
    /// Records quarantined during this read.
    pub quarantined: usize,
    /// HubSpot calls / Gorgias calls are counted by the clients; this counts feed items.
    pub feed_items: usize,
    /// HubSpot contacts received (feed, lookups and counterparts; before dropping those
    /// already seen).
    pub read_hubspot: usize,
    /// Gorgias customers received, likewise.
    pub read_gorgias: usize,
    next_hubspot: Option<Watermark>,
    next_gorgias: Option<Watermark>,
    seen: Vec<RecordSeen>,
    /// Released from quarantine by this read; taken out of the store's quarantine only by
    /// [`record_progress`], with the records seen, so that a cycle that dies after the
    /// release (a `kill -9`, a SIGTERM abandoning it) releases them again next time, and
    /// their pairs are planned then (chaos seed 26).
    released: Vec<RecordRef>,
    /// The choices people made for held conflicts, not yet applied (`tether conflicts
    /// resolve`, the review page).
    pub resolutions: Vec<engine::Resolution>,
    /// Unsettled records read again this cycle ([`super::replan`]): settled by
    /// [`record_progress`] when the plan owes them no write any more.
    pub replanned_unsettled: Vec<RecordRef>,
    /// Unsettled records read again and found gone (deleted): settled by
    /// [`record_progress`], never recreated.
    pub gone_unsettled: Vec<RecordRef>,
}

impl Gathered {
    /// The engine input over what was read, with the pending conflict resolutions.
    pub fn input(&self) -> Input<'_> {
        Input {
            hubspot: &self.hubspot,
            gorgias: &self.gorgias,
            links: &self.links,
            excluded: &self.excluded,
            resolutions: &self.resolutions,
        }
    }
}

mod convert;
mod reader;
mod reread;

use convert::*;
pub use convert::{gorgias_record, hubspot_properties, hubspot_record, needs_channels};
use reader::Reader;

/// Where a read starts: both change feeds from their watermarks (a normal cycle), or the
/// named HubSpot contacts read by id (a targeted cycle, [`super::targeted`]), which reads no
/// feed and so moves no watermark.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    Feeds,
    Contacts(&'a [HubspotId]),
}

/// Reads what one plan needs. In [`Mode::Write`] quarantines malformed records and persists
/// relinks after merges.
pub async fn gather(ctx: &Cycle, mode: Mode) -> Result<Gathered, CycleError> {
    gather_from(ctx, mode, Source::Feeds).await
}

/// [`gather`] from the given [`Source`]. With [`Source::Contacts`] the contacts are read by
/// id (merges followed), no feed, event or held record is read, and the next watermarks
/// stay unset; counterparts and same-e-mail candidates are read as in a normal cycle.
pub async fn gather_from(
    ctx: &Cycle,
    mode: Mode,
    source: Source<'_>,
) -> Result<Gathered, CycleError> {
    let now = Utc::now();
    // The dry run shows what the next cycle does: after a change of the mappings, that
    // cycle clears every backoff first (`replan::note_settings`).
    let all_unsettled = mode == Mode::ReadOnly && replan::settings_changed(ctx).await?;
    let mut replan = replan::due(ctx, now, all_unsettled).await?;
    if matches!(source, Source::Contacts(_)) {
        // A targeted cycle reads only the named contacts (and knows the quarantine).
        replan
            .records
            .retain(|_, why| *why == replan::Why::Quarantined);
    }
    let quarantine: HashSet<RecordRef> = replan.of(replan::Why::Quarantined).cloned().collect();
    let mut rd = Reader {
        ctx,
        mode,
        now,
        quarantine,
        out: Gathered::default(),
        hubspot: BTreeMap::new(),
        gorgias: BTreeMap::new(),
        links: BTreeMap::new(),
        link_of_h: HashMap::new(),
        link_of_g: HashMap::new(),
        looked_up_h: HashSet::new(),
        looked_up_g: HashSet::new(),
        released: HashSet::new(),
        replan,
        forced: HashSet::new(),
    };
    let overlap = chrono::Duration::from_std(ctx.options.overlap).unwrap_or_default();
    let props_owned = hubspot_properties(&ctx.mappings);
    let mut props: Vec<&str> = props_owned.iter().map(String::as_str).collect();
    props.push("hs_merged_object_ids");
    // What duplicate proposals compare (`super::dedup`), read with the same calls.
    for p in super::dedup::hubspot_properties() {
        if !props.contains(&p) {
            props.push(p);
        }
    }
    let channels = needs_channels(&ctx.mappings);

    if let Source::Contacts(ids) = source {
        let wanted: Vec<String> = ids.iter().map(|h| h.as_str().to_owned()).collect();
        if !wanted.is_empty() {
            for r in ctx.hubspot.batch_read(&wanted, &props).await? {
                rd.out.feed_items += 1;
                // A named contact in quarantine is released when it now reads well (a
                // webhook often follows the fix that makes it readable).
                if HubspotId::new(r.requested.clone())
                    .is_ok_and(|h| rd.quarantine.contains(&RecordRef::Hubspot(h)))
                {
                    rd.reread_answer(r).await?;
                    continue;
                }
                match r.outcome {
                    ReadOutcome::Found(c) => {
                        rd.looked_up_h.insert(c.id.clone());
                        rd.add_contact(&c).await;
                    }
                    ReadOutcome::Merged(c) => {
                        rd.follow_hubspot_merge(&r.requested, &c.id).await?;
                        rd.looked_up_h.insert(c.id.clone());
                        if !rd.hubspot.contains_key(&c.id) {
                            rd.add_contact(&c).await;
                        }
                    }
                    ReadOutcome::NotFound => {}
                }
            }
        }
        for id in &rd.out.excluded.hubspot {
            rd.hubspot.remove(id.as_str());
        }
        rd.drop_seen().await?;
        return finish(ctx, rd, channels, false, false, now).await;
    }

    // 1. Feeds.
    let wm_h = ctx.store.watermark(System::Hubspot).await?;
    let wm_g = ctx.store.watermark(System::Gorgias).await?;
    let hubspot_full = wm_h.is_none();
    let gorgias_full = wm_g.is_none();
    let contacts = match &wm_h {
        None => ctx.hubspot.list_all(&props).await?,
        Some(w) => {
            ctx.hubspot
                .changed_between(w.at - overlap, now, &props)
                .await?
        }
    };
    rd.out.next_hubspot = next_watermark(
        System::Hubspot,
        contacts.iter().filter_map(|c| c.updated_at),
        now,
    );
    rd.out.feed_items += contacts.len();
    super::report_progress(
        ctx,
        super::Stage::ReadHubspot,
        contacts.len(),
        contacts.len(),
    );
    // The re-plan set (quarantined, unsettled, held) is read again first, so that a
    // released one is taken from the feeds like any other record.
    rd.reread_contacts(&props).await?;
    for c in &contacts {
        rd.add_contact(c).await;
    }
    for c in &contacts {
        for m in &c.merged_ids {
            rd.follow_hubspot_merge(m, &c.id).await?;
        }
    }
    rd.reread_customers().await?;
    let feed = ctx
        .gorgias
        .changed_since_watermark(wm_g.as_ref().map(|w| w.at), overlap)
        .await?;
    rd.out.next_gorgias = next_watermark(
        System::Gorgias,
        feed.customers.iter().filter_map(|c| c.updated_datetime),
        now,
    );
    rd.out.feed_items += feed.customers.len();
    super::report_progress(
        ctx,
        super::Stage::ReadGorgias,
        feed.customers.len(),
        feed.customers.len(),
    );
    for q in &feed.quarantined {
        match q.id.map(GorgiasId::new) {
            Some(Ok(id)) => {
                rd.quarantine(
                    RecordRef::Gorgias(id),
                    &format!("unreadable list item: {}", q.reason),
                    json!({}),
                )
                .await
            }
            _ => rd.out.quarantined += 1,
        }
    }
    for c in &feed.customers {
        rd.add_customer(c).await;
    }
    if let Some(w) = &wm_g {
        for ev in ctx.gorgias.events_since(w.at - overlap).await? {
            use crate::connectors::gorgias::EventKind;
            match ev.kind {
                EventKind::Deleted => {
                    if let Ok(id) = GorgiasId::new(ev.object_id) {
                        rd.out.excluded.gorgias.insert(id);
                        rd.gorgias.remove(&ev.object_id);
                    }
                }
                EventKind::Merged => {
                    let (source, target) = ev.merge_ids();
                    let source = source.or(if target.is_some_and(|t| t != ev.object_id) {
                        Some(ev.object_id)
                    } else {
                        None
                    });
                    if let Some(s) = source {
                        rd.gorgias.remove(&s);
                        match target {
                            Some(t) => rd.follow_gorgias_merge(s, t).await?,
                            None => {
                                if let Ok(id) = GorgiasId::new(s) {
                                    rd.out.excluded.gorgias.insert(id);
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    for id in &rd.out.excluded.hubspot {
        rd.hubspot.remove(id.as_str());
    }
    rd.drop_seen().await?;

    finish(ctx, rd, channels, hubspot_full, gorgias_full, now).await
}

/// Steps 2 to 5 of [`gather_from`], after the records to sync are in hand.
async fn finish(
    ctx: &Cycle,
    mut rd: Reader<'_>,
    channels: bool,
    hubspot_full: bool,
    gorgias_full: bool,
    now: DateTime<Utc>,
) -> Result<Gathered, CycleError> {
    let props_owned = hubspot_properties(&ctx.mappings);
    let mut props: Vec<&str> = props_owned.iter().map(String::as_str).collect();
    props.push("hs_merged_object_ids");
    for p in super::dedup::hubspot_properties() {
        if !props.contains(&p) {
            props.push(p);
        }
    }
    // 2. Full Gorgias records (list items have no channels).
    if channels {
        let ids: Vec<i64> = rd
            .gorgias
            .keys()
            .copied()
            .filter(|id| !rd.looked_up_g.contains(id))
            .collect();
        let total = ids.len();
        for (i, id) in ids.into_iter().enumerate() {
            rd.gorgias.remove(&id);
            rd.looked_up_g.insert(id);
            rd.get_customer(id).await?;
            super::report_progress(ctx, super::Stage::ReadGorgias, i + 1, total);
        }
    }

    // 3. Counterparts of linked records, and same-e-mail records of unlinked ones.
    let mut need_h: BTreeSet<String> = BTreeSet::new();
    let mut need_g: BTreeSet<i64> = BTreeSet::new();
    let mut emails_for_h: BTreeSet<String> = BTreeSet::new();
    let changed_h: Vec<HubspotRecord> = rd.hubspot.values().cloned().collect();
    let changed_g: Vec<GorgiasRecord> = rd.gorgias.values().cloned().collect();
    for h in &changed_h {
        match rd.load_link_of(&RecordRef::Hubspot(h.id.clone())).await? {
            Some(l) => {
                if let Some((_, g)) = rd.links.get(&l) {
                    need_g.insert(g.get());
                }
            }
            None => {
                if let Some(e) = hubspot_email(h) {
                    let known = ctx.store.records_with_email(&e).await?;
                    let mut found = false;
                    for r in known {
                        if let RecordRef::Gorgias(g) = r {
                            need_g.insert(g.get());
                            found = true;
                        }
                    }
                    if !found && !gorgias_full {
                        if let Some(c) = ctx.gorgias.find_by_email(e.as_str()).await? {
                            need_g.insert(c.id);
                        }
                    }
                }
            }
        }
    }
    for g in &changed_g {
        match rd.load_link_of(&RecordRef::Gorgias(g.id)).await? {
            Some(l) => {
                if let Some((h, _)) = rd.links.get(&l) {
                    need_h.insert(h.as_str().to_owned());
                }
            }
            None => {
                if let Some(e) = gorgias_email(g) {
                    let known = ctx.store.records_with_email(&e).await?;
                    let mut found = false;
                    for r in known {
                        if let RecordRef::Hubspot(h) = r {
                            need_h.insert(h.as_str().to_owned());
                            found = true;
                        }
                    }
                    if !found && !hubspot_full {
                        emails_for_h.insert(e.as_str().to_owned());
                    }
                }
            }
        }
    }
    if !emails_for_h.is_empty() {
        let emails: Vec<String> = emails_for_h.into_iter().collect();
        for (_, hit) in ctx.hubspot.batch_read_by_email(&emails, &props).await? {
            if let Some(c) = hit
                && !rd.hubspot.contains_key(&c.id)
            {
                rd.add_contact(&c).await;
            }
        }
    }
    let ids: Vec<String> = need_h
        .into_iter()
        .filter(|id| !rd.hubspot.contains_key(id) && rd.looked_up_h.insert(id.clone()))
        .collect();
    if !ids.is_empty() {
        for r in ctx.hubspot.batch_read(&ids, &props).await? {
            match r.outcome {
                ReadOutcome::Found(c) => rd.add_contact(&c).await,
                ReadOutcome::Merged(c) => {
                    rd.follow_hubspot_merge(&r.requested, &c.id).await?;
                    if !rd.hubspot.contains_key(&c.id) {
                        rd.add_contact(&c).await;
                    }
                }
                ReadOutcome::NotFound => {}
            }
        }
    }
    let total = need_g.len();
    for (i, id) in need_g.into_iter().enumerate() {
        if !rd.gorgias.contains_key(&id) && rd.looked_up_g.insert(id) {
            rd.get_customer(id).await?;
        }
        super::report_progress(ctx, super::Stage::ReadCounterparts, i + 1, total);
    }

    // 4. Links (with bases) of every record in the input.
    let all_refs: Vec<RecordRef> = rd
        .hubspot
        .values()
        .map(|h| RecordRef::Hubspot(h.id.clone()))
        .chain(rd.gorgias.values().map(|g| RecordRef::Gorgias(g.id)))
        .collect();
    let mut used: BTreeSet<LinkId> = BTreeSet::new();
    for r in &all_refs {
        if let Some(l) = rd.load_link_of(r).await? {
            used.insert(l);
        }
    }
    for l in used {
        let Some((h, g)) = rd.links.get(&l).cloned() else {
            continue;
        };
        let base = ctx
            .store
            .bases(l)
            .await?
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Null => None,
                other => Some((k, other.to_string())),
            })
            .collect();
        rd.out.links.push(engine::Link {
            hubspot_id: h,
            gorgias_id: g,
            base,
        });
    }

    // 5. What to remember once the writes succeed.
    for h in rd.hubspot.values() {
        let email = hubspot_email(h);
        rd.out.seen.push(RecordSeen {
            record: RecordRef::Hubspot(h.id.clone()),
            keys: email
                .iter()
                .map(|e| format!("email:{}", e.as_str()))
                .collect(),
            email,
            updated_at: h.updated_at,
            content_hash: sha(&json!(h.properties)),
            seen_at: now,
        });
    }
    for g in rd.gorgias.values() {
        let email = gorgias_email(g);
        rd.out.seen.push(RecordSeen {
            record: RecordRef::Gorgias(g.id),
            keys: email
                .iter()
                .map(|e| format!("email:{}", e.as_str()))
                .collect(),
            email,
            updated_at: g.updated_at,
            content_hash: sha(&g.fields),
            seen_at: now,
        });
    }
    rd.out.hubspot = rd.hubspot.into_values().collect();
    rd.out.gorgias = rd.gorgias.into_values().collect();
    rd.out.resolutions = super::conflicts::resolutions(&ctx.store.pending_resolutions().await?);
    if rd.mode == Mode::Write {
        // One quarantined again later in this read stays quarantined.
        rd.out.released = rd
            .released
            .iter()
            .filter(|r| !rd.quarantine.contains(*r))
            .cloned()
            .collect();
        rd.out.released.sort();
    }
    Ok(rd.out)
}

/// Reads the two records of each given pair by id (no feed), with their links and bases:
/// the follow-up pass over links made by creates in this cycle, so that fields known only
/// once a record exists (its id, written on the other side) are written in the same cycle.
/// Records already in hand (`known_*`: this cycle's reads and the systems' answers to its
/// creates) are used as they are; only the others are read.
pub async fn gather_pairs(
    ctx: &Cycle,
    pairs: &[(HubspotId, GorgiasId)],
    known_h: &[HubspotRecord],
    known_g: &[GorgiasRecord],
) -> Result<Gathered, CycleError> {
    let mut out = Gathered::default();
    if pairs.is_empty() {
        return Ok(out);
    }
    let by_h: HashMap<&str, &HubspotRecord> = known_h.iter().map(|r| (r.id.as_str(), r)).collect();
    let by_g: HashMap<i64, &GorgiasRecord> = known_g.iter().map(|r| (r.id.get(), r)).collect();
    let props_owned = hubspot_properties(&ctx.mappings);
    let mut props: Vec<&str> = props_owned.iter().map(String::as_str).collect();
    props.push("hs_merged_object_ids");
    let mut ids: Vec<String> = vec![];
    for (h, _) in pairs {
        match by_h.get(h.as_str()) {
            Some(r) => out.hubspot.push((*r).clone()),
            None => ids.push(h.as_str().to_owned()),
        }
    }
    if !ids.is_empty() {
        for r in ctx.hubspot.batch_read(&ids, &props).await? {
            if let ReadOutcome::Found(c) = r.outcome
                && let Ok(rec) = hubspot_record(&c)
            {
                out.hubspot.push(rec);
            }
        }
    }
    for (h, g) in pairs {
        if let Some(r) = by_g.get(&g.get()) {
            out.gorgias.push((*r).clone());
        } else {
            match ctx.gorgias.get(g.get()).await {
                Ok(c) => {
                    if let Ok(rec) = gorgias_record(&c) {
                        out.gorgias.push(rec);
                    }
                }
                Err(GorgiasError::NotFound { .. } | GorgiasError::Merged { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(l) = ctx.store.link_by_hubspot(h).await? {
            let base = ctx
                .store
                .bases(l.id)
                .await?
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    Value::Null => None,
                    other => Some((k, other.to_string())),
                })
                .collect();
            out.links.push(engine::Link {
                hubspot_id: l.hubspot,
                gorgias_id: l.gorgias,
                base,
            });
        }
    }
    Ok(out)
}

/// After a cycle whose writes all succeeded: forget the quarantine of the records this read
/// released, settle the unsettled records re-planned with no write owed (or gone),
/// remember the records as seen at their read version, and advance each
/// watermark to the newest change read.
pub async fn record_progress(
    ctx: &Cycle,
    g: &Gathered,
    plan: &engine::Plan,
) -> Result<(), CycleError> {
    let held: HashSet<RecordRef> = plan
        .conflicts
        .iter()
        .flat_map(|c| {
            [
                RecordRef::Hubspot(c.hubspot_id.clone()),
                RecordRef::Gorgias(c.gorgias_id),
            ]
        })
        .collect();
    let seen: Vec<RecordSeen> = g
        .seen
        .iter()
        .cloned()
        .map(|mut s| {
            if held.contains(&s.record) {
                s.keys.push(HELD_KEY.to_owned());
            }
            s
        })
        .collect();
    let now = Utc::now();
    // Unsettled records re-planned with no write owed any more (the values agree now, the
    // pair linked to an existing record, ...) or found gone are settled.
    let owed: HashSet<RecordRef> = super::apply::payloads(plan)
        .iter()
        .map(super::apply::Payload::record)
        .collect();
    for r in g.replanned_unsettled.iter().filter(|r| !owed.contains(*r)) {
        // Quarantined by this read: it stays owed (the quarantine lists it too).
        if ctx.store.quarantined(r).await?.is_some() {
            continue;
        }
        ctx.store
            .settle_unsettled(
                r,
                None,
                "re-planned: nothing left to write",
                &ctx.options.actor,
                now,
            )
            .await?;
    }
    for r in &g.gone_unsettled {
        ctx.store
            .settle_unsettled(
                r,
                None,
                "the record no longer exists",
                &ctx.options.actor,
                now,
            )
            .await?;
    }
    for r in &g.released {
        ctx.store
            .clear_quarantine(r, &ctx.options.actor, now)
            .await?;
    }
    ctx.store.upsert_records_seen(&seen).await?;
    if let Some(w) = &g.next_hubspot {
        ctx.store.advance_watermark(System::Hubspot, w, now).await?;
    }
    if let Some(w) = &g.next_gorgias {
        ctx.store.advance_watermark(System::Gorgias, w, now).await?;
    }
    Ok(())
}
