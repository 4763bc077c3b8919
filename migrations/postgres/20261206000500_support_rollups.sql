-- PostgreSQL twin of ../20261206000500_support_rollups.sql (conventions: 20261125000001_initial.sql).
-- Support roll-ups (issue 14): what tether keeps of Gorgias tickets and satisfaction surveys,
-- so per-customer aggregates stay exact without re-listing a customer's history.
-- The ids here are Gorgias's own (never generated), as in SQLite.

-- One row per ticket: its newest facts. customer_id is already resolved through the Gorgias
-- merges recorded in support_merges (a merged-away customer's tickets count for the survivor).
CREATE TABLE support_tickets (
    id               BIGINT PRIMARY KEY CHECK (id > 0),
    customer_id      BIGINT NOT NULL CHECK (customer_id > 0),
    status           TEXT COLLATE "C" NOT NULL,
    channel          TEXT COLLATE "C" NOT NULL,
    subject          TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C" NOT NULL,
    closed_at        TEXT COLLATE "C",
    last_message_at  TEXT COLLATE "C",
    spam             BIGINT NOT NULL CHECK (spam IN (0, 1)),
    trashed          BIGINT NOT NULL CHECK (trashed IN (0, 1)),
    messages_count   BIGINT NOT NULL CHECK (messages_count >= 0)
);
CREATE INDEX support_tickets_customer ON support_tickets (customer_id);

-- One row per satisfaction survey. customer_id is resolved through merges; a survey counts for
-- its ticket's customer when the ticket is known, else for customer_id.
CREATE TABLE support_surveys (
    id           BIGINT PRIMARY KEY CHECK (id > 0),
    ticket_id    BIGINT NOT NULL,
    customer_id  BIGINT NOT NULL CHECK (customer_id > 0),
    score        BIGINT CHECK (score IS NULL OR score BETWEEN 0 AND 255),
    scored_at    TEXT COLLATE "C",
    created_at   TEXT COLLATE "C"
);
CREATE INDEX support_surveys_ticket ON support_surveys (ticket_id);
CREATE INDEX support_surveys_customer ON support_surveys (customer_id);

-- Gorgias customer merges followed by the roll-ups: from_id now lives as into_id.
CREATE TABLE support_merges (
    from_id  BIGINT PRIMARY KEY CHECK (from_id > 0),
    into_id  BIGINT NOT NULL CHECK (into_id > 0),
    at       TEXT COLLATE "C" NOT NULL,
    CHECK (from_id <> into_id)
);

-- Customers whose roll-up may have changed and is not yet written: set in the transaction
-- that stores the facts, cleared once the contact's values are written (or found unchanged),
-- so a crash between the two never loses a change.
CREATE TABLE support_dirty (
    customer_id  BIGINT PRIMARY KEY CHECK (customer_id > 0),
    since        TEXT COLLATE "C" NOT NULL
);

-- The roll-up value tether last wrote to each HubSpot contact property: unchanged values are
-- never written again.
CREATE TABLE support_written (
    hubspot_id  TEXT COLLATE "C" NOT NULL CHECK (hubspot_id ~ '^[0-9]+$'),
    property    TEXT COLLATE "C" NOT NULL CHECK (property <> ''),
    value       TEXT COLLATE "C" NOT NULL,
    written_at  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (hubspot_id, property)
);

-- Positions in the support feeds: the incremental ticket and survey feeds (a watermark), and
-- the first backfill of all tickets (a cursor, resumable, with progress).
CREATE TABLE support_feeds (
    feed        TEXT COLLATE "C" PRIMARY KEY CHECK (feed IN ('tickets', 'surveys', 'tickets_backfill')),
    at          TEXT COLLATE "C",
    tie_break   TEXT COLLATE "C",
    cursor      TEXT COLLATE "C",
    done        BIGINT NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    pages       BIGINT NOT NULL DEFAULT 0 CHECK (pages >= 0),
    items       BIGINT NOT NULL DEFAULT 0 CHECK (items >= 0),
    updated_at  TEXT COLLATE "C" NOT NULL
);
