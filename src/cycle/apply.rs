//! Applying a plan: new links and agreed bases first, then every write into the outbox in
//! ONE transaction (idempotency key = hash of cycle + write content, which names the link),
//! then sending the outbox: HubSpot batch update/create (100 a call; a 409 "Existing ID"
//! becomes a link, never a duplicate), Gorgias one call per customer (partial PUT with the
//! whole channel list when it changes, then the whole `data`; a create whose e-mail exists
//! resolves to that customer). Each success is marked done together with its follow-ups
//! (bases, or the new link) in one store transaction; decisions are audited.
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
    CycleId, FollowUp, NewAudit, NewLink, NewRefusal, NewWrite, OpKind, OutboxItem, StoreError,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

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
        let a = hubspot_updates(ctx, chunk).await?;
        applied.hubspot.add(SystemWrites::of(&a));
        applied.add(a);
        sent += chunk.len();
        super::report_progress(ctx, super::Stage::Apply, sent, total);
    }
    if lookup_creates_first && !h_new.is_empty() {
        let before = h_new.len();
        let (rest, a) = hubspot_lookup_creates(ctx, h_new).await?;
        applied.hubspot.add(SystemWrites::of(&a));
        applied.add(a);
        h_new = rest;
        sent += before - h_new.len().min(before);
        super::report_progress(ctx, super::Stage::Apply, sent, total);
    }
    for chunk in h_new.chunks(100) {
        let a = hubspot_creates(ctx, chunk).await?;
        applied.hubspot.add(SystemWrites::of(&a));
        applied.add(a);
        sent += chunk.len();
        super::report_progress(ctx, super::Stage::Apply, sent, total);
    }
    for it in &g_items {
        let a = gorgias_write(ctx, it, lookup_creates_first).await?;
        applied.gorgias.add(SystemWrites::of(&a));
        applied.add(a);
        sent += 1;
        super::report_progress(ctx, super::Stage::Apply, sent, total);
    }
    Ok(applied)
}

