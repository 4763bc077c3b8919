//! The lease against a real PostgreSQL (`TETHER_TEST_PG_URL`): races, takeovers, fencing and
//! the lock order between a takeover and in-flight writes. Each test works in a schema of its
//! own, dropped at the end. Without a server the tests say so and pass, except under
//! `CI=true`, where a missing server is a failure.

use super::*;
use sqlx::AnyPool;
use std::sync::Arc;

/// The test server's URL; `None` (with a notice) outside CI when there is none.
fn pg_url() -> Option<String> {
    match std::env::var("TETHER_TEST_PG_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but TETHER_TEST_PG_URL is not set: CI must start a PostgreSQL server")
        }
        _ => {
            eprintln!(
                "skipped: the lease tests need PostgreSQL; set TETHER_TEST_PG_URL=postgres://… (see scripts/pg-test-server)"
            );
            None
        }
    }
}

/// A fresh schema holding the lease table and a `probe` table to write to.
struct Db {
    pool: AnyPool,
    schema: String,
}

impl Db {
    async fn new() -> Option<Db> {
        let url = pg_url()?;
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .expect("connect to TETHER_TEST_PG_URL");
        let schema = format!("t_lease_{}", uuid::Uuid::new_v4().simple());
        let mut conn = pool.acquire().await.unwrap();
        sqlx::raw_sql(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema};"
        ))
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::raw_sql(include_str!(
            "../../../migrations/postgres/20261207000200_lease.sql"
        ))
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::raw_sql("CREATE TABLE probe (n BIGINT NOT NULL); RESET search_path;")
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        Some(Db { pool, schema })
    }

    fn lease(&self, ttl: Duration) -> Arc<Lease> {
        Arc::new(Lease::new(self.schema.clone(), ttl))
    }

    async fn conn(&self) -> sqlx::pool::PoolConnection<sqlx::Any> {
        self.pool.acquire().await.unwrap()
    }

    /// A write transaction as the store begins one: its schema first.
    async fn write_tx(&self) -> sqlx::Transaction<'static, sqlx::Any> {
        let mut tx = self.pool.begin().await.unwrap();
        sqlx::query("SELECT set_config('search_path', $1, true)")
            .bind(&self.schema)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx
    }

    async fn probes(&self) -> Vec<i64> {
        let mut tx = self.write_tx().await;
        let rows = sqlx::query_scalar("SELECT n FROM probe ORDER BY n")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        rows
    }

    /// Whether the lease row has expired by the database's clock.
    async fn expired(&self) -> bool {
        let mut tx = self.write_tx().await;
        let e: i64 = sqlx::query_scalar(
            "SELECT CAST(CASE WHEN expires_at <= now() THEN 1 ELSE 0 END AS BIGINT) FROM lease",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        e == 1
    }

    async fn drop_schema(self) {
        sqlx::raw_sql(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&self.pool)
            .await
            .unwrap();
        self.pool.close().await;
    }
}

async fn insert_probe(tx: &mut AnyConnection, n: i64) {
    sqlx::query("INSERT INTO probe (n) VALUES ($1)")
        .bind(n)
        .execute(&mut *tx)
        .await
        .unwrap();
}

