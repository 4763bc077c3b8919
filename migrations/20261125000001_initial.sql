-- tether state store, schema 1. See docs/store.md for what each table means.
-- Timestamps are TEXT in RFC 3339 UTC with microseconds ("2026-11-25T16:19:14.000000Z"), so
-- they sort as text. Systems are 'hubspot' or 'gorgias'. JSON columns hold JSON text.

-- The single-writer row (see src/store/guard.rs). At most one row (id = 1).
CREATE TABLE writer_lock (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    token      TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    host       TEXT    NOT NULL,
    since      TEXT    NOT NULL,
    heartbeat  TEXT    NOT NULL
);

-- The last version of each record that a cycle read from a system.
CREATE TABLE records_seen (
    system        TEXT NOT NULL CHECK (system IN ('hubspot', 'gorgias')),
    record_id     TEXT NOT NULL,
    email         TEXT,
    updated_at    TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    seen_at       TEXT NOT NULL,
    PRIMARY KEY (system, record_id)
);
CREATE INDEX records_seen_email ON records_seen (email) WHERE email IS NOT NULL;

-- Normalised matching keys of each seen record (e.g. 'email:jane@example.com').
CREATE TABLE record_keys (
    system     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    key        TEXT NOT NULL,
    PRIMARY KEY (system, record_id, key),
    FOREIGN KEY (system, record_id) REFERENCES records_seen (system, record_id) ON DELETE CASCADE
);
CREATE INDEX record_keys_key ON record_keys (key);

-- A HubSpot contact and a Gorgias customer that are the same person.
CREATE TABLE links (
    id          INTEGER PRIMARY KEY,
    hubspot_id  TEXT    NOT NULL UNIQUE CHECK (hubspot_id <> '' AND hubspot_id NOT GLOB '*[^0-9]*'),
    gorgias_id  INTEGER NOT NULL UNIQUE CHECK (gorgias_id > 0),
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

-- The base (last agreed) value of each mapped field of a link, for three-way diffs.
CREATE TABLE bases (
    link_id     INTEGER NOT NULL REFERENCES links (id) ON DELETE CASCADE,
    field       TEXT    NOT NULL,
    value       TEXT    NOT NULL CHECK (json_valid(value)),
    updated_at  TEXT    NOT NULL,
    PRIMARY KEY (link_id, field)
);

-- Where each system's change feed got to.
CREATE TABLE watermarks (
    system      TEXT PRIMARY KEY CHECK (system IN ('hubspot', 'gorgias')),
    at          TEXT NOT NULL,
    tie_break   TEXT,
    updated_at  TEXT NOT NULL
);

-- Writes to send, each at most once thanks to its idempotency key.
CREATE TABLE outbox (
    id               INTEGER PRIMARY KEY,
    idempotency_key  TEXT    NOT NULL UNIQUE,
    system           TEXT    NOT NULL CHECK (system IN ('hubspot', 'gorgias')),
    op               TEXT    NOT NULL,
    target_id        TEXT,
    payload          TEXT    NOT NULL CHECK (json_valid(payload)),
    status           TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error       TEXT,
    result           TEXT CHECK (result IS NULL OR json_valid(result)),
    enqueued_at      TEXT    NOT NULL,
    last_attempt_at  TEXT,
    finished_at      TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';

-- Possible duplicates for a person to review. The pair is stored in canonical order
-- (a < b) so that (x, y) and (y, x) are the same pair.
CREATE TABLE proposals (
    id           INTEGER PRIMARY KEY,
    a_system     TEXT NOT NULL CHECK (a_system IN ('hubspot', 'gorgias')),
    a_id         TEXT NOT NULL,
    b_system     TEXT NOT NULL CHECK (b_system IN ('hubspot', 'gorgias')),
    b_id         TEXT NOT NULL,
    score        REAL NOT NULL,
    explanation  TEXT NOT NULL CHECK (json_valid(explanation)),
    snapshot     TEXT NOT NULL CHECK (json_valid(snapshot)),
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at   TEXT NOT NULL,
    decided_at   TEXT,
    decided_by   TEXT,
    reason       TEXT,
    CHECK ((a_system, a_id) <> (b_system, b_id))
);
CREATE UNIQUE INDEX proposals_one_pending_per_pair
    ON proposals (a_system, a_id, b_system, b_id) WHERE status = 'pending';
CREATE INDEX proposals_pair ON proposals (a_system, a_id, b_system, b_id, status);
CREATE INDEX proposals_pending_score ON proposals (score DESC) WHERE status = 'pending';

-- A record merged away in its system, and the record that survived.
CREATE TABLE aliases (
    system       TEXT NOT NULL CHECK (system IN ('hubspot', 'gorgias')),
    old_id       TEXT NOT NULL,
    survivor_id  TEXT NOT NULL,
    merged_at    TEXT NOT NULL,
    PRIMARY KEY (system, old_id),
    CHECK (old_id <> survivor_id)
);

-- Records the sync leaves alone until a person clears them.
CREATE TABLE quarantine (
    system     TEXT NOT NULL CHECK (system IN ('hubspot', 'gorgias')),
    record_id  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    detail     TEXT NOT NULL CHECK (json_valid(detail)),
    since      TEXT NOT NULL,
    PRIMARY KEY (system, record_id)
);

-- Every write and decision, append-only.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    detail  TEXT NOT NULL CHECK (json_valid(detail))
);

-- The records each audit entry is about, for listing by record.
CREATE TABLE audit_subjects (
    audit_id   INTEGER NOT NULL REFERENCES audit_log (id),
    system     TEXT    NOT NULL CHECK (system IN ('hubspot', 'gorgias')),
    record_id  TEXT    NOT NULL,
    PRIMARY KEY (audit_id, system, record_id)
);
CREATE INDEX audit_subjects_record ON audit_subjects (system, record_id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_subjects_no_update BEFORE UPDATE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_subjects_no_delete BEFORE DELETE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;

-- One row per sync cycle.
CREATE TABLE cycles (
    id           INTEGER PRIMARY KEY,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT CHECK (outcome IS NULL OR outcome IN ('ok', 'partial', 'failed', 'refused')),
    counts       TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(counts)),
    error        TEXT
);
