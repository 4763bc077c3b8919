//! Connecting to the SQLite database behind a [`Store`](super::Store): reading the URL,
//! and the connection settings every pooled connection gets (WAL, synchronous NORMAL, busy
//! timeout, foreign keys, `query_only` for readers, one never-closing connection in memory).
//!
//! Owns the pool options only. Must never run a query of the store's own tables: the
//! concern files do that, through the store's transaction helpers (`tx.rs`).

use super::{Mode, SqliteOpenError, StoreError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions, Executor};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Once;

/// Where a SQLite store URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    Memory,
    File(PathBuf),
}

/// Reads a SQLite store URL with the configuration's one parser ([`crate::config::StoreUrl`]).
pub(super) fn target_of(url: &str) -> Result<Target, StoreError> {
    use crate::config::{StoreUrl, StoreUrlError};
    match url.parse::<StoreUrl>() {
        Ok(StoreUrl::Memory { .. }) => Ok(Target::Memory),
        Ok(StoreUrl::Sqlite { path, .. }) => Ok(Target::File(path)),
        Ok(StoreUrl::Postgres { .. }) => Err(StoreError::BadUrl {
            url: crate::config::redact_password(url),
            reason: "expected sqlite://PATH or sqlite::memory:".into(),
        }),
        Err(e) => Err(StoreError::BadUrl {
            url: crate::config::redact_password(url),
            reason: match e {
                StoreUrlError::NotSqlite(_) => {
                    "expected sqlite://PATH, sqlite::memory: or postgres://…".to_owned()
                }
                StoreUrlError::EmptyPath(_) => "the path is empty".to_owned(),
                e @ StoreUrlError::BadPostgres(..) => e.to_string(),
            },
        }),
    }
}

/// Registers sqlx's drivers behind [`sqlx::Any`], once per process.
pub(super) fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// The per-connection settings, run on every new connection of the pool. PRAGMAs take no
/// binds; every value here is one of ours (an integer or a keyword), never input text.
fn sqlite_pragmas(target: &Target, mode: Mode, busy_timeout_ms: u64) -> Vec<String> {
    let mut p = vec![
        format!("PRAGMA busy_timeout = {busy_timeout_ms}"),
        "PRAGMA foreign_keys = ON".to_owned(),
    ];
    match (target, mode) {
        (Target::Memory, _) => {}
        (Target::File(_), Mode::Writer) => {
            p.push("PRAGMA journal_mode = WAL".to_owned());
            p.push("PRAGMA synchronous = NORMAL".to_owned());
        }
        // `query_only` rather than a read-only file handle: a WAL reader must be able to
        // create the shared-memory file when no writer is running.
        (Target::File(_), Mode::ReadOnly) => p.push("PRAGMA query_only = ON".to_owned()),
    }
    p
}

/// Opens the pool of a SQLite store: returns it with the database file (`None` in memory).
/// A reader is refused a missing file ([`SqliteOpenError::Missing`]) and an in-memory URL.
pub(super) async fn sqlite_pool(
    url: &str,
    busy_timeout_ms: u64,
    mode: Mode,
) -> Result<(AnyPool, Option<PathBuf>), super::OpenError> {
    install_drivers();
    let target = target_of(url)?;
    if (mode, &target) == (Mode::ReadOnly, &Target::Memory) {
        return Err(super::OpenError::Store(StoreError::BadUrl {
            url: url.to_owned(),
            reason: "an in-memory store lives only inside the process that opened it, so there is nothing to read".into(),
        }));
    }
    if let (Mode::ReadOnly, Target::File(p)) = (mode, &target) {
        if !p.exists() {
            return Err(SqliteOpenError::Missing { path: p.clone() }.into());
        }
    }
    let open_err = |source| StoreError::Open {
        url: url.to_owned(),
        source,
    };
    // The URL's own parameters (e.g. `?mode=rwc`) are read by SQLite's parser, then the
    // file-opening flags go to the `Any` driver as a normalised URL; the PRAGMAs below
    // carry the rest.
    let any_url = match &target {
        // One connection that never closes (below): the database lives as long as the pool.
        Target::Memory => "sqlite::memory:".to_owned(),
        // Absolute, because the normalised URL would read a relative path's first
        // component as a (lower-cased) host name.
        Target::File(p) => SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .filename(std::path::absolute(p).unwrap_or_else(|_| p.clone()))
            .create_if_missing(mode == Mode::Writer)
            .to_url_lossy()
            .to_string(),
    };
    let options = AnyConnectOptions::from_str(&any_url).map_err(open_err)?;
    let pragmas = std::sync::Arc::new(sqlite_pragmas(&target, mode, busy_timeout_ms));
    // No ping when a connection is taken from the pool: a connection to a local file
    // cannot go stale the way a network one can, and the ping is a round trip to sqlx's
    // SQLite worker thread, as costly as a statement (`benches/store.rs`).
    let mut pool_options = AnyPoolOptions::new()
        .test_before_acquire(false)
        .after_connect(move |conn, _meta| {
            let pragmas = pragmas.clone();
            Box::pin(async move {
                for p in pragmas.iter() {
                    conn.execute(p.as_str()).await?;
                }
                Ok(())
            })
        });
    pool_options = match (&target, mode) {
        (Target::Memory, _) => pool_options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None),
        (Target::File(_), Mode::Writer) => pool_options.max_connections(4),
        (Target::File(_), Mode::ReadOnly) => pool_options.max_connections(2),
    };
    let pool = pool_options.connect_with(options).await.map_err(open_err)?;
    let path = match target {
        Target::File(p) => Some(p),
        Target::Memory => None,
    };
    Ok((pool, path))
}
