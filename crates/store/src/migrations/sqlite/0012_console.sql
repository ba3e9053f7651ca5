-- People who may use the web console, with argon2 password hashes.
CREATE TABLE console_users (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Console sessions: only a hash of the cookie's token is kept, so a copy of the database
-- logs no one in. Each has its own CSRF token for the forms it is shown.
CREATE TABLE console_sessions (
    token_sha256 TEXT PRIMARY KEY,
    user         TEXT NOT NULL REFERENCES console_users(name) ON DELETE CASCADE,
    csrf         TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
);
