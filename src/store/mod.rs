//! The SQLite state store: the only module with SQL.
//!
//! Owns the database file: opening it (WAL, busy timeout, foreign keys), applying the
//! embedded migrations, the single-writer guard, and a typed API over every table (records
//! seen, links and their bases, watermarks, the outbox, merge proposals, aliases, quarantine,
//! held conflicts, unsettled records, the audit log and cycles, record snapshots and duplicate
//! scans). Each concern has its own file of `impl Store` methods.
//!
//! Must never read the clock (callers pass every time value in; the writer guard's `since`
//! and heartbeat are the only exception), never call the network, and never build SQL by
//! formatting values into it: every value goes through a bind.

mod aliases;
mod api;
mod audit;
mod bases;
mod conflicts;
mod connections;
mod cycles;
mod echo;
mod guard;
mod lease;
mod links;
mod migrate;
mod open_error;
mod open_postgres;
mod open_sqlite;
mod outbox;
mod proposals;
mod quarantine;
mod records;
mod snapshots;
mod status;
mod support;
mod support_notes;
mod tx;
mod unsettled;
mod watermarks;

pub use api::{SharedStore, StateStore};
pub use audit::{AuditEntry, NewAudit};
pub use conflicts::{ConflictChoice, ConflictId, ConflictStatus, HeldConflict, SeenConflict};
pub use connections::connections_in;
pub use cycles::{Cycle, CycleId, CycleOutcome};
pub use guard::{HEARTBEAT_EVERY, Holder, STALE_AFTER, WriterGuard};
pub use lease::{Attempt, KeepMode, Lease, LeaseHolder, LeaseOpen, LeasePolicy, LeaseState, Role};
pub use links::{Link, LinkId, NewLink};
pub use migrate::{SchemaState, latest_version};
pub use open_error::{OpenError, SqliteOpenError};
pub use outbox::{
    Completion, Done, FollowUp, NewWrite, OpKind, OutboxId, OutboxItem, OutboxStatus,
};
pub use proposals::{Decision, Pair, Proposal, ProposalId, ProposalInsert, ProposalStatus};
pub use quarantine::QuarantineEntry;
pub use records::RecordSeen;
pub use snapshots::{Scan, Snapshot};
pub use status::{Counts, RecordedWriter, StoreStatus, SupportStatus};
pub use support::{CustomerFacts, FeedPosition, SupportFeed};
pub use support_notes::{NotesStatus, OwedNote};
pub use unsettled::{
    Dismissal, FailureClass, NewRefusal, RetrySelection, Unsettled, UnsettledFilter, UnsettledId,
};
pub use watermarks::Watermark;

use crate::config::{StoreSettings, StoreUrl};
use crate::domain::{IdError, RecordRef, System};
use crate::secret::Secret;
use chrono::{DateTime, SecondsFormat, Utc};
#[cfg(test)]
use open_sqlite::{Target, target_of};
use sqlx::AnyPool;
use std::path::{Path, PathBuf};

