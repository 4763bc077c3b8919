//! Records seen: the last version of each record a cycle read, as (updated time, content
//! hash, primary e-mail, normalised matching keys). The cycle uses it to skip unchanged
//! records; the matcher uses the keys to find candidates.
//!
//! Owns `records_seen` and `record_keys`. Must never store a record's full content: only
//! what is needed to notice change and to find candidates.

use super::{QueryContext, Store, StoreError, parse_ref, parse_ts, ts, values_rows};
use crate::domain::{Email, RecordRef, System};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// What the store remembers of one record it has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSeen {
    pub record: RecordRef,
    /// The record's primary e-mail, normalised.
    pub email: Option<Email>,
    /// Normalised matching keys, e.g. `email:jane@example.com`, `phone:+15551234567`.
    /// Stored as a set: order and repeats are not kept (read back sorted).
    pub keys: Vec<String>,
    /// The record's own last-modified time, as its system reports it.
    pub updated_at: DateTime<Utc>,
    /// A hash of the mapped content, to notice change without comparing fields.
    pub content_hash: String,
    /// When tether read it.
    pub seen_at: DateTime<Utc>,
}

type Row = (String, String, Option<String>, String, String, String);

/// Record references in domain order (HubSpot first, then by id).
fn sorted_refs(rows: &[(String, String)]) -> Result<Vec<RecordRef>, StoreError> {
    let mut refs = rows
        .iter()
        .map(|(s, id)| parse_ref(s, id))
        .collect::<Result<Vec<_>, _>>()?;
    refs.sort();
    Ok(refs)
}

fn seen_from(row: Row, keys: Vec<String>) -> Result<RecordSeen, StoreError> {
    let (system, id, email, updated_at, content_hash, seen_at) = row;
    Ok(RecordSeen {
        record: parse_ref(&system, &id)?,
        email: email
            .map(|e| Email::parse(&e))
            .transpose()
            // The message would repeat the address: keep personal data out of errors.
            .map_err(|_| StoreError::Corrupt {
                what: "seen e-mail",
                detail: "not a valid e-mail address".into(),
            })?,
        keys,
        updated_at: parse_ts("record updated time", &updated_at)?,
        content_hash,
        seen_at: parse_ts("record seen time", &seen_at)?,
    })
}

