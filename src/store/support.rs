//! Support roll-up state (issue 14): one row per Gorgias ticket and satisfaction survey, the
//! Gorgias merges the roll-ups follow, the customers whose roll-up is owed to HubSpot, the
//! values last written per contact property, and the support feeds' positions.
//!
//! Owns `support_tickets`, `support_surveys`, `support_merges`, `support_dirty`,
//! `support_written` and `support_feeds`. Keeps exactly the rules of the pure
//! [`crate::support::Ledger`] (the tests check the two agree). Must never compute a roll-up
//! or decide what to write: that is [`crate::support`].

use super::{QueryContext, Store, StoreError, parse_ts, ts};
use crate::domain::{GorgiasId, HubspotId};
use crate::support::{Change, SurveyFacts, TicketFacts};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use std::collections::{BTreeMap, BTreeSet};

/// Longest merge chain followed.
const MAX_HOPS: usize = 64;

/// A support feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SupportFeed {
    /// Incremental ticket feed (`updated_datetime:desc`, stop at the watermark).
    Tickets,
    /// Satisfaction-survey feed (newest first, stop at the last seen).
    Surveys,
    /// The first backfill of every ticket (a cursor).
    TicketsBackfill,
}

impl SupportFeed {
    pub fn as_str(self) -> &'static str {
        match self {
            SupportFeed::Tickets => "tickets",
            SupportFeed::Surveys => "surveys",
            SupportFeed::TicketsBackfill => "tickets_backfill",
        }
    }
}

/// Where a support feed stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedPosition {
    /// The newest time read (the watermark of an incremental feed).
    pub at: Option<DateTime<Utc>>,
    pub tie_break: Option<String>,
    /// The next page's cursor (a backfill in progress).
    pub cursor: Option<String>,
    /// The backfill has read every page.
    pub done: bool,
    /// Progress: pages and items read so far.
    pub pages: u64,
    pub items: u64,
}

/// One customer's facts, as the roll-up needs them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFacts {
    pub tickets: Vec<TicketFacts>,
    /// The surveys the customer owns (its tickets' surveys; else its own).
    pub surveys: Vec<SurveyFacts>,
}

fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

fn gid(what: &'static str, raw: i64) -> Result<GorgiasId, StoreError> {
    GorgiasId::new(raw).map_err(|e| corrupt(what, e))
}

fn opt_ts(what: &'static str, s: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(|s| parse_ts(what, &s)).transpose()
}

async fn merges_in(conn: &mut AnyConnection) -> Result<BTreeMap<i64, i64>, StoreError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT from_id, into_id FROM support_merges")
        .fetch_all(&mut *conn)
        .await
        .ctx("read support merges")?;
    Ok(rows.into_iter().collect())
}

fn resolve(merges: &BTreeMap<i64, i64>, c: i64) -> i64 {
    let mut cur = c;
    for _ in 0..MAX_HOPS {
        match merges.get(&cur) {
            Some(n) => cur = *n,
            None => break,
        }
    }
    cur
}

/// The customers owning the surveys of `ticket` (as the ledger's survey owner).
async fn survey_owners_of_ticket(
    conn: &mut AnyConnection,
    ticket: i64,
) -> Result<Vec<i64>, StoreError> {
    sqlx::query_scalar(
        "SELECT COALESCE(t.customer_id, s.customer_id) FROM support_surveys s \
         LEFT JOIN support_tickets t ON t.id = s.ticket_id WHERE s.ticket_id = $1",
    )
    .bind(ticket)
    .fetch_all(&mut *conn)
    .await
    .ctx("read a ticket's survey owners")
}

async fn survey_owner(
    conn: &mut AnyConnection,
    ticket: i64,
    customer: i64,
) -> Result<i64, StoreError> {
    let t: Option<i64> =
        sqlx::query_scalar("SELECT customer_id FROM support_tickets WHERE id = $1")
            .bind(ticket)
            .fetch_optional(&mut *conn)
            .await
            .ctx("read a survey's ticket")?;
    Ok(t.unwrap_or(customer))
}

