-- The inbox's top: leads waiting for a person, newest conversation first. Partial, so
-- only the leads in that state pay for it (an import writes none of them).
CREATE INDEX leads_needing_a_person
    ON leads (max(coalesce(last_inbound_at, 0), coalesce(last_outbound_at, 0)))
    WHERE status = 'needs-human';

-- One-time login links `serve` prints while no console user has a password: only the
-- hash of each link's token, used once, expiring soon.
CREATE TABLE console_login_links (
    token_sha256 TEXT PRIMARY KEY,
    user         TEXT NOT NULL,
    expires_at   INTEGER NOT NULL
);
