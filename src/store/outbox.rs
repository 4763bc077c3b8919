//! The outbox: writes decided by a cycle and not yet confirmed by the target system.
//!
//! Owns `outbox`. Each write has a caller-chosen idempotency key, unique across the table,
//! so enqueuing the same write twice (a re-run cycle) stores it once
//! (`ON CONFLICT(idempotency_key) DO NOTHING`). A batch is enqueued in one transaction.
//! A write is `pending` until marked `done` (audited as `write.done`) or given up as
//! `failed` (audited as `write.failed`); attempts and the last error are kept. Must never
//! send anything: connectors do, then report back here.

use super::aliases::add_alias_in;
use super::audit::{NewAudit, append_in};
use super::bases::set_bases_in;
use super::links::{Link, LinkId, create_link_in, relink_in, remove_link_in};
use super::{
    QueryContext, Store, StoreError, parse_json, parse_opt_ts, parse_ref, parse_system, parse_ts,
    ts,
};
use crate::domain::{GorgiasId, HubspotId, RecordRef, System};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// An outbox row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct OutboxId(pub i64);

/// What a write does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// Create a counterpart record (no target id yet).
    Create,
    /// Update fields of the target.
    Update,
    /// Merge another record into the target (payload names it).
    Merge,
    /// Delete or archive the target.
    Delete,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Create => "create",
            OpKind::Update => "update",
            OpKind::Merge => "merge",
            OpKind::Delete => "delete",
        }
    }

    fn parse(s: &str) -> Result<OpKind, StoreError> {
        Ok(match s {
            "create" => OpKind::Create,
            "update" => OpKind::Update,
            "merge" => OpKind::Merge,
            "delete" => OpKind::Delete,
            other => {
                return Err(StoreError::Corrupt {
                    what: "outbox op",
                    detail: format!("unknown op {other:?}"),
                });
            }
        })
    }
}

/// Where a write stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    Pending,
    Done,
    Failed,
}

impl OutboxStatus {
    fn parse(s: &str) -> Result<OutboxStatus, StoreError> {
        Ok(match s {
            "pending" => OutboxStatus::Pending,
            "done" => OutboxStatus::Done,
            "failed" => OutboxStatus::Failed,
            other => {
                return Err(StoreError::Corrupt {
                    what: "outbox status",
                    detail: format!("unknown status {other:?}"),
                });
            }
        })
    }
}

/// A write to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWrite {
    /// Unique per intended effect, stable across re-runs (e.g. a hash of system, op, target
    /// and payload, or of the cycle's plan entry).
    pub idempotency_key: String,
    pub system: System,
    pub op: OpKind,
    /// The record written; `None` for a create. Must be in `system`.
    pub target: Option<RecordRef>,
    pub payload: serde_json::Value,
}

/// A change to the store's own state that must land together with a write's success, so
/// that a crash cannot leave, say, a created counterpart without its link (which the next
/// cycle would create again). Applied in order, in the transaction that marks the write
/// done; if one is refused, nothing is marked.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUp {
    /// A counterpart was created: link the pair, with the bases of the fields written.
    CreateLink {
        hubspot: HubspotId,
        gorgias: GorgiasId,
        bases: BTreeMap<String, serde_json::Value>,
    },
    /// Fields now agree on both sides: record them as the link's bases.
    SetBases {
        link: LinkId,
        bases: BTreeMap<String, serde_json::Value>,
    },
    /// A record was merged away into a survivor in its system.
    Alias {
        merged_away: RecordRef,
        survivor: RecordRef,
    },
    /// Move one side of a link onto `new` (after a merge).
    Relink { link: LinkId, new: RecordRef },
    /// Drop a link (e.g. its record was deleted or merged into an already linked one).
    RemoveLink { link: LinkId, reason: String },
    /// A write for `record` to `target` succeeded: settle its unsettled item, if any
    /// (audited as `unsettled.settled` with `why`).
    Settle {
        record: RecordRef,
        target: System,
        why: String,
    },
}

/// What [`Store::mark_done_with`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `false` when the write was already done: then no follow-up was applied again.
    pub newly_done: bool,
    /// The links created or changed by the follow-ups, in order.
    pub links: Vec<Link>,
}

