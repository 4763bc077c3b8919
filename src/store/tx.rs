//! The store's only ways to the database: [`Store::read`] for reads and
//! [`Store::write_tx`] for writes. Every concern file goes through them, so that what a
//! backend needs at the start of each unit of work is done in one place.
//!
//! Owns beginning transactions and handing out connections. Must never run a query of the
//! store's tables itself.

use super::{QueryContext, Store, StoreError};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Transaction};
use std::ops::{Deref, DerefMut};

/// A connection to read on: on SQLite a plain pooled connection (each statement sees a
/// consistent snapshot). Dropping it returns the connection to the pool.
pub(crate) struct Reader(ReaderInner);

enum ReaderInner {
    Plain(PoolConnection<Any>),
    #[allow(dead_code)] // a backend whose reads need a transaction (PostgreSQL) uses it
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
        let conn = self.pool.acquire().await.ctx("get a connection")?;
        Ok(Reader(ReaderInner::Plain(conn)))
    }

    /// Begins a write transaction that takes SQLite's write lock at once (`BEGIN
    /// IMMEDIATE`), so that concurrent tasks of the writer queue on the busy timeout instead
    /// of failing when a read transaction cannot be upgraded.
    ///
    /// The one place every write begins: the writer's fence (today the SQLite writer
    /// guard's `lost` flag; on PostgreSQL the lease epoch) is checked here, inside the
    /// transaction that then commits the write.
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        if self.guard.as_ref().is_some_and(|g| g.is_lost()) {
            return Err(StoreError::GuardLost);
        }
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .ctx("begin a write transaction")
    }
}
