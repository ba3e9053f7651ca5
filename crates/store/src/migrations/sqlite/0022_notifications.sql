-- Notifications that a lead needs a person (a plugin handed them over, or someone took the
-- conversation over in the Instagram app), waiting to be POSTed to the account's
-- notification URL, with their retries. What they say is composed when they are sent, from
-- the lead as it is then: a forgotten lead's go with them. The account's URL is a secret
-- (a Slack webhook URL is a credential), sealed like the channel's credentials.
ALTER TABLE accounts ADD COLUMN notify_url_sealed BLOB;
CREATE TABLE notifications (
    id              INTEGER PRIMARY KEY,
    account_id      INTEGER NOT NULL,
    lead_id         INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    reason          TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    detail          TEXT
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_by_lead ON notifications (lead_id);