async fn done(
    ctx: &Cycle,
    it: &Item,
    result: Value,
    f: Vec<FollowUp>,
) -> Result<Applied, CycleError> {
    match ctx
        .store
        .mark_done_with(it.row.id, Some(&result), &f, &ctx.options.actor, Utc::now())
        .await
    {
        Ok(c) => {
            ctx.store
                .settle_unsettled(
                    &it.payload.record(),
                    Some(it.payload.system()),
                    "a write succeeded",
                    &ctx.options.actor,
                    Utc::now(),
                )
                .await?;
            Ok(Applied {
                done: 1,
                created_links: f
                    .iter()
                    .filter(|_| c.newly_done)
                    .filter_map(|f| match f {
                        FollowUp::CreateLink {
                            hubspot, gorgias, ..
                        } => Some((hubspot.clone(), *gorgias)),
                        _ => None,
                    })
                    .collect(),
                ..Applied::default()
            })
        }
        Err(StoreError::Conflict(msg)) => {
            // The follow-up was refused (e.g. the created record's id is already linked):
            // the write happened, but linking would break an invariant. Give it up loudly.
            failed(
                ctx,
                it,
                &format!("written, but its link was refused: {msg}"),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
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

async fn set_bases_follow_up(
    ctx: &Cycle,
    h: &HubspotId,
    p: &Payload,
) -> Result<Vec<FollowUp>, CycleError> {
    Ok(match ctx.store.link_by_hubspot(h).await? {
        Some(l) => vec![FollowUp::SetBases {
            link: l.id,
            bases: json_bases(bases_of(p)),
        }],
        None => vec![],
    })
}

async fn hubspot_updates(ctx: &Cycle, chunk: &[Item]) -> Result<Applied, CycleError> {
    let inputs: Vec<(String, BTreeMap<String, String>)> = chunk
        .iter()
        .filter_map(|it| match &it.payload {
            Payload::HubspotUpdate { id, properties, .. } => {
                Some((id.as_str().to_owned(), properties.clone()))
            }
            _ => None,
        })
        .collect();
    let mut applied = Applied::default();
    let outcomes = match ctx.hubspot.batch_update(&inputs).await {
        Ok(o) => o,
        Err(e) => return hubspot_call_failed(ctx, chunk, &e).await,
    };
    for (it, outcome) in chunk.iter().zip(outcomes) {
        let Payload::HubspotUpdate { id, .. } = &it.payload else {
            continue;
        };
        let a = match outcome {
            WriteOutcome::Updated(c) | WriteOutcome::Created(c) => {
                let f = set_bases_follow_up(ctx, id, &it.payload).await?;
                done(ctx, it, json!({"id": c.id}), f).await?
            }
            WriteOutcome::NotFound => failed(ctx, it, "the contact no longer exists").await?,
            WriteOutcome::Failed(e) => failed_as(ctx, it, failure::hubspot_item(&e)).await?,
            WriteOutcome::ExistingContact(other) => {
                failed(ctx, it, &format!("the e-mail belongs to contact {other}")).await?
            }
        };
        applied.add(a);
    }
    Ok(applied)
}

/// The link follow-up of a create: bases when tether made the record, none when the record
/// already existed (its values are unknown: the next cycle diffs it against an empty base).
fn create_link(
    hubspot: HubspotId,
    gorgias: GorgiasId,
    p: &Payload,
    created: bool,
) -> Vec<FollowUp> {
    vec![FollowUp::CreateLink {
        hubspot,
        gorgias,
        bases: if created {
            json_bases(bases_of(p))
        } else {
            BTreeMap::new()
        },
    }]
}

async fn link_existing_hubspot(
    ctx: &Cycle,
    it: &Item,
    from: GorgiasId,
    existing: &str,
) -> Result<Applied, CycleError> {
    let Ok(h) = HubspotId::new(existing) else {
        return failed(
            ctx,
            it,
            &format!("HubSpot named an unusable id {existing:?}"),
        )
        .await;
    };
    if let Some(l) = ctx.store.link_by_hubspot(&h).await? {
        if l.gorgias == from {
            return done(ctx, it, json!({"id": existing, "existing": true}), vec![]).await;
        }
        return failed(
            ctx,
            it,
            &format!(
                "the e-mail belongs to contact {existing}, already linked to another customer"
            ),
        )
        .await;
    }
    let f = create_link(h, from, &it.payload, false);
    let mut a = done(ctx, it, json!({"id": existing, "existing": true}), f).await?;
    a.resolved_existing += a.done;
    Ok(a)
}

async fn hubspot_creates(ctx: &Cycle, chunk: &[Item]) -> Result<Applied, CycleError> {
    let inputs: Vec<BTreeMap<String, String>> = chunk
        .iter()
        .filter_map(|it| match &it.payload {
            Payload::HubspotCreate { properties, .. } => Some(properties.clone()),
            _ => None,
        })
        .collect();
    let mut applied = Applied::default();
    let outcomes = match ctx.hubspot.batch_create(&inputs).await {
        Ok(o) => o,
        Err(e) => return hubspot_call_failed(ctx, chunk, &e).await,
    };
    for (it, outcome) in chunk.iter().zip(outcomes) {
        let Payload::HubspotCreate { from_gorgias, .. } = &it.payload else {
            continue;
        };
        let a = match outcome {
            WriteOutcome::Created(c) | WriteOutcome::Updated(c) => {
                match HubspotId::new(c.id.clone()) {
                    Ok(h) => {
                        let f = create_link(h, *from_gorgias, &it.payload, true);
                        let mut a = done(ctx, it, json!({"id": c.id}), f).await?;
                        if a.done > 0
                            && let Ok(r) = super::read::hubspot_record(&c)
                        {
                            a.created_hubspot.push(r);
                        }
                        a
                    }
                    Err(_) => failed(ctx, it, "HubSpot answered an unusable id").await?,
                }
            }
            WriteOutcome::ExistingContact(id) => {
                link_existing_hubspot(ctx, it, *from_gorgias, &id).await?
            }
            WriteOutcome::NotFound => failed(ctx, it, "not found").await?,
            WriteOutcome::Failed(e) => failed_as(ctx, it, failure::hubspot_item(&e)).await?,
        };
        applied.add(a);
    }
    Ok(applied)
}

/// Resuming: creates whose e-mail already has a contact are linked to it, not sent again.
async fn hubspot_lookup_creates(
    ctx: &Cycle,
    items: Vec<Item>,
) -> Result<(Vec<Item>, Applied), CycleError> {
    let email_of = |it: &Item| match &it.payload {
        Payload::HubspotCreate { properties, .. } => properties
            .get("email")
            .map(|e| e.trim().to_lowercase())
            .filter(|e| !e.is_empty()),
        _ => None,
    };
    let emails: Vec<String> = items.iter().filter_map(email_of).collect();
    let mut applied = Applied::default();
    if emails.is_empty() {
        return Ok((items, applied));
    }
    let found: BTreeMap<String, String> = ctx
        .hubspot
        .batch_read_by_email(&emails, &["email"])
        .await?
        .into_iter()
        .filter_map(|(e, c)| c.map(|c| (e, c.id)))
        .collect();
    let mut rest = vec![];
    for it in items {
        let hit = email_of(&it).and_then(|e| found.get(&e).cloned());
        match (hit, &it.payload) {
            (Some(id), Payload::HubspotCreate { from_gorgias, .. }) => {
                applied.add(link_existing_hubspot(ctx, &it, *from_gorgias, &id).await?);
            }
            _ => rest.push(it),
        }
    }
    Ok((rest, applied))
}

fn opt_text(key: &str, v: &Value) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(format!("`{key}` must be text")),
    }
}

fn channels(v: &Value) -> Result<Vec<NewChannel>, String> {
    let arr = v.as_array().ok_or("`channels` must be a list")?;
    arr.iter()
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).map(str::to_owned);
            Ok(NewChannel {
                kind: s("type").ok_or("a channel needs a type")?,
                address: s("address").ok_or("a channel needs an address")?,
                preferred: c.get("preferred").and_then(Value::as_bool).unwrap_or(false),
            })
        })
        .collect()
}

