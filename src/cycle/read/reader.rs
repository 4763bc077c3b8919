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
    /// The link of each record whose link was loaded, with merges followed.
    pub(super) link_of: HashMap<RecordRef, LinkId>,
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
    /// A read starting at `now`, knowing the records to re-plan (the quarantined ones are
    /// kept out until they read cleanly again).
    pub(super) fn new(ctx: &'a Cycle, mode: Mode, now: DateTime<Utc>, replan: Replan) -> Self {
        let quarantine = replan.of(replan::Why::Quarantined).cloned().collect();
        Reader {
            ctx,
            mode,
            now,
            quarantine,
            out: Gathered::default(),
            hubspot: BTreeMap::new(),
            gorgias: BTreeMap::new(),
            links: BTreeMap::new(),
            link_of: HashMap::new(),
            looked_up_h: HashSet::new(),
            looked_up_g: HashSet::new(),
            released: HashSet::new(),
            replan,
            forced: HashSet::new(),
        }
    }

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
        if let Some(known) = self.link_of.get(r) {
            return Ok(Some(*known));
        }
        match self.ctx.store.link_for(r).await? {
            Some(l) => {
                self.links.insert(l.id, (l.hubspot.clone(), l.gorgias));
                self.link_of.insert(RecordRef::Hubspot(l.hubspot), l.id);
                self.link_of.insert(RecordRef::Gorgias(l.gorgias), l.id);
                Ok(Some(l.id))
            }
            None => Ok(None),
        }
    }

    /// The one merge follower, for both systems: `old` was merged into `survivor` (a
    /// record of the same system). `old` is never synced again; its link moves over to the
    /// survivor when the survivor has none (persisted in write mode, in memory otherwise).
    pub(super) async fn follow_merge(
        &mut self,
        old: RecordRef,
        survivor: RecordRef,
    ) -> Result<(), CycleError> {
        if old.system() != survivor.system() {
            return Ok(());
        }
        match &old {
            RecordRef::Hubspot(h) => self.out.excluded.hubspot.insert(h.clone()),
            RecordRef::Gorgias(g) => self.out.excluded.gorgias.insert(*g),
        };
        let Some(link) = self.load_link_of(&old).await? else {
            return Ok(());
        };
        if self.load_link_of(&survivor).await?.is_some() {
            return Ok(());
        }
        if self.mode == Mode::Write {
            self.ctx
                .store
                .relink(link, &survivor, &self.ctx.options.actor, self.now)
                .await?;
        }
        if let Some(pair) = self.links.get_mut(&link) {
            match &survivor {
                RecordRef::Hubspot(h) => pair.0 = h.clone(),
                RecordRef::Gorgias(g) => pair.1 = *g,
            }
        }
        self.link_of.remove(&old);
        self.link_of.insert(survivor, link);
        Ok(())
    }

    /// Drops records already processed at this version (their `updated_at` is not newer
    /// than what the store saw), and Gorgias customers at exactly the version tether's own
    /// last write left ([`crate::cycle::echo`]): this is what makes the echo of our own
    /// writes cheap.
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
            } else if crate::cycle::echo::is_own_echo(self.ctx, r).await? {
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

    /// Issue 14 ([`crate::cycle::echo`]): drops linked HubSpot contacts holding exactly
    /// their link's agreed values while their Gorgias partner brings no change (not in this
    /// read, not re-planned, not deleted): tether's own write come back, with nothing to plan,
    /// so the partner is not read in full for it.
    pub(super) async fn drop_hubspot_echoes(&mut self) -> Result<(), CycleError> {
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
            let bases = crate::cycle::echo::link_bases(self.ctx, l).await?;
            let region = self.ctx.options.default_region;
            if self.hubspot.get(&id).is_some_and(|r| {
                crate::cycle::echo::hubspot_holds_bases(&self.ctx.mappings, region, r, &bases)
            }) {
                if let Some(r) = self.hubspot.remove(&id) {
                    self.out.seen.push(hubspot_seen(&r, self.now));
                }
            }
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
                    if let Some((old, new)) = gorgias_merge(id, into) {
                        self.follow_merge(old, new).await?;
                    }
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
