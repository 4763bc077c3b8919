//! [`StateStore`]: every operation of the state store as one trait, so that callers (the
//! cycle, merges, the review service, the sidebar card, tests with fakes) depend on the trait,
//! held as a [`SharedStore`], and only the commands choose the backend (DESIGN.md, section 8).
//!
//! Owns nothing but the trait and its alias (the forwarding impl for [`Store`] is
//! `api/forward.rs`); the semantics (and the SQL) live in the inherent methods, documented in
//! each concern's file. Must never grow behaviour of its own: a method is added here only
//! when a caller outside the store needs it.

use super::*;
use crate::domain::{Email, GorgiasId, HubspotId, RecordRef, System};
use crate::support::Change;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

mod forward;
#[cfg(test)]
mod tests;

/// The state store as every caller outside the commands holds it: one open store, shared
/// (cheap to clone), whichever backend the commands opened.
pub type SharedStore = Arc<dyn StateStore>;

/// The state store's operations. [`Store`] implements it by forwarding to its inherent
/// methods, which document each operation in full.
#[async_trait]
pub trait StateStore: Send + Sync + std::fmt::Debug {
    /// How this store was opened (the writer, or reading only).
    fn mode(&self) -> Mode;

    /// The URL the store was opened from (for messages; it holds no secret for SQLite, and
    /// a backend whose URL can must hide it here).
    fn url(&self) -> &str;

    /// Who this handle writes as: the holder of the writer guard (or lease) when it is the
    /// writer, `None` when it only reads.
    fn writer(&self) -> Option<Holder>;

    /// Releases the writer guard (or lease) and closes the connections, for every clone of
    /// this handle; a lock the operating system holds (SQLite's lock file) goes with the
    /// last clone dropped. The handle must not be used afterwards.
    async fn close(&self);

