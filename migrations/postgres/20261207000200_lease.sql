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