async fn apply_ticket(
    conn: &mut AnyConnection,
    merges: &BTreeMap<i64, i64>,
    t: &TicketFacts,
    affected: &mut BTreeSet<i64>,
) -> Result<(), StoreError> {
    let old: Option<(i64, String)> =
        sqlx::query_as("SELECT customer_id, updated_at FROM support_tickets WHERE id = $1")
            .bind(t.id)
            .fetch_optional(&mut *conn)
            .await
            .ctx("read a support ticket")?;
    if let Some((_, at)) = &old {
        if parse_ts("ticket updated_at", at)? > t.updated_datetime {
            return Ok(());
        }
    }
    let customer = resolve(merges, t.customer_id);
    affected.extend(survey_owners_of_ticket(conn, t.id).await?);
    affected.extend(old.map(|(c, _)| c));
    affected.insert(customer);
    sqlx::query(
        "INSERT INTO support_tickets (id, customer_id, status, channel, subject, \
         created_at, updated_at, closed_at, last_message_at, spam, trashed, messages_count) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, \
         status = excluded.status, channel = excluded.channel, subject = excluded.subject, \
         created_at = excluded.created_at, updated_at = excluded.updated_at, \
         closed_at = excluded.closed_at, last_message_at = excluded.last_message_at, \
         spam = excluded.spam, trashed = excluded.trashed, \
         messages_count = excluded.messages_count",
    )
    .bind(t.id)
    .bind(customer)
    .bind(t.status.as_str())
    .bind(&t.channel)
    .bind(&t.subject)
    .bind(ts(t.created_datetime))
    .bind(ts(t.updated_datetime))
    .bind(t.closed_datetime.map(ts))
    .bind(t.last_message_datetime.map(ts))
    .bind(i64::from(t.spam))
    .bind(i64::from(t.trashed))
    .bind(i64::from(t.messages_count))
    .execute(&mut *conn)
    .await
    .ctx("store a support ticket")?;
    Ok(())
}

async fn apply_survey(
    conn: &mut AnyConnection,
    merges: &BTreeMap<i64, i64>,
    s: &SurveyFacts,
    affected: &mut BTreeSet<i64>,
) -> Result<(), StoreError> {
    let old: Option<(i64, i64, Option<i64>)> =
        sqlx::query_as("SELECT ticket_id, customer_id, score FROM support_surveys WHERE id = $1")
            .bind(s.id)
            .fetch_optional(&mut *conn)
            .await
            .ctx("read a support survey")?;
    if let Some((ticket, customer, score)) = old {
        if score.is_some() && s.score.is_none() {
            return Ok(());
        }
        affected.insert(survey_owner(conn, ticket, customer).await?);
    }
    let customer = resolve(merges, s.customer_id);
    affected.insert(survey_owner(conn, s.ticket_id, customer).await?);
    sqlx::query(
        "INSERT INTO support_surveys (id, ticket_id, customer_id, score, scored_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET ticket_id = excluded.ticket_id, \
         customer_id = excluded.customer_id, score = excluded.score, \
         scored_at = excluded.scored_at, created_at = excluded.created_at",
    )
    .bind(s.id)
    .bind(s.ticket_id)
    .bind(customer)
    .bind(s.score.map(i64::from))
    .bind(s.scored_datetime.map(ts))
    .bind(s.created_datetime.map(ts))
    .execute(&mut *conn)
    .await
    .ctx("store a support survey")?;
    Ok(())
}

async fn apply_merge(
    conn: &mut AnyConnection,
    merges: &mut BTreeMap<i64, i64>,
    from: i64,
    into: i64,
    now: DateTime<Utc>,
    affected: &mut BTreeSet<i64>,
) -> Result<(), StoreError> {
    let into = resolve(merges, into);
    if into == from || merges.contains_key(&from) {
        return Ok(());
    }
    sqlx::query("INSERT INTO support_merges (from_id, into_id, at) VALUES ($1, $2, $3)")
        .bind(from)
        .bind(into)
        .bind(ts(now))
        .execute(&mut *conn)
        .await
        .ctx("record a support merge")?;
    merges.insert(from, into);
    for table in ["support_tickets", "support_surveys"] {
        sqlx::query(&format!(
            "UPDATE {table} SET customer_id = $1 WHERE customer_id = $2"
        ))
        .bind(into)
        .bind(from)
        .execute(&mut *conn)
        .await
        .ctx("move a merged customer's support rows")?;
    }
    affected.extend([from, into]);
    Ok(())
}

/// A `support_tickets` row.
#[derive(sqlx::FromRow)]
struct TicketRow {
    id: i64,
    customer_id: i64,
    status: String,
    channel: String,
    subject: String,
    created_at: String,
    updated_at: String,
    closed_at: Option<String>,
    last_message_at: Option<String>,
    /// 0 or 1 (booleans are integers in both backends).
    spam: i64,
    trashed: i64,
    messages_count: i64,
}

