//! Reading for one cycle: both change feeds from their watermarks minus the overlap, merges
//! and deletions (HubSpot `hs_merged_object_ids`, Gorgias events), the counterparts of
//! linked records (HubSpot batch read by id, Gorgias get by id), the other side's records
//! sharing an unlinked record's e-mail, and the links with their bases; then the conversion
//! of connector types into the engine's input types. Malformed records are quarantined with
//! the reason and left out; the cycle goes on.
//!
//! Owns what to read and how to convert it. Must never decide what to write, and in
//! [`Mode::ReadOnly`] must never write to the store (merges are then followed in memory).
//!
//! This file sequences the steps; each lives in its own module: `read/feeds.rs` (where the read
//! starts), `reread.rs` (the re-plan set by id), `counterparts.rs` (full records, counterparts,
//! links), over `reader.rs` (the read's state, the one merge follower) and `convert.rs` (pure).

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
mod counterparts;
mod feeds;
mod reader;
mod reread;

use convert::*;
pub use convert::{gorgias_record, hubspot_properties, hubspot_record, needs_channels};
use feeds::Full;
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
    let mut rd = Reader::new(ctx, mode, now, replan);
    let props_owned = read_properties(&ctx.mappings);
    let props: Vec<&str> = props_owned.iter().map(String::as_str).collect();

    // 1. Where the read starts.
    let full = match source {
        Source::Contacts(ids) => {
            rd.read_named_contacts(ids, &props).await?;
            Full::default()
        }
        Source::Feeds => rd.read_feeds(&props).await?,
    };
    for id in &rd.out.excluded.hubspot {
        rd.hubspot.remove(id.as_str());
    }
    rd.drop_seen().await?;
    rd.drop_hubspot_echoes().await?;

    // 2. Full Gorgias records (list items have no channels).
    if needs_channels(&ctx.mappings) {
        rd.read_full_customers().await?;
    }
    // 3. Counterparts of linked records, and same-e-mail records of unlinked ones.
    rd.read_counterparts(&props, full).await?;
    // 4. Links (with bases) of every record in the input.
    rd.load_links().await?;
    // 5. What to remember once the writes succeed.
    finish(rd, now).await
}

/// Step 5 of [`gather_from`]: what to remember once the writes succeed, the records in
/// the engine's input, the pending resolutions and the records released.
async fn finish(mut rd: Reader<'_>, now: DateTime<Utc>) -> Result<Gathered, CycleError> {
    for h in rd.hubspot.values() {
        rd.out.seen.push(hubspot_seen(h, now));
    }
    for g in rd.gorgias.values() {
        rd.out.seen.push(gorgias_seen(g, now));
    }
    rd.out.hubspot = rd.hubspot.into_values().collect();
    rd.out.gorgias = rd.gorgias.into_values().collect();
    rd.out.resolutions = super::conflicts::resolutions(&rd.ctx.store.pending_resolutions().await?);
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
            let base = base_of(ctx.store.bases(l.id).await?);
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
