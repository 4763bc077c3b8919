//! What tether last wrote to one record: the answer of the newest finished write, from which
//! the cycle recognises the echo of its own Gorgias writes in the next feed, and its payload,
//! from which the support step sees roll-up values written but not yet recorded. Read-only over
//! `outbox`; must never change a write.

use super::{QueryContext, Store, StoreError};
use crate::domain::RecordRef;

/// The newest finished write to a record: its recorded answer and its payload.
const NEWEST_DONE: &str = "SELECT result, payload FROM outbox
     WHERE system = $1 AND target_id = $2 AND status = 'done'
     ORDER BY id DESC LIMIT 1";

impl Store {
    /// The (answer, payload) of the newest write done to `target`, if any.
    async fn newest_done_write(
        &self,
        target: &RecordRef,
    ) -> Result<Option<(Option<String>, String)>, StoreError> {
        sqlx::query_as(NEWEST_DONE)
            .bind(target.system().as_str())
            .bind(target.id_string())
            .fetch_optional(&mut *self.read().await?)
            .await
            .ctx("read the last finished write")
    }

    /// The recorded answer (`result`) of the newest write done to `target`, if any.
    pub async fn last_done_write_result(
        &self,
        target: &RecordRef,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .newest_done_write(target)
            .await?
            .and_then(|(r, _)| r)
            .and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// The payload of the newest write done to `target`, if any (what tether last wrote).
    pub async fn last_done_write_payload(
        &self,
        target: &RecordRef,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .newest_done_write(target)
            .await?
            .and_then(|(_, p)| serde_json::from_str(&p).ok()))
    }
}
