-- Which console user a conversation is with (their name), so a team can split the inbox:
-- mine, unassigned, everyone's. NULL: nobody's yet.
ALTER TABLE leads ADD COLUMN assigned_to TEXT;