/// The planned top-level fields as a partial update. Pure.
pub fn customer_update(fields: &Map<String, Value>) -> Result<CustomerUpdate, String> {
    let mut u = CustomerUpdate::default();
    for (k, v) in fields {
        match k.as_str() {
            "email" => u.email = Some(opt_text(k, v)?),
            "name" => u.name = Some(opt_text(k, v)?),
            "external_id" => u.external_id = Some(opt_text(k, v)?),
            "language" => u.language = Some(opt_text(k, v)?),
            "timezone" => u.timezone = Some(opt_text(k, v)?),
            "note" => u.note = Some(opt_text(k, v)?),
            "channels" => u.channels = Some(channels(v)?),
            other => {
                return Err(format!(
                    "Gorgias customers have no writable field `{other}`"
                ));
            }
        }
    }
    Ok(u)
}

/// The planned create body as a new customer (keys outside the create schema are left for
/// the next cycle's update). Pure.
pub fn new_customer(fields: &Map<String, Value>) -> Result<NewCustomer, String> {
    let mut c = NewCustomer::default();
    for (k, v) in fields {
        match k.as_str() {
            "email" => c.email = opt_text(k, v)?,
            "name" => c.name = opt_text(k, v)?,
            "external_id" => c.external_id = opt_text(k, v)?,
            "language" => c.language = opt_text(k, v)?,
            "timezone" => c.timezone = opt_text(k, v)?,
            "channels" => c.channels = channels(v)?,
            other => tracing::debug!(field = other, "left for the next cycle's update"),
        }
    }
    Ok(c)
}

/// What to do with a Gorgias error: give up (the system refused) or retry later.
fn gorgias_permanent(e: &GorgiasError) -> bool {
    matches!(
        e,
        GorgiasError::NotFound { .. }
            | GorgiasError::Merged { .. }
            | GorgiasError::Validation { .. }
            | GorgiasError::Conflict { .. }
            | GorgiasError::DataNotObject { .. }
            | GorgiasError::InvalidInput(_)
            | GorgiasError::ExistingNotFound
    )
}

async fn gorgias_error(ctx: &Cycle, it: &Item, e: GorgiasError) -> Result<Applied, CycleError> {
    let f = failure::gorgias(&e);
    if gorgias_permanent(&e) || f.class == FailureClass::Setup {
        failed_as(ctx, it, f).await
    } else {
        retry_later(ctx, it, &e.to_string()).await
    }
}

