-- Optional HubSpot notes (issue 14, `[support] notes = true`): one note per closed Gorgias
-- ticket. A row is the intent, recorded before any HubSpot call: `owed` until the note is
-- written and associated to the contact, then `written` with the note's id. The note itself
-- is idempotent in HubSpot (upsert by its unique key property), so a crash between the call
-- and this row's update writes the same note again, never a second one. A ticket closed
-- again later (another closed_at) owes its note again (updated in place).
CREATE TABLE support_notes (
    ticket_id   INTEGER PRIMARY KEY CHECK (ticket_id > 0),
    closed_at   TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('owed', 'written')),
    note_id     TEXT,
    hubspot_id  TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  TEXT,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX support_notes_state ON support_notes (state, ticket_id);
