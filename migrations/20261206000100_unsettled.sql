-- Records whose write was refused and that tether still owes a write (issue 12): kept until
-- a write for the record succeeds or a person dismisses it, re-planned with a backoff.
-- `system`/`record_id` name the record re-read to plan the write again (the target of an
-- update, the source of a create); `target` is the system written.
CREATE TABLE unsettled (
    id              INTEGER PRIMARY KEY,
    system          TEXT NOT NULL CHECK (system IN ('hubspot', 'gorgias')),
    record_id       TEXT NOT NULL,
    target          TEXT NOT NULL CHECK (target IN ('hubspot', 'gorgias')),
    op              TEXT NOT NULL CHECK (op IN ('create', 'update')),
    class           TEXT NOT NULL CHECK (class IN ('transient', 'record', 'setup')),
    reason          TEXT NOT NULL,
    -- Failed cycles in all; `streak` counts those since the backoff was last cleared.
    attempts        INTEGER NOT NULL CHECK (attempts >= 1),
    streak          INTEGER NOT NULL CHECK (streak >= 0),
    first_failed_at TEXT NOT NULL,
    last_failed_at  TEXT NOT NULL,
    next_retry_at   TEXT NOT NULL,
    dismissed_at    TEXT,
    dismissed_by    TEXT,
    dismiss_reason  TEXT,
    UNIQUE (system, record_id, target)
);
CREATE INDEX unsettled_due ON unsettled (next_retry_at) WHERE dismissed_at IS NULL;

-- Small named values the store keeps for the cycle (e.g. the fingerprint of the mappings and
-- settings that last ran, so that a change clears the unsettled records' backoff).
CREATE TABLE store_meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
