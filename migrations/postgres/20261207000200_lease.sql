-- The writer lease of one connection (its schema): at most one tether process writes at a
-- time, and `epoch` grows by one on every takeover, so a former leader's writes can be told
-- apart and refused (src/store/lease.rs). Expiry is judged by the database clock (now()),
-- never by the replicas' clocks.
CREATE TABLE lease (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    -- The holding process's random token (one per process), its pid and host.
    holder      TEXT COLLATE "C",
    pid         BIGINT,
    host        TEXT COLLATE "C",
    epoch       BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ,
    renewed_at  TIMESTAMPTZ,
    expires_at  TIMESTAMPTZ NOT NULL,
    -- Not for lookups: this unique key makes `epoch` a key column, so an UPDATE that changes
    -- the epoch (a takeover) takes the row's FOR UPDATE lock and waits for every in-flight
    -- write transaction's `FOR KEY SHARE` fence, while a renewal (expires_at only) takes
    -- FOR NO KEY UPDATE and never waits for its own holder's writes.
    CONSTRAINT lease_epoch_is_a_key UNIQUE (id, epoch)
);

-- The row exists from the start, free (no holder, epoch 0, long expired), so taking the lease
-- is always an update of it: two first takers racing queue on the row's lock instead of both
-- inserting (where the second would trip over `lease_epoch_is_a_key`, which ON CONFLICT (id)
-- does not arbitrate).
INSERT INTO lease (id, holder, pid, host, epoch, acquired_at, renewed_at, expires_at)
VALUES (1, NULL, NULL, NULL, 0, NULL, NULL, '1970-01-01 00:00:00+00');
