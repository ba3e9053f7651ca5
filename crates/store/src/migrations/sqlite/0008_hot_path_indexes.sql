-- Every query on the engine's hot path reads what it returns, not the table: indexes for
-- the lookups by lead (inbound messages withdraw automation, `leads forget` cascades), the
-- `leads.query` host call, the profile lookups and the webhook's account lookup. The
-- query-plan test (engine/plans.rs) keeps it so.
CREATE INDEX events_by_lead ON events (lead_id);
CREATE INDEX schedules_by_lead ON schedules (lead_id);
CREATE INDEX audit_by_lead ON audit (lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX lead_tags_by_tag ON lead_tags (tag, lead_id);
CREATE INDEX leads_by_status ON leads (status, id);
CREATE INDEX leads_by_last_contact
    ON leads (max(coalesce(last_inbound_at, 0), coalesce(last_outbound_at, 0)));
CREATE INDEX leads_awaiting_profile ON leads (id)
    WHERE channel_user_id IS NOT NULL AND handle = 'ig_' || channel_user_id;
CREATE INDEX accounts_by_instagram_id ON accounts (json_extract(settings, '$.ig_user_id'))
    WHERE channel = 'instagram';

-- The follow-up event a due step is waiting in. A step is queued once, then left out of
-- the due list until its event is handled, instead of being offered again on every pass.
ALTER TABLE schedules ADD COLUMN pending_event INTEGER;
DROP INDEX schedules_due;
CREATE INDEX schedules_due ON schedules (due_at) WHERE state = 'active' AND pending_event IS NULL;
CREATE INDEX schedules_by_pending_event ON schedules (pending_event)
    WHERE pending_event IS NOT NULL;
