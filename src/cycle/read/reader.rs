//! [`Reader`]: the state of one read while gathering, and its steps over single records:
//! quarantining and releasing, adding contacts and customers, loading links, following
//! merges, dropping records already seen, reading a customer by id.
//!
//! Must never decide what to write; in [`Mode::ReadOnly`] must never write to the store.

use super::*;

/// The read state while gathering.
pub(super) struct Reader<'a> {
    pub(super) ctx: &'a Cycle,
    pub(super) mode: Mode,
    pub(super) now: DateTime<Utc>,
    pub(super) quarantine: HashSet<RecordRef>,
    pub(super) out: Gathered,
    pub(super) hubspot: BTreeMap<String, HubspotRecord>,
    pub(super) gorgias: BTreeMap<i64, GorgiasRecord>,
    /// Links by id, with merges followed.
    pub(super) links: BTreeMap<LinkId, (HubspotId, GorgiasId)>,
    pub(super) link_of_h: HashMap<String, LinkId>,
    pub(super) link_of_g: HashMap<i64, LinkId>,
    pub(super) looked_up_h: HashSet<String>,
    pub(super) looked_up_g: HashSet<i64>,
    /// Records released from quarantine in this read: planned even when the store saw
    /// their version already (their partner's changes made while they were out were
    /// recorded as seen, and must reach them now).
    pub(super) released: HashSet<RecordRef>,
    /// The records to re-plan this cycle ([`crate::cycle::replan`]).
    pub(super) replan: Replan,
    /// Records re-planned for another reason than quarantine (unsettled, held) and read:
    /// planned even at a version already seen.
    pub(super) forced: HashSet<RecordRef>,
}

impl<'a> Reader<'a> {
    pub(super) async fn quarantine(&mut self, r: RecordRef, reason: &str, detail: Value) {
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
    pub(super) fn release(&mut self, r: RecordRef, why: &str) {
        match self.mode {
            Mode::Write => tracing::info!(record = %r, why, "record released from quarantine"),
            Mode::ReadOnly => {
                tracing::info!(record = %r, why, "record would be released from quarantine")
            }
        }
        self.quarantine.remove(&r);
        self.released.insert(r);
    }

    pub(super) async fn add_contact(&mut self, c: &Contact) {
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

    pub(super) async fn add_customer(&mut self, c: &Customer) {
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

    pub(super) async fn load_link_of(
        &mut self,
        r: &RecordRef,
    ) -> Result<Option<LinkId>, CycleError> {
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
    pub(super) async fn follow_hubspot_merge(
        &mut self,
        old: &str,
        survivor: &str,
    ) -> Result<(), CycleError> {
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

    pub(super) async fn follow_gorgias_merge(
        &mut self,
        old: i64,
        survivor: i64,
    ) -> Result<(), CycleError> {
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
    /// than what the store saw): this is what makes the echo of our own writes cheap.
    pub(super) async fn drop_seen(&mut self) -> Result<(), CycleError> {
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
            }
        }
        for id in drop_g {
            self.gorgias.remove(&id);
        }
        Ok(())
    }

    pub(super) async fn get_customer(&mut self, id: i64) -> Result<(), CycleError> {
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
