-- A private reply: the one direct message Instagram lets an account send to someone who
-- commented, at most one per comment, within 7 days of it, and to a live comment only while
-- the broadcast lasts. Which comment it answers, when that comment was made, and for a live
-- comment the broadcast's media id; NULL for every other message.
ALTER TABLE outbox ADD COLUMN comment_id TEXT;
ALTER TABLE outbox ADD COLUMN comment_at INTEGER;
ALTER TABLE outbox ADD COLUMN live_media_id TEXT;
-- One per comment, whichever plugin answers it.
CREATE UNIQUE INDEX outbox_private_reply ON outbox (account_id, comment_id)
    WHERE comment_id IS NOT NULL;
