//! The audit log: every write and decision, append-only.
//!
//! Owns `audit_log` and `audit_subjects` (the records each entry is about). SQLite triggers
//! make both tables refuse UPDATE and DELETE, so history cannot be rewritten even by a bug
//! elsewhere in the store. The store appends entries itself, in the same transaction, for
//! the state changes it owns (links, outbox results, proposal decisions, aliases,
//! quarantine); callers append the rest (e.g. conflict resolutions) with
//! [`Store::append_audit`]. Must never update or delete an entry.

use super::{QueryContext, Store, StoreError, parse_json, parse_ref, parse_ts, ts, values_rows};
use crate::domain::RecordRef;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::AnyConnection;

/// An entry to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    pub at: DateTime<Utc>,
    /// Who acted: `sync`, `review:<name>`, `cli`, ...
    pub actor: String,
    /// What happened, dotted: `link.created`, `write.done`, `proposal.rejected`, ...
    pub action: String,
    /// The records the entry is about (listed by [`Store::audit_for`]), kept in order.
    pub subjects: Vec<RecordRef>,
    /// Free-form detail (field names, old and new values, reasons).
    pub detail: serde_json::Value,
}

/// An appended entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subjects: Vec<RecordRef>,
    pub detail: serde_json::Value,
}

/// Appends an entry on a connection that may be inside a caller's transaction.
pub(crate) async fn append_in(conn: &mut AnyConnection, e: &NewAudit) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(ts(e.at))
    .bind(&e.actor)
    .bind(&e.action)
    .bind(e.detail.to_string())
    .fetch_one(&mut *conn)
    .await
    .ctx("append to the audit log")?;
    if e.subjects.is_empty() {
        return Ok(id);
    }
    // Each with its place in the entry (`position`), which is the order they list in.
    let subjects: Vec<(i64, &'static str, String)> = e
        .subjects
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let position = i64::try_from(i).unwrap_or(i64::MAX);
            (position, r.system().as_str(), r.id_string())
        })
        .collect();
    for chunk in subjects.chunks(1000) {
        let sql = format!(
            "INSERT INTO audit_subjects (audit_id, system, record_id, position) VALUES {} \
             ON CONFLICT DO NOTHING",
            values_rows(chunk.len(), 4)
        );
        let mut q = sqlx::query(&sql);
        for (position, system, record_id) in chunk {
            q = q
                .bind(id)
                .bind(*system)
                .bind(record_id.as_str())
                .bind(*position);
        }
        q.execute(&mut *conn).await.ctx("append to the audit log")?;
    }
    Ok(id)
}

type Row = (i64, String, String, String, String);

impl Store {
    /// Appends an entry; returns its id.
    pub async fn append_audit(&self, entry: &NewAudit) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let id = append_in(&mut tx, entry).await?;
        tx.commit().await.ctx("commit an audit entry")?;
        Ok(id)
    }

    /// Every entry about a record, oldest first (for `tether explain`).
    pub async fn audit_for(&self, record: &RecordRef) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT l.id, l.at, l.actor, l.action, l.detail
             FROM audit_log l JOIN audit_subjects s ON s.audit_id = l.id
             WHERE s.system = $1 AND s.record_id = $2 ORDER BY l.id",
        )
        .bind(record.system().as_str())
        .bind(record.id_string())
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list the audit log of a record")?;
        self.entries_from(rows).await
    }

    /// The most recent `limit` entries, newest first.
    pub async fn recent_audit(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, at, actor, action, detail FROM audit_log ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list the audit log")?;
        self.entries_from(rows).await
    }

    async fn entries_from(&self, rows: Vec<Row>) -> Result<Vec<AuditEntry>, StoreError> {
        let mut out = Vec::with_capacity(rows.len());
        for (id, at, actor, action, detail) in rows {
            let subjects: Vec<(String, String)> = sqlx::query_as(
                "SELECT system, record_id FROM audit_subjects WHERE audit_id = $1 ORDER BY position",
            )
            .bind(id)
            .fetch_all(&mut *self.read().await?)
            .await
            .ctx("list the audit log")?;
            out.push(AuditEntry {
                id,
                at: parse_ts("audit time", &at)?,
                actor,
                action,
                subjects: subjects
                    .iter()
                    .map(|(s, r)| parse_ref(s, r))
                    .collect::<Result<_, _>>()?,
                detail: parse_json("audit detail", &detail)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use serde_json::json;

    async fn entries_round_trip_and_list_by_record(s: Store) {
        let h = RecordRef::Hubspot(hs("5"));
        let g = RecordRef::Gorgias(gg(9));
        let e1 = NewAudit {
            at: t(1),
            actor: "sync".into(),
            action: "write.done".into(),
            subjects: vec![h.clone(), g.clone()],
            detail: json!({ "field": "firstname", "new": NASTY }),
        };
        let e2 = NewAudit {
            at: t(2),
            actor: nasty(&s).into(),
            action: "note".into(),
            subjects: vec![g.clone()],
            detail: json!(null),
        };
        let id1 = s.append_audit(&e1).await.unwrap();
        let id2 = s.append_audit(&e2).await.unwrap();
        assert!(id2 > id1);
        let for_h = s.audit_for(&h).await.unwrap();
        assert_eq!(for_h.len(), 1);
        assert_eq!(for_h[0].detail, e1.detail);
        assert_eq!(for_h[0].subjects, vec![h.clone(), g.clone()]);
        let for_g = s.audit_for(&g).await.unwrap();
        assert_eq!(
            for_g.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![id1, id2]
        );
        assert_eq!(for_g[1].actor, nasty(&s));
        assert_eq!(for_g[1].at, t(2));
        let recent = s.recent_audit(1).await.unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].id, id2);
    }

    async fn audit_rows_cannot_be_updated_or_deleted(s: Store) {
        let id = s
            .append_audit(&NewAudit {
                at: t(1),
                actor: "sync".into(),
                action: "x".into(),
                subjects: vec![RecordRef::Gorgias(gg(1))],
                detail: json!({}),
            })
            .await
            .unwrap();
        for sql in [
            "UPDATE audit_log SET actor = 'evil' WHERE id = $1",
            "DELETE FROM audit_log WHERE id = $1",
            "UPDATE audit_subjects SET record_id = '2' WHERE audit_id = $1",
            "DELETE FROM audit_subjects WHERE audit_id = $1",
        ] {
            // Each in its own transaction: on PostgreSQL a failed statement ends it.
            let mut tx = s.write_tx().await.unwrap();
            let err = sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .unwrap_err();
            assert!(err.to_string().contains("append-only"), "{sql}: {err}");
        }
        let e = s.audit_for(&RecordRef::Gorgias(gg(1))).await.unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].actor, "sync");
    }

    conformance!(
        entries_round_trip_and_list_by_record,
        audit_rows_cannot_be_updated_or_deleted
    );
}