    /// Records that `merged_away` was merged into `survivor` (same system), audited as
    /// `alias.added`. Repeating the same alias is a no-op; re-aliasing to a different
    /// survivor, or making a loop, is refused. Returns whether the alias was new.
    async fn add_alias(
        &self,
        merged_away: &RecordRef,
        survivor: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The record `r` now lives as: itself, or the end of its alias chain.
    async fn resolve(&self, r: &RecordRef) -> Result<RecordRef, StoreError>;

    /// Every alias as (merged away, survivor), for reports.
    async fn aliases(&self) -> Result<Vec<(RecordRef, RecordRef)>, StoreError>;

    /// Appends an entry; returns its id.
    async fn append_audit(&self, entry: &NewAudit) -> Result<i64, StoreError>;

    /// Every entry about a record, oldest first (for `tether explain`).
    async fn audit_for(&self, record: &RecordRef) -> Result<Vec<AuditEntry>, StoreError>;

    /// The most recent `limit` entries, newest first.
    async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;

    /// The bases of a link, by field name (empty when none or no such link).
    async fn bases(&self, link: LinkId) -> Result<BTreeMap<String, serde_json::Value>, StoreError>;

    /// Sets (inserts or replaces) the given fields' bases in one transaction; fields not
    /// named keep theirs. Refused with [`StoreError::NotFound`] for an unknown link.
    async fn set_bases(
        &self,
        link: LinkId,
        values: &BTreeMap<String, serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Forgets the bases of the named fields (e.g. a field dropped from the mapping).
    async fn clear_bases(&self, link: LinkId, fields: &[&str]) -> Result<u64, StoreError>;

    /// Records the start of a cycle.
    async fn start_cycle(&self, at: DateTime<Utc>) -> Result<CycleId, StoreError>;

    /// Records how a cycle ended. Refused for an unknown or already finished cycle.
    async fn finish_cycle(
        &self,
        id: CycleId,
        outcome: CycleOutcome,
        counts: &BTreeMap<String, u64>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The most recently started cycle.
    async fn last_cycle(&self) -> Result<Option<Cycle>, StoreError>;

    /// Links `hubspot` and `gorgias` and records the bases of the mapped fields, in one
    /// transaction, audited as `link.created` by `actor`. Refused when either side is
    /// already linked.
    async fn create_link(
        &self,
        hubspot: &HubspotId,
        gorgias: GorgiasId,
        bases: &BTreeMap<String, serde_json::Value>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Link, StoreError>;

    /// Creates a batch of links (e.g. records matched by e-mail on a first sync) in one
    /// transaction: all or none. Refused as a whole when any side is already linked (or
    /// appears twice in the batch).
    async fn create_links(
        &self,
        links: &[NewLink],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Link>, StoreError>;

    /// The link with this id.
    async fn link(&self, id: LinkId) -> Result<Option<Link>, StoreError>;

    /// The link whose HubSpot side is `id`.
    async fn link_by_hubspot(&self, id: &HubspotId) -> Result<Option<Link>, StoreError>;

    /// The link whose Gorgias side is `id`.
    async fn link_by_gorgias(&self, id: GorgiasId) -> Result<Option<Link>, StoreError>;

    /// The link that holds `record` on its side of the same system.
    async fn link_for(&self, record: &RecordRef) -> Result<Option<Link>, StoreError>;

    /// Every link, by id.
    async fn links(&self) -> Result<Vec<Link>, StoreError>;

    /// Replaces one side of a link (the side of `new`'s system) after that record was merged
    /// into `new`. Bases are kept. Refused when `new` is already in another link. Audited as
    /// `link.relinked`. Returns the updated link.
    async fn relink(
        &self,
        id: LinkId,
        new: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Link, StoreError>;

    /// Removes a link and its bases (e.g. one side was deleted), audited as `link.removed`
    /// with `reason`. Returns whether there was such a link.
    async fn remove_link(
        &self,
        id: LinkId,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The applied schema version; 0 for an empty database.
    async fn schema_state(&self) -> Result<SchemaState, StoreError>;

    /// Enqueues a batch of writes in one transaction. A write whose idempotency key is
    /// already in the outbox (in any status) is skipped. Returns how many were new. The
    /// whole batch is refused, nothing stored, when a target is not in its write's system.
    async fn enqueue_writes(
        &self,
        writes: &[NewWrite],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Pending writes, oldest first, at most `limit`.
    async fn pending_writes(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError>;

    /// A write by id.
    async fn outbox_item(&self, id: OutboxId) -> Result<Option<OutboxItem>, StoreError>;

    /// A write by idempotency key.
    async fn outbox_by_key(&self, key: &str) -> Result<Option<OutboxItem>, StoreError>;

    /// Records a failed attempt of a pending write; returns its attempt count. Refused for a
    /// write that is not pending.
    async fn mark_attempt(
        &self,
        id: OutboxId,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, StoreError>;

    /// Marks a write done with what the system answered, audited as `write.done` by
    /// `actor`. Returns `false` (and changes nothing) when it was already done; refused when
    /// it had been given up.
    async fn mark_done(
        &self,
        id: OutboxId,
        result: Option<&serde_json::Value>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks a write done and applies its follow-ups (links, bases, aliases) in the same
    /// transaction, audited like [`Store::mark_done`] plus each follow-up's own entry.
    /// When the write was already done, nothing is applied again.
    async fn mark_done_with(
        &self,
        id: OutboxId,
        result: Option<&serde_json::Value>,
        follow_ups: &[FollowUp],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Completion, StoreError>;

    /// Gives up on a write (it will not be retried), audited as `write.failed`. Returns
    /// `false` when it was already failed; refused when it was done.
    async fn mark_failed(
        &self,
        id: OutboxId,
        error: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Marks a batch of writes done (e.g. one HubSpot batch call of 100) with their
    /// follow-ups, all in one transaction: all land or none does. Each is audited as
    /// [`Store::mark_done_with`] would.
    async fn mark_done_batch(
        &self,
        done: &[Done],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Completion>, StoreError>;

    /// Completes the writes of one API batch in one transaction, each with its follow-ups,
    /// audited as [`Store::mark_done_with`] would. A write whose completion is refused
    /// ([`StoreError::Conflict`] or [`StoreError::NotFound`]) is rolled back alone and
    /// answered `Err` in its place, still pending; the others land. Any other failure rolls
    /// the whole batch back (the outer `Err`). The answers are in the order of `done`.
    async fn complete_batch(
        &self,
        done: &[Done],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Result<Completion, StoreError>>, StoreError>;

    /// The recorded answer (`result`) of the newest write done to `target`, if any.
    async fn last_done_write_result(
        &self,
        target: &RecordRef,
    ) -> Result<Option<serde_json::Value>, StoreError>;

    /// Proposes a pair for review, unless it is already pending (then refreshed) or was
    /// rejected before (then nothing is stored).
    async fn propose(
        &self,
        pair: &Pair,
        score: f64,
        explanation: &serde_json::Value,
        snapshot: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> Result<ProposalInsert, StoreError>;

    /// A proposal by id.
    async fn proposal(&self, id: ProposalId) -> Result<Option<Proposal>, StoreError>;

    /// Pending proposals, highest score first (then oldest), at most `limit`.
    async fn pending_proposals(&self, limit: u32) -> Result<Vec<Proposal>, StoreError>;

    /// Approved proposals, oldest decision first, for the cycle to act on.
    async fn approved_proposals(&self) -> Result<Vec<Proposal>, StoreError>;

    /// Records a reviewer's decision on a pending proposal, audited as
    /// `proposal.approved` / `proposal.rejected`. Refused when it was already decided.
    async fn decide(
        &self,
        id: ProposalId,
        decision: Decision,
        reason: &str,
        who: &str,
        at: DateTime<Utc>,
    ) -> Result<Proposal, StoreError>;

    /// Whether a reviewer rejected this pair (in either order) at any time.
    async fn is_rejected(&self, pair: &Pair) -> Result<bool, StoreError>;

    /// Inserts or replaces the snapshots of a batch of records, in one transaction.
    async fn upsert_snapshots(
        &self,
        snapshots: &[(RecordRef, serde_json::Value)],
        seen_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Every stored snapshot, HubSpot first, then by id.
    async fn snapshots(&self) -> Result<Vec<Snapshot>, StoreError>;

    /// Records the start of a duplicate scan and returns its id.
    async fn begin_scan(
        &self,
        started_at: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
    ) -> Result<i64, StoreError>;

    /// Records that scan `id` finished, and what it found.
    async fn finish_scan(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        records: i64,
        candidates: i64,
        proposed: i64,
    ) -> Result<(), StoreError>;

    /// The most recent `limit` scans, newest first.
    async fn scans(&self, limit: u32) -> Result<Vec<Scan>, StoreError>;

    /// Quarantines a record (or updates the reason of one already in), audited as
    /// `quarantine.added`. `since` keeps the first time it went in.
    async fn quarantine(
        &self,
        record: &RecordRef,
        reason: &str,
        detail: &serde_json::Value,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// The quarantine entry of a record, if it is in quarantine.
    async fn quarantined(&self, record: &RecordRef) -> Result<Option<QuarantineEntry>, StoreError>;

    /// Every quarantined record, oldest first.
    async fn quarantine_list(&self) -> Result<Vec<QuarantineEntry>, StoreError>;

    /// Takes a record out of quarantine, audited as `quarantine.cleared`. Returns whether
    /// it was in.
    async fn clear_quarantine(
        &self,
        record: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The unsettled records (refused writes still owed) the filter selects, newest
    /// failure first.
    async fn unsettled(&self, filter: UnsettledFilter) -> Result<Vec<Unsettled>, StoreError>;

    /// Records a refused write, the next retry at `at + backoff(streak)`; audited.
    async fn record_refusal(
        &self,
        r: &NewRefusal,
        backoff: fn(u32) -> chrono::Duration,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Unsettled, StoreError>;

    /// Settles the unsettled items of a record (a write succeeded, nothing owed); audited.
    async fn settle_unsettled(
        &self,
        record: &RecordRef,
        target: Option<System>,
        why: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Clears the backoff of the selected items (naming ids lifts a dismissal); audited.
    async fn retry_unsettled(
        &self,
        which: &RetrySelection,
        why: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Unsettled>, StoreError>;

    /// A person settles an item without a write; audited.
    async fn dismiss_unsettled(
        &self,
        id: UnsettledId,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Unsettled, StoreError>;

    /// The value kept under `key` (e.g. the fingerprint of the sync settings).
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Sets the value kept under `key`.
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// Records the conflicts a cycle held: a new one opens, a live one gets this cycle's
    /// values and `last_seen`. Returns how many were new.
    async fn hold_conflicts(
        &self,
        held: &[SeenConflict],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError>;

    /// Closes the live conflicts of the `planned` pairs whose field is not `still_held`
    /// (`applied` with a resolution, `agreed` without), audited as `conflict.closed`.
    async fn close_conflicts(
        &self,
        planned: &std::collections::HashSet<(HubspotId, GorgiasId)>,
        still_held: &std::collections::HashSet<(HubspotId, GorgiasId, String)>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<HeldConflict>, StoreError>;

    /// Held conflicts, newest first: the live ones, or every one with `with_closed`.
    async fn conflicts(&self, with_closed: bool) -> Result<Vec<HeldConflict>, StoreError>;

    /// One held conflict by id.
    async fn conflict(&self, id: ConflictId) -> Result<Option<HeldConflict>, StoreError>;

    /// The live conflicts a person resolved, for the next cycle's engine input.
    async fn pending_resolutions(&self) -> Result<Vec<HeldConflict>, StoreError>;

    /// The live (open or resolved) conflicts of one pair, oldest first.
    async fn live_conflicts_of(
        &self,
        hubspot: &HubspotId,
        gorgias: GorgiasId,
    ) -> Result<Vec<HeldConflict>, StoreError>;

    /// Stores a person's choice for a live conflict, audited as `conflict.resolved`;
    /// `NotFound` for an unknown id, `Conflict` for a closed one.
    async fn resolve_conflict(
        &self,
        id: ConflictId,
        choice: &ConflictChoice,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<HeldConflict, StoreError>;

    /// Inserts or replaces what is known of a record, keys included, in one transaction.
    async fn upsert_record_seen(&self, r: &RecordSeen) -> Result<(), StoreError>;

    /// Inserts or replaces a batch of seen records in one transaction (much faster than one
    /// by one for a page of a change feed).
    async fn upsert_records_seen(&self, records: &[RecordSeen]) -> Result<(), StoreError>;

    /// What is known of a record, if it was seen.
    async fn record_seen(&self, record: &RecordRef) -> Result<Option<RecordSeen>, StoreError>;

    /// The seen records that share a normalised key (e.g. the same e-mail), in both systems,
    /// HubSpot first.
    async fn records_with_key(&self, key: &str) -> Result<Vec<RecordRef>, StoreError>;

    /// The seen records whose primary e-mail is `email`, in both systems, HubSpot first.
    async fn records_with_email(&self, email: &Email) -> Result<Vec<RecordRef>, StoreError>;

    /// Every seen record of `system`, by id, keys included.
    async fn seen_records(&self, system: System) -> Result<Vec<RecordSeen>, StoreError>;

    /// Forgets a seen record and its keys (e.g. it was deleted in its system). Returns
    /// whether it was known.
    async fn forget_record_seen(&self, record: &RecordRef) -> Result<bool, StoreError>;

    /// Counts of every table that matters to an operator.
    async fn counts(&self) -> Result<Counts, StoreError>;

    /// Everything `tether status` shows.
    async fn status(&self) -> Result<StoreStatus, StoreError>;

    /// The watermark of `system`, if a cycle has set one.
    async fn watermark(&self, system: System) -> Result<Option<Watermark>, StoreError>;

    /// Every system's watermark.
    async fn watermarks(&self) -> Result<BTreeMap<System, Watermark>, StoreError>;

    /// Moves the watermark of `system` to `to` if that is further along the feed than where
    /// it is (or there is none yet). Returns whether it moved. `now` is when it was set.
    async fn advance_watermark(
        &self,
        system: System,
        to: &Watermark,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Sets the watermark of `system` to `to`, backwards included (to re-read a period).
    async fn set_watermark(
        &self,
        system: System,
        to: &Watermark,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Stores the changes read from the support feeds in one transaction (an older ticket
    /// version is ignored, a scored survey never goes back to unscored, a merge moves the
    /// customer's rows to the survivor) and marks every customer whose roll-up may have
    /// changed as owed. Returns those customers.
    async fn apply_support_changes(
        &self,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Result<BTreeSet<GorgiasId>, StoreError>;

    /// Customers whose roll-up is owed to HubSpot, oldest first, at most `limit`.
    async fn support_owed(&self, limit: u32) -> Result<Vec<GorgiasId>, StoreError>;

    /// The facts of each of `customers` (tickets, and the surveys each owns).
    async fn support_facts(
        &self,
        customers: &[GorgiasId],
    ) -> Result<BTreeMap<GorgiasId, CustomerFacts>, StoreError>;

    /// The roll-up values tether last wrote to each of `contacts`, by property.
    async fn support_written(
        &self,
        contacts: &[HubspotId],
    ) -> Result<BTreeMap<HubspotId, BTreeMap<String, String>>, StoreError>;

    /// Records the roll-up values written (after HubSpot accepted them) and settles the
    /// owed `customers`, in one transaction.
    async fn settle_support(
        &self,
        customers: &[GorgiasId],
        written: &[(HubspotId, BTreeMap<String, String>)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Where `feed` stands (the default when it has never been read).
    async fn support_feed(&self, feed: SupportFeed) -> Result<FeedPosition, StoreError>;

    /// Sets where a support feed stands.
    async fn set_support_feed(
        &self,
        feed: SupportFeed,
        pos: &FeedPosition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}
