-- Leads who opted out and were then forgotten: only a hash of the handle is kept, so that
-- importing the same lead again cannot make them reachable.
CREATE TABLE suppressed_handles (
    handle_sha256 TEXT PRIMARY KEY,
    at            INTEGER NOT NULL
);
