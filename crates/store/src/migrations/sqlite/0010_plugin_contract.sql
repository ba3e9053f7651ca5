-- The version of the outreach:plugin contract each plugin was built for. Every plugin
-- installed so far was built for 0.1.0, the only version there has been.
ALTER TABLE plugins ADD COLUMN contract TEXT NOT NULL DEFAULT '0.1.0';
