//! The single-writer guard: at most one process writes to a store at a time.
//!
//! Two layers. (1) An OS advisory lock on `<db>.lock` (via `fs4`), held for the life of the
//! writer and released by the kernel when the process dies, even by `kill -9`; the file's
//! text says who holds it (`pid`, `host`, `since`). (2) A `writer_lock` row, claimed with a
//! compare-and-swap and kept fresh by a heartbeat task, which catches a second writer that
//! reaches the same database through another path (a symlink) and lets `tether status` show
//! the writer. A row whose heartbeat is stale, or whose process is gone from this host, is
//! taken over. Readers never need the guard.
//!
//! Owns the lock file and the `writer_lock` row. Must never block waiting for the lock: a
//! second writer is refused at once with a message naming the holder.

use super::{OpenError, QueryContext, SqliteOpenError, StoreError, parse_ts, ts};
use chrono::{DateTime, Utc};
use fs4::fs_std::FileExt;
use serde::Serialize;
use sqlx::AnyPool;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often the writer refreshes its row.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// A row not refreshed for this long belongs to a dead writer.
pub const STALE_AFTER: Duration = Duration::from_secs(60);

/// Who holds (or held) the writer guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    /// When the holder took the guard (RFC 3339), or `unknown`.
    pub since: String,
}

impl Holder {
    fn me(since: DateTime<Utc>) -> Holder {
        Holder {
            pid: std::process::id(),
            host: this_host(),
            since: ts(since),
        }
    }

    /// The lock file's text.
    fn to_file_text(&self) -> String {
        format!(
            "pid={}\nhost={}\nsince={}\n",
            self.pid, self.host, self.since
        )
    }

    /// Reads a lock file's text; missing fields read as 0 / `unknown`.
    fn from_file_text(text: &str) -> Holder {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
                .map(|v| v.trim().to_owned())
        };
        Holder {
            pid: field("pid").and_then(|p| p.parse().ok()).unwrap_or(0),
            host: field("host")
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "unknown".into()),
            since: field("since")
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "unknown".into()),
        }
    }
}

fn this_host() -> String {
    hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}

/// `<db>.lock` next to the database file.
pub(crate) fn lock_path_for(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Whether a process with this id exists on this host. Where that cannot be known (no
/// `/proc`), it is assumed alive, so only a stale heartbeat frees the guard.
fn pid_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true;
    }
    proc_root.join(pid.to_string()).exists()
}

/// The held guard. Dropping it stops the heartbeat and releases the OS lock; the row is
/// cleared by [`crate::store::Store::close`] or taken over later as stale.
#[derive(Debug)]
pub struct WriterGuard {
    holder: Holder,
    token: String,
    lock_file: Option<(PathBuf, File)>,
    heartbeat: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Set when the heartbeat finds the row taken over: this writer must stop writing.
    lost: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Ok(mut h) = self.heartbeat.lock() {
            if let Some(task) = h.take() {
                task.abort();
            }
        }
        // Closing the file releases the OS lock; the text is left for post-mortems.
    }
}

impl WriterGuard {
    /// Takes the OS lock (when the store is a file). Refused with [`SqliteOpenError::Locked`]
    /// naming the holder when another process has it.
    pub(crate) fn lock_file(
        lock_path: Option<PathBuf>,
        display: &str,
    ) -> Result<WriterGuard, OpenError> {
        let holder = Holder::me(Utc::now());
        let lock_file = match lock_path {
            None => None,
            Some(path) => {
                let io = |source| SqliteOpenError::LockFile {
                    path: path.clone(),
                    source,
                };
                let mut file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(&path)
                    .map_err(io)?;
                let got = FileExt::try_lock_exclusive(&file).map_err(io)?;
                if !got {
                    let mut text = String::new();
                    // Best effort: the holder may be rewriting it this very moment.
                    let _ = file.read_to_string(&mut text);
                    return Err(SqliteOpenError::Locked {
                        path: display.to_owned(),
                        holder: Holder::from_file_text(&text),
                    }
                    .into());
                }
                file.set_len(0).map_err(io)?;
                file.seek(SeekFrom::Start(0)).map_err(io)?;
                file.write_all(holder.to_file_text().as_bytes())
                    .map_err(io)?;
                file.sync_data().map_err(io)?;
                Some((path, file))
            }
        };
        Ok(WriterGuard {
            token: uuid::Uuid::new_v4().to_string(),
            holder,
            lock_file,
            heartbeat: std::sync::Mutex::new(None),
            lost: Default::default(),
        })
    }