/// One write of a batch to mark done, for [`Store::mark_done_batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub id: OutboxId,
    /// What the system answered.
    pub result: Option<serde_json::Value>,
    pub follow_ups: Vec<FollowUp>,
}

/// A stored write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxItem {
    pub id: OutboxId,
    pub idempotency_key: String,
    pub system: System,
    pub op: OpKind,
    pub target: Option<RecordRef>,
    pub payload: serde_json::Value,
    pub status: OutboxStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    /// What the target system answered on success (e.g. the created id).
    pub result: Option<serde_json::Value>,
    pub enqueued_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

type Row = (
    i64,
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

/// The columns of a [`Row`], in its order.
const COLUMNS: &str = "id, idempotency_key, system, op, target_id, payload, status, attempts,
    last_error, result, enqueued_at, last_attempt_at, finished_at";

fn item_from(r: Row) -> Result<OutboxItem, StoreError> {
    let (
        id,
        key,
        system,
        op,
        target,
        payload,
        status,
        attempts,
        last_error,
        result,
        enq,
        last,
        fin,
    ) = r;
    Ok(OutboxItem {
        id: OutboxId(id),
        idempotency_key: key,
        target: target.map(|t| parse_ref(&system, &t)).transpose()?,
        system: parse_system(&system)?,
        op: OpKind::parse(&op)?,
        payload: parse_json("outbox payload", &payload)?,
        status: OutboxStatus::parse(&status)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        last_error,
        result: result
            .map(|r| parse_json("outbox result", &r))
            .transpose()?,
        enqueued_at: parse_ts("outbox enqueued time", &enq)?,
        last_attempt_at: parse_opt_ts("outbox attempt time", last)?,
        finished_at: parse_opt_ts("outbox finished time", fin)?,
    })
}

#[allow(clippy::too_many_arguments)]
async fn finish_in(
    conn: &mut AnyConnection,
    id: OutboxId,
    to: OutboxStatus,
    result: Option<&serde_json::Value>,
    error: Option<&str>,
    follow_ups: &[FollowUp],
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Completion, StoreError> {
    let ending = Ending {
        to,
        result,
        error,
        follow_ups,
    };
    end_in(conn, id, &ending, None, actor, at).await
}

/// Marks one write of a batch done with its follow-ups, on `conn` ([`finish_in`]).
async fn done_in(
    conn: &mut AnyConnection,
    d: &Done,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Completion, StoreError> {
    let result = d.result.as_ref();
    finish_in(
        conn,
        d.id,
        OutboxStatus::Done,
        result,
        None,
        &d.follow_ups,
        actor,
        at,
    )
    .await
}

/// How a write ends: its new status, what the system answered or the error, and the
/// follow-ups that land with it.
struct Ending<'a> {
    to: OutboxStatus,
    result: Option<&'a serde_json::Value>,
    error: Option<&'a str>,
    follow_ups: &'a [FollowUp],
}

/// The pairs (record, target) that may have an unsettled item, read once for a whole batch
/// (`outbox/batch.rs`); a `FollowUp::Settle` of a pair not in it has nothing to settle
/// (completions never add unsettled items). `None`: each Settle reads for itself.
type MaybeUnsettled<'a> = Option<&'a std::collections::HashSet<(RecordRef, System)>>;

/// The audit entry of a write ended as `ending` says (`write.done` or `write.failed`).
fn ended_audit(item: &OutboxItem, ending: &Ending<'_>, actor: &str, at: DateTime<Utc>) -> NewAudit {
    let action = match ending.to {
        OutboxStatus::Done => "write.done",
        _ => "write.failed",
    };
    NewAudit {
        at,
        actor: actor.to_owned(),
        action: action.into(),
        subjects: item.target.iter().cloned().collect(),
        detail: json!({
            "outbox_id": item.id.0,
            "idempotency_key": item.idempotency_key,
            "system": item.system,
            "op": item.op,
            "payload": item.payload,
            "result": ending.result,
            "error": ending.error,
            "attempts": item.attempts,
        }),
    }
}

/// [`finish_in`], with the batch's view of unsettled items. The pending write is ended by
/// one `UPDATE … RETURNING` (no read before it); only a write that was not pending is read,
/// to say why: already ended so (not again), gone, or ended otherwise (refused).
async fn end_in(
    conn: &mut AnyConnection,
    id: OutboxId,
    ending: &Ending<'_>,
    unsettled: MaybeUnsettled<'_>,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Completion, StoreError> {
    let Ending {
        to,
        result,
        error,
        follow_ups,
    } = *ending;
    let status = match to {
        OutboxStatus::Done => "done",
        _ => "failed",
    };
    let ended: Option<Row> = sqlx::query_as(&format!(
        "UPDATE outbox SET status = $1, result = $2, last_error = coalesce($3, last_error),
             finished_at = $4 WHERE id = $5 AND status = 'pending' RETURNING {COLUMNS}"
    ))
    .bind(status)
    .bind(result.map(serde_json::Value::to_string))
    .bind(error)
    .bind(ts(at))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await
    .ctx("finish a write")?;
    let Some(item) = ended.map(item_from).transpose()? else {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"))
                .bind(id.0)
                .fetch_optional(&mut *conn)
                .await
                .ctx("read a write")?;
        let item = row
            .map(item_from)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("write {}", id.0),
            })?;
        if item.status == to {
            return Ok(Completion {
                newly_done: false,
                links: Vec::new(),
            });
        }
        return Err(StoreError::Conflict(format!(
            "write {} ({}) is already {:?}",
            id.0, item.idempotency_key, item.status
        )));
    };
    append_in(&mut *conn, &ended_audit(&item, ending, actor, at)).await?;
    let mut links = Vec::new();
    for f in follow_ups {
        match f {
            FollowUp::CreateLink {
                hubspot,
                gorgias,
                bases,
            } => links.push(create_link_in(&mut *conn, hubspot, *gorgias, bases, actor, at).await?),
            FollowUp::SetBases { link, bases } => {
                let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM links WHERE id = $1")
                    .bind(link.0)
                    .fetch_optional(&mut *conn)
                    .await
                    .ctx("read a link")?;
                if exists.is_none() {
                    return Err(StoreError::NotFound {
                        what: link.to_string(),
                    });
                }
                set_bases_in(&mut *conn, *link, bases, at).await?;
            }
            FollowUp::Alias {
                merged_away,
                survivor,
            } => {
                add_alias_in(&mut *conn, merged_away, survivor, actor, at).await?;
            }
            FollowUp::Relink { link, new } => {
                links.push(relink_in(&mut *conn, *link, new, actor, at).await?)
            }
            FollowUp::RemoveLink { link, reason } => {
                remove_link_in(&mut *conn, *link, reason, actor, at).await?;
            }
            FollowUp::Settle {
                record,
                target,
                why,
            } => {
                if unsettled.is_none_or(|u| u.contains(&(record.clone(), *target))) {
                    Store::settle_in(&mut *conn, record, Some(*target), why, actor, at).await?;
                }
            }
        }
    }
    Ok(Completion {
        newly_done: true,
        links,
    })
}

