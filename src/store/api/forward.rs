//! The forwarding impl of [`StateStore`] for [`Store`]: each method calls the inherent
//! method of the same name, which documents it and holds its SQL (whichever database the
//! store was opened on). Must never grow behaviour of its own.

use super::StateStore;
use crate::domain::{Email, GorgiasId, HubspotId, RecordRef, System};
use crate::store::*;
use crate::support::Change;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

#[async_trait]
impl StateStore for Store {
    fn mode(&self) -> Mode {
        Store::mode(self)
    }

    fn url(&self) -> &str {
        Store::url(self)
    }

    fn writer(&self) -> Option<Holder> {
        Store::guard(self).map(|g| g.holder().clone())
    }

    async fn close(&self) {
        Store::close(self.clone()).await
    }

    async fn add_alias(
        &self,
        merged_away: &RecordRef,
        survivor: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Store::add_alias(self, merged_away, survivor, actor, at).await
    }

    async fn resolve(&self, r: &RecordRef) -> Result<RecordRef, StoreError> {
        Store::resolve(self, r).await
    }

    async fn aliases(&self) -> Result<Vec<(RecordRef, RecordRef)>, StoreError> {
        Store::aliases(self).await
    }

    async fn append_audit(&self, entry: &NewAudit) -> Result<i64, StoreError> {
        Store::append_audit(self, entry).await
    }