/// Everything that can go wrong in the store, phrased for the person reading the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store URL {url:?} is not usable: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot open the store {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// This writer stalled so long that another process took the guard over.
    #[error(
        "this process is no longer the store's writer: another process took the writer lock over after this one stopped refreshing it; restart tether"
    )]
    GuardLost,
    /// A write by a process not holding the PostgreSQL lease (any more): it rolls back.
    #[error(
        "this process is not the store's leader, so its write is refused: the lease is at epoch {}, this process holds {}",
        epoch_now.map_or_else(|| "none (never taken)".to_owned(), |e| e.to_string()),
        mine.map_or_else(|| "none".to_owned(), |e| format!("epoch {e}"))
    )]
    NotLeader {
        epoch_now: Option<i64>,
        mine: Option<i64>,
    },
    /// The lease was not renewed within its time: no API write is sent.
    #[error(
        "this process cannot be sure it still holds the store's lease (epoch {}): not renewed within the lease time, so it sends no write",
        mine.map_or_else(|| "none".to_owned(), |e| e.to_string())
    )]
    LeaseUncertain { mine: Option<i64> },
    /// Another live process holds the PostgreSQL store's lease.
    #[error(
        "the store {url} is in use by another tether writer: {holder}; stop that process or wait for its lease to expire (read-only commands such as `tether status` still work)"
    )]
    LeaseHeld { url: String, holder: LeaseHolder },
    #[error("applying the store's migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "the store's schema is version {found} but this tether knows only up to {known}: upgrade tether"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error(
        "the store's schema is version {found} but this tether needs {known}: run a writing command (e.g. `tether doctor`) to migrate it"
    )]
    SchemaTooOld { found: i64, known: i64 },
    #[error("the store is open read-only, so it cannot {op}")]
    ReadOnly { op: &'static str },
    #[error("store: cannot {op}: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("the store holds an invalid {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("{what} not found in the store")]
    NotFound { what: String },
    /// The caller asked for something the store's invariants forbid.
    #[error("refused: {0}")]
    Conflict(String),
}

impl From<IdError> for StoreError {
    fn from(e: IdError) -> Self {
        StoreError::Corrupt {
            what: "record id",
            detail: e.to_string(),
        }
    }
}

/// Attaches what the store was doing to a sqlx error.
pub(crate) trait QueryContext<T> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError>;
}

/// Whether the database refused a write because the store is read-only: SQLite's
/// `SQLITE_READONLY` (8) and its extended codes (8 + 256 * n) under `query_only`, or
/// PostgreSQL's `read_only_sql_transaction` (25006) in a `READ ONLY` transaction.
fn is_read_only_refusal(e: &sqlx::Error) -> bool {
    let Some(d) = e.as_database_error() else {
        return false;
    };
    let Some(code) = d.code() else {
        return false;
    };
    if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        code.parse::<i64>().is_ok_and(|c| c & 0xff == 8)
    } else {
        code == "25006"
    }
}

impl<T> QueryContext<T> for Result<T, sqlx::Error> {
    fn ctx(self, op: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| {
            if is_read_only_refusal(&source) {
                StoreError::ReadOnly { op }
            } else {
                StoreError::Query { op, source }
            }
        })
    }
}

/// How a [`Store`] was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The single writer: migrations applied, guard held.
    Writer,
    /// Reading only (status, plan): no guard, no migration.
    ReadOnly,
}

/// An open state store. Cheap to clone (a shared connection pool); the writer guard is
/// released when the last clone of a writer store is dropped or [`Store::close`] is called.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    mode: Mode,
    url: String,
    path: Option<PathBuf>,
    guard: Option<std::sync::Arc<WriterGuard>>,
    backend: Backend,
    /// The writer lease (a PostgreSQL writer), with its keeper task.
    lease: Option<std::sync::Arc<lease::LeaseKeeper>>,
}

/// The database engine behind a store. Every query text is the same on both; what differs
/// is opening, migrating, and how each transaction begins (`tx.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One file (or memory), one connection, one writer guarded by a lock file.
    Sqlite,
    /// One schema per connection name in a shared database; writers hold a lease.
    Postgres,
}

/// What the store needs to know about its engine at run time.
#[derive(Debug, Clone)]
enum Backend {
    Sqlite,
    /// `schema` is `tether_<connection.name>`; `url` (with its password) reopens a
    /// dedicated connection to migrate.
    Postgres {
        schema: String,
        url: Secret,
    },
}

impl Store {
    /// Opens (creating when missing) the store as its single writer: takes the writer guard,
    /// then applies pending migrations. Refused with [`SqliteOpenError::Locked`] when another
    /// process holds the guard.
    /// On PostgreSQL it takes the writer lease instead, refused with
    /// [`StoreError::LeaseHeld`] while another live process holds it.
    pub async fn open(settings: &StoreSettings) -> Result<Store, OpenError> {
        let lease = LeaseOpen {
            ttl: settings.lease_ttl(),
            policy: LeasePolicy::Refuse,
        };
        Self::open_with(&settings.url, settings.busy_timeout_ms, Mode::Writer, lease).await
    }

