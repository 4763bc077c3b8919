//! Why a store could not be opened: [`OpenError`], the error of `Store::open*` only.
//!
//! Owns the refusals that belong to one backend's way of opening (a SQLite file that does not
//! exist yet, another process holding its writer lock, the lock file itself), so that the
//! shared [`StoreError`], which every [`StateStore`](super::StateStore) operation returns,
//! names nothing backend-specific about opening. Must never be returned by an operation on an
//! open store.

use super::{Holder, StoreError};
use std::path::PathBuf;

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// A SQLite file's own refusals.
    #[error(transparent)]
    Sqlite(#[from] SqliteOpenError),
    /// What any store operation can fail with (a bad URL, the migrations, the schema
    /// version, a query, the PostgreSQL lease held by another process).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::migrate::MigrateError> for OpenError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        OpenError::Store(e.into())
    }
}

/// The refusals of opening a SQLite store file.
#[derive(Debug, thiserror::Error)]
pub enum SqliteOpenError {
    #[error(
        "no store at {path}: nothing has created it yet (a writing command such as `tether doctor` or a sync creates it)"
    )]
    Missing { path: PathBuf },
    /// Another process is the store's writer.
    #[error(
        "the store {path} is already in use by another tether writer: pid {pid} on host {host}, since {since}; stop that process first (read-only commands such as `tether status` still work)",
        pid = holder.pid,
        host = holder.host,
        since = holder.since
    )]
    Locked { path: String, holder: Holder },
    #[error("writer lock file {path}: {source}")]
    LockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl OpenError {
    /// The SQLite file does not exist yet.
    pub fn is_missing(&self) -> bool {
        matches!(self, OpenError::Sqlite(SqliteOpenError::Missing { .. }))
    }
}