impl TicketRow {
    fn facts(self) -> Result<TicketFacts, StoreError> {
        Ok(TicketFacts {
            id: self.id,
            customer_id: self.customer_id,
            status: self.status,
            channel: self.channel,
            subject: self.subject,
            created_datetime: parse_ts("ticket created_at", &self.created_at)?,
            updated_datetime: parse_ts("ticket updated_at", &self.updated_at)?,
            closed_datetime: opt_ts("ticket closed_at", self.closed_at)?,
            last_message_datetime: opt_ts("ticket last_message_at", self.last_message_at)?,
            spam: self.spam != 0,
            trashed: self.trashed != 0,
            messages_count: u32::try_from(self.messages_count)
                .map_err(|e| corrupt("ticket messages_count", e))?,
        })
    }
}

/// A `support_feeds` row.
#[derive(sqlx::FromRow)]
struct FeedRow {
    at: Option<String>,
    tie_break: Option<String>,
    cursor: Option<String>,
    /// 0 or 1.
    done: i64,
    pages: i64,
    items: i64,
}

/// A `support_surveys` row.
#[derive(sqlx::FromRow)]
struct SurveyRow {
    id: i64,
    ticket_id: i64,
    customer_id: i64,
    score: Option<i64>,
    scored_at: Option<String>,
    created_at: Option<String>,
}

impl SurveyRow {
    fn facts(self) -> Result<SurveyFacts, StoreError> {
        Ok(SurveyFacts {
            id: self.id,
            ticket_id: self.ticket_id,
            customer_id: self.customer_id,
            score: self.score.and_then(|s| u8::try_from(s).ok()),
            scored_datetime: opt_ts("survey scored_at", self.scored_at)?,
            created_datetime: opt_ts("survey created_at", self.created_at)?,
        })
    }
}

