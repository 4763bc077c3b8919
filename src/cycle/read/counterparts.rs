//! Steps 2 to 4 of a read, once the records to sync are in hand: the full Gorgias records
//! (list items have no channels), the counterparts of linked records and the other side's
//! records sharing an unlinked record's e-mail, then the links with their bases of every
//! record in the input.
//!
//! Must never decide what to write; in [`Mode::ReadOnly`] must never write to the store.

use super::*;
use crate::cycle::{Stage, report_progress};

/// The records to read for step 3: counterparts by id on each side, and e-mails to look up
/// in HubSpot.
#[derive(Debug, Default)]
struct Needed {
    hubspot: BTreeSet<String>,
    gorgias: BTreeSet<i64>,
    emails_for_hubspot: BTreeSet<String>,
}

impl<'a> Reader<'a> {
    /// Step 2: each Gorgias customer not yet read in full this cycle, read by id.
    pub(super) async fn read_full_customers(&mut self) -> Result<(), CycleError> {
        let ids: Vec<i64> = self
            .gorgias
            .keys()
            .copied()
            .filter(|id| !self.looked_up_g.contains(id))
            .collect();
        let total = ids.len();
        for (i, id) in ids.into_iter().enumerate() {
            self.gorgias.remove(&id);
            self.looked_up_g.insert(id);
            self.get_customer(id).await?;
            report_progress(self.ctx, Stage::ReadGorgias, i + 1, total);
        }
        Ok(())
    }

    /// Step 3: the counterparts of linked records, and the records sharing an unlinked
    /// record's e-mail (from the store's index, else looked up unless that side's feed was
    /// read in full).
    pub(super) async fn read_counterparts(
        &mut self,
        props: &[&str],
        full: Full,
    ) -> Result<(), CycleError> {
        let need = self.counterparts_needed(full).await?;
        let ctx = self.ctx;
        if !need.emails_for_hubspot.is_empty() {
            let emails: Vec<String> = need.emails_for_hubspot.into_iter().collect();
            for (_, hit) in ctx.hubspot.batch_read_by_email(&emails, props).await? {
                if let Some(c) = hit
                    && !self.hubspot.contains_key(&c.id)
                {
                    self.add_contact(&c).await;
                }
            }
        }
        let ids: Vec<String> = need
            .hubspot
            .into_iter()
            .filter(|id| !self.hubspot.contains_key(id) && self.looked_up_h.insert(id.clone()))
            .collect();
        if !ids.is_empty() {
            for r in ctx.hubspot.batch_read(&ids, props).await? {
                match r.outcome {
                    ReadOutcome::Found(c) => self.add_contact(&c).await,
                    ReadOutcome::Merged(c) => {
                        if let Some((old, new)) = hubspot_merge(&r.requested, &c.id) {
                            self.follow_merge(old, new).await?;
                        }
                        if !self.hubspot.contains_key(&c.id) {
                            self.add_contact(&c).await;
                        }
                    }
                    ReadOutcome::NotFound => {}
                }
            }
        }
        let total = need.gorgias.len();
        for (i, id) in need.gorgias.into_iter().enumerate() {
            if !self.gorgias.contains_key(&id) && self.looked_up_g.insert(id) {
                self.get_customer(id).await?;
            }
            report_progress(ctx, Stage::ReadCounterparts, i + 1, total);
        }
        Ok(())
    }

    /// What step 3 must read, from the links and the e-mails of the records in hand.
    async fn counterparts_needed(&mut self, full: Full) -> Result<Needed, CycleError> {
        let ctx = self.ctx;
        let mut need = Needed::default();
        let changed_h: Vec<HubspotRecord> = self.hubspot.values().cloned().collect();
        let changed_g: Vec<GorgiasRecord> = self.gorgias.values().cloned().collect();
        for h in &changed_h {
            match self.load_link_of(&RecordRef::Hubspot(h.id.clone())).await? {
                Some(l) => {
                    if let Some((_, g)) = self.links.get(&l) {
                        need.gorgias.insert(g.get());
                    }
                }
                None => {
                    if let Some(e) = hubspot_email(h) {
                        let known = ctx.store.records_with_email(&e).await?;
                        let mut found = false;
                        for r in known {
                            if let RecordRef::Gorgias(g) = r {
                                need.gorgias.insert(g.get());
                                found = true;
                            }
                        }
                        if !found && !full.gorgias {
                            if let Some(c) = ctx.gorgias.find_candidate_by_email(e.as_str()).await?
                            {
                                need.gorgias.insert(c.id);
                            }
                        }
                    }
                }
            }
        }
        for g in &changed_g {
            match self.load_link_of(&RecordRef::Gorgias(g.id)).await? {
                Some(l) => {
                    if let Some((h, _)) = self.links.get(&l) {
                        need.hubspot.insert(h.as_str().to_owned());
                    }
                }
                None => {
                    if let Some(e) = gorgias_email(g) {
                        let known = ctx.store.records_with_email(&e).await?;
                        let mut found = false;
                        for r in known {
                            if let RecordRef::Hubspot(h) = r {
                                need.hubspot.insert(h.as_str().to_owned());
                                found = true;
                            }
                        }
                        if !found && !full.hubspot {
                            need.emails_for_hubspot.insert(e.as_str().to_owned());
                        }
                    }
                }
            }
        }
        Ok(need)
    }

    /// Step 4: the links (with bases) of every record in the input.
    pub(super) async fn load_links(&mut self) -> Result<(), CycleError> {
        let all_refs: Vec<RecordRef> = self
            .hubspot
            .values()
            .map(|h| RecordRef::Hubspot(h.id.clone()))
            .chain(self.gorgias.values().map(|g| RecordRef::Gorgias(g.id)))
            .collect();
        let mut used: BTreeSet<LinkId> = BTreeSet::new();
        for r in &all_refs {
            if let Some(l) = self.load_link_of(r).await? {
                used.insert(l);
            }
        }
        for l in used {
            let Some((h, g)) = self.links.get(&l).cloned() else {
                continue;
            };
            let base = base_of(self.ctx.store.bases(l).await?);
            self.out.links.push(engine::Link {
                hubspot_id: h,
                gorgias_id: g,
                base,
            });
        }
        Ok(())
    }
}
