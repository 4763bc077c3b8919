//! What tether last wrote to one record: the answer of the newest finished write, from which
//! the cycle recognises the echo of its own Gorgias writes in the next feed. Read-only over
//! `outbox`; must never change a write.

use super::{QueryContext, Store, StoreError};
use crate::domain::RecordRef;

impl Store {
    /// The recorded answer (`result`) of the newest write done to `target`, if any.
    pub async fn last_done_write_result(
        &self,
        target: &RecordRef,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT result FROM outbox
             WHERE system = $1 AND target_id = $2 AND status = 'done'
             ORDER BY id DESC LIMIT 1",
        )
        .bind(target.system().as_str())
        .bind(target.id_string())
        .fetch_optional(&mut *self.read().await?)
        .await
        .ctx("read the last finished write")?;
        Ok(row
            .and_then(|(r,)| r)
            .and_then(|r| serde_json::from_str(&r).ok()))
    }
}
