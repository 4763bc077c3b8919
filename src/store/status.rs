//! A summary of what the store holds, for `tether status` and `tether doctor`.
//!
//! Owns the counting queries. Read-only: must never write.

use super::guard::{Holder, recorded_writer};
#[cfg(test)]
use super::latest_version;
use super::{Cycle, QueryContext, Store, StoreError, Watermark};
use crate::domain::System;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// How many rows of each kind the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub links: u64,
    pub records_seen: u64,
    pub pending_proposals: u64,
    pub outbox_pending: u64,
    pub outbox_failed: u64,
    pub quarantine: u64,
    pub aliases: u64,
    pub audit_entries: u64,
    /// Refused writes still owed (unsettled records not dismissed).
    pub unsettled: u64,
    /// Unsettled records a person dismissed.
    pub unsettled_dismissed: u64,
}

/// The writer recorded in the store, with its last heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedWriter {
    #[serde(flatten)]
    pub holder: Holder,
    pub heartbeat: DateTime<Utc>,
}

/// What `tether status` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreStatus {
    pub url: String,
    pub path: Option<String>,
    pub schema_version: i64,
    pub schema_latest: i64,
    pub counts: Counts,
    pub watermarks: BTreeMap<System, Watermark>,
    pub last_cycle: Option<Cycle>,
    /// The writer the store last recorded (it may have stopped without clearing it).
    pub writer: Option<RecordedWriter>,
}

impl Store {
    /// Counts of every table that matters to an operator.
    pub async fn counts(&self) -> Result<Counts, StoreError> {
        let row: (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT
               (SELECT count(*) FROM links),
               (SELECT count(*) FROM records_seen),
               (SELECT count(*) FROM proposals WHERE status = 'pending'),
               (SELECT count(*) FROM outbox WHERE status = 'pending'),
               (SELECT count(*) FROM outbox WHERE status = 'failed'),
               (SELECT count(*) FROM quarantine),
               (SELECT count(*) FROM aliases),
               (SELECT count(*) FROM audit_log),
               (SELECT count(*) FROM unsettled WHERE dismissed_at IS NULL),
               (SELECT count(*) FROM unsettled WHERE dismissed_at IS NOT NULL)",
        )
        .fetch_one(&mut *self.read().await?)
        .await
        .ctx("count rows")?;
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Counts {
            links: n(row.0),
            records_seen: n(row.1),
            pending_proposals: n(row.2),
            outbox_pending: n(row.3),
            outbox_failed: n(row.4),
            quarantine: n(row.5),
            aliases: n(row.6),
            audit_entries: n(row.7),
            unsettled: n(row.8),
            unsettled_dismissed: n(row.9),
        })
    }

    /// Everything `tether status` shows.
    pub async fn status(&self) -> Result<StoreStatus, StoreError> {
        Ok(StoreStatus {
            url: self.url().to_owned(),
            path: self.path().map(|p| p.display().to_string()),
            schema_version: self.schema_state().await?.version,
            schema_latest: self.latest_version(),
            counts: self.counts().await?,
            watermarks: self.watermarks().await?,
            last_cycle: self.last_cycle().await?,
            writer: recorded_writer(&mut *self.read().await?)
                .await?
                .map(|(holder, heartbeat)| RecordedWriter { holder, heartbeat }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    async fn an_empty_store_counts_zero_and_names_its_writer(s: Store) {
        let st = s.status().await.unwrap();
        assert_eq!(st.counts, Counts::default());
        assert_eq!(st.schema_version, latest_version());
        assert!(st.watermarks.is_empty());
        assert_eq!(st.last_cycle, None);
        match s.engine() {
            crate::store::Engine::Sqlite => {
                let w = st.writer.unwrap();
                assert_eq!(w.holder.pid, std::process::id());
            }
            // No writer guard on PostgreSQL: the writer is the lease holder.
            crate::store::Engine::Postgres => assert_eq!(st.writer, None),
        }
    }

    conformance!(an_empty_store_counts_zero_and_names_its_writer);
}
