-- Issue 16: the fields of every record a cycle read (a merge record as JSON), so that
-- `tether merges scan` can compare every known record, not only those a cycle read.
CREATE TABLE record_snapshots (
    system     TEXT NOT NULL CHECK (system IN ('hubspot', 'gorgias')),
    record_id  TEXT NOT NULL,
    snapshot   TEXT NOT NULL,
    seen_at    TEXT NOT NULL,
    PRIMARY KEY (system, record_id)
);
CREATE INDEX record_snapshots_seen_at ON record_snapshots (seen_at);

-- One row per duplicate scan: when it started, what it covered and, once done, what it found.
-- A scan without finished_at was interrupted; the next one starts again from its `since`.
CREATE TABLE scans (
    id           INTEGER PRIMARY KEY,
    started_at   TEXT    NOT NULL,
    since        TEXT,
    finished_at  TEXT,
    records      INTEGER NOT NULL DEFAULT 0,
    candidates   INTEGER NOT NULL DEFAULT 0,
    proposed     INTEGER NOT NULL DEFAULT 0
);
