-- A user's own conversations (SQLite's 0025 has the why).
CREATE INDEX leads_by_assignee
    ON leads (assigned_to, greatest(coalesce(last_inbound_at, 0), coalesce(last_outbound_at, 0)))
    WHERE assigned_to IS NOT NULL;
