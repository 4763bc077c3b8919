//! Applying a plan: new links and agreed bases first, then every write into the outbox in
//! ONE transaction (idempotency key = hash of cycle + write content, which names the link),
//! then sending the outbox: HubSpot batch update/create (100 a call; a 409 "Existing ID"
//! becomes a link, never a duplicate), Gorgias one call per customer (partial PUT with the
//! whole channel list when it changes, then the whole `data`; a create whose e-mail exists
//! resolves to that customer). The successes of one API call are marked done together with
//! their follow-ups (bases, or the new link) in one store transaction; decisions are audited.
//!
//! Owns the outbox payload format and the write executor. Must never send a write that is
//! not in the outbox first, and never store a base before its write succeeded.

use super::failure::{self, Failure, FailureClass};
use super::{Cycle, CycleError, StopPoint};
use crate::connectors::gorgias::{
    CreateOutcome, CustomerUpdate, GorgiasError, NewChannel, NewCustomer,
};
use crate::connectors::hubspot::WriteOutcome;
use crate::domain::{GorgiasId, HubspotId, RecordRef, System};
use crate::engine::{GorgiasRecord, HubspotRecord, Plan};
use crate::store::{
    CycleId, Done, FollowUp, NewAudit, NewLink, NewRefusal, NewWrite, OpKind, OutboxItem,
    StoreError,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

mod gorgias;
mod hubspot;

use gorgias::gorgias_write;
pub use gorgias::{customer_update, new_customer};
use hubspot::{
    create_link, hubspot_creates, hubspot_lookup_creates, hubspot_updates, set_bases_follow_up,
};

/// Counts of writes sent from the outbox.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Applied {
    /// Confirmed by the target system (including creates resolved to an existing record).
    pub done: usize,
    /// Given up: refused by the system (validation, gone) or out of attempts.
    pub failed: usize,
    /// Still pending after a transient failure; retried next cycle.
    pub pending: usize,
    /// Creates that resolved to an existing record (409 / e-mail already used / lookup).
    pub resolved_existing: usize,
    /// Links made by creates (HubSpot id, Gorgias id).
    pub created_links: Vec<(HubspotId, GorgiasId)>,
    /// The records tether created, as the systems answered (saves reading them again).
    #[serde(skip)]
    pub created_hubspot: Vec<HubspotRecord>,
    #[serde(skip)]
    pub created_gorgias: Vec<GorgiasRecord>,
    /// The writes to HubSpot among the above (rows whose payload could not be read count
    /// in neither system).
    pub hubspot: SystemWrites,
    /// The writes to Gorgias among the above.
    pub gorgias: SystemWrites,
}

/// Outcomes of the writes to one system.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SystemWrites {
    pub done: usize,
    pub failed: usize,
    pub pending: usize,
}

impl SystemWrites {
    /// Adds another count.
    pub fn add(&mut self, o: SystemWrites) {
        self.done += o.done;
        self.failed += o.failed;
        self.pending += o.pending;
    }

    /// The outcomes of `a`, all counted as this system's.
    pub fn of(a: &Applied) -> SystemWrites {
        SystemWrites {
            done: a.done,
            failed: a.failed,
            pending: a.pending,
        }
    }
}

impl Applied {
    /// Nothing is left pending.
    pub fn is_clean(&self) -> bool {
        self.pending == 0
    }

    fn add(&mut self, o: Applied) {
        self.done += o.done;
        self.failed += o.failed;
        self.pending += o.pending;
        self.resolved_existing += o.resolved_existing;
        self.created_links.extend(o.created_links);
        self.created_hubspot.extend(o.created_hubspot);
        self.created_gorgias.extend(o.created_gorgias);
        self.hubspot.add(o.hubspot);
        self.gorgias.add(o.gorgias);
    }
}

/// One outbox payload (JSON in the `outbox.payload` column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    HubspotUpdate {
        id: HubspotId,
        gorgias_id: GorgiasId,
        properties: BTreeMap<String, String>,
        bases: BTreeMap<String, Option<String>>,
    },
    GorgiasUpdate {
        id: GorgiasId,
        hubspot_id: HubspotId,
        fields: Map<String, Value>,
        data: Option<Value>,
        bases: BTreeMap<String, Option<String>>,
    },
    HubspotCreate {
        from_gorgias: GorgiasId,
        properties: BTreeMap<String, String>,
        bases: BTreeMap<String, Option<String>>,
    },
    GorgiasCreate {
        from_hubspot: HubspotId,
        fields: Map<String, Value>,
        data: Option<Value>,
        bases: BTreeMap<String, Option<String>>,
    },
}