    /// Opens an existing store for reading only: no guard, no migration, no file created.
    /// Fails with [`SqliteOpenError::Missing`] when the file does not exist, and with a schema
    /// error when the store's schema is not the one this binary knows.
    pub async fn open_read_only(settings: &StoreSettings) -> Result<Store, OpenError> {
        Self::open_store_url(&settings.url, settings.busy_timeout_ms, Mode::ReadOnly).await
    }

    /// Opens the store `url` names in `mode`: a SQLite file or memory, or on PostgreSQL
    /// the schema of the connection the URL carries.
    pub async fn open_store_url(
        url: &StoreUrl,
        busy_timeout_ms: u64,
        mode: Mode,
    ) -> Result<Store, OpenError> {
        Self::open_with(url, busy_timeout_ms, mode, LeaseOpen::default()).await
    }

    /// [`Store::open_store_url`] with the lease a PostgreSQL writer takes.
    pub(super) async fn open_with(
        url: &StoreUrl,
        busy_timeout_ms: u64,
        mode: Mode,
        lease: LeaseOpen,
    ) -> Result<Store, OpenError> {
        match url {
            StoreUrl::Postgres { url, connection } => {
                Self::open_postgres(url, connection, mode, lease).await
            }
            StoreUrl::Sqlite { url, .. } | StoreUrl::Memory { url } => {
                Self::open_sqlite(url, busy_timeout_ms, mode).await
            }
        }
    }

    /// Opens an in-memory writer store, for tests.
    pub async fn open_in_memory() -> Result<Store, OpenError> {
        Self::open_url("sqlite::memory:", 5_000, Mode::Writer).await
    }

    /// Opens the store at `url` in `mode` (on PostgreSQL, connection `default`);
    /// [`Store::open`] and [`Store::open_read_only`] are the usual ways in.
    pub async fn open_url(url: &str, busy_timeout_ms: u64, mode: Mode) -> Result<Store, OpenError> {
        match url.parse::<StoreUrl>() {
            Ok(u @ StoreUrl::Postgres { .. }) => {
                Self::open_store_url(&u, busy_timeout_ms, mode).await
            }
            // SQLite, or an error that its opening describes.
            _ => Self::open_sqlite(url, busy_timeout_ms, mode).await,
        }
    }

