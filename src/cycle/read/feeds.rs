//! Step 1 of a read, where it starts: both change feeds from their watermarks minus the
//! overlap (with the re-plan set read again first, HubSpot merges and Gorgias deletion and
//! merge events followed), or the named HubSpot contacts of a targeted cycle read by id.
//!
//! Must never decide what to write; in [`Mode::ReadOnly`] must never write to the store.

use super::*;
use crate::connectors::gorgias::{CustomerEvent, EventKind};
use crate::cycle::{Stage, report_progress};

/// Which feeds were read in full (no watermark yet): a full feed already holds every
/// record, so no record is looked up by e-mail on that side.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Full {
    pub(super) hubspot: bool,
    pub(super) gorgias: bool,
}

impl<'a> Reader<'a> {
    /// The named contacts of a targeted cycle, read by id (merges followed). A named
    /// contact in quarantine is released when it now reads well (a webhook often follows
    /// the fix that makes it readable).
    pub(super) async fn read_named_contacts(
        &mut self,
        ids: &[HubspotId],
        props: &[&str],
    ) -> Result<(), CycleError> {
        let wanted: Vec<String> = ids.iter().map(|h| h.as_str().to_owned()).collect();
        if wanted.is_empty() {
            return Ok(());
        }
        for r in self.ctx.hubspot.batch_read(&wanted, props).await? {
            self.out.feed_items += 1;
            if HubspotId::new(r.requested.clone())
                .is_ok_and(|h| self.quarantine.contains(&RecordRef::Hubspot(h)))
            {
                self.reread_answer(r).await?;
                continue;
            }
            match r.outcome {
                ReadOutcome::Found(c) => {
                    self.looked_up_h.insert(c.id.clone());
                    self.add_contact(&c).await;
                }
                ReadOutcome::Merged(c) => {
                    if let Some((old, new)) = hubspot_merge(&r.requested, &c.id) {
                        self.follow_merge(old, new).await?;
                    }
                    self.looked_up_h.insert(c.id.clone());
                    if !self.hubspot.contains_key(&c.id) {
                        self.add_contact(&c).await;
                    }
                }
                ReadOutcome::NotFound => {}
            }
        }
        Ok(())
    }

    /// Both feeds from their watermarks minus the overlap, with the re-plan set read again
    /// first on each side (so that a released record is taken from the feeds like any
    /// other), and the next watermarks noted.
    pub(super) async fn read_feeds(&mut self, props: &[&str]) -> Result<Full, CycleError> {
        let ctx = self.ctx;
        let overlap = chrono::Duration::from_std(ctx.options.overlap).unwrap_or_default();
        let wm_h = ctx.store.watermark(System::Hubspot).await?;
        let wm_g = ctx.store.watermark(System::Gorgias).await?;
        let contacts = match &wm_h {
            None => ctx.hubspot.list_all(props).await?,
            Some(w) => {
                ctx.hubspot
                    .changed_between(w.at - overlap, self.now, props)
                    .await?
            }
        };
        self.out.next_hubspot = next_watermark(
            System::Hubspot,
            contacts.iter().filter_map(|c| c.updated_at),
            self.now,
        );
        self.out.feed_items += contacts.len();
        report_progress(ctx, Stage::ReadHubspot, contacts.len(), contacts.len());
        self.reread_contacts(props).await?;
        for c in &contacts {
            self.add_contact(c).await;
        }
        for c in &contacts {
            for m in &c.merged_ids {
                if let Some((old, new)) = hubspot_merge(m, &c.id) {
                    self.follow_merge(old, new).await?;
                }
            }
        }
        self.reread_customers().await?;
        self.read_gorgias_feed(wm_g.as_ref().map(|w| w.at), overlap)
            .await?;
        if let Some(w) = &wm_g {
            for ev in ctx.gorgias.events_since(w.at - overlap).await? {
                self.follow_event(&ev).await?;
            }
        }
        Ok(Full {
            hubspot: wm_h.is_none(),
            gorgias: wm_g.is_none(),
        })
    }

    /// The Gorgias feed from `since` minus the overlap (in full when `None`): its
    /// unreadable list items quarantined, its customers added.
    async fn read_gorgias_feed(
        &mut self,
        since: Option<DateTime<Utc>>,
        overlap: chrono::Duration,
    ) -> Result<(), CycleError> {
        let ctx = self.ctx;
        let feed = ctx.gorgias.changed_since_watermark(since, overlap).await?;
        self.out.next_gorgias = next_watermark(
            System::Gorgias,
            feed.customers.iter().filter_map(|c| c.updated_datetime),
            self.now,
        );
        self.out.feed_items += feed.customers.len();
        report_progress(
            ctx,
            Stage::ReadGorgias,
            feed.customers.len(),
            feed.customers.len(),
        );
        for q in &feed.quarantined {
            match q.id.map(GorgiasId::new) {
                Some(Ok(id)) => {
                    self.quarantine(
                        RecordRef::Gorgias(id),
                        &format!("unreadable list item: {}", q.reason),
                        json!({}),
                    )
                    .await
                }
                _ => self.out.quarantined += 1,
            }
        }
        for c in &feed.customers {
            self.add_customer(c).await;
        }
        Ok(())
    }

    /// A Gorgias event: a deleted customer is left out (never recreated); a merged one is
    /// left out and its merge followed.
    async fn follow_event(&mut self, ev: &CustomerEvent) -> Result<(), CycleError> {
        match ev.kind {
            EventKind::Deleted => {
                if let Ok(id) = GorgiasId::new(ev.object_id) {
                    self.out.excluded.gorgias.insert(id);
                    self.gorgias.remove(&ev.object_id);
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
                    self.gorgias.remove(&s);
                    match target {
                        Some(t) => {
                            if let Some((old, new)) = gorgias_merge(s, t) {
                                self.follow_merge(old, new).await?;
                            }
                        }
                        None => {
                            if let Ok(id) = GorgiasId::new(s) {
                                self.out.excluded.gorgias.insert(id);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}
