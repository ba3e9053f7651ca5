-- Which worker is handling a lead's event, and until when (SQLite's 0016 has the why).
CREATE TABLE lead_claims (
    lead_id BIGINT PRIMARY KEY REFERENCES leads(id) ON DELETE CASCADE,
    worker  TEXT NOT NULL,
    until   BIGINT NOT NULL
);
CREATE INDEX lead_claims_by_worker ON lead_claims (worker);
