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

/// HubSpot properties the mappings read (plus `email`).
pub fn hubspot_properties(m: &MappingSet) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::from(["email".to_string()]);
    for f in &m.fields {
        match &f.hubspot {
            HubspotAccess::Id => {}
            HubspotAccess::Property(p) => {
                out.insert(p.clone());
            }
            HubspotAccess::Join(a, b) => {
                out.insert(a.clone());
                out.insert(b.clone());
            }
        }
    }
    out.into_iter().collect()
}

/// Whether a mapped field needs the Gorgias channels (absent from list items).
pub fn needs_channels(m: &MappingSet) -> bool {
    m.fields
        .iter()
        .any(|f| f.gorgias == GorgiasAccess::PhoneChannel)
}

fn sha(v: &Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// Why a contact cannot be used, or its engine record.
pub fn hubspot_record(c: &Contact) -> Result<HubspotRecord, String> {
    let id = HubspotId::new(c.id.clone()).map_err(|e| format!("bad contact id: {e}"))?;
    let updated_at = c
        .updated_at
        .ok_or_else(|| "the contact has no updatedAt / lastmodifieddate".to_string())?;
    Ok(HubspotRecord {
        id,
        updated_at,
        properties: c.properties.clone(),
    })
}

/// Why a customer cannot be used, or its engine record.
pub fn gorgias_record(c: &Customer) -> Result<GorgiasRecord, String> {
    let id = GorgiasId::new(c.id).map_err(|e| format!("bad customer id: {e}"))?;
    let updated_at = c
        .updated_datetime
        .ok_or_else(|| "the customer has no updated_datetime".to_string())?;
    if !(c.data.is_null() || c.data.is_object()) {
        return Err("`data` is not an object".into());
    }
    let fields = serde_json::to_value(c).map_err(|e| format!("cannot encode: {e}"))?;
    Ok(GorgiasRecord {
        id,
        updated_at,
        fields,
    })
}

/// The watermark a feed moves to: the newest update time it returned, but never later than
/// `now` (when the read began). A record dated in the future (a wrong clock, a hostile or
/// corrupt answer: Gorgias accepts year 9999) would otherwise carry the watermark past every
/// change to come, and the feeds, which read from the watermark on, would miss them all for
/// good. Held at `now`, the next cycle reads from `now - overlap`, as after any cycle.
fn next_watermark(
    system: System,
    times: impl Iterator<Item = DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Watermark> {
    let newest = times.max()?;
    if newest > now + chrono::Duration::minutes(5) {
        tracing::warn!(
            system = system.as_str(),
            newest = %newest,
            "a record's update time lies in the future; the watermark is held at the present"
        );
    }
    Some(Watermark {
        at: newest.min(now),
        tie_break: None,
    })
}

/// What to remember of a HubSpot record read at `now`.
fn hubspot_seen(h: &HubspotRecord, now: DateTime<Utc>) -> RecordSeen {
    let email = hubspot_email(h);
    RecordSeen {
        record: RecordRef::Hubspot(h.id.clone()),
        keys: email
            .iter()
            .map(|e| format!("email:{}", e.as_str()))
            .collect(),
        email,
        updated_at: h.updated_at,
        content_hash: sha(&json!(h.properties)),
        seen_at: now,
    }
}

/// What to remember of a Gorgias record read at `now`.
fn gorgias_seen(g: &GorgiasRecord, now: DateTime<Utc>) -> RecordSeen {
    let email = gorgias_email(g);
    RecordSeen {
        record: RecordRef::Gorgias(g.id),
        keys: email
            .iter()
            .map(|e| format!("email:{}", e.as_str()))
            .collect(),
        email,
        updated_at: g.updated_at,
        content_hash: sha(&g.fields),
        seen_at: now,
    }
}

fn hubspot_email(r: &HubspotRecord) -> Option<Email> {
    r.properties.get("email").and_then(|e| Email::parse(e).ok())
}

fn gorgias_email(r: &GorgiasRecord) -> Option<Email> {
    if let Some(e) = r.fields.get("email").and_then(Value::as_str)
        && let Ok(e) = Email::parse(e)
    {
        return Some(e);
    }
    r.fields
        .get("channels")
        .and_then(Value::as_array)
        .and_then(|chs| {
            chs.iter()
                .filter(|c| c.get("type").and_then(Value::as_str) == Some("email"))
                .find_map(|c| c.get("address").and_then(Value::as_str))
        })
        .and_then(|e| Email::parse(e).ok())
}

/// The read state while gathering.
struct Reader<'a> {
    ctx: &'a Cycle,
    mode: Mode,
    now: DateTime<Utc>,
    quarantine: HashSet<RecordRef>,
    out: Gathered,
    hubspot: BTreeMap<String, HubspotRecord>,
    gorgias: BTreeMap<i64, GorgiasRecord>,
    /// Links by id, with merges followed.
    links: BTreeMap<LinkId, (HubspotId, GorgiasId)>,
    link_of_h: HashMap<String, LinkId>,
    link_of_g: HashMap<i64, LinkId>,
    looked_up_h: HashSet<String>,
    looked_up_g: HashSet<i64>,
    /// Records released from quarantine in this read: planned even when the store saw
    /// their version already (their partner's changes made while they were out were
    /// recorded as seen, and must reach them now).
    released: HashSet<RecordRef>,
    /// The records to re-plan this cycle ([`super::replan`]).
    replan: Replan,
    /// Records re-planned for another reason than quarantine (unsettled, held) and read:
    /// planned even at a version already seen.
    forced: HashSet<RecordRef>,
}

impl<'a> Reader<'a> {
    async fn quarantine(&mut self, r: RecordRef, reason: &str, detail: Value) {
        self.out.quarantined += 1;
        tracing::warn!(record = %r, reason, "record quarantined");
        if self.mode == Mode::Write
            && let Err(e) = self
                .ctx
                .store
                .quarantine(&r, reason, &detail, &self.ctx.options.actor, self.now)
                .await
        {
            tracing::warn!(error = %e, "could not record a quarantined record");
        }
        self.quarantine.insert(r);
    }

    /// Takes a record out of quarantine for this cycle: it is read and planned like any
    /// other, even at a version already seen. The store forgets the quarantine only when
    /// the cycle completes ([`record_progress`]); in [`Mode::ReadOnly`] never, so that
    /// `plan` shows what `sync` will do.
    fn release(&mut self, r: RecordRef, why: &str) {
        match self.mode {
            Mode::Write => tracing::info!(record = %r, why, "record released from quarantine"),
            Mode::ReadOnly => {
                tracing::info!(record = %r, why, "record would be released from quarantine")
            }
        }
        self.quarantine.remove(&r);
        self.released.insert(r);
    }

    /// The HubSpot contacts of the re-plan set ([`super::replan`]), read again by id in one
    /// batch read (100 per call). A quarantined one that reads cleanly is released and
    /// synced; one merged into another contact is released, its merge followed and the
    /// survivor read like any record; one that no longer exists is released and left out
    /// (never recreated); one still bad stays in. So a transiently bad answer never keeps a
    /// contact out for good, and an id that is gone is not read again every cycle. An
    /// unsettled or held contact is planned even at a version already seen. A failed read
    /// leaves them all for the next cycle; the cycle goes on.
    async fn reread_contacts(&mut self, props: &[&str]) -> Result<(), CycleError> {
        let mut ids: Vec<String> = self
            .replan
            .records
            .keys()
            .filter_map(|r| match r {
                RecordRef::Hubspot(h) => Some(h.as_str().to_owned()),
                RecordRef::Gorgias(_) => None,
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort();
        let answers = match self.ctx.hubspot.batch_read(&ids, props).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the contacts to re-plan again");
                return Ok(());
            }
        };
        for r in answers {
            let quarantined = HubspotId::new(r.requested.clone())
                .is_ok_and(|h| self.quarantine.contains(&RecordRef::Hubspot(h)));
            if quarantined {
                self.reread_answer(r).await?;
            } else {
                self.replan_answer(r).await?;
            }
        }
        Ok(())
    }

    /// What a read by id says about an unsettled or held contact: read and planned even at
    /// a version already seen; merged: its merge followed and the survivor planned; gone:
    /// left out (and, when unsettled, settled once the cycle completes).
    async fn replan_answer(&mut self, r: ReadResult) -> Result<(), CycleError> {
        let Ok(id) = HubspotId::new(r.requested.clone()) else {
            return Ok(());
        };
        let rref = RecordRef::Hubspot(id.clone());
        let unsettled = self.replan.records.get(&rref) == Some(&replan::Why::Unsettled);
        match r.outcome {
            ReadOutcome::Found(c) => {
                self.looked_up_h.insert(c.id.clone());
                self.forced.insert(rref.clone());
                if unsettled {
                    self.out.replanned_unsettled.push(rref);
                }
                self.add_contact(&c).await;
            }
            ReadOutcome::Merged(c) => {
                self.follow_hubspot_merge(&r.requested, &c.id).await?;
                if let Ok(s) = HubspotId::new(c.id.clone()) {
                    self.forced.insert(RecordRef::Hubspot(s));
                }
                if unsettled {
                    self.out.gone_unsettled.push(rref);
                }
                if !self.hubspot.contains_key(&c.id) {
                    self.looked_up_h.insert(c.id.clone());
                    self.add_contact(&c).await;
                }
            }
            ReadOutcome::NotFound => {
                self.out.excluded.hubspot.insert(id);
                if unsettled {
                    self.out.gone_unsettled.push(rref);
                }
            }
        }
        Ok(())
    }

    /// What a read by id says about a quarantined contact (see
    /// [`Reader::reread_quarantined_contacts`]).
    async fn reread_answer(&mut self, r: ReadResult) -> Result<(), CycleError> {
        let Ok(id) = HubspotId::new(r.requested.clone()) else {
            return Ok(());
        };
        let rref = RecordRef::Hubspot(id.clone());
        match r.outcome {
            ReadOutcome::Found(c) => {
                if c.id == r.requested && hubspot_record(&c).is_ok() {
                    self.release(rref, "reads cleanly again");
                    self.looked_up_h.insert(c.id.clone());
                    self.add_contact(&c).await;
                }
            }
            ReadOutcome::Merged(c) => {
                self.release(rref, "merged into another contact");
                self.follow_hubspot_merge(&r.requested, &c.id).await?;
                if !self.hubspot.contains_key(&c.id) {
                    self.looked_up_h.insert(c.id.clone());
                    self.add_contact(&c).await;
                }
            }
            ReadOutcome::NotFound => {
                self.release(rref, "no longer exists");
                self.out.excluded.hubspot.insert(id);
            }
        }
        Ok(())
    }

    /// The Gorgias customers of the re-plan set, read again by id: quarantined ones are
    /// released as for [`Reader::reread_contacts`] (chaos seeds 246 and 250 found a customer
    /// quarantined for a truncated body staying out for good); unsettled and held ones are
    /// planned even at a version already seen.
    async fn reread_customers(&mut self) -> Result<(), CycleError> {
        let held: Vec<(GorgiasId, replan::Why)> = self
            .replan
            .records
            .iter()
            .filter_map(|(r, why)| match r {
                RecordRef::Gorgias(g) => Some((g.to_owned(), why.to_owned())),
                RecordRef::Hubspot(_) => None,
            })
            .collect();
        for (g, why) in held {
            if why == replan::Why::Quarantined && self.quarantine.contains(&RecordRef::Gorgias(g)) {
                self.reread_quarantined_customer(g).await?;
            } else if !self.gorgias.contains_key(&g.get()) {
                self.replan_customer(g, why).await?;
            }
        }
        Ok(())
    }

    /// An unsettled or held customer, read by id (see [`Reader::replan_answer`]).
    async fn replan_customer(&mut self, g: GorgiasId, why: replan::Why) -> Result<(), CycleError> {
        let rref = RecordRef::Gorgias(g);
        let unsettled = why == replan::Why::Unsettled;
        match self.ctx.gorgias.get(g.get()).await {
            Ok(c) if c.id == g.get() => {
                self.looked_up_g.insert(g.get());
                self.forced.insert(rref.clone());
                if unsettled {
                    self.out.replanned_unsettled.push(rref);
                }
                self.add_customer(&c).await;
            }
            // Another customer's answer: left for the next cycle.
            Ok(_) | Err(GorgiasError::Decode { .. }) => {}
            Err(GorgiasError::NotFound { .. }) => {
                self.out.excluded.gorgias.insert(g);
                if unsettled {
                    self.out.gone_unsettled.push(rref);
                }
            }
            Err(GorgiasError::Merged { id, into }) => {
                if unsettled {
                    self.out.gone_unsettled.push(rref);
                }
                match into {
                    Some(into) => {
                        self.follow_gorgias_merge(id, into).await?;
                        if !self.gorgias.contains_key(&into) {
                            self.get_customer(into).await?;
                        }
                        if let Ok(s) = GorgiasId::new(into) {
                            self.forced.insert(RecordRef::Gorgias(s));
                        }
                    }
                    None => {
                        self.out.excluded.gorgias.insert(g);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(record = %rref, error = %e, "could not read a customer to re-plan again");
            }
        }
        Ok(())
    }

    /// A quarantined customer read again (see [`Reader::reread_customers`]).
    async fn reread_quarantined_customer(&mut self, g: GorgiasId) -> Result<(), CycleError> {
        let rref = RecordRef::Gorgias(g);
        match self.ctx.gorgias.get(g.get()).await {
            // Not marked looked up: the feed's list item (no channels) may replace this
            // full record, and step 2 of `finish` must then read it in full again.
            Ok(c) if c.id == g.get() && gorgias_record(&c).is_ok() => {
                self.release(rref, "reads cleanly again");
                self.add_customer(&c).await;
            }
            // Still bad, or another customer's answer: stays in.
            Ok(_) | Err(GorgiasError::Decode { .. }) => {}
            Err(GorgiasError::NotFound { .. }) => {
                self.release(rref, "no longer exists");
                self.out.excluded.gorgias.insert(g);
            }
            Err(GorgiasError::Merged { id, into }) => {
                self.release(rref, "merged into another customer");
                match into {
                    Some(into) => {
                        self.follow_gorgias_merge(id, into).await?;
                        if !self.gorgias.contains_key(&into) {
                            self.get_customer(into).await?;
                        }
                    }
                    None => {
                        self.out.excluded.gorgias.insert(g);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(record = %rref, error = %e, "could not read a quarantined customer again");
            }
        }
        Ok(())
    }

    async fn add_contact(&mut self, c: &Contact) {
        self.out.read_hubspot += 1;
        let r = match HubspotId::new(c.id.clone()) {
            Ok(id) => RecordRef::Hubspot(id),
            Err(e) => {
                self.out.quarantined += 1;
                // The id came from the network: it may be anything, an e-mail included.
                let e = crate::pii::NetText::new(e.to_string());
                tracing::warn!(error = %e, "HubSpot contact with an unusable id skipped");
                return;
            }
        };
        if self.quarantine.contains(&r) {
            return;
        }
        match hubspot_record(c) {
            Ok(rec) => {
                self.hubspot.insert(c.id.clone(), rec);
            }
            Err(reason) => {
                self.quarantine(r, &reason, json!({"properties": c.properties}))
                    .await
            }
        }
    }

    async fn add_customer(&mut self, c: &Customer) {
        self.out.read_gorgias += 1;
        let r = match GorgiasId::new(c.id) {
            Ok(id) => RecordRef::Gorgias(id),
            Err(e) => {
                self.out.quarantined += 1;
                tracing::warn!(error = %e, "Gorgias customer with an unusable id skipped");
                return;
            }
        };
        if self.quarantine.contains(&r) {
            return;
        }
        // A customer read in full by id this cycle is not replaced by its list item (which
        // has no channels).
        if self.looked_up_g.contains(&c.id) && self.gorgias.contains_key(&c.id) {
            return;
        }
        match gorgias_record(c) {
            Ok(rec) => {
                self.gorgias.insert(c.id, rec);
            }
            Err(reason) => {
                self.quarantine(r, &reason, json!({"id": c.id})).await;
            }
        }
    }

    async fn load_link_of(&mut self, r: &RecordRef) -> Result<Option<LinkId>, CycleError> {
        let known = match r {
            RecordRef::Hubspot(h) => self.link_of_h.get(h.as_str()).copied(),
            RecordRef::Gorgias(g) => self.link_of_g.get(&g.get()).copied(),
        };
        if known.is_some() {
            return Ok(known);
        }
        match self.ctx.store.link_for(r).await? {
            Some(l) => {
                self.links.insert(l.id, (l.hubspot.clone(), l.gorgias));
                self.link_of_h.insert(l.hubspot.as_str().to_owned(), l.id);
                self.link_of_g.insert(l.gorgias.get(), l.id);
                Ok(Some(l.id))
            }
            None => Ok(None),
        }
    }

    /// A HubSpot id was merged into `survivor`: move its link over when the survivor has
    /// none (persisted in write mode), and never sync the old id again.
    async fn follow_hubspot_merge(&mut self, old: &str, survivor: &str) -> Result<(), CycleError> {
        let (Ok(old_id), Ok(new_id)) = (HubspotId::new(old), HubspotId::new(survivor)) else {
            return Ok(());
        };
        self.out.excluded.hubspot.insert(old_id.clone());
        let Some(link) = self.load_link_of(&RecordRef::Hubspot(old_id)).await? else {
            return Ok(());
        };
        if self
            .load_link_of(&RecordRef::Hubspot(new_id.clone()))
            .await?
            .is_some()
        {
            return Ok(());
        }
        if self.mode == Mode::Write {
            self.ctx
                .store
                .relink(
                    link,
                    &RecordRef::Hubspot(new_id.clone()),
                    &self.ctx.options.actor,
                    self.now,
                )
                .await?;
        }
        if let Some(pair) = self.links.get_mut(&link) {
            pair.0 = new_id.clone();
        }
        self.link_of_h.remove(old);
        self.link_of_h.insert(survivor.to_owned(), link);
        Ok(())
    }

    async fn follow_gorgias_merge(&mut self, old: i64, survivor: i64) -> Result<(), CycleError> {
        let (Ok(old_id), Ok(new_id)) = (GorgiasId::new(old), GorgiasId::new(survivor)) else {
            return Ok(());
        };
        self.out.excluded.gorgias.insert(old_id);
        let Some(link) = self.load_link_of(&RecordRef::Gorgias(old_id)).await? else {
            return Ok(());
        };
        if self
            .load_link_of(&RecordRef::Gorgias(new_id))
            .await?
            .is_some()
        {
            return Ok(());
        }
        if self.mode == Mode::Write {
            self.ctx
                .store
                .relink(
                    link,
                    &RecordRef::Gorgias(new_id),
                    &self.ctx.options.actor,
                    self.now,
                )
                .await?;
        }
        if let Some(pair) = self.links.get_mut(&link) {
            pair.1 = new_id;
        }
        self.link_of_g.remove(&old);
        self.link_of_g.insert(survivor, link);
        Ok(())
    }

    /// Drops records already processed at this version (their `updated_at` is not newer
    /// than what the store saw), and Gorgias customers at exactly the version tether's own
    /// last write left ([`super::echo`]): this is what makes the echo of our own writes cheap.
    async fn drop_seen(&mut self) -> Result<(), CycleError> {
        let mut drop_h = vec![];
        for (id, r) in &self.hubspot {
            let rref = RecordRef::Hubspot(r.id.clone());
            if self.released.contains(&rref) || self.forced.contains(&rref) {
                continue;
            }
            let seen = self
                .ctx
                .store
                .record_seen(&RecordRef::Hubspot(r.id.clone()))
                .await?;
            if seen.is_some_and(|s| s.updated_at >= r.updated_at) {
                drop_h.push(id.clone());
            }
        }
        for id in drop_h {
            self.hubspot.remove(&id);
        }
        let mut drop_g = vec![];
        for (id, r) in &self.gorgias {
            let rref = RecordRef::Gorgias(r.id);
            if self.released.contains(&rref) || self.forced.contains(&rref) {
                continue;
            }
            let seen = self
                .ctx
                .store
                .record_seen(&RecordRef::Gorgias(r.id))
                .await?;
            if seen.is_some_and(|s| s.updated_at >= r.updated_at) {
                drop_g.push(*id);
            } else if super::echo::is_own_echo(self.ctx, r).await? {
                // Issue 14: the version tether's own write left, untouched since: seen.
                self.out.seen.push(gorgias_seen(r, self.now));
                drop_g.push(*id);
            }
        }
        for id in drop_g {
            self.gorgias.remove(&id);
        }
        Ok(())
    }

    /// Issue 14 ([`super::echo`]): drops linked HubSpot contacts holding exactly their
    /// link's agreed values while their Gorgias partner brings no change (not in this read,
    /// not re-planned, not deleted): tether's own write come back, with nothing to plan, so
    /// the partner is not read in full for it.
    async fn drop_hubspot_echoes(&mut self) -> Result<(), CycleError> {
        let ids: Vec<String> = self.hubspot.keys().cloned().collect();
        for id in ids {
            let rref = match self.hubspot.get(&id) {
                Some(r) => RecordRef::Hubspot(r.id.clone()),
                None => continue,
            };
            if self.released.contains(&rref) || self.forced.contains(&rref) {
                continue;
            }
            let Some(l) = self.load_link_of(&rref).await? else {
                continue;
            };
            let Some((_, g)) = self.links.get(&l).cloned() else {
                continue;
            };
            let gref = RecordRef::Gorgias(g);
            if self.gorgias.contains_key(&g.get())
                || self.forced.contains(&gref)
                || self.released.contains(&gref)
                || self.quarantine.contains(&gref)
                || self.out.excluded.gorgias.contains(&g)
            {
                continue;
            }
            let bases = super::echo::link_bases(self.ctx, l).await?;
            let region = self.ctx.options.default_region;
            if self.hubspot.get(&id).is_some_and(|r| {
                super::echo::hubspot_holds_bases(&self.ctx.mappings, region, r, &bases)
            }) {
                if let Some(r) = self.hubspot.remove(&id) {
                    self.out.seen.push(hubspot_seen(&r, self.now));
                }
            }
        }
        Ok(())
    }

    async fn get_customer(&mut self, id: i64) -> Result<(), CycleError> {
        match self.ctx.gorgias.get(id).await {
            // A merge answers `Merged`, so another id here is a wrong answer: using it
            // would put one customer's data in another's place.
            Ok(c) if c.id != id => {
                if let Ok(gid) = GorgiasId::new(id) {
                    self.quarantine(
                        RecordRef::Gorgias(gid),
                        &format!("the answer for customer {id} is customer {}", c.id),
                        json!({"id": id, "answered_id": c.id}),
                    )
                    .await;
                }
                Ok(())
            }
            Ok(c) => {
                self.add_customer(&c).await;
                Ok(())
            }
            Err(GorgiasError::NotFound { .. }) => Ok(()),
            Err(GorgiasError::Merged { id, into }) => {
                if let Some(into) = into {
                    self.follow_gorgias_merge(id, into).await?;
                    if !self.gorgias.contains_key(&into)
                        && let Ok(c) = self.ctx.gorgias.get(into).await
                    {
                        self.add_customer(&c).await;
                    }
                }
                Ok(())
            }
            Err(GorgiasError::Decode { reason, .. }) => {
                if let Ok(gid) = GorgiasId::new(id) {
                    self.quarantine(
                        RecordRef::Gorgias(gid),
                        &format!("unreadable customer: {reason}"),
                        json!({"id": id}),
                    )
                    .await;
                }
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

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
    rd.drop_hubspot_echoes().await?;

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
        rd.out.seen.push(hubspot_seen(h, now));
    }
    for g in rd.gorgias.values() {
        rd.out.seen.push(gorgias_seen(g, now));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: &str, updated: Option<i64>) -> Contact {
        Contact {
            id: id.into(),
            properties: BTreeMap::from([("email".to_string(), "A@B.co".to_string())]),
            created_at: None,
            updated_at: updated.and_then(DateTime::<Utc>::from_timestamp_millis),
            archived: false,
            history: BTreeMap::new(),
            merged_ids: vec![],
        }
    }

    #[test]
    fn a_watermark_never_moves_past_the_present() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let past = now - chrono::Duration::hours(1);
        let future = DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |ts: Vec<DateTime<Utc>>| next_watermark(System::Gorgias, ts.into_iter(), now);
        assert_eq!(at(vec![]), None);
        assert_eq!(at(vec![past]).unwrap().at, past);
        assert_eq!(at(vec![past, future]).unwrap().at, now);
        assert_eq!(at(vec![now]).unwrap().at, now);
    }

    #[test]
    fn malformed_contacts_are_refused_with_a_reason() {
        assert!(hubspot_record(&contact("101", Some(5))).is_ok());
        assert!(
            hubspot_record(&contact("101", None))
                .unwrap_err()
                .contains("updatedAt")
        );
        assert!(hubspot_record(&contact("x1", Some(5))).is_err());
        let r = hubspot_record(&contact("101", Some(5))).unwrap();
        assert_eq!(hubspot_email(&r).unwrap().as_str(), "a@b.co");
    }

    #[test]
    fn customers_need_an_update_time_and_object_data() {
        let mut c: Customer = serde_json::from_value(json!({
            "id": 7, "email": "X@Y.co", "updated_datetime": "2024-01-01T00:00:00+00:00"
        }))
        .unwrap();
        let r = gorgias_record(&c).unwrap();
        assert_eq!(gorgias_email(&r).unwrap().as_str(), "x@y.co");
        c.data = json!([1, 2]);
        assert!(gorgias_record(&c).unwrap_err().contains("data"));
        c.data = Value::Null;
        c.updated_datetime = None;
        assert!(gorgias_record(&c).is_err());
    }
}
