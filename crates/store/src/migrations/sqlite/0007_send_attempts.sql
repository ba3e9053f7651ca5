-- The channel's own id for each message an outbox row delivered (Instagram's `message_id`,
-- from the send's answer or found by reconciliation). Reconciling a send whose outcome is
-- unknown skips messages already attributed to another row, so two identical replies to
-- the same lead are never taken for one.
ALTER TABLE outbox ADD COLUMN message_id TEXT;
-- How many sends of the row began. Beginning one is recorded (committed) before its request
-- and claims the send: it only succeeds on a queued row whose count is still what the
-- engine read, so a row blocked meanwhile, or claimed by another engine on the same file,
-- is not sent.
ALTER TABLE outbox ADD COLUMN send_attempts INTEGER NOT NULL DEFAULT 0;
-- Reconciliation looks up the ids already attributed to a lead's rows.
CREATE INDEX outbox_by_lead ON outbox (lead_id);
-- The daily cap counts an account's sends of the day, and its attempts still unreconciled,
-- without reading the account's whole history.
CREATE INDEX outbox_sent_by_account ON outbox (account_id, sent_at) WHERE status = 'sent';
CREATE INDEX outbox_attempted_by_account ON outbox (account_id, attempted_at)
    WHERE status = 'queued';
