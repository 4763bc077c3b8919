//! Opening the state store for a command: the one place that chooses the backend from the
//! typed store URL ([`StoreUrl`]) and hands a [`SharedStore`] to everything downstream (the
//! cycle, merges, the review page, the service), which never names a backend.
//!
//! Must never run a store operation itself: callers use the [`StateStore`] trait.
//!
//! [`StateStore`]: crate::store::StateStore

use crate::config::{StoreSettings, StoreUrl};
use crate::store::{Lease, Mode, OpenError, SharedStore, Store};
use std::sync::Arc;

/// Opens the store named by `settings.url` in `mode`: as its single writer (created and
/// migrated when needed, refused while another process writes) or for reading only.
pub async fn open(settings: &StoreSettings, mode: Mode) -> Result<SharedStore, OpenError> {
    let store = match &settings.url {
        // One store implementation serves both engines (sqlx::Any); it reads the URL's kind.
        StoreUrl::Sqlite { .. } | StoreUrl::Memory { .. } | StoreUrl::Postgres { .. } => match mode
        {
            Mode::Writer => Store::open(settings).await?,
            Mode::ReadOnly => Store::open_read_only(settings).await?,
        },
    };
    Ok(Arc::new(store))
}

/// Opens the store for `tether run`: as [`writer`], except that on PostgreSQL a lease held
/// by another live replica leaves this one standing by (it takes the lease when it can)
/// instead of refusing. Also hands out the lease, which the service and the cycle follow
/// (`None` on SQLite, whose single writer is the file lock).
pub async fn replica(
    settings: &StoreSettings,
) -> Result<(SharedStore, Option<Arc<Lease>>), OpenError> {
    let store = Store::open_replica(settings).await?;
    let lease = store.lease();
    Ok((Arc::new(store), lease))
}

/// Opens the store as its single writer ([`open`] in [`Mode::Writer`]).
pub async fn writer(settings: &StoreSettings) -> Result<SharedStore, OpenError> {
    open(settings, Mode::Writer).await
}

/// Opens an existing store for reading only ([`open`] in [`Mode::ReadOnly`]).
pub async fn reader(settings: &StoreSettings) -> Result<SharedStore, OpenError> {
    open(settings, Mode::ReadOnly).await
}

/// An empty in-memory writer store (e.g. `tether plan` before any sync created the store).
pub async fn in_memory() -> Result<SharedStore, OpenError> {
    Ok(Arc::new(Store::open_in_memory().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> StoreSettings {
        StoreSettings {
            url: url.parse().unwrap(),
            busy_timeout_ms: 2_000,
            lease_seconds: 15,
        }
    }

    #[tokio::test]
    async fn a_sqlite_url_opens_a_writer_then_readers_and_the_handle_says_how() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(&format!("sqlite://{}", dir.path().join("t.db").display()));
        let w = writer(&cfg).await.unwrap();
        assert_eq!(w.mode(), Mode::Writer);
        assert_eq!(w.url(), cfg.url.as_str());
        let me = w.writer().expect("the writer holds the guard");
        assert_eq!(me.pid, std::process::id());
        // A second writer is refused; a reader is not.
        assert!(matches!(
            writer(&cfg).await.unwrap_err(),
            OpenError::Sqlite(crate::store::SqliteOpenError::Locked { .. })
        ));
        let r = reader(&cfg).await.unwrap();
        assert_eq!(r.mode(), Mode::ReadOnly);
        assert!(r.writer().is_none());
        assert_eq!(r.status().await.unwrap().writer.unwrap().holder, me);
        r.close().await;
        // Closed through the trait (and dropped: the lock file goes with the last handle),
        // the guard is free for the next writer.
        w.close().await;
        drop(w);
        writer(&cfg).await.unwrap().close().await;
    }

    #[tokio::test]
    async fn a_reader_of_a_missing_file_is_told_so() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = settings(&format!("sqlite://{}", dir.path().join("no.db").display()));
        assert!(matches!(
            reader(&cfg).await.unwrap_err(),
            OpenError::Sqlite(crate::store::SqliteOpenError::Missing { .. })
        ));
    }
}
