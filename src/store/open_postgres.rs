//! Opening a PostgreSQL store: one schema per sync connection (`tether_<connection.name>`),
//! created with its migrations by the first writer on one dedicated connection, then a pool
//! whose every transaction selects that schema (`tx.rs`), which keeps working behind
//! PgBouncer in transaction mode.
//!
//! Owns the pool options, creating the schema and migrating it. Must never format into SQL
//! anything but the schema name derived from a validated [`ConnectionName`], and never run
//! a query of the store's own tables outside the migrations.

use super::lease::{LeaseKeeper, LeaseOpen};
use super::migrate::migrate_on;
use super::{Backend, Engine, Mode, QueryContext, Store, StoreError};
use crate::config::{ConnectionName, redact_password};
use crate::secret::Secret;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyConnection, Connection, Executor};

/// How many connections a store keeps to PostgreSQL (a writer's cycle, the review page and
/// the metrics share them).
const MAX_CONNECTIONS: u32 = 8;

fn open_err(url: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |source| StoreError::Open {
        url: redact_password(url),
        source,
    }
}

/// Creates the schema when missing and applies the pending migrations inside it, on one
/// dedicated connection whose *session* `search_path` is the schema (so `_sqlx_migrations`
/// lives there too), then closes that connection. sqlx's migrator takes a session advisory
/// lock: run it on a direct connection or a session-mode pooler, not a transaction-mode one.
pub(super) async fn migrate_schema(url: &Secret, schema: &str) -> Result<(), StoreError> {
    let mut conn = AnyConnection::connect(url.expose())
        .await
        .map_err(open_err(url.expose()))?;
    let result = migrate_schema_on(&mut conn, schema).await;
    let _ = conn.close().await;
    result
}

async fn migrate_schema_on(conn: &mut AnyConnection, schema: &str) -> Result<(), StoreError> {
    // The schema name is `tether_` + a validated connection name: a plain identifier.
    let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    if let Err(e) = conn.execute(create.as_str()).await {
        // Two writers creating it at once: one of them loses the race on the catalogue's
        // unique index, and the schema then exists.
        let exists: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1")
                .bind(schema)
                .fetch_one(&mut *conn)
                .await
                .ctx("check the connection's schema")?;
        if exists == 0 {
            return Err(e).ctx("create the connection's schema");
        }
    }
    sqlx::query("SELECT set_config('search_path', $1, false)")
        .bind(schema)
        .execute(&mut *conn)
        .await
        .ctx("select the connection's schema")?;
    migrate_on(Engine::Postgres, conn).await
}

impl Store {
    /// Opens connection `connection` of the PostgreSQL database at `url`. A writer creates
    /// the connection's schema and migrates it; a reader refuses a schema that is not the
    /// one this binary knows. No writer guard here: on PostgreSQL the writer is whoever
    /// holds the lease (`lease.rs`), taken here as `lease` says and checked inside each
    /// write transaction.
    pub(super) async fn open_postgres(
        url: &str,
        connection: &ConnectionName,
        mode: Mode,
        lease: LeaseOpen,
    ) -> Result<Store, super::OpenError> {
        super::open_sqlite::install_drivers();
        let schema = connection.schema();
        let secret = Secret::new(url);
        if mode == Mode::Writer {
            migrate_schema(&secret, &schema).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect(url)
            .await
            .map_err(open_err(url))?;
        let keeper = match mode {
            Mode::Writer => {
                match LeaseKeeper::start(&pool, &schema, &redact_password(url), lease).await {
                    Ok(k) => Some(std::sync::Arc::new(k)),
                    Err(e) => {
                        pool.close().await;
                        return Err(e.into());
                    }
                }
            }
            Mode::ReadOnly => None,
        };
        let store = Store {
            pool,
            mode,
            url: redact_password(url),
            path: None,
            guard: None,
            backend: Backend::Postgres {
                schema,
                url: secret,
            },
            lease: keeper,
        };
        if mode == Mode::ReadOnly {
            if let Err(e) = store.check_schema_is_current().await {
                store.pool.close().await;
                return Err(e.into());
            }
        }
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Mode, OpenError, Store, StoreError};
    use crate::domain::RecordRef;
    use chrono::Utc;
    use std::collections::BTreeMap;

    /// Two connection names in one database: each its own schema, neither sees the other's
    /// rows, and the same ids may exist in both.
    #[tokio::test]
    async fn two_connections_in_one_database_never_see_each_others_rows() {
        let Some(url) = pg_url("two_connections_in_one_database_never_see_each_others_rows") else {
            return;
        };
        let (na, nb) = (fresh_connection(), fresh_connection());
        let a = pg_connection(&url, &na, Mode::Writer).await;
        let b = pg_connection(&url, &nb, Mode::Writer).await;
        assert_eq!(a.schema(), Some(na.schema().as_str()));
        let la = a
            .create_link(&hs("1"), gg(1), &BTreeMap::new(), "sync", t(1))
            .await
            .unwrap();
        // The same pair is free in the other connection.
        let lb = b
            .create_link(&hs("1"), gg(1), &BTreeMap::new(), "sync", t(1))
            .await
            .unwrap();
        b.create_link(&hs("2"), gg(2), &BTreeMap::new(), "sync", t(1))
            .await
            .unwrap();
        a.quarantine(
            &RecordRef::Gorgias(gg(7)),
            "bad",
            &serde_json::json!({}),
            "sync",
            t(2),
        )
        .await
        .unwrap();
        assert_eq!(a.counts().await.unwrap().links, 1);
        assert_eq!(b.counts().await.unwrap().links, 2);
        assert_eq!(a.link_by_gorgias(gg(2)).await.unwrap(), None);
        let q = RecordRef::Gorgias(gg(7));
        assert!(a.quarantined(&q).await.unwrap().is_some());
        assert_eq!(b.quarantined(&q).await.unwrap(), None);
        assert_eq!(la.hubspot, lb.hubspot);
        // A reader of one connection sees that connection only.
        let ra = pg_connection(&url, &na, Mode::ReadOnly).await;
        assert_eq!(ra.counts().await.unwrap().links, 1);
        ra.close().await;
        drop_store(a).await;
        drop_store(b).await;
    }

    /// A reader never migrates and refuses writes, as on SQLite; a connection nobody has
    /// written yet is refused to a reader with the schema message.
    #[tokio::test]
    async fn a_read_only_connection_cannot_write_and_needs_a_migrated_schema() {
        let Some(url) = pg_url("a_read_only_connection_cannot_write_and_needs_a_migrated_schema")
        else {
            return;
        };
        let name = fresh_connection();
        let err = super::super::Store::open_store_url(
            &crate::config::StoreUrl::Postgres {
                url: url.clone(),
                connection: name.clone(),
            },
            1_000,
            Mode::ReadOnly,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                OpenError::Store(StoreError::SchemaTooOld { found: 0, .. })
            ),
            "{err}"
        );
        let w = pg_connection(&url, &name, Mode::Writer).await;
        let r = pg_connection(&url, &name, Mode::ReadOnly).await;
        assert_eq!(r.mode(), Mode::ReadOnly);
        let err = r.start_cycle(Utc::now()).await.unwrap_err();
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
        assert_eq!(r.last_cycle().await.unwrap(), None);
        r.close().await;
        drop_store(w).await;
    }