async fn upsert_seen_in(conn: &mut AnyConnection, r: &RecordSeen) -> Result<(), StoreError> {
    let system = r.record.system().as_str();
    let id = r.record.id_string();
    sqlx::query(
        "INSERT INTO records_seen (system, record_id, email, updated_at, content_hash, seen_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (system, record_id) DO UPDATE SET
               email = excluded.email, updated_at = excluded.updated_at,
               content_hash = excluded.content_hash, seen_at = excluded.seen_at",
    )
    .bind(system)
    .bind(&id)
    .bind(r.email.as_ref().map(Email::as_str))
    .bind(ts(r.updated_at))
    .bind(&r.content_hash)
    .bind(ts(r.seen_at))
    .execute(&mut *conn)
    .await
    .ctx("record a seen record")?;
    sqlx::query("DELETE FROM record_keys WHERE system = $1 AND record_id = $2")
        .bind(system)
        .bind(&id)
        .execute(&mut *conn)
        .await
        .ctx("replace a record's keys")?;
    for chunk in r.keys.chunks(1000) {
        let sql = format!(
            "INSERT INTO record_keys (system, record_id, key) VALUES {} ON CONFLICT DO NOTHING",
            values_rows(chunk.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for key in chunk {
            q = q.bind(system).bind(id.as_str()).bind(key.as_str());
        }
        q.execute(&mut *conn).await.ctx("replace a record's keys")?;
    }
    Ok(())
}

impl Store {
    /// Inserts or replaces what is known of a record, keys included, in one transaction.
    pub async fn upsert_record_seen(&self, r: &RecordSeen) -> Result<(), StoreError> {
        self.upsert_records_seen(std::slice::from_ref(r)).await
    }

    /// Inserts or replaces a batch of seen records in one transaction (much faster than one
    /// by one for a page of a change feed).
    pub async fn upsert_records_seen(&self, records: &[RecordSeen]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for r in records {
            upsert_seen_in(&mut tx, r).await?;
        }
        tx.commit().await.ctx("commit seen records")?;
        Ok(())
    }

    /// What is known of a record, if it was seen.
    pub async fn record_seen(&self, record: &RecordRef) -> Result<Option<RecordSeen>, StoreError> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT system, record_id, email, updated_at, content_hash, seen_at
             FROM records_seen WHERE system = $1 AND record_id = $2",
        )
        .bind(record.system().as_str())
        .bind(record.id_string())
        .fetch_optional(&mut *self.read().await?)
        .await
        .ctx("read a seen record")?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(self.record_from_row(row).await?)),
        }
    }

    /// The seen records that share a normalised key (e.g. the same e-mail), in both systems,
    /// HubSpot first.
    pub async fn records_with_key(&self, key: &str) -> Result<Vec<RecordRef>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT system, record_id FROM record_keys WHERE key = $1")
                .bind(key)
                .fetch_all(&mut *self.read().await?)
                .await
                .ctx("find records by key")?;
        sorted_refs(&rows)
    }

    /// The seen records whose primary e-mail is `email`, in both systems, HubSpot first.
    pub async fn records_with_email(&self, email: &Email) -> Result<Vec<RecordRef>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT system, record_id FROM records_seen WHERE email = $1")
                .bind(email.as_str())
                .fetch_all(&mut *self.read().await?)
                .await
                .ctx("find records by e-mail")?;
        sorted_refs(&rows)
    }

    /// Every seen record of `system`, by id, keys included.
    pub async fn seen_records(&self, system: System) -> Result<Vec<RecordSeen>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT system, record_id, email, updated_at, content_hash, seen_at
             FROM records_seen WHERE system = $1 ORDER BY record_id",
        )
        .bind(system.as_str())
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list seen records")?;
        let keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT record_id, key FROM record_keys WHERE system = $1 ORDER BY record_id, key",
        )
        .bind(system.as_str())
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list seen records' keys")?;
        let mut by_id: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for (id, key) in keys {
            by_id.entry(id).or_default().push(key);
        }
        let mut out = rows
            .into_iter()
            .map(|row| {
                let keys = by_id.remove(&row.1).unwrap_or_default();
                seen_from(row, keys)
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.record.cmp(&b.record));
        Ok(out)
    }

    /// Forgets a seen record and its keys (e.g. it was deleted in its system). Returns
    /// whether it was known.
    pub async fn forget_record_seen(&self, record: &RecordRef) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM records_seen WHERE system = $1 AND record_id = $2")
            .bind(record.system().as_str())
            .bind(record.id_string())
            .execute(&mut *tx)
            .await
            .ctx("forget a seen record")?
            .rows_affected();
        tx.commit().await.ctx("commit a forgotten record")?;
        Ok(n > 0)
    }

    async fn record_from_row(&self, row: Row) -> Result<RecordSeen, StoreError> {
        let (system, id, email, updated_at, content_hash, seen_at) = row;
        let keys: Vec<String> = sqlx::query_scalar(
            "SELECT key FROM record_keys WHERE system = $1 AND record_id = $2 ORDER BY key",
        )
        .bind(&system)
        .bind(&id)
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("read a record's keys")?;
        seen_from((system, id, email, updated_at, content_hash, seen_at), keys)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    async fn seen_records_round_trip_and_are_replaced(s: Store) {
        let r = RecordRef::Hubspot(hs("101"));
        assert_eq!(s.record_seen(&r).await.unwrap(), None);
        let mut seen = RecordSeen {
            record: r.clone(),
            email: Some(Email::parse("Jane@Example.com").unwrap()),
            keys: vec![
                "email:jane@example.com".into(),
                format!("name:{}", nasty(&s)),
            ],
            updated_at: t(10),
            content_hash: nasty(&s).into(),
            seen_at: t(20),
        };
        s.upsert_record_seen(&seen).await.unwrap();
        let mut back = s.record_seen(&r).await.unwrap().unwrap();
        seen.keys.sort();
        assert_eq!(back, seen);
        assert_eq!(
            s.records_with_key(&format!("name:{}", nasty(&s)))
                .await
                .unwrap(),
            vec![r.clone()]
        );

        let g = RecordRef::Gorgias(gg(7));
        let g8 = RecordRef::Gorgias(gg(8));
        s.upsert_records_seen(&[
            RecordSeen {
                record: g.clone(),
                keys: vec!["email:jane@example.com".into()],
                ..seen.clone()
            },
            RecordSeen {
                record: g8.clone(),
                email: None,
                keys: vec![],
                ..seen.clone()
            },
        ])
        .await
        .unwrap();
        assert_eq!(
            s.record_seen(&g8).await.unwrap().unwrap().keys,
            Vec::<String>::new()
        );
        assert_eq!(
            s.records_with_key("email:jane@example.com").await.unwrap(),
            vec![r.clone(), g.clone()]
        );
        assert_eq!(
            s.records_with_email(&Email::parse("jane@example.com").unwrap())
                .await
                .unwrap(),
            vec![r.clone(), g]
        );

        back.keys = vec!["phone:+15551234567".into()];
        back.content_hash = "h2".into();
        back.email = None;
        s.upsert_record_seen(&back).await.unwrap();
        assert_eq!(s.record_seen(&r).await.unwrap().unwrap(), back);
        let all = s.seen_records(System::Hubspot).await.unwrap();
        assert_eq!(all, vec![back.clone()]);
        assert_eq!(s.seen_records(System::Gorgias).await.unwrap().len(), 2);
        assert!(s.forget_record_seen(&r).await.unwrap());
        assert!(!s.forget_record_seen(&r).await.unwrap());
        assert_eq!(s.record_seen(&r).await.unwrap(), None);
        assert!(
            s.records_with_key("phone:+15551234567")
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.records_with_key(&format!("name:{}", nasty(&s)))
                .await
                .unwrap()
                .is_empty()
        );
    }

    conformance!(seen_records_round_trip_and_are_replaced);
}
