//! The store's only ways to the database: [`Store::read`] for reads and
//! [`Store::write_tx`] for writes. Every concern file goes through them, so that what a
//! backend needs at the start of each unit of work is done in one place.
//!
//! On PostgreSQL every unit of work — reads included — is a transaction that first runs
//! `SELECT set_config('search_path', $1, true)` with the connection's schema: local to the
//! transaction, so a pooled connection (or a PgBouncer server connection in transaction
//! mode) never carries one connection's schema into another's work.
//!
//! Owns beginning transactions and handing out connections. Must never run a query of the
//! store's tables itself.

use super::{Backend, Mode, QueryContext, Store, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Transaction};
use std::ops::{Deref, DerefMut};

/// A connection to read on: on SQLite a plain pooled connection (each statement sees a
/// consistent snapshot); on PostgreSQL a read-only transaction in the connection's schema.
/// Dropping it ends the transaction and returns the connection to the pool.
pub(crate) struct Reader(ReaderInner);

enum ReaderInner {
    Plain(PoolConnection<Any>),
    Tx(Transaction<'static, Any>),
}

impl Deref for Reader {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        match &self.0 {
            ReaderInner::Plain(c) => c,
            ReaderInner::Tx(t) => t,
        }
    }
}

impl DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match &mut self.0 {
            ReaderInner::Plain(c) => c,
            ReaderInner::Tx(t) => t,
        }
    }
}

impl Store {
    /// A connection to read on. Use `&mut *reader` as the executor; several statements may
    /// share one reader.
    pub(crate) async fn read(&self) -> Result<Reader, StoreError> {
        match &self.backend {
            Backend::Sqlite => {
                let conn = self.pool.acquire().await.ctx("get a connection")?;
                Ok(Reader(ReaderInner::Plain(conn)))
            }
            Backend::Postgres { schema, .. } => {
                let tx = self.begin_in_schema("BEGIN READ ONLY", schema).await?;
                Ok(Reader(ReaderInner::Tx(tx)))
            }
        }
    }

    /// Begins a transaction with `begin` and selects `schema` for it alone.
    async fn begin_in_schema(
        &self,
        begin: &'static str,
        schema: &str,
    ) -> Result<Transaction<'static, Any>, StoreError> {
        let mut tx = self
            .pool
            .begin_with(begin)
            .await
            .ctx("begin a transaction")?;
        sqlx::query("SELECT set_config('search_path', $1, true)")
            .bind(schema)
            .execute(&mut *tx)
            .await
            .ctx("select the connection's schema")?;
        Ok(tx)
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that concurrent tasks of the writer queue on the busy timeout instead
    /// of failing when a read transaction cannot be upgraded. On PostgreSQL it selects the
    /// connection's schema; a read-only store's transaction is `READ ONLY`, so its writes
    /// are refused as on SQLite ([`StoreError::ReadOnly`]).
    ///
    /// The one place every write begins, so the writer's fence lives here: on SQLite the
    /// writer guard's `lost` flag (below); on PostgreSQL the lease epoch (`lease.rs`), to be
    /// checked right after the schema is selected, inside the transaction that then
    /// commits the write, so a stale leader's write never commits.
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        match &self.backend {
            Backend::Sqlite => {
                if self.guard.as_ref().is_some_and(|g| g.is_lost()) {
                    return Err(StoreError::GuardLost);
                }
                self.pool
                    .begin_with("BEGIN IMMEDIATE")
                    .await
                    .ctx("begin a write transaction")
            }
            Backend::Postgres { schema, .. } => {
                let begin = match self.mode {
                    Mode::Writer => "BEGIN",
                    Mode::ReadOnly => "BEGIN READ ONLY",
                };
                let mut tx = self.begin_in_schema(begin, schema).await?;
                // The lease fence: refused (and rolled back) unless this process still
                // holds the lease at its epoch, which it keeps until `tx` ends.
                if let Some(k) = &self.lease {
                    k.lease.fence_in(&mut tx).await?;
                }
                Ok(tx)
            }
        }
    }
}
