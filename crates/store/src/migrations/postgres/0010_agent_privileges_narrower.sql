-- An agent's actions (reply, resume, convert, block) add to the audit, the messages and the
-- events and never change or erase them: no UPDATE or DELETE there, so an agent cannot
-- rewrite the record of what was done. The sequences 0006 opened stay closed too (inserts
-- into identity columns need none).
REVOKE UPDATE, DELETE ON audit, messages, events, event_results, lead_tags, lead_fields
    FROM outreach_agent;
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM outreach_agent', current_schema());
END
$$;
