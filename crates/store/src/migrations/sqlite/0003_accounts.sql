-- Sending accounts, each with its channel, credentials and safety rules. A NULL rule takes
-- the [sending] default of the config. Account 1 is the sandbox account every database has.
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL CHECK (channel IN ('sandbox', 'instagram', 'bridge')),
    paused          INTEGER NOT NULL DEFAULT 0,
    pause_reason    TEXT,
    daily_cap       INTEGER,
    min_gap_seconds INTEGER,
    jitter_seconds  INTEGER,
    quiet_hours     TEXT,
    timezone        TEXT,
    -- warm-up: the cap is warmup_start on the first day and grows by warmup_step a day
    warmup_start    INTEGER,
    warmup_step     INTEGER,
    ai_model        TEXT,
    -- channel settings that are not secret (base URL, API version, account ids, bridge URL)
    settings        TEXT NOT NULL DEFAULT '{}',
    -- encrypted with the key from OUTREACH_SECRET_KEY; never printed or exported
    credentials     BLOB,
    next_send_at    INTEGER,
    created_at      INTEGER NOT NULL
);
INSERT INTO accounts (id, name, channel, created_at) VALUES (1, 'default', 'sandbox', 0);

-- No REFERENCES here: SQLite cannot add a column with a foreign key and a default; the
-- host keeps these in step with the accounts table.
ALTER TABLE leads ADD COLUMN account_id INTEGER NOT NULL DEFAULT 1;
-- The lead's id on the channel (the Instagram-scoped user id).
ALTER TABLE leads ADD COLUMN channel_user_id TEXT;
CREATE UNIQUE INDEX leads_by_channel_user ON leads (account_id, channel_user_id)
    WHERE channel_user_id IS NOT NULL;

ALTER TABLE outbox ADD COLUMN account_id INTEGER NOT NULL DEFAULT 1;
-- Set when a send went out and no answer came back: the row is reconciled with the
-- channel before it is ever sent again.
ALTER TABLE outbox ADD COLUMN attempted_at INTEGER;

UPDATE accounts SET next_send_at = (SELECT CAST(value AS INTEGER) FROM host_state WHERE key = 'outbox.next_send_at')
    WHERE id = 1;
DELETE FROM host_state WHERE key = 'outbox.next_send_at';
