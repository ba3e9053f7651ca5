-- When the channel was last asked for the profile (the real handle) of a lead known only by
-- their channel id.
ALTER TABLE leads ADD COLUMN profile_asked_at INTEGER;
