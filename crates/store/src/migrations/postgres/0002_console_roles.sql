-- SQLite's 0015: console roles and the accounts an agent is given.
ALTER TABLE console_users ADD COLUMN role TEXT NOT NULL DEFAULT 'owner'
    CHECK (role IN ('owner', 'agent'));
CREATE TABLE console_user_accounts (
    "user"     TEXT NOT NULL REFERENCES console_users(name) ON DELETE CASCADE,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY ("user", account_id)
);
CREATE INDEX leads_by_account ON leads (account_id, id);