    /// Claims the `writer_lock` row (after migrations created it) and starts the heartbeat.
    pub(crate) async fn claim_row(&self, pool: &AnyPool, display: &str) -> Result<(), OpenError> {
        let now = Utc::now();
        for _ in 0..3 {
            let current: Option<(String, i64, String, String, String)> = sqlx::query_as(
                "SELECT token, pid, host, since, heartbeat FROM writer_lock WHERE id = 1",
            )
            .fetch_optional(pool)
            .await
            .ctx("read the writer lock")?;
            let claimed = match current {
                None => sqlx::query(
                    "INSERT INTO writer_lock (id, token, pid, host, since, heartbeat)
                     VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(&self.token)
                .bind(i64::from(self.holder.pid))
                .bind(&self.holder.host)
                .bind(&self.holder.since)
                .bind(ts(now))
                .execute(pool)
                .await
                .ctx("take the writer lock")?
                .rows_affected(),
                Some((token, pid, host, since, heartbeat)) => {
                    let pid = u32::try_from(pid).unwrap_or(0);
                    let stale = parse_ts("writer heartbeat", &heartbeat)
                        .map(|hb| {
                            now.signed_duration_since(hb).to_std().unwrap_or_default() > STALE_AFTER
                        })
                        .unwrap_or(true);
                    let gone = host == self.holder.host && !pid_alive(pid);
                    let ours = host == self.holder.host
                        && pid == self.holder.pid
                        && self.lock_file.is_some();
                    if !(stale || gone || ours) {
                        return Err(SqliteOpenError::Locked {
                            path: display.to_owned(),
                            holder: Holder { pid, host, since },
                        }
                        .into());
                    }
                    sqlx::query(
                        "UPDATE writer_lock SET token = $1, pid = $2, host = $3, since = $4, heartbeat = $5
                         WHERE id = 1 AND token = $6",
                    )
                    .bind(&self.token)
                    .bind(i64::from(self.holder.pid))
                    .bind(&self.holder.host)
                    .bind(&self.holder.since)
                    .bind(ts(now))
                    .bind(&token)
                    .execute(pool)
                    .await
                    .ctx("take over a stale writer lock")?
                    .rows_affected()
                }
            };
            if claimed == 1 {
                self.start_heartbeat(pool.clone());
                return Ok(());
            }
        }
        Err(StoreError::Conflict(
            "the writer lock row kept changing while it was being taken".into(),
        )
        .into())
    }

    fn start_heartbeat(&self, pool: AnyPool) {
        let token = self.token.clone();
        let lost = self.lost.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if beat(&pool, &token, &lost).await == Beat::Stop {
                    break;
                }
            }
        });
        if let Ok(mut h) = self.heartbeat.lock() {
            *h = Some(task);
        }
    }

    /// Refreshes the row once, as the heartbeat task does; for tests.
    #[cfg(test)]
    pub(crate) async fn beat_now(&self, pool: &AnyPool) {
        beat(pool, &self.token, &self.lost).await;
    }

    /// Clears the row (if still ours) and stops the heartbeat. Best effort.
    pub(crate) async fn release(&self, pool: &AnyPool) {
        if let Ok(mut h) = self.heartbeat.lock() {
            if let Some(task) = h.take() {
                task.abort();
            }
        }
        let res = sqlx::query("DELETE FROM writer_lock WHERE id = 1 AND token = $1")
            .bind(&self.token)
            .execute(pool)
            .await;
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not clear the writer lock row");
        }
    }

    /// Whether another process took the guard over (after this one stalled for longer than
    /// [`STALE_AFTER`]); the store then refuses further writes.
    pub fn is_lost(&self) -> bool {
        self.lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Who holds this guard (this process).
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// The lock file, when the store is a file.
    pub fn lock_path(&self) -> Option<&Path> {
        self.lock_file.as_ref().map(|(p, _)| p.as_path())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Beat {
    Continue,
    Stop,
}

/// One heartbeat: refresh the row if it is still ours; if another process has taken it,
/// mark the guard lost (the store then refuses writes).
async fn beat(pool: &AnyPool, token: &str, lost: &std::sync::atomic::AtomicBool) -> Beat {
    let res = sqlx::query("UPDATE writer_lock SET heartbeat = $1 WHERE id = 1 AND token = $2")
        .bind(ts(Utc::now()))
        .bind(token)
        .execute(pool)
        .await;
    match res {
        Ok(r) if r.rows_affected() == 0 => {
            lost.store(true, std::sync::atomic::Ordering::SeqCst);
            tracing::error!(
                "the store's writer lock was taken over by another process; this writer stops writing"
            );
            Beat::Stop
        }
        Ok(_) => Beat::Continue,
        Err(e) if pool.is_closed() => {
            tracing::debug!(error = %e, "writer heartbeat stopped: store closed");
            Beat::Stop
        }
        Err(e) => {
            tracing::warn!(error = %e, "writer heartbeat failed; will retry");
            Beat::Continue
        }
    }
}

/// The writer recorded in the store's `writer_lock` row, with its last heartbeat.
pub(crate) async fn recorded_writer(
    conn: &mut sqlx::AnyConnection,
) -> Result<Option<(Holder, DateTime<Utc>)>, StoreError> {
    let row: Option<(i64, String, String, String)> =
        sqlx::query_as("SELECT pid, host, since, heartbeat FROM writer_lock WHERE id = 1")
            .fetch_optional(conn)
            .await
            .ctx("read the writer lock")?;
    row.map(|(pid, host, since, hb)| {
        Ok((
            Holder {
                pid: u32::try_from(pid).unwrap_or(0),
                host,
                since,
            },
            parse_ts("writer heartbeat", &hb)?,
        ))
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_file_text_round_trips_and_tolerates_garbage() {
        let h = Holder {
            pid: 42,
            host: "box-1".into(),
            since: "2026-11-25T16:00:00.000000Z".into(),
        };
        assert_eq!(Holder::from_file_text(&h.to_file_text()), h);
        let g = Holder::from_file_text("garbage\npid=x\n");
        assert_eq!(g.pid, 0);
        assert_eq!(g.host, "unknown");
        assert_eq!(g.since, "unknown");
    }

    #[test]
    fn lock_path_is_next_to_the_db() {
        assert_eq!(
            lock_path_for(Path::new("/var/lib/tether.db")),
            PathBuf::from("/var/lib/tether.db.lock")
        );
    }

    #[test]
    fn this_process_is_alive() {
        assert!(pid_alive(std::process::id()));
    }
}
