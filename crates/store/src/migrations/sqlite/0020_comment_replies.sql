-- Answers to comments. A private reply is the one direct message Instagram lets an account
-- send to someone who commented: at most one per comment, within 7 days of it, and to a live
-- comment only while the broadcast lasts. A public reply is posted under the comment. Which
-- comment a row answers, when that comment was made, for a live comment the broadcast's
-- media id, and whether the answer is public; NULL (and 0) for every other message.
ALTER TABLE outbox ADD COLUMN comment_id TEXT;
ALTER TABLE outbox ADD COLUMN comment_at INTEGER;
ALTER TABLE outbox ADD COLUMN live_media_id TEXT;
ALTER TABLE outbox ADD COLUMN public_reply INTEGER NOT NULL DEFAULT 0;
-- One of each per comment, whichever plugin answers it.
CREATE UNIQUE INDEX outbox_comment_reply ON outbox (account_id, comment_id, public_reply)
    WHERE comment_id IS NOT NULL;
