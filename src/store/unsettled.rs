//! Unsettled records: records tether still owes a write because the target system refused
//! it (issue 12). A record stays unsettled until a write for it succeeds
//! ([`Store::settle_unsettled`]) or a person dismisses it ([`Store::dismiss_unsettled`]);
//! nothing tether once planned is forgotten because a write failed.
//!
//! Owns `unsettled` and `store_meta`. The API other modules rely on (the cycle, `tether
//! retry|dismiss|status`, and the inbox and review page):
//! - [`Store::unsettled`]`(filter)` lists [`Unsettled`] items: id, the record re-read to
//!   plan the write again ([`Unsettled::record`]: the target of an update, the source of a
//!   create), the target system, the op kind, the [`FailureClass`], a reason a person
//!   understands, attempts, first/last failure, next retry and the dismissal, if any;
//! - [`Store::record_refusal`] (the cycle, when a write is given up) and
//!   [`Store::settle_unsettled`] (the cycle, when a write for the record succeeds, or when a
//!   re-plan finds nothing left to write);
//! - [`Store::retry_unsettled`]`(ids | all)` clears the backoff (`tether retry`, `tether
//!   setup`, a change of the mappings or settings); naming ids also lifts a dismissal;
//! - [`Store::dismiss_unsettled`]`(id, reason, actor)`: a dismissed item is not retried until
//!   its record changes again (the feed then plans it; a new refusal reopens the item).
//!
//! Every change is audited (`unsettled.refused`, `unsettled.settled`, `unsettled.retry`,
//! `unsettled.dismissed`). Must never decide what is refused, nor the backoff: the cycle
//! passes the policy in.

use super::audit::{NewAudit, append_in};
use super::outbox::OpKind;
use super::{QueryContext, Store, StoreError, parse_opt_ts, parse_ref, parse_system, parse_ts, ts};
use crate::domain::{RecordRef, System};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

/// An unsettled item's id (`tether retry ID`, `tether dismiss ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct UnsettledId(pub i64);

impl std::fmt::Display for UnsettledId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a write was refused, as far as it matters for what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureClass {
    /// The system could not be reached or kept failing (retried inside the cycle first).
    Transient,
    /// The system refused this record (validation, a portal rule, a bad value).
    Record,
    /// The system refused because of the setup (a missing property or scope, 401/403).
    Setup,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Transient => "transient",
            FailureClass::Record => "record",
            FailureClass::Setup => "setup",
        }
    }

    fn parse(s: &str) -> Result<FailureClass, StoreError> {
        Ok(match s {
            "transient" => FailureClass::Transient,
            "record" => FailureClass::Record,
            "setup" => FailureClass::Setup,
            other => {
                return Err(StoreError::Corrupt {
                    what: "failure class",
                    detail: format!("unknown class {other:?}"),
                });
            }
        })
    }
}

/// A person's dismissal of an unsettled item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dismissal {
    pub at: DateTime<Utc>,
    pub by: String,
    pub reason: String,
}

/// A record tether still owes a write.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unsettled {
    pub id: UnsettledId,
    /// The record read again to plan the write: the target of an update, the source of a
    /// create (the record whose counterpart is missing).
    pub record: RecordRef,
    /// The system the refused write went to.
    pub target: System,
    /// `create` or `update`.
    pub op: OpKind,
    pub class: FailureClass,
    /// What the system said, for a person.
    pub reason: String,
    /// Cycles whose write for this record failed.
    pub attempts: u32,
    pub first_failed_at: DateTime<Utc>,
    pub last_failed_at: DateTime<Utc>,
    /// The first cycle at or after this time plans the record again.
    pub next_retry_at: DateTime<Utc>,
    pub dismissed: Option<Dismissal>,
}

/// A refused write to record (see [`Store::record_refusal`]).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRefusal {
    pub record: RecordRef,
    pub target: System,
    pub op: OpKind,
    pub class: FailureClass,
    pub reason: String,
}

/// Which unsettled items [`Store::unsettled`] lists.
#[derive(Debug, Clone, PartialEq)]
pub enum UnsettledFilter {
    /// Every item, dismissed ones included.
    All,
    /// Items not dismissed (what the plan, status and inbox show).
    Open,
    /// Open items whose next retry is at or before the time: what a cycle re-plans.
    Due(DateTime<Utc>),
    /// The named items.
    Ids(Vec<UnsettledId>),
    /// Open items of one record (e.g. either side of a linked pair, for the Gorgias card).
    Record(RecordRef),
}

