-- Instagram webhook messages for an account id that is not set up here. Meta does not
-- redeliver a delivery that was answered, so they are kept (once per message id, as Meta
-- redelivers) until an account with that id is added; then they are ingested like a fresh
-- delivery and removed, in one transaction.
CREATE TABLE unrouted_webhooks (
    id          INTEGER PRIMARY KEY,
    -- the Instagram account the message was sent to (recipient.id, else entry.id)
    ig_user_id  TEXT NOT NULL,
    -- the lead's Instagram-scoped id
    sender_id   TEXT NOT NULL,
    message_id  TEXT NOT NULL UNIQUE,
    text        TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX unrouted_webhooks_by_account ON unrouted_webhooks (ig_user_id, id);
