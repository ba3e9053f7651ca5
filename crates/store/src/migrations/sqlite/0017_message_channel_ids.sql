-- The channel's own id for a message (Instagram's `mid`), where it gave one: a message
-- the account sent from the Instagram app arrives as an echo, and Meta redelivers, so it
-- is stored once by this id; our own sends carry the id the Send API returned, so their
-- echoes are known as ours.
ALTER TABLE messages ADD COLUMN channel_message_id TEXT;
CREATE UNIQUE INDEX messages_by_channel_id ON messages (channel_message_id)
    WHERE channel_message_id IS NOT NULL;
