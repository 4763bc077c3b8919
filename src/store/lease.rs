//! The writer lease of a PostgreSQL store: one writer per connection (brand) among several
//! replicas, with a monotonic epoch that fences a former leader out.
//!
//! One row (`lease`, in the connection's schema) says who holds the lease, at which epoch and
//! until when, by the database's clock. It is taken and renewed by short statements of their
//! own (no session advisory lock, so it works behind PgBouncer in transaction mode):
//! - [`Lease::try_acquire`]: one upsert that takes the row only when it is free, expired or
//!   already ours, adding one to `epoch` on every takeover (`RETURNING epoch`), under a
//!   `lock_timeout` so a standby never hangs;
//! - [`Lease::renew`]: `expires_at = now() + ttl` where the holder and epoch are still ours
//!   (no row: the lease was lost), run every ttl/3 by [`Lease::spawn_keeper`];
//! - [`Lease::fence_in`]: inside every write transaction, reads the row `FOR KEY SHARE` and
//!   refuses ([`StoreError::NotLeader`]) unless it is still ours. A takeover changes `epoch`,
//!   a key column (the migration's `UNIQUE (id, epoch)`), so it needs the row's `FOR UPDATE`
//!   lock and waits for every in-flight fenced transaction: the check and the commit are
//!   atomic with respect to a takeover. A renewal changes no key column, so it never waits
//!   for its own holder's writes. The fence also sets `idle_in_transaction_session_timeout`,
//!   so a process stopped mid-transaction is cut off by the server and rolled back;
//! - [`Lease::release`]: on a clean shutdown, expires the row at once so a standby takes over
//!   without waiting.
//!
//! The rules (what a reply means, when to renew, until when the lease is certainly ours) are
//! pure, in `lease/state.rs`. Owns the `lease` row. Must never judge expiry by this process's
//! wall clock (only the database's `now()` and this process's monotonic clock, for its own
//! certainty), and never block a write or a standby indefinitely.

mod state;

pub use state::{LeaseHolder, LeaseState, Role};

use super::{QueryContext, StoreError};
use sqlx::{AnyConnection, Connection};
use state::{Change, Reply, Step};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What one attempt to acquire the lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// This process holds the lease at `epoch`.
    Leader { epoch: i64 },
    /// Another live process holds it (`None`: it could not be read in time; try again).
    Standby { holder: Option<LeaseHolder> },
}

/// What the keeper does besides renewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepMode {
    /// A one-shot command: renew what was acquired at open; never acquire again.
    RenewOnly,
    /// `tether run`: renew while leader, try to acquire while standby.
    AcquireAndRenew,
}

/// This process's side of the lease. Shared (`Arc`) by the store, its keeper task and the
/// service; every method takes `&self`.
#[derive(Debug)]
pub struct Lease {
    token: String,
    pid: i64,
    host: String,
    ttl: Duration,
    /// The connection's schema, set as the search path of every lease transaction.
    search_path: String,
    state: Mutex<LeaseState>,
    role: tokio::sync::watch::Sender<Role>,
    renewals: AtomicU64,
    lost: AtomicU64,
}

/// The row's times as the store writes times (RFC 3339, UTC, microseconds).
const HOLDER_SQL: &str = "SELECT holder, pid, host, epoch,
        to_char(acquired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
        to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),
        CAST(CASE WHEN expires_at > now() THEN 1 ELSE 0 END AS BIGINT)
    FROM lease WHERE id = 1";

type HolderRow = (
    Option<String>,
    Option<i64>,
    Option<String>,
    i64,
    Option<String>,
    String,
    i64,
);

/// The holder in a row, with its token and whether its lease is live by the database's clock.
fn holder_of(row: HolderRow) -> (LeaseHolder, Option<String>, bool) {
    let (token, pid, host, epoch, since, expires_at, live) = row;
    let holder = LeaseHolder {
        pid: pid.unwrap_or(0),
        host: host.unwrap_or_else(|| "unknown".into()),
        epoch,
        since: since.unwrap_or_else(|| "unknown".into()),
        expires_at,
    };
    (holder, token, live == 1)
}

