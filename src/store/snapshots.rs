//! Record snapshots and duplicate scans: the fields of every record a cycle read (so that
//! `tether merges scan` compares every known record, not only those a cycle read) and the
//! log of scans (when each started, what it covered, whether it finished).
//!
//! Owns `record_snapshots` and `scans`. The snapshot is opaque JSON here (the merge code's
//! record); must never interpret it nor decide what a scan compares.

use super::{QueryContext, Store, StoreError, parse_json, parse_opt_ts, parse_ref, parse_ts, ts};
use crate::domain::RecordRef;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored snapshot of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub record: RecordRef,
    pub snapshot: serde_json::Value,
    pub seen_at: DateTime<Utc>,
}

/// One duplicate scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scan {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    /// Only pairs with a record seen at or after this time were proposed (all when `None`).
    pub since: Option<DateTime<Utc>>,
    /// `None` while running, or when it was interrupted.
    pub finished_at: Option<DateTime<Utc>>,
    pub records: i64,
    pub candidates: i64,
    pub proposed: i64,
}

type ScanRow = (i64, String, Option<String>, Option<String>, i64, i64, i64);

fn scan_from(r: ScanRow) -> Result<Scan, StoreError> {
    Ok(Scan {
        id: r.0,
        started_at: parse_ts("scan start", &r.1)?,
        since: parse_opt_ts("scan since", r.2)?,
        finished_at: parse_opt_ts("scan end", r.3)?,
        records: r.4,
        candidates: r.5,
        proposed: r.6,
    })
}

impl Store {
    /// Inserts or replaces the snapshots of a batch of records, in one transaction.
    pub async fn upsert_snapshots(
        &self,
        snapshots: &[(RecordRef, serde_json::Value)],
        seen_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for (record, snapshot) in snapshots {
            sqlx::query(
                "INSERT INTO record_snapshots (system, record_id, snapshot, seen_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (system, record_id) DO UPDATE SET
                   snapshot = excluded.snapshot, seen_at = excluded.seen_at",
            )
            .bind(record.system().as_str())
            .bind(record.id_string())
            .bind(snapshot.to_string())
            .bind(ts(seen_at))
            .execute(&mut *tx)
            .await
            .ctx("record a snapshot")?;
        }
        tx.commit().await.ctx("commit snapshots")?;
        Ok(())
    }

    /// Every stored snapshot, HubSpot first, then by id.
    pub async fn snapshots(&self) -> Result<Vec<Snapshot>, StoreError> {
        let rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT system, record_id, snapshot, seen_at FROM record_snapshots
             ORDER BY system DESC, record_id",
        )
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list snapshots")?;
        let mut out = rows
            .into_iter()
            .map(|(s, id, snap, seen)| {
                Ok(Snapshot {
                    record: parse_ref(&s, &id)?,
                    snapshot: parse_json("record snapshot", &snap)?,
                    seen_at: parse_ts("snapshot time", &seen)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        out.sort_by(|a, b| a.record.cmp(&b.record));
        Ok(out)
    }

    /// Forgets a record's snapshot (it was deleted or merged away).
    pub async fn forget_snapshot(&self, record: &RecordRef) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM record_snapshots WHERE system = $1 AND record_id = $2")
            .bind(record.system().as_str())
            .bind(record.id_string())
            .execute(&mut *tx)
            .await
            .ctx("forget a snapshot")?;
        tx.commit().await.ctx("commit forgetting a snapshot")?;
        Ok(())
    }

    /// Records the start of a scan and returns its id.
    pub async fn begin_scan(
        &self,
        started_at: DateTime<Utc>,
        since: Option<DateTime<Utc>>,
    ) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO scans (started_at, since) VALUES ($1, $2) RETURNING id",
        )
        .bind(ts(started_at))
        .bind(since.map(ts))
        .fetch_one(&mut *tx)
        .await
        .ctx("begin a scan")?;
        tx.commit().await.ctx("commit a scan start")?;
        Ok(id)
    }

    /// Records that scan `id` finished, and what it found.
    pub async fn finish_scan(
        &self,
        id: i64,
        finished_at: DateTime<Utc>,
        records: i64,
        candidates: i64,
        proposed: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE scans SET finished_at = $1, records = $2, candidates = $3, proposed = $4
             WHERE id = $5",
        )
        .bind(ts(finished_at))
        .bind(records)
        .bind(candidates)
        .bind(proposed)
        .bind(id)
        .execute(&mut *tx)
        .await
        .ctx("finish a scan")?;
        tx.commit().await.ctx("commit a scan end")?;
        Ok(())
    }

    /// The most recent scans, newest first.
    pub async fn scans(&self, limit: u32) -> Result<Vec<Scan>, StoreError> {
        let rows: Vec<ScanRow> = sqlx::query_as(
            "SELECT id, started_at, since, finished_at, records, candidates, proposed
             FROM scans ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list scans")?;
        rows.into_iter().map(scan_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::RecordRef;
    use crate::store::test_support::*;
    use serde_json::json;

    async fn snapshots_and_scans_round_trip(store: crate::store::Store) {
        let t = t(0);
        let (a, b) = (RecordRef::Hubspot(hs("101")), RecordRef::Gorgias(gg(7)));
        store
            .upsert_snapshots(
                &[(a.clone(), json!({"x": 1})), (b.clone(), json!({"y": 2}))],
                t,
            )
            .await
            .unwrap();
        store
            .upsert_snapshots(&[(a.clone(), json!({"x": 3}))], t)
            .await
            .unwrap();
        let all = store.snapshots().await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].record, a);
        assert_eq!(all[0].snapshot, json!({"x": 3}));
        store.forget_snapshot(&b).await.unwrap();
        assert_eq!(store.snapshots().await.unwrap().len(), 1);

        let id = store.begin_scan(t, None).await.unwrap();
        let open = store.scans(5).await.unwrap();
        assert_eq!(open[0].finished_at, None);
        store.finish_scan(id, t, 2, 1, 1).await.unwrap();
        let done = store.scans(5).await.unwrap();
        assert_eq!(done[0].finished_at, Some(t));
        assert_eq!((done[0].records, done[0].proposed), (2, 1));
    }

    conformance!(snapshots_and_scans_round_trip);
}
