//! Schema migrations: the SQL files in `migrations/` (SQLite) and `migrations/postgres/`
//! (their PostgreSQL twins, same versions), embedded at build time and applied by the writer
//! at start-up. Applying them again is a no-op.
//!
//! Owns the migrators and reading the schema version. Must never edit an applied migration:
//! a schema change is a new file in both directories.

use super::{Backend, Engine, QueryContext, Store, StoreError};
use sqlx::AnyConnection;

/// `sqlx::migrate!` reads only the files directly in the directory, so the PostgreSQL twins
/// in `migrations/postgres/` are not SQLite migrations.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The newest schema version this binary knows for SQLite (the last migration's number).
pub fn latest_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

impl Engine {
    fn migrator(self) -> &'static sqlx::migrate::Migrator {
        match self {
            Engine::Sqlite => &MIGRATOR,
            Engine::Postgres => &PG_MIGRATOR,
        }
    }

    /// The newest schema version this binary knows for this engine.
    pub fn latest_version(self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }
}

/// The schema as the database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaState {
    /// The highest applied migration (0 when none).
    pub version: i64,
    /// How many migrations have been applied.
    pub applied: i64,
}

/// Applies `backend`'s pending migrations on `conn`, refusing a schema newer than this
/// binary. On PostgreSQL `conn` is a dedicated connection whose session `search_path` is
/// the connection's schema, so `_sqlx_migrations` lives in that schema.
pub(crate) async fn migrate_on(
    backend: Engine,
    conn: &mut AnyConnection,
) -> Result<(), StoreError> {
    let found = schema_state_on(backend, conn).await?.version;
    let known = backend.latest_version();
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    backend.migrator().run(conn).await?;
    Ok(())
}

/// The applied schema version on `conn`; 0 for an empty database (or schema).
pub(crate) async fn schema_state_on(
    backend: Engine,
    conn: &mut AnyConnection,
) -> Result<SchemaState, StoreError> {
    let exists_sql = match backend {
        Engine::Sqlite => {
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        // Resolved through the search_path, i.e. in the connection's schema only.
        Engine::Postgres => {
            "SELECT CASE WHEN to_regclass('_sqlx_migrations') IS NULL THEN 0 ELSE 1 END"
        }
    };
    let exists: i64 = sqlx::query_scalar(exists_sql)
        .fetch_one(&mut *conn)
        .await
        .ctx("read the schema version")?;
    if exists == 0 {
        return Ok(SchemaState {
            version: 0,
            applied: 0,
        });
    }
    let (version, applied): (Option<i64>, i64) =
        sqlx::query_as("SELECT max(version), count(*) FROM _sqlx_migrations WHERE success = true")
            .fetch_one(&mut *conn)
            .await
            .ctx("read the schema version")?;
    Ok(SchemaState {
        version: version.unwrap_or(0),
        applied,
    })
}

impl Store {
    /// Applies the migrations not yet applied, each in its own transaction. Idempotent.
    /// A store migrated by a newer tether is refused rather than touched.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite => {
                let mut conn = self.pool.acquire().await.ctx("get a connection")?;
                migrate_on(Engine::Sqlite, &mut conn).await
            }
            Backend::Postgres { schema, url } => {
                super::open_postgres::migrate_schema(url, schema).await
            }
        }
    }

    /// The applied schema version; 0 for an empty database.
    pub async fn schema_state(&self) -> Result<SchemaState, StoreError> {
        let mut r = self.read().await?;
        schema_state_on(self.engine(), &mut r).await
    }

    /// The newest schema version this binary knows for this store's backend.
    pub fn latest_version(&self) -> i64 {
        self.engine().latest_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema version exists for both engines, with the same file name, so a version
    /// means the same schema on SQLite and PostgreSQL.
    #[test]
    fn both_engines_have_the_same_migration_versions() {
        let versions = |m: &sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(&MIGRATOR), versions(&PG_MIGRATOR));
        assert_eq!(
            Engine::Sqlite.latest_version(),
            Engine::Postgres.latest_version()
        );
        assert_eq!(latest_version(), Engine::Sqlite.latest_version());
    }
}
