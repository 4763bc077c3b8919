-- The last finished write to one record, looked up by every cycle for the records its feeds
-- return (to recognise the echo of tether's own Gorgias writes): index it.
CREATE INDEX outbox_done_target ON outbox (system, target_id, id) WHERE status = 'done';
