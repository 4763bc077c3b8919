//! The optional HubSpot notes' bookkeeping (issue 14, `[support] notes`): one `support_notes`
//! row per closed ticket that owes a note, recorded before any HubSpot call (the intent), and
//! marked written, with the note's id, once HubSpot holds the note on the contact.
//!
//! Owns `support_notes`. Must never decide which ticket gets a note or what it says
//! ([`crate::support::notes`]), and never call HubSpot. Portable SQL (`$N` placeholders,
//! `ON CONFLICT`), as the store's move to `sqlx::Any` asks.

use super::support::TicketRow;
use super::{QueryContext, Store, StoreError, ts};
use crate::support::TicketFacts;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

/// A note still owed: its ticket as stored (customer resolved through merges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedNote {
    pub ticket: TicketFacts,
    /// Failed attempts so far.
    pub attempts: u32,
}

/// An owed note's row with its ticket's.
#[derive(sqlx::FromRow)]
struct OwedRow {
    attempts: i64,
    #[sqlx(flatten)]
    ticket: TicketRow,
}

/// How the notes stand, for `tether status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotesStatus {
    pub owed: u64,
    pub written: u64,
}

/// Records the notes `tickets` owe, on `conn` (see [`Store::owe_support_notes`]).
pub(super) async fn owe_notes_in(
    conn: &mut AnyConnection,
    tickets: &[(i64, DateTime<Utc>)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for (id, closed) in tickets {
        sqlx::query(
            "INSERT INTO support_notes (ticket_id, closed_at, state, attempts, updated_at) \
             VALUES ($1, $2, 'owed', 0, $3) \
             ON CONFLICT (ticket_id) DO UPDATE SET closed_at = excluded.closed_at, \
             state = 'owed', attempts = 0, last_error = NULL, updated_at = excluded.updated_at \
             WHERE support_notes.closed_at <> excluded.closed_at",
        )
        .bind(id)
        .bind(ts(*closed))
        .bind(ts(now))
        .execute(&mut *conn)
        .await
        .ctx("record an owed note")?;
    }
    Ok(())
}

impl Store {
    /// Records that each of `tickets` (id, closing time) owes a note, in one transaction. A
    /// ticket already written for the same closing is left alone; closed again later, it
    /// owes its note again (the same note, updated).
    pub async fn owe_support_notes(
        &self,
        tickets: &[(i64, DateTime<Utc>)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if tickets.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        owe_notes_in(&mut tx, tickets, now).await?;
        tx.commit().await.ctx("commit owed notes")
    }

    /// Owed notes, oldest ticket first, at most `limit`, with their tickets' stored facts.
    pub async fn support_notes_owed(&self, limit: u32) -> Result<Vec<OwedNote>, StoreError> {
        let rows: Vec<OwedRow> = sqlx::query_as(
            "SELECT n.attempts, t.id, t.customer_id, t.status, t.channel, t.subject, \
             t.created_at, t.updated_at, t.closed_at, t.last_message_at, t.spam, t.trashed, \
             t.messages_count FROM support_notes n JOIN support_tickets t ON t.id = n.ticket_id \
             WHERE n.state = 'owed' ORDER BY n.ticket_id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read().await?)
        .await
        .ctx("read owed notes")?;
        rows.into_iter()
            .map(|r| {
                Ok(OwedNote {
                    ticket: r.ticket.facts()?,
                    attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// Marks the notes of `written` (ticket id, note id, contact id) written, in one
    /// transaction.
    pub async fn support_notes_written(
        &self,
        written: &[(i64, String, String)],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for (ticket, note, contact) in written {
            sqlx::query(
                "UPDATE support_notes SET state = 'written', note_id = $1, hubspot_id = $2, \
                 last_error = NULL, updated_at = $3 WHERE ticket_id = $4",
            )
            .bind(note)
            .bind(contact)
            .bind(ts(now))
            .bind(ticket)
            .execute(&mut *tx)
            .await
            .ctx("record a written note")?;
        }
        tx.commit().await.ctx("commit written notes")
    }

    /// Counts a failed attempt at the notes of `tickets` (they stay owed), with `error`.
    pub async fn support_notes_failed(
        &self,
        tickets: &[i64],
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for ticket in tickets {
            sqlx::query(
                "UPDATE support_notes SET attempts = attempts + 1, last_error = $1, \
                 updated_at = $2 WHERE ticket_id = $3",
            )
            .bind(error)
            .bind(ts(now))
            .bind(ticket)
            .execute(&mut *tx)
            .await
            .ctx("record a failed note")?;
        }
        tx.commit().await.ctx("commit failed notes")
    }

    /// How many notes are owed and written.
    pub async fn support_notes_status(&self) -> Result<NotesStatus, StoreError> {
        let (owed, written): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'owed' THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN state = 'written' THEN 1 ELSE 0 END), 0) AS BIGINT) FROM support_notes",
        )
        .fetch_one(&mut *self.read().await?)
        .await
        .ctx("count notes")?;
        Ok(NotesStatus {
            owed: u64::try_from(owed).unwrap_or(0),
            written: u64::try_from(written).unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::Change;
    use crate::support::rollup::tests::{at, ticket};

    #[tokio::test]
    async fn a_note_is_owed_once_per_closing_and_settles_when_written() {
        let s = Store::open_in_memory().await.unwrap();
        let mut t = ticket(5, 9, 0);
        t.status = "closed".into();
        t.closed_datetime = Some(at(3));
        s.apply_support_changes(&[Change::Ticket(t.clone())], at(4))
            .await
            .unwrap();
        s.owe_support_notes(&[(5, at(3))], at(4)).await.unwrap();
        s.owe_support_notes(&[(5, at(3))], at(5)).await.unwrap();
        let owed = s.support_notes_owed(10).await.unwrap();
        assert_eq!(owed.len(), 1);
        assert_eq!(owed[0].ticket, t);
        s.support_notes_failed(&[5], "HubSpot said no", at(5))
            .await
            .unwrap();
        assert_eq!(s.support_notes_owed(10).await.unwrap()[0].attempts, 1);
        s.support_notes_written(&[(5, "77".into(), "12".into())], at(6))
            .await
            .unwrap();
        assert!(s.support_notes_owed(10).await.unwrap().is_empty());
        // The same closing seen again (the feed's overlap): still written.
        s.owe_support_notes(&[(5, at(3))], at(7)).await.unwrap();
        assert!(s.support_notes_owed(10).await.unwrap().is_empty());
        assert_eq!(
            s.support_notes_status().await.unwrap(),
            NotesStatus {
                owed: 0,
                written: 1
            }
        );
        // Reopened and closed again: the note is owed again.
        s.owe_support_notes(&[(5, at(9))], at(9)).await.unwrap();
        assert_eq!(s.support_notes_owed(10).await.unwrap().len(), 1);
    }
}
