-- Private replies to comments (SQLite's 0020 has the why).
ALTER TABLE outbox ADD COLUMN comment_id TEXT;
ALTER TABLE outbox ADD COLUMN comment_at BIGINT;
ALTER TABLE outbox ADD COLUMN live_media_id TEXT;
CREATE UNIQUE INDEX outbox_private_reply ON outbox (account_id, comment_id)
    WHERE comment_id IS NOT NULL;