    /// Opening a writer again migrates nothing; the schema version is the PostgreSQL
    /// migrations' latest, and `_sqlx_migrations` lives in the connection's schema.
    #[tokio::test]
    async fn a_second_writer_open_is_a_no_op_migration() {
        let Some(url) = pg_url("a_second_writer_open_is_a_no_op_migration") else {
            return;
        };
        let name = fresh_connection();
        let a = pg_connection(&url, &name, Mode::Writer).await;
        let state = a.schema_state().await.unwrap();
        assert_eq!(state.version, a.latest_version());
        // While `a` holds the writer lease, a second writer is refused, naming it.
        let pg_url = crate::config::StoreUrl::Postgres {
            url: url.clone(),
            connection: name.clone(),
        };
        let err = Store::open_store_url(&pg_url, 5_000, Mode::Writer)
            .await
            .unwrap_err();
        assert!(
            matches!(err, OpenError::Store(StoreError::LeaseHeld { .. })),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        a.close().await;
        // Once it is released, the next writer migrates nothing.
        let b = pg_connection(&url, &name, Mode::Writer).await;
        assert_eq!(b.schema_state().await.unwrap(), state);
        let in_schema: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables
             WHERE table_schema = $1 AND table_name = '_sqlx_migrations'",
        )
        .bind(name.schema())
        .fetch_one(&mut *b.read().await.unwrap())
        .await
        .unwrap();
        assert_eq!(in_schema, 1);
        drop_store(b).await;
    }

    /// A writer whose lease another process took over can no longer write: each write
    /// transaction is refused by the fence and rolls back; reads go on.
    #[tokio::test]
    async fn a_writer_whose_lease_was_taken_over_writes_nothing() {
        let Some(s) = pg("a_writer_whose_lease_was_taken_over_writes_nothing").await else {
            return;
        };
        let lease = s.lease().expect("a PostgreSQL writer holds the lease");
        assert_eq!(lease.epoch(), Some(1));
        assert!(lease.is_valid_now());
        s.start_cycle(t(1)).await.unwrap();
        // Another process takes the lease over (as after this one stalled).
        let mut tx = s.pool.begin().await.unwrap();
        sqlx::query("SELECT set_config('search_path', $1, true)")
            .bind(s.schema().unwrap())
            .execute(&mut *tx)
            .await
            .unwrap();
        sqlx::query("UPDATE lease SET holder = 'another', epoch = epoch + 1")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let err = s.start_cycle(t(2)).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NotLeader {
                    epoch_now: Some(2),
                    mine: Some(1)
                }
            ),
            "{err}"
        );
        assert!(matches!(
            s.enqueue_writes(&[], t(3)).await.unwrap_err(),
            StoreError::NotLeader { .. }
        ));
        // Reads still work, and the refused cycle left no row.
        assert_eq!(s.last_cycle().await.unwrap().unwrap().started_at, t(1));
        // The schema is dropped by a raw transaction: this store may not write any more.
        let mut raw = s.pool.acquire().await.unwrap();
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", s.schema().unwrap());
        sqlx::query(&sql).execute(&mut *raw).await.unwrap();
        drop(raw);
        s.close().await;
    }

    /// PostgreSQL text cannot hold U+0000: such a write is refused with a query error and
    /// stores nothing (SQLite stores it). Inside JSON it is an escape and round-trips.
    #[tokio::test]
    async fn a_nul_character_is_refused_in_text_and_kept_in_json() {
        let Some(s) = pg("a_nul_character_is_refused_in_text_and_kept_in_json").await else {
            return;
        };
        let g = RecordRef::Gorgias(gg(3));
        let err = s
            .quarantine(&g, NASTY, &serde_json::json!({}), "sync", t(1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Query { .. }), "{err}");
        assert_eq!(s.quarantined(&g).await.unwrap(), None);
        s.quarantine(
            &g,
            "ok",
            &serde_json::json!({ "name": NASTY }),
            "sync",
            t(1),
        )
        .await
        .unwrap();
        assert_eq!(
            s.quarantined(&g).await.unwrap().unwrap().detail,
            serde_json::json!({ "name": NASTY })
        );
        drop_store(s).await;
    }
}
