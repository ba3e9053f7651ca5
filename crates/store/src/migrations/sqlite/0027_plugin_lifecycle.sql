-- Publishers whose signatures `plugin install` trusts (Ed25519 keys in the format of the
-- WebAssembly tool-conventions signatures), by the name the user gave them. The key the
-- bundled plugins are signed with is built into the binary, not kept here.
CREATE TABLE publisher_keys (
    name       TEXT PRIMARY KEY,
    public_key BLOB NOT NULL UNIQUE,
    added_at   INTEGER NOT NULL
);
-- Who signed each installed plugin (NULL: installed with --allow-unsigned).
ALTER TABLE plugins ADD COLUMN publisher TEXT;
-- The version an upgrade replaced, with the grants it held: what `plugin rollback` returns
-- to, and what a call that started before the upgrade finishes on.
CREATE TABLE plugin_previous (
    name        TEXT PRIMARY KEY REFERENCES plugins(name) ON DELETE CASCADE,
    manifest    TEXT NOT NULL,
    wasm        BLOB NOT NULL,
    sha256      TEXT NOT NULL,
    contract    TEXT NOT NULL,
    publisher   TEXT,
    grants      TEXT NOT NULL,
    replaced_at INTEGER NOT NULL
);
