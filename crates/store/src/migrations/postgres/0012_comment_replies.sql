-- Answers to comments (SQLite's 0020 has the why).
ALTER TABLE outbox ADD COLUMN comment_id TEXT;
ALTER TABLE outbox ADD COLUMN comment_at BIGINT;
ALTER TABLE outbox ADD COLUMN live_media_id TEXT;
ALTER TABLE outbox ADD COLUMN public_reply BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX outbox_comment_reply ON outbox (account_id, comment_id, public_reply)
    WHERE comment_id IS NOT NULL;
