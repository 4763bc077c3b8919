//! Held conflicts: fields whose policy is `manual` and whose two sides both changed, kept
//! for a person with both values and the base, and the resolution that person chose.
//!
//! Owns `held_conflicts`. Each cycle reports what it held ([`Store::hold_conflicts`]) and
//! which pairs it planned cleanly ([`Store::close_conflicts`]); `tether conflicts resolve`
//! and the review page store a choice ([`Store::resolve_conflict`], audited as
//! `conflict.resolved`), which the next cycle hands to the engine. Must never decide what a
//! conflict is or who wins: the engine does, and a person does.

use super::audit::{NewAudit, append_in};
use super::{QueryContext, Store, StoreError, parse_opt_ts, parse_system, parse_ts, ts};
use crate::domain::{GorgiasId, HubspotId, RecordRef, System};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::collections::HashSet;

/// A held conflict's id (`tether conflicts show ID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ConflictId(pub i64);

impl std::fmt::Display for ConflictId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a person chose for a held conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictChoice {
    /// Copy this side's value to the other side.
    Take(System),
    /// Write this value (canonical text, `""` = empty) to both sides.
    Value(String),
}

impl std::fmt::Display for ConflictChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConflictChoice::Take(s) => write!(f, "take the {} value", s.as_str()),
            ConflictChoice::Value(v) => write!(f, "set both sides to {v:?}"),
        }
    }
}

/// Where a held conflict stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    /// Waiting for a person.
    Open,
    /// A person chose; the next cycle applies the choice.
    Resolved,
    /// Applied, or the two sides agree again.
    Closed,
}

/// A held conflict as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldConflict {
    pub id: ConflictId,
    pub link_id: Option<i64>,
    pub hubspot_id: HubspotId,
    pub gorgias_id: GorgiasId,
    pub field: String,
    pub hubspot_value: Option<String>,
    pub gorgias_value: Option<String>,
    pub base: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub status: ConflictStatus,
    pub resolution: Option<ConflictChoice>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// `applied` (a resolution was written) or `agreed` (the sides agree again).
    pub closed_how: Option<String>,
}

/// A conflict a cycle held (from the plan).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenConflict {
    pub hubspot_id: HubspotId,
    pub gorgias_id: GorgiasId,
    pub field: String,
    pub hubspot_value: Option<String>,
    pub gorgias_value: Option<String>,
    pub base: Option<String>,
}

/// One row of `held_conflicts`, as read.
#[derive(sqlx::FromRow)]
struct DbRow {
    id: i64,
    link_id: Option<i64>,
    hubspot_id: String,
    gorgias_id: i64,
    field: String,
    hubspot_value: Option<String>,
    gorgias_value: Option<String>,
    base: Option<String>,
    first_seen: String,
    last_seen: String,
    status: String,
    take: Option<String>,
    value: Option<String>,
    resolved_by: Option<String>,
    resolved_at: Option<String>,
    closed_at: Option<String>,
    closed_how: Option<String>,
}

const SELECT: &str = "SELECT id, link_id, hubspot_id, gorgias_id, field, hubspot_value,
    gorgias_value, base, first_seen, last_seen, status, take, value, resolved_by, resolved_at,
    closed_at, closed_how FROM held_conflicts";

fn conflict_from(r: DbRow) -> Result<HeldConflict, StoreError> {
    let resolution = match (r.take, r.value) {
        (Some(t), _) => Some(ConflictChoice::Take(parse_system(&t)?)),
        (None, Some(v)) => Some(ConflictChoice::Value(v)),
        (None, None) => None,
    };
    Ok(HeldConflict {
        id: ConflictId(r.id),
        link_id: r.link_id,
        hubspot_id: HubspotId::new(r.hubspot_id)?,
        gorgias_id: GorgiasId::new(r.gorgias_id)?,
        field: r.field,
        hubspot_value: r.hubspot_value,
        gorgias_value: r.gorgias_value,
        base: r.base,
        first_seen: parse_ts("conflict time", &r.first_seen)?,
        last_seen: parse_ts("conflict time", &r.last_seen)?,
        status: match r.status.as_str() {
            "open" => ConflictStatus::Open,
            "resolved" => ConflictStatus::Resolved,
            "closed" => ConflictStatus::Closed,
            other => {
                return Err(StoreError::Corrupt {
                    what: "conflict status",
                    detail: format!("unknown status {other:?}"),
                });
            }
        },
        resolution,
        resolved_by: r.resolved_by,
        resolved_at: parse_opt_ts("resolution time", r.resolved_at)?,
        closed_at: parse_opt_ts("conflict close time", r.closed_at)?,
        closed_how: r.closed_how,
    })
}

