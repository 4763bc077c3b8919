-- Conflicts held for a person (fields whose policy is `manual`), kept up to date by each
-- cycle, and the resolution a person chose (`tether conflicts resolve`, the review page).
-- `open`: waiting for a person; `resolved`: a choice waits for the next cycle to apply it;
-- `closed`: applied, or the two sides agree again (`closed_how`).
CREATE TABLE held_conflicts (
    id             INTEGER PRIMARY KEY,
    link_id        INTEGER REFERENCES links (id) ON DELETE SET NULL,
    hubspot_id     TEXT    NOT NULL CHECK (hubspot_id <> '' AND hubspot_id NOT GLOB '*[^0-9]*'),
    gorgias_id     INTEGER NOT NULL CHECK (gorgias_id > 0),
    field          TEXT    NOT NULL CHECK (field <> ''),
    hubspot_value  TEXT,
    gorgias_value  TEXT,
    base           TEXT,
    first_seen     TEXT    NOT NULL,
    last_seen      TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('open', 'resolved', 'closed')),
    take           TEXT    CHECK (take IN ('hubspot', 'gorgias')),
    value          TEXT,
    resolved_by    TEXT,
    resolved_at    TEXT,
    closed_at      TEXT,
    closed_how     TEXT    CHECK (closed_how IN ('applied', 'agreed')),
    CHECK (take IS NULL OR value IS NULL),
    CHECK (status <> 'resolved' OR (resolved_at IS NOT NULL AND (take IS NOT NULL OR value IS NOT NULL))),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

-- At most one live (open or resolved) conflict per field of a pair.
CREATE UNIQUE INDEX held_conflicts_live ON held_conflicts (hubspot_id, gorgias_id, field)
    WHERE status <> 'closed';