/// Takes the row when it is free, expired or already ours; a takeover adds one to the epoch
/// (and, `epoch` being a key column, waits for in-flight fenced transactions).
const ACQUIRE_SQL: &str = "INSERT INTO lease (id, holder, pid, host, epoch, acquired_at, renewed_at, expires_at)
    VALUES (1, $1, $2, $3, 1, now(), now(), now() + make_interval(secs => $4))
    ON CONFLICT (id) DO UPDATE SET
        epoch = CASE WHEN lease.holder = excluded.holder THEN lease.epoch ELSE lease.epoch + 1 END,
        acquired_at = CASE WHEN lease.holder = excluded.holder THEN lease.acquired_at ELSE now() END,
        holder = excluded.holder, pid = excluded.pid, host = excluded.host,
        renewed_at = now(), expires_at = excluded.expires_at
    WHERE lease.holder = excluded.holder OR lease.expires_at <= now()
    RETURNING epoch";

/// PostgreSQL's `lock_not_available` (a `lock_timeout` ran out).
fn is_lock_timeout(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "55P03")
}

fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

impl Lease {
    /// This process's side of the lease of the connection whose schema is `search_path`,
    /// lasting `ttl` without a renewal (`store.lease_seconds`). Holds nothing yet.
    pub fn new(search_path: impl Into<String>, ttl: Duration) -> Lease {
        Lease {
            token: uuid::Uuid::new_v4().to_string(),
            pid: i64::from(std::process::id()),
            host: hostname::get()
                .ok()
                .and_then(|h| h.into_string().ok())
                .unwrap_or_else(|| "unknown".into()),
            ttl,
            search_path: search_path.into(),
            state: Mutex::new(LeaseState::Standby),
            role: tokio::sync::watch::Sender::new(Role::Standby),
            renewals: AtomicU64::new(0),
            lost: AtomicU64::new(0),
        }
    }

    /// The lease's time to live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The state as this process knows it.
    pub fn state(&self) -> LeaseState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn role(&self) -> Role {
        self.state().role()
    }

    /// The epoch held, if any.
    pub fn epoch(&self) -> Option<i64> {
        self.state().epoch()
    }

    /// Whether the lease is certainly this process's right now (held, and renewed recently
    /// enough by the monotonic clock). Checked before every outbound API batch, so that a
    /// leader resumed after a stop sends nothing before it has renewed.
    pub fn is_valid_now(&self) -> bool {
        self.state().is_valid_at(Instant::now())
    }

    /// [`Lease::is_valid_now`] as a result: refused with [`StoreError::LeaseUncertain`].
    pub fn check_valid_now(&self) -> Result<(), StoreError> {
        let state = self.state();
        if state.is_valid_at(Instant::now()) {
            Ok(())
        } else {
            Err(StoreError::LeaseUncertain {
                mine: state.epoch(),
            })
        }
    }

    /// Follows role changes (for the service's leader/standby switch).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// Successful renewals so far (`tether_lease_renewals_total`).
    pub fn renewals_total(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// Times this process lost the lease (`tether_lease_lost_total`).
    pub fn lost_total(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Records a reply to a statement sent at `sent_at`.
    fn settle(&self, reply: &Reply, sent_at: Instant) -> Change {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (next, change) = state::apply(*state, reply, sent_at, self.ttl);
        *state = next;
        drop(state);
        if *reply == Reply::Renewed && next.role() == Role::Leader {
            self.renewals.fetch_add(1, Ordering::Relaxed);
        }
        match change {
            Change::Gained { epoch } => {
                tracing::info!(epoch, "this process now holds the store's lease: leader");
            }
            Change::Lost { epoch } => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    epoch,
                    "this process lost the store's lease to another process: it stops writing and stands by"
                );
            }
            Change::Unchanged => {}
        }
        self.role.send_if_modified(|r| {
            let changed = *r != next.role();
            *r = next.role();
            changed
        });
        change
    }

