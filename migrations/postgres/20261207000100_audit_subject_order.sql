-- PostgreSQL twin of ../20261207000100_audit_subject_order.sql: the order of an audit entry's
-- subjects as the store wrote them (SQLite listed them by rowid, which PostgreSQL has not).
-- Adding a column with a constant default rewrites no row, so the append-only triggers stay.
ALTER TABLE audit_subjects ADD COLUMN position BIGINT NOT NULL DEFAULT 0 CHECK (position >= 0);