impl Payload {
    fn system(&self) -> System {
        match self {
            Payload::HubspotUpdate { .. } | Payload::HubspotCreate { .. } => System::Hubspot,
            Payload::GorgiasUpdate { .. } | Payload::GorgiasCreate { .. } => System::Gorgias,
        }
    }

    /// The record read again to plan this write in a later cycle if it is refused: the
    /// target of an update, the source of a create.
    pub fn record(&self) -> RecordRef {
        match self {
            Payload::HubspotUpdate { id, .. } => RecordRef::Hubspot(id.clone()),
            Payload::GorgiasUpdate { id, .. } => RecordRef::Gorgias(*id),
            Payload::HubspotCreate { from_gorgias, .. } => RecordRef::Gorgias(*from_gorgias),
            Payload::GorgiasCreate { from_hubspot, .. } => RecordRef::Hubspot(from_hubspot.clone()),
        }
    }

    fn target(&self) -> Option<RecordRef> {
        match self {
            Payload::HubspotUpdate { id, .. } => Some(RecordRef::Hubspot(id.clone())),
            Payload::GorgiasUpdate { id, .. } => Some(RecordRef::Gorgias(*id)),
            _ => None,
        }
    }

    /// The write for the outbox, keyed by a hash of the cycle and the payload (which names
    /// the link's ids and the exact values): deterministic, unique per intended effect.
    pub fn to_write(&self, cycle: CycleId) -> Result<NewWrite, StoreError> {
        let payload = serde_json::to_value(self).map_err(|e| StoreError::Corrupt {
            what: "outbox payload",
            detail: e.to_string(),
        })?;
        let mut h = Sha256::new();
        h.update(cycle.0.to_string().as_bytes());
        h.update(b"|");
        h.update(payload.to_string().as_bytes());
        let target = self.target();
        Ok(NewWrite {
            idempotency_key: format!("c{}-{}", cycle.0, hex::encode(&h.finalize()[..16])),
            system: self.system(),
            op: if target.is_some() {
                OpKind::Update
            } else {
                OpKind::Create
            },
            target,
            payload,
        })
    }
}

/// The plan's writes as outbox payloads, in plan order.
pub fn payloads(plan: &Plan) -> Vec<Payload> {
    let mut out = vec![];
    for u in &plan.hubspot_updates {
        out.push(Payload::HubspotUpdate {
            id: u.id.clone(),
            gorgias_id: u.gorgias_id,
            properties: u.properties.clone(),
            bases: u.bases.clone(),
        });
    }
    for u in &plan.gorgias_updates {
        out.push(Payload::GorgiasUpdate {
            id: u.id,
            hubspot_id: u.hubspot_id.clone(),
            fields: u.fields.clone(),
            data: u.data.clone(),
            bases: u.bases.clone(),
        });
    }
    for c in &plan.hubspot_creates {
        out.push(Payload::HubspotCreate {
            from_gorgias: c.from_gorgias,
            properties: c.properties.clone(),
            bases: c.bases.clone(),
        });
    }
    for c in &plan.gorgias_creates {
        out.push(Payload::GorgiasCreate {
            from_hubspot: c.from_hubspot.clone(),
            fields: c.fields.clone(),
            data: c.data.clone(),
            bases: c.bases.clone(),
        });
    }
    out
}

/// Plan bases as stored JSON (`null` = empty).
pub fn json_bases(b: &BTreeMap<String, Option<String>>) -> BTreeMap<String, Value> {
    b.iter()
        .map(|(k, v)| (k.clone(), v.clone().map_or(Value::Null, Value::String)))
        .collect()
}

