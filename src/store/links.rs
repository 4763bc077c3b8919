//! Links: a HubSpot contact and a Gorgias customer known to be the same person.
//!
//! Owns `links`. A link has exactly one HubSpot id and one Gorgias id, and each id appears
//! in at most one link (UNIQUE constraints); creating a link whose side is taken is refused
//! with [`StoreError::Conflict`]. Link changes are audited in the same transaction. Must
//! never drop a link's bases when it is relinked after a merge.

use super::audit::{NewAudit, append_in};
use super::bases::set_bases_in;
use super::{QueryContext, Store, StoreError, parse_ts, ts};
use crate::domain::{GorgiasId, HubspotId, RecordRef};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::AnyConnection;
use std::collections::BTreeMap;

/// A link's row id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LinkId(pub i64);

impl std::fmt::Display for LinkId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "link {}", self.0)
    }
}

/// A HubSpot contact and a Gorgias customer that are the same person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub id: LinkId,
    pub hubspot: HubspotId,
    pub gorgias: GorgiasId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Link {
    /// This link's record in `system`.
    pub fn side(&self, system: crate::domain::System) -> RecordRef {
        match system {
            crate::domain::System::Hubspot => RecordRef::Hubspot(self.hubspot.clone()),
            crate::domain::System::Gorgias => RecordRef::Gorgias(self.gorgias),
        }
    }
}

/// A link to create, for [`Store::create_links`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewLink {
    pub hubspot: HubspotId,
    pub gorgias: GorgiasId,
    pub bases: BTreeMap<String, serde_json::Value>,
}

type Row = (i64, String, i64, String, String);

const SELECT: &str = "SELECT id, hubspot_id, gorgias_id, created_at, updated_at FROM links";

fn link_from(row: Row) -> Result<Link, StoreError> {
    let (id, h, g, c, u) = row;
    Ok(Link {
        id: LinkId(id),
        hubspot: HubspotId::new(h)?,
        gorgias: GorgiasId::new(g)?,
        created_at: parse_ts("link created time", &c)?,
        updated_at: parse_ts("link updated time", &u)?,
    })
}

async fn link_by_hubspot_in(
    conn: &mut AnyConnection,
    id: &HubspotId,
) -> Result<Option<Link>, StoreError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE hubspot_id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .ctx("read a link")?;
    row.map(link_from).transpose()
}

async fn link_by_gorgias_in(
    conn: &mut AnyConnection,
    id: GorgiasId,
) -> Result<Option<Link>, StoreError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE gorgias_id = $1"))
        .bind(id.get())
        .fetch_optional(&mut *conn)
        .await
        .ctx("read a link")?;
    row.map(link_from).transpose()
}

async fn link_in(conn: &mut AnyConnection, id: LinkId) -> Result<Option<Link>, StoreError> {
    let row: Option<Row> = sqlx::query_as(&format!("{SELECT} WHERE id = $1"))
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await
        .ctx("read a link")?;
    row.map(link_from).transpose()
}

