//! Schema migrations: the SQL files in `migrations/`, embedded at build time and applied by
//! the writer at start-up. Applying them again is a no-op.
//!
//! Owns the migrator and reading the schema version. Must never edit an applied migration:
//! a schema change is a new file.

use super::{QueryContext, Store, StoreError};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The newest schema version this binary knows (the last migration's number).
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The schema as the database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    /// The highest applied migration (0 when none).
    pub version: i64,
    /// How many migrations have been applied.
    pub applied: i64,
}

impl Store {
    /// Applies the migrations not yet applied, each in its own transaction. Idempotent.
    /// A store migrated by a newer tether is refused rather than touched.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        let found = self.schema_state().await?.version;
        let known = latest_version();
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The applied schema version; 0 for an empty database.
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        )
        .fetch_one(&mut *self.read().await?)
        .await
        .ctx("read the schema version")?;
        if exists == 0 {
            return Ok(SchemaState {
                version: 0,
                applied: 0,
            });
        }
        let (version, applied): (Option<i64>, i64) =
            sqlx::query_as("SELECT max(version), count(*) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&mut *self.read().await?)
                .await
                .ctx("read the schema version")?;
        Ok(SchemaState {
            version: version.unwrap_or(0),
            applied,
        })
    }
}
