-- What each console user has read, so the inbox can show unread counts per person: two
-- agents sharing a conversation each see what is new to them. The newest message id they
-- were shown (ids, not times: a message's time is its sender's, and one that arrives late
-- is still new). A user sees as new only what arrived after they were added
-- (`unread_after`), so an upgrade or a new colleague starts from a clean inbox.
CREATE TABLE lead_reads (
    user_name    TEXT NOT NULL REFERENCES console_users(name) ON DELETE CASCADE,
    lead_id      INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    last_read_id INTEGER NOT NULL,
    PRIMARY KEY (user_name, lead_id)
);
CREATE INDEX lead_reads_by_lead ON lead_reads (lead_id);
ALTER TABLE console_users ADD COLUMN unread_after INTEGER NOT NULL DEFAULT 0;
UPDATE console_users SET unread_after = (SELECT coalesce(max(id), 0) FROM messages);
-- Saved replies: a team's answers to what people ask again and again, with the lead's
-- variables (`{first_name|there}`), filled in when a person sends one. Owners keep them.
CREATE TABLE saved_replies (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    text     TEXT NOT NULL,
    saved_by TEXT NOT NULL,
    saved_at INTEGER NOT NULL
);