/// Creates a link with its bases and audit entry on `conn` (inside the caller's
/// transaction). Refused when either side is already linked.
pub(crate) async fn create_link_in(
    conn: &mut AnyConnection,
    hubspot: &HubspotId,
    gorgias: GorgiasId,
    bases: &BTreeMap<String, serde_json::Value>,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Link, StoreError> {
    // A side already taken (UNIQUE) inserts nothing rather than failing: on PostgreSQL a
    // failed statement aborts the transaction. Only then is it looked up, to say which.
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO links (hubspot_id, gorgias_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(hubspot.as_str())
    .bind(gorgias.get())
    .bind(ts(at))
    .bind(ts(at))
    .fetch_optional(&mut *conn)
    .await
    .ctx("create a link")?;
    let Some(id) = id else {
        if let Some(l) = link_by_hubspot_in(&mut *conn, hubspot).await? {
            return Err(StoreError::Conflict(format!(
                "HubSpot contact {hubspot} is already linked to Gorgias customer {} ({})",
                l.gorgias, l.id
            )));
        }
        let taken = link_by_gorgias_in(&mut *conn, gorgias).await?;
        return Err(StoreError::Conflict(match taken {
            Some(l) => format!(
                "Gorgias customer {gorgias} is already linked to HubSpot contact {} ({})",
                l.hubspot, l.id
            ),
            None => format!("HubSpot contact {hubspot} or Gorgias customer {gorgias} is taken"),
        }));
    };
    set_bases_in(&mut *conn, LinkId(id), bases, at).await?;
    let link = Link::created(LinkId(id), hubspot, gorgias, at);
    append_in(&mut *conn, &link_created_audit(&link, bases, actor)).await?;
    Ok(link)
}

impl Link {
    /// A link just created at `at` (created and updated then).
    pub(crate) fn created(
        id: LinkId,
        hubspot: &HubspotId,
        gorgias: GorgiasId,
        at: DateTime<Utc>,
    ) -> Link {
        Link {
            id,
            hubspot: hubspot.clone(),
            gorgias,
            created_at: at,
            updated_at: at,
        }
    }
}

/// The audit entry of a new link (`link.created`), with the fields its bases hold.
pub(crate) fn link_created_audit(
    link: &Link,
    bases: &BTreeMap<String, serde_json::Value>,
    actor: &str,
) -> NewAudit {
    NewAudit {
        at: link.created_at,
        actor: actor.to_owned(),
        action: "link.created".into(),
        subjects: vec![
            RecordRef::Hubspot(link.hubspot.clone()),
            RecordRef::Gorgias(link.gorgias),
        ],
        detail: json!({ "link": link.id.0, "fields": bases.keys().collect::<Vec<_>>() }),
    }
}

/// Moves one side of a link onto `new` on `conn` (inside the caller's transaction).
pub(crate) async fn relink_in(
    conn: &mut AnyConnection,
    id: LinkId,
    new: &RecordRef,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Link, StoreError> {
    let old = link_in(&mut *conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: id.to_string(),
        })?;
    let taken = match new {
        RecordRef::Hubspot(h) => link_by_hubspot_in(&mut *conn, h).await?,
        RecordRef::Gorgias(g) => link_by_gorgias_in(&mut *conn, *g).await?,
    };
    if let Some(other) = taken.filter(|l| l.id != id) {
        return Err(StoreError::Conflict(format!(
            "{new} is already in {}; cannot move {id} onto it",
            other.id
        )));
    }
    let replaced = old.side(new.system());
    match new {
        RecordRef::Hubspot(h) => {
            sqlx::query("UPDATE links SET hubspot_id = $1, updated_at = $2 WHERE id = $3")
                .bind(h.as_str())
                .bind(ts(at))
                .bind(id.0)
                .execute(&mut *conn)
                .await
                .ctx("relink")?;
        }
        RecordRef::Gorgias(g) => {
            sqlx::query("UPDATE links SET gorgias_id = $1, updated_at = $2 WHERE id = $3")
                .bind(g.get())
                .bind(ts(at))
                .bind(id.0)
                .execute(&mut *conn)
                .await
                .ctx("relink")?;
        }
    }
    append_in(
        &mut *conn,
        &NewAudit {
            at,
            actor: actor.to_owned(),
            action: "link.relinked".into(),
            subjects: vec![
                replaced.clone(),
                new.clone(),
                old.side(new.system().other()),
            ],
            detail: json!({ "link": id.0, "from": replaced.to_string(), "to": new.to_string() }),
        },
    )
    .await?;
    let link = link_in(&mut *conn, id)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: id.to_string(),
        })?;
    Ok(link)
}

/// Removes a link (its bases go with it) with its audit entry on `conn`, inside the
/// caller's transaction. Returns whether there was such a link.
pub(crate) async fn remove_link_in(
    conn: &mut AnyConnection,
    id: LinkId,
    reason: &str,
    actor: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let Some(old) = link_in(&mut *conn, id).await? else {
        return Ok(false);
    };
    sqlx::query("DELETE FROM links WHERE id = $1")
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .ctx("remove a link")?;
    append_in(
        &mut *conn,
        &NewAudit {
            at,
            actor: actor.to_owned(),
            action: "link.removed".into(),
            subjects: vec![
                RecordRef::Hubspot(old.hubspot.clone()),
                RecordRef::Gorgias(old.gorgias),
            ],
            detail: json!({ "link": id.0, "reason": reason }),
        },
    )
    .await?;
    Ok(true)
}

