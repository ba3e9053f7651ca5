-- Which worker is handling a lead's event, and until when its claim holds (renewed while
-- its hook calls run). Several workers on one PostgreSQL database hand out only leads no
-- one else holds, so a lead's events stay in order; a worker that dies leaves claims that
-- expire and are taken over. One engine on a SQLite file needs none, but the schema is
-- the same on both.
CREATE TABLE lead_claims (
    lead_id INTEGER PRIMARY KEY REFERENCES leads(id) ON DELETE CASCADE,
    worker  TEXT NOT NULL,
    until   INTEGER NOT NULL
);
CREATE INDEX lead_claims_by_worker ON lead_claims (worker);
