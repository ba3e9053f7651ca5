-- 0006 gave the agent role every table, and every later one by default. Narrowed here to
-- what an agent's console pages read and change, so a new table is closed to agents until
-- a migration opens it: the tables of a lead's data (row-level security narrows them to the
-- agent's accounts), the accounts (names and rules; their credentials are sealed with the
-- host's key, which the database never sees) and the suppression list (hashes; blocking a
-- lead adds one). Plugins, their storage and settings, webhooks kept aside, console
-- sessions and users are not theirs.
DO $$
BEGIN
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON TABLES FROM outreach_agent', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I REVOKE ALL ON SEQUENCES FROM outreach_agent', current_schema());
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM outreach_agent', current_schema());
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE
    ON leads, lead_tags, lead_fields, messages, events, event_results, outbox, schedules, audit
    TO outreach_agent;
GRANT SELECT ON lead_claims, accounts TO outreach_agent;
GRANT SELECT, INSERT ON suppressed_handles TO outreach_agent;
