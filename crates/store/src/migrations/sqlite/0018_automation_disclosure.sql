-- When the lead was last told they are talking to an automated assistant (the account's
-- disclosure, added by the host in front of an automated message). Empty at the start of
-- an automated conversation and again once a person hands the lead back to automation, so
-- the next automated message carries it.
ALTER TABLE leads ADD COLUMN disclosed_at INTEGER;