/// Which items [`Store::retry_unsettled`] clears the backoff of.
#[derive(Debug, Clone, PartialEq)]
pub enum RetrySelection {
    /// Every open (not dismissed) item.
    All,
    /// The named items, dismissed ones included (their dismissal is lifted).
    Ids(Vec<UnsettledId>),
}

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

const SELECT: &str = "SELECT id, system, record_id, target, op, class, reason, attempts,
    first_failed_at, last_failed_at, next_retry_at, dismissed_at, dismissed_by, dismiss_reason
    FROM unsettled";

fn item_from(r: Row) -> Result<Unsettled, StoreError> {
    let (
        id,
        system,
        record_id,
        target,
        op,
        class,
        reason,
        attempts,
        first,
        last,
        next,
        dat,
        dby,
        dr,
    ) = r;
    let op = match op.as_str() {
        "create" => OpKind::Create,
        "update" => OpKind::Update,
        other => {
            return Err(StoreError::Corrupt {
                what: "unsettled op",
                detail: format!("unknown op {other:?}"),
            });
        }
    };
    let dismissed = parse_opt_ts("dismissal time", dat)?.map(|at| Dismissal {
        at,
        by: dby.unwrap_or_default(),
        reason: dr.unwrap_or_default(),
    });
    Ok(Unsettled {
        id: UnsettledId(id),
        record: parse_ref(&system, &record_id)?,
        target: parse_system(&target)?,
        op,
        class: FailureClass::parse(&class)?,
        reason,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        first_failed_at: parse_ts("first failure time", &first)?,
        last_failed_at: parse_ts("last failure time", &last)?,
        next_retry_at: parse_ts("next retry time", &next)?,
        dismissed,
    })
}

fn audit(
    action: &str,
    u: &Unsettled,
    actor: &str,
    at: DateTime<Utc>,
    extra: serde_json::Value,
) -> NewAudit {
    NewAudit {
        at,
        actor: actor.to_owned(),
        action: action.into(),
        subjects: vec![u.record.clone()],
        detail: json!({
            "unsettled": u.id,
            "target": u.target.as_str(),
            "op": u.op.as_str(),
            "class": u.class.as_str(),
            "reason": u.reason,
            "attempts": u.attempts,
            "extra": extra,
        }),
    }
}

impl Store {
    /// The unsettled items the filter selects, newest failure first.
    pub async fn unsettled(&self, filter: UnsettledFilter) -> Result<Vec<Unsettled>, StoreError> {
        let order = " ORDER BY last_failed_at DESC, id DESC";
        let rows: Vec<Row> =
            match &filter {
                UnsettledFilter::All => {
                    sqlx::query_as(&format!("{SELECT}{order}"))
                        .fetch_all(&mut *self.read().await?)
                        .await
                }
                UnsettledFilter::Open => {
                    sqlx::query_as(&format!("{SELECT} WHERE dismissed_at IS NULL{order}"))
                        .fetch_all(&mut *self.read().await?)
                        .await
                }
                UnsettledFilter::Due(at) => {
                    sqlx::query_as(&format!(
                        "{SELECT} WHERE dismissed_at IS NULL AND next_retry_at <= $1{order}"
                    ))
                    .bind(ts(*at))
                    .fetch_all(&mut *self.read().await?)
                    .await
                }
                UnsettledFilter::Record(r) => sqlx::query_as(&format!(
                    "{SELECT} WHERE dismissed_at IS NULL AND system = $1 AND record_id = $2{order}"
                ))
                .bind(r.system().as_str())
                .bind(r.id_string())
                .fetch_all(&mut *self.read().await?)
                .await,
                UnsettledFilter::Ids(ids) => {
                    let mut out = vec![];
                    for id in ids {
                        let r: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
                            .bind(id.0)
                            .fetch_optional(&mut *self.read().await?)
                            .await
                            .ctx("read an unsettled record")?;
                        out.extend(r);
                    }
                    Ok(out)
                }
            }
            .ctx("list unsettled records")?;
        rows.into_iter().map(item_from).collect()
    }