    /// Opens a SQLite store: as the writer, takes the guard (lock file, then row) and
    /// migrates; as a reader, checks the schema.
    async fn open_sqlite(url: &str, busy_timeout_ms: u64, mode: Mode) -> Result<Store, OpenError> {
        let (pool, path) = open_sqlite::sqlite_pool(url, busy_timeout_ms, mode).await?;
        let display = path
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| url.to_owned());
        match mode {
            Mode::Writer => {
                // The OS lock first, so that only the writer migrates; then the row, which
                // the migrations create.
                // Canonical, so that two paths to one file (a symlink) share one lock.
                let lock_path = path.as_deref().map(|p| {
                    guard::lock_path_for(&std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()))
                });
                let guard = match WriterGuard::lock_file(lock_path, &display) {
                    Ok(g) => std::sync::Arc::new(g),
                    Err(e) => {
                        pool.close().await;
                        return Err(e);
                    }
                };
                let store = Store {
                    pool,
                    mode,
                    url: url.to_owned(),
                    path,
                    guard: Some(guard.clone()),
                    backend: Backend::Sqlite,
                    lease: None,
                };
                let claimed = match store.migrate().await {
                    Ok(()) => guard.claim_row(&store.pool, &display).await,
                    Err(e) => Err(e.into()),
                };
                if let Err(e) = claimed {
                    store.pool.close().await;
                    return Err(e);
                }
                Ok(store)
            }
            Mode::ReadOnly => {
                let store = Store {
                    pool,
                    mode,
                    url: url.to_owned(),
                    path,
                    guard: None,
                    backend: Backend::Sqlite,
                    lease: None,
                };
                if let Err(e) = store.check_schema_is_current().await {
                    store.pool.close().await;
                    return Err(e.into());
                }
                Ok(store)
            }
        }
    }

    /// Refuses a store whose schema is not exactly the one this binary knows (a reader
    /// never migrates).
    async fn check_schema_is_current(&self) -> Result<(), StoreError> {
        let state = self.schema_state().await?;
        let known = self.latest_version();
        if state.version > known {
            return Err(StoreError::SchemaTooNew {
                found: state.version,
                known,
            });
        }
        if state.version < known {
            return Err(StoreError::SchemaTooOld {
                found: state.version,
                known,
            });
        }
        Ok(())
    }

    /// Releases the writer guard (clears its row, stops its heartbeat) and closes the pool,
    /// for every clone of this store. Merely dropping the last clone also releases the OS
    /// lock; the row is then taken over as stale by the next writer.
    pub async fn close(self) {
        if let Some(g) = &self.guard {
            g.release(&self.pool).await;
        }
        if let Some(k) = &self.lease {
            k.stop(&self.pool).await;
        }
        self.pool.close().await;
    }

    /// How this store was opened.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The database engine.
    pub fn engine(&self) -> Engine {
        match self.backend {
            Backend::Sqlite => Engine::Sqlite,
            Backend::Postgres { .. } => Engine::Postgres,
        }
    }

    /// The PostgreSQL schema of this store's connection (`tether_<connection.name>`), or
    /// `None` on SQLite.
    pub fn schema(&self) -> Option<&str> {
        match &self.backend {
            Backend::Sqlite => None,
            Backend::Postgres { schema, .. } => Some(schema),
        }
    }

    /// The URL the store was opened from (any password replaced by `***`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The writer guard this store holds, if it is the writer.
    pub fn guard(&self) -> Option<&WriterGuard> {
        self.guard.as_deref()
    }

    /// The pool itself, for tests that inspect SQLite directly.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// Numbered placeholders for a multi-row `VALUES` list: `($1, $2), ($3, $4)` for two rows of
/// two columns. Only placeholders are formatted into SQL; every value is bound.
pub(crate) fn values_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(r * cols + 1, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many rows of `cols` bound values one multi-row statement carries: about 200 values.
/// SQLite finds a numbered placeholder's name by a linear search, and sqlx asks for every
/// placeholder's name as it binds, so a statement's binding cost grows with the square of
/// its placeholders (800 cost ~1 ms); around 200 balances that against the round trip each
/// statement costs (`benches/store.rs`). Far below both engines' limits.
pub(crate) fn rows_per_statement(cols: usize) -> usize {
    (200 / cols.max(1)).max(1)
}

/// `n` numbered placeholders from `$first`, comma-separated (for `IN (...)` lists).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a time the way every store column holds it: RFC 3339, UTC, microseconds, `Z`,
/// so that text order is time order.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Reads a time column back.
pub(crate) fn parse_ts(what: &'static str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt {
            what,
            detail: format!("{s:?} is not an RFC 3339 time ({e})"),
        })
}

pub(crate) fn parse_opt_ts(
    what: &'static str,
    s: Option<String>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.map(|s| parse_ts(what, &s)).transpose()
}

pub(crate) fn parse_system(s: &str) -> Result<System, StoreError> {
    s.parse().map_err(|detail| StoreError::Corrupt {
        what: "system",
        detail,
    })
}

pub(crate) fn parse_ref(system: &str, id: &str) -> Result<RecordRef, StoreError> {
    Ok(RecordRef::parse(parse_system(system)?, id)?)
}

pub(crate) fn parse_json(what: &'static str, s: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests;
