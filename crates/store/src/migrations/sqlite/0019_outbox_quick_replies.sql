-- The quick replies under a queued message (buttons the lead can tap instead of typing), as
-- a JSON array of {title, payload}; NULL for a plain text.
ALTER TABLE outbox ADD COLUMN quick_replies TEXT;
