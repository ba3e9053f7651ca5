-- A public answer to a comment, posted under it rather than sent to the commenter: one per
-- comment too, so the comment's answers are unique per kind (private or public).
ALTER TABLE outbox ADD COLUMN public_reply INTEGER NOT NULL DEFAULT 0;
DROP INDEX outbox_private_reply;
CREATE UNIQUE INDEX outbox_comment_reply ON outbox (account_id, comment_id, public_reply)
    WHERE comment_id IS NOT NULL;
