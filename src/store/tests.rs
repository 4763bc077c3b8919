//! The store's own tests of opening, migrating and guarding a SQLite file (WAL, foreign
//! keys, the single writer, read-only refusals); each concern's operations are tested in its
//! own file, on both engines.

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
    assert!(
        matches!(err, OpenError::Store(StoreError::SchemaTooNew { .. })),
        "{err}"
    );
    let err = Store::open(&cfg).await.unwrap_err();
    assert!(
        matches!(err, OpenError::Store(StoreError::SchemaTooNew { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade tether"), "{err}");
}

#[tokio::test]
async fn a_second_writer_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = settings(dir.path());
    let first = Store::open(&cfg).await.unwrap();
    let err = Store::open(&cfg).await.unwrap_err();
    let OpenError::Sqlite(SqliteOpenError::Locked { holder, .. }) = &err else {
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
    assert!(
        matches!(err, OpenError::Sqlite(SqliteOpenError::Locked { .. })),
        "{err}"
    );
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
    assert!(
        matches!(err, OpenError::Sqlite(SqliteOpenError::Missing { .. })),
        "{err}"
    );
    assert!(!dir.path().join("none.db").exists());
}
