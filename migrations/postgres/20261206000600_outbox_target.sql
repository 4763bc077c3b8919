-- PostgreSQL twin of ../20261206000600_outbox_target.sql (conventions: 20261125000001_initial.sql).
-- The last finished write to one record, looked up by every cycle for the records its feeds
-- return (to recognise the echo of tether's own Gorgias writes): index it.
CREATE INDEX outbox_done_target ON outbox (system, target_id, id) WHERE status = 'done';