    /// Begins a short transaction of the lease's own, in the connection's schema, waiting at
    /// most `lock_wait` for the row's lock.
    async fn begin<'c>(
        &self,
        conn: &'c mut AnyConnection,
    ) -> Result<sqlx::Transaction<'c, sqlx::Any>, StoreError> {
        let mut tx = conn.begin().await.ctx("begin a lease transaction")?;
        sqlx::query("SELECT set_config('search_path', $1, true)")
            .bind(&self.search_path)
            .execute(&mut *tx)
            .await
            .ctx("set the lease's schema")?;
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(millis(state::lock_wait(self.ttl)))
            .execute(&mut *tx)
            .await
            .ctx("bound the lease's lock wait")?;
        Ok(tx)
    }

    /// Takes the lease when it is free, expired or already this process's. A live lease of
    /// another process leaves this one standing by (with the holder, for messages).
    pub async fn try_acquire(&self, conn: &mut AnyConnection) -> Result<Attempt, StoreError> {
        let sent_at = Instant::now();
        let mut tx = self.begin(conn).await?;
        let current: Option<HolderRow> = sqlx::query_as(HOLDER_SQL)
            .fetch_optional(&mut *tx)
            .await
            .ctx("read the lease")?;
        let current = current.map(holder_of);
        // A plain read first: a live lease of another holder is left alone without queueing
        // for its row's lock behind the leader's writes.
        if let Some((holder, token, true)) = &current
            && token.as_deref() != Some(self.token.as_str())
        {
            tx.commit().await.ctx("end a lease transaction")?;
            self.settle(&Reply::HeldElsewhere, sent_at);
            return Ok(Attempt::Standby {
                holder: Some(holder.clone()),
            });
        }
        let taken: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(ACQUIRE_SQL)
            .bind(&self.token)
            .bind(self.pid)
            .bind(&self.host)
            .bind(self.ttl.as_secs_f64())
            .fetch_optional(&mut *tx)
            .await;
        let taken = match taken {
            Err(e) if is_lock_timeout(&e) => {
                // The leader's writes held the row longer than we wait: next time. Nothing
                // was learnt, so the state stays as it was.
                tracing::debug!("the lease row stayed locked; trying again later");
                return Ok(Attempt::Standby { holder: None });
            }
            other => other.ctx("take the lease")?,
        };
        tx.commit().await.ctx("commit taking the lease")?;
        match taken {
            Some(epoch) => {
                self.settle(&Reply::Acquired { epoch }, sent_at);
                Ok(Attempt::Leader { epoch })
            }
            None => {
                // Taken by another process between our read and our upsert.
                self.settle(&Reply::HeldElsewhere, sent_at);
                Ok(Attempt::Standby {
                    holder: self.current_holder(conn).await?,
                })
            }
        }
    }

    /// Takes the lease for a one-shot writer (`tether sync`, `setup`, …): refused with
    /// [`StoreError::LeaseHeld`], naming the holder, while another live process has it. A
    /// row kept locked by the holder's writes counts as held after three tries. `url` names
    /// the store in the refusal.
    pub async fn acquire_or_refuse(
        &self,
        conn: &mut AnyConnection,
        url: &str,
    ) -> Result<i64, StoreError> {
        for _ in 0..3 {
            match self.try_acquire(conn).await? {
                Attempt::Leader { epoch } => return Ok(epoch),
                Attempt::Standby {
                    holder: Some(holder),
                } => {
                    return Err(StoreError::LeaseHeld {
                        url: url.to_owned(),
                        holder,
                    });
                }
                Attempt::Standby { holder: None } => {}
            }
        }
        match self.current_holder(conn).await? {
            Some(holder) => Err(StoreError::LeaseHeld {
                url: url.to_owned(),
                holder,
            }),
            None => Err(StoreError::Conflict(
                "the store's lease row stayed locked while it was being taken".into(),
            )),
        }
    }

    /// Extends the lease by its time to live if it is still this process's. `Ok(false)`: it
    /// was lost (another process took it over); the state is then standby. A database error
    /// changes nothing: the lease stays held but, once its local deadline passes, uncertain.
    pub async fn renew(&self, conn: &mut AnyConnection) -> Result<bool, StoreError> {
        let Some(epoch) = self.epoch() else {
            return Ok(false);
        };
        let sent_at = Instant::now();
        let mut tx = self.begin(conn).await?;
        let rows = sqlx::query(
            "UPDATE lease SET expires_at = now() + make_interval(secs => $1), renewed_at = now()
             WHERE id = 1 AND holder = $2 AND epoch = $3",
        )
        .bind(self.ttl.as_secs_f64())
        .bind(&self.token)
        .bind(epoch)
        .execute(&mut *tx)
        .await
        .ctx("renew the lease")?
        .rows_affected();
        tx.commit().await.ctx("commit renewing the lease")?;
        let reply = if rows == 1 {
            Reply::Renewed
        } else {
            Reply::NotRenewed
        };
        self.settle(&reply, sent_at);
        Ok(rows == 1)
    }

    /// Checks, inside the caller's write transaction `tx`, that the lease is still this
    /// process's at the epoch it holds, and keeps it so until `tx` ends (the row's `FOR KEY
    /// SHARE` lock makes a takeover wait). Refused with [`StoreError::NotLeader`] otherwise;
    /// the caller's transaction must then roll back. Returns the epoch.
    pub async fn fence_in(&self, tx: &mut AnyConnection) -> Result<i64, StoreError> {
        sqlx::query("SELECT set_config('idle_in_transaction_session_timeout', $1, true)")
            .bind(millis(state::idle_cutoff(self.ttl)))
            .execute(&mut *tx)
            .await
            .ctx("bound the write transaction's idle time")?;
        let row: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT epoch, holder FROM lease WHERE id = 1 FOR KEY SHARE")
                .fetch_optional(&mut *tx)
                .await
                .ctx("check the lease")?;
        let row = row.as_ref().map(|(e, h)| (*e, h.as_deref()));
        state::fence_verdict(row, &self.token, self.epoch()).map_err(|r| StoreError::NotLeader {
            epoch_now: r.epoch_now,
            mine: r.mine,
        })
    }

    /// Gives the lease up at once (a clean shutdown): the row expires now, so a standby takes
    /// over on its next try. Nothing happens when this process does not hold it.
    pub async fn release(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let Some(epoch) = self.epoch() else {
            return Ok(());
        };
        let mut tx = self.begin(conn).await?;
        sqlx::query(
            "UPDATE lease SET expires_at = now(), renewed_at = now()
             WHERE id = 1 AND holder = $1 AND epoch = $2",
        )
        .bind(&self.token)
        .bind(epoch)
        .execute(&mut *tx)
        .await
        .ctx("release the lease")?;
        tx.commit().await.ctx("commit releasing the lease")?;
        // Given up, not lost: standby without counting a loss.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = LeaseState::Standby;
        drop(state);
        self.role.send_replace(Role::Standby);
        tracing::info!(epoch, "released the store's lease");
        Ok(())
    }

    /// Who holds the lease now, as its row says (`None`: nobody ever took it).
    pub async fn current_holder(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Option<LeaseHolder>, StoreError> {
        let mut tx = self.begin(conn).await?;
        let row: Option<HolderRow> = sqlx::query_as(HOLDER_SQL)
            .fetch_optional(&mut *tx)
            .await
            .ctx("read the lease")?;
        tx.commit().await.ctx("end a lease transaction")?;
        Ok(row.map(|r| holder_of(r).0))
    }

    /// One step of the keeper: renew what is held; in `AcquireAndRenew` mode, otherwise try
    /// to acquire.
    pub async fn step(&self, conn: &mut AnyConnection, mode: KeepMode) -> Result<Role, StoreError> {
        match (state::next_step(self.state()), mode) {
            (Step::Renew { .. }, _) => {
                self.renew(conn).await?;
            }
            (Step::Acquire, KeepMode::AcquireAndRenew) => {
                self.try_acquire(conn).await?;
            }
            (Step::Acquire, KeepMode::RenewOnly) => {}
        }
        Ok(self.role())
    }

    /// Runs [`Lease::step`] every ttl/3 on a connection from `pool` until the pool closes or
    /// the task is aborted. Errors are logged and retried on the next tick.
    pub fn spawn_keeper(
        self: &std::sync::Arc<Self>,
        pool: sqlx::AnyPool,
        mode: KeepMode,
    ) -> tokio::task::JoinHandle<()> {
        let lease = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(state::renew_every(lease.ttl));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if pool.is_closed() {
                    break;
                }
                let res = match pool.acquire().await {
                    Ok(mut conn) => lease.step(&mut conn, mode).await,
                    Err(e) => Err(StoreError::Query {
                        op: "reach the database to keep the lease",
                        source: e,
                    }),
                };
                if let Err(e) = res {
                    if pool.is_closed() {
                        break;
                    }
                    tracing::warn!(error = %e, "keeping the store's lease failed; will retry");
                }
            }
        })
    }
}

