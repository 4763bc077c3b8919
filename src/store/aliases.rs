//! Aliases: a record merged away in its system, and the record that survived.
//!
//! Owns `aliases`. Both ids are in the same system. [`Store::resolve`] follows chains
//! (a merged into b, later b into c, resolves a to c). Adding an alias that would make a
//! chain loop is refused. Must never alias across systems: that is a link, not an alias.

use super::audit::{NewAudit, append_in};
use super::{QueryContext, Store, StoreError, parse_system};
use crate::domain::RecordRef;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::AnyConnection;

/// Longest chain followed before the data is declared corrupt.
const MAX_HOPS: usize = 64;

async fn resolve_in(conn: &mut AnyConnection, r: &RecordRef) -> Result<RecordRef, StoreError> {
    let system = r.system();
    let mut cur = r.id_string();
    for _ in 0..MAX_HOPS {
        let next: Option<String> =
            sqlx::query_scalar("SELECT survivor_id FROM aliases WHERE system = $1 AND old_id = $2")
                .bind(system.as_str())
                .bind(&cur)
                .fetch_optional(&mut *conn)
                .await
                .ctx("resolve an alias")?;
        match next {
            Some(n) => cur = n,
            None => return Ok(RecordRef::parse(system, &cur)?),
        }
    }
    Err(StoreError::Corrupt {
        what: "alias chain",
        detail: format!("{r} does not resolve within {MAX_HOPS} hops"),
    })
}

/// Records an alias (with its audit entry) on `conn`, inside the caller's transaction.
/// Returns whether it was new.
pub(crate) async fn add_alias_in(
    conn: &mut AnyConnection,
    merged_away: &RecordRef,
    survivor: &RecordRef,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    if merged_away.system() != survivor.system() {
        return Err(StoreError::Conflict(format!(
            "an alias stays in one system: {merged_away} cannot alias {survivor}"
        )));
    }
    if merged_away == survivor {
        return Err(StoreError::Conflict(format!(
            "{merged_away} cannot be merged into itself"
        )));
    }
    let system = merged_away.system();
    let existing: Option<String> =
        sqlx::query_scalar("SELECT survivor_id FROM aliases WHERE system = $1 AND old_id = $2")
            .bind(system.as_str())
            .bind(merged_away.id_string())
            .fetch_optional(&mut *conn)
            .await
            .ctx("read an alias")?;
    match existing {
        Some(s) if s == survivor.id_string() => return Ok(false),
        Some(s) => {
            return Err(StoreError::Conflict(format!(
                "{merged_away} is already recorded as merged into {system}:{s}"
            )));
        }
        None => {}
    }
    if &resolve_in(&mut *conn, survivor).await? == merged_away {
        return Err(StoreError::Conflict(format!(
            "{survivor} already resolves to {merged_away}: the alias would loop"
        )));
    }
    sqlx::query(
        "INSERT INTO aliases (system, old_id, survivor_id, merged_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(system.as_str())
    .bind(merged_away.id_string())
    .bind(survivor.id_string())
    .bind(super::ts(at))
    .execute(&mut *conn)
    .await
    .ctx("add an alias")?;
    append_in(
        &mut *conn,
        &NewAudit {
            at,
            actor: actor.to_owned(),
            action: "alias.added".into(),
            subjects: vec![merged_away.clone(), survivor.clone()],
            detail: json!({
                "merged_away": merged_away.to_string(),
                "survivor": survivor.to_string(),
            }),
        },
    )
    .await?;
    Ok(true)
}

impl Store {
    /// Records that `merged_away` was merged into `survivor` (same system), audited as
    /// `alias.added`. Repeating the same alias is a no-op; re-aliasing to a different
    /// survivor, or making a loop, is refused. Returns whether the alias was new.
    pub async fn add_alias(
        &self,
        merged_away: &RecordRef,
        survivor: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let new = add_alias_in(&mut tx, merged_away, survivor, actor, at).await?;
        tx.commit().await.ctx("commit an alias")?;
        Ok(new)
    }

    /// The record `r` now lives as: itself, or the end of its alias chain.
    pub async fn resolve(&self, r: &RecordRef) -> Result<RecordRef, StoreError> {
        let mut conn = self.read().await?;
        resolve_in(&mut conn, r).await
    }

    /// Every alias as (merged away, survivor), for reports.
    pub async fn aliases(&self) -> Result<Vec<(RecordRef, RecordRef)>, StoreError> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT system, old_id, survivor_id FROM aliases ORDER BY system, merged_at, old_id",
        )
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list aliases")?;
        rows.into_iter()
            .map(|(s, old, new)| {
                let system = parse_system(&s)?;
                Ok((
                    RecordRef::parse(system, &old)?,
                    RecordRef::parse(system, &new)?,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn h(id: &str) -> RecordRef {
        RecordRef::Hubspot(hs(id))
    }

    async fn aliases_resolve_through_chains_and_refuse_loops(s: Store) {
        assert_eq!(s.resolve(&h("1")).await.unwrap(), h("1"));
        assert!(s.add_alias(&h("1"), &h("2"), "sync", t(1)).await.unwrap());
        assert!(!s.add_alias(&h("1"), &h("2"), "sync", t(1)).await.unwrap());
        s.add_alias(&h("2"), &h("3"), "sync", t(2)).await.unwrap();
        assert_eq!(s.resolve(&h("1")).await.unwrap(), h("3"));
        assert_eq!(s.resolve(&h("2")).await.unwrap(), h("3"));
        assert!(matches!(
            s.add_alias(&h("3"), &h("1"), "sync", t(3))
                .await
                .unwrap_err(),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            s.add_alias(&h("1"), &h("5"), "sync", t(3))
                .await
                .unwrap_err(),
            StoreError::Conflict(_)
        ));
        assert!(
            s.add_alias(&h("4"), &RecordRef::Gorgias(gg(4)), "sync", t(3))
                .await
                .is_err()
        );
        // Same id in the other system is a different record.
        assert_eq!(
            s.resolve(&RecordRef::Gorgias(gg(1))).await.unwrap(),
            RecordRef::Gorgias(gg(1))
        );
        assert_eq!(
            s.aliases().await.unwrap(),
            vec![(h("1"), h("2")), (h("2"), h("3"))]
        );
        assert_eq!(s.audit_for(&h("2")).await.unwrap().len(), 2);
    }

    conformance!(aliases_resolve_through_chains_and_refuse_loops);
}