async fn gorgias_write(ctx: &Cycle, it: &Item, lookup_first: bool) -> Result<Applied, CycleError> {
    match &it.payload {
        Payload::GorgiasUpdate {
            id,
            hubspot_id,
            fields,
            data,
            ..
        } => {
            let upd = match customer_update(fields) {
                Ok(u) => u,
                Err(why) => return failed(ctx, it, &why).await,
            };
            // `data` first: the partial PUT's answer is then the customer after both, and
            // recognises the echo of this write in the next feed (`super::echo`).
            if let Some(d) = data
                && let Err(e) = ctx.gorgias.put_data(id.get(), d, Utc::now()).await
            {
                return gorgias_error(ctx, it, e).await;
            }
            let answer = match ctx.gorgias.update(id.get(), &upd).await {
                Ok(a) => a,
                Err(e) => return gorgias_error(ctx, it, e).await,
            };
            let result = super::echo::update_result(
                ctx,
                *id,
                hubspot_id,
                bases_of(&it.payload),
                answer.as_ref(),
            )
            .await?;
            let f = set_bases_follow_up(ctx, hubspot_id, &it.payload).await?;
            done(ctx, it, result, f).await
        }
        Payload::GorgiasCreate {
            from_hubspot,
            fields,
            data,
            ..
        } => {
            let new = match new_customer(fields) {
                Ok(c) => c,
                Err(why) => return failed(ctx, it, &why).await,
            };
            let email = new.email.clone().or_else(|| {
                new.channels
                    .iter()
                    .find(|c| c.kind == "email")
                    .map(|c| c.address.clone())
            });
            let outcome = match (lookup_first, &email) {
                (true, Some(e)) => match ctx.gorgias.find_by_email(e).await {
                    Ok(Some(c)) => Ok(CreateOutcome::Existing(c)),
                    Ok(None) => ctx.gorgias.create(&new).await,
                    Err(e) => Err(e),
                },
                _ => ctx.gorgias.create(&new).await,
            };
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => return gorgias_error(ctx, it, e).await,
            };
            let (customer, mut created) = match outcome {
                CreateOutcome::Created(c) => (c, true),
                CreateOutcome::Existing(c) => (c, false),
            };
            let Ok(gid) = GorgiasId::new(customer.id) else {
                return failed(ctx, it, "Gorgias answered an unusable id").await;
            };
            if !created {
                if let Some(l) = ctx.store.link_by_gorgias(gid).await? {
                    if &l.hubspot == from_hubspot {
                        return done(ctx, it, json!({"id": gid, "existing": true}), vec![]).await;
                    }
                    return failed(
                        ctx,
                        it,
                        &format!("the e-mail belongs to customer {gid}, already linked to another contact"),
                    )
                    .await;
                }
            }
            if created
                && let Some(d) = data
                && let Err(e) = ctx.gorgias.put_data(gid.get(), d, Utc::now()).await
            {
                // The customer exists: link it anyway, with no bases, so the next cycle
                // fills what is missing instead of creating it again.
                tracing::warn!(error = %e, "data of a new customer not written; the next cycle retries");
                created = false;
            }
            let f = create_link(from_hubspot.clone(), gid, &it.payload, created);
            let mut a = done(ctx, it, json!({"id": gid, "existing": !created}), f).await?;
            if !created {
                a.resolved_existing += a.done;
            } else if a.done > 0 {
                let mut c = customer;
                if let Some(d) = data {
                    c.data = d.clone();
                }
                if let Ok(r) = super::read::gorgias_record(&c) {
                    a.created_gorgias.push(r);
                }
            }
            Ok(a)
        }
        _ => Ok(Applied::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_fields_convert_or_name_the_bad_key() {
        let f: Map<String, Value> = serde_json::from_value(json!({
            "name": "Jane", "note": null,
            "channels": [{"type": "phone", "address": "+14155550100", "preferred": true}]
        }))
        .unwrap();
        let u = customer_update(&f).unwrap();
        assert_eq!(u.name, Some(Some("Jane".into())));
        assert_eq!(u.note, Some(None));
        assert_eq!(u.channels.unwrap()[0].address, "+14155550100");
        let bad: Map<String, Value> = serde_json::from_value(json!({"firstname": "J"})).unwrap();
        assert!(customer_update(&bad).unwrap_err().contains("firstname"));
    }

    #[test]
    fn keys_are_deterministic_and_change_with_cycle_and_content() {
        let p = Payload::HubspotUpdate {
            id: HubspotId::new("101").unwrap(),
            gorgias_id: GorgiasId::new(7).unwrap(),
            properties: BTreeMap::from([("phone".into(), "+1".into())]),
            bases: BTreeMap::new(),
        };
        let a = p.to_write(CycleId(1)).unwrap();
        assert_eq!(
            a.idempotency_key,
            p.to_write(CycleId(1)).unwrap().idempotency_key
        );
        assert_ne!(
            a.idempotency_key,
            p.to_write(CycleId(2)).unwrap().idempotency_key
        );
        let mut q = p.clone();
        if let Payload::HubspotUpdate { properties, .. } = &mut q {
            properties.insert("phone".into(), "+2".into());
        }
        assert_ne!(
            a.idempotency_key,
            q.to_write(CycleId(1)).unwrap().idempotency_key
        );
        assert_eq!(a.op, OpKind::Update);
        let back: Payload = serde_json::from_value(a.payload).unwrap();
        assert_eq!(back, p);
    }
}
