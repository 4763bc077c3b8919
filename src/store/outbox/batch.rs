//! Completing the writes of one API batch (one HubSpot batch call of 100, say) in one
//! transaction: [`Store::complete_batch`], the cycle's per-batch path.
//!
//! Owns the ways through a batch. At once: the unsettled items its `Settle`s may clear are
//! read in one statement, then a batch of new links and plain completions goes
//! set-at-a-time (`bulk.rs`), any other ends write after write without a savepoint. One by one: a
//! savepoint per write, so that a refused write (its link would break an invariant, it is
//! no longer pending) is rolled back alone. The batch goes at once whenever nothing in it
//! is refused, and one by one (from the start, in a new transaction) as soon as something
//! is: the answers are the same either way. Must never let a write end half-done: any
//! failure other than a refusal rolls the whole batch back.

use super::{Completion, Done, Ending, OutboxStatus, done_in, end_in};
use crate::domain::{RecordRef, System};
use crate::store::{QueryContext, Store, StoreError, placeholders};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use std::collections::HashSet;

/// Ids per `IN (...)` list: far below the bound-variable limits of SQLite and PostgreSQL.
const CHUNK: usize = 500;

/// Whether a failure is a refusal of one write (answered in its place) rather than a
/// failure of the batch.
fn refused(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(_) | StoreError::NotFound { .. })
}

impl Store {
    /// Completes the writes of one API batch (e.g. one HubSpot batch call of 100) in ONE
    /// transaction, each with its follow-ups, audited as [`Store::mark_done_with`] would.
    /// Unlike [`Store::mark_done_batch`], a write whose completion is refused
    /// ([`StoreError::Conflict`], e.g. its link would break an invariant, or
    /// [`StoreError::NotFound`]) is rolled back alone (to its savepoint) and answered `Err`
    /// in its place, still pending; the others land. Any other failure (SQL, a lost writer
    /// guard, the commit) rolls the whole batch back: every write stays pending, none is
    /// half-done. The answers are in the order of `done`.
    ///
    /// A batch in which nothing is refused (the usual case) goes through without a savepoint
    /// and with its unsettled items read in one statement; at the first refusal that
    /// transaction is rolled back and the batch is done again write by write.
    pub async fn complete_batch(
        &self,
        done: &[Done],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Result<Completion, StoreError>>, StoreError> {
        match self.complete_at_once(done, actor, at).await? {
            Some(out) => Ok(out),
            None => self.complete_one_by_one(done, actor, at).await,
        }
    }

    /// The whole batch without savepoints, or `None` (nothing stored) at the first refusal.
    async fn complete_at_once(
        &self,
        done: &[Done],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<Result<Completion, StoreError>>>, StoreError> {
        let mut tx = self.write_tx().await?;
        let unsettled = unsettled_among(&mut tx, done).await?;
        if super::bulk::eligible(done, &unsettled) {
            let Some(out) = super::bulk::complete(&mut tx, done, actor, at).await? else {
                tx.rollback().await.ctx("roll back a batch")?;
                return Ok(None);
            };
            tx.commit().await.ctx("commit a batch of finished writes")?;
            return Ok(Some(out.into_iter().map(Ok).collect()));
        }
        let mut out = Vec::with_capacity(done.len());
        for d in done {
            let ending = Ending {
                to: OutboxStatus::Done,
                result: d.result.as_ref(),
                error: None,
                follow_ups: &d.follow_ups,
            };
            match end_in(&mut tx, d.id, &ending, Some(&unsettled), actor, at).await {
                Ok(c) => out.push(Ok(c)),
                Err(e) if refused(&e) => {
                    tx.rollback().await.ctx("roll back a batch")?;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        tx.commit().await.ctx("commit a batch of finished writes")?;
        Ok(Some(out))
    }

    /// The batch with a savepoint per write: a refused write is rolled back alone.
    async fn complete_one_by_one(
        &self,
        done: &[Done],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Result<Completion, StoreError>>, StoreError> {
        use sqlx::Connection;
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(done.len());
        for d in done {
            let mut one = (*tx).begin().await.ctx("begin a write's savepoint")?;
            match done_in(&mut one, d, actor, at).await {
                Ok(c) => {
                    one.commit().await.ctx("release a write's savepoint")?;
                    out.push(Ok(c));
                }
                Err(e) if refused(&e) => {
                    one.rollback()
                        .await
                        .ctx("roll a refused write back to its savepoint")?;
                    out.push(Err(e));
                }
                Err(e) => return Err(e),
            }
        }
        tx.commit().await.ctx("commit a batch of finished writes")?;
        Ok(out)
    }
}

/// The (record, target) pairs of the batch's `Settle`s that have an unsettled item now.
async fn unsettled_among(
    conn: &mut AnyConnection,
    done: &[Done],
) -> Result<HashSet<(RecordRef, System)>, StoreError> {
    let wanted: HashSet<(RecordRef, System)> = done
        .iter()
        .flat_map(|d| &d.follow_ups)
        .filter_map(|f| match f {
            super::FollowUp::Settle { record, target, .. } => Some((record.clone(), *target)),
            _ => None,
        })
        .collect();
    // Per system, by the unique (system, record_id, target) index; kept only when the
    // target matches too.
    let mut found = HashSet::new();
    for system in [System::Hubspot, System::Gorgias] {
        let ids: Vec<String> = wanted
            .iter()
            .filter(|(r, _)| r.system() == system)
            .map(|(r, _)| r.id_string())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT record_id, target FROM unsettled WHERE system = $1 AND record_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (String, String)>(&sql).bind(system.as_str());
            for id in chunk {
                q = q.bind(id.as_str());
            }
            let rows = q.fetch_all(&mut *conn).await.ctx("read unsettled")?;
            for (record_id, target) in rows {
                let record = crate::store::parse_ref(system.as_str(), &record_id)?;
                let target = crate::store::parse_system(&target)?;
                if wanted.contains(&(record.clone(), target)) {
                    found.insert((record, target));
                }
            }
        }
    }
    Ok(found)
}