/// Records links and agreed bases, enqueues every write in one transaction, then sends the
/// outbox. Audits the field decisions and held conflicts.
pub async fn apply_plan(ctx: &Cycle, plan: &Plan, cycle: CycleId) -> Result<Applied, CycleError> {
    let now = Utc::now();
    let actor = ctx.options.actor.as_str();
    // 1. Links before their writes (a new link's writes carry its first bases).
    if !plan.links.is_empty() {
        let new: Vec<NewLink> = plan
            .links
            .iter()
            .map(|l| NewLink {
                hubspot: l.hubspot_id.clone(),
                gorgias: l.gorgias_id,
                bases: BTreeMap::new(),
            })
            .collect();
        if let Err(e) = ctx.store.create_links(&new, actor, now).await {
            tracing::warn!(error = %e, "batch of links refused; linking one by one");
            for l in &new {
                if let Err(e) = ctx
                    .store
                    .create_link(&l.hubspot, l.gorgias, &l.bases, actor, now)
                    .await
                {
                    tracing::warn!(error = %e, "link refused");
                }
            }
        }
    }
    // 2. Bases that move with no write.
    let mut agreed: BTreeMap<HubspotId, BTreeMap<String, Value>> = BTreeMap::new();
    for b in &plan.base_updates {
        agreed.entry(b.hubspot_id.clone()).or_default().insert(
            b.field.clone(),
            b.value.clone().map_or(Value::Null, Value::String),
        );
    }
    for (h, bases) in agreed {
        if let Some(link) = ctx.store.link_by_hubspot(&h).await? {
            ctx.store.set_bases(link.id, &bases, now).await?;
        }
    }
    // 3. The outbox, in one transaction.
    let writes = payloads(plan)
        .iter()
        .map(|p| p.to_write(cycle))
        .collect::<Result<Vec<_>, _>>()?;
    ctx.store.enqueue_writes(&writes, now).await?;
    if ctx.options.stop_at == Some(StopPoint::AfterOutbox) {
        return Err(CycleError::Stopped(StopPoint::AfterOutbox));
    }
    // 4. Send.
    let applied = drain(ctx, false).await?;
    // 5. Audit what was decided.
    audit_decisions(ctx, plan, now).await?;
    Ok(applied)
}

async fn audit_decisions(ctx: &Cycle, plan: &Plan, at: DateTime<Utc>) -> Result<(), CycleError> {
    for c in &plan.changes {
        ctx.store
            .append_audit(&NewAudit {
                at,
                actor: ctx.options.actor.clone(),
                action: "field.planned".into(),
                subjects: vec![
                    RecordRef::Hubspot(c.hubspot_id.clone()),
                    RecordRef::Gorgias(c.gorgias_id),
                ],
                detail: json!(c),
            })
            .await?;
    }
    for c in &plan.conflicts {
        ctx.store
            .append_audit(&NewAudit {
                at,
                actor: ctx.options.actor.clone(),
                action: "conflict.held".into(),
                subjects: vec![
                    RecordRef::Hubspot(c.hubspot_id.clone()),
                    RecordRef::Gorgias(c.gorgias_id),
                ],
                detail: json!(c),
            })
            .await?;
    }
    Ok(())
}

/// Audits a plan refused by the safety caps (nothing is written).
pub async fn audit_refusal(ctx: &Cycle, plan: &Plan, at: DateTime<Utc>) -> Result<(), CycleError> {
    ctx.store
        .append_audit(&NewAudit {
            at,
            actor: ctx.options.actor.clone(),
            action: "cycle.refused".into(),
            subjects: vec![],
            detail: json!(plan.caps),
        })
        .await?;
    Ok(())
}

/// An outbox item with its decoded payload.
struct Item {
    row: OutboxItem,
    payload: Payload,
}

/// Refuses to send an API batch while the store's writer lease is not certainly this
/// process's (PostgreSQL): a leader resumed after a stop, or cut off from the database, sends
/// nothing until a renewal confirms it still leads. Its outbox rows stay pending for whoever
/// leads. (The writes are idempotent regardless; this keeps a stale leader from sending.)
pub(crate) fn ensure_leading(ctx: &Cycle) -> Result<(), CycleError> {
    match &ctx.options.lease {
        Some(lease) => Ok(lease.check_valid_now()?),
        None => Ok(()),
    }
}

