-- Which console user a conversation is with (SQLite's 0023 has the why).
ALTER TABLE leads ADD COLUMN assigned_to TEXT;
