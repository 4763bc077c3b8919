//! Watermarks: how far each system's change feed has been read.
//!
//! Owns `watermarks`, one row per system: a time plus an optional tie-break id for records
//! sharing that time. [`Store::advance_watermark`] only ever moves a watermark forward;
//! [`Store::set_watermark`] moves it anywhere (a deliberate re-read). Must never decide
//! how much overlap to re-read: that is the cycle's business.

use super::{QueryContext, Store, StoreError, parse_system, parse_ts, ts};
use crate::domain::System;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A position in a system's change feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Watermark {
    /// The last-modified time reached.
    pub at: DateTime<Utc>,
    /// The id of the last record read at exactly `at`, if the feed pages by (time, id).
    pub tie_break: Option<String>,
}

impl Watermark {
    /// Feed order: by time, then by tie-break id (numerically when both are integers, so
    /// that "9" < "10"); no tie-break sorts first.
    pub fn feed_cmp(&self, other: &Watermark) -> Ordering {
        self.at
            .cmp(&other.at)
            .then_with(|| match (&self.tie_break, &other.tie_break) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(a), Some(b)) => match (a.parse::<i128>(), b.parse::<i128>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    _ => a.cmp(b),
                },
            })
    }
}

impl Store {
    /// The watermark of `system`, if a cycle has set one.
    pub async fn watermark(&self, system: System) -> Result<Option<Watermark>, StoreError> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT at, tie_break FROM watermarks WHERE system = $1")
                .bind(system.as_str())
                .fetch_optional(&mut *self.read().await?)
                .await
                .ctx("read a watermark")?;
        row.map(|(at, tie_break)| {
            Ok(Watermark {
                at: parse_ts("watermark", &at)?,
                tie_break,
            })
        })
        .transpose()
    }

    /// Every system's watermark.
    pub async fn watermarks(&self) -> Result<BTreeMap<System, Watermark>, StoreError> {
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT system, at, tie_break FROM watermarks ORDER BY system")
                .fetch_all(&mut *self.read().await?)
                .await
                .ctx("read watermarks")?;
        rows.into_iter()
            .map(|(s, at, tie_break)| {
                Ok((
                    parse_system(&s)?,
                    Watermark {
                        at: parse_ts("watermark", &at)?,
                        tie_break,
                    },
                ))
            })
            .collect()
    }

    /// Moves the watermark of `system` to `to` if that is further along the feed than where
    /// it is (or there is none yet). Returns whether it moved. `now` is when it was set.
    pub async fn advance_watermark(
        &self,
        system: System,
        to: &Watermark,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_tx().await?;
        let cur: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT at, tie_break FROM watermarks WHERE system = $1")
                .bind(system.as_str())
                .fetch_optional(&mut *tx)
                .await
                .ctx("read a watermark")?;
        if let Some((at, tie_break)) = cur {
            let cur = Watermark {
                at: parse_ts("watermark", &at)?,
                tie_break,
            };
            if to.feed_cmp(&cur) != Ordering::Greater {
                return Ok(false);
            }
        }
        write_watermark(&mut tx, system, to, now).await?;
        tx.commit().await.ctx("commit a watermark")?;
        Ok(true)
    }

    /// Sets the watermark of `system` to `to`, backwards included (to re-read a period).
    pub async fn set_watermark(
        &self,
        system: System,
        to: &Watermark,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        write_watermark(&mut tx, system, to, now).await?;
        tx.commit().await.ctx("commit a watermark")
    }
}

async fn write_watermark(
    conn: &mut sqlx::AnyConnection,
    system: System,
    to: &Watermark,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO watermarks (system, at, tie_break, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (system) DO UPDATE SET
           at = excluded.at, tie_break = excluded.tie_break, updated_at = excluded.updated_at",
    )
    .bind(system.as_str())
    .bind(ts(to.at))
    .bind(to.tie_break.as_deref())
    .bind(ts(now))
    .execute(&mut *conn)
    .await
    .ctx("write a watermark")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn wm(secs: i64, tie: Option<&str>) -> Watermark {
        Watermark {
            at: t(secs),
            tie_break: tie.map(str::to_owned),
        }
    }

    async fn watermarks_only_advance_unless_set(s: Store) {
        assert_eq!(s.watermark(System::Hubspot).await.unwrap(), None);
        assert!(
            s.advance_watermark(System::Hubspot, &wm(10, Some("9")), t(100))
                .await
                .unwrap()
        );
        // Same time, larger id (numerically): forward.
        assert!(
            s.advance_watermark(System::Hubspot, &wm(10, Some("10")), t(101))
                .await
                .unwrap()
        );
        // Same position or earlier: no move.
        for back in [
            wm(10, Some("10")),
            wm(10, Some("2")),
            wm(10, None),
            wm(5, Some("99")),
        ] {
            assert!(
                !s.advance_watermark(System::Hubspot, &back, t(102))
                    .await
                    .unwrap()
            );
        }
        assert_eq!(
            s.watermark(System::Hubspot).await.unwrap(),
            Some(wm(10, Some("10")))
        );
        assert_eq!(s.watermark(System::Gorgias).await.unwrap(), None);
        s.set_watermark(System::Gorgias, &wm(3, Some(nasty(&s))), t(103))
            .await
            .unwrap();
        s.set_watermark(System::Hubspot, &wm(1, None), t(104))
            .await
            .unwrap();
        let all = s.watermarks().await.unwrap();
        assert_eq!(all.get(&System::Hubspot), Some(&wm(1, None)));
        assert_eq!(all.get(&System::Gorgias), Some(&wm(3, Some(nasty(&s)))));
    }

    conformance!(watermarks_only_advance_unless_set);
}
