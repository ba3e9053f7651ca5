-- Trusted publisher keys, who signed each plugin, and the version an upgrade replaced
-- (SQLite's 0027 has the why). Agents reach none of it.
CREATE TABLE publisher_keys (
    name       TEXT PRIMARY KEY,
    public_key BYTEA NOT NULL UNIQUE,
    added_at   BIGINT NOT NULL
);
ALTER TABLE plugins ADD COLUMN publisher TEXT;
CREATE TABLE plugin_previous (
    name        TEXT PRIMARY KEY REFERENCES plugins(name) ON DELETE CASCADE,
    manifest    TEXT NOT NULL,
    wasm        BYTEA NOT NULL,
    sha256      TEXT NOT NULL,
    contract    TEXT NOT NULL,
    publisher   TEXT,
    grants      TEXT NOT NULL,
    replaced_at BIGINT NOT NULL
);