/// Polls `f` every 50 ms until it is true, failing after `within`.
async fn until<F, Fut>(within: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn acquire(db: &Db, lease: &Lease) -> Attempt {
    lease.try_acquire(&mut *db.conn().await).await.unwrap()
}

#[tokio::test]
async fn two_leases_race_and_one_wins() {
    let Some(db) = Db::new().await else { return };
    let ttl = Duration::from_secs(30);
    let (a, b) = (db.lease(ttl), db.lease(ttl));
    let (ca, cb) = (db.conn().await, db.conn().await);
    let (ra, rb) = tokio::join!(
        async {
            let mut c = ca;
            a.try_acquire(&mut c).await.unwrap()
        },
        async {
            let mut c = cb;
            b.try_acquire(&mut c).await.unwrap()
        }
    );
    let (winner, loser, lost) = match (&ra, &rb) {
        (Attempt::Leader { .. }, Attempt::Standby { .. }) => (&a, &b, &rb),
        (Attempt::Standby { .. }, Attempt::Leader { .. }) => (&b, &a, &ra),
        other => panic!("exactly one must win: {other:?}"),
    };
    assert_eq!(winner.epoch(), Some(1));
    assert!(winner.is_valid_now());
    assert_eq!(loser.role(), Role::Standby);
    assert!(!loser.is_valid_now());
    // The loser is told who holds it (or, if the winner's row was locked, nothing yet).
    if let Attempt::Standby { holder: Some(h) } = lost {
        assert_eq!((h.epoch, h.pid), (1, i64::from(std::process::id())));
    }
    let Attempt::Standby { holder: Some(h) } = acquire(&db, loser).await else {
        panic!("the lease is live: the loser stays standby")
    };
    assert_eq!(h.epoch, 1);
    assert!(h.since.starts_with("20") && h.expires_at > h.since, "{h:?}");
    // Only the winner renews; the loser holds nothing to renew.
    assert!(winner.renew(&mut *db.conn().await).await.unwrap());
    assert!(!loser.renew(&mut *db.conn().await).await.unwrap());
    assert_eq!(winner.renewals_total(), 1);
    // Acquiring again what one holds keeps the epoch.
    assert_eq!(acquire(&db, winner).await, Attempt::Leader { epoch: 1 });
    db.drop_schema().await;
}

#[tokio::test]
async fn the_loser_takes_over_after_expiry_with_a_higher_epoch_and_the_old_holder_is_fenced() {
    let Some(db) = Db::new().await else { return };
    let ttl = Duration::from_secs(1);
    let (a, b) = (db.lease(ttl), db.lease(ttl));
    assert_eq!(acquire(&db, &a).await, Attempt::Leader { epoch: 1 });
    // a's fenced write lands while it leads.
    let mut tx = db.write_tx().await;
    assert_eq!(a.fence_in(&mut tx).await.unwrap(), 1);
    insert_probe(&mut tx, 1).await;
    tx.commit().await.unwrap();
    assert!(matches!(
        acquire(&db, &b).await,
        Attempt::Standby { holder: Some(_) }
    ));
    // a stops renewing (stalled); once the row expires by the database's clock, b takes over.
    until(
        Duration::from_secs(10),
        "b takes the lease over",
        || async { matches!(acquire(&db, &b).await, Attempt::Leader { .. }) },
    )
    .await;
    assert_eq!(b.epoch(), Some(2));
    // a still believes it holds epoch 1 (it has not renewed since), but is no longer certain.
    assert_eq!(a.epoch(), Some(1));
    assert!(!a.is_valid_now());
    // Its write is refused inside its own transaction, which rolls back.
    let mut tx = db.write_tx().await;
    insert_probe(&mut tx, 2).await;
    let err = a.fence_in(&mut tx).await.unwrap_err();
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
    assert!(err.to_string().contains("epoch 2"), "{err}");
    tx.rollback().await.unwrap();
    // b's write lands.
    let mut tx = db.write_tx().await;
    assert_eq!(b.fence_in(&mut tx).await.unwrap(), 2);
    insert_probe(&mut tx, 3).await;
    tx.commit().await.unwrap();
    assert_eq!(db.probes().await, vec![1, 3]);
    // a's next renewal finds the lease gone: standby, counted as lost; its fence refuses.
    assert!(!a.renew(&mut *db.conn().await).await.unwrap());
    assert_eq!((a.role(), a.lost_total()), (Role::Standby, 1));
    let mut tx = db.write_tx().await;
    assert!(matches!(
        a.fence_in(&mut tx).await.unwrap_err(),
        StoreError::NotLeader {
            epoch_now: Some(2),
            mine: None
        }
    ));
    tx.rollback().await.unwrap();
    db.drop_schema().await;
}

#[tokio::test]
async fn a_takeover_waits_for_an_in_flight_fenced_transaction() {
    let Some(db) = Db::new().await else { return };
    let ttl = Duration::from_secs(1);
    let (a, b) = (db.lease(ttl), db.lease(ttl));
    assert_eq!(acquire(&db, &a).await, Attempt::Leader { epoch: 1 });
    let mut tx = db.write_tx().await;
    a.fence_in(&mut tx).await.unwrap();
    insert_probe(&mut tx, 1).await;
    // The lease expires while a's transaction is in flight (and not idle for long: it keeps
    // talking to the server, as a live writer does).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !db.expired().await {
        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
        assert!(Instant::now() < deadline, "the lease never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // b's takeover queues for the row's lock, gives up after its lock wait, and stays standby.
    for _ in 0..3 {
        sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap();
        assert_eq!(
            acquire(&db, &b).await,
            Attempt::Standby { holder: None },
            "a takeover must wait for the in-flight fenced transaction"
        );
    }
    // A takeover already waiting when a commits gets the lease right after.
    let waiting = {
        let (b, mut conn) = (b.clone(), db.conn().await);
        tokio::spawn(async move { b.try_acquire(&mut conn).await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.commit().await.unwrap();
    let got = waiting.await.unwrap();
    let got = match got {
        Attempt::Leader { .. } => got,
        // The spawned attempt had not queued yet (a loaded machine): the next one wins.
        Attempt::Standby { .. } => acquire(&db, &b).await,
    };
    assert_eq!(got, Attempt::Leader { epoch: 2 });
    // a's write committed before the takeover: kept.
    assert_eq!(db.probes().await, vec![1]);
    db.drop_schema().await;
}

#[tokio::test]
async fn a_renewal_never_waits_for_its_own_holders_writes() {
    let Some(db) = Db::new().await else { return };
    let a = db.lease(Duration::from_secs(3));
    acquire(&db, &a).await;
    let mut tx = db.write_tx().await;
    a.fence_in(&mut tx).await.unwrap();
    let started = Instant::now();
    // The renewal's lock wait is 1 s: a renewal that queued behind the fence would fail.
    assert!(a.renew(&mut *db.conn().await).await.unwrap());
    assert!(started.elapsed() < Duration::from_millis(900));
    tx.commit().await.unwrap();
    db.drop_schema().await;
}

#[tokio::test]
async fn a_stalled_fenced_transaction_is_cut_off_and_commits_nothing() {
    let Some(db) = Db::new().await else { return };
    let ttl = Duration::from_secs(1);
    let (a, b) = (db.lease(ttl), db.lease(ttl));
    acquire(&db, &a).await;
    let mut tx = db.write_tx().await;
    a.fence_in(&mut tx).await.unwrap();
    insert_probe(&mut tx, 1).await;
    // a stops mid-transaction (as under SIGSTOP): the server ends its idle transaction after
    // the cut-off, which frees the row, and b takes over.
    until(
        Duration::from_secs(15),
        "b takes the lease over",
        || async { matches!(acquire(&db, &b).await, Attempt::Leader { .. }) },
    )
    .await;
    assert_eq!(b.epoch(), Some(2));
    // a resumes and commits: nothing lands.
    assert!(tx.commit().await.is_err());
    assert!(!a.is_valid_now());
    assert_eq!(db.probes().await, Vec::<i64>::new());
    db.drop_schema().await;
}

#[tokio::test]
async fn a_one_shot_writer_is_refused_naming_the_live_holder() {
    let Some(db) = Db::new().await else { return };
    let ttl = Duration::from_secs(600);
    let (a, b) = (db.lease(ttl), db.lease(ttl));
    let url = "postgres://db.example/tether";
    assert_eq!(
        a.acquire_or_refuse(&mut *db.conn().await, url)
            .await
            .unwrap(),
        1
    );
    let err = b
        .acquire_or_refuse(&mut *db.conn().await, url)
        .await
        .unwrap_err();
    let StoreError::LeaseHeld { holder, .. } = &err else {
        panic!("expected LeaseHeld, got {err}");
    };
    assert_eq!(
        (holder.pid, holder.epoch),
        (i64::from(std::process::id()), 1)
    );
    let msg = err.to_string();
    for part in [
        url.to_owned(),
        format!("pid {}", std::process::id()),
        format!("host {}", holder.host),
        "epoch 1".to_owned(),
        "read-only commands".to_owned(),
    ] {
        assert!(msg.contains(&part), "{msg} lacks {part}");
    }
    assert_eq!(b.role(), Role::Standby);
    // Once the holder releases, the next one-shot writer gets in with a new epoch.
    a.release(&mut *db.conn().await).await.unwrap();
    assert_eq!(
        b.acquire_or_refuse(&mut *db.conn().await, url)
            .await
            .unwrap(),
        2
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn a_released_lease_is_taken_over_at_once() {
    let Some(db) = Db::new().await else { return };
    let ttl = Duration::from_secs(600);
    let (a, b) = (db.lease(ttl), db.lease(ttl));
    acquire(&db, &a).await;
    assert!(matches!(acquire(&db, &b).await, Attempt::Standby { .. }));
    a.release(&mut *db.conn().await).await.unwrap();
    assert_eq!((a.role(), a.lost_total()), (Role::Standby, 0));
    assert_eq!(acquire(&db, &b).await, Attempt::Leader { epoch: 2 });
    // Releasing a lease one does not hold changes nothing.
    a.release(&mut *db.conn().await).await.unwrap();
    assert_eq!(
        acquire(&db, &a).await,
        Attempt::Standby {
            holder: Lease::current_holder(&b, &mut *db.conn().await)
                .await
                .unwrap()
        }
    );
    db.drop_schema().await;
}

#[tokio::test]
async fn keepers_hold_one_leader_and_a_standby_takes_over_when_it_stops() {
    let Some(db) = Db::new().await else { return };
    let ttl = Duration::from_secs(1);
    let (a, b) = (db.lease(ttl), db.lease(ttl));
    let mut a_roles = a.subscribe();
    assert_eq!(acquire(&db, &a).await, Attempt::Leader { epoch: 1 });
    assert!(a_roles.has_changed().unwrap());
    assert_eq!(*a_roles.borrow_and_update(), Role::Leader);
    let ka = a.spawn_keeper(db.pool.clone(), KeepMode::AcquireAndRenew);
    let kb = b.spawn_keeper(db.pool.clone(), KeepMode::AcquireAndRenew);
    // Several lease times go by: a keeps renewing, b stays standby.
    until(
        Duration::from_secs(10),
        "a renews several times",
        || async { a.renewals_total() >= 6 },
    )
    .await;
    assert_eq!((a.role(), b.role()), (Role::Leader, Role::Standby));
    assert!(a.is_valid_now());
    // a's keeper stops (the process is killed): b takes over within about a lease time.
    ka.abort();
    let stopped = Instant::now();
    until(Duration::from_secs(10), "b takes over", || async {
        b.role() == Role::Leader
    })
    .await;
    assert!(stopped.elapsed() < ttl * 3, "took {:?}", stopped.elapsed());
    assert_eq!(b.epoch(), Some(2));
    kb.abort();
    db.drop_schema().await;
}
