-- Support roll-ups (issue 14): what tether keeps of Gorgias tickets and satisfaction surveys,
-- so per-customer aggregates stay exact without re-listing a customer's history.

-- One row per ticket: its newest facts. customer_id is already resolved through the Gorgias
-- merges recorded in support_merges (a merged-away customer's tickets count for the survivor).
CREATE TABLE support_tickets (
    id               INTEGER PRIMARY KEY CHECK (id > 0),
    customer_id      INTEGER NOT NULL CHECK (customer_id > 0),
    status           TEXT    NOT NULL,
    channel          TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL,
    closed_at        TEXT,
    last_message_at  TEXT,
    spam             INTEGER NOT NULL CHECK (spam IN (0, 1)),
    trashed          INTEGER NOT NULL CHECK (trashed IN (0, 1)),
    messages_count   INTEGER NOT NULL CHECK (messages_count >= 0)
);
CREATE INDEX support_tickets_customer ON support_tickets (customer_id);

-- One row per satisfaction survey. customer_id is resolved through merges; a survey counts for
-- its ticket's customer when the ticket is known, else for customer_id.
CREATE TABLE support_surveys (
    id           INTEGER PRIMARY KEY CHECK (id > 0),
    ticket_id    INTEGER NOT NULL,
    customer_id  INTEGER NOT NULL CHECK (customer_id > 0),
    score        INTEGER CHECK (score IS NULL OR score BETWEEN 0 AND 255),
    scored_at    TEXT,
    created_at   TEXT
);
CREATE INDEX support_surveys_ticket ON support_surveys (ticket_id);
CREATE INDEX support_surveys_customer ON support_surveys (customer_id);

-- Gorgias customer merges followed by the roll-ups: from_id now lives as into_id.
CREATE TABLE support_merges (
    from_id  INTEGER PRIMARY KEY CHECK (from_id > 0),
    into_id  INTEGER NOT NULL CHECK (into_id > 0),
    at       TEXT    NOT NULL,
    CHECK (from_id <> into_id)
);

-- Customers whose roll-up may have changed and is not yet written: set in the transaction
-- that stores the facts, cleared once the contact's values are written (or found unchanged),
-- so a crash between the two never loses a change.
CREATE TABLE support_dirty (
    customer_id  INTEGER PRIMARY KEY CHECK (customer_id > 0),
    since        TEXT    NOT NULL
);

-- The roll-up value tether last wrote to each HubSpot contact property: unchanged values are
-- never written again.
CREATE TABLE support_written (
    hubspot_id  TEXT NOT NULL CHECK (hubspot_id <> '' AND hubspot_id NOT GLOB '*[^0-9]*'),
    property    TEXT NOT NULL CHECK (property <> ''),
    value       TEXT NOT NULL,
    written_at  TEXT NOT NULL,
    PRIMARY KEY (hubspot_id, property)
);

-- Positions in the support feeds: the incremental ticket and survey feeds (a watermark), and
-- the first backfill of all tickets (a cursor, resumable, with progress).
CREATE TABLE support_feeds (
    feed        TEXT    PRIMARY KEY CHECK (feed IN ('tickets', 'surveys', 'tickets_backfill')),
    at          TEXT,
    tie_break   TEXT,
    cursor      TEXT,
    done        INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    pages       INTEGER NOT NULL DEFAULT 0 CHECK (pages >= 0),
    items       INTEGER NOT NULL DEFAULT 0 CHECK (items >= 0),
    updated_at  TEXT    NOT NULL
);
