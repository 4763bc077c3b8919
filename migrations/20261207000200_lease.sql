-- The SQLite twin of migrations/postgres/20261207000200_lease.sql, so that both directories
-- hold the same migration versions. A SQLite store is one file on one host and keeps its
-- single-writer guard (`writer_lock` and the lock file); this table stays empty there.
CREATE TABLE lease (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT,
    pid         INTEGER,
    host        TEXT,
    epoch       INTEGER NOT NULL,
    acquired_at TEXT,
    renewed_at  TEXT,
    expires_at  TEXT NOT NULL,
    CONSTRAINT lease_epoch_is_a_key UNIQUE (id, epoch)
);

INSERT INTO lease (id, holder, pid, host, epoch, acquired_at, renewed_at, expires_at)
VALUES (1, NULL, NULL, NULL, 0, NULL, NULL, '1970-01-01T00:00:00.000000Z');
