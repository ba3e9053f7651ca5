-- The quick replies under a queued message (SQLite's 0019 has the why).
ALTER TABLE outbox ADD COLUMN quick_replies TEXT;
