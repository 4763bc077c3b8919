//! The set-at-a-time way through one API batch's completions: every write ended, every new
//! link inserted with its bases, and every audit entry appended by a handful of multi-row
//! statements for the whole batch, instead of several statements per write. On SQLite a
//! round trip to sqlx's worker thread costs more than the statement it carries, so this is
//! what keeps a cycle's completions far above 5,000 a second (`benches/store.rs`).
//!
//! Owns only the batches whose follow-ups are new links and settles with nothing to settle
//! (what a batch of creates or updates carries); anything else goes write by write
//! (`batch.rs`). Must never answer differently from the write-by-write path: the same rows,
//! the same audit entries with the same subjects, in the same order. At the first sign of a
//! refusal (a write no longer pending, a link side already taken) it stops and says so, and
//! the caller rolls the transaction back and goes write by write, which says why.

use super::{COLUMNS, Completion, Done, Ending, FollowUp, OutboxId, OutboxStatus, Row};
use super::{ended_audit, item_from};
use crate::domain::{RecordRef, System};
use crate::store::audit::append_many_in;
use crate::store::bases::set_many_bases_in;
use crate::store::links::{Link, LinkId, link_created_audit};
use crate::store::{QueryContext, StoreError, rows_per_statement, ts, values_rows};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use std::collections::{HashMap, HashSet};

/// Whether the batch can go set-at-a-time: each write named once, and only new links and
/// settles that have nothing to settle (`unsettled` holds the pairs that do).
pub(super) fn eligible(done: &[Done], unsettled: &HashSet<(RecordRef, System)>) -> bool {
    let mut ids = HashSet::new();
    done.iter().all(|d| {
        ids.insert(d.id)
            && d.follow_ups.iter().all(|f| match f {
                FollowUp::CreateLink { .. } => true,
                FollowUp::Settle { record, target, .. } => {
                    !unsettled.contains(&(record.clone(), *target))
                }
                _ => false,
            })
    })
}

/// Completes an [`eligible`] batch on `conn` (inside the caller's transaction). `None`:
/// something in it is refused, and part of the batch may be written: the caller must roll
/// the transaction back.
pub(super) async fn complete(
    conn: &mut AnyConnection,
    done: &[Done],
    actor: &str,
    at: DateTime<Utc>,
) -> Result<Option<Vec<Completion>>, StoreError> {
    let Some(items) = end_all(conn, done, at).await? else {
        return Ok(None);
    };
    let Some(links) = insert_links(conn, done, at).await? else {
        return Ok(None);
    };
    let with_bases: Vec<(LinkId, &_)> = links.iter().map(|(l, bases)| (l.id, *bases)).collect();
    set_many_bases_in(conn, &with_bases, at).await?;
    // The entries in the order the write-by-write path appends them: each write's
    // `write.done`, then its new links' `link.created`.
    let mut entries = Vec::new();
    let mut completions = Vec::with_capacity(done.len());
    let mut next_link = links.iter();
    for (d, item) in done.iter().zip(&items) {
        let ending = Ending {
            to: OutboxStatus::Done,
            result: d.result.as_ref(),
            error: None,
            follow_ups: &d.follow_ups,
        };
        entries.push(ended_audit(item, &ending, actor, at));
        let mut made = Vec::new();
        for f in &d.follow_ups {
            if let FollowUp::CreateLink { .. } = f {
                let Some((link, bases)) = next_link.next() else {
                    return Err(StoreError::Corrupt {
                        what: "batch completion",
                        detail: "fewer links made than asked for".into(),
                    });
                };
                entries.push(link_created_audit(link, bases, actor));
                made.push(link.clone());
            }
        }
        completions.push(Completion {
            newly_done: true,
            links: made,
        });
    }
    append_many_in(conn, &entries).await?;
    Ok(Some(completions))
}

