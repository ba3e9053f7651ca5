-- A user's own conversations ("mine"), newest first, are read from their name on, not by
-- walking every lead's last contact or sorting theirs.
CREATE INDEX leads_by_assignee
    ON leads (assigned_to, max(coalesce(last_inbound_at, 0), coalesce(last_outbound_at, 0)))
    WHERE assigned_to IS NOT NULL;
