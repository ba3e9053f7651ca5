-- Internal notes on a lead: what a team writes for itself ("prefers mornings"), never sent
-- and never shown to a plugin; in the person's data export, erased with the lead.
CREATE TABLE lead_notes (
    id         INTEGER PRIMARY KEY,
    lead_id    INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX lead_notes_by_lead ON lead_notes (lead_id, id);