impl super::Store {
    /// Opens the store for `tether run`: as [`Store::open`](super::Store::open), except that
    /// on PostgreSQL a lease held by another live process leaves this one standing by (it
    /// takes the lease when it can; [`Store::lease`](super::Store::lease) follows it)
    /// instead of refusing.
    pub async fn open_replica(
        settings: &crate::config::StoreSettings,
    ) -> Result<super::Store, super::OpenError> {
        let lease = LeaseOpen {
            ttl: settings.lease_ttl(),
            policy: LeasePolicy::Standby,
        };
        let mode = super::Mode::Writer;
        Self::open_with(&settings.url, settings.busy_timeout_ms, mode, lease).await
    }

    /// The writer lease (a PostgreSQL writer store), for the service's role and the cycle's
    /// check before each API batch; `None` on SQLite and for readers.
    pub fn lease(&self) -> Option<std::sync::Arc<Lease>> {
        self.lease.as_ref().map(|k| k.lease.clone())
    }
}

/// How a writer store takes the lease when it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeasePolicy {
    /// A one-shot command: refused ([`StoreError::LeaseHeld`]) while another live process
    /// holds the lease; renews what it took.
    Refuse,
    /// `tether run`: stands by while another process holds it, and takes it when it can.
    Standby,
}

/// The lease a writer store opens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseOpen {
    pub ttl: Duration,
    pub policy: LeasePolicy,
}

