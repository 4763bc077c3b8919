-- PostgreSQL twin of migrations/20261207000400_support_notes.sql (same table, same rules).
CREATE TABLE support_notes (
    ticket_id   BIGINT PRIMARY KEY CHECK (ticket_id > 0),
    closed_at   TEXT COLLATE "C" NOT NULL,
    state       TEXT COLLATE "C" NOT NULL CHECK (state IN ('owed', 'written')),
    note_id     TEXT COLLATE "C",
    hubspot_id  TEXT COLLATE "C",
    attempts    BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  TEXT COLLATE "C",
    updated_at  TEXT COLLATE "C" NOT NULL
);
CREATE INDEX support_notes_state ON support_notes (state, ticket_id);
