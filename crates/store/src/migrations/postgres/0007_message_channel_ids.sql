-- The channel's own id for a message (SQLite's 0017 has the why).
ALTER TABLE messages ADD COLUMN channel_message_id TEXT;
CREATE UNIQUE INDEX messages_by_channel_id ON messages (channel_message_id)
    WHERE channel_message_id IS NOT NULL;
