-- Times are Unix milliseconds (UTC).

CREATE TABLE leads (
    id               INTEGER PRIMARY KEY,
    handle           TEXT NOT NULL UNIQUE,
    name             TEXT,
    email            TEXT,
    phone            TEXT,
    notes            TEXT,
    status           TEXT NOT NULL DEFAULT 'new',
    score            INTEGER,
    dnc_reason       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    last_inbound_at  INTEGER,
    last_outbound_at INTEGER
);

CREATE TABLE lead_fields (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (lead_id, key)
);

CREATE TABLE lead_tags (
    lead_id INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    tag     TEXT NOT NULL,
    PRIMARY KEY (lead_id, tag)
);

CREATE TABLE messages (
    id        INTEGER PRIMARY KEY,
    lead_id   INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    text      TEXT NOT NULL,
    at        INTEGER NOT NULL,
    -- who wrote it: the channel for inbound, the plugin for outbound
    source    TEXT NOT NULL
);
CREATE INDEX messages_by_lead ON messages (lead_id, at);

CREATE TABLE plugins (
    name         TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    description  TEXT NOT NULL,
    manifest     TEXT NOT NULL,
    wasm         BLOB NOT NULL,
    sha256       TEXT NOT NULL,
    enabled      INTEGER NOT NULL DEFAULT 1,
    position     INTEGER NOT NULL,
    installed_at INTEGER NOT NULL
);

CREATE TABLE grants (
    plugin     TEXT NOT NULL REFERENCES plugins(name) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, permission)
);

CREATE TABLE plugin_settings (
    plugin TEXT NOT NULL REFERENCES plugins(name) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (plugin, key)
);

CREATE TABLE plugin_kv (
    plugin TEXT NOT NULL REFERENCES plugins(name) ON DELETE CASCADE,
    key    TEXT NOT NULL,
    value  BLOB NOT NULL,
    PRIMARY KEY (plugin, key)
);

CREATE TABLE events (
    id              INTEGER PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('lead-imported', 'inbound', 'follow-up')),
    lead_id         INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    -- the one plugin a follow-up event is for; NULL: every plugin with the hook
    plugin          TEXT,
    payload         TEXT NOT NULL,
    dedupe_key      TEXT UNIQUE,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    next_attempt_at INTEGER NOT NULL,
    finished_at     INTEGER
);
CREATE INDEX events_due ON events (status, next_attempt_at);

CREATE TABLE event_results (
    event_id   INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    plugin     TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('done', 'retry', 'parked')),
    attempts   INTEGER NOT NULL,
    outcome    TEXT,
    error      TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (event_id, plugin)
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    lead_id         INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    plugin          TEXT NOT NULL,
    event_id        INTEGER,
    text            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'blocked')),
    created_at      INTEGER NOT NULL,
    not_before      INTEGER NOT NULL,
    sent_at         INTEGER,
    detail          TEXT
);
CREATE INDEX outbox_queued ON outbox (status, not_before);

CREATE TABLE schedules (
    id         INTEGER PRIMARY KEY,
    plugin     TEXT NOT NULL,
    lead_id    INTEGER NOT NULL REFERENCES leads(id) ON DELETE CASCADE,
    step       INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER NOT NULL,
    due_at     INTEGER NOT NULL,
    state      TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'done', 'stopped')),
    reason     TEXT,
    UNIQUE (plugin, lead_id)
);
CREATE INDEX schedules_due ON schedules (state, due_at);

-- One row per host call that touches lead data or sends. No message bodies, no secrets.
-- lead_id has no foreign key on purpose: `leads forget` keeps the audit trail but clears it.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    plugin     TEXT NOT NULL,
    action     TEXT NOT NULL,
    permission TEXT,
    lead_id    INTEGER,
    allowed    INTEGER NOT NULL,
    detail     TEXT
);
CREATE INDEX audit_by_plugin ON audit (plugin, at);

-- Small host state that must survive restarts, such as when the next send is allowed.
CREATE TABLE host_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
