-- When the lead was last told they are talking to an automated assistant (SQLite's 0018
-- has the why).
ALTER TABLE leads ADD COLUMN disclosed_at BIGINT;
