//! Cycles: one row per sync cycle (start, end, outcome, counts), so `tether status` can
//! show the last one.
//!
//! Owns `cycles`. Counts are free-form named numbers (`read.hubspot`, `created`, ...).
//! Must never be written by a dry run.

use super::{QueryContext, Store, StoreError, parse_json, parse_opt_ts, parse_ts, ts};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A cycle's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CycleId(pub i64);

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CycleOutcome {
    /// Everything planned was done.
    Ok,
    /// Some writes failed or records were quarantined; the rest was done.
    Partial,
    /// The cycle stopped on an error.
    Failed,
    /// A guardrail (too many creates or overwrites) stopped it before writing.
    Refused,
}

impl CycleOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CycleOutcome::Ok => "ok",
            CycleOutcome::Partial => "partial",
            CycleOutcome::Failed => "failed",
            CycleOutcome::Refused => "refused",
        }
    }

    fn parse(s: &str) -> Result<CycleOutcome, StoreError> {
        Ok(match s {
            "ok" => CycleOutcome::Ok,
            "partial" => CycleOutcome::Partial,
            "failed" => CycleOutcome::Failed,
            "refused" => CycleOutcome::Refused,
            other => {
                return Err(StoreError::Corrupt {
                    what: "cycle outcome",
                    detail: format!("unknown outcome {other:?}"),
                });
            }
        })
    }
}

/// A recorded cycle; `finished_at` and `outcome` are `None` while it runs (or if the
/// process died during it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cycle {
    pub id: CycleId,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<CycleOutcome>,
    pub counts: BTreeMap<String, u64>,
    pub error: Option<String>,
}

type Row = (
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

fn cycle_from((id, start, end, outcome, counts, error): Row) -> Result<Cycle, StoreError> {
    let counts = serde_json::from_value(parse_json("cycle counts", &counts)?).map_err(|e| {
        StoreError::Corrupt {
            what: "cycle counts",
            detail: e.to_string(),
        }
    })?;
    Ok(Cycle {
        id: CycleId(id),
        started_at: parse_ts("cycle start", &start)?,
        finished_at: parse_opt_ts("cycle end", end)?,
        outcome: outcome.as_deref().map(CycleOutcome::parse).transpose()?,
        counts,
        error,
    })
}

impl Store {
    /// Records the start of a cycle.
    pub async fn start_cycle(&self, at: DateTime<Utc>) -> Result<CycleId, StoreError> {
        let mut tx = self.write_tx().await?;
        let id: i64 =
            sqlx::query_scalar("INSERT INTO cycles (started_at) VALUES ($1) RETURNING id")
                .bind(ts(at))
                .fetch_one(&mut *tx)
                .await
                .ctx("start a cycle")?;
        tx.commit().await.ctx("commit a cycle start")?;
        Ok(CycleId(id))
    }

    /// Records how a cycle ended. Refused for an unknown or already finished cycle.
    pub async fn finish_cycle(
        &self,
        id: CycleId,
        outcome: CycleOutcome,
        counts: &BTreeMap<String, u64>,
        error: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let counts =
            serde_json::to_string(counts).map_err(|e| StoreError::Conflict(e.to_string()))?;
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "UPDATE cycles SET finished_at = $1, outcome = $2, counts = $3, error = $4
             WHERE id = $5 AND finished_at IS NULL",
        )
        .bind(ts(at))
        .bind(outcome.as_str())
        .bind(counts)
        .bind(error)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .ctx("finish a cycle")?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound {
                what: format!("running cycle {}", id.0),
            });
        }
        tx.commit().await.ctx("commit a cycle end")?;
        Ok(())
    }

    /// The most recently started cycle.
    pub async fn last_cycle(&self) -> Result<Option<Cycle>, StoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, started_at, finished_at, outcome, counts, error FROM cycles
             ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut *self.read().await?)
        .await
        .ctx("read the last cycle")?;
        row.map(cycle_from).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    async fn cycles_start_finish_and_report_the_last(s: Store) {
        assert_eq!(s.last_cycle().await.unwrap(), None);
        let a = s.start_cycle(t(1)).await.unwrap();
        let counts = BTreeMap::from([
            ("created".to_owned(), 3u64),
            ("read.hubspot".to_owned(), 120),
        ]);
        s.finish_cycle(a, CycleOutcome::Partial, &counts, Some(nasty(&s)), t(2))
            .await
            .unwrap();
        let last = s.last_cycle().await.unwrap().unwrap();
        assert_eq!(
            last,
            Cycle {
                id: a,
                started_at: t(1),
                finished_at: Some(t(2)),
                outcome: Some(CycleOutcome::Partial),
                counts,
                error: Some(nasty(&s).into()),
            }
        );
        assert!(matches!(
            s.finish_cycle(a, CycleOutcome::Ok, &BTreeMap::new(), None, t(3))
                .await
                .unwrap_err(),
            StoreError::NotFound { .. }
        ));
        let b = s.start_cycle(t(4)).await.unwrap();
        let running = s.last_cycle().await.unwrap().unwrap();
        assert_eq!(running.id, b);
        assert_eq!(running.outcome, None);
        assert!(running.counts.is_empty());
    }

    conformance!(cycles_start_finish_and_report_the_last);
}
