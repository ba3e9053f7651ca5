-- A console agent's requests run as the role `outreach_agent` with their accounts in the
-- setting `outreach.accounts` (both `SET LOCAL`, so for one transaction: `Db::for_user`).
-- Row-level security then narrows every table that holds a lead's data to the leads of
-- those accounts, so a query that forgets the filter still cannot read another team's
-- leads. Everyone else (the engine, the commands, an owner) sees every row: the
-- restrictive policies below apply to `outreach_agent` alone. SQLite has no such thing;
-- there the console's own filter is the only one.

-- Roles belong to the server, not to one database: another database may have made it,
-- possibly at this very moment.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'outreach_agent') THEN
        CREATE ROLE outreach_agent NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The role outreach connects as may take the agent role for a transaction.
GRANT outreach_agent TO CURRENT_USER;

DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO outreach_agent', current_schema());
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO outreach_agent', current_schema());
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO outreach_agent', current_schema());
    -- And the tables later migrations make.
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO outreach_agent', current_schema());
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT USAGE, SELECT ON SEQUENCES TO outreach_agent', current_schema());
END
$$;

-- The accounts of the agent of this transaction; none when unset.
CREATE FUNCTION outreach_agent_accounts() RETURNS BIGINT[]
    LANGUAGE sql STABLE
    AS $$ SELECT string_to_array(nullif(current_setting('outreach.accounts', true), ''), ',')::BIGINT[] $$;

ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;
CREATE POLICY every_row ON leads USING (true);
CREATE POLICY agent_accounts ON leads AS RESTRICTIVE TO outreach_agent
    USING (account_id = ANY (outreach_agent_accounts()));

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY every_row ON outbox USING (true);
CREATE POLICY agent_accounts ON outbox AS RESTRICTIVE TO outreach_agent
    USING (account_id = ANY (outreach_agent_accounts()));

-- The tables that name a lead: visible when the lead is (the subquery is itself narrowed
-- by the policy on `leads`).
DO $$
DECLARE
    name TEXT;
BEGIN
    FOREACH name IN ARRAY ARRAY['lead_tags', 'lead_fields', 'messages', 'events', 'schedules', 'audit', 'lead_claims'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', name);
        EXECUTE format('CREATE POLICY every_row ON %I USING (true)', name);
        EXECUTE format('CREATE POLICY agent_accounts ON %I AS RESTRICTIVE TO outreach_agent
                            USING (lead_id IN (SELECT id FROM leads))', name);
    END LOOP;
END
$$;

ALTER TABLE event_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_results FORCE ROW LEVEL SECURITY;
CREATE POLICY every_row ON event_results USING (true);
CREATE POLICY agent_accounts ON event_results AS RESTRICTIVE TO outreach_agent
    USING (event_id IN (SELECT id FROM events));
