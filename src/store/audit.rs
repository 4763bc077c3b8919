//! The audit log: every write and decision, append-only.
//!
//! Owns `audit_log` and `audit_subjects` (the records each entry is about). SQLite triggers
//! make both tables refuse UPDATE and DELETE, so history cannot be rewritten even by a bug
//! elsewhere in the store. The store appends entries itself, in the same transaction, for
//! the state changes it owns (links, outbox results, proposal decisions, aliases,
//! quarantine); callers append the rest (e.g. conflict resolutions) with
//! [`Store::append_audit`]. Must never update or delete an entry.

use super::{
    QueryContext, Store, StoreError, parse_json, parse_ref, parse_ts, rows_per_statement, ts,
    values_rows,
};
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

/// Appends an entry on a connection that may be inside a caller's transaction: the entry
/// and its first subjects (all but a large merge's) in ONE round trip to the database.
///
/// This is the store's one place with per-engine SQL, because it runs once or twice for
/// every write a cycle completes and a round trip costs more than the statements in it
/// (`benches/store.rs`). Neither engine can insert into two tables in one portable
/// statement: PostgreSQL does it with data-modifying CTEs (which SQLite lacks), SQLite with
/// one text of several statements (which PostgreSQL's extended protocol refuses). Both
/// texts are checked by the conformance suite on their engine.
pub(crate) async fn append_in(conn: &mut AnyConnection, e: &NewAudit) -> Result<i64, StoreError> {
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
    let (first, rest) = subjects.split_at(subjects.len().min(rows_per_statement(3)));
    let sql = entry_sql(conn.backend_name(), first.len());
    let mut q = sqlx::query_scalar::<_, i64>(&sql)
        .bind(ts(e.at))
        .bind(&e.actor)
        .bind(&e.action)
        .bind(e.detail.to_string());
    for (position, system, record_id) in first {
        q = q.bind(*system).bind(record_id.as_str()).bind(*position);
    }
    // `fetch_all`, not `fetch_one`: on SQLite every statement of the text must run, and
    // the id comes from the last one.
    let ids = q
        .fetch_all(&mut *conn)
        .await
        .ctx("append to the audit log")?;
    let [id] = ids[..] else {
        return Err(StoreError::Corrupt {
            what: "audit entry id",
            detail: format!("appending an entry answered {} ids, not one", ids.len()),
        });
    };
    let rest: Vec<Subject> = rest
        .iter()
        .map(|(position, system, record_id)| (id, *position, *system, record_id.clone()))
        .collect();
    insert_subjects(conn, &rest).await?;
    Ok(id)
}

/// Appends several entries on `conn` (inside the caller's transaction) in a handful of
/// statements whatever their number: the entries (answering each id with its action and
/// detail) and then all their subjects, [`rows_per_statement`] a statement. Returns the ids in
/// the order of `entries`.
///
/// Ids are matched to entries by (action, detail), never by the order the database
/// answers in, which neither engine promises. Entries that are not told apart that way
/// (two with the same action and detail) are appended one by one instead.
pub(crate) async fn append_many_in(
    conn: &mut AnyConnection,
    entries: &[NewAudit],
) -> Result<Vec<i64>, StoreError> {
    let details: Vec<String> = entries.iter().map(|e| e.detail.to_string()).collect();
    let keys: std::collections::HashSet<(&str, &str)> = entries
        .iter()
        .zip(&details)
        .map(|(e, d)| (e.action.as_str(), d.as_str()))
        .collect();
    if entries.len() < 2 || keys.len() < entries.len() {
        let mut ids = Vec::with_capacity(entries.len());
        for e in entries {
            ids.push(append_in(&mut *conn, e).await?);
        }
        return Ok(ids);
    }
    let mut ids = Vec::with_capacity(entries.len());
    let indexed: Vec<(&NewAudit, &String)> = entries.iter().zip(&details).collect();
    for chunk in indexed.chunks(rows_per_statement(4)) {
        let sql = format!(
            "INSERT INTO audit_log (at, actor, action, detail) VALUES {} \
             RETURNING id, action, detail",
            values_rows(chunk.len(), 4)
        );
        let mut q = sqlx::query_as::<_, (i64, String, String)>(&sql);
        for (e, detail) in chunk {
            q = q
                .bind(ts(e.at))
                .bind(&e.actor)
                .bind(&e.action)
                .bind(detail.as_str());
        }
        let rows = q
            .fetch_all(&mut *conn)
            .await
            .ctx("append to the audit log")?;
        let by_key: std::collections::HashMap<(String, String), i64> = rows
            .into_iter()
            .map(|(id, action, detail)| ((action, detail), id))
            .collect();
        for (e, detail) in chunk {
            let id = by_key
                .get(&(e.action.clone(), (*detail).clone()))
                .ok_or_else(|| StoreError::Corrupt {
                    what: "audit entry id",
                    detail: format!(
                        "appending {} entries did not answer one of them",
                        chunk.len()
                    ),
                })?;
            ids.push(*id);
        }
    }
    let subjects: Vec<Subject> = entries
        .iter()
        .zip(&ids)
        .flat_map(|(e, id)| {
            e.subjects.iter().enumerate().map(move |(i, r)| {
                let position = i64::try_from(i).unwrap_or(i64::MAX);
                (*id, position, r.system().as_str(), r.id_string())
            })
        })
        .collect();
    insert_subjects(conn, &subjects).await?;
    Ok(ids)
}