/// Sends every pending outbox write once. With `lookup_creates_first` (resuming after a
/// crash), a create is first looked up by e-mail, so a create whose answer was lost links
/// to what it made instead of being sent again.
pub async fn drain(ctx: &Cycle, lookup_creates_first: bool) -> Result<Applied, CycleError> {
    let rows = ctx.store.pending_writes(u32::MAX).await?;
    let mut applied = Applied::default();
    let mut items = vec![];
    for row in rows {
        match serde_json::from_value::<Payload>(row.payload.clone()) {
            Ok(payload) => items.push(Item { row, payload }),
            Err(e) => {
                ctx.store
                    .mark_failed(
                        row.id,
                        &format!("unreadable outbox payload: {e}"),
                        &ctx.options.actor,
                        Utc::now(),
                    )
                    .await?;
                applied.failed += 1;
            }
        }
    }
    let (mut h_upd, mut h_new, mut g_items) = (vec![], vec![], vec![]);
    for it in items {
        match it.payload {
            Payload::HubspotUpdate { .. } => h_upd.push(it),
            Payload::HubspotCreate { .. } => h_new.push(it),
            _ => g_items.push(it),
        }
    }
    let total = h_upd.len() + h_new.len() + g_items.len();
    let mut sent = 0;
    for chunk in h_upd.chunks(100) {
        ensure_leading(ctx)?;
        let a = hubspot_updates(ctx, chunk).await?;
        applied.hubspot.add(SystemWrites::of(&a));
        applied.add(a);
        sent += chunk.len();
        super::report_progress(ctx, super::Stage::Apply, sent, total);
    }
    if lookup_creates_first && !h_new.is_empty() {
        ensure_leading(ctx)?;
        let before = h_new.len();
        let (rest, a) = hubspot_lookup_creates(ctx, h_new).await?;
        applied.hubspot.add(SystemWrites::of(&a));
        applied.add(a);
        h_new = rest;
        sent += before - h_new.len().min(before);
        super::report_progress(ctx, super::Stage::Apply, sent, total);
    }
    for chunk in h_new.chunks(100) {
        ensure_leading(ctx)?;
        let a = hubspot_creates(ctx, chunk).await?;
        applied.hubspot.add(SystemWrites::of(&a));
        applied.add(a);
        sent += chunk.len();
        super::report_progress(ctx, super::Stage::Apply, sent, total);
    }
    for it in &g_items {
        ensure_leading(ctx)?;
        let a = gorgias_write(ctx, it, lookup_creates_first).await?;
        applied.gorgias.add(SystemWrites::of(&a));
        applied.add(a);
        sent += 1;
        super::report_progress(ctx, super::Stage::Apply, sent, total);
    }
    Ok(applied)
}

/// A write the system confirmed, waiting to be marked done with the rest of its API batch.
struct Success<'i> {
    it: &'i Item,
    /// What the system answered, kept with the write.
    result: Value,
    /// What must land together with the write's success (bases, the new link).
    follow_ups: Vec<FollowUp>,
    /// Counted once the completion lands (the created record, a create resolved to an
    /// existing one).
    extra: Applied,
}

impl<'i> Success<'i> {
    fn new(it: &'i Item, result: Value, follow_ups: Vec<FollowUp>) -> Self {
        Self {
            it,
            result,
            follow_ups,
            extra: Applied::default(),
        }
    }
}

