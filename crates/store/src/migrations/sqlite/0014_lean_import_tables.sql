-- An import writes a lead's tags, custom fields and filter event; each b-tree entry is
-- work (bench (f)). Tags and fields are only ever found by their lead, so they are keyed
-- on (lead, ...) alone, without a rowid beside it; and a filter event has no dedupe key,
-- so the uniqueness of those keys is held by an index of only the events that have one.
-- An event's kind is checked with `=` and OR: SQLite evaluates a CHECK with `IN` over three
-- or more values by building a temporary b-tree for every row written (1.0 s of the 1M-row
-- import; the same check with OR, 0.04 s).
-- (Run with foreign-key checks off, see `migrate`: dropping a table would otherwise
-- delete what references it.)
CREATE TABLE lead_tags_new (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (lead_id, tag)
) WITHOUT ROWID;
INSERT INTO lead_tags_new (lead_id, tag) SELECT lead_id, tag FROM lead_tags;
DROP TABLE lead_tags;
ALTER TABLE lead_tags_new RENAME TO lead_tags;
CREATE INDEX lead_tags_by_tag ON lead_tags (tag, lead_id);

CREATE TABLE lead_fields_new (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (lead_id, key)
) WITHOUT ROWID;
INSERT INTO lead_fields_new (lead_id, key, value) SELECT lead_id, key, value FROM lead_fields;
DROP TABLE lead_fields;
ALTER TABLE lead_fields_new RENAME TO lead_fields;

CREATE TABLE events_new (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL
        CHECK (kind = 'lead-imported' OR kind = 'inbound' OR kind = 'follow-up'),
    lead_id         INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    -- the one plugin a follow-up event is for; NULL: every plugin with the hook
    plugin          TEXT,
    payload         TEXT NOT NULL,
    dedupe_key      TEXT,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    next_attempt_at INTEGER NOT NULL,
    finished_at     INTEGER
);
INSERT INTO events_new SELECT id, kind, lead_id, plugin, payload, dedupe_key, created_at,
    status, next_attempt_at, finished_at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE UNIQUE INDEX events_by_dedupe_key ON events (dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX events_due ON events (status, next_attempt_at);
CREATE INDEX events_by_lead ON events (lead_id);