impl Store {
    /// Enqueues a batch of writes in one transaction. A write whose idempotency key is
    /// already in the outbox (in any status) is skipped. Returns how many were new. The
    /// whole batch is refused, nothing stored, when a target is not in its write's system.
    pub async fn enqueue_writes(
        &self,
        writes: &[NewWrite],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        for w in writes {
            if let Some(t) = &w.target {
                if t.system() != w.system {
                    return Err(StoreError::Conflict(format!(
                        "write {:?} targets {t} but is meant for {}",
                        w.idempotency_key, w.system
                    )));
                }
            }
        }
        let mut tx = self.write_tx().await?;
        let mut inserted = 0;
        for w in writes {
            inserted += sqlx::query(
                "INSERT INTO outbox (idempotency_key, system, op, target_id, payload, enqueued_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (idempotency_key) DO NOTHING",
            )
            .bind(&w.idempotency_key)
            .bind(w.system.as_str())
            .bind(w.op.as_str())
            .bind(w.target.as_ref().map(RecordRef::id_string))
            .bind(w.payload.to_string())
            .bind(ts(at))
            .execute(&mut *tx)
            .await
            .ctx("enqueue a write")?
            .rows_affected() as usize;
        }
        tx.commit().await.ctx("commit enqueued writes")?;
        Ok(inserted)
    }