/// Marks one API batch's confirmed writes done in ONE store transaction, each together with
/// its follow-ups and the settling of its unsettled record ([`StateStore::complete_batch`]). A
/// write whose follow-up is refused (e.g. the created record's id is already linked) is
/// given up and kept unsettled like any refused write ([`failed`]); the others land. If
/// the transaction itself fails, every write of the batch stays pending (sent again, or
/// looked up, on the next start).
///
/// [`StateStore::complete_batch`]: crate::store::StateStore::complete_batch
async fn complete(ctx: &Cycle, batch: Vec<Success<'_>>) -> Result<Applied, CycleError> {
    if batch.is_empty() {
        return Ok(Applied::default());
    }
    let done: Vec<Done> = batch
        .iter()
        .map(|s| {
            let mut follow_ups = s.follow_ups.clone();
            follow_ups.push(FollowUp::Settle {
                record: s.it.payload.record(),
                target: s.it.payload.system(),
                why: "a write succeeded".into(),
            });
            Done {
                id: s.it.row.id,
                result: Some(s.result.clone()),
                follow_ups,
            }
        })
        .collect();
    let answers = ctx
        .store
        .complete_batch(&done, &ctx.options.actor, Utc::now())
        .await?;
    let mut applied = Applied::default();
    let mut first_error = None;
    for (s, answer) in batch.into_iter().zip(answers) {
        match answer {
            Ok(c) => {
                let created_links = s
                    .follow_ups
                    .iter()
                    .filter(|_| c.newly_done)
                    .filter_map(|f| match f {
                        FollowUp::CreateLink {
                            hubspot, gorgias, ..
                        } => Some((hubspot.clone(), *gorgias)),
                        _ => None,
                    })
                    .collect();
                applied.add(Applied {
                    done: 1,
                    created_links,
                    ..Applied::default()
                });
                applied.add(s.extra);
            }
            Err(StoreError::Conflict(msg)) => {
                // The follow-up was refused: the write happened, but linking would break an
                // invariant. Give it up loudly; its record stays unsettled.
                let why = format!("written, but its link was refused: {msg}");
                applied.add(failed(ctx, s.it, &why).await?);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(applied),
    }
}

/// Marks one confirmed write done (a Gorgias write: one call per customer).
async fn done(
    ctx: &Cycle,
    it: &Item,
    result: Value,
    f: Vec<FollowUp>,
) -> Result<Applied, CycleError> {
    complete(ctx, vec![Success::new(it, result, f)]).await
}

/// A write refused for this record (validation, a rule, a bad value): see [`failed_as`].
async fn failed(ctx: &Cycle, it: &Item, why: &str) -> Result<Applied, CycleError> {
    failed_as(ctx, it, Failure::new(FailureClass::Record, why)).await
}

/// Gives a write up and keeps its record unsettled (`store::unsettled`), so that a later
/// cycle plans it again after the backoff ([`failure::backoff`]) until a write succeeds or
/// a person dismisses it: nothing planned vanishes because a write was refused.
async fn failed_as(ctx: &Cycle, it: &Item, f: Failure) -> Result<Applied, CycleError> {
    let why = f.reason.as_str();
    tracing::warn!(write = %it.row.idempotency_key, class = f.class.as_str(), reason = why, "write given up");
    let now = Utc::now();
    ctx.store
        .mark_failed(it.row.id, why, &ctx.options.actor, now)
        .await?;
    let refusal = NewRefusal {
        record: it.payload.record(),
        target: it.payload.system(),
        op: if it.payload.target().is_some() {
            OpKind::Update
        } else {
            OpKind::Create
        },
        class: f.class,
        reason: f.reason.clone(),
    };
    ctx.store
        .record_refusal(&refusal, failure::backoff, &ctx.options.actor, now)
        .await?;
    Ok(Applied {
        failed: 1,
        ..Applied::default()
    })
}

/// A whole HubSpot batch call failed: a refusal because of the setup (401/403) gives every
/// write of the chunk up at once (retrying cannot help); anything else is retried later.
async fn hubspot_call_failed(
    ctx: &Cycle,
    chunk: &[Item],
    e: &crate::connectors::hubspot::HubspotError,
) -> Result<Applied, CycleError> {
    let f = failure::hubspot_call(e);
    if f.class != FailureClass::Setup {
        return retry_chunk_later(ctx, chunk, &e.to_string()).await;
    }
    let mut applied = Applied::default();
    for it in chunk {
        applied.add(failed_as(ctx, it, f.clone()).await?);
    }
    Ok(applied)
}

/// A whole batch call failed before any per-input result: every item of the chunk is
/// retried later (or failed after its last attempt), for the same reason.
async fn retry_chunk_later(ctx: &Cycle, chunk: &[Item], why: &str) -> Result<Applied, CycleError> {
    let mut applied = Applied::default();
    for it in chunk {
        applied.add(retry_later(ctx, it, why).await?);
    }
    Ok(applied)
}

async fn retry_later(ctx: &Cycle, it: &Item, why: &str) -> Result<Applied, CycleError> {
    let n = ctx.store.mark_attempt(it.row.id, why, Utc::now()).await?;
    if n >= ctx.options.max_attempts {
        let f = Failure::new(
            FailureClass::Transient,
            format!("{why} (after {n} attempts)"),
        );
        return failed_as(ctx, it, f).await;
    }
    Ok(Applied {
        pending: 1,
        ..Applied::default()
    })
}

fn bases_of(p: &Payload) -> &BTreeMap<String, Option<String>> {
    match p {
        Payload::HubspotUpdate { bases, .. }
        | Payload::GorgiasUpdate { bases, .. }
        | Payload::HubspotCreate { bases, .. }
        | Payload::GorgiasCreate { bases, .. } => bases,
    }
}

#[cfg(test)]
mod tests;