impl Default for LeaseOpen {
    /// The built-in `store.lease_seconds`, refusing when held.
    fn default() -> Self {
        LeaseOpen {
            ttl: crate::config::Settings::built_in().store.lease_ttl(),
            policy: LeasePolicy::Refuse,
        }
    }
}

/// The lease a writer store holds, with its keeper task, which stops when the last clone of
/// the store goes.
#[derive(Debug)]
pub(crate) struct LeaseKeeper {
    pub(crate) lease: std::sync::Arc<Lease>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

impl LeaseKeeper {
    /// Takes (or, with [`LeasePolicy::Standby`], tries to take) the lease of the connection
    /// whose schema is `schema`, then keeps it every ttl/3. `url` names the store in a
    /// refusal.
    pub(crate) async fn start(
        pool: &sqlx::AnyPool,
        schema: &str,
        url: &str,
        open: LeaseOpen,
    ) -> Result<LeaseKeeper, StoreError> {
        let lease = std::sync::Arc::new(Lease::new(schema, open.ttl));
        let mut conn = pool.acquire().await.ctx("get a connection")?;
        let mode = match open.policy {
            LeasePolicy::Refuse => {
                lease.acquire_or_refuse(&mut conn, url).await?;
                KeepMode::RenewOnly
            }
            LeasePolicy::Standby => {
                if let Attempt::Standby {
                    holder: Some(holder),
                } = lease.try_acquire(&mut conn).await?
                {
                    tracing::info!(%holder, "standby: another tether process holds the store's lease");
                }
                KeepMode::AcquireAndRenew
            }
        };
        drop(conn);
        let task = lease.spawn_keeper(pool.clone(), mode);
        Ok(LeaseKeeper {
            lease,
            task: Mutex::new(Some(task)),
        })
    }

    /// Stops keeping the lease and releases it (a clean shutdown). Best effort.
    pub(crate) async fn stop(&self, pool: &sqlx::AnyPool) {
        if let Some(t) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
        let released = match pool.acquire().await {
            Ok(mut conn) => self.lease.release(&mut conn).await,
            Err(e) => Err(StoreError::Query {
                op: "reach the database to release the lease",
                source: e,
            }),
        };
        if let Err(e) = released {
            tracing::warn!(error = %e, "could not release the store's lease; it expires by itself");
        }
    }
}

#[cfg(test)]
mod tests;