/// Ends every write of the batch as done; their rows in the order of `done`, or `None`
/// when one of them was not pending.
async fn end_all(
    conn: &mut AnyConnection,
    done: &[Done],
    at: DateTime<Utc>,
) -> Result<Option<Vec<super::OutboxItem>>, StoreError> {
    let mut ended: HashMap<OutboxId, super::OutboxItem> = HashMap::with_capacity(done.len());
    let at = ts(at);
    for chunk in done.chunks(rows_per_statement(2)) {
        // `column1`, `column2`: the names both engines give the columns of a VALUES list.
        let sql = format!(
            "UPDATE outbox SET status = 'done', result = v.column2, finished_at = $1
             FROM (VALUES {}) AS v
             WHERE outbox.id = v.column1 AND outbox.status = 'pending'
             RETURNING {}",
            shifted_rows(chunk.len(), 2, 1),
            qualified(COLUMNS)
        );
        let mut q = sqlx::query_as::<_, Row>(&sql).bind(at.as_str());
        for d in chunk {
            q = q
                .bind(d.id.0)
                .bind(d.result.as_ref().map(serde_json::Value::to_string));
        }
        for row in q.fetch_all(&mut *conn).await.ctx("finish writes")? {
            let item = item_from(row)?;
            ended.insert(item.id, item);
        }
    }
    Ok(done.iter().map(|d| ended.remove(&d.id)).collect())
}

/// Inserts every new link of the batch, in order, each with the bases it is to hold; or
/// `None` when a side is already linked (or named twice in the batch).
async fn insert_links<'a>(
    conn: &mut AnyConnection,
    done: &'a [Done],
    at: DateTime<Utc>,
) -> Result<
    Option<
        Vec<(
            Link,
            &'a std::collections::BTreeMap<String, serde_json::Value>,
        )>,
    >,
    StoreError,
> {
    let asked: Vec<_> = done
        .iter()
        .flat_map(|d| &d.follow_ups)
        .filter_map(|f| match f {
            FollowUp::CreateLink {
                hubspot,
                gorgias,
                bases,
            } => Some((hubspot, *gorgias, bases)),
            _ => None,
        })
        .collect();
    let mut made: HashMap<(String, i64), i64> = HashMap::with_capacity(asked.len());
    let at_text = ts(at);
    for chunk in asked.chunks(rows_per_statement(4)) {
        let sql = format!(
            "INSERT INTO links (hubspot_id, gorgias_id, created_at, updated_at) VALUES {}
             ON CONFLICT DO NOTHING RETURNING id, hubspot_id, gorgias_id",
            values_rows(chunk.len(), 4)
        );
        let mut q = sqlx::query_as::<_, (i64, String, i64)>(&sql);
        for (hubspot, gorgias, _) in chunk {
            q = q
                .bind(hubspot.as_str())
                .bind(gorgias.get())
                .bind(at_text.as_str())
                .bind(at_text.as_str());
        }
        for (id, hubspot, gorgias) in q.fetch_all(&mut *conn).await.ctx("create links")? {
            made.insert((hubspot, gorgias), id);
        }
    }
    let mut out = Vec::with_capacity(asked.len());
    for (hubspot, gorgias, bases) in asked {
        let Some(id) = made.remove(&(hubspot.as_str().to_owned(), gorgias.get())) else {
            return Ok(None);
        };
        out.push((Link::created(LinkId(id), hubspot, gorgias, at), bases));
    }
    Ok(Some(out))
}

/// `rows` VALUES rows of `cols` placeholders each, numbered from `$first + 1`.
fn shifted_rows(rows: usize, cols: usize, before: usize) -> String {
    (0..rows)
        .map(|r| {
            format!(
                "({})",
                crate::store::placeholders(before + r * cols + 1, cols)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `COLUMNS` with each column qualified by `outbox.` (a VALUES list joins the UPDATE).
fn qualified(columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("outbox.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_numbered_after_the_leading_binds() {
        assert_eq!(shifted_rows(2, 2, 1), "($2, $3), ($4, $5)");
        assert_eq!(
            qualified("id, status,\n  result"),
            "outbox.id, outbox.status, outbox.result"
        );
    }
}