impl Store {
    /// Records the conflicts a cycle held: a new one opens; a live one (open or resolved)
    /// gets the values of this cycle and `last_seen = at`. Returns how many were new.
    pub async fn hold_conflicts(
        &self,
        held: &[SeenConflict],
        at: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        if held.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write_tx().await?;
        let mut new = 0;
        for c in held {
            let updated = sqlx::query(
                "UPDATE held_conflicts SET hubspot_value = $1, gorgias_value = $2, base = $3, last_seen = $4
                 WHERE hubspot_id = $5 AND gorgias_id = $6 AND field = $7 AND status <> 'closed'",
            )
            .bind(&c.hubspot_value)
            .bind(&c.gorgias_value)
            .bind(&c.base)
            .bind(ts(at))
            .bind(c.hubspot_id.as_str())
            .bind(c.gorgias_id.get())
            .bind(&c.field)
            .execute(&mut *tx)
            .await
            .ctx("update a held conflict")?
            .rows_affected();
            if updated > 0 {
                continue;
            }
            sqlx::query(
                "INSERT INTO held_conflicts (link_id, hubspot_id, gorgias_id, field, hubspot_value,
                   gorgias_value, base, first_seen, last_seen, status)
                 VALUES ((SELECT id FROM links WHERE hubspot_id = $1 AND gorgias_id = $2),
                   $3, $4, $5, $6, $7, $8, $9, $10, 'open')",
            )
            .bind(c.hubspot_id.as_str())
            .bind(c.gorgias_id.get())
            .bind(c.hubspot_id.as_str())
            .bind(c.gorgias_id.get())
            .bind(&c.field)
            .bind(&c.hubspot_value)
            .bind(&c.gorgias_value)
            .bind(&c.base)
            .bind(ts(at))
            .bind(ts(at))
            .execute(&mut *tx)
            .await
            .ctx("open a held conflict")?;
            new += 1;
        }
        tx.commit().await.ctx("commit held conflicts")?;
        Ok(new)
    }

    /// After a cycle whose writes all succeeded: closes every live conflict on a pair in
    /// `planned` whose field is not in `still_held` (still held, or left alone with a skip):
    /// `applied` when it carried a resolution, `agreed` otherwise. Audited as
    /// `conflict.closed`. Returns the closed conflicts.
    pub async fn close_conflicts(
        &self,
        planned: &HashSet<(HubspotId, GorgiasId)>,
        still_held: &HashSet<(HubspotId, GorgiasId, String)>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<HeldConflict>, StoreError> {
        let live = self.conflicts(false).await?;
        let closing: Vec<HeldConflict> = live
            .into_iter()
            .filter(|c| planned.contains(&(c.hubspot_id.clone(), c.gorgias_id)))
            .filter(|c| {
                !still_held.contains(&(c.hubspot_id.clone(), c.gorgias_id, c.field.clone()))
            })
            .collect();
        if closing.is_empty() {
            return Ok(vec![]);
        }
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(closing.len());
        for mut c in closing {
            let how = if c.resolution.is_some() {
                "applied"
            } else {
                "agreed"
            };
            sqlx::query(
                "UPDATE held_conflicts SET status = 'closed', closed_at = $1, closed_how = $2
                 WHERE id = $3 AND status <> 'closed'",
            )
            .bind(ts(at))
            .bind(how)
            .bind(c.id.0)
            .execute(&mut *tx)
            .await
            .ctx("close a held conflict")?;
            append_in(
                &mut tx,
                &NewAudit {
                    at,
                    actor: actor.to_owned(),
                    action: "conflict.closed".into(),
                    subjects: vec![
                        RecordRef::Hubspot(c.hubspot_id.clone()),
                        RecordRef::Gorgias(c.gorgias_id),
                    ],
                    detail: json!({
                        "conflict": c.id, "field": c.field, "how": how,
                        "resolution": c.resolution,
                    }),
                },
            )
            .await?;
            c.status = ConflictStatus::Closed;
            c.closed_at = Some(at);
            c.closed_how = Some(how.to_owned());
            out.push(c);
        }
        tx.commit().await.ctx("commit closed conflicts")?;
        Ok(out)
    }

    /// Held conflicts, newest first: the live ones (open or resolved), or every one with
    /// `with_closed`.
    pub async fn conflicts(&self, with_closed: bool) -> Result<Vec<HeldConflict>, StoreError> {
        let filter = if with_closed {
            ""
        } else {
            " WHERE status <> 'closed'"
        };
        let rows: Vec<DbRow> = sqlx::query_as(&format!(
            "{SELECT}{filter} ORDER BY first_seen DESC, id DESC"
        ))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("list held conflicts")?;
        rows.into_iter().map(conflict_from).collect()
    }

    /// The live (open or resolved) conflicts of one pair, oldest first.
    pub async fn live_conflicts_of(
        &self,
        hubspot: &HubspotId,
        gorgias: GorgiasId,
    ) -> Result<Vec<HeldConflict>, StoreError> {
        let rows: Vec<DbRow> = sqlx::query_as(&format!(
            "{SELECT} WHERE status <> 'closed' AND hubspot_id = $1 AND gorgias_id = $2
             ORDER BY first_seen, id"
        ))
        .bind(hubspot.as_str())
        .bind(gorgias.get())
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("read a pair's held conflicts")?;
        rows.into_iter().map(conflict_from).collect()
    }

    /// One held conflict by id.
    pub async fn conflict(&self, id: ConflictId) -> Result<Option<HeldConflict>, StoreError> {
        let row: Option<DbRow> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&mut *self.read().await?)
            .await
            .ctx("read a held conflict")?;
        row.map(conflict_from).transpose()
    }

    /// The live conflicts a person resolved, for the next cycle's engine input.
    pub async fn pending_resolutions(&self) -> Result<Vec<HeldConflict>, StoreError> {
        Ok(self
            .conflicts(false)
            .await?
            .into_iter()
            .filter(|c| c.status == ConflictStatus::Resolved)
            .collect())
    }

    /// Stores a person's choice for a live conflict (a later choice replaces an earlier one
    /// not yet applied), audited as `conflict.resolved`. Refused with
    /// [`StoreError::NotFound`] for an unknown id and [`StoreError::Conflict`] for a closed
    /// one.
    pub async fn resolve_conflict(
        &self,
        id: ConflictId,
        choice: &ConflictChoice,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<HeldConflict, StoreError> {
        let Some(c) = self.conflict(id).await? else {
            return Err(StoreError::NotFound {
                what: format!("held conflict {id}"),
            });
        };
        if c.status == ConflictStatus::Closed {
            return Err(StoreError::Conflict(format!(
                "held conflict {id} is closed ({}): nothing to resolve",
                c.closed_how.as_deref().unwrap_or("closed")
            )));
        }
        let (take, value) = match choice {
            ConflictChoice::Take(s) => (Some(s.as_str()), None),
            ConflictChoice::Value(v) => (None, Some(v.as_str())),
        };
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE held_conflicts SET status = 'resolved', take = $1, value = $2, resolved_by = $3,
               resolved_at = $4 WHERE id = $5 AND status <> 'closed'",
        )
        .bind(take)
        .bind(value)
        .bind(actor)
        .bind(ts(at))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .ctx("resolve a held conflict")?;
        append_in(
            &mut tx,
            &NewAudit {
                at,
                actor: actor.to_owned(),
                action: "conflict.resolved".into(),
                subjects: vec![
                    RecordRef::Hubspot(c.hubspot_id.clone()),
                    RecordRef::Gorgias(c.gorgias_id),
                ],
                detail: json!({
                    "conflict": id, "field": c.field, "choice": choice,
                    "hubspot": c.hubspot_value, "gorgias": c.gorgias_value, "base": c.base,
                }),
            },
        )
        .await?;
        tx.commit().await.ctx("commit a conflict resolution")?;
        self.conflict(id).await?.ok_or(StoreError::NotFound {
            what: format!("held conflict {id}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{conformance, gg, hs, t};
    use super::*;

    fn seen(field: &str, h: &str, g: &str) -> SeenConflict {
        SeenConflict {
            hubspot_id: hs("101"),
            gorgias_id: gg(7),
            field: field.into(),
            hubspot_value: Some(h.into()),
            gorgias_value: Some(g.into()),
            base: Some("old".into()),
        }
    }

    async fn a_held_conflict_is_kept_up_to_date_then_resolved_and_closed(s: Store) {
        assert_eq!(
            s.hold_conflicts(&[seen("note", "a", "b")], t(1))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            s.hold_conflicts(&[seen("note", "a2", "b")], t(2))
                .await
                .unwrap(),
            0
        );
        let [c] = s.conflicts(false).await.unwrap().try_into().unwrap();
        assert_eq!(c.hubspot_value.as_deref(), Some("a2"));
        assert_eq!((c.first_seen, c.last_seen), (t(1), t(2)));
        assert_eq!(c.status, ConflictStatus::Open);
        assert!(s.pending_resolutions().await.unwrap().is_empty());

        let r = s
            .resolve_conflict(c.id, &ConflictChoice::Take(System::Gorgias), "cli", t(3))
            .await
            .unwrap();
        assert_eq!(r.status, ConflictStatus::Resolved);
        assert_eq!(r.resolution, Some(ConflictChoice::Take(System::Gorgias)));
        assert_eq!(s.pending_resolutions().await.unwrap().len(), 1);
        let audit = s.audit_for(&RecordRef::Gorgias(gg(7))).await.unwrap();
        assert!(audit.iter().any(|a| a.action == "conflict.resolved"));

        // A pair planned while the field is still held stays live; once not, it closes.
        let planned = HashSet::from([(hs("101"), gg(7))]);
        let held = HashSet::from([(hs("101"), gg(7), "note".to_string())]);
        assert!(
            s.close_conflicts(&planned, &held, "sync", t(4))
                .await
                .unwrap()
                .is_empty()
        );
        let closed = s
            .close_conflicts(&planned, &HashSet::new(), "sync", t(5))
            .await
            .unwrap();
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].closed_how.as_deref(), Some("applied"));
        assert!(s.conflicts(false).await.unwrap().is_empty());
        assert_eq!(s.conflicts(true).await.unwrap().len(), 1);
        let again = s
            .resolve_conflict(c.id, &ConflictChoice::Value("x".into()), "cli", t(6))
            .await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        // The same field held again later is a new conflict.
        assert_eq!(
            s.hold_conflicts(&[seen("note", "c", "d")], t(7))
                .await
                .unwrap(),
            1
        );
    }

    async fn an_unknown_conflict_cannot_be_resolved(s: Store) {
        let e = s
            .resolve_conflict(
                ConflictId(42),
                &ConflictChoice::Value("x".into()),
                "cli",
                t(1),
            )
            .await;
        assert!(matches!(e, Err(StoreError::NotFound { .. })), "{e:?}");
    }

    async fn a_conflict_whose_sides_agree_again_closes_as_agreed(s: Store) {
        s.hold_conflicts(&[seen("note", "a", "b")], t(1))
            .await
            .unwrap();
        let planned = HashSet::from([(hs("101"), gg(7))]);
        let closed = s
            .close_conflicts(&planned, &HashSet::new(), "sync", t(2))
            .await
            .unwrap();
        assert_eq!(closed[0].closed_how.as_deref(), Some("agreed"));
        // A pair not planned this cycle is left alone.
        s.hold_conflicts(&[seen("note", "a", "b")], t(3))
            .await
            .unwrap();
        let none = s
            .close_conflicts(&HashSet::new(), &HashSet::new(), "sync", t(4))
            .await
            .unwrap();
        assert!(none.is_empty());
    }

    conformance!(
        a_held_conflict_is_kept_up_to_date_then_resolved_and_closed,
        an_unknown_conflict_cannot_be_resolved,
        a_conflict_whose_sides_agree_again_closes_as_agreed
    );
}