impl Store {
    /// Stores the changes read from the support feeds in one transaction (the ledger's rules:
    /// an older ticket version is ignored, a scored survey never goes back to unscored, a
    /// merge moves the customer's rows to the survivor) and marks every customer whose
    /// roll-up may have changed as owed. Returns those customers.
    pub async fn apply_support_changes(
        &self,
        changes: &[Change],
        now: DateTime<Utc>,
    ) -> Result<BTreeSet<GorgiasId>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut merges = merges_in(&mut tx).await?;
        let mut affected = BTreeSet::new();
        for c in changes {
            match c {
                Change::Ticket(t) => apply_ticket(&mut tx, &merges, t, &mut affected).await?,
                Change::Survey(s) => apply_survey(&mut tx, &merges, s, &mut affected).await?,
                Change::Merge { from, into } => {
                    apply_merge(
                        &mut tx,
                        &mut merges,
                        from.get(),
                        into.get(),
                        now,
                        &mut affected,
                    )
                    .await?
                }
            }
        }
        for c in &affected {
            sqlx::query(
                "INSERT INTO support_dirty (customer_id, since) VALUES ($1, $2) \
                 ON CONFLICT (customer_id) DO NOTHING",
            )
            .bind(c)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .ctx("mark a roll-up owed")?;
        }
        tx.commit().await.ctx("commit support changes")?;
        affected
            .into_iter()
            .map(|c| gid("support customer", c))
            .collect()
    }

    /// Customers whose roll-up is owed to HubSpot, oldest first, at most `limit`.
    pub async fn support_owed(&self, limit: u32) -> Result<Vec<GorgiasId>, StoreError> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT customer_id FROM support_dirty ORDER BY since, customer_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("read owed roll-ups")?;
        rows.into_iter().map(|c| gid("owed roll-up", c)).collect()
    }

    /// The facts of each of `customers` (tickets, and the surveys each owns).
    pub async fn support_facts(
        &self,
        customers: &[GorgiasId],
    ) -> Result<BTreeMap<GorgiasId, CustomerFacts>, StoreError> {
        let mut out: BTreeMap<GorgiasId, CustomerFacts> = customers
            .iter()
            .map(|c| (*c, CustomerFacts::default()))
            .collect();
        let mut conn = self.read().await?;
        for c in customers {
            let rows: Vec<TicketRow> = sqlx::query_as(
                "SELECT id, customer_id, status, channel, subject, created_at, updated_at, \
                 closed_at, last_message_at, spam, trashed, messages_count FROM support_tickets \
                 WHERE customer_id = $1 ORDER BY id",
            )
            .bind(c.get())
            .fetch_all(&mut *conn)
            .await
            .ctx("read support tickets")?;
            let surveys: Vec<SurveyRow> = sqlx::query_as(
                "SELECT s.id, s.ticket_id, s.customer_id, s.score, s.scored_at, s.created_at \
                 FROM support_surveys s LEFT JOIN support_tickets t ON t.id = s.ticket_id \
                 WHERE COALESCE(t.customer_id, s.customer_id) = $1 ORDER BY s.id",
            )
            .bind(c.get())
            .fetch_all(&mut *conn)
            .await
            .ctx("read support surveys")?;
            let entry = out.entry(*c).or_default();
            entry.tickets = rows
                .into_iter()
                .map(TicketRow::facts)
                .collect::<Result<_, _>>()?;
            entry.surveys = surveys
                .into_iter()
                .map(SurveyRow::facts)
                .collect::<Result<_, _>>()?;
        }
        Ok(out)
    }

    /// The roll-up values tether last wrote to each of `contacts`, by property.
    pub async fn support_written(
        &self,
        contacts: &[HubspotId],
    ) -> Result<BTreeMap<HubspotId, BTreeMap<String, String>>, StoreError> {
        let mut out: BTreeMap<HubspotId, BTreeMap<String, String>> = BTreeMap::new();
        let mut conn = self.read().await?;
        for c in contacts {
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT property, value FROM support_written WHERE hubspot_id = $1")
                    .bind(c.as_str())
                    .fetch_all(&mut *conn)
                    .await
                    .ctx("read written roll-ups")?;
            out.insert(c.clone(), rows.into_iter().collect());
        }
        Ok(out)
    }

    /// Records the roll-up values written (`written`, after HubSpot accepted them) and
    /// settles the owed `customers`, in one transaction.
    pub async fn settle_support(
        &self,
        customers: &[GorgiasId],
        written: &[(HubspotId, BTreeMap<String, String>)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for (contact, props) in written {
            for (p, v) in props {
                sqlx::query(
                    "INSERT INTO support_written (hubspot_id, property, value, written_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (hubspot_id, property) DO UPDATE \
                     SET value = excluded.value, written_at = excluded.written_at",
                )
                .bind(contact.as_str())
                .bind(p)
                .bind(v)
                .bind(ts(now))
                .execute(&mut *tx)
                .await
                .ctx("record a written roll-up")?;
            }
        }
        for c in customers {
            sqlx::query("DELETE FROM support_dirty WHERE customer_id = $1")
                .bind(c.get())
                .execute(&mut *tx)
                .await
                .ctx("settle an owed roll-up")?;
        }
        tx.commit().await.ctx("commit written roll-ups")
    }

    /// Where `feed` stands (the default when it has never been read).
    pub async fn support_feed(&self, feed: SupportFeed) -> Result<FeedPosition, StoreError> {
        let row: Option<FeedRow> = sqlx::query_as(
            "SELECT at, tie_break, cursor, done, pages, items FROM support_feeds WHERE feed = $1",
        )
        .bind(feed.as_str())
        .fetch_optional(&mut *self.read().await?)
        .await
        .ctx("read a support feed")?;
        let Some(FeedRow {
            at,
            tie_break,
            cursor,
            done,
            pages,
            items,
        }) = row
        else {
            return Ok(FeedPosition::default());
        };
        Ok(FeedPosition {
            at: opt_ts("support feed at", at)?,
            tie_break,
            cursor,
            done: done != 0,
            pages: u64::try_from(pages).unwrap_or(0),
            items: u64::try_from(items).unwrap_or(0),
        })
    }

    /// Sets where `feed` stands.
    pub async fn set_support_feed(
        &self,
        feed: SupportFeed,
        pos: &FeedPosition,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO support_feeds (feed, at, tie_break, cursor, done, pages, items, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (feed) DO UPDATE SET \
             at = excluded.at, tie_break = excluded.tie_break, cursor = excluded.cursor, \
             done = excluded.done, pages = excluded.pages, items = excluded.items, \
             updated_at = excluded.updated_at",
        )
        .bind(feed.as_str())
        .bind(pos.at.map(ts))
        .bind(&pos.tie_break)
        .bind(&pos.cursor)
        .bind(i64::from(pos.done))
        .bind(i64::try_from(pos.pages).unwrap_or(i64::MAX))
        .bind(i64::try_from(pos.items).unwrap_or(i64::MAX))
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .ctx("write a support feed")?;
        tx.commit().await.ctx("commit a support feed")
    }
}

#[cfg(test)]
mod tests;