/// A subject row: the entry's id, the subject's place in it, its system and record id.
type Subject = (i64, i64, &'static str, String);

/// Inserts subject rows, [`rows_per_statement`] a statement; a subject named twice in one
/// entry is kept once, at its first place.
async fn insert_subjects(conn: &mut AnyConnection, rows: &[Subject]) -> Result<(), StoreError> {
    for chunk in rows.chunks(rows_per_statement(4)) {
        let sql = format!(
            "INSERT INTO audit_subjects (audit_id, system, record_id, position) VALUES {} \
             ON CONFLICT DO NOTHING",
            values_rows(chunk.len(), 4)
        );
        let mut q = sqlx::query(&sql);
        for (id, position, system, record_id) in chunk {
            q = q
                .bind(*id)
                .bind(*system)
                .bind(record_id.as_str())
                .bind(*position);
        }
        q.execute(&mut *conn).await.ctx("append to the audit log")?;
    }
    Ok(())
}

/// The text that appends one entry (binds `$1..$4`: at, actor, action, detail) with
/// `subjects` subjects (binds from `$5`, three each: system, record id, position) and
/// answers the entry's id, for the engine named by `backend` (sqlx's `backend_name`).
fn entry_sql(backend: &str, subjects: usize) -> String {
    const ENTRY: &str = "INSERT INTO audit_log (at, actor, action, detail) VALUES ($1, $2, $3, $4)";
    if subjects == 0 {
        return format!("{ENTRY} RETURNING id");
    }
    let rows = (0..subjects)
        .map(|i| format!("({})", super::placeholders(5 + 3 * i, 3)))
        .collect::<Vec<_>>()
        .join(", ");
    if backend == "PostgreSQL" {
        format!(
            "WITH entry AS ({ENTRY} RETURNING id), \
             subjects AS (INSERT INTO audit_subjects (audit_id, system, record_id, position) \
               SELECT entry.id, v.system, v.record_id, v.position \
               FROM entry, (VALUES {rows}) AS v (system, record_id, position) \
               ON CONFLICT DO NOTHING) \
             SELECT id FROM entry"
        )
    } else {
        // Inside the write transaction (SQLite has one writer) the entry just inserted
        // holds the highest id: `INTEGER PRIMARY KEY` gives a new row max(id) + 1.
        // `WHERE true` keeps `ON CONFLICT` from reading as a join constraint.
        format!(
            "{ENTRY}; \
             INSERT INTO audit_subjects (audit_id, system, record_id, position) \
               SELECT (SELECT max(id) FROM audit_log), column1, column2, column3 \
               FROM (VALUES {rows}) WHERE true \
               ON CONFLICT DO NOTHING; \
             SELECT max(id) FROM audit_log"
        )
    }
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

    /// Entries appended one after another in one transaction each get their own subjects,
    /// in order, including one with more subjects than one statement writes (and a
    /// subject named twice, kept once at its first place).
    async fn each_entry_keeps_its_own_subjects_in_order(s: Store) {
        let many: Vec<RecordRef> = (1..=450)
            .map(|i| RecordRef::Gorgias(gg(i)))
            .chain(std::iter::once(RecordRef::Gorgias(gg(3))))
            .chain(std::iter::once(RecordRef::Hubspot(hs("7"))))
            .collect();
        let entry = |action: &str, subjects: Vec<RecordRef>| NewAudit {
            at: t(1),
            actor: "sync".into(),
            action: action.into(),
            subjects,
            detail: json!({ "n": action }),
        };
        let mut tx = s.write_tx().await.unwrap();
        let a = append_in(&mut tx, &entry("a", vec![RecordRef::Hubspot(hs("1"))]))
            .await
            .unwrap();
        let b = append_in(&mut tx, &entry("b", many.clone())).await.unwrap();
        let c = append_in(&mut tx, &entry("c", Vec::new())).await.unwrap();
        let d = append_in(&mut tx, &entry("d", vec![RecordRef::Gorgias(gg(2))]))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(a < b && b < c && c < d, "{a} {b} {c} {d}");
        let recent = s.recent_audit(4).await.unwrap();
        let by_action = |x: &str| recent.iter().find(|e| e.action == x).unwrap();
        assert_eq!(by_action("a").id, a);
        assert_eq!(by_action("a").subjects, vec![RecordRef::Hubspot(hs("1"))]);
        let mut want = many.clone();
        want.remove(450); // the repeated Gorgias 3
        assert_eq!(by_action("b").id, b);
        assert_eq!(by_action("b").subjects, want);
        assert_eq!(by_action("c").id, c);
        assert!(by_action("c").subjects.is_empty());
        assert_eq!(by_action("d").id, d);
        assert_eq!(by_action("d").subjects, vec![RecordRef::Gorgias(gg(2))]);
        let for_g2 = s.audit_for(&RecordRef::Gorgias(gg(2))).await.unwrap();
        assert_eq!(for_g2.iter().map(|e| e.id).collect::<Vec<_>>(), vec![b, d]);
    }

    conformance!(
        entries_round_trip_and_list_by_record,
        audit_rows_cannot_be_updated_or_deleted,
        each_entry_keeps_its_own_subjects_in_order
    );
}