    async fn audit_for(&self, record: &RecordRef) -> Result<Vec<AuditEntry>, StoreError> {
        Store::audit_for(self, record).await
    }

    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        Store::recent_audit(self, limit).await
    }

    async fn bases(&self, link: LinkId) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
        Store::bases(self, link).await
    }

    async fn set_bases(
        &self,
        link: LinkId,
        values: &BTreeMap<String, serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::set_bases(self, link, values, at).await
    }

    async fn clear_bases(&self, link: LinkId, fields: &[&str]) -> Result<u64, StoreError> {
        Store::clear_bases(self, link, fields).await
    }

    async fn start_cycle(&self, at: DateTime<Utc>) -> Result<CycleId, StoreError> {
        Store::start_cycle(self, at).await
    }

    async fn finish_cycle(
        &self,
        id: CycleId,
        outcome: CycleOutcome,
        counts: &BTreeMap<String, u64>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::finish_cycle(self, id, outcome, counts, error, at).await
    }

    async fn last_cycle(&self) -> Result<Option<Cycle>, StoreError> {
        Store::last_cycle(self).await
    }

    async fn create_link(
        &self,
        hubspot: &HubspotId,
        gorgias: GorgiasId,
        bases: &BTreeMap<String, serde_json::Value>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Link, StoreError> {
        Store::create_link(self, hubspot, gorgias, bases, actor, at).await
    }

    async fn create_links(
        &self,
        links: &[NewLink],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Link>, StoreError> {
        Store::create_links(self, links, actor, at).await
    }

    async fn link(&self, id: LinkId) -> Result<Option<Link>, StoreError> {
        Store::link(self, id).await
    }

    async fn link_by_hubspot(&self, id: &HubspotId) -> Result<Option<Link>, StoreError> {
        Store::link_by_hubspot(self, id).await
    }

    async fn link_by_gorgias(&self, id: GorgiasId) -> Result<Option<Link>, StoreError> {
        Store::link_by_gorgias(self, id).await
    }

    async fn link_for(&self, record: &RecordRef) -> Result<Option<Link>, StoreError> {
        Store::link_for(self, record).await
    }

    async fn links(&self) -> Result<Vec<Link>, StoreError> {
        Store::links(self).await
    }

    async fn relink(
        &self,
        id: LinkId,
        new: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Link, StoreError> {
        Store::relink(self, id, new, actor, at).await
    }

    async fn remove_link(
        &self,
        id: LinkId,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Store::remove_link(self, id, reason, actor, at).await
    }

    async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        Store::schema_state(self).await
    }

    async fn enqueue_writes(
        &self,
        writes: &[NewWrite],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Store::enqueue_writes(self, writes, at).await
    }

    async fn pending_writes(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        Store::pending_writes(self, limit).await
    }

    async fn outbox_item(&self, id: OutboxId) -> Result<Option<OutboxItem>, StoreError> {
        Store::outbox_item(self, id).await
    }

    async fn outbox_by_key(&self, key: &str) -> Result<Option<OutboxItem>, StoreError> {
        Store::outbox_by_key(self, key).await
    }

    async fn mark_attempt(
        &self,
        id: OutboxId,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        Store::mark_attempt(self, id, error, at).await
    }

    async fn mark_done(
        &self,
        id: OutboxId,
        result: Option<&serde_json::Value>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Store::mark_done(self, id, result, actor, at).await
    }

    async fn mark_done_with(
        &self,
        id: OutboxId,
        result: Option<&serde_json::Value>,
        follow_ups: &[FollowUp],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Completion, StoreError> {
        Store::mark_done_with(self, id, result, follow_ups, actor, at).await
    }

    async fn mark_failed(
        &self,
        id: OutboxId,
        error: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Store::mark_failed(self, id, error, actor, at).await
    }

    async fn mark_done_batch(
        &self,
        done: &[Done],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Completion>, StoreError> {
        Store::mark_done_batch(self, done, actor, at).await
    }

    async fn propose(
        &self,
        pair: &Pair,
        score: f64,
        explanation: &serde_json::Value,
        snapshot: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<ProposalInsert, StoreError> {
        Store::propose(self, pair, score, explanation, snapshot, at).await
    }

    async fn proposal(&self, id: ProposalId) -> Result<Option<Proposal>, StoreError> {
        Store::proposal(self, id).await
    }

    async fn pending_proposals(&self, limit: u32) -> Result<Vec<Proposal>, StoreError> {
        Store::pending_proposals(self, limit).await
    }

    async fn approved_proposals(&self) -> Result<Vec<Proposal>, StoreError> {
        Store::approved_proposals(self).await
    }

    async fn decide(
        &self,
        id: ProposalId,
        decision: Decision,
        reason: &str,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Proposal, StoreError> {
        Store::decide(self, id, decision, reason, who, at).await
    }

    async fn is_rejected(&self, pair: &Pair) -> Result<bool, StoreError> {
        Store::is_rejected(self, pair).await
    }

    async fn quarantine(
        &self,
        record: &RecordRef,
        reason: &str,
        detail: &serde_json::Value,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::quarantine(self, record, reason, detail, actor, at).await
    }

    async fn quarantined(&self, record: &RecordRef) -> Result<Option<QuarantineEntry>, StoreError> {
        Store::quarantined(self, record).await
    }

    async fn quarantine_list(&self) -> Result<Vec<QuarantineEntry>, StoreError> {
        Store::quarantine_list(self).await
    }

    async fn clear_quarantine(
        &self,
        record: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Store::clear_quarantine(self, record, actor, at).await
    }

    async fn unsettled(&self, filter: UnsettledFilter) -> Result<Vec<Unsettled>, StoreError> {
        Store::unsettled(self, filter).await
    }

    async fn record_refusal(
        &self,
        r: &NewRefusal,
        backoff: fn(u32) -> chrono::Duration,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Unsettled, StoreError> {
        Store::record_refusal(self, r, backoff, actor, at).await
    }

    async fn settle_unsettled(
        &self,
        record: &RecordRef,
        target: Option<System>,
        why: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Store::settle_unsettled(self, record, target, why, actor, at).await
    }

    async fn retry_unsettled(
        &self,
        which: &RetrySelection,
        why: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Unsettled>, StoreError> {
        Store::retry_unsettled(self, which, why, actor, at).await
    }

    async fn dismiss_unsettled(
        &self,
        id: UnsettledId,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Unsettled, StoreError> {
        Store::dismiss_unsettled(self, id, reason, actor, at).await
    }

    async fn hold_conflicts(
        &self,
        held: &[SeenConflict],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        Store::hold_conflicts(self, held, at).await
    }

    async fn close_conflicts(
        &self,
        planned: &std::collections::HashSet<(HubspotId, GorgiasId)>,
        still_held: &std::collections::HashSet<(HubspotId, GorgiasId, String)>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<HeldConflict>, StoreError> {
        Store::close_conflicts(self, planned, still_held, actor, at).await
    }

    async fn conflicts(&self, with_closed: bool) -> Result<Vec<HeldConflict>, StoreError> {
        Store::conflicts(self, with_closed).await
    }

    async fn conflict(&self, id: ConflictId) -> Result<Option<HeldConflict>, StoreError> {
        Store::conflict(self, id).await
    }

    async fn pending_resolutions(&self) -> Result<Vec<HeldConflict>, StoreError> {
        Store::pending_resolutions(self).await
    }

    async fn resolve_conflict(
        &self,
        id: ConflictId,
        choice: &ConflictChoice,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<HeldConflict, StoreError> {
        Store::resolve_conflict(self, id, choice, actor, at).await
    }

    async fn upsert_record_seen(&self, r: &RecordSeen) -> Result<(), StoreError> {
        Store::upsert_record_seen(self, r).await
    }

    async fn upsert_records_seen(&self, records: &[RecordSeen]) -> Result<(), StoreError> {
        Store::upsert_records_seen(self, records).await
    }

    async fn record_seen(&self, record: &RecordRef) -> Result<Option<RecordSeen>, StoreError> {
        Store::record_seen(self, record).await
    }

    async fn records_with_key(&self, key: &str) -> Result<Vec<RecordRef>, StoreError> {
        Store::records_with_key(self, key).await
    }

    async fn records_with_email(&self, email: &Email) -> Result<Vec<RecordRef>, StoreError> {
        Store::records_with_email(self, email).await
    }

    async fn seen_records(&self, system: System) -> Result<Vec<RecordSeen>, StoreError> {
        Store::seen_records(self, system).await
    }

    async fn forget_record_seen(&self, record: &RecordRef) -> Result<bool, StoreError> {
        Store::forget_record_seen(self, record).await
    }

    async fn counts(&self) -> Result<Counts, StoreError> {
        Store::counts(self).await
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        Store::status(self).await
    }

    async fn watermark(&self, system: System) -> Result<Option<Watermark>, StoreError> {
        Store::watermark(self, system).await
    }

    async fn watermarks(&self) -> Result<BTreeMap<System, Watermark>, StoreError> {
        Store::watermarks(self).await
    }

    async fn advance_watermark(
        &self,
        system: System,
        to: &Watermark,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Store::advance_watermark(self, system, to, now).await
    }

    async fn set_watermark(
        &self,
        system: System,
        to: &Watermark,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::set_watermark(self, system, to, now).await
    }

    async fn live_conflicts_of(
        &self,
        hubspot: &HubspotId,
        gorgias: GorgiasId,
    ) -> Result<Vec<HeldConflict>, StoreError> {
        Store::live_conflicts_of(self, hubspot, gorgias).await
    }

    async fn complete_batch(
        &self,
        done: &[Done],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Result<Completion, StoreError>>, StoreError> {
        Store::complete_batch(self, done, actor, at).await
    }

    async fn last_done_write_result(
        &self,
        target: &RecordRef,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Store::last_done_write_result(self, target).await
    }

    async fn upsert_snapshots(
        &self,
        snapshots: &[(RecordRef, serde_json::Value)],
        seen_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::upsert_snapshots(self, snapshots, seen_at).await
    }

    async fn snapshots(&self) -> Result<Vec<Snapshot>, StoreError> {
        Store::snapshots(self).await
    }

    async fn begin_scan(
        &self,
        started_at: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
    ) -> Result<i64, StoreError> {
        Store::begin_scan(self, started_at, since).await
    }

    async fn finish_scan(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        records: i64,
        candidates: i64,
        proposed: i64,
    ) -> Result<(), StoreError> {
        Store::finish_scan(self, id, finished_at, records, candidates, proposed).await
    }

    async fn scans(&self, limit: u32) -> Result<Vec<Scan>, StoreError> {
        Store::scans(self, limit).await
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Store::meta(self, key).await
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        Store::set_meta(self, key, value).await
    }

    async fn apply_support_changes(
        &self,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Result<BTreeSet<GorgiasId>, StoreError> {
        Store::apply_support_changes(self, changes, now).await
    }

    async fn support_owed(&self, limit: u32) -> Result<Vec<GorgiasId>, StoreError> {
        Store::support_owed(self, limit).await
    }

    async fn support_facts(
        &self,
        customers: &[GorgiasId],
    ) -> Result<BTreeMap<GorgiasId, CustomerFacts>, StoreError> {
        Store::support_facts(self, customers).await
    }

    async fn support_written(
        &self,
        contacts: &[HubspotId],
    ) -> Result<BTreeMap<HubspotId, BTreeMap<String, String>>, StoreError> {
        Store::support_written(self, contacts).await
    }

    async fn settle_support(
        &self,
        customers: &[GorgiasId],
        written: &[(HubspotId, BTreeMap<String, String>)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::settle_support(self, customers, written, now).await
    }

    async fn support_feed(&self, feed: SupportFeed) -> Result<FeedPosition, StoreError> {
        Store::support_feed(self, feed).await
    }

    async fn set_support_feed(
        &self,
        feed: SupportFeed,
        pos: &FeedPosition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        Store::set_support_feed(self, feed, pos, now).await
    }
}