    async fn unsettled_one(
        conn: &mut sqlx::AnyConnection,
        record: &RecordRef,
        target: System,
    ) -> Result<Option<Unsettled>, StoreError> {
        let r: Option<Row> = sqlx::query_as(&format!(
            "{SELECT} WHERE system = $1 AND record_id = $2 AND target = $3"
        ))
        .bind(record.system().as_str())
        .bind(record.id_string())
        .bind(target.as_str())
        .fetch_optional(&mut *conn)
        .await
        .ctx("read an unsettled record")?;
        r.map(item_from).transpose()
    }

    /// Records that a write for `r.record` to `r.target` was refused at `at`: a new item, or
    /// one more attempt of the existing one (a dismissed item is reopened: its record
    /// changed, was planned and refused again). The next retry is `at + backoff(streak)`,
    /// where `streak` counts the failures since the backoff was last cleared (1 for the
    /// first). Audited as `unsettled.refused`.
    pub async fn record_refusal(
        &self,
        r: &NewRefusal,
        backoff: impl Fn(u32) -> chrono::Duration,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Unsettled, StoreError> {
        let op = match r.op {
            OpKind::Create => "create",
            _ => "update",
        };
        let mut tx = self.write_tx().await?;
        let before = Self::unsettled_one(&mut tx, &r.record, r.target).await?;
        let (attempts, streak, first) = match &before {
            Some(u) if u.dismissed.is_none() => {
                let streak: i64 = sqlx::query_scalar("SELECT streak FROM unsettled WHERE id = $1")
                    .bind(u.id.0)
                    .fetch_one(&mut *tx)
                    .await
                    .ctx("read an unsettled streak")?;
                (
                    u.attempts.saturating_add(1),
                    u32::try_from(streak).unwrap_or(0).saturating_add(1),
                    u.first_failed_at,
                )
            }
            _ => (1, 1, at),
        };
        let next = at + backoff(streak);
        sqlx::query(
            "INSERT INTO unsettled (system, record_id, target, op, class, reason, attempts, streak,
                 first_failed_at, last_failed_at, next_retry_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (system, record_id, target) DO UPDATE SET
               op = excluded.op, class = excluded.class, reason = excluded.reason,
               attempts = excluded.attempts, streak = excluded.streak,
               first_failed_at = excluded.first_failed_at,
               last_failed_at = excluded.last_failed_at, next_retry_at = excluded.next_retry_at,
               dismissed_at = NULL, dismissed_by = NULL, dismiss_reason = NULL",
        )
        .bind(r.record.system().as_str())
        .bind(r.record.id_string())
        .bind(r.target.as_str())
        .bind(op)
        .bind(r.class.as_str())
        .bind(&r.reason)
        .bind(i64::from(attempts))
        .bind(i64::from(streak))
        .bind(ts(first))
        .bind(ts(at))
        .bind(ts(next))
        .execute(&mut *tx)
        .await
        .ctx("record a refused write")?;
        let item = Self::unsettled_one(&mut tx, &r.record, r.target)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("unsettled record {}", r.record),
            })?;
        append_in(
            &mut tx,
            &audit(
                "unsettled.refused",
                &item,
                actor,
                at,
                json!({"next_retry_at": ts(next)}),
            ),
        )
        .await?;
        tx.commit().await.ctx("commit a refused write")?;
        Ok(item)
    }

    /// Settles the items of `record` (to `target`, or to either system when `None`): a write
    /// for it succeeded, or a re-plan found nothing left to write (`why`). Audited as
    /// `unsettled.settled`. Returns how many items were settled.
    pub async fn settle_unsettled(
        &self,
        record: &RecordRef,
        target: Option<System>,
        why: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = Self::settle_in(&mut tx, record, target, why, actor, at).await?;
        tx.commit().await.ctx("commit a settled record")?;
        Ok(n)
    }

    /// [`Store::settle_unsettled`] inside the caller's transaction (e.g. the one that marks
    /// the successful write done: `FollowUp::Settle`).
    pub(super) async fn settle_in(
        conn: &mut sqlx::AnyConnection,
        record: &RecordRef,
        target: Option<System>,
        why: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        for t in [System::Hubspot, System::Gorgias] {
            if target.is_some_and(|x| x != t) {
                continue;
            }
            let Some(u) = Self::unsettled_one(&mut *conn, record, t).await? else {
                continue;
            };
            sqlx::query("DELETE FROM unsettled WHERE id = $1")
                .bind(u.id.0)
                .execute(&mut *conn)
                .await
                .ctx("settle an unsettled record")?;
            append_in(
                &mut *conn,
                &audit("unsettled.settled", &u, actor, at, json!({"why": why})),
            )
            .await?;
            n += 1;
        }
        Ok(n)
    }

    /// Clears the backoff of the selected items so that the next cycle plans them again
    /// (`tether retry`, `tether setup`, a changed mapping or setting); naming ids also lifts
    /// their dismissal. Audited as `unsettled.retry`, with `why`. Returns the items changed.
    /// An unknown id is refused with [`StoreError::NotFound`] and nothing changes.
    pub async fn retry_unsettled(
        &self,
        which: &RetrySelection,
        why: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Unsettled>, StoreError> {
        let items = match which {
            RetrySelection::All => self.unsettled(UnsettledFilter::Open).await?,
            RetrySelection::Ids(ids) => {
                let found = self.unsettled(UnsettledFilter::Ids(ids.clone())).await?;
                if let Some(missing) = ids.iter().find(|id| !found.iter().any(|u| u.id == **id)) {
                    return Err(StoreError::NotFound {
                        what: format!("unsettled record {missing}"),
                    });
                }
                found
            }
        };
        let mut tx = self.write_tx().await?;
        for u in &items {
            sqlx::query(
                "UPDATE unsettled SET next_retry_at = $1, streak = 0,
                   dismissed_at = NULL, dismissed_by = NULL, dismiss_reason = NULL
                 WHERE id = $2",
            )
            .bind(ts(at))
            .bind(u.id.0)
            .execute(&mut *tx)
            .await
            .ctx("clear a backoff")?;
            append_in(
                &mut tx,
                &audit("unsettled.retry", u, actor, at, json!({"why": why})),
            )
            .await?;
        }
        tx.commit().await.ctx("commit a retry")?;
        self.unsettled(UnsettledFilter::Ids(items.iter().map(|u| u.id).collect()))
            .await
    }

    /// A person settles an item without a write: it is not retried until its record changes
    /// again. Audited as `unsettled.dismissed` with the reason. An unknown id is refused with
    /// [`StoreError::NotFound`].
    pub async fn dismiss_unsettled(
        &self,
        id: UnsettledId,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Unsettled, StoreError> {
        let not_found = || StoreError::NotFound {
            what: format!("unsettled record {id}"),
        };
        let u = self
            .unsettled(UnsettledFilter::Ids(vec![id]))
            .await?
            .pop()
            .ok_or_else(not_found)?;
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE unsettled SET dismissed_at = $1, dismissed_by = $2, dismiss_reason = $3 WHERE id = $4",
        )
        .bind(ts(at))
        .bind(actor)
        .bind(reason)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .ctx("dismiss an unsettled record")?;
        append_in(
            &mut tx,
            &audit("unsettled.dismissed", &u, actor, at, json!({"why": reason})),
        )
        .await?;
        tx.commit().await.ctx("commit a dismissal")?;
        self.unsettled(UnsettledFilter::Ids(vec![id]))
            .await?
            .pop()
            .ok_or_else(not_found)
    }

    /// A value kept under `key` in `store_meta`.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM store_meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *self.read().await?)
            .await
            .ctx("read a store value")
    }

    /// Sets the value kept under `key`.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO store_meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await
        .ctx("set a store value")?;
        tx.commit().await.ctx("commit a store value")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn refusal(r: &RecordRef) -> NewRefusal {
        NewRefusal {
            record: r.clone(),
            target: System::Hubspot,
            op: OpKind::Create,
            class: FailureClass::Record,
            reason: "VALIDATION_ERROR: property lifecyclestage is required".into(),
        }
    }

    fn minutes(n: u32) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(n))
    }

    async fn refusals_accumulate_settle_and_are_audited(s: Store) {
        let g = RecordRef::Gorgias(gg(7));
        let u = s
            .record_refusal(&refusal(&g), minutes, "sync", t(100))
            .await
            .unwrap();
        assert_eq!(
            (u.attempts, u.first_failed_at, u.next_retry_at),
            (1, t(100), t(160))
        );
        let u = s
            .record_refusal(&refusal(&g), minutes, "sync", t(200))
            .await
            .unwrap();
        assert_eq!(
            (u.attempts, u.first_failed_at, u.next_retry_at),
            (2, t(100), t(320))
        );
        assert!(
            s.unsettled(UnsettledFilter::Due(t(319)))
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            s.unsettled(UnsettledFilter::Due(t(320)))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            s.settle_unsettled(&g, None, "created", "sync", t(400))
                .await
                .unwrap(),
            1
        );
        assert!(s.unsettled(UnsettledFilter::All).await.unwrap().is_empty());
        let actions: Vec<String> = s
            .audit_for(&g)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert_eq!(
            actions,
            vec![
                "unsettled.refused",
                "unsettled.refused",
                "unsettled.settled"
            ]
        );
    }

    async fn retry_clears_the_backoff_and_dismissal_holds_until_refused_again(s: Store) {
        let g = RecordRef::Gorgias(gg(7));
        let h = RecordRef::Hubspot(hs("9"));
        let a = s
            .record_refusal(&refusal(&g), minutes, "sync", t(0))
            .await
            .unwrap();
        s.record_refusal(&refusal(&g), minutes, "sync", t(60))
            .await
            .unwrap();
        let b = s
            .record_refusal(&refusal(&h), minutes, "sync", t(60))
            .await
            .unwrap();
        let d = s
            .dismiss_unsettled(b.id, "known bad", "ann", t(70))
            .await
            .unwrap();
        assert_eq!(d.dismissed.as_ref().unwrap().by, "ann");
        assert_eq!(s.unsettled(UnsettledFilter::Open).await.unwrap().len(), 1);
        assert!(
            s.unsettled(UnsettledFilter::Due(t(100)))
                .await
                .unwrap()
                .is_empty()
        );
        // --all leaves the dismissed item alone.
        let r = s
            .retry_unsettled(&RetrySelection::All, "setup", "cli", t(100))
            .await
            .unwrap();
        assert_eq!(r.iter().map(|u| u.id).collect::<Vec<_>>(), vec![a.id]);
        let due = s.unsettled(UnsettledFilter::Due(t(100))).await.unwrap();
        assert_eq!(due.len(), 1);
        // The streak restarts: the next refusal waits one step again.
        let again = s
            .record_refusal(&refusal(&g), minutes, "sync", t(100))
            .await
            .unwrap();
        assert_eq!((again.attempts, again.next_retry_at), (3, t(160)));
        // Naming the dismissed id lifts the dismissal.
        s.retry_unsettled(&RetrySelection::Ids(vec![b.id]), "cli", "ann", t(110))
            .await
            .unwrap();
        assert_eq!(s.unsettled(UnsettledFilter::Open).await.unwrap().len(), 2);
        // A refusal of a dismissed item reopens it from scratch.
        s.dismiss_unsettled(b.id, "again", "ann", t(120))
            .await
            .unwrap();
        let re = s
            .record_refusal(&refusal(&h), minutes, "sync", t(130))
            .await
            .unwrap();
        assert_eq!(
            (re.attempts, re.first_failed_at, re.dismissed),
            (1, t(130), None)
        );
        // Unknown ids are refused.
        let bad = UnsettledId(999);
        assert!(matches!(
            s.retry_unsettled(&RetrySelection::Ids(vec![bad]), "cli", "ann", t(140))
                .await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.dismiss_unsettled(bad, "x", "ann", t(140)).await,
            Err(StoreError::NotFound { .. })
        ));
        let actions: Vec<String> = s
            .audit_for(&h)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
        assert!(actions.contains(&"unsettled.dismissed".to_string()));
        assert!(actions.contains(&"unsettled.retry".to_string()));
    }

    async fn meta_values_round_trip(s: Store) {
        assert_eq!(s.meta("fingerprint").await.unwrap(), None);
        s.set_meta("fingerprint", "a").await.unwrap();
        s.set_meta("fingerprint", "b").await.unwrap();
        assert_eq!(s.meta("fingerprint").await.unwrap().as_deref(), Some("b"));
    }

    conformance!(
        refusals_accumulate_settle_and_are_audited,
        retry_clears_the_backoff_and_dismissal_holds_until_refused_again,
        meta_values_round_trip
    );
}