impl Store {
    /// Links `hubspot` and `gorgias` and records the bases of the mapped fields, in one
    /// transaction, audited as `link.created` by `actor`. Refused when either side is
    /// already linked.
    pub async fn create_link(
        &self,
        hubspot: &HubspotId,
        gorgias: GorgiasId,
        bases: &BTreeMap<String, serde_json::Value>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Link, StoreError> {
        let mut tx = self.write_tx().await?;
        let link = create_link_in(&mut tx, hubspot, gorgias, bases, actor, at).await?;
        tx.commit().await.ctx("commit a new link")?;
        Ok(link)
    }
    /// Creates a batch of links (e.g. records matched by e-mail on a first sync) in one
    /// transaction: all or none. Refused as a whole when any side is already linked (or
    /// appears twice in the batch).
    pub async fn create_links(
        &self,
        links: &[NewLink],
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<Link>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(links.len());
        for l in links {
            out.push(create_link_in(&mut tx, &l.hubspot, l.gorgias, &l.bases, actor, at).await?);
        }
        tx.commit().await.ctx("commit new links")?;
        Ok(out)
    }

    /// The link with this id.
    pub async fn link(&self, id: LinkId) -> Result<Option<Link>, StoreError> {
        let mut conn = self.read().await?;
        link_in(&mut conn, id).await
    }

    /// The link whose HubSpot side is `id`.
    pub async fn link_by_hubspot(&self, id: &HubspotId) -> Result<Option<Link>, StoreError> {
        let mut conn = self.read().await?;
        link_by_hubspot_in(&mut conn, id).await
    }

    /// The link whose Gorgias side is `id`.
    pub async fn link_by_gorgias(&self, id: GorgiasId) -> Result<Option<Link>, StoreError> {
        let mut conn = self.read().await?;
        link_by_gorgias_in(&mut conn, id).await
    }

    /// The link that holds `record` on its side of the same system.
    pub async fn link_for(&self, record: &RecordRef) -> Result<Option<Link>, StoreError> {
        match record {
            RecordRef::Hubspot(h) => self.link_by_hubspot(h).await,
            RecordRef::Gorgias(g) => self.link_by_gorgias(*g).await,
        }
    }

    /// Every link, by id.
    pub async fn links(&self) -> Result<Vec<Link>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} ORDER BY id"))
            .fetch_all(&mut *self.read().await?)
            .await
            .ctx("list links")?;
        rows.into_iter().map(link_from).collect()
    }

    /// Replaces one side of a link (the side of `new`'s system) after that record was merged
    /// into `new`. Bases are kept. Refused when `new` is already in another link. Audited as
    /// `link.relinked`. Returns the updated link.
    pub async fn relink(
        &self,
        id: LinkId,
        new: &RecordRef,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Link, StoreError> {
        let mut tx = self.write_tx().await?;
        let link = relink_in(&mut tx, id, new, actor, at).await?;
        tx.commit().await.ctx("commit a relink")?;
        Ok(link)
    }

    /// Removes a link and its bases (e.g. one side was deleted), audited as `link.removed`
    /// with `reason`. Returns whether there was such a link.
    pub async fn remove_link(
        &self,
        id: LinkId,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let removed = remove_link_in(&mut tx, id, reason, actor, at).await?;
        tx.commit().await.ctx("commit a link removal")?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn bases() -> BTreeMap<String, serde_json::Value> {
        BTreeMap::from([
            ("email".to_owned(), json!("jane@example.com")),
            ("firstname".to_owned(), json!(NASTY)),
            ("tags".to_owned(), json!(["vip", "b2b"])),
        ])
    }

    async fn links_round_trip_by_either_side_with_bases(s: Store) {
        let l = s
            .create_link(&hs("11"), gg(22), &bases(), "sync", t(1))
            .await
            .unwrap();
        assert_eq!(s.link(l.id).await.unwrap().unwrap(), l);
        assert_eq!(s.link_by_hubspot(&hs("11")).await.unwrap().unwrap(), l);
        assert_eq!(s.link_by_gorgias(gg(22)).await.unwrap().unwrap(), l);
        assert_eq!(
            s.link_for(&RecordRef::Gorgias(gg(22))).await.unwrap(),
            Some(l.clone())
        );
        assert_eq!(s.link_by_gorgias(gg(23)).await.unwrap(), None);
        assert_eq!(s.bases(l.id).await.unwrap(), bases());
        assert_eq!(s.links().await.unwrap(), vec![l.clone()]);
        let audit = s.audit_for(&RecordRef::Hubspot(hs("11"))).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].action, "link.created");
    }

    async fn a_batch_of_links_is_all_or_nothing(s: Store) {
        let new = |h: &str, g: i64| NewLink {
            hubspot: hs(h),
            gorgias: gg(g),
            bases: bases(),
        };
        let err = s
            .create_links(&[new("1", 1), new("2", 2), new("1", 3)], "sync", t(1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert!(s.links().await.unwrap().is_empty());
        let made = s
            .create_links(&[new("1", 1), new("2", 2)], "sync", t(1))
            .await
            .unwrap();
        assert_eq!(s.links().await.unwrap(), made);
        assert_eq!(s.bases(made[1].id).await.unwrap(), bases());
    }

    async fn each_side_is_in_at_most_one_link(s: Store) {
        s.create_link(&hs("11"), gg(22), &bases(), "sync", t(1))
            .await
            .unwrap();
        for (h, g) in [("11", 23), ("12", 22)] {
            let err = s
                .create_link(&hs(h), gg(g), &bases(), "sync", t(2))
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        }
        // Nothing half-written: no bases or audit for the refused links.
        assert_eq!(s.links().await.unwrap().len(), 1);
        assert!(
            s.audit_for(&RecordRef::Hubspot(hs("12")))
                .await
                .unwrap()
                .is_empty()
        );
    }

    async fn relink_follows_a_merge_and_keeps_bases(s: Store) {
        let l = s
            .create_link(&hs("11"), gg(22), &bases(), "sync", t(1))
            .await
            .unwrap();
        let other = s
            .create_link(&hs("99"), gg(98), &BTreeMap::new(), "sync", t(1))
            .await
            .unwrap();
        let moved = s
            .relink(l.id, &RecordRef::Hubspot(hs("12")), "sync", t(5))
            .await
            .unwrap();
        assert_eq!(moved.hubspot, hs("12"));
        assert_eq!(moved.gorgias, gg(22));
        assert_eq!(moved.updated_at, t(5));
        assert_eq!(s.link_by_hubspot(&hs("11")).await.unwrap(), None);
        assert_eq!(s.bases(l.id).await.unwrap(), bases());
        let g = s
            .relink(l.id, &RecordRef::Gorgias(gg(23)), "sync", t(6))
            .await
            .unwrap();
        assert_eq!(g.gorgias, gg(23));
        let err = s
            .relink(l.id, &RecordRef::Gorgias(gg(98)), "sync", t(7))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err}");
        assert!(matches!(
            s.relink(LinkId(999), &RecordRef::Gorgias(gg(5)), "sync", t(7))
                .await
                .unwrap_err(),
            StoreError::NotFound { .. }
        ));
        let audit = s.audit_for(&RecordRef::Hubspot(hs("11"))).await.unwrap();
        assert_eq!(
            audit.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(),
            vec!["link.created", "link.relinked"]
        );
        assert!(
            s.remove_link(other.id, "deleted", "sync", t(8))
                .await
                .unwrap()
        );
        assert!(
            !s.remove_link(other.id, "deleted", "sync", t(8))
                .await
                .unwrap()
        );
        assert_eq!(s.link_by_hubspot(&hs("99")).await.unwrap(), None);
    }

    conformance!(
        links_round_trip_by_either_side_with_bases,
        a_batch_of_links_is_all_or_nothing,
        each_side_is_in_at_most_one_link,
        relink_follows_a_merge_and_keeps_bases
    );
}
