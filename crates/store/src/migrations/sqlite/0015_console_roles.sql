-- Console users get a role: an owner sees and changes everything; an agent sees and answers
-- only the leads of the accounts they are given (console_user_accounts). Everyone there
-- before was an owner, and stays one.
ALTER TABLE console_users ADD COLUMN role TEXT NOT NULL DEFAULT 'owner'
    CHECK (role IN ('owner', 'agent'));
CREATE TABLE console_user_accounts (
    "user"     TEXT NOT NULL REFERENCES console_users(name) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY ("user", account_id)
) WITHOUT ROWID;
-- An agent's leads list walks their accounts' leads newest first, one account at a time.
CREATE INDEX leads_by_account ON leads (account_id, id);
