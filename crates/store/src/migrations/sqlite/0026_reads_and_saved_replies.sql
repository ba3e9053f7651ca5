-- What each console user has read, so the inbox can show unread counts per person: two
-- agents sharing a conversation each see what is new to them. Only a moment, no text.
CREATE TABLE lead_reads (
    user_name TEXT NOT NULL,
    lead_id   INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    read_at   INTEGER NOT NULL,
    PRIMARY KEY (user_name, lead_id)
);
CREATE INDEX lead_reads_by_lead ON lead_reads (lead_id);
-- Saved replies: a team's answers to what people ask again and again, with the lead's
-- variables (`{first_name|there}`), filled in when a person sends one. Owners keep them.
CREATE TABLE saved_replies (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    text       TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
