//! Bases: the last value of each mapped field that both sides of a link agreed on, the
//! common ancestor of the three-way diff.
//!
//! Owns `bases`. Values are JSON (a string, a number, a list, `null` for "empty"). Bases
//! belong to a link and go when it goes (ON DELETE CASCADE). Must never be written for a
//! field whose write has not succeeded on both sides: that is the caller's rule, noted here
//! because a wrong base silently turns a conflict into an overwrite.

use super::links::LinkId;
use super::{QueryContext, Store, StoreError, parse_json, rows_per_statement, ts, values_rows};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// Sets `values` as the bases of `link` on `conn` (inside the caller's transaction).
pub(crate) async fn set_bases_in(
    conn: &mut AnyConnection,
    link: LinkId,
    values: &BTreeMap<String, serde_json::Value>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    set_many_bases_in(conn, &[(link, values)], at).await
}

/// Sets the bases of several links at once (a batch of new links): one multi-row statement
/// per [`rows_per_statement`] rows (placeholders only; every value is bound).
pub(crate) async fn set_many_bases_in(
    conn: &mut AnyConnection,
    links: &[(LinkId, &BTreeMap<String, serde_json::Value>)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let rows: Vec<(LinkId, &String, String)> = links
        .iter()
        .flat_map(|(link, values)| values.iter().map(|(f, v)| (*link, f, v.to_string())))
        .collect();
    let at = ts(at);
    for chunk in rows.chunks(rows_per_statement(4)) {
        let sql = format!(
            "INSERT INTO bases (link_id, field, value, updated_at) VALUES {}
             ON CONFLICT (link_id, field) DO UPDATE SET
               value = excluded.value, updated_at = excluded.updated_at",
            values_rows(chunk.len(), 4)
        );
        let mut q = sqlx::query(&sql);
        for (link, field, value) in chunk {
            q = q
                .bind(link.0)
                .bind(field.as_str())
                .bind(value.as_str())
                .bind(at.as_str());
        }
        q.execute(&mut *conn).await.ctx("set base values")?;
    }
    Ok(())
}

impl Store {
    /// The bases of a link, by field name (empty when none or no such link).
    pub async fn bases(
        &self,
        link: LinkId,
    ) -> Result<BTreeMap<String, serde_json::Value>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT field, value FROM bases WHERE link_id = $1 ORDER BY field")
                .bind(link.0)
                .fetch_all(&mut *self.read().await?)
                .await
                .ctx("read bases")?;
        rows.into_iter()
            .map(|(f, v)| Ok((f, parse_json("base value", &v)?)))
            .collect()
    }

    /// Sets (inserts or replaces) the given fields' bases in one transaction; fields not
    /// named keep theirs. Refused with [`StoreError::NotFound`] for an unknown link.
    pub async fn set_bases(
        &self,
        link: LinkId,
        values: &BTreeMap<String, serde_json::Value>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM links WHERE id = $1")
            .bind(link.0)
            .fetch_optional(&mut *tx)
            .await
            .ctx("read a link")?;
        if exists.is_none() {
            return Err(StoreError::NotFound {
                what: link.to_string(),
            });
        }
        set_bases_in(&mut tx, link, values, at).await?;
        tx.commit().await.ctx("commit bases")?;
        Ok(())
    }

    /// Forgets the bases of the named fields (e.g. a field dropped from the mapping).
    pub async fn clear_bases(&self, link: LinkId, fields: &[&str]) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut n = 0;
        for f in fields {
            n += sqlx::query("DELETE FROM bases WHERE link_id = $1 AND field = $2")
                .bind(link.0)
                .bind(f)
                .execute(&mut *tx)
                .await
                .ctx("clear a base value")?
                .rows_affected();
        }
        tx.commit().await.ctx("commit cleared bases")?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;
    use serde_json::json;

    async fn bases_merge_by_field_and_round_trip_any_json(s: Store) {
        let l = s
            .create_link(&hs("1"), gg(1), &BTreeMap::new(), "sync", t(0))
            .await
            .unwrap();
        assert!(s.bases(l.id).await.unwrap().is_empty());
        let first = BTreeMap::from([
            ("a".to_owned(), json!(NASTY)),
            ("b".to_owned(), json!(null)),
            ("c".to_owned(), json!({"n": 1.5, "list": [1, "x"]})),
        ]);
        s.set_bases(l.id, &first, t(1)).await.unwrap();
        assert_eq!(s.bases(l.id).await.unwrap(), first);
        s.set_bases(
            l.id,
            &BTreeMap::from([("b".to_owned(), json!("now"))]),
            t(2),
        )
        .await
        .unwrap();
        let mut expected = first.clone();
        expected.insert("b".into(), json!("now"));
        assert_eq!(s.bases(l.id).await.unwrap(), expected);
        assert_eq!(s.clear_bases(l.id, &["a", "zz"]).await.unwrap(), 1);
        expected.remove("a");
        assert_eq!(s.bases(l.id).await.unwrap(), expected);
        assert!(matches!(
            s.set_bases(LinkId(77), &first, t(3)).await.unwrap_err(),
            StoreError::NotFound { .. }
        ));
        // Bases go with their link.
        assert!(s.remove_link(l.id, "test", "sync", t(4)).await.unwrap());
        assert!(s.bases(l.id).await.unwrap().is_empty());
    }

    conformance!(bases_merge_by_field_and_round_trip_any_json);
}
