-- The order of an audit entry's subjects as the store wrote them, in a column of its own, so
-- that listing them needs no SQLite `rowid` (the PostgreSQL twin has none). Existing rows keep
-- the order they had (their rowid); the append-only triggers are set aside for that one
-- update and restored unchanged.
ALTER TABLE audit_subjects ADD COLUMN position INTEGER NOT NULL DEFAULT 0 CHECK (position >= 0);
DROP TRIGGER audit_subjects_no_update;
UPDATE audit_subjects SET position = rowid;
CREATE TRIGGER audit_subjects_no_update BEFORE UPDATE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
