-- Public answers to comments (SQLite's 0021 has the why).
ALTER TABLE outbox ADD COLUMN public_reply BIGINT NOT NULL DEFAULT 0;
DROP INDEX outbox_private_reply;
CREATE UNIQUE INDEX outbox_comment_reply ON outbox (account_id, comment_id, public_reply)
    WHERE comment_id IS NOT NULL;
