//! Quarantine: records the sync leaves alone until a person clears them (invalid data,
//! repeated failures, an unresolvable conflict).
//!
//! Owns `quarantine`. Putting a record in and clearing it are audited. Must never decide
//! what deserves quarantine: the cycle does.

use super::audit::{NewAudit, append_in};
use super::{QueryContext, Store, StoreError, parse_json, parse_ref, parse_ts, ts};
use crate::domain::RecordRef;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

/// A quarantined record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineEntry {
    pub record: RecordRef,
    pub reason: String,
    pub detail: serde_json::Value,
    pub since: DateTime<Utc>,
}

type Row = (String, String, String, String, String);

fn entry_from((s, id, reason, detail, since): Row) -> Result<QuarantineEntry, StoreError> {
    Ok(QuarantineEntry {
        record: parse_ref(&s, &id)?,
        reason,
        detail: parse_json("quarantine detail", &detail)?,
        since: parse_ts("quarantine time", &since)?,
    })
}

impl Store {
    /// Quarantines a record (or updates the reason of one already in), audited as
    /// `quarantine.added`. `since` keeps the first time it went in.
    pub async fn quarantine(
        &self,
        record: &RecordRef,
        reason: &str,
        detail: &serde_json::Value,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO quarantine (system, record_id, reason, detail, since) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (system, record_id) DO UPDATE SET
               reason = excluded.reason, detail = excluded.detail",
        )
        .bind(record.system().as_str())
        .bind(record.id_string())
        .bind(reason)
        .bind(detail.to_string())
        .bind(ts(at))
        .execute(&mut *tx)
        .await
        .ctx("quarantine a record")?;
        append_in(
            &mut tx,
            &NewAudit {
                at,
                actor: actor.to_owned(),
                action: "quarantine.added".into(),
                subjects: vec![record.clone()],
                detail: json!({ "reason": reason, "detail": detail }),
            },
        )
        .await?;
        tx.commit().await.ctx("commit a quarantine")?;
        Ok(())
    }

    /// The quarantine entry of a record, if it is in quarantine.
    pub async fn quarantined(
        &self,
        record: &RecordRef,
    ) -> Result<Option<QuarantineEntry>, StoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT system, record_id, reason, detail, since FROM quarantine
             WHERE system = $1 AND record_id = $2",
        )
        .bind(record.system().as_str())
        .bind(record.id_string())
        .fetch_optional(&mut *self.read().await?)
        .await
        .ctx("read quarantine")?;
        row.map(entry_from).transpose()
    }

    /// Every quarantined record, oldest first.
    pub async fn quarantine_list(&self) -> Result<Vec<QuarantineEntry>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT system, record_id, reason, detail, since FROM quarantine
             ORDER BY since, system, record_id",
        )
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list quarantine")?;
        rows.into_iter().map(entry_from).collect()
    }

    /// Takes a record out of quarantine, audited as `quarantine.cleared`. Returns whether
    /// it was in.
    pub async fn clear_quarantine(
        &self,
        record: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM quarantine WHERE system = $1 AND record_id = $2")
            .bind(record.system().as_str())
            .bind(record.id_string())
            .execute(&mut *tx)
            .await
            .ctx("clear quarantine")?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        append_in(
            &mut tx,
            &NewAudit {
                at,
                actor: actor.to_owned(),
                action: "quarantine.cleared".into(),
                subjects: vec![record.clone()],
                detail: json!({}),
            },
        )
        .await?;
        tx.commit().await.ctx("commit a quarantine release")?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    async fn quarantine_add_list_clear(s: Store) {
        let g = RecordRef::Gorgias(gg(3));
        let h = RecordRef::Hubspot(hs("4"));
        assert_eq!(s.quarantined(&g).await.unwrap(), None);
        s.quarantine(&g, nasty(&s), &json!({ "email": NASTY }), "sync", t(1))
            .await
            .unwrap();
        s.quarantine(&h, "bad phone", &json!(null), "sync", t(2))
            .await
            .unwrap();
        s.quarantine(&g, "again", &json!({}), "sync", t(3))
            .await
            .unwrap();
        let e = s.quarantined(&g).await.unwrap().unwrap();
        assert_eq!(e.reason, "again");
        assert_eq!(e.since, t(1));
        let list = s.quarantine_list().await.unwrap();
        assert_eq!(
            list.iter().map(|e| e.record.clone()).collect::<Vec<_>>(),
            vec![g.clone(), h.clone()]
        );
        assert_eq!(list[1].detail, json!(null));
        assert!(s.clear_quarantine(&g, "cli", t(4)).await.unwrap());
        assert!(!s.clear_quarantine(&g, "cli", t(5)).await.unwrap());
        assert_eq!(s.quarantine_list().await.unwrap().len(), 1);
        let audit = s.audit_for(&g).await.unwrap();
        assert_eq!(
            audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
            vec!["quarantine.added", "quarantine.added", "quarantine.cleared"]
        );
        assert_eq!(audit[0].detail["reason"], json!(nasty(&s)));
    }

    conformance!(quarantine_add_list_clear);
}