    /// Pending writes, oldest first, at most `limit`.
    pub async fn pending_writes(&self, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE status = 'pending' ORDER BY id LIMIT $1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list pending writes")?;
        rows.into_iter().map(item_from).collect()
    }

    /// A write by id.
    pub async fn outbox_item(&self, id: OutboxId) -> Result<Option<OutboxItem>, StoreError> {
        let row: Option<Row> =
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"))
                .bind(id.0)
                .fetch_optional(&mut *self.read().await?)
                .await
                .ctx("read a write")?;
        row.map(item_from).transpose()
    }

    /// A write by idempotency key.
    pub async fn outbox_by_key(&self, key: &str) -> Result<Option<OutboxItem>, StoreError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE idempotency_key = $1"
        ))
        .bind(key)
        .fetch_optional(&mut *self.read().await?)
        .await
        .ctx("read a write")?;
        row.map(item_from).transpose()
    }

    /// Records a failed attempt of a pending write; returns its attempt count. Refused for a
    /// write that is not pending.
    pub async fn mark_attempt(
        &self,
        id: OutboxId,
        error: &str,
        at: DateTime<Utc>,
    ) -> Result<u32, StoreError> {
        let mut tx = self.write_tx().await?;
        let n: Option<i64> = sqlx::query_scalar(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, last_attempt_at = $2
             WHERE id = $3 AND status = 'pending' RETURNING attempts",
        )
        .bind(error)
        .bind(ts(at))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .ctx("record a write attempt")?;
        tx.commit().await.ctx("commit a write attempt")?;
        n.map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .ok_or_else(|| StoreError::NotFound {
                what: format!("pending write {}", id.0),
            })
    }

    /// Marks a write done with what the system answered, audited as `write.done` by
    /// `actor`. Returns `false` (and changes nothing) when it was already done; refused when
    /// it had been given up.
    pub async fn mark_done(
        &self,
        id: OutboxId,
        result: Option<&serde_json::Value>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .finish(id, OutboxStatus::Done, result, None, &[], actor, at)
            .await?
            .newly_done)
    }

    /// Marks a write done and applies its follow-ups (links, bases, aliases) in the same
    /// transaction, audited like [`Store::mark_done`] plus each follow-up's own entry.
    /// When the write was already done, nothing is applied again.
    pub async fn mark_done_with(
        &self,
        id: OutboxId,
        result: Option<&serde_json::Value>,
        follow_ups: &[FollowUp],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Completion, StoreError> {
        self.finish(id, OutboxStatus::Done, result, None, follow_ups, actor, at)
            .await
    }

    /// Gives up on a write (it will not be retried), audited as `write.failed`. Returns
    /// `false` when it was already failed; refused when it was done.
    pub async fn mark_failed(
        &self,
        id: OutboxId,
        error: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .finish(id, OutboxStatus::Failed, None, Some(error), &[], actor, at)
            .await?
            .newly_done)
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        id: OutboxId,
        to: OutboxStatus,
        result: Option<&serde_json::Value>,
        error: Option<&str>,
        follow_ups: &[FollowUp],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Completion, StoreError> {
        let mut tx = self.write_tx().await?;
        let done = finish_in(&mut tx, id, to, result, error, follow_ups, actor, at).await?;
        tx.commit().await.ctx("commit a finished write")?;
        Ok(done)
    }

    /// Marks a batch of writes done (e.g. one HubSpot batch call of 100) with their
    /// follow-ups, all in one transaction: all land or none does. Each is audited as
    /// [`Store::mark_done_with`] would.
    pub async fn mark_done_batch(
        &self,
        done: &[Done],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Completion>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(done.len());
        for d in done {
            out.push(done_in(&mut tx, d, actor, at).await?);
        }
        tx.commit().await.ctx("commit finished writes")?;
        Ok(out)
    }
}

mod batch;
mod bulk;
#[cfg(test)]
mod tests;
