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
mod cycles;
mod echo;
mod guard;
mod lease;
mod links;
mod migrate;
mod open_postgres;
mod open_sqlite;
mod outbox;
mod proposals;
mod quarantine;
mod records;
mod snapshots;
mod status;
mod support;
mod tx;
mod unsettled;
mod watermarks;

pub use api::StateStore;
pub use audit::{AuditEntry, NewAudit};
pub use conflicts::{ConflictChoice, ConflictId, ConflictStatus, HeldConflict, SeenConflict};
pub use cycles::{Cycle, CycleId, CycleOutcome};
pub use guard::{HEARTBEAT_EVERY, Holder, STALE_AFTER, WriterGuard};
pub use lease::{Attempt, KeepMode, Lease, LeaseHolder, LeaseOpen, LeasePolicy, LeaseState, Role};
pub use links::{Link, LinkId, NewLink};
pub use migrate::{SchemaState, latest_version};
pub use outbox::{
    Completion, Done, FollowUp, NewWrite, OpKind, OutboxId, OutboxItem, OutboxStatus,
};
pub use proposals::{Decision, Pair, Proposal, ProposalId, ProposalInsert, ProposalStatus};
pub use quarantine::QuarantineEntry;
pub use records::RecordSeen;
pub use snapshots::{Scan, Snapshot};
pub use status::{Counts, RecordedWriter, StoreStatus};
pub use support::{CustomerFacts, FeedPosition, SupportFeed};
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
    #[error("writer lock file {path}: {source}")]
    LockFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
    /// then applies pending migrations. Refused with [`StoreError::Locked`] when another
    /// process holds the guard.
    /// On PostgreSQL it takes the writer lease instead, refused with
    /// [`StoreError::LeaseHeld`] while another live process holds it.
    pub async fn open(settings: &StoreSettings) -> Result<Store, StoreError> {
        let lease = LeaseOpen {
            ttl: settings.lease_ttl(),
            policy: LeasePolicy::Refuse,
        };
        Self::open_with(&settings.url, settings.busy_timeout_ms, Mode::Writer, lease).await
    }

    /// Opens an existing store for reading only: no guard, no migration, no file created.
    /// Fails with [`StoreError::Missing`] when the file does not exist, and with a schema
    /// error when the store's schema is not the one this binary knows.
    pub async fn open_read_only(settings: &StoreSettings) -> Result<Store, StoreError> {
        Self::open_store_url(&settings.url, settings.busy_timeout_ms, Mode::ReadOnly).await
    }

    /// Opens the store `url` names in `mode`: a SQLite file or memory, or on PostgreSQL
    /// the schema of the connection the URL carries.
    pub async fn open_store_url(
        url: &StoreUrl,
        busy_timeout_ms: u64,
        mode: Mode,
    ) -> Result<Store, StoreError> {
        Self::open_with(url, busy_timeout_ms, mode, LeaseOpen::default()).await
    }

    /// [`Store::open_store_url`] with the lease a PostgreSQL writer takes.
    pub(super) async fn open_with(
        url: &StoreUrl,
        busy_timeout_ms: u64,
        mode: Mode,
        lease: LeaseOpen,
    ) -> Result<Store, StoreError> {
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
    pub async fn open_in_memory() -> Result<Store, StoreError> {
        Self::open_url("sqlite::memory:", 5_000, Mode::Writer).await
    }

    /// Opens the store at `url` in `mode` (on PostgreSQL, connection `default`);
    /// [`Store::open`] and [`Store::open_read_only`] are the usual ways in.
    pub async fn open_url(
        url: &str,
        busy_timeout_ms: u64,
        mode: Mode,
    ) -> Result<Store, StoreError> {
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
    async fn open_sqlite(url: &str, busy_timeout_ms: u64, mode: Mode) -> Result<Store, StoreError> {
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
                    Err(e) => Err(e),
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
                    return Err(e);
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
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePool;

    #[test]
    fn urls_name_memory_or_a_file() {
        assert_eq!(target_of("sqlite::memory:").unwrap(), Target::Memory);
        assert_eq!(
            target_of("sqlite://tether.db").unwrap(),
            Target::File("tether.db".into())
        );
        assert_eq!(
            target_of("sqlite:///var/lib/t.db?mode=rwc").unwrap(),
            Target::File("/var/lib/t.db".into())
        );
        assert!(target_of("postgres://x").is_err());
        assert!(target_of("sqlite://").is_err());
    }

    #[test]
    fn timestamps_sort_as_text() {
        use chrono::TimeZone;
        let a = Utc.timestamp_opt(1_000, 5_000).unwrap();
        let b = Utc.timestamp_opt(1_000, 50_000).unwrap();
        let c = Utc.timestamp_opt(10_000, 0).unwrap();
        assert!(ts(a) < ts(b) && ts(b) < ts(c));
        assert_eq!(parse_ts("t", &ts(b)).unwrap(), b);
    }

    fn settings(dir: &Path) -> StoreSettings {
        StoreSettings {
            url: format!("sqlite://{}", dir.join("t.db").display())
                .parse()
                .unwrap(),
            busy_timeout_ms: 2_000,
            lease_seconds: 15,
        }
    }

    /// The schema as SQLite describes it, plus the migration bookkeeping.
    async fn schema_dump(s: &Store) -> (Vec<(String, String, Option<String>)>, i64) {
        let objects = sqlx::query_as(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
        )
        .fetch_all(s.pool())
        .await
        .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(s.pool())
            .await
            .unwrap();
        (objects, n)
    }

    #[tokio::test]
    async fn migrations_apply_to_an_empty_file_and_again_as_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(dir.path());
        let s = Store::open(&cfg).await.unwrap();
        let state = s.schema_state().await.unwrap();
        assert_eq!(state.version, latest_version());
        assert!(state.version > 0);
        let before = schema_dump(&s).await;
        assert!(before.0.iter().any(|(_, name, _)| name == "audit_log"));
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
        // Running them again changes nothing.
        s.migrate().await.unwrap();
        s.migrate().await.unwrap();
        assert_eq!(schema_dump(&s).await, before);
        s.close().await;
        // Opening an already-migrated store: same schema, data kept.
        let s = Store::open(&cfg).await.unwrap();
        assert_eq!(schema_dump(&s).await, before);
        s.close().await;
    }

    #[tokio::test]
    async fn a_schema_newer_than_the_binary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(dir.path());
        let s = Store::open(&cfg).await.unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99990101000000, 'from the future', 1, x'00', 0)",
        )
        .execute(s.pool())
        .await
        .unwrap();
        s.close().await;
        let err = Store::open_read_only(&cfg).await.unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
        let err = Store::open(&cfg).await.unwrap_err();
        assert!(matches!(err, StoreError::SchemaTooNew { .. }), "{err}");
        assert!(err.to_string().contains("upgrade tether"), "{err}");
    }

    #[tokio::test]
    async fn a_second_writer_is_refused_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(dir.path());
        let first = Store::open(&cfg).await.unwrap();
        let err = Store::open(&cfg).await.unwrap_err();
        let StoreError::Locked { holder, .. } = &err else {
            panic!("expected Locked, got {err}");
        };
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder, first.guard().unwrap().holder());
        let msg = err.to_string();
        for part in [
            format!("pid {}", std::process::id()),
            format!("host {}", holder.host),
            format!("since {}", holder.since),
        ] {
            assert!(msg.contains(&part), "{msg} lacks {part}");
        }
        assert!(holder.since.starts_with("20"), "{}", holder.since);
        // The lock file says the same.
        let text = std::fs::read_to_string(dir.path().join("t.db.lock")).unwrap();
        assert!(
            text.contains(&format!("pid={}", std::process::id())),
            "{text}"
        );

        // Readers do not need the guard.
        let reader = Store::open_read_only(&cfg).await.unwrap();
        assert_eq!(reader.counts().await.unwrap().links, 0);
        assert!(reader.status().await.unwrap().writer.is_some());

        // Once the first closes, a new writer gets in.
        first.close().await;
        let second = Store::open(&cfg).await.unwrap();
        second.close().await;
        reader.close().await;
    }

    #[tokio::test]
    async fn dropping_a_writer_frees_the_guard_and_its_row_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(dir.path());
        let first = Store::open(&cfg).await.unwrap();
        // Dropped without close(), as when a process dies: the OS lock goes with it, the
        // row stays, and a new writer from the same process takes it over.
        drop(first);
        let second = Store::open(&cfg).await.unwrap();
        second.close().await;
    }

    #[tokio::test]
    async fn a_live_writer_row_without_the_os_lock_still_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(dir.path());
        let s = Store::open(&cfg).await.unwrap();
        s.close().await;
        // Another host's writer with a fresh heartbeat (e.g. over a network share where
        // advisory locks do not reach): refused by the row.
        let w = Store::open_url(cfg.url.as_str(), 2_000, Mode::ReadOnly)
            .await
            .unwrap();
        w.close().await;
        let raw = SqlitePool::connect(cfg.url.as_str()).await.unwrap();
        let now = ts(Utc::now());
        sqlx::query(
            "INSERT INTO writer_lock (id, token, pid, host, since, heartbeat)
             VALUES (1, 'other', 4242, 'elsewhere', $1, $2)",
        )
        .bind(&now)
        .bind(&now)
        .execute(&raw)
        .await
        .unwrap();
        let err = Store::open(&cfg).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("pid 4242") && msg.contains("host elsewhere") && msg.contains(&now),
            "{msg}"
        );
        // A stale heartbeat is a dead writer: taken over.
        sqlx::query("UPDATE writer_lock SET heartbeat = '2000-01-01T00:00:00.000000Z'")
            .execute(&raw)
            .await
            .unwrap();
        raw.close().await;
        let s = Store::open(&cfg).await.unwrap();
        let me = s.status().await.unwrap().writer.unwrap();
        assert_eq!(me.holder.pid, std::process::id());
        s.close().await;
    }

    #[tokio::test]
    async fn concurrent_writes_from_one_writer_all_land() {
        use crate::domain::{GorgiasId, HubspotId};
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&settings(dir.path())).await.unwrap();
        let mut tasks = Vec::new();
        for i in 1..=40i64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let at = Utc::now();
                s.create_link(
                    &HubspotId::new(i.to_string()).unwrap(),
                    GorgiasId::new(i).unwrap(),
                    &std::collections::BTreeMap::new(),
                    "test",
                    at,
                )
                .await
                .map(|_| ())
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(s.counts().await.unwrap().links, 40);
        s.close().await;
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_symlinked_path_shares_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(dir.path());
        let first = Store::open(&cfg).await.unwrap();
        std::os::unix::fs::symlink(dir.path().join("t.db"), dir.path().join("alias.db")).unwrap();
        let via_link = StoreSettings {
            url: format!("sqlite://{}", dir.path().join("alias.db").display())
                .parse()
                .unwrap(),
            busy_timeout_ms: 2_000,
            lease_seconds: 15,
        };
        let err = Store::open(&via_link).await.unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        first.close().await;
    }

    #[tokio::test]
    async fn a_writer_whose_guard_was_taken_over_stops_writing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&settings(dir.path())).await.unwrap();
        s.start_cycle(Utc::now()).await.unwrap();
        let g = s.guard().unwrap();
        g.beat_now(s.pool()).await;
        assert!(!g.is_lost());
        // Another process decided this writer was dead and took the row.
        sqlx::query("UPDATE writer_lock SET token = 'someone-else'")
            .execute(s.pool())
            .await
            .unwrap();
        g.beat_now(s.pool()).await;
        assert!(g.is_lost());
        let err = s.start_cycle(Utc::now()).await.unwrap_err();
        assert!(matches!(err, StoreError::GuardLost), "{err}");
        assert!(matches!(
            s.enqueue_writes(&[], Utc::now()).await.unwrap_err(),
            StoreError::GuardLost
        ));
        // Reads still work.
        assert!(s.last_cycle().await.unwrap().is_some());
        s.close().await;
    }

    #[tokio::test]
    async fn a_read_only_store_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(dir.path());
        Store::open(&cfg).await.unwrap().close().await;
        let r = Store::open_read_only(&cfg).await.unwrap();
        assert_eq!(r.mode(), Mode::ReadOnly);
        let err = r.start_cycle(Utc::now()).await.unwrap_err();
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
        r.close().await;
    }

    #[tokio::test]
    async fn read_only_refuses_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("none.db").display());
        let err = Store::open_url(&url, 1000, Mode::ReadOnly)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Missing { .. }), "{err}");
        assert!(!dir.path().join("none.db").exists());
    }
}
